/*
 * history.c: the last hour of each pool in memory, for the dashboard's
 * chart and its list of decisions (GET /v1/pools/{pool}/history): the
 * desired and running capacity, each autoscale rule's last value and,
 * with a Prometheus configured, the pool's requests/s and active
 * connections through every gateway (two queries per pool and sample),
 * sampled at most every HISTORY_STEP_MS, and the last HISTORY_DECISIONS
 * capacity changes with the rule values that made them.  Kept by pool
 * name, so a reload keeps it; everything runs on the event loop under
 * the reconcile lock (the mutex guards against anything else).
 */

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "scaler.h"

#define HISTORY_STEP_MS   5000
#define HISTORY_SLOTS     720 /* one hour of 5 s steps */
#define HISTORY_SERIES    34  /* desired, running, 32 rules */
#define HISTORY_DECISIONS 20
#define HISTORY_POOLS     64

typedef struct {
    char   name[AUTOSCALE_NAME_MAX + 8]; /* "desired", "rule:busy" */
    double v[HISTORY_SLOTS];
} history_series_t;

/* the gateways' traffic of a pool from Prometheus: the last answers */
#define HISTORY_TRAFFIC 2

typedef struct history_pool_s history_pool_t;

typedef struct {
    history_pool_t *h;
    int             which;
    int             inflight;
    prom_client_t  *client; /* the one asked */
    double          value;  /* NaN: no answer */
} history_query_t;

struct history_pool_s {
    char             pool[64];
    uint64_t         t[HISTORY_SLOTS]; /* UNIX ms, 0: empty */
    int              head;             /* next slot */
    int              n;                /* slots filled */
    history_series_t series[HISTORY_SERIES];
    int              nseries;
    json_t          *decisions[HISTORY_DECISIONS]; /* oldest first */
    int              ndecisions;
    history_query_t  traffic[HISTORY_TRAFFIC];
};

static const struct {
    const char *series;
    const char *query; /* %s: the pool */
} hist_traffic[HISTORY_TRAFFIC] = {
    { "requests_per_s",
      "sum(irate(scaleset_upstream_requests_total{pool=\"%s\"}[1m]))" },
    { "active_connections",
      "sum(scaleset_upstream_active_connections{pool=\"%s\"})" },
};

static history_pool_t *hist[HISTORY_POOLS];
static int             nhist;
static pthread_mutex_t hist_lock = PTHREAD_MUTEX_INITIALIZER;

static history_pool_t *hist_pool(const char *pool, int create);
static int             hist_series(history_pool_t *h, const char *name);
static void            hist_decision(const char *pool, json_t *d);
static json_t         *num_or_null(double v);
static void            hist_traffic_done(const prom_result_t *res, void *arg);
static void            hist_traffic_ask(history_pool_t *h);

static uint64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *
num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static history_pool_t *
hist_pool(const char *pool, int create)
{
    int i;

    for (i = 0; i < nhist; i++) {
        if (strcmp(hist[i]->pool, pool) == 0) {
            return hist[i];
        }
    }
    if (!create || nhist == HISTORY_POOLS
        || strlen(pool) >= sizeof(hist[0]->pool)) {
        return NULL;
    }
    hist[nhist] = xcalloc(1, sizeof(history_pool_t));
    snprintf(hist[nhist]->pool, sizeof(hist[nhist]->pool), "%s", pool);
    for (i = 0; i < HISTORY_TRAFFIC; i++) {
        hist[nhist]->traffic[i].h = hist[nhist];
        hist[nhist]->traffic[i].which = i;
        hist[nhist]->traffic[i].value = NAN;
    }
    return hist[nhist++];
}

/* index of the series called name (new ones start empty: NaN), -1 when
   the table is full */
static int
hist_series(history_pool_t *h, const char *name)
{
    int i, k;

    for (i = 0; i < h->nseries; i++) {
        if (strcmp(h->series[i].name, name) == 0) {
            return i;
        }
    }
    if (h->nseries == HISTORY_SERIES) {
        return -1;
    }
    snprintf(h->series[i].name, sizeof(h->series[i].name), "%s", name);
    for (k = 0; k < HISTORY_SLOTS; k++) {
        h->series[i].v[k] = NAN;
    }
    h->nseries++;
    return i;
}

/* on the loop; a client freed with the query in flight never calls (the
   next ask sees another client and starts again) */
static void
hist_traffic_done(const prom_result_t *res, void *arg)
{
    history_query_t *q = arg;

    pthread_mutex_lock(&hist_lock);
    q->inflight = 0;
    q->value = res->status == PROM_OK ? res->value : NAN;
    pthread_mutex_unlock(&hist_lock);
}

/* under hist_lock */
static void
hist_traffic_ask(history_pool_t *h)
{
    prom_client_t   *c = autoscaler_prom();
    history_query_t *q;
    char             query[256];
    int              i;

    for (i = 0; i < HISTORY_TRAFFIC; i++) {
        q = &h->traffic[i];
        if (c == NULL) {
            q->value = NAN;
            continue;
        }
        if (q->inflight && q->client == c) {
            continue; /* still waiting */
        }
        snprintf(query, sizeof(query), hist_traffic[i].query, h->pool);
        q->client = c;
        q->inflight =
            prom_query(c, query, PROM_REDUCE_NONE, hist_traffic_done, q) == 0;
    }
}

void
history_sample(scaler_t *s)
{
    pool_state_t               *ps;
    history_pool_t             *h;
    autoscale_runner_t         *r;
    const autoscale_decision_t *d;
    uint64_t                    now = wall_ms();
    char                        name[AUTOSCALE_NAME_MAX + 8];
    int                         i, j, k, slot, prev;

    pthread_mutex_lock(&hist_lock);
    for (i = 0; i < s->npools; i++) {
        ps = &s->pools[i];
        if ((h = hist_pool(ps->cf->name, 1)) == NULL) {
            continue;
        }
        prev = (h->head + HISTORY_SLOTS - 1) % HISTORY_SLOTS;
        if (h->n > 0 && now < h->t[prev] + HISTORY_STEP_MS) {
            continue;
        }
        slot = h->head;
        h->t[slot] = now;
        for (k = 0; k < h->nseries; k++) {
            h->series[k].v[slot] = NAN;
        }
        if ((k = hist_series(h, "desired")) >= 0) {
            h->series[k].v[slot] = ps->capacity;
        }
        if ((k = hist_series(h, "running")) >= 0) {
            h->series[k].v[slot] = pool_actual(ps);
        }
        if ((r = autoscaler_runner(ps->cf->name)) != NULL
            && (d = autoscale_runner_last(r)) != NULL && d->rules != NULL)
        {
            for (j = 0; j < (int) ps->cf->autoscale.nrules; j++) {
                if (d->rules[j].status != PROM_OK) {
                    continue;
                }
                snprintf(name, sizeof(name), "rule:%s",
                         ps->cf->autoscale.rules[j].name);
                if ((k = hist_series(h, name)) >= 0) {
                    h->series[k].v[slot] = d->rules[j].value;
                }
            }
        }
        for (j = 0; j < HISTORY_TRAFFIC; j++) {
            if (isfinite(h->traffic[j].value)
                && (k = hist_series(h, hist_traffic[j].series)) >= 0)
            {
                h->series[k].v[slot] = h->traffic[j].value;
            }
        }
        hist_traffic_ask(h);
        h->head = (h->head + 1) % HISTORY_SLOTS;
        if (h->n < HISTORY_SLOTS) {
            h->n++;
        }
    }
    pthread_mutex_unlock(&hist_lock);
}

/* d (owned) appended to pool's decisions, the oldest dropped at the limit */
static void
hist_decision(const char *pool, json_t *d)
{
    history_pool_t *h;

    pthread_mutex_lock(&hist_lock);
    if ((h = hist_pool(pool, 1)) == NULL) {
        pthread_mutex_unlock(&hist_lock);
        json_decref(d);
        return;
    }
    if (h->ndecisions == HISTORY_DECISIONS) {
        json_decref(h->decisions[0]);
        memmove(&h->decisions[0], &h->decisions[1],
                (HISTORY_DECISIONS - 1) * sizeof(json_t *));
        h->ndecisions--;
    }
    h->decisions[h->ndecisions++] = d;
    pthread_mutex_unlock(&hist_lock);
}

void
history_decision(const char *pool, const autoscale_config_t *conf,
                 const autoscale_decision_t *d)
{
    json_t *j, *rules, *o;
    size_t  i;

    j = json_pack("{s:I,s:s,s:I,s:I,s:s,s:s,s:o}", "at", (json_int_t) wall_ms(),
                  "source", "autoscale", "previous", (json_int_t) d->previous,
                  "capacity", (json_int_t) d->capacity, "direction",
                  autoscale_dir_name(d->direction), "reason", d->reason,
                  "rules", json_array());
    if (j == NULL) {
        return;
    }
    rules = json_object_get(j, "rules");
    for (i = 0; d->rules && i < conf->nrules; i++) {
        o = json_pack("{s:s,s:s,s:f,s:b,s:b,s:s}", "name", conf->rules[i].name,
                      "operator", autoscale_op_name(conf->rules[i].op),
                      "threshold", conf->rules[i].threshold, "holds",
                      d->rules[i].holds, "fired", d->rules[i].fired, "status",
                      prom_status_name(d->rules[i].status));
        if (o != NULL) {
            json_object_set_new(o, "value",
                                d->rules[i].status == PROM_OK
                                    ? num_or_null(d->rules[i].value)
                                    : json_null());
            json_array_append_new(rules, o);
        }
    }
    hist_decision(pool, j);
}

void
history_manual(const char *pool, int previous, int capacity)
{
    json_t *j;

    j = json_pack("{s:I,s:s,s:i,s:i,s:s,s:s,s:[]}", "at",
                  (json_int_t) wall_ms(), "source", "api", "previous", previous,
                  "capacity", capacity, "direction",
                  capacity > previous   ? "out"
                  : capacity < previous ? "in"
                                        : "none",
                  "reason", "capacity set through the API", "rules");
    if (j == NULL) {
        return;
    }
    hist_decision(pool, j);
}

json_t *
history_json(const char *pool)
{
    history_pool_t *h;
    json_t         *j, *t, *series, *a;
    int             i, k, slot;

    j = json_pack("{s:s,s:i,s:i,s:[],s:{},s:[]}", "pool", pool, "step_s",
                  HISTORY_STEP_MS / 1000, "window_s",
                  HISTORY_STEP_MS / 1000 * HISTORY_SLOTS, "t", "series",
                  "decisions");
    if (j == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&hist_lock);
    if ((h = hist_pool(pool, 0)) != NULL) {
        t = json_object_get(j, "t");
        series = json_object_get(j, "series");
        for (i = 0; i < h->n; i++) {
            slot = (h->head + HISTORY_SLOTS - h->n + i) % HISTORY_SLOTS;
            json_array_append_new(t, json_integer((json_int_t) h->t[slot]));
        }
        for (k = 0; k < h->nseries; k++) {
            a = json_array();
            for (i = 0; i < h->n; i++) {
                slot = (h->head + HISTORY_SLOTS - h->n + i) % HISTORY_SLOTS;
                json_array_append_new(a, num_or_null(h->series[k].v[slot]));
            }
            json_object_set_new(series, h->series[k].name, a);
        }
        a = json_object_get(j, "decisions");
        for (i = h->ndecisions - 1; i >= 0; i--) { /* newest first */
            json_array_append(a, h->decisions[i]);
        }
    }
    pthread_mutex_unlock(&hist_lock);
    return j;
}

void
history_free(void)
{
    int i, k;

    pthread_mutex_lock(&hist_lock);
    for (i = 0; i < nhist; i++) {
        for (k = 0; k < hist[i]->ndecisions; k++) {
            json_decref(hist[i]->decisions[k]);
        }
        free(hist[i]);
    }
    nhist = 0;
    pthread_mutex_unlock(&hist_lock);
}
