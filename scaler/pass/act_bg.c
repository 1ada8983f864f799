/*
 * act_bg.c: the warm pool's slow libvirt calls in the background (plan.h;
 * docs/scaler.md, "Warm pool").  A warm creation (define, overlay, seed,
 * start) and a park (virDomainSuspend, virDomainManagedSave: seconds on
 * a real guest) serve nobody now, so the pass that plans them submits
 * them to their host's workers (host.c, in no batch) and ends without
 * waiting: a scale-out that comes meanwhile has its pass at once, and
 * its wakes do not wait behind them.  The calls are followed in the
 * pool's state (pool_state_t.bg, the pass thread's alone):
 *   - each pass collects first those that ended (act_bg_collect): the
 *     outcome is logged, counted and carried out as the pass that made
 *     them would have ("created ...", "parked ...", "KIND failed: ...",
 *     the lifecycle event, errors_total, a drained one's member removed,
 *     a failed creation one of the pool's repair failures); one past
 *     libvirt.timeout is given up as a waited one is (host.c: its host
 *     stalled, "the next listing tells");
 *   - observe copies those still in flight into the observation
 *     (act_bg_busy): the planner takes their instances as busy
 *     (plan_begin: warm, counted in the warm pool, no step acts on
 *     them), a creation's id, number and address stay taken even before
 *     its domain is listed;
 *   - a host runs at most HOST_BACKGROUND_MAX of them at once, beside
 *     the pass's own calls (host.c has workers for both): a call beyond
 *     that is not submitted, a later pass plans it again.
 * A call is one idempotent step as before: a crash while it runs leaves
 * what the next listing finds (a creation undoes its own half, virt.c).
 * The lease fences it as any call: virt.c refuses a call once the lease
 * is not held.  A reload moves the calls to the new state (act_bg_move:
 * the same pool, the same host), the old hosts' queued ones cancelled
 * (planned again); the pool's state freed (a stop, a pool removed) lets
 * them run to their end unobserved: nothing waits for them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

struct act_bg_s {
    virt_call_t *v;
    action_t     a;      /* a copy: the pass's plan is gone */
    inst_state_t before; /* its instance's state when submitted */
};

int
act_bg_submit(pool_state_t *ps, const action_t *a, inst_state_t before,
              virt_call_t *v)
{
    struct act_bg_s *b;
    int              k, n = 0;

    for (k = 0; k < ps->nbg; k++) {
        n += ps->bg[k].a.host == a->host;
    }
    if (a->host < 0 || n >= HOST_BACKGROUND_MAX) {
        return -1;
    }
    if (ps->nbg == ps->cbg) {
        ps->cbg = ps->cbg ? 2 * ps->cbg : 8;
        ps->bg = xrealloc(ps->bg, ps->cbg * sizeof(*ps->bg));
    }
    b = &ps->bg[ps->nbg++];
    b->v = v;
    b->a = *a;
    b->before = before;
    v->a = NULL; /* the pass's plan ends first: b->a is the copy */
    host_submit(NULL, ps->hosts[a->host], &v->c);
    return 0;
}

/* the instance of id as the last pass left it, or NULL */
static instance_t *
known(pool_state_t *ps, const char *id)
{
    int i;

    for (i = 0; i < ps->ninst; i++) {
        if (strcmp(ps->inst[i].id, id) == 0) {
            return &ps->inst[i];
        }
    }
    return NULL;
}

/* a park done: logged, the instance warm, a drained one's member removed
   (a failure leaves it registered and warm: parked again) */
static void
parked(registry_t *reg, pool_state_t *ps, const struct act_bg_s *b)
{
    const pool_config_t *p = ps->cf;
    const action_t      *a = &b->a;
    instance_t          *in;
    const char          *ev;

    slog(p->name, a->id, "parked %s (%s) rule=%s",
         warm_state_name(p->warm.state), a->reason, a->rule);
    if ((ev = act_event(a, b->before, INST_WARM)) != NULL) {
        events_emit(reg, p, a->id, ev, "warm", a->rule, a->reason);
    }
    if ((in = known(ps, a->id)) != NULL) {
        in->warm = 1;
        in->parked = 1; /* past its launch hook (its tag says so) */
        in->state = INST_WARM;
        in->power = p->warm.state == WARM_PAUSED  ? POWER_PAUSED
                    : p->warm.state == WARM_SAVED ? POWER_SAVED
                                                  : POWER_RUNNING;
    }
    if (a->member >= 0 && registry_del(reg, p->name, a->id) != 0) {
        act_write_failed(ps, a, reg);
    }
}

/* one call that ended: its outcome */
static void
ended(registry_t *reg, pool_state_t *ps, struct act_bg_s *b, repair_state_t *rs)
{
    const action_t *a = &b->a;
    virt_call_t    *v = b->v;
    char            why[160];
    int             ok = v->c.outcome == HOST_DONE && v->rc == 0;

    if (!ok && v->c.outcome == HOST_CANCELLED) {
        /* its host was released (a reload) before it ran */
        slog(ps->cf->name, a->id,
             "%s not carried out (a reload): planned "
             "again (%s) rule=%s",
             act_kind_name(a->kind), a->reason, a->rule);
    } else if (!ok && !ha_acting()) {
        act_failed(ps, a, ERR_FENCED, "this scaler does not hold the lease");
    } else if (a->kind == ACT_CREATE && ok) {
        act_created(reg, ps, a, v, clock_unix_ms(), 1, 1);
    } else if (a->kind == ACT_CREATE) {
        act_create_failed(reg, ps, a, act_why(ps, v, why, sizeof(why)), rs,
                          clock_unix_ms());
    } else if (ok) {
        parked(reg, ps, b);
    } else {
        act_failed(ps, a, ERR_LIBVIRT, act_why(ps, v, why, sizeof(why)));
    }
}

void
act_bg_collect(registry_t *reg, pool_state_t *ps)
{
    repair_state_t rs = ps->repair, was = ps->repair;
    int            k, n;

    for (k = 0, n = 0; k < ps->nbg; k++) {
        if (!host_call_poll(&ps->bg[k].v->c)) {
            ps->bg[n++] = ps->bg[k]; /* still running */
            continue;
        }
        ended(reg, ps, &ps->bg[k], &rs);
        host_call_release(&ps->bg[k].v->c);
    }
    ps->nbg = n;
    if (!repair_equal(&rs, &was)) {
        act_keep_repair_state(reg, ps, &was, clock_unix_ms(), &rs);
    }
}

obs_busy_t *
act_bg_busy(const pool_state_t *ps, int *n)
{
    obs_busy_t *busy;
    int         k;

    *n = ps->nbg;
    if (ps->nbg == 0) {
        return NULL;
    }
    busy = xcalloc(ps->nbg, sizeof(*busy));
    for (k = 0; k < ps->nbg; k++) {
        const action_t *a = &ps->bg[k].a;

        busy[k].create = a->kind == ACT_CREATE;
        snprintf(busy[k].id, sizeof(busy[k].id), "%s", a->id);
        busy[k].zone = a->zone;
        busy[k].host = a->host;
        busy[k].seq = a->seq;
        snprintf(busy[k].address, sizeof(busy[k].address), "%s", a->address);
    }
    return busy;
}

void
act_bg_move(pool_state_t *ps, pool_state_t *old, const int *map)
{
    struct act_bg_s *b;
    int              k, h;

    for (k = 0; k < old->nbg; k++) {
        b = &old->bg[k];
        h = b->a.host;
        if (h < 0 || h >= old->cf->nhosts || map[h] < 0) {
            host_call_release(&b->v->c); /* its host is gone */
            continue;
        }
        b->a.host = map[h];
        b->a.zone = ps->cf->hosts[map[h]].zone;
        b->a.tmpl =
            b->a.tmpl >= 0 && b->a.tmpl < old->cf->ntemplates
                ? config_template(ps->cf, old->cf->templates[b->a.tmpl].name)
                : -1;
        if (ps->nbg == ps->cbg) {
            ps->cbg = ps->cbg ? 2 * ps->cbg : 8;
            ps->bg = xrealloc(ps->bg, ps->cbg * sizeof(*ps->bg));
        }
        ps->bg[ps->nbg++] = *b;
    }
    old->nbg = 0;
}

void
act_bg_release(pool_state_t *ps)
{
    int k;

    for (k = 0; k < ps->nbg; k++) {
        host_call_release(&ps->bg[k].v->c);
    }
    free(ps->bg);
    ps->bg = NULL;
    ps->nbg = ps->cbg = 0;
}
