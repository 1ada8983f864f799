/*
 * plan_requests.c: what was asked through the API.  An instance deleted
 * through DELETE /v1/pools/{pool}/instances/{id} is deregistered by the
 * loop at once; its domain goes here (once its zone answers), before
 * anything the scaler decides by itself.
 */

#include "plan.h"

void
plan_requests(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    int                   i;

    for (i = 0; i < obs->ninst; i++) {
        if (obs->inst[i].delete_asked && obs->inst[i].listed
            && plan_free(pl, i))
        {
            plan_add(pl, in, ACT_DELETE, i, "api", "deleted through the API");
        }
    }
}
