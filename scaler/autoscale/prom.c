/*
 * Prometheus instant queries (/api/v1/query) on libcurl's multi interface,
 * driven by a libevent base: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to wake it (CURLMOPT_TIMERFUNCTION),
 * libevent tells curl what happened with curl_multi_socket_action(), as in
 * curl's docs/examples/multi-event.c.  Responses are decoded with jansson.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "prom.h"
#include "xmalloc.h"


#define PROM_BODY_MAX (4 * 1024 * 1024)


typedef struct prom_req_s prom_req_t;

struct prom_req_s {
    prom_client_t     *client;
    CURL              *easy;
    struct curl_slist *headers;
    char              *body;
    size_t             len;
    int                too_big;
    prom_reduce_t      reduce;
    prom_handler_pt    handler;
    void              *arg;
    char               errbuf[CURL_ERROR_SIZE];
    prom_req_t        *next;
    prom_req_t        *prev;
};

struct prom_client_s {
    struct event_base *base;
    CURLM             *multi;
    struct event      *timer;
    char              *url;
    char              *userpwd;
    char              *auth_header;
    uint64_t           timeout_ms;
    prom_req_t        *reqs;
};


static int    prom_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
                             void *socketp);
static int    prom_timer_cb(CURLM *multi, long timeout_ms, void *userp);
static void   prom_event_cb(evutil_socket_t fd, short events, void *arg);
static void   prom_timeout_cb(evutil_socket_t fd, short events, void *arg);
static void   prom_check_done(prom_client_t *c);
static void   prom_finish(prom_req_t *req, CURLcode code);
static void   prom_req_free(prom_req_t *req);
static size_t prom_write_cb(char *ptr, size_t size, size_t nmemb,
                            void *userdata);
static prom_status_t prom_sample(json_t *pair, double *v);


static const char *const prom_status_names[PROM_STATUS_COUNT] = {
    "ok",    "unreachable", "timeout", "http", "prometheus",
    "empty", "multiple",    "nan",     "parse"
};


const char *
prom_status_name(prom_status_t status)
{
    return (unsigned) status < PROM_STATUS_COUNT ? prom_status_names[status]
                                                 : "unknown";
}


int
prom_reduce_parse(const char *s, prom_reduce_t *r)
{
    static const char *const names[] = { "", "sum", "avg", "max", "min" };
    int                      i;

    for (i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *r = (prom_reduce_t) i;
            return 0;
        }
    }

    return -1;
}


/* --- response decoding -------------------------------------------------- */

static prom_status_t
prom_sample(json_t *pair, double *v)
{
    const char *s;
    char       *end;

    /* [ <unix time>, "<value>" ] */
    if (!json_is_array(pair) || json_array_size(pair) != 2
        || !json_is_string(json_array_get(pair, 1)))
    {
        return PROM_ERR_PARSE;
    }

    s = json_string_value(json_array_get(pair, 1));
    *v = strtod(s, &end);

    if (end == s || *end != '\0') {
        return PROM_ERR_PARSE;
    }

    return isfinite(*v) ? PROM_OK : PROM_ERR_NAN;
}


prom_status_t
prom_parse_response(long http_code, const char *body, size_t len,
                    prom_reduce_t reduce, prom_result_t *res)
{
    json_t       *root, *data, *result, *item;
    json_error_t  jerr;
    const char   *status, *type, *etype, *emsg;
    double        v, acc;
    size_t        i, n;
    prom_status_t rc;

    memset(res, 0, sizeof(*res));
    res->http_code = http_code;
    res->value = NAN;

    root = json_loadb(body, len, 0, &jerr);

    if (root == NULL) {
        if (http_code != 200) {
            res->status = PROM_ERR_HTTP;
            snprintf(res->detail, sizeof(res->detail), "HTTP %ld", http_code);
        } else {
            res->status = PROM_ERR_PARSE;
            snprintf(res->detail, sizeof(res->detail), "bad JSON: %s",
                     jerr.text);
        }
        return res->status;
    }

    status = json_string_value(json_object_get(root, "status"));

    if (status && strcmp(status, "error") == 0) {
        etype = json_string_value(json_object_get(root, "errorType"));
        emsg = json_string_value(json_object_get(root, "error"));
        res->status = PROM_ERR_PROMETHEUS;
        snprintf(res->detail, sizeof(res->detail), "%s: %s",
                 etype ? etype : "error", emsg ? emsg : "");
        goto done;
    }

    if (http_code != 200) {
        res->status = PROM_ERR_HTTP;
        snprintf(res->detail, sizeof(res->detail), "HTTP %ld", http_code);
        goto done;
    }

    data = json_object_get(root, "data");
    type = json_string_value(json_object_get(data, "resultType"));
    result = json_object_get(data, "result");

    if (status == NULL || strcmp(status, "success") != 0 || type == NULL
        || result == NULL)
    {
        res->status = PROM_ERR_PARSE;
        snprintf(res->detail, sizeof(res->detail), "not a query response");
        goto done;
    }

    if (strcmp(type, "scalar") == 0) {
        res->nseries = 1;
        res->status = prom_sample(result, &res->value);
        goto done;
    }

    if (strcmp(type, "vector") != 0 || !json_is_array(result)) {
        res->status = PROM_ERR_PARSE;
        snprintf(res->detail, sizeof(res->detail),
                 "result type \"%s\", expected an instant vector", type);
        goto done;
    }

    n = json_array_size(result);
    res->nseries = n;

    if (n == 0) {
        res->status = PROM_ERR_EMPTY;
        snprintf(res->detail, sizeof(res->detail), "no series");
        goto done;
    }

    if (n > 1 && reduce == PROM_REDUCE_NONE) {
        res->status = PROM_ERR_MULTIPLE;
        snprintf(res->detail, sizeof(res->detail), "%zu series and no reduce",
                 n);
        goto done;
    }

    acc = 0;

    for (i = 0; i < n; i++) {
        item = json_array_get(result, i);
        rc = prom_sample(json_object_get(item, "value"), &v);

        if (rc != PROM_OK) {
            res->status = rc;
            snprintf(res->detail, sizeof(res->detail), "series %zu: %s", i,
                     rc == PROM_ERR_NAN ? "not a finite number" : "bad sample");
            goto done;
        }

        switch (reduce) {
        case PROM_REDUCE_MAX:
            acc = (i == 0 || v > acc) ? v : acc;
            break;
        case PROM_REDUCE_MIN:
            acc = (i == 0 || v < acc) ? v : acc;
            break;
        default:
            acc += v;
            break;
        }
    }

    if (reduce == PROM_REDUCE_AVG) {
        acc /= (double) n;
    }

    res->status = isfinite(acc) ? PROM_OK : PROM_ERR_NAN;
    res->value = acc;

done:

    if (res->status != PROM_OK) {
        res->value = NAN;
    }

    json_decref(root);
    return res->status;
}


/* --- the client ---------------------------------------------------------- */

prom_client_t *
prom_client_new(struct event_base *base, const prom_config_t *conf)
{
    prom_client_t *c;
    size_t         l;

    c = xcalloc(1, sizeof(*c));

    c->base = base;
    c->timeout_ms = conf->timeout_ms ? conf->timeout_ms : 2000;
    c->url = xstrdup(conf->url);

    l = strlen(c->url);
    while (l > 0 && c->url[l - 1] == '/') {
        c->url[--l] = '\0';
    }

    if (conf->username) {
        l = strlen(conf->username) + 2
            + (conf->password ? strlen(conf->password) : 0);
        c->userpwd = xmalloc(l);
        snprintf(c->userpwd, l, "%s:%s", conf->username,
                 conf->password ? conf->password : "");
    }

    if (conf->bearer_token) {
        l = strlen(conf->bearer_token) + sizeof("Authorization: Bearer ");
        c->auth_header = xmalloc(l);
        snprintf(c->auth_header, l, "Authorization: Bearer %s",
                 conf->bearer_token);
    }

    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, prom_timeout_cb, c);
    if (c->multi == NULL || c->timer == NULL) {
        goto failed;
    }

    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, prom_socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, prom_timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);

    return c;

failed:

    prom_client_free(c);
    return NULL;
}


void
prom_client_free(prom_client_t *c)
{
    if (c == NULL) {
        return;
    }

    while (c->reqs) {
        prom_req_free(c->reqs);
    }

    if (c->multi) {
        curl_multi_cleanup(c->multi);
    }
    if (c->timer) {
        event_free(c->timer);
    }

    free(c->url);
    free(c->userpwd);
    free(c->auth_header);
    free(c);
}


int
prom_query(prom_client_t *c, const char *query, prom_reduce_t reduce,
           prom_handler_pt handler, void *arg)
{
    prom_req_t *req;
    char       *esc, *url;
    size_t      l;

    req = xcalloc(1, sizeof(*req));

    req->client = c;
    req->reduce = reduce;
    req->handler = handler;
    req->arg = arg;

    req->easy = curl_easy_init();
    if (req->easy == NULL) {
        free(req);
        return -1;
    }

    esc = curl_easy_escape(req->easy, query, 0);
    /* Prometheus gives up too, rather than evaluating for nobody */
    if (esc == NULL) {
        curl_easy_cleanup(req->easy);
        free(req);
        return -1;
    }
    l = strlen(c->url) + sizeof("/api/v1/query?timeout=ms&query=") + 20
        + strlen(esc);
    url = xmalloc(l);
    snprintf(url, l, "%s/api/v1/query?timeout=%llums&query=%s", c->url,
             (unsigned long long) c->timeout_ms, esc);
    curl_free(esc);

    curl_easy_setopt(req->easy, CURLOPT_URL, url);
    curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
    curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, prom_write_cb);
    curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, (long) c->timeout_ms);
    curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) c->timeout_ms);
    curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(req->easy, CURLOPT_USERAGENT, "scaleset-scaler");
    free(url);

    if (c->userpwd) {
        curl_easy_setopt(req->easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(req->easy, CURLOPT_USERPWD, c->userpwd);
    }

    req->headers = curl_slist_append(NULL, "Accept: application/json");
    if (c->auth_header) {
        req->headers = curl_slist_append(req->headers, c->auth_header);
    }
    curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);

    req->next = c->reqs;
    if (c->reqs) {
        c->reqs->prev = req;
    }
    c->reqs = req;

    /* curl asks for a 0 ms timer: the transfer starts from the loop */
    if (curl_multi_add_handle(c->multi, req->easy) != CURLM_OK) {
        prom_req_free(req);
        return -1;
    }

    return 0;
}


static void
prom_req_free(prom_req_t *req)
{
    prom_client_t *c = req->client;

    if (req->prev) {
        req->prev->next = req->next;
    } else {
        c->reqs = req->next;
    }
    if (req->next) {
        req->next->prev = req->prev;
    }

    curl_multi_remove_handle(c->multi, req->easy);
    curl_easy_cleanup(req->easy);
    curl_slist_free_all(req->headers);
    free(req->body);
    free(req);
}


static size_t
prom_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    prom_req_t *req = userdata;
    size_t      n = size * nmemb;

    if (req->len + n > PROM_BODY_MAX) {
        req->too_big = 1;
        return 0;
    }

    req->body = xrealloc(req->body, req->len + n + 1);
    memcpy(req->body + req->len, ptr, n);
    req->len += n;
    req->body[req->len] = '\0';

    return n;
}


static int
prom_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
               void *socketp)
{
    prom_client_t *c = userp;
    struct event  *ev = socketp;
    short          kind;

    (void) easy;

    if (what == CURL_POLL_REMOVE) {
        if (ev) {
            event_free(ev);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }

    kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0)
           | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);

    if (ev) {
        event_del(ev);
        event_assign(ev, c->base, s, kind, prom_event_cb, c);
    } else {
        ev = event_new(c->base, s, kind, prom_event_cb, c);
        if (ev == NULL) {
            return -1;
        }
        curl_multi_assign(c->multi, s, ev);
    }

    event_add(ev, NULL);
    return 0;
}


static int
prom_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    prom_client_t *c = userp;
    struct timeval tv;

    (void) multi;

    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);

    return 0;
}


static void
prom_event_cb(evutil_socket_t fd, short events, void *arg)
{
    prom_client_t *c = arg;
    int            running, flags;

    flags = ((events & EV_READ) ? CURL_CSELECT_IN : 0)
            | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    curl_multi_socket_action(c->multi, fd, flags, &running);
    prom_check_done(c);
}


static void
prom_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
    prom_client_t *c = arg;
    int            running;

    (void) fd;
    (void) events;

    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    prom_check_done(c);
}


static void
prom_check_done(prom_client_t *c)
{
    CURLMsg    *msg;
    prom_req_t *req;
    int         left;

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        req = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
        if (req) {
            prom_finish(req, msg->data.result);
        }
    }
}


static void
prom_finish(prom_req_t *req, CURLcode code)
{
    prom_result_t   res;
    prom_handler_pt handler;
    void           *arg;
    long            http;

    memset(&res, 0, sizeof(res));
    res.value = NAN;

    switch (code) {
    case CURLE_OK:
        http = 0;
        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &http);
        prom_parse_response(http, req->body ? req->body : "", req->len,
                            req->reduce, &res);
        break;

    case CURLE_OPERATION_TIMEDOUT:
        res.status = PROM_ERR_TIMEOUT;
        snprintf(res.detail, sizeof(res.detail), "%s",
                 req->errbuf[0] ? req->errbuf : curl_easy_strerror(code));
        break;

    case CURLE_WRITE_ERROR:
        res.status = req->too_big ? PROM_ERR_PARSE : PROM_ERR_UNREACHABLE;
        snprintf(res.detail, sizeof(res.detail), "%s",
                 req->too_big ? "response too large"
                              : curl_easy_strerror(code));
        break;

    default:
        res.status = PROM_ERR_UNREACHABLE;
        snprintf(res.detail, sizeof(res.detail), "%s",
                 req->errbuf[0] ? req->errbuf : curl_easy_strerror(code));
        break;
    }

    /* detach first: the handler may start the next query */
    handler = req->handler;
    arg = req->arg;

    prom_req_free(req);
    handler(&res, arg);
}
