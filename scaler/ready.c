/*
 * ready.c: is an instance ready to be registered?  A TCP connect to its
 * address, or, when the pool has health.uri, an HTTP GET of it answered
 * with a 2xx or 3xx status within the timeout (the response head parsed by
 * the parser the gateway's health checks use).  Blocking, with a bound:
 * called from the reconcile thread, never from the event loop; many at
 * once on threads of their own (ready_pool_all), so a pass waits for one
 * timeout, not for the sum of them.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
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

/* waits for events on fd until the deadline; 1 when they came */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
    struct pollfd  pfd = { fd, events, 0 };
    uint64_t       now = clock_mono_ms();

    if (now >= deadline) {
        return 0;
    }
    return poll(&pfd, 1, (int) (deadline - now)) == 1;
}

/* a connected socket to "A.B.C.D:PORT", or -1 */
static int
ready_connect(const char *address, uint64_t deadline)
{
    struct sockaddr_in  sin;
    char                host[96], *colon;
    int                 fd, err = 0;
    socklen_t           len = sizeof(err);

    snprintf(host, sizeof(host), "%s", address);
    if ((colon = strrchr(host, ':')) == NULL) {
        return -1;
    }
    *colon = '\0';
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0) {
        return fd;
    }
    if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline)
        && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
    {
        return fd;
    }
    close(fd);
    return -1;
}

int
ready_check(const char *address, const char *uri, uint64_t timeout_ms,
    char *why, size_t whylen)
{
    char                buf[2048], req[512];
    size_t              n = 0, sent = 0, rlen;
    ssize_t             r;
    uint64_t            deadline = clock_mono_ms() + timeout_ms;
    scaleset_head_t     h;
    scaleset_head_rc_t  rc = SCALESET_HEAD_AGAIN;
    int                 fd;

    snprintf(why, whylen, "connect");
    if ((fd = ready_connect(address, deadline)) < 0) {
        return 0;
    }
    if (uri == NULL) {
        close(fd);
        return 1;
    }
    rlen = (size_t) snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s"
                             "\r\nUser-Agent: scaleset-scaler\r\n"
                             "Connection: close\r\n\r\n", uri, address);
    while (sent < rlen) {
        r = send(fd, req + sent, rlen - sent, MSG_NOSIGNAL);
        if (r > 0) {
            sent += (size_t) r;
        } else if (r < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline))
        {
            continue;
        } else {
            snprintf(why, whylen, "send");
            close(fd);
            return 0;
        }
    }
    while (rc == SCALESET_HEAD_AGAIN && n < sizeof(buf)) {
        r = recv(fd, buf + n, sizeof(buf) - n, 0);
        if (r > 0) {
            n += (size_t) r;
            rc = scaleset_head_parse(buf, n, &h);
        } else if (r < 0 && errno == EAGAIN && wait_fd(fd, POLLIN, deadline))
        {
            continue;
        } else {
            snprintf(why, whylen, r == 0 ? "closed" : "timeout");
            close(fd);
            return 0;
        }
    }
    close(fd);
    if (rc != SCALESET_HEAD_DONE) {
        snprintf(why, whylen, "bad response");
        return 0;
    }
    if (h.status < 200 || h.status > 399) {
        snprintf(why, whylen, "status %u", h.status);
        return 0;
    }
    return 1;
}

int
ready_pool(const pool_config_t *p, const char *address, char *why,
    size_t whylen)
{
    if (!p->readiness_tcp && p->health_uri == NULL) {
        return 1;                   /* readiness: none */
    }
    return ready_check(address, p->health_uri,
                       p->health_uri ? p->health_timeout_ms : 200, why,
                       whylen);
}

/* ready_pool_all's threads: each takes the next job */
typedef struct {
    const pool_config_t  *p;
    ready_job_t          *jobs;
    int                   n, next;
    pthread_mutex_t       lock;
} ready_run_t;

static void *
ready_worker(void *arg)
{
    ready_run_t  *r = arg;
    ready_job_t  *j;
    int           i;

    for (;;) {
        pthread_mutex_lock(&r->lock);
        i = r->next++;
        pthread_mutex_unlock(&r->lock);
        if (i >= r->n) {
            return NULL;
        }
        j = &r->jobs[i];
        j->ok = ready_pool(r->p, j->address, j->why, sizeof(j->why));
    }
}

void
ready_pool_all(const pool_config_t *p, ready_job_t *jobs, int n)
{
    ready_run_t  r = { p, jobs, n, 0, PTHREAD_MUTEX_INITIALIZER };
    pthread_t    th[READY_THREADS];
    int          k, started = 0;

    for (k = 0; n > 1 && k < n && k < READY_THREADS; k++) {
        if (pthread_create(&th[k], NULL, ready_worker, &r) != 0) {
            break;
        }
        started++;
    }
    ready_worker(&r);               /* this thread too (all of it for one) */
    for (k = 0; k < started; k++) {
        pthread_join(th[k], NULL);
    }
    pthread_mutex_destroy(&r.lock);
}
