/*
 * plan_drain.c: when a draining instance goes.  At drain_timeout after
 * its drain began (PREFIX{POOL}:draining, so a restart does not start it
 * over; else when this scaler first saw it draining), or earlier once
 * every gateway that reports on it says conns=0 (no report at all counts
 * as none open).  While the reports cannot be read the drain holds: an
 * unknown count is not zero.
 */

#include <stdint.h>

#include "plan.h"

/* the connections the gateways report open on obs->inst[i] (saturating:
   a report's conns is any uint64) */
static uint64_t
conns(const observation_t *obs, int i)
{
    const obs_instance_t  *o = &obs->inst[i];
    uint64_t               sum = 0, c;
    int                    k;

    for (k = 0; k < o->in.nreports; k++) {
        c = obs->reports[o->in.report0 + k].conns;
        sum = c > UINT64_MAX - sum ? UINT64_MAX : sum + c;
    }
    return sum;
}

drain_over_t
plan_drain_over(const plan_input_t *in, int i)
{
    const observation_t   *obs = in->obs;
    const obs_instance_t  *o = &obs->inst[i];
    uint64_t               since;

    since = o->drain_since ? o->drain_since
            : o->in.drain_seen ? o->in.drain_seen : in->now;
    if (in->now >= since && in->now - since >= in->cf->drain_timeout_ms) {
        return DRAIN_TIMEOUT;
    }
    if (!obs->reports_ok) {
        return DRAIN_HOLDS;         /* unknown: the drain holds */
    }
    return conns(obs, i) == 0 ? DRAIN_EMPTY : DRAIN_HOLDS;
}

void
plan_drain(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    int                   i;

    for (i = 0; i < obs->ninst; i++) {
        if (!plan_reachable(obs, i) || !plan_free(pl, i)
            || pl->view[i].state != INST_DRAINING)
        {
            continue;
        }
        switch (plan_drain_over(in, i)) {
        case DRAIN_TIMEOUT:
            plan_add(pl, in, ACT_DELETE, i, "drain", "drain_timeout");
            break;
        case DRAIN_EMPTY:
            plan_add(pl, in, ACT_DELETE, i, "drain",
                     "no active connections");
            break;
        case DRAIN_HOLDS:
            break;
        }
    }
}
