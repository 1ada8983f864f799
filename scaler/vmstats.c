/*
 * vmstats.c: host-side VM metrics from libvirt, so CPU-based autoscale
 * rules need no agent in the guest.  A pass lists each zone with one
 * virConnectGetAllDomainStats(STATE | CPU_TOTAL | BALLOON) (virt.c); the
 * running instances' CPU time and memory from it are kept until the next
 * pass and exported as
 *
 *   scaleset_scaler_instance_cpu_seconds_total{pool,zone,instance}
 *   scaleset_scaler_instance_memory_bytes{pool,zone,instance}
 *
 * A driver whose stats lack cpu.time / balloon.current (the test driver
 * returns only the state) is asked virDomainGetInfo for that domain.  An
 * instance that is gone from the pool, or in a zone that did not answer
 * the pass, is gone from the next export.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scaler.h"

typedef struct {
    char                 pool[64];
    char                 zone[64];
    char                 id[64];
    double               cpu_s;
    unsigned long long   mem_bytes;
} vmstat_t;

typedef struct {
    vmstat_t  *v;
    size_t     n, c;
} vmstats_t;

static pthread_mutex_t  vs_lock = PTHREAD_MUTEX_INITIALIZER;
static vmstats_t        vs;            /* every pool's, under vs_lock */

static vmstat_t *
vs_add(vmstats_t *l)
{
    vmstat_t  *n;

    if (l->n == l->c) {
        n = realloc(l->v, (l->c ? l->c * 2 : 16) * sizeof(*l->v));
        if (n == NULL) {
            return NULL;
        }
        l->v = n;
        l->c = l->c ? l->c * 2 : 16;
    }
    memset(&l->v[l->n], 0, sizeof(*l->v));
    return &l->v[l->n++];
}

void
vmstats_pool(const pool_state_t *ps)
{
    vmstats_t          l = { NULL, 0, 0 };
    vmstat_t          *v;
    const instance_t  *in;
    size_t             i, k;
    int                j;

    for (j = 0; j < ps->ninst; j++) {
        in = &ps->inst[j];
        if (!in->stats || in->state == INST_DELETING
            || (v = vs_add(&l)) == NULL)
        {
            continue;
        }
        snprintf(v->pool, sizeof(v->pool), "%s", ps->cf->name);
        snprintf(v->zone, sizeof(v->zone), "%s",
                 ps->cf->zones[in->zone].name);
        snprintf(v->id, sizeof(v->id), "%s", in->id);
        v->cpu_s = in->cpu_s;
        v->mem_bytes = in->mem_bytes;
    }
    pthread_mutex_lock(&vs_lock);
    for (i = 0, k = 0; i < vs.n; i++) {
        if (strcmp(vs.v[i].pool, ps->cf->name) != 0) {
            vs.v[k++] = vs.v[i];
        }
    }
    vs.n = k;
    for (i = 0; i < l.n; i++) {
        if ((v = vs_add(&vs)) != NULL) {
            *v = l.v[i];
        }
    }
    pthread_mutex_unlock(&vs_lock);
    free(l.v);
}

void
vmstats_metrics(expo_t *e, scaler_t *s)
{
    size_t  i;
    int     m;

    pthread_mutex_lock(&vs_lock);
    for (m = 0; m < 2; m++) {
        if (m == 0) {
            expo_family(e, "scaleset_scaler_instance_cpu_seconds_total",
                        "counter", "CPU time of the instance's domain "
                        "(libvirt).");
        } else {
            expo_family(e, "scaleset_scaler_instance_memory_bytes", "gauge",
                        "Memory of the instance's domain (libvirt "
                        "balloon).");
        }
        for (i = 0; i < vs.n; i++) {
            if (reconcile_pool(s, vs.v[i].pool) == NULL) {
                continue;           /* a pool removed by a reload */
            }
            expo_sample(e, m == 0 ? vs.v[i].cpu_s
                           : (double) vs.v[i].mem_bytes,
                        "pool", vs.v[i].pool, "zone", vs.v[i].zone,
                        "instance", vs.v[i].id, NULL);
        }
    }
    pthread_mutex_unlock(&vs_lock);
}

void
vmstats_free(void)
{
    pthread_mutex_lock(&vs_lock);
    free(vs.v);
    memset(&vs, 0, sizeof(vs));
    pthread_mutex_unlock(&vs_lock);
}
