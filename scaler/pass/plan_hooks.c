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
 *              the hook's work was not done); so does a warm one the warm
 *              step deletes (outdated, never ready, cut: plan_warm.c,
 *              AWS's Warmed:Terminating:Wait) before its deletion, no
 *              longer counted in the warm pool (the refill replaces it);
 *              and, with reuse_on_scale_in, a drained one on its way back
 *              to the warm pool (in.reuse: AWS's Warmed:Pending:Wait for
 *              the terminate hook): either result parks it.
 *
 * A warm instance waits in the launch hook twice, as AWS's do
 * (Warmed:Pending:Wait, then Pending:Wait): once ready, before it is
 * parked (plan_warm_launch, from plan_warm: continue parks it, abandon
 * deletes it, a failure of the pool as a new instance's), and again when
 * it is woken for a scale-out (plan_warm.c marks its ACT_WAKE with the
 * hook: act_warm.c makes it wait instead of registering it once ready;
 * plan_launch then completes it as a cold one's).  Its wait in the warm
 * pool ends in its park, which clears in.hook, so the second wait begins
 * anew.
 *
 * Where an instance waits is what this scaler remembers (in.hook, and
 * in.parked: a warm one past its hook): a restart starts the wait over.
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

/* the instances waiting in the terminate hook: drained ones (shut down
   once it is completed) and warm ones (plan_warm.c's replace and cut:
   deleted, as AWS's Warmed:Terminating:Wait ends in Warmed:Terminated;
   a paused or saved one has nothing to shut down) */
void
plan_terminate(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    const hook_config_t  *h = &in->cf->hook_terminate;
    act_kind_t            end;
    int                   i, r, timed, warm;

    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        warm = o->in.warm && pl->view[i].state == INST_WARM;
        if (o->in.hook != HOOK_TERMINATE || !plan_reachable(obs, i)
            || !plan_free(pl, i)
            || (pl->view[i].state != INST_DRAINING && !warm))
        {
            continue;
        }
        if ((r = result(in, pl, i, h, &timed)) == 0) {
            plan_claim(pl, i, INST_PENDING_TERMINATE);
            continue;
        }
        end = in->cf->shutdown_timeout_ms && !warm ? ACT_STOP : ACT_DELETE;
        if (o->in.reuse && in->cf->warm.reuse) {
            end = ACT_PARK; /* on its way back to the warm pool */
        }
        plan_add(pl, in, end, i, "hook", "%sterminate hook: %s%s%s",
                 warm ? "warm, " : "", r > 0 ? "continue" : "abandon",
                 timed ? " (its default, at its timeout)" : "",
                 end == ACT_PARK ? ", back to the warm pool" : "");
    }
}

/* obs->inst[i] waits in the launch hook: held there, or completed: cont
   on continue (ACT_REGISTER; ACT_PARK for a warm one, "kept STATE"),
   deleted on abandon (a failure of the pool: a hook that abandons every
   instance backs creation off and suspends it) */
static void
launch_result(const plan_input_t *in, plan_t *pl, int i, act_kind_t cont)
{
    const obs_instance_t *o = &in->obs->inst[i];
    const char           *warm = cont == ACT_PARK ? "warm, " : "";
    const char           *dflt = " (its default, at its timeout)";
    action_t             *a;
    char                  why[160], kept[40] = "";
    int                   r, timed;

    if ((r = result(in, pl, i, &in->cf->hook_launch, &timed)) == 0) {
        plan_claim(pl, i, INST_PENDING_LAUNCH);
        return;
    }
    if (r > 0) {
        if (cont == ACT_PARK) {
            snprintf(kept, sizeof(kept), ", kept %s",
                     warm_state_name(in->cf->warm.state));
        }
        a = plan_add(pl, in, cont, i, "hook", "%slaunch hook: continue%s%s",
                     warm, timed ? dflt : "", kept);
        a->hook = HOOK_LAUNCH;
        return;
    }
    plan_add(pl, in, ACT_DELETE, i, "hook", "%slaunch hook: abandon%s", warm,
             timed ? dflt : "");
    snprintf(why, sizeof(why), "%s%s abandoned by its launch hook%s", o->in.id,
             cont == ACT_PARK ? " (warm)" : "", timed ? " (timed out)" : "");
    plan_repair_failed(&pl->repair, in->cf, in->now, in->interval_ms, why);
}

/* the instances of view state from in the launch hook: BOOTING, new or
   woken ones (registered on continue), WARM, the warm pool's (parked) */
static void
launch(const plan_input_t *in, plan_t *pl, inst_state_t from)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    int                   i, warm = from == INST_WARM;

    if (!in->cf->hook_launch.on) {
        return;
    }
    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!plan_reachable(obs, i) || !plan_free(pl, i)
            || pl->view[i].state != from) {
            continue;
        }
        if (o->in.hook == HOOK_LAUNCH && (warm || o->ready == READY_YES)) {
            launch_result(in, pl, i, warm ? ACT_PARK : ACT_REGISTER);
        } else if (o->ready == READY_YES
                   && (warm ? !o->in.parked && o->in.power == POWER_RUNNING
                            : o->in.origin != ORIGIN_ADOPTED))
        {
            /* not an operator's domain (launched), not a parked one */
            plan_hook_enter(in, pl, i, HOOK_LAUNCH,
                            warm ? "warm, ready" : "ready");
        }
    }
}

void
plan_launch(const plan_input_t *in, plan_t *pl)
{
    launch(in, pl, INST_BOOTING);
}

void
plan_warm_launch(const plan_input_t *in, plan_t *pl)
{
    launch(in, pl, INST_WARM);
}
