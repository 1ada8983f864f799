/*
 * policy.c: pure decisions: zone and host placement and scale-in choice.
 */

#include <string.h>

#include "scaler.h"
#include "scaleset_record.h"

int
policy_place(const int *count, const int *usable, int nzones)
{
    int i, best = -1;

    for (i = 0; i < nzones; i++) {
        if (usable[i] && (best < 0 || count[i] < count[best])) {
            best = i;
        }
    }
    return best;
}

int
policy_place_host(const int *count, const unsigned long long *free_mem,
                  const int *usable, int n)
{
    int i, best = -1;

    for (i = 0; i < n; i++) {
        if (!usable[i]) {
            continue;
        }
        if (best < 0 || count[i] < count[best]
            || (count[i] == count[best] && free_mem[i] > free_mem[best]))
        {
            best = i;
        }
    }
    return best;
}

int
policy_scale_in(const policy_instance_t *inst, int n, int nzones,
                scale_in_policy_t policy)
{
    int count[SCALER_MAX_ZONES] = { 0 };
    int hcount[SCALER_MAX_HOSTS] = { 0 };
    int i, big = 0, hbig = -1, best = -1;

    if (n <= 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (inst[i].zone >= 0 && inst[i].zone < nzones) {
            count[inst[i].zone]++;
        }
        if (inst[i].host >= 0 && inst[i].host < SCALER_MAX_HOSTS) {
            hcount[inst[i].host]++;
        }
    }
    /* balance zones first: only the largest zones give an instance */
    for (i = 0; i < nzones; i++) {
        if (count[i] > count[big]) {
            big = i;
        }
    }
    /* then hosts: the largest host among those zones' instances */
    for (i = 0; i < n; i++) {
        if (inst[i].zone >= 0 && inst[i].zone < nzones
            && count[inst[i].zone] != count[big])
        {
            continue;
        }
        if (inst[i].host >= 0 && inst[i].host < SCALER_MAX_HOSTS
            && (hbig < 0 || hcount[inst[i].host] > hbig))
        {
            hbig = hcount[inst[i].host];
        }
    }
    for (i = 0; i < n; i++) {
        if (inst[i].zone >= 0 && inst[i].zone < nzones
            && count[inst[i].zone] != count[big])
        {
            continue;
        }
        if (inst[i].host >= 0 && inst[i].host < SCALER_MAX_HOSTS
            && hcount[inst[i].host] != hbig)
        {
            continue;
        }
        if (best < 0
            || (policy == SCALE_IN_OLDEST ? inst[i].seq < inst[best].seq
                                          : inst[i].seq > inst[best].seq))
        {
            best = i;
        }
    }
    return best;
}

long
policy_id_seq(const char *id)
{
    const char *dash = strrchr(id, '-');
    uint64_t    v;

    if (dash == NULL
        || scaleset_parse_u64(dash + 1, strlen(dash + 1),
                              (uint64_t) POLICY_SEQ_MAX, &v)
               != 0)
    {
        return 0;
    }
    return (long) v;
}

int
policy_stored_capacity(const char *raw, size_t len, int lo, int hi, int *cap)
{
    uint64_t v;

    if (scaleset_parse_u64(raw, len, UINT64_MAX, &v) != 0) {
        return -1; /* not a number, negative, or beyond 2^64 */
    }
    if (v < (uint64_t) lo) {
        *cap = lo;
        return 1;
    }
    if (v > (uint64_t) hi) {
        *cap = hi;
        return 1;
    }
    *cap = (int) v;
    return 0;
}

int
policy_failed_over(uint64_t down_since, uint64_t now, uint64_t failover_ms)
{
    return down_since != 0 && now >= down_since
           && now - down_since >= failover_ms;
}

int
policy_parse_name(const char *s, scale_in_policy_t *p)
{
    if (strcmp(s, "default") == 0) {
        *p = SCALE_IN_DEFAULT;
    } else if (strcmp(s, "oldest") == 0) {
        *p = SCALE_IN_OLDEST;
    } else if (strcmp(s, "newest") == 0) {
        *p = SCALE_IN_NEWEST;
    } else {
        return -1;
    }
    return 0;
}
