/*
 * observe.c: what a pass knows of a pool, gathered before anything is
 * decided (plan.h).  Every zone's owned domains (one listing call each;
 * a zone that does not answer keeps what the last pass knew of it), the
 * pool's stored state in Redis (members, drain starts, seq: one round
 * trip; every gateway's reports: a SCAN and one round trip), the
 * readiness of the unregistered instances, the API's deletions.
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

static int inst_cmp(const void *a, const void *b);
static int member_cmp(const void *a, const void *b);
static int list_zones(pool_state_t *ps, char **dels, int ndel,
    observation_t *obs);
static int read_members(pool_state_t *ps, const registry_hash_t *h,
    observation_t *obs);
static void read_drains(const registry_hash_t *h, observation_t *obs);
static void read_reports(registry_t *reg, pool_state_t *ps,
    observation_t *obs);
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
    obs_instance_t  key;

    if (obs->ninst == 0 || strlen(id) >= sizeof(key.in.id)) {
        return NULL;
    }
    snprintf(key.in.id, sizeof(key.in.id), "%s", id);
    return bsearch(&key, obs->inst, obs->ninst, sizeof(*obs->inst),
                   inst_cmp);
}

static int
obs_index(const observation_t *obs, const char *id, size_t len)
{
    const obs_instance_t  *o;
    char                   buf[SCALESET_ID_MAX + 1];

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
    obs_instance_t  *n;

    if (obs->ninst == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        n = realloc(obs->inst, *cap * sizeof(*obs->inst));
        if (n == NULL) {
            return NULL;
        }
        obs->inst = n;
    }
    n = &obs->inst[obs->ninst++];
    memset(n, 0, sizeof(*n));
    n->member = -1;
    return n;
}

/* every zone's owned domains; a zone that does not answer keeps the
   instances the last pass knew there (listed 0): they are not lost */
/* the pool's latest model per zone; its base image read where the zone
   answers (else the one read last) */
static void
latest_models(pool_state_t *ps, observation_t *obs)
{
    const pool_config_t      *p = ps->cf;
    const template_config_t  *t;
    virt_model_t             *m;
    char                      image[MODEL_DIGEST_LEN + 1];
    int                       z, k, i;

    for (k = 0; k < p->ntemplates; k++) {
        t = &p->templates[k];
        for (z = 0; z < p->nzones; z++) {
            m = &obs->latest[k][z];
            snprintf(m->version, sizeof(m->version), "%s", t->version);
            snprintf(m->digest, sizeof(m->digest), "%s", ps->digest[k]);
            snprintf(m->template, sizeof(m->template), "%s", t->name);
            snprintf(m->host, sizeof(m->host), "%s", p->zones[z].uri);
            if (obs->zone_up[z] && virt_image(ps->conns[z], t, image) >= 0) {
                if (ps->image[k][z][0]
                    && strcmp(ps->image[k][z], image) != 0)
                {
                    slog(p->name, NULL, "zone %s: the base image %s%s%s "
                         "changed (digest %.12s -> %.12s)",
                         p->zones[z].name,
                         t->vol_backing ? t->vol_backing : "",
                         t->name[0] ? " of template " : "", t->name,
                         ps->image[k][z], image);
                }
                memcpy(ps->image[k][z], image, sizeof(image));
            }
            memcpy(m->image, ps->image[k][z], sizeof(m->image));
        }
    }
    for (i = 0; i < obs->ninst; i++) {
        obs_instance_t *o = &obs->inst[i];

        /* an instance of a template the config no longer has is not of
           the latest model */
        o->in.tmpl = config_template(p, o->in.model.template);
        o->in.latest = o->in.tmpl >= 0
                       && model_latest(&obs->latest[o->in.tmpl][o->in.zone],
                                       &o->in.model);
    }
    model_images_digest(obs->latest, p->ntemplates, p->nzones, obs->images);
}

/* the upgrade record: refused whole when a field is (a bad record skips
   that record only: no upgrade step until the API writes a new one) */
static void
read_upgrade(const registry_hash_t *h, observation_t *obs)
{
    upgrade_t  *u = &obs->upgrade;
    char        why[128];

    if (!h->ok) {
        snprintf(obs->upgrade_err, sizeof(obs->upgrade_err), "%s", h->err);
        obs->refused++;
        return;
    }
    if (upgrade_decode(h->field, h->flen, h->value, h->vlen, h->n, u, why,
                       sizeof(why)) != 0)
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
        snprintf(obs->upgrade_err, sizeof(obs->upgrade_err), "a time in "
                 "the future");
        upgrade_free(u);
        obs->refused++;
        return;
    }
    obs->upgrade_ok = 1;
}

/* the recipe of template k's model of this digest: kept in ps, else
   from an instance of it (looked for again at most once a minute while
   none has it); 0 when ps->recipe[k] is it */
static int
recipe_of(pool_state_t *ps, observation_t *obs, int k, const char *digest)
{
    const template_config_t  *t = &ps->cf->templates[k];
    template_config_t         rt;
    virt_recipe_t            *keep = &ps->recipe[k], r;
    int                       i;

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

        if (!o->listed || !obs->zone_up[o->in.zone] || o->in.tmpl != k
            || strcmp(o->in.model.digest, digest) != 0
            || virt_recipe(ps->conns[o->in.zone], ps->cf->name, o->in.id,
                           &r) != 0)
        {
            continue;
        }
        virt_recipe_template(t, &r, &rt);
        model_template_digest(&rt, r.digest);
        if (strcmp(r.digest, digest) == 0) {
            *keep = r;
            slog(ps->cf->name, o->in.id, "recipe read: the previous model "
                 "(template %s%sdigest %.12s) can be made again",
                 t->name, t->name[0] ? " " : "", r.digest);
            return 0;
        }
        virt_recipe_free(&r);           /* not what it says it is */
    }
    return -1;
}

/* the previous model (each template's from in the record) as a new
   instance in each zone would get it: the template as the config has it
   when only its version changed, else made from the recipe an instance
   of it carries; its base image read where the zone answers */
static void
previous_model(pool_state_t *ps, observation_t *obs)
{
    const pool_config_t      *p = ps->cf;
    const upgrade_t          *u = &obs->upgrade;
    const template_config_t  *t;
    template_config_t         rt;
    virt_model_t             *m;
    char                      from[UPGRADE_MODEL_MAX + 1];
    char                      image[MODEL_DIGEST_LEN + 1];
    const char               *colon;
    int                       k, z, ok = 1, any = 0;

    if (!obs->upgrade_ok || u->state == UPGRADE_NONE
        || u->state == UPGRADE_IDLE)
    {
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
            ok = 0;                 /* a tag that predates digests */
            continue;
        }
        rt = *t;
        if (strcmp(colon + 1, ps->digest[k]) != 0) {
            if (recipe_of(ps, obs, k, colon + 1) != 0) {
                ok = 0;
                continue;
            }
            virt_recipe_template(t, &ps->recipe[k], &rt);
        }
        for (z = 0; z < p->nzones; z++) {
            m = &obs->previous[k][z];
            snprintf(m->version, sizeof(m->version), "%.*s",
                     (int) (colon - from), from);
            snprintf(m->digest, sizeof(m->digest), "%s", colon + 1);
            snprintf(m->template, sizeof(m->template), "%s", t->name);
            snprintf(m->host, sizeof(m->host), "%s", p->zones[z].uri);
            if (obs->zone_up[z] && virt_image(ps->conns[z], &rt, image) >= 0)
            {
                memcpy(ps->previous_image[k][z], image, sizeof(image));
            }
            memcpy(m->image, ps->previous_image[k][z], sizeof(m->image));
        }
    }
    obs->previous_ok = any && ok;
}

static int
list_zones(pool_state_t *ps, char **dels, int ndel, observation_t *obs)
{
    const pool_config_t  *p = ps->cf;
    virt_instance_t      *vi;
    obs_instance_t       *o;
    instance_t           *prev;
    int                   z, i, n, cap = 0;

    for (z = 0; z < p->nzones; z++) {
        n = virt_list(ps->conns[z], p, p->zones[z].name, &vi);
        obs->zone_up[z] = n >= 0;
        if (n < 0) {
            ps->errors[ERR_LIBVIRT]++;
        }
        if (obs->zone_up[z] == ps->zone_down[z]) {
            slog(p->name, NULL, "zone %s (%s) %s", p->zones[z].name,
                 p->zones[z].uri, obs->zone_up[z] ? "is back"
                 : "unreachable: its instances are kept, no creation there");
            ps->zone_down[z] = !obs->zone_up[z];
        }
        if (n < 0) {
            for (i = 0; i < ps->ninst; i++) {
                if (ps->inst[i].zone != z) {
                    continue;
                }
                if ((o = inst_add(obs, &cap)) == NULL) {
                    return -1;
                }
                o->in = ps->inst[i];
                o->in.vm.have = 0;          /* not listed this pass */
                o->in.report0 = o->in.nreports = 0;
            }
            continue;
        }
        for (i = 0; i < n; i++) {
            if (!scaleset_id_valid(vi[i].id, strlen(vi[i].id))
                || (o = inst_add(obs, &cap)) == NULL)
            {
                continue;
            }
            o->listed = 1;
            snprintf(o->in.id, sizeof(o->in.id), "%s", vi[i].id);
            snprintf(o->in.address, sizeof(o->in.address), "%s",
                     vi[i].address);
            o->in.model = vi[i].model;
            o->in.origin = vi[i].origin;
            if (o->in.model.created > obs->now + OBS_SKEW_MS) {
                o->in.model.created = 0;    /* a creation still to come */
                obs->refused++;
            }
            o->in.zone = z;
            o->in.seq = policy_id_seq(o->in.id);
            o->in.state = INST_BOOTING;
            o->in.seen = obs->now;
            o->in.vm = vi[i].vm;
            prev = ps->ninst ? bsearch(o->in.id, ps->inst, ps->ninst,
                                       sizeof(*ps->inst), prev_cmp)
                             : NULL;
            if (prev != NULL) {
                o->in.state = prev->state;
                o->in.seen = prev->seen;
                o->in.drain_seen = prev->drain_seen;
                o->in.delete_asked = prev->delete_asked;
            } else {
                slog(p->name, o->in.id, "found domain in zone %s",
                     p->zones[z].name);
            }
        }
        free(vi);
    }
    if (obs->ninst > 1) {
        qsort(obs->inst, obs->ninst, sizeof(*obs->inst), inst_cmp);
    }
    for (i = 0; i < obs->ninst; i++) {
        obs->inst[i].delete_asked |= obs->inst[i].in.delete_asked;
        obs->inst[i].in.delete_asked = 0;
    }
    for (i = 0; i < ndel; i++) {
        if ((o = (obs_instance_t *) obs_instance(obs, dels[i])) != NULL) {
            o->delete_asked = 1;
        }
    }
    return 0;
}

/* a zone's index by name, -1 when the pool has none of that name */
static int
zone_index(const pool_config_t *p, scaleset_slice_t name)
{
    int  z;

    for (z = 0; z < p->nzones; z++) {
        if (strlen(p->zones[z].name) == name.len
            && memcmp(p->zones[z].name, name.data, name.len) == 0)
        {
            return z;
        }
    }
    return -1;
}

static int
read_members(pool_state_t *ps, const registry_hash_t *h, observation_t *obs)
{
    scaleset_member_t   m;
    scaleset_error_t    err;
    obs_member_t       *om;
    int                 i, k;

    obs->members = calloc(h->n + 1, sizeof(*obs->members));
    if (obs->members == NULL) {
        return -1;
    }
    for (i = 0; i < h->n; i++) {
        if (!scaleset_id_valid(h->field[i], h->flen[i])) {
            obs->refused++;         /* no id: not ours to judge */
            continue;
        }
        om = &obs->members[obs->nmembers++];
        memcpy(om->id, h->field[i], h->flen[i]);
        om->id[h->flen[i]] = '\0';
        om->zone = -1;
        om->inst = -1;
        if (scaleset_member_parse(h->value[i], h->vlen[i], &m, &err) != 0
            || m.address.len >= sizeof(om->address))
        {
            obs->refused++;
            continue;
        }
        om->valid = 1;
        om->zone = m.zone.len ? zone_index(ps->cf, m.zone) : -1;
        memcpy(om->address, m.address.data, m.address.len);
        memcpy(om->version, m.version.data, m.version.len);
        om->weight = m.weight;
        om->flags = m.flags;
    }
    if (obs->nmembers > 1) {
        qsort(obs->members, obs->nmembers, sizeof(*obs->members),
              member_cmp);
    }
    for (k = 0; k < obs->nmembers; k++) {
        i = obs_index(obs, obs->members[k].id, strlen(obs->members[k].id));
        obs->members[k].inst = i;
        if (i >= 0) {
            obs->inst[i].member = k;
        }
    }
    return 0;
}

static void
read_drains(const registry_hash_t *h, observation_t *obs)
{
    uint64_t  ms;
    int       i, k;

    for (i = 0; i < h->n; i++) {
        if ((k = obs_index(obs, h->field[i], h->flen[i])) < 0) {
            continue;               /* not an instance of ours (any more) */
        }
        if (scaleset_parse_u64(h->value[i], h->vlen[i], SCALESET_UNIX_MS_MAX,
                               &ms) != 0
            || ms == 0 || ms > obs->now + OBS_SKEW_MS)
        {
            obs->refused++;         /* a drain start is a time, not later */
            continue;
        }
        obs->inst[k].drain_since = ms;
    }
}

typedef struct {
    int       inst;
    report_t  r;
} rep_ref_t;

static int
rep_cmp(const void *a, const void *b)
{
    const rep_ref_t  *x = a, *y = b;

    return x->inst != y->inst ? x->inst - y->inst
                              : x->r.gateway - y->r.gateway;
}

/* every gateway's reports on our instances, grouped by instance */
static void
read_reports(registry_t *reg, pool_state_t *ps, observation_t *obs)
{
    registry_hash_t    *hs;
    scaleset_health_t   h;
    scaleset_error_t    err;
    rep_ref_t          *refs = NULL;
    int                 ng, skipped, g, i, k, n = 0, c = 0;

    if (registry_read_health(reg, ps->cf->name, OBS_GATEWAYS_MAX,
                             OBS_HASH_MAX, &obs->gateways, &hs, &ng,
                             &skipped) != 0)
    {
        snprintf(obs->reports_err, sizeof(obs->reports_err), "%s",
                 registry_error(reg));
        ps->errors[ERR_REDIS]++;
        return;                     /* reports_ok 0: unknown */
    }
    obs->ngateways = ng;
    obs->reports_ok = 1;
    obs->refused += skipped;
    for (g = 0; g < ng; g++) {
        if (!hs[g].ok) {
            obs->reports_ok = 0;    /* one gateway's reports unknown */
            snprintf(obs->reports_err, sizeof(obs->reports_err), "%s: %s",
                     obs->gateways[g], hs[g].err);
            obs->refused++;
        }
        for (i = 0; i < hs[g].n; i++) {
            if ((k = obs_index(obs, hs[g].field[i], hs[g].flen[i])) < 0) {
                continue;
            }
            if (scaleset_health_parse(hs[g].value[i], hs[g].vlen[i], &h,
                                      &err) != 0)
            {
                obs->refused++;
                continue;
            }
            if (n == c) {
                rep_ref_t *nr = realloc(refs, (c = c ? c * 2 : 64)
                                              * sizeof(*refs));
                if (nr == NULL) {
                    obs->reports_ok = 0;
                    break;
                }
                refs = nr;
            }
            refs[n].inst = k;
            refs[n].r.gateway = g;
            refs[n].r.state = h.state;
            refs[n].r.conns = h.conns;
            refs[n].r.fails = h.fails;
            refs[n].r.checked = h.checked;
            n++;
        }
        registry_hash_free(&hs[g]);
    }
    free(hs);
    if (n > 1) {
        qsort(refs, n, sizeof(*refs), rep_cmp);
    }
    if (n > 0 && (obs->reports = malloc(n * sizeof(*obs->reports))) == NULL)
    {
        obs->reports_ok = 0;
        n = 0;
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

/* the readiness of every listed, unregistered instance */
static void
probe(const pool_config_t *p, observation_t *obs)
{
    obs_instance_t  *o;
    int              i;

    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!o->listed || !obs->zone_up[o->in.zone] || o->delete_asked
            || (o->member >= 0 && obs->members[o->member].valid))
        {
            continue;
        }
        /* lease / agent: no address until libvirt knows the guest's */
        if (o->in.address[0] == '\0'
            || strncmp(o->in.address, "pending:", 8) == 0)
        {
            o->ready = READY_NO;
            snprintf(o->why, sizeof(o->why), "no address");
            continue;
        }
        if (!p->readiness_tcp && p->health_uri == NULL) {
            o->ready = READY_YES;       /* readiness: none */
            continue;
        }
        o->ready = ready_check(o->in.address, p->health_uri,
                               p->health_uri ? p->health_timeout_ms : 200,
                               o->why, sizeof(o->why)) ? READY_YES
                                                       : READY_NO;
    }
}

/* the hashes a pass reads in its one round trip, in this order */
static const scaleset_key_kind_t  pool_hashes[] = {
    SCALESET_KEY_MEMBERS, SCALESET_KEY_DRAINING, SCALESET_KEY_UPGRADE
};
enum { H_MEMBERS = 0, H_DRAINING, H_UPGRADE, H_COUNT };

int
observe(registry_t *reg, pool_state_t *ps, char **dels, int ndel,
    observation_t *obs)
{
    registry_hash_t  h[H_COUNT];
    char             seq[32];
    uint64_t         v;
    int              i, rc = -1;

    memset(obs, 0, sizeof(*obs));
    obs->now = clock_unix_ms();
    obs->nzones = ps->cf->nzones;
    obs->hand = ps->hand;
    obs->nhand = ps->nhand;
    if (list_zones(ps, dels, ndel, obs) != 0) {
        snprintf(obs->redis_err, sizeof(obs->redis_err), "out of memory");
        return -1;
    }
    latest_models(ps, obs);
    if (registry_read_pool(reg, ps->cf->name, OBS_HASH_MAX, pool_hashes,
                           H_COUNT, h, seq, sizeof(seq)) != 0)
    {
        snprintf(obs->redis_err, sizeof(obs->redis_err), "%s",
                 registry_error(reg));
        return -1;
    }
    if (!h[H_MEMBERS].ok) {
        /* the membership is not known: nothing can be decided */
        snprintf(obs->redis_err, sizeof(obs->redis_err), "the member hash "
                 "refused: %s", h[H_MEMBERS].err);
        obs->refused++;
        goto done;
    }
    if (read_members(ps, &h[H_MEMBERS], obs) != 0) {
        snprintf(obs->redis_err, sizeof(obs->redis_err), "out of memory");
        goto done;
    }
    obs->redis_ok = 1;
    obs->drains_ok = h[H_DRAINING].ok;
    if (h[H_DRAINING].ok) {
        read_drains(&h[H_DRAINING], obs);
    } else {
        obs->refused++;
    }
    if (seq[0] != '\0') {
        if (scaleset_parse_u64(seq, strlen(seq), UINT64_MAX, &v) != 0) {
            obs->refused++;         /* no number: replaced, numbering goes
                                       on above the known ids */
        } else if (v > (uint64_t) OBS_SEQ_MAX) {
            obs->seq = -1;          /* the numbers are used up */
            obs->refused++;
        } else {
            obs->seq = (long) v;
        }
    }
    read_upgrade(&h[H_UPGRADE], obs);
    previous_model(ps, obs);
    read_reports(reg, ps, obs);
    if (!ps->read_only) {
        probe(ps->cf, obs);         /* a standby registers nothing */
    }
    rc = 0;
done:
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
    upgrade_free(&obs->upgrade);
    memset(obs, 0, sizeof(*obs));
}
