/*
 * api.c: the HTTP API on libevent's evhttp, JSON via jansson, and the
 * Prometheus metrics.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "scaler.h"
#include "expo.h"

static struct evhttp  *api_http;
static scaler_t       *api_s;

/* a PUT capacity or DELETE waiting for Redis (registry_async.c); req is
   NULL once api_stop() freed it with its connection: the outcome is still
   applied, nobody is answered */
typedef struct api_wait {
    struct evhttp_request  *req;
    char                    pool[128];
    char                    id[128];      /* DELETE; "" for PUT */
    int                     capacity;     /* PUT */
    struct api_wait        *prev, *next;
} api_wait_t;

static api_wait_t     *api_waiting;

static void api_handle(struct evhttp_request *req, void *arg);
static const char *api_token(void);
static const char *authorization(struct evkeyvalq *hdrs);
static void reply_json(struct evhttp_request *req, int code, json_t *j);
static json_t *pool_json(pool_state_t *ps, int detail);
static json_t *instance_json(pool_state_t *ps, instance_t *in, int detail);
static void metrics(struct evhttp_request *req);

static void
reply_json(struct evhttp_request *req, int code, json_t *j)
{
    struct evbuffer  *b = evbuffer_new();
    char             *s = json_dumps(j, JSON_COMPACT);

    evbuffer_add_printf(b, "%s\n", s ? s : "{}");
    free(s);
    json_decref(j);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, code, code == 200 ? "OK" : code == 400
                      ? "Bad Request" : code == 404 ? "Not Found"
                      : code == 409 ? "Conflict"
                      : code == 401 ? "Unauthorized" : code == 403
                      ? "Forbidden" : code == 405
                      ? "Method Not Allowed" : "Error", b);
    evbuffer_free(b);
}

void
api_reply_json(struct evhttp_request *req, int code, json_t *j)
{
    reply_json(req, code, j);
}

void
api_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
    va_list  ap;
    char     msg[256];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_json(req, code, json_pack("{s:s}", "error", msg));
}

/* an instance as the last pass left it; detail: everything
   GET /v1/pools/{pool}/instances lists (its gateways' reports too) */
static json_t *
instance_json(pool_state_t *ps, instance_t *in, int detail)
{
    json_t    *o, *health, *h;
    report_t  *rp;
    int        k;

    o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o}", "id", in->id, "zone",
                  ps->cf->zones[in->zone].name, "state",
                  inst_state_name(in->state), "address", in->address,
                  "version", in->model.version, "latest_model", in->latest,
                  "created", in->model.created
                             ? json_integer((json_int_t) in->model.created)
                             : json_null());
    if (!detail) {
        return o;
    }
    health = json_object();
    for (k = 0; k < in->nreports && in->report0 + k < ps->nreports; k++) {
        rp = &ps->reports[in->report0 + k];
        h = json_pack("{s:s,s:I,s:I,s:I}", "state",
                      scaleset_health_state_name(rp->state), "conns",
                      (json_int_t) (rp->conns > INT64_MAX ? INT64_MAX
                                                          : rp->conns),
                      "fails", (json_int_t) (rp->fails > INT64_MAX
                                             ? INT64_MAX : rp->fails),
                      "checked", (json_int_t) (rp->checked > INT64_MAX
                                               ? INT64_MAX : rp->checked));
        json_object_set_new(health, ps->gateways[rp->gateway], h);
    }
    json_object_set_new(o, "host", json_string(in->model.host));
    json_object_set_new(o, "template", json_string(in->model.template));
    json_object_set_new(o, "weight", json_integer(in->weight ? in->weight
                                                             : 1));
    json_object_set_new(o, "first_seen", json_integer((json_int_t) in->seen));
    json_object_set_new(o, "health", health);
    return o;
}

static json_t *
pool_json(pool_state_t *ps, int detail)
{
    json_t  *j, *zones, *inst;
    int      z, i, n, latest;
    autoscale_runner_t  *r;

    zones = json_object();
    for (z = 0; z < ps->cf->nzones; z++) {
        for (i = 0, n = 0; i < ps->ninst; i++) {
            if (ps->inst[i].zone == z && ps->inst[i].state == INST_RUNNING) {
                n++;
            }
        }
        json_object_set_new(zones, ps->cf->zones[z].name, json_integer(n));
    }
    for (i = 0, latest = 0; i < ps->ninst; i++) {
        latest += ps->inst[i].latest;
    }
    /* the pool's model: what new instances get (the previous one after
       a rollback) */
    j = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:s,s:i,s:b,s:o,s:{s:s,s:i,"
                  "s:i,s:i}}",
                  "name", ps->cf->name, "capacity", ps->capacity,
                  "running", pool_actual(ps), "instances", ps->ninst,
                  "min", ps->cf->cap_min, "max", ps->cf->cap_max,
                  "version", ps->model.version[0] ? ps->model.version
                                                  : ps->cf->version,
                  "digest", ps->model.version[0] ? ps->model.digest
                                                 : ps->digest,
                  "latest_model_instances", latest, "redis", ps->redis_ok,
                  "zones", zones, "upgrade", "state",
                  upgrade_state_name(ps->upgrade.state), "batch",
                  (int) ps->upgrade.batch, "batches",
                  (int) ps->upgrade.batches, "outdated", pool_outdated(ps));
    if (detail) {
        inst = json_array();
        for (i = 0; i < ps->ninst; i++) {
            json_array_append_new(inst, instance_json(ps, &ps->inst[i], 0));
        }
        json_object_set_new(j, "instances_list", inst);
        if ((r = autoscaler_runner(ps->cf->name)) != NULL) {
            json_object_set_new(j, "autoscale", autoscale_runner_json(r));
        }
    }
    return j;
}

/* instances of ps in state st (zone z, or any when z < 0) */
static int
count_state(const pool_state_t *ps, int z, inst_state_t st)
{
    int  i, n = 0;

    for (i = 0; i < ps->ninst; i++) {
        n += ps->inst[i].state == st && (z < 0 || ps->inst[i].zone == z);
    }
    return n;
}

/* the scaler's own families, family by family over the pools, then the
   VM metrics and the autoscale runners' */
static void
metrics(struct evhttp_request *req)
{
    struct evbuffer  *b = evbuffer_new();
    expo_t            e;
    pool_state_t     *ps;
    int               i, z, st;

    expo_begin(&e, b);
    expo_family(&e, "scaleset_scaler_capacity_desired", "gauge",
                "The capacity the scaler works towards.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, ps->capacity, "pool", ps->cf->name, NULL);
    }
    expo_family(&e, "scaleset_scaler_capacity_actual", "gauge",
                "Running (registered) instances per zone.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        for (z = 0; z < ps->cf->nzones; z++) {
            expo_sample(&e, count_state(ps, z, INST_RUNNING), "pool",
                        ps->cf->name, "zone", ps->cf->zones[z].name, NULL);
        }
    }
    expo_family(&e, "scaleset_scaler_instances", "gauge",
                "Instances by lifecycle state.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        for (st = INST_CREATING; st <= INST_DELETING; st++) {
            expo_sample(&e, count_state(ps, -1, (inst_state_t) st), "pool",
                        ps->cf->name, "state", inst_state_name(st), NULL);
        }
    }
    expo_family(&e, "scaleset_scaler_instance_changes_total", "counter",
                "Instances the scaler added (out) or removed (in).");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, ps->actions_up, "pool", ps->cf->name, "direction",
                    "out", NULL);
        expo_sample(&e, ps->actions_down, "pool", ps->cf->name, "direction",
                    "in", NULL);
    }
    expo_family(&e, "scaleset_scaler_errors_total", "counter",
                "Failed steps of the passes, by kind.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        for (st = 0; st < ERR_KIND_COUNT; st++) {
            expo_sample(&e, ps->errors[st], "pool", ps->cf->name, "kind",
                        err_kind_name(st), NULL);
        }
    }
    expo_family(&e, "scaleset_scaler_repairs_total", "counter",
                "Instances replaced because they were not ready within "
                "health.grace.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, ps->repairs, "pool", ps->cf->name, NULL);
    }
    expo_family(&e, "scaleset_scaler_upgrade_state", "gauge",
                "1 for the state the pool's upgrade is in (idle, rolling, "
                "paused, rolling_back, failed, cancelled, done).");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        for (st = UPGRADE_IDLE; st < UPGRADE_STATE_COUNT; st++) {
            expo_sample(&e, (ps->upgrade.state == UPGRADE_NONE
                             ? UPGRADE_IDLE : (int) ps->upgrade.state) == st,
                        "pool", ps->cf->name, "state",
                        upgrade_state_name((upgrade_state_t) st), NULL);
        }
    }
    expo_family(&e, "scaleset_scaler_instances_outdated", "gauge",
                "Instances booting or running that are not on the pool's "
                "model.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, pool_outdated(ps), "pool", ps->cf->name, NULL);
    }
    expo_family(&e, "scaleset_scaler_upgrade_batches_total", "counter",
                "Upgrade batches ended, by result (succeeded, failed: a "
                "threshold exceeded, rolled_back: a rollback's batch).");
    for (i = 0; i < api_s->npools; i++) {
        static const char *const results[] = { "succeeded", "failed",
                                               "rolled_back" };

        ps = &api_s->pools[i];
        for (st = 0; st < 3; st++) {
            expo_sample(&e, ps->upgrade_batches[st], "pool", ps->cf->name,
                        "result", results[st], NULL);
        }
    }
    expo_family(&e, "scaleset_scaler_redis_up", "gauge",
                "1 if the pool's last pass reached Redis.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, ps->redis_ok, "pool", ps->cf->name, NULL);
    }
    vmstats_metrics(&e, api_s);
    autoscaler_metrics(&e);
    if (expo_end(&e) != 0) {
        slog(NULL, NULL, "metrics: %s", e.why);
        evbuffer_free(b);
        api_reply_error(req, 500, "metrics: %s", e.why);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void api_handle_locked(struct evhttp_request *req, void *arg);

static void
wait_unlink(api_wait_t *w)
{
    if (w->prev) {
        w->prev->next = w->next;
    } else {
        api_waiting = w->next;
    }
    if (w->next) {
        w->next->prev = w->prev;
    }
}

/* PUT capacity stored (ok) or not: the pool is looked up again, a reload
   may have replaced the state since the request */
static void
capacity_stored(int ok, void *arg)
{
    api_wait_t    *w = arg;
    pool_state_t  *ps;

    wait_unlink(w);
    reconcile_lock(api_s);
    ps = reconcile_pool(api_s, w->pool);
    if (ok && ps != NULL) {
        history_manual(w->pool, ps->capacity, w->capacity);
        ps->capacity = w->capacity;
        reconcile_kick(api_s);
        slog(w->pool, NULL, "capacity set to %d", ps->capacity);
    }
    if (w->req == NULL) {
        /* its connection went with api_stop() */
    } else if (!ok) {
        api_reply_error(w->req, 503, "redis unreachable");
    } else if (ps == NULL) {
        /* stored, but a reload removed the pool meanwhile */
        api_reply_error(w->req, 404, "no pool \"%s\"", w->pool);
    } else {
        reply_json(w->req, 200, pool_json(ps, 0));
    }
    reconcile_unlock(api_s);
    free(w);
}

/* DELETE: the member removed from Redis (ok) or not */
static void
member_deleted(int ok, void *arg)
{
    api_wait_t    *w = arg;
    pool_state_t  *ps;
    int            i;

    wait_unlink(w);
    reconcile_lock(api_s);
    ps = reconcile_pool(api_s, w->pool);
    if (ok && ps != NULL) {
        slog(w->pool, w->id, "deleted by API request");
        for (i = 0; i < ps->ninst; i++) {
            if (strcmp(ps->inst[i].id, w->id) == 0) {
                ps->inst[i].state = INST_DELETING;
            }
        }
        reconcile_delete_later(api_s, ps, w->id);
    }
    if (w->req == NULL) {
        /* its connection went with api_stop() */
    } else if (!ok) {
        api_reply_error(w->req, 503, "delete of %s failed: redis unreachable",
                    w->id);
    } else if (ps == NULL) {
        api_reply_error(w->req, 404, "no pool \"%s\"", w->pool);
    } else {
        reply_json(w->req, 200, json_pack("{s:s,s:s}", "deleted", w->id,
                                          "pool", w->pool));
    }
    reconcile_unlock(api_s);
    free(w);
}

/* the Redis write of a PUT capacity (id NULL) or a DELETE; req is
   answered from its callback, on the loop */
static void
api_wait(struct evhttp_request *req, const char *pool, const char *id,
    int capacity)
{
    api_wait_t  *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        api_reply_error(req, 503, "out of memory");
        return;
    }
    w->req = req;
    snprintf(w->pool, sizeof(w->pool), "%s", pool);
    snprintf(w->id, sizeof(w->id), "%s", id ? id : "");
    w->capacity = capacity;
    w->next = api_waiting;
    if (api_waiting) {
        api_waiting->prev = w;
    }
    api_waiting = w;
    if (id) {
        registry_async_member_del(api_s->areg, pool, id, member_deleted, w);
    } else {
        registry_async_capacity_set(api_s->areg, pool, capacity,
                                    capacity_stored, w);
    }
}

/* the published state is read and changed under the reconcile lock */
static void
api_handle(struct evhttp_request *req, void *arg)
{
    reconcile_lock(api_s);
    api_handle_locked(req, arg);
    reconcile_unlock(api_s);
}

/* the one Authorization header; NULL when none or several (the gate,
   api_http.c, takes none of several either) */
static const char *
authorization(struct evkeyvalq *hdrs)
{
    struct evkeyval  *kv;
    const char       *v = NULL;

    TAILQ_FOREACH(kv, hdrs, next) {
        if (strcasecmp(kv->key, "Authorization") == 0) {
            if (v != NULL) {
                return NULL;
            }
            v = kv->value;
        }
    }
    return v;
}

/* the token in force (a reload may change it), for the gate */
static const char *
api_token(void)
{
    return api_s ? api_s->cf->token : NULL;
}

int
api_capacity_body(const char *body, size_t len, long long *cap, char *why,
    size_t whylen)
{
    char          *p;
    json_t        *j, *c;
    json_error_t   jerr;

    j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        snprintf(why, whylen, "bad JSON: %s", jerr.text);
        /* jansson quotes the token it stopped in, which may be cut inside
           a UTF-8 sequence: the JSON answer could not carry it */
        for (p = why; *p != '\0'; p++) {
            if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f) {
                *p = '?';
            }
        }
        return -1;
    }
    c = json_object_get(j, "capacity");
    if (!json_is_integer(c)) {
        json_decref(j);
        snprintf(why, whylen, "\"capacity\" must be an integer");
        return -1;
    }
    *cap = (long long) json_integer_value(c);
    json_decref(j);
    return 0;
}

static void
api_handle_locked(struct evhttp_request *req, void *arg)
{
    const char       *uri = evhttp_request_get_uri(req), *host;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
    char              path[256], pool[128], id[128], why[256];
    pool_state_t     *ps;
    json_t           *j;
    struct evbuffer  *in;
    size_t            len;
    int               i, n, authorized;
    long long         lo, hi, cap;
    autoscale_runner_t *r;
    const autoscale_decision_t *d;

    (void) arg;
    snprintf(path, sizeof(path), "%s", uri);
    if (strchr(path, '?')) {
        *strchr(path, '?') = '\0';
    }
    /* without the token nothing more is read on this connection (the
       gate, api_http.c): it closes after this answer */
    authorized = api_s->cf->token == NULL
                 || api_token_ok(authorization(hdrs), api_s->cf->token);
    if (!authorized) {
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Connection", "close");
    }
    if (strcmp(path, "/healthz") == 0) {
        reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    if (strcmp(path, "/ui") == 0 || strncmp(path, "/ui/", 4) == 0) {
        /* static files, no data: the page sends the token itself */
        ui_serve(req, api_s->cf->ui_dir ? api_s->cf->ui_dir
                                        : ui_default_dir(), path);
        return;
    }
    if (!authorized) {
        api_reply_error(req, 401, "missing or wrong bearer token");
        return;
    }
    /* without a token, a browser page whose name resolves to loopback
       (DNS rebinding) would be served: only loopback names */
    host = evhttp_find_header(hdrs, "Host");
    if (api_s->cf->token == NULL && !api_host_ok(host, api_s->cf->api_host))
    {
        api_reply_error(req, 403, "Host \"%.64s\" is not this API: without "
                    "api.token_file only localhost, 127.0.0.0/8, [::1] and "
                    "%s are served", host, api_s->cf->api_host);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        metrics(req);
        return;
    }
    if (strcmp(path, "/v1/pools") == 0) {
        if (cmd != EVHTTP_REQ_GET) {
            api_reply_error(req, 405, "method not allowed");
            return;
        }
        j = json_array();
        for (i = 0; i < api_s->npools; i++) {
            json_array_append_new(j, pool_json(&api_s->pools[i], 0));
        }
        reply_json(req, 200, json_pack("{s:o}", "pools", j));
        return;
    }
    n = 0;
    pool[0] = id[0] = '\0';
    if (sscanf(path, "/v1/pools/%127[^/]%n", pool, &n) != 1) {
        api_reply_error(req, 404, "no such path");
        return;
    }
    if ((ps = reconcile_pool(api_s, pool)) == NULL) {
        api_reply_error(req, 404, "no pool \"%s\"", pool);
        return;
    }
    if (path[n] == '\0') {
        if (cmd != EVHTTP_REQ_GET) {
            api_reply_error(req, 405, "method not allowed");
            return;
        }
        reply_json(req, 200, pool_json(ps, 1));
        return;
    }
    if (strcmp(path + n, "/history") == 0) {
        if (cmd != EVHTTP_REQ_GET) {
            api_reply_error(req, 405, "method not allowed");
            return;
        }
        reply_json(req, 200, history_json(pool));
        return;
    }
    if (strcmp(path + n, "/capacity") == 0) {
        if (cmd != EVHTTP_REQ_PUT) {
            api_reply_error(req, 405, "method not allowed");
            return;
        }
        /* evhttp bounds the body (API_BODY_MAX) */
        in = evhttp_request_get_input_buffer(req);
        len = evbuffer_get_length(in);
        if (api_capacity_body(len ? (const char *) evbuffer_pullup(in, -1)
                              : "", len, &cap, why, sizeof(why)) != 0)
        {
            api_reply_error(req, 400, "%s", why);
            return;
        }
        /* the bounds in force: the active profile's (a schedule may
           allow more than the default), else the pool's */
        lo = ps->cf->cap_min;
        hi = ps->cf->cap_max;
        if ((r = autoscaler_runner(pool)) != NULL
            && (d = autoscale_runner_last(r)) != NULL)
        {
            lo = d->bounds.min;
            hi = d->bounds.max;
        }
        if (cap < lo || cap > hi) {
            api_reply_error(req, 400, "capacity %lld is outside min..max "
                        "%lld..%lld", cap, lo, hi);
            return;
        }
        /* answered when Redis has it (capacity_stored) */
        api_wait(req, pool, NULL, (int) cap);
        return;
    }
    if (strcmp(path + n, "/upgrade") == 0
        || strncmp(path + n, "/upgrade/", 9) == 0)
    {
        api_upgrade(req, api_s, ps, path + n + 8);
        return;
    }
    if (strcmp(path + n, "/instances") == 0) {
        if (cmd != EVHTTP_REQ_GET) {
            api_reply_error(req, 405, "method not allowed");
            return;
        }
        j = json_array();
        for (i = 0; i < ps->ninst; i++) {
            json_array_append_new(j, instance_json(ps, &ps->inst[i], 1));
        }
        reply_json(req, 200, json_pack("{s:s,s:o}", "pool", ps->cf->name,
                                       "instances", j));
        return;
    }
    if (sscanf(path + n, "/instances/%127[^/]", id) == 1) {
        if (cmd != EVHTTP_REQ_DELETE) {
            api_reply_error(req, 405, "method not allowed");
            return;
        }
        for (i = 0; i < ps->ninst; i++) {
            if (strcmp(ps->inst[i].id, id) == 0) {
                break;
            }
        }
        if (i == ps->ninst) {
            api_reply_error(req, 404, "no instance \"%s\" in pool \"%s\"", id,
                        pool);
            return;
        }
        /* deregistered first (answered then: member_deleted), its
           domain deleted by the next pass (at once) */
        api_wait(req, pool, id, 0);
        return;
    }
    api_reply_error(req, 404, "no such path");
}

int
api_start(struct event_base *base, scaler_t *s)
{
    api_s = s;
    if ((api_http = evhttp_new(base)) == NULL) {
        slog(NULL, NULL, "api: out of memory");
        return -1;
    }
    evhttp_set_allowed_methods(api_http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT
                               | EVHTTP_REQ_DELETE | EVHTTP_REQ_POST
                               | EVHTTP_REQ_HEAD);
    api_http_limits(api_http, s->cf->api_timeout_ms, api_token);
    evhttp_set_gencb(api_http, api_handle, NULL);
    if (evhttp_bind_socket(api_http, s->cf->api_host,
                           (ev_uint16_t) s->cf->api_port) != 0)
    {
        slog(NULL, NULL, "api: cannot listen on %s:%d", s->cf->api_host,
             s->cf->api_port);
        return -1;
    }
    return 0;
}

void
api_reconfigure(void)
{
    if (api_http) {
        api_http_limits(api_http, api_s->cf->api_timeout_ms, api_token);
    }
}

void
api_stop(void)
{
    api_wait_t  *w;

    /* evhttp_free() frees the requests still waiting for Redis */
    for (w = api_waiting; w; w = w->next) {
        w->req = NULL;
    }
    api_upgrade_stop();
    if (api_http) {
        evhttp_free(api_http);
        api_http = NULL;
    }
    api_http_close();
}
