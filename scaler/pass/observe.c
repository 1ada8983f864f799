/*
 * observe.c: what a pass knows of a pool, gathered before anything is
 * decided (plan.h).  Every host's owned domains (one listing call each,
 * and its free memory; a host that does not answer keeps what the last
 * pass knew of it), the
 * pool's stored state in Redis (members, drain starts, seq: one round
 * trip; every gateway's reports: a SCAN and one round trip), the
 * readiness of the unregistered instances, the API's deletions; with an
 * upgrade under way, the previous model (from the recipe an instance of
 * it carries, read on its host's worker) and its base image per host.
 *
 * Everything read is input: hashes are bounded (OBS_HASH_MAX fields,
 * OBS_GATEWAYS_MAX gateways) in Redis itself; ids, records and numbers
 * go through the shared codec; a stored time in the future beyond the
 * clocks' skew is refused.  What is refused is skipped alone and counted
 * (obs->refused); "unknown" is said as such (drains_ok, reports_ok,
 * READY_UNKNOWN), never as zero.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static int  inst_cmp(const void *a, const void *b);
static int  member_cmp(const void *a, const void *b);
static void list_zones(pool_state_t *ps, const pool_ask_t *asks, int nasks,
                       observation_t *obs);
static void read_members(pool_state_t *ps, const registry_hash_t *h,
                         observation_t *obs);
static void read_drains(const registry_hash_t *h, observation_t *obs);
static void read_reports(registry_t *reg, pool_state_t *ps, observation_t *obs);
static void probe(const pool_config_t *p, observation_t *obs);

static int
inst_cmp(const void *a, const void *b)
{
    return strcmp(((const obs_instance_t *) a)->in.id,
                  ((const obs_instance_t *) b)->in.id);
}

static int
member_cmp(const void *a, const void *b)
{
    return strcmp(((const obs_member_t *) a)->id,
                  ((const obs_member_t *) b)->id);
}

static int
prev_cmp(const void *a, const void *b)
{
    return strcmp(a, ((const instance_t *) b)->id);
}

const obs_instance_t *
obs_instance(const observation_t *obs, const char *id)
{
    obs_instance_t key;

    if (obs->ninst == 0 || strlen(id) >= sizeof(key.in.id)) {
        return NULL;
    }
    snprintf(key.in.id, sizeof(key.in.id), "%s", id);
    return bsearch(&key, obs->inst, obs->ninst, sizeof(*obs->inst), inst_cmp);
}

static int
obs_index(const observation_t *obs, const char *id, size_t len)
{
    const obs_instance_t *o;
    char                  buf[SCALESET_ID_MAX + 1];

    if (len >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, id, len);
    buf[len] = '\0';
    o = obs_instance(obs, buf);
    return o ? (int) (o - obs->inst) : -1;
}

static obs_instance_t *
inst_add(observation_t *obs, int *cap)
{
    obs_instance_t *n;

    if (obs->ninst == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        obs->inst = xrealloc(obs->inst, *cap * sizeof(*obs->inst));
    }
    n = &obs->inst[obs->ninst++];
    memset(n, 0, sizeof(*n));
    n->member = -1;
    return n;
}

/* what this scaler remembers of a listed instance from the last pass
   (everything else comes from its domain and Redis) */
static void
remember(instance_t *in, const instance_t *prev)
{
    in->state = prev->state;
    in->seen = prev->seen;
    in->drain_seen = prev->drain_seen;
    in->stop_since = prev->stop_since;
    in->asked = prev->asked;
    memcpy(in->hold, prev->hold, sizeof(in->hold));
    in->down_since = prev->down_since;
    in->repair = prev->repair;
    in->repair_since = prev->repair_since;
    memcpy(in->repair_of, prev->repair_of, sizeof(in->repair_of));
    in->hook = prev->hook;
    in->hook_since = prev->hook_since;
    in->hook_beat = prev->hook_beat;
    in->parked = prev->parked;
    in->reuse = prev->reuse;
    in->lost = prev->lost;
}

/* the pool's latest model per host; its base image as read with the
   host's listing (ps->image: the one read last where it did not answer) */
static void
latest_models(pool_state_t *ps, observation_t *obs)
{
    const pool_config_t     *p = ps->cf;
    const template_config_t *t;
    virt_model_t            *m;
    int                      h, k, i;

    for (k = 0; k < p->ntemplates; k++) {
        t = &p->templates[k];
        for (h = 0; h < p->nhosts; h++) {
            m = &obs->latest[k][h];
            snprintf(m->version, sizeof(m->version), "%s", t->version);
            snprintf(m->digest, sizeof(m->digest), "%s", ps->digest[k]);
            snprintf(m->template, sizeof(m->template), "%s", t->name);
            snprintf(m->host, sizeof(m->host), "%s", p->hosts[h].uri);
            memcpy(m->image, ps->image[k][h], sizeof(m->image));
        }
    }
    for (i = 0; i < obs->ninst; i++) {
        obs_instance_t *o = &obs->inst[i];

        /* an instance of a template the config no longer has is not of
           the latest model */
        o->in.tmpl = config_template(p, o->in.model.template);
        o->in.latest =
            o->in.tmpl >= 0
            && model_latest(&obs->latest[o->in.tmpl][o->in.host], &o->in.model);
    }
    model_images_digest(obs->latest, p->ntemplates, p->nhosts, obs->images);
}

/* "zone z1" or, in a zone of several hosts, "zone z1 host kvm2" */
static void
host_label(const pool_config_t *p, int h, char *buf, size_t size)
{
    const zone_config_t *zc = &p->zones[p->hosts[h].zone];

    if (zc->nhosts > 1) {
        snprintf(buf, size, "zone %s host %s", zc->name, p->hosts[h].name);
    } else {
        snprintf(buf, size, "zone %s", zc->name);
    }
}

/* a host's listing on its worker: the owned domains, the free memory,
   the base image's digest; the configuration held while it may run */
typedef struct {
    host_call_t          c;
    scaler_config_t     *conf;
    const pool_config_t *p;
    int                  zone;
    int                  n; /* virt_list's: -1 failed */
    virt_instance_t     *vi;
    unsigned long long   free_mem;
    int                  image_rc[SCALER_MAX_TEMPLATES]; /* virt_image's,
                                        each template's */
    char image[SCALER_MAX_TEMPLATES][MODEL_DIGEST_LEN + 1];
} list_call_t;

static void
list_run(virt_conn_t *vc, host_call_t *c)
{
    list_call_t *l = (list_call_t *) c;
    int          k;

    l->n = virt_list(vc, l->p, l->p->zones[l->zone].name, &l->vi);
    if (l->n >= 0) {
        l->free_mem = virt_free_memory(vc);
        for (k = 0; k < l->p->ntemplates; k++) {
            l->image_rc[k] = virt_image(vc, &l->p->templates[k], l->image[k]);
        }
    }
}

static void
list_drop(host_call_t *c)
{
    list_call_t *l = (list_call_t *) c;

    free(l->vi);
    config_free(l->conf);
    free(l);
}

static list_call_t *
list_call(pool_state_t *ps, int h)
{
    list_call_t *l = xcalloc(1, sizeof(*l));

    host_call_init(&l->c, list_run, list_drop);
    l->conf = config_ref(ps->conf);
    l->p = ps->cf;
    l->zone = ps->cf->hosts[h].zone;
    l->n = -1;
    return l;
}

/* why host h gave no listing, for the log */
static void
list_why(pool_state_t *ps, int h, const list_call_t *l, char *buf, size_t size)
{
    uint64_t since = 0, now = clock_mono_ms();

    if (l->c.outcome == HOST_LATE) {
        snprintf(buf, size, "no answer within libvirt.timeout %llu ms",
                 (unsigned long long) ps->host_timeout_ms);
    } else if (l->c.outcome == HOST_REFUSED
               && host_stalled(ps->hosts[h], &since)) {
        snprintf(buf, size, "a call has not returned for %llu s",
                 (unsigned long long) (now > since ? now - since : 0) / 1000);
    } else if (l->c.outcome == HOST_DONE) {
        snprintf(buf, size, "libvirt error");
    } else {
        snprintf(buf, size, "not asked");
    }
}

/* host h's listing into obs (vi taken from it); a host that did not
   answer keeps the instances the last pass knew there (listed 0): they
   are not lost */
static void
list_host(pool_state_t *ps, int h, list_call_t *l, observation_t *obs, int *cap)
{
    const pool_config_t *p = ps->cf;
    const host_config_t *hc = &p->hosts[h];
    virt_instance_t     *vi;
    obs_instance_t      *o;
    instance_t          *prev;
    char                 label[160], why[96];
    int                  i, n;

    n = l->c.outcome == HOST_DONE ? l->n : -1;
    obs->host_up[h] = n >= 0;
    host_label(p, h, label, sizeof(label));
    if (n < 0) {
        ps->errors[ERR_LIBVIRT]++;
    }
    if (obs->host_up[h] == ps->host_down[h]) {
        if (obs->host_up[h]) {
            slog(p->name, NULL, "%s (%s) is back%s", label, hc->uri,
                 ps->host_failed[h]
                     ? " after its failover: its instances "
                       "from before go where their capacity was rebuilt"
                     : "");
        } else {
            list_why(ps, h, l, why, sizeof(why));
            slog_warn(p->name, NULL,
                      "%s (%s) unreachable (%s): its instances "
                      "are kept, no creation there",
                      label, hc->uri, why);
        }
        ps->host_down[h] = !obs->host_up[h];
    }
    /* how long it has been unreachable, for zone_failover */
    if (obs->host_up[h]) {
        ps->host_down_since[h] = 0;
        ps->host_failed[h] = 0;
    } else if (ps->host_down_since[h] == 0) {
        ps->host_down_since[h] = obs->now;
    }
    obs->host_down_since[h] = ps->host_down_since[h];
    if (!obs->host_up[h] && !ps->host_failed[h]
        && policy_failed_over(ps->host_down_since[h], obs->now,
                              p->zone_failover_ms))
    {
        slog_err(p->name, NULL,
                 "%s (%s) unreachable for %llu s "
                 "(zone_failover %llu s): its instances are counted as lost, "
                 "their capacity is rebuilt on the hosts that answer",
                 label, hc->uri,
                 (unsigned long long) (obs->now - ps->host_down_since[h])
                     / 1000,
                 (unsigned long long) p->zone_failover_ms / 1000);
        ps->host_failed[h] = 1;
    }
    if (n < 0) {
        for (i = 0; i < ps->ninst; i++) {
            if (ps->inst[i].host != h) {
                continue;
            }
            o = inst_add(obs, cap);
            o->in = ps->inst[i];
            o->in.vm.have = 0; /* not listed this pass */
            o->in.report0 = o->in.nreports = 0;
        }
        return;
    }
    obs->host_free[h] = l->free_mem;
    for (i = 0; i < p->ntemplates; i++) {
        if (l->image_rc[i] < 0) {
            continue;
        }
        if (ps->image[i][h][0] && strcmp(ps->image[i][h], l->image[i]) != 0) {
            slog(p->name, NULL,
                 "%s: the base image %s%s%s changed (digest "
                 "%.12s -> %.12s)",
                 label,
                 p->templates[i].vol_backing ? p->templates[i].vol_backing : "",
                 p->templates[i].name[0] ? " of template " : "",
                 p->templates[i].name, ps->image[i][h], l->image[i]);
        }
        memcpy(ps->image[i][h], l->image[i], sizeof(l->image[i]));
    }
    vi = l->vi;
    for (i = 0; i < n; i++) {
        if (!scaleset_id_valid(vi[i].id, strlen(vi[i].id))) {
            continue;
        }
        o = inst_add(obs, cap);
        o->listed = 1;
        snprintf(o->in.id, sizeof(o->in.id), "%s", vi[i].id);
        snprintf(o->in.address, sizeof(o->in.address), "%s", vi[i].address);
        o->in.model = vi[i].model;
        o->in.origin = vi[i].origin;
        if (o->in.model.created > obs->now + OBS_SKEW_MS) {
            o->in.model.created = 0; /* a creation still to come */
            obs->refused++;
        }
        o->in.zone = hc->zone;
        o->in.host = h;
        o->off = !vi[i].active;
        o->in.seq = policy_id_seq(o->in.id);
        o->in.state = INST_BOOTING;
        o->in.seen = obs->now;
        o->in.vm = vi[i].vm;
        o->in.warm = vi[i].warm;
        o->in.power = vi[i].power;
        prev = ps->ninst ? bsearch(o->in.id, ps->inst, ps->ninst,
                                   sizeof(*ps->inst), prev_cmp)
                         : NULL;
        if (prev != NULL) {
            remember(&o->in, prev);
        } else {
            /* found parked (a restart): its tag says so, or (tagged by an
               older scaler) it is warm and paused or saved; one being
               created is listed running (virt.c), never parked */
            o->in.parked =
                vi[i].warm && (vi[i].parked || vi[i].power != POWER_RUNNING);
            slog(p->name, o->in.id, "found domain in %s", label);
        }
    }
}

/* an instance twice (two hosts' URIs reach the same hypervisor, or one
   known on a host that is down was listed by another): the listed one,
   then the one on the host its tag names, then the first host's */
static int
inst_better(const pool_config_t *p, const obs_instance_t *a,
            const obs_instance_t *b)
{
    int ma, mb;

    if (a->listed != b->listed) {
        return a->listed;
    }
    ma = strcmp(a->in.model.host, p->hosts[a->in.host].uri) == 0;
    mb = strcmp(b->in.model.host, p->hosts[b->in.host].uri) == 0;
    if (ma != mb) {
        return ma;
    }
    return a->in.host < b->in.host;
}

static void
list_zones(pool_state_t *ps, const pool_ask_t *asks, int nasks,
           observation_t *obs)
{
    const pool_config_t *p = ps->cf;
    obs_instance_t      *o;
    list_call_t         *calls[SCALER_MAX_HOSTS];
    host_batch_t         b;
    int                  z, h, i, k, cap = 0;

    /* every host's listing at once, each on its host's workers, each
       with its deadline: a host that hangs costs one libvirt.timeout
       (then none while it stays stuck), never the others' */
    host_batch_init(&b, ps->cancel);
    for (h = 0; h < p->nhosts; h++) {
        calls[h] = list_call(ps, h);
        host_submit(&b, ps->hosts[h], &calls[h]->c);
    }
    host_wait(&b);
    host_batch_destroy(&b);
    for (h = 0; h < p->nhosts; h++) {
        list_host(ps, h, calls[h], obs, &cap);
        host_call_release(&calls[h]->c);
    }
    for (z = 0; z < p->nzones; z++) {
        obs->zone_up[z] = 1;
        for (h = 0; h < p->zones[z].nhosts; h++) {
            obs->zone_up[z] &= obs->host_up[p->zones[z].host0 + h];
        }
    }
    if (obs->ninst > 1) {
        qsort(obs->inst, obs->ninst, sizeof(*obs->inst), inst_cmp);
    }
    for (i = 0, k = 0; i < obs->ninst; i++) {
        if (k > 0 && strcmp(obs->inst[k - 1].in.id, obs->inst[i].in.id) == 0) {
            if (inst_better(p, &obs->inst[i], &obs->inst[k - 1])) {
                obs->inst[k - 1] = obs->inst[i];
            }
            continue;
        }
        obs->inst[k++] = obs->inst[i];
    }
    obs->ninst = k;
    /* the API's requests join what is still to do (an instance it
       asked about and that is gone takes its request with it) */
    for (i = 0; i < nasks; i++) {
        if ((o = (obs_instance_t *) obs_instance(obs, asks[i].id)) != NULL) {
            o->in.asked |= asks[i].ask;
        }
    }
}

/* a zone's index by name, -1 when the pool has none of that name */
static int
zone_index(const pool_config_t *p, scaleset_slice_t name)
{
    int z;

    for (z = 0; z < p->nzones; z++) {
        if (strlen(p->zones[z].name) == name.len
            && memcmp(p->zones[z].name, name.data, name.len) == 0)
        {
            return z;
        }
    }
    return -1;
}

/* a host's index by its zone and name; -2 when the zone has none of that
   name (or the zone is unknown) */
static int
host_index(const pool_config_t *p, int z, scaleset_slice_t name)
{
    const zone_config_t *zc;
    int                  h;

    if (z < 0) {
        return -2;
    }
    zc = &p->zones[z];
    for (h = zc->host0; h < zc->host0 + zc->nhosts; h++) {
        if (strlen(p->hosts[h].name) == name.len
            && memcmp(p->hosts[h].name, name.data, name.len) == 0)
        {
            return h;
        }
    }
    return -2;
}

static void
read_members(pool_state_t *ps, const registry_hash_t *h, observation_t *obs)
{
    scaleset_member_t m;
    scaleset_error_t  err;
    obs_member_t     *om;
    int               i, k;

    obs->members = xcalloc(h->n + 1, sizeof(*obs->members));
    for (i = 0; i < h->n; i++) {
        if (!scaleset_id_valid(h->field[i], h->flen[i])) {
            obs->refused++; /* no id: not ours to judge */
            continue;
        }
        om = &obs->members[obs->nmembers++];
        memcpy(om->id, h->field[i], h->flen[i]);
        om->id[h->flen[i]] = '\0';
        om->zone = -1;
        om->host = -1;
        om->inst = -1;
        if (scaleset_member_parse(h->value[i], h->vlen[i], &m, &err) != 0
            || m.address.len >= sizeof(om->address))
        {
            obs->refused++;
            continue;
        }
        om->valid = 1;
        om->zone = m.zone.len ? zone_index(ps->cf, m.zone) : -1;
        om->host = m.host.len ? host_index(ps->cf, om->zone, m.host) : -1;
        memcpy(om->address, m.address.data, m.address.len);
        memcpy(om->version, m.version.data, m.version.len);
        om->weight = m.weight;
        om->flags = m.flags;
    }
    if (obs->nmembers > 1) {
        qsort(obs->members, obs->nmembers, sizeof(*obs->members), member_cmp);
    }
    for (k = 0; k < obs->nmembers; k++) {
        i = obs_index(obs, obs->members[k].id, strlen(obs->members[k].id));
        obs->members[k].inst = i;
        if (i >= 0) {
            obs->inst[i].member = k;
        }
    }
}

static void
read_drains(const registry_hash_t *h, observation_t *obs)
{
    uint64_t ms;
    int      i, k;

    for (i = 0; i < h->n; i++) {
        if ((k = obs_index(obs, h->field[i], h->flen[i])) < 0) {
            continue; /* not an instance of ours (any more) */
        }
        if (scaleset_parse_u64(h->value[i], h->vlen[i], SCALESET_UNIX_MS_MAX,
                               &ms)
                != 0
            || ms == 0 || ms > obs->now + OBS_SKEW_MS)
        {
            obs->refused++; /* a drain start is a time, not later */
            continue;
        }
        obs->inst[k].drain_since = ms;
    }
}

/* a gateway's name, as registry_read_health lists them */
typedef char gw_name_t[SCALESET_NAME_MAX + 1];

typedef struct {
    int      inst;
    report_t r;
} rep_ref_t;

static int
rep_cmp(const void *a, const void *b)
{
    const rep_ref_t *x = a, *y = b;

    return x->inst != y->inst ? x->inst - y->inst : x->r.gateway - y->r.gateway;
}

/* the gateways this pass read (their names; *ng of them), then those
   the last pass knew that are still present (plan_gateway_present):
   their reports are not here, which holds a drain */
static void
gateways_merge(pool_state_t *ps, observation_t *obs, gw_name_t *names,
               const registry_hash_t *hs, int ng)
{
    const gateway_t *old;
    gateway_t       *g;
    int              i, k, n = 0;

    obs->gateways = xcalloc(ng + ps->ngateways + 1, sizeof(*obs->gateways));
    for (i = 0; i < ng; i++) {
        g = &obs->gateways[n++];
        memcpy(g->name, names[i], sizeof(g->name));
        g->read = hs != NULL && hs[i].ok;
        g->seen = obs->now;
        g->ttl_ms =
            hs != NULL && hs[i].ttl_ms > 0 ? (uint64_t) hs[i].ttl_ms : 0;
        for (k = 0; k < ps->ngateways; k++) {
            old = &ps->gateways[k];
            if (strcmp(old->name, g->name) == 0) {
                /* the key's full TTL: the largest remaining seen */
                g->ttl_ms = old->ttl_ms > g->ttl_ms ? old->ttl_ms : g->ttl_ms;
                if (!g->read) {
                    g->seen = old->seen;
                }
                break;
            }
        }
    }
    for (k = 0; k < ps->ngateways; k++) {
        old = &ps->gateways[k];
        for (i = 0; i < ng; i++) {
            if (strcmp(old->name, names[i]) == 0) {
                break;
            }
        }
        if (i == ng && plan_gateway_present(ps->cf, old, obs->now)) {
            g = &obs->gateways[n++];
            *g = *old;
            g->read = 0;
            g->at = 0;
        }
    }
    obs->ngateways = n;
}

/* every gateway's reports on our instances, grouped by instance */
static void
read_reports(registry_t *reg, pool_state_t *ps, observation_t *obs)
{
    registry_hash_t  *hs;
    scaleset_health_t h;
    scaleset_error_t  err;
    rep_ref_t        *refs = NULL;
    gw_name_t        *names;
    int               ng, skipped, g, i, k, n = 0, c = 0;

    if (registry_read_health(reg, ps->cf->name, OBS_GATEWAYS_MAX, OBS_HASH_MAX,
                             &names, &hs, &ng, &skipped)
        != 0)
    {
        snprintf(obs->reports_err, sizeof(obs->reports_err), "%s",
                 registry_error(reg));
        ps->errors[ERR_REDIS]++;
        /* reports_ok 0: unknown; the gateways known stay present */
        gateways_merge(ps, obs, NULL, NULL, 0);
        return;
    }
    gateways_merge(ps, obs, names, hs, ng);
    free(names);
    obs->reports_ok = 1;
    obs->refused += skipped;
    for (g = 0; g < ng; g++) {
        if (!hs[g].ok) {
            obs->reports_ok = 0; /* one gateway's reports unknown */
            snprintf(obs->reports_err, sizeof(obs->reports_err), "%s: %s",
                     obs->gateways[g].name, hs[g].err);
            obs->refused++;
        }
        for (i = 0; i < hs[g].n; i++) {
            if (scaleset_health_parse(hs[g].value[i], hs[g].vlen[i], &h, &err)
                != 0) {
                obs->refused++;
                continue;
            }
            /* a report made later than now is a lie (or a clock far
               ahead): it does not count as made after a drain began */
            if (h.at > obs->now + OBS_SKEW_MS) {
                h.at = 0;
                obs->refused++;
            }
            if (h.at > obs->gateways[g].at) {
                obs->gateways[g].at = h.at;
            }
            if ((k = obs_index(obs, hs[g].field[i], hs[g].flen[i])) < 0) {
                continue;
            }
            if (n == c) {
                c = c ? c * 2 : 64;
                refs = xrealloc(refs, c * sizeof(*refs));
            }
            refs[n].inst = k;
            refs[n].r.gateway = g;
            refs[n].r.state = h.state;
            refs[n].r.conns = h.conns;
            refs[n].r.fails = h.fails;
            refs[n].r.checked = h.checked;
            refs[n].r.at = h.at;
            n++;
        }
        registry_hash_free(&hs[g]);
    }
    free(hs);
    if (n > 1) {
        qsort(refs, n, sizeof(*refs), rep_cmp);
    }
    if (n > 0) {
        obs->reports = xmalloc(n * sizeof(*obs->reports));
    }
    for (i = 0; i < n; i++) {
        obs->reports[i] = refs[i].r;
        if (i == 0 || refs[i].inst != refs[i - 1].inst) {
            obs->inst[refs[i].inst].in.report0 = i;
        }
        obs->inst[refs[i].inst].in.nreports++;
    }
    obs->nreports = n;
    free(refs);
}

/* the readiness of every listed, unregistered instance, probed all at
   once */
static void
probe(const pool_config_t *p, observation_t *obs)
{
    obs_instance_t *o;
    ready_probe_t  *pr;
    int            *map, i, n = 0;

    if (obs->ninst == 0) {
        return;
    }
    pr = xcalloc(obs->ninst, sizeof(*pr));
    map = xcalloc(obs->ninst, sizeof(*map));
    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!plan_reachable(obs, i) || (o->in.asked & ASK_DELETE)
            || (o->member >= 0 && obs->members[o->member].valid)
            || o->in.power != POWER_RUNNING)
        {
            continue; /* a paused or saved one cannot answer */
        }
        /* lease / agent: no address until libvirt knows the guest's */
        if (o->in.address[0] == '\0'
            || strncmp(o->in.address, "pending:", 8) == 0) {
            o->ready = READY_NO;
            snprintf(o->why, sizeof(o->why), "no address");
            continue;
        }
        if (!p->readiness_tcp && p->health_uri == NULL) {
            o->ready = READY_YES; /* readiness: none */
            continue;
        }
        pr[n].address = o->in.address;
        map[n++] = i;
    }
    if (n > 0) {
        ready_check_all(pr, n, p->health_uri,
                        p->health_uri ? p->health_timeout_ms : 200);
    }
    for (i = 0; i < n; i++) {
        o = &obs->inst[map[i]];
        o->ready = pr[i].ok ? READY_YES : READY_NO;
        snprintf(o->why, sizeof(o->why), "%s", pr[i].why);
    }
    free(pr);
    free(map);
}

/* the upgrade record: refused whole when a field is (a bad record skips
   that record only: no upgrade step until the API writes a new one) */
static void
read_upgrade(const registry_hash_t *h, observation_t *obs)
{
    upgrade_t *u = &obs->upgrade;
    char       why[128];

    if (!h->ok) {
        snprintf(obs->upgrade_err, sizeof(obs->upgrade_err), "%s", h->err);
        obs->refused++;
        return;
    }
    if (upgrade_decode(h->field, h->flen, h->value, h->vlen, h->n, u, why,
                       sizeof(why))
        != 0)
    {
        snprintf(obs->upgrade_err, sizeof(obs->upgrade_err), "%s", why);
        obs->refused++;
        return;
    }
    if (u->started > obs->now + OBS_SKEW_MS
        || u->batch_started > obs->now + OBS_SKEW_MS
        || u->batch_done > obs->now + OBS_SKEW_MS
        || u->updated > obs->now + OBS_SKEW_MS)
    {
        snprintf(obs->upgrade_err, sizeof(obs->upgrade_err),
                 "a time in "
                 "the future");
        upgrade_free(u);
        obs->refused++;
        return;
    }
    obs->upgrade_ok = 1;
}

/* an instance's recipe read on its host's worker (virt_recipe); the call
   owns what it read until the pass takes it */
typedef struct {
    host_call_t   c;
    char          pool[SCALESET_NAME_MAX + 1];
    char          id[SCALESET_ID_MAX + 1];
    int           rc;
    virt_recipe_t r;
} recipe_call_t;

static void
recipe_run(virt_conn_t *vc, host_call_t *c)
{
    recipe_call_t *rc = (recipe_call_t *) c;

    rc->rc = virt_recipe(vc, rc->pool, rc->id, &rc->r);
}

static void
recipe_drop(host_call_t *c)
{
    recipe_call_t *rc = (recipe_call_t *) c;

    if (rc->rc == 0) {
        virt_recipe_free(&rc->r);
    }
    free(rc);
}

/* obs->inst[i]'s recipe, read on its host within libvirt.timeout; 0 and
 *r (the caller's to free), or -1 */
static int
read_recipe(pool_state_t *ps, const observation_t *obs, int i, virt_recipe_t *r)
{
    const obs_instance_t *o = &obs->inst[i];
    recipe_call_t        *rc = xcalloc(1, sizeof(*rc));
    host_batch_t          b;
    int                   ok;

    host_call_init(&rc->c, recipe_run, recipe_drop);
    snprintf(rc->pool, sizeof(rc->pool), "%s", ps->cf->name);
    snprintf(rc->id, sizeof(rc->id), "%s", o->in.id);
    rc->rc = -1;
    host_batch_init(&b, ps->cancel);
    host_submit(&b, ps->hosts[o->in.host], &rc->c);
    host_wait(&b);
    host_batch_destroy(&b);
    ok = rc->c.outcome == HOST_DONE && rc->rc == 0;
    if (ok) {
        *r = rc->r; /* taken */
        rc->rc = -1;
    }
    host_call_release(&rc->c);
    return ok ? 0 : -1;
}

/* the recipe of template k's model of this digest: kept in ps, else
   from an instance of it (looked for again at most once a minute while
   none has it); 0 when ps->recipe[k] is it */
static int
recipe_of(pool_state_t *ps, observation_t *obs, int k, const char *digest)
{
    const template_config_t *t = &ps->cf->templates[k];
    template_config_t        rt;
    virt_recipe_t           *keep = &ps->recipe[k], r;
    int                      i;

    if (strcmp(keep->digest, digest) == 0 && keep->text != NULL) {
        return 0;
    }
    if (strcmp(ps->recipe_tried[k], digest) == 0
        && obs->now < ps->recipe_tried_at[k] + 60000)
    {
        return -1;
    }
    virt_recipe_free(keep);
    snprintf(ps->recipe_tried[k], sizeof(ps->recipe_tried[k]), "%s", digest);
    ps->recipe_tried_at[k] = obs->now;
    for (i = 0; i < obs->ninst; i++) {
        const obs_instance_t *o = &obs->inst[i];

        if (!plan_reachable(obs, i) || o->in.tmpl != k
            || strcmp(o->in.model.digest, digest) != 0
            || read_recipe(ps, obs, i, &r) != 0)
        {
            continue;
        }
        virt_recipe_template(t, &r, &rt);
        model_template_digest(&rt, r.digest);
        if (strcmp(r.digest, digest) == 0) {
            *keep = r;
            slog(ps->cf->name, o->in.id,
                 "recipe read: the previous model "
                 "(template %s%sdigest %.12s) can be made again",
                 t->name, t->name[0] ? " " : "", r.digest);
            return 0;
        }
        virt_recipe_free(&r); /* not what it says it is */
    }
    return -1;
}

/* a base image's digest read on a host's worker (virt_image) for a
   template made of a recipe: the call owns copies of its volume settings
   (a late one may outlive the recipe) */
typedef struct {
    host_call_t       c;
    template_config_t t; /* volume settings only */
    int               rc;
    char              image[MODEL_DIGEST_LEN + 1];
} image_call_t;

static void
image_run(virt_conn_t *vc, host_call_t *c)
{
    image_call_t *ic = (image_call_t *) c;

    ic->rc = virt_image(vc, &ic->t, ic->image);
}

static void
image_drop(host_call_t *c)
{
    image_call_t *ic = (image_call_t *) c;

    free(ic->t.vol_pool);
    free(ic->t.vol_backing);
    free(ic->t.vol_format);
    free(ic);
}

static image_call_t *
image_call(const template_config_t *rt)
{
    image_call_t *ic = xcalloc(1, sizeof(*ic));

    host_call_init(&ic->c, image_run, image_drop);
    ic->rc = -1;
    ic->t.vol_pool = rt->vol_pool ? xstrdup(rt->vol_pool) : NULL;
    ic->t.vol_backing = rt->vol_backing ? xstrdup(rt->vol_backing) : NULL;
    ic->t.vol_format = rt->vol_format ? xstrdup(rt->vol_format) : NULL;
    return ic;
}

/* template k's previous base image on every host that answers, made of
   rt; kept in ps->previous_image where a host does not */
static void
previous_images(pool_state_t *ps, observation_t *obs, int k,
                const template_config_t *rt)
{
    const pool_config_t *p = ps->cf;
    image_call_t        *calls[SCALER_MAX_HOSTS];
    host_batch_t         b;
    int                  h;

    host_batch_init(&b, ps->cancel);
    for (h = 0; h < p->nhosts; h++) {
        calls[h] = obs->host_up[h] ? image_call(rt) : NULL;
        if (calls[h] != NULL) {
            host_submit(&b, ps->hosts[h], &calls[h]->c);
        }
    }
    host_wait(&b);
    host_batch_destroy(&b);
    for (h = 0; h < p->nhosts; h++) {
        if (calls[h] == NULL) {
            continue;
        }
        if (calls[h]->c.outcome == HOST_DONE && calls[h]->rc >= 0) {
            memcpy(ps->previous_image[k][h], calls[h]->image,
                   sizeof(calls[h]->image));
        }
        host_call_release(&calls[h]->c);
    }
}

/* the previous model (each template's from in the record) as a new
   instance on each host would get it: the template as the config has it
   when only its version changed (its base images are the latest's),
   else made from the recipe an instance of it carries, its base image
   read where the host answers */
static void
previous_model(pool_state_t *ps, observation_t *obs)
{
    const pool_config_t     *p = ps->cf;
    const upgrade_t         *u = &obs->upgrade;
    const template_config_t *t;
    template_config_t        rt;
    virt_model_t            *m;
    char                     from[UPGRADE_MODEL_MAX + 1];
    const char              *colon;
    int                      k, h, ok = 1, any = 0, recipe;

    if (!obs->upgrade_ok || u->state == UPGRADE_NONE
        || u->state == UPGRADE_IDLE) {
        return;
    }
    for (k = 0; k < p->ntemplates; k++) {
        t = &p->templates[k];
        if (!upgrade_from(u, t->name, from, sizeof(from))) {
            /* the template did not move: its previous is its latest */
            memcpy(obs->previous[k], obs->latest[k], sizeof(obs->previous[k]));
            continue;
        }
        any = 1;
        colon = strchr(from, ':');
        if (colon == NULL || colon[1] == '\0') {
            ok = 0; /* a tag that predates digests */
            continue;
        }
        rt = *t;
        recipe = strcmp(colon + 1, ps->digest[k]) != 0;
        if (recipe) {
            if (recipe_of(ps, obs, k, colon + 1) != 0) {
                ok = 0;
                continue;
            }
            virt_recipe_template(t, &ps->recipe[k], &rt);
            previous_images(ps, obs, k, &rt);
        }
        for (h = 0; h < p->nhosts; h++) {
            m = &obs->previous[k][h];
            snprintf(m->version, sizeof(m->version), "%.*s",
                     (int) (colon - from), from);
            snprintf(m->digest, sizeof(m->digest), "%s", colon + 1);
            snprintf(m->template, sizeof(m->template), "%s", t->name);
            snprintf(m->host, sizeof(m->host), "%s", p->hosts[h].uri);
            memcpy(m->image,
                   recipe ? ps->previous_image[k][h] : ps->image[k][h],
                   sizeof(m->image));
        }
    }
    obs->previous_ok = any && ok;
}

/* each instance's protection (PREFIX{POOL}:protection: "scale_in" or
   "all"); a hash that cannot be read protects every instance (unknown is
   not "none") */
static void
read_protection(const registry_hash_t *h, observation_t *obs)
{
    int i, k;

    obs->protection_ok = h->ok;
    for (k = 0; !h->ok && k < obs->ninst; k++) {
        obs->inst[k].protection = PROTECT_ALL;
    }
    for (i = 0; h->ok && i < h->n; i++) {
        if ((k = obs_index(obs, h->field[i], h->flen[i])) < 0) {
            continue; /* not an instance of ours (any more) */
        }
        if (h->vlen[i] == 8 && memcmp(h->value[i], "scale_in", 8) == 0) {
            obs->inst[k].protection = PROTECT_SCALE_IN;
        } else if (h->vlen[i] == 3 && memcmp(h->value[i], "all", 3) == 0) {
            obs->inst[k].protection = PROTECT_ALL;
        } else {
            /* a word of no meaning protects from everything */
            obs->inst[k].protection = PROTECT_ALL;
            obs->refused++;
        }
    }
}

/* the instances on standby (PREFIX{POOL}:standby: "UNIX_MS" or "UNIX_MS
   decrement"); a value of no meaning still keeps one on standby (it is
   not deleted for it), counted.  A hash that cannot be read keeps every
   drained one as if it were: a drain is not ended on an unknown */
static void
read_standby(const registry_hash_t *h, observation_t *obs)
{
    const obs_member_t *m;
    uint64_t            ms;
    size_t              n;
    int                 i, k;

    for (k = 0; !h->ok && k < obs->ninst; k++) {
        m = obs->inst[k].member >= 0 ? &obs->members[obs->inst[k].member]
                                     : NULL;
        obs->inst[k].standby =
            m && m->valid && (m->flags & SCALESET_MEMBER_DRAIN);
    }

    for (i = 0; h->ok && i < h->n; i++) {
        if ((k = obs_index(obs, h->field[i], h->flen[i])) < 0) {
            continue;
        }
        n = memchr(h->value[i], ' ', h->vlen[i])
                ? (size_t) ((const char *) memchr(h->value[i], ' ', h->vlen[i])
                            - h->value[i])
                : h->vlen[i];
        obs->inst[k].standby =
            n < h->vlen[i] && h->vlen[i] - n == 10
                    && memcmp(h->value[i] + n, " decrement", 10) == 0
                ? 2
                : 1;
        if (scaleset_parse_u64(h->value[i], n, SCALESET_UNIX_MS_MAX, &ms) != 0
            || (n < h->vlen[i] && obs->inst[k].standby != 2))
        {
            obs->refused++;
        }
    }
}

/* the hashes a pass reads in its one round trip, in this order */
static const scaleset_key_kind_t pool_hashes[] = {
    SCALESET_KEY_MEMBERS, SCALESET_KEY_DRAINING, SCALESET_KEY_PROTECTION,
    SCALESET_KEY_REPAIR,  SCALESET_KEY_STANDBY,  SCALESET_KEY_UPGRADE
};
enum {
    H_MEMBERS = 0,
    H_DRAINING,
    H_PROTECTION,
    H_REPAIR,
    H_STANDBY,
    H_UPGRADE,
    H_COUNT
};

int
observe(registry_t *reg, pool_state_t *ps, const pool_ask_t *asks, int nasks,
        observation_t *obs)
{
    registry_hash_t h[H_COUNT];
    char            seq[32];
    uint64_t        v;
    int             i, rc = -1;

    memset(obs, 0, sizeof(*obs));
    obs->now = clock_unix_ms();
    obs->nzones = ps->cf->nzones;
    obs->nhosts = ps->cf->nhosts;
    obs->hand = ps->hand;
    obs->nhand = ps->nhand;
    obs->busy = act_bg_busy(ps, &obs->nbusy);
    list_zones(ps, asks, nasks, obs);
    latest_models(ps, obs);
    if (registry_read_pool(reg, ps->cf->name, OBS_HASH_MAX, pool_hashes,
                           H_COUNT, h, seq, sizeof(seq))
        != 0)
    {
        snprintf(obs->redis_err, sizeof(obs->redis_err), "%s",
                 registry_error(reg));
        /* the gateways known stay known: present until gateway_ttl */
        gateways_merge(ps, obs, NULL, NULL, 0);
        return -1;
    }
    if (!h[H_MEMBERS].ok) {
        /* the membership is not known: nothing can be decided */
        snprintf(obs->redis_err, sizeof(obs->redis_err),
                 "the member hash "
                 "refused: %s",
                 h[H_MEMBERS].err);
        obs->refused++;
        goto done;
    }
    read_members(ps, &h[H_MEMBERS], obs);
    obs->redis_ok = 1;
    obs->drains_ok = h[H_DRAINING].ok;
    if (h[H_DRAINING].ok) {
        read_drains(&h[H_DRAINING], obs);
    } else {
        obs->refused++;
    }
    read_protection(&h[H_PROTECTION], obs);
    obs->refused += !h[H_PROTECTION].ok;
    read_standby(&h[H_STANDBY], obs);
    obs->refused += !h[H_STANDBY].ok;
    /* the repair state as this scaler knew it, as Redis has it now */
    obs->repair = ps->repair;
    obs->repair_ok = h[H_REPAIR].ok;
    obs->refused += h[H_REPAIR].ok
                        ? repair_decode(&h[H_REPAIR], obs->now, &obs->repair)
                        : 1;
    if (seq[0] != '\0') {
        if (scaleset_parse_u64(seq, strlen(seq), UINT64_MAX, &v) != 0) {
            obs->refused++; /* no number: replaced, numbering goes
                               on above the known ids */
        } else if (v > (uint64_t) OBS_SEQ_MAX) {
            obs->seq = -1; /* the numbers are used up */
            obs->refused++;
        } else {
            obs->seq = (long) v;
        }
    }
    read_upgrade(&h[H_UPGRADE], obs);
    previous_model(ps, obs);
    read_reports(reg, ps, obs);
    if (!ps->read_only) {
        probe(ps->cf, obs); /* a standby registers nothing */
    }
    rc = 0;
done:
    if (rc != 0) {
        gateways_merge(ps, obs, NULL, NULL, 0);
    }
    for (i = 0; i < H_COUNT; i++) {
        registry_hash_free(&h[i]);
    }
    return rc;
}

void
obs_release(observation_t *obs)
{
    free(obs->inst);
    free(obs->members);
    free(obs->reports);
    free(obs->gateways);
    free(obs->busy);
    upgrade_free(&obs->upgrade);
    memset(obs, 0, sizeof(*obs));
}
