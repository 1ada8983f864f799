/*
 * host.c: the libvirt calls of one host, off the pass that asks for
 * them, each with a deadline (libvirt.timeout).  A host has its own
 * worker threads (up to HOST_WORKERS, started as calls come) and its own
 * connection (virt.c), so a host that hangs holds only its own calls:
 * the pass that waits for a batch of calls on several hosts gets back
 * when every call has ended or passed its deadline.  A call past its
 * deadline is given up ("late": its outcome is unknown to the pass) and
 * makes its host stalled until that call returns: a stalled host takes
 * no call (refused at once), so the next passes do not wait for it
 * again, and the call the host is stuck in is the only one that waits
 * (libvirt's keepalive ends it when the connection is dead).
 *
 * A call is reference-counted: the one who made it and the worker that
 * runs it each hold a reference, so a late call's results are freed by
 * whoever is last, and a pass never waits for a worker.  A call may be
 * submitted without a batch (the warm pool's background calls,
 * act_bg.c): nobody waits for it, host_call_poll() tells when it ended,
 * and gives it up at its deadline as host_wait() would.  Those run on
 * workers of their own (up to HOST_BACKGROUND_MAX) and on the host's
 * second connection (virt_background()), so that a pass's calls neither
 * queue behind them nor wait for their replies.  One lock
 * (hosts_lock) guards every queue, state and batch: each is held for a
 * few instructions, never across a libvirt call.
 */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scaler.h"

#define HOST_WORKERS                                     \
    SCALER_CREATE_MAX /* a pass's calls of one host at a \
                        time */

typedef enum {
    CALL_QUEUED = 0,
    CALL_RUNNING,
    CALL_ENDED
} call_state_t;

/* the queued calls of one kind (a pass's, or the background ones) and
   the workers that run them */
typedef struct {
    host_t        *h;
    host_call_t   *head, *tail;
    int            nthreads, idle, most;
    pthread_cond_t cond; /* its workers wait here */
} host_queue_t;

struct host {
    virt_conn_t *vc;
    uint64_t     timeout_ms;
    host_queue_t q[2];        /* [1]: the background calls' */
    int          stuck;       /* running calls past deadline */
    uint64_t     stuck_since; /* mono ms the oldest started */
    int          closing;
};

static pthread_mutex_t hosts_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg);
static void  call_unref(host_call_t *c);
static void  host_free(host_t *h);

host_t *
host_new(const char *uri, int ka_interval, unsigned ka_count,
         uint64_t timeout_ms)
{
    host_t *h = xcalloc(1, sizeof(*h));

    int k;

    h->vc = virt_open(uri, ka_interval, ka_count);
    h->timeout_ms = timeout_ms;
    for (k = 0; k < 2; k++) {
        h->q[k].h = h;
        h->q[k].most = k ? HOST_BACKGROUND_MAX : HOST_WORKERS;
        pthread_cond_init(&h->q[k].cond, NULL);
    }
    return h;
}

static void
host_free(host_t *h)
{
    virt_close(h->vc);
    pthread_cond_destroy(&h->q[0].cond);
    pthread_cond_destroy(&h->q[1].cond);
    free(h);
}

void
host_release(host_t *h)
{
    host_call_t *c, *n;
    int          now, k;

    if (h == NULL) {
        return;
    }
    pthread_mutex_lock(&hosts_lock);
    h->closing = 1;
    /* calls nobody runs any more: only a batch that is waiting could
       have them, and the pass that owns this host has ended (a
       background call's owner finds it cancelled) */
    for (k = 0; k < 2; k++) {
        for (c = h->q[k].head; c != NULL; c = n) {
            n = c->next;
            c->state = CALL_ENDED;
            c->outcome = HOST_CANCELLED;
            c->host = NULL;
            call_unref(c);
        }
        h->q[k].head = h->q[k].tail = NULL;
        pthread_cond_broadcast(&h->q[k].cond);
    }
    now = h->q[0].nthreads + h->q[1].nthreads == 0;
    pthread_mutex_unlock(&hosts_lock);
    if (now) {
        host_free(h);
    }
    /* else the last worker frees it, when its call (stuck maybe) ends */
}

int
host_stalled(host_t *h, uint64_t *since)
{
    int stuck;

    pthread_mutex_lock(&hosts_lock);
    stuck = h->stuck > 0;
    if (stuck && since) {
        *since = h->stuck_since;
    }
    pthread_mutex_unlock(&hosts_lock);
    return stuck;
}

virt_conn_t *
host_conn(host_t *h)
{
    return h->vc;
}

/* under hosts_lock */
static void
call_unref(host_call_t *c)
{
    if (--c->refs == 0) {
        c->drop(c);
    }
}

void
host_call_release(host_call_t *c)
{
    pthread_mutex_lock(&hosts_lock);
    call_unref(c);
    pthread_mutex_unlock(&hosts_lock);
}

void
host_call_init(host_call_t *c, void (*run)(virt_conn_t *vc, host_call_t *c),
               void (*drop)(host_call_t *c))
{
    memset(c, 0, sizeof(*c));
    c->run = run;
    c->drop = drop;
    c->refs = 1; /* the caller's */
    c->outcome = HOST_REFUSED;
}

static void *
worker(void *arg)
{
    host_queue_t *q = arg;
    host_t       *h = q->h;
    host_call_t  *c;
    int           last;

    pthread_mutex_lock(&hosts_lock);
    for (;;) {
        while (q->head == NULL && !h->closing) {
            q->idle++;
            pthread_cond_wait(&q->cond, &hosts_lock);
            q->idle--;
        }
        if (q->head == NULL) {
            break; /* closing, nothing left */
        }
        c = q->head;
        q->head = c->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        c->next = NULL;
        c->state = CALL_RUNNING;
        c->started = clock_mono_ms();
        pthread_mutex_unlock(&hosts_lock);

        virt_background(c->background);
        c->run(h->vc, c);
        virt_background(0);

        pthread_mutex_lock(&hosts_lock);
        if (c->late) {
            h->stuck--; /* it returned: usable again */
        } else if (c->outcome == HOST_REFUSED) {
            c->outcome = HOST_DONE;
        }
        c->state = CALL_ENDED;
        if (c->batch != NULL) {
            pthread_cond_signal(&c->batch->cond);
        }
        call_unref(c); /* the worker's */
    }
    q->nthreads--;
    last = h->q[0].nthreads + h->q[1].nthreads == 0;
    pthread_mutex_unlock(&hosts_lock);
    if (last) {
        host_free(h); /* closing: released meanwhile */
    }
    return NULL;
}

void
host_batch_init(host_batch_t *b, const int *cancel)
{
    pthread_condattr_t a;

    memset(b, 0, sizeof(*b));
    b->cancel = cancel;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &a);
    pthread_condattr_destroy(&a);
}

void
host_submit(host_batch_t *b, host_t *h, host_call_t *c)
{
    pthread_t      tid;
    pthread_attr_t a;
    host_queue_t  *q;

    pthread_mutex_lock(&hosts_lock);
    c->outcome = HOST_REFUSED;
    c->state = CALL_ENDED; /* until queued */
    if (h == NULL || h->stuck > 0 || h->closing) {
        pthread_mutex_unlock(&hosts_lock);
        return; /* refused: never queued */
    }
    /* a background call has workers of its own: a pass's calls never
       queue behind one */
    q = &h->q[b == NULL];
    if (q->idle == 0 && q->nthreads < q->most) {
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&tid, &a, worker, q) == 0) {
            q->nthreads++;
        }
        pthread_attr_destroy(&a);
    }
    if (q->nthreads == 0) {
        pthread_mutex_unlock(&hosts_lock);
        slog_err(NULL, NULL, "host: no thread (%s): call refused",
                 strerror(errno));
        return;
    }
    c->host = h;
    c->batch = b;
    c->background = b == NULL;
    c->state = CALL_QUEUED;
    c->refs++; /* the worker's */
    if (b != NULL) {
        c->bnext = b->calls;
        b->calls = c;
    }
    if (q->tail) {
        q->tail->next = c;
    } else {
        q->head = c;
    }
    q->tail = c;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&hosts_lock);
}

/* under hosts_lock: a queued call taken out, never run */
static void
unqueue(host_call_t *c, host_outcome_t outcome)
{
    host_queue_t *q = &c->host->q[c->background];
    host_call_t **pp;

    for (pp = &q->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    q->tail = NULL;
    for (pp = &q->head; *pp != NULL; pp = &(*pp)->next) {
        q->tail = *pp;
    }
    c->next = NULL;
    c->state = CALL_ENDED;
    c->outcome = outcome;
    call_unref(c); /* the worker's, never taken */
}

/* under hosts_lock: 1 while c is still to be waited for (*until: by
   when, lowered), 0 once it ended or was given up: cancelled, refused
   behind a stuck call, or past its deadline (late: its host stalled) */
static int
call_check(host_call_t *c, const int *cancel, uint64_t now, uint64_t *until)
{
    if (c->state == CALL_ENDED || c->late) {
        return 0;
    }
    if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) {
        if (c->state == CALL_QUEUED) {
            unqueue(c, HOST_CANCELLED);
        } else {
            /* given up as a late one (the host is being released with
               the pass's state anyway) */
            c->late = 1;
            c->outcome = HOST_CANCELLED;
            if (c->host->stuck++ == 0) {
                c->host->stuck_since = c->started;
            }
        }
        return 0;
    }
    if (c->state == CALL_QUEUED) {
        if (c->host->stuck > 0) {
            unqueue(c, HOST_REFUSED); /* behind a stuck call */
            return 0;
        }
        *until = now + c->host->timeout_ms < *until ? now + c->host->timeout_ms
                                                    : *until;
        return 1;
    }
    if (now - c->started >= c->host->timeout_ms) {
        /* past its deadline: given up, its host stalled */
        c->late = 1;
        c->outcome = HOST_LATE;
        if (c->host->stuck++ == 0 || c->started < c->host->stuck_since) {
            c->host->stuck_since = c->started;
        }
        return 0;
    }
    *until = c->started + c->host->timeout_ms < *until
                 ? c->started + c->host->timeout_ms
                 : *until;
    return 1;
}

int
host_call_poll(host_call_t *c)
{
    uint64_t until = UINT64_MAX;
    int      pending;

    pthread_mutex_lock(&hosts_lock);
    pending = call_check(c, NULL, clock_mono_ms(), &until);
    pthread_mutex_unlock(&hosts_lock);
    return !pending;
}

void
host_wait(host_batch_t *b)
{
    host_call_t    *c;
    struct timespec ts;
    uint64_t        now, until;
    int             pending;

    pthread_mutex_lock(&hosts_lock);
    for (;;) {
        now = clock_mono_ms();
        until = UINT64_MAX;
        pending = 0;
        for (c = b->calls; c != NULL; c = c->bnext) {
            pending += call_check(c, b->cancel, now, &until);
        }
        if (pending == 0) {
            break;
        }
        if (b->cancel && until > now + 100) {
            until = now + 100; /* looks at the cancel flag */
        }
        ts.tv_sec = (time_t) (until / 1000);
        ts.tv_nsec = (long) (until % 1000) * 1000000L;
        pthread_cond_timedwait(&b->cond, &hosts_lock, &ts);
    }
    for (c = b->calls; c != NULL; c = c->bnext) {
        c->batch = NULL;
    }
    b->calls = NULL;
    pthread_mutex_unlock(&hosts_lock);
}

void
host_batch_destroy(host_batch_t *b)
{
    pthread_cond_destroy(&b->cond);
}
