/*
 * plan_requests.c: what was asked through the API (reconcile_ask), before
 * anything the scaler decides by itself.  DELETE
 * /v1/pools/{pool}/instances/{id}: a registered instance drains (then
 * goes as every drain does: plan_drain.c), an unregistered one is
 * deleted at once; with ?force=true it is deleted at once, drained or
 * not; one on standby (drained already) is stopped at once.  POST
 * .../restart and .../reimage: restarted or reimaged (an operator's
 * repair: not held by protection, nor by the repair budget).  POST
 * .../standby: drained and kept running, out of the capacity (which
 * replaces it); .../active: registered again.
 * An instance of a zone that does not answer waits for it.
 */

#include "plan.h"

/* standby: in service -> drained and kept; active: back in service */
static void
standby(const plan_input_t *in, plan_t *pl, int i)
{
    const obs_instance_t *o = &in->obs->inst[i];
    inst_state_t          st = pl->view[i].state;

    if ((o->in.asked & ASK_STANDBY)
        && (st == INST_RUNNING || st == INST_BOOTING || st == INST_REPAIRING))
    {
        plan_add(pl, in, ACT_STANDBY, i, "api", "standby through the API%s",
                 (o->in.asked & ASK_DECREMENT) ? "; the capacity lowered"
                                               : "; replaced");
    } else if ((o->in.asked & ASK_ACTIVE) && st == INST_STANDBY) {
        plan_add(pl, in, ACT_REGISTER, i, "api",
                 "active through the API: "
                 "back in service");
    }
}

void
plan_requests(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    int                   i;

    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!(o->in.asked
              & (ASK_DELETE | ASK_RESTART | ASK_REIMAGE | ASK_STANDBY
                 | ASK_ACTIVE))
            || !plan_reachable(obs, i) || !plan_free(pl, i))
        {
            continue; /* a hook's result: plan_hooks.c */
        }
        if (!(o->in.asked & ASK_DELETE)
            && (o->in.asked & (ASK_STANDBY | ASK_ACTIVE))) {
            standby(in, pl, i);
            continue;
        }
        if (!(o->in.asked & ASK_DELETE)
            && (o->in.asked & (ASK_RESTART | ASK_REIMAGE))) {
            if (pl->view[i].state == INST_BOOTING
                || pl->view[i].state == INST_RUNNING
                || pl->view[i].state == INST_REPAIRING)
            {
                plan_add(
                    pl, in,
                    (o->in.asked & ASK_REIMAGE) ? ACT_REIMAGE : ACT_RESTART, i,
                    "api", "%s through the API",
                    (o->in.asked & ASK_REIMAGE) ? "reimaged" : "restarted");
            }
            continue;
        }
        if (o->in.asked & ASK_FORCE) {
            plan_add(pl, in, ACT_DELETE, i, "api",
                     "deleted through the "
                     "API (force: no drain)");
        } else if (pl->view[i].state == INST_RUNNING) {
            plan_add(pl, in, ACT_DRAIN, i, "api",
                     "deleted through the "
                     "API");
        } else if (pl->view[i].state == INST_BOOTING) {
            plan_add(pl, in, ACT_DELETE, i, "api",
                     "deleted through the "
                     "API; before registration");
        } else if (pl->view[i].state == INST_STANDBY) {
            plan_add(pl, in,
                     in->cf->shutdown_timeout_ms ? ACT_STOP : ACT_DELETE, i,
                     "api",
                     "deleted through the API; on standby, "
                     "drained");
        }
        /* draining, stopping: on its way already */
    }
}
