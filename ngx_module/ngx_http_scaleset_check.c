
/*
 * ngx_http_scaleset_module: active health checks.  Every worker checks the
 * members whose slot index falls to it (slot % workers), from its own event
 * loop: connect, send an HTTP/1.0 GET, read the answer, each step bounded
 * by one timeout.  Every outcome goes through ngx_http_scaleset_check_done(),
 * the only place that moves a member between unchecked, up and down.
 * A member the lease holder adds is checked by it at once, whichever
 * worker owns its slot (ngx_http_scaleset_check_added()): the owner takes
 * over from that first result.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_scaleset.h"


#define NGX_HTTP_SCALESET_CHECK_BUFFER  16384
#define NGX_HTTP_SCALESET_CHECK_SCAN    100      /* ms */


typedef struct ngx_http_scaleset_check_pool_s  ngx_http_scaleset_check_pool_t;

/* one member's check in this worker */
typedef struct {
    ngx_http_scaleset_check_pool_t  *cp;
    ngx_uint_t                       slot;
    ngx_atomic_uint_t                generation;

    ngx_peer_connection_t            pc;
    ngx_event_t                      timeout;

    ngx_msec_t                       started;
    ngx_msec_t                       next;
    size_t                           sent;
    size_t                           received;
    u_char                          *buf;

    unsigned                         busy:1;
    unsigned                         known:1;
} ngx_http_scaleset_check_peer_t;


/* one pool's checks in this worker */
struct ngx_http_scaleset_check_pool_s {
    ngx_http_scaleset_srv_conf_t    *sscf;
    ngx_http_scaleset_check_conf_t  *conf;
    ngx_http_scaleset_check_peer_t  *peers;     /* max_members */
    ngx_event_t                      scan;
    ngx_log_t                       *log;
};


static void ngx_http_scaleset_check_scan(ngx_event_t *ev);
static void ngx_http_scaleset_check_start(ngx_http_scaleset_check_peer_t *cp);
static void ngx_http_scaleset_check_write(ngx_event_t *ev);
static void ngx_http_scaleset_check_read(ngx_event_t *ev);
static void ngx_http_scaleset_check_timeout(ngx_event_t *ev);
static ngx_int_t ngx_http_scaleset_check_connected(
    ngx_http_scaleset_check_peer_t *cp);
static void ngx_http_scaleset_check_io_failed(
    ngx_http_scaleset_check_peer_t *cp, ngx_event_t *ev, ssize_t n);
static scaleset_check_result_t ngx_http_scaleset_check_answer(
    ngx_http_scaleset_check_peer_t *cp, ngx_uint_t closed);
static void ngx_http_scaleset_check_done(ngx_http_scaleset_check_peer_t *cp,
    scaleset_check_result_t result);
static void ngx_http_scaleset_check_close(ngx_http_scaleset_check_peer_t *cp);
static ngx_msec_t ngx_http_scaleset_check_next(
    ngx_http_scaleset_check_conf_t *conf, ngx_msec_t from);


/* scaleset_health_check [uri=] [interval=] [jitter=] [timeout=] [fails=]
 * [passes=] [status=] [body=] [mandatory|mandatory=off] [slow_start=] */

char *
ngx_http_scaleset_health_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_scaleset_srv_conf_t *sscf = conf;

    ngx_int_t                        n;
    ngx_str_t                       *value, s;
    ngx_uint_t                       i;
    ngx_msec_t                       ms;
    ngx_http_scaleset_check_conf_t  *hc;
#if (NGX_PCRE)
    u_char                           errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t              rc;
#endif

    if (sscf->check) {
        return "is duplicate";
    }

    hc = ngx_pcalloc(cf->pool, sizeof(ngx_http_scaleset_check_conf_t));
    if (hc == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&hc->uri, "/healthz");
    hc->interval = 2000;
    hc->jitter = 0;
    hc->timeout = 1000;
    hc->fails = 2;
    hc->passes = 2;
    hc->mandatory = 1;
    hc->slow_start = 0;
    (void) scaleset_status_ranges_parse("200-399", 7, &hc->status);

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "uri=", 4) == 0) {
            s.len = value[i].len - 4;
            s.data = value[i].data + 4;

            if (s.len == 0 || s.data[0] != '/') {
                goto invalid;
            }

            for (n = 0; n < (ngx_int_t) s.len; n++) {
                if (s.data[n] <= 0x20 || s.data[n] >= 0x7f) {
                    goto invalid;
                }
            }

            hc->uri = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0
            || ngx_strncmp(value[i].data, "jitter=", 7) == 0
            || ngx_strncmp(value[i].data, "timeout=", 8) == 0
            || ngx_strncmp(value[i].data, "slow_start=", 11) == 0)
        {
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            switch (value[i].data[0]) {
            case 'i':
                if (ms < 100) {
                    goto invalid;
                }
                hc->interval = ms;
                break;
            case 'j':
                hc->jitter = ms;
                break;
            case 't':
                if (ms == 0) {
                    goto invalid;
                }
                hc->timeout = ms;
                break;
            default:
                hc->slow_start = ms;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "fails=", 6) == 0
            || ngx_strncmp(value[i].data, "passes=", 7) == 0)
        {
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            n = ngx_atoi(s.data, s.len);
            if (n == NGX_ERROR || n < 1 || n > 1000) {
                goto invalid;
            }

            if (value[i].data[0] == 'f') {
                hc->fails = n;
            } else {
                hc->passes = n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "status=", 7) == 0) {
            if (scaleset_status_ranges_parse((char *) value[i].data + 7,
                                             value[i].len - 7, &hc->status)
                != 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "body=", 5) == 0) {
#if (NGX_PCRE)
            ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

            rc.pattern.len = value[i].len - 5;
            rc.pattern.data = value[i].data + 5;
            rc.pool = cf->pool;
            rc.err.len = NGX_MAX_CONF_ERRSTR;
            rc.err.data = errstr;

            if (rc.pattern.len == 0) {
                goto invalid;
            }

            if (ngx_regex_compile(&rc) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\" in "
                                   "\"scaleset_health_check\": %V",
                                   &value[i], &rc.err);
                return NGX_CONF_ERROR;
            }

            hc->body = rc.regex;
            continue;
#else
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"body=\" in \"scaleset_health_check\" "
                               "needs nginx built with PCRE");
            return NGX_CONF_ERROR;
#endif
        }

        if (ngx_strcmp(value[i].data, "mandatory") == 0
            || ngx_strcmp(value[i].data, "mandatory=on") == 0)
        {
            hc->mandatory = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "mandatory=off") == 0) {
            hc->mandatory = 0;
            continue;
        }

        goto invalid;
    }

    if (hc->timeout >= hc->interval) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scaleset_health_check\" timeout=%Mms must be "
                           "shorter than interval=%Mms",
                           hc->timeout, hc->interval);
        return NGX_CONF_ERROR;
    }

    sscf->check = hc;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"scaleset_health_check\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_http_scaleset_check_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i, j;
    ngx_http_scaleset_srv_conf_t    **pools, *sscf;
    ngx_http_scaleset_check_pool_t   *cp;
    ngx_http_scaleset_main_conf_t    *smcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_scaleset_module);
    if (smcf == NULL) {
        return NGX_OK;
    }

    pools = smcf->pools.elts;

    for (i = 0; i < smcf->pools.nelts; i++) {
        sscf = pools[i];

        if (sscf->check == NULL || sscf->sh == NULL) {
            continue;
        }

        cp = ngx_pcalloc(cycle->pool, sizeof(ngx_http_scaleset_check_pool_t));
        if (cp == NULL) {
            return NGX_ERROR;
        }

        cp->peers = ngx_pcalloc(cycle->pool, sscf->sh->max_members
                                    * sizeof(ngx_http_scaleset_check_peer_t));
        if (cp->peers == NULL) {
            return NGX_ERROR;
        }

        cp->sscf = sscf;
        cp->conf = sscf->check;
        cp->log = cycle->log;
        sscf->checks = cp;

        for (j = 0; j < sscf->sh->max_members; j++) {
            cp->peers[j].cp = cp;
            cp->peers[j].slot = j;
        }

        cp->scan.handler = ngx_http_scaleset_check_scan;
        cp->scan.data = cp;
        cp->scan.log = cycle->log;
        cp->scan.cancelable = 1;

        ngx_add_timer(&cp->scan, ngx_random() % NGX_HTTP_SCALESET_CHECK_SCAN);
    }

    return NGX_OK;
}


/*
 * After the lease holder applied a membership from Redis: the members
 * just added, never checked, are checked now by this worker, whoever owns
 * their slot, instead of at the owner's next scan.  A new member still
 * gets no traffic before its first passing check with mandatory.
 */

void
ngx_http_scaleset_check_added(ngx_http_scaleset_srv_conf_t *sscf)
{
    ngx_uint_t                       i;
    ngx_http_scaleset_slot_t        *slot;
    ngx_http_scaleset_shctx_t       *sh;
    ngx_http_scaleset_check_pool_t  *cp;
    ngx_http_scaleset_check_peer_t  *peer;

    cp = sscf->checks;

    if (cp == NULL || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    sh = sscf->sh;

    for (i = 0; i < sh->max_members; i++) {
        slot = &sh->slots[i];
        peer = &cp->peers[i];

        if (!slot->in_use || slot->health_checked != 0
            || slot->health != NGX_HTTP_SCALESET_HEALTH_UNCHECKED
            || (peer->known && peer->generation == slot->generation))
        {
            continue;
        }

        if (peer->busy) {
            ngx_http_scaleset_check_close(peer);
        }

        peer->known = 1;
        peer->generation = slot->generation;
        peer->next = ngx_current_msec;

        /* the owner's next check counts from this one (its result
           follows): no second first check while this one runs */
        slot->health_checked = ngx_current_msec;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cp->log, 0,
                       "scaleset check: slot %ui added, checked now", i);

        ngx_http_scaleset_check_start(peer);
    }
}


/* starts the due checks of the members this worker owns */

static void
ngx_http_scaleset_check_scan(ngx_event_t *ev)
{
    ngx_http_scaleset_check_pool_t *cp = ev->data;

    ngx_uint_t                       i, workers, me, ramp;
    ngx_msec_t                       now;
    ngx_core_conf_t                 *ccf;
    ngx_http_scaleset_slot_t        *slot;
    ngx_http_scaleset_shctx_t       *sh;
    ngx_http_scaleset_check_peer_t  *peer;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        for (i = 0; i < cp->sscf->sh->max_members; i++) {
            if (cp->peers[i].busy) {
                ngx_http_scaleset_check_close(&cp->peers[i]);
            }
        }
        return;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    if (ngx_process == NGX_PROCESS_SINGLE || ccf->worker_processes < 1) {
        workers = 1;
        me = 0;

    } else {
        workers = ccf->worker_processes;
        me = ngx_worker;
    }

    sh = cp->sscf->sh;
    now = ngx_current_msec;
    ramp = 0;

    for (i = me; i < sh->max_members; i += workers) {
        slot = &sh->slots[i];
        peer = &cp->peers[i];

        if (!slot->in_use) {
            if (peer->busy) {
                ngx_http_scaleset_check_close(peer);
            }
            peer->known = 0;
            continue;
        }

        if (!peer->known || peer->generation != slot->generation) {
            /* a new member in this slot: check it at once, unless the
               lease holder checks it already (health_checked is reset
               when the slot is given to a member) */
            if (peer->busy) {
                ngx_http_scaleset_check_close(peer);
            }

            peer->known = 1;
            peer->generation = slot->generation;
            peer->next = slot->health_checked
                         ? ngx_http_scaleset_check_next(cp->conf,
                                                        slot->health_checked)
                         : now;
            slot->health_owner = (uint8_t) me;
        }

        if (!peer->busy && (ngx_msec_int_t) (now - peer->next) >= 0) {
            ngx_http_scaleset_check_start(peer);
        }

        if (cp->conf->slow_start
            && ngx_http_scaleset_check_ramp(cp->sscf, slot, now) != slot->ramp)
        {
            ramp = 1;
        }
    }

    /* a slow start of ours advanced a step: the schedule follows */

    if (ramp) {
        (void) ngx_http_scaleset_rebuild(cp->sscf, cp->log);
    }

    ngx_add_timer(ev, ngx_min(NGX_HTTP_SCALESET_CHECK_SCAN,
                              cp->conf->interval / 2));
}


static ngx_msec_t
ngx_http_scaleset_check_next(ngx_http_scaleset_check_conf_t *conf,
    ngx_msec_t from)
{
    ngx_msec_t  t;

    t = from + conf->interval;

    if (conf->jitter) {
        t += ngx_random() % (conf->jitter + 1);
    }

    return t;
}


static void
ngx_http_scaleset_check_start(ngx_http_scaleset_check_peer_t *peer)
{
    ngx_int_t                    rc;
    ngx_connection_t            *c;
    ngx_http_scaleset_slot_t    *slot;
    ngx_http_scaleset_shctx_t   *sh;
    ngx_http_scaleset_check_pool_t  *cp;

    cp = peer->cp;
    sh = cp->sscf->sh;
    slot = &sh->slots[peer->slot];

    if (peer->buf == NULL) {
        peer->buf = ngx_alloc(NGX_HTTP_SCALESET_CHECK_BUFFER, cp->log);
        if (peer->buf == NULL) {
            peer->next = ngx_http_scaleset_check_next(cp->conf,
                                                      ngx_current_msec);
            return;
        }
    }

    ngx_memzero(&peer->pc, sizeof(ngx_peer_connection_t));

    /* the address is read under the lock: the slot may be rewritten */

    peer->pc.sockaddr = (struct sockaddr *) (peer->buf
                                             + NGX_HTTP_SCALESET_CHECK_BUFFER
                                             - sizeof(struct sockaddr_storage));

    ngx_http_scaleset_rlock(sh->lock);

    if (slot->generation != peer->generation || !slot->in_use) {
        ngx_http_scaleset_runlock(sh->lock);
        return;
    }

    ngx_memcpy(peer->pc.sockaddr, &slot->sockaddr, slot->socklen);
    peer->pc.socklen = slot->socklen;

    ngx_http_scaleset_runlock(sh->lock);

    /* kept across a reload that no longer allows it: about to go */

    if (!ngx_http_scaleset_allowed(cp->sscf, peer->pc.sockaddr,
                                   peer->pc.socklen))
    {
        return;
    }

    peer->pc.name = &cp->sscf->upstream;
    peer->pc.get = ngx_event_get_peer;
    peer->pc.log = cp->log;
    peer->pc.log_error = NGX_ERROR_IGNORE_ECONNRESET;

    peer->busy = 1;
    peer->sent = 0;
    peer->received = 0;
    peer->started = ngx_current_msec;
    peer->next = ngx_http_scaleset_check_next(cp->conf, peer->started);

    peer->timeout.handler = ngx_http_scaleset_check_timeout;
    peer->timeout.data = peer;
    peer->timeout.log = cp->log;
    ngx_add_timer(&peer->timeout, cp->conf->timeout);

    rc = ngx_event_connect_peer(&peer->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_http_scaleset_check_done(peer,
                                     (rc == NGX_DECLINED
                                      && ngx_socket_errno == NGX_ECONNREFUSED)
                                     ? SCALESET_CHECK_CONNECT_REFUSED
                                     : SCALESET_CHECK_CONNECT_ERROR);
        return;
    }

    c = peer->pc.connection;
    c->data = peer;
    c->log = cp->log;
    c->read->log = cp->log;
    c->write->log = cp->log;
    c->read->handler = ngx_http_scaleset_check_read;
    c->write->handler = ngx_http_scaleset_check_write;
    c->sendfile = 0;

    if (rc == NGX_OK) {
        ngx_http_scaleset_check_write(c->write);
    }
}


/* after a non-blocking connect: did it succeed? */

static ngx_int_t
ngx_http_scaleset_check_connected(ngx_http_scaleset_check_peer_t *peer)
{
    int                err;
    socklen_t          len;
    ngx_connection_t  *c;

    c = peer->pc.connection;
    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err == 0) {
        return NGX_OK;
    }

    ngx_http_scaleset_check_done(peer, err == NGX_ECONNREFUSED
                                       ? SCALESET_CHECK_CONNECT_REFUSED
                                       : SCALESET_CHECK_CONNECT_ERROR);
    return NGX_ERROR;
}


static void
ngx_http_scaleset_check_write(ngx_event_t *ev)
{
    ngx_connection_t                *c;
    ngx_http_scaleset_check_peer_t  *peer;
    ngx_http_scaleset_check_conf_t  *conf;
    u_char                          *req, *last;
    ssize_t                          n;
    size_t                           len;

    c = ev->data;
    peer = c->data;
    conf = peer->cp->conf;

    if (!peer->busy || peer->sent == (size_t) -1) {
        return;
    }

    if (peer->sent == 0
        && ngx_http_scaleset_check_connected(peer) != NGX_OK)
    {
        return;
    }

    /* the request is written into the receive buffer, then replaced */

    req = peer->buf;
    last = ngx_snprintf(req, NGX_HTTP_SCALESET_CHECK_BUFFER / 2,
                        "GET %V HTTP/1.0" CRLF
                        "Host: %V" CRLF
                        "User-Agent: nginx-scaleset-check" CRLF
                        "Connection: close" CRLF CRLF,
                        &conf->uri, &peer->cp->sscf->upstream);
    len = last - req;

    while (peer->sent < len) {
        n = send(c->fd, req + peer->sent, len - peer->sent, 0);

        if (n > 0) {
            peer->sent += n;
            continue;
        }

        ngx_http_scaleset_check_io_failed(peer, ev, n);
        return;
    }

    /* sent: from now on only reads matter */

    peer->sent = (size_t) -1;

    if (c->write->active && ngx_del_event(c->write, NGX_WRITE_EVENT, 0)
                            != NGX_OK)
    {
        ngx_http_scaleset_check_done(peer, SCALESET_CHECK_INTERNAL);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_scaleset_check_done(peer, SCALESET_CHECK_INTERNAL);
        return;
    }

    if (c->read->ready) {
        ngx_http_scaleset_check_read(c->read);
    }
}


static void
ngx_http_scaleset_check_read(ngx_event_t *ev)
{
    ssize_t                          n;
    size_t                           room;
    ngx_connection_t                *c;
    scaleset_check_result_t          result;
    ngx_http_scaleset_check_peer_t  *peer;

    c = ev->data;
    peer = c->data;

    if (!peer->busy) {
        return;
    }

    if (peer->sent != (size_t) -1) {
        /* readable before the request went out: an early close or reset */
        if (peer->sent == 0
            && ngx_http_scaleset_check_connected(peer) != NGX_OK)
        {
            return;
        }
    }

    /* the last bytes of buf hold the peer's sockaddr */
    room = NGX_HTTP_SCALESET_CHECK_BUFFER - sizeof(struct sockaddr_storage)
           - 1;

    for ( ;; ) {
        if (peer->received == room) {
            /* as much as we read: judge it as complete */
            result = ngx_http_scaleset_check_answer(peer, 1);
            ngx_http_scaleset_check_done(peer, result);
            return;
        }

        n = recv(c->fd, peer->buf + peer->received, room - peer->received, 0);

        if (n > 0) {
            peer->received += n;

            result = ngx_http_scaleset_check_answer(peer, 0);
            if (result != SCALESET_CHECK_LAST) {
                ngx_http_scaleset_check_done(peer, result);
                return;
            }

            continue;
        }

        if (n == 0) {
            result = ngx_http_scaleset_check_answer(peer, 1);
            ngx_http_scaleset_check_done(peer, result);
            return;
        }

        ngx_http_scaleset_check_io_failed(peer, ev, n);
        return;
    }
}


/*
 * send() or recv() on ev's connection returned n (-1, or 0 from send):
 * EAGAIN waits for ev again, anything else ends the check as a reset or
 * a close.
 */

static void
ngx_http_scaleset_check_io_failed(ngx_http_scaleset_check_peer_t *peer,
    ngx_event_t *ev, ssize_t n)
{
    ngx_err_t  err;
    ngx_int_t  rc;

    err = ngx_socket_errno;

    if (n == -1 && err == NGX_EAGAIN) {
        rc = ev->write ? ngx_handle_write_event(ev, 0)
                       : ngx_handle_read_event(ev, 0);

        if (rc != NGX_OK) {
            ngx_http_scaleset_check_done(peer, SCALESET_CHECK_INTERNAL);
        }

        return;
    }

    ngx_http_scaleset_check_done(peer, err == NGX_ECONNRESET
                                       ? SCALESET_CHECK_RESET
                                       : SCALESET_CHECK_CLOSED);
}


/*
 * Judges what arrived so far.  Returns SCALESET_CHECK_LAST while more is
 * needed; closed is set when no more will come.
 */

static scaleset_check_result_t
ngx_http_scaleset_check_answer(ngx_http_scaleset_check_peer_t *peer,
    ngx_uint_t closed)
{
    size_t                           body_len;
    scaleset_head_t                  h;
    scaleset_head_rc_t               rc;
    ngx_http_scaleset_check_conf_t  *conf;
#if (NGX_PCRE)
    ngx_str_t                        body;
#endif

    conf = peer->cp->conf;

    rc = scaleset_head_parse((char *) peer->buf, peer->received, &h);

    if (rc == SCALESET_HEAD_ERROR) {
        return h.error;
    }

    if (rc == SCALESET_HEAD_AGAIN) {
        if (!closed) {
            return SCALESET_CHECK_LAST;
        }

        return SCALESET_CHECK_CLOSED;
    }

    if (!scaleset_status_ranges_match(&conf->status, h.status)) {
        return SCALESET_CHECK_STATUS;
    }

    if (conf->body == NULL) {
        return SCALESET_CHECK_PASS;
    }

    body_len = peer->received - h.head_len;

    if (!closed && (h.content_length < 0
                    || (long long) body_len < h.content_length))
    {
        return SCALESET_CHECK_LAST;
    }

#if (NGX_PCRE)
    body.data = peer->buf + h.head_len;
    body.len = body_len;

    if (ngx_regex_exec(conf->body, &body, NULL, 0) < 0) {
        return SCALESET_CHECK_BODY;
    }
#endif

    return SCALESET_CHECK_PASS;
}


static void
ngx_http_scaleset_check_timeout(ngx_event_t *ev)
{
    ngx_http_scaleset_check_peer_t *peer = ev->data;

    if (!peer->busy) {
        return;
    }

    if (peer->pc.connection == NULL || peer->sent == 0) {
        ngx_http_scaleset_check_done(peer, SCALESET_CHECK_TIMEOUT_CONNECT);

    } else if (peer->sent != (size_t) -1) {
        ngx_http_scaleset_check_done(peer, SCALESET_CHECK_TIMEOUT_SEND);

    } else {
        ngx_http_scaleset_check_done(peer, SCALESET_CHECK_TIMEOUT_READ);
    }
}


static void
ngx_http_scaleset_check_close(ngx_http_scaleset_check_peer_t *peer)
{
    if (peer->timeout.timer_set) {
        ngx_del_timer(&peer->timeout);
    }

    if (peer->pc.connection) {
        ngx_close_connection(peer->pc.connection);
        peer->pc.connection = NULL;
    }

    peer->busy = 0;
}


/*
 * The one place a member's health moves: consecutive results against
 * fails= and passes=, logged only when the state changes.  The result is
 * written under the slot lock, after the generation check: the lease
 * holder cannot give the slot to another member in between.
 */

static void
ngx_http_scaleset_check_done(ngx_http_scaleset_check_peer_t *peer,
    scaleset_check_result_t result)
{
    u_char                           id[SCALESET_ID_MAX + 1];
    uint8_t                          was, health;
    ngx_uint_t                       level, ramp;
    ngx_msec_t                       now;
    ngx_time_t                      *tp;
    ngx_http_scaleset_slot_t        *slot;
    ngx_http_scaleset_shctx_t       *sh;
    ngx_http_scaleset_check_conf_t  *conf;

    ngx_http_scaleset_check_close(peer);

    sh = peer->cp->sscf->sh;
    conf = peer->cp->conf;
    slot = &sh->slots[peer->slot];
    now = ngx_current_msec;
    tp = ngx_timeofday();

    ngx_http_scaleset_rlock(sh->lock);

    if (slot->generation != peer->generation || !slot->in_use) {
        /* the member left while it was checked */
        ngx_http_scaleset_runlock(sh->lock);
        return;
    }

    slot->health_checked = now;
    slot->health_wall = (uint64_t) tp->sec * 1000 + tp->msec;
    slot->health_latency = (uint32_t) (now - peer->started);
    slot->health_reason = (uint8_t) result;

    was = slot->health;

    if (result == SCALESET_CHECK_PASS) {
        slot->health_fails = 0;
        slot->health_passes++;

        /* passive failures from before this check are over */
        if (slot->fails && (ngx_msec_int_t) (peer->started - slot->accessed)
                           >= 0)
        {
            if (slot->max_fails && slot->fails >= slot->max_fails) {
                /* it was out: back in slow start */
                slot->health_since = now;
            }

            slot->fails = 0;
        }

        if (was == NGX_HTTP_SCALESET_HEALTH_UNCHECKED
            || (was == NGX_HTTP_SCALESET_HEALTH_DOWN
                && slot->health_passes >= conf->passes))
        {
            /* without mandatory it was usable, and ramping, since added */
            if (was == NGX_HTTP_SCALESET_HEALTH_DOWN || conf->mandatory) {
                slot->health_since = now;
            }

            slot->health = NGX_HTTP_SCALESET_HEALTH_UP;
        }

    } else {
        slot->health_passes = 0;
        slot->health_fails++;

        if (was == NGX_HTTP_SCALESET_HEALTH_UNCHECKED
            || (was == NGX_HTTP_SCALESET_HEALTH_UP
                && slot->health_fails >= conf->fails))
        {
            slot->health_since = now;
            slot->health = NGX_HTTP_SCALESET_HEALTH_DOWN;
        }
    }

    health = slot->health;
    ngx_memcpy(id, slot->id, slot->id_len + 1);

    /* a member that came up starts its slow start in the schedule now */
    ramp = (conf->slow_start
            && ngx_http_scaleset_check_ramp(peer->cp->sscf, slot, now)
               != slot->ramp);

    ngx_http_scaleset_runlock(sh->lock);

    (void) ngx_atomic_fetch_add(&sh->checks[result], 1);

    if (health != was) {
        level = (health == NGX_HTTP_SCALESET_HEALTH_UP)
                ? NGX_LOG_NOTICE : NGX_LOG_WARN;

        ngx_log_error(level, peer->cp->log, 0,
                      "scaleset: member \"%s\" of pool \"%V\" is %s (%s)",
                      id, &peer->cp->sscf->pool,
                      scaleset_health_state_name(
                          health == NGX_HTTP_SCALESET_HEALTH_UP
                          ? SCALESET_HEALTH_UP : SCALESET_HEALTH_DOWN),
                      scaleset_check_result_name(result));
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, peer->cp->log, 0,
                   "scaleset check: \"%s\" %s in %M",
                   id, scaleset_check_result_name(result),
                   now - peer->started);

    if (ramp) {
        (void) ngx_http_scaleset_rebuild(peer->cp->sscf, peer->cp->log);
    }
}


/*
 * Whether a member may take a request now, as far as health goes: with
 * checks, down members and (mandatory) unchecked ones may not, passively
 * failed ones wait for a passing check.  Slow start is not judged here:
 * it lowers the member's weight in the schedule.
 */

ngx_uint_t
ngx_http_scaleset_check_usable(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now)
{
    ngx_http_scaleset_check_conf_t  *conf;

    conf = sscf->check;

    if (conf == NULL) {
        return 1;
    }

    switch (slot->health) {

    case NGX_HTTP_SCALESET_HEALTH_DOWN:
        return 0;

    case NGX_HTTP_SCALESET_HEALTH_UNCHECKED:
        return !conf->mandatory;

    default:
        break;
    }

    return 1;
}


/*
 * The slow start level of a member: 0 when it has its full weight, else
 * 1..LEVELS-1, growing linearly over slow_start from the moment it became
 * usable (its first passing check with mandatory, its addition without,
 * a passing check after it was down).  The schedule builder turns the
 * level into a share of the member's weight.
 */

ngx_uint_t
ngx_http_scaleset_check_ramp(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now)
{
    ngx_msec_t                       age;
    ngx_http_scaleset_check_conf_t  *conf;

    conf = sscf->check;

    if (conf == NULL || conf->slow_start == 0) {
        return 0;
    }

    if (slot->health == NGX_HTTP_SCALESET_HEALTH_DOWN
        || (slot->health == NGX_HTTP_SCALESET_HEALTH_UNCHECKED
            && conf->mandatory))
    {
        return 0;
    }

    age = now - slot->health_since;

    if ((ngx_msec_int_t) age < 0) {
        /* set by another process a moment ago */
        age = 0;
    }

    if (age >= conf->slow_start) {
        return 0;
    }

    return 1 + (NGX_HTTP_SCALESET_RAMP_LEVELS - 1) * age / conf->slow_start;
}
