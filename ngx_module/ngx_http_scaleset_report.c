
/*
 * ngx_http_scaleset_module: health reports.  The worker holding the Redis
 * lease writes this gateway's view of every pool to
 * PREFIX{POOL}:health:GATEWAY (one health record per member, with its
 * active connections) and lets it expire after three periods, so the
 * scaler can repair unhealthy instances and delete drained ones at zero
 * connections.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_scaleset.h"


#define NGX_HTTP_SCALESET_REPORT_DEFAULT  1000    /* ms, without checks */

/* how a report is written, and so how its reply is read */
#define NGX_HTTP_SCALESET_REPORT_FULL     0       /* MULTI DEL HSET PEXPIRE
                                                     EXEC */
#define NGX_HTTP_SCALESET_REPORT_CHANGES  1       /* MULTI PEXPIRE HSET
                                                     PEXPIRE EXEC */
#define NGX_HTTP_SCALESET_REPORT_TOUCH    2       /* PEXPIRE */


/* a member's health record as this process last wrote it, by slot */
typedef struct {
    ngx_atomic_uint_t               generation;
    uint64_t                        conns;
    uint64_t                        fails;
    uint64_t                        checked;
    uint64_t                        at;            /* when it was made (not
                                                      compared) */
    const char                     *reason;        /* a static name, NULL */
    ngx_uint_t                      state;         /* SCALESET_HEALTH_* */
    ngx_uint_t                      written;       /* in the hash */
} ngx_http_scaleset_report_seen_t;


typedef struct {
    ngx_http_scaleset_srv_conf_t   *sscf;
    ngx_str_t                       key;
    ngx_msec_t                      period;
    ngx_msec_t                      ttl;
    ngx_str_t                       ttl_text;
    ngx_event_t                     timer;
    ngx_log_t                      *log;
    ngx_http_scaleset_redis_wait_t  wait;
    ngx_uint_t                      skipped;

    /*
     * what the hash holds: written in full on a connection (serial), then
     * only what changed, as long as every report since was answered and
     * the last answered one was sent less than the TTL ago
     */
    ngx_uint_t                      kind;          /* of the one in flight */
    ngx_uint_t                      serial;
    ngx_uint_t                      written;       /* fields, as sent */
    ngx_msec_t                      sent;          /* the one in flight */
    ngx_msec_t                      confirmed;     /* the last answered one,
                                                      when it was sent */
    unsigned                        full:1;        /* the next one rewrites
                                                      the hash */
    unsigned                        absent:1;      /* the last one left no
                                                      field: no hash */
    unsigned                        soon:1;        /* members read while
                                                      one was in flight */

    /*
     * made at the first report of this worker and kept: a report every
     * period would otherwise allocate and free up to max_members records,
     * and the heap nginx's request pools come from would change under
     * them every second
     */
    ngx_http_scaleset_report_seen_t *seen;
    const char                    **argv;
    size_t                         *argvlen;
    u_char                         *text;
} ngx_http_scaleset_report_t;


static void ngx_http_scaleset_report(ngx_event_t *ev);
static ngx_int_t ngx_http_scaleset_report_alloc(
    ngx_http_scaleset_report_t *rp);
static ngx_uint_t ngx_http_scaleset_report_collect(
    ngx_http_scaleset_report_t *rp, ngx_msec_t now);
static void ngx_http_scaleset_report_view(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now,
    ngx_http_scaleset_report_seen_t *v);
static ngx_uint_t ngx_http_scaleset_report_same(
    ngx_http_scaleset_report_seen_t *a, ngx_http_scaleset_report_seen_t *b);
static size_t ngx_http_scaleset_report_format(
    ngx_http_scaleset_report_seen_t *v, u_char *buf, size_t size);
static void ngx_http_scaleset_report_send(ngx_http_scaleset_report_t *rp,
    ngx_uint_t argc);
static void ngx_http_scaleset_report_done(
    ngx_http_scaleset_redis_wait_t *wait, void *reply);


ngx_int_t
ngx_http_scaleset_report_init_process(ngx_cycle_t *cycle)
{
    u_char                          *gw, *pool;
    ngx_int_t                        n;
    ngx_uint_t                       i;
    ngx_http_scaleset_report_t      *rp;
    ngx_http_scaleset_srv_conf_t   **pools, *sscf;
    ngx_http_scaleset_main_conf_t   *smcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_scaleset_module);
    if (smcf == NULL || smcf->pools.nelts == 0) {
        return NGX_OK;
    }

    gw = ngx_pnalloc(cycle->pool, smcf->gateway_id.len + 1);
    if (gw == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(gw, smcf->gateway_id.data, smcf->gateway_id.len + 1);

    pools = smcf->pools.elts;

    for (i = 0; i < smcf->pools.nelts; i++) {
        sscf = pools[i];

        if (sscf->sh == NULL) {
            continue;
        }

        rp = ngx_pcalloc(cycle->pool, sizeof(ngx_http_scaleset_report_t));
        pool = ngx_pnalloc(cycle->pool, sscf->pool.len + 1);
        if (rp == NULL || pool == NULL) {
            return NGX_ERROR;
        }

        rp->key.data = ngx_pnalloc(cycle->pool, SCALESET_KEY_MAX);
        rp->ttl_text.data = ngx_pnalloc(cycle->pool, NGX_INT_T_LEN);
        if (rp->key.data == NULL || rp->ttl_text.data == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn(pool, sscf->pool.data, sscf->pool.len + 1);

        n = scaleset_key((char *) rp->key.data, SCALESET_KEY_MAX,
                         (char *) smcf->prefix.data, (char *) pool,
                         SCALESET_KEY_HEALTH, (char *) gw);
        if (n < 0) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "scaleset: cannot build the health key of pool "
                          "\"%V\" for gateway \"%V\" (a gateway id is "
                          "[A-Za-z0-9_.-]{1,63}, see scaleset_gateway_id)",
                          &sscf->pool, &smcf->gateway_id);
            return NGX_ERROR;
        }

        rp->key.len = n;
        rp->sscf = sscf;
        rp->log = cycle->log;
        rp->period = sscf->check ? sscf->check->interval
                                 : NGX_HTTP_SCALESET_REPORT_DEFAULT;

        /* the hash expires if we stop */

        rp->ttl = 3 * ngx_max(rp->period, 1000);
        rp->ttl_text.len = ngx_sprintf(rp->ttl_text.data, "%M", rp->ttl)
                           - rp->ttl_text.data;

        rp->full = 1;
        rp->wait.done = ngx_http_scaleset_report_done;
        rp->wait.data = rp;

        rp->timer.handler = ngx_http_scaleset_report;
        rp->timer.data = rp;
        rp->timer.log = cycle->log;
        rp->timer.cancelable = 1;

        ngx_add_timer(&rp->timer, 200);

        sscf->report = rp;
    }

    return NGX_OK;
}


/*
 * The members were read from Redis: reported at once, not at the next
 * period, while this gateway has no report in Redis: its last one left
 * no field (no members: no hash), or, in a pool without active checks,
 * none was answered yet.  The scaler counts only the gateways it has a
 * report of (docs/scaler.md, "Drains"), so a gateway that started with
 * an empty pool and then got members was unknown to it for up to a
 * period while it already sent them requests: a drain then ended at
 * conns=0 with a request open through it.  The first report at once also
 * makes a gateway's start-up cost the same however long it then runs;
 * with active checks it waits as before (200 ms), or it would say
 * "unchecked" for every member just added, and the scaler would take
 * their health as unknown.
 */

void
ngx_http_scaleset_report_soon(ngx_http_scaleset_srv_conf_t *sscf)
{
    ngx_http_scaleset_report_t  *rp = sscf->report;

    if (rp == NULL || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (rp->wait.pending) {
        /* at its reply, if it left no field */
        rp->soon = 1;
        return;
    }

    if (rp->confirmed ? !rp->absent : sscf->check != NULL) {
        return;
    }

    if (rp->timer.timer_set) {
        ngx_del_timer(&rp->timer);
    }

    ngx_add_timer(&rp->timer, 1);
}


/*
 * A member's health record as this gateway sees it.  Without active
 * checks the state is "unchecked", or "down reason=passive" while passive
 * failures keep the member out.
 */

static void
ngx_http_scaleset_report_view(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now,
    ngx_http_scaleset_report_seen_t *v)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    v->generation = slot->generation;
    v->conns = slot->active;
    v->fails = slot->health_fails;
    v->checked = slot->health_wall;
    v->at = (uint64_t) tp->sec * 1000 + tp->msec;
    v->reason = NULL;

    if (sscf->check) {
        switch (slot->health) {
        case NGX_HTTP_SCALESET_HEALTH_UP:
            v->state = SCALESET_HEALTH_UP;
            break;
        case NGX_HTTP_SCALESET_HEALTH_DOWN:
            v->state = SCALESET_HEALTH_DOWN;
            v->reason = scaleset_check_result_name(slot->health_reason);
            break;
        default:
            v->state = SCALESET_HEALTH_UNCHECKED;
        }

    } else if (slot->max_fails && slot->fails >= slot->max_fails
               && now - slot->checked <= slot->fail_timeout)
    {
        v->state = SCALESET_HEALTH_DOWN;
        v->reason = "passive";

    } else {
        v->state = SCALESET_HEALTH_UNCHECKED;
    }
}


static ngx_uint_t
ngx_http_scaleset_report_same(ngx_http_scaleset_report_seen_t *a,
    ngx_http_scaleset_report_seen_t *b)
{
    return a->conns == b->conns && a->state == b->state
           && a->checked == b->checked && a->fails == b->fails
           && a->reason == b->reason;
}


/* the record's text by the shared codec; 0 if it cannot be formatted */

static size_t
ngx_http_scaleset_report_format(ngx_http_scaleset_report_seen_t *v,
    u_char *buf, size_t size)
{
    int                n;
    scaleset_error_t   err;
    scaleset_health_t  h;

    ngx_memzero(&h, sizeof(scaleset_health_t));

    h.state = v->state;
    h.conns = v->conns;
    h.fails = v->fails;
    h.checked = v->checked;
    h.at = v->at;

    if (v->reason) {
        h.reason.data = v->reason;
        h.reason.len = ngx_strlen(v->reason);
    }

    n = scaleset_health_format(&h, (char *) buf, size, &err);

    return n < 0 ? 0 : (size_t) n;
}


static void
ngx_http_scaleset_report(ngx_event_t *ev)
{
    ngx_http_scaleset_report_t *rp = ev->data;

    ngx_msec_t  now;
    ngx_uint_t  argc;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, rp->period);

    if (!ngx_http_scaleset_redis_ready()) {
        return;
    }

    /*
     * one report per pool at a time: with a Redis that is slow or hung
     * they never pile up in the output buffer (the command timeout ends
     * the connection, and with it the wait)
     */

    if (rp->wait.pending || ngx_http_scaleset_redis_busy()) {
        rp->skipped++;
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rp->log, 0,
                       "scaleset report: \"%V\" skipped, %ui so far",
                       &rp->key, rp->skipped);
        return;
    }

    if (rp->seen == NULL && ngx_http_scaleset_report_alloc(rp) != NGX_OK) {
        return;
    }

    now = ngx_current_msec;

    /*
     * a new connection may be to a Redis that lost the hash (a restart,
     * a failover); a hash not refreshed for nearly its TTL may have
     * expired
     */

    if (rp->serial != ngx_http_scaleset_redis_serial()
        || now - rp->confirmed >= rp->ttl - rp->period)
    {
        rp->full = 1;
    }

    argc = ngx_http_scaleset_report_collect(rp, now);

    if (!rp->full && argc == 2 && rp->absent) {
        /* no member: no hash to keep */
        rp->confirmed = now;
        return;
    }

    if (rp->absent && !rp->full) {
        /* the first fields of a hash that is not there */
        rp->full = 1;
        argc = ngx_http_scaleset_report_collect(rp, now);
    }

    ngx_http_scaleset_report_send(rp, argc);
}


/* HSET key id record ... for at most max_members members */

static ngx_int_t
ngx_http_scaleset_report_alloc(ngx_http_scaleset_report_t *rp)
{
    ngx_uint_t  n;

    n = rp->sscf->sh->max_members;

    rp->argv = ngx_palloc(ngx_cycle->pool, (2 + 2 * n) * sizeof(char *));
    rp->argvlen = ngx_palloc(ngx_cycle->pool, (2 + 2 * n) * sizeof(size_t));
    rp->text = ngx_pnalloc(ngx_cycle->pool,
                           n * (SCALESET_ID_MAX + 1 + SCALESET_RECORD_MAX));
    rp->seen = ngx_pcalloc(ngx_cycle->pool,
                           n * sizeof(ngx_http_scaleset_report_seen_t));

    if (rp->argv == NULL || rp->argvlen == NULL || rp->text == NULL
        || rp->seen == NULL)
    {
        rp->seen = NULL;
        return NGX_ERROR;
    }

    rp->argv[0] = "HSET";
    rp->argvlen[0] = 4;
    rp->argv[1] = (char *) rp->key.data;
    rp->argvlen[1] = rp->key.len;

    return NGX_OK;
}


/*
 * The HSET's fields and records from argv[2]: every member's for a full
 * report, else those whose record changed since it was written.  A member
 * that left, or a slot given to another one, needs a full report: the
 * gateway's ACL has no HDEL.
 */

static ngx_uint_t
ngx_http_scaleset_report_collect(ngx_http_scaleset_report_t *rp,
    ngx_msec_t now)
{
    u_char                           *p;
    ngx_uint_t                        i, argc;
    ngx_http_scaleset_slot_t         *slot;
    ngx_http_scaleset_shctx_t        *sh;
    ngx_http_scaleset_report_seen_t  *seen, v;

    sh = rp->sscf->sh;

    ngx_http_scaleset_rlock(sh->lock);

again:

    p = rp->text;
    argc = 2;
    rp->written = 0;

    for (i = 0; i < sh->max_members; i++) {
        slot = &sh->slots[i];
        seen = &rp->seen[i];

        if (!slot->in_use) {
            if (seen->written && !rp->full) {
                rp->full = 1;
                goto again;
            }

            seen->written = 0;
            continue;
        }

        rp->written++;

        ngx_http_scaleset_report_view(rp->sscf, slot, now, &v);

        if (!rp->full && seen->written) {
            if (seen->generation != v.generation) {
                rp->full = 1;
                goto again;
            }

            /*
             * a draining member's record is written at every report: the
             * scaler counts only reports made after its drain began
             * (docs/scaler.md, "Drains"), and an unchanged conns=0 would
             * otherwise hold the drain until drain_timeout
             */

            if (ngx_http_scaleset_report_same(seen, &v)
                && !(slot->flags & SCALESET_MEMBER_DRAIN))
            {
                continue;
            }
        }

        *seen = v;
        seen->written = 1;

        ngx_memcpy(p, slot->id, slot->id_len);
        rp->argv[argc] = (char *) p;
        rp->argvlen[argc++] = slot->id_len;
        p += slot->id_len;

        rp->argv[argc] = (char *) p;
        rp->argvlen[argc] = ngx_http_scaleset_report_format(&v, p,
                                                        SCALESET_RECORD_MAX);
        p += rp->argvlen[argc++];
    }

    ngx_http_scaleset_runlock(sh->lock);

    return argc;
}


static void
ngx_http_scaleset_report_send(ngx_http_scaleset_report_t *rp,
    ngx_uint_t argc)
{
    size_t       pexpirelen[3];
    const char  *pexpire[3];

    pexpire[0] = "PEXPIRE";
    pexpirelen[0] = 7;
    pexpire[1] = (char *) rp->key.data;
    pexpirelen[1] = rp->key.len;
    pexpire[2] = (char *) rp->ttl_text.data;
    pexpirelen[2] = rp->ttl_text.len;

    rp->sent = ngx_current_msec;

    if (!rp->full && argc == 2) {
        /* nothing changed: the hash is kept, and the reply says it was */

        rp->kind = NGX_HTTP_SCALESET_REPORT_TOUCH;

        if (ngx_http_scaleset_redis_argv("health report", 3, pexpire,
                                         pexpirelen, &rp->wait)
            != NGX_OK)
        {
            rp->full = 1;
        }

        return;
    }

    (void) ngx_http_scaleset_redis_argv("health report", 1,
                                        (const char *[]) { "MULTI" },
                                        (size_t []) { 5 }, NULL);

    if (rp->full) {
        /* the whole view is replaced at once */

        rp->kind = NGX_HTTP_SCALESET_REPORT_FULL;
        rp->serial = ngx_http_scaleset_redis_serial();
        rp->full = 0;

        (void) ngx_http_scaleset_redis_argv("health report", 2,
                                            (const char *[]) {
                                                "DEL",
                                                (char *) rp->key.data },
                                            (size_t []) { 3, rp->key.len },
                                            NULL);

    } else {
        /* the first PEXPIRE says whether the hash was still there */

        rp->kind = NGX_HTTP_SCALESET_REPORT_CHANGES;

        (void) ngx_http_scaleset_redis_argv("health report", 3, pexpire,
                                            pexpirelen, NULL);
    }

    if (argc > 2) {
        (void) ngx_http_scaleset_redis_argv("health report", (int) argc,
                                            rp->argv, rp->argvlen, NULL);
    }

    (void) ngx_http_scaleset_redis_argv("health report", 3, pexpire,
                                        pexpirelen, NULL);

    if (ngx_http_scaleset_redis_argv("health report", 1,
                                     (const char *[]) { "EXEC" },
                                     (size_t []) { 4 }, &rp->wait)
        != NGX_OK)
    {
        rp->full = 1;
    }
}


/*
 * The reply: the next report writes only changes if this one was
 * answered without an error and found the hash; a hash that was gone
 * (deleted, evicted, expired) holds only what this one wrote, and is
 * written in full at once.
 */

static void
ngx_http_scaleset_report_done(ngx_http_scaleset_redis_wait_t *wait,
    void *r)
{
    ngx_http_scaleset_report_t *rp = wait->data;

    ngx_uint_t   i, found, soon;
    redisReply  *reply = r, *e;

    soon = rp->soon;
    rp->soon = 0;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* the connection went, or Redis refused it (logged) */
        rp->full = 1;
        return;
    }

    if (rp->kind == NGX_HTTP_SCALESET_REPORT_TOUCH) {
        if (reply->type != REDIS_REPLY_INTEGER) {
            rp->full = 1;
            return;
        }

        found = (reply->integer == 1);

    } else {
        if (reply->type != REDIS_REPLY_ARRAY) {
            rp->full = 1;
            return;
        }

        for (i = 0; i < reply->elements; i++) {
            e = reply->element[i];

            if (e->type == REDIS_REPLY_ERROR) {
                ngx_http_scaleset_redis_refused(wait->what, e->str);
                rp->full = 1;
                return;
            }
        }

        e = reply->elements ? reply->element[0] : NULL;

        found = rp->kind == NGX_HTTP_SCALESET_REPORT_FULL
                || (e && e->type == REDIS_REPLY_INTEGER && e->integer == 1);
    }

    rp->absent = (rp->written == 0);

    if (!found) {
        ngx_log_error(NGX_LOG_NOTICE, rp->log, 0,
                      "scaleset: pool \"%V\": the health report %V was "
                      "gone (deleted or expired), writing it in full",
                      &rp->sscf->pool, &rp->key);

        rp->full = 1;

        if (!(ngx_exiting || ngx_quit || ngx_terminate)) {
            ngx_add_timer(&rp->timer, 1);
        }

        return;
    }

    rp->confirmed = rp->sent;

    if (soon && rp->absent && !(ngx_exiting || ngx_quit || ngx_terminate)) {
        /* members came while a report of none was in flight */
        ngx_add_timer(&rp->timer, 1);
    }
}
