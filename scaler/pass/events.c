/*
 * events.c: the lifecycle events of the instances (docs/scaler.md,
 * "Lifecycle events").  Every transition a pass makes (created,
 * registered, draining, pending_launch, pending_terminate, stopping,
 * deleted, repairing, repaired, standby, ...) is one JSON object
 *
 *   {"pool","id","event","state","reason","rule","at","seq"}
 *
 * published on PREFIX{POOL}:lifecycle (by the pass, on its own Redis
 * connection), kept in a ring of the last EVENTS_KEPT per pool for
 * GET /v1/pools/{pool}/events (seq: 1, 2, ... per pool, in the order
 * they happened), and, with hooks.webhook, queued for the webhook
 * thread: one libcurl POST at a time, in order, retried with a growing
 * pause until it is answered 2xx (or given up after WEBHOOK_TRIES), so
 * a receiver sees every event in order and a slow or dead one never
 * holds a pass or the event loop.  A full queue (WEBHOOK_QUEUE_MAX)
 * drops the newest, counted.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>

#include "scaler.h"

#define EVENTS_KEPT       1000
#define WEBHOOK_QUEUE_MAX 10000
#define WEBHOOK_TRIES     10
#define WEBHOOK_TIMEOUT_S 5

typedef struct {
    char               pool[SCALESET_NAME_MAX + 1];
    unsigned long long seq; /* the last one's */
    json_t            *ring[EVENTS_KEPT];
    int                next;                  /* where the next one goes */
    unsigned long      sent, dropped, failed; /* the webhook's */
    unsigned long      published_failed;
} pool_events_t;

typedef struct wh_item {
    char           *url;
    char           *body;
    pool_events_t  *pe;
    struct wh_item *next;
} wh_item_t;

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  ev_cond = PTHREAD_COND_INITIALIZER;
static pool_events_t **pools;
static int             npools;
static wh_item_t      *queue_head, *queue_tail;
static int             queued;
static int             stopping, started;
static pthread_t       wh_thread;

/* the events of pool name, made when first asked for (under ev_lock) */
static pool_events_t *
pool_of(const char *name)
{
    pool_events_t **n, *pe;
    int             i;

    for (i = 0; i < npools; i++) {
        if (strcmp(pools[i]->pool, name) == 0) {
            return pools[i];
        }
    }
    pe = xcalloc(1, sizeof(*pe));
    n = xrealloc(pools, (npools + 1) * sizeof(*n));
    snprintf(pe->pool, sizeof(pe->pool), "%s", name);
    pools = n;
    pools[npools++] = pe;
    return pe;
}

static size_t
discard(char *p, size_t sz, size_t n, void *ud)
{
    (void) p;
    (void) ud;
    return sz * n;
}

/* one POST of body to url: 1 when answered 2xx */
static int
post_once(CURL *c, const char *url, const char *body, char *why, size_t whylen)
{
    struct curl_slist *h = NULL;
    CURLcode           rc;
    long               code = 0;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long) WEBHOOK_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(rc));
        return 0;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
        snprintf(why, whylen, "HTTP %ld", code);
        return 0;
    }
    return 1;
}

/* waits ms unless stopping; 1 when stopping */
static int
pause_ms(unsigned ms)
{
    struct timespec ts;
    int             stop;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ev_lock);
    while (!stopping && pthread_cond_timedwait(&ev_cond, &ev_lock, &ts) == 0) {
        /* woken for another reason: wait on */
    }
    stop = stopping;
    pthread_mutex_unlock(&ev_lock);
    return stop;
}

/* the webhook thread: the queue in order, each event until delivered */
static void *
webhook_thread(void *arg)
{
    CURL      *c = curl_easy_init();
    wh_item_t *it;
    char       why[256];
    unsigned   wait;
    int        try, ok;

    (void) arg;
    for (;;) {
        pthread_mutex_lock(&ev_lock);
        while (queue_head == NULL && !stopping) {
            pthread_cond_wait(&ev_cond, &ev_lock);
        }
        if (stopping) {
            pthread_mutex_unlock(&ev_lock);
            break;
        }
        it = queue_head; /* stays queued until it is done */
        pthread_mutex_unlock(&ev_lock);

        ok = 0;
        for (try = 1, wait = 500; c && try <= WEBHOOK_TRIES; try++) {
            if ((ok = post_once(c, it->url, it->body, why, sizeof(why)))) {
                break;
            }
            if (try == 1) {
                slog_warn(it->pe->pool, NULL, "webhook %s: %s: retrying",
                          it->url, why);
            }
            if (try < WEBHOOK_TRIES && pause_ms(wait)) {
                break; /* stopping */
            }
            wait = wait < 16000 ? wait * 2 : 30000;
        }

        pthread_mutex_lock(&ev_lock);
        if (ok) {
            it->pe->sent++;
        } else if (!stopping) {
            it->pe->failed++;
            slog_warn(it->pe->pool, NULL,
                      "webhook %s: %s after %d tries: "
                      "event dropped",
                      it->url, why, WEBHOOK_TRIES);
        }
        if (ok || !stopping) {
            queue_head = it->next;
            if (queue_head == NULL) {
                queue_tail = NULL;
            }
            queued--;
            free(it->url);
            free(it->body);
            free(it);
        }
        pthread_mutex_unlock(&ev_lock);
    }
    if (c) {
        curl_easy_cleanup(c);
    }
    return NULL;
}

int
events_start(void)
{
    pthread_mutex_lock(&ev_lock);
    stopping = 0;
    pthread_mutex_unlock(&ev_lock);
    if (pthread_create(&wh_thread, NULL, webhook_thread, NULL) != 0) {
        slog_err(NULL, NULL, "events: no webhook thread");
        return -1;
    }
    started = 1;
    return 0;
}

void
events_stop(void)
{
    pthread_mutex_lock(&ev_lock);
    stopping = 1;
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_lock);
    if (started) {
        pthread_join(wh_thread, NULL);
        started = 0;
    }
}

void
events_free(void)
{
    wh_item_t *it;
    int        i, k, left;

    for (left = 0; (it = queue_head) != NULL; left++) {
        queue_head = it->next;
        free(it->url);
        free(it->body);
        free(it);
    }
    if (left) {
        slog_warn(NULL, NULL,
                  "events: %d webhook events not delivered at "
                  "exit",
                  left);
    }
    queue_tail = NULL;
    queued = 0;
    for (i = 0; i < npools; i++) {
        for (k = 0; k < EVENTS_KEPT; k++) {
            json_decref(pools[i]->ring[k]);
        }
        free(pools[i]);
    }
    free(pools);
    pools = NULL;
    npools = 0;
}

void
events_emit(registry_t *reg, const pool_config_t *p, const char *id,
            const char *event, const char *state, const char *rule,
            const char *reason)
{
    pool_events_t *pe;
    wh_item_t     *it;
    json_t        *j;
    char          *body;

    pthread_mutex_lock(&ev_lock);
    if ((pe = pool_of(p->name)) == NULL) {
        pthread_mutex_unlock(&ev_lock);
        return;
    }
    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "pool", p->name, "id",
                  id, "event", event, "state", state, "reason",
                  reason ? reason : "", "rule", rule ? rule : "", "at",
                  (json_int_t) clock_unix_ms(), "seq",
                  (json_int_t) (pe->seq + 1));
    if (j == NULL || (body = json_dumps(j, JSON_COMPACT)) == NULL) {
        json_decref(j);
        pthread_mutex_unlock(&ev_lock);
        return;
    }
    pe->seq++;
    json_decref(pe->ring[pe->next]);
    pe->ring[pe->next] = j;
    pe->next = (pe->next + 1) % EVENTS_KEPT;
    if (p->webhook) {
        if (queued >= WEBHOOK_QUEUE_MAX) {
            if (pe->dropped++ == 0 || pe->dropped % 1000 == 0) {
                slog_warn(p->name, id,
                          "webhook queue full (%d): event "
                          "dropped (%lu so far)",
                          WEBHOOK_QUEUE_MAX, pe->dropped);
            }
        } else {
            it = xcalloc(1, sizeof(*it));
            it->url = xstrdup(p->webhook);
            it->body = xstrdup(body);
            it->pe = pe;
            if (queue_tail) {
                queue_tail->next = it;
            } else {
                queue_head = it;
            }
            queue_tail = it;
            queued++;
            pthread_cond_broadcast(&ev_cond);
        }
    }
    pthread_mutex_unlock(&ev_lock);

    /* on the pass's connection; the API's ring has it either way */
    if (reg
        && registry_publish(reg, p->name, SCALESET_KEY_LIFECYCLE, body) != 0) {
        pthread_mutex_lock(&ev_lock);
        pe->published_failed++;
        pthread_mutex_unlock(&ev_lock);
    }
    free(body);
}

json_t *
events_since(const char *pool, unsigned long long since,
             unsigned long long *last)
{
    pool_events_t     *pe;
    json_t            *a = json_array(), *e;
    unsigned long long seq, first;
    int                k;

    pthread_mutex_lock(&ev_lock);
    pe = pool_of(pool);
    *last = pe ? pe->seq : 0;
    if (pe && pe->seq > since) {
        /* the oldest kept: seq - EVENTS_KEPT + 1 */
        first = pe->seq > EVENTS_KEPT ? pe->seq - EVENTS_KEPT + 1 : 1;
        for (seq = since + 1 > first ? since + 1 : first; seq <= pe->seq; seq++)
        {
            k = (int) ((pe->next + EVENTS_KEPT - (pe->seq - seq + 1))
                       % EVENTS_KEPT);
            if ((e = pe->ring[k]) != NULL) {
                json_array_append(a, e);
            }
        }
    }
    pthread_mutex_unlock(&ev_lock);
    return a;
}

void
events_counts(const char *pool, unsigned long counts[4])
{
    pool_events_t *pe;

    pthread_mutex_lock(&ev_lock);
    pe = pool_of(pool);
    counts[0] = pe ? (unsigned long) pe->seq : 0;
    counts[1] = pe ? pe->sent : 0;
    counts[2] = pe ? pe->failed + pe->dropped : 0;
    counts[3] = pe ? pe->published_failed : 0;
    pthread_mutex_unlock(&ev_lock);
}
