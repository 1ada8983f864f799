
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

#include "ngx_http_scaleset.h"


#define NGX_HTTP_SCALESET_REPORT_DEFAULT  1000    /* ms, without checks */


typedef struct {
    ngx_http_scaleset_srv_conf_t   *sscf;
    ngx_str_t                       key;
    ngx_msec_t                      period;
    ngx_event_t                     timer;
    ngx_log_t                      *log;
    ngx_uint_t                      pending;       /* the last one unanswered */
    ngx_uint_t                      skipped;

    /*
     * the HSET's arguments, made at the first report of this worker and
     * kept: a report every period would otherwise allocate and free up to
     * max_members records, and the heap nginx's request pools come from
     * would change under them every second
     */
    const char                    **argv;
    size_t                         *argvlen;
    u_char                         *text;
} ngx_http_scaleset_report_t;


static void ngx_http_scaleset_report(ngx_event_t *ev);


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
        if (rp->key.data == NULL) {
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

        rp->timer.handler = ngx_http_scaleset_report;
        rp->timer.data = rp;
        rp->timer.log = cycle->log;
        rp->timer.cancelable = 1;

        ngx_add_timer(&rp->timer, 200);
    }

    return NGX_OK;
}


/*
 * A member's health record as this gateway sees it.  Without active
 * checks the state is "unchecked", or "down reason=passive" while passive
 * failures keep the member out.
 */

size_t
ngx_http_scaleset_health_record(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now, u_char *buf, size_t size)
{
    int                  n;
    scaleset_error_t     err;
    scaleset_health_t    h;
    const char          *reason;

    ngx_memzero(&h, sizeof(scaleset_health_t));

    h.conns = slot->active;
    h.fails = slot->health_fails;
    h.checked = slot->health_wall;
    reason = NULL;

    if (sscf->check) {
        switch (slot->health) {
        case NGX_HTTP_SCALESET_HEALTH_UP:
            h.state = SCALESET_HEALTH_UP;
            break;
        case NGX_HTTP_SCALESET_HEALTH_DOWN:
            h.state = SCALESET_HEALTH_DOWN;
            reason = scaleset_check_result_name(slot->health_reason);
            break;
        default:
            h.state = SCALESET_HEALTH_UNCHECKED;
        }

    } else if (slot->max_fails && slot->fails >= slot->max_fails
               && now - slot->checked <= slot->fail_timeout)
    {
        h.state = SCALESET_HEALTH_DOWN;
        reason = "passive";

    } else {
        h.state = SCALESET_HEALTH_UNCHECKED;
    }

    if (reason) {
        h.reason.data = reason;
        h.reason.len = ngx_strlen(reason);
    }

    n = scaleset_health_format(&h, (char *) buf, size, &err);

    return n < 0 ? 0 : (size_t) n;
}


static void
ngx_http_scaleset_report(ngx_event_t *ev)
{
    ngx_http_scaleset_report_t *rp = ev->data;

    u_char                      *p, ttl[NGX_INT_T_LEN];
    size_t                      *argvlen, len;
    ngx_uint_t                   i, n, argc;
    ngx_msec_t                   now;
    const char                 **argv;
    ngx_http_scaleset_slot_t    *slot;
    ngx_http_scaleset_shctx_t   *sh;

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

    if (rp->pending || ngx_http_scaleset_redis_busy()) {
        rp->skipped++;
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rp->log, 0,
                       "scaleset report: \"%V\" skipped, %ui so far",
                       &rp->key, rp->skipped);
        return;
    }

    sh = rp->sscf->sh;
    now = ngx_current_msec;

    /* HSET key id record ... for at most max_members members */

    if (rp->argv == NULL) {
        n = sh->max_members;

        rp->argv = ngx_palloc(ngx_cycle->pool, (2 + 2 * n) * sizeof(char *));
        rp->argvlen = ngx_palloc(ngx_cycle->pool,
                                 (2 + 2 * n) * sizeof(size_t));
        rp->text = ngx_pnalloc(ngx_cycle->pool,
                               n * (SCALESET_ID_MAX + 1 + SCALESET_RECORD_MAX));

        if (rp->argv == NULL || rp->argvlen == NULL || rp->text == NULL) {
            rp->argv = NULL;
            return;
        }
    }

    argv = rp->argv;
    argvlen = rp->argvlen;
    p = rp->text;

    argv[0] = "HSET";
    argvlen[0] = 4;
    argv[1] = (char *) rp->key.data;
    argvlen[1] = rp->key.len;
    argc = 2;

    ngx_http_scaleset_rlock(sh->lock);

    for (i = 0; i < sh->max_members; i++) {
        slot = &sh->slots[i];

        if (!slot->in_use) {
            continue;
        }

        ngx_memcpy(p, slot->id, slot->id_len);
        argv[argc] = (char *) p;
        argvlen[argc++] = slot->id_len;
        p += slot->id_len;

        len = ngx_http_scaleset_health_record(rp->sscf, slot, now, p,
                                              SCALESET_RECORD_MAX);
        argv[argc] = (char *) p;
        argvlen[argc++] = len;
        p += len;
    }

    ngx_http_scaleset_runlock(sh->lock);

    /* the whole view is replaced at once and expires if we stop */

    (void) ngx_http_scaleset_redis_argv("health report", 1,
                                        (const char *[]) { "MULTI" },
                                        (size_t []) { 5 }, NULL);

    (void) ngx_http_scaleset_redis_argv("health report", 2,
                                        (const char *[]) {
                                            "DEL", (char *) rp->key.data },
                                        (size_t []) { 3, rp->key.len },
                                        NULL);

    if (argc > 2) {
        (void) ngx_http_scaleset_redis_argv("health report", (int) argc,
                                            argv, argvlen, NULL);
    }

    len = ngx_sprintf(ttl, "%M", 3 * ngx_max(rp->period, 1000)) - ttl;

    (void) ngx_http_scaleset_redis_argv("health report", 3,
                                        (const char *[]) {
                                            "PEXPIRE", (char *) rp->key.data,
                                            (char *) ttl },
                                        (size_t []) { 7, rp->key.len, len },
                                        NULL);

    (void) ngx_http_scaleset_redis_argv("health report", 1,
                                        (const char *[]) { "EXEC" },
                                        (size_t []) { 4 }, &rp->pending);
}
