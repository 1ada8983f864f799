/*
 * reconcile.c: per pool, compare owned domains, Redis members and the
 * desired capacity, and act.  Every step is idempotent: the domains and
 * the member hash are the recorded state, so a crash at any point is
 * recovered by the next pass.
 *   creating -> booting (defined, started, not registered)
 *            -> running (registered after its address answered)
 *            -> draining (member has "drain") -> deleting
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>

#include "scaler.h"
#include "scaleset_record.h"

static int member_record(const pool_config_t *p, const instance_t *in,
    int drain, char *buf, size_t size);
static instance_t *inst_add(pool_state_t *ps);
static long id_seq(const char *id);
static void create_batch(pool_state_t *ps);
static void *create_worker(void *arg);

#define CREATE_WORKERS  4       /* concurrent creations per zone */

typedef struct {
    pool_state_t     *ps;
    int               zone;
    int               next;
    pthread_mutex_t   lock;
} create_job_t;

/* a member of the Redis hash by id: its index in the lists */
typedef struct {
    const char  *id;
    int          k;
} member_ref_t;

static int inst_cmp(const void *a, const void *b);
static int member_ref_cmp(const void *a, const void *b);
static int addr_cmp(const void *a, const void *b);

const char *
inst_state_name(inst_state_t st)
{
    static const char *const names[] = { "creating", "booting", "running",
        "draining", "deleting" };

    return names[st];
}

const char *
err_kind_name(int kind)
{
    static const char *const names[] = { "libvirt", "redis", "create",
        "delete", "address" };

    return names[kind];
}

int
pool_actual(const pool_state_t *ps)
{
    int  i, n = 0;

    for (i = 0; i < ps->ninst; i++) {
        if (ps->inst[i].state == INST_RUNNING) {
            n++;
        }
    }
    return n;
}

int
reconcile_init(scaler_t *s, scaler_config_t *cf, scaler_t *prev)
{
    pool_state_t  *old;
    int            i, j, cap, known;

    s->cf = cf;
    s->reg = registry_open(cf->redis_host, cf->redis_port, cf->prefix);
    s->preg = registry_open(cf->redis_host, cf->redis_port, cf->prefix);
    s->npools = cf->npools;
    s->pools = calloc(cf->npools, sizeof(*s->pools));
    for (i = 0; i < cf->npools; i++) {
        pool_state_t *ps = &s->pools[i];

        ps->cf = &cf->pools[i];
        ps->capacity = ps->cf->cap_default;
        known = 0;
        if (prev != NULL) {
            reconcile_lock(prev);
            if ((old = reconcile_pool(prev, ps->cf->name)) != NULL) {
                ps->capacity = old->capacity;
                known = 1;
            }
            reconcile_unlock(prev);
        }
        if (!known && registry_capacity_get(s->reg, ps->cf->name, &cap) == 1)
        {
            ps->capacity = cap;
        }
        /* new bounds of a reload hold at once (a pool with schedules is
           clamped by its autoscaler to the profile in force) */
        if (ps->cf->autoscale.nprofiles == 0) {
            ps->capacity = ps->capacity < ps->cf->cap_min ? ps->cf->cap_min
                           : ps->capacity > ps->cf->cap_max
                           ? ps->cf->cap_max : ps->capacity;
        }
        for (j = 0; j < ps->cf->nzones; j++) {
            ps->conns[j] = virt_open(ps->cf->zones[j].uri);
        }
    }
    return 0;
}

void
reconcile_free(scaler_t *s)
{
    int  i, j;

    for (i = 0; i < s->npools; i++) {
        for (j = 0; j < s->pools[i].cf->nzones; j++) {
            virt_close(s->pools[i].conns[j]);
        }
        free(s->pools[i].inst);
        for (j = 0; j < s->pools[i].ndel; j++) {
            free(s->pools[i].del_ids[j]);
        }
        free(s->pools[i].del_ids);
    }
    free(s->pools);
    registry_close(s->reg);
    registry_close(s->preg);
}

pool_state_t *
reconcile_pool(scaler_t *s, const char *name)
{
    int  i;

    for (i = 0; i < s->npools; i++) {
        if (strcmp(s->pools[i].cf->name, name) == 0) {
            return &s->pools[i];
        }
    }
    return NULL;
}

void
reconcile_pass(scaler_t *s)
{
    int  i;

    for (i = 0; i < s->npools; i++) {
        reconcile_pool_pass(s, &s->pools[i]);
    }
}

static int
inst_cmp(const void *a, const void *b)
{
    return strcmp(((const instance_t *) a)->id, ((const instance_t *) b)->id);
}

static int
addr_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int
member_ref_cmp(const void *a, const void *b)
{
    return strcmp(((const member_ref_t *) a)->id,
                  ((const member_ref_t *) b)->id);
}

static long
id_seq(const char *id)
{
    const char  *dash = strrchr(id, '-');

    return dash ? strtol(dash + 1, NULL, 10) : 0;
}

static instance_t *
inst_add(pool_state_t *ps)
{
    if (ps->ninst == ps->cinst) {
        ps->cinst = ps->cinst ? ps->cinst * 2 : 16;
        ps->inst = realloc(ps->inst, ps->cinst * sizeof(*ps->inst));
    }
    memset(&ps->inst[ps->ninst], 0, sizeof(instance_t));
    return &ps->inst[ps->ninst++];
}

static int
member_record(const pool_config_t *p, const instance_t *in, int drain,
    char *buf, size_t size)
{
    char               raw[SCALESET_RECORD_MAX];
    scaleset_member_t  m;
    scaleset_error_t   err;

    snprintf(raw, sizeof(raw), "%s zone=%s version=%s%s", in->address,
             p->zones[in->zone].name, p->version, drain ? " drain" : "");
    if (scaleset_member_parse(raw, strlen(raw), &m, &err) != 0) {
        slog(p->name, in->id, "member record \"%s\": %s", raw, err.msg);
        return -1;
    }
    return scaleset_member_format(&m, buf, size, &err) < 0 ? -1 : 0;
}

static uint64_t
unix_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* when the drain of id began, on now_ms()'s clock: recorded in Redis in
   wall-clock ms (so a restart keeps it), or now when unknown */
static uint64_t
drain_began(registry_t *reg, const char *pool, const char *id)
{
    uint64_t  wall = registry_drain_since(reg, pool, id);
    uint64_t  now = unix_ms(), mono = now_ms(), age;

    if (wall == 0 || wall > now) {
        return mono;
    }
    age = now - wall;
    return age < mono ? mono - age : 0;
}

void
reconcile_pool_pass(scaler_t *s, pool_state_t *ps)
{
    registry_t       *reg = s->preg;
    pool_config_t    *p = ps->cf;
    instance_t       *old = ps->inst, *in, *prev;
    member_ref_t     *byid = NULL, key, *mr;
    char             *seen = NULL;
    int               nold = ps->ninst;
    int               zone_up[SCALER_MAX_ZONES], count[SCALER_MAX_ZONES];
    virt_instance_t  *vi;
    char            **ids = NULL, **recs = NULL, rec[SCALESET_RECORD_MAX];
    char              addr[80], id[64], why[64];
    int               z, i, j, k, n, nmem, active, cap;
    long              seq, maxseq, conns;
    char            (*used)[80];        /* addresses in use, sorted */
    int               nused, knext;
    int               repairs, ready;

    /* observe: owned domains per zone; a zone that does not answer keeps
       what we knew of it, so its instances are not counted as lost */
    if (nold > 1) {
        qsort(old, nold, sizeof(*old), inst_cmp);   /* found by id below */
    }
    ps->inst = NULL;
    ps->ninst = ps->cinst = 0;
    for (z = 0; z < p->nzones; z++) {
        n = virt_list(ps->conns[z], p, p->zones[z].name, &vi);
        zone_up[z] = n >= 0;
        ps->errors[ERR_LIBVIRT] += n < 0;
        if (zone_up[z] == ps->zone_down[z]) {
            slog(p->name, NULL, "zone %s (%s) %s", p->zones[z].name,
                 p->zones[z].uri, zone_up[z] ? "is back"
                 : "unreachable: its instances are kept, no creation there");
            ps->zone_down[z] = !zone_up[z];
        }
        if (n < 0) {
            for (i = 0; i < nold; i++) {
                if (old[i].zone == z) {
                    in = inst_add(ps);
                    *in = old[i];
                    in->stats = 0;      /* not listed this pass */
                }
            }
            continue;
        }
        for (i = 0; i < n; i++) {
            in = inst_add(ps);
            snprintf(in->id, sizeof(in->id), "%s", vi[i].id);
            snprintf(in->address, sizeof(in->address), "%s", vi[i].address);
            in->zone = z;
            in->seq = id_seq(in->id);
            in->state = INST_BOOTING;
            in->since = now_ms();
            in->stats = vi[i].stats;
            in->cpu_s = vi[i].cpu_s;
            in->mem_bytes = vi[i].mem_bytes;
            prev = nold ? bsearch(in, old, nold, sizeof(*old), inst_cmp)
                        : NULL;
            if (prev != NULL) {
                in->state = prev->state;
                in->drain_since = prev->drain_since;
                in->since = prev->since;
            } else {
                slog(p->name, in->id, "found domain in zone %s",
                     p->zones[z].name);
            }
        }
        free(vi);
    }
    free(old);

    nmem = registry_members(reg, p->name, &ids, &recs);
    if (nmem < 0) {
        ps->errors[ERR_REDIS]++;
        if (ps->redis_ok) {
            slog(p->name, NULL, "redis unreachable: no action until it is "
                 "back");
        }
        ps->redis_ok = 0;
        return;
    }
    ps->redis_ok = 1;
    if (registry_capacity_get(reg, p->name, &cap) == 1) {
        ps->capacity = cap;
    }

    /* members: set the state of registered instances, remove strays;
       members found by id in a sorted index */
    if (nmem > 0) {
        byid = malloc(nmem * sizeof(*byid));
        seen = calloc(nmem, 1);
        if (byid == NULL || seen == NULL) {
            free(byid);
            free(seen);
            registry_free_list(ids, nmem);
            registry_free_list(recs, nmem);
            return;
        }
        for (k = 0; k < nmem; k++) {
            byid[k].id = ids[k];
            byid[k].k = k;
        }
        qsort(byid, nmem, sizeof(*byid), member_ref_cmp);
    }
    for (i = 0; i < ps->ninst; i++) {
        in = &ps->inst[i];
        key.id = in->id;
        mr = nmem ? bsearch(&key, byid, nmem, sizeof(*byid), member_ref_cmp)
                  : NULL;
        k = mr ? mr->k : nmem;
        if (k < nmem) {
            seen[k] = 1;
            scaleset_member_t  m;
            scaleset_error_t   e;

            if (scaleset_member_parse(recs[k], strlen(recs[k]), &m, &e) == 0
                && (m.flags & SCALESET_MEMBER_DRAIN))
            {
                if (in->state != INST_DRAINING) {
                    /* a drain begun before a restart or reload keeps its
                       start */
                    in->drain_since = drain_began(reg, p->name, in->id);
                }
                in->state = INST_DRAINING;
            } else if (in->state != INST_DRAINING) {
                in->state = INST_RUNNING;
            }
        } else if (in->state == INST_RUNNING) {
            in->state = INST_BOOTING;
        }
    }
    for (k = 0; k < nmem; k++) {
        if (!seen[k]) {
            scaleset_member_t  m;
            scaleset_error_t   e;
            int                zdown = 0;

            /* a member of a zone we cannot see is not lost */
            if (scaleset_member_parse(recs[k], strlen(recs[k]), &m, &e) == 0)
            {
                for (z = 0; z < p->nzones; z++) {
                    if (!zone_up[z] && m.zone.len == strlen(p->zones[z].name)
                        && memcmp(m.zone.data, p->zones[z].name, m.zone.len)
                           == 0)
                    {
                        zdown = 1;
                    }
                }
            }
            if (zdown) {
                continue;
            }
            if (registry_del(reg, p->name, ids[k]) == 0) {
                slog(p->name, ids[k], "deregistered: no domain");
            } else {
                ps->errors[ERR_REDIS]++;
            }
        }
    }
    free(byid);
    free(seen);
    registry_free_list(ids, nmem);
    registry_free_list(recs, nmem);

    /* booting -> running once the address answers; replaced when it
       does not within health.grace (at most 1 in 20 per pass, at least 1) */
    repairs = 0;
    for (i = 0; i < ps->ninst; i++) {
        in = &ps->inst[i];
        if (in->state != INST_BOOTING || !zone_up[in->zone]) {
            continue;
        }
        /* lease / agent: no address until libvirt knows the guest's */
        ready = 0;
        if (in->address[0] == '\0'
            || strncmp(in->address, "pending:", 8) == 0)
        {
            snprintf(why, sizeof(why), "no address");
        } else {
            ready = !(p->readiness_tcp || p->health_uri)
                    || ready_check(in->address, p->health_uri,
                                   p->health_uri ? p->health_timeout_ms
                                                 : 200,
                                   why, sizeof(why));
        }
        if (!ready) {
            if (p->health_grace_ms > 0
                && now_ms() - in->since >= p->health_grace_ms
                && repairs < (ps->capacity / 20 > 1 ? ps->capacity / 20 : 1))
            {
                if (virt_delete(ps->conns[in->zone], p->name, in->id) == 0)
                {
                    slog(p->name, in->id, "not ready (%s) within "
                         "health.grace (%llu ms): deleted, to be replaced",
                         why, (unsigned long long) p->health_grace_ms);
                    in->state = INST_DELETING;
                    ps->repairs++;
                    repairs++;
                } else {
                    ps->errors[ERR_DELETE]++;
                }
            }
            continue;
        }
        if (member_record(p, in, 0, rec, sizeof(rec)) != 0) {
            continue;
        }
        if (registry_set(reg, p->name, in->id, rec) == 0) {
            in->state = INST_RUNNING;
            slog(p->name, in->id, "registered %s", rec);
        } else {
            ps->errors[ERR_REDIS]++;
        }
    }

    /* draining -> deleting at zero connections or after drain_timeout */
    for (i = 0; i < ps->ninst; i++) {
        in = &ps->inst[i];
        if (in->state != INST_DRAINING || !zone_up[in->zone]) {
            continue;
        }
        conns = registry_conns(reg, p->name, in->id);
        if (conns > 0 && now_ms() - in->drain_since < p->drain_timeout_ms) {
            continue;
        }
        if (registry_del(reg, p->name, in->id) != 0) {
            ps->errors[ERR_REDIS]++;
            continue;
        }
        in->state = INST_DELETING;
        if (virt_delete(ps->conns[in->zone], p->name, in->id) == 0) {
            slog(p->name, in->id, "deleted (%s)", conns > 0
                 ? "drain_timeout" : "no active connections");
        } else {
            ps->errors[ERR_DELETE]++;
            slog(p->name, in->id, "delete failed, retrying");
        }
    }

    /* capacity */
    active = 0;
    memset(count, 0, sizeof(count));
    for (i = 0; i < ps->ninst; i++) {
        in = &ps->inst[i];
        if (in->state == INST_BOOTING || in->state == INST_RUNNING
            || in->state == INST_CREATING)
        {
            active++;
            count[in->zone]++;
        }
    }

    /* new instances take the lowest addresses no instance uses (found in
       a sorted copy of those in use; each next one is above the last) and
       ids above every known one */
    used = NULL;
    nused = 0;
    if (active < ps->capacity && ps->ninst > 0) {
        used = malloc(ps->ninst * sizeof(*used));
        if (used == NULL) {
            goto created;
        }
        for (i = 0; i < ps->ninst; i++) {
            memcpy(used[nused++], ps->inst[i].address, sizeof(*used));
        }
        qsort(used, nused, sizeof(*used), addr_cmp);
    }
    for (maxseq = 0, i = 0; i < ps->ninst; i++) {
        maxseq = ps->inst[i].seq > maxseq ? ps->inst[i].seq : maxseq;
    }
    knext = 0;
    while (active < ps->capacity) {
        z = policy_place(count, zone_up, p->nzones);
        if (z < 0) {
            break;
        }
        for (k = knext;; k++) {
            if (addr_static(p, k, addr, sizeof(addr)) != 0) {
                addr[0] = '\0';
                break;
            }
            if (nused == 0
                || bsearch(addr, used, nused, sizeof(*used), addr_cmp) == NULL)
            {
                break;
            }
        }
        if (addr[0] == '\0') {
            slog(p->name, NULL, "no free address left");
            ps->errors[ERR_ADDRESS]++;
            break;
        }
        knext = k + 1;
        if ((seq = registry_next_seq(reg, p->name, maxseq)) < 0) {
            ps->errors[ERR_REDIS]++;
            break;
        }
        snprintf(id, sizeof(id), "%s-%06ld", p->name, seq);
        in = inst_add(ps);
        snprintf(in->id, sizeof(in->id), "%s", id);
        snprintf(in->address, sizeof(in->address), "%s", addr);
        in->zone = z;
        in->seq = seq;
        in->state = INST_CREATING;
        in->since = now_ms();
        maxseq = seq;
        active++;
        count[z]++;
    }
    free(used);
created:
    create_batch(ps);

    while (active > ps->capacity) {
        policy_instance_t  *cand = calloc(ps->ninst, sizeof(*cand));
        int                *map = calloc(ps->ninst, sizeof(int));
        int                 nc = 0, c;

        for (i = 0; i < ps->ninst; i++) {
            in = &ps->inst[i];
            if ((in->state == INST_BOOTING || in->state == INST_RUNNING)
                && zone_up[in->zone])
            {
                cand[nc].id = in->id;
                cand[nc].zone = in->zone;
                cand[nc].seq = in->seq;
                map[nc++] = i;
            }
        }
        c = policy_scale_in(cand, nc, p->nzones, p->scale_in);
        i = c >= 0 ? map[c] : -1;
        free(cand);
        free(map);
        if (i < 0) {
            break;
        }
        in = &ps->inst[i];
        if (in->state == INST_RUNNING) {
            in->drain_since = now_ms();
            if (member_record(p, in, 1, rec, sizeof(rec)) != 0) {
                break;
            }
            if (registry_set_drain(reg, p->name, in->id, rec, unix_ms())
                != 0)
            {
                ps->errors[ERR_REDIS]++;
                break;
            }
            in->state = INST_DRAINING;
            slog(p->name, in->id, "draining");
        } else {
            if (virt_delete(ps->conns[in->zone], p->name, in->id) != 0) {
                ps->errors[ERR_DELETE]++;
                break;
            }
            in->state = INST_DELETING;
            slog(p->name, in->id, "deleted before registration");
        }
        ps->actions_down++;
        active--;
        count[in->zone]--;
    }

    /* drop what is gone */
    for (i = 0, j = 0; i < ps->ninst; i++) {
        if (ps->inst[i].state != INST_DELETING) {
            ps->inst[j++] = ps->inst[i];
        }
    }
    ps->ninst = j;
}


/* creates every INST_CREATING instance, CREATE_WORKERS at a time per zone;
   the threads touch only their own instance_t */
static void *
create_worker(void *arg)
{
    create_job_t   *job = arg;
    pool_state_t   *ps = job->ps;
    pool_config_t  *p = ps->cf;
    instance_t     *in;
    char            err[256];
    int             i;

    for (;;) {
        pthread_mutex_lock(&job->lock);
        while (job->next < ps->ninst
               && (ps->inst[job->next].state != INST_CREATING
                   || ps->inst[job->next].zone != job->zone))
        {
            job->next++;
        }
        i = job->next++;
        pthread_mutex_unlock(&job->lock);
        if (i >= ps->ninst) {
            return NULL;
        }
        in = &ps->inst[i];
        if (virt_create(ps->conns[in->zone], p, p->zones[in->zone].name,
                        in->id, in->address, err, sizeof(err)) != 0)
        {
            slog(p->name, in->id, "create in zone %s failed: %s",
                 p->zones[in->zone].name, err);
            in->state = INST_DELETING;
        } else {
            slog(p->name, in->id, "created in zone %s at %s",
                 p->zones[in->zone].name, in->address);
            in->state = INST_BOOTING;
        }
    }
}

static void
create_batch(pool_state_t *ps)
{
    create_job_t  jobs[SCALER_MAX_ZONES];
    pthread_t     th[SCALER_MAX_ZONES][CREATE_WORKERS];
    int           started[SCALER_MAX_ZONES] = { 0 };
    int           z, w, i, n = 0;

    char         *was;

    for (i = 0; i < ps->ninst; i++) {
        n += ps->inst[i].state == INST_CREATING;
    }
    if (n == 0 || (was = calloc(ps->ninst, 1)) == NULL) {
        return;
    }
    for (i = 0; i < ps->ninst; i++) {
        was[i] = ps->inst[i].state == INST_CREATING;
    }
    for (z = 0; z < ps->cf->nzones; z++) {
        jobs[z].ps = ps;
        jobs[z].zone = z;
        jobs[z].next = 0;
        pthread_mutex_init(&jobs[z].lock, NULL);
        for (w = 0; w < CREATE_WORKERS; w++) {
            if (pthread_create(&th[z][w], NULL, create_worker, &jobs[z])
                != 0)
            {
                break;
            }
            started[z]++;
        }
        if (started[z] == 0) {
            create_worker(&jobs[z]);    /* no thread: do it here */
        }
    }
    for (z = 0; z < ps->cf->nzones; z++) {
        for (w = 0; w < started[z]; w++) {
            pthread_join(th[z][w], NULL);
        }
        pthread_mutex_destroy(&jobs[z].lock);
    }
    for (i = 0; i < ps->ninst; i++) {
        if (was[i] && ps->inst[i].state == INST_DELETING) {
            ps->errors[ERR_CREATE]++;
        } else if (was[i]) {
            ps->actions_up++;
        }
    }
    free(was);
}
