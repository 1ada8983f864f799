/*
 * autoscale_runner.h: one pool's autoscaler on the event loop
 * (autoscale_runner.c): every rule's query through the Prometheus client,
 * then the decision (autoscale_decision.h); its explanation (JSON) and
 * metrics.
 */

#ifndef SCALER_AUTOSCALE_RUNNER_H
#define SCALER_AUTOSCALE_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "autoscale_decision.h"
#include "expo.h"
#include "prom.h"

struct event_base;
struct json_t;

typedef struct autoscale_runner_s autoscale_runner_t;

typedef void (*autoscale_done_pt)(autoscale_runner_t         *r,
                                  const autoscale_decision_t *d, void *arg);

/* a line about pool at a syslog priority: LOG_WARNING (a rule without
   data), LOG_INFO (data back, the profile in force, a scale-in skipped
   for flapping), LOG_DEBUG (each decision that changes the capacity) */
typedef void (*autoscale_log_pt)(void *ctx, int prio, const char *pool,
                                 const char *msg);

/*
 * A pool's autoscaler: runs every rule's query through prom, then the
 * decision.  conf (and the strings it points at) must outlive the runner
 * or the next autoscale_runner_reconfigure().  NULL when libevent's
 * timer could not be made.
 */
autoscale_runner_t *autoscale_runner_new(struct event_base *base,
                                         prom_client_t *prom, const char *pool,
                                         const autoscale_config_t *conf);

/* optional hooks: a log sink (default: stderr, "autoscale: pool=POOL
   msg") and a clock (UTC ms) */
void autoscale_runner_set_log(autoscale_runner_t *r, autoscale_log_pt log,
                              void *ctx);
void autoscale_runner_set_clock(autoscale_runner_t *r,
                                uint64_t (*now_ms)(void *ctx), void *ctx);

/*
 * Starts one evaluation from capacity current (the desired capacity in
 * force, automatic or manual).  done is called once, from the loop, with
 * the decision; the caller applies d->capacity when it differs from
 * current.  Returns 0, or -1 when an evaluation is already running.
 */
int autoscale_runner_evaluate(autoscale_runner_t *r, int64_t current,
                              autoscale_done_pt done, void *arg);

/*
 * A reloaded config: the state of rules whose name is unchanged is kept
 * (windows, cooldowns, counters); a running evaluation is abandoned
 * without calling its done.
 */
void autoscale_runner_reconfigure(autoscale_runner_t       *r,
                                  const autoscale_config_t *conf);

/*
 * Queries of this runner still in flight.  prom_client_free() drops them
 * without calling back, so a runner freed with queries in flight is only
 * released if they finish first: the daemon runs its loop until this is 0
 * (bounded by the timeout) before freeing runners and client.
 */
size_t autoscale_runner_inflight(const autoscale_runner_t *r);

/* the last decision (NULL before the first) */
const autoscale_decision_t *autoscale_runner_last(const autoscale_runner_t *r);

/* the rules' state (counters, windows) in config order */
const autoscale_rule_state_t *
autoscale_runner_state(const autoscale_runner_t *r);

/*
 * The families of n runners, into e (expo.h): scaleset_scaler_rule_value,
 * _rule_firing, _rule_window_seconds, _rule_cooldown_seconds,
 * _metric_errors_total, _scaling_actions_total, _flapping_total,
 * _autoscale_bounds.  Errors stick in e.
 */
void autoscale_metrics_write(expo_t *e, autoscale_runner_t *const *runners,
                             size_t n);

/* the explanation for "scalesetctl show" and GET /v1/pools/{pool} */
struct json_t *autoscale_runner_json(const autoscale_runner_t *r);

/* a running evaluation is abandoned; its queries finish unseen */
void autoscale_runner_free(autoscale_runner_t *r);

#endif /* SCALER_AUTOSCALE_RUNNER_H */
