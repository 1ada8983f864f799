/*
 * api_events.c: GET /v1/pools/{pool}/events?since=SEQ[&wait=SECONDS]:
 * the pool's lifecycle events after SEQ (events.c keeps the last 1000),
 * {"pool","events":[...],"last":SEQ}.  With wait (1..60) and nothing new
 * the request waits, on the loop, until a pass makes events
 * (api_events_wake() after each pass) or the time is up: a long poll,
 * which scalesetctl events --follow repeats.  A client that goes while
 * it waits takes its waiter with it.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "scaler.h"

#define EVENTS_WAIT_MAX 60

typedef struct waiter {
    struct evhttp_request *req;
    struct event          *timer;
    char                   pool[SCALESET_NAME_MAX + 1];
    unsigned long long     since;
    struct waiter         *next;
} waiter_t;

static waiter_t *waiters;

static void
unlink_waiter(waiter_t *w)
{
    waiter_t **p;

    for (p = &waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
}

/* its events (maybe none) answered, the waiter gone */
static void
answer(waiter_t *w, json_t *events, unsigned long long last)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(w->req);

    if (conn) {
        evhttp_connection_set_closecb(conn, NULL, NULL);
    }
    api_reply_json(w->req, 200,
                   json_pack("{s:s,s:o,s:I}", "pool", w->pool, "events", events,
                             "last", (json_int_t) last));
    unlink_waiter(w);
    event_free(w->timer);
    free(w);
}

static void
on_timeout(evutil_socket_t fd, short ev, void *arg)
{
    waiter_t          *w = arg;
    unsigned long long last;
    json_t            *events;

    (void) fd;
    (void) ev;
    events = events_since(w->pool, w->since, &last);
    answer(w, events, last);
}

/* the client went: evhttp frees the request */
static void
on_close(struct evhttp_connection *conn, void *arg)
{
    waiter_t *w = arg;

    (void) conn;
    unlink_waiter(w);
    event_free(w->timer);
    free(w);
}

/* ?name=N of the uri, 0..max: 0 absent; -1 for another value */
static long long
query_num(const char *uri, const char *name, unsigned long long max,
          unsigned long long *v)
{
    struct evkeyvalq q;
    const char      *s, *qs = strchr(uri, '?');
    uint64_t         n;
    long long        rc = 0;

    *v = 0;
    if (qs == NULL) {
        return 0;
    }
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(qs + 1, &q) != 0) {
        return -1;
    }
    if ((s = evhttp_find_header(&q, name)) != NULL) {
        rc = scaleset_parse_u64(s, strlen(s), max, &n) == 0 ? 0 : -1;
        *v = rc == 0 ? n : 0;
    }
    evhttp_clear_headers(&q);
    return rc;
}

void
api_events_get(struct evhttp_request *req, struct event_base *base,
               const char *pool)
{
    const char        *uri = evhttp_request_get_uri(req);
    unsigned long long since, wait, last;
    struct timeval     tv;
    json_t            *events;
    waiter_t          *w;

    if (query_num(uri, "since", UINT64_MAX, &since) != 0
        || query_num(uri, "wait", EVENTS_WAIT_MAX, &wait) != 0)
    {
        api_reply_error(req, 400, "since: a number; wait: 0..%d seconds",
                        EVENTS_WAIT_MAX);
        return;
    }
    events = events_since(pool, since, &last);
    if (json_array_size(events) > 0 || wait == 0) {
        api_reply_json(req, 200,
                       json_pack("{s:s,s:o,s:I}", "pool", pool, "events",
                                 events, "last", (json_int_t) last));
        return;
    }
    json_decref(events);
    w = xcalloc(1, sizeof(*w));
    if ((w->timer = evtimer_new(base, on_timeout, w)) == NULL) {
        free(w);
        api_reply_error(req, 503, "out of memory");
        return;
    }
    w->req = req;
    snprintf(w->pool, sizeof(w->pool), "%s", pool);
    w->since = since;
    w->next = waiters;
    waiters = w;
    tv.tv_sec = (time_t) wait;
    tv.tv_usec = 0;
    evtimer_add(w->timer, &tv);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_close,
                                  w);
}

void
api_events_wake(void)
{
    waiter_t          *w, *next;
    json_t            *events;
    unsigned long long last;

    for (w = waiters; w; w = next) {
        next = w->next;
        events = events_since(w->pool, w->since, &last);
        if (json_array_size(events) > 0) {
            answer(w, events, last);
        } else {
            json_decref(events);
        }
    }
}

void
api_events_stop(void)
{
    waiter_t                 *w;
    struct evhttp_connection *conn;

    while ((w = waiters) != NULL) {
        waiters = w->next;
        if ((conn = evhttp_request_get_connection(w->req)) != NULL) {
            evhttp_connection_set_closecb(conn, NULL, NULL);
        }
        event_free(w->timer);
        free(w);
    }
}
