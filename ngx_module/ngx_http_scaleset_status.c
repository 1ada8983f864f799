
/*
 * ngx_http_scaleset_module: observability.  Per-member accounting of
 * proxied requests, the JSON status handler (scaleset_status) and the
 * Prometheus text exposition handler (scaleset_metrics).  Both handlers
 * size their buffer first, allocate once and print into it, as
 * stub_status does.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_scaleset.h"


#define NGX_HTTP_SCALESET_MEMBER_JSON     1024
#define NGX_HTTP_SCALESET_MEMBER_METRICS  3072


/* upper bounds of the response time histogram, ms; the last is +Inf */
static ngx_msec_t  ngx_http_scaleset_buckets[NGX_HTTP_SCALESET_BUCKETS - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};


static ngx_int_t ngx_http_scaleset_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_scaleset_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_scaleset_begin(ngx_http_request_t *r,
    ngx_http_scaleset_main_conf_t *smcf, size_t per_member, ngx_buf_t **b);
static ngx_int_t ngx_http_scaleset_send(ngx_http_request_t *r, ngx_buf_t *b,
    const char *type, size_t type_len);
static size_t ngx_http_scaleset_output_size(
    ngx_http_scaleset_main_conf_t *smcf, size_t per_member);
static const char *ngx_http_scaleset_state(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now);
static ngx_uint_t ngx_http_scaleset_member_up(
    ngx_http_scaleset_srv_conf_t *sscf, ngx_http_scaleset_slot_t *slot,
    ngx_msec_t now);
static u_char *ngx_http_scaleset_address(u_char *p,
    ngx_http_scaleset_slot_t *slot);


char *
ngx_http_scaleset_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = (cmd->name.len == sizeof("scaleset_status") - 1)
                    ? ngx_http_scaleset_status_handler
                    : ngx_http_scaleset_metrics_handler;

    return NGX_CONF_OK;
}


/* called by free_peer for a slot still holding the request's member */

void
ngx_http_scaleset_account(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_http_request_t *r)
{
    ngx_uint_t                  status, i;
    ngx_msec_t                  ms;
    ngx_http_upstream_t        *u;
    ngx_http_scaleset_shctx_t  *sh;

    u = r->upstream;
    if (u == NULL) {
        return;
    }

    status = u->headers_in.status_n;

    if (status >= 100 && status < 600) {
        (void) ngx_atomic_fetch_add(&slot->responses[status / 100 - 1], 1);

        sh = sscf->sh;
        ms = ngx_current_msec - u->start_time;

        for (i = 0; i < NGX_HTTP_SCALESET_BUCKETS - 1; i++) {
            if (ms <= ngx_http_scaleset_buckets[i]) {
                break;
            }
        }

        (void) ngx_atomic_fetch_add(&sh->latency[i], 1);
        (void) ngx_atomic_fetch_add(&sh->latency_sum, ms);
    }
}


static const char *
ngx_http_scaleset_state(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now)
{
    if (slot->flags & SCALESET_MEMBER_DRAIN) {
        return "drain";
    }

    if (slot->flags & SCALESET_MEMBER_DOWN) {
        return "down";
    }

    if (sscf->check) {
        switch (slot->health) {
        case NGX_HTTP_SCALESET_HEALTH_UP:
            break;
        case NGX_HTTP_SCALESET_HEALTH_DOWN:
            return "down";
        default:
            return "unchecked";
        }
    }

    if (slot->max_fails && slot->fails >= slot->max_fails
        && (sscf->check || now - slot->checked <= slot->fail_timeout))
    {
        return "unavail";
    }

    return "up";
}


static ngx_uint_t
ngx_http_scaleset_member_up(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now)
{
    return ngx_strcmp(ngx_http_scaleset_state(sscf, slot, now), "up") == 0;
}


/* the address as text, JSON- and label-safe */

static u_char *
ngx_http_scaleset_address(u_char *p, ngx_http_scaleset_slot_t *slot)
{
    u_char  text[NGX_SOCKADDR_STRLEN];
    size_t  len;

    len = ngx_sock_ntop((struct sockaddr *) &slot->sockaddr, slot->socklen,
                        text, NGX_SOCKADDR_STRLEN, 1);

    return (u_char *) ngx_escape_json(p, text, len);
}


static size_t
ngx_http_scaleset_output_size(ngx_http_scaleset_main_conf_t *smcf,
    size_t per_member)
{
    size_t                          size;
    ngx_uint_t                      i;
    ngx_http_scaleset_srv_conf_t  **pools;

    size = 8192;
    pools = smcf->pools.elts;

    for (i = 0; i < smcf->pools.nelts; i++) {
        if (pools[i]->sh) {
            size += 8192 + pools[i]->sh->max_members * per_member;
        }
    }

    return size;
}


/* GET or HEAD only, body discarded, the output buffer sized for the pools */

static ngx_int_t
ngx_http_scaleset_begin(ngx_http_request_t *r,
    ngx_http_scaleset_main_conf_t *smcf, size_t per_member, ngx_buf_t **b)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    *b = ngx_create_temp_buf(r->pool,
                             ngx_http_scaleset_output_size(smcf, per_member));
    if (*b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_scaleset_send(ngx_http_request_t *r, ngx_buf_t *b, const char *type,
    size_t type_len)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type.len = type_len;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type_len = type_len;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_scaleset_status_handler(ngx_http_request_t *r)
{
    u_char                          *p;
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_uint_t                       i, j, k, first;
    ngx_msec_t                       now;
    ngx_http_scaleset_slot_t        *slot;
    ngx_http_scaleset_shctx_t       *sh;
    uint64_t                         since;
    ngx_uint_t                       stale;
    ngx_http_scaleset_srv_conf_t   **pools, *sscf;
    ngx_http_scaleset_main_conf_t   *smcf;
    ngx_http_scaleset_main_shctx_t  *msh;

    static const char  *sources[] = { "none", "state_file", "redis" };

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scaleset_module);

    rc = ngx_http_scaleset_begin(r, smcf, NGX_HTTP_SCALESET_MEMBER_JSON, &b);
    if (rc != NGX_OK) {
        return rc;
    }

    now = ngx_current_msec;
    p = b->last;

    p = ngx_sprintf(p, "{\"gateway\":\"");
    p = (u_char *) ngx_escape_json(p, smcf->gateway_id.data,
                                   smcf->gateway_id.len);
    p = ngx_sprintf(p, "\",\"redis\":{\"address\":\"");
    p = (u_char *) ngx_escape_json(p, smcf->redis.data, smcf->redis.len);

    if (smcf->sh) {
        msh = smcf->sh;

        p = ngx_sprintf(p, "\",\"connected\":%s,\"lease_pid\":%uA,"
                        "\"lease_changes\":%uA,\"errors\":%uA,"
                        "\"errors_by_kind\":{",
                        msh->redis_up ? "true" : "false",
                        msh->lease_pid, msh->lease_changes,
                        msh->redis_errors);

        for (k = 0; k < NGX_HTTP_SCALESET_REDIS_ERR_LAST; k++) {
            p = ngx_sprintf(p, "%s\"%s\":%uA", k ? "," : "",
                            ngx_http_scaleset_redis_kind(k), msh->errors[k]);
        }

        p = ngx_sprintf(p, "},\"last_error\":\"");
        p = (u_char *) ngx_escape_json(p, msh->last_error,
                                       ngx_strnlen(msh->last_error,
                                           NGX_HTTP_SCALESET_REDIS_ERRSTR - 1));
        p = ngx_sprintf(p, "\",\"last_error_at\":%uL", msh->last_error_time);

        if (smcf->sentinel.len) {
            p = ngx_sprintf(p, ",\"sentinel\":\"");
            p = (u_char *) ngx_escape_json(p, smcf->sentinel.data,
                                           smcf->sentinel.len);
            p = ngx_sprintf(p, "\",\"master\":\"");
            p = (u_char *) ngx_escape_json(p, msh->master,
                                           ngx_strnlen(msh->master,
                                                       NGX_SOCKADDR_STRLEN));
            p = ngx_sprintf(p, "\",\"master_changes\":%uA",
                            msh->master_changes);
        }

        p = ngx_sprintf(p, "},");

    } else {
        p = ngx_sprintf(p, "\",\"connected\":false},");
    }

    p = ngx_sprintf(p, "\"pools\":{");

    pools = smcf->pools.elts;

    for (i = 0; i < smcf->pools.nelts; i++) {
        sscf = pools[i];
        sh = sscf->sh;

        if (sh == NULL) {
            continue;
        }

        stale = ngx_http_scaleset_redis_stale(sscf, &since);

        p = ngx_sprintf(p, "%s\"%V\":{\"upstream\":\"%V\",\"balance\":\"%s\","
                        "\"epoch\":%uL,\"source\":\"%s\",\"members_count\":%ui,"
                        "\"max_members\":%ui,\"bad_records\":%uA,"
                        "\"rejected_total\":%uA,\"synced\":%uL,"
                        "\"stale\":%s,",
                        i ? "," : "", &sscf->pool, &sscf->upstream,
                        sscf->balance == NGX_HTTP_SCALESET_BALANCE_LEAST_CONN
                        ? "least_conn" : "round_robin",
                        sh->epoch, sources[ngx_min(sh->source, 2)],
                        sh->members, sh->max_members, sh->bad_records,
                        sh->rejected_total, sh->synced,
                        stale ? "true" : "false");

        if (stale) {
            p = ngx_sprintf(p, "\"stale_since\":%uL,", since);

        } else {
            p = ngx_sprintf(p, "\"stale_since\":null,");
        }

        p = ngx_sprintf(p, "\"reads_refused\":%uA,\"refused_size\":%uA,",
                        sh->reads_refused, sh->refused_size);

        if (sscf->check) {
            p = ngx_sprintf(p, "\"health_check\":{\"uri\":\"%V\","
                            "\"interval_ms\":%M,\"timeout_ms\":%M,"
                            "\"fails\":%ui,\"passes\":%ui,"
                            "\"mandatory\":%s,\"results\":{",
                            &sscf->check->uri, sscf->check->interval,
                            sscf->check->timeout, sscf->check->fails,
                            sscf->check->passes,
                            sscf->check->mandatory ? "true" : "false");

            for (k = 0; k < SCALESET_CHECK_LAST; k++) {
                p = ngx_sprintf(p, "%s\"%s\":%uA", k ? "," : "",
                                scaleset_check_result_name(k), sh->checks[k]);
            }

            p = ngx_sprintf(p, "}},");

        } else {
            p = ngx_sprintf(p, "\"health_check\":null,");
        }

        p = ngx_sprintf(p, "\"members\":[");
        first = 1;

        ngx_http_scaleset_rlock(sh->lock);

        for (j = 0; j < sh->max_members; j++) {
            slot = &sh->slots[j];

            if (!slot->in_use
                || (size_t) (b->end - p) < NGX_HTTP_SCALESET_MEMBER_JSON)
            {
                continue;
            }

            p = ngx_sprintf(p, "%s{\"id\":\"%s\",\"address\":\"",
                            first ? "" : ",", slot->id);
            p = ngx_http_scaleset_address(p, slot);
            p = ngx_sprintf(p, "\",\"zone\":\"%s\",\"version\":\"%s\","
                            "\"weight\":%uD,\"backup\":%s,"
                            "\"state\":\"%s\",\"health\":\"%s\","
                            "\"reason\":\"%s\",\"active\":%uA,"
                            "\"requests\":%uA,\"fails\":%uA,"
                            "\"fails_total\":%uA,"
                            "\"responses\":{\"1xx\":%uA,\"2xx\":%uA,"
                            "\"3xx\":%uA,\"4xx\":%uA,\"5xx\":%uA},"
                            "\"last_check\":%uL,\"check_latency_ms\":%uD,"
                            "\"health_fails\":%uD,\"health_passes\":%uD}",
                            slot->zone, slot->version, slot->weight,
                            (slot->flags & SCALESET_MEMBER_BACKUP)
                            ? "true" : "false",
                            ngx_http_scaleset_state(sscf, slot, now),
                            sscf->check
                            ? scaleset_health_state_name(
                                  slot->health == NGX_HTTP_SCALESET_HEALTH_UP
                                  ? SCALESET_HEALTH_UP
                                  : slot->health
                                    == NGX_HTTP_SCALESET_HEALTH_DOWN
                                    ? SCALESET_HEALTH_DOWN
                                    : SCALESET_HEALTH_UNCHECKED)
                            : "unchecked",
                            slot->health_wall
                            ? scaleset_check_result_name(slot->health_reason)
                            : "",
                            slot->active, slot->requests, slot->fails,
                            slot->fails_total,
                            slot->responses[0], slot->responses[1],
                            slot->responses[2], slot->responses[3],
                            slot->responses[4],
                            slot->health_wall, slot->health_latency,
                            slot->health_fails, slot->health_passes);
            first = 0;
        }

        ngx_http_scaleset_runlock(sh->lock);

        p = ngx_sprintf(p, "]}");
    }

    p = ngx_sprintf(p, "}}\n");
    b->last = p;

    return ngx_http_scaleset_send(r, b, "application/json",
                                  sizeof("application/json") - 1);
}


static ngx_int_t
ngx_http_scaleset_metrics_handler(ngx_http_request_t *r)
{
    u_char                          *p, *lbl;
    uint64_t                         since;
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_uint_t                       i, j, k, fam;
    ngx_msec_t                       now;
    ngx_atomic_uint_t                cum;
    ngx_http_scaleset_slot_t        *slot;
    ngx_http_scaleset_shctx_t       *sh;
    ngx_http_scaleset_srv_conf_t   **pools, *sscf;
    ngx_http_scaleset_main_conf_t   *smcf;

    /* per-member families: name, type, help */
    static const char  *families[][3] = {
        { "scaleset_upstream_requests_total", "counter",
          "Requests sent to the member." },
        { "scaleset_upstream_responses_total", "counter",
          "Responses of the member by status class." },
        { "scaleset_upstream_active_connections", "gauge",
          "Requests in flight to the member." },
        { "scaleset_upstream_member_up", "gauge",
          "1 when the member takes new requests." },
        { "scaleset_upstream_fails_total", "counter",
          "Failed attempts to the member (passive checks)." },
        { "scaleset_upstream_member_info", "gauge",
          "The member's address, zone, version and state." },
    };

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scaleset_module);

    rc = ngx_http_scaleset_begin(r, smcf, NGX_HTTP_SCALESET_MEMBER_METRICS, &b);
    if (rc != NGX_OK) {
        return rc;
    }

    now = ngx_current_msec;
    p = b->last;
    pools = smcf->pools.elts;

    p = ngx_sprintf(p,
                    "# HELP scaleset_redis_connected 1 when this gateway's "
                    "Redis connections are up.\n"
                    "# TYPE scaleset_redis_connected gauge\n"
                    "scaleset_redis_connected %d\n"
                    "# HELP scaleset_redis_lease_changes_total Times a worker "
                    "took over the Redis lease.\n"
                    "# TYPE scaleset_redis_lease_changes_total counter\n"
                    "scaleset_redis_lease_changes_total %uA\n"
                    "# HELP scaleset_redis_master_changes_total Times the "
                    "sentinels named another Redis master.\n"
                    "# TYPE scaleset_redis_master_changes_total counter\n"
                    "scaleset_redis_master_changes_total %uA\n"
                    "# HELP scaleset_redis_errors_total Redis failures by "
                    "kind.\n"
                    "# TYPE scaleset_redis_errors_total counter\n",
                    smcf->sh && smcf->sh->redis_up ? 1 : 0,
                    smcf->sh ? smcf->sh->lease_changes : 0,
                    smcf->sh ? smcf->sh->master_changes : 0);

    for (k = 0; k < NGX_HTTP_SCALESET_REDIS_ERR_LAST; k++) {
        p = ngx_sprintf(p, "scaleset_redis_errors_total{kind=\"%s\"} %uA\n",
                        ngx_http_scaleset_redis_kind(k),
                        smcf->sh ? smcf->sh->errors[k] : 0);
    }

    p = ngx_sprintf(p, "# HELP scaleset_membership_stale 1 when the members "
                    "were not confirmed by Redis for longer than a resync.\n"
                    "# TYPE scaleset_membership_stale gauge\n");
    for (i = 0; i < smcf->pools.nelts; i++) {
        if (pools[i]->sh) {
            p = ngx_sprintf(p, "scaleset_membership_stale{pool=\"%V\"} %ui\n",
                            &pools[i]->pool,
                            ngx_http_scaleset_redis_stale(pools[i], &since));
        }
    }

    p = ngx_sprintf(p, "# HELP scaleset_membership_last_sync_timestamp_seconds "
                    "When the members were last read from Redis (0: "
                    "never).\n"
                    "# TYPE scaleset_membership_last_sync_timestamp_seconds "
                    "gauge\n");
    for (i = 0; i < smcf->pools.nelts; i++) {
        if ((sh = pools[i]->sh)) {
            p = ngx_sprintf(p, "scaleset_membership_last_sync_timestamp_seconds"
                            "{pool=\"%V\"} %uL.%03uL\n", &pools[i]->pool,
                            sh->synced / 1000, sh->synced % 1000);
        }
    }

    p = ngx_sprintf(p, "# HELP scaleset_upstream_reads_refused_total Reads of "
                    "the members hash refused as too large.\n"
                    "# TYPE scaleset_upstream_reads_refused_total counter\n");
    for (i = 0; i < smcf->pools.nelts; i++) {
        if ((sh = pools[i]->sh)) {
            p = ngx_sprintf(p, "scaleset_upstream_reads_refused_total"
                            "{pool=\"%V\"} %uA\n", &pools[i]->pool,
                            sh->reads_refused);
        }
    }

    /* per-pool families */

    p = ngx_sprintf(p, "# HELP scaleset_membership_epoch The membership "
                    "epoch applied.\n"
                    "# TYPE scaleset_membership_epoch gauge\n");
    for (i = 0; i < smcf->pools.nelts; i++) {
        if ((sh = pools[i]->sh)) {
            p = ngx_sprintf(p, "scaleset_membership_epoch{pool=\"%V\"} %uL\n",
                            &pools[i]->pool, sh->epoch);
        }
    }

    p = ngx_sprintf(p, "# HELP scaleset_upstream_members Members of the "
                    "pool.\n"
                    "# TYPE scaleset_upstream_members gauge\n");
    for (i = 0; i < smcf->pools.nelts; i++) {
        if ((sh = pools[i]->sh)) {
            p = ngx_sprintf(p, "scaleset_upstream_members{pool=\"%V\"} %ui\n",
                            &pools[i]->pool, sh->members);
        }
    }

    p = ngx_sprintf(p, "# HELP scaleset_upstream_bad_records Member records "
                    "skipped in the last read.\n"
                    "# TYPE scaleset_upstream_bad_records gauge\n");
    for (i = 0; i < smcf->pools.nelts; i++) {
        if ((sh = pools[i]->sh)) {
            p = ngx_sprintf(p, "scaleset_upstream_bad_records{pool=\"%V\"} "
                            "%uA\n", &pools[i]->pool, sh->bad_records);
        }
    }

    p = ngx_sprintf(p, "# HELP scaleset_upstream_health_checks_total Active "
                    "health checks by result.\n"
                    "# TYPE scaleset_upstream_health_checks_total counter\n");
    for (i = 0; i < smcf->pools.nelts; i++) {
        if ((sh = pools[i]->sh) && pools[i]->check) {
            for (k = 0; k < SCALESET_CHECK_LAST; k++) {
                p = ngx_sprintf(p, "scaleset_upstream_health_checks_total"
                                "{pool=\"%V\",result=\"%s\"} %uA\n",
                                &pools[i]->pool,
                                scaleset_check_result_name(k),
                                sh->checks[k]);
            }
        }
    }

    p = ngx_sprintf(p, "# HELP scaleset_upstream_response_seconds Time from "
                    "connecting to a member to the end of its response.\n"
                    "# TYPE scaleset_upstream_response_seconds histogram\n");
    for (i = 0; i < smcf->pools.nelts; i++) {
        if ((sh = pools[i]->sh) == NULL) {
            continue;
        }

        cum = 0;

        for (k = 0; k < NGX_HTTP_SCALESET_BUCKETS; k++) {
            cum += sh->latency[k];

            if (k < NGX_HTTP_SCALESET_BUCKETS - 1) {
                p = ngx_sprintf(p, "scaleset_upstream_response_seconds_bucket"
                                "{pool=\"%V\",le=\"%ui.%03ui\"} %uA\n",
                                &pools[i]->pool,
                                ngx_http_scaleset_buckets[k] / 1000,
                                ngx_http_scaleset_buckets[k] % 1000, cum);
            } else {
                p = ngx_sprintf(p, "scaleset_upstream_response_seconds_bucket"
                                "{pool=\"%V\",le=\"+Inf\"} %uA\n",
                                &pools[i]->pool, cum);
            }
        }

        p = ngx_sprintf(p, "scaleset_upstream_response_seconds_sum"
                        "{pool=\"%V\"} %uA.%03uA\n"
                        "scaleset_upstream_response_seconds_count"
                        "{pool=\"%V\"} %uA\n",
                        &pools[i]->pool, sh->latency_sum / 1000,
                        sh->latency_sum % 1000, &pools[i]->pool, cum);
    }

    /* per-member families, one family at a time as the format wants */

    lbl = ngx_pnalloc(r->pool, 512);
    if (lbl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (fam = 0; fam < sizeof(families) / sizeof(families[0]); fam++) {

        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                        families[fam][0], families[fam][2],
                        families[fam][0], families[fam][1]);

        for (i = 0; i < smcf->pools.nelts; i++) {
            sscf = pools[i];
            sh = sscf->sh;

            if (sh == NULL) {
                continue;
            }

            ngx_http_scaleset_rlock(sh->lock);

            for (j = 0; j < sh->max_members; j++) {
                slot = &sh->slots[j];

                if (!slot->in_use
                    || (size_t) (b->end - p)
                       < NGX_HTTP_SCALESET_MEMBER_METRICS / 4)
                {
                    continue;
                }

                *ngx_sprintf(lbl, "pool=\"%V\",member=\"%s\"%Z",
                             &sscf->pool, slot->id) = '\0';

                switch (fam) {

                case 0:
                    p = ngx_sprintf(p, "%s{%s} %uA\n", families[fam][0], lbl,
                                    slot->requests);
                    break;

                case 1:
                    for (k = 0; k < 5; k++) {
                        p = ngx_sprintf(p, "%s{%s,code=\"%uixx\"} %uA\n",
                                        families[fam][0], lbl, k + 1,
                                        slot->responses[k]);
                    }
                    break;

                case 2:
                    p = ngx_sprintf(p, "%s{%s} %uA\n", families[fam][0], lbl,
                                    slot->active);
                    break;

                case 3:
                    p = ngx_sprintf(p, "%s{%s} %d\n", families[fam][0], lbl,
                                    ngx_http_scaleset_member_up(sscf, slot,
                                                                now));
                    break;

                case 4:
                    p = ngx_sprintf(p, "%s{%s} %uA\n", families[fam][0], lbl,
                                    slot->fails_total);
                    break;

                default:
                    p = ngx_sprintf(p, "%s{%s,address=\"", families[fam][0],
                                    lbl);
                    p = ngx_http_scaleset_address(p, slot);
                    p = ngx_sprintf(p, "\",zone=\"%s\",version=\"%s\","
                                    "state=\"%s\"} 1\n",
                                    slot->zone, slot->version,
                                    ngx_http_scaleset_state(sscf, slot, now));
                }
            }

            ngx_http_scaleset_runlock(sh->lock);
        }
    }

    b->last = p;

    return ngx_http_scaleset_send(r, b, "text/plain; version=0.0.4",
                                  sizeof("text/plain; version=0.0.4") - 1);
}
