/*
 * plan_warm.c: the warm pool (warm_pool: size, state, reuse_on_scale_in;
 * docs/scaler.md, "Warm pool").  Warm instances are made like any other
 * (plan_create_warm, tagged warm), boot and pass their readiness check, then
 * are kept paused, saved or running (parked); they are never registered
 * and never counted in the capacity (their view is INST_WARM).
 *
 * plan_warm, before the drain step:
 *   - a warm instance whose model is not the latest goes (the refill
 *     makes one of the latest: an upgrade replaces the warm pool too);
 *     one not ready within health.grace of its creation goes (repair:
 *     a failure, counted as plan_repair.c counts a new instance's, so a
 *     template that never boots suspends the refill too);
 *   - with reuse_on_scale_in, a draining instance whose drain is over
 *     (no connection left, no gateway reporting it down), on the latest
 *     model and made for the capacity (not by hand), goes back to the warm pool
 * instead of being deleted, beyond its size if need be, as long as in service
 * and warm stay within capacity.max (AWS's warm pools keep up to the group's
 * maximum);
 *   - below the capacity, warm instances are taken first (woken: resumed
 *     or restored, checked again, registered): ready ones before those
 *     still booting, in the zone with the fewest in service, the fastest
 *     state first (running, paused, saved), lowest id, until the
 *     capacity's units are there (a flexible pool's weights);
 *   - above what it may hold (its size; with reuse_on_scale_in up to
 *     capacity.max in all), the warm pool is cut: those furthest from
 *     ready first, then the highest id;
 *   - with hooks.terminate, a drained one going back waits in the
 *     terminate hook first (AWS's Warmed:Pending:Wait on the way back runs
 *     the terminate hook), counted in the warm pool; either result parks
 *     it (plan_terminate);
 *   - with hooks.terminate, a warm instance replaced or cut waits in the
 *     terminate hook before its deletion (AWS's Warmed:Terminating:Wait;
 *     plan_terminate, plan_hooks.c, deletes it once completed or timed
 *     out): state pending_terminate, no longer counted in the warm pool,
 *     so the refill makes its replacement meanwhile;
 *   - the ready ones left are parked in warm_pool.state; with
 *     hooks.launch they wait in the launch hook first (plan_warm_launch,
 *     plan_hooks.c), and a woken one waits in it again before its
 *     registration (its ACT_WAKE says so).
 * Protection (plan_protected) holds here as for instances in service: one
 * protected from scale-set actions is not replaced, one protected from
 * scale-in (or more) not cut.
 * plan_warm_fill, after the capacity step: once the capacity has what it
 * asks, the warm pool is refilled to its size (new instances placed where
 * in service plus warm are fewest), unless creation backs off after
 * failures or the pool's repairs are suspended.
 * Warm instances of a host that does not answer are counted, not touched;
 * one of a host that failed over is not lost when it is back (it served
 * nobody: nothing would run twice), it is warm again.
 */

#include <stdio.h>
#include <string.h>

#include "plan.h"

/* a warm instance this step may act on */
static int
warm_free(const plan_input_t *in, const plan_t *pl, int i)
{
    return plan_reachable(in->obs, i) && plan_free(pl, i)
           && pl->view[i].state == INST_WARM;
}

/* ready to serve once woken: parked, or running and answering */
static int
warm_ready(const obs_instance_t *o)
{
    return o->in.power != POWER_RUNNING || o->ready == READY_YES;
}

/* how fast a warm instance serves once woken: 0 fastest */
static int
wake_rank(const obs_instance_t *o)
{
    switch (o->in.power) {
    case POWER_RUNNING:
        return o->ready == READY_YES ? 0 : 3;
    case POWER_PAUSED:
        return 1;
    default:
        return 2;
    }
}

/* a drained instance waiting in the terminate hook on its way back to
   the warm pool (entered now, or remembered: in.reuse) */
static int
bound(const plan_input_t *in, const plan_t *pl, int i)
{
    int k = pl->view[i].claimed;

    return pl->view[i].state == INST_PENDING_TERMINATE
           && (in->obs->inst[i].in.reuse
               || (k >= 0 && pl->act[k].kind == ACT_HOOK && pl->act[k].warm));
}

/* the warm pool as the view has it (with those on their way back to
   it), and the warm creations so far (of this plan and in flight); per
   zone (SCALER_MAX_ZONES) and per host (SCALER_MAX_HOSTS) added to
   zcount and hcount when given */
static int
warm_count(const plan_input_t *in, const plan_t *pl, int *zcount, int *hcount)
{
    int i, z, h, n = 0;

    for (i = 0; i < in->obs->ninst + pl->nact; i++) {
        if (i < in->obs->ninst) {
            if (pl->view[i].state != INST_WARM
                && !(pl->view[i].state == INST_PENDING_LAUNCH
                     && in->obs->inst[i].in.warm)
                && !bound(in, pl, i))
            {
                continue; /* one waiting in its launch hook is warm */
            }
            z = in->obs->inst[i].in.zone;
            h = in->obs->inst[i].in.host;
        } else {
            const action_t *a = &pl->act[i - in->obs->ninst];

            if (a->kind != ACT_CREATE || !a->warm) {
                continue;
            }
            z = a->zone;
            h = a->host;
        }
        n++;
        if (zcount && z >= 0 && z < SCALER_MAX_ZONES) {
            zcount[z]++;
        }
        if (hcount && h >= 0 && h < SCALER_MAX_HOSTS) {
            hcount[h]++;
        }
    }
    /* and the creations of earlier passes in flight, not listed yet */
    for (i = 0; i < in->obs->nbusy; i++) {
        const obs_busy_t *b = &in->obs->busy[i];

        if (!b->create || obs_instance(in->obs, b->id) != NULL) {
            continue;
        }
        n++;
        if (zcount && b->zone >= 0 && b->zone < SCALER_MAX_ZONES) {
            zcount[b->zone]++;
        }
        if (hcount && b->host >= 0 && b->host < SCALER_MAX_HOSTS) {
            hcount[b->host]++;
        }
    }
    return n;
}

/* no gateway reports it down (its readiness is checked again when it is
   woken) */
static int
healthy(const observation_t *obs, const obs_instance_t *o)
{
    int k;

    for (k = 0; k < o->in.nreports; k++) {
        if (obs->reports[o->in.report0 + k].state == SCALESET_HEALTH_DOWN) {
            return 0;
        }
    }
    return obs->reports_ok;
}

/* the most warm instances the pool keeps: its size; with
   reuse_on_scale_in, those scaled in too, up to capacity.max in all */
static int
warm_most(const plan_input_t *in)
{
    const pool_config_t *p = in->cf;
    int                  room = p->cap_max - in->capacity;

    return p->warm.reuse && room > p->warm.size ? room : p->warm.size;
}

/* a warm instance goes (rule, why): deleted, or with hooks.terminate it
   waits in it first (plan_terminate deletes it), out of the warm pool's
   count already (warm_count: the refill replaces it) */
static void
gone(const plan_input_t *in, plan_t *pl, int i, const char *rule,
     const char *why)
{
    if (in->cf->hook_terminate.on) {
        plan_hook_enter(in, pl, i, HOOK_TERMINATE, why);
    } else {
        plan_add(pl, in, ACT_DELETE, i, rule, "%s", why);
    }
}

/* outdated and never ready warm instances go */
static void
replace(const plan_input_t *in, plan_t *pl)
{
    const obs_instance_t *o;
    uint64_t              since, grace = in->cf->health_grace_ms;
    char                  why[200];
    int                   i;

    for (i = 0; i < in->obs->ninst; i++) {
        o = &in->obs->inst[i];
        if (!warm_free(in, pl, i) || plan_protected(in, i, PROTECT_ALL)) {
            continue;
        }
        since = o->in.model.created ? o->in.model.created : o->in.seen;
        if (!o->in.latest) {
            snprintf(why, sizeof(why),
                     "warm, model version %s is not the latest: replaced",
                     o->in.model.version);
            gone(in, pl, i, "warm", why);
        } else if (grace && o->in.power == POWER_RUNNING && o->ready == READY_NO
                   && in->now >= since && in->now - since >= grace
                   && !pl->repair.suspended)
        {
            snprintf(why, sizeof(why),
                     "warm, not ready (%s) within health.grace (%llu ms), to "
                     "be replaced",
                     o->why, (unsigned long long) grace);
            gone(in, pl, i, "repair", why);
            /* a failure as a new instance's (plan_repair.c): a template
               that never boots suspends the refill too */
            snprintf(why, sizeof(why),
                     "%s (warm) not ready within "
                     "health.grace (%s)",
                     o->in.id, o->why);
            plan_repair_failed(&pl->repair, in->cf, in->now, in->interval_ms,
                               why);
        }
    }
}

/* reuse_on_scale_in: drained instances back into the warm pool */
static void
reuse(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    action_t             *a;
    char                  why[80];
    int                   i, n;

    n = warm_count(in, pl, NULL, NULL);
    for (i = 0; i < obs->ninst && n < warm_most(in); i++) {
        o = &obs->inst[i];
        if (!plan_reachable(obs, i) || !plan_free(pl, i)
            || pl->view[i].state != INST_DRAINING || !o->in.latest
            || o->in.origin != ORIGIN_SCALED || !healthy(obs, o)
            || plan_drain_over(in, i) != DRAIN_EMPTY)
        {
            continue;
        }
        snprintf(why, sizeof(why),
                 "drained, back to the warm pool (reuse_on_scale_in, %d warm)",
                 n + 1);
        if (!in->cf->hook_terminate.on) {
            plan_add(pl, in, ACT_PARK, i, "warm", "%s", why);
        } else if ((a = plan_hook_enter(in, pl, i, HOOK_TERMINATE, why))
                   != NULL) {
            a->warm = 1; /* AWS: Warmed:Pending:Wait, the terminate hook */
        }
        n++;
    }
}

/* below the capacity: warm instances first */
static void
wake(const plan_input_t *in, plan_t *pl)
{
    const obs_instance_t *o, *b;
    action_t             *a;
    int                   count[SCALER_MAX_ZONES], units, i, best;

    units = plan_units(in, pl, count, NULL);
    while (units < in->capacity) {
        best = -1;
        for (i = 0; i < in->obs->ninst; i++) {
            o = &in->obs->inst[i];
            if (!warm_free(in, pl, i) || !o->in.latest) {
                continue;
            }
            if (best < 0) {
                best = i;
                continue;
            }
            b = &in->obs->inst[best];
            if (warm_ready(o) != warm_ready(b)) {
                best = warm_ready(o) ? i : best;
            } else if (count[o->in.zone] != count[b->in.zone]) {
                best = count[o->in.zone] < count[b->in.zone] ? i : best;
            } else if (wake_rank(o) < wake_rank(b)) {
                best = i; /* ids ascend: the lowest of a rank */
            }
        }
        if (best < 0) {
            break; /* the rest are created */
        }
        o = &in->obs->inst[best];
        a = plan_add(pl, in, ACT_WAKE, best, "scale_out",
                     "capacity %d, %d in "
                     "service; from the warm pool (%s)",
                     in->capacity, units,
                     warm_ready(o) ? virt_power_name(o->in.power) : "booting");
        /* with a launch hook it waits in it again once ready */
        a->hook = in->cf->hook_launch.on ? HOOK_LAUNCH : HOOK_NONE;
        count[o->in.zone]++;
        units += plan_weight(in, best);
    }
}

/* 1 when o is kept as the pool's warm_pool.state now */
static int
parked(const pool_config_t *p, const obs_instance_t *o)
{
    switch (p->warm.state) {
    case WARM_PAUSED:
        return o->in.power == POWER_PAUSED;
    case WARM_SAVED:
        return o->in.power == POWER_SAVED;
    default:
        return o->in.power == POWER_RUNNING;
    }
}

void
plan_bg_room(const plan_input_t *in, const plan_t *pl, int *room)
{
    const action_t *a;
    int             h, k;

    for (h = 0; h < SCALER_MAX_HOSTS; h++) {
        room[h] = HOST_BACKGROUND_MAX;
    }
    for (k = 0; k < in->obs->nbusy; k++) {
        h = in->obs->busy[k].host;
        if (h >= 0 && h < SCALER_MAX_HOSTS) {
            room[h]--;
        }
    }
    for (k = 0; k < pl->nact; k++) {
        a = &pl->act[k];
        if ((a->kind == ACT_PARK || (a->kind == ACT_CREATE && a->warm))
            && a->host >= 0 && a->host < SCALER_MAX_HOSTS)
        {
            room[a->host]--;
        }
    }
}

/* the ready ones left: kept as warm_pool.state, as their hosts have room
   for the background call (the others by a later pass) */
static void
park(const plan_input_t *in, plan_t *pl)
{
    const obs_instance_t *o;
    int                   i, room[SCALER_MAX_HOSTS];

    plan_bg_room(in, pl, room);
    for (i = 0; i < in->obs->ninst; i++) {
        o = &in->obs->inst[i];
        if (warm_free(in, pl, i) && warm_ready(o) && !parked(in->cf, o)
            && o->in.host >= 0 && o->in.host < SCALER_MAX_HOSTS
            && room[o->in.host]-- > 0)
        {
            plan_add(pl, in, ACT_PARK, i, "warm", "%s, kept %s",
                     o->in.power == POWER_RUNNING
                         ? "ready"
                         : virt_power_name(o->in.power),
                     warm_state_name(in->cf->warm.state));
        }
    }
}

/* how far a warm instance is from serving, for the cut: larger first */
static int
cut_rank(const obs_instance_t *o)
{
    return warm_ready(o) ? wake_rank(o) : 4;
}

/* above what it may hold (a reload made it smaller, size 0, a scale-out
   into reused ones): the rest go */
static void
cut(const plan_input_t *in, plan_t *pl)
{
    const obs_instance_t *o, *b;
    char                  why[80];
    int                   n, i, best, most = warm_most(in);

    for (n = warm_count(in, pl, NULL, NULL); n > most; n--) {
        best = -1;
        for (i = 0; i < in->obs->ninst; i++) {
            o = &in->obs->inst[i];
            if (!warm_free(in, pl, i)
                || plan_protected(in, i, PROTECT_SCALE_IN)) {
                continue;
            }
            b = best >= 0 ? &in->obs->inst[best] : NULL;
            if (b == NULL || cut_rank(o) >= cut_rank(b)) {
                best = i; /* ids ascend: the highest of a rank */
            }
        }
        if (best < 0) {
            break;
        }
        snprintf(why, sizeof(why), "warm pool above what it keeps (%d of %d)",
                 n, most);
        gone(in, pl, best, "warm", why);
    }
}

void
plan_warm(const plan_input_t *in, plan_t *pl)
{
    int i;

    for (i = 0; i < in->obs->ninst; i++) {
        if (pl->view[i].state == INST_WARM && plan_reachable(in->obs, i)) {
            pl->view[i].lost = 0; /* back from a failover: warm again */
        }
    }
    replace(in, pl);
    plan_warm_launch(in, pl); /* plan_hooks.c */
    if (in->cf->warm.reuse) {
        reuse(in, pl);
    }
    wake(in, pl);
    cut(in, pl);
    park(in, pl);
}

void
plan_warm_fill(const plan_input_t *in, plan_t *pl)
{
    int  zcount[SCALER_MAX_ZONES], hcount[SCALER_MAX_HOSTS], n;
    char reason[64];

    n = warm_count(in, pl, NULL, NULL);
    if (n >= in->cf->warm.size
        || plan_units(in, pl, zcount, hcount) < in->capacity
        || pl->repair.retry > in->now || pl->repair.suspended)
    {
        return; /* full, the capacity first, or
                   creation backs off (repairs
                   suspended: plan_repair.c) */
    }
    warm_count(in, pl, zcount, hcount);
    snprintf(reason, sizeof(reason), "warm pool %d of %d", n,
             in->cf->warm.size);
    plan_create_warm(in, pl, in->cf->warm.size - n, zcount, hcount, reason);
}
