/*
 * autoscale_decision.h: the autoscale configuration (plain structs;
 * config_autoscale.c fills them), the profile in force (schedules) and the
 * pure decision (autoscale_decision.c).  docs/autoscale.md holds the
 * semantics.
 */

#ifndef SCALER_AUTOSCALE_DECISION_H
#define SCALER_AUTOSCALE_DECISION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cron.h"
#include "prom.h"

#define AUTOSCALE_NAME_MAX 64
#define AUTOSCALE_TZ_MAX   64


/* --- configuration (plain structs; config_autoscale.c fills them) ---- */

typedef enum {
    AUTOSCALE_OP_GT = 0, /* ">" */
    AUTOSCALE_OP_GE,     /* ">=" */
    AUTOSCALE_OP_LT,     /* "<" */
    AUTOSCALE_OP_LE      /* "<=" */
} autoscale_op_t;

typedef enum {
    AUTOSCALE_ACTION_CHANGE = 0, /* change: N (signed) */
    AUTOSCALE_ACTION_PERCENT,    /* percent: P (signed) */
    AUTOSCALE_ACTION_EXACT       /* exact: N (>= 0) */
} autoscale_action_kind_t;

typedef struct {
    char                    name[AUTOSCALE_NAME_MAX];
    const char             *query; /* PromQL, owned by the config */
    autoscale_op_t          op;
    double                  threshold;
    uint64_t                for_ms; /* 0: fires on one evaluation */
    autoscale_action_kind_t action;
    int64_t                 value; /* N or P */
    uint64_t                cooldown_ms;
    prom_reduce_t           reduce;
    int                     per_instance; /* projection value*cur/new;
                                             config default 1 */
} autoscale_rule_config_t;

typedef struct {
    int64_t min;
    int64_t max;
    int64_t def; /* "default" */
} autoscale_capacity_t;

typedef enum {
    AUTOSCALE_PROFILE_RECURRING = 0, /* cron .. until / next start */
    AUTOSCALE_PROFILE_FIXED          /* [start, end) */
} autoscale_profile_kind_t;

typedef struct {
    char                     name[AUTOSCALE_NAME_MAX];
    autoscale_profile_kind_t kind;
    char                     timezone[AUTOSCALE_TZ_MAX]; /* "" = UTC */
    cron_expr_t              cron;                       /* recurring: start */
    int                      has_until;
    cron_expr_t              until; /* recurring: end */
    time_t                   start; /* fixed: UTC seconds */
    time_t                   end;
    autoscale_capacity_t     capacity;
} autoscale_profile_config_t;

typedef struct {
    autoscale_capacity_t              capacity; /* the pool's default profile */
    const autoscale_rule_config_t    *rules;
    size_t                            nrules;
    const autoscale_profile_config_t *profiles; /* schedules */
    size_t                            nprofiles;
    int64_t                           max_step; /* 0: unbounded */
} autoscale_config_t;


/* --- profiles ---------------------------------------------------------- */

/*
 * The profile in force at t: the first fixed-date profile with
 * start <= t < end; else the recurring profile that started last (before
 * or at t), unless its until has passed since; else NULL (the pool's
 * default capacity).  *since gets the active profile's start, *until the
 * next instant at which the answer may change (at most an hour ahead);
 * both optional.
 */
const autoscale_profile_config_t *
autoscale_profile_active(const autoscale_profile_config_t *profiles, size_t n,
                         time_t t, time_t *since, time_t *until);


/* --- the decision ------------------------------------------------------ */

/* one evaluation's observation of one rule's query */
typedef struct {
    prom_status_t status; /* PROM_OK: value is valid */
    double        value;
} autoscale_obs_t;

/* per rule, kept by the caller between evaluations; zero = fresh */
typedef struct {
    uint64_t      held_since_ms;             /* 0: condition not holding */
    uint64_t      last_action_ms;            /* 0: never acted */
    prom_status_t last_status;               /* to log once per change */
    uint64_t      errors[PROM_STATUS_COUNT]; /* by kind */
    uint64_t      actions[3];                /* by autoscale_dir_t */
} autoscale_rule_state_t;

typedef enum {
    AUTOSCALE_DIR_NONE = 0,
    AUTOSCALE_DIR_OUT,
    AUTOSCALE_DIR_IN
} autoscale_dir_t;

typedef struct {
    autoscale_dir_t direction; /* of the rule's action now */
    prom_status_t   status;
    double          value;
    int             holds; /* condition true now */
    int             fired; /* held through for:, no
                              cooldown, would act */
    uint64_t held_ms;      /* window progress */
    uint64_t for_ms;
    uint64_t cooldown_left_ms;
    int64_t  result;     /* capacity it asks for */
    double   projected;  /* out-rules on scale-in:
                            value at the new capacity */
    int  status_changed; /* log the error/recovery */
    char reason[128];
} autoscale_rule_explain_t;

typedef struct {
    int64_t                           capacity; /* the new desired capacity */
    int64_t                           previous;
    autoscale_dir_t                   direction;
    const autoscale_profile_config_t *profile;  /* NULL: default */
    autoscale_capacity_t              bounds;   /* active min/max/default */
    int                               flapping; /* 1 partial, 2 skipped */
    int                               acted;    /* a rule changed capacity */
    char                              reason[256];
    autoscale_rule_explain_t         *rules; /* caller's array, nrules */
} autoscale_decision_t;

/*
 * The pure decision: conf and one observation per rule (obs[nrules]),
 * the rules' state (updated in place, state[nrules]), the desired
 * capacity in force now (automatic or manual), and the clock (now_ms,
 * UTC milliseconds).  Fills *d (d->rules must point at nrules entries).
 * Returns d->capacity.
 */
int64_t autoscale_decide(const autoscale_config_t *conf,
                         const autoscale_obs_t    *obs,
                         autoscale_rule_state_t *state, int64_t current,
                         uint64_t now_ms, autoscale_decision_t *d);

/*
 * The same with the profile already selected (autoscale_profile_active()
 * at now, or NULL for the default): the runner caches the selection until
 * it may change, so time zones are switched only at profile boundaries.
 */
int64_t autoscale_decide_profile(const autoscale_config_t         *conf,
                                 const autoscale_profile_config_t *profile,
                                 const autoscale_obs_t            *obs,
                                 autoscale_rule_state_t *state, int64_t current,
                                 uint64_t now_ms, autoscale_decision_t *d);

/* "none", "out", "in" */
const char *autoscale_dir_name(autoscale_dir_t dir);

/* ">", ">=", "<", "<=" and back; -1 on anything else */
const char *autoscale_op_name(autoscale_op_t op);
int         autoscale_op_parse(const char *s, autoscale_op_t *op);

#endif /* SCALER_AUTOSCALE_DECISION_H */
