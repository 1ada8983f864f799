/*
 * One pool's autoscaler on the event loop: every rule's query goes out at
 * once through the Prometheus client; when the last answer is back the
 * pure decision runs, changes are logged once, and the caller gets the
 * decision.  Also the explanation (JSON) and the metrics.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "autoscale_runner.h"
#include "clock.h"
#include "xmalloc.h"


typedef struct {
    autoscale_runner_t *runner;
    uint64_t            gen;
    size_t              index;
} query_ctx_t;

struct autoscale_runner_s {
    char                      pool[AUTOSCALE_NAME_MAX];
    struct event_base        *base;
    prom_client_t            *prom;
    const autoscale_config_t *conf;

    autoscale_rule_state_t   *state;
    autoscale_rule_explain_t *explain;
    autoscale_obs_t          *obs;
    char (*detail)[256];

    autoscale_decision_t              decision;
    int                               have_decision;
    uint64_t                          evaluated_ms;
    const autoscale_profile_config_t *profile;
    int                               profile_known;
    const autoscale_profile_config_t *cached;       /* selection ... */
    time_t                            cached_until; /* ... valid before this */
    int                               cache_valid;
    uint64_t                          flapping[3];

    uint64_t          gen;
    size_t            pending;
    size_t            inflight;
    int               running;
    int               dying;
    int64_t           current;
    autoscale_done_pt done;
    void             *done_arg;
    struct event     *kick;

    autoscale_log_pt log;
    void            *log_ctx;
    uint64_t (*now_ms)(void *ctx);
    void *clock_ctx;
};


static void runner_alloc(autoscale_runner_t *r, const autoscale_config_t *c,
                         autoscale_rule_state_t   **state,
                         autoscale_rule_explain_t **ex, autoscale_obs_t **obs,
                         char (**detail)[256]);
static void runner_on_result(const prom_result_t *res, void *arg);
static void runner_kick(evutil_socket_t fd, short what, void *arg);
static void runner_decide(autoscale_runner_t *r);
static void runner_log(autoscale_runner_t *r, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static uint64_t runner_clock(void *ctx);
static void     runner_release(autoscale_runner_t *r);
static json_t  *number_or_null(double v);


static uint64_t
runner_clock(void *ctx)
{
    (void) ctx;

    return clock_unix_ms();
}


static void
runner_log(autoscale_runner_t *r, int prio, const char *fmt, ...)
{
    va_list ap;
    char    msg[512];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (r->log) {
        r->log(r->log_ctx, prio, r->pool, msg);
    } else {
        fprintf(stderr, "autoscale: pool=%s %s\n", r->pool, msg);
    }
}


static void
runner_alloc(autoscale_runner_t *r, const autoscale_config_t *c,
             autoscale_rule_state_t **state, autoscale_rule_explain_t **ex,
             autoscale_obs_t **obs, char (**detail)[256])
{
    size_t n = c->nrules ? c->nrules : 1;

    (void) r;

    *state = xcalloc(n, sizeof(**state));
    *ex = xcalloc(n, sizeof(**ex));
    *obs = xcalloc(n, sizeof(**obs));
    *detail = xcalloc(n, sizeof(**detail));
}


autoscale_runner_t *
autoscale_runner_new(struct event_base *base, prom_client_t *prom,
                     const char *pool, const autoscale_config_t *conf)
{
    autoscale_runner_t *r;

    r = xcalloc(1, sizeof(*r));

    snprintf(r->pool, sizeof(r->pool), "%s", pool);
    r->base = base;
    r->prom = prom;
    r->conf = conf;
    r->now_ms = runner_clock;

    r->kick = evtimer_new(base, runner_kick, r);
    if (r->kick == NULL) {
        free(r);
        return NULL;
    }
    runner_alloc(r, conf, &r->state, &r->explain, &r->obs, &r->detail);

    r->decision.rules = r->explain;

    return r;
}


void
autoscale_runner_set_log(autoscale_runner_t *r, autoscale_log_pt log, void *ctx)
{
    r->log = log;
    r->log_ctx = ctx;
}


void
autoscale_runner_set_clock(autoscale_runner_t *r, uint64_t (*now_ms)(void *ctx),
                           void               *ctx)
{
    r->now_ms = now_ms ? now_ms : runner_clock;
    r->clock_ctx = ctx;
}


int
autoscale_runner_evaluate(autoscale_runner_t *r, int64_t current,
                          autoscale_done_pt done, void *arg)
{
    const autoscale_rule_config_t *rule;
    query_ctx_t                   *q;
    struct timeval                 tv = { 0, 0 };
    size_t                         i;

    if (r->running || r->dying) {
        return -1;
    }

    r->running = 1;
    r->gen++;
    r->current = current;
    r->done = done;
    r->done_arg = arg;
    r->pending = r->conf->nrules;

    for (i = 0; i < r->conf->nrules; i++) {
        rule = &r->conf->rules[i];
        r->obs[i].status = PROM_ERR_UNREACHABLE;
        r->obs[i].value = NAN;
        snprintf(r->detail[i], sizeof(r->detail[i]), "query not started");

        q = xmalloc(sizeof(*q));
        q->runner = r;
        q->gen = r->gen;
        q->index = i;

        if (prom_query(r->prom, rule->query, rule->reduce, runner_on_result, q)
            != 0) {
            /* counts as unreachable: no action for this rule */
            free(q);
            r->pending--;
            continue;
        }

        r->inflight++;
    }

    if (r->pending == 0) {
        /* decide from the loop, never from inside this call */
        evtimer_add(r->kick, &tv);
    }

    return 0;
}


static void
runner_kick(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;

    runner_decide(arg);
}


static void
runner_on_result(const prom_result_t *res, void *arg)
{
    query_ctx_t        *q = arg;
    autoscale_runner_t *r = q->runner;

    r->inflight--;

    if (r->dying) {
        free(q);
        runner_release(r);
        return;
    }

    if (q->gen != r->gen || !r->running) {
        free(q);
        return;
    }

    r->obs[q->index].status = res->status;
    r->obs[q->index].value = res->value;
    snprintf(r->detail[q->index], sizeof(r->detail[q->index]), "%s",
             res->detail);
    free(q);

    if (--r->pending == 0) {
        runner_decide(r);
    }
}


static void
runner_decide(autoscale_runner_t *r)
{
    const autoscale_rule_config_t *rule;
    autoscale_rule_explain_t      *ex;
    autoscale_decision_t          *d;
    autoscale_done_pt              done;
    time_t                         now;
    size_t                         i;

    d = &r->decision;
    d->rules = r->explain;
    r->evaluated_ms = r->now_ms(r->clock_ctx);
    now = (time_t) (r->evaluated_ms / 1000);

    /* time zones are switched only when the selection may change */
    if (!r->cache_valid || now >= r->cached_until
        || now < r->cached_until - 3600) {
        r->cached = autoscale_profile_active(
            r->conf->profiles, r->conf->nprofiles, now, NULL, &r->cached_until);
        r->cache_valid = 1;
    }

    autoscale_decide_profile(r->conf, r->cached, r->obs, r->state, r->current,
                             r->evaluated_ms, d);
    r->have_decision = 1;
    r->running = 0;

    /* log once per change: a rule's data going away or coming back */
    for (i = 0; i < r->conf->nrules; i++) {
        rule = &r->conf->rules[i];
        ex = &r->explain[i];

        if (!ex->status_changed) {
            continue;
        }

        if (ex->status != PROM_OK) {
            runner_log(r, LOG_WARNING,
                       "rule %s: no value (%s%s%s), "
                       "no action for this rule",
                       rule->name, prom_status_name(ex->status),
                       r->detail[i][0] ? ": " : "", r->detail[i]);
        } else {
            runner_log(r, LOG_INFO, "rule %s: value again (%g)", rule->name,
                       ex->value);
        }
    }

    if (!r->profile_known || d->profile != r->profile) {
        runner_log(r, LOG_INFO,
                   "profile %s (min %" PRId64 ", max %" PRId64
                   ", default %" PRId64 ")",
                   d->profile ? d->profile->name : "default", d->bounds.min,
                   d->bounds.max, d->bounds.def);
        r->profile = d->profile;
        r->profile_known = 1;
    }

    if (d->flapping) {
        r->flapping[d->flapping]++;
    }

    if (d->capacity != d->previous || d->flapping) {
        /* a change is the caller's to log (it knows whether it applies) */
        runner_log(r, d->flapping == 2 ? LOG_INFO : LOG_DEBUG, "%s", d->reason);
    }

    done = r->done;
    r->done = NULL;
    if (done) {
        done(r, d, r->done_arg);
    }
}


void
autoscale_runner_reconfigure(autoscale_runner_t       *r,
                             const autoscale_config_t *conf)
{
    autoscale_rule_state_t   *state;
    autoscale_rule_explain_t *ex;
    autoscale_obs_t          *obs;
    char(*detail)[256];
    size_t i, j;

    runner_alloc(r, conf, &state, &ex, &obs, &detail);

    for (i = 0; i < conf->nrules; i++) {
        for (j = 0; j < r->conf->nrules; j++) {
            if (strcmp(conf->rules[i].name, r->conf->rules[j].name) == 0) {
                state[i] = r->state[j];
                ex[i] = r->explain[j];
                obs[i] = r->obs[j];
                memcpy(detail[i], r->detail[j], sizeof(detail[i]));
                break;
            }
        }
    }

    free(r->state);
    free(r->explain);
    free(r->obs);
    free(r->detail);

    r->state = state;
    r->explain = ex;
    r->obs = obs;
    r->detail = detail;
    r->conf = conf;
    r->decision.rules = ex;
    r->have_decision = 0;
    r->cache_valid = 0;

    /* abandon a running evaluation: its answers carry an old generation */
    r->gen++;
    r->running = 0;
    r->done = NULL;
    evtimer_del(r->kick);
}


size_t
autoscale_runner_inflight(const autoscale_runner_t *r)
{
    return r->inflight;
}


const autoscale_decision_t *
autoscale_runner_last(const autoscale_runner_t *r)
{
    return r->have_decision ? &r->decision : NULL;
}


const autoscale_rule_state_t *
autoscale_runner_state(const autoscale_runner_t *r)
{
    return r->state;
}


void
autoscale_runner_free(autoscale_runner_t *r)
{
    if (r == NULL) {
        return;
    }

    r->dying = 1;
    r->running = 0;
    evtimer_del(r->kick);

    runner_release(r);
}


/* frees once nothing in flight can call back */
static void
runner_release(autoscale_runner_t *r)
{
    if (r->inflight > 0) {
        return;
    }

    event_free(r->kick);
    free(r->state);
    free(r->explain);
    free(r->obs);
    free(r->detail);
    free(r);
}


/* --- explanation -------------------------------------------------------- */

static json_t *
number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}


json_t *
autoscale_runner_json(const autoscale_runner_t *r)
{
    const autoscale_rule_config_t  *rule;
    const autoscale_rule_explain_t *ex;
    const autoscale_decision_t     *d;
    json_t                         *o, *rules, *jr, *errs;
    size_t                          i;
    int                             k;

    o = json_object();
    rules = json_array();
    if (o == NULL || rules == NULL) {
        json_decref(o);
        json_decref(rules);
        return NULL;
    }

    d = r->have_decision ? &r->decision : NULL;

    json_object_set_new(o, "pool", json_string(r->pool));
    json_object_set_new(o, "evaluated", json_boolean(d != NULL));

    if (d) {
        json_object_set_new(o, "evaluated_at_ms",
                            json_integer((json_int_t) r->evaluated_ms));
        json_object_set_new(
            o, "profile",
            json_string(d->profile ? d->profile->name : "default"));
        json_object_set_new(o, "min", json_integer(d->bounds.min));
        json_object_set_new(o, "max", json_integer(d->bounds.max));
        json_object_set_new(o, "default", json_integer(d->bounds.def));
        json_object_set_new(o, "previous", json_integer(d->previous));
        json_object_set_new(o, "capacity", json_integer(d->capacity));
        json_object_set_new(o, "direction",
                            json_string(autoscale_dir_name(d->direction)));
        json_object_set_new(o, "flapping",
                            json_string(d->flapping == 1   ? "partial"
                                        : d->flapping == 2 ? "skipped"
                                                           : "none"));
        json_object_set_new(o, "reason", json_string(d->reason));
    }

    for (i = 0; i < r->conf->nrules; i++) {
        rule = &r->conf->rules[i];
        ex = &r->explain[i];

        jr = json_object();
        errs = json_object();
        if (jr == NULL || errs == NULL) {
            json_decref(jr);
            json_decref(errs);
            break;
        }

        json_object_set_new(jr, "name", json_string(rule->name));
        json_object_set_new(jr, "operator",
                            json_string(autoscale_op_name(rule->op)));
        json_object_set_new(jr, "threshold", json_real(rule->threshold));
        json_object_set_new(jr, "for_s", json_real(rule->for_ms / 1000.0));

        if (d) {
            json_object_set_new(jr, "direction",
                                json_string(autoscale_dir_name(ex->direction)));
            json_object_set_new(jr, "status",
                                json_string(prom_status_name(ex->status)));
            if (ex->status != PROM_OK && r->detail[i][0]) {
                json_object_set_new(jr, "error", json_string(r->detail[i]));
            }
            json_object_set_new(jr, "value",
                                ex->status == PROM_OK
                                    ? number_or_null(ex->value)
                                    : json_null());
            json_object_set_new(jr, "holds", json_boolean(ex->holds));
            json_object_set_new(jr, "fired", json_boolean(ex->fired));
            json_object_set_new(jr, "held_s", json_real(ex->held_ms / 1000.0));
            json_object_set_new(jr, "cooldown_left_s",
                                json_real(ex->cooldown_left_ms / 1000.0));
            json_object_set_new(jr, "result", json_integer(ex->result));
            json_object_set_new(jr, "projected", number_or_null(ex->projected));
            json_object_set_new(jr, "reason", json_string(ex->reason));
        }

        for (k = 1; k < PROM_STATUS_COUNT; k++) {
            json_object_set_new(
                errs, prom_status_name((prom_status_t) k),
                json_integer((json_int_t) r->state[i].errors[k]));
        }
        json_object_set_new(jr, "errors", errs);

        json_array_append_new(rules, jr);
    }

    json_object_set_new(o, "rules", rules);

    return o;
}


/* --- metrics ------------------------------------------------------------ */

void
autoscale_metrics_write(expo_t *e, autoscale_runner_t *const *runners, size_t n)
{
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } gauges[4] = {
        { "scaleset_scaler_rule_value", "gauge",
          "The last value of the rule's query (NaN: none)." },
        { "scaleset_scaler_rule_firing", "gauge",
          "1 if the rule fired on the last evaluation." },
        { "scaleset_scaler_rule_window_seconds", "gauge",
          "How long the rule's condition has held (its for: window)." },
        { "scaleset_scaler_rule_cooldown_seconds", "gauge",
          "Remaining cooldown of the rule." },
    };
    static const char *const        bounds[3] = { "min", "max", "default" };
    const autoscale_runner_t       *r;
    const autoscale_rule_config_t  *rule;
    const autoscale_rule_explain_t *ex;
    double                          v;
    size_t                          i, j;
    int                             g, k, dir;

    for (g = 0; g < 4; g++) {
        expo_family(e, gauges[g].name, gauges[g].type, gauges[g].help);

        for (i = 0; i < n; i++) {
            r = runners[i];
            for (j = 0; j < r->conf->nrules; j++) {
                rule = &r->conf->rules[j];
                ex = &r->explain[j];

                if (!r->have_decision) {
                    v = g == 0 ? NAN : 0;
                } else if (g == 0) {
                    v = ex->status == PROM_OK ? ex->value : NAN;
                } else if (g == 1) {
                    v = ex->fired;
                } else if (g == 2) {
                    v = ex->held_ms / 1000.0;
                } else {
                    v = ex->cooldown_left_ms / 1000.0;
                }

                expo_sample(e, v, "pool", r->pool, "rule", rule->name, NULL);
            }
        }
    }

    expo_family(e, "scaleset_scaler_metric_errors_total", "counter",
                "Rule evaluations without a value, by kind.");

    for (i = 0; i < n; i++) {
        r = runners[i];
        for (j = 0; j < r->conf->nrules; j++) {
            rule = &r->conf->rules[j];
            for (k = 1; k < PROM_STATUS_COUNT; k++) {
                expo_sample(e, (double) r->state[j].errors[k], "pool", r->pool,
                            "rule", rule->name, "kind",
                            prom_status_name((prom_status_t) k), NULL);
            }
        }
    }

    expo_family(e, "scaleset_scaler_scaling_actions_total", "counter",
                "Capacity changes a rule took part in.");

    for (i = 0; i < n; i++) {
        r = runners[i];
        for (j = 0; j < r->conf->nrules; j++) {
            rule = &r->conf->rules[j];
            for (dir = AUTOSCALE_DIR_OUT; dir <= AUTOSCALE_DIR_IN; dir++) {
                expo_sample(e, (double) r->state[j].actions[dir], "pool",
                            r->pool, "rule", rule->name, "direction",
                            autoscale_dir_name((autoscale_dir_t) dir), NULL);
            }
        }
    }

    expo_family(e, "scaleset_scaler_flapping_total", "counter",
                "Scale-ins cut short (partial) or skipped because the "
                "projection would scale out.");

    for (i = 0; i < n; i++) {
        r = runners[i];
        for (k = 1; k <= 2; k++) {
            expo_sample(e, (double) r->flapping[k], "pool", r->pool, "outcome",
                        k == 1 ? "partial" : "skipped", NULL);
        }
    }

    expo_family(e, "scaleset_scaler_autoscale_bounds", "gauge",
                "The active profile's capacity bounds.");

    for (i = 0; i < n; i++) {
        r = runners[i];
        if (!r->have_decision) {
            continue;
        }
        for (k = 0; k < 3; k++) {
            expo_sample(e,
                        (double) (k == 0   ? r->decision.bounds.min
                                  : k == 1 ? r->decision.bounds.max
                                           : r->decision.bounds.def),
                        "pool", r->pool, "profile",
                        r->decision.profile ? r->decision.profile->name
                                            : "default",
                        "bound", bounds[k], NULL);
        }
    }
}
