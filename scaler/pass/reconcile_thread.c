/*
 * reconcile_thread.c: the reconcile passes off the event loop, one
 * thread per pool.  libvirt calls can take seconds on real hosts (a
 * define, a start, a destroy, an unreachable qemu+ssh:// host) and a pass
 * talks to Redis with blocking hiredis, so each pool's passes run on a
 * thread of their own, with the pool's own Redis connection
 * (ps->preg) and its hosts' own workers (host.c, each call with a
 * deadline): a pool whose host hangs neither holds the loop nor another
 * pool.  Each pass takes a private copy of its pool's state under the
 * lock, works on it unlocked, and publishes it under the lock; the loop
 * (API, autoscale, metrics, the watchdog) only ever holds the lock for
 * the time of a read or a small change.  A pipe tells the loop that a
 * pass ended (status, READY=1).
 *
 * With a lease (ha.c) each pass starts by asking for its role: the
 * leader's passes act, their writes carrying the lease's fence (set on
 * the pool's own connection); a standby's only observe (read_only), with
 * the capacities read back from Redis for the API.  After a lease is
 * taken, every pool's first pass reads the capacities the last leader
 * stored before anything is decided, and only once all of them did does
 * the API take writes (ha_ready()).
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>

#include "scaler.h"

typedef struct {
    scaler_t     *s;
    pool_state_t *ps;
    pthread_t     tid;
    int           want, started;
    int           stop;       /* atomic: host waits read it */
    int           refreshed;  /* read the capacity back as a */
    unsigned      ready_term; /*   leader in this term */
} runner_t;

struct reconcile_thread_s {
    pthread_mutex_t lock; /* recursive */
    pthread_cond_t  cond; /* the runners wait here */
    int             pipe[2];
    struct event   *ev;
    runner_t       *run;
    int             nrun;
    void (*done)(scaler_t *s, unsigned long passes);
};


void
reconcile_lock(scaler_t *s)
{
    if (s->thread) {
        pthread_mutex_lock(&s->thread->lock);
    }
}


void
reconcile_unlock(scaler_t *s)
{
    if (s->thread) {
        pthread_mutex_unlock(&s->thread->lock);
    }
}


/* a pool's pass on a private copy; published under the lock.  The
   capacity is the loop's: read here, never written back, except when
   refresh (no API write, no autoscale meanwhile: a standby, or a leader
   not ready yet) reads it from Redis first; a refresh that fails makes
   the pass read-only and returns -1 */
static int
pass_pool(scaler_t *s, runner_t *r, int read_only, int refresh)
{
    pool_state_t *ps = r->ps;
    pool_state_t  w;
    pool_ask_t   *asks;
    uint64_t      started, took;
    int           na, rc = 0;

    reconcile_lock(s);
    started = clock_mono_ms();
    ps->pass_started = started;
    ps->slow_reported = 0;
    w = *ps;
    w.inst = NULL;
    w.reports = NULL;
    w.gateways = NULL;
    w.nreports = w.ngateways = 0;
    w.cancel = &r->stop;
    if (ps->ninst > 0) {
        w.inst = xmalloc(ps->ninst * sizeof(instance_t));
        memcpy(w.inst, ps->inst, ps->ninst * sizeof(instance_t));
    }
    /* the gateways known (observe keeps those still present) */
    if (ps->ngateways > 0) {
        w.gateways = xmalloc(ps->ngateways * sizeof(gateway_t));
        memcpy(w.gateways, ps->gateways, ps->ngateways * sizeof(gateway_t));
        w.ngateways = ps->ngateways;
    }
    w.cinst = w.ninst;
    /* the pass publishes its own copy of the upgrade record; the recipe
       is the pass thread's alone (moved back below) */
    w.upgrade.ids = NULL;
    w.upgrade.nids = 0;
    if (upgrade_copy(&w.upgrade, &ps->upgrade) != 0) {
        w.upgrade.ids = NULL;
        w.upgrade.nids = 0;
    }
    asks = NULL;
    na = 0;
    w.asks = NULL;
    w.nasks = 0;
    if (read_only) {
        /* the API's requests wait for a pass that acts (this scaler's,
           should it lead again) */
        w.hand = NULL;
        w.nhand = 0;
    } else {
        asks = ps->asks;
        na = ps->nasks;
        ps->asks = NULL;
        ps->nasks = 0;
        ps->hand = NULL; /* w.hand: this pass's */
        ps->nhand = 0;
    }
    reconcile_unlock(s);

    if (refresh && reconcile_capacity_stored(ps->preg, &w) != 0) {
        rc = -1;
        read_only = 1;
    }
    w.read_only = read_only;
    reconcile_pool_pass(s, &w, asks, na); /* frees asks */
    free(w.hand);

    reconcile_lock(s);
    free(ps->inst);
    free(ps->reports);
    free(ps->gateways);
    ps->inst = w.inst;
    ps->ninst = w.ninst;
    ps->cinst = w.cinst;
    ps->bg = w.bg; /* the pass thread's alone: moved back */
    ps->nbg = w.nbg;
    ps->cbg = w.cbg;
    ps->reports = w.reports;
    ps->nreports = w.nreports;
    ps->gateways = w.gateways;
    ps->ngateways = w.ngateways;
    ps->redis_ok = w.redis_ok;
    ps->redis_lost = w.redis_lost;
    ps->reports_lost = w.reports_lost;
    memcpy(ps->host_down, w.host_down, sizeof(ps->host_down));
    memcpy(ps->host_down_since, w.host_down_since, sizeof(ps->host_down_since));
    memcpy(ps->host_failed, w.host_failed, sizeof(ps->host_failed));
    memcpy(ps->image, w.image, sizeof(ps->image));
    ps->actions_up = w.actions_up;
    ps->actions_down = w.actions_down;
    ps->repairs = w.repairs;
    ps->wakes = w.wakes;
    ps->protected_above = w.protected_above;
    ps->repair = w.repair;
    ps->repairing = w.repairing;
    upgrade_free(&ps->upgrade);
    ps->upgrade = w.upgrade;
    ps->upgrade_lost = w.upgrade_lost;
    ps->model = w.model;
    memcpy(ps->key, w.key, sizeof(ps->key));
    memcpy(ps->images, w.images, sizeof(ps->images));
    ps->previous_ok = w.previous_ok;
    memcpy(ps->recipe, w.recipe, sizeof(ps->recipe));
    memcpy(ps->recipe_tried, w.recipe_tried, sizeof(ps->recipe_tried));
    memcpy(ps->recipe_tried_at, w.recipe_tried_at, sizeof(ps->recipe_tried_at));
    memcpy(ps->previous_image, w.previous_image, sizeof(ps->previous_image));
    memcpy(ps->upgrade_batches, w.upgrade_batches, sizeof(ps->upgrade_batches));
    memcpy(ps->errors, w.errors, sizeof(ps->errors));
    if (refresh && rc == 0) {
        ps->capacity = w.capacity;
    }
    took = clock_mono_ms() - started;
    ps->pass_ms = took;
    ps->pass_ms_total += took;
    ps->pass_started = 0;
    ps->passes++;
    if (took > s->cf->slow_pass_ms) {
        if (!ps->slow_reported) {
            ps->slow_passes++; /* ended before the loop saw it */
        }
        slog_warn(ps->cf->name, NULL,
                  "slow pass: took %llu ms (slow_pass "
                  "%llu ms)",
                  (unsigned long long) took,
                  (unsigned long long) s->cf->slow_pass_ms);
    }
    reconcile_unlock(s);
    return rc;
}


static void *
pass_thread(void *arg)
{
    runner_t                  *r = arg;
    scaler_t                  *s = r->s;
    struct reconcile_thread_s *th = s->thread;
    int                        i, refresh, ok, all;
    char                       fence[REGISTRY_FENCE_MAX + 1];
    unsigned                   term;
    ha_role_t                  role;
    char                       c = 'p';

    pthread_mutex_lock(&th->lock);
    for (;;) {
        while (!r->want && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
            pthread_cond_wait(&th->cond, &th->lock);
        }
        if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
            break;
        }
        r->want = 0;
        pthread_mutex_unlock(&th->lock);

        /* the role for this pass: its writes carry the fence of now */
        role = ha_pass(fence, sizeof(fence), &term);
        registry_fence(r->ps->preg, role == HA_OFF ? NULL : fence);
        refresh = role == HA_STANDBY || (role == HA_LEADER && !ha_writable());
        ok = pass_pool(s, r, role == HA_STANDBY, refresh) == 0;
        if (role == HA_LEADER && refresh && ok) {
            /* writable once every pool's pass read its capacity back in
               this term */
            pthread_mutex_lock(&th->lock);
            r->ready_term = term;
            r->refreshed = 1;
            for (i = 0, all = 1; i < th->nrun; i++) {
                all &= th->run[i].refreshed && th->run[i].ready_term == term;
            }
            pthread_mutex_unlock(&th->lock);
            if (all) {
                ha_ready(term);
            }
        }
        if (role == HA_LEADER && r == &th->run[0]) {
            ha_passed(term); /* the first pool's passes */
        }
        if (write(th->pipe[1], &c, 1) < 0 && errno != EAGAIN) {
            slog_err(r->ps->cf->name, NULL,
                     "reconcile: cannot signal the "
                     "loop: %s",
                     strerror(errno));
        }

        pthread_mutex_lock(&th->lock);
    }
    pthread_mutex_unlock(&th->lock);
    return NULL;
}


unsigned long
reconcile_passes(scaler_t *s)
{
    unsigned long least = 0;
    int           i;

    reconcile_lock(s);
    for (i = 0; i < s->npools; i++) {
        if (i == 0 || s->pools[i].passes < least) {
            least = s->pools[i].passes;
        }
    }
    reconcile_unlock(s);
    return least;
}


static void
on_pass_done(evutil_socket_t fd, short ev, void *arg)
{
    scaler_t                  *s = arg;
    struct reconcile_thread_s *th = s->thread;
    char                       buf[64];

    (void) ev;
    while (read(fd, buf, sizeof(buf)) > 0) {
        /* drain */
    }
    if (th->done) {
        th->done(s, reconcile_passes(s));
    }
}


int
reconcile_start(scaler_t *s, struct event_base *base,
                void (*done)(scaler_t *s, unsigned long passes))
{
    struct reconcile_thread_s *th;
    pthread_mutexattr_t        a;
    runner_t                  *r;
    int                        i, rc = 0;

    th = xcalloc(1, sizeof(*th));
    th->run = xcalloc(s->npools + 1, sizeof(*th->run));
    if (pipe2(th->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(th->run);
        free(th);
        return -1;
    }
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&th->lock, &a);
    pthread_mutexattr_destroy(&a);
    pthread_cond_init(&th->cond, NULL);
    th->done = done;
    th->nrun = s->npools;
    th->ev =
        event_new(base, th->pipe[0], EV_READ | EV_PERSIST, on_pass_done, s);
    event_add(th->ev, NULL);
    s->thread = th;
    for (i = 0; i < s->npools; i++) {
        r = &th->run[i];
        r->s = s;
        r->ps = &s->pools[i];
        r->want = 1; /* the first pass at once */
        if (pthread_create(&r->tid, NULL, pass_thread, r) != 0) {
            slog_err(r->ps->cf->name, NULL,
                     "reconcile: no thread (%s): "
                     "passes stop",
                     strerror(errno));
            rc = -1;
            continue;
        }
        r->started = 1;
    }
    return rc;
}


/* under the lock, every pool's thread wants a pass (stop == 0) or is told
 * to stop (stop == 1), and all of them are woken */
static void
reconcile_wake(struct reconcile_thread_s *th, int stop)
{
    int i;

    pthread_mutex_lock(&th->lock);
    for (i = 0; i < th->nrun; i++) {
        if (stop) {
            __atomic_store_n(&th->run[i].stop, 1, __ATOMIC_RELEASE);
        } else {
            th->run[i].want = 1;
        }
    }
    pthread_cond_broadcast(&th->cond);
    pthread_mutex_unlock(&th->lock);
}


void
reconcile_kick(scaler_t *s)
{
    if (s->thread != NULL) {
        reconcile_wake(s->thread, 0);
    }
}


void
reconcile_stop(scaler_t *s)
{
    struct reconcile_thread_s *th = s->thread;
    int                        i;

    if (th == NULL) {
        return;
    }
    reconcile_wake(th, 1);
    for (i = 0; i < th->nrun; i++) {
        if (th->run[i].started) {
            pthread_join(th->run[i].tid, NULL);
        }
    }
    event_free(th->ev);
    close(th->pipe[0]);
    close(th->pipe[1]);
    pthread_cond_destroy(&th->cond);
    pthread_mutex_destroy(&th->lock);
    free(th->run);
    free(th);
    s->thread = NULL;
}


void
reconcile_ask(scaler_t *s, pool_state_t *ps, const char *id, unsigned ask)
{
    pool_ask_t *a;
    int         i;

    for (i = 0; i < ps->nasks; i++) {
        if (strcmp(ps->asks[i].id, id) == 0) {
            ps->asks[i].ask |= ask;
            reconcile_kick(s);
            return;
        }
    }
    ps->asks = xrealloc(ps->asks, (ps->nasks + 1) * sizeof(*ps->asks));
    a = &ps->asks[ps->nasks++];
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    a->ask = ask;
    reconcile_kick(s);
}


void
reconcile_hand_later(scaler_t *s, pool_state_t *ps, const hand_req_t *r)
{
    ps->hand = xrealloc(ps->hand, (ps->nhand + 1) * sizeof(*ps->hand));
    ps->hand[ps->nhand++] = *r;
    reconcile_kick(s);
}
