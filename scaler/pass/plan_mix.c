/*
 * plan_mix.c: which template a flexible pool's next instance is made
 * from, and which template gives one up on a scale-in (docs/scaler.md,
 * "Flexible pools").  Pure.
 *
 * The capacity is in weight units (AWS's weighted capacity): an
 * instance of a template of weight 2 provides 2.  mix_targets() says how
 * many instances of each template a capacity asks for: filled one
 * instance at a time, each to the template whose units would stand
 * lowest against its share of the mix ((units + weight) / share, the
 * Sainte-Lague rule, the heavier on a tie: a template of weight 2 and
 * one of weight 1 at 50/50 get the same units), or without a mix to the first
 * template that can take one (the first template first); never beyond a
 * template's max_percent of the capacity; until the units reach the
 * capacity.  When the template chosen is heavier than the units still
 * missing and another one fits them, that one is taken, so the capacity
 * is met exactly where it can be; else it is exceeded by the last
 * instance, never undershot.  The capacity step creates where a
 * template is below its target and removes where one is above it, so a
 * scale-out and the scale-in back keep the mix.
 */

#include <limits.h>
#include <string.h>

#include "plan.h"

/* 1 when template a would stand lower than b after one more instance:
   (u_a + w_a) / s_a < (u_b + w_b) / s_b, in integers; on a tie the
   heavier one (the same units in fewer instances) */
static int
lower(const mix_template_t *t, const int *count, int a, int b)
{
    long long ua = (long long) (count[a] + 1) * t[a].weight * t[b].share;
    long long ub = (long long) (count[b] + 1) * t[b].weight * t[a].share;

    return ua < ub || (ua == ub && t[a].weight > t[b].weight);
}

/* 1 when template k can take one more instance within its bound */
static int
room(const mix_template_t *t, const int *count, int k)
{
    return t[k].weight > 0
           && (long long) (count[k] + 1) * t[k].weight <= t[k].max_units;
}

int
mix_next(const mix_template_t *t, int n, int mixed, const int *count,
         int missing)
{
    int k, best = -1, fit = -1;

    for (k = 0; k < n; k++) {
        if (!room(t, count, k) || (mixed && t[k].share <= 0)) {
            continue;
        }
        if (best < 0 || (mixed && lower(t, count, k, best))) {
            best = k;
        }
    }
    if (best < 0 || t[best].weight <= missing) {
        return best;
    }
    /* heavier than what is missing: another that fits, by the same
       order */
    for (k = 0; k < n; k++) {
        if (room(t, count, k) && (!mixed || t[k].share > 0)
            && t[k].weight <= missing
            && (fit < 0 || (mixed && lower(t, count, k, fit))))
        {
            fit = k;
        }
    }
    return fit >= 0 ? fit : best;
}

void
mix_targets(const mix_template_t *t, int n, int mixed, int capacity, int *count)
{
    int units = 0, k;

    memset(count, 0, n * sizeof(int));
    while (units < capacity) {
        if ((k = mix_next(t, n, mixed, count, capacity - units)) < 0) {
            break; /* every template at its bound */
        }
        count[k]++;
        units += t[k].weight;
    }
}

int
mix_pick_out(const mix_template_t *t, int n, int mixed, const int *target,
             const int *count, int missing)
{
    long long d, best_d = 0;
    int       k, best = -1;

    for (k = 0; k < n; k++) {
        d = (long long) (target[k] - count[k]) * t[k].weight;
        if (d > best_d && room(t, count, k)) {
            best = k;
            best_d = d;
        }
    }
    /* none below its target (the others are above theirs): as the
       targets are filled */
    return best >= 0 ? best : mix_next(t, n, mixed, count, missing);
}

int
mix_pick_in(const mix_template_t *t, int n, const int *target, const int *count,
            const int *removable, int spare)
{
    long long e, best_e = 0;
    int       k, best = -1;

    for (k = 0; k < n; k++) {
        e = (long long) (count[k] - target[k]) * t[k].weight;
        if (removable[k] > 0 && t[k].weight <= spare && e > 0 && e >= best_e) {
            best = k; /* ties: the later template */
            best_e = e;
        }
    }
    return best;
}
