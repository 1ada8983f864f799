/*
 * repair.c: a pool's repair state (repair_state_t) as Redis keeps it,
 * PREFIX{POOL}:repair, a hash:
 *
 *   state     active | suspended
 *   failures  failures of new or repaired instances in a row
 *   since     UNIX ms it was suspended (0: active)
 *   retry     UNIX ms before which nothing is created (the backoff; 0)
 *   reason    the last failure, in words
 *
 * The passes own it (plan_repair_failed() changes it, act stores it when
 * it changed); POST /v1/pools/{pool}/repair/resume writes it back to
 * active.  What is read is input: a field that is no value of its kind
 * is skipped (the state as this scaler knew it is kept for it) and
 * counted.
 */

#include <stdio.h>
#include <string.h>

#include "scaler.h"

const char *
repair_state_name(const repair_state_t *rs)
{
    return rs->suspended ? "suspended" : "active";
}

/* field f (len bytes) of h is name */
static int
is(const registry_hash_t *h, int i, const char *name)
{
    return h->flen[i] == strlen(name)
           && memcmp(h->field[i], name, h->flen[i]) == 0;
}

int
repair_decode(const registry_hash_t *h, uint64_t now, repair_state_t *rs)
{
    repair_state_t r = *rs;
    uint64_t       v;
    int            i, refused = 0;

    if (h->n == 0) {
        /* nothing stored (or deleted by hand): active, no failure */
        memset(rs, 0, sizeof(*rs));
        return 0;
    }
    for (i = 0; i < h->n; i++) {
        if (is(h, i, "state")) {
            if (h->vlen[i] == 6 && memcmp(h->value[i], "active", 6) == 0) {
                r.suspended = 0;
            } else if (h->vlen[i] == 9
                       && memcmp(h->value[i], "suspended", 9) == 0) {
                r.suspended = 1;
            } else {
                refused++;
            }
        } else if (is(h, i, "reason")) {
            if (h->vlen[i] < sizeof(r.reason)
                && memchr(h->value[i], '\0', h->vlen[i]) == NULL)
            {
                memcpy(r.reason, h->value[i], h->vlen[i]);
                r.reason[h->vlen[i]] = '\0';
            } else {
                refused++;
            }
        } else if (is(h, i, "failures") || is(h, i, "since")
                   || is(h, i, "retry")) {
            if (scaleset_parse_u64(
                    h->value[i], h->vlen[i],
                    is(h, i, "failures") ? 1000000 : SCALESET_UNIX_MS_MAX, &v)
                    != 0
                || (!is(h, i, "failures") && v > now + 86400000ULL * 7))
            {
                refused++; /* no number, or a time far ahead */
            } else if (is(h, i, "failures")) {
                r.failures = (unsigned) v;
            } else if (is(h, i, "since")) {
                r.since = v;
            } else {
                r.retry = v;
            }
        } else {
            refused++;
        }
    }
    *rs = r;
    return refused;
}

int
repair_equal(const repair_state_t *a, const repair_state_t *b)
{
    return a->suspended == b->suspended && a->failures == b->failures
           && a->since == b->since && a->retry == b->retry
           && strcmp(a->reason, b->reason) == 0;
}

void
repair_fields(const repair_state_t *rs, char num[3][24], const char *fv[10])
{
    snprintf(num[0], 24, "%u", rs->failures);
    snprintf(num[1], 24, "%llu", (unsigned long long) rs->since);
    snprintf(num[2], 24, "%llu", (unsigned long long) rs->retry);
    fv[0] = "state";
    fv[1] = repair_state_name(rs);
    fv[2] = "failures";
    fv[3] = num[0];
    fv[4] = "since";
    fv[5] = num[1];
    fv[6] = "retry";
    fv[7] = num[2];
    fv[8] = "reason";
    fv[9] = rs->reason;
}

int
repair_store(registry_t *reg, const char *pool, const repair_state_t *rs)
{
    char        num[3][24];
    const char *fv[10];

    repair_fields(rs, num, fv);
    return registry_hash_write(reg, pool, SCALESET_KEY_REPAIR, fv, 5);
}
