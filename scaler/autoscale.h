/*
 * Autoscale: the rule and schedule configuration (filled by config.c),
 * the Prometheus client (prom.c), cron expressions and profiles (cron.c)
 * and the pure decision function (autoscale.c).  docs/autoscale.md holds
 * the semantics.
 */

#ifndef SCALESET_AUTOSCALE_H
#define SCALESET_AUTOSCALE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "expo.h"

struct event_base;


#define AUTOSCALE_NAME_MAX  64
#define AUTOSCALE_TZ_MAX    64


/* --- configuration (plain structs; config.c fills them) -------------- */

typedef enum {
    AUTOSCALE_OP_GT = 0,            /* ">" */
    AUTOSCALE_OP_GE,                /* ">=" */
    AUTOSCALE_OP_LT,                /* "<" */
    AUTOSCALE_OP_LE                 /* "<=" */
} autoscale_op_t;

typedef enum {
    AUTOSCALE_ACTION_CHANGE = 0,    /* change: N (signed) */
    AUTOSCALE_ACTION_PERCENT,       /* percent: P (signed) */
    AUTOSCALE_ACTION_EXACT          /* exact: N (>= 0) */
} autoscale_action_kind_t;

typedef enum {
    PROM_REDUCE_NONE = 0,           /* several series is an error */
    PROM_REDUCE_SUM,
    PROM_REDUCE_AVG,
    PROM_REDUCE_MAX,
    PROM_REDUCE_MIN
} prom_reduce_t;

typedef struct {
    char                     name[AUTOSCALE_NAME_MAX];
    const char              *query;         /* PromQL, owned by the config */
    autoscale_op_t           op;
    double                   threshold;
    uint64_t                 for_ms;        /* 0: fires on one evaluation */
    autoscale_action_kind_t  action;
    int64_t                  value;         /* N or P */
    uint64_t                 cooldown_ms;
    prom_reduce_t            reduce;
    int                      per_instance;  /* projection value*cur/new;
                                               config default 1 */
} autoscale_rule_config_t;

typedef struct {
    int64_t                  min;
    int64_t                  max;
    int64_t                  def;           /* "default" */
} autoscale_capacity_t;

/* a parsed 5-field cron expression; see cron_parse() */
typedef struct {
    uint64_t                 minute;        /* bit 0..59 */
    uint32_t                 hour;          /* bit 0..23 */
    uint32_t                 dom;           /* bit 1..31 */
    uint16_t                 month;         /* bit 1..12 */
    uint8_t                  dow;           /* bit 0..6, 0 = Sunday */
    unsigned                 dom_star:1;    /* field was "*" (or "*" /N) */
    unsigned                 dow_star:1;
} cron_expr_t;

typedef enum {
    AUTOSCALE_PROFILE_RECURRING = 0,        /* cron .. until / next start */
    AUTOSCALE_PROFILE_FIXED                 /* [start, end) */
} autoscale_profile_kind_t;

typedef struct {
    char                     name[AUTOSCALE_NAME_MAX];
    autoscale_profile_kind_t kind;
    char                     timezone[AUTOSCALE_TZ_MAX];  /* "" = UTC */
    cron_expr_t              cron;          /* recurring: start */
    int                      has_until;
    cron_expr_t              until;         /* recurring: end */
    time_t                   start;         /* fixed: UTC seconds */
    time_t                   end;
    autoscale_capacity_t     capacity;
} autoscale_profile_config_t;

typedef struct {
    autoscale_capacity_t         capacity;  /* the pool's default profile */
    const autoscale_rule_config_t *rules;
    size_t                       nrules;
    const autoscale_profile_config_t *profiles;    /* schedules */
    size_t                       nprofiles;
    int64_t                      max_step;  /* 0: unbounded */
} autoscale_config_t;


/* --- Prometheus client (prom.c) ---------------------------------------- */

typedef enum {
    PROM_OK = 0,
    PROM_ERR_UNREACHABLE,       /* connect failed, refused, reset */
    PROM_ERR_TIMEOUT,
    PROM_ERR_HTTP,              /* a status other than 200 (and no JSON) */
    PROM_ERR_PROMETHEUS,        /* "status": "error" */
    PROM_ERR_EMPTY,             /* no series (absent or stale data) */
    PROM_ERR_MULTIPLE,          /* several series and no reduce */
    PROM_ERR_NAN,               /* NaN or +-Inf */
    PROM_ERR_PARSE              /* not the JSON we expect */
} prom_status_t;

#define PROM_STATUS_COUNT  9

typedef struct {
    prom_status_t            status;
    double                   value;         /* PROM_OK only */
    size_t                   nseries;
    long                     http_code;     /* 0: none */
    char                     detail[256];   /* errorType: error, ... */
} prom_result_t;

typedef struct {
    const char              *url;           /* http://127.0.0.1:9090 */
    uint64_t                 timeout_ms;    /* whole request; 0: 2000 */
    const char              *username;      /* basic auth, optional */
    const char              *password;
    const char              *bearer_token;  /* optional */
} prom_config_t;

typedef struct prom_client_s  prom_client_t;

typedef void (*prom_handler_pt)(const prom_result_t *res, void *arg);

/* "ok", "unreachable", "timeout", "http", "prometheus", "empty",
 * "multiple", "nan", "parse": label values for metric_errors_total{kind} */
const char *prom_status_name(prom_status_t status);

/*
 * Decodes a /api/v1/query response body (any HTTP code: Prometheus sends
 * its error JSON with 400/422/503) into *res, reducing several series
 * with reduce.  Pure; returns res->status.
 */
prom_status_t prom_parse_response(long http_code, const char *body,
    size_t len, prom_reduce_t reduce, prom_result_t *res);

/* a client on base; the config strings are copied */
prom_client_t *prom_client_new(struct event_base *base,
    const prom_config_t *conf);

/*
 * Starts an instant query; handler is called exactly once from the event
 * loop (never from inside prom_query).  Returns 0, or -1 when the query
 * could not be started (then the handler is not called).
 */
int prom_query(prom_client_t *c, const char *query, prom_reduce_t reduce,
    prom_handler_pt handler, void *arg);

/*
 * Queries in flight are cancelled without calling their handlers.  Not
 * from inside a handler.
 */
void prom_client_free(prom_client_t *c);


/* --- cron expressions and profiles (cron.c) ---------------------------- */

/*
 * "m h dom mon dow": each field "*", N, A-B, lists "a,b", steps "*" /N and
 * A-B/N; months JAN..DEC and days SUN..SAT (any case), 7 = Sunday.  As in
 * Vixie cron, when both day fields are restricted a day matching either
 * matches.  Returns 0, or -1 with a reason in err.
 */
int cron_parse(const char *s, cron_expr_t *c, char *err, size_t errlen);

/*
 * The first instant strictly after t (UTC seconds) at which c matches the
 * wall clock of timezone tz ("" or NULL: UTC).  A wall time skipped by a
 * DST change fires at the end of the gap; a repeated wall time fires once,
 * at its first occurrence.  Returns 0, or -1 (bad timezone, no match in
 * 28 years).
 */
int cron_next(const cron_expr_t *c, const char *tz, time_t t, time_t *next);

/* the last match at or before t (same rules); -1 if none within 400 days */
int cron_prev(const cron_expr_t *c, const char *tz, time_t t, time_t *prev);

/*
 * A fixed-date profile's start or end: "YYYY-MM-DD HH:MM[:SS]" (or with
 * "T") as wall time in tz, or with "Z" / "+HH:MM" / "-HH:MM" as an
 * absolute time (tz unused).  A wall time in a DST gap means the end of
 * the gap, a repeated one its first occurrence.  Returns 0 or -1.
 */
int cron_parse_datetime(const char *s, const char *tz, time_t *t);

/* 1 if tz names a zone in the system database ("" and "UTC" are valid) */
int cron_tz_valid(const char *tz);

/*
 * The profile in force at t: the first fixed-date profile with
 * start <= t < end; else the recurring profile that started last (before
 * or at t), unless its until has passed since; else NULL (the pool's
 * default capacity).  *since gets the active profile's start, *until the
 * next instant at which the answer may change (at most an hour ahead);
 * both optional.
 */
const autoscale_profile_config_t *autoscale_profile_active(
    const autoscale_profile_config_t *profiles, size_t n, time_t t,
    time_t *since, time_t *until);


/* --- the decision (autoscale.c) ---------------------------------------- */

/* one evaluation's observation of one rule's query */
typedef struct {
    prom_status_t            status;        /* PROM_OK: value is valid */
    double                   value;
} autoscale_obs_t;

/* per rule, kept by the caller between evaluations; zero = fresh */
typedef struct {
    uint64_t                 held_since_ms; /* 0: condition not holding */
    uint64_t                 last_action_ms;/* 0: never acted */
    prom_status_t            last_status;   /* to log once per change */
    uint64_t                 errors[PROM_STATUS_COUNT];  /* by kind */
    uint64_t                 actions[3];    /* by autoscale_dir_t */
} autoscale_rule_state_t;

typedef enum {
    AUTOSCALE_DIR_NONE = 0,
    AUTOSCALE_DIR_OUT,
    AUTOSCALE_DIR_IN
} autoscale_dir_t;

typedef struct {
    autoscale_dir_t          direction;     /* of the rule's action now */
    prom_status_t            status;
    double                   value;
    int                      holds;         /* condition true now */
    int                      fired;         /* held through for:, no
                                               cooldown, would act */
    uint64_t                 held_ms;       /* window progress */
    uint64_t                 for_ms;
    uint64_t                 cooldown_left_ms;
    int64_t                  result;        /* capacity it asks for */
    double                   projected;     /* out-rules on scale-in:
                                               value at the new capacity */
    int                      status_changed;/* log the error/recovery */
    char                     reason[128];
} autoscale_rule_explain_t;

typedef struct {
    int64_t                  capacity;      /* the new desired capacity */
    int64_t                  previous;
    autoscale_dir_t          direction;
    const autoscale_profile_config_t *profile;  /* NULL: default */
    autoscale_capacity_t     bounds;        /* active min/max/default */
    int                      flapping;      /* 1 partial, 2 skipped */
    int                      acted;         /* a rule changed capacity */
    char                     reason[256];
    autoscale_rule_explain_t *rules;        /* caller's array, nrules */
} autoscale_decision_t;

/*
 * The pure decision: conf and one observation per rule (obs[nrules]),
 * the rules' state (updated in place, state[nrules]), the desired
 * capacity in force now (automatic or manual), and the clock (now_ms,
 * UTC milliseconds).  Fills *d (d->rules must point at nrules entries).
 * Returns d->capacity.
 */
int64_t autoscale_decide(const autoscale_config_t *conf,
    const autoscale_obs_t *obs, autoscale_rule_state_t *state,
    int64_t current, uint64_t now_ms, autoscale_decision_t *d);

/*
 * The same with the profile already selected (autoscale_profile_active()
 * at now, or NULL for the default): the runner caches the selection until
 * it may change, so time zones are switched only at profile boundaries.
 */
int64_t autoscale_decide_profile(const autoscale_config_t *conf,
    const autoscale_profile_config_t *profile, const autoscale_obs_t *obs,
    autoscale_rule_state_t *state, int64_t current, uint64_t now_ms,
    autoscale_decision_t *d);

/* "none", "out", "in" */
const char *autoscale_dir_name(autoscale_dir_t dir);

/* ">", ">=", "<", "<=" and back; -1 on anything else */
const char *autoscale_op_name(autoscale_op_t op);
int autoscale_op_parse(const char *s, autoscale_op_t *op);

/* "sum", "avg", "max", "min", "" and back */
int prom_reduce_parse(const char *s, prom_reduce_t *r);


/* --- one pool's evaluations on the event loop (autoscale_run.c) -------- */

struct evbuffer;
struct json_t;

typedef struct autoscale_runner_s  autoscale_runner_t;

typedef void (*autoscale_done_pt)(autoscale_runner_t *r,
    const autoscale_decision_t *d, void *arg);

/* syslog priorities (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO) */
typedef void (*autoscale_log_pt)(void *ctx, int prio, const char *msg);

/*
 * A pool's autoscaler: runs every rule's query through prom, then the
 * decision.  conf (and the strings it points at) must outlive the runner
 * or the next autoscale_runner_reconfigure().  Returns NULL on ENOMEM.
 */
autoscale_runner_t *autoscale_runner_new(struct event_base *base,
    prom_client_t *prom, const char *pool, const autoscale_config_t *conf);

/* optional hooks: a log sink (default: stderr) and a clock (UTC ms) */
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
 * without calling its done.  Returns 0, or -1 on ENOMEM (old config kept).
 */
int autoscale_runner_reconfigure(autoscale_runner_t *r,
    const autoscale_config_t *conf);

/*
 * Queries of this runner still in flight.  prom_client_free() drops them
 * without calling back, so a runner freed with queries in flight is only
 * released if they finish first: the daemon runs its loop until this is 0
 * (bounded by the timeout) before freeing runners and client.
 */
size_t autoscale_runner_inflight(const autoscale_runner_t *r);

/* the last decision (NULL before the first) */
const autoscale_decision_t *autoscale_runner_last(
    const autoscale_runner_t *r);

/* the rules' state (counters, windows) in config order */
const autoscale_rule_state_t *autoscale_runner_state(
    const autoscale_runner_t *r);

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

#endif /* SCALESET_AUTOSCALE_H */
