/*
 * virt.c: the hypervisor layer over libvirt, one connection per host.
 * Only domains carrying our <metadata> tag are ever listed or deleted.
 *
 * Each function is one blocking sequence of libvirt calls on one
 * connection and may run on any thread: the connection is reopened under
 * the connection's lock, and the ids being created right now are kept in
 * a process-wide set so a concurrent virt_list does not take a domain
 * that is defined but not yet started for a dead one.
 *
 * Create: render the template, add our tag to its <metadata>, define,
 * make the qcow2 overlay (template.volume), start.  The domain is defined
 * first, its overlay's path in the tag, so a crash at any point leaves
 * either nothing or a tagged domain whose removal also removes the
 * volume: no volume is ever orphaned.
 * Delete: destroy, delete the volume, undefine (same reasoning).
 * List: an owned domain that is not running (qemu died, shut off, never
 * started after a crash) is failed: it is removed here and not listed, so
 * reconcile deregisters its member and replaces it.  One shut off because
 * it was migrated away, saved or reverted to a snapshot is left alone and
 * not listed (replaced, never deleted) — unless its tag says warm: then
 * its managed save is its warm state, and without one it is failed.
 * Park, wake: a warm instance's tag and state (the warm pool, plan_warm.c);
 * the tag changes only there, and the cache follows.
 *
 * With several scalers (ha.c) only the lease holder changes anything:
 * every define, start, removal, adoption and seed rewrite asks
 * ha_acting() first (a standby's
 * listing leaves a failed domain for the leader, and never takes the
 * leader's half-made domain for a failed one).
 */

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "scaler.h"
#include "virt_tags.h"
#include "virt_vol.h"

struct virt_conn {
    char         *uri;
    int           ka_interval; /* keepalive: s, <= 0 none */
    unsigned      ka_count;
    virConnectPtr conn;
    virConnectPtr bconn;    /* the background calls' (virt_background) */
    int           separate; /* they have their own: RPC, not the
                               embedded test: driver (whose state a
                               second connection would not share) */
    pthread_mutex_t lock;
    tag_entry_t    *tags; /* sorted by uuid: the last list */
    int             ntags;
    unsigned long   tag_gen;    /* bumped by each tag_warm */
    unsigned long   tag_missed; /* the last tag_warm's that hit no entry */
};

static __thread int in_background; /* virt_background() */

/* the listing call's groups and flags (virt_list) */
#define LIST_STATS                                       \
    (VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL \
     | VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_BALLOON  \
     | VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK)
#define LIST_FLAGS VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT

/* ids this process is doing something to that a list must know of: a
   create under way (defined, not started yet), a shutdown sent (off is
   the goal, not a failure) */
typedef struct {
    pthread_mutex_t lock;
    char          **id;
    int             n, cap;
} idset_t;

static idset_t creating = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 };
static idset_t stopping = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 };

static void          virt_silence(void *ud, virErrorPtr err);
static virConnectPtr virt_get(virt_conn_t *vc);
static void          idset_mark(idset_t *set, const char *id, int on);
static int           idset_has(idset_t *set, const char *id);
static int           owned(virDomainPtr dom, const char *pool, const char *id,
                           virt_tag_t *tag);
static int           remove_domain(virConnectPtr c, virDomainPtr dom,
                                   const virt_tag_t *tag);
static int  guest_ipv4(virDomainPtr dom, unsigned src, const pool_config_t *p,
                       char *buf, size_t size, char *refused, size_t rsize);
static int  read_tag(virDomainPtr dom, virt_tag_t *tag);
static void dom_stats(virDomainStatsRecordPtr rec, virt_instance_t *vi);
static int  create_domain(virt_conn_t *vc, const pool_config_t *p,
                          const char *zone, const char *id, const char *address,
                          const virt_model_t *model, origin_t origin, int warm,
                          char *err, size_t errlen);

static void
virt_silence(void *ud, virErrorPtr err)
{
    (void) ud;
    (void) err;
}

/* libvirt's default event loop: keepalive pings and their timeouts, and
   a remote connection's I/O when no call is waiting, run here */
static void *
event_loop(void *arg)
{
    (void) arg;
    for (;;) {
        if (virEventRunDefaultImpl() < 0) {
            slog_err(NULL, NULL, "libvirt event loop: %s",
                     virGetLastErrorMessage());
        }
    }
    return NULL;
}

int
virt_init(void)
{
    pthread_t      tid;
    pthread_attr_t a;
    int            rc;

    virSetErrorFunc(NULL, virt_silence);
    if (virEventRegisterDefaultImpl() != 0) {
        return -1;
    }
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &a, event_loop, NULL);
    pthread_attr_destroy(&a);
    return rc == 0 ? 0 : -1;
}

virt_conn_t *
virt_open(const char *uri, int ka_interval, unsigned ka_count)
{
    virt_conn_t *vc = xcalloc(1, sizeof(*vc));

    virSetErrorFunc(NULL, virt_silence);
    vc->uri = xstrdup(uri);
    vc->ka_interval = ka_interval;
    vc->ka_count = ka_count;
    vc->separate = strncmp(uri, "test:", 5) != 0;
    pthread_mutex_init(&vc->lock, NULL);
    return vc;
}

void
virt_background(int on)
{
    in_background = on;
}

/* the embedded test:///default keeps its state while one connection of
   the process is open: one is held for the process's life, so that a
   reload (old connections closed, new ones opened later by their
   workers) does not lose it */
static void
embedded_hold(const char *uri)
{
    static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
    static virConnectPtr   held;

    if (strcmp(uri, "test:///default") != 0) {
        return;
    }
    pthread_mutex_lock(&hold_lock);
    if (held == NULL) {
        held = virConnectOpen(uri);
    }
    pthread_mutex_unlock(&hold_lock);
}

/* the connection, reopened after a failure; a new reference the caller
   drops with virConnectClose, so another thread's reconnect cannot close
   it under the caller.  Opening may block (a host that does not answer):
   it runs on the host's worker, never on the loop */
static virConnectPtr
virt_get(virt_conn_t *vc)
{
    virConnectPtr c, *cp;

    pthread_mutex_lock(&vc->lock);
    cp = in_background && vc->separate ? &vc->bconn : &vc->conn;
    if (*cp && virConnectIsAlive(*cp) != 1) {
        virConnectClose(*cp);
        *cp = NULL;
    }
    if (*cp == NULL) {
        embedded_hold(vc->uri);
        *cp = virConnectOpen(vc->uri);
        /* keepalive: a dead or hung remote host ends the calls waiting
           on it; a driver without it (test:///, qemu:///) refuses,
           harmlessly */
        if (*cp && vc->ka_interval > 0) {
            virConnectSetKeepAlive(*cp, vc->ka_interval, vc->ka_count);
        }
    }
    c = *cp;
    if (c) {
        virConnectRef(c);
    }
    pthread_mutex_unlock(&vc->lock);
    return c;
}

void
virt_close(virt_conn_t *vc)
{
    if (vc == NULL) {
        return;
    }
    if (vc->conn) {
        virConnectClose(vc->conn);
    }
    if (vc->bconn) {
        virConnectClose(vc->bconn);
    }
    pthread_mutex_destroy(&vc->lock);
    free(vc->tags);
    free(vc->uri);
    free(vc);
}

static void
idset_mark(idset_t *set, const char *id, int on)
{
    int i;

    pthread_mutex_lock(&set->lock);
    for (i = 0; i < set->n; i++) {
        if (strcmp(set->id[i], id) == 0) {
            break;
        }
    }
    if (on && i == set->n) {
        if (set->n == set->cap) {
            set->cap = set->cap ? set->cap * 2 : 16;
            set->id = xrealloc(set->id, set->cap * sizeof(char *));
        }
        set->id[set->n++] = xstrdup(id);
    } else if (!on && i < set->n) {
        free(set->id[i]);
        set->id[i] = set->id[--set->n];
    }
    pthread_mutex_unlock(&set->lock);
}

static int
idset_has(idset_t *set, const char *id)
{
    int i, found = 0;

    pthread_mutex_lock(&set->lock);
    for (i = 0; i < set->n && !found; i++) {
        found = strcmp(set->id[i], id) == 0;
    }
    pthread_mutex_unlock(&set->lock);
    return found;
}

virt_health_t
virt_classify(int state, int reason, unsigned doing, int warm)
{
    switch (state) {
    case VIR_DOMAIN_SHUTOFF:
        if (warm && reason != VIR_DOMAIN_SHUTOFF_MIGRATED
            && reason != VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT)
        {
            /* saved into the warm pool: live if its managed save is
               there (virt_list asks; a libvirtd restart forgets the
               reason "saved") */
            return VIRT_LIVE;
        }
        if (reason == VIR_DOMAIN_SHUTOFF_MIGRATED
            || reason == VIR_DOMAIN_SHUTOFF_SAVED
            || reason == VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT)
        {
            /* an operator moved, saved or reverted it: its disk may be in
               use elsewhere (shared storage) or wanted back */
            return VIRT_LEFT;
        }
        if (doing & VIRT_DOING_STOP) {
            return VIRT_OFF; /* the shutdown we asked for */
        }
        /* fall through */
    case VIR_DOMAIN_CRASHED:
        /* defined, not running: qemu died (crashed), destroyed or shut
           down, failed to start, or never started (reason unknown) —
           unless this process is starting it right now */
        return (doing & VIRT_DOING_CREATE) ? VIRT_LIVE : VIRT_FAILED;
    default:
        /* running, paused, blocked, shutting down, suspended, nostate */
        return VIRT_LIVE;
    }
}

/* what the listing makes of an owned domain in state, reason: a warm
   one shut off without its managed save is failed too (unless it is
   being created: defined, not started yet) */
static virt_health_t
list_health(virDomainPtr dom, int state, int reason, unsigned doing, int warm)
{
    virt_health_t health = virt_classify(state, reason, doing, warm);

    if (health == VIRT_LIVE && state == VIR_DOMAIN_SHUTOFF
        && !(doing & VIRT_DOING_CREATE)
        && virDomainHasManagedSaveImage(dom, 0) != 1)
    {
        health = VIRT_FAILED;
    }
    return health;
}

/* 1 when dom carries our tag (any pool's), read now and decoded into
 *tag */
static int
read_tag(virDomainPtr dom, virt_tag_t *tag)
{
    char *m;
    int   ok;

    m = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, SCALER_NS, 0);
    ok = m != NULL && virt_tag_parse(m, tag) == 0;
    free(m);
    return ok;
}

/* 1 when dom carries our tag for pool (and id, when given), read now and
   decoded into *tag */
static int
owned(virDomainPtr dom, const char *pool, const char *id, virt_tag_t *tag)
{
    return read_tag(dom, tag) && strcmp(tag->info.pool, pool) == 0
           && (id == NULL || strcmp(tag->info.id, id) == 0);
}

/* destroy, delete the overlay named in the tag, undefine; each step
   tolerates what an earlier, interrupted removal already did */
static int
remove_domain(virConnectPtr c, virDomainPtr dom, const virt_tag_t *tag)
{
    if (virDomainIsActive(dom) == 1) {
        virDomainDestroy(dom);
    }
    /* only the instance's own overlay and seed, ID.qcow2 and
       ID.seed.iso, whatever the tag says */
    vol_delete_own(c, tag->info.pool, tag->info.id, tag->volume,
                   VOL_OVERLAY_SUFFIX);
    vol_delete_own(c, tag->info.pool, tag->info.id, tag->seed, VOL_SEED_SUFFIX);
    /* UEFI guests have an nvram file, which plain undefine refuses */
    if (virDomainUndefineFlags(
            dom, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                     | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                     | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
        == 0)
    {
        return 0;
    }
    return virDomainUndefine(dom) == 0 ? 0 : -1;
}

/* the first IPv4 address of the guest from libvirt's DHCP leases or the
   guest agent that the pool accepts (addr_guest_ok), as "A.B.C.D": 0; -1
   when libvirt has none; -2 when every one was refused (listed in
   refused) */
static int
guest_ipv4(virDomainPtr dom, unsigned src, const pool_config_t *p, char *buf,
           size_t size, char *refused, size_t rsize)
{
    virDomainInterfacePtr *ifs = NULL;
    struct in_addr         in;
    int                    n, i, found = -1;
    unsigned               j;
    size_t                 len = 0;
    const char            *a;

    refused[0] = '\0';
    if ((n = virDomainInterfaceAddresses(dom, &ifs, src, 0)) < 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        for (j = 0; found != 0 && j < ifs[i]->naddrs; j++) {
            a = ifs[i]->addrs[j].addr;
            if (ifs[i]->addrs[j].type != VIR_IP_ADDR_TYPE_IPV4 || a == NULL
                || (ifs[i]->name && strcmp(ifs[i]->name, "lo") == 0)
                || inet_pton(AF_INET, a, &in) != 1)
            {
                continue;
            }
            if (addr_guest_ok(p, ntohl(in.s_addr))) {
                snprintf(buf, size, "%s", a);
                found = 0;
            } else if (len < rsize) {
                /* what the guest claims, for the log */
                len += (size_t) snprintf(refused + len, rsize - len, "%s%s",
                                         len ? " " : "", a);
                found = -2;
            }
        }
        virDomainInterfaceFree(ifs[i]);
    }
    free(ifs);
    return found;
}

/* a running domain's metrics from its stats record (virt_stats.c); a
   driver whose records lack the CPU time is asked virDomainGetInfo for
   CPU time, vCPUs and memory: the test driver, whose records have the
   state only and which runs in this process (no RPC); the qemu driver
   always reports cpu.time, so it never gets here */
static void
dom_stats(virDomainStatsRecordPtr rec, virt_instance_t *vi)
{
    virDomainInfo info;
    vm_stats_t   *vm = &vi->vm;

    virt_stats_decode(rec->params, rec->nparams, vm);
    if (!(vm->have & VMS_CPU) && virDomainGetInfo(rec->dom, &info) == 0) {
        vm->cpu_s = info.cpuTime / 1e9;
        vm->have |= VMS_CPU;
        if (!(vm->have & VMS_VCPUS) && info.nrVirtCpu > 0) {
            vm->vcpus = info.nrVirtCpu;
            vm->have |= VMS_VCPUS;
        }
        if (!(vm->have & VMS_ALLOC)) {
            vm->mem_alloc = (uint64_t) info.memory * 1024;
            vm->have |= VMS_ALLOC;
        }
    }
}

/* dom's tag into e (e->uuid set by the caller, "" when unknown), from
   the last list's cache or read: 1 when it is pool's, 0 another pool's,
   -1 when dom has none (not cached: an operator may tag it later) */
static int
tag_of(virt_conn_t *vc, virDomainPtr dom, const char *pool, tag_entry_t *e)
{
    tag_entry_t *hit;
    virt_tag_t   t;

    pthread_mutex_lock(&vc->lock);
    hit = e->uuid[0] && vc->ntags
              ? bsearch(e, vc->tags, vc->ntags, sizeof(*e), tag_cmp)
              : NULL;
    if (hit) {
        *e = *hit;
    }
    pthread_mutex_unlock(&vc->lock);
    if (hit) {
        return strcmp(e->info.pool, pool) == 0;
    }
    if (!read_tag(dom, &t)) {
        return -1;
    }
    e->info = t.info;
    e->learnt[0] = '\0';
    e->gen = 0;
    e->read = 1;
    return strcmp(e->info.pool, pool) == 0;
}

void (*virt_list_hook)(virt_conn_t *vc);

/* the cache is what this list found (domains gone are forgotten), but
   for warm flags changed since it began (at generation since: tag_warm,
   in a background park beside it); tag_merge */
static void
tag_store(virt_conn_t *vc, tag_entry_t *seen, int n, unsigned long since)
{
    pthread_mutex_lock(&vc->lock);
    n = tag_merge(seen, n, vc->tags, vc->ntags, since, vc->tag_missed);
    free(vc->tags);
    vc->tags = seen;
    vc->ntags = n;
    pthread_mutex_unlock(&vc->lock);
}

int
virt_list(virt_conn_t *vc, const pool_config_t *p, const char *zone,
          virt_instance_t **out)
{
    const char              *pool = p->name;
    virConnectPtr            c = virt_get(vc);
    virDomainStatsRecordPtr *recs = NULL;
    virDomainPtr             dom;
    virt_instance_t         *res, *vi;
    tag_entry_t             *seen, *se, tag;
    virt_tag_t               fresh;
    char                     ip[64], *uuid = tag.uuid, refused[96];
    int                      n, i, k = 0, state, reason, port, nseen = 0;
    int                      own, rc;
    unsigned long            since;
    virt_health_t            health;
    unsigned                 doing;
    struct in_addr           in;

    *out = NULL;
    if (c == NULL) {
        return -1;
    }
    /* every domain with its state and metrics in one call (one RPC on a
       real host); NOWAIT: a domain busy with another job (its monitor
       hung, a long block job) lacks its balloon and block stats this
       time instead of holding the pass up to libvirt's job timeout */
    if ((n = virConnectGetAllDomainStats(c, LIST_STATS, &recs, LIST_FLAGS)) < 0)
    {
        virConnectClose(c);
        return -1;
    }
    res = xcalloc(n + 1, sizeof(*res));
    seen = xcalloc(n + 1, sizeof(*seen));
    pthread_mutex_lock(&vc->lock);
    since = vc->tag_gen; /* a tag changed after this is kept (tag_store) */
    pthread_mutex_unlock(&vc->lock);
    for (i = 0; i < n; i++) {
        dom = recs[i]->dom;
        if (virDomainGetUUIDString(dom, uuid) != 0) {
            uuid[0] = '\0';
        }
        if ((own = tag_of(vc, dom, pool, &tag)) < 0) {
            continue; /* not tagged by a scaleset scaler */
        }
        se = NULL;
        if (uuid[0]) {
            se = &seen[nseen++];
            *se = tag;
            se->learnt[0] = '\0'; /* kept below while it runs */
            se->refused[0] = '\0';
        }
        if (!own || strcmp(tag.info.zone, zone) != 0) {
            continue;
        }
        vi = &res[k];
        snprintf(vi->id, sizeof(vi->id), "%s", tag.info.id);
        if ((virTypedParamsGetInt(recs[i]->params, recs[i]->nparams,
                                  "state.state", &state)
                 != 1
             || virTypedParamsGetInt(recs[i]->params, recs[i]->nparams,
                                     "state.reason", &reason)
                    != 1)
            && virDomainGetState(dom, &state, &reason, 0) != 0)
        {
            state = VIR_DOMAIN_NOSTATE;
            reason = 0;
        }
        doing = (idset_has(&creating, vi->id) ? VIRT_DOING_CREATE : 0)
                | (idset_has(&stopping, vi->id) ? VIRT_DOING_STOP : 0);
        health = list_health(dom, state, reason, doing, tag.info.warm);
        /* the state read may predate a start that ended before the
           creating set was asked (the warm pool's creations run beside
           the listing, act_bg.c): asked again before it counts */
        if (health == VIRT_FAILED
            && virDomainGetState(dom, &state, &reason, 0) == 0) {
            health = list_health(dom, state, reason, doing, tag.info.warm);
        }
        switch (health) {
        case VIRT_FAILED:
            if (tag.info.origin == ORIGIN_ADOPTED) {
                /* the operator's domain: never removed but by the API */
                memset(vi, 0, sizeof(*vi));
                continue;
            }
            if (!ha_acting()) {
                /* not listed; the lease holder removes it */
                memset(vi, 0, sizeof(*vi));
                continue;
            }
            slog_warn(pool, vi->id,
                      "domain not running (state %d reason %d): "
                      "failed, removing it",
                      state, reason);
            if (owned(dom, pool, tag.info.id, &fresh)) {
                remove_domain(c, dom, &fresh);
            }
            memset(vi, 0, sizeof(*vi));
            continue;
        case VIRT_LEFT:
            memset(vi, 0, sizeof(*vi));
            continue;
        case VIRT_OFF:
        case VIRT_LIVE:
            break;
        }
        snprintf(vi->zone, sizeof(vi->zone), "%s", zone);
        vi->model = tag.info.model;
        vi->origin = tag.info.origin;
        snprintf(vi->address, sizeof(vi->address), "%s", tag.info.address);
        vi->active = state != VIR_DOMAIN_SHUTOFF && state != VIR_DOMAIN_CRASHED
                     && state != VIR_DOMAIN_NOSTATE;
        vi->warm = tag.info.warm;
        vi->parked = tag.info.parked;
        /* one being created (defined, not started yet) is shown as it
           will be: running, not saved */
        vi->power =
            state == VIR_DOMAIN_PAUSED ? POWER_PAUSED
            : state == VIR_DOMAIN_SHUTOFF && !(doing & VIRT_DOING_CREATE)
                ? POWER_SAVED
                : POWER_RUNNING;
        if (vi->active) {
            dom_stats(recs[i], vi);
        }
        /* lease / agent: the address is the guest's, once it has one */
        if (vi->active
            && (strcmp(tag.info.mode, "lease") == 0
                || strcmp(tag.info.mode, "agent") == 0))
        {
            unsigned src = strcmp(tag.info.mode, "lease") == 0
                               ? VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE
                               : VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT;

            port = atoi(tag.info.port);
            /* a learnt address is checked again: a reload may have
               changed the pool's network */
            snprintf(ip, sizeof(ip), "%.*s", (int) strcspn(tag.learnt, ":"),
                     tag.learnt);
            if (tag.learnt[0] && inet_pton(AF_INET, ip, &in) == 1
                && addr_guest_ok(p, ntohl(in.s_addr)))
            {
                snprintf(vi->address, sizeof(vi->address), "%s", tag.learnt);
            } else if (port > 0
                       && (rc = guest_ipv4(dom, src, p, ip, sizeof(ip), refused,
                                           sizeof(refused)))
                              != -1)
            {
                if (rc == 0) {
                    snprintf(vi->address, sizeof(vi->address), "%s:%d", ip,
                             port);
                } else {
                    if (strcmp(refused, tag.refused) != 0) {
                        slog_warn(pool, vi->id,
                                  "the guest's address %s is "
                                  "outside the pool's network: refused, not "
                                  "registered",
                                  refused);
                    }
                    if (se) {
                        snprintf(se->refused, sizeof(se->refused), "%s",
                                 refused);
                    }
                }
            }
            if (se) {
                snprintf(se->learnt, sizeof(se->learnt), "%s", vi->address);
            }
        }
        k++;
    }
    virDomainStatsRecordListFree(recs);
    if (virt_list_hook) {
        virt_list_hook(vc); /* tests: a park beside this listing */
    }
    tag_store(vc, seen, nseen, since);
    virConnectClose(c);
    *out = res;
    return k;
}

/* our tag for an instance: its values escaped; what is written must read
   back whole (into *back), or the domain would not be known as ours */
static int
tag_build(char *md, size_t size, const char *pool, const char *id,
          const char *zone, const virt_model_t *model, const char *address,
          const char *volume, const char *seed, const char *mode,
          const char *port, origin_t origin, int warm, virt_tag_t *back)
{
    char *e[11];
    int   i, n;

    e[0] = template_escape(pool);
    e[1] = template_escape(id);
    e[2] = template_escape(zone);
    e[3] = template_escape(model->version);
    e[4] = template_escape(address);
    e[5] = template_escape(volume);
    e[6] = template_escape(model->digest);
    e[7] = template_escape(model->image);
    e[8] = template_escape(model->template);
    e[9] = template_escape(model->host);
    e[10] = template_escape(seed);
    n = snprintf(
        md, size,
        "<%s:instance xmlns:%s=\"%s\" pool=\"%s\" "
        "id=\"%s\" zone=\"%s\" version=\"%s\" address=\"%s\" "
        "volume=\"%s\" mode=\"%s\" port=\"%s\" digest=\"%s\" "
        "image=\"%s\" template=\"%s\" host=\"%s\" "
        "created=\"%llu\"%s%s%s%s%s%s%s/>",
        SCALER_NS_PREFIX, SCALER_NS_PREFIX, SCALER_NS, e[0], e[1], e[2], e[3],
        e[4], e[5], mode, port, e[6], e[7], e[8], e[9],
        (unsigned long long) model->created, seed[0] ? " seed=\"" : "", e[10],
        seed[0] ? "\"" : "", origin != ORIGIN_SCALED ? " origin=\"" : "",
        origin != ORIGIN_SCALED ? origin_name(origin) : "",
        origin != ORIGIN_SCALED ? "\"" : "", warm ? " warm=\"yes\"" : "");
    for (i = 0; i < 11; i++) {
        free(e[i]);
    }
    return n >= 0 && (size_t) n < size && virt_tag_parse(md, back) == 0
                   && strcmp(back->info.id, id) == 0
                   && strcmp(back->info.model.host, model->host) == 0
                   && strcmp(back->seed, seed) == 0 && back->info.warm == warm
               ? 0
               : -1;
}

/* an instance's values for its templates (template_vars order); the
   strings point into id, zone, address, vpath, spath, t and into v's
   buffers */
typedef struct {
    const char *vals[TV_COUNT];
    char        uuid[40], mac[20], host[64], port[8];
} inst_vars_t;

static void
inst_vars(inst_vars_t *v, const pool_config_t *p, const template_config_t *t,
          const char *zone, const char *id, const char *address,
          const char *uuid, const char *vpath, const char *spath,
          const char *version)
{
    unsigned h = 5381;
    char    *colon;
    int      i;

    for (i = 0; id[i]; i++) {
        h = h * 33 + (unsigned char) id[i];
    }
    snprintf(v->uuid, sizeof(v->uuid), "%s", uuid);
    snprintf(v->mac, sizeof(v->mac), "52:54:00:%02x:%02x:%02x", (h >> 16) & 255,
             (h >> 8) & 255, h & 255);
    if (p->addr_mode == ADDR_STATIC) {
        snprintf(v->host, sizeof(v->host), "%s", address);
        colon = strrchr(v->host, ':');
        snprintf(v->port, sizeof(v->port), "%s", colon ? colon + 1 : "");
        if (colon) {
            *colon = '\0';
        }
    } else {
        /* the guest's address is learnt later (virt_list) */
        v->host[0] = '\0';
        snprintf(v->port, sizeof(v->port), "%d", p->port);
    }
    v->vals[TV_NAME] = id;
    v->vals[TV_UUID] = v->uuid;
    v->vals[TV_MAC] = v->mac;
    v->vals[TV_ADDRESS] = v->host;
    v->vals[TV_PORT] = v->port;
    v->vals[TV_VOLUME] = vpath;
    v->vals[TV_POOL] = p->name;
    v->vals[TV_ZONE] = zone;
    v->vals[TV_VERSION] = version;
    v->vals[TV_SEED] = spath;
    v->vals[TV_TEMPLATE] = t->name;
}

/* the seed image of an instance: its files rendered (cloudinit.c) and
   laid out (seed.c); malloc'd into *img */
static int
seed_build(const template_config_t *t, const inst_vars_t *v,
           unsigned char **img, size_t *len, char *err, size_t errlen)
{
    seed_file_t files[CI_FILES];
    int         n, rc;

    if (cloudinit_files(&t->ci, v->vals, files, &n, err, errlen) != 0) {
        return -1;
    }
    rc = seed_image(files, n, img, len, err, errlen);
    cloudinit_files_free(files, n);
    return rc;
}

/* the seed of id made and put into its volume at spath */
static int
seed_make(virConnectPtr c, const pool_config_t *p, const template_config_t *t,
          const inst_vars_t *v, const char *id, const char *spath, char *err,
          size_t errlen)
{
    unsigned char *img;
    size_t         len;
    int            rc;

    if (seed_build(t, v, &img, &len, err, errlen) != 0) {
        return -1;
    }
    rc =
        vol_seed_make(c, p->name, t->ci.pool, id, spath, img, len, err, errlen);
    free(img);
    return rc;
}

int
virt_create(virt_conn_t *vc, const pool_config_t *p, const char *zone,
            const char *id, const char *address, const virt_model_t *model,
            origin_t origin, char *err, size_t errlen)
{
    return create_domain(vc, p, zone, id, address, model, origin, 0, err,
                         errlen);
}

int
virt_create_warm(virt_conn_t *vc, const pool_config_t *p, const char *zone,
                 const char *id, const char *address, const virt_model_t *model,
                 char *err, size_t errlen)
{
    return create_domain(vc, p, zone, id, address, model, ORIGIN_SCALED, 1, err,
                         errlen);
}

/* virt_create, into the warm pool when warm (its tag says so) */
static int
create_domain(virt_conn_t *vc, const pool_config_t *p, const char *zone,
              const char *id, const char *address, const virt_model_t *model,
              origin_t origin, int warm, char *err, size_t errlen)
{
    static const char *const mode_names[] = { "static", "lease", "agent" };
    const template_config_t *t;
    virConnectPtr            c;
    virDomainPtr             dom = NULL;
    unsigned char            raw[16];
    char                     uuid[40], vpath[4096], spath[4096];
    char                     md[16384], *xml = NULL, *full = NULL;
    char                    *recipe = NULL, *tagged = NULL;
    virt_tag_t               tag;
    inst_vars_t              v;
    int                      i, tn, rc = -1;

    if ((tn = config_template(p, model->template)) < 0) {
        snprintf(err, errlen, "no template \"%s\"", model->template);
        return -1;
    }
    t = &p->templates[tn];
    if ((c = virt_get(vc)) == NULL) {
        snprintf(err, errlen, "zone %s: no libvirt connection", zone);
        return -1;
    }
    idset_mark(&creating, id, 1);
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw)) {
        for (i = 0; i < 16; i++) {
            raw[i] = (unsigned char) (rand() & 0xff);
        }
    }
    raw[6] = (raw[6] & 0x0f) | 0x40;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    snprintf(uuid, sizeof(uuid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x-%02x%02x%02x%02x%02x%02x",
             raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
             raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14],
             raw[15]);
    if (p->addr_mode != ADDR_STATIC) {
        address = "";
    }
    vpath[0] = spath[0] = '\0';
    if ((t->vol_pool
         && vol_path(c, t->vol_pool, id, VOL_OVERLAY_SUFFIX, vpath,
                     sizeof(vpath), err, errlen)
                != 0)
        || (t->ci.user_data
            && vol_path(c, t->ci.pool, id, VOL_SEED_SUFFIX, spath,
                        sizeof(spath), err, errlen)
                   != 0))
    {
        goto done;
    }
    inst_vars(&v, p, t, zone, id, address, uuid, vpath, spath, model->version);
    if (tag_build(md, sizeof(md), p->name, id, zone, model, address, vpath,
                  spath, mode_names[p->addr_mode], v.port, origin, warm, &tag)
        != 0)
    {
        snprintf(err, errlen,
                 "the instance's tag does not fit (a value "
                 "too long)");
        goto done;
    }
    xml = template_render(t->text, template_vars, v.vals, TV_COUNT);
    /* the tag, and beside it how the instance is made (its recipe) */
    tagged = xml ? template_add_metadata(xml, md) : NULL;
    recipe = virt_recipe_xml(t);
    full = tagged && recipe ? template_add_metadata(tagged, recipe) : NULL;
    if (full == NULL) {
        snprintf(err, errlen,
                 recipe ? "template has no </domain>" : "out of memory");
        goto done;
    }
    /* tagged from the start: a crash after this leaves a domain we own,
       whose removal removes its volumes */
    if (!ha_acting()) {
        snprintf(err, errlen,
                 "not defined: this scaler does not hold the "
                 "lease");
        goto done;
    }
    if ((dom = virDomainDefineXML(c, full)) == NULL) {
        snprintf(err, errlen, "define: %s", virGetLastErrorMessage());
        goto done;
    }
    if (t->vol_pool && vol_overlay_make(c, p, t, id, vpath, err, errlen) != 0) {
        goto failed;
    }
    if (t->ci.user_data && seed_make(c, p, t, &v, id, spath, err, errlen) != 0)
    {
        goto failed;
    }
    if (!ha_acting()) {
        /* defined, not started: the lease holder's listing removes it */
        snprintf(err, errlen, "not started: this scaler lost the lease");
        goto done;
    }
    if (virDomainCreate(dom) != 0) {
        snprintf(err, errlen, "start: %s", virGetLastErrorMessage());
        goto failed;
    }
    rc = 0;
    goto done;

failed:
    remove_domain(c, dom, &tag);
done:
    idset_mark(&creating, id, 0);
    free(xml);
    free(tagged);
    free(recipe);
    free(full);
    if (dom) {
        virDomainFree(dom);
    }
    virConnectClose(c);
    return rc;
}

int
virt_seed_rewrite(virt_conn_t *vc, const pool_config_t *p, const char *id,
                  char *err, size_t errlen)
{
    const template_config_t *t;
    virConnectPtr            c;
    virDomainPtr             dom;
    virt_tag_t               tag;
    inst_vars_t              v;
    char                     uuid[VIR_UUID_STRING_BUFLEN];
    int                      tn, rc = -1;

    if (!ha_acting()) {
        snprintf(err, errlen,
                 "not rewritten: this scaler does not hold the "
                 "lease");
        return -1;
    }
    if ((c = virt_get(vc)) == NULL) {
        snprintf(err, errlen, "no libvirt connection");
        return -1;
    }
    if ((dom = virDomainLookupByName(c, id)) == NULL) {
        snprintf(err, errlen, "no domain %s", id);
        virConnectClose(c);
        return -1;
    }
    if (!owned(dom, p->name, id, &tag)) {
        snprintf(err, errlen, "domain %s is not an instance of %s", id,
                 p->name);
    } else if ((tn = config_template(p, tag.info.model.template)) < 0) {
        snprintf(err, errlen, "no template \"%s\"", tag.info.model.template);
    } else if ((t = &p->templates[tn])->ci.user_data == NULL
               || tag.seed[0] == '\0') {
        rc = 0; /* it has no seed: nothing to write */
    } else if (virDomainGetUUIDString(dom, uuid) != 0) {
        snprintf(err, errlen, "uuid: %s", virGetLastErrorMessage());
    } else {
        /* the values it was made with; the template's version now */
        inst_vars(&v, p, t, tag.info.zone, id, tag.info.address, uuid,
                  tag.volume, tag.seed, t->version);
        rc = seed_make(c, p, t, &v, id, tag.seed, err, errlen);
    }
    virDomainFree(dom);
    virConnectClose(c);
    return rc;
}

int
virt_image(virt_conn_t *vc, const template_config_t *t,
           char out[MODEL_DIGEST_LEN + 1])
{
    virConnectPtr     c;
    virStoragePoolPtr sp;
    virStorageVolPtr  vol = NULL;
    virStorageVolInfo info;
    char             *path = NULL, *xml = NULL, mtime[64];
    int               rc = -1;

    out[0] = '\0';
    if (t->vol_pool == NULL) {
        return 1;
    }
    if ((c = virt_get(vc)) == NULL) {
        return -1;
    }
    if ((sp = virStoragePoolLookupByName(c, t->vol_pool)) != NULL) {
        if ((vol = virStorageVolLookupByName(sp, t->vol_backing)) != NULL
            && virStorageVolGetInfo(vol, &info) == 0
            && (path = virStorageVolGetPath(vol)) != NULL
            && (xml = virStorageVolGetXMLDesc(vol, 0)) != NULL)
        {
            virt_vol_mtime(xml, mtime, sizeof(mtime));
            model_image_digest(path, info.capacity, mtime, out);
            rc = 0;
        }
        if (vol) {
            virStorageVolFree(vol);
        }
        virStoragePoolFree(sp);
    }
    free(path);
    free(xml);
    virConnectClose(c);
    return rc;
}

unsigned long long
virt_free_memory(virt_conn_t *vc)
{
    virConnectPtr      c = virt_get(vc);
    unsigned long long n;

    if (c == NULL) {
        return 0;
    }
    n = virNodeGetFreeMemory(c); /* 0 on error: unknown */
    virConnectClose(c);
    return n;
}

int
virt_recipe(virt_conn_t *vc, const char *pool, const char *id, virt_recipe_t *r)
{
    virConnectPtr c = virt_get(vc);
    virDomainPtr  dom;
    virt_tag_t    tag;
    char         *m = NULL;
    int           rc = -1;

    memset(r, 0, sizeof(*r));
    if (c == NULL) {
        return -1;
    }
    if ((dom = virDomainLookupByName(c, id)) != NULL) {
        if (owned(dom, pool, id, &tag)) {
            m = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                                     SCALER_NS_RECIPE, 0);
            rc = m ? virt_recipe_parse(m, r) : -1;
            free(m);
        }
        virDomainFree(dom);
    }
    virConnectClose(c);
    return rc;
}

/* fn on pool's domain id with its tag, read now; -1 when it is another's
   (never touched) or libvirt does not answer, gone when there is no such
   domain */
typedef int (*owned_pt)(virConnectPtr c, virDomainPtr dom,
                        const virt_tag_t *tag, const char *pool, const char *id,
                        void *arg);

static int
on_owned(virt_conn_t *vc, const char *pool, const char *id, int gone,
         owned_pt fn, void *arg)
{
    virConnectPtr c = virt_get(vc);
    virDomainPtr  dom;
    virt_tag_t    tag;
    int           rc = -1;

    if (c == NULL) {
        return -1;
    }
    if ((dom = virDomainLookupByName(c, id)) == NULL) {
        virConnectClose(c);
        return gone;
    }
    /* never touch a domain that is not ours, nor without the lease */
    if (!ha_acting()) {
        slog_warn(pool, id,
                  "not changed: this scaler does not hold the "
                  "lease");
    } else if (owned(dom, pool, id, &tag)) {
        rc = fn(c, dom, &tag, pool, id, arg);
    }
    virDomainFree(dom);
    virConnectClose(c);
    return rc;
}

static int
delete_owned(virConnectPtr c, virDomainPtr dom, const virt_tag_t *tag,
             const char *pool, const char *id, void *arg)
{
    (void) pool;
    (void) arg;
    if (remove_domain(c, dom, tag) != 0) {
        return -1;
    }
    idset_mark(&stopping, id, 0);
    return 0;
}

int
virt_delete(virt_conn_t *vc, const char *pool, const char *id)
{
    /* never touch a domain that is not ours; gone: done */
    return on_owned(vc, pool, id, 0, delete_owned, NULL);
}

static int
shutdown_owned(virConnectPtr c, virDomainPtr dom, const virt_tag_t *tag,
               const char *pool, const char *id, void *arg)
{
    (void) c;
    (void) tag;
    (void) arg;
    /* marked first: a list in between takes it for off, not failed */
    idset_mark(&stopping, id, 1);
    if (virDomainIsActive(dom) != 1) {
        return 1;
    }
    if (virDomainShutdown(dom) != 0) {
        slog_warn(pool, id, "ACPI shutdown: %s", virGetLastErrorMessage());
        return -1;
    }
    /* the test driver is off at once; a real guest takes time */
    return virDomainIsActive(dom) == 1 ? 0 : 1;
}

int
virt_shutdown(virt_conn_t *vc, const char *pool, const char *id)
{
    return on_owned(vc, pool, id, 1, shutdown_owned, NULL); /* gone: off */
}

typedef struct {
    const pool_config_t *p; /* reimage: its templates */
    char                *err;
    size_t               errlen;
} repair_arg_t;

/* started again if it is off, else reset (the reset button) */
static int
reset_owned(virConnectPtr c, virDomainPtr dom, const virt_tag_t *tag,
            const char *pool, const char *id, void *arg)
{
    repair_arg_t *ra = arg;

    (void) c;
    (void) tag;
    (void) pool;
    /* a power cycle, not virDomainReset: a guest reset is a shutdown for
       a domain with <on_reboot>destroy</on_reboot> (qemu -no-reboot, as
       conf-examples/qemu-domain.xml has it), which would leave it off */
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) != 0) {
        snprintf(ra->err, ra->errlen, "reset (destroy): %s",
                 virGetLastErrorMessage());
        return -1;
    }
    if (virDomainCreate(dom) != 0) {
        snprintf(ra->err, ra->errlen, "reset (start): %s",
                 virGetLastErrorMessage());
        return -1;
    }
    idset_mark(&stopping, id, 0);
    return 0;
}

int
virt_reset(virt_conn_t *vc, const char *pool, const char *id, char *err,
           size_t errlen)
{
    repair_arg_t ra = { NULL, err, errlen };
    int          rc;

    snprintf(err, errlen, "no such domain");
    /* a list in between must not take it off for failed */
    idset_mark(&creating, id, 1);
    rc = on_owned(vc, pool, id, -1, reset_owned, &ra);
    idset_mark(&creating, id, 0);
    return rc;
}

/* destroyed and its own overlay (the tag's ID.qcow2) made again on its
   template's base image; not started yet (its seed comes first); 1 when
   its template has no volume (nothing to make again) */
static int
reimage_disk_owned(virConnectPtr c, virDomainPtr dom, const virt_tag_t *tag,
                   const char *pool, const char *id, void *arg)
{
    repair_arg_t            *ra = arg;
    const template_config_t *t;
    int                      tn;

    (void) pool;
    if ((tn = config_template(ra->p, tag->info.model.template)) < 0) {
        snprintf(ra->err, ra->errlen, "no template \"%s\"",
                 tag->info.model.template);
        return -1;
    }
    t = &ra->p->templates[tn];
    if (t->vol_pool == NULL || tag->volume[0] == '\0') {
        return 1;
    }
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) != 0) {
        snprintf(ra->err, ra->errlen, "destroy: %s", virGetLastErrorMessage());
        return -1;
    }
    /* the old overlay of that name is replaced */
    return vol_overlay_make(c, ra->p, t, id, tag->volume, ra->err, ra->errlen)
                   == 0
               ? 0
               : -1;
}

static int
start_owned(virConnectPtr c, virDomainPtr dom, const virt_tag_t *tag,
            const char *pool, const char *id, void *arg)
{
    repair_arg_t *ra = arg;

    (void) c;
    (void) tag;
    (void) pool;
    if (virDomainIsActive(dom) != 1 && virDomainCreate(dom) != 0) {
        snprintf(ra->err, ra->errlen, "start: %s", virGetLastErrorMessage());
        return -1;
    }
    idset_mark(&stopping, id, 0);
    return 0;
}

int
virt_reimage(virt_conn_t *vc, const pool_config_t *p, const char *id, char *err,
             size_t errlen)
{
    repair_arg_t ra = { p, err, errlen };
    int          rc;

    snprintf(err, errlen, "no such domain");
    /* a list in between must not take it off for failed */
    idset_mark(&creating, id, 1);
    rc = on_owned(vc, p->name, id, -1, reimage_disk_owned, &ra);
    if (rc == 1) {
        rc = on_owned(vc, p->name, id, -1, reset_owned, &ra);
    } else if (rc == 0) {
        /* a new disk gets a new seed (the template's files as now) */
        rc = virt_seed_rewrite(vc, p, id, err, errlen) == 0
                 ? on_owned(vc, p->name, id, -1, start_owned, &ra)
                 : -1;
    }
    idset_mark(&creating, id, 0);
    return rc;
}

int
virt_adopt(virt_conn_t *vc, const pool_config_t *p, const char *zone,
           const char *domain, const virt_model_t *model, const char *address,
           char *err, size_t errlen)
{
    static const char *const mode_names[] = { "static", "lease", "agent" };
    virConnectPtr            c;
    virDomainPtr             dom;
    virt_tag_t               tag, back;
    char                     md[16384], port[8];
    const char              *el, *head =
                        "<" SCALER_NS_PREFIX ":instance xmlns:" SCALER_NS_PREFIX
                        "=\"" SCALER_NS "\" ";
    unsigned flags = 0;
    int      rc = -1;

    if (!ha_acting()) {
        snprintf(err, errlen,
                 "not adopted: this scaler does not hold the "
                 "lease");
        return -1;
    }
    if ((c = virt_get(vc)) == NULL) {
        snprintf(err, errlen, "zone %s: no libvirt connection", zone);
        return -1;
    }
    if ((dom = virDomainLookupByName(c, domain)) == NULL) {
        snprintf(err, errlen, "no domain \"%s\" in zone %s", domain, zone);
        virConnectClose(c);
        return -1;
    }
    if (read_tag(dom, &tag)) {
        snprintf(err, errlen,
                 "domain \"%s\" is already instance %s of "
                 "pool %s",
                 domain, tag.info.id, tag.info.pool);
        goto done;
    }
    snprintf(port, sizeof(port), "%d", p->port);
    if (p->addr_mode == ADDR_STATIC) {
        snprintf(port, sizeof(port), "%s",
                 strrchr(address, ':') ? strrchr(address, ':') + 1 : "");
    } else {
        address = "";
    }
    if (tag_build(md, sizeof(md), p->name, domain, zone, model, address, "", "",
                  mode_names[p->addr_mode], port, ORIGIN_ADOPTED, 0, &back)
            != 0
        || strncmp(md, head, strlen(head)) != 0)
    {
        snprintf(err, errlen,
                 "the instance's tag does not fit (a value "
                 "too long)");
        goto done;
    }
    /* libvirt puts the element into our namespace itself */
    el = md + strlen(head) - strlen("<instance ");
    memcpy((char *) el, "<instance ", strlen("<instance "));
    if (virDomainIsPersistent(dom) == 1) {
        flags |= VIR_DOMAIN_AFFECT_CONFIG;
    }
    if (virDomainIsActive(dom) == 1) {
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    }
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, el,
                             SCALER_NS_PREFIX, SCALER_NS, flags)
        != 0)
    {
        snprintf(err, errlen, "tag: %s", virGetLastErrorMessage());
        goto done;
    }
    /* an adopted domain serves: one that is off is started */
    if (virDomainIsActive(dom) != 1 && virDomainCreate(dom) != 0) {
        slog_warn(p->name, domain, "adopted, but it does not start: %s",
                  virGetLastErrorMessage());
    }
    rc = 0;
done:
    virDomainFree(dom);
    virConnectClose(c);
    return rc;
}

/* --- the warm pool ------------------------------------------------------ */

const char *
virt_power_name(virt_power_t p)
{
    static const char *const names[] = { "running", "paused", "saved" };

    return (unsigned) p <= POWER_SAVED ? names[p] : "?";
}

/* dom's tag with warm and parked set or not (parked="yes" only with
   warm="yes"), in its live and persistent definitions
   (the persistent one alone while it is shut off: a managed save keeps
   the live one it was saved with); the cache follows */
static int
tag_warm(virt_conn_t *vc, virDomainPtr dom, int warm, int parked, char *err,
         size_t errlen)
{
    tag_entry_t key, *hit;
    char       *cur, *xml;
    unsigned    flags = VIR_DOMAIN_AFFECT_CONFIG;
    int         rc, known;

    cur = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, SCALER_NS, 0);
    xml = cur ? virt_tag_set_warm(cur, warm, parked) : NULL;
    free(cur);
    if (xml == NULL) {
        snprintf(err, errlen, "its tag could not be read");
        return -1;
    }
    if (virDomainIsActive(dom) == 1) {
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    }
    rc = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml,
                              SCALER_NS_PREFIX, SCALER_NS, flags);
    free(xml);
    if (rc != 0) {
        snprintf(err, errlen, "tag: %s", virGetLastErrorMessage());
        return -1;
    }
    /* a listing running beside this (a background park) keeps the
       change: the generation marks it (tag_store) */
    known = virDomainGetUUIDString(dom, key.uuid) == 0;
    pthread_mutex_lock(&vc->lock);
    vc->tag_gen++;
    hit = known && vc->ntags
              ? bsearch(&key, vc->tags, vc->ntags, sizeof(key), tag_cmp)
              : NULL;
    if (hit) {
        hit->info.warm = warm;
        hit->info.parked = warm && parked;
        hit->gen = vc->tag_gen;
    } else {
        vc->tag_missed = vc->tag_gen;
    }
    pthread_mutex_unlock(&vc->lock);
    return 0;
}

/* pool's domain id on a new reference *c to vc's connection, with its
   tag and libvirt state; NULL with err (and nothing to close) */
static virDomainPtr
warm_lookup(virt_conn_t *vc, const char *pool, const char *id, virConnectPtr *c,
            virt_tag_t *tag, int *state, char *err, size_t errlen)
{
    virDomainPtr dom;
    int          reason;

    if (!ha_acting()) {
        snprintf(err, errlen, "this scaler does not hold the lease");
        return NULL;
    }
    if ((*c = virt_get(vc)) == NULL) {
        snprintf(err, errlen, "no libvirt connection");
        return NULL;
    }
    if ((dom = virDomainLookupByName(*c, id)) == NULL) {
        snprintf(err, errlen, "no domain: %s", virGetLastErrorMessage());
    } else if (!owned(dom, pool, id, tag)) {
        snprintf(err, errlen, "the domain is not ours");
    } else if (virDomainGetState(dom, state, &reason, 0) != 0) {
        snprintf(err, errlen, "state: %s", virGetLastErrorMessage());
    } else {
        return dom;
    }
    if (dom) {
        virDomainFree(dom);
    }
    virConnectClose(*c);
    return NULL;
}

int
virt_park(virt_conn_t *vc, const char *pool, const char *id, warm_state_t st,
          char *err, size_t errlen)
{
    virConnectPtr c;
    virDomainPtr  dom;
    virt_tag_t    tag;
    const char   *what = NULL;
    int           state, rc = 0;

    dom = warm_lookup(vc, pool, id, &c, &tag, &state, err, errlen);
    if (dom == NULL) {
        return -1;
    }
    /* tagged first: whatever happens next, it is a warm instance past its
       launch hook (a restarted scaler finds it parked, observe.c) */
    if (!tag.info.parked && tag_warm(vc, dom, 1, 1, err, errlen) != 0) {
        rc = -1;
        goto done;
    }
    switch (st) {
    case WARM_PAUSED:
        if (state == VIR_DOMAIN_SHUTOFF) {
            what = "start paused";
            rc = virDomainCreateWithFlags(dom, VIR_DOMAIN_START_PAUSED);
        } else if (state != VIR_DOMAIN_PAUSED) {
            what = "suspend";
            rc = virDomainSuspend(dom);
        }
        break;
    case WARM_SAVED:
        if (state != VIR_DOMAIN_SHUTOFF) {
            /* restored running, whatever its state now */
            what = "managed save";
            rc = virDomainManagedSave(dom, VIR_DOMAIN_SAVE_RUNNING);
        }
        break;
    case WARM_RUNNING:
        if (state == VIR_DOMAIN_PAUSED) {
            what = "resume";
            rc = virDomainResume(dom);
        } else if (state == VIR_DOMAIN_SHUTOFF) {
            what = "restore";
            rc = virDomainCreate(dom);
        }
        break;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", what, virGetLastErrorMessage());
    }
done:
    virDomainFree(dom);
    virConnectClose(c);
    return rc == 0 ? 0 : -1;
}

int
virt_wake(virt_conn_t *vc, const char *pool, const char *id, virt_power_t *was,
          char *err, size_t errlen)
{
    virConnectPtr c;
    virDomainPtr  dom;
    virt_tag_t    tag;
    int           state, rc = 0;

    *was = POWER_RUNNING;
    dom = warm_lookup(vc, pool, id, &c, &tag, &state, err, errlen);
    if (dom == NULL) {
        return -1;
    }
    if (state == VIR_DOMAIN_PAUSED) {
        *was = POWER_PAUSED;
        if ((rc = virDomainResume(dom)) != 0) {
            snprintf(err, errlen, "resume: %s", virGetLastErrorMessage());
        }
    } else if (state == VIR_DOMAIN_SHUTOFF) {
        *was = POWER_SAVED;
        /* from its managed save, never a boot from scratch */
        if (virDomainHasManagedSaveImage(dom, 0) != 1) {
            snprintf(err, errlen, "restore: no managed save image");
            rc = -1;
        } else if ((rc = virDomainCreate(dom)) != 0) {
            snprintf(err, errlen, "restore: %s", virGetLastErrorMessage());
        }
    }
    if (rc == 0 && tag.info.warm) {
        rc = tag_warm(vc, dom, 0, 0, err, errlen);
    }
    virDomainFree(dom);
    virConnectClose(c);
    return rc == 0 ? 0 : -1;
}
