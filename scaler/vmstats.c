/*
 * vmstats.c: host-side VM metrics from libvirt, so CPU-based autoscale
 * rules need no agent in the guest.  Once per pass, one
 * virConnectGetAllDomainStats(CPU_TOTAL | BALLOON) per zone connection;
 * the records of the pool's instances in that zone are kept until the
 * next pass and exported as
 *
 *   scaleset_scaler_instance_cpu_seconds_total{pool,zone,instance}
 *   scaleset_scaler_instance_memory_bytes{pool,zone,instance}
 *
 * A driver whose stats lack cpu.time / balloon.current (the test driver
 * returns only the state) is asked virDomainGetInfo for that domain.  An
 * instance that is gone from the pool is gone from the next export.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <libvirt/libvirt.h>

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

/* the instance of ps in zone z named name (its domain name is its id) */
static int
id_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* the ids of ps's instances in zone z (not being deleted), sorted, for
   owned(); *n their count; NULL when none or out of memory */
static const char **
zone_ids(const pool_state_t *ps, int z, int *n)
{
    const char  **ids = malloc((ps->ninst + 1) * sizeof(*ids));
    int           i;

    *n = 0;
    if (ids == NULL) {
        return NULL;
    }
    for (i = 0; i < ps->ninst; i++) {
        if (ps->inst[i].zone == z && ps->inst[i].state != INST_DELETING) {
            ids[(*n)++] = ps->inst[i].id;
        }
    }
    qsort(ids, *n, sizeof(*ids), id_cmp);
    return ids;
}

static int
owned(const char **ids, int n, const char *name)
{
    return n > 0 && bsearch(&name, ids, n, sizeof(*ids), id_cmp) != NULL;
}

static void
zone_pass(const pool_state_t *ps, int z, vmstats_t *l)
{
    virConnectPtr        c;
    virDomainStatsRecordPtr *recs = NULL;
    virDomainInfo        info;
    vmstat_t            *v;
    const char          *name;
    unsigned long long   ull;
    const char         **ids;
    int                  n, i, nids, have_cpu, have_mem;

    if (ps->conns[z] == NULL || (c = virt_conn_ref(ps->conns[z])) == NULL) {
        return;
    }
    ids = zone_ids(ps, z, &nids);
    n = virConnectGetAllDomainStats(c, VIR_DOMAIN_STATS_CPU_TOTAL
                                    | VIR_DOMAIN_STATS_BALLOON, &recs,
                                    VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
    for (i = 0; i < n; i++) {
        name = virDomainGetName(recs[i]->dom);
        if (name == NULL || !owned(ids, nids, name) || (v = vs_add(l)) == NULL) {
            continue;
        }
        snprintf(v->pool, sizeof(v->pool), "%s", ps->cf->name);
        snprintf(v->zone, sizeof(v->zone), "%s", ps->cf->zones[z].name);
        snprintf(v->id, sizeof(v->id), "%s", name);
        have_cpu = virTypedParamsGetULLong(recs[i]->params,
                                           recs[i]->nparams, "cpu.time",
                                           &ull) == 1;
        v->cpu_s = have_cpu ? ull / 1e9 : 0;
        have_mem = virTypedParamsGetULLong(recs[i]->params,
                                           recs[i]->nparams,
                                           "balloon.current", &ull) == 1;
        v->mem_bytes = have_mem ? ull * 1024 : 0;
        if ((!have_cpu || !have_mem)
            && virDomainGetInfo(recs[i]->dom, &info) == 0)
        {
            if (!have_cpu) {
                v->cpu_s = info.cpuTime / 1e9;
            }
            if (!have_mem) {
                v->mem_bytes = (unsigned long long) info.memory * 1024;
            }
        }
    }
    if (recs) {
        virDomainStatsRecordListFree(recs);
    }
    free(ids);
    virConnectClose(c);
}

void
vmstats_pool(const pool_state_t *ps)
{
    vmstats_t  l = { NULL, 0, 0 };
    vmstat_t  *v;
    size_t     i, k;
    int        z;

    for (z = 0; z < ps->cf->nzones; z++) {
        zone_pass(ps, z, &l);
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

int
vmstats_metrics(struct evbuffer *out, scaler_t *s)
{
    size_t  i;

    evbuffer_add_printf(out,
        "# HELP scaleset_scaler_instance_cpu_seconds_total CPU time of the "
        "instance's domain (libvirt)\n"
        "# TYPE scaleset_scaler_instance_cpu_seconds_total counter\n");
    pthread_mutex_lock(&vs_lock);
    for (i = 0; i < vs.n; i++) {
        if (reconcile_pool(s, vs.v[i].pool) == NULL) {
            continue;           /* a pool removed by a reload */
        }
        evbuffer_add_printf(out, "scaleset_scaler_instance_cpu_seconds_total"
                            "{pool=\"%s\",zone=\"%s\",instance=\"%s\"} %.9f\n",
                            vs.v[i].pool, vs.v[i].zone, vs.v[i].id, vs.v[i].cpu_s);
    }
    evbuffer_add_printf(out,
        "# HELP scaleset_scaler_instance_memory_bytes memory of the "
        "instance's domain (libvirt balloon)\n"
        "# TYPE scaleset_scaler_instance_memory_bytes gauge\n");
    for (i = 0; i < vs.n; i++) {
        if (reconcile_pool(s, vs.v[i].pool) == NULL) {
            continue;
        }
        evbuffer_add_printf(out, "scaleset_scaler_instance_memory_bytes"
                            "{pool=\"%s\",zone=\"%s\",instance=\"%s\"} %llu\n",
                            vs.v[i].pool, vs.v[i].zone, vs.v[i].id,
                            vs.v[i].mem_bytes);
    }
    pthread_mutex_unlock(&vs_lock);
    return 0;
}

void
vmstats_free(void)
{
    pthread_mutex_lock(&vs_lock);
    free(vs.v);
    memset(&vs, 0, sizeof(vs));
    pthread_mutex_unlock(&vs_lock);
}
