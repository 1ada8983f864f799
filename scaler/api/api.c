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

#include "plan.h"
#include "expo.h"

static struct evhttp     *api_http;
static scaler_t          *api_s;
static struct event_base *api_base;

/* a request waiting for Redis (registry_async.c): a capacity change (a
   PUT capacity, or a request with ?decrement=true: id, ask, queued for
   the pass with the capacity, so that the pass sees both or neither) or a
   protection; req is NULL once api_stop() freed it with its connection:
   the outcome is still applied, nobody is answered */
typedef struct api_wait {
    struct evhttp_request *req;
    char                   pool[128];
    char                   id[128]; /* "" for PUT capacity */
    unsigned               ask;     /* ASK_* for id */
    int                    capacity;
    protect_t              protection; /* PUT protection */
    /* once Redis has it, with its pool (looked up again: a reload may
       have replaced it): what the request changes (-1: it could not),
       and what it answers */
    int (*apply)(struct api_wait *w, pool_state_t *ps);
    json_t *(*answer)(struct api_wait *w, pool_state_t *ps, int *code);
    struct api_wait *prev, *next;
} api_wait_t;

static api_wait_t *api_waiting;

static void        api_handle(struct evhttp_request *req, void *arg);
static const char *api_token(void);
static const char *authorization(struct evkeyvalq *hdrs);
#define reply_json  api_reply_json
#define reply_error api_reply_error
static json_t *pool_json(pool_state_t *ps, int detail);
static int     count_state(const pool_state_t *ps, int z, inst_state_t st);
static double  get_warm_pending(const pool_state_t *ps);
static json_t *instance_json(pool_state_t *ps, instance_t *in, int detail);
static void    metrics(struct evhttp_request *req);

static json_t     *ask_json(const char *pool, const char *id, unsigned ask,
                            int capacity);
static json_t     *ha_json(void);
static int         ha_refuse(struct evhttp_request *req);
static const char *redis_reason(void);
static void        protection_put(struct evhttp_request *req, pool_state_t *ps,
                                  const char *id);
static void        standby_post(struct evhttp_request *req, pool_state_t *ps,
                                instance_t *in, int on);
static void        lifecycle_post(struct evhttp_request *req, pool_state_t *ps,
                                  instance_t *in);

void
api_reply_json(struct evhttp_request *req, int code, json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    char            *s = json_dumps(j, JSON_COMPACT);

    evbuffer_add_printf(b, "%s\n", s ? s : "{}");
    free(s);
    json_decref(j);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, code,
                      code == 200   ? "OK"
                      : code == 202 ? "Accepted"
                      : code == 409 ? "Conflict"
                      : code == 400 ? "Bad Request"
                      : code == 404 ? "Not Found"
                      : code == 409 ? "Conflict"
                      : code == 401 ? "Unauthorized"
                      : code == 403 ? "Forbidden"
                      : code == 405 ? "Method Not Allowed"
                      : code == 503 ? "Service Unavailable"
                                    : "Error",
                      b);
    evbuffer_free(b);
}

void
api_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
    va_list ap;
    char    msg[256];

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
    json_t   *o, *health, *h;
    report_t *rp;
    int       k;

    o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:s}", "id", in->id, "zone",
                  ps->cf->zones[in->zone].name, "state",
                  inst_state_name(in->state), "address", in->address, "version",
                  in->model.version, "latest_model", in->latest, "created",
                  in->model.created
                      ? json_integer((json_int_t) in->model.created)
                      : json_null(),
                  "protection", protect_name(in->protection));
    json_object_set_new(o, "host_name",
                        json_string(ps->cf->hosts[in->host].name));
    /* scaled, or added by hand: manual, adopted */
    json_object_set_new(o, "origin", json_string(origin_name(in->origin)));
    if (!detail) {
        return o;
    }
    health = json_object();
    for (k = 0; k < in->nreports && in->report0 + k < ps->nreports; k++) {
        rp = &ps->reports[in->report0 + k];
        h = json_pack(
            "{s:s,s:I,s:I,s:I,s:I}", "state",
            scaleset_health_state_name(rp->state), "conns",
            (json_int_t) (rp->conns > INT64_MAX ? INT64_MAX : rp->conns),
            "fails",
            (json_int_t) (rp->fails > INT64_MAX ? INT64_MAX : rp->fails),
            "checked",
            (json_int_t) (rp->checked > INT64_MAX ? INT64_MAX : rp->checked),
            "at", (json_int_t) (rp->at > INT64_MAX ? INT64_MAX : rp->at));
        json_object_set_new(health, ps->gateways[rp->gateway].name, h);
    }
    /* the URI it runs on: its host's (the tag's for one created there) */
    json_object_set_new(o, "host", json_string(ps->cf->hosts[in->host].uri));
    json_object_set_new(o, "template", json_string(in->model.template));
    json_object_set_new(o, "weight",
                        json_integer(in->weight ? (json_int_t) in->weight
                                     : in->tmpl >= 0
                                         ? ps->cf->templates[in->tmpl].weight
                                         : 1));
    json_object_set_new(o, "first_seen", json_integer((json_int_t) in->seen));
    json_object_set_new(o, "power", json_string(virt_power_name(in->power)));
    /* in the warm pool (its tag): a warm one may wait in the launch hook */
    json_object_set_new(o, "warm", json_boolean(in->warm));
    if (in->hook != HOOK_NONE) {
        const hook_config_t *h = in->hook == HOOK_LAUNCH
                                     ? &ps->cf->hook_launch
                                     : &ps->cf->hook_terminate;
        uint64_t             from =
            in->hook_beat > in->hook_since ? in->hook_beat : in->hook_since;

        json_object_set_new(
            o, "hook",
            json_pack("{s:s,s:I,s:I,s:s}", "hook",
                      in->hook == HOOK_LAUNCH ? "launch" : "terminate", "since",
                      (json_int_t) in->hook_since, "timeout_at",
                      (json_int_t) (from + h->timeout_ms), "default",
                      h->abandon ? "abandon" : "continue"));
    }
    json_object_set_new(o, "health", health);
    return o;
}

/* the pool's repairs: {"state","reason","failures","since","retry_at",
   "in_progress","at_once","enabled","action","grace_ms"} */
static json_t *
repair_json(pool_state_t *ps)
{
    static const char *const actions[] = { "replace", "restart", "reimage" };
    const repair_state_t    *rs = &ps->repair;
    uint64_t                 now = clock_unix_ms();

    return json_pack(
        "{s:s,s:s,s:i,s:o,s:o,s:i,s:i,s:b,s:s,s:I}", "state",
        repair_state_name(rs), "reason", rs->reason, "failures",
        (int) rs->failures, "since",
        rs->suspended ? json_integer((json_int_t) rs->since) : json_null(),
        "retry_at",
        rs->retry > now ? json_integer((json_int_t) rs->retry) : json_null(),
        "in_progress", ps->repairing, "at_once",
        plan_repair_most(ps->cf, ps->capacity), "enabled",
        ps->cf->repair_enabled, "action", actions[ps->cf->repair_action],
        "grace_ms", (json_int_t) ps->cf->repair_grace_ms);
}

/* [{"zone","name","uri","up","instances","running"}]: the pool's hosts
   as the last pass found them */
static json_t *
hosts_json(pool_state_t *ps)
{
    const host_config_t *hc;
    json_t              *a = json_array();
    int                  h, i, n, run;

    for (h = 0; h < ps->cf->nhosts; h++) {
        hc = &ps->cf->hosts[h];
        for (i = 0, n = 0, run = 0; i < ps->ninst; i++) {
            n += ps->inst[i].host == h;
            run += ps->inst[i].host == h && ps->inst[i].state == INST_RUNNING;
        }
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:b,s:i,s:i}", "zone",
                                           ps->cf->zones[hc->zone].name, "name",
                                           hc->name, "uri", hc->uri, "up",
                                           !ps->host_down[h], "instances", n,
                                           "running", run));
    }
    return a;
}

/* the pool's templates: each one's model, weight, share and instances
   (by capacity units too) */
static json_t *
templates_json(pool_state_t *ps)
{
    const template_config_t *t;
    json_t                  *a = json_array();
    int                      k, i, n, units;

    for (k = 0; k < ps->cf->ntemplates; k++) {
        t = &ps->cf->templates[k];
        for (i = 0, n = 0, units = 0; i < ps->ninst; i++) {
            if (ps->inst[i].tmpl == k && ps->inst[i].state != INST_DELETING) {
                n++;
                units += t->weight;
            }
        }
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,"
                         "s:i,s:b}",
                         "name", t->name, "version", t->version, "digest",
                         ps->digest[k], "weight", t->weight, "mix", t->mix,
                         "max_percent", t->max_percent, "instances", n, "units",
                         units, "cloud_init", t->ci.user_data != NULL));
    }
    return a;
}

static json_t *
pool_json(pool_state_t *ps, int detail)
{
    json_t             *j, *zones, *inst;
    int                 z, i, n, latest;
    autoscale_runner_t *r;

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
    j = json_pack(
        "{s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:s,s:i,s:b,s:o,s:{s:s,s:i,"
        "s:i,s:i}}",
        "name", ps->cf->name, "capacity", ps->capacity, "running",
        pool_actual(ps), "instances", ps->ninst, "min", ps->cf->cap_min, "max",
        ps->cf->cap_max, "version",
        ps->model.version[0] ? ps->model.version : ps->cf->templates[0].version,
        "digest", ps->model.version[0] ? ps->model.digest : ps->digest[0],
        "latest_model_instances", latest, "redis", ps->redis_ok, "zones", zones,
        "upgrade", "state", upgrade_state_name(ps->upgrade.state), "batch",
        (int) ps->upgrade.batch, "batches", (int) ps->upgrade.batches,
        "outdated", pool_outdated(ps));
    json_object_set_new(j, "templates", templates_json(ps));
    json_object_set_new(
        j, "warm_pool",
        json_pack("{s:i,s:s,s:b,s:i,s:i}", "size", ps->cf->warm.size, "state",
                  warm_state_name(ps->cf->warm.state), "reuse_on_scale_in",
                  ps->cf->warm.reuse, "instances",
                  count_state(ps, -1, INST_WARM), "pending_launch",
                  (int) get_warm_pending(ps)));
    /* the pool says when it stays above its capacity, and why */
    json_object_set_new(j, "protected_above_capacity",
                        json_integer(ps->protected_above));
    /* 0 until the first pass since the start ended: the instances are
       not known yet, an empty list says nothing */
    json_object_set_new(j, "passes", json_integer((json_int_t) ps->passes));
    json_object_set_new(j, "repair", repair_json(ps));
    if (detail) {
        inst = json_array();
        for (i = 0; i < ps->ninst; i++) {
            json_array_append_new(inst, instance_json(ps, &ps->inst[i], 0));
        }
        json_object_set_new(j, "instances_list", inst);
        json_object_set_new(j, "hosts", hosts_json(ps));
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
    int i, n = 0;

    for (i = 0; i < ps->ninst; i++) {
        n += ps->inst[i].state == st && (z < 0 || ps->inst[i].zone == z);
    }
    return n;
}

static double
get_capacity(const pool_state_t *ps)
{
    return ps->capacity;
}
static double
get_repairs(const pool_state_t *ps)
{
    return ps->repairs;
}
static double
get_repairing(const pool_state_t *ps)
{
    return ps->repairing;
}
static double
get_redis(const pool_state_t *ps)
{
    return ps->redis_ok;
}
static double
get_warm_size(const pool_state_t *ps)
{
    return ps->cf->warm.size;
}
/* warm instances waiting in the launch hook before their park */
static double
get_warm_pending(const pool_state_t *ps)
{
    int i, n = 0;

    for (i = 0; i < ps->ninst; i++) {
        n += ps->inst[i].warm && ps->inst[i].state == INST_PENDING_LAUNCH;
    }
    return n;
}
static double
get_wakes(const pool_state_t *ps)
{
    return ps->wakes;
}
static double
get_event_count(const pool_state_t *ps, int k)
{
    unsigned long c[4];

    events_counts(ps->cf->name, c);
    return c[k];
}
static double
get_events(const pool_state_t *ps)
{
    return get_event_count(ps, 0);
}
static double
get_sent(const pool_state_t *ps)
{
    return get_event_count(ps, 1);
}
static double
get_lost(const pool_state_t *ps)
{
    return get_event_count(ps, 2);
}
static double
get_failures(const pool_state_t *ps)
{
    return ps->repair.failures;
}
static double
get_outdated(const pool_state_t *ps)
{
    return pool_outdated(ps);
}

/* the families of one sample per pool */
static const struct {
    const char *name, *type, *help;
    double (*get)(const pool_state_t *ps);
} pool_families[] = {
    { "scaleset_scaler_capacity_desired", "gauge",
      "The capacity the scaler works towards.", get_capacity },
    { "scaleset_scaler_repairs_total", "counter",
      "Repairs begun: instances not ready within health.grace deleted, "
      "instances down on every gateway replaced, restarted or reimaged.",
      get_repairs },
    { "scaleset_scaler_repairs_in_progress", "gauge", "Repairs under way.",
      get_repairing },
    { "scaleset_scaler_repair_failures", "gauge",
      "Failures of new or repaired instances in a row.", get_failures },
    { "scaleset_scaler_redis_up", "gauge",
      "1 if the pool's last pass reached Redis.", get_redis },
    { "scaleset_scaler_instances_outdated", "gauge",
      "Instances booting or running that are not on the pool's model.",
      get_outdated },
    { "scaleset_scaler_warm_pool_size", "gauge",
      "The warm instances the pool keeps ready beyond its capacity "
      "(warm_pool.size).",
      get_warm_size },
    { "scaleset_scaler_warm_pending_launch", "gauge",
      "Warm instances waiting in the launch hook before their park (in "
      "scaleset_scaler_instances they are pending_launch).",
      get_warm_pending },
    { "scaleset_scaler_warm_wakes_total", "counter",
      "Warm instances taken into service (failed wakes are "
      "errors_total{kind=\"wake\"}).",
      get_wakes },
    { "scaleset_scaler_lifecycle_events_total", "counter",
      "Lifecycle events of the pool's instances.", get_events },
    { "scaleset_scaler_webhook_sent_total", "counter",
      "Lifecycle events hooks.webhook answered 2xx.", get_sent },
    { "scaleset_scaler_webhook_dropped_total", "counter",
      "Lifecycle events hooks.webhook never got (given up after its "
      "retries, or its queue full).",
      get_lost },
};

/* the scaler's own families, family by family over the pools, then the
   VM metrics and the autoscale runners' */
static void
metrics(struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    expo_t           e;
    pool_state_t    *ps;
    uint64_t         now;
    ha_status_t      ha;
    int              i, z, st;

    expo_begin(&e, b);
    for (st = 0; st < (int) (sizeof(pool_families) / sizeof(*pool_families));
         st++) {
        expo_family(&e, pool_families[st].name, pool_families[st].type,
                    pool_families[st].help);
        for (i = 0; i < api_s->npools; i++) {
            ps = &api_s->pools[i];
            expo_sample(&e, pool_families[st].get(ps), "pool", ps->cf->name,
                        NULL);
        }
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
        for (st = INST_CREATING; st < INST_STATE_COUNT; st++) {
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
    expo_family(&e, "scaleset_scaler_repair_state", "gauge",
                "1 for the state the pool's repairs are in (active, "
                "suspended after repair.max_failures in a row).");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, !ps->repair.suspended, "pool", ps->cf->name, "state",
                    "active", NULL);
        expo_sample(&e, ps->repair.suspended, "pool", ps->cf->name, "state",
                    "suspended", NULL);
    }
    expo_family(&e, "scaleset_scaler_upgrade_state", "gauge",
                "1 for the state the pool's upgrade is in (idle, rolling, "
                "paused, rolling_back, failed, cancelled, done).");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        for (st = UPGRADE_IDLE; st < UPGRADE_STATE_COUNT; st++) {
            expo_sample(&e,
                        (ps->upgrade.state == UPGRADE_NONE
                             ? UPGRADE_IDLE
                             : (int) ps->upgrade.state)
                            == st,
                        "pool", ps->cf->name, "state",
                        upgrade_state_name((upgrade_state_t) st), NULL);
        }
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

    expo_family(&e, "scaleset_scaler_host_up", "gauge",
                "1 if the pool's last pass listed the host (a libvirt "
                "connection of a zone).");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        for (z = 0; z < ps->cf->nhosts; z++) {
            expo_sample(&e, !ps->host_down[z], "pool", ps->cf->name, "zone",
                        ps->cf->zones[ps->cf->hosts[z].zone].name, "host",
                        ps->cf->hosts[z].name, NULL);
        }
    }
    expo_family(&e, "scaleset_scaler_passes_total", "counter",
                "Passes of the pool that ended.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, ps->passes, "pool", ps->cf->name, NULL);
    }
    expo_family(&e, "scaleset_scaler_pass_seconds_total", "counter",
                "Time the pool's passes that ended took (with "
                "passes_total: their mean).");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, ps->pass_ms_total / 1000.0, "pool", ps->cf->name, NULL);
    }
    expo_family(&e, "scaleset_scaler_pass_seconds", "gauge",
                "How long the pool's last pass took.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, ps->pass_ms / 1000.0, "pool", ps->cf->name, NULL);
    }
    expo_family(&e, "scaleset_scaler_pass_running_seconds", "gauge",
                "How long the pool's current pass has been running (0: "
                "none is).");
    now = clock_mono_ms();
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e,
                    ps->pass_started && now > ps->pass_started
                        ? (now - ps->pass_started) / 1000.0
                        : 0,
                    "pool", ps->cf->name, NULL);
    }
    expo_family(&e, "scaleset_scaler_slow_passes_total", "counter",
                "Passes that ran longer than slow_pass.");
    for (i = 0; i < api_s->npools; i++) {
        ps = &api_s->pools[i];
        expo_sample(&e, ps->slow_passes, "pool", ps->cf->name, NULL);
    }
    ha_status(&ha);
    expo_family(&e, "scaleset_scaler_ha_leader", "gauge",
                "1 if this scaler leads (holds the lease, or runs without "
                "ha).");
    expo_sample(&e, ha.leader, NULL);
    expo_family(&e, "scaleset_scaler_ha_leases_taken_total", "counter",
                "Times this scaler took the lease.");
    expo_sample(&e, ha.acquired, NULL);
    expo_family(&e, "scaleset_scaler_ha_leases_lost_total", "counter",
                "Times this scaler lost the lease (taken, expired, or a write "
                "refused by the fence).");
    expo_sample(&e, ha.lost, NULL);
    vmstats_metrics(&e, api_s);
    autoscaler_metrics(&e);
    if (expo_end(&e) != 0) {
        slog_err(NULL, NULL, "metrics: %s", e.why);
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

/* a request's Redis write done (ok) or not: applied, then answered */
static void
stored(int ok, void *arg)
{
    api_wait_t   *w = arg;
    pool_state_t *ps;
    json_t       *j;
    int           code = 200;

    wait_unlink(w);
    reconcile_lock(api_s);
    ps = reconcile_pool(api_s, w->pool);
    if (ok && ps != NULL) {
        ok = w->apply(w, ps) == 0 ? 1 : -1;
        reconcile_kick(api_s);
    }
    if (w->req == NULL) {
        /* its connection went with api_stop() */
    } else if (ok < 0) {
        reply_error(w->req, 503, "out of memory");
    } else if (!ok && ha_refuse(w->req)) {
        /* the lease was lost meanwhile: the fence refused it */
    } else if (!ok) {
        api_reply_error(w->req, 503, "%s", redis_reason());
    } else if (ps == NULL) {
        /* stored, but a reload removed the pool meanwhile */
        api_reply_error(w->req, 404, "no pool \"%s\"", w->pool);
    } else {
        j = w->answer(w, ps, &code);
        reply_json(w->req, code, j);
    }
    reconcile_unlock(api_s);
    free(w);
}

/* PUT capacity (or a request with ?decrement=true) stored */
static int
capacity_apply(api_wait_t *w, pool_state_t *ps)
{
    history_manual(w->pool, ps->capacity, w->capacity);
    ps->capacity = w->capacity;
    slog(w->pool, w->id[0] ? w->id : NULL, "capacity set to %d%s", ps->capacity,
         w->id[0] ? " with this instance's request" : "");
    if (w->id[0]) {
        reconcile_ask(api_s, ps, w->id, w->ask);
    }
    return 0;
}

static json_t *
capacity_answer(api_wait_t *w, pool_state_t *ps, int *code)
{
    if (w->id[0]) {
        *code = 202;
        return ask_json(w->pool, w->id, w->ask, ps->capacity);
    }
    return pool_json(ps, 0);
}

/* why the loop's write failed, for the client */
static const char *
redis_reason(void)
{
    return strstr(registry_async_error(api_s->areg), "refused the "
                                                     "credentials")
                   != NULL
               ? "redis refused the scaler's credentials"
               : "redis unreachable";
}

/* GET /v1/ha */
static json_t *
ha_json(void)
{
    ha_status_t st;

    ha_status(&st);
    return json_pack(
        "{s:b,s:b,s:b,s:b,s:s,s:o,s:I,s:I,s:o,s:I,s:I,s:I}", "enabled",
        st.enabled, "leader", st.leader, "acting", st.acting, "ready", st.ready,
        "self", st.self, "leader_url",
        st.leader_url[0] ? json_string(st.leader_url) : json_null(), "lease_ms",
        (json_int_t) st.lease_ms, "lease_left_ms", (json_int_t) st.left_ms,
        "since", st.since ? json_integer((json_int_t) st.since) : json_null(),
        "passes", (json_int_t) st.term_passes, "leases_taken",
        (json_int_t) st.acquired, "leases_lost", (json_int_t) st.lost);
}

/* a write this scaler may not take (a standby, or a leader still
   reading the pool state): 503 naming the leader; 1 when answered */
static int
ha_refuse(struct evhttp_request *req)
{
    ha_status_t st;
    char        msg[HA_URL_MAX + 64];

    if (ha_writable()) {
        return 0;
    }
    ha_status(&st);
    if (st.leader) {
        snprintf(msg, sizeof(msg),
                 "this scaler just took the lease and is "
                 "reading the pools' state: retry in a moment");
    } else if (st.leader_url[0]) {
        snprintf(msg, sizeof(msg),
                 "this scaler is a standby: writes go to "
                 "the leader at %s",
                 st.leader_url);
    } else {
        snprintf(msg, sizeof(msg),
                 "this scaler is a standby and no leader "
                 "is known yet: retry in a moment");
    }
    reply_json(
        req, 503,
        json_pack("{s:s,s:o}", "error", msg, "leader_url",
                  st.leader_url[0] ? json_string(st.leader_url) : json_null()));
    return 1;
}

/* a request that waits for Redis, in api_waiting */
static api_wait_t *
wait_new(struct evhttp_request *req, const char *pool, const char *id)
{
    api_wait_t *w = xcalloc(1, sizeof(*w));

    w->req = req;
    snprintf(w->pool, sizeof(w->pool), "%s", pool);
    snprintf(w->id, sizeof(w->id), "%s", id ? id : "");
    w->next = api_waiting;
    if (api_waiting) {
        api_waiting->prev = w;
    }
    api_waiting = w;
    return w;
}

/* a capacity change, stored in Redis first (answered from its callback,
   on the loop); with id, a request queued with it */
static void
api_wait(struct evhttp_request *req, const char *pool, const char *id,
         unsigned ask, int capacity)
{
    api_wait_t *w = wait_new(req, pool, id);

    w->ask = ask;
    w->capacity = capacity;
    w->apply = capacity_apply;
    w->answer = capacity_answer;
    registry_async_capacity_set(api_s->areg, pool, capacity, stored, w);
}

/* what a request asked, for its answer */
static json_t *
ask_json(const char *pool, const char *id, unsigned ask, int capacity)
{
    json_t *j = json_pack("{s:s,s:s}", "pool", pool, "id", id);

    if (ask & ASK_DELETE) {
        json_object_set_new(j, "deleted", json_string(id));
        json_object_set_new(j, "drain", json_boolean(!(ask & ASK_FORCE)));
    }
    if (ask & (ASK_RESTART | ASK_REIMAGE | ASK_STANDBY | ASK_ACTIVE)) {
        json_object_set_new(j,
                            (ask & ASK_RESTART)   ? "restart"
                            : (ask & ASK_REIMAGE) ? "reimage"
                            : (ask & ASK_STANDBY) ? "standby"
                                                  : "active",
                            json_true());
    }
    if (capacity >= 0) {
        json_object_set_new(j, "capacity", json_integer(capacity));
    }
    return j;
}

/* the bounds in force: the active profile's (a schedule may allow more
   than the default), else the pool's */
static void
bounds(pool_state_t *ps, long long *lo, long long *hi)
{
    autoscale_runner_t         *r;
    const autoscale_decision_t *d;

    *lo = ps->cf->cap_min;
    *hi = ps->cf->cap_max;
    if ((r = autoscaler_runner(ps->cf->name)) != NULL
        && (d = autoscale_runner_last(r)) != NULL)
    {
        *lo = d->bounds.min;
        *hi = d->bounds.max;
    }
}

/* ?NAME=true|false|1|0 of uri: 1, 0 (absent too), or -1 for another
   value */
static int
query_flag(const char *uri, const char *name)
{
    struct evkeyvalq q;
    const char      *v, *qs = strchr(uri, '?');
    int              rc = 0;

    if (qs == NULL) {
        return 0;
    }
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(qs + 1, &q) != 0) {
        return -1;
    }
    if ((v = evhttp_find_header(&q, name)) != NULL) {
        rc = strcmp(v, "true") == 0 || strcmp(v, "1") == 0    ? 1
             : strcmp(v, "false") == 0 || strcmp(v, "0") == 0 ? 0
                                                              : -1;
    }
    evhttp_clear_headers(&q);
    return rc;
}

/* a request about instance id of ps (ask), with ?decrement=true the
   capacity one lower with it: queued for the pass, answered 202 */
static void
instance_ask(struct evhttp_request *req, pool_state_t *ps, const char *id,
             unsigned ask)
{
    const char *uri = evhttp_request_get_uri(req);
    long long   lo, hi;
    /* a deletion or a standby may lower the capacity with it */
    int dec =
        (ask & (ASK_DELETE | ASK_STANDBY)) ? query_flag(uri, "decrement") : 0;

    if (dec < 0) {
        reply_error(req, 400, "decrement: expected true or false");
        return;
    }
    if (dec) {
        bounds(ps, &lo, &hi);
        if (ps->capacity - 1 < lo) {
            reply_error(req, 400,
                        "decrement: capacity %d - 1 is below "
                        "min %lld",
                        ps->capacity, lo);
            return;
        }
        api_wait(req, ps->cf->name, id,
                 ask | ((ask & ASK_STANDBY) ? ASK_DECREMENT : 0),
                 ps->capacity - 1);
        return;
    }
    reconcile_ask(api_s, ps, id, ask);
    slog(ps->cf->name, id, "%s asked through the API",
         (ask & ASK_RESTART)   ? "restart"
         : (ask & ASK_REIMAGE) ? "reimage"
         : (ask & ASK_STANDBY) ? "standby"
         : (ask & ASK_ACTIVE)  ? "active"
         : (ask & ASK_FORCE)   ? "deletion (force)"
                               : "deletion");
    reply_json(req, 202, ask_json(ps->cf->name, id, ask, -1));
}

/* PUT protection stored */
static int
protection_apply(api_wait_t *w, pool_state_t *ps)
{
    (void) ps;
    slog(w->pool, w->id, "protection: %s", protect_name(w->protection));
    return 0;
}

static json_t *
protection_answer(api_wait_t *w, pool_state_t *ps, int *code)
{
    protect_t p = w->protection;

    (void) ps;
    (void) code;
    return json_pack("{s:s,s:s,s:s,s:b,s:b}", "pool", w->pool, "id", w->id,
                     "protection", protect_name(p), "scale_in",
                     p >= PROTECT_SCALE_IN, "scale_set_actions",
                     p == PROTECT_ALL);
}

/* PUT .../instances/{id}/protection: PREFIX{POOL}:protection, answered
   when Redis has it (a pass follows) */
static void
protection_put(struct evhttp_request *req, pool_state_t *ps, const char *id)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t           len = evbuffer_get_length(in);
    api_wait_t      *w;
    protect_t        p;
    char             why[256];
    const char      *fv[2];

    if (api_protection_body(len ? (const char *) evbuffer_pullup(in, -1) : "",
                            len, &p, why, sizeof(why))
        != 0)
    {
        reply_error(req, 400, "%s", why);
        return;
    }
    w = wait_new(req, ps->cf->name, id);
    w->protection = p;
    w->apply = protection_apply;
    w->answer = protection_answer;
    fv[0] = w->id;
    fv[1] = p == PROTECT_NONE ? NULL : protect_name(p);
    registry_async_hash(api_s->areg, w->pool, SCALESET_KEY_PROTECTION, fv, 1,
                        stored, w);
}

/* POST .../repair/resume stored */
static int
resume_apply(api_wait_t *w, pool_state_t *ps)
{
    memset(&ps->repair, 0, sizeof(ps->repair));
    slog(w->pool, NULL, "repairs resumed through the API");
    return 0;
}

static json_t *
resume_answer(api_wait_t *w, pool_state_t *ps, int *code)
{
    (void) code;
    return json_pack("{s:s,s:o}", "pool", w->pool, "repair", repair_json(ps));
}

/* POST /v1/pools/{pool}/repair/resume: PREFIX{POOL}:repair back to
   active without failures, answered when Redis has it */
static void
repair_resume(struct evhttp_request *req, pool_state_t *ps)
{
    repair_state_t active;
    api_wait_t    *w;
    char           num[3][24];
    const char    *fv[10];

    w = wait_new(req, ps->cf->name, NULL);
    w->apply = resume_apply;
    w->answer = resume_answer;
    memset(&active, 0, sizeof(active));
    repair_fields(&active, num, fv);
    registry_async_hash(api_s->areg, w->pool, SCALESET_KEY_REPAIR, fv, 5,
                        stored, w);
}

/* POST .../standby[?decrement=true] (on) or .../active (off): queued
   for the pass; back in service raises the capacity again when its
   standby lowered it */
static void
standby_post(struct evhttp_request *req, pool_state_t *ps, instance_t *in,
             int on)
{
    long long lo, hi;

    if (on && in->state == INST_STANDBY) {
        reply_error(req, 409, "%s is on standby already", in->id);
    } else if (on && in->state != INST_RUNNING && in->state != INST_BOOTING
               && in->state != INST_REPAIRING)
    {
        reply_error(req, 409, "%s is %s", in->id, inst_state_name(in->state));
    } else if (!on && in->state != INST_STANDBY) {
        reply_error(req, 409, "%s is not on standby", in->id);
    } else if (on) {
        instance_ask(req, ps, in->id, ASK_STANDBY);
    } else {
        bounds(ps, &lo, &hi);
        if (in->standby == 2 && ps->capacity + 1 <= hi) {
            api_wait(req, ps->cf->name, in->id, ASK_ACTIVE, ps->capacity + 1);
        } else {
            instance_ask(req, ps, in->id, ASK_ACTIVE);
        }
    }
}

/* POST .../lifecycle: the result (or a heartbeat) of the hook the
   instance waits in, for the next pass */
static void
lifecycle_post(struct evhttp_request *req, pool_state_t *ps, instance_t *in)
{
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    size_t           len = evbuffer_get_length(b);
    inst_hook_t      hook;
    unsigned         ask;
    char             why[256];

    if (api_lifecycle_body(len ? (const char *) evbuffer_pullup(b, -1) : "",
                           len, &hook, &ask, why, sizeof(why))
        != 0)
    {
        reply_error(req, 400, "%s", why);
        return;
    }
    if (in->state
        != (hook == HOOK_LAUNCH ? INST_PENDING_LAUNCH : INST_PENDING_TERMINATE))
    {
        reply_error(req, 409, "%s does not wait in the %s hook (%s)", in->id,
                    hook == HOOK_LAUNCH ? "launch" : "terminate",
                    inst_state_name(in->state));
        return;
    }
    reconcile_ask(api_s, ps, in->id, ask);
    slog(ps->cf->name, in->id, "%s hook: %s through the API",
         hook == HOOK_LAUNCH ? "launch" : "terminate",
         ask == ASK_HEARTBEAT  ? "heartbeat"
         : ask == ASK_CONTINUE ? "continue"
                               : "abandon");
    reply_json(req, 202,
               json_pack("{s:s,s:s,s:s,s:s}", "pool", ps->cf->name, "id",
                         in->id, "hook",
                         hook == HOOK_LAUNCH ? "launch" : "terminate",
                         ask == ASK_HEARTBEAT ? "heartbeat" : "result",
                         ask == ASK_HEARTBEAT  ? "true"
                         : ask == ASK_CONTINUE ? "continue"
                                               : "abandon"));
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
    struct evkeyval *kv;
    const char      *v = NULL;

    TAILQ_FOREACH(kv, hdrs, next)
    {
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
api_lifecycle_body(const char *body, size_t len, inst_hook_t *hook,
                   unsigned *ask, char *why, size_t whylen)
{
    json_t      *j, *h, *r, *b;
    json_error_t jerr;
    const char  *k;
    json_t      *v;
    int          rc = -1;

    j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        snprintf(why, whylen, "bad JSON: %s", jerr.text);
        return -1;
    }
    h = json_object_get(j, "hook");
    r = json_object_get(j, "result");
    b = json_object_get(j, "heartbeat");
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "hook") != 0 && strcmp(k, "result") != 0
            && strcmp(k, "heartbeat") != 0)
        {
            snprintf(why, whylen,
                     "unknown key \"%.32s\" (hook, result, "
                     "heartbeat)",
                     k);
            goto done;
        }
    }
    if (!json_is_string(h)
        || (strcmp(json_string_value(h), "launch") != 0
            && strcmp(json_string_value(h), "terminate") != 0))
    {
        snprintf(why, whylen,
                 "\"hook\" must be \"launch\" or "
                 "\"terminate\"");
        goto done;
    }
    *hook = json_string_value(h)[0] == 'l' ? HOOK_LAUNCH : HOOK_TERMINATE;
    if ((r == NULL) == (b == NULL)) {
        snprintf(why, whylen, "give \"result\" or \"heartbeat\"");
    } else if (b != NULL && !json_is_true(b)) {
        snprintf(why, whylen, "\"heartbeat\" must be true");
    } else if (b != NULL) {
        *ask = ASK_HEARTBEAT;
        rc = 0;
    } else if (json_is_string(r)
               && strcmp(json_string_value(r), "continue") == 0) {
        *ask = ASK_CONTINUE;
        rc = 0;
    } else if (json_is_string(r)
               && strcmp(json_string_value(r), "abandon") == 0) {
        *ask = ASK_ABANDON;
        rc = 0;
    } else {
        snprintf(why, whylen,
                 "\"result\" must be \"continue\" or "
                 "\"abandon\"");
    }
done:
    json_decref(j);
    return rc;
}

int
api_protection_body(const char *body, size_t len, protect_t *p, char *why,
                    size_t whylen)
{
    json_t      *j, *v;
    json_error_t jerr;
    const char  *k;
    int          in = 0, all = 0;

    j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        snprintf(why, whylen, "bad JSON: %s", jerr.text);
        return -1;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(why, whylen,
                 "expected {\"scale_in\":B,"
                 "\"scale_set_actions\":B}");
        return -1;
    }
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "scale_in") != 0 && strcmp(k, "scale_set_actions") != 0) {
            snprintf(why, whylen,
                     "unknown key \"%.32s\" (scale_in, "
                     "scale_set_actions)",
                     k);
            json_decref(j);
            return -1;
        }
        if (!json_is_boolean(v)) {
            snprintf(why, whylen, "\"%s\" must be true or false", k);
            json_decref(j);
            return -1;
        }
        *(strcmp(k, "scale_in") == 0 ? &in : &all) = json_is_true(v);
    }
    json_decref(j);
    /* from scale-set actions is from scale-in too */
    *p = all ? PROTECT_ALL : in ? PROTECT_SCALE_IN : PROTECT_NONE;
    return 0;
}

int
api_capacity_body(const char *body, size_t len, long long *cap, char *why,
                  size_t whylen)
{
    char        *p;
    json_t      *j, *c;
    json_error_t jerr;

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

/* a string member of a JSON object into buf: 0 (absent: ""), -1 with
   why when it is no string or longer than size - 1 */
static int
body_string(json_t *j, const char *key, char *buf, size_t size, char *why,
            size_t whylen)
{
    json_t *v = json_object_get(j, key);

    buf[0] = '\0';
    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= size
        || strlen(json_string_value(v)) != json_string_length(v))
    {
        snprintf(why, whylen,
                 "\"%s\" must be a string of at most %zu "
                 "bytes",
                 key, size - 1);
        return -1;
    }
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int
api_hand_body(const char *body, size_t len, const pool_config_t *p, int adopt,
              hand_req_t *r, char *why, size_t whylen)
{
    json_t           *j;
    json_error_t      jerr;
    const char       *k;
    json_t           *v;
    char              tmpl[SCALESET_NAME_MAX + 1], zone[SCALESET_NAME_MAX + 1];
    char              addr[80];
    int               z, rc = -1;
    scaleset_member_t m;
    scaleset_error_t  e;

    memset(r, 0, sizeof(*r));
    r->origin = adopt ? ORIGIN_ADOPTED : ORIGIN_MANUAL;
    r->zone = -1;
    j = json_loadb(len ? body : "{}", len ? len : 2, JSON_REJECT_DUPLICATES,
                   &jerr);
    if (j == NULL || !json_is_object(j)) {
        snprintf(why, whylen, "bad JSON: %s", j ? "not an object" : jerr.text);
        json_decref(j);
        return -1;
    }
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "template") != 0 && strcmp(k, "zone") != 0
            && (!adopt
                || (strcmp(k, "domain") != 0 && strcmp(k, "address") != 0)))
        {
            snprintf(why, whylen, "unknown key \"%.64s\"", k);
            goto done;
        }
    }
    if (body_string(j, "template", tmpl, sizeof(tmpl), why, whylen) != 0
        || body_string(j, "zone", zone, sizeof(zone), why, whylen) != 0
        || body_string(j, "domain", r->domain, sizeof(r->domain), why, whylen)
               != 0
        || body_string(j, "address", addr, sizeof(addr), why, whylen) != 0)
    {
        goto done;
    }
    if ((r->tmpl = config_template(p, tmpl)) < 0) {
        snprintf(why, whylen, "no template \"%s\" in pool \"%s\"", tmpl,
                 p->name);
        goto done;
    }
    for (z = 0; zone[0] && z < p->nzones; z++) {
        if (strcmp(p->zones[z].name, zone) == 0) {
            r->zone = z;
        }
    }
    if (zone[0] && r->zone < 0) {
        snprintf(why, whylen, "no zone \"%s\" in pool \"%s\"", zone, p->name);
        goto done;
    }
    if (adopt) {
        if (r->zone < 0) {
            snprintf(why, whylen,
                     "\"zone\" is required: the zone whose "
                     "libvirt has the domain");
            goto done;
        }
        /* its name becomes its id */
        if (!scaleset_id_valid(r->domain, strlen(r->domain))) {
            snprintf(why, whylen,
                     "\"domain\" must be a libvirt domain "
                     "name that is a valid instance id ([A-Za-z0-9_.-], at "
                     "most %d bytes)",
                     SCALESET_ID_MAX);
            goto done;
        }
        if (p->addr_mode == ADDR_STATIC) {
            if (scaleset_member_parse(addr, strlen(addr), &m, &e) != 0
                || m.address.len != strlen(addr)
                || strncmp(addr, "unix:", 5) == 0)
            {
                snprintf(why, whylen,
                         "\"address\" is required in address "
                         "mode static: the domain's IP:PORT");
                goto done;
            }
            snprintf(r->address, sizeof(r->address), "%s", addr);
        }
    }
    rc = 0;
done:
    json_decref(j);
    return rc;
}

/* POST /v1/pools/{pool}/instances[/adopt]: queued for the next pass */
static void
api_hand(struct evhttp_request *req, pool_state_t *ps, int adopt)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t           len = evbuffer_get_length(in);
    hand_req_t       r;
    char             why[256];
    int              i;

    if (api_hand_body(len ? (const char *) evbuffer_pullup(in, -1) : "", len,
                      ps->cf, adopt, &r, why, sizeof(why))
        != 0)
    {
        api_reply_error(req, 400, "%s", why);
        return;
    }
    for (i = 0; adopt && i < ps->ninst; i++) {
        if (strcmp(ps->inst[i].id, r.domain) == 0) {
            api_reply_error(req, 409,
                            "\"%s\" is an instance of pool \"%s\" "
                            "already",
                            r.domain, ps->cf->name);
            return;
        }
    }
    reconcile_hand_later(api_s, ps, &r);
    slog(ps->cf->name, adopt ? r.domain : NULL,
         "%s asked through the API "
         "(template %s, zone %s)",
         adopt ? "adoption" : "an instance by hand",
         ps->cf->templates[r.tmpl].name[0] ? ps->cf->templates[r.tmpl].name
                                           : "(the pool's)",
         r.zone >= 0 ? ps->cf->zones[r.zone].name : "(by placement)");
    reply_json(req, 202,
               json_pack("{s:s,s:s,s:s,s:s,s:s}", "pool", ps->cf->name,
                         "origin", origin_name(r.origin), "template",
                         ps->cf->templates[r.tmpl].name, "zone",
                         r.zone >= 0 ? ps->cf->zones[r.zone].name : "",
                         "domain", r.domain));
}

static void
api_handle_locked(struct evhttp_request *req, void *arg)
{
    const char          *uri = evhttp_request_get_uri(req), *host;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evkeyvalq    *hdrs = evhttp_request_get_input_headers(req);
    char                 path[256], pool[128], id[128], why[256];
    pool_state_t        *ps;
    json_t              *j;
    struct evbuffer     *in;
    size_t               len;
    int                  i, n, m, force, authorized;
    long long            lo, hi, cap;

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
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                          "close");
    }
    if (strcmp(path, "/healthz") == 0) {
        reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    if (strcmp(path, "/ui") == 0 || strncmp(path, "/ui/", 4) == 0) {
        /* static files, no data: the page sends the token itself */
        ui_serve(req, api_s->cf->ui_dir ? api_s->cf->ui_dir : ui_default_dir(),
                 path);
        return;
    }
    if (!authorized) {
        api_reply_error(req, 401, "missing or wrong bearer token");
        return;
    }
    /* without a token, a browser page whose name resolves to loopback
       (DNS rebinding) would be served: only loopback names */
    host = evhttp_find_header(hdrs, "Host");
    if (api_s->cf->token == NULL && !api_host_ok(host, api_s->cf->api_host)) {
        api_reply_error(req, 403,
                        "Host \"%.64s\" is not this API: without "
                        "api.token_file only localhost, 127.0.0.0/8, [::1] and "
                        "%s are served",
                        host, api_s->cf->api_host);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        metrics(req);
        return;
    }
    if (strcmp(path, "/v1/ha") == 0) {
        if (cmd != EVHTTP_REQ_GET) {
            api_reply_error(req, 405, "method not allowed");
            return;
        }
        reply_json(req, 200, ha_json());
        return;
    }
    /* a standby answers reads from what it observes; writes are the
       leader's (ha.c) */
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD
        && strncmp(path, "/v1/", 4) == 0 && ha_refuse(req))
    {
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
        if (api_capacity_body(len ? (const char *) evbuffer_pullup(in, -1) : "",
                              len, &cap, why, sizeof(why))
            != 0)
        {
            api_reply_error(req, 400, "%s", why);
            return;
        }
        bounds(ps, &lo, &hi);
        if (cap < lo || cap > hi) {
            api_reply_error(req, 400,
                            "capacity %lld is outside min..max "
                            "%lld..%lld",
                            cap, lo, hi);
            return;
        }
        /* answered when Redis has it (capacity_stored) */
        api_wait(req, pool, NULL, 0, (int) cap);
        return;
    }
    if (strcmp(path + n, "/events") == 0) {
        if (cmd != EVHTTP_REQ_GET) {
            reply_error(req, 405, "method not allowed");
            return;
        }
        api_events_get(req, api_base, ps->cf->name);
        return;
    }
    if (strcmp(path + n, "/repair/resume") == 0) {
        if (cmd != EVHTTP_REQ_POST) {
            reply_error(req, 405, "method not allowed");
            return;
        }
        repair_resume(req, ps);
        return;
    }
    if (strcmp(path + n, "/upgrade") == 0
        || strncmp(path + n, "/upgrade/", 9) == 0) {
        api_upgrade(req, api_s, ps, path + n + 8);
        return;
    }
    if (strcmp(path + n, "/instances/adopt") == 0) {
        if (cmd != EVHTTP_REQ_POST) {
            api_reply_error(req, 405, "method not allowed");
            return;
        }
        api_hand(req, ps, 1);
        return;
    }
    if (strcmp(path + n, "/instances") == 0 && cmd == EVHTTP_REQ_POST) {
        api_hand(req, ps, 0);
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
        reply_json(
            req, 200,
            json_pack("{s:s,s:o}", "pool", ps->cf->name, "instances", j));
        return;
    }
    m = 0;
    if (sscanf(path + n, "/instances/%127[^/]%n", id, &m) == 1 && m > 0) {
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
        if (path[n + m] == '\0') {
            if (cmd != EVHTTP_REQ_DELETE) {
                reply_error(req, 405, "method not allowed");
                return;
            }
            /* drained first unless forced: the pass does it */
            if ((force = query_flag(uri, "force")) < 0) {
                reply_error(req, 400, "force: expected true or false");
                return;
            }
            instance_ask(req, ps, id, ASK_DELETE | (force ? ASK_FORCE : 0));
            return;
        }
        if (strcmp(path + n + m, "/restart") == 0
            || strcmp(path + n + m, "/reimage") == 0)
        {
            if (cmd != EVHTTP_REQ_POST) {
                reply_error(req, 405, "method not allowed");
                return;
            }
            /* an operator's request: never held by protection */
            instance_ask(req, ps, id,
                         path[n + m + 3] == 's' ? ASK_RESTART : ASK_REIMAGE);
            return;
        }
        if (strcmp(path + n + m, "/standby") == 0
            || strcmp(path + n + m, "/active") == 0)
        {
            if (cmd != EVHTTP_REQ_POST) {
                reply_error(req, 405, "method not allowed");
                return;
            }
            standby_post(req, ps, &ps->inst[i], path[n + m + 1] == 's');
            return;
        }
        if (strcmp(path + n + m, "/lifecycle") == 0) {
            if (cmd != EVHTTP_REQ_POST) {
                reply_error(req, 405, "method not allowed");
                return;
            }
            lifecycle_post(req, ps, &ps->inst[i]);
            return;
        }
        if (strcmp(path + n + m, "/protection") == 0) {
            if (cmd != EVHTTP_REQ_PUT) {
                reply_error(req, 405, "method not allowed");
                return;
            }
            protection_put(req, ps, id);
            return;
        }
    }
    api_reply_error(req, 404, "no such path");
}

int
api_start(struct event_base *base, scaler_t *s)
{
    api_s = s;
    api_base = base;
    if ((api_http = evhttp_new(base)) == NULL) {
        slog_err(NULL, NULL, "api: out of memory");
        return -1;
    }
    evhttp_set_allowed_methods(
        api_http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE
                      | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    api_http_limits(api_http, s->cf->api_timeout_ms, api_token);
    evhttp_set_gencb(api_http, api_handle, NULL);
    if (evhttp_bind_socket(api_http, s->cf->api_host,
                           (ev_uint16_t) s->cf->api_port)
        != 0)
    {
        slog_err(NULL, NULL, "api: cannot listen on %s:%d", s->cf->api_host,
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
    api_wait_t *w;

    /* evhttp_free() frees the requests still waiting for Redis, and
       those waiting for events */
    for (w = api_waiting; w; w = w->next) {
        w->req = NULL;
    }
    api_upgrade_stop();
    api_events_stop();
    if (api_http) {
        evhttp_free(api_http);
        api_http = NULL;
    }
    api_http_close();
}
