/*
 * plan_zones.c: capacity across zones when one goes away and comes back
 * (AWS Auto Scaling's relaunch in healthy zones and AZRebalance, which
 * launches before it terminates).
 *
 * Failover.  A host unreachable longer than zone_failover has its
 * instances counted as lost (plan_begin marks them in the view; act
 * keeps the mark in the instance): they are neither active nor deleted
 * (nothing can be done there), so the capacity step rebuilds their
 * capacity on the hosts that answer.  When the host answers again, its
 * lost instances are back from before the failure: as long as the pool
 * stands at its capacity without them, each is drained (registered) or
 * deleted (not), so nothing runs twice; one the capacity still needs
 * (it could not all be rebuilt), or one protected from scale-in, counts
 * again instead (the capacity step then scales in another).
 *
 * Rebalance.  When the zones that can take instances are more than one
 * apart and nothing is on its way in or out (no instance booting,
 * draining or being deleted, the pool at its capacity), one move starts:
 * a new instance where the capacity step would put one (the zone with
 * the fewest), kept above the capacity (surge) while it boots; once it
 * runs the pool is one above its capacity and the capacity step drains
 * one from the largest zone (scale-in balances zones first).  Then the
 * next move, one at a time.  Not while an upgrade runs (it replaces
 * instances zone by zone, its surge unbalancing them on purpose).
 */

#include <stdio.h>
#include <string.h>

#include "plan.h"

void
plan_failover(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    const pool_config_t  *p = in->cf;
    int                   i, active;

    active = plan_units(in, pl, NULL, NULL);
    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!pl->view[i].lost || !plan_reachable(obs, i) || !plan_free(pl, i)
            || (pl->view[i].state != INST_BOOTING
                && pl->view[i].state != INST_RUNNING))
        {
            continue; /* still away, or already on its way out */
        }
        if (o->in.origin != ORIGIN_SCALED) {
            pl->view[i].lost = 0; /* by hand: outside the capacity */
            continue;
        }
        if (active < in->capacity + pl->surge
            || plan_protected(in, i, PROTECT_SCALE_IN))
        {
            /* still needed, or protected from scale-in (then the
               capacity step takes another): it counts again */
            pl->view[i].lost = 0;
            active += o->in.tmpl >= 0 && o->in.tmpl < p->ntemplates
                          ? p->templates[o->in.tmpl].weight
                          : 1;
            continue;
        }
        plan_add(pl, in,
                 pl->view[i].state == INST_RUNNING ? ACT_DRAIN : ACT_DELETE, i,
                 "failover",
                 "back from zone %s host %s "
                 "after its failover: its capacity was rebuilt (%d in "
                 "service)",
                 p->zones[o->in.zone].name, p->hosts[o->in.host].name, active);
    }
}

void
plan_rebalance(const plan_input_t *in, plan_t *pl)
{
    const observation_t *obs = in->obs;
    const pool_config_t *p = in->cf;
    int                  count[SCALER_MAX_ZONES], hcount[SCALER_MAX_HOSTS];
    int                  i, z, t, lo = -1, hi = -1, active, booting = 0;
    int                  going = 0, held = -1;
    char                 why[160];

    if (pl->creates > 0 || upgrade_running(pl->upgrade.state)) {
        return; /* an earlier step adds one already, or an
                   upgrade moves instances (its zones one
                   at a time) */
    }
    active = plan_units(in, pl, count, hcount);
    for (i = 0; i < obs->ninst; i++) {
        switch (pl->view[i].state) {
        case INST_BOOTING:
            if (!pl->view[i].lost && obs->inst[i].in.origin == ORIGIN_SCALED) {
                booting++;
                held = i;
            }
            break;
        case INST_DRAINING:
        case INST_DELETING:
            going += plan_reachable(obs, i); /* away: not on its way */
            break;
        default:
            break;
        }
    }
    /* the zones that can take an instance: the smallest, the largest */
    for (z = 0; z < p->nzones; z++) {
        if (plan_place_host(in, z, hcount) < 0) {
            continue;
        }
        if (lo < 0 || count[z] < count[lo]) {
            lo = z;
        }
        if (hi < 0 || count[z] > count[hi]) {
            hi = z;
        }
    }
    if (lo < 0 || going > 0 || count[hi] - count[lo] < 2) {
        return;
    }
    if (active == in->capacity + pl->surge && booting == 0) {
        snprintf(why, sizeof(why),
                 "zones %s %d, %s %d: a new one in %s "
                 "first, then one of %s goes",
                 p->zones[lo].name, count[lo], p->zones[hi].name, count[hi],
                 p->zones[lo].name, p->zones[hi].name);
        if (plan_scale_out(in, pl, 1, -1, "rebalance", why) == 1) {
            t = pl->act[pl->nact - 1].tmpl;
            pl->surge += p->templates[t].weight;
        }
        return;
    }
    /* a move under way: its new instance boots in a zone still short;
       it is kept above the capacity until it runs */
    if (booting == 1) {
        t = obs->inst[held].in.tmpl;
        t = t >= 0 && t < p->ntemplates ? p->templates[t].weight : 1;
        if (active == in->capacity + pl->surge + t
            && count[obs->inst[held].in.zone] - 1 <= count[hi] - 2)
        {
            pl->surge += t;
        }
    }
}
