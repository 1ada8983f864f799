/*
 * plan_repair.c: instances that never become ready.  One not ready (no
 * address, or its readiness check failing) health.grace after it was
 * created (its tag's time; or first seen, for a tag that predates it) is
 * deleted; the capacity step replaces it in the same pass (a new id and
 * address).  At most 1 in 20 of the capacity per pass, at least 1, so a
 * bad template does not take the whole pool down at once.
 */

#include "plan.h"

void
plan_repair(const plan_input_t *in, plan_t *pl)
{
    const pool_config_t   *p = in->cf;
    const observation_t   *obs = in->obs;
    const obs_instance_t  *o;
    uint64_t               since;
    int                    i, n = 0, most;

    if (p->health_grace_ms == 0) {
        return;
    }
    most = in->capacity / 20 > 1 ? in->capacity / 20 : 1;
    for (i = 0; i < obs->ninst && n < most; i++) {
        o = &obs->inst[i];
        if (!plan_reachable(obs, i) || !plan_free(pl, i)
            || pl->view[i].state != INST_BOOTING || o->ready != READY_NO
            || o->in.origin != ORIGIN_SCALED)   /* by hand: the API's */
        {
            continue;
        }
        since = o->in.model.created ? o->in.model.created : o->in.seen;
        if (in->now < since || in->now - since < p->health_grace_ms) {
            continue;
        }
        if (plan_add(pl, in, ACT_DELETE, i, "repair", "not ready (%s) "
                     "within health.grace (%llu ms), to be replaced",
                     o->why, (unsigned long long) p->health_grace_ms))
        {
            n++;
        }
    }
}
