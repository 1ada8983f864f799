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
 *   3. repair    instances not ready within health.grace go first, so
 *                that the capacity step replaces them in the same pass;
 *   4. drain     draining instances whose connections are done go;
 *   5. upgrade   outdated instances are replaced batch by batch (or
 *                rolled back): it chooses the model new instances get
 *                and the surge the capacity step keeps;
 *   6. failover  instances of a host that failed over (unreachable longer
 *                than zone_failover: counted as lost from plan_begin on)
 *                that are back go, as far as their capacity was rebuilt;
 *   7. rebalance zones more than one apart get a new instance in the
 *                smallest, kept above the capacity (surge) until it runs
 *                (not while an upgrade moves instances);
 *   8. capacity  new instances up to the capacity, or scale-in above it,
 *                counting what the steps before took away (the largest
 *                zone gives once a rebalancing instance runs);
 *   9. register  what is ready and stays is registered last, so an
 *                instance scaled in before registration is never
 *                registered first.
 * A new step (an upgrade, a warm pool, repair of running instances) is a
 * function in a file of its own, put in this table where it belongs; it
 * acts only on instances no earlier step claimed (plan_free()).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

const plan_step_t  plan_steps[] = {
    { "requests", plan_requests },
    { "hand",     plan_hand },
    { "strays",   plan_strays },
    { "repair",   plan_repair },
    { "drain",    plan_drain },
    { "upgrade",  plan_upgrade },
    { "failover", plan_failover },
    { "rebalance", plan_rebalance },
    { "capacity", plan_capacity },
    { "register", plan_register },
    { NULL, NULL }
};

const char *
act_kind_name(act_kind_t kind)
{
    static const char *const names[] = { "create", "register", "drain",
        "deregister", "delete", "adopt", "upgrade" };

    return (unsigned) kind < ACT_KIND_COUNT ? names[kind] : "?";
}

inst_state_t
plan_observed(const observation_t *obs, int i)
{
    const obs_instance_t  *o = &obs->inst[i];
    const obs_member_t    *m;

    if (!obs->redis_ok) {
        return o->in.state;         /* as last known */
    }
    if (o->member < 0 || !obs->members[o->member].valid) {
        return INST_BOOTING;        /* not registered (or not readable) */
    }
    m = &obs->members[o->member];
    return (m->flags & SCALESET_MEMBER_DRAIN) ? INST_DRAINING
                                              : INST_RUNNING;
}

int
plan_free(const plan_t *pl, int i)
{
    return pl->view[i].claimed < 0;
}

int
plan_reachable(const observation_t *obs, int i)
{
    const obs_instance_t  *o = &obs->inst[i];

    return o->listed && o->in.host >= 0 && o->in.host < obs->nhosts
           && obs->host_up[o->in.host];
}

action_t *
plan_add(plan_t *pl, const plan_input_t *in, act_kind_t kind, int inst,
    const char *rule, const char *fmt, ...)
{
    const obs_instance_t  *o;
    action_t              *a;
    va_list                ap;

    if (pl->nact == pl->cact) {
        int       c = pl->cact ? pl->cact * 2 : 16;
        action_t *n = realloc(pl->act, c * sizeof(*n));

        if (n == NULL) {
            pl->oom = 1;
            return NULL;
        }
        pl->act = n;
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
        case ACT_REGISTER: pl->view[inst].state = INST_RUNNING; break;
        case ACT_DRAIN:    pl->view[inst].state = INST_DRAINING; break;
        case ACT_DELETE:   pl->view[inst].state = INST_DELETING; break;
        default:           break;
        }
    }
    pl->creates += kind == ACT_CREATE;
    return &pl->act[pl->nact++];
}

void
plan_note(plan_t *pl, err_kind_t err, const char *rule, const char *fmt,
    ...)
{
    plan_note_t  *n;
    va_list       ap;

    if (pl->nnote == pl->cnote) {
        int          c = pl->cnote ? pl->cnote * 2 : 4;
        plan_note_t *nn = realloc(pl->note, c * sizeof(*nn));

        if (nn == NULL) {
            pl->oom = 1;
            return;
        }
        pl->note = nn;
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
    int  i, z, h, n = 0;

    if (per_zone) {
        memset(per_zone, 0, SCALER_MAX_ZONES * sizeof(int));
    }
    if (per_host) {
        memset(per_host, 0, SCALER_MAX_HOSTS * sizeof(int));
    }
    for (i = 0; i < in->obs->ninst; i++) {
        if (!pl->view[i].lost
            && (pl->view[i].state == INST_BOOTING
                || pl->view[i].state == INST_RUNNING))
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
        if (pl->act[i].kind == ACT_CREATE) {
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
plan_healthy(const observation_t *obs, int i)
{
    const obs_instance_t  *o = &obs->inst[i];
    const obs_member_t    *m;
    int                    k, up = 0;

    if (o->member < 0 || !obs->members[o->member].valid) {
        return 0;                   /* not registered */
    }
    m = &obs->members[o->member];
    if (m->flags & (SCALESET_MEMBER_DRAIN | SCALESET_MEMBER_DOWN)) {
        return 0;
    }
    if (!obs->reports_ok) {
        return -1;
    }
    /* one report per gateway at most (a field of its hash) */
    for (k = 0; k < o->in.nreports; k++) {
        up += obs->reports[o->in.report0 + k].state == SCALESET_HEALTH_UP;
    }
    return up == obs->ngateways;
}

int
plan_on_target(const plan_input_t *in, const plan_t *pl, int i)
{
    const obs_instance_t  *o = &in->obs->inst[i];

    /* one of a template the config no longer has is on no model */
    return o->in.tmpl >= 0 && o->in.tmpl < in->cf->ntemplates
           && o->in.host >= 0 && o->in.host < in->cf->nhosts
           && model_latest(&pl->target[o->in.tmpl][o->in.host],
                           &o->in.model);
}

int
plan_begin(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    long                  top, v;
    int                   i;

    memset(pl, 0, sizeof(*pl));
    pl->view = calloc(obs->ninst + 1, sizeof(*pl->view));
    if (pl->view == NULL) {
        return -1;
    }
    /* the next instance number: above the stored seq and above every id
       known, of a domain or of a member */
    top = obs->seq;
    for (i = 0; i < obs->ninst; i++) {
        const obs_instance_t *o = &obs->inst[i];

        pl->view[i].state = plan_observed(obs, i);
        pl->view[i].claimed = -1;
        /* lost: known so, or on a host unreachable for zone_failover */
        pl->view[i].lost = o->in.lost
            || (!plan_reachable(obs, i) && o->in.host >= 0
                && o->in.host < obs->nhosts
                && policy_failed_over(obs->host_down_since[o->in.host],
                                      in->now, in->cf->zone_failover_ms));
        top = obs->inst[i].in.seq > top ? obs->inst[i].in.seq : top;
    }
    for (i = 0; i < obs->nmembers; i++) {
        v = policy_id_seq(obs->members[i].id);
        top = v > top ? v : top;
    }
    pl->next_seq = top + 1;
    memcpy(pl->target, obs->latest, sizeof(pl->target));
    return 0;
}

int
plan(const plan_input_t *in, plan_t *pl)
{
    int  i;

    if (plan_begin(in, pl) != 0) {
        return -1;
    }
    if (in->obs->redis_ok) {
        for (i = 0; plan_steps[i].run; i++) {
            plan_steps[i].run(in, pl);
        }
    }
    if (pl->oom) {
        plan_release(pl);
        return -1;
    }
    return 0;
}

void
plan_release(plan_t *pl)
{
    free(pl->act);
    free(pl->note);
    free(pl->view);
    upgrade_free(&pl->upgrade);
    memset(pl, 0, sizeof(*pl));
}
