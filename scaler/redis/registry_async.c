/*
 * registry_async.c: the event loop's Redis writes, non-blocking (hiredis's
 * async API on its libevent adapter).  The commands are registry_tx.c's,
 * as registry.c's, fenced like every write when the scaler holds a lease
 * (ha.c).
 *
 * A connection is ready once its first commands answered: AUTH [username]
 * password (or a PING, so that a Redis that wants a password says so),
 * SELECT db, and with Sentinel a ROLE that must say master.  Operations
 * issued before that wait for it (nothing is sent as another user if
 * AUTH fails); refused credentials fail every operation at once for
 * REDIS_AUTH_RETRY_MS, logged once a minute.  With Sentinel the master is
 * the one the blocking connections found (redis_topo_t, redis_conn.c):
 * the loop never asks a sentinel itself (hiredis 0.14 has no Sentinel),
 * follows the address when it changes, and marks it stale when it fails
 * (lost, READONLY, not a master), so the next blocking use asks again.
 *
 * hiredis 0.14 has no command or connect timeout in its async API, so
 * every operation has a timer of its own (REGISTRY_ASYNC_TIMEOUT_MS): when
 * it fires first, the operation fails and the connection is dropped (a
 * hung Redis holds every later command too); the next operation connects
 * again.  Dropping runs the pending reply callbacks with a NULL reply: an
 * operation is freed only when its timer and every callback it queued are
 * done, and its done callback runs once, whichever comes first.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "scaler.h"
#include "scaleset_record.h"

typedef struct ra_op ra_op_t;

struct registry_async {
    struct event_base *base;
    redis_config_t     cfg; /* a copy: outlives reloads */
    redis_topo_t      *topo;
    char              *prefix;
    redisAsyncContext *ac; /* NULL: connect on the next op */
    char               host[REDIS_HOST_MAX];
    int                port;
    unsigned           gen;           /* the topology's, for ac */
    int                hello;         /* ac's first replies to come */
    ra_op_t           *ops;           /* not finished yet */
    uint64_t           refused_until; /* credentials: fail until then */
    uint64_t           refused_logged;
    int                down_logged;
    char               err[256]; /* the last failure */
};

struct ra_op {
    registry_async_t      *ra;
    struct event          *timer;
    registry_async_done_t  done;
    void                  *arg;
    char                   pool[64];
    char                   id[64];
    char                   fence[REGISTRY_FENCE_MAX + 1];
    int                    fenced;
    registry_tx_t          tx;  /* its strings point into op */
    registry_upgrade_tx_t *utx; /* instead of tx: the upgrade
                                   record's write (malloc'd) */
    int        waiting;         /* for the connection to be ready */
    int        doomed;          /* fail_waiting() fails it */
    int        queued;          /* reply callbacks still to come */
    int        failed;          /* an error reply */
    int        finished;        /* done called */
    long long *result;          /* an integer reply, when asked */
    ra_op_t   *prev, *next;     /* in ra->ops until finished */
};

static void ra_drop(registry_async_t *ra);
static void fail_waiting(registry_async_t *ra);
static void ra_fail(registry_async_t *ra, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void op_finish(ra_op_t *op, int ok);
static int  op_tx(ra_op_t *op, redisAsyncContext *ac);

registry_async_t *
registry_async_open(struct event_base *base, const redis_config_t *cfg,
                    redis_topo_t *topo, const char *prefix)
{
    registry_async_t *ra = xcalloc(1, sizeof(*ra));

    ra->base = base;
    ra->topo = topo;
    ra->prefix = xstrdup(prefix);
    redis_config_copy(&ra->cfg, cfg);
    return ra;
}

const char *
registry_async_error(const registry_async_t *ra)
{
    return ra->err;
}

static void
ra_fail(registry_async_t *ra, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ra->err, sizeof(ra->err), fmt, ap);
    va_end(ap);
}

static void
ra_log_down(registry_async_t *ra, const char *why)
{
    ra_fail(ra, "redis %s:%d unreachable from the loop: %s", ra->host, ra->port,
            why);
    if (!ra->down_logged) {
        slog_warn(NULL, NULL, "%s", ra->err);
        ra->down_logged = 1;
    }
}

/* the master failed in a way a failover explains */
static void
ra_stale(registry_async_t *ra)
{
    if (ra->cfg.master) {
        redis_topo_stale(ra->topo, ra->gen);
    }
}

/* the end of an op: done once; freed when no callback can come anymore */
static void
op_finish(ra_op_t *op, int ok)
{
    registry_async_t *ra = op->ra;

    if (!op->finished) {
        op->finished = 1;
        evtimer_del(op->timer);
        if (op->prev) {
            op->prev->next = op->next;
        } else {
            ra->ops = op->next;
        }
        if (op->next) {
            op->next->prev = op->prev;
        }
        op->prev = op->next = NULL;
        if (ok && ra->down_logged) {
            slog(NULL, NULL, "redis %s:%d answers the loop again", ra->host,
                 ra->port);
            ra->down_logged = 0;
        }
        op->done(ok, op->arg);
    }
    if (op->queued == 0) {
        event_free(op->timer);
        if (op->utx) {
            registry_tx_upgrade_free(op->utx);
            free(op->utx);
        }
        free(op);
    }
}

/* a reply of one of op's commands; NULL: the connection went away */
static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ra_op_t          *op = privdata;
    registry_async_t *ra = op->ra;
    redisReply       *rep = reply;
    char              err[256];

    (void) ac;
    op->queued--;
    if (op->finished) {
        /* timed out before: only the last callback frees it */
        if (op->queued == 0) {
            op_finish(op, 0);
        }
        return;
    }
    if (rep == NULL) {
        ra_log_down(ra, "connection lost"); /* unless logged */
        ra_stale(ra);
        op_finish(op, 0);
        return;
    }
    if (registry_reply_failed(rep, err, sizeof(err))) {
        slog_warn(op->pool, op->id[0] ? op->id : NULL, "redis: %s", err);
        ra_fail(ra, "redis: %s", err);
        op->failed = 1;
        if (op->fenced && registry_error_fenced(err)) {
            ha_fenced(op->fence); /* that lease is over */
        } else if (strncmp(err, "READONLY", 8) == 0) {
            ra_stale(ra); /* a replica now */
            ra_drop(ra);
        }
    } else if (op->result && rep->type == REDIS_REPLY_INTEGER) {
        *op->result = rep->integer;
    }
    if (op->queued == 0) {
        op_finish(op, !op->failed);
    }
}

/* the op's timer: its time is up (or it failed before reaching Redis) */
static void
on_timeout(evutil_socket_t fd, short ev, void *arg)
{
    ra_op_t          *op = arg;
    registry_async_t *ra = op->ra;

    (void) fd;
    (void) ev;
    if (op->queued > 0) {
        ra_log_down(ra, "timed out");
        ra_stale(ra);
        /* a hung Redis holds every command behind op's too: the
           connection goes first, so that a done callback's new write
           gets a new one; op's replies (all on it) are NULL now, which
           finishes and frees op */
        ra_drop(ra);
        return;
    }
    if (op->waiting) {
        /* the connection never got ready: it goes, with its waiters */
        ra_log_down(ra, "timed out");
        ra_stale(ra);
        op->waiting = 0;
        ra_drop(ra);
    }
    op_finish(op, 0);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    registry_async_t *ra = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees ac after this (and fails its commands) */
        if (ra->ac == ac) {
            ra_log_down(ra, ac->errstr);
            ra->ac = NULL;
            ra->hello = 0;
            ra_stale(ra);
            fail_waiting(ra);
        }
    }
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    registry_async_t *ra = ac->data;

    (void) status;
    /* freed by hiredis after this */
    if (ra->ac == ac) {
        ra->ac = NULL;
        ra->hello = 0;
        fail_waiting(ra);
    }
}

/* the ops waiting for a connection that will not be ready fail (those
   their done callbacks start wait for the next one) */
static void
fail_waiting(registry_async_t *ra)
{
    ra_op_t *op;

    for (op = ra->ops; op; op = op->next) {
        op->doomed = op->waiting;
    }
    for (;;) {
        for (op = ra->ops; op && !op->doomed; op = op->next) {
            /* find one */
        }
        if (op == NULL) {
            return;
        }
        op->waiting = 0;
        op->doomed = 0;
        op_finish(op, 0);
    }
}

/* drops the connection: its pending callbacks run with a NULL reply, the
   ops waiting for it fail */
static void
ra_drop(registry_async_t *ra)
{
    redisAsyncContext *ac = ra->ac;

    if (ac != NULL) {
        ra->ac = NULL;
        ra->hello = 0;
        redisAsyncFree(ac); /* later, inside a callback */
    }
    fail_waiting(ra);
}

/* the connection is ready: the waiting ops go */
static void
ra_ready(registry_async_t *ra)
{
    ra_op_t *op, *next;

    for (op = ra->ops; op; op = next) {
        next = op->next;
        if (op->waiting) {
            op->waiting = 0;
            if (op_tx(op, ra->ac) != 0) {
                /* a transaction cut short (out of memory) must not stay:
                   the timer at once drops the connection */
                struct timeval now = { 0, 0 };

                op->waiting = op->queued == 0;
                evtimer_add(op->timer, &now);
            }
        }
    }
}

/* one reply of a connection's first commands (AUTH or PING, SELECT,
   ROLE); privdata: which (0, 1, 2) */
static void
on_hello(redisAsyncContext *ac, void *reply, void *privdata)
{
    registry_async_t *ra = ac->data;
    redisReply       *r = reply;
    intptr_t          step = (intptr_t) privdata;
    uint64_t          now = clock_mono_ms();
    char              user[96];

    if (ra->ac != ac || ra->hello == 0) {
        return; /* dropped meanwhile */
    }
    if (r == NULL) {
        return; /* on_disconnect, the timers */
    }
    if (step == 0 && r->type == REDIS_REPLY_ERROR
        && (ra->cfg.password || strncmp(r->str, "NOAUTH", 6) == 0))
    {
        ra_fail(ra, "redis %s:%d refused the credentials%s (%s: %s)", ra->host,
                ra->port, redis_who(&ra->cfg, user, sizeof(user)),
                ra->cfg.password ? "AUTH" : "no redis.password_file", r->str);
    } else if (step > 0 && r->type == REDIS_REPLY_ERROR) {
        ra_fail(ra, "redis %s:%d refused %s: %s", ra->host, ra->port,
                step == 1 ? "SELECT" : "ROLE", r->str);
    } else if (step == 2 && redis_role_master(r) != 1) {
        ra_fail(ra, "redis %s:%d is not the master", ra->host, ra->port);
        ra_stale(ra);
        ra_drop(ra);
        return;
    } else {
        if (--ra->hello == 0) {
            ra_ready(ra);
        }
        return;
    }
    /* refused: only the operator can fix it */
    ra->refused_until = now + REDIS_AUTH_RETRY_MS;
    if (now - ra->refused_logged >= REDIS_AUTH_LOG_MS
        || ra->refused_logged == 0) {
        slog_err(NULL, NULL, "%s (the loop's writes: retrying every %ds)",
                 ra->err, REDIS_AUTH_RETRY_MS / 1000);
        ra->refused_logged = now;
    }
    ra_drop(ra);
}

/* the connection (made with its first commands), or NULL (ra->err) */
static redisAsyncContext *
ra_get(registry_async_t *ra)
{
    redisAsyncContext *ac;
    const char        *argv[3];
    size_t             len[3];
    char               host[REDIS_HOST_MAX], db[16];
    int                port, n;
    unsigned           gen = 0;

    if (clock_mono_ms() < ra->refused_until) {
        return NULL; /* ra->err says why */
    }
    if (ra->cfg.master) {
        if (redis_topo_get(ra->topo, host, sizeof(host), &port, &gen) != 0) {
            ra_fail(ra,
                    "redis master \"%s\" not known yet (no sentinel "
                    "answered)",
                    ra->cfg.master);
            return NULL;
        }
        if (ra->ac && gen != ra->gen) {
            ra_drop(ra); /* it moved */
        }
    } else {
        snprintf(host, sizeof(host), "%s", ra->cfg.addr.host);
        port = ra->cfg.addr.port;
    }
    if (ra->ac) {
        return ra->ac;
    }
    snprintf(ra->host, sizeof(ra->host), "%s", host);
    ra->port = port;
    ra->gen = gen;
    ac = redisAsyncConnect(host, port);
    if (ac == NULL) {
        ra_log_down(ra, "out of memory");
        return NULL;
    }
    if (ac->err) {
        ra_log_down(ra, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = ra;
    if (redisLibeventAttach(ac, ra->base) != REDIS_OK) {
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ra->ac = ac;
    ra->hello = 0;
    n = redis_auth_argv(&ra->cfg, argv, len);
    if (n > 0) {
        redisAsyncCommandArgv(ac, on_hello, (void *) 0, n, argv, len);
    } else {
        redisAsyncCommand(ac, on_hello, (void *) 0, "PING");
    }
    ra->hello++;
    if (ra->cfg.db != 0) {
        snprintf(db, sizeof(db), "%d", ra->cfg.db);
        argv[0] = "SELECT";
        argv[1] = db;
        redisAsyncCommandArgv(ac, on_hello, (void *) 1, 2, argv, NULL);
        ra->hello++;
    }
    if (ra->cfg.master) {
        redisAsyncCommand(ac, on_hello, (void *) 2, "ROLE");
        ra->hello++;
    }
    return ac;
}

static ra_op_t *
op_new(registry_async_t *ra, const char *pool, const char *id,
       registry_async_done_t done, void *arg)
{
    ra_op_t *op = xcalloc(1, sizeof(*op));

    op->timer = evtimer_new(ra->base, on_timeout, op);
    if (op->timer == NULL) {
        free(op);
        return NULL;
    }
    op->ra = ra;
    op->done = done;
    op->arg = arg;
    snprintf(op->pool, sizeof(op->pool), "%s", pool);
    snprintf(op->id, sizeof(op->id), "%s", id ? id : "");
    /* the fence of the lease held now (ha.c), or none without ha */
    op->fenced = ha_fence(op->fence, sizeof(op->fence));
    op->next = ra->ops;
    if (ra->ops) {
        ra->ops->prev = op;
    }
    ra->ops = op;
    return op;
}

/* queues op's commands; -1 when hiredis refused one */
static int
op_tx(ra_op_t *op, redisAsyncContext *ac)
{
    registry_tx_t *tx = &op->tx;
    int            i;

    if (op->utx) {
        if (redisAsyncCommandArgv(ac, on_reply, op, op->utx->argc,
                                  op->utx->argv, op->utx->argvlen)
            != REDIS_OK)
        {
            return -1;
        }
        op->queued++;
        return 0;
    }
    for (i = 0; i < tx->n; i++) {
        if (redisAsyncCommandArgv(ac, on_reply, op, tx->cmd[i].argc,
                                  tx->cmd[i].argv, tx->cmd[i].argvlen)
            != REDIS_OK)
        {
            return -1;
        }
        op->queued++;
    }
    return 0;
}

/* op's tx (built into op) sent now or once the connection is ready; a
   failure before Redis is answered on the loop too.  A transaction cut
   short (hiredis refused a command: only when out of memory) must not
   stay open: with commands queued, the timer at once drops the
   connection (on_timeout) */
static void
op_run(ra_op_t *op, int built)
{
    registry_async_t  *ra = op->ra;
    redisAsyncContext *ac = NULL;
    struct timeval     tv = { 0, 0 };
    int                failed;

    if (built != 0) {
        ra_fail(ra, "no write for pool \"%s\"", op->pool);
        failed = 1;
    } else if ((ac = ra_get(ra)) == NULL) {
        failed = 1;
    } else if (ra->hello > 0) {
        op->waiting = 1;
        failed = 0;
    } else {
        failed = op_tx(op, ac) != 0;
    }
    if (!failed) {
        tv.tv_sec = REGISTRY_ASYNC_TIMEOUT_MS / 1000;
        tv.tv_usec = (REGISTRY_ASYNC_TIMEOUT_MS % 1000) * 1000;
    }
    evtimer_add(op->timer, &tv);
}

void
registry_async_capacity_set(registry_async_t *ra, const char *pool, int cap,
                            registry_async_done_t done, void *arg)
{
    ra_op_t *op = op_new(ra, pool, NULL, done, arg);

    if (op == NULL) {
        done(0, arg);
        return;
    }
    op_run(op,
           registry_tx_capacity(&op->tx, ra->prefix,
                                op->fenced ? op->fence : NULL, op->pool, cap));
}

void
registry_async_hash(registry_async_t *ra, const char *pool,
                    scaleset_key_kind_t kind, const char *const *fv, int n,
                    registry_async_done_t done, void *arg)
{
    ra_op_t *op = op_new(ra, pool, n >= 1 ? fv[0] : NULL, done, arg);

    if (op == NULL) {
        done(0, arg);
        return;
    }
    op_run(op,
           registry_tx_hash(&op->tx, ra->prefix, op->fenced ? op->fence : NULL,
                            op->pool, kind, fv, n));
}

void
registry_async_upgrade_write(registry_async_t *ra, const char *pool,
                             const upgrade_t *u, const char *expect,
                             long long *result, registry_async_done_t done,
                             void *arg)
{
    ra_op_t *op = op_new(ra, pool, NULL, done, arg);
    int      built = -1;

    *result = 0;
    if (op == NULL) {
        done(0, arg);
        return;
    }
    op->result = result;
    op->utx = xcalloc(1, sizeof(*op->utx));
    built =
        registry_tx_upgrade(op->utx, ra->prefix, op->fenced ? op->fence : NULL,
                            op->pool, u, expect);
    op_run(op, built);
}

void
registry_async_close(registry_async_t *ra)
{
    if (ra == NULL) {
        return;
    }
    /* the pending ops fail: their replies are NULL */
    ra_drop(ra);
    while (ra->ops) {
        ra->ops->waiting = 0;
        op_finish(ra->ops, 0);
    }
    redis_config_release(&ra->cfg);
    free(ra->prefix);
    free(ra);
}
