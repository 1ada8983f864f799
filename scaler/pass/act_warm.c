/*
 * act_warm.c: the warm pool's actions (plan.h; decided by plan_warm.c).
 *
 * Wake: what a scale-out waits for, so act runs the wakes first, all of
 * a pass's together, on their hosts' workers (act_virt): each warm
 * instance is resumed (paused) or restored from its managed save (saved)
 * and its tag loses warm (virt_wake); then the readiness of those that
 * were ready when parked is checked, all at once (ready_pool_check), every
 * WAKE_POLL_MS, and each is registered the moment it passes.  One whose
 * wake fails, or that does not pass within warm_pool.wake_timeout, is
 * deleted (counted as a wake error); the next pass replaces it.  A pass
 * stopped meanwhile (a reload) leaves those not ready yet awake and
 * unregistered: the next pass registers them once ready.  A warm
 * instance taken while still booting only loses its tag: it is
 * registered once ready, as any booting instance.  With hooks.launch (the
 * ACT_WAKE says HOOK_LAUNCH), one that passes waits in the launch hook
 * instead of being registered (pending_launch; plan_launch registers it
 * on continue); the wake stays as fast without.
 * Park: in the background (act_bg.c: virt_park, tagged warm, kept as
 * warm_pool.state; a drained one then leaves the member hash).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan.h"

#define WAKE_POLL_MS 10 /* between two rounds of readiness checks */

typedef struct {
    const action_t *a;
    int             check; /* its readiness to be checked now */
    int             failed;
    uint64_t        woken; /* clock_mono_ms() once woken */
    char            why[256];
} wake_t;

/* w's instance registered; 0, or -1 (logged) */
static int
wake_register(registry_t *reg, pool_state_t *ps, observation_t *obs, wake_t *w,
              inst_state_t *st)
{
    const pool_config_t *p = ps->cf;
    const action_t      *a = w->a;
    char                 rec[SCALESET_RECORD_MAX], err[256];

    if (member_record(p, &obs->inst[a->inst].in, 0, rec, sizeof(rec), err,
                      sizeof(err))
        != 0)
    {
        act_failed(ps, a, ERR_REDIS_DATA, err);
        return -1;
    }
    if (registry_set(reg, p->name, a->id, rec) != 0) {
        act_write_failed(ps, a, reg);
        return -1;
    }
    st[a->inst] = INST_RUNNING;
    ps->wakes++;
    events_emit(reg, p, a->id, "registered", "running", a->rule,
                "ready again after its wake");
    slog(p->name, a->id,
         "registered %s (ready %llu ms after its wake) "
         "rule=%s",
         rec, (unsigned long long) (clock_mono_ms() - w->woken), a->rule);
    return 0;
}

/* w's instance, ready again, waits in the launch hook (its ACT_WAKE says
   so): not registered; act.c's keep_hook starts its wait */
static void
wake_hook(registry_t *reg, pool_state_t *ps, wake_t *w, inst_state_t *st)
{
    const action_t *a = w->a;

    st[a->inst] = INST_PENDING_LAUNCH;
    ps->wakes++;
    events_emit(reg, ps->cf, a->id, "pending_launch", "pending_launch", a->rule,
                "ready again after its wake; waiting for the launch "
                "hook");
    slog(ps->cf->name, a->id,
         "pending_launch (ready %llu ms after its wake; waiting for the "
         "launch hook) rule=%s",
         (unsigned long long) (clock_mono_ms() - w->woken), a->rule);
}

/* those of w[] whose check is still due, checked together */
static void
wake_check(registry_t *reg, pool_state_t *ps, observation_t *obs, wake_t *w,
           int n, ready_probe_t *pr, int *of, int *pending, inst_state_t *st)
{
    int i, k;

    for (i = 0, k = 0; i < n; i++) {
        if (w[i].check) {
            memset(&pr[k], 0, sizeof(pr[k]));
            pr[k].address = obs->inst[w[i].a->inst].in.address;
            of[k++] = i;
        }
    }
    ready_pool_check(ps->cf, pr, k);
    for (i = 0; i < k; i++) {
        snprintf(w[of[i]].why, sizeof(w[of[i]].why), "%s", pr[i].why);
        if (pr[i].ok) {
            w[of[i]].check = 0;
            (*pending)--;
            if (w[of[i]].a->hook == HOOK_LAUNCH) {
                wake_hook(reg, ps, &w[of[i]], st);
            } else {
                (void) wake_register(reg, ps, obs, &w[of[i]], st);
            }
        }
    }
}

/* the failed wakes' instances deleted, on their hosts at once */
static void
wake_delete(registry_t *reg, pool_state_t *ps, wake_t *w, int n,
            inst_state_t *st)
{
    const action_t **acts;
    act_virt_t      *res;
    int              i, k = 0;

    acts = xcalloc(n + 1, sizeof(*acts));
    res = xcalloc(n + 1, sizeof(*res));
    for (i = 0; i < n; i++) {
        if (w[i].failed) {
            act_failed(ps, w[i].a, ERR_WAKE, w[i].why);
            acts[k++] = w[i].a;
        }
    }
    if (k > 0) {
        act_virt(ps, acts, k, ACT_DELETE, res);
    }
    for (i = 0; i < k; i++) {
        if (!res[i].ok) {
            act_failed(ps, acts[i], ERR_DELETE, res[i].err);
            continue;
        }
        st[acts[i]->inst] = INST_DELETING;
        slog(ps->cf->name, acts[i]->id,
             "deleted (its wake failed, to be "
             "replaced) rule=warm");
        events_emit(reg, ps->cf, acts[i]->id, "deleted", "gone", "warm",
                    "its wake failed, to be replaced");
    }
    free(acts);
    free(res);
}

void
act_wake_all(registry_t *reg, pool_state_t *ps, observation_t *obs,
             const plan_t *pl, inst_state_t *st)
{
    const pool_config_t *p = ps->cf;
    struct timespec      pause = { 0, WAKE_POLL_MS * 1000000L };
    const action_t     **acts;
    act_virt_t          *res;
    obs_instance_t      *o;
    ready_probe_t       *pr;
    wake_t              *w;
    uint64_t             deadline, now;
    int                  i, *of, n = 0, pending = 0, cancelled = 0;

    for (i = 0; i < pl->nact; i++) {
        n += pl->act[i].kind == ACT_WAKE;
    }
    if (n == 0) {
        return;
    }
    w = xcalloc(n, sizeof(*w));
    acts = xcalloc(n, sizeof(*acts));
    res = xcalloc(n, sizeof(*res));
    pr = xcalloc(n, sizeof(*pr));
    of = xcalloc(n, sizeof(*of));
    for (i = 0, n = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_WAKE) {
            acts[n++] = &pl->act[i];
        }
    }
    act_virt(ps, acts, n, ACT_WAKE, res);
    now = clock_mono_ms();
    for (i = 0; i < n; i++) {
        o = &obs->inst[acts[i]->inst];
        w[i].a = acts[i];
        w[i].woken = now;
        if (!res[i].ok) {
            w[i].failed = 1;
            snprintf(w[i].why, sizeof(w[i].why), "%s", res[i].err);
            continue;
        }
        /* parked ones passed their check before; one still booting is
           registered by a later pass, when ready */
        w[i].check = o->in.power != POWER_RUNNING || o->ready == READY_YES;
        o->in.warm = 0;
        o->in.power = POWER_RUNNING;
        st[acts[i]->inst] = INST_BOOTING;
        ps->actions_up++;
        ps->wakes += !w[i].check; /* the others once registered */
        slog(p->name, acts[i]->id, "woken from %s (%s) rule=%s",
             w[i].check ? virt_power_name(res[i].was) : "booting",
             acts[i]->reason, acts[i]->rule);
        events_emit(reg, p, acts[i]->id, "woken", "booting", acts[i]->rule,
                    acts[i]->reason);
        pending += w[i].check;
    }
    deadline = now + p->warm.wake_timeout_ms;
    while (pending > 0) {
        wake_check(reg, ps, obs, w, n, pr, of, &pending, st);
        if (pending == 0 || clock_mono_ms() >= deadline) {
            break;
        }
        if (ps->cancel && __atomic_load_n(ps->cancel, __ATOMIC_ACQUIRE)) {
            /* the pass is stopped (a reload, the end): those not ready
               yet are awake and unregistered, booting for the next
               pass, which registers them once ready */
            cancelled = 1;
            break;
        }
        nanosleep(&pause, NULL);
    }
    for (i = 0; i < n && !cancelled; i++) {
        if (w[i].check) {
            char last[64];

            snprintf(last, sizeof(last), "%s", w[i].why);
            w[i].failed = 1;
            snprintf(w[i].why, sizeof(w[i].why),
                     "not ready (%s) within "
                     "warm_pool.wake_timeout (%llu ms)",
                     last[0] ? last : "no answer",
                     (unsigned long long) p->warm.wake_timeout_ms);
        }
    }
    wake_delete(reg, ps, w, n, st);
    free(w);
    free(acts);
    free(res);
    free(pr);
    free(of);
}
