/*
 * plan_hooks.c: lifecycle hooks, as AWS's: an instance waits in a hook
 * until an operator (or a program) completes it through
 * POST /v1/pools/{pool}/instances/{id}/lifecycle with continue or
 * abandon, or until hooks.X.timeout after it began waiting (or after its
 * last heartbeat), when the hook's default applies.
 *
 *   launch     a new instance, ready, waits (pending_launch) before its
 *              registration: continue registers it, abandon deletes it
 *              (a failure of the pool: a hook that abandons every
 *              instance backs creation off and suspends it in the end);
 *   terminate  a drained instance waits (pending_terminate) before its
 *              shutdown: either result shuts it down (abandon only says
 *              the hook's work was not done).
 *
 * Where an instance waits is what this scaler remembers (in.hook): a
 * restart starts the wait over.
 */

#include <stdio.h>

#include "plan.h"

action_t *
plan_hook_enter(const plan_input_t *in, plan_t *pl, int i, inst_hook_t hook,
                const char *why)
{
    const hook_config_t *h =
        hook == HOOK_LAUNCH ? &in->cf->hook_launch : &in->cf->hook_terminate;
    action_t *a;

    a = plan_add(pl, in, ACT_HOOK, i, "hook",
                 "%s; waiting for the %s hook "
                 "(%llu ms, then %s)",
                 why, hook == HOOK_LAUNCH ? "launch" : "terminate",
                 (unsigned long long) h->timeout_ms,
                 h->abandon ? "abandon" : "continue");
    if (a != NULL) {
        a->hook = hook;
        pl->view[i].state =
            hook == HOOK_LAUNCH ? INST_PENDING_LAUNCH : INST_PENDING_TERMINATE;
    }
    return a;
}

/* the result for an instance waiting in hook: 1 continue, -1 abandon
   (asked, or the default at its timeout: *timed), 0 it waits on */
static int
result(const plan_input_t *in, plan_t *pl, int i, const hook_config_t *h,
       int *timed)
{
    const obs_instance_t *o = &in->obs->inst[i];
    uint64_t              from;

    *timed = 0;
    if (o->in.asked & ASK_CONTINUE) {
        return 1;
    }
    if (o->in.asked & ASK_ABANDON) {
        return -1;
    }
    if (o->in.asked & ASK_HEARTBEAT) {
        pl->view[i].beat = 1;
        return 0; /* its timeout starts again now */
    }
    from =
        o->in.hook_beat > o->in.hook_since ? o->in.hook_beat : o->in.hook_since;
    if (in->now >= from && in->now - from >= h->timeout_ms) {
        *timed = 1;
        return h->abandon ? -1 : 1;
    }
    snprintf(pl->view[i].hold, sizeof(pl->view[i].hold),
             "the %s hook, "
             "%llu ms left",
             o->in.hook == HOOK_LAUNCH ? "launch" : "terminate",
             (unsigned long long) (from + h->timeout_ms - in->now));
    return 0;
}

void
plan_terminate(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    const hook_config_t  *h = &in->cf->hook_terminate;
    int                   i, r, timed;

    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (o->in.hook != HOOK_TERMINATE || !plan_reachable(obs, i)
            || !plan_free(pl, i) || pl->view[i].state != INST_DRAINING)
        {
            continue;
        }
        if ((r = result(in, pl, i, h, &timed)) == 0) {
            plan_claim(pl, i, INST_PENDING_TERMINATE);
            continue;
        }
        plan_add(pl, in, in->cf->shutdown_timeout_ms ? ACT_STOP : ACT_DELETE, i,
                 "hook", "terminate hook: %s%s", r > 0 ? "continue" : "abandon",
                 timed ? " (its default, at its timeout)" : "");
    }
}

void
plan_launch(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    const hook_config_t  *h = &in->cf->hook_launch;
    char                  why[160];
    int                   i, r, timed;

    if (!h->on) {
        return;
    }
    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!plan_reachable(obs, i) || !plan_free(pl, i)
            || pl->view[i].state != INST_BOOTING || o->ready != READY_YES
            || o->in.origin == ORIGIN_ADOPTED)
        {
            continue; /* an operator's domain: launched */
        }
        if (o->in.hook != HOOK_LAUNCH) {
            plan_hook_enter(in, pl, i, HOOK_LAUNCH, "ready");
            continue;
        }
        if ((r = result(in, pl, i, h, &timed)) == 0) {
            plan_claim(pl, i, INST_PENDING_LAUNCH);
        } else if (r > 0) {
            plan_add(pl, in, ACT_REGISTER, i, "hook",
                     "launch hook: "
                     "continue%s",
                     timed ? " (its default, at its timeout)" : "");
        } else if (plan_add(pl, in, ACT_DELETE, i, "hook",
                            "launch hook: "
                            "abandon%s",
                            timed ? " (its default, at its "
                                    "timeout)"
                                  : ""))
        {
            snprintf(why, sizeof(why), "%s abandoned by its launch hook%s",
                     o->in.id, timed ? " (timed out)" : "");
            plan_repair_failed(&pl->repair, in->cf, in->now, in->interval_ms,
                               why);
        }
    }
}
