/*
 * act.c: a plan carried out (plan.h).  Each action is one idempotent step
 * on Redis (the write protocol, registry.c) or libvirt (virt.c); a crash
 * between two of them is recovered by the next pass's observation.  The
 * actions run in the plan's order, except that the creations run last,
 * 4 at a time per zone, once their instance numbers are reserved in
 * PREFIX{POOL}:seq.  A delete removes the domain first and its member
 * after, so a domain that could not be removed is never left running
 * unregistered (the next pass would take it for a booting one).
 *
 * Success is logged as "VERB (REASON) rule=RULE", a failure as "KIND
 * failed: ERROR (REASON) rule=RULE", once, with the pool and id, and
 * counted in scaleset_scaler_errors_total.  The pool's instances become
 * what the pass leaves, sorted by id.
 *
 * With a lease (ha.c) every write carries its fence: the first one it
 * refuses ends the pass's actions (the lease is another's now), and
 * virt.c refuses libvirt calls once the lease is not held.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define CREATE_WORKERS  4       /* concurrent creations per zone */

typedef struct {
    const action_t   *a;
    pool_config_t     cf;           /* what it is made from: the pool's
                                       template, or the recipe of the
                                       model it gets (a rollback's) */
    virt_model_t      model;        /* written into its tag */
    int               ok;
    char              err[256];
} create_t;

typedef struct {
    pool_state_t     *ps;
    create_t         *c;
    int               n, zone, next;
    pthread_mutex_t   lock;
} create_job_t;

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
    char               raw[SCALESET_RECORD_MAX];
    scaleset_member_t  m;
    scaleset_error_t   e;

    /* the weight is its template's (a flexible pool's capacity units:
       the gateways share requests by it) */
    snprintf(raw, sizeof(raw), "%s weight=%d zone=%s%s%s%s", in->address,
             in->tmpl >= 0 ? p->templates[in->tmpl].weight : 1,
             p->zones[in->zone].name, in->model.version[0] ? " version=" : "",
             in->model.version, drain ? " drain" : "");
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

/* one action but a creation; 0 when done (st[] follows) */
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

    case ACT_ADOPT:
        if (virt_adopt(ps->conns[a->zone], p, p->zones[a->zone].name, a->id,
                       &a->model, a->address, err, sizeof(err)) != 0)
        {
            failed(ps, a, ERR_CREATE, err);
            return -1;
        }
        slog(p->name, a->id, "adopted in zone %s%s%s (%s) rule=%s",
             p->zones[a->zone].name, a->address[0] ? " at " : "",
             a->address, a->reason, a->rule);
        return 0;

    case ACT_DELETE:
        if (virt_delete(ps->conns[a->zone], p->name, a->id) != 0) {
            failed(ps, a, ha_acting() ? ERR_DELETE : ERR_FENCED,
                   ha_acting() ? "libvirt could not remove the domain"
                               : "this scaler does not hold the lease");
            return -1;
        }
        st[a->inst] = INST_DELETING;
        slog(p->name, a->id, "deleted (%s) rule=%s", a->reason, a->rule);
        /* its member (or none: HDEL is idempotent) after the domain; a
           failure leaves a stray that the next pass deregisters */
        if (a->member >= 0 && registry_del(reg, p->name, a->id) != 0) {
            write_failed(ps, a, reg);
        }
        return 0;

    default:
        return -1;
    }
}

/* creates the job's zone's instances, one at a time; the threads touch
   only their own create_t */
static void *
create_worker(void *arg)
{
    create_job_t   *job = arg;
    pool_state_t   *ps = job->ps;
    create_t       *c;
    int             i;

    for (;;) {
        pthread_mutex_lock(&job->lock);
        while (job->next < job->n && job->c[job->next].a->zone != job->zone)
        {
            job->next++;
        }
        i = job->next++;
        pthread_mutex_unlock(&job->lock);
        if (i >= job->n) {
            return NULL;
        }
        c = &job->c[i];
        c->ok = c->err[0] == '\0'
                && virt_create(ps->conns[job->zone], &c->cf,
                               ps->cf->zones[job->zone].name, c->a->id,
                               c->a->address, &c->model, c->a->origin,
                               c->err, sizeof(c->err)) == 0;
    }
}

static void
create_all(pool_state_t *ps, create_t *c, int n)
{
    create_job_t  jobs[SCALER_MAX_ZONES];
    pthread_t     th[SCALER_MAX_ZONES][CREATE_WORKERS];
    int           started[SCALER_MAX_ZONES] = { 0 };
    int           z, w;

    for (z = 0; z < ps->cf->nzones; z++) {
        jobs[z].ps = ps;
        jobs[z].c = c;
        jobs[z].n = n;
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
}

/* what a creation of its model is made from: the pool's template, or
   for another model (a rollback's) the recipe observe kept of it, in
   place of its template in c->cf */
static void
create_from(const pool_state_t *ps, create_t *c)
{
    int  k = c->a->tmpl;

    c->cf = *ps->cf;
    if (k < 0 || k >= ps->cf->ntemplates
        || strcmp(c->model.digest, ps->digest[k]) == 0)
    {
        return;
    }
    if (ps->recipe[k].text != NULL
        && strcmp(c->model.digest, ps->recipe[k].digest) == 0)
    {
        virt_recipe_template(&ps->cf->templates[k], &ps->recipe[k],
                             &c->cf.templates[k]);
        return;
    }
    snprintf(c->err, sizeof(c->err), "no recipe of version %s (template "
             "digest %.12s) to make it from", c->model.version,
             c->model.digest);
}

/* the plan's creations: their numbers reserved, then made; the created
   ones appended to ps->inst (room made by the caller); the upgrade's
   only when its record was written (upgrade_ok) */
static void
creations(registry_t *reg, pool_state_t *ps, const observation_t *obs,
    const plan_t *pl, int upgrade_ok)
{
    const pool_config_t  *p = ps->cf;
    create_t             *c;
    instance_t           *in;
    long                  first = 0, last = 0;
    uint64_t              now = clock_unix_ms();
    int                   i, n = 0, rc;

    if (pl->creates == 0) {
        return;
    }
    for (i = 0; i < pl->nact; i++) {
        n += pl->act[i].kind == ACT_CREATE
             && (upgrade_ok || strcmp(pl->act[i].rule, "upgrade") != 0);
    }
    if (n == 0) {
        return;
    }
    n = 0;
    if ((c = calloc(pl->creates, sizeof(*c))) == NULL) {
        slog(p->name, NULL, "out of memory: no creation this pass");
        return;
    }
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_CREATE
            && (upgrade_ok || strcmp(pl->act[i].rule, "upgrade") != 0))
        {
            /* the model the plan chose (pl->target), created now */
            c[n].a = &pl->act[i];
            c[n].model = pl->act[i].model;
            c[n].model.created = now;
            create_from(ps, &c[n]);
            n++;
            first = first && first < pl->act[i].seq ? first : pl->act[i].seq;
            last = last > pl->act[i].seq ? last : pl->act[i].seq;
        }
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
    create_all(ps, c, n);
    for (i = 0; i < n; i++) {
        const action_t *a = c[i].a;

        if (!c[i].ok) {
            failed(ps, a, ERR_CREATE, c[i].err);
            continue;
        }
        slog(p->name, a->id, "created in zone %s at %s%s (%s) rule=%s",
             p->zones[a->zone].name, a->address,
             a->origin == ORIGIN_MANUAL ? " by hand" : "", a->reason,
             a->rule);
        ps->actions_up++;
        in = &ps->inst[ps->ninst++];
        memset(in, 0, sizeof(*in));
        snprintf(in->id, sizeof(in->id), "%s", a->id);
        snprintf(in->address, sizeof(in->address), "%s", a->address);
        in->model = c[i].model;
        in->tmpl = a->tmpl;
        in->origin = a->origin;
        in->latest = a->tmpl >= 0
                     && model_latest(&pl->target[a->tmpl][a->zone],
                                     &in->model);
        in->zone = a->zone;
        in->seq = a->seq;
        in->state = INST_BOOTING;
        in->seen = obs->now;
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
            ps->errors[ERR_REDIS]++;
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
    for (i = 0; pl && i < pl->nact; i++) {
        const action_t *a = &pl->act[i];

        if (a->kind == ACT_UPGRADE) {
            /* what the upgrade decided rests on its record */
            upgrade_ok = upgrade_write(reg, ps, obs, pl, a) == 0;
            if (!upgrade_ok && lease_lost(reg, p, pl->nact - i - 1)) {
                fenced = 1;
                break;
            }
            continue;
        }
        if (a->kind == ACT_CREATE
            || (!upgrade_ok && strcmp(a->rule, "upgrade") == 0))
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

    /* the instances as the pass leaves them */
    for (i = 0, n = 0; i < obs->ninst; i++) {
        if (st[i] == INST_DELETING) {
            continue;
        }
        in = &list[n++];
        *in = obs->inst[i].in;
        in->state = obs->inst[i].delete_asked ? INST_DELETING : st[i];
        if (pl) {
            in->latest = in->tmpl >= 0 && in->tmpl < p->ntemplates
                         && model_latest(&pl->target[in->tmpl][in->zone],
                                         &in->model);
        }
        in->delete_asked = obs->inst[i].delete_asked;
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
