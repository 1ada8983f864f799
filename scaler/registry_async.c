/*
 * registry_async.c: the event loop's Redis writes, non-blocking (hiredis's
 * async API on its libevent adapter).  The commands are registry_tx.c's,
 * as registry.c's: the member removal is the write protocol's MULTI/EXEC.
 *
 * hiredis 0.14 has no command or connect timeout in its async API, so
 * every operation has a timer of its own (REGISTRY_ASYNC_TIMEOUT_MS): when
 * it fires first, the operation fails and the connection is dropped (a
 * hung Redis holds every later command too); the next operation connects
 * again.  Dropping runs the pending reply callbacks with a NULL reply: an
 * operation is freed only when its timer and every callback it queued are
 * done, and its done callback runs once, whichever comes first.
 */

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
    struct event_base   *base;
    char                *host;
    int                  port;
    char                *prefix;
    redisAsyncContext   *ac;            /* NULL: connect on the next op */
    ra_op_t             *ops;           /* not finished yet */
    int                  down_logged;
};

struct ra_op {
    registry_async_t      *ra;
    struct event          *timer;
    registry_async_done_t  done;
    void                  *arg;
    char                   pool[64];
    char                   id[64];
    int                    queued;      /* reply callbacks still to come */
    int                    failed;      /* an error reply */
    int                    finished;    /* done called */
    long long             *result;      /* an integer reply, when asked */
    ra_op_t               *prev, *next; /* in ra->ops until finished */
};

static void ra_drop(registry_async_t *ra);

registry_async_t *
registry_async_open(struct event_base *base, const char *host, int port,
    const char *prefix)
{
    registry_async_t  *ra = calloc(1, sizeof(*ra));

    if (ra == NULL) {
        return NULL;
    }
    ra->base = base;
    ra->host = strdup(host);
    ra->port = port;
    ra->prefix = strdup(prefix);
    if (ra->host == NULL || ra->prefix == NULL) {
        free(ra->host);
        free(ra->prefix);
        free(ra);
        return NULL;
    }
    return ra;
}

static void
ra_log_down(registry_async_t *ra, const char *why)
{
    if (!ra->down_logged) {
        slog(NULL, NULL, "redis %s:%d unreachable from the loop: %s",
             ra->host, ra->port, why);
        ra->down_logged = 1;
    }
}

/* the end of an op: done once; freed when no callback can come anymore */
static void
op_finish(ra_op_t *op, int ok)
{
    registry_async_t  *ra = op->ra;

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
        free(op);
    }
}

/* a reply of one of op's commands; NULL: the connection went away */
static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ra_op_t     *op = privdata;
    redisReply  *rep = reply;
    char         err[256];

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
        ra_log_down(op->ra, "connection lost");   /* unless logged */
        op_finish(op, 0);
        return;
    }
    if (registry_reply_failed(rep, err, sizeof(err))) {
        slog(op->pool, op->id[0] ? op->id : NULL, "redis: %s", err);
        op->failed = 1;
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
    ra_op_t           *op = arg;
    registry_async_t  *ra = op->ra;

    (void) fd; (void) ev;
    if (op->queued > 0) {
        ra_log_down(ra, "timed out");
        /* a hung Redis holds every command behind op's too: the
           connection goes first, so that a done callback's new write
           gets a new one; op's replies (all on it) are NULL now, which
           finishes and frees op */
        ra_drop(ra);
        return;
    }
    op_finish(op, 0);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    registry_async_t  *ra = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees ac after this (and fails its commands) */
        ra_log_down(ra, ac->errstr);
        if (ra->ac == ac) {
            ra->ac = NULL;
        }
    }
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    registry_async_t  *ra = ac->data;

    (void) status;
    /* freed by hiredis after this */
    if (ra->ac == ac) {
        ra->ac = NULL;
    }
}

/* drops the connection: its pending callbacks run with a NULL reply */
static void
ra_drop(registry_async_t *ra)
{
    redisAsyncContext  *ac = ra->ac;

    if (ac != NULL) {
        ra->ac = NULL;
        redisAsyncFree(ac);
    }
}

static redisAsyncContext *
ra_get(registry_async_t *ra)
{
    redisAsyncContext  *ac;

    if (ra->ac) {
        return ra->ac;
    }
    ac = redisAsyncConnect(ra->host, ra->port);
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
    return ac;
}

static ra_op_t *
op_new(registry_async_t *ra, const char *pool, const char *id,
    registry_async_done_t done, void *arg)
{
    ra_op_t  *op = calloc(1, sizeof(*op));

    if (op == NULL) {
        return NULL;
    }
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
    op->next = ra->ops;
    if (ra->ops) {
        ra->ops->prev = op;
    }
    ra->ops = op;
    return op;
}

/* cmds queued (or not: failed is set), the op waits for its replies or
   its timer; a failure before Redis is answered on the loop too */
static void
op_start(ra_op_t *op, int failed)
{
    struct timeval  tv = { 0, 0 };

    if (!failed) {
        tv.tv_sec = REGISTRY_ASYNC_TIMEOUT_MS / 1000;
        tv.tv_usec = (REGISTRY_ASYNC_TIMEOUT_MS % 1000) * 1000;
    }
    evtimer_add(op->timer, &tv);
}

/* queues tx's commands on op; -1 when hiredis refused one */
static int
op_tx(ra_op_t *op, redisAsyncContext *ac, registry_tx_t *tx)
{
    int  i;

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

/* an op running tx; a failure before Redis is answered on the loop too.
   A transaction cut short (hiredis refused a command: only when out of
   memory) must not stay open: with commands queued, the timer at once
   drops the connection (on_timeout) */
static void
op_run(registry_async_t *ra, const char *pool, const char *id, int built,
    registry_tx_t *tx, registry_async_done_t done, void *arg)
{
    ra_op_t            *op = op_new(ra, pool, id, done, arg);
    redisAsyncContext  *ac = NULL;

    if (op == NULL) {
        done(0, arg);
        return;
    }
    op_start(op, built != 0 || (ac = ra_get(ra)) == NULL
                 || op_tx(op, ac, tx) != 0);
}

void
registry_async_capacity_set(registry_async_t *ra, const char *pool, int cap,
    registry_async_done_t done, void *arg)
{
    registry_tx_t  tx;

    op_run(ra, pool, NULL, registry_tx_capacity(&tx, ra->prefix, pool, cap),
           &tx, done, arg);
}

void
registry_async_member_del(registry_async_t *ra, const char *pool,
    const char *id, registry_async_done_t done, void *arg)
{
    registry_tx_t  tx;

    op_run(ra, pool, id,
           registry_tx_member(&tx, ra->prefix, pool, id, NULL, 0), &tx,
           done, arg);
}

void
registry_async_upgrade_write(registry_async_t *ra, const char *pool,
    const upgrade_t *u, const char *expect, long long *result,
    registry_async_done_t done, void *arg)
{
    registry_upgrade_tx_t  tx;
    ra_op_t               *op;
    redisAsyncContext     *ac = NULL;
    int                    failed;

    *result = 0;
    if ((op = op_new(ra, pool, NULL, done, arg)) == NULL) {
        done(0, arg);
        return;
    }
    op->result = result;
    failed = registry_tx_upgrade(&tx, ra->prefix, pool, u, expect) != 0;
    if (!failed) {
        /* hiredis copies the arguments into its output buffer */
        failed = (ac = ra_get(ra)) == NULL
                 || redisAsyncCommandArgv(ac, on_reply, op, tx.argc,
                                          tx.argv, tx.argvlen) != REDIS_OK;
        op->queued += !failed;
        registry_tx_upgrade_free(&tx);
    }
    op_start(op, failed);
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
        op_finish(ra->ops, 0);
    }
    free(ra->host);
    free(ra->prefix);
    free(ra);
}
