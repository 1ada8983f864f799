/*
 * plan_drain.c: when a draining instance stops, and when a stopping one
 * goes.  A drain ends at drain_timeout after it began
 * (PREFIX{POOL}:draining, so a restart does not start it over; else when
 * this scaler first saw it draining; else now), or earlier once every
 * present gateway (one that reported within drain.gateway_ttl) has
 * reported since the drain began and all those reports say conns=0.  A
 * present gateway whose report is missing (its key expired: a gateway
 * gone quiet, a Redis that refused its writes), unreadable, or older
 * than the drain holds it: an unknown count is not zero.  Then the
 * instance is shut down (ACPI, ACT_STOP) and deleted once it is off, or
 * destroyed at termination.shutdown_timeout; with a terminate hook it
 * waits in it first (plan_hooks.c).
 */

#include <stdint.h>
#include <stdio.h>

#include "plan.h"

/* 1 with what it waits for in why when the reports cannot tell yet how
   many connections obs->inst[i] has open; else 0 with their sum in *sum
   (saturating: a report's conns is any uint64) */
static int
waits(const plan_input_t *in, int i, uint64_t since, uint64_t *sum, char *why,
      size_t size)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o = &obs->inst[i];
    const gateway_t      *g;
    const report_t       *r;
    uint64_t              c;
    int                   k;

    *sum = 0;
    if (!obs->reports_ok) {
        snprintf(why, size, "the gateways' reports could not be read");
        return 1;
    }
    for (k = 0; k < obs->ngateways; k++) {
        g = &obs->gateways[k];
        if (!plan_gateway_present(in->cf, g, in->now)) {
            continue;
        }
        if (!g->read) {
            snprintf(why, size, "gateway %s has not reported for %llu s",
                     g->name,
                     (unsigned long long) (in->now > g->seen
                                               ? (in->now - g->seen) / 1000
                                               : 0));
            return 1;
        }
        if (g->at < since) {
            snprintf(why, size,
                     "gateway %s has not reported since the "
                     "drain began",
                     g->name);
            return 1;
        }
    }
    for (k = 0; k < o->in.nreports; k++) {
        r = &obs->reports[o->in.report0 + k];
        g = &obs->gateways[r->gateway];
        if (!plan_gateway_present(in->cf, g, in->now)) {
            continue;
        }
        if (r->at < since) {
            snprintf(why, size,
                     "gateway %s's report on it is older than "
                     "the drain",
                     g->name);
            return 1;
        }
        c = r->conns;
        *sum = c > UINT64_MAX - *sum ? UINT64_MAX : *sum + c;
    }
    return 0;
}

/* the drain of obs->inst[i] is over (why): it waits in the terminate
   hook, or is shut down */
static void
drained(const plan_input_t *in, plan_t *pl, int i, act_kind_t end,
        const char *why)
{
    if (in->cf->hook_terminate.on) {
        plan_hook_enter(in, pl, i, HOOK_TERMINATE, why);
    } else {
        plan_add(pl, in, end, i, "drain", "%s", why);
    }
}

/* whether the drain of obs->inst[i] is over: drain_timeout passed, or
   every present gateway says it has no connection open; else it holds
   (why says for what) */
static drain_over_t
drain_over(const plan_input_t *in, int i, char *why, size_t size)
{
    const obs_instance_t *o = &in->obs->inst[i];
    uint64_t              since, open;

    since = o->drain_since     ? o->drain_since
            : o->in.drain_seen ? o->in.drain_seen
                               : in->now;
    if (in->now >= since && in->now - since >= in->cf->drain_timeout_ms) {
        return DRAIN_TIMEOUT;
    }
    if (waits(in, i, since, &open, why, size)) {
        return DRAIN_HOLDS; /* unknown: the drain holds */
    }
    if (open > 0) {
        snprintf(why, size, "%llu connections open", (unsigned long long) open);
        return DRAIN_HOLDS;
    }
    return DRAIN_EMPTY;
}

drain_over_t
plan_drain_over(const plan_input_t *in, int i)
{
    char why[160];

    return drain_over(in, i, why, sizeof(why));
}

static void
draining(const plan_input_t *in, plan_t *pl, int i)
{
    /* shutdown_timeout 0: no ACPI shutdown, destroyed at once */
    act_kind_t end = in->cf->shutdown_timeout_ms ? ACT_STOP : ACT_DELETE;

    switch (drain_over(in, i, pl->view[i].hold, sizeof(pl->view[i].hold))) {
    case DRAIN_TIMEOUT:
        drained(in, pl, i, end, "drain_timeout");
        break;
    case DRAIN_EMPTY:
        drained(in, pl, i, end, "no active connections");
        break;
    case DRAIN_HOLDS:
        break;
    }
}

static void
stopping(const plan_input_t *in, plan_t *pl, int i)
{
    const obs_instance_t *o = &in->obs->inst[i];
    uint64_t              since = o->in.stop_since;

    if (o->off) {
        plan_add(pl, in, ACT_DELETE, i, "drain", "powered off");
    } else if (in->now >= since
               && in->now - since >= in->cf->shutdown_timeout_ms) {
        plan_add(pl, in, ACT_DELETE, i, "drain",
                 "shutdown_timeout: "
                 "destroyed");
    } else {
        snprintf(pl->view[i].hold, sizeof(pl->view[i].hold),
                 "powering "
                 "off");
    }
}

void
plan_drain(const plan_input_t *in, plan_t *pl)
{
    const observation_t *obs = in->obs;
    int                  i;

    for (i = 0; i < obs->ninst; i++) {
        if (!plan_reachable(obs, i) || !plan_free(pl, i)) {
            continue;
        }
        if (pl->view[i].state == INST_DRAINING) {
            draining(in, pl, i);
        } else if (pl->view[i].state == INST_STOPPING) {
            stopping(in, pl, i);
        }
    }
}
