
/*
 * ngx_http_scaleset_module: Redis Sentinel.  With scaleset_redis
 * sentinel=NAME, the lease holder asks the sentinels in turn for the
 * master's address (SENTINEL get-master-addr-by-name, as the Sentinel
 * client guidelines say), stays subscribed to +switch-master on the one
 * that answered, and moves to the new master when a failover is
 * announced.  When the master connections fail, the sentinels are asked
 * again; the master is checked with ROLE after connecting.  Shared memory
 * keeps serving the last members throughout.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_scaleset.h"


static void ngx_http_scaleset_sentinel_on_master(redisAsyncContext *ac,
    void *r, void *data);
static void ngx_http_scaleset_sentinel_on_switch(redisAsyncContext *ac,
    void *r, void *data);
static ngx_int_t ngx_http_scaleset_sentinel_addr(u_char *host, size_t len,
    u_char *port, size_t plen);
static ngx_http_scaleset_addr_t *ngx_http_scaleset_sentinel_current(
    ngx_http_scaleset_redis_t *w);


static ngx_http_scaleset_addr_t *
ngx_http_scaleset_sentinel_current(ngx_http_scaleset_redis_t *w)
{
    ngx_http_scaleset_addr_t  *addrs;

    addrs = w->smcf->sentinels->elts;

    return &addrs[w->next_sentinel % w->smcf->sentinels->nelts];
}


/* connects to the next sentinel: its master's address, then +switch-master */

void
ngx_http_scaleset_sentinel_ask(ngx_http_scaleset_redis_t *w)
{
    ngx_http_scaleset_addr_t  *addr;

    addr = ngx_http_scaleset_sentinel_current(w);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, w->log, 0,
                   "scaleset sentinel: asking %V", &addr->text);

    if (w->cmd == NULL) {
        w->connect_started = ngx_current_msec;
    }

    w->sentinel = ngx_http_scaleset_redis_open(w, addr->host, addr->port);
    if (w->sentinel == NULL) {
        ngx_http_scaleset_sentinel_fail(w, "cannot open a connection");
        return;
    }

    redisAsyncCommand(w->sentinel, ngx_http_scaleset_sentinel_on_master, NULL,
                      "SENTINEL get-master-addr-by-name %b",
                      w->smcf->sentinel.data, w->smcf->sentinel.len);

    redisAsyncCommand(w->sentinel, ngx_http_scaleset_sentinel_on_switch, NULL,
                      "SUBSCRIBE +switch-master");
}


void
ngx_http_scaleset_sentinel_close(ngx_http_scaleset_redis_t *w)
{
    redisAsyncContext  *ac;

    if (w->sentinel) {
        ac = w->sentinel;
        w->sentinel = NULL;
        redisAsyncFree(ac);
    }
}


/*
 * The sentinel asked did not answer usefully: the next one is asked at
 * the next tick; when every one of them failed in a row, after a backoff.
 */

void
ngx_http_scaleset_sentinel_fail(ngx_http_scaleset_redis_t *w,
    const char *reason)
{
    ngx_msec_t                 delay;
    ngx_uint_t                 n;
    ngx_http_scaleset_addr_t  *addr;

    addr = ngx_http_scaleset_sentinel_current(w);

    ngx_http_scaleset_sentinel_close(w);

    ngx_http_scaleset_redis_error(w, NGX_HTTP_SCALESET_REDIS_SENTINEL,
                                  (char *) addr->text.data, reason);

    n = w->smcf->sentinels->nelts;

    if (w->sentinel_tries < n) {
        ngx_log_error(NGX_LOG_WARN, w->log, 0,
                      "scaleset: sentinel %V (master \"%V\"): %s",
                      &addr->text, &w->smcf->sentinel, reason);
    }

    w->next_sentinel++;
    w->sentinel_tries++;

    if (w->sentinel_tries % n) {
        w->next_connect = ngx_current_msec;
        return;
    }

    /* a round without an answer */

    delay = NGX_HTTP_SCALESET_BACKOFF_MIN
            << ngx_min(w->sentinel_tries / n, 10);
    delay = ngx_min(delay, NGX_HTTP_SCALESET_BACKOFF_MAX);
    delay += ngx_random() % (delay / 4 + 1);

    w->next_connect = ngx_current_msec + delay;

    if (w->sentinel_tries == n) {
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "scaleset: no sentinel knows master \"%V\", keeping "
                      "the current members and retrying",
                      &w->smcf->sentinel);
    }
}


static void
ngx_http_scaleset_sentinel_on_master(redisAsyncContext *ac, void *r,
    void *data)
{
    ngx_int_t                   port;
    redisReply                 *reply = r, *host, *p;
    ngx_http_scaleset_redis_t  *w = ac->data;

    if (reply == NULL || ac != w->sentinel) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_scaleset_sentinel_fail(w, reply->str);
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_http_scaleset_sentinel_fail(w, "the master is not known");
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_http_scaleset_sentinel_fail(w, "unexpected reply");
        return;
    }

    host = reply->element[0];
    p = reply->element[1];

    port = ngx_http_scaleset_sentinel_addr((u_char *) host->str, host->len,
                                           (u_char *) p->str, p->len);
    if (port == NGX_ERROR) {
        /* a worker never resolves a name: announce an IP (announce-ip) */
        ngx_http_scaleset_sentinel_fail(w, "the master's address is not an "
                                        "IP literal with a port");
        return;
    }

    w->sentinel_tries = 0;

    ngx_http_scaleset_redis_master(w, (u_char *) host->str, host->len, port,
                                   "asked a sentinel");
}


/* "+switch-master NAME OLD-IP OLD-PORT NEW-IP NEW-PORT" */

static void
ngx_http_scaleset_sentinel_on_switch(redisAsyncContext *ac, void *r,
    void *data)
{
    u_char                     *p, *last, *word[5];
    size_t                      len[5];
    ngx_int_t                   port;
    ngx_uint_t                  n;
    redisReply                 *reply = r, *msg;
    ngx_http_scaleset_redis_t  *w = ac->data;

    if (reply == NULL || ac != w->sentinel) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || ngx_strcmp(reply->element[0]->str, "message") != 0
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    msg = reply->element[2];
    p = (u_char *) msg->str;
    last = p + msg->len;

    for (n = 0; n < 5 && p < last; n++) {
        while (p < last && *p == ' ') {
            p++;
        }

        word[n] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        len[n] = p - word[n];
    }

    if (n != 5 || len[0] != w->smcf->sentinel.len
        || ngx_strncmp(word[0], w->smcf->sentinel.data, len[0]) != 0)
    {
        return;
    }

    port = ngx_http_scaleset_sentinel_addr(word[3], len[3], word[4], len[4]);
    if (port == NGX_ERROR) {
        return;
    }

    ngx_http_scaleset_redis_master(w, word[3], len[3], port,
                                   "+switch-master");
}


/* the port of "IP" "PORT" as a sentinel writes them, or NGX_ERROR */

static ngx_int_t
ngx_http_scaleset_sentinel_addr(u_char *host, size_t len, u_char *port,
    size_t plen)
{
    ngx_int_t  n;
#if (NGX_HAVE_INET6)
    u_char     in6[16];
#endif

    if (len == 0 || len > NGX_INET6_ADDRSTRLEN) {
        return NGX_ERROR;
    }

    if (ngx_inet_addr(host, len) == INADDR_NONE
#if (NGX_HAVE_INET6)
        && ngx_inet6_addr(host, len, in6) != NGX_OK
#endif
        )
    {
        return NGX_ERROR;
    }

    n = ngx_atoi(port, plen);

    if (n < 1 || n > 65535) {
        return NGX_ERROR;
    }

    return n;
}
