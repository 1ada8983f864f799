
/*
 * ngx_http_scaleset_module: Redis.  A hiredis async adapter for nginx's
 * event loop (the shape of hiredis's adapters/libevent.h), the lease that
 * lets one worker at a time hold the connections, the subscriber, the
 * MULTI/HGETALL/GET/EXEC reads and the reconnect backoff.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_scaleset.h"


typedef struct {
    ngx_cycle_t                    *cycle;
    ngx_log_t                      *log;
    ngx_http_scaleset_main_conf_t  *smcf;

    ngx_event_t                     tick;

    redisAsyncContext              *cmd;
    redisAsyncContext              *sub;

    ngx_msec_t                      next_connect;
    ngx_msec_t                      connect_started;
    ngx_uint_t                      failures;

    unsigned                        holder:1;
    unsigned                        closing:1;
    unsigned                        cmd_ready:1;
    unsigned                        sub_ready:1;
    unsigned                        up:1;
    unsigned                        down_logged:1;
} ngx_http_scaleset_worker_t;


static void ngx_http_scaleset_tick(ngx_event_t *ev);
static void ngx_http_scaleset_release(ngx_http_scaleset_worker_t *w);
static void ngx_http_scaleset_connect(ngx_http_scaleset_worker_t *w);
static redisAsyncContext *ngx_http_scaleset_redis_open(
    ngx_http_scaleset_worker_t *w);
static void ngx_http_scaleset_close(ngx_http_scaleset_worker_t *w);
static void ngx_http_scaleset_fail(ngx_http_scaleset_worker_t *w,
    const char *what, const char *reason);
static void ngx_http_scaleset_check_up(ngx_http_scaleset_worker_t *w);
static void ngx_http_scaleset_fetch(ngx_http_scaleset_worker_t *w,
    ngx_http_scaleset_srv_conf_t *sscf);

static void ngx_http_scaleset_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_scaleset_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_scaleset_on_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scaleset_on_exec(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scaleset_on_message(redisAsyncContext *ac, void *r,
    void *data);
static ngx_int_t ngx_http_scaleset_apply_reply(ngx_http_scaleset_worker_t *w,
    ngx_http_scaleset_srv_conf_t *sscf, redisReply *reply);

static ngx_int_t ngx_http_scaleset_attach(redisAsyncContext *ac,
    ngx_log_t *log);
static void ngx_http_scaleset_ev_read(ngx_event_t *ev);
static void ngx_http_scaleset_ev_write(ngx_event_t *ev);
static void ngx_http_scaleset_add_read(void *privdata);
static void ngx_http_scaleset_del_read(void *privdata);
static void ngx_http_scaleset_add_write(void *privdata);
static void ngx_http_scaleset_del_write(void *privdata);
static void ngx_http_scaleset_cleanup(void *privdata);


/* this process's Redis side; workers are processes, so one per process */
static ngx_http_scaleset_worker_t  *ngx_http_scaleset_worker;


ngx_int_t
ngx_http_scaleset_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_http_scaleset_worker_t     *w;
    ngx_http_scaleset_main_conf_t  *smcf;

    ngx_http_scaleset_worker = NULL;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_scaleset_module);
    if (smcf == NULL || smcf->pools.nelts == 0 || smcf->sh == NULL) {
        return NGX_OK;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_http_scaleset_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->cycle = cycle;
    w->log = cycle->log;
    w->smcf = smcf;

    w->tick.handler = ngx_http_scaleset_tick;
    w->tick.data = w;
    w->tick.log = cycle->log;
    w->tick.cancelable = 1;

    ngx_http_scaleset_worker = w;

    /* spread the first lease attempts of the workers */
    ngx_add_timer(&w->tick, 10 + ngx_random() % 50);

    return NGX_OK;
}


void
ngx_http_scaleset_redis_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_scaleset_worker) {
        ngx_http_scaleset_release(ngx_http_scaleset_worker);
        ngx_http_scaleset_worker = NULL;
    }
}


/* 1 when this process holds the lease and its connections are up */

ngx_uint_t
ngx_http_scaleset_redis_ready(void)
{
    ngx_http_scaleset_worker_t  *w;

    w = ngx_http_scaleset_worker;

    return w != NULL && w->holder && w->up && w->cmd != NULL;
}


/*
 * Sends a command on the command connection of the lease holder; the
 * reply is only checked for an error, logged with what.
 */

ngx_int_t
ngx_http_scaleset_redis_argv(const char *what, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_http_scaleset_worker_t  *w;

    if (!ngx_http_scaleset_redis_ready()) {
        return NGX_DECLINED;
    }

    w = ngx_http_scaleset_worker;

    if (redisAsyncCommandArgv(w->cmd, ngx_http_scaleset_on_reply,
                              (void *) what, argc, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the lease: one worker of this nginx holds the Redis connections */

static void
ngx_http_scaleset_tick(ngx_event_t *ev)
{
    ngx_http_scaleset_worker_t *w = ev->data;

    ngx_pid_t                        pid;
    ngx_msec_t                       now;
    ngx_uint_t                       i, take;
    ngx_msec_int_t                   age;
    ngx_http_scaleset_srv_conf_t   **pools;
    ngx_http_scaleset_main_shctx_t  *sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_scaleset_release(w);
        return;
    }

    sh = w->smcf->sh;
    now = ngx_current_msec;
    pid = (ngx_pid_t) sh->lease_pid;

    if (pid == ngx_pid) {
        sh->lease_heartbeat = now;

    } else {
        if (w->holder) {
            ngx_log_error(NGX_LOG_WARN, w->log, 0,
                          "scaleset: worker %P lost the Redis lease to %P",
                          ngx_pid, pid);
            w->holder = 0;
            ngx_http_scaleset_close(w);
        }

        age = (ngx_msec_int_t) (now - (ngx_msec_t) sh->lease_heartbeat);

        take = (pid == 0
                || (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH)
                || age > NGX_HTTP_SCALESET_LEASE_STALE);

        if (take
            && ngx_atomic_cmp_set(&sh->lease_pid, (ngx_atomic_uint_t) pid,
                                  (ngx_atomic_uint_t) ngx_pid))
        {
            sh->lease_heartbeat = now;
            (void) ngx_atomic_fetch_add(&sh->lease_changes, 1);

            ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                          "scaleset: worker %P holds the Redis lease "
                          "(previous holder %P)", ngx_pid, pid);

            w->holder = 1;
            w->failures = 0;
            w->next_connect = now;

            /* members a reload's scaleset_allow no longer lets in */

            pools = w->smcf->pools.elts;

            for (i = 0; i < w->smcf->pools.nelts; i++) {
                if (ngx_http_scaleset_refilter(pools[i], w->log) == NGX_OK) {
                    (void) ngx_http_scaleset_state_write(pools[i], w->log);
                }
            }
        }
    }

    if (w->holder) {

        if (w->cmd == NULL && w->sub == NULL) {
            if ((ngx_msec_int_t) (now - w->next_connect) >= 0) {
                ngx_http_scaleset_connect(w);
            }

        } else if (!w->up
                   && (ngx_msec_int_t) (now - w->connect_started)
                      > NGX_HTTP_SCALESET_CONNECT_TIMEOUT)
        {
            ngx_http_scaleset_fail(w, "connect", "timed out");

        } else if (w->up) {
            pools = w->smcf->pools.elts;

            for (i = 0; i < w->smcf->pools.nelts; i++) {
                if ((ngx_msec_int_t) (now - pools[i]->next_resync) >= 0) {
                    pools[i]->next_resync = now + pools[i]->resync;
                    ngx_http_scaleset_fetch(w, pools[i]);
                }
            }
        }
    }

    ngx_add_timer(&w->tick, NGX_HTTP_SCALESET_LEASE_TICK);
}


static void
ngx_http_scaleset_release(ngx_http_scaleset_worker_t *w)
{
    ngx_http_scaleset_main_shctx_t  *sh;

    ngx_http_scaleset_close(w);

    if (w->tick.timer_set) {
        ngx_del_timer(&w->tick);
    }

    sh = w->smcf->sh;

    if (w->holder
        && ngx_atomic_cmp_set(&sh->lease_pid, (ngx_atomic_uint_t) ngx_pid, 0))
    {
        ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                      "scaleset: worker %P released the Redis lease",
                      ngx_pid);
    }

    w->holder = 0;
}


static redisAsyncContext *
ngx_http_scaleset_redis_open(ngx_http_scaleset_worker_t *w)
{
    redisAsyncContext              *ac;
    ngx_http_scaleset_main_conf_t  *smcf;

    smcf = w->smcf;

    /* an IP literal or a unix path: no resolver involved, non-blocking */

    if (smcf->redis_port == 0) {
        ac = redisAsyncConnectUnix((char *) smcf->redis_host.data);

    } else {
        ac = redisAsyncConnect((char *) smcf->redis_host.data,
                               (int) smcf->redis_port);
    }

    if (ac == NULL) {
        ngx_http_scaleset_fail(w, "connect", "out of memory");
        return NULL;
    }

    if (ac->err) {
        ngx_http_scaleset_fail(w, "connect", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    ac->data = w;

    if (ngx_http_scaleset_attach(ac, w->log) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_scaleset_fail(w, "connect", "no free connection");
        return NULL;
    }

    redisAsyncSetConnectCallback(ac, ngx_http_scaleset_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_scaleset_on_disconnect);

    if (smcf->password.len) {
        redisAsyncCommand(ac, ngx_http_scaleset_on_reply, "AUTH",
                          "AUTH %s", smcf->password.data);
    }

    return ac;
}


static void
ngx_http_scaleset_connect(ngx_http_scaleset_worker_t *w)
{
    const char                     **argv;
    size_t                          *argvlen;
    ngx_uint_t                       i, n;
    ngx_http_scaleset_srv_conf_t   **pools;
    ngx_http_scaleset_main_conf_t   *smcf;

    smcf = w->smcf;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, w->log, 0,
                   "scaleset redis: connecting to %V", &smcf->redis);

    w->connect_started = ngx_current_msec;
    w->cmd_ready = 0;
    w->sub_ready = 0;

    w->cmd = ngx_http_scaleset_redis_open(w);
    if (w->cmd == NULL) {
        return;
    }

    w->sub = ngx_http_scaleset_redis_open(w);
    if (w->sub == NULL) {
        return;
    }

    /* commands queue until the connection is up */

    if (smcf->db) {
        redisAsyncCommand(w->cmd, ngx_http_scaleset_on_reply, "SELECT",
                          "SELECT %d", (int) smcf->db);
    }

    pools = smcf->pools.elts;
    n = smcf->pools.nelts;

    argv = ngx_alloc((n + 1) * (sizeof(char *) + sizeof(size_t)), w->log);
    if (argv == NULL) {
        ngx_http_scaleset_fail(w, "subscribe", "out of memory");
        return;
    }

    argvlen = (size_t *) (argv + n + 1);

    argv[0] = "SUBSCRIBE";
    argvlen[0] = sizeof("SUBSCRIBE") - 1;

    for (i = 0; i < n; i++) {
        argv[i + 1] = (char *) pools[i]->key_events.data;
        argvlen[i + 1] = pools[i]->key_events.len;
    }

    redisAsyncCommandArgv(w->sub, ngx_http_scaleset_on_message, NULL,
                          (int) n + 1, argv, argvlen);

    ngx_free(argv);

    for (i = 0; i < n; i++) {
        pools[i]->fetching = 0;
        pools[i]->refetch = 0;
        ngx_http_scaleset_fetch(w, pools[i]);
    }
}


static void
ngx_http_scaleset_close(ngx_http_scaleset_worker_t *w)
{
    ngx_uint_t                      i;
    redisAsyncContext              *ac;
    ngx_http_scaleset_srv_conf_t  **pools;

    if (w->closing) {
        return;
    }

    w->closing = 1;

    /* the pointers go first: callbacks run while the contexts are freed */

    if (w->cmd) {
        ac = w->cmd;
        w->cmd = NULL;
        redisAsyncFree(ac);
    }

    if (w->sub) {
        ac = w->sub;
        w->sub = NULL;
        redisAsyncFree(ac);
    }

    w->closing = 0;
    w->cmd_ready = 0;
    w->sub_ready = 0;

    pools = w->smcf->pools.elts;
    for (i = 0; i < w->smcf->pools.nelts; i++) {
        pools[i]->fetching = 0;
        pools[i]->refetch = 0;
    }

    if (w->up) {
        w->up = 0;
        w->smcf->sh->redis_up = 0;
    }
}


static void
ngx_http_scaleset_fail(ngx_http_scaleset_worker_t *w, const char *what,
    const char *reason)
{
    ngx_msec_t  delay;

    if (w->closing) {
        return;
    }

    ngx_http_scaleset_close(w);

    (void) ngx_atomic_fetch_add(&w->smcf->sh->redis_errors, 1);

    delay = NGX_HTTP_SCALESET_BACKOFF_MIN << ngx_min(w->failures, 10);
    delay = ngx_min(delay, NGX_HTTP_SCALESET_BACKOFF_MAX);
    w->failures++;

    /* a little jitter so that several gateways do not retry in step */
    delay += ngx_random() % (delay / 4 + 1);

    w->next_connect = ngx_current_msec + delay;

    if (!w->down_logged) {
        w->down_logged = 1;
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "scaleset: redis %V unavailable (%s: %s), keeping the "
                      "current members and retrying",
                      &w->smcf->redis, what, reason);

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, w->log, 0,
                       "scaleset redis: %s: %s, retry in %M",
                       what, reason, delay);
    }
}


static void
ngx_http_scaleset_check_up(ngx_http_scaleset_worker_t *w)
{
    if (w->up || !w->cmd_ready || !w->sub_ready) {
        return;
    }

    w->up = 1;
    w->failures = 0;
    w->smcf->sh->redis_up = 1;

    ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                  "scaleset: redis %V connected%s", &w->smcf->redis,
                  w->down_logged ? " again" : "");

    w->down_logged = 0;
}


static void
ngx_http_scaleset_fetch(ngx_http_scaleset_worker_t *w,
    ngx_http_scaleset_srv_conf_t *sscf)
{
    if (w->cmd == NULL) {
        return;
    }

    if (sscf->fetching) {
        sscf->refetch = 1;
        return;
    }

    sscf->fetching = 1;
    sscf->next_resync = ngx_current_msec + sscf->resync;

    /* one snapshot of the hash and the epoch */

    redisAsyncCommand(w->cmd, NULL, NULL, "MULTI");
    redisAsyncCommand(w->cmd, NULL, NULL, "HGETALL %b",
                      sscf->key_members.data, sscf->key_members.len);
    redisAsyncCommand(w->cmd, NULL, NULL, "GET %b",
                      sscf->key_epoch.data, sscf->key_epoch.len);
    redisAsyncCommand(w->cmd, ngx_http_scaleset_on_exec, sscf, "EXEC");
}


static void
ngx_http_scaleset_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_scaleset_worker_t *w = ac->data;

    if (status == REDIS_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, w->log, 0,
                       "scaleset redis: connected");
        return;
    }

    /* hiredis frees the context after this callback */

    if (ac == w->cmd) {
        w->cmd = NULL;

    } else if (ac == w->sub) {
        w->sub = NULL;

    } else {
        return;
    }

    ngx_http_scaleset_fail(w, "connect", ac->errstr ? ac->errstr : "error");
}


static void
ngx_http_scaleset_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_scaleset_worker_t *w = ac->data;

    if (ac == w->cmd) {
        w->cmd = NULL;

    } else if (ac == w->sub) {
        w->sub = NULL;

    } else {
        /* freed by us */
        return;
    }

    ngx_http_scaleset_fail(w, "connection",
                           (status == REDIS_OK || ac->errstr == NULL
                            || ac->errstr[0] == '\0')
                           ? "closed" : ac->errstr);
}


static void
ngx_http_scaleset_on_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                  *reply = r;
    ngx_http_scaleset_worker_t  *w = ac->data;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_scaleset_fail(w, data, reply->str);
    }
}


static void
ngx_http_scaleset_on_message(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                     *reply = r, *kind, *ch;
    ngx_uint_t                      i;
    ngx_http_scaleset_worker_t     *w = ac->data;
    ngx_http_scaleset_srv_conf_t  **pools;

    if (reply == NULL || ac != w->sub) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_scaleset_fail(w, "SUBSCRIBE", reply->str);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
        return;
    }

    kind = reply->element[0];
    ch = reply->element[1];

    if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING) {
        return;
    }

    if (ngx_strcmp(kind->str, "subscribe") == 0) {
        w->sub_ready = 1;
        ngx_http_scaleset_check_up(w);
        return;
    }

    if (ngx_strcmp(kind->str, "message") != 0) {
        return;
    }

    /* a hint: re-read the pool */

    pools = w->smcf->pools.elts;

    for (i = 0; i < w->smcf->pools.nelts; i++) {
        if (pools[i]->key_events.len == ch->len
            && ngx_strncmp(pools[i]->key_events.data, ch->str, ch->len) == 0)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, w->log, 0,
                           "scaleset redis: pool \"%V\" event \"%s\"",
                           &pools[i]->pool,
                           reply->element[2]->type == REDIS_REPLY_STRING
                           ? reply->element[2]->str : "");

            ngx_http_scaleset_fetch(w, pools[i]);
        }
    }
}


static void
ngx_http_scaleset_on_exec(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scaleset_srv_conf_t *sscf = data;

    redisReply                  *reply = r;
    ngx_http_scaleset_worker_t  *w = ac->data;

    sscf->fetching = 0;

    if (reply == NULL || ac != w->cmd) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_scaleset_fail(w, "EXEC", reply->str);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_ARRAY)
    {
        /* e.g. WRONGTYPE inside the transaction */
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
            && reply->element[0]->type == REDIS_REPLY_ERROR)
        {
            ngx_log_error(NGX_LOG_ERR, w->log, 0,
                          "scaleset: pool \"%V\": HGETALL %V: %s",
                          &sscf->pool, &sscf->key_members,
                          reply->element[0]->str);

        } else {
            ngx_http_scaleset_fail(w, "EXEC", "unexpected reply");
            return;
        }

    } else if (w->holder
               && w->smcf->sh->lease_pid == (ngx_atomic_uint_t) ngx_pid)
    {
        /* a holder that stalled may have lost the lease meanwhile */
        (void) ngx_http_scaleset_apply_reply(w, sscf, reply);
    }

    w->cmd_ready = 1;
    ngx_http_scaleset_check_up(w);

    if (sscf->refetch && w->cmd) {
        sscf->refetch = 0;
        ngx_http_scaleset_fetch(w, sscf);
    }
}


static ngx_int_t
ngx_http_scaleset_apply_reply(ngx_http_scaleset_worker_t *w,
    ngx_http_scaleset_srv_conf_t *sscf, redisReply *reply)
{
    uint64_t      epoch, old;
    ngx_int_t     rc;
    ngx_uint_t    i, bad;
    ngx_pool_t   *pool;
    redisReply   *h, *e, *f, *v;
    ngx_array_t   members;

    h = reply->element[0];
    e = reply->element[1];

    epoch = 0;

    if (e->type == REDIS_REPLY_NIL && h->elements == 0
        && sscf->sh->members > 0)
    {
        /*
         * no epoch and no members: a Redis that lost its data (restarted
         * without persistence), not an emptied pool; keep what we have
         */

        if (!sscf->empty_logged) {
            sscf->empty_logged = 1;
            ngx_log_error(NGX_LOG_WARN, w->log, 0,
                          "scaleset: pool \"%V\": %V and %V do not exist, "
                          "keeping the %ui known members",
                          &sscf->pool, &sscf->key_members, &sscf->key_epoch,
                          sscf->sh->members);
        }

        return NGX_DECLINED;
    }

    sscf->empty_logged = 0;

    if (e->type == REDIS_REPLY_STRING) {
        for (i = 0; i < e->len && e->str[i] >= '0' && e->str[i] <= '9'; i++) {
            epoch = epoch * 10 + (e->str[i] - '0');
        }

    } else if (e->type == REDIS_REPLY_INTEGER) {
        epoch = (uint64_t) e->integer;
    }

    pool = ngx_create_pool(4096, w->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&members, pool, h->elements / 2 + 1,
                       sizeof(ngx_http_scaleset_member_t))
        != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    bad = 0;

    for (i = 0; i + 1 < h->elements; i += 2) {
        f = h->element[i];
        v = h->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        rc = ngx_http_scaleset_add_member(sscf, &members, (u_char *) f->str,
                                          f->len, (u_char *) v->str, v->len,
                                          1, w->log);
        if (rc == NGX_ERROR) {
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            bad++;
        }
    }

    sscf->sh->bad_records = bad;

    old = sscf->sh->epoch;

    rc = ngx_http_scaleset_apply(sscf, &members, epoch,
                                 NGX_HTTP_SCALESET_SOURCE_REDIS, w->log);

    if (rc == NGX_OK || old != epoch) {
        (void) ngx_http_scaleset_state_write(sscf, w->log);
    }

    ngx_destroy_pool(pool);

    return rc;
}


/*
 * The adapter: a hiredis async context driven by nginx's event loop.  The
 * socket gets an ngx_connection_t with level-triggered events (hiredis
 * reads once per call), and hiredis keeps owning the descriptor.
 */

static ngx_int_t
ngx_http_scaleset_attach(redisAsyncContext *ac, ngx_log_t *log)
{
    ngx_connection_t  *c;

    if (ac->ev.data != NULL) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->read->handler = ngx_http_scaleset_ev_read;
    c->write->handler = ngx_http_scaleset_ev_write;

    /* closed at graceful shutdown, like an idle keepalive connection */
    c->idle = 1;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_scaleset_add_read;
    ac->ev.delRead = ngx_http_scaleset_del_read;
    ac->ev.addWrite = ngx_http_scaleset_add_write;
    ac->ev.delWrite = ngx_http_scaleset_del_write;
    ac->ev.cleanup = ngx_http_scaleset_cleanup;

    ngx_http_scaleset_add_read(c);
    ngx_http_scaleset_add_write(c);

    return NGX_OK;
}


static void
ngx_http_scaleset_ev_read(ngx_event_t *ev)
{
    ngx_connection_t   *c = ev->data;
    redisAsyncContext  *ac = c->data;

    if (c->close) {
        /* graceful shutdown */
        if (ngx_http_scaleset_worker) {
            ngx_http_scaleset_release(ngx_http_scaleset_worker);
        }

        return;
    }

    redisAsyncHandleRead(ac);
}


static void
ngx_http_scaleset_ev_write(ngx_event_t *ev)
{
    ngx_connection_t   *c = ev->data;
    redisAsyncContext  *ac = c->data;

    redisAsyncHandleWrite(ac);
}


/* hiredis asks for a read or write interest to be added or removed */

static void
ngx_http_scaleset_event_set(ngx_event_t *ev, ngx_int_t event, ngx_uint_t on)
{
    if (on && !ev->active) {
        (void) ngx_add_event(ev, event, NGX_LEVEL_EVENT);

    } else if (!on && ev->active) {
        (void) ngx_del_event(ev, event, 0);
    }
}


static void
ngx_http_scaleset_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_scaleset_event_set(c->read, NGX_READ_EVENT, 1);
}


static void
ngx_http_scaleset_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_scaleset_event_set(c->read, NGX_READ_EVENT, 0);
}


static void
ngx_http_scaleset_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_scaleset_event_set(c->write, NGX_WRITE_EVENT, 1);
}


static void
ngx_http_scaleset_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_scaleset_event_set(c->write, NGX_WRITE_EVENT, 0);
}


static void
ngx_http_scaleset_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_scaleset_del_read(c);
    ngx_http_scaleset_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    /* hiredis closes the descriptor itself */
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}
