/*
 * act.c: a plan carried out (plan.h).  Each action is one idempotent step
 * on Redis (the write protocol, registry.c) or libvirt (virt.c); a crash
 * between two of them is recovered by the next pass's observation.  The
 * actions run in the plan's order, except that the libvirt ones run on
 * their host's workers (host.c), each with its deadline: the wakes of
 * warm instances first (a scale-out waits for nothing else; act_warm.c),
 * then the deletions, adoptions, shutdowns, restarts and reimages start,
 * all at once, and the Redis actions run while they do; the creations
 * run last, on their hosts (create_concurrency, 4, at a time per host),
 * once their instance numbers are reserved in PREFIX{POOL}:seq.  The
 * warm pool's parks and creations are submitted and not waited for
 * (act_bg.c): a later pass collects their outcome, and until then their
 * instances are busy (obs->busy, plan_begin).  A host that does not
 * answer in time costs its own calls, not the others': a call past
 libvirt.timeout is given up (its
 * outcome is what the next listing finds) and the host is not asked
 * again until it returns.  A delete removes the domain first and its
 * member after, so a domain that could not be removed is never left
 * running unregistered (the next pass would take it for a booting one).
 * A stop sends the ACPI shutdown; a domain off already, or that refused
 * it, is removed at once.
 *
 * Success is logged as "VERB (REASON) rule=RULE", a failure as "KIND
 * failed: ERROR (REASON) rule=RULE", once, with the pool and id, and
 * counted in scaleset_scaler_errors_total; every transition is a
 * lifecycle event (events.c).  The pool's instances become what the pass
 * leaves, sorted by id.
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

/* what one pass's actions change, shared by the Redis actions and the
   libvirt ones' outcomes */
typedef struct {
    registry_t    *reg;
    pool_state_t  *ps;
    observation_t *obs;
    inst_state_t  *st;   /* each instance's state */
    uint64_t      *stop; /* when its shutdown was sent */
    unsigned      *done; /* the API's asks it carried out */
    repair_state_t rs;   /* the pool's repairs */
} pass_t;

static int
inst_cmp(const void *a, const void *b)
{
    return strcmp(((const instance_t *) a)->id, ((const instance_t *) b)->id);
}

/* the member record of an instance, from its own model and its
   template's weight, through the shared codec (its canonical form) */
int
member_record(const pool_config_t *p, const instance_t *in, int drain,
              char *buf, size_t size, char *err, size_t errlen)
{
    const zone_config_t *zc = &p->zones[in->zone];
    char                 raw[SCALESET_RECORD_MAX];
    scaleset_member_t    m;
    scaleset_error_t     e;

    /* the weight is its template's (a flexible pool's capacity units:
       the gateways share requests by it); host= only in a zone of
       several hosts */
    snprintf(raw, sizeof(raw), "%s weight=%d zone=%s%s%s%s%s%s", in->address,
             in->tmpl >= 0 ? p->templates[in->tmpl].weight : 1, zc->name,
             zc->nhosts > 1 ? " host=" : "",
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
failed(pool_state_t *ps, const action_t *a, err_kind_t kind, const char *err)
{
    slog_warn(ps->cf->name, a->id[0] ? a->id : NULL,
              "%s failed: %s (%s) rule=%s", act_kind_name(a->kind), err,
              a->reason, a->rule);
    ps->errors[kind]++;
}

/* a write of a that Redis did not do: refused by the fence, or failed */
static void
write_failed(pool_state_t *ps, const action_t *a, registry_t *reg)
{
    failed(ps, a, registry_refused(reg) ? ERR_FENCED : ERR_REDIS,
           registry_error(reg));
}

void
act_failed(pool_state_t *ps, const action_t *a, err_kind_t kind,
           const char *err)
{
    failed(ps, a, kind, err);
}

void
act_write_failed(pool_state_t *ps, const action_t *a, registry_t *reg)
{
    write_failed(ps, a, reg);
}

const char *
act_event(const action_t *a, inst_state_t before, inst_state_t after)
{
    switch (a->kind) {
    case ACT_REGISTER:
        return before != INST_RUNNING ? "registered" : NULL;
    case ACT_DRAIN:
        return before != INST_DRAINING ? "draining" : NULL;
    case ACT_DEREGISTER:
        return "deregistered";
    case ACT_DELETE:
        return "deleted";
    case ACT_STOP:
        return after == INST_DELETING ? "deleted" : "stopping";
    case ACT_RESTART:
    case ACT_REIMAGE:
        return "repairing";
    case ACT_STANDBY:
        return "standby";
    case ACT_HOOK:
        return after == INST_PENDING_LAUNCH ? "pending_launch"
                                            : "pending_terminate";
    case ACT_ADOPT:
        return "adopted";
    case ACT_PARK:
        /* a warm one parked after its launch hook was warm all along */
        return before != INST_WARM || a->hook == HOOK_LAUNCH ? "parked" : NULL;
    default:
        return NULL;
    }
}

/* what follows action a done (the instance was before): its event, the
   counters, the API's ask carried out, the failures in a row starting
   over once an instance of ours is ready */
static void
succeeded(pass_t *x, const action_t *a, inst_state_t before)
{
    const pool_config_t *p = x->ps->cf;
    inst_state_t         after = a->inst >= 0 ? x->st[a->inst] : INST_BOOTING;
    const char          *ev;

    if ((ev = act_event(a, before, after)) != NULL) {
        events_emit(x->reg, p, a->id, ev,
                    a->kind == ACT_DEREGISTER ? "gone" : inst_state_name(after),
                    a->rule, a->reason);
    }
    x->ps->actions_down += strcmp(a->rule, "scale_in") == 0;
    x->ps->repairs += strcmp(a->rule, "repair") == 0;
    if (a->kind == ACT_RESTART || a->kind == ACT_REIMAGE) {
        x->done[a->inst] |= ASK_RESTART | ASK_REIMAGE; /* asked: done */
    }
    if (a->kind == ACT_REGISTER
        && (strcmp(a->rule, "ready") == 0 || strcmp(a->rule, "hook") == 0)
        && x->obs->inst[a->inst].in.repair != IREP_REPLACEMENT)
    {
        x->rs.failures = 0;
    }
}

/* one action of Redis or none (register, drain, deregister, standby,
   hook); 0 when done (st[] follows) */
static int
apply(registry_t *reg, pool_state_t *ps, observation_t *obs, const action_t *a,
      inst_state_t *st)
{
    const pool_config_t *p = ps->cf;
    const instance_t    *in = a->inst >= 0 ? &obs->inst[a->inst].in : NULL;
    char                 rec[SCALESET_RECORD_MAX], err[256], val[64];
    int                  registered;

    switch (a->kind) {
    case ACT_REGISTER:
    case ACT_DRAIN:
        if (member_record(p, in, a->kind == ACT_DRAIN, rec, sizeof(rec), err,
                          sizeof(err))
            != 0)
        {
            failed(ps, a, ERR_REDIS_DATA, err);
            return -1;
        }
        if ((a->kind == ACT_REGISTER
                 ? registry_set(reg, p->name, a->id, rec)
                 : registry_set_drain(reg, p->name, a->id, rec, obs->now))
            != 0)
        {
            write_failed(ps, a, reg);
            return -1;
        }
        st[a->inst] = a->kind == ACT_REGISTER ? INST_RUNNING : INST_DRAINING;
        if (a->kind == ACT_REGISTER) {
            slog(p->name, a->id, "registered %s (%s) rule=%s", rec, a->reason,
                 a->rule);
        } else {
            slog(p->name, a->id, "draining (%s) rule=%s", a->reason, a->rule);
        }
        return 0;

    case ACT_DEREGISTER:
        if (registry_del(reg, p->name, a->id) != 0) {
            write_failed(ps, a, reg);
            return -1;
        }
        slog(p->name, a->id, "deregistered (%s) rule=%s", a->reason, a->rule);
        return 0;

    case ACT_HOOK:
        st[a->inst] = a->hook == HOOK_LAUNCH ? INST_PENDING_LAUNCH
                                             : INST_PENDING_TERMINATE;
        slog(p->name, a->id, "%s (%s) rule=%s", inst_state_name(st[a->inst]),
             a->reason, a->rule);
        return 0;

    case ACT_STANDBY:
        /* registered: drained in the same transaction */
        registered = a->member >= 0 && obs->members[a->member].valid;
        snprintf(val, sizeof(val), "%llu%s", (unsigned long long) obs->now,
                 (in->asked & ASK_DECREMENT) ? " decrement" : "");
        if (registered
            && member_record(p, in, 1, rec, sizeof(rec), err, sizeof(err)) != 0)
        {
            failed(ps, a, ERR_REDIS_DATA, err);
            return -1;
        }
        if (registry_set_standby(reg, p->name, a->id, registered ? rec : NULL,
                                 obs->now, val)
            != 0)
        {
            write_failed(ps, a, reg);
            return -1;
        }
        st[a->inst] = INST_STANDBY;
        slog(p->name, a->id,
             "on standby: drained, kept running (%s) "
             "rule=%s",
             a->reason, a->rule);
        return 0;

    default:
        return -1;
    }
}

/* the actions that run on a host's workers before the creations */
static int
virt_kind(act_kind_t kind)
{
    return kind == ACT_DELETE || kind == ACT_ADOPT || kind == ACT_STOP
           || kind == ACT_RESTART || kind == ACT_REIMAGE || kind == ACT_PARK;
}

/* the error counted when such an action fails */
static err_kind_t
virt_err(act_kind_t kind)
{
    return kind == ACT_ADOPT || kind == ACT_CREATE      ? ERR_CREATE
           : kind == ACT_RESTART || kind == ACT_REIMAGE ? ERR_REPAIR
           : kind == ACT_PARK                           ? ERR_LIBVIRT
                                                        : ERR_DELETE;
}

static void
virt_run(virt_conn_t *vc, host_call_t *c)
{
    virt_call_t *v = (virt_call_t *) c;

    switch (v->kind) {
    case ACT_CREATE:
        v->rc = v->warm
                    ? virt_create_warm(vc, v->p, v->zone, v->id, v->address,
                                       &v->model, v->err, sizeof(v->err))
                    : virt_create(vc, v->p, v->zone, v->id, v->address,
                                  &v->model, v->origin, v->err, sizeof(v->err));
        break;
    case ACT_WAKE:
        v->rc =
            virt_wake(vc, v->p->name, v->id, &v->was, v->err, sizeof(v->err));
        break;
    case ACT_PARK:
        v->rc = virt_park(vc, v->p->name, v->id, v->p->warm.state, v->err,
                          sizeof(v->err));
        break;
    case ACT_ADOPT:
        v->rc = virt_adopt(vc, v->p, v->zone, v->id, &v->model, v->address,
                           v->err, sizeof(v->err));
        break;
    case ACT_STOP:
        /* off already, or no shutdown: removed at once */
        v->shut = virt_shutdown(vc, v->p->name, v->id);
        v->rc = v->shut == 0 ? 0 : virt_delete(vc, v->p->name, v->id);
        break;
    case ACT_RESTART:
        v->rc = virt_reset(vc, v->p->name, v->id, v->err, sizeof(v->err));
        break;
    case ACT_REIMAGE:
        v->rc = virt_reimage(vc, v->p, v->id, v->err, sizeof(v->err));
        break;
    default:
        v->rc = virt_delete(vc, v->p->name, v->id);
        break;
    }
}

static void
virt_drop(host_call_t *c)
{
    virt_call_t *v = (virt_call_t *) c;

    virt_recipe_free(&v->recipe);
    config_free(v->conf);
    free(v);
}

/* a call for action a (a creation with model, an adoption, a
   deletion, a stop, a restart, a reimage) */
static virt_call_t *
virt_call(pool_state_t *ps, const action_t *a, const virt_model_t *model)
{
    virt_call_t *v = xcalloc(1, sizeof(*v));

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
    v->warm = a->warm;
    v->model = model ? *model : a->model;
    return v;
}

/* what a creation of its model is made from: the pool's template, or
   for another model (a rollback's) a copy of the recipe observe kept of
   it, in place of its template; -1 (v->err says why) when there is none */
static int
create_from(const pool_state_t *ps, virt_call_t *v)
{
    int k = v->a->tmpl;

    if (k < 0 || k >= ps->cf->ntemplates
        || strcmp(v->model.digest, ps->digest[k]) == 0)
    {
        return 0;
    }
    if (ps->recipe[k].text == NULL
        || strcmp(v->model.digest, ps->recipe[k].digest) != 0)
    {
        snprintf(v->err, sizeof(v->err),
                 "no recipe of version %s "
                 "(template digest %.12s) to make it from",
                 v->model.version, v->model.digest);
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

const char *
act_why(const pool_state_t *ps, const virt_call_t *v, char *buf, size_t size)
{
    switch (v->c.outcome) {
    case HOST_REFUSED:
        return "its host is stalled: not asked";
    case HOST_LATE:
        snprintf(buf, size,
                 "no answer within libvirt.timeout %llu ms: "
                 "the next listing tells",
                 (unsigned long long) ps->host_timeout_ms);
        return buf;
    case HOST_CANCELLED:
        return "the pass was stopped";
    default:
        return v->err[0] ? v->err
               : v->kind == ACT_DELETE || v->kind == ACT_STOP
                   ? "libvirt could not remove the domain"
                   : "libvirt error";
    }
}

/* the plan's libvirt actions but creations on their hosts, started at
   once: a deletion, stop, restart or reimage on its instance's host; an
   adoption on every host of its zone (the domain is on one of them: the
   others answer that they have none) */
typedef struct {
    int          act; /* pl->act index */
    virt_call_t *v;
} virt_job_t;

void
act_virt(pool_state_t *ps, const action_t *const *acts, int n, act_kind_t kind,
         act_virt_t *out)
{
    virt_call_t **v;
    host_batch_t  b;
    char          why[160];
    int           i;

    v = xcalloc(n + 1, sizeof(*v));
    host_batch_init(&b, ps->cancel);
    for (i = 0; i < n; i++) {
        v[i] = virt_call(ps, acts[i], NULL);
        v[i]->kind = kind;
        host_submit(&b, ps->hosts[acts[i]->host], &v[i]->c);
    }
    host_wait(&b);
    host_batch_destroy(&b);
    for (i = 0; i < n; i++) {
        out[i].ok = v[i]->c.outcome == HOST_DONE && v[i]->rc == 0;
        out[i].was = v[i]->was;
        snprintf(out[i].err, sizeof(out[i].err), "%s",
                 !ha_acting() ? "this scaler does not hold the lease"
                              : act_why(ps, v[i], why, sizeof(why)));
        host_call_release(&v[i]->c);
    }
    free(v);
}

static virt_job_t *
virt_actions(pool_state_t *ps, const plan_t *pl, host_batch_t *b, int *n,
             int upgrade_ok)
{
    const zone_config_t *zc;
    virt_job_t          *j;
    virt_call_t         *v;
    int                  i, h, c = 0;

    *n = 0;
    j = NULL;
    for (i = 0; i < pl->nact; i++) {
        const action_t *a = &pl->act[i];

        if (!virt_kind(a->kind) || a->kind == ACT_PARK || held(a, upgrade_ok)) {
            continue; /* a park: in the background (act_bg.c) */
        }
        /* a deletion on its instance's host, an adoption on each of its
           zone's */
        zc = &ps->cf->zones[a->zone];
        for (h = a->kind != ACT_ADOPT ? a->host : zc->host0;
             h < (a->kind != ACT_ADOPT ? a->host + 1 : zc->host0 + zc->nhosts);
             h++)
        {
            if (*n == c) {
                c = c ? 2 * c : 16;
                j = xrealloc(j, c * sizeof(*j));
            }
            v = virt_call(ps, a, NULL);
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

/* the parks, in the background (act_bg.c): each instance warm from now
   on, busy until a later pass has its outcome; one its host has no room
   for is parked by a later pass */
static void
parks(pool_state_t *ps, const plan_t *pl, inst_state_t *st, int upgrade_ok)
{
    virt_call_t *v;
    int          i;

    for (i = 0; i < pl->nact; i++) {
        const action_t *a = &pl->act[i];

        if (a->kind != ACT_PARK || held(a, upgrade_ok)) {
            continue;
        }
        v = virt_call(ps, a, NULL);
        if (act_bg_submit(ps, a, st[a->inst], v) != 0) {
            slog_debug(ps->cf->name, a->id,
                       "park deferred: its host has %d background "
                       "calls in flight (%s) rule=%s",
                       HOST_BACKGROUND_MAX, a->reason, a->rule);
            host_call_release(&v->c);
            continue;
        }
        st[a->inst] = INST_WARM;
    }
}

/* their outcomes: a deletion's domain gone, then its member; a stop's
   shutdown sent (or the domain removed); a restart or reimage done; an
   adoption done on one host of the zone */
static void
virt_done(pass_t *x, const plan_t *pl, virt_job_t *j, int n)
{
    pool_state_t   *ps = x->ps;
    const char     *pool = ps->cf->name;
    const action_t *a;
    virt_call_t    *v, *ok;
    inst_state_t    before;
    char            why[160];
    int             k, e;

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
        before = a->inst >= 0 ? x->st[a->inst] : INST_CREATING;
        if (ok == NULL && !ha_acting()) {
            failed(ps, a, ERR_FENCED, "this scaler does not hold the lease");
        } else if (ok == NULL) {
            failed(ps, a, virt_err(a->kind), act_why(ps, v, why, sizeof(why)));
        } else if (a->kind == ACT_ADOPT) {
            slog(pool, a->id, "adopted in zone %s%s%s (%s) rule=%s",
                 ps->cf->zones[a->zone].name, a->address[0] ? " at " : "",
                 a->address, a->reason, a->rule);
            succeeded(x, a, before);
        } else if (a->kind == ACT_RESTART || a->kind == ACT_REIMAGE) {
            x->st[a->inst] = INST_REPAIRING;
            slog(pool, a->id, "%s (%s) rule=%s",
                 a->kind == ACT_RESTART ? "restarted" : "reimaged", a->reason,
                 a->rule);
            succeeded(x, a, before);
        } else if (a->kind == ACT_STOP && ok->shut == 0) {
            x->st[a->inst] = INST_STOPPING;
            x->stop[a->inst] = x->obs->now;
            slog(pool, a->id,
                 "stopping: ACPI shutdown sent, %llu ms to "
                 "power off (%s) rule=%s",
                 (unsigned long long) ps->cf->shutdown_timeout_ms, a->reason,
                 a->rule);
            succeeded(x, a, before);
        } else {
            x->st[a->inst] = INST_DELETING;
            slog(pool, a->id, "deleted (%s%s) rule=%s", a->reason,
                 a->kind != ACT_STOP ? ""
                 : ok->shut == 1     ? "; off after its ACPI shutdown"
                                     : "; the ACPI shutdown failed: destroyed",
                 a->rule);
            succeeded(x, a, before);
            /* its member (or none: HDEL is idempotent) after the domain;
               a failure leaves a stray that the next pass deregisters */
            if (a->member >= 0 && registry_del(x->reg, pool, a->id) != 0) {
                write_failed(ps, a, x->reg);
            }
        }
        for (; k < e; k++) {
            host_call_release(&j[k].v->c);
        }
    }
}

void
act_create_failed(registry_t *reg, pool_state_t *ps, const action_t *a,
                  const char *why, repair_state_t *rs, uint64_t now)
{
    const pool_config_t *p = ps->cf;
    char                 what[400];

    failed(ps, a, ERR_CREATE, why);
    snprintf(what, sizeof(what), "%s could not be created: %s", a->id, why);
    plan_repair_failed(rs, p, now, ps->interval_ms, what);
    events_emit(reg, p, a->id, "create_failed", "gone", a->rule, why);
}

void
act_created(registry_t *reg, pool_state_t *ps, const action_t *a,
            const virt_call_t *v, uint64_t now, int latest, int sort)
{
    const pool_config_t *p = ps->cf;
    instance_t          *in;
    int                  k;

    slog(p->name, a->id, "created in zone %s%s%s at %s%s (%s) rule=%s",
         p->zones[a->zone].name, p->zones[a->zone].nhosts > 1 ? " host " : "",
         p->zones[a->zone].nhosts > 1 ? p->hosts[a->host].name : "", a->address,
         a->origin == ORIGIN_MANUAL ? " by hand" : "", a->reason, a->rule);
    events_emit(reg, p, a->id, "created", a->warm ? "warm" : "booting", a->rule,
                a->reason);
    ps->actions_up += !a->warm;
    for (k = 0; sort && k < ps->ninst; k++) {
        if (strcmp(ps->inst[k].id, a->id) == 0) {
            return; /* listed already: the pass kept it */
        }
    }
    if (ps->ninst >= ps->cinst) {
        ps->cinst = ps->cinst ? 2 * ps->cinst : 16;
        ps->inst = xrealloc(ps->inst, ps->cinst * sizeof(*ps->inst));
    }
    in = &ps->inst[ps->ninst++];
    memset(in, 0, sizeof(*in));
    snprintf(in->id, sizeof(in->id), "%s", a->id);
    snprintf(in->address, sizeof(in->address), "%s", a->address);
    in->model = v->model;
    in->tmpl = a->tmpl;
    in->origin = a->origin;
    in->latest = latest;
    in->zone = a->zone;
    in->host = a->host;
    in->seq = a->seq;
    in->warm = a->warm;
    in->state = a->warm ? INST_WARM : INST_BOOTING;
    in->seen = now;
    if (a->repair_of[0]) {
        in->repair = IREP_REPLACEMENT;
        in->repair_since = now;
        memcpy(in->repair_of, a->repair_of, sizeof(in->repair_of));
    }
    if (sort && ps->ninst > 1) {
        qsort(ps->inst, ps->ninst, sizeof(*ps->inst), inst_cmp);
    }
}

/* the plan's creations: their numbers reserved, then made on their
   hosts; the created ones appended to ps->inst (room made by the
   caller); a failure is one of the pool's repair failures (rs); the
   upgrade's only when its record was written (upgrade_ok) */
static void
creations(registry_t *reg, pool_state_t *ps, const observation_t *obs,
          const plan_t *pl, repair_state_t *rs, int upgrade_ok)
{
    const pool_config_t *p = ps->cf;
    virt_call_t        **c;
    host_batch_t         b;
    virt_model_t         model;
    long                 first = 0, last = 0;
    uint64_t             now = clock_unix_ms();
    char                 why[160], *sent;
    int                  i, h, n = 0, left, rc;

    if (pl->creates == 0) {
        return;
    }
    c = xcalloc(pl->creates, sizeof(*c));
    sent = xcalloc(pl->creates, 1);
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_CREATE && !held(&pl->act[i], upgrade_ok)) {
            first = first && first < pl->act[i].seq ? first : pl->act[i].seq;
            last = last > pl->act[i].seq ? last : pl->act[i].seq;
        }
    }
    if (last == 0) {
        free(c);
        free(sent);
        return; /* only the upgrade's, held */
    }
    /* numbers first + 1 .. last: refused when another writer handed out
       some meanwhile (the next pass plans above them) */
    rc = registry_seq_reserve(reg, p->name, first - 1, last);
    if (rc != 1) {
        slog_warn(p->name, NULL,
                  "no creation this pass: instance numbers "
                  "%ld..%ld %s",
                  first, last,
                  rc == 0 ? "were handed out by another writer"
                          : registry_error(reg));
        ps->errors[registry_refused(reg) ? ERR_FENCED : ERR_REDIS]++;
        free(c);
        free(sent);
        return;
    }
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind != ACT_CREATE || held(&pl->act[i], upgrade_ok)) {
            continue;
        }
        /* the model the plan chose (pl->target: the host's latest, or the
           previous one while rolling back), created now */
        model = pl->act[i].model;
        model.created = now;
        c[n] = virt_call(ps, &pl->act[i], &model);
        if (create_from(ps, c[n]) != 0) {
            failed(ps, &pl->act[i], ERR_CREATE, c[n]->err);
            host_call_release(&c[n]->c);
            continue;
        }
        /* the warm pool's in the background, not waited for (its host
           full of them: the next passes plan it again, its number left
           unused) */
        if (pl->act[i].warm) {
            if (act_bg_submit(ps, &pl->act[i], INST_CREATING, c[n]) != 0) {
                slog_debug(p->name, pl->act[i].id,
                           "warm creation deferred: its host has %d "
                           "background calls in flight, the number left "
                           "unused (%s) rule=%s",
                           HOST_BACKGROUND_MAX, pl->act[i].reason,
                           pl->act[i].rule);
                host_call_release(&c[n]->c);
            }
            continue;
        }
        n++;
    }
    /* create_concurrency at a time per host: a round's creations start
       together, the next round once they have ended */
    for (left = n; left > 0;) {
        int per_host[SCALER_MAX_HOSTS] = { 0 };

        host_batch_init(&b, ps->cancel);
        for (i = 0; i < n; i++) {
            h = c[i]->a->host;
            if (!sent[i] && per_host[h] < p->create_concurrency) {
                per_host[h]++;
                sent[i] = 1;
                left--;
                host_submit(&b, ps->hosts[h], &c[i]->c);
            }
        }
        host_wait(&b);
        host_batch_destroy(&b);
    }
    for (i = 0; i < n; i++) {
        const action_t *a = c[i]->a;

        if (c[i]->c.outcome != HOST_DONE || c[i]->rc != 0) {
            act_create_failed(reg, ps, a, act_why(ps, c[i], why, sizeof(why)),
                              rs, obs->now);
            host_call_release(&c[i]->c);
            continue;
        }
        act_created(
            reg, ps, a, c[i], obs->now,
            a->tmpl >= 0 && a->host >= 0
                && model_latest(&pl->target[a->tmpl][a->host], &c[i]->model),
            0);
        host_call_release(&c[i]->c);
    }
    free(c);
    free(sent);
}

/* where an instance waits in a hook (begun now when it is new, or woken
   into the launch hook; its last heartbeat); the hook's results are used
   up; a warm one stays parked (past its launch hook: its park collected,
   act_bg.c, or found so, observe.c) while it stays warm, and one ready
   is parked at once when the pool has no launch hook */
static void
keep_hook(const pool_config_t *p, const plan_t *pl, int i,
          const observation_t *obs, instance_t *in)
{
    int k;

    in->asked &= ~(ASK_CONTINUE | ASK_ABANDON | ASK_HEARTBEAT);
    in->parked =
        in->state == INST_WARM
        && (in->parked
            || (!p->hook_launch.on && obs->inst[i].ready == READY_YES));
    if (in->state != INST_PENDING_LAUNCH && in->state != INST_PENDING_TERMINATE)
    {
        in->hook = HOOK_NONE;
        in->hook_since = in->hook_beat = 0;
        in->reuse = 0;
        return;
    }
    for (k = 0; pl && k < pl->nact; k++) {
        if ((pl->act[k].kind == ACT_HOOK || pl->act[k].kind == ACT_WAKE)
            && pl->act[k].inst == i)
        {
            in->hook = pl->act[k].hook;
            in->hook_since = obs->now;
            in->hook_beat = 0;
            in->reuse = pl->act[k].kind == ACT_HOOK && pl->act[k].warm;
        }
    }
    if (pl && pl->view[i].beat) {
        in->hook_beat = obs->now;
    }
}

/* what a pass leaves of an instance's repair: its down time, its part in
   a repair (begun now when it is new), the end of a repair logged */
static void
keep_repair(registry_t *reg, const pool_state_t *ps, const plan_t *pl, int i,
            const observation_t *obs, instance_t *in)
{
    const plan_view_t *v = &pl->view[i];
    char               why[128];

    switch (v->health) {
    case HEALTH_DOWN:
        in->down_since = in->down_since ? in->down_since : obs->now;
        break;
    case HEALTH_UNKNOWN:
        break; /* unknown: neither down nor up */
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
        events_emit(reg, ps->cf, in->id, "repaired", inst_state_name(in->state),
                    "repair", why);
    } else if (v->repaired < 0) {
        slog_warn(ps->cf->name, in->id, "repair failed: %s (%u in a row)",
                  pl->repair.reason, pl->repair.failures);
        events_emit(reg, ps->cf, in->id, "repair_failed",
                    inst_state_name(in->state), "repair", pl->repair.reason);
    }
}

void
act_keep_repair_state(registry_t *reg, pool_state_t *ps,
                      const repair_state_t *was, uint64_t now,
                      const repair_state_t *rs)
{
    const char *pool = ps->cf->name;

    if (rs->suspended && !was->suspended) {
        slog_err(pool, NULL,
                 "repairs suspended: %u failures in a row, the "
                 "last %s; creation backs off (POST /v1/pools/%s/repair/"
                 "resume resumes)",
                 rs->failures, rs->reason, pool);
    } else if (!rs->suspended && was->suspended) {
        slog(pool, NULL, "repairs resumed");
    }
    if (rs->retry > now && rs->retry != was->retry) {
        slog_warn(pool, NULL,
                  "creation backs off for %llu ms (%u failures "
                  "in a row)",
                  (unsigned long long) (rs->retry - now), rs->failures);
    }
    ps->repair = *rs;
    if (!repair_equal(rs, was) && repair_store(reg, pool, rs) != 0) {
        slog_warn(pool, NULL, "repair state not stored: %s",
                  registry_error(reg));
        ps->errors[ERR_REDIS]++;
    }
}

/* the upgrade record written as the plan leaves it (compare-and-set on
   the generation observed); 0 when it is */
static int
upgrade_write(registry_t *reg, pool_state_t *ps, const observation_t *obs,
              const plan_t *pl, const action_t *a)
{
    const upgrade_t *u = &pl->upgrade;
    char            *ids = NULL;
    uint64_t         gen = 0;
    size_t           len = 0;
    int              rc, k;

    rc = registry_upgrade_write(reg, ps->cf->name, u, obs->upgrade.gen, &gen);
    if (rc != 1) {
        slog_warn(ps->cf->name, NULL, "upgrade failed: %s (%s) rule=%s",
                  rc == 0 ? "the record changed meanwhile (the API): this "
                            "pass's upgrade actions are not carried out"
                          : registry_error(reg),
                  a->reason, a->rule);
        if (rc < 0) {
            ps->errors[registry_refused(reg) ? ERR_FENCED : ERR_REDIS]++;
        }
        return -1;
    }
    if (u->nids > 0) {
        ids = xmalloc(u->nids * (SCALESET_ID_MAX + 1));
        for (k = 0; k < u->nids; k++) {
            len += (size_t) sprintf(ids + len, "%s%s", k ? " " : "", u->ids[k]);
        }
    }
    slog(ps->cf->name, NULL, "upgrade %s (%s)%s%s rule=%s",
         upgrade_state_name(u->state),
         pl->upgrade_log[0] ? pl->upgrade_log : a->reason,
         ids ? " batch instances: " : "", ids ? ids : "", a->rule);
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
    slog_warn(p->name, NULL,
              "the lease is lost%s: the pass stops writing, "
              "%d more actions not done",
              registry_refused(reg) ? "" : " (ran out)", left);
    return 1;
}

void
act(registry_t *reg, pool_state_t *ps, observation_t *obs, const plan_t *pl)
{
    const pool_config_t *p = ps->cf;
    inst_state_t        *st;
    instance_t          *list, *in;
    uint64_t            *stop;
    unsigned            *done;
    host_batch_t         b;
    virt_job_t          *jobs;
    pass_t               x;
    const plan_input_t   pin = { .cf = ps->cf, .obs = obs };
    int                  njobs = 0;
    int                  i, n, cap, fenced = 0, upgrade_ok = 1;

    st = xcalloc(obs->ninst + 1, sizeof(*st));
    stop = xcalloc(obs->ninst + 1, sizeof(*stop));
    done = xcalloc(obs->ninst + 1, sizeof(*done));
    cap = obs->ninst + (pl ? pl->creates : 0);
    list = xcalloc(cap + 1, sizeof(*list));
    for (i = 0; i < obs->ninst; i++) {
        st[i] = plan_observed(obs, i);
    }
    for (i = 0; pl && i < pl->nnote; i++) {
        slog_warn(p->name, NULL, "%s rule=%s", pl->note[i].text,
                  pl->note[i].rule);
        if (pl->note[i].err < ERR_KIND_COUNT) {
            ps->errors[pl->note[i].err]++;
        }
    }
    x.reg = reg;
    x.ps = ps;
    x.obs = obs;
    x.st = st;
    x.stop = stop;
    x.done = done;
    x.rs = pl ? pl->repair : ps->repair;
    if (obs->upgrade_ok && upgrade_copy(&ps->upgrade, &obs->upgrade) != 0) {
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
    /* the wakes first, then the other libvirt actions run on their hosts
       while the Redis actions run */
    if (pl && !fenced) {
        act_wake_all(reg, ps, obs, pl, st);
    }
    host_batch_init(&b, ps->cancel);
    jobs = pl && !fenced ? virt_actions(ps, pl, &b, &njobs, upgrade_ok) : NULL;
    if (pl && !fenced) {
        parks(ps, pl, st, upgrade_ok);
    }
    for (i = 0; pl && !fenced && i < pl->nact; i++) {
        const action_t *a = &pl->act[i];
        inst_state_t    before = a->inst >= 0 ? st[a->inst] : INST_CREATING;

        if (a->kind == ACT_CREATE || a->kind == ACT_WAKE || virt_kind(a->kind)
            || a->kind == ACT_UPGRADE || held(a, upgrade_ok))
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
        succeeded(&x, a, before);
    }
    host_wait(&b);
    host_batch_destroy(&b);
    if (jobs != NULL) {
        virt_done(&x, pl, jobs, njobs);
        free(jobs);
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
        if (pl) {
            /* on the model new instances get (the previous one while an
               upgrade rolls back and after) */
            in->latest = plan_on_target(&pin, pl, i);
        }
        in->asked &= ~done[i];
        keep_hook(p, pl, i, obs, in);
        /* a standby asked and there, an active asked and done */
        in->asked &= st[i] == INST_STANDBY ? ~(ASK_STANDBY | ASK_DECREMENT)
                                           : ~ASK_ACTIVE;
        in->standby = st[i] == INST_STANDBY
                          ? (obs->inst[i].standby ? obs->inst[i].standby
                             : (obs->inst[i].in.asked & ASK_DECREMENT) ? 2
                                                                       : 1)
                          : 0;
        in->protection = obs->inst[i].protection;
        in->lost = pl ? pl->view[i].lost : obs->inst[i].in.lost;
        in->weight =
            obs->inst[i].member >= 0 && obs->members[obs->inst[i].member].valid
                ? obs->members[obs->inst[i].member].weight
                : 0;
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
            slog(p->name, NULL,
                 "%d instances above the capacity %d stay: "
                 "every candidate for scale-in is protected",
                 pl->protected_above, ps->capacity);
        }
        ps->protected_above = pl->protected_above;
    }
    if (pl) {
        ps->model = pl->target[0][0];
        upgrade_pool_model(obs->latest, p->ntemplates, ps->key,
                           sizeof(ps->key));
        ps->previous_ok = obs->previous_ok;
        memcpy(ps->images, obs->images, sizeof(ps->images));
    }
    if (pl && !fenced) {
        creations(reg, ps, obs, pl, &x.rs, upgrade_ok);
        ps->repairing = pl->repairing;
        act_keep_repair_state(reg, ps, &obs->repair, obs->now, &x.rs);
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
