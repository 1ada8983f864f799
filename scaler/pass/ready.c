/*
 * ready.c: are instances ready to be registered?  A TCP connect to each
 * address, or, when the pool has health.uri, an HTTP GET of it answered
 * with a 2xx or 3xx status within the timeout (the response head parsed by
 * the parser the gateway's health checks use).  Every probe of a pass runs
 * at once, READY_INFLIGHT at a time, on non-blocking sockets driven by one
 * poll(): a pass with 200 booting instances waits about one timeout, not
 * 200 (called from a pass thread, never from the event loop).
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "scaler.h"
#include "scaleset_check.h"

#define READY_INFLIGHT 64 /* probes with a socket at once */

typedef enum {
    P_IDLE = 0,
    P_CONNECT,
    P_SEND,
    P_RECV,
    P_DONE
} phase_t;

typedef struct {
    ready_probe_t *pr;
    phase_t        phase;
    int            fd;
    uint64_t       deadline; /* mono ms */
    char           req[512];
    size_t         rlen, sent;
    char           buf[2048];
    size_t         n;
} probe_t;

/* the probe's outcome, its socket closed */
static void
done(probe_t *p, int ok, const char *why)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    p->pr->ok = ok;
    snprintf(p->pr->why, sizeof(p->pr->why), "%s", ok ? "" : why);
    p->phase = P_DONE;
}

/* a non-blocking connect to "A.B.C.D:PORT" under way */
static void
start(probe_t *p, const char *uri, uint64_t timeout_ms)
{
    struct sockaddr_in sin;
    char               host[96], *colon;

    p->fd = -1;
    p->deadline = clock_mono_ms() + timeout_ms;
    snprintf(host, sizeof(host), "%s", p->pr->address);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    if ((colon = strrchr(host, ':')) == NULL) {
        done(p, 0, "connect");
        return;
    }
    *colon = '\0';
    sin.sin_port = htons((uint16_t) atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        done(p, 0, "connect");
        return;
    }
    if (uri != NULL) {
        p->rlen = (size_t) snprintf(p->req, sizeof(p->req),
                                    "GET %s HTTP/1.0\r\nHost: %s\r\n"
                                    "User-Agent: scaleset-scaler\r\n"
                                    "Connection: close\r\n\r\n",
                                    uri, p->pr->address);
        if (p->rlen >= sizeof(p->req)) {
            done(p, 0, "send");
            return;
        }
    }
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        done(p, 0, "connect");
        return;
    }
    p->phase = P_CONNECT;
    if (connect(p->fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        && errno != EINPROGRESS)
    {
        done(p, 0, "connect");
    }
}

/* the probe moved on after poll said its socket is ready (revents) */
static void
step(probe_t *p, const char *uri, short revents)
{
    scaleset_head_t    h;
    scaleset_head_rc_t rc;
    socklen_t          len = sizeof(int);
    ssize_t            r;
    int                err = 0;

    if (p->phase == P_CONNECT) {
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0
            || err != 0) {
            done(p, 0, "connect");
            return;
        }
        if (uri == NULL) {
            done(p, 1, "");
            return;
        }
        p->phase = P_SEND;
    }
    if (p->phase == P_SEND) {
        r = send(p->fd, p->req + p->sent, p->rlen - p->sent, MSG_NOSIGNAL);
        if (r > 0) {
            p->sent += (size_t) r;
        } else if (r < 0 && errno != EAGAIN && errno != EINTR) {
            done(p, 0, "send");
            return;
        }
        if (p->sent == p->rlen) {
            p->phase = P_RECV;
        }
        return;
    }
    if (p->phase != P_RECV || !(revents & (POLLIN | POLLHUP | POLLERR))) {
        return;
    }
    r = recv(p->fd, p->buf + p->n, sizeof(p->buf) - p->n, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (r <= 0) {
        done(p, 0, r == 0 ? "closed" : "timeout");
        return;
    }
    p->n += (size_t) r;
    rc = scaleset_head_parse(p->buf, p->n, &h);
    if (rc == SCALESET_HEAD_AGAIN && p->n < sizeof(p->buf)) {
        return;
    }
    if (rc != SCALESET_HEAD_DONE) {
        done(p, 0, "bad response");
    } else if (h.status < 200 || h.status > 399) {
        char why[32];

        snprintf(why, sizeof(why), "status %u", h.status);
        done(p, 0, why);
    } else {
        done(p, 1, "");
    }
}

/* what a probe that ran out of time says, by where it was */
static const char *
late(const probe_t *p)
{
    return p->phase == P_CONNECT ? "connect"
           : p->phase == P_SEND  ? "send"
                                 : "timeout";
}

void
ready_check_all(ready_probe_t *pr, int n, const char *uri, uint64_t timeout_ms)
{
    probe_t      *p;
    struct pollfd pfd[READY_INFLIGHT];
    int           map[READY_INFLIGHT];
    int           i, k, next = 0, live, wait;
    uint64_t      now, until;

    if (n <= 0) {
        return;
    }
    p = xcalloc((size_t) n, sizeof(*p));
    for (i = 0; i < n; i++) {
        p[i].pr = &pr[i];
        p[i].fd = -1;
    }
    for (;;) {
        /* start probes while there is room */
        for (live = 0, i = 0; i < next; i++) {
            live += p[i].phase != P_DONE;
        }
        while (next < n && live < READY_INFLIGHT) {
            start(&p[next], uri, timeout_ms);
            live += p[next].phase != P_DONE;
            next++;
        }
        now = clock_mono_ms();
        until = UINT64_MAX;
        for (k = 0, i = 0; i < next; i++) {
            if (p[i].phase == P_DONE) {
                continue;
            }
            if (now >= p[i].deadline) {
                done(&p[i], 0, late(&p[i]));
                continue;
            }
            until = p[i].deadline < until ? p[i].deadline : until;
            pfd[k].fd = p[i].fd;
            pfd[k].events = p[i].phase == P_RECV ? POLLIN : POLLOUT;
            pfd[k].revents = 0;
            map[k++] = i;
        }
        if (k == 0) {
            if (next == n) {
                break;
            }
            continue; /* room again: start more */
        }
        wait = (int) (until - now);
        if (poll(pfd, (nfds_t) k, wait) < 0 && errno != EINTR) {
            for (i = 0; i < k; i++) {
                done(&p[map[i]], 0, "poll");
            }
            continue;
        }
        for (i = 0; i < k; i++) {
            if (pfd[i].revents) {
                step(&p[map[i]], uri, pfd[i].revents);
            }
        }
    }
    free(p);
}

void
ready_pool_check(const pool_config_t *p, ready_probe_t *pr, int n)
{
    int i;

    if (!p->readiness_tcp && p->health_uri == NULL) {
        for (i = 0; i < n; i++) {
            pr[i].ok = 1; /* readiness: none */
        }
        return;
    }
    ready_check_all(pr, n, p->health_uri,
                    p->health_uri ? p->health_timeout_ms : 200);
}
