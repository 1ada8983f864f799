/*
 * redis_conn.c: how the scaler reaches its Redis, for every connection it
 * makes (the passes' registry, the lease, the loop's writes).
 *
 * Credentials: AUTH [username] password as the first command of every
 * connection (or a PING without a password, so that a Redis that wants
 * one says NOAUTH at once), SELECT db, and with Sentinel a ROLE that must
 * say master.  Refused credentials (or a refused SELECT or ROLE) are an
 * operator's to fix: the connection is not tried again for
 * REDIS_AUTH_RETRY_MS, and the refusal is logged once a minute, never a
 * silent retry loop.
 *
 * Sentinel (redis.sentinel): the sentinels are asked in turn for the
 * master (SENTINEL get-master-addr-by-name, as the Sentinel client
 * guidelines say; hiredis 0.14 has no Sentinel support, so it is that
 * command on a plain connection), the one that answered is kept, and the
 * master it names is checked with ROLE after connecting.  A failover is
 * followed by asking again: after any failure (the connection is made
 * again, which asks first), and every REDIS_SENTINEL_CHECK_MS while a
 * connection is in use, so a master that moved without the old one
 * failing (a partition, a manual failover) is left within a second.  The
 * master found is published in a redis_topo_t, which the loop's
 * non-blocking connection (registry_async.c) follows; it marks it stale
 * when the master it was told fails, so the next blocking use asks again.
 *
 * Each redis_conn_t belongs to one thread; the topology is shared.
 */

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#include "scaler.h"

struct redis_topo {
    pthread_mutex_t lock;
    char            host[REDIS_HOST_MAX];
    int             port;
    unsigned        gen; /* changes with the address */
    int             known;
    int             stale; /* the master of gen failed */
};

struct redis_conn {
    redis_config_t cfg; /* a copy: outlives reloads */
    redis_topo_t  *topo;
    uint64_t       timeout_ms;
    char           who[16]; /* log prefix */
    redisContext  *c;       /* the master's */
    char           host[REDIS_HOST_MAX];
    int            port;
    unsigned       gen;
    redisContext  *sc;              /* the sentinel that answered */
    int            sentinel;        /* its index */
    uint64_t       checked;         /* last asked while connected */
    unsigned       sentinel_logged; /* bit per sentinel, this outage */
    redis_fail_t   fail;            /* of the last attempt */
    uint64_t       retry_at;        /* AUTH/SETUP: no attempt before */
    uint64_t       auth_logged;
    unsigned long  auth_failures;
    int            down_logged;
    char           err[256];
};

static void          conn_close(redis_conn_t *rc);
static redisContext *conn_open(redis_conn_t *rc);
static int  ask_sentinels(redis_conn_t *rc, char *host, size_t size, int *port);
static int  sentinel_ask(redis_conn_t *rc, int k, char *host, size_t size,
                         int *port, char *why, size_t whylen);
static void fail(redis_conn_t *rc, redis_fail_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- the configuration ------------------------------------------------- */

static char *
dup0(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void
redis_config_copy(redis_config_t *dst, const redis_config_t *src)
{
    int i;

    memset(dst, 0, sizeof(*dst));
    dst->addr.port = src->addr.port;
    dst->db = src->db;
    dst->nsentinels = src->nsentinels;
    dst->addr.host = dup0(src->addr.host);
    dst->username = dup0(src->username);
    dst->password = dup0(src->password);
    dst->master = dup0(src->master);
    for (i = 0; i < src->nsentinels; i++) {
        dst->sentinels[i].port = src->sentinels[i].port;
        dst->sentinels[i].host = xstrdup(src->sentinels[i].host);
    }
}

void
redis_config_release(redis_config_t *rc)
{
    int i;

    free(rc->addr.host);
    free(rc->username);
    if (rc->password) {
        memset(rc->password, 0, strlen(rc->password));
    }
    free(rc->password);
    free(rc->master);
    for (i = 0; i < rc->nsentinels; i++) {
        free(rc->sentinels[i].host);
    }
    memset(rc, 0, sizeof(*rc));
}

int
redis_auth_argv(const redis_config_t *rc, const char *argv[3], size_t len[3])
{
    int i, n = 0;

    if (rc->password == NULL) {
        return 0;
    }
    argv[n++] = "AUTH";
    if (rc->username) {
        argv[n++] = rc->username;
    }
    argv[n++] = rc->password;
    for (i = 0; i < n; i++) {
        len[i] = strlen(argv[i]);
    }
    return n;
}

const char *
redis_who(const redis_config_t *rc, char *buf, size_t size)
{
    if (rc->username) {
        snprintf(buf, size, " of user %s", rc->username);
    } else {
        buf[0] = '\0';
    }
    return buf;
}

/* --- replies (pure) ------------------------------------------------------ */

int
redis_addr_literal(const char *host, size_t len)
{
    char            buf[REDIS_HOST_MAX];
    struct in6_addr a6;
    struct in_addr  a4;

    if (len == 0 || len >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, host, len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, &a4) == 1
           || inet_pton(AF_INET6, buf, &a6) == 1;
}

int
redis_sentinel_reply(const void *reply, char *host, size_t size, int *port,
                     const char **why)
{
    const redisReply *r = reply;
    const redisReply *h, *p;
    char              num[8];
    char             *end;
    long              l;

    if (r == NULL) {
        *why = "no answer";
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        *why = r->str;
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        *why = "the master is not known to it";
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        *why = "unexpected reply";
        return -1;
    }
    h = r->element[0];
    p = r->element[1];
    /* no name resolution here: the loop connects to it without blocking */
    if (!redis_addr_literal(h->str, h->len) || h->len >= size) {
        *why = "the master's address is not an IP literal (announce-ip)";
        return -1;
    }
    if (p->len == 0 || p->len >= sizeof(num)) {
        *why = "the master's port is not a port";
        return -1;
    }
    memcpy(num, p->str, p->len);
    num[p->len] = '\0';
    l = strtol(num, &end, 10);
    if (*end != '\0' || l < 1 || l > 65535 || num[0] == '-' || num[0] == '+') {
        *why = "the master's port is not a port";
        return -1;
    }
    memcpy(host, h->str, h->len);
    host[h->len] = '\0';
    *port = (int) l;
    return 0;
}

int
redis_role_master(const void *reply)
{
    const redisReply *r = reply;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_STRING)
    {
        return -1;
    }
    return strcmp(r->element[0]->str, "master") == 0;
}

/* --- the topology ------------------------------------------------------ */

redis_topo_t *
redis_topo_new(void)
{
    redis_topo_t *t = xcalloc(1, sizeof(*t));

    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void
redis_topo_free(redis_topo_t *t)
{
    if (t != NULL) {
        pthread_mutex_destroy(&t->lock);
        free(t);
    }
}

/* 1 when the master changed (the generation moved) */
static int
topo_set(redis_topo_t *t, const char *host, int port, unsigned *gen)
{
    int changed;

    pthread_mutex_lock(&t->lock);
    changed = !t->known || t->port != port || strcmp(t->host, host) != 0;
    if (changed) {
        snprintf(t->host, sizeof(t->host), "%s", host);
        t->port = port;
        t->known = 1;
        t->gen++;
    }
    t->stale = 0;
    *gen = t->gen;
    pthread_mutex_unlock(&t->lock);
    return changed;
}

int
redis_topo_get(redis_topo_t *t, char *host, size_t size, int *port,
               unsigned *gen)
{
    int rc = -1;

    pthread_mutex_lock(&t->lock);
    if (t->known) {
        snprintf(host, size, "%s", t->host);
        *port = t->port;
        rc = 0;
    }
    *gen = t->gen;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void
redis_topo_stale(redis_topo_t *t, unsigned gen)
{
    pthread_mutex_lock(&t->lock);
    if (t->gen == gen) {
        t->stale = 1;
    }
    pthread_mutex_unlock(&t->lock);
}

static int
topo_is_stale(redis_topo_t *t, unsigned gen)
{
    int stale;

    pthread_mutex_lock(&t->lock);
    stale = t->stale || t->gen != gen;
    pthread_mutex_unlock(&t->lock);
    return stale;
}

/* --- the connection ---------------------------------------------------- */

redis_conn_t *
redis_conn_new(const redis_config_t *cfg, redis_topo_t *topo,
               uint64_t timeout_ms, const char *who)
{
    redis_conn_t *rc = xcalloc(1, sizeof(*rc));

    redis_config_copy(&rc->cfg, cfg);
    rc->topo = topo;
    rc->timeout_ms = timeout_ms;
    snprintf(rc->who, sizeof(rc->who), "%s", who ? who : "");
    rc->sentinel = -1;
    return rc;
}

void
redis_conn_free(redis_conn_t *rc)
{
    if (rc == NULL) {
        return;
    }
    conn_close(rc);
    if (rc->sc) {
        redisFree(rc->sc);
    }
    redis_config_release(&rc->cfg);
    free(rc);
}

const char *
redis_conn_error(const redis_conn_t *rc)
{
    return rc->err;
}

redis_fail_t
redis_conn_failure(const redis_conn_t *rc)
{
    return rc->fail;
}

static void
fail(redis_conn_t *rc, redis_fail_t kind, const char *fmt, ...)
{
    va_list ap;

    rc->fail = kind;
    va_start(ap, fmt);
    vsnprintf(rc->err, sizeof(rc->err), fmt, ap);
    va_end(ap);
}

static void
conn_close(redis_conn_t *rc)
{
    if (rc->c) {
        redisFree(rc->c);
        rc->c = NULL;
    }
}

static struct timeval
tv_of(uint64_t ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) (ms % 1000) * 1000;
    return tv;
}

void
redis_conn_drop(redis_conn_t *rc)
{
    if (rc->c && rc->c->err) {
        fail(rc, REDIS_FAIL_CONNECT, "redis %s:%d: %s", rc->host, rc->port,
             rc->c->errstr);
    }
    conn_close(rc);
    if (rc->cfg.master) {
        /* a failover may be why: the next connection asks again */
        redis_topo_stale(rc->topo, rc->gen);
    }
}

redisContext *
redis_conn_get(redis_conn_t *rc)
{
    uint64_t now = clock_mono_ms();
    char     host[REDIS_HOST_MAX];
    char     why[160];
    int      port, k;

    if (rc->c && rc->cfg.master
        && (now - rc->checked >= REDIS_SENTINEL_CHECK_MS
            || topo_is_stale(rc->topo, rc->gen)))
    {
        /* still the master the sentinels name?  A sentinel that does not
           answer changes nothing (the next check asks the next one) */
        rc->checked = now;
        k = rc->sentinel >= 0 ? rc->sentinel : 0;
        if (sentinel_ask(rc, k, host, sizeof(host), &port, why, sizeof(why))
            != 0) {
            rc->sentinel = (k + 1) % rc->cfg.nsentinels;
        } else if (port != rc->port || strcmp(host, rc->host) != 0) {
            slog_warn(NULL, NULL,
                      "%sredis master \"%s\" moved from %s:%d to "
                      "%s:%d: connecting to it",
                      rc->who, rc->cfg.master, rc->host, rc->port, host, port);
            conn_close(rc);
        } else {
            topo_set(rc->topo, host, port, &rc->gen); /* confirmed */
        }
    }
    if (rc->c) {
        return rc->c;
    }
    if ((rc->fail == REDIS_FAIL_AUTH || rc->fail == REDIS_FAIL_SETUP)
        && now < rc->retry_at)
    {
        return NULL; /* the refusal stands until then */
    }
    return conn_open(rc);
}

/* asks sentinel k for the master; its connection kept on success */
static int
sentinel_ask(redis_conn_t *rc, int k, char *host, size_t size, int *port,
             char *why, size_t whylen)
{
    const redis_addr_t *a = &rc->cfg.sentinels[k];
    redisReply         *r;
    const char         *w;
    const char         *argv[3];

    if (rc->sc && rc->sentinel != k) {
        redisFree(rc->sc);
        rc->sc = NULL;
    }
    if (rc->sc == NULL) {
        rc->sc =
            redisConnectWithTimeout(a->host, a->port, tv_of(rc->timeout_ms));
        if (rc->sc == NULL || rc->sc->err) {
            snprintf(why, whylen, "%s",
                     rc->sc ? rc->sc->errstr : "out of memory");
            if (rc->sc) {
                redisFree(rc->sc);
                rc->sc = NULL;
            }
            return -1;
        }
        redisSetTimeout(rc->sc, tv_of(rc->timeout_ms));
        rc->sentinel = k;
    }
    argv[0] = "SENTINEL";
    argv[1] = "get-master-addr-by-name";
    argv[2] = rc->cfg.master;
    r = redisCommandArgv(rc->sc, 3, argv, NULL);
    if (redis_sentinel_reply(r, host, size, port, &w) != 0) {
        snprintf(why, whylen, "%s", r ? w : rc->sc->errstr);
        if (r) {
            freeReplyObject(r);
        }
        redisFree(rc->sc);
        rc->sc = NULL;
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* the sentinels in turn, from the last that answered; 0 with the master */
static int
ask_sentinels(redis_conn_t *rc, char *host, size_t size, int *port)
{
    char   why[160], all[200];
    size_t len = 0;
    int    i, k, n = rc->cfg.nsentinels;
    int    start = rc->sentinel >= 0 ? rc->sentinel : 0;

    all[0] = '\0';
    for (i = 0; i < n; i++) {
        k = (start + i) % n;
        if (sentinel_ask(rc, k, host, size, port, why, sizeof(why)) == 0) {
            rc->sentinel_logged = 0;
            return 0;
        }
        if (!(rc->sentinel_logged & (1u << k))) {
            slog_warn(NULL, NULL, "%ssentinel %s:%d (master \"%s\"): %s",
                      rc->who, rc->cfg.sentinels[k].host,
                      rc->cfg.sentinels[k].port, rc->cfg.master, why);
            rc->sentinel_logged |= 1u << k;
        }
        if (len < sizeof(all)) {
            len += snprintf(all + len, sizeof(all) - len, "%s%s:%d: %s",
                            len ? "; " : "", rc->cfg.sentinels[k].host,
                            rc->cfg.sentinels[k].port, why);
        }
    }
    rc->sentinel = -1;
    fail(rc, REDIS_FAIL_SENTINEL, "no sentinel names master \"%s\" (%s)",
         rc->cfg.master, all);
    return -1;
}

/* AUTH (or PING), SELECT, ROLE (Sentinel) in one round trip; 0 when the
   connection is ready */
static int
handshake(redis_conn_t *rc, redisContext *c)
{
    const char *argv[3];
    size_t      len[3];
    redisReply *r;
    char        db[16], user[96];
    int         n, i, rc_ = 0, nrep = 0, auth;

    n = redis_auth_argv(&rc->cfg, argv, len);
    auth = n > 0;
    if (auth) {
        redisAppendCommandArgv(c, n, argv, len);
    } else {
        redisAppendCommand(c, "PING");
    }
    nrep++;
    if (rc->cfg.db != 0) {
        snprintf(db, sizeof(db), "%d", rc->cfg.db);
        argv[0] = "SELECT";
        argv[1] = db;
        redisAppendCommandArgv(c, 2, argv, NULL);
        nrep++;
    }
    if (rc->cfg.master) {
        redisAppendCommand(c, "ROLE");
        nrep++;
    }
    for (i = 0; i < nrep; i++) {
        if (redisGetReply(c, (void **) &r) != REDIS_OK) {
            fail(rc, REDIS_FAIL_CONNECT, "redis %s:%d: %s", rc->host, rc->port,
                 c->errstr);
            return -1;
        }
        if (rc_ == 0 && i == 0 && r->type == REDIS_REPLY_ERROR
            && (auth || strncmp(r->str, "NOAUTH", 6) == 0))
        {
            fail(rc, REDIS_FAIL_AUTH,
                 "redis %s:%d refused the "
                 "credentials%s (%s: %s)",
                 rc->host, rc->port, redis_who(&rc->cfg, user, sizeof(user)),
                 auth ? "AUTH" : "no redis.password_file", r->str);
            rc_ = -1;
        } else if (rc_ == 0 && i > 0 && r->type == REDIS_REPLY_ERROR) {
            fail(rc, REDIS_FAIL_SETUP, "redis %s:%d refused %s: %s", rc->host,
                 rc->port, i == 1 && rc->cfg.db != 0 ? "SELECT" : "ROLE",
                 r->str);
            rc_ = -1;
        } else if (rc_ == 0 && i == nrep - 1 && rc->cfg.master
                   && redis_role_master(r) != 1)
        {
            fail(rc, REDIS_FAIL_ROLE,
                 "redis %s:%d is not the master yet "
                 "(ROLE says %s)",
                 rc->host, rc->port,
                 r->type == REDIS_REPLY_ARRAY && r->elements > 0
                         && r->element[0]->type == REDIS_REPLY_STRING
                     ? r->element[0]->str
                     : "something else");
            rc_ = -1;
        }
        freeReplyObject(r);
    }
    return rc_;
}

static redisContext *
conn_open(redis_conn_t *rc)
{
    redisContext *c;
    uint64_t      now;
    int           was_refused =
        rc->fail == REDIS_FAIL_AUTH || rc->fail == REDIS_FAIL_SETUP;

    if (rc->cfg.master) {
        if (ask_sentinels(rc, rc->host, sizeof(rc->host), &rc->port) != 0) {
            goto failed;
        }
    } else {
        snprintf(rc->host, sizeof(rc->host), "%s", rc->cfg.addr.host);
        rc->port = rc->cfg.addr.port;
    }
    c = redisConnectWithTimeout(rc->host, rc->port, tv_of(rc->timeout_ms));
    if (c == NULL || c->err) {
        fail(rc, REDIS_FAIL_CONNECT, "redis %s:%d unreachable: %s", rc->host,
             rc->port, c ? c->errstr : "out of memory");
        if (c) {
            redisFree(c);
        }
        goto failed;
    }
    redisSetTimeout(c, tv_of(rc->timeout_ms));
    if (handshake(rc, c) != 0) {
        redisFree(c);
        goto failed;
    }
    rc->c = c;
    rc->checked = clock_mono_ms();
    if (rc->cfg.master && topo_set(rc->topo, rc->host, rc->port, &rc->gen)) {
        slog(NULL, NULL,
             "%sredis master \"%s\" is at %s:%d (asked sentinel "
             "%s:%d)",
             rc->who, rc->cfg.master, rc->host, rc->port,
             rc->cfg.sentinels[rc->sentinel].host,
             rc->cfg.sentinels[rc->sentinel].port);
    }
    if (rc->down_logged || was_refused) {
        slog(NULL, NULL, "%sredis %s:%d connected", rc->who, rc->host,
             rc->port);
    }
    rc->down_logged = 0;
    rc->auth_failures = 0;
    rc->fail = REDIS_FAIL_NONE;
    rc->err[0] = '\0';
    return c;

failed:
    now = clock_mono_ms();
    if (rc->fail == REDIS_FAIL_AUTH || rc->fail == REDIS_FAIL_SETUP) {
        /* only the operator can fix it: not tried again before long */
        rc->auth_failures++;
        rc->retry_at = now + REDIS_AUTH_RETRY_MS;
        if (!was_refused || now - rc->auth_logged >= REDIS_AUTH_LOG_MS) {
            slog_err(NULL, NULL, "%s%s: %lu attempts, retrying every %ds",
                     rc->who, rc->err, rc->auth_failures,
                     REDIS_AUTH_RETRY_MS / 1000);
            rc->auth_logged = now;
        }
        rc->down_logged = 1;
        return NULL;
    }
    if (!rc->down_logged) {
        slog_warn(NULL, NULL, "%s%s", rc->who, rc->err);
        rc->down_logged = 1;
    }
    return NULL;
}
