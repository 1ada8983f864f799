/*
 * plan_requests.c: what was asked through the API (reconcile_ask), before
 * anything the scaler decides by itself.  DELETE
 * /v1/pools/{pool}/instances/{id}: a registered instance drains (then
 * goes as every drain does: plan_drain.c), an unregistered one is
 * deleted at once; with ?force=true it is deleted at once, drained or
 * not.  POST .../restart and .../reimage: restarted or reimaged (an
 * operator's repair: not held by protection, nor by the repair budget).
 * An instance of a zone that does not answer waits for it.
 */

#include "plan.h"

void
plan_requests(const plan_input_t *in, plan_t *pl)
{
    const observation_t   *obs = in->obs;
    const obs_instance_t  *o;
    int                    i;

    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!o->in.asked || !o->listed || !obs->zone_up[o->in.zone]
            || !plan_free(pl, i))
        {
            continue;
        }
        if (!(o->in.asked & ASK_DELETE)) {
            if (pl->view[i].state == INST_BOOTING
                || pl->view[i].state == INST_RUNNING
                || pl->view[i].state == INST_REPAIRING)
            {
                plan_add(pl, in, (o->in.asked & ASK_REIMAGE) ? ACT_REIMAGE
                                                             : ACT_RESTART,
                         i, "api", "%s through the API",
                         (o->in.asked & ASK_REIMAGE) ? "reimaged"
                                                     : "restarted");
            }
            continue;
        }
        if (o->in.asked & ASK_FORCE) {
            plan_add(pl, in, ACT_DELETE, i, "api", "deleted through the "
                     "API (force: no drain)");
        } else if (pl->view[i].state == INST_RUNNING) {
            plan_add(pl, in, ACT_DRAIN, i, "api", "deleted through the "
                     "API");
        } else if (pl->view[i].state == INST_BOOTING) {
            plan_add(pl, in, ACT_DELETE, i, "api", "deleted through the "
                     "API; before registration");
        }
        /* draining, stopping: on its way already */
    }
}
