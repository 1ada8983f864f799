/*
 * plan_repair.c: automatic repair, as the cloud scale sets do it, with a
 * circuit breaker (the pool's repair state, PREFIX{POOL}:repair).
 *
 *   1. Repairs under way end: a replacement, a restarted or a reimaged
 *      instance that is registered and up on every present gateway is
 *      repaired (a success: the failures in a row start over); one that
 *      is not up health.grace + repair.grace after its repair began
 *      (each of them boots: a new one, a power cycle, a new disk) failed.
 *   2. An instance not ready (no address, or its readiness check
 *      failing) health.grace after it was created (its tag's time; or
 *      first seen, for a tag that predates it) is deleted, a failure;
 *      the capacity step replaces it in the same pass.  At most 1 in 20
 *      of the capacity per pass, at least 1.
 *   3. With repair.enabled, a registered instance that every present
 *      gateway has reported down for longer than repair.grace is
 *      repaired by repair.action: replace (drained, deleted, and the
 *      capacity step's first creation of the pass replaces it), restart
 *      or reimage (same id); at most plan_repair_most() repairs under way
 *      at once; never one protected from scale-set actions.
 *
 * A failure (here, or a creation that failed in act) counts in a row; at
 * repair.max_failures the pool's repairs are suspended (2 and 3 stop) and
 * creation backs off (plan_repair_failed()) until
 * POST /v1/pools/{pool}/repair/resume.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* how long instance o has been down on every present gateway (0 when
   it is not, or just became so) */
static uint64_t
down_for(const plan_input_t *in, const plan_t *pl, int i)
{
    uint64_t since = in->obs->inst[i].in.down_since;

    if (pl->view[i].health != HEALTH_DOWN || since == 0 || in->now < since) {
        return 0;
    }
    return in->now - since;
}

/* 1: repairs under way that ended, failures counted */
static void
progress(const plan_input_t *in, plan_t *pl)
{
    const pool_config_t  *cf = in->cf;
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    uint64_t              limit;
    char                  why[160];
    int                   i;

    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!o->listed || o->in.repair == IREP_NONE
            || o->in.repair == IREP_REPLACED) {
            continue;
        }
        if (pl->view[i].state == INST_DELETING
            || pl->view[i].state == INST_DRAINING
            || pl->view[i].state == INST_STOPPING)
        {
            continue; /* it goes: not a repair any more */
        }
        if (o->member >= 0 && pl->view[i].health == HEALTH_UP) {
            pl->view[i].repair = IREP_NONE;
            pl->view[i].repaired = 1;
            pl->repair.failures = 0; /* a success */
            continue;
        }
        limit = cf->repair_grace_ms + cf->health_grace_ms;
        if (in->now >= o->in.repair_since
            && in->now - o->in.repair_since > limit) {
            snprintf(why, sizeof(why), "%s: not up %llu ms after its %s",
                     o->in.id, (unsigned long long) limit,
                     o->in.repair == IREP_REPLACEMENT ? "creation"
                     : o->in.repair == IREP_RESTARTED ? "restart"
                                                      : "reimage");
            plan_repair_failed(&pl->repair, cf, in->now, in->interval_ms, why);
            pl->view[i].repair = IREP_NONE;
            pl->view[i].repaired = -1;
        }
    }
}

/* repairs under way after the plan so far: replacements, restarts and
   reimages not ended, and replaced ones whose replacement does not
   exist yet */
static int
under_way(const plan_input_t *in, const plan_t *pl)
{
    const observation_t *obs = in->obs;
    int                  i, k, n = 0;

    for (i = 0; i < obs->ninst; i++) {
        switch (pl->view[i].repair) {
        case IREP_REPLACEMENT:
        case IREP_RESTARTED:
        case IREP_REIMAGED:
            n++;
            break;
        case IREP_REPLACED:
            for (k = 0; k < obs->ninst; k++) {
                if (pl->view[k].repair == IREP_REPLACEMENT
                    && strcmp(obs->inst[k].in.repair_of, obs->inst[i].in.id)
                           == 0)
                {
                    break;
                }
            }
            n += k == obs->ninst;
            break;
        default:
            break;
        }
    }
    return n;
}

/* 2: instances not ready within health.grace */
static void
not_ready(const plan_input_t *in, plan_t *pl)
{
    const pool_config_t  *p = in->cf;
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    uint64_t              since;
    char                  why[160];
    int                   i, n = 0, most;

    if (p->health_grace_ms == 0) {
        return;
    }
    most = in->capacity / 20 > 1 ? in->capacity / 20 : 1;
    for (i = 0; i < obs->ninst && n < most && !pl->repair.suspended; i++) {
        o = &obs->inst[i];
        if (!plan_reachable(obs, i) || !plan_free(pl, i)
            || pl->view[i].state != INST_BOOTING || o->ready != READY_NO
            || o->in.origin != ORIGIN_SCALED) /* by hand: the API's */
        {
            continue;
        }
        since = o->in.model.created ? o->in.model.created : o->in.seen;
        if (in->now < since || in->now - since < p->health_grace_ms) {
            continue;
        }
        if (plan_add(pl, in, ACT_DELETE, i, "repair",
                     "not ready (%s) "
                     "within health.grace (%llu ms), to be replaced",
                     o->why, (unsigned long long) p->health_grace_ms))
        {
            snprintf(why, sizeof(why),
                     "%s not ready within health.grace "
                     "(%s)",
                     o->in.id, o->why);
            plan_repair_failed(&pl->repair, p, in->now, in->interval_ms, why);
            pl->view[i].repair = IREP_NONE;
            n++;
        }
    }
}

/* 3: registered instances down on every present gateway */
static void
down(const plan_input_t *in, plan_t *pl)
{
    const pool_config_t  *p = in->cf;
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    char(*r)[SCALESET_ID_MAX + 1];
    uint64_t d;
    int      i, busy;

    if (!p->repair_enabled) {
        return;
    }
    busy = under_way(in, pl);
    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!plan_reachable(obs, i) || !plan_free(pl, i)
            || pl->view[i].state != INST_RUNNING
            || pl->view[i].repair != IREP_NONE || o->in.asked
            || (d = down_for(in, pl, i)) <= p->repair_grace_ms)
        {
            continue;
        }
        if (plan_protected(in, i, PROTECT_ALL)) {
            snprintf(pl->view[i].hold, sizeof(pl->view[i].hold),
                     "down, "
                     "not repaired: protected from scale-set actions");
            continue;
        }
        if (pl->repair.suspended) {
            snprintf(pl->view[i].hold, sizeof(pl->view[i].hold),
                     "down, "
                     "not repaired: the pool's repairs are suspended");
            continue;
        }
        if (busy >= pl->repair_most) {
            snprintf(pl->view[i].hold, sizeof(pl->view[i].hold),
                     "down, "
                     "waiting for repair: %d under way, at most %d at once",
                     busy, pl->repair_most);
            continue;
        }
        switch (p->repair_action) {
        case REPAIR_RESTART:
            plan_add(pl, in, ACT_RESTART, i, "repair",
                     "down on every "
                     "gateway for %llu ms (repair.grace %llu ms): "
                     "restarted",
                     (unsigned long long) d,
                     (unsigned long long) p->repair_grace_ms);
            break;
        case REPAIR_REIMAGE:
            plan_add(pl, in, ACT_REIMAGE, i, "repair",
                     "down on every "
                     "gateway for %llu ms (repair.grace %llu ms): "
                     "reimaged",
                     (unsigned long long) d,
                     (unsigned long long) p->repair_grace_ms);
            break;
        default:
            plan_add(pl, in, ACT_DRAIN, i, "repair",
                     "down on every "
                     "gateway for %llu ms (repair.grace %llu ms): "
                     "replaced",
                     (unsigned long long) d,
                     (unsigned long long) p->repair_grace_ms);
            r = xrealloc(pl->replacing, (pl->nreplacing + 1) * sizeof(*r));
            pl->replacing = r;
            memcpy(r[pl->nreplacing++], o->in.id, sizeof(*r));
            pl->view[i].repair = IREP_REPLACED;
            break;
        }
        busy++;
    }
}

void
plan_repair(const plan_input_t *in, plan_t *pl)
{
    progress(in, pl);
    not_ready(in, pl);
    down(in, pl);
    pl->repairing = under_way(in, pl);
}
