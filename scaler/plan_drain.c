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

void
plan_drain(const plan_input_t *in, plan_t *pl)
{
    const observation_t   *obs = in->obs;
    const obs_instance_t  *o;
    uint64_t               since;
    int                    i;

    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!plan_reachable(obs, i) || !plan_free(pl, i)
            || pl->view[i].state != INST_DRAINING)
        {
            continue;
        }
        since = o->drain_since ? o->drain_since
                : o->in.drain_seen ? o->in.drain_seen : in->now;
        if (in->now >= since
            && in->now - since >= in->cf->drain_timeout_ms)
        {
            plan_add(pl, in, ACT_DELETE, i, "drain", "drain_timeout");
            continue;
        }
        if (!obs->reports_ok) {
            continue;               /* unknown: the drain holds */
        }
        if (conns(obs, i) == 0) {
            plan_add(pl, in, ACT_DELETE, i, "drain",
                     "no active connections");
        }
    }
}
