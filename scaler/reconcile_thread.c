/*
 * reconcile_thread.c: the reconcile passes off the event loop.  libvirt
 * calls can take seconds on real hosts (a define, a start, a destroy, an
 * unreachable qemu+ssh:// host) and the pass talks to Redis with blocking
 * hiredis, so the passes run on one thread of their own, with their own
 * Redis connection (s->preg).  Each pass takes a private copy of a pool's
 * state under the lock, works on it unlocked, and publishes it under the
 * lock; the loop (API, autoscale, metrics) only ever holds the lock for
 * the time of a read or a small change.  A pipe tells the loop that a
 * pass ended (sd_notify, status).
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>

#include "scaler.h"

struct reconcile_thread_s {
    pthread_t           tid;
    pthread_mutex_t     lock;           /* recursive */
    pthread_cond_t      cond;
    int                 want, stop, started;
    int                 pipe[2];
    struct event       *ev;
    unsigned long       passes;
    void              (*done)(scaler_t *s, unsigned long passes);
    scaler_t           *s;
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
   capacity is the loop's: read here, never written back */
static void
pass_pool(scaler_t *s, pool_state_t *ps)
{
    pool_state_t  w;
    char        **dels;
    int           i, j, nd;

    reconcile_lock(s);
    w = *ps;
    w.inst = NULL;
    w.reports = NULL;
    w.gateways = NULL;
    w.nreports = w.ngateways = 0;
    if (ps->ninst > 0) {
        w.inst = malloc(ps->ninst * sizeof(instance_t));
        if (w.inst == NULL) {
            reconcile_unlock(s);
            return;
        }
        memcpy(w.inst, ps->inst, ps->ninst * sizeof(instance_t));
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
    dels = ps->del_ids;
    nd = ps->ndel;
    ps->del_ids = NULL;
    ps->ndel = 0;
    w.del_ids = NULL;
    w.ndel = 0;
    reconcile_unlock(s);

    reconcile_pool_pass(s, &w, dels, nd);   /* frees dels */

    reconcile_lock(s);
    /* one the API deleted while the pass ran stays deleted in what is
       published (no state, no metrics): the next pass deletes its domain */
    for (i = 0; i < ps->ndel; i++) {
        for (j = 0; j < w.ninst; j++) {
            if (strcmp(w.inst[j].id, ps->del_ids[i]) == 0) {
                w.inst[j].state = INST_DELETING;
                w.inst[j].delete_asked = 1;
            }
        }
    }
    free(ps->inst);
    free(ps->reports);
    free(ps->gateways);
    ps->inst = w.inst;
    ps->ninst = w.ninst;
    ps->cinst = w.cinst;
    ps->reports = w.reports;
    ps->nreports = w.nreports;
    ps->gateways = w.gateways;
    ps->ngateways = w.ngateways;
    ps->redis_ok = w.redis_ok;
    ps->redis_lost = w.redis_lost;
    ps->reports_lost = w.reports_lost;
    memcpy(ps->zone_down, w.zone_down, sizeof(ps->zone_down));
    memcpy(ps->image, w.image, sizeof(ps->image));
    ps->actions_up = w.actions_up;
    ps->actions_down = w.actions_down;
    ps->repairs = w.repairs;
    upgrade_free(&ps->upgrade);
    ps->upgrade = w.upgrade;
    ps->upgrade_lost = w.upgrade_lost;
    ps->model = w.model;
    memcpy(ps->images, w.images, sizeof(ps->images));
    ps->previous_ok = w.previous_ok;
    ps->recipe = w.recipe;
    memcpy(ps->recipe_tried, w.recipe_tried, sizeof(ps->recipe_tried));
    ps->recipe_tried_at = w.recipe_tried_at;
    memcpy(ps->previous_image, w.previous_image, sizeof(ps->previous_image));
    memcpy(ps->upgrade_batches, w.upgrade_batches,
           sizeof(ps->upgrade_batches));
    memcpy(ps->errors, w.errors, sizeof(ps->errors));
    reconcile_unlock(s);
}


static void *
pass_thread(void *arg)
{
    scaler_t                  *s = arg;
    struct reconcile_thread_s *th = s->thread;
    int                        i;
    char                       c = 'p';

    pthread_mutex_lock(&th->lock);
    for (;;) {
        while (!th->want && !th->stop) {
            pthread_cond_wait(&th->cond, &th->lock);
        }
        if (th->stop) {
            break;
        }
        th->want = 0;
        pthread_mutex_unlock(&th->lock);

        for (i = 0; i < s->npools; i++) {
            pass_pool(s, &s->pools[i]);
        }
        if (write(th->pipe[1], &c, 1) < 0 && errno != EAGAIN) {
            slog(NULL, NULL, "reconcile: cannot signal the loop: %s",
                 strerror(errno));
        }

        pthread_mutex_lock(&th->lock);
        th->passes++;
    }
    pthread_mutex_unlock(&th->lock);
    return NULL;
}


static void
on_pass_done(evutil_socket_t fd, short ev, void *arg)
{
    scaler_t                  *s = arg;
    struct reconcile_thread_s *th = s->thread;
    char                       buf[64];
    unsigned long              passes;

    (void) ev;
    while (read(fd, buf, sizeof(buf)) > 0) {
        /* drain */
    }
    pthread_mutex_lock(&th->lock);
    passes = th->passes;
    pthread_mutex_unlock(&th->lock);
    if (th->done) {
        th->done(s, passes);
    }
}


int
reconcile_start(scaler_t *s, struct event_base *base,
    void (*done)(scaler_t *s, unsigned long passes))
{
    struct reconcile_thread_s *th;
    pthread_mutexattr_t        a;

    th = calloc(1, sizeof(*th));
    if (th == NULL) {
        return -1;
    }
    if (pipe2(th->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(th);
        return -1;
    }
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&th->lock, &a);
    pthread_mutexattr_destroy(&a);
    pthread_cond_init(&th->cond, NULL);
    th->done = done;
    th->s = s;
    th->want = 1;                       /* the first pass at once */
    th->ev = event_new(base, th->pipe[0], EV_READ | EV_PERSIST,
                       on_pass_done, s);
    event_add(th->ev, NULL);
    s->thread = th;
    if (pthread_create(&th->tid, NULL, pass_thread, s) != 0) {
        slog(NULL, NULL, "reconcile: no thread (%s): passes stop",
             strerror(errno));
        return -1;
    }
    th->started = 1;
    return 0;
}


void
reconcile_kick(scaler_t *s)
{
    struct reconcile_thread_s *th = s->thread;

    if (th == NULL) {
        return;
    }
    pthread_mutex_lock(&th->lock);
    th->want = 1;
    pthread_cond_signal(&th->cond);
    pthread_mutex_unlock(&th->lock);
}


void
reconcile_stop(scaler_t *s)
{
    struct reconcile_thread_s *th = s->thread;

    if (th == NULL) {
        return;
    }
    pthread_mutex_lock(&th->lock);
    th->stop = 1;
    pthread_cond_signal(&th->cond);
    pthread_mutex_unlock(&th->lock);
    if (th->started) {
        pthread_join(th->tid, NULL);
    }
    event_free(th->ev);
    close(th->pipe[0]);
    close(th->pipe[1]);
    pthread_cond_destroy(&th->cond);
    pthread_mutex_destroy(&th->lock);
    free(th);
    s->thread = NULL;
}


void
reconcile_delete_later(scaler_t *s, pool_state_t *ps, const char *id)
{
    char  **d;

    d = realloc(ps->del_ids, (ps->ndel + 1) * sizeof(char *));
    if (d == NULL) {
        return;
    }
    ps->del_ids = d;
    if ((d[ps->ndel] = strdup(id)) != NULL) {
        ps->ndel++;
    }
    reconcile_kick(s);
}
