
/*
 * ngx_http_scaleset_module: Redis.  The lease that lets one worker at a
 * time hold the connections, the subscriber, the reads of a pool (HLEN,
 * then MULTI/HGETALL/GET/EXEC), the reconnect backoff, a command timeout
 * that tells a hung Redis from a quiet one, and credentials.  The master
 * is the configured address, or the one the sentinels name
 * (ngx_http_scaleset_sentinel.c).  hiredis runs on nginx's event loop
 * (ngx_http_scaleset_hiredis.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_scaleset.h"


/* unsent commands beyond this are refused: a slow Redis gets no pile */
#define NGX_HTTP_SCALESET_REDIS_MAX_OBUF  (1024 * 1024)


static void ngx_http_scaleset_tick(ngx_event_t *ev);
static void ngx_http_scaleset_take_lease(ngx_http_scaleset_redis_t *w,
    ngx_pid_t pid);
static void ngx_http_scaleset_release(ngx_http_scaleset_redis_t *w);
static void ngx_http_scaleset_connect(ngx_http_scaleset_redis_t *w);
static void ngx_http_scaleset_auth(ngx_http_scaleset_redis_t *w,
    redisAsyncContext *ac);
static void ngx_http_scaleset_close(ngx_http_scaleset_redis_t *w);
static void ngx_http_scaleset_check_up(ngx_http_scaleset_redis_t *w);
static ngx_uint_t ngx_http_scaleset_error_kind(const char *str);
static void ngx_http_scaleset_fetch(ngx_http_scaleset_redis_t *w,
    ngx_http_scaleset_srv_conf_t *sscf, ngx_uint_t full);
static void ngx_http_scaleset_fetched(ngx_http_scaleset_redis_t *w,
    ngx_http_scaleset_srv_conf_t *sscf);
static uint64_t ngx_http_scaleset_epoch(redisReply *e);
static void ngx_http_scaleset_refuse(ngx_http_scaleset_redis_t *w,
    ngx_http_scaleset_srv_conf_t *sscf, ngx_uint_t n);
static ngx_uint_t ngx_http_scaleset_hash_max(
    ngx_http_scaleset_srv_conf_t *sscf);

static void ngx_http_scaleset_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_scaleset_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_scaleset_on_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scaleset_on_report(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scaleset_on_wait(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scaleset_on_role(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scaleset_on_hlen(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scaleset_on_epoch(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scaleset_on_exec(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scaleset_on_message(redisAsyncContext *ac, void *r,
    void *data);
static ngx_int_t ngx_http_scaleset_apply_reply(ngx_http_scaleset_redis_t *w,
    ngx_http_scaleset_srv_conf_t *sscf, redisReply *reply);


static const char  *ngx_http_scaleset_error_kinds[] = {
    "connection", "timeout", "auth", "reply", "protocol", "sentinel"
};


/* this process's Redis side; workers are processes, so one per process */
static ngx_http_scaleset_redis_t  *ngx_http_scaleset_worker;


ngx_int_t
ngx_http_scaleset_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i, n;
    ngx_http_scaleset_redis_t      *w;
    ngx_http_scaleset_srv_conf_t  **pools;
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

    /* the largest reply: HGETALL of the largest hash a pool reads */

    n = 0;
    pools = smcf->pools.elts;

    for (i = 0; i < smcf->pools.nelts; i++) {
        n = ngx_max(n, 2 * ngx_http_scaleset_hash_max(pools[i]));
    }

    ngx_http_scaleset_hiredis_limit(n + 16);

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_http_scaleset_redis_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->cycle = cycle;
    w->log = cycle->log;
    w->smcf = smcf;

    if (smcf->sentinel.len == 0) {
        ngx_cpystrn(w->host, smcf->master.host, sizeof(w->host));
        w->port = smcf->master.port;
        ngx_cpystrn(w->name, smcf->master.text.data,
                    ngx_min(smcf->master.text.len + 1, sizeof(w->name)));
        w->master_known = 1;
    }

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
    ngx_http_scaleset_redis_shutdown();
}


/* graceful shutdown: the connections close, the lease goes at once */

void
ngx_http_scaleset_redis_shutdown(void)
{
    if (ngx_http_scaleset_worker) {
        ngx_http_scaleset_release(ngx_http_scaleset_worker);
    }
}


/*
 * 1 when this process holds the lease and its connections are up; a
 * holder that stalled and lost the lease to another worker sends nothing
 * more, even before its tick notices
 */

ngx_uint_t
ngx_http_scaleset_redis_ready(void)
{
    ngx_http_scaleset_redis_t  *w;

    w = ngx_http_scaleset_worker;

    return w != NULL && w->holder && w->up && w->cmd != NULL
           && w->smcf->sh->lease_pid == (ngx_atomic_uint_t) ngx_pid;
}


/* changes with every connection this process makes to Redis */

ngx_uint_t
ngx_http_scaleset_redis_serial(void)
{
    return ngx_http_scaleset_worker ? ngx_http_scaleset_worker->serial : 0;
}


/* the name of a kind of failure, as the status page and metrics say */

const char *
ngx_http_scaleset_redis_kind(ngx_uint_t kind)
{
    return ngx_http_scaleset_error_kinds[kind];
}


/* 1 when unsent commands already fill the command connection's buffer */

ngx_uint_t
ngx_http_scaleset_redis_busy(void)
{
    ngx_http_scaleset_redis_t  *w;

    w = ngx_http_scaleset_worker;

    return !ngx_http_scaleset_redis_ready()
           || sdslen(w->cmd->c.obuf) > NGX_HTTP_SCALESET_REDIS_MAX_OBUF;
}


/*
 * Sends a command on the command connection of the lease holder; an error
 * reply is logged with what (ngx_http_scaleset_redis_refused).  With wait,
 * wait->pending is set until the reply (or the connection's end) arrives,
 * so a caller sends nothing more meanwhile, and wait->done gets the reply.
 */

ngx_int_t
ngx_http_scaleset_redis_argv(const char *what, int argc, const char **argv,
    const size_t *argvlen, ngx_http_scaleset_redis_wait_t *wait)
{
    int                         rc;
    ngx_http_scaleset_redis_t  *w;

    if (!ngx_http_scaleset_redis_ready()) {
        return NGX_DECLINED;
    }

    w = ngx_http_scaleset_worker;

    if (wait) {
        wait->what = what;

        rc = redisAsyncCommandArgv(w->cmd, ngx_http_scaleset_on_wait, wait,
                                   argc, argv, argvlen);
        if (rc == REDIS_OK) {
            wait->pending = 1;
        }

    } else {
        rc = redisAsyncCommandArgv(w->cmd, ngx_http_scaleset_on_report,
                                   (void *) what, argc, argv, argvlen);
    }

    return rc == REDIS_OK ? NGX_OK : NGX_ERROR;
}


/*
 * Whether the pool's members are stale: not confirmed by a read from
 * Redis for longer than a resync, the timeout and two ticks.  *since is
 * the time of that last read (or when the members were loaded).
 */

ngx_uint_t
ngx_http_scaleset_redis_stale(ngx_http_scaleset_srv_conf_t *sscf,
    uint64_t *since)
{
    uint64_t                    now, synced;
    ngx_time_t                 *tp;
    ngx_http_scaleset_shctx_t  *sh;

    sh = sscf->sh;
    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;
    synced = sh->synced;

    *since = synced ? synced : sh->started;

    return synced == 0
           || now > synced + sscf->resync + sscf->main->timeout
                    + 2 * NGX_HTTP_SCALESET_LEASE_TICK;
}


/* the lease: one worker of this nginx holds the Redis connections */

static void
ngx_http_scaleset_tick(ngx_event_t *ev)
{
    ngx_http_scaleset_redis_t *w = ev->data;

    ngx_pid_t                        pid;
    ngx_msec_t                       now, timeout;
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
    timeout = w->smcf->timeout;

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
            ngx_http_scaleset_take_lease(w, pid);
        }
    }

    if (!w->holder) {
        goto next;
    }

    if (w->cmd == NULL && w->sub == NULL) {

        if ((ngx_msec_int_t) (now - w->next_connect) < 0) {
            goto next;
        }

        if (w->master_known) {
            ngx_http_scaleset_connect(w);

        } else if (w->sentinel == NULL) {
            ngx_http_scaleset_sentinel_ask(w);

        } else if (ngx_http_scaleset_hiredis_stalled(w->sentinel, timeout)
                   || now - w->connect_started > timeout)
        {
            ngx_http_scaleset_sentinel_fail(w, "timed out");
        }

        goto next;
    }

    if (!w->up) {
        if (now - w->connect_started > timeout) {
            ngx_http_scaleset_redis_fail(w,
                                         NGX_HTTP_SCALESET_REDIS_TIMEOUT_ERR,
                                         "connect", "timed out");
        }

        goto next;
    }

    /* a Redis that stopped answering looks connected: time its replies */

    if (w->cmd && ngx_http_scaleset_hiredis_stalled(w->cmd, timeout)) {
        ngx_http_scaleset_redis_fail(w, NGX_HTTP_SCALESET_REDIS_TIMEOUT_ERR,
                                     "command", "no reply in time");
        goto next;
    }

    /* the subscription to +switch-master, when its sentinel went away */

    if (w->smcf->sentinel.len && w->sentinel == NULL
        && (ngx_msec_int_t) (now - w->next_connect) >= 0)
    {
        ngx_http_scaleset_sentinel_ask(w);
    }

    pools = w->smcf->pools.elts;

    for (i = 0; i < w->smcf->pools.nelts; i++) {
        if ((ngx_msec_int_t) (now - pools[i]->next_resync) >= 0) {
            pools[i]->next_resync = now + pools[i]->resync;
            ngx_http_scaleset_fetch(w, pools[i], 0);
        }
    }

next:

    ngx_add_timer(&w->tick, NGX_HTTP_SCALESET_LEASE_TICK);
}


static void
ngx_http_scaleset_take_lease(ngx_http_scaleset_redis_t *w, ngx_pid_t pid)
{
    ngx_uint_t                      i;
    ngx_http_scaleset_srv_conf_t  **pools;

    w->smcf->sh->lease_heartbeat = ngx_current_msec;
    (void) ngx_atomic_fetch_add(&w->smcf->sh->lease_changes, 1);

    ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                  "scaleset: worker %P holds the Redis lease "
                  "(previous holder %P)", ngx_pid, pid);

    w->holder = 1;
    w->failures = 0;
    w->next_connect = ngx_current_msec;

    /* members a reload's scaleset_allow no longer lets in */

    pools = w->smcf->pools.elts;

    for (i = 0; i < w->smcf->pools.nelts; i++) {
        if (ngx_http_scaleset_refilter(pools[i], w->log) == NGX_OK) {
            (void) ngx_http_scaleset_state_write(pools[i], w->log);
        }
    }
}


static void
ngx_http_scaleset_release(ngx_http_scaleset_redis_t *w)
{
    ngx_http_scaleset_main_shctx_t  *sh;

    ngx_http_scaleset_close(w);
    ngx_http_scaleset_sentinel_close(w);

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


/* a context to Redis or a sentinel, driven by the event loop */

redisAsyncContext *
ngx_http_scaleset_redis_open(ngx_http_scaleset_redis_t *w, u_char *host,
    ngx_int_t port)
{
    redisAsyncContext  *ac;

    /* an IP literal or a unix path: no resolver involved, non-blocking */

    if (port == 0) {
        ac = redisAsyncConnectUnix((char *) host);

    } else {
        ac = redisAsyncConnect((char *) host, (int) port);
    }

    if (ac == NULL) {
        return NULL;
    }

    if (ac->err) {
        ngx_http_scaleset_redis_error(w, NGX_HTTP_SCALESET_REDIS_CONNECTION,
                                      "connect", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    ac->data = w;

    if (ngx_http_scaleset_hiredis_attach(ac, w->log) != NGX_OK) {
        redisAsyncFree(ac);
        return NULL;
    }

    if (port) {
        /* a peer that vanished without a word is noticed in time */
        (void) redisEnableKeepAlive(&ac->c);
    }

    redisAsyncSetConnectCallback(ac, ngx_http_scaleset_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_scaleset_on_disconnect);

    return ac;
}


static void
ngx_http_scaleset_connect(ngx_http_scaleset_redis_t *w)
{
    const char                     **argv;
    size_t                          *argvlen;
    ngx_uint_t                       i, n;
    ngx_http_scaleset_srv_conf_t   **pools;
    ngx_http_scaleset_main_conf_t   *smcf;

    smcf = w->smcf;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, w->log, 0,
                   "scaleset redis: connecting to %s", w->name);

    w->connect_started = ngx_current_msec;
    w->cmd_ready = 0;
    w->sub_ready = 0;

    w->cmd = ngx_http_scaleset_redis_open(w, w->host, w->port);
    if (w->cmd == NULL) {
        goto failed;
    }

    w->sub = ngx_http_scaleset_redis_open(w, w->host, w->port);
    if (w->sub == NULL) {
        goto failed;
    }

    /* commands queue until the connection is up */

    ngx_http_scaleset_auth(w, w->cmd);
    ngx_http_scaleset_auth(w, w->sub);

    if (smcf->sentinel.len) {
        /* what a sentinel names may have become a replica meanwhile */
        redisAsyncCommand(w->cmd, ngx_http_scaleset_on_role, NULL, "ROLE");
    }

    if (smcf->db) {
        redisAsyncCommand(w->cmd, ngx_http_scaleset_on_reply, "SELECT",
                          "SELECT %d", (int) smcf->db);
    }

    pools = smcf->pools.elts;
    n = smcf->pools.nelts;

    argv = ngx_alloc((n + 1) * (sizeof(char *) + sizeof(size_t)), w->log);
    if (argv == NULL) {
        goto failed;
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
        ngx_http_scaleset_fetch(w, pools[i], 1);
    }

    return;

failed:

    ngx_http_scaleset_redis_fail(w, NGX_HTTP_SCALESET_REDIS_CONNECTION,
                                 "connect", "cannot open a connection");
}


/* AUTH [username] password, as the first command of a connection */

static void
ngx_http_scaleset_auth(ngx_http_scaleset_redis_t *w, redisAsyncContext *ac)
{
    int                             argc;
    size_t                          argvlen[3];
    const char                     *argv[3];
    ngx_http_scaleset_main_conf_t  *smcf;

    smcf = w->smcf;

    if (smcf->password.len == 0) {
        return;
    }

    argc = 0;
    argv[argc] = "AUTH";
    argvlen[argc++] = 4;

    if (smcf->username.len) {
        argv[argc] = (char *) smcf->username.data;
        argvlen[argc++] = smcf->username.len;
    }

    argv[argc] = (char *) smcf->password.data;
    argvlen[argc++] = smcf->password.len;

    redisAsyncCommandArgv(ac, ngx_http_scaleset_on_reply, "AUTH", argc, argv,
                          argvlen);
}


static void
ngx_http_scaleset_close(ngx_http_scaleset_redis_t *w)
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
        pools[i]->read_ok = 0;
    }

    if (w->up) {
        w->up = 0;
        w->smcf->sh->redis_up = 0;
    }
}


/* counts a failure by kind and keeps its text for the status page */

void
ngx_http_scaleset_redis_error(ngx_http_scaleset_redis_t *w, ngx_uint_t kind,
    const char *what, const char *reason)
{
    ngx_time_t                      *tp;
    ngx_http_scaleset_main_shctx_t  *sh;

    sh = w->smcf->sh;

    (void) ngx_atomic_fetch_add(&sh->redis_errors, 1);
    (void) ngx_atomic_fetch_add(&sh->errors[kind], 1);

    tp = ngx_timeofday();
    sh->last_error_time = (uint64_t) tp->sec * 1000 + tp->msec;

    *ngx_snprintf(sh->last_error, NGX_HTTP_SCALESET_REDIS_ERRSTR - 1,
                  "%s: %s: %s", ngx_http_scaleset_error_kinds[kind], what,
                  reason)
        = '\0';
}


/*
 * The master connections failed: both go, with the sentinel's, and the
 * next attempt waits for a backoff (10 s for refused credentials, which
 * only the operator can fix).  Logged once per outage; credentials once
 * a minute.
 */

void
ngx_http_scaleset_redis_fail(ngx_http_scaleset_redis_t *w, ngx_uint_t kind,
    const char *what, const char *reason)
{
    ngx_msec_t  delay, now;

    if (w->closing) {
        return;
    }

    ngx_http_scaleset_close(w);

    ngx_http_scaleset_redis_error(w, kind, what, reason);

    now = ngx_current_msec;

    if (w->smcf->sentinel.len) {
        /* the sentinels are asked again: a failover may be the cause */
        ngx_http_scaleset_sentinel_close(w);
        w->master_known = 0;
    }

    if (kind == NGX_HTTP_SCALESET_REDIS_AUTH) {
        w->auth_failures++;
        w->next_connect = now + NGX_HTTP_SCALESET_AUTH_RETRY;

        if (!w->auth_failed || now - w->auth_logged
                               >= NGX_HTTP_SCALESET_AUTH_LOG)
        {
            ngx_log_error(NGX_LOG_ERR, w->log, 0,
                          "scaleset: redis %s refused the credentials%s%s "
                          "(%s: %s): keeping the current members, "
                          "%ui attempts, retrying every %Ms",
                          w->name,
                          w->smcf->username.len ? " of user " : "",
                          w->smcf->username.len
                          ? (char *) w->smcf->username.data : "",
                          what, reason, w->auth_failures,
                          (ngx_msec_t) NGX_HTTP_SCALESET_AUTH_RETRY / 1000);
            w->auth_logged = now;
        }

        w->auth_failed = 1;
        w->down_logged = 1;
        return;
    }

    delay = NGX_HTTP_SCALESET_BACKOFF_MIN << ngx_min(w->failures, 10);
    delay = ngx_min(delay, NGX_HTTP_SCALESET_BACKOFF_MAX);
    w->failures++;

    /* a little jitter so that several gateways do not retry in step */
    delay += ngx_random() % (delay / 4 + 1);

    w->next_connect = now + delay;

    if (!w->down_logged) {
        w->down_logged = 1;
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "scaleset: redis %s unavailable (%s: %s), keeping the "
                      "current members and retrying",
                      w->name[0] ? (char *) w->name : "master", what, reason);

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, w->log, 0,
                       "scaleset redis: %s: %s, retry in %M",
                       what, reason, delay);
    }
}


/*
 * The master's address, from a sentinel: connect there, or move there
 * when the connections are to another address.
 */

void
ngx_http_scaleset_redis_master(ngx_http_scaleset_redis_t *w, u_char *host,
    size_t len, ngx_int_t port, const char *how)
{
    u_char                          *p;
    ngx_uint_t                       same;
    ngx_http_scaleset_main_shctx_t  *sh;

    sh = w->smcf->sh;

    same = (w->port == port && ngx_strlen(w->host) == len
            && ngx_strncmp(w->host, host, len) == 0);

    if (same && w->master_known) {
        return;
    }

    if (!same && w->host[0]) {
        (void) ngx_atomic_fetch_add(&sh->master_changes, 1);
    }

    if (same) {
        /* asked again after a failure, the same answer */
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, w->log, 0,
                       "scaleset redis: master still at %*s:%i",
                       len, host, port);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                      "scaleset: redis master \"%V\" is at %*s:%i (%s)",
                      &w->smcf->sentinel, len, host, port, how);
    }

    ngx_memcpy(w->host, host, len);
    w->host[len] = '\0';
    w->port = port;

    p = ngx_snprintf(w->name, sizeof(w->name) - 1,
                     ngx_strlchr(host, host + len, ':') ? "[%*s]:%i"
                                                          : "%*s:%i",
                     len, host, port);
    *p = '\0';

    ngx_memcpy(sh->master, w->name, p - w->name + 1);

    w->master_known = 1;

    if (w->cmd || w->sub) {
        /* to the old master: the new one is read from scratch */
        ngx_http_scaleset_close(w);
    }

    w->failures = 0;
    w->next_connect = ngx_current_msec;

    ngx_http_scaleset_connect(w);
}


static void
ngx_http_scaleset_check_up(ngx_http_scaleset_redis_t *w)
{
    if (w->up || !w->cmd_ready || !w->sub_ready) {
        return;
    }

    w->up = 1;
    w->serial++;
    w->failures = 0;
    w->auth_failures = 0;
    w->smcf->sh->redis_up = 1;

    ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                  "scaleset: redis %s connected%s", w->name,
                  w->down_logged ? " again" : "");

    w->down_logged = 0;
    w->auth_failed = 0;
}


/* what an error reply says about whose fault it is */

static ngx_uint_t
ngx_http_scaleset_error_kind(const char *str)
{
    static const char  *auth[] = {
        "WRONGPASS", "NOAUTH", "NOPERM", "ERR invalid password",
        "ERR invalid username", "ERR AUTH", "ERR Client sent AUTH", NULL
    };

    ngx_uint_t  i;

    for (i = 0; auth[i]; i++) {
        if (ngx_strncmp(str, auth[i], ngx_strlen(auth[i])) == 0) {
            return NGX_HTTP_SCALESET_REDIS_AUTH;
        }
    }

    return NGX_HTTP_SCALESET_REDIS_REPLY;
}


/* the most fields a pool's hash may have to be read at all */

static ngx_uint_t
ngx_http_scaleset_hash_max(ngx_http_scaleset_srv_conf_t *sscf)
{
    return 2 * sscf->max_members + 16;
}


/*
 * A read of a pool: HLEN members and GET epoch first, then, when asked
 * (full: on connect, on a message, every NGX_HTTP_SCALESET_RESYNC_PROBES
 * resyncs) or when either moved since the last read that was applied,
 * MULTI/HGETALL/GET/EXEC.  Every writer increments the epoch (the write
 * protocol), so a resync that finds the epoch and the size as they were
 * confirms the members without reading and parsing max_members records.
 */

static void
ngx_http_scaleset_fetch(ngx_http_scaleset_redis_t *w,
    ngx_http_scaleset_srv_conf_t *sscf, ngx_uint_t full)
{
    if (w->cmd == NULL) {
        return;
    }

    if (sscf->fetching) {
        /* a resync is answered by the read in flight */
        sscf->refetch |= full;
        return;
    }

    /*
     * every few resyncs read the hash anyway: a write that broke the
     * protocol (no INCR of the epoch) costs at most that long
     */

    if (full || ++sscf->probes >= NGX_HTTP_SCALESET_RESYNC_PROBES) {
        full = 1;
        sscf->probes = 0;
    }

    sscf->fetching = 1;
    sscf->full = full;
    sscf->probe_fields = -1;
    sscf->next_resync = ngx_current_msec + sscf->resync;

    /* its size first: a hash far beyond max_members is not read */

    redisAsyncCommand(w->cmd, ngx_http_scaleset_on_hlen, sscf, "HLEN %b",
                      sscf->key_members.data, sscf->key_members.len);
    redisAsyncCommand(w->cmd, ngx_http_scaleset_on_epoch, sscf, "GET %b",
                      sscf->key_epoch.data, sscf->key_epoch.len);
}


/* the end of a read: the connection is usable, a full read may follow */

static void
ngx_http_scaleset_fetched(ngx_http_scaleset_redis_t *w,
    ngx_http_scaleset_srv_conf_t *sscf)
{
    sscf->fetching = 0;

    w->cmd_ready = 1;
    ngx_http_scaleset_check_up(w);

    if (sscf->refetch && w->cmd) {
        sscf->refetch = 0;
        ngx_http_scaleset_fetch(w, sscf, 1);
    }
}


/* an epoch as read: 0 for none */

static uint64_t
ngx_http_scaleset_epoch(redisReply *e)
{
    size_t    i;
    uint64_t  epoch;

    epoch = 0;

    if (e->type == REDIS_REPLY_STRING) {
        for (i = 0; i < e->len && e->str[i] >= '0' && e->str[i] <= '9'; i++) {
            epoch = epoch * 10 + (e->str[i] - '0');
        }

    } else if (e->type == REDIS_REPLY_INTEGER) {
        epoch = (uint64_t) e->integer;
    }

    return epoch;
}


/* a hash too large to read: the members stay, the refusal is reported */

static void
ngx_http_scaleset_refuse(ngx_http_scaleset_redis_t *w,
    ngx_http_scaleset_srv_conf_t *sscf, ngx_uint_t n)
{
    ngx_http_scaleset_shctx_t  *sh;

    sh = sscf->sh;

    (void) ngx_atomic_fetch_add(&sh->reads_refused, 1);

    if (sh->refused_size == 0) {
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "scaleset: pool \"%V\": %V has %ui fields, far more "
                      "than max_members=%ui: not read, keeping the %ui "
                      "current members", &sscf->pool, &sscf->key_members, n,
                      sscf->max_members, sh->members);
    }

    sh->refused_size = n;
}


static void
ngx_http_scaleset_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_scaleset_redis_t *w = ac->data;

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

    } else if (ac == w->sentinel) {
        w->sentinel = NULL;
        ngx_http_scaleset_sentinel_fail(w, ac->errstr ? ac->errstr : "error");
        return;

    } else {
        return;
    }

    ngx_http_scaleset_redis_fail(w, NGX_HTTP_SCALESET_REDIS_CONNECTION,
                                 "connect", ac->errstr ? ac->errstr : "error");
}


static void
ngx_http_scaleset_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_scaleset_redis_t *w = ac->data;

    ngx_uint_t   kind;
    const char  *reason;

    reason = ngx_http_scaleset_hiredis_refusal();
    kind = NGX_HTTP_SCALESET_REDIS_PROTOCOL;

    if (reason == NULL) {
        kind = NGX_HTTP_SCALESET_REDIS_CONNECTION;
        reason = (status == REDIS_OK || ac->errstr == NULL
                  || ac->errstr[0] == '\0')
                 ? "closed" : ac->errstr;
    }

    if (ac == w->cmd) {
        w->cmd = NULL;

    } else if (ac == w->sub) {
        w->sub = NULL;

    } else if (ac == w->sentinel) {
        w->sentinel = NULL;
        ngx_http_scaleset_sentinel_fail(w, reason);
        return;

    } else {
        /* freed by us */
        return;
    }

    ngx_http_scaleset_redis_fail(w, kind, "connection", reason);
}


static void
ngx_http_scaleset_on_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                 *reply = r;
    ngx_http_scaleset_redis_t  *w = ac->data;

    if (reply == NULL || (ac != w->cmd && ac != w->sub)) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_scaleset_redis_fail(w,
                                     ngx_http_scaleset_error_kind(reply->str),
                                     data, reply->str);
    }
}


/*
 * A refused write (an ACL without the health key, a read-only replica)
 * leaves the reads working: counted and logged once a minute, and the
 * connection stays, unless it is not authenticated at all or, with
 * Sentinel, talks to a replica.
 */

static void
ngx_http_scaleset_on_report(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                 *reply = r;
    ngx_http_scaleset_redis_t  *w = ac->data;

    if (reply == NULL || ac != w->cmd || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    ngx_http_scaleset_redis_refused(data, reply->str);
}


/* an error reply (str) to a write of the lease holder's: what */

void
ngx_http_scaleset_redis_refused(const char *what, const char *str)
{
    ngx_uint_t                  kind;
    ngx_http_scaleset_redis_t  *w;

    w = ngx_http_scaleset_worker;

    if (w == NULL || w->cmd == NULL) {
        return;
    }

    kind = ngx_http_scaleset_error_kind(str);

    if (ngx_strncmp(str, "NOAUTH", 6) == 0
        || (w->smcf->sentinel.len && ngx_strncmp(str, "READONLY", 8) == 0))
    {
        ngx_http_scaleset_redis_fail(w, kind, what, str);
        return;
    }

    ngx_http_scaleset_redis_error(w, kind, what, str);

    if (ngx_current_msec - w->report_logged >= NGX_HTTP_SCALESET_AUTH_LOG
        || w->report_logged == 0)
    {
        w->report_logged = ngx_current_msec;
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "scaleset: redis %s refused a %s: %s", w->name, what,
                      str);
    }
}


/* the end of a caller's command: it may send the next one */

static void
ngx_http_scaleset_on_wait(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scaleset_redis_wait_t *wait = data;

    wait->pending = 0;

    ngx_http_scaleset_on_report(ac, r, (void *) wait->what);

    if (wait->done) {
        wait->done(wait, r);
    }
}


static void
ngx_http_scaleset_on_role(redisAsyncContext *ac, void *r, void *data)
{
    u_char                      buf[64];
    redisReply                 *reply = r;
    ngx_http_scaleset_redis_t  *w = ac->data;

    if (reply == NULL || ac != w->cmd) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_scaleset_redis_fail(w,
                                     ngx_http_scaleset_error_kind(reply->str),
                                     "ROLE", reply->str);
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
        && reply->element[0]->type == REDIS_REPLY_STRING
        && ngx_strcmp(reply->element[0]->str, "master") == 0)
    {
        return;
    }

    *ngx_snprintf(buf, sizeof(buf) - 1, "not a master (%s)",
                  reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
                  && reply->element[0]->type == REDIS_REPLY_STRING
                  ? reply->element[0]->str : "unknown")
        = '\0';

    ngx_http_scaleset_redis_fail(w, NGX_HTTP_SCALESET_REDIS_REPLY, "ROLE",
                                 (char *) buf);
}


static void
ngx_http_scaleset_on_message(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                     *reply = r, *kind, *ch;
    ngx_uint_t                      i;
    ngx_http_scaleset_redis_t      *w = ac->data;
    ngx_http_scaleset_srv_conf_t  **pools;

    if (reply == NULL || ac != w->sub) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_scaleset_redis_fail(w,
                                     ngx_http_scaleset_error_kind(reply->str),
                                     "SUBSCRIBE", reply->str);
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

            ngx_http_scaleset_fetch(w, pools[i], 1);
        }
    }
}


static void
ngx_http_scaleset_on_hlen(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scaleset_srv_conf_t *sscf = data;

    redisReply                 *reply = r;
    ngx_http_scaleset_redis_t  *w = ac->data;

    /* the GET that follows ends the probe, also when this one failed */

    if (reply == NULL || ac != w->cmd) {
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER) {
        sscf->probe_fields = reply->integer > NGX_MAX_INT_T_VALUE
                             ? NGX_MAX_INT_T_VALUE
                             : reply->integer < 0 ? -1
                             : (ngx_int_t) reply->integer;
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && ngx_http_scaleset_error_kind(reply->str)
           == NGX_HTTP_SCALESET_REDIS_AUTH)
    {
        ngx_http_scaleset_redis_fail(w, NGX_HTTP_SCALESET_REDIS_AUTH, "HLEN",
                                     reply->str);
    }

    /* other errors are judged at the read's EXEC */
}


static void
ngx_http_scaleset_on_epoch(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scaleset_srv_conf_t *sscf = data;

    ngx_time_t                 *tp;
    redisReply                 *reply = r;
    ngx_http_scaleset_redis_t  *w = ac->data;

    if (reply == NULL || ac != w->cmd) {
        sscf->fetching = 0;
        return;
    }

    if (sscf->probe_fields > (ngx_int_t) ngx_http_scaleset_hash_max(sscf)) {
        sscf->read_ok = 0;
        ngx_http_scaleset_refuse(w, sscf, (ngx_uint_t) sscf->probe_fields);
        ngx_http_scaleset_fetched(w, sscf);
        return;
    }

    if (!sscf->full && sscf->read_ok
        && reply->type != REDIS_REPLY_ERROR
        && sscf->probe_fields == (ngx_int_t) sscf->read_fields
        && ngx_http_scaleset_epoch(reply) == sscf->read_epoch
        && w->smcf->sh->lease_pid == (ngx_atomic_uint_t) ngx_pid)
    {
        /* the members as they were: confirmed, not read again */

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, w->log, 0,
                       "scaleset redis: pool \"%V\" epoch %uL unchanged",
                       &sscf->pool, sscf->read_epoch);

        tp = ngx_timeofday();
        sscf->sh->synced = (uint64_t) tp->sec * 1000 + tp->msec;

        ngx_http_scaleset_fetched(w, sscf);
        return;
    }

    /* one snapshot of the hash and the epoch; errors are judged there */

    sscf->read_ok = 0;

    redisAsyncCommand(w->cmd, NULL, NULL, "MULTI");
    redisAsyncCommand(w->cmd, NULL, NULL, "HGETALL %b",
                      sscf->key_members.data, sscf->key_members.len);
    redisAsyncCommand(w->cmd, NULL, NULL, "GET %b",
                      sscf->key_epoch.data, sscf->key_epoch.len);
    redisAsyncCommand(w->cmd, ngx_http_scaleset_on_exec, sscf, "EXEC");
}


static void
ngx_http_scaleset_on_exec(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scaleset_srv_conf_t *sscf = data;

    redisReply                  *reply = r;
    ngx_http_scaleset_redis_t   *w = ac->data;

    if (reply == NULL || ac != w->cmd) {
        sscf->fetching = 0;
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        sscf->fetching = 0;
        ngx_http_scaleset_redis_fail(w,
                                     ngx_http_scaleset_error_kind(reply->str),
                                     "EXEC", reply->str);
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
            sscf->fetching = 0;
            ngx_http_scaleset_redis_fail(w, NGX_HTTP_SCALESET_REDIS_PROTOCOL,
                                         "EXEC", "unexpected reply");
            return;
        }

    } else if (reply->element[0]->elements / 2
               > ngx_http_scaleset_hash_max(sscf))
    {
        /* it grew between HLEN and HGETALL */
        ngx_http_scaleset_refuse(w, sscf, reply->element[0]->elements / 2);

    } else if (w->holder
               && w->smcf->sh->lease_pid == (ngx_atomic_uint_t) ngx_pid)
    {
        /* a holder that stalled may have lost the lease meanwhile */
        (void) ngx_http_scaleset_apply_reply(w, sscf, reply);
    }

    ngx_http_scaleset_fetched(w, sscf);
}


static ngx_int_t
ngx_http_scaleset_apply_reply(ngx_http_scaleset_redis_t *w,
    ngx_http_scaleset_srv_conf_t *sscf, redisReply *reply)
{
    uint64_t      epoch, old;
    ngx_int_t     rc;
    ngx_uint_t    i, bad;
    ngx_pool_t   *pool;
    ngx_time_t   *tp;
    redisReply   *h, *e, *f, *v;
    ngx_array_t   members;

    h = reply->element[0];
    e = reply->element[1];

    sscf->sh->refused_size = 0;

    if (e->type == REDIS_REPLY_NIL && h->elements == 0
        && sscf->sh->members > 0)
    {
        /*
         * no epoch and no members: a Redis that lost its data (restarted
         * without persistence), not an emptied pool; keep what we have
         * (and stay stale: Redis does not confirm it)
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

    epoch = ngx_http_scaleset_epoch(e);

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

    if (rc == NGX_OK) {
        ngx_http_scaleset_check_added(sscf);
    }

    if (rc != NGX_ERROR) {
        tp = ngx_timeofday();
        sscf->sh->synced = (uint64_t) tp->sec * 1000 + tp->msec;

        /* while this gateway has no report in Redis, one at once */
        ngx_http_scaleset_report_soon(sscf);

        /* what the next resync compares */
        sscf->read_ok = 1;
        sscf->read_epoch = epoch;
        sscf->read_fields = h->elements / 2;
    }

    if (rc == NGX_OK || old != epoch) {
        (void) ngx_http_scaleset_state_write(sscf, w->log);
    }

    ngx_destroy_pool(pool);

    return rc;
}
