
/*
 * ngx_http_scaleset_module: the smooth weighted round robin schedule.
 *
 * At step t of nginx's algorithm a member's current weight is
 * t * w - T * picks (T the total weight), so members of the same weight
 * keep their relative order: each weight group is a rotating queue and a
 * step compares only the group heads, O(T * distinct weights) instead of
 * O(T * n).
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_scaleset_sched.h"


typedef struct {
    uint64_t                        picks;
    size_t                          first;     /* in order[] */
    size_t                          n;
    size_t                          head;      /* rotation */
    uint32_t                        weight;
} ngx_http_scaleset_wgroup_t;


static uint32_t ngx_http_scaleset_sched_gcd(uint32_t a, uint32_t b);
static int ngx_http_scaleset_sched_cmp(const void *a, const void *b);


size_t
ngx_http_scaleset_sched_work_size(size_t n)
{
    return n * (sizeof(ngx_http_scaleset_wgroup_t) + sizeof(size_t)
                + 2 * sizeof(uint32_t));
}


size_t
ngx_http_scaleset_sched_build(const uint32_t *weight, size_t n,
    uint32_t *sched, size_t cap, void *work, uint64_t *scaled)
{
    size_t                       i, j, g, ngroups, best, *order;
    int64_t                      cw, best_cw;
    uint32_t                     d, *w, *ws;
    uint64_t                     total, t;
    ngx_http_scaleset_wgroup_t  *groups, *grp;

    *scaled = 0;

    if (n > cap) {
        n = cap;
    }

    if (n == 0) {
        return 0;
    }

    groups = work;
    order = (size_t *) (groups + n);
    w = (uint32_t *) (order + n);
    ws = w + n;

    d = 0;
    for (i = 0; i < n; i++) {
        w[i] = weight[i] ? weight[i] : 1;
        d = ngx_http_scaleset_sched_gcd(d, w[i]);
    }

    total = 0;
    for (i = 0; i < n; i++) {
        w[i] /= d;
        total += w[i];
    }

    if (total > cap) {
        *scaled = total;

        t = total;
        total = 0;
        for (i = 0; i < n; i++) {
            w[i] = (uint32_t) ((uint64_t) w[i] * (cap - n) / t);
            if (w[i] == 0) {
                w[i] = 1;
            }

            total += w[i];
        }
    }

    if (total == n) {
        /* all weights equal: the members in order */
        for (i = 0; i < n; i++) {
            sched[i] = (uint32_t) i;
        }

        return n;
    }

    /* group the members by weight, each group in member order */

    memcpy(ws, w, n * sizeof(uint32_t));
    qsort(ws, n, sizeof(uint32_t), ngx_http_scaleset_sched_cmp);

    ngroups = 0;
    for (i = 0; i < n; i++) {
        if (i == 0 || ws[i] != ws[i - 1]) {
            grp = &groups[ngroups++];
            grp->weight = ws[i];
            grp->n = 0;
            grp->head = 0;
            grp->picks = 0;
        }
    }

    j = 0;
    for (g = 0; g < ngroups; g++) {
        groups[g].first = j;

        for (i = 0; i < n; i++) {
            if (w[i] == groups[g].weight) {
                order[j++] = i;
                groups[g].n++;
            }
        }
    }

    /*
     * Within a group the head has the fewest picks (picks / n of the
     * group) and, among equals, the lowest position; ties between groups
     * go to the lowest position too, as in nginx, which scans in order.
     */

    for (t = 1; t <= total; t++) {
        best = ngroups;
        best_cw = 0;

        for (g = 0; g < ngroups; g++) {
            grp = &groups[g];

            cw = (int64_t) (t * grp->weight)
                 - (int64_t) (total * (grp->picks / grp->n));

            if (best == ngroups || cw > best_cw
                || (cw == best_cw
                    && order[grp->first + grp->head]
                       < order[groups[best].first + groups[best].head]))
            {
                best = g;
                best_cw = cw;
            }
        }

        grp = &groups[best];
        sched[t - 1] = (uint32_t) order[grp->first + grp->head];
        grp->picks++;
        grp->head = (grp->head + 1) % grp->n;
    }

    return (size_t) total;
}


static uint32_t
ngx_http_scaleset_sched_gcd(uint32_t a, uint32_t b)
{
    uint32_t  t;

    while (b) {
        t = a % b;
        a = b;
        b = t;
    }

    return a;
}


static int
ngx_http_scaleset_sched_cmp(const void *a, const void *b)
{
    uint32_t  x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return (x > y) - (x < y);
}
