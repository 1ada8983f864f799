/*
 * api_http.c: what the API's HTTP server lets in (scaler.h, "api_http.c").
 *
 * evhttp (libevent 2.1, Debian 12) reads a request's whole body before it
 * calls the server, and has no hook between the head and the body for
 * incoming requests (evhttp_set_newreqcb, which would allow
 * evhttp_request_set_header_cb, came with 2.2).  So each connection's
 * socket bufferevent (evhttp_set_bevcb) carries a gate: a callback on its
 * input buffer, run as bytes arrive and before evhttp parses them, holds
 * them until the first request's head is complete.  When a token is
 * configured and the head does not carry it, evhttp gets that head
 * without its body-framing headers (Content-Length, Transfer-Encoding)
 * and nothing after it, and the socket stops reading: the body is never
 * read into the scaler; the handler answers 401 (api.c checks the token
 * again, from evhttp's headers) and closes the connection.  A connection
 * whose first request carries the token passes unchanged from then on.
 * evhttp's own limits bound the rest: head size, body size, read and
 * write timeouts.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "scaler.h"

/* a connection until its first request's head is decided; it keeps a
   reference on the bufferevent, so evhttp freeing the connection
   meanwhile leaves it (and its buffer, whose callback this is) alive */
typedef struct gate_s {
    struct bufferevent       *bev;
    struct evbuffer_cb_entry *cb;
    struct evbuffer          *held;  /* the head so far */
    struct event             *timer; /* cleanup, once decided or gone */
    int                       decided;
    int                       busy; /* inside its own callback */
    struct gate_s            *prev, *next;
} gate_t;

static const char *(*gate_token)(void); /* the token in force */
static gate_t        *gates;            /* not yet cleaned up */
static struct timeval gate_check = { 1, 0 };

static struct bufferevent *gate_new(struct event_base *base, void *arg);
static void                gate_input(struct evbuffer               *buf,
                                      const struct evbuffer_cb_info *info, void *arg);
static void                gate_decide(gate_t *g, struct evbuffer *buf);
static void   gate_timer(evutil_socket_t fd, short what, void *arg);
static void   gate_free(gate_t *g);
static int    header_is(const char *line, size_t len, const char *name);
static size_t head_end(const char *p, size_t len);

/* --- pure checks --------------------------------------------------------- */

int
api_token_ok(const char *authorization, const char *token)
{
    volatile unsigned char d;
    size_t                 i, tl, al;
    const char            *a = authorization;

    if (a == NULL || token == NULL || strncasecmp(a, "Bearer ", 7) != 0) {
        return 0;
    }
    for (a += 7; *a == ' '; a++) {
    }
    /* the whole token, in time that depends on its length only */
    tl = strlen(token);
    al = strlen(a);
    d = al != tl;
    for (i = 0; i < tl; i++) {
        d |= (unsigned char) token[i] ^ (unsigned char) (i < al ? a[i] : 0);
    }
    return d == 0;
}

int
api_host_ok(const char *host, const char *listen_host)
{
    char   name[256];
    size_t n;

    if (host == NULL) {
        return 1; /* HTTP/1.0 without Host: no browser */
    }
    /* the name without ":port", IPv6 literals in brackets */
    if (host[0] == '[') {
        n = strcspn(host, "]");
        if (host[n] != ']' || (host[n + 1] != '\0' && host[n + 1] != ':')) {
            return 0;
        }
        n++;
    } else {
        n = strcspn(host, ":");
    }
    if (n == 0 || n >= sizeof(name)
        || (host[n] == ':'
            && strspn(host + n + 1, "0123456789") != strlen(host + n + 1)))
    {
        return 0;
    }
    memcpy(name, host, n);
    name[n] = '\0';
    if (n > 1 && name[n - 1] == '.') {
        name[--n] = '\0';
    }
    return strcasecmp(name, "localhost") == 0 || strcmp(name, "[::1]") == 0
           || strcmp(name, listen_host) == 0
           || (strncmp(name, "127.", 4) == 0
               && strspn(name, "0123456789.") == n);
}

/* 1 when the header line (without its line end) is header name */
static int
header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);

    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* the length of the head up to and with its empty line, 0 when it has
   none in p[0..len) (line ends "\n", "\r\n", as evhttp reads them) */
static size_t
head_end(const char *p, size_t len)
{
    const char *nl, *line = p, *end = p + len;

    while ((nl = memchr(line, '\n', (size_t) (end - line))) != NULL) {
        if (nl == line || (nl == line + 1 && line[0] == '\r')) {
            return (size_t) (nl + 1 - p);
        }
        line = nl + 1;
    }
    return 0;
}

int
api_head_check(const char *head, size_t len, const char *token, char *out,
               size_t *outlen)
{
    const char *line, *nl, *end = head + len, *value = NULL;
    size_t      ll, vl = 0, o = 0;
    int         nauth = 0, first = 1, dropping = 0, keep, in_auth = 0;
    char        auth[API_TOKEN_MAX + 64];

    for (line = head; line < end; line = nl + 1) {
        nl = memchr(line, '\n', (size_t) (end - line));
        nl = nl ? nl : end - 1;
        ll = (size_t) (nl - line);
        if (ll > 0 && line[ll - 1] == '\r') {
            ll--;
        }
        keep = 1;
        if (first) {
            first = 0; /* the request line */
        } else if (ll > 0 && (line[0] == ' ' || line[0] == '\t')) {
            /* a folded line belongs to the header before it; a folded
               Authorization is not taken */
            keep = !dropping;
            nauth += in_auth;
        } else if (ll > 0) {
            dropping = header_is(line, ll, "content-length")
                       || header_is(line, ll, "transfer-encoding");
            keep = !dropping;
            in_auth = header_is(line, ll, "authorization");
            if (in_auth) {
                nauth++;
                value = line + 14;
                vl = ll - 14;
            }
        }
        if (keep && out) {
            memcpy(out + o, line, (size_t) (nl + 1 - line));
            o += (size_t) (nl + 1 - line);
        }
    }
    if (outlen) {
        *outlen = o;
    }
    if (token == NULL) {
        return 1;
    }
    /* exactly one Authorization header, unfolded: "Bearer TOKEN" */
    if (nauth != 1 || vl >= sizeof(auth)) {
        return 0;
    }
    while (vl > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        vl--;
    }
    while (vl > 0 && (value[vl - 1] == ' ' || value[vl - 1] == '\t')) {
        vl--;
    }
    memcpy(auth, value, vl);
    auth[vl] = '\0';
    return api_token_ok(auth, token);
}

/* --- the gate ------------------------------------------------------------ */

static struct bufferevent *
gate_new(struct event_base *base, void *arg)
{
    struct bufferevent *bev;
    gate_t             *g;

    (void) arg;
    /* evhttp sets the socket (bufferevent_setfd) */
    if ((bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL)
    {
        return NULL;
    }
    if (gate_token() == NULL) {
        return bev; /* no token to check */
    }
    g = xcalloc(1, sizeof(*g));
    if ((g->held = evbuffer_new()) == NULL
        || (g->timer = evtimer_new(base, gate_timer, g)) == NULL
        || (g->cb = evbuffer_add_cb(bufferevent_get_input(bev), gate_input, g))
               == NULL)
    {
        if (g->timer) {
            event_free(g->timer);
        }
        if (g->held) {
            evbuffer_free(g->held);
        }
        free(g);
        bufferevent_free(bev);
        return NULL;
    }
    g->bev = bev;
    bufferevent_incref(bev);
    evtimer_add(g->timer, &gate_check);
    g->next = gates;
    if (gates) {
        gates->prev = g;
    }
    gates = g;
    return bev;
}

/* bytes arrived, before evhttp reads them */
static void
gate_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    gate_t *g = arg;

    if (g->busy || g->decided || info->n_added == 0) {
        return;
    }
    g->busy = 1;
    evbuffer_add_buffer(g->held, buf);
    gate_decide(g, buf);
    g->busy = 0;
}

static void
gate_decide(gate_t *g, struct evbuffer *buf)
{
    const char *token = gate_token();
    char       *head, *out;
    size_t      len, n, end, outlen;

    len = evbuffer_get_length(g->held);
    n = len < API_HEADERS_MAX + 4 ? len : API_HEADERS_MAX + 4;
    if ((head = (char *) evbuffer_pullup(g->held, (ev_ssize_t) n)) == NULL) {
        return;
    }
    end = head_end(head, n);
    if (end == 0 && n < API_HEADERS_MAX + 4) {
        return; /* wait for the rest of the head */
    }
    g->decided = 1;
    event_active(g->timer, EV_TIMEOUT, 0); /* cleanup, on the loop */
    if (token == NULL || (end && api_head_check(head, end, token, NULL, NULL)))
    {
        evbuffer_add_buffer(buf, g->held);
        return;
    }
    /* without the token: its head without a body, then nothing (no head
       within the limit: what there is, which evhttp refuses) */
    if (end) {
        out = xmalloc(end);
        api_head_check(head, end, token, out, &outlen);
        evbuffer_add(buf, out, outlen);
        free(out);
    } else {
        evbuffer_remove_buffer(g->held, buf, n);
    }
    evbuffer_drain(g->held, evbuffer_get_length(g->held));
    bufferevent_setwatermark(g->bev, EV_READ, 0, API_HEADERS_MAX + 4);
}

/* decided, or evhttp freed the connection (its callbacks are gone) */
static void
gate_timer(evutil_socket_t fd, short what, void *arg)
{
    gate_t              *g = arg;
    bufferevent_data_cb  readcb = NULL;
    bufferevent_event_cb eventcb = NULL;

    (void) fd;
    (void) what;
    bufferevent_getcb(g->bev, &readcb, NULL, &eventcb, NULL);
    if (!g->decided && (readcb != NULL || eventcb != NULL)) {
        evtimer_add(g->timer, &gate_check); /* still reading a head */
        return;
    }
    gate_free(g);
}

static void
gate_free(gate_t *g)
{
    if (g->prev) {
        g->prev->next = g->next;
    } else {
        gates = g->next;
    }
    if (g->next) {
        g->next->prev = g->prev;
    }
    evbuffer_remove_cb_entry(bufferevent_get_input(g->bev), g->cb);
    evbuffer_free(g->held);
    event_free(g->timer);
    bufferevent_decref(g->bev);
    free(g);
}

void
api_http_close(void)
{
    while (gates) {
        gate_free(gates);
    }
}

void
api_http_limits(struct evhttp *http, uint64_t timeout_ms,
                const char *(*token)(void) )
{
    struct timeval tv;

    tv.tv_sec = (time_t) (timeout_ms / 1000);
    tv.tv_usec = (suseconds_t) (timeout_ms % 1000) * 1000;
    gate_token = token;
    evhttp_set_max_headers_size(http, API_HEADERS_MAX);
    evhttp_set_max_body_size(http, API_BODY_MAX);
    evhttp_set_timeout_tv(http, &tv);
    evhttp_set_bevcb(http, gate_new, NULL);
}
