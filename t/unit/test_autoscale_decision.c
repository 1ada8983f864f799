/*
 * Unit tests of scaler/autoscale/autoscale_decision.c, the pure decision:
 * scenarios of evaluations (clock, observed values, capacity in force)
 * against the expected capacity, over rules x windows x cooldowns x
 * profiles x clamps, percent rounding and flapping.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "autoscale_decision.h"


#define T0      1800000000ULL           /* 2027-01-15, no profile */
#define NO      NAN                     /* no data for this rule */
#define KEEP    -1                      /* capacity: the last decision's */
#define MAXR    3
#define MAXS    10

#define RULE(n, o, thr, f, act, val, cd, per)                               \
    { n, "q", AUTOSCALE_OP_##o, thr, (f) * 1000ULL, AUTOSCALE_ACTION_##act, \
      val, (cd) * 1000ULL, PROM_REDUCE_NONE, per }

#define BUSY    RULE("busy", GT, 50, 30, CHANGE, 2, 60, 1)
#define IDLE    RULE("idle", LT, 10, 60, CHANGE, -1, 120, 1)


typedef struct {
    uint64_t     at;            /* seconds after T0 */
    double       v[MAXR];
    int64_t      current;       /* KEEP: the previous decision */
    int64_t      want;
    int          flapping;
} step_t;

typedef struct {
    const char              *name;
    autoscale_rule_config_t  rules[MAXR];
    size_t                   nrules;
    autoscale_capacity_t     cap;
    int64_t                  max_step;
    int                      profile;   /* 1: a fixed profile 100..200 s */
    step_t                   steps[MAXS];
} scenario_t;


static const scenario_t  scenarios[] = {

    { "out after the for window", { BUSY }, 1, { 2, 20, 2 }, 0, 0, {
        { 0, { 80 }, 4, 4, 0 },
        { 15, { 80 }, KEEP, 4, 0 },
        { 29, { 80 }, KEEP, 4, 0 },
        { 30, { 80 }, KEEP, 6, 0 },
    } },

    { "window broken by a low value", { BUSY }, 1, { 2, 20, 2 }, 0, 0, {
        { 0, { 80 }, 4, 4, 0 },
        { 15, { 20 }, KEEP, 4, 0 },
        { 30, { 80 }, KEEP, 4, 0 },
        { 59, { 80 }, KEEP, 4, 0 },
        { 60, { 80 }, KEEP, 6, 0 },
    } },

    { "window broken by missing data", { BUSY }, 1, { 2, 20, 2 }, 0, 0, {
        { 0, { 80 }, 4, 4, 0 },
        { 15, { NO }, KEEP, 4, 0 },
        { 30, { 80 }, KEEP, 4, 0 },
        { 60, { 80 }, KEEP, 6, 0 },
    } },

    { "threshold is strict for >", { BUSY }, 1, { 2, 20, 2 }, 0, 0, {
        { 0, { 50 }, 4, 4, 0 },
        { 60, { 50 }, KEEP, 4, 0 },
    } },

    { ">= and <= include the threshold",
      { RULE("ge", GE, 50, 0, CHANGE, 1, 0, 1) }, 1, { 0, 20, 0 }, 0, 0, {
        { 0, { 50 }, 4, 5, 0 },
        { 1, { 49.99 }, KEEP, 5, 0 },
    } },

    { "cooldown after acting, then the window again", { BUSY }, 1,
      { 2, 20, 2 }, 0, 0, {
        { 0, { 80 }, 4, 4, 0 },
        { 30, { 80 }, KEEP, 6, 0 },     /* acts; cooldown till 90 */
        { 40, { 80 }, KEEP, 6, 0 },
        { 70, { 80 }, KEEP, 6, 0 },     /* window done (40..70), cooling */
        { 89, { 80 }, KEEP, 6, 0 },
        { 90, { 80 }, KEEP, 8, 0 },
    } },

    { "scale in after its window", { BUSY, IDLE }, 2, { 2, 20, 2 }, 0, 0, {
        { 0, { 5, 5 }, 6, 6, 0 },
        { 59, { 5, 5 }, KEEP, 6, 0 },
        { 60, { 5, 5 }, KEEP, 5, 0 },
        { 120, { 5, 5 }, KEEP, 5, 0 },  /* cooldown till 180 */
        { 180, { 5, 5 }, KEEP, 4, 0 },
    } },

    { "scale in only when all in-rules fire",
      { BUSY, IDLE, RULE("quiet", LT, 100, 0, CHANGE, -2, 0, 0) }, 3,
      { 1, 20, 1 }, 0, 0, {
        { 0, { 5, 5, 500 }, 6, 6, 0 },
        { 60, { 5, 5, 500 }, KEEP, 6, 0 },
        { 70, { 5, 20, 50 }, KEEP, 6, 0 },
        { 80, { 5, 5, 50 }, KEEP, 6, 0 },   /* idle's window restarted */
        { 140, { 5, 5, 50 }, KEEP, 5, 0 },  /* smallest cut: -1 not -2 */
    } },

    { "no scale in while an in-rule has no data",
      { IDLE, RULE("quiet", LT, 100, 0, CHANGE, -1, 0, 0) }, 2,
      { 1, 20, 1 }, 0, 0, {
        { 0, { 5, 5 }, 6, 6, 0 },
        { 60, { 5, NO }, KEEP, 6, 0 },
        { 120, { 5, NO }, KEEP, 6, 0 },
    } },

    { "no scale in while an out-rule has no data", { BUSY, IDLE }, 2,
      { 2, 20, 2 }, 0, 0, {
        { 0, { NO, 5 }, 6, 6, 0 },
        { 60, { NO, 5 }, KEEP, 6, 0 },
        { 120, { NO, 5 }, KEEP, 6, 0 },
        { 130, { 5, 5 }, KEEP, 5, 0 },
    } },

    { "no scale in while an out-rule holds (window running)",
      { RULE("busy", GT, 50, 300, CHANGE, 2, 0, 0), IDLE }, 2,
      { 2, 20, 2 }, 0, 0, {
        { 0, { 80, 5 }, 6, 6, 0 },
        { 60, { 80, 5 }, KEEP, 6, 0 },
        { 70, { 20, 5 }, KEEP, 5, 0 },
    } },

    { "missing data below the default goes to the default", { BUSY, IDLE },
      2, { 2, 20, 4 }, 0, 0, {
        { 0, { NO, NO }, 2, 4, 0 },
        { 10, { NO, NO }, 7, 7, 0 },    /* above the default: nothing */
        { 20, { NO, 5 }, 3, 4, 0 },
    } },

    { "any out-rule: the largest result wins",
      { RULE("a", GT, 1, 0, CHANGE, 1, 0, 1),
        RULE("b", GT, 1, 0, CHANGE, 3, 0, 1),
        RULE("c", GT, 1000, 0, CHANGE, 5, 0, 1) }, 3, { 0, 20, 0 }, 0, 0, {
        { 0, { 5, 5, 5 }, 4, 7, 0 },
        { 1, { 5, 0, 5 }, KEEP, 8, 0 },
    } },

    { "clamped to max, then held at max", { BUSY }, 1, { 2, 20, 2 }, 0, 0, {
        { 0, { 80 }, 19, 19, 0 },
        { 30, { 80 }, KEEP, 20, 0 },
        { 90, { 80 }, KEEP, 20, 0 },
    } },

    { "manual capacity outside min/max is reverted; inside it is held",
      { BUSY, IDLE }, 2, { 2, 20, 2 }, 0, 0, {
        { 0, { 30, 30 }, 25, 20, 0 },
        { 10, { 30, 30 }, 1, 2, 0 },
        { 20, { 30, 30 }, 0, 2, 0 },
        { 30, { 30, 30 }, 13, 13, 0 },
        { 300, { 30, 30 }, KEEP, 13, 0 },
    } },

    { "never below zero", { RULE("drop", LT, 1, 0, CHANGE, -5, 0, 0) }, 1,
      { 0, 20, 0 }, 0, 0, {
        { 0, { 0 }, 3, 0, 0 },
        { 1, { 0 }, KEEP, 0, 0 },
    } },

    { "percent +10 of 3 rounds up to +1",
      { RULE("p", GT, 1, 0, PERCENT, 10, 0, 0) }, 1, { 0, 100, 0 }, 0, 0, {
        { 0, { 5 }, 3, 4, 0 },
        { 1, { 5 }, 10, 11, 0 },
        { 2, { 5 }, 11, 13, 0 },        /* 1.1 -> 2 */
        { 3, { 5 }, 0, 0, 0 },          /* 10 % of nothing */
    } },

    { "percent -10 of 3 rounds to -1; -50 of 3 to -2",
      { RULE("p", LT, 1, 0, PERCENT, -10, 0, 0),
        RULE("q", LT, 1, 0, PERCENT, -50, 0, 0) }, 2, { 0, 100, 0 }, 0, 0, {
        { 0, { 0, 0 }, 3, 2, 0 },       /* smallest cut: -10 % */
        { 1, { 5, 0 }, 3, 3, 0 },       /* not all in-rules */
    } },

    { "percent -50 of 3 alone", { RULE("q", LT, 1, 0, PERCENT, -50, 0, 0) },
      1, { 0, 100, 0 }, 0, 0, {
        { 0, { 0 }, 3, 1, 0 },
        { 1, { 0 }, 20, 10, 0 },
    } },

    { "percent in integers: exact tenths, +1 % of 150, -100 %",
      { RULE("p", LT, 1, 0, PERCENT, -10, 0, 0) }, 1, { 0, 1000, 0 }, 0, 0, {
        { 0, { 0 }, 10, 9, 0 },
        { 1, { 0 }, 100, 90, 0 },
        { 2, { 0 }, 1, 0, 0 },
    } },

    { "percent +1 of 150 is +2", { RULE("p", GT, 1, 0, PERCENT, 1, 0, 0) }, 1,
      { 0, 1000, 0 }, 0, 0, {
        { 0, { 5 }, 150, 152, 0 },
        { 1, { 5 }, 100, 101, 0 },
    } },

    { "percent -100 empties the pool when min is 0",
      { RULE("p", LT, 1, 0, PERCENT, -100, 0, 0) }, 1, { 0, 1000, 0 }, 0, 0, {
        { 0, { 0 }, 7, 0, 0 },
    } },

    { "exact sets the count in either direction",
      { RULE("x", GT, 1, 0, EXACT, 10, 0, 0) }, 1, { 0, 20, 0 }, 0, 0, {
        { 0, { 5 }, 4, 10, 0 },
        { 1, { 5 }, 12, 10, 0 },
        { 2, { 5 }, 10, 10, 0 },
        { 3, { 0 }, 12, 12, 0 },
    } },

    { "max_step bounds a change", { RULE("x", GT, 1, 0, EXACT, 10, 0, 0) }, 1,
      { 0, 20, 0 }, 2, 0, {
        { 0, { 5 }, 4, 6, 0 },
        { 1, { 5 }, KEEP, 8, 0 },
        { 2, { 5 }, KEEP, 10, 0 },
        { 3, { 5 }, 15, 13, 0 },
    } },

    { "flapping: partial scale-in to the smallest safe capacity",
      { RULE("busy", GT, 50, 0, CHANGE, 1, 0, 1),
        RULE("idle", LT, 100, 0, CHANGE, -3, 0, 0) }, 2, { 1, 20, 1 }, 0, 0,
      {
        /* busy 30 per instance on 4: on 1 -> 120, 2 -> 60, 3 -> 40 */
        { 0, { 30, 5 }, 4, 3, 1 },
    } },

    { "flapping: scale-in skipped when no smaller capacity is safe",
      { RULE("busy", GT, 50, 0, CHANGE, 1, 0, 1),
        RULE("idle", LT, 100, 0, CHANGE, -3, 0, 0) }, 2, { 1, 20, 1 }, 0, 0,
      {
        /* 40 on 4: on 3 -> 53.3 */
        { 0, { 40, 5 }, 4, 4, 2 },
        { 1, { 40, 5 }, KEEP, 4, 2 },
        { 2, { 10, 5 }, KEEP, 1, 0 },
    } },

    { "flapping: a total metric does not project",
      { RULE("busy", GT, 50, 0, CHANGE, 1, 0, 0),
        RULE("idle", LT, 100, 0, CHANGE, -3, 0, 0) }, 2, { 1, 20, 1 }, 0, 0,
      {
        { 0, { 40, 5 }, 4, 1, 0 },
    } },

    { "a profile clamps at once and its bounds end with it", { BUSY }, 1,
      { 2, 20, 2 }, 0, 1, {
        { 50, { 20 }, 4, 4, 0 },
        { 100, { 20 }, KEEP, 6, 0 },    /* profile min 6 */
        { 150, { 80 }, KEEP, 6, 0 },
        { 180, { 80 }, KEEP, 8, 0 },
        { 199, { 80 }, 11, 10, 0 },     /* profile max 10 */
        { 200, { 20 }, 11, 11, 0 },     /* default bounds again */
    } },

    { "missing data under a profile's default goes to it", { BUSY }, 1,
      { 2, 20, 2 }, 0, 1, {
        { 150, { NO }, 7, 8, 0 },
    } },
};


static void
run_scenario(const scenario_t *sc)
{
    autoscale_profile_config_t  prof;
    autoscale_rule_explain_t    ex[MAXR];
    autoscale_rule_state_t      st[MAXR];
    autoscale_decision_t        d;
    autoscale_config_t          conf;
    autoscale_obs_t             obs[MAXR];
    const step_t               *s;
    int64_t                     cur, got;
    size_t                      i, j;

    memset(&conf, 0, sizeof(conf));
    memset(st, 0, sizeof(st));
    memset(&prof, 0, sizeof(prof));

    strcpy(prof.name, "fixed");
    prof.kind = AUTOSCALE_PROFILE_FIXED;
    prof.start = (time_t) T0 + 100;
    prof.end = (time_t) T0 + 200;
    prof.capacity = (autoscale_capacity_t) { 6, 10, 8 };

    conf.capacity = sc->cap;
    conf.rules = sc->rules;
    conf.nrules = sc->nrules;
    conf.max_step = sc->max_step;
    conf.profiles = sc->profile ? &prof : NULL;
    conf.nprofiles = sc->profile ? 1 : 0;

    cur = 0;

    for (i = 0; i < MAXS; i++) {
        s = &sc->steps[i];
        if (i > 0 && s->at == 0) {
            break;
        }

        for (j = 0; j < sc->nrules; j++) {
            obs[j].value = s->v[j];
            obs[j].status = isnan(s->v[j]) ? PROM_ERR_EMPTY : PROM_OK;
        }

        if (s->current != KEEP) {
            cur = s->current;
        }

        d.rules = ex;
        got = autoscale_decide(&conf, obs, st, cur, (T0 + s->at) * 1000, &d);

        if (got != s->want || d.flapping != s->flapping) {
            fail_msg("%s, step %zu (t=%llu, current %lld): expected %lld "
                     "flapping %d, got %lld flapping %d: %s", sc->name, i,
                     (unsigned long long) s->at, (long long) cur,
                     (long long) s->want, s->flapping, (long long) got,
                     d.flapping, d.reason);
        }

        assert_int_equal(d.capacity, got);
        assert_int_equal(d.previous, cur);
        cur = got;
    }
}


static void
test_scenarios(void **state)
{
    size_t  i;

    (void) state;

    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        run_scenario(&scenarios[i]);
    }
}


/* the explanation: value, firing, window progress, cooldown, projection */
static void
test_explain(void **state)
{
    autoscale_rule_config_t   rules[2] = {
        RULE("busy", GT, 50, 30, CHANGE, 1, 60, 1),
        RULE("idle", LT, 100, 0, CHANGE, -3, 0, 0),
    };
    autoscale_rule_explain_t  ex[2];
    autoscale_rule_state_t    st[2];
    autoscale_decision_t      d;
    autoscale_config_t        conf;
    autoscale_obs_t           obs[2];

    (void) state;

    memset(&conf, 0, sizeof(conf));
    memset(st, 0, sizeof(st));
    conf.capacity = (autoscale_capacity_t) { 1, 20, 1 };
    conf.rules = rules;
    conf.nrules = 2;

    obs[0] = (autoscale_obs_t) { PROM_OK, 80 };
    obs[1] = (autoscale_obs_t) { PROM_ERR_TIMEOUT, NAN };

    d.rules = ex;
    assert_int_equal(autoscale_decide(&conf, obs, st, 4, T0 * 1000, &d), 4);
    assert_int_equal(ex[0].direction, AUTOSCALE_DIR_OUT);
    assert_true(ex[0].holds);
    assert_false(ex[0].fired);
    assert_int_equal(ex[0].held_ms, 0);
    assert_int_equal(ex[0].for_ms, 30000);
    assert_true(ex[0].value == 80);
    assert_int_equal(ex[0].result, 5);
    assert_int_equal(ex[1].direction, AUTOSCALE_DIR_IN);
    assert_int_equal(ex[1].status, PROM_ERR_TIMEOUT);
    assert_true(ex[1].status_changed);
    assert_non_null(strstr(ex[1].reason, "timeout"));

    assert_int_equal(autoscale_decide(&conf, obs, st, 4, T0 * 1000 + 20000,
                                      &d), 4);
    assert_int_equal(ex[0].held_ms, 20000);
    assert_false(ex[1].status_changed);
    assert_non_null(strstr(ex[0].reason, "holding for 20s of 30s"));

    assert_int_equal(autoscale_decide(&conf, obs, st, 4, T0 * 1000 + 30000,
                                      &d), 5);
    assert_true(ex[0].fired);
    assert_int_equal(d.direction, AUTOSCALE_DIR_OUT);
    assert_true(d.acted);
    assert_non_null(strstr(d.reason, "4 -> 5"));

    assert_int_equal(autoscale_decide(&conf, obs, st, 5, T0 * 1000 + 40000,
                                      &d), 5);
    assert_int_equal(ex[0].cooldown_left_ms, 50000);
    assert_false(d.acted);

    /* flapping projection is explained per out-rule */
    obs[0] = (autoscale_obs_t) { PROM_OK, 30 };
    obs[1] = (autoscale_obs_t) { PROM_OK, 5 };
    assert_int_equal(autoscale_decide(&conf, obs, st, 4, T0 * 1000 + 200000,
                                      &d), 3);
    assert_int_equal(d.flapping, 1);
    assert_true(ex[0].projected == 40);
    assert_non_null(strstr(d.reason, "partial"));
    assert_true(ex[1].status_changed);

    /* counters for the metrics */
    assert_int_equal(st[1].errors[PROM_ERR_TIMEOUT], 4);
    assert_int_equal(st[1].errors[PROM_ERR_EMPTY], 0);
    assert_int_equal(st[0].actions[AUTOSCALE_DIR_OUT], 1);
    assert_int_equal(st[1].actions[AUTOSCALE_DIR_IN], 1);
    assert_int_equal(st[0].actions[AUTOSCALE_DIR_IN], 0);

    /* NaN reported as a value counts as nan; an unknown status as parse */
    obs[0] = (autoscale_obs_t) { PROM_OK, NAN };
    obs[1] = (autoscale_obs_t) { (prom_status_t) 77, 5 };
    assert_int_equal(autoscale_decide(&conf, obs, st, 4, T0 * 1000 + 300000,
                                      &d), 4);
    assert_int_equal(ex[0].status, PROM_ERR_NAN);
    assert_int_equal(ex[1].status, PROM_ERR_PARSE);
    assert_int_equal(st[0].errors[PROM_ERR_NAN], 1);
    assert_int_equal(st[1].errors[PROM_ERR_PARSE], 1);
}


static void
test_names(void **state)
{
    autoscale_op_t  op;
    prom_reduce_t   r;

    (void) state;

    assert_int_equal(autoscale_op_parse(">=", &op), 0);
    assert_int_equal(op, AUTOSCALE_OP_GE);
    assert_int_equal(autoscale_op_parse("<", &op), 0);
    assert_int_equal(op, AUTOSCALE_OP_LT);
    assert_int_equal(autoscale_op_parse("=>", &op), -1);
    assert_int_equal(autoscale_op_parse("", &op), -1);
    assert_int_equal(prom_reduce_parse("avg", &r), 0);
    assert_int_equal(r, PROM_REDUCE_AVG);
    assert_int_equal(prom_reduce_parse("median", &r), -1);
    assert_string_equal(autoscale_dir_name(AUTOSCALE_DIR_IN), "in");
    assert_string_equal(prom_status_name(PROM_ERR_MULTIPLE), "multiple");
    assert_string_equal(prom_status_name(PROM_ERR_UNREACHABLE),
                        "unreachable");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_names),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("autoscale_decision", tests, NULL,
                                       NULL);
}
