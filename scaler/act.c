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

/* the domain of a's instance, then its member (or none: HDEL is
   idempotent); a failure of the second leaves a stray that the next pass
   deregisters */
static int
remove_instance(registry_t *reg, pool_state_t *ps, const action_t *a,
    inst_state_t *st, const char *how)
{
    const pool_config_t  *p = ps->cf;

    if (virt_delete(ps->conns[a->zone], p->name, a->id) != 0) {
        failed(ps, a, ha_acting() ? ERR_DELETE : ERR_FENCED,
               ha_acting() ? "libvirt could not remove the domain"
                           : "this scaler does not hold the lease");
        return -1;
    }
    st[a->inst] = INST_DELETING;
    slog(p->name, a->id, "deleted (%s%s%s) rule=%s", a->reason,
         how ? "; " : "", how ? how : "", a->rule);
    if (a->member >= 0 && registry_del(reg, p->name, a->id) != 0) {
        write_failed(ps, a, reg);
    }
    return 0;
}

/* the lifecycle event of action a done (the instance's state before and
   after it), or NULL: not a transition (a record written again) */
static const char *
act_event(const action_t *a, inst_state_t before, inst_state_t after)
{
    switch (a->kind) {
    case ACT_REGISTER:   return before != INST_RUNNING ? "registered" : NULL;
    case ACT_DRAIN:      return before != INST_DRAINING ? "draining" : NULL;
    case ACT_DEREGISTER: return "deregistered";
    case ACT_DELETE:     return "deleted";
    case ACT_STOP:       return after == INST_DELETING ? "deleted"
                                                       : "stopping";
    case ACT_RESTART:
    case ACT_REIMAGE:    return "repairing";
    case ACT_STANDBY:    return "standby";
    case ACT_HOOK:       return after == INST_PENDING_LAUNCH
                                ? "pending_launch" : "pending_terminate";
    case ACT_ADOPT:      return "adopted";
    default:             return NULL;
    }
}

/* a restart or a reimage; 0 when done (st[] follows) */
static int
repair_domain(pool_state_t *ps, const action_t *a, inst_state_t *st)
{
    const pool_config_t  *p = ps->cf;
    char                  err[256];
    int                   rc;

    rc = a->kind == ACT_RESTART
         ? virt_reset(ps->conns[a->zone], p->name, a->id, err, sizeof(err))
         : virt_reimage(ps->conns[a->zone], p, a->id, err, sizeof(err));
    if (rc != 0) {
        failed(ps, a, ERR_REPAIR, err);
        return -1;
    }
    st[a->inst] = INST_REPAIRING;
    slog(p->name, a->id, "%s (%s) rule=%s",
         a->kind == ACT_RESTART ? "restarted" : "reimaged", a->reason,
         a->rule);
    return 0;
}

/* one action but a creation; 0 when done (st[] follows, stop[] gets the
   time of a shutdown sent) */
static int
apply(registry_t *reg, pool_state_t *ps, observation_t *obs,
    const action_t *a, inst_state_t *st, uint64_t *stop)
{
    const pool_config_t  *p = ps->cf;
    const instance_t     *in = a->inst >= 0 ? &obs->inst[a->inst].in : NULL;
    char                  rec[SCALESET_RECORD_MAX], err[256], val[64];
    int                   registered;

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
        return remove_instance(reg, ps, a, st, NULL);

    case ACT_HOOK:
        st[a->inst] = a->hook == HOOK_LAUNCH ? INST_PENDING_LAUNCH
                                             : INST_PENDING_TERMINATE;
        slog(p->name, a->id, "%s (%s) rule=%s", inst_state_name(st[a->inst]),
             a->reason, a->rule);
        return 0;

    case ACT_RESTART:
    case ACT_REIMAGE:
        return repair_domain(ps, a, st);

    case ACT_STANDBY:
        /* registered: drained in the same transaction */
        registered = a->member >= 0 && obs->members[a->member].valid;
        snprintf(val, sizeof(val), "%llu%s", (unsigned long long) obs->now,
                 (in->asked & ASK_DECREMENT) ? " decrement" : "");
        if (registered
            && member_record(p, in, 1, rec, sizeof(rec), err, sizeof(err))
               != 0)
        {
            failed(ps, a, ERR_REDIS_DATA, err);
            return -1;
        }
        if (registry_set_standby(reg, p->name, a->id, registered ? rec
                                 : NULL, obs->now, val) != 0)
        {
            write_failed(ps, a, reg);
            return -1;
        }
        st[a->inst] = INST_STANDBY;
        slog(p->name, a->id, "on standby: drained, kept running (%s) "
             "rule=%s", a->reason, a->rule);
        return 0;

    case ACT_STOP:
        switch (virt_shutdown(ps->conns[a->zone], p->name, a->id)) {
        case 0:
            st[a->inst] = INST_STOPPING;
            stop[a->inst] = obs->now;
            slog(p->name, a->id, "stopping: ACPI shutdown sent, %llu ms "
                 "to power off (%s) rule=%s",
                 (unsigned long long) p->shutdown_timeout_ms, a->reason,
                 a->rule);
            return 0;
        case 1:
            /* off already (the test driver is at once) */
            return remove_instance(reg, ps, a, st, "off after its ACPI "
                                   "shutdown");
        default:
            /* no shutdown: destroyed as before */
            return remove_instance(reg, ps, a, st, "the ACPI shutdown "
                                   "failed: destroyed");
        }

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
        c->ok = virt_create(ps->conns[job->zone], ps->cf,
                            ps->cf->zones[job->zone].name, c->a->id,
                            c->a->address, &c->model, c->a->origin, c->err,
                            sizeof(c->err)) == 0;
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

/* the plan's creations: their numbers reserved, then made; the created
   ones appended to ps->inst (room made by the caller); a failure is one
   of the pool's repair failures (rs) */
static void
creations(registry_t *reg, pool_state_t *ps, const observation_t *obs,
    const plan_t *pl, repair_state_t *rs)
{
    const pool_config_t  *p = ps->cf;
    create_t             *c;
    instance_t           *in;
    long                  first = 0, last = 0;
    uint64_t              now = clock_unix_ms();
    char                  why[320];
    int                   i, n = 0, rc;

    if (pl->creates == 0) {
        return;
    }
    if ((c = calloc(pl->creates, sizeof(*c))) == NULL) {
        slog(p->name, NULL, "out of memory: no creation this pass");
        return;
    }
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_CREATE) {
            /* the model the plan chose (the zone's latest), created now */
            c[n].model = pl->act[i].model;
            c[n].model.created = now;
            c[n++].a = &pl->act[i];
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
            snprintf(why, sizeof(why), "%s could not be created: %s", a->id,
                     c[i].err);
            plan_repair_failed(rs, p, obs->now, ps->interval_ms, why);
            events_emit(reg, p, a->id, "create_failed", "gone", a->rule,
                        c[i].err);
            continue;
        }
        slog(p->name, a->id, "created in zone %s at %s%s (%s) rule=%s",
             p->zones[a->zone].name, a->address,
             a->origin == ORIGIN_MANUAL ? " by hand" : "", a->reason,
             a->rule);
        events_emit(reg, p, a->id, "created", "booting", a->rule, a->reason);
        ps->actions_up++;
        in = &ps->inst[ps->ninst++];
        memset(in, 0, sizeof(*in));
        snprintf(in->id, sizeof(in->id), "%s", a->id);
        snprintf(in->address, sizeof(in->address), "%s", a->address);
        in->model = c[i].model;
        in->tmpl = a->tmpl;
        in->origin = a->origin;
        in->latest = 1;
        in->zone = a->zone;
        in->seq = a->seq;
        in->state = INST_BOOTING;
        in->seen = obs->now;
        if (a->repair_of[0]) {
            in->repair = IREP_REPLACEMENT;
            in->repair_since = obs->now;
            memcpy(in->repair_of, a->repair_of, sizeof(in->repair_of));
        }
    }
    free(c);
}

/* where an instance waits in a hook (begun now when it is new; its last
   heartbeat); the hook's results are used up */
static void
keep_hook(const plan_t *pl, int i, const observation_t *obs,
    instance_t *in)
{
    int  k;

    in->asked &= ~(ASK_CONTINUE | ASK_ABANDON | ASK_HEARTBEAT);
    if (in->state != INST_PENDING_LAUNCH
        && in->state != INST_PENDING_TERMINATE)
    {
        in->hook = HOOK_NONE;
        in->hook_since = in->hook_beat = 0;
        return;
    }
    for (k = 0; pl && k < pl->nact; k++) {
        if (pl->act[k].kind == ACT_HOOK && pl->act[k].inst == i) {
            in->hook = pl->act[k].hook;
            in->hook_since = obs->now;
            in->hook_beat = 0;
        }
    }
    if (pl && pl->view[i].beat) {
        in->hook_beat = obs->now;
    }
}

/* what a pass leaves of an instance's repair: its down time, its part in
   a repair (begun now when it is new), the end of a repair logged */
static void
keep_repair(registry_t *reg, const pool_state_t *ps, const plan_t *pl,
    int i, const observation_t *obs, instance_t *in)
{
    const plan_view_t  *v = &pl->view[i];
    char                why[128];

    switch (v->health) {
    case HEALTH_DOWN:
        in->down_since = in->down_since ? in->down_since : obs->now;
        break;
    case HEALTH_UNKNOWN:
        break;                      /* unknown: neither down nor up */
    default:
        in->down_since = 0;
    }
    if (v->repair != in->repair) {
        in->repair_since = v->repair != IREP_NONE ? obs->now : 0;
        if (v->repair == IREP_NONE) {
            in->repair_of[0] = '\0';
        }
        in->repair = v->repair;
    }
    if (v->repaired > 0) {
        snprintf(why, sizeof(why), "up on every gateway%s%s",
                 obs->inst[i].in.repair_of[0] ? ", replacing " : "",
                 obs->inst[i].in.repair_of);
        slog(ps->cf->name, in->id, "repaired: %s", why);
        events_emit(reg, ps->cf, in->id, "repaired", inst_state_name(
                    in->state), "repair", why);
    } else if (v->repaired < 0) {
        slog(ps->cf->name, in->id, "repair failed: %s (%u in a row)",
             pl->repair.reason, pl->repair.failures);
        events_emit(reg, ps->cf, in->id, "repair_failed",
                    inst_state_name(in->state), "repair", pl->repair.reason);
    }
}

/* the repair state the pass leaves, stored when it changed, its changes
   logged */
static void
keep_repair_state(registry_t *reg, pool_state_t *ps,
    const observation_t *obs, const repair_state_t *rs)
{
    const char  *pool = ps->cf->name;

    if (rs->suspended && !obs->repair.suspended) {
        slog(pool, NULL, "repairs suspended: %u failures in a row, the last "
             "%s; creation backs off (POST /v1/pools/%s/repair/resume "
             "resumes)", rs->failures, rs->reason, pool);
    } else if (!rs->suspended && obs->repair.suspended) {
        slog(pool, NULL, "repairs resumed");
    }
    if (rs->retry > obs->now && rs->retry != obs->repair.retry) {
        slog(pool, NULL, "creation backs off for %llu ms (%u failures in a "
             "row)", (unsigned long long) (rs->retry - obs->now),
             rs->failures);
    }
    ps->repair = *rs;
    if (!repair_equal(rs, &obs->repair)
        && repair_store(reg, pool, rs) != 0)
    {
        slog(pool, NULL, "repair state not stored: %s", registry_error(reg));
        ps->errors[ERR_REDIS]++;
    }
}

void
act(registry_t *reg, pool_state_t *ps, observation_t *obs,
    const plan_t *pl)
{
    const pool_config_t  *p = ps->cf;
    inst_state_t         *st;
    instance_t           *list, *in;
    uint64_t             *stop;
    unsigned             *done;
    repair_state_t        rs;
    int                   i, n, cap, fenced = 0;

    st = calloc(obs->ninst + 1, sizeof(*st));
    stop = calloc(obs->ninst + 1, sizeof(*stop));
    done = calloc(obs->ninst + 1, sizeof(*done));
    cap = obs->ninst + (pl ? pl->creates : 0);
    list = calloc(cap + 1, sizeof(*list));
    if (st == NULL || stop == NULL || done == NULL || list == NULL) {
        slog(p->name, NULL, "out of memory: no action this pass");
        free(st);
        free(stop);
        free(done);
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
    rs = pl ? pl->repair : ps->repair;
    for (i = 0; pl && i < pl->nact; i++) {
        const action_t *a = &pl->act[i];
        inst_state_t    before = a->inst >= 0 ? st[a->inst] : INST_CREATING;
        const char     *ev;

        if (a->kind == ACT_CREATE) {
            continue;
        }
        if (apply(reg, ps, obs, a, st, stop) != 0) {
            /* the lease is another's (the fence said so), or it ran out
               while Redis did not answer: nothing more is written */
            if (registry_refused(reg) || !ha_acting()) {
                slog(p->name, NULL, "the lease is lost%s: the pass stops "
                     "writing, %d more actions not done",
                     registry_refused(reg) ? "" : " (ran out)",
                     pl->nact - i - 1);
                fenced = 1;
                break;
            }
            continue;
        }
        if ((ev = act_event(a, before, a->inst >= 0 ? st[a->inst]
                                       : INST_BOOTING)) != NULL)
        {
            events_emit(reg, p, a->id, ev,
                        a->kind == ACT_DEREGISTER ? "gone"
                        : inst_state_name(a->inst >= 0 ? st[a->inst]
                                                       : INST_BOOTING),
                        a->rule, a->reason);
        }
        ps->actions_down += strcmp(a->rule, "scale_in") == 0;
        ps->repairs += strcmp(a->rule, "repair") == 0;
        if (a->kind == ACT_RESTART || a->kind == ACT_REIMAGE) {
            done[a->inst] |= ASK_RESTART | ASK_REIMAGE;   /* asked: done */
        }
        /* an instance of ours ready: the failures in a row start over */
        if (a->kind == ACT_REGISTER
            && (strcmp(a->rule, "ready") == 0 || strcmp(a->rule, "hook") == 0)
            && obs->inst[a->inst].in.repair != IREP_REPLACEMENT)
        {
            rs.failures = 0;
        }
    }

    /* the instances as the pass leaves them */
    for (i = 0, n = 0; i < obs->ninst; i++) {
        if (st[i] == INST_DELETING) {
            continue;
        }
        in = &list[n++];
        *in = obs->inst[i].in;
        /* one a step holds without an action waits where it said */
        if (pl && pl->view[i].claimed == -2) {
            st[i] = pl->view[i].state;
        }
        in->state = st[i];
        in->asked &= ~done[i];
        keep_hook(pl, i, obs, in);
        /* a standby asked and there, an active asked and done */
        in->asked &= st[i] == INST_STANDBY ? ~(ASK_STANDBY | ASK_DECREMENT)
                                           : ~ASK_ACTIVE;
        in->standby = st[i] == INST_STANDBY
                      ? (obs->inst[i].standby ? obs->inst[i].standby
                         : (obs->inst[i].in.asked & ASK_DECREMENT) ? 2 : 1)
                      : 0;
        in->protection = obs->inst[i].protection;
        in->weight = obs->inst[i].member >= 0
                     && obs->members[obs->inst[i].member].valid
                     ? obs->members[obs->inst[i].member].weight : 0;
        if (st[i] == INST_DRAINING && in->drain_seen == 0) {
            in->drain_seen = obs->now;
        } else if (st[i] != INST_DRAINING && st[i] != INST_STOPPING) {
            in->drain_seen = 0;
        }
        if (stop[i]) {
            in->stop_since = stop[i];
        } else if (st[i] != INST_STOPPING) {
            in->stop_since = 0;
        }
        if (pl) {
            keep_repair(reg, ps, pl, i, obs, in);
        }
        /* what its drain waits for, logged when it changes */
        if (pl && strcmp(pl->view[i].hold, in->hold) != 0) {
            if (pl->view[i].hold[0]) {
                slog(p->name, in->id, "%s waits: %s", inst_state_name(st[i]),
                     pl->view[i].hold);
            }
            memcpy(in->hold, pl->view[i].hold, sizeof(in->hold));
        }
    }
    free(ps->inst);
    ps->inst = list;
    ps->ninst = n;
    ps->cinst = cap + 1;
    if (pl && pl->protected_above != ps->protected_above) {
        if (pl->protected_above) {
            slog(p->name, NULL, "%d instances above the capacity %d stay: "
                 "every candidate for scale-in is protected",
                 pl->protected_above, ps->capacity);
        }
        ps->protected_above = pl->protected_above;
    }
    if (pl && !fenced) {
        creations(reg, ps, obs, pl, &rs);
        ps->repairing = pl->repairing;
        keep_repair_state(reg, ps, obs, &rs);
    }
    if (ps->ninst > 1) {
        qsort(ps->inst, ps->ninst, sizeof(*ps->inst), inst_cmp);
    }
    free(st);
    free(stop);
    free(done);

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
