/*
 * plan.c: the pure part of a pass (plan.h).  plan() turns an observation
 * into the actions that bring the pool to what its configuration and
 * its desired capacity ask, by running the sub-planners of plan_steps[]
 * in that order over one working view.  Nothing here does I/O, keeps a
 * global or reads a clock: the same input gives the same plan, which is
 * what t/unit/test_plan.c holds it to.
 *
 * The order, and why:
 *   1. requests  what the API asked (a deleted instance's domain goes)
 *                comes before anything the scaler decides by itself;
 *      hand      so do instances asked for by hand (one more made, a
 *                domain adopted), outside the capacity;
 *   2. strays    members without a domain leave the member hash;
 *   3. repair    repairs end; instances not ready within health.grace
 *                go and down ones are repaired first, so that the
 *                capacity step replaces them in the same pass;
 *      terminate instances waiting in the terminate hook are shut down
 *                once it is completed, before the drain step sees them
 *                (warm ones, which the warm step put there, deleted);
 *   4. warm      warm instances are taken for a scale-out before any is
 *                created, and drained ones go back to the warm pool
 *                (reuse_on_scale_in) before the drain step shuts them
 *                down (one with a call of an earlier pass in flight, a
 *                park or its creation, obs->busy, is claimed by
 *                plan_begin: warm, counted, not touched);
 *   5. drain     draining instances whose connections are done are shut
 *                down (or wait in the terminate hook), stopped ones go;
 *   6. upgrade   outdated instances are replaced batch by batch (or
 *                rolled back): it chooses the model new instances get
 *                and the surge the capacity step keeps (a repairing
 *                instance is unhealthy, a protected one is left alone);
 *   7. failover  instances of a host that failed over (unreachable longer
 *                than zone_failover: counted as lost from plan_begin on)
 *                that are back go, as far as their capacity was rebuilt;
 *   8. rebalance zones more than one apart get a new instance in the
 *                smallest, kept above the capacity (surge) until it runs
 *                (not while an upgrade moves instances);
 *   9. capacity  new instances up to the capacity, or scale-in above it,
 *                counting what the steps before took away (the largest
 *                zone gives once a rebalancing instance runs);
 *  10. warm_fill the warm pool refilled once the capacity has what it
 *                needs;
 *      launch    ready instances that stay wait in the launch hook;
 *  11. register  what is ready and stays is registered last, so an
 *                instance scaled in before registration is never
 *                registered first.
 * A new step (an upgrade, repair of running instances) is a
 * function in a file of its own, put in this table where it belongs; it
 * acts only on instances no earlier step claimed (plan_free()).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

const plan_step_t plan_steps[] = {
    { "requests", plan_requests },
    { "hand", plan_hand },
    { "strays", plan_strays },
    { "repair", plan_repair },
    { "terminate", plan_terminate },
    { "warm", plan_warm },
    { "drain", plan_drain },
    { "upgrade", plan_upgrade },
    { "failover", plan_failover },
    { "rebalance", plan_rebalance },
    { "capacity", plan_capacity },
    { "warm_fill", plan_warm_fill },
    { "launch", plan_launch },
    { "register", plan_register },
    { NULL, NULL },
};

const char *
act_kind_name(act_kind_t kind)
{
    static const char *const names[] = { "create",     "register", "drain",
                                         "deregister", "delete",   "stop",
                                         "restart",    "reimage",  "standby",
                                         "hook",       "adopt",    "upgrade",
                                         "wake",       "park" };

    return (unsigned) kind < ACT_KIND_COUNT ? names[kind] : "?";
}

inst_state_t
plan_observed(const observation_t *obs, int i)
{
    const obs_instance_t *o = &obs->inst[i];
    const obs_member_t   *m;

    if (!obs->redis_ok) {
        return o->in.state; /* as last known */
    }
    if (o->standby) {
        return INST_STANDBY; /* registered drained, or not at all */
    }
    if (o->member < 0 || !obs->members[o->member].valid) {
        /* not registered (or not readable): in the warm pool or not */
        return o->in.warm ? INST_WARM : INST_BOOTING;
    }
    m = &obs->members[o->member];
    if (!(m->flags & SCALESET_MEMBER_DRAIN)) {
        return o->in.repair == IREP_RESTARTED || o->in.repair == IREP_REIMAGED
                   ? INST_REPAIRING
                   : INST_RUNNING;
    }
    /* its member keeps "drain" until the domain is gone */
    return o->in.stop_since ? INST_STOPPING : INST_DRAINING;
}

uint64_t
plan_gateway_ttl(const pool_config_t *cf, const gateway_t *g)
{
    if (cf->gateway_ttl_ms) {
        return cf->gateway_ttl_ms;
    }
    return g->ttl_ms ? 3 * g->ttl_ms : 30000;
}

int
plan_gateway_present(const pool_config_t *cf, const gateway_t *g, uint64_t now)
{
    return g->read || now <= g->seen
           || now - g->seen <= plan_gateway_ttl(cf, g);
}

plan_health_t
plan_health(const plan_input_t *in, int i)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o = &obs->inst[i];
    const report_t       *r = NULL;
    int                   g, k, up = 0, down = 0, n = 0;

    if (!obs->reports_ok) {
        return HEALTH_UNKNOWN;
    }
    for (g = 0; g < obs->ngateways; g++) {
        if (!plan_gateway_present(in->cf, &obs->gateways[g], in->now)) {
            continue;
        }
        if (!obs->gateways[g].read) {
            return HEALTH_UNKNOWN; /* a present gateway not heard */
        }
        for (k = 0; k < o->in.nreports; k++) {
            r = &obs->reports[o->in.report0 + k];
            if (r->gateway == g) {
                break;
            }
        }
        if (k == o->in.nreports || r->state == SCALESET_HEALTH_UNCHECKED) {
            return HEALTH_UNKNOWN; /* it has no opinion yet */
        }
        up += r->state == SCALESET_HEALTH_UP;
        down += r->state == SCALESET_HEALTH_DOWN;
        n++;
    }
    return n == 0      ? HEALTH_UNKNOWN
           : up == n   ? HEALTH_UP
           : down == n ? HEALTH_DOWN
                       : HEALTH_MIXED;
}

const obs_busy_t *
plan_busy(const observation_t *obs, const char *id)
{
    int k;

    for (k = 0; k < obs->nbusy; k++) {
        if (strcmp(obs->busy[k].id, id) == 0) {
            return &obs->busy[k];
        }
    }
    return NULL;
}

int
plan_free(const plan_t *pl, int i)
{
    return pl->view[i].claimed == -1;
}

void
plan_claim(plan_t *pl, int i, inst_state_t st)
{
    pl->view[i].claimed = -2;
    pl->view[i].state = st;
}

int
plan_protected(const plan_input_t *in, int i, protect_t level)
{
    return in->obs->inst[i].protection >= level;
}

int
plan_reachable(const observation_t *obs, int i)
{
    const obs_instance_t *o = &obs->inst[i];

    return o->listed && o->in.host >= 0 && o->in.host < obs->nhosts
           && obs->host_up[o->in.host];
}

action_t *
plan_add(plan_t *pl, const plan_input_t *in, act_kind_t kind, int inst,
         const char *rule, const char *fmt, ...)
{
    const obs_instance_t *o;
    action_t             *a;
    va_list               ap;

    if (pl->nact == pl->cact) {
        int c = pl->cact ? pl->cact * 2 : 16;

        pl->act = xrealloc(pl->act, c * sizeof(*pl->act));
        pl->cact = c;
    }
    a = &pl->act[pl->nact];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->inst = inst;
    a->member = -1;
    a->zone = -1;
    a->host = -1;
    a->rule = rule;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
    va_end(ap);
    if (inst >= 0) {
        o = &in->obs->inst[inst];
        snprintf(a->id, sizeof(a->id), "%s", o->in.id);
        a->zone = o->in.zone;
        a->host = o->in.host;
        a->member = o->member;
        pl->view[inst].claimed = pl->nact;
        switch (kind) {
        case ACT_REGISTER:
            pl->view[inst].state = INST_RUNNING;
            break;
        case ACT_DRAIN:
            pl->view[inst].state = INST_DRAINING;
            break;
        case ACT_DELETE:
            pl->view[inst].state = INST_DELETING;
            break;
        case ACT_WAKE:
            pl->view[inst].state = INST_BOOTING;
            break;
        case ACT_PARK:
            pl->view[inst].state = INST_WARM;
            break;
        case ACT_STOP:
            pl->view[inst].state = INST_STOPPING;
            break;
        case ACT_STANDBY:
            pl->view[inst].state = INST_STANDBY;
            break;
        case ACT_HOOK:
            pl->view[inst].state = INST_PENDING_LAUNCH;
            break; /* plan_hook_enter() says which */
        case ACT_RESTART:
            pl->view[inst].state = INST_REPAIRING;
            pl->view[inst].repair = IREP_RESTARTED;
            break;
        case ACT_REIMAGE:
            pl->view[inst].state = INST_REPAIRING;
            pl->view[inst].repair = IREP_REIMAGED;
            break;
        default:
            break;
        }
    }
    pl->creates += kind == ACT_CREATE;
    return &pl->act[pl->nact++];
}

void
plan_note(plan_t *pl, err_kind_t err, const char *rule, const char *fmt, ...)
{
    plan_note_t *n;
    va_list      ap;

    if (pl->nnote == pl->cnote) {
        int c = pl->cnote ? pl->cnote * 2 : 4;

        pl->note = xrealloc(pl->note, c * sizeof(*pl->note));
        pl->cnote = c;
    }
    n = &pl->note[pl->nnote++];
    n->err = err;
    n->rule = rule;
    va_start(ap, fmt);
    vsnprintf(n->text, sizeof(n->text), fmt, ap);
    va_end(ap);
}

int
plan_active_hosts(const plan_input_t *in, const plan_t *pl, int *per_zone,
                  int *per_host)
{
    int i, z, h, n = 0;

    if (per_zone) {
        memset(per_zone, 0, SCALER_MAX_ZONES * sizeof(int));
    }
    if (per_host) {
        memset(per_host, 0, SCALER_MAX_HOSTS * sizeof(int));
    }
    for (i = 0; i < in->obs->ninst; i++) {
        if (!pl->view[i].lost
            && (pl->view[i].state == INST_BOOTING
                || pl->view[i].state == INST_RUNNING
                || pl->view[i].state == INST_REPAIRING))
        {
            n++;
            z = in->obs->inst[i].in.zone;
            h = in->obs->inst[i].in.host;
            if (per_zone && z >= 0 && z < SCALER_MAX_ZONES) {
                per_zone[z]++;
            }
            if (per_host && h >= 0 && h < SCALER_MAX_HOSTS) {
                per_host[h]++;
            }
        }
    }
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_CREATE && !pl->act[i].warm) {
            n++;
            if (per_zone) {
                per_zone[pl->act[i].zone]++;
            }
            if (per_host && pl->act[i].host >= 0) {
                per_host[pl->act[i].host]++;
            }
        }
    }
    return n;
}

int
plan_active(const plan_input_t *in, const plan_t *pl, int *per_zone)
{
    return plan_active_hosts(in, pl, per_zone, NULL);
}

int
plan_healthy(const plan_input_t *in, int i)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o = &obs->inst[i];
    const obs_member_t   *m;

    if (o->member < 0 || !obs->members[o->member].valid) {
        return 0; /* not registered */
    }
    m = &obs->members[o->member];
    if (m->flags & (SCALESET_MEMBER_DRAIN | SCALESET_MEMBER_DOWN)) {
        return 0;
    }
    if (!obs->reports_ok) {
        return -1;
    }
    /* up in the report of every present gateway (a missing report, or
       one without an opinion yet, is not up) */
    return plan_health(in, i) == HEALTH_UP;
}

int
plan_on_target(const plan_input_t *in, const plan_t *pl, int i)
{
    const obs_instance_t *o = &in->obs->inst[i];

    /* one of a template the config no longer has is on no model */
    return o->in.tmpl >= 0 && o->in.tmpl < in->cf->ntemplates && o->in.host >= 0
           && o->in.host < in->cf->nhosts
           && model_latest(&pl->target[o->in.tmpl][o->in.host], &o->in.model);
}

void
plan_begin(const plan_input_t *in, plan_t *pl)
{
    const observation_t *obs = in->obs;
    long                 top, v;
    int                  i;

    memset(pl, 0, sizeof(*pl));
    pl->view = xcalloc(obs->ninst + 1, sizeof(*pl->view));
    /* the next instance number: above the stored seq and above every id
       known, of a domain or of a member */
    top = obs->seq;
    pl->repair = obs->repair;
    pl->repair_most = plan_repair_most(in->cf, in->capacity);
    for (i = 0; i < obs->ninst; i++) {
        const obs_instance_t *o = &obs->inst[i];

        pl->view[i].state = plan_observed(obs, i);
        pl->view[i].claimed = -1;
        pl->view[i].repair = obs->inst[i].in.repair;
        pl->view[i].health = plan_health(in, i);
        /* lost: known so, or on a host unreachable for zone_failover */
        pl->view[i].lost =
            o->in.lost
            || (!plan_reachable(obs, i) && o->in.host >= 0
                && o->in.host < obs->nhosts
                && policy_failed_over(obs->host_down_since[o->in.host], in->now,
                                      in->cf->zone_failover_ms));
        top = obs->inst[i].in.seq > top ? obs->inst[i].in.seq : top;
        /* a call of an earlier pass runs on it (a park, its warm
           creation): warm, counted so, and no step's to act on */
        if (plan_busy(obs, o->in.id) != NULL) {
            plan_claim(pl, i, INST_WARM);
        }
    }
    for (i = 0; i < obs->nbusy; i++) {
        top = obs->busy[i].seq > top ? obs->busy[i].seq : top;
    }
    for (i = 0; i < obs->nmembers; i++) {
        v = policy_id_seq(obs->members[i].id);
        top = v > top ? v : top;
    }
    pl->next_seq = top + 1;
    memcpy(pl->target, obs->latest, sizeof(pl->target));
}

void
plan(const plan_input_t *in, plan_t *pl)
{
    int i;

    plan_begin(in, pl);
    if (in->obs->redis_ok) {
        if (!in->obs->protection_ok) {
            plan_note(pl, ERR_KIND_COUNT, "protection",
                      "protections not "
                      "read: every instance is taken as protected");
        }
        for (i = 0; plan_steps[i].run; i++) {
            plan_steps[i].run(in, pl);
        }
    }
}

void
plan_repair_failed(repair_state_t *rs, const pool_config_t *cf, uint64_t now,
                   uint64_t interval_ms, const char *why)
{
    uint64_t wait;
    unsigned k;

    rs->failures++;
    snprintf(rs->reason, sizeof(rs->reason), "%s", why);
    if (!rs->suspended && rs->failures >= (unsigned) cf->repair_max_failures) {
        rs->suspended = 1;
        rs->since = now;
    }
    /* the first failure is replaced at once; then interval x
       2^(failures - 2), at most 128 x interval */
    if (rs->failures < 2) {
        return;
    }
    k = rs->failures - 2 < 7 ? rs->failures - 2 : 7;
    wait = (interval_ms ? interval_ms : 1000) << k;
    rs->retry = now + wait;
}

int
plan_repair_most(const pool_config_t *cf, int capacity)
{
    int most;

    if (capacity < 20) {
        most = 1;
    } else {
        most = (capacity * cf->repair_max_percent + 99) / 100;
    }
    most = most < 1 ? 1 : most;
    return most > capacity ? capacity : most;
}

void
plan_release(plan_t *pl)
{
    free(pl->act);
    free(pl->note);
    free(pl->view);
    upgrade_free(&pl->upgrade);
    free(pl->replacing);
    memset(pl, 0, sizeof(*pl));
}
