/*
 * act.c: a plan carried out (plan.h).  Each action is one idempotent step
 * on Redis (the write protocol, registry.c) or libvirt (virt.c); a crash
 * between two of them is recovered by the next pass's observation.  The
 * actions run in the plan's order, except that the libvirt ones run on
 * their host's workers (host.c), each with its deadline: the deletions
 * start first, all at once, and the Redis actions run while they do; the
 * creations run last, on their hosts (4 at a time per host), once their
 * instance numbers are reserved in PREFIX{POOL}:seq.  A host that does
 * not answer in time costs its own calls, not the others': a call past
 * libvirt.timeout is given up (its outcome is what the next listing
 * finds) and the host is not asked again until it returns.  A delete
 * removes the domain first and its member after, so a domain that could
 * not be removed is never left running unregistered (the next pass would
 * take it for a booting one).
 *
 * Success is logged as "VERB (REASON) rule=RULE", a failure as "KIND
 * failed: ERROR (REASON) rule=RULE", once, with the pool and id, and
 * counted in scaleset_scaler_errors_total.  The pool's instances become
 * what the pass leaves, sorted by id.
 *
 * With a lease (ha.c) every write carries its fence: the first one it
 * refuses ends the pass's actions (the lease is another's now), and
 * virt.c refuses libvirt calls once the lease is not held.
 *
 * An upgrade's record (ACT_UPGRADE) is written before anything else
 * runs: when it cannot be (the API changed it meanwhile, Redis failed),
 * none of the upgrade's actions is carried out, so that a crash always
 * resumes the batch the record names.  A creation of another model than
 * the pool's (a rollback's) is made from the recipe observe kept of it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* a deletion or a creation on its host's worker, with what it needs
   copied (a late one may outlive the pass and a reload: the
   configuration is held) */
typedef struct {
    host_call_t          c;
    scaler_config_t     *conf;
    const pool_config_t *p;
    const action_t      *a;             /* the pass's: read before the wait
                                           only */
    char                 id[SCALESET_ID_MAX + 1];
    char                 zone[SCALESET_NAME_MAX + 1];
    char                 address[80];
    act_kind_t           kind;          /* CREATE, ADOPT or DELETE */
    origin_t             origin;        /* a creation's */
    virt_model_t         model;         /* a creation's or an adoption's:
                                           into its tag */
    pool_config_t        cf;            /* a creation from a recipe: the
                                           pool's configuration with that
                                           template made of it (p = &cf) */
    virt_recipe_t        recipe;        /* the call's copy of it */
    int                  rc;
    char                 err[256];
} virt_call_t;

static int
inst_cmp(const void *a, const void *b)
{
    return strcmp(((const instance_t *) a)->id,
                  ((const instance_t *) b)->id);
}

/* the member record of an instance, from its own model and its
   template's weight, through the shared codec (its canonical form) */
static int
member_record(const pool_config_t *p, const instance_t *in, int drain,
    char *buf, size_t size, char *err, size_t errlen)
{
    const zone_config_t  *zc = &p->zones[in->zone];
    char                  raw[SCALESET_RECORD_MAX];
    scaleset_member_t     m;
    scaleset_error_t      e;

    /* the weight is its template's (a flexible pool's capacity units:
       the gateways share requests by it); host= only in a zone of
       several hosts */
    snprintf(raw, sizeof(raw), "%s weight=%d zone=%s%s%s%s%s%s",
             in->address, in->tmpl >= 0 ? p->templates[in->tmpl].weight : 1,
             zc->name, zc->nhosts > 1 ? " host=" : "",
             zc->nhosts > 1 ? p->hosts[in->host].name : "",
             in->model.version[0] ? " version=" : "", in->model.version,
             drain ? " drain" : "");
    if (scaleset_member_parse(raw, strlen(raw), &m, &e) != 0
        || scaleset_member_format(&m, buf, size, &e) < 0)
    {
        snprintf(err, errlen, "member record \"%s\": %s", raw, e.msg);
        return -1;
    }
    return 0;
}

static void
failed(pool_state_t *ps, const action_t *a, err_kind_t kind,
    const char *err)
{
    slog(ps->cf->name, a->id[0] ? a->id : NULL, "%s failed: %s (%s) rule=%s",
         act_kind_name(a->kind), err, a->reason, a->rule);
    ps->errors[kind]++;
}

/* a write of a that Redis did not do: refused by the fence, or failed */
static void
write_failed(pool_state_t *ps, const action_t *a, registry_t *reg)
{
    failed(ps, a, registry_refused(reg) ? ERR_FENCED : ERR_REDIS,
           registry_error(reg));
}

/* one Redis action (register, drain, deregister); 0 when done (st[]
   follows) */
static int
apply(registry_t *reg, pool_state_t *ps, observation_t *obs,
    const action_t *a, inst_state_t *st)
{
    const pool_config_t  *p = ps->cf;
    const instance_t     *in = a->inst >= 0 ? &obs->inst[a->inst].in : NULL;
    char                  rec[SCALESET_RECORD_MAX], err[256];

    switch (a->kind) {
    case ACT_REGISTER:
    case ACT_DRAIN:
        if (member_record(p, in, a->kind == ACT_DRAIN, rec, sizeof(rec),
                          err, sizeof(err)) != 0)
        {
            failed(ps, a, ERR_REDIS_DATA, err);
            return -1;
        }
        if ((a->kind == ACT_REGISTER
             ? registry_set(reg, p->name, a->id, rec)
             : registry_set_drain(reg, p->name, a->id, rec, obs->now)) != 0)
        {
            write_failed(ps, a, reg);
            return -1;
        }
        st[a->inst] = a->kind == ACT_REGISTER ? INST_RUNNING : INST_DRAINING;
        if (a->kind == ACT_REGISTER) {
            slog(p->name, a->id, "registered %s (%s) rule=%s", rec,
                 a->reason, a->rule);
        } else {
            slog(p->name, a->id, "draining (%s) rule=%s", a->reason,
                 a->rule);
        }
        return 0;

    case ACT_DEREGISTER:
        if (registry_del(reg, p->name, a->id) != 0) {
            write_failed(ps, a, reg);
            return -1;
        }
        slog(p->name, a->id, "deregistered (%s) rule=%s", a->reason, a->rule);
        return 0;

    default:
        return -1;
    }
}

static void
virt_run(virt_conn_t *vc, host_call_t *c)
{
    virt_call_t  *v = (virt_call_t *) c;

    switch (v->kind) {
    case ACT_CREATE:
        v->rc = virt_create(vc, v->p, v->zone, v->id, v->address, &v->model,
                            v->origin, v->err, sizeof(v->err));
        break;
    case ACT_ADOPT:
        v->rc = virt_adopt(vc, v->p, v->zone, v->id, &v->model, v->address,
                           v->err, sizeof(v->err));
        break;
    default:
        v->rc = virt_delete(vc, v->p->name, v->id);
        break;
    }
}

static void
virt_drop(host_call_t *c)
{
    virt_call_t  *v = (virt_call_t *) c;

    virt_recipe_free(&v->recipe);
    config_free(v->conf);
    free(v);
}

/* a call for action a (a creation with model, an adoption, a
   deletion) */
static virt_call_t *
virt_call(pool_state_t *ps, const action_t *a, const virt_model_t *model)
{
    virt_call_t  *v = calloc(1, sizeof(*v));

    if (v == NULL) {
        return NULL;
    }
    host_call_init(&v->c, virt_run, virt_drop);
    v->conf = config_ref(ps->conf);
    v->p = ps->cf;
    v->a = a;
    v->rc = -1;
    snprintf(v->id, sizeof(v->id), "%s", a->id);
    snprintf(v->zone, sizeof(v->zone), "%s", ps->cf->zones[a->zone].name);
    snprintf(v->address, sizeof(v->address), "%s", a->address);
    v->kind = a->kind;
    v->origin = a->origin;
    v->model = model ? *model : a->model;
    return v;
}

/* what a creation of its model is made from: the pool's template, or
   for another model (a rollback's) a copy of the recipe observe kept of
   it, in place of its template; -1 (v->err says why) when there is none */
static int
create_from(const pool_state_t *ps, virt_call_t *v)
{
    int  k = v->a->tmpl;

    if (k < 0 || k >= ps->cf->ntemplates
        || strcmp(v->model.digest, ps->digest[k]) == 0)
    {
        return 0;
    }
    if (ps->recipe[k].text == NULL
        || strcmp(v->model.digest, ps->recipe[k].digest) != 0)
    {
        snprintf(v->err, sizeof(v->err), "no recipe of version %s "
                 "(template digest %.12s) to make it from", v->model.version,
                 v->model.digest);
        return -1;
    }
    if (virt_recipe_copy(&v->recipe, &ps->recipe[k]) != 0) {
        snprintf(v->err, sizeof(v->err), "out of memory");
        return -1;
    }
    v->cf = *ps->cf;
    virt_recipe_template(&ps->cf->templates[k], &v->recipe,
                         &v->cf.templates[k]);
    v->p = &v->cf;
    return 0;
}

/* an upgrade's action while its record could not be written: not done */
static int
held(const action_t *a, int upgrade_ok)
{
    return !upgrade_ok && strcmp(a->rule, "upgrade") == 0;
}

/* why a call did not do its work, for the log */
static const char *
virt_why(const pool_state_t *ps, const virt_call_t *v, char *buf,
    size_t size)
{
    switch (v->c.outcome) {
    case HOST_REFUSED:
        return "its host is stalled: not asked";
    case HOST_LATE:
        snprintf(buf, size, "no answer within libvirt.timeout %llu ms: "
                 "the next listing tells", (unsigned long long)
                 ps->host_timeout_ms);
        return buf;
    case HOST_CANCELLED:
        return "the pass was stopped";
    default:
        return v->err[0] ? v->err : v->kind == ACT_DELETE
               ? "libvirt could not remove the domain" : "libvirt error";
    }
}

/* the plan's deletions and adoptions on their hosts, started at once:
   a deletion on its instance's host; an adoption on every host of its
   zone (the domain is on one of them: the others answer that they have
   none) */
typedef struct {
    int            act;                 /* pl->act index */
    virt_call_t   *v;
} virt_job_t;

static virt_job_t *
virt_actions(pool_state_t *ps, const plan_t *pl, host_batch_t *b, int *n,
    int upgrade_ok)
{
    const zone_config_t  *zc;
    virt_job_t           *j, *nj;
    virt_call_t          *v;
    int                   i, h, c = 0;

    *n = 0;
    j = NULL;
    for (i = 0; i < pl->nact; i++) {
        const action_t *a = &pl->act[i];

        if ((a->kind != ACT_DELETE && a->kind != ACT_ADOPT)
            || held(a, upgrade_ok))
        {
            continue;
        }
        zc = &ps->cf->zones[a->zone];
        for (h = a->kind == ACT_DELETE ? a->host : zc->host0;
             h < (a->kind == ACT_DELETE ? a->host + 1
                                        : zc->host0 + zc->nhosts);
             h++)
        {
            if (*n == c) {
                c = c ? 2 * c : 16;
                if ((nj = realloc(j, c * sizeof(*j))) == NULL) {
                    failed(ps, a, ERR_DELETE, "out of memory");
                    return j;
                }
                j = nj;
            }
            if ((v = virt_call(ps, a, NULL)) == NULL) {
                failed(ps, a, a->kind == ACT_DELETE ? ERR_DELETE
                       : ERR_CREATE, "out of memory");
                continue;
            }
            if (a->kind == ACT_ADOPT) {
                /* the tag names the host it is found on */
                snprintf(v->model.host, sizeof(v->model.host), "%s",
                         ps->cf->hosts[h].uri);
            }
            j[*n].act = i;
            j[(*n)++].v = v;
            host_submit(b, ps->hosts[h], &v->c);
        }
    }
    return j;
}

/* their outcomes: a deletion's domain gone, then its member; an
   adoption done on one host of the zone */
static void
virt_done(registry_t *reg, pool_state_t *ps, const plan_t *pl,
    virt_job_t *j, int n, inst_state_t *st)
{
    const action_t  *a;
    virt_call_t     *v, *ok;
    char             why[160];
    int              k, e;

    for (k = 0; k < n; k = e) {
        a = &pl->act[j[k].act];
        /* the calls of one action are together */
        for (e = k, ok = NULL; e < n && j[e].act == j[k].act; e++) {
            v = j[e].v;
            if (ok == NULL && v->c.outcome == HOST_DONE && v->rc == 0) {
                ok = v;
            }
        }
        v = j[k].v;
        if (ok == NULL && !ha_acting()) {
            failed(ps, a, ERR_FENCED, "this scaler does not hold the lease");
        } else if (ok == NULL) {
            failed(ps, a, a->kind == ACT_DELETE ? ERR_DELETE : ERR_CREATE,
                   virt_why(ps, v, why, sizeof(why)));
        } else if (a->kind == ACT_ADOPT) {
            slog(ps->cf->name, a->id, "adopted in zone %s%s%s (%s) rule=%s",
                 ps->cf->zones[a->zone].name, a->address[0] ? " at " : "",
                 a->address, a->reason, a->rule);
        } else {
            st[a->inst] = INST_DELETING;
            slog(ps->cf->name, a->id, "deleted (%s) rule=%s", a->reason,
                 a->rule);
            ps->actions_down += strcmp(a->rule, "scale_in") == 0;
            ps->repairs += strcmp(a->rule, "repair") == 0;
            /* its member (or none: HDEL is idempotent) after the domain;
               a failure leaves a stray that the next pass deregisters */
            if (a->member >= 0
                && registry_del(reg, ps->cf->name, a->id) != 0)
            {
                write_failed(ps, a, reg);
            }
        }
        for (; k < e; k++) {
            host_call_release(&j[k].v->c);
        }
    }
}

/* the plan's creations: their numbers reserved, then made on their
   hosts; the created ones appended to ps->inst (room made by the
   caller); the upgrade's only when its record was written (upgrade_ok) */
static void
creations(registry_t *reg, pool_state_t *ps, const observation_t *obs,
    const plan_t *pl, int upgrade_ok)
{
    const pool_config_t  *p = ps->cf;
    virt_call_t         **c;
    host_batch_t          b;
    instance_t           *in;
    virt_model_t          model;
    long                  first = 0, last = 0;
    uint64_t              now = clock_unix_ms();
    char                  why[160];
    int                   i, n = 0, rc;

    if (pl->creates == 0) {
        return;
    }
    if ((c = calloc(pl->creates, sizeof(*c))) == NULL) {
        slog(p->name, NULL, "out of memory: no creation this pass");
        return;
    }
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_CREATE && !held(&pl->act[i], upgrade_ok)) {
            first = first && first < pl->act[i].seq ? first : pl->act[i].seq;
            last = last > pl->act[i].seq ? last : pl->act[i].seq;
        }
    }
    if (last == 0) {
        free(c);
        return;                     /* only the upgrade's, held */
    }
    /* numbers first + 1 .. last: refused when another writer handed out
       some meanwhile (the next pass plans above them) */
    rc = registry_seq_reserve(reg, p->name, first - 1, last);
    if (rc != 1) {
        slog(p->name, NULL, "no creation this pass: instance numbers "
             "%ld..%ld %s", first, last, rc == 0
             ? "were handed out by another writer" : registry_error(reg));
        ps->errors[registry_refused(reg) ? ERR_FENCED : ERR_REDIS]++;
        free(c);
        return;
    }
    host_batch_init(&b, ps->cancel);
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind != ACT_CREATE || held(&pl->act[i], upgrade_ok)) {
            continue;
        }
        /* the model the plan chose (pl->target: the host's latest, or the
           previous one while rolling back), created now */
        model = pl->act[i].model;
        model.created = now;
        if ((c[n] = virt_call(ps, &pl->act[i], &model)) == NULL) {
            failed(ps, &pl->act[i], ERR_CREATE, "out of memory");
            continue;
        }
        if (create_from(ps, c[n]) != 0) {
            failed(ps, &pl->act[i], ERR_CREATE, c[n]->err);
            host_call_release(&c[n]->c);
            continue;
        }
        host_submit(&b, ps->hosts[pl->act[i].host], &c[n++]->c);
    }
    host_wait(&b);
    host_batch_destroy(&b);
    for (i = 0; i < n; i++) {
        const action_t *a = c[i]->a;

        if (c[i]->c.outcome != HOST_DONE || c[i]->rc != 0) {
            failed(ps, a, ERR_CREATE, virt_why(ps, c[i], why, sizeof(why)));
            host_call_release(&c[i]->c);
            continue;
        }
        slog(p->name, a->id, "created in zone %s%s%s at %s%s (%s) rule=%s",
             p->zones[a->zone].name, p->zones[a->zone].nhosts > 1
             ? " host " : "", p->zones[a->zone].nhosts > 1
             ? p->hosts[a->host].name : "", a->address,
             a->origin == ORIGIN_MANUAL ? " by hand" : "", a->reason,
             a->rule);
        ps->actions_up++;
        in = &ps->inst[ps->ninst++];
        memset(in, 0, sizeof(*in));
        snprintf(in->id, sizeof(in->id), "%s", a->id);
        snprintf(in->address, sizeof(in->address), "%s", a->address);
        in->model = c[i]->model;
        in->tmpl = a->tmpl;
        in->origin = a->origin;
        in->latest = a->tmpl >= 0 && a->host >= 0
                     && model_latest(&pl->target[a->tmpl][a->host],
                                     &in->model);
        in->zone = a->zone;
        in->host = a->host;
        in->seq = a->seq;
        in->state = INST_BOOTING;
        in->seen = obs->now;
        host_call_release(&c[i]->c);
    }
    free(c);
}

/* the upgrade record written as the plan leaves it (compare-and-set on
   the generation observed); 0 when it is */
static int
upgrade_write(registry_t *reg, pool_state_t *ps, const observation_t *obs,
    const plan_t *pl, const action_t *a)
{
    const upgrade_t  *u = &pl->upgrade;
    char             *ids = NULL;
    uint64_t          gen = 0;
    size_t            len = 0;
    int               rc, k;

    rc = registry_upgrade_write(reg, ps->cf->name, u, obs->upgrade.gen, &gen);
    if (rc != 1) {
        slog(ps->cf->name, NULL, "upgrade failed: %s (%s) rule=%s",
             rc == 0 ? "the record changed meanwhile (the API): this "
             "pass's upgrade actions are not carried out"
             : registry_error(reg), a->reason, a->rule);
        if (rc < 0) {
            ps->errors[registry_refused(reg) ? ERR_FENCED : ERR_REDIS]++;
        }
        return -1;
    }
    if (u->nids > 0 && (ids = malloc(u->nids * (SCALESET_ID_MAX + 1)))
                       != NULL)
    {
        for (k = 0; k < u->nids; k++) {
            len += (size_t) sprintf(ids + len, "%s%s", k ? " " : "",
                                    u->ids[k]);
        }
    }
    slog(ps->cf->name, NULL, "upgrade %s (%s)%s%s rule=%s",
         upgrade_state_name(u->state), pl->upgrade_log[0] ? pl->upgrade_log
         : a->reason, ids ? " batch instances: " : "", ids ? ids : "",
         a->rule);
    free(ids);
    if (upgrade_copy(&ps->upgrade, u) == 0) {
        ps->upgrade.gen = gen;
    }
    for (k = 0; k < 3; k++) {
        ps->upgrade_batches[k] += (unsigned long) pl->batches[k];
    }
    return 0;
}

/* a write failed because the lease is another's (the fence said so), or
   it ran out while Redis did not answer: logged, nothing more is to be
   written this pass */
static int
lease_lost(registry_t *reg, const pool_config_t *p, int left)
{
    if (!registry_refused(reg) && ha_acting()) {
        return 0;
    }
    slog(p->name, NULL, "the lease is lost%s: the pass stops writing, %d "
         "more actions not done", registry_refused(reg) ? "" : " (ran out)",
         left);
    return 1;
}

void
act(registry_t *reg, pool_state_t *ps, observation_t *obs,
    const plan_t *pl)
{
    const pool_config_t  *p = ps->cf;
    inst_state_t         *st;
    instance_t           *list, *in;
    host_batch_t          b;
    virt_job_t           *jobs;
    const plan_input_t    pin = { .cf = ps->cf, .obs = obs };
    int                   njobs = 0;
    int                   i, n, cap, fenced = 0, upgrade_ok = 1;

    st = calloc(obs->ninst + 1, sizeof(*st));
    cap = obs->ninst + (pl ? pl->creates : 0);
    list = calloc(cap + 1, sizeof(*list));
    if (st == NULL || list == NULL) {
        slog(p->name, NULL, "out of memory: no action this pass");
        free(st);
        free(list);
        return;
    }
    for (i = 0; i < obs->ninst; i++) {
        st[i] = plan_observed(obs, i);
    }
    for (i = 0; pl && i < pl->nnote; i++) {
        slog(p->name, NULL, "%s rule=%s", pl->note[i].text, pl->note[i].rule);
        if (pl->note[i].err < ERR_KIND_COUNT) {
            ps->errors[pl->note[i].err]++;
        }
    }
    if (obs->upgrade_ok && upgrade_copy(&ps->upgrade, &obs->upgrade) != 0)
    {
        upgrade_free(&ps->upgrade);
    }
    /* the upgrade's record first: what it decided rests on it */
    for (i = 0; pl && i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_UPGRADE) {
            upgrade_ok = upgrade_write(reg, ps, obs, pl, &pl->act[i]) == 0;
            fenced = !upgrade_ok && lease_lost(reg, p, pl->nact - 1);
            break;
        }
    }
    /* the deletions run on their hosts while the Redis actions run */
    host_batch_init(&b, ps->cancel);
    jobs = pl && !fenced ? virt_actions(ps, pl, &b, &njobs, upgrade_ok)
                         : NULL;
    for (i = 0; pl && !fenced && i < pl->nact; i++) {
        const action_t *a = &pl->act[i];

        if (a->kind == ACT_CREATE || a->kind == ACT_DELETE
            || a->kind == ACT_ADOPT || a->kind == ACT_UPGRADE
            || held(a, upgrade_ok))
        {
            continue;
        }
        if (apply(reg, ps, obs, a, st) != 0) {
            if (lease_lost(reg, p, pl->nact - i - 1)) {
                fenced = 1;
                break;
            }
            continue;
        }
        ps->actions_down += strcmp(a->rule, "scale_in") == 0;
        ps->repairs += strcmp(a->rule, "repair") == 0;
    }
    host_wait(&b);
    host_batch_destroy(&b);
    if (jobs != NULL) {
        virt_done(reg, ps, pl, jobs, njobs, st);
        free(jobs);
    }

    /* the instances as the pass leaves them */
    for (i = 0, n = 0; i < obs->ninst; i++) {
        if (st[i] == INST_DELETING) {
            continue;
        }
        in = &list[n++];
        *in = obs->inst[i].in;
        in->state = obs->inst[i].delete_asked ? INST_DELETING : st[i];
        if (pl) {
            /* on the model new instances get (the previous one while an
               upgrade rolls back and after) */
            in->latest = plan_on_target(&pin, pl, i);
        }
        in->delete_asked = obs->inst[i].delete_asked;
        in->lost = pl ? pl->view[i].lost : obs->inst[i].in.lost;
        in->weight = obs->inst[i].member >= 0
                     && obs->members[obs->inst[i].member].valid
                     ? obs->members[obs->inst[i].member].weight : 0;
        if (st[i] == INST_DRAINING && in->drain_seen == 0) {
            in->drain_seen = obs->now;
        } else if (st[i] != INST_DRAINING) {
            in->drain_seen = 0;
        }
    }
    free(ps->inst);
    ps->inst = list;
    ps->ninst = n;
    ps->cinst = cap + 1;
    if (pl) {
        ps->model = pl->target[0][0];
        upgrade_pool_model(obs->latest, p->ntemplates, ps->key,
                           sizeof(ps->key));
        ps->previous_ok = obs->previous_ok;
        memcpy(ps->images, obs->images, sizeof(ps->images));
    }
    if (pl && !fenced) {
        creations(reg, ps, obs, pl, upgrade_ok);
    }
    if (ps->ninst > 1) {
        qsort(ps->inst, ps->ninst, sizeof(*ps->inst), inst_cmp);
    }
    free(st);

    /* the reports the instances point into */
    free(ps->reports);
    free(ps->gateways);
    ps->reports = obs->reports;
    ps->nreports = obs->nreports;
    ps->gateways = obs->gateways;
    ps->ngateways = obs->ngateways;
    obs->reports = NULL;
    obs->gateways = NULL;
    obs->nreports = obs->ngateways = 0;
}
