/*
 * The autoscale decision: a pure function of (config, observations, rule
 * state, current capacity, clock), and the profile in force at an instant
 * (the schedules).  The semantics are in docs/autoscale.md.
 */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autoscale_decision.h"


static int     rule_holds(const autoscale_rule_config_t *r, double v);
static int64_t rule_result(const autoscale_rule_config_t *r, int64_t current);
static int64_t clamp(int64_t v, const autoscale_capacity_t *b);
static int     projection_safe(const autoscale_config_t *conf,
                               const autoscale_obs_t    *obs,
                               autoscale_rule_explain_t *ex, int64_t current,
                               int64_t n);


const char *
autoscale_dir_name(autoscale_dir_t dir)
{
    switch (dir) {
    case AUTOSCALE_DIR_OUT:
        return "out";
    case AUTOSCALE_DIR_IN:
        return "in";
    default:
        return "none";
    }
}


const char *
autoscale_op_name(autoscale_op_t op)
{
    static const char *const names[] = { ">", ">=", "<", "<=" };

    return (unsigned) op < 4 ? names[op] : "?";
}


int
autoscale_op_parse(const char *s, autoscale_op_t *op)
{
    autoscale_op_t i;

    for (i = AUTOSCALE_OP_GT; i <= AUTOSCALE_OP_LE; i++) {
        if (strcmp(s, autoscale_op_name(i)) == 0) {
            *op = i;
            return 0;
        }
    }

    return -1;
}


/* --- profiles: the one in force (docs/autoscale.md, "Schedules") ---- */

const autoscale_profile_config_t *
autoscale_profile_active(const autoscale_profile_config_t *profiles, size_t n,
                         time_t t, time_t *since, time_t *until)
{
    const autoscale_profile_config_t *p, *best, *fixed;
    time_t                            start, best_start, end, next, change;
    size_t                            i;

    /* the answer may change at the next start or end of any profile */
    change = t + 3600;
    fixed = NULL;

    for (i = 0; i < n; i++) {
        p = &profiles[i];

        if (p->kind == AUTOSCALE_PROFILE_FIXED) {
            if (p->start > t && p->start < change) {
                change = p->start;
            }
            if (p->end > t && p->end < change) {
                change = p->end;
            }
            if (fixed == NULL && p->start <= t && t < p->end) {
                fixed = p;
            }

        } else if (cron_next(&p->cron, p->timezone, t, &next) == 0
                   && next < change) {
            change = next;
        }
    }

    if (fixed) {
        if (since) {
            *since = fixed->start;
        }
        if (until) {
            *until = change;
        }
        return fixed;
    }

    best = NULL;
    best_start = 0;

    for (i = 0; i < n; i++) {
        p = &profiles[i];
        if (p->kind != AUTOSCALE_PROFILE_RECURRING) {
            continue;
        }
        if (cron_prev(&p->cron, p->timezone, t, &start) != 0) {
            continue;
        }
        /* on a tie the first listed wins */
        if (best == NULL || start > best_start) {
            best = p;
            best_start = start;
        }
    }

    if (best && best->has_until
        && cron_next(&best->until, best->timezone, best_start, &end) == 0)
    {
        if (end <= t) {
            best = NULL;
        } else if (end < change) {
            change = end;
        }
    }

    if (until) {
        *until = change;
    }

    if (best && since) {
        *since = best_start;
    }

    return best;
}


static int
rule_holds(const autoscale_rule_config_t *r, double v)
{
    switch (r->op) {
    case AUTOSCALE_OP_GT:
        return v > r->threshold;
    case AUTOSCALE_OP_GE:
        return v >= r->threshold;
    case AUTOSCALE_OP_LT:
        return v < r->threshold;
    case AUTOSCALE_OP_LE:
        return v <= r->threshold;
    }

    return 0;
}


/* the capacity the rule asks for from current, unclamped, never < 0 */
static int64_t
rule_result(const autoscale_rule_config_t *r, int64_t current)
{
    int64_t delta, v;

    switch (r->action) {
    case AUTOSCALE_ACTION_CHANGE:
        v = current + r->value;
        break;

    case AUTOSCALE_ACTION_PERCENT:
        /* rounded away from zero: +10 % of 3 is +1, -10 % of 3 is -1;
         * in integers, so 10 % of 10 is exactly 1 */
        delta =
            (current < 0 ? 0 : current) * (r->value < 0 ? -r->value : r->value);
        delta = (delta + 99) / 100;
        v = current + (r->value < 0 ? -delta : delta);
        break;

    default:
        v = r->value;
        break;
    }

    return v < 0 ? 0 : v;
}


static int64_t
clamp(int64_t v, const autoscale_capacity_t *b)
{
    if (v > b->max) {
        v = b->max;
    }
    if (v < b->min) {
        v = b->min;
    }

    return v < 0 ? 0 : v;
}


/*
 * Would capacity n (< current) make any out-rule's condition hold?  Fills
 * the out-rules' projected values.  Per-instance metrics scale with
 * current / n; totals do not move.
 */
static int
projection_safe(const autoscale_config_t *conf, const autoscale_obs_t *obs,
                autoscale_rule_explain_t *ex, int64_t current, int64_t n)
{
    const autoscale_rule_config_t *r;
    double                         p;
    size_t                         i;
    int                            safe;

    safe = 1;

    for (i = 0; i < conf->nrules; i++) {
        r = &conf->rules[i];

        if (ex[i].direction != AUTOSCALE_DIR_OUT || ex[i].status != PROM_OK) {
            continue;
        }

        if (!r->per_instance) {
            p = obs[i].value;
        } else if (n <= 0) {
            p = obs[i].value == 0 ? 0 : INFINITY;
        } else {
            p = obs[i].value * (double) current / (double) n;
        }

        ex[i].projected = p;

        if (rule_holds(r, p)) {
            safe = 0;
        }
    }

    return safe;
}


int64_t
autoscale_decide(const autoscale_config_t *conf, const autoscale_obs_t *obs,
                 autoscale_rule_state_t *state, int64_t current,
                 uint64_t now_ms, autoscale_decision_t *d)
{
    const autoscale_profile_config_t *profile;

    profile = autoscale_profile_active(conf->profiles, conf->nprofiles,
                                       (time_t) (now_ms / 1000), NULL, NULL);

    return autoscale_decide_profile(conf, profile, obs, state, current, now_ms,
                                    d);
}


int64_t
autoscale_decide_profile(const autoscale_config_t         *conf,
                         const autoscale_profile_config_t *profile,
                         const autoscale_obs_t            *obs,
                         autoscale_rule_state_t *state, int64_t current,
                         uint64_t now_ms, autoscale_decision_t *d)
{
    const autoscale_rule_config_t *r;
    autoscale_rule_explain_t      *ex;
    autoscale_rule_state_t        *st;
    autoscale_capacity_t           b;
    prom_status_t                  status;
    int64_t                        base, out_best, in_best, target, n;
    size_t                         i, nin, nin_fired, nerr;
    int                            out_fired, out_holding;
    char                           why[128];

    ex = d->rules;
    memset(d, 0, sizeof(*d));
    d->rules = ex;
    d->previous = current;

    d->profile = profile;
    b = d->profile ? d->profile->capacity : conf->capacity;
    d->bounds = b;

    /* manual or old capacity outside the active profile: clamp at once */
    base = clamp(current < 0 ? 0 : current, &b);

    /* --- evaluate every rule --- */

    nerr = 0;
    out_fired = 0;
    out_holding = 0;
    out_best = base;
    in_best = -1;
    nin = 0;
    nin_fired = 0;

    for (i = 0; i < conf->nrules; i++) {
        r = &conf->rules[i];
        st = &state[i];

        memset(&ex[i], 0, sizeof(ex[i]));

        status = obs[i].status;
        if ((unsigned) status >= PROM_STATUS_COUNT) {
            status = PROM_ERR_PARSE;
        } else if (status == PROM_OK && !isfinite(obs[i].value)) {
            status = PROM_ERR_NAN;
        }

        ex[i].status = status;
        ex[i].value = obs[i].value;
        ex[i].for_ms = r->for_ms;
        ex[i].projected = NAN;
        ex[i].result = rule_result(r, base);
        ex[i].status_changed = (status != st->last_status);
        st->last_status = status;

        if (ex[i].result > base) {
            ex[i].direction = AUTOSCALE_DIR_OUT;
        } else if (ex[i].result < base) {
            ex[i].direction = AUTOSCALE_DIR_IN;
        } else if (r->action == AUTOSCALE_ACTION_EXACT) {
            ex[i].direction = AUTOSCALE_DIR_NONE;
        } else {
            /* change/percent with nothing to change (e.g. 0 instances) */
            ex[i].direction = (r->value > 0)   ? AUTOSCALE_DIR_OUT
                              : (r->value < 0) ? AUTOSCALE_DIR_IN
                                               : AUTOSCALE_DIR_NONE;
        }

        if (ex[i].direction == AUTOSCALE_DIR_IN) {
            nin++;
        }

        if (st->last_action_ms && now_ms < st->last_action_ms + r->cooldown_ms)
        {
            ex[i].cooldown_left_ms =
                st->last_action_ms + r->cooldown_ms - now_ms;
        }

        if (status != PROM_OK) {
            /* no data: no action, and the window starts over */
            nerr++;
            st->errors[status]++;
            st->held_since_ms = 0;
            snprintf(ex[i].reason, sizeof(ex[i].reason), "no value (%s)",
                     prom_status_name(status));
            continue;
        }

        ex[i].holds = rule_holds(r, obs[i].value);

        if (!ex[i].holds) {
            st->held_since_ms = 0;
            snprintf(ex[i].reason, sizeof(ex[i].reason), "%g %s %g is false",
                     obs[i].value, autoscale_op_name(r->op), r->threshold);
            continue;
        }

        if (st->held_since_ms == 0) {
            st->held_since_ms = now_ms;
        }
        ex[i].held_ms = now_ms - st->held_since_ms;

        if (ex[i].direction == AUTOSCALE_DIR_OUT) {
            out_holding = 1;
        }

        if (ex[i].held_ms < r->for_ms) {
            snprintf(ex[i].reason, sizeof(ex[i].reason),
                     "holding for %llus of %llus",
                     (unsigned long long) ex[i].held_ms / 1000,
                     (unsigned long long) r->for_ms / 1000);
            continue;
        }

        if (ex[i].cooldown_left_ms) {
            snprintf(ex[i].reason, sizeof(ex[i].reason),
                     "held, in cooldown for %llus",
                     (unsigned long long) (ex[i].cooldown_left_ms + 999)
                         / 1000);
            continue;
        }

        if (ex[i].direction == AUTOSCALE_DIR_NONE) {
            snprintf(ex[i].reason, sizeof(ex[i].reason),
                     "held, capacity already %lld", (long long) base);
            continue;
        }

        ex[i].fired = 1;
        snprintf(ex[i].reason, sizeof(ex[i].reason), "fired: %lld -> %lld",
                 (long long) base, (long long) ex[i].result);

        if (ex[i].direction == AUTOSCALE_DIR_OUT) {
            out_fired = 1;
            if (ex[i].result > out_best) {
                out_best = ex[i].result;
            }

        } else {
            nin_fired++;
            if (in_best < 0 || ex[i].result > in_best) {
                in_best = ex[i].result;
            }
        }
    }

    /* --- combine --- */

    target = base;
    d->direction = AUTOSCALE_DIR_NONE;

    if (out_fired) {
        target = out_best;
        d->direction = AUTOSCALE_DIR_OUT;
        snprintf(why, sizeof(why), "scale-out rule fired");

    } else if (nerr && base < b.def) {
        /* missing metrics below the default: go to the default */
        target = b.def;
        d->direction = AUTOSCALE_DIR_OUT;
        snprintf(why, sizeof(why),
                 "metrics missing and capacity below default %lld",
                 (long long) b.def);

    } else if (nin > 0 && nin_fired == nin && nerr == 0 && !out_holding) {
        target = in_best;
        d->direction = AUTOSCALE_DIR_IN;
        snprintf(why, sizeof(why), "all %zu scale-in rules fired", nin);

    } else if (nin_fired > 0) {
        snprintf(why, sizeof(why), "%s",
                 nerr          ? "no scale-in: metrics missing"
                 : out_holding ? "no scale-in: a scale-out rule holds"
                               : "no scale-in: not all scale-in rules fired");

    } else {
        snprintf(why, sizeof(why), "no rule fired");
    }

    target = clamp(target, &b);

    if (conf->max_step > 0) {
        if (target > base + conf->max_step) {
            target = base + conf->max_step;
        } else if (target < base - conf->max_step) {
            target = base - conf->max_step;
        }
    }

    /* --- flapping: project the out-rules onto the smaller capacity --- */

    if (d->direction == AUTOSCALE_DIR_IN && target < base) {
        for (n = target; n < base; n++) {
            if (projection_safe(conf, obs, ex, base, n)) {
                break;
            }
        }

        if (n == base) {
            d->flapping = 2;
            target = base;
            d->direction = AUTOSCALE_DIR_NONE;
            snprintf(why, sizeof(why),
                     "flapping: scale-in skipped, any smaller capacity "
                     "would fire a scale-out rule");
        } else if (n != target) {
            d->flapping = 1;
            snprintf(why, sizeof(why),
                     "flapping: partial scale-in to %lld instead of %lld",
                     (long long) n, (long long) target);
            target = n;
        }
    }

    if (target == base && d->direction != AUTOSCALE_DIR_NONE) {
        d->direction = AUTOSCALE_DIR_NONE;
        if (!d->flapping) {
            snprintf(why + strlen(why), sizeof(why) - strlen(why),
                     ", at the limit");
        }
    }

    /* the rules that moved capacity start their cooldown */
    if (target != base) {
        d->acted = 1;
        for (i = 0; i < conf->nrules; i++) {
            if (ex[i].fired && ex[i].direction == d->direction) {
                state[i].last_action_ms = now_ms;
                state[i].held_since_ms = 0;
                state[i].actions[d->direction]++;
            }
        }
    }

    d->capacity = target;

    snprintf(d->reason, sizeof(d->reason),
             "%lld -> %lld%s: %s "
             "(profile %s, min %lld, max %lld)",
             (long long) current, (long long) target,
             base != current ? " (clamped)" : "", why,
             d->profile ? d->profile->name : "default", (long long) b.min,
             (long long) b.max);

    return target;
}
