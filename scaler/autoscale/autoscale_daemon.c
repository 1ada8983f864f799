/*
 * autoscale_daemon.c: the daemon's autoscale wiring (docs/autoscale.md, "In the
 * daemon").  One Prometheus client, one runner per pool with rules or
 * schedules; every tick each runner evaluates from the desired capacity in
 * force, and a decision that changes it is stored in PREFIX{POOL}:capacity
 * (as PUT /v1/pools/{pool}/capacity does, without blocking the loop:
 * registry_async.c) and, once Redis answered, triggers a reconcile pass.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "scaler.h"

typedef struct {
    char                pool[64];
    autoscale_runner_t *runner;
    int64_t             asked;   /* the capacity the evaluation started from */
    int                 storing; /* its decisions waiting for Redis */
} as_entry_t;

/* a decision's capacity on its way to Redis */
typedef struct {
    char pool[64];
    int  capacity;
} as_store_t;

static struct event_base *as_base;
static scaler_t          *as_s;
static void (*as_kick)(void);
static prom_client_t *as_prom;
static prom_config_t  as_promcf;
static as_entry_t    *as_ent;
static size_t         as_n;
static int            as_curl;
static int            as_draining;

static void as_log(void *ctx, int prio, const char *pool, const char *msg);
static void as_done(autoscale_runner_t *r, const autoscale_decision_t *d,
                    void *arg);

/* the runner's lines, at their priorities (syslog's, as slogl's levels);
   its decision lines are debug: as_decided logs the ones it applies, with
   their rules */
static void
as_log(void *ctx, int prio, const char *pool, const char *msg)
{
    (void) ctx;
    slogl(prio, pool, NULL, "autoscale: %s", msg);
}

static void as_decided(as_entry_t *e, const autoscale_decision_t *d);
static void as_stored(int ok, void *arg);

static void
as_done(autoscale_runner_t *r, const autoscale_decision_t *d, void *arg)
{
    as_entry_t *e = arg;

    (void) r;
    if (as_s == NULL || as_draining) {
        return;
    }
    reconcile_lock(as_s);
    as_decided(e, d);
    reconcile_unlock(as_s);
}

/* under the reconcile lock */
static void
as_decided(as_entry_t *e, const autoscale_decision_t *d)
{
    pool_state_t *ps;
    as_store_t   *st;
    char          rules[256];
    size_t        i, len = 0;

    ps = reconcile_pool(as_s, e->pool);
    if (ps == NULL) {
        return;
    }
    if (ps->capacity != e->asked) {
        /* set through the API while the queries ran: that wins; the next
           evaluation starts from it */
        return;
    }
    if (d->capacity == ps->capacity && d->flapping != 1) {
        return;
    }
    rules[0] = '\0';
    for (i = 0; d->rules && i < ps->cf->autoscale.nrules; i++) {
        if (d->rules[i].fired && d->rules[i].direction == d->direction
            && len < sizeof(rules))
        {
            len += snprintf(rules + len, sizeof(rules) - len, "%s%s",
                            len ? "," : "", ps->cf->autoscale.rules[i].name);
        }
    }
    slog(e->pool, NULL, "autoscale %s rule=%s: %s",
         autoscale_dir_name(d->direction), len ? rules : "-", d->reason);
    if (d->capacity == ps->capacity) {
        return;
    }
    if (!ha_writable()) {
        /* the lease went while the queries ran: the leader decides */
        return;
    }
    history_decision(e->pool, &ps->cf->autoscale, d);
    st = xmalloc(sizeof(*st));
    snprintf(st->pool, sizeof(st->pool), "%s", e->pool);
    st->capacity = (int) d->capacity;
    e->storing++;
    registry_async_capacity_set(as_s->areg, e->pool, st->capacity, as_stored,
                                st);
}

/* a decision's capacity stored in Redis (ok) or not: applied either way,
   in the order of the writes (as the API's), to the pool of that name
   (a reload may have replaced the state) */
static void
as_stored(int ok, void *arg)
{
    as_store_t   *st = arg;
    as_entry_t   *e;
    pool_state_t *ps;
    size_t        i;

    for (i = 0, e = NULL; i < as_n; i++) {
        if (strcmp(as_ent[i].pool, st->pool) == 0) {
            e = &as_ent[i];
        }
    }
    if (e != NULL && e->storing > 0) {
        e->storing--;
    }
    if (as_s == NULL) { /* stopped */
        free(st);
        return;
    }
    if (!ok && !ha_writable()) {
        slog_warn(st->pool, NULL,
                  "autoscale: capacity %d not stored: "
                  "this scaler does not lead anymore",
                  st->capacity);
        free(st);
        return;
    }
    if (!ok) {
        slog_warn(st->pool, NULL,
                  "autoscale: capacity %d not stored (redis "
                  "unreachable): applied, Redis keeps the previous value "
                  "until a later write",
                  st->capacity);
    }
    reconcile_lock(as_s);
    if ((ps = reconcile_pool(as_s, st->pool)) != NULL) {
        ps->capacity = st->capacity;
    }
    reconcile_unlock(as_s);
    if (ps != NULL && as_kick) {
        as_kick();
    }
    free(st);
}

static int
prom_same(const scaler_config_t *cf)
{
#define SAME(a, b) ((a) == NULL ? (b) == NULL : (b) != NULL && !strcmp(a, b))
    return SAME(as_promcf.url, cf->prom_url)
           && as_promcf.timeout_ms == cf->prom_timeout_ms
           && SAME(as_promcf.username, cf->prom_username)
           && SAME(as_promcf.password, cf->prom_password)
           && SAME(as_promcf.bearer_token, cf->prom_token);
#undef SAME
}

static void
prom_conf_free(void)
{
    free((char *) as_promcf.url);
    free((char *) as_promcf.username);
    free((char *) as_promcf.password);
    free((char *) as_promcf.bearer_token);
    memset(&as_promcf, 0, sizeof(as_promcf));
}

static char *
dup0(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

prom_client_t *
autoscaler_prom(void)
{
    return as_prom;
}

static void
prom_open(const scaler_config_t *cf)
{
    prom_conf_free();
    as_promcf.url = dup0(cf->prom_url);
    as_promcf.timeout_ms = cf->prom_timeout_ms;
    as_promcf.username = dup0(cf->prom_username);
    as_promcf.password = dup0(cf->prom_password);
    as_promcf.bearer_token = dup0(cf->prom_token);
    as_prom = cf->prom_url ? prom_client_new(as_base, &as_promcf) : NULL;
    if (cf->prom_url && as_prom == NULL) {
        slog_err(NULL, NULL,
                 "autoscale: cannot create the prometheus "
                 "client");
    }
}

/* lets the queries in flight finish (their decisions are dropped), so
   that the runners and the client can be freed without leaking them */
static void
drain(void)
{
    uint64_t deadline = clock_mono_ms() + as_promcf.timeout_ms + 500;
    size_t   i, busy;

    while (as_base && clock_mono_ms() < deadline) {
        for (i = 0, busy = 0; i < as_n; i++) {
            busy += as_ent[i].runner
                    && autoscale_runner_inflight(as_ent[i].runner) > 0;
        }
        if (busy == 0) {
            return;
        }
        as_draining = 1;
        event_base_loop(as_base, EVLOOP_ONCE);
        as_draining = 0;
    }
}

static void
entries_free(void)
{
    size_t i;

    for (i = 0; i < as_n; i++) {
        autoscale_runner_free(as_ent[i].runner);
    }
    free(as_ent);
    as_ent = NULL;
    as_n = 0;
}

/* the runners for s's pools: kept by name (reconfigured), new, removed */
static void
entries_sync(scaler_t *s)
{
    as_entry_t *ne;
    size_t      n = 0, j;
    int         i;

    ne = xcalloc(s->npools ? s->npools : 1, sizeof(*ne));
    for (i = 0; i < s->npools; i++) {
        pool_config_t *p = s->pools[i].cf;
        as_entry_t    *e = &ne[n];

        if (!config_autoscaled(p)) {
            continue;
        }
        snprintf(e->pool, sizeof(e->pool), "%s", p->name);
        for (j = 0; j < as_n; j++) {
            if (strcmp(as_ent[j].pool, p->name) == 0) {
                e->storing = as_ent[j].storing;
            }
        }
        for (j = 0; j < as_n; j++) {
            if (as_ent[j].runner && strcmp(as_ent[j].pool, p->name) == 0) {
                break;
            }
        }
        if (j < as_n) {
            autoscale_runner_reconfigure(as_ent[j].runner, &p->autoscale);
            e->runner = as_ent[j].runner;
            as_ent[j].runner = NULL;
        } else {
            e->runner =
                autoscale_runner_new(as_base, as_prom, p->name, &p->autoscale);
            if (e->runner == NULL) {
                slog_err(p->name, NULL, "autoscale: no timer (libevent)");
                continue;
            }
            autoscale_runner_set_log(e->runner, as_log, NULL);
            slog(p->name, NULL, "autoscale: %zu rules, %zu schedules",
                 p->autoscale.nrules, p->autoscale.nprofiles);
        }
        n++;
    }
    /* runners of removed pools; the entries' addresses change, so a
       running evaluation (its done arg) is abandoned by reconfigure above */
    entries_free();
    as_ent = ne;
    as_n = n;
}

int
autoscaler_start(struct event_base *base, scaler_t *s, void (*kick)(void))
{
    if (!as_curl) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        as_curl = 1;
    }
    as_base = base;
    as_s = s;
    as_kick = kick;
    prom_open(s->cf);
    entries_sync(s);
    return 0;
}

void
autoscaler_reload(scaler_t *s, scaler_t *home)
{
    as_s = home;
    if (!prom_same(s->cf)) {
        /* another Prometheus: the runners hold the old client */
        drain();
        entries_free();
        prom_client_free(as_prom); /* after its runners */
        as_prom = NULL;
        prom_open(s->cf);
        slog(NULL, NULL, "autoscale: prometheus %s",
             s->cf->prom_url ? s->cf->prom_url : "none");
    }
    entries_sync(s);
}

void
autoscaler_tick(scaler_t *s)
{
    pool_state_t *ps;
    size_t        i;

    as_s = s;
    for (i = 0; i < as_n; i++) {
        if (as_ent[i].storing > 0) {
            /* its capacity is not known before Redis answers (at most
               REGISTRY_ASYNC_TIMEOUT_MS): the next tick evaluates */
            continue;
        }
        reconcile_lock(s);
        ps = reconcile_pool(s, as_ent[i].pool);
        as_ent[i].asked = ps ? ps->capacity : 0;
        reconcile_unlock(s);
        if (ps == NULL) {
            continue;
        }
        (void) autoscale_runner_evaluate(as_ent[i].runner, as_ent[i].asked,
                                         as_done, &as_ent[i]);
    }
}

autoscale_runner_t *
autoscaler_runner(const char *pool)
{
    size_t i;

    for (i = 0; i < as_n; i++) {
        if (strcmp(as_ent[i].pool, pool) == 0) {
            return as_ent[i].runner;
        }
    }
    return NULL;
}

void
autoscaler_metrics(expo_t *e)
{
    autoscale_runner_t **rs;
    size_t               i;

    if (as_n == 0) {
        return;
    }
    rs = xcalloc(as_n, sizeof(*rs));
    for (i = 0; i < as_n; i++) {
        rs[i] = as_ent[i].runner;
    }
    autoscale_metrics_write(e, rs, as_n);
    free(rs);
}

void
autoscaler_stop(void)
{
    as_kick = NULL;
    drain();
    entries_free();
    prom_client_free(as_prom);
    as_prom = NULL;
    prom_conf_free();
    as_s = NULL;
    if (as_curl) {
        curl_global_cleanup();
        as_curl = 0;
    }
}
