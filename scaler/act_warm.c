/*
 * act_warm.c: the warm pool's actions (plan.h; decided by plan_warm.c).
 *
 * Wake: what a scale-out waits for, so act runs the wakes first, all of
 * a pass's together: each warm instance is resumed (paused) or restored
 * from its managed save (saved) and its tag loses warm (virt_wake); then
 * the readiness of those that were ready when parked is polled, all at
 * once (ready_pool_all), and each is registered the moment it passes.  One whose wake
 * fails, or that does not pass within warm_pool.wake_timeout, is deleted
 * (counted as a wake error); the next pass replaces it.  A warm instance
 * taken while still booting only loses its tag: it is registered once
 * ready, as any booting instance.
 * Park: a drained instance (reuse_on_scale_in) leaves the member hash
 * first; then tagged warm and kept as warm_pool.state (virt_park).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan.h"

#define WAKE_POLL_MS  10        /* between two rounds of readiness checks */

typedef struct {
    const action_t  *a;
    int              check;     /* its readiness to be checked now */
    virt_power_t     was;
    uint64_t         woken;     /* clock_mono_ms() once woken */
    char             why[64];
} wake_t;

/* the connection of the instance's zone */
static virt_conn_t *
conn_of(pool_state_t *ps, const action_t *a)
{
    return ps->conns[a->zone];
}

/* a wake that failed: the instance is deleted, the next pass replaces it */
static void
wake_failed(pool_state_t *ps, const action_t *a, const char *err,
    inst_state_t *st)
{
    act_failed(ps, a, ERR_WAKE, err);
    if (virt_delete(conn_of(ps, a), ps->cf->name, a->id) != 0) {
        act_failed(ps, a, ERR_DELETE, "libvirt could not remove the domain");
        return;
    }
    st[a->inst] = INST_DELETING;
    slog(ps->cf->name, a->id, "deleted (its wake failed, to be replaced) "
         "rule=warm");
}

/* w's instance registered; 0, or -1 (logged) */
static int
wake_register(registry_t *reg, pool_state_t *ps, observation_t *obs,
    wake_t *w, inst_state_t *st)
{
    const pool_config_t  *p = ps->cf;
    const action_t       *a = w->a;
    char                  rec[SCALESET_RECORD_MAX], err[256];

    if (member_record(p, &obs->inst[a->inst].in, 0, rec, sizeof(rec), err,
                      sizeof(err)) != 0)
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
    slog(p->name, a->id, "registered %s (ready %llu ms after its wake) "
         "rule=%s", rec,
         (unsigned long long) (clock_mono_ms() - w->woken), a->rule);
    return 0;
}

void
act_wake_all(registry_t *reg, pool_state_t *ps, observation_t *obs,
    const plan_t *pl, inst_state_t *st)
{
    const pool_config_t  *p = ps->cf;
    struct timespec       pause = { 0, WAKE_POLL_MS * 1000000L };
    obs_instance_t       *o;
    wake_t               *w;
    ready_job_t          *jobs;
    uint64_t              deadline;
    char                  err[256];
    int                   i, k, *of, n = 0, pending = 0;

    for (i = 0; i < pl->nact; i++) {
        n += pl->act[i].kind == ACT_WAKE;
    }
    if (n == 0) {
        return;
    }
    w = calloc(n, sizeof(*w));
    jobs = calloc(n, sizeof(*jobs));
    of = calloc(n, sizeof(*of));
    if (w == NULL || jobs == NULL || of == NULL) {
        slog(p->name, NULL, "out of memory: no wake this pass");
        goto done;
    }
    for (i = 0, n = 0; i < pl->nact; i++) {
        const action_t *a = &pl->act[i];

        if (a->kind != ACT_WAKE) {
            continue;
        }
        o = &obs->inst[a->inst];
        w[n].a = a;
        /* parked ones passed their check before; one still booting is
           registered by a later pass, when ready */
        w[n].check = o->in.power != POWER_RUNNING || o->ready == READY_YES;
        if (virt_wake(conn_of(ps, a), p->name, a->id, &w[n].was, err,
                      sizeof(err)) != 0)
        {
            wake_failed(ps, a, err, st);
            continue;
        }
        w[n].woken = clock_mono_ms();
        o->in.warm = 0;
        o->in.power = POWER_RUNNING;
        st[a->inst] = INST_BOOTING;
        ps->actions_up++;
        ps->wakes += !w[n].check;   /* the others once registered */
        slog(p->name, a->id, "woken from %s (%s) rule=%s",
             w[n].check ? virt_power_name(w[n].was) : "booting", a->reason,
             a->rule);
        pending += w[n].check;
        n++;
    }
    deadline = clock_mono_ms() + p->warm.wake_timeout_ms;
    while (pending > 0) {
        /* those still to pass, checked together */
        for (i = 0, k = 0; i < n; i++) {
            if (w[i].check) {
                jobs[k].address = obs->inst[w[i].a->inst].in.address;
                of[k++] = i;
            }
        }
        ready_pool_all(p, jobs, k);
        for (i = 0; i < k; i++) {
            snprintf(w[of[i]].why, sizeof(w[of[i]].why), "%s", jobs[i].why);
            if (jobs[i].ok) {
                w[of[i]].check = 0;
                pending--;
                (void) wake_register(reg, ps, obs, &w[of[i]], st);
            }
        }
        if (pending == 0 || clock_mono_ms() >= deadline) {
            break;
        }
        nanosleep(&pause, NULL);
    }
    for (i = 0; i < n; i++) {
        if (w[i].check) {
            snprintf(err, sizeof(err), "not ready (%s) within "
                     "warm_pool.wake_timeout (%llu ms)", w[i].why,
                     (unsigned long long) p->warm.wake_timeout_ms);
            wake_failed(ps, w[i].a, err, st);
        }
    }
done:
    free(w);
    free(jobs);
    free(of);
}

int
act_park(registry_t *reg, pool_state_t *ps, observation_t *obs,
    const action_t *a, inst_state_t *st)
{
    const pool_config_t  *p = ps->cf;
    obs_instance_t       *o = &obs->inst[a->inst];
    char                  err[256];

    /* out of the member hash first: a warm instance is never registered */
    if (a->member >= 0) {
        if (registry_del(reg, p->name, a->id) != 0) {
            act_write_failed(ps, a, reg);
            return -1;
        }
        st[a->inst] = INST_BOOTING;
    }
    if (virt_park(conn_of(ps, a), p->name, a->id, p->warm.state, err,
                  sizeof(err)) != 0)
    {
        act_failed(ps, a, ERR_LIBVIRT, err);
        return -1;
    }
    o->in.warm = 1;
    o->in.power = p->warm.state == WARM_PAUSED ? POWER_PAUSED
                  : p->warm.state == WARM_SAVED ? POWER_SAVED
                  : POWER_RUNNING;
    st[a->inst] = INST_WARM;
    slog(p->name, a->id, "parked %s (%s) rule=%s",
         warm_state_name(p->warm.state), a->reason, a->rule);
    return 0;
}
