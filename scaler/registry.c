/*
 * registry.c: the Redis registry.  Member writes follow the write protocol
 * of DESIGN.md: one MULTI/EXEC with HSET or HDEL, INCR epoch and PUBLISH.
 * Commands have a short timeout; any failure drops the connection, which
 * is retried on the next call (the caller keeps its state).
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#include "scaler.h"
#include "scaleset_record.h"

struct registry {
    char           *host;
    int             port;
    char           *prefix;
    redisContext   *c;
    int             down_logged;
    int             many_logged;        /* REGISTRY_GATEWAYS_MAX */
    char            bad_logged[SCALESET_KEY_MAX + 64];  /* "key id" */
};

static redisContext *reg_get(registry_t *r);
static void reg_drop(registry_t *r);
static int key(registry_t *r, char *buf, const char *pool,
    scaleset_key_kind_t kind);
static int write_member(registry_t *r, const char *pool, const char *id,
    const char *rec, uint64_t drain_since);

registry_t *
registry_open(const char *host, int port, const char *prefix)
{
    registry_t  *r = calloc(1, sizeof(*r));

    r->host = strdup(host);
    r->port = port;
    r->prefix = strdup(prefix);
    return r;
}

void
registry_close(registry_t *r)
{
    if (r == NULL) {
        return;
    }
    reg_drop(r);
    free(r->host);
    free(r->prefix);
    free(r);
}

static redisContext *
reg_get(registry_t *r)
{
    struct timeval  tv = { 1, 0 };

    if (r->c) {
        return r->c;
    }
    r->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (r->c == NULL || r->c->err) {
        if (!r->down_logged) {
            slog(NULL, NULL, "redis %s:%d unreachable: %s", r->host, r->port,
                 r->c ? r->c->errstr : "out of memory");
            r->down_logged = 1;
        }
        reg_drop(r);
        return NULL;
    }
    redisSetTimeout(r->c, tv);
    if (r->down_logged) {
        slog(NULL, NULL, "redis %s:%d connected", r->host, r->port);
        r->down_logged = 0;
    }
    return r->c;
}

static void
reg_drop(registry_t *r)
{
    if (r->c) {
        redisFree(r->c);
        r->c = NULL;
    }
}

static int
key(registry_t *r, char *buf, const char *pool, scaleset_key_kind_t kind)
{
    return scaleset_key(buf, SCALESET_KEY_MAX, r->prefix, pool, kind, NULL);
}

/* PREFIX{POOL}:draining: id -> UNIX ms the drain began (the scaler's own
   record, in the pool's hash slot, so drain_timeout survives a restart) */
static int
drain_key(registry_t *r, char *buf, const char *pool)
{
    int  n = snprintf(buf, SCALESET_KEY_MAX, "%s{%s}:draining", r->prefix,
                      pool);

    return n > 0 && n < SCALESET_KEY_MAX ? 0 : -1;
}

/* rec NULL: HDEL; drain_since > 0: the drain began then (recorded) */
static int
write_member(registry_t *r, const char *pool, const char *id,
    const char *rec, uint64_t drain_since)
{
    redisContext  *c = reg_get(r);
    redisReply    *rep;
    char           km[SCALESET_KEY_MAX], ke[SCALESET_KEY_MAX],
                   kv[SCALESET_KEY_MAX], kd[SCALESET_KEY_MAX];
    int            i, rc = 0;

    if (c == NULL) {
        return -1;
    }
    if (key(r, km, pool, SCALESET_KEY_MEMBERS) < 0
        || key(r, ke, pool, SCALESET_KEY_EPOCH) < 0
        || key(r, kv, pool, SCALESET_KEY_EVENTS) < 0
        || drain_key(r, kd, pool) < 0)
    {
        return -1;
    }
    /* the script runs inside the transaction, after INCR: it publishes
       the new epoch */
    redisAppendCommand(c, "MULTI");
    if (rec) {
        redisAppendCommand(c, "HSET %s %s %s", km, id, rec);
    } else {
        redisAppendCommand(c, "HDEL %s %s", km, id);
    }
    if (drain_since) {
        redisAppendCommand(c, "HSETNX %s %s %llu", kd, id,
                           (unsigned long long) drain_since);
    } else {
        redisAppendCommand(c, "HDEL %s %s", kd, id);
    }
    redisAppendCommand(c, "INCR %s", ke);
    redisAppendCommand(c, "EVAL %s 1 %s %s",
        "return redis.call('PUBLISH', ARGV[1], redis.call('GET', KEYS[1]))",
        ke, kv);
    redisAppendCommand(c, "EXEC");
    for (i = 0; i < 6; i++) {
        if (redisGetReply(c, (void **) &rep) != REDIS_OK) {
            reg_drop(r);
            return -1;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            slog(pool, id, "redis: %s", rep->str);
            rc = -1;
        }
        freeReplyObject(rep);
    }
    return rc;
}

int
registry_set(registry_t *r, const char *pool, const char *id,
    const char *rec)
{
    return write_member(r, pool, id, rec, 0);
}

int
registry_set_drain(registry_t *r, const char *pool, const char *id,
    const char *rec, uint64_t since_ms)
{
    return write_member(r, pool, id, rec, since_ms ? since_ms : 1);
}

int
registry_del(registry_t *r, const char *pool, const char *id)
{
    return write_member(r, pool, id, NULL, 0);
}

uint64_t
registry_drain_since(registry_t *r, const char *pool, const char *id)
{
    redisContext  *c = reg_get(r);
    redisReply    *rep;
    char           kd[SCALESET_KEY_MAX];
    uint64_t       ms = 0;

    if (c == NULL || drain_key(r, kd, pool) < 0) {
        return 0;
    }
    rep = redisCommand(c, "HGET %s %s", kd, id);
    if (rep == NULL) {
        reg_drop(r);
        return 0;
    }
    /* ours, but read from Redis: anything but a UNIX ms is unknown */
    if (rep->type == REDIS_REPLY_STRING
        && scaleset_parse_u64(rep->str, rep->len, SCALESET_UNIX_MS_MAX, &ms)
           != 0)
    {
        ms = 0;
    }
    freeReplyObject(rep);
    return ms;
}

int
registry_members(registry_t *r, const char *pool, char ***ids, char ***recs)
{
    redisContext  *c = reg_get(r);
    redisReply    *rep;
    char           km[SCALESET_KEY_MAX];
    size_t         i;
    int            n;

    *ids = NULL;
    *recs = NULL;
    if (c == NULL || key(r, km, pool, SCALESET_KEY_MEMBERS) < 0) {
        return -1;
    }
    rep = redisCommand(c, "HGETALL %s", km);
    if (rep == NULL) {
        reg_drop(r);
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        return -1;
    }
    n = (int) rep->elements / 2;
    *ids = calloc(n + 1, sizeof(char *));
    *recs = calloc(n + 1, sizeof(char *));
    for (i = 0; i + 1 < rep->elements; i += 2) {
        (*ids)[i / 2] = strdup(rep->element[i]->str);
        (*recs)[i / 2] = strdup(rep->element[i + 1]->str);
    }
    freeReplyObject(rep);
    return n;
}

void
registry_free_list(char **l, int n)
{
    int  i;

    if (l == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(l[i]);
    }
    free(l);
}

int
registry_capacity_get(registry_t *r, const char *pool, int *cap)
{
    redisContext  *c = reg_get(r);
    redisReply    *rep;
    char           k[SCALESET_KEY_MAX];
    int            rc = 0;

    if (c == NULL || key(r, k, pool, SCALESET_KEY_CAPACITY) < 0) {
        return -1;
    }
    rep = redisCommand(c, "GET %s", k);
    if (rep == NULL) {
        reg_drop(r);
        return -1;
    }
    if (rep->type == REDIS_REPLY_STRING) {
        *cap = atoi(rep->str);
        rc = 1;
    }
    freeReplyObject(rep);
    return rc;
}

int
registry_capacity_set(registry_t *r, const char *pool, int cap)
{
    redisContext  *c = reg_get(r);
    redisReply    *rep;
    char           k[SCALESET_KEY_MAX];

    if (c == NULL || key(r, k, pool, SCALESET_KEY_CAPACITY) < 0) {
        return -1;
    }
    rep = redisCommand(c, "SET %s %d", k, cap);
    if (rep == NULL) {
        reg_drop(r);
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

long
registry_next_seq(registry_t *r, const char *pool, long above)
{
    redisContext  *c = reg_get(r);
    redisReply    *rep;
    char           k[SCALESET_KEY_MAX];
    long           v;

    if (c == NULL) {
        return -1;
    }
    snprintf(k, sizeof(k), "%s{%s}:seq", r->prefix, pool);
    rep = redisCommand(c, "EVAL %s 1 %s %ld",
        "local v = redis.call('INCR', KEYS[1]) "
        "if v <= tonumber(ARGV[1]) then v = tonumber(ARGV[1]) + 1 "
        "redis.call('SET', KEYS[1], v) end return v", k, above);
    if (rep == NULL) {
        reg_drop(r);
        return -1;
    }
    v = rep->type == REDIS_REPLY_INTEGER ? (long) rep->integer : -1;
    if (v > REGISTRY_SEQ_MAX) {
        slog(pool, NULL, "redis: %s is %ld, above %ld: no new instances",
             k, v, (long) REGISTRY_SEQ_MAX);
        v = -1;
    }
    freeReplyObject(rep);
    return v;
}

int
registry_conns_add(long *sum, const char *rec, size_t len,
    scaleset_error_t *err)
{
    scaleset_health_t  h;

    if (scaleset_health_parse(rec, len, &h, err) != 0) {
        return -1;
    }
    if (*sum < 0) {
        *sum = 0;
    }
    /* h.conns <= SCALESET_HEALTH_COUNT_MAX, far below LONG_MAX; known
       sums stay below REGISTRY_CONNS_UNKNOWN */
    *sum = (long) h.conns >= REGISTRY_CONNS_UNKNOWN - *sum
           ? REGISTRY_CONNS_UNKNOWN - 1 : *sum + (long) h.conns;
    return 0;
}

long
registry_conns(registry_t *r, const char *pool, const char *id)
{
    redisContext       *c = reg_get(r);
    redisReply         *keys, *rep, *list;
    char                cursor[32], what[sizeof(r->bad_logged)];
    scaleset_error_t    err;
    char                pat[SCALESET_KEY_MAX];
    long                sum = -1;
    size_t              i, nkeys = 0;

    if (c == NULL) {
        return REGISTRY_CONNS_UNKNOWN;
    }
    snprintf(pat, sizeof(pat), "%s{%s}:health:*", r->prefix, pool);
    /* SCAN, not KEYS: never blocks Redis on a big keyspace */
    snprintf(cursor, sizeof(cursor), "0");
    do {
        keys = redisCommand(c, "SCAN %s MATCH %s COUNT 200", cursor, pat);
        if (keys == NULL) {
            reg_drop(r);
            return REGISTRY_CONNS_UNKNOWN;
        }
        if (keys->type != REDIS_REPLY_ARRAY || keys->elements != 2
            || keys->element[0]->type != REDIS_REPLY_STRING
            || keys->element[1]->type != REDIS_REPLY_ARRAY)
        {
            if (keys->type == REDIS_REPLY_ERROR) {
                slog(pool, id, "redis: SCAN: %s", keys->str);
            }
            freeReplyObject(keys);
            return REGISTRY_CONNS_UNKNOWN;
        }
        snprintf(cursor, sizeof(cursor), "%s", keys->element[0]->str);
        list = keys->element[1];
        nkeys += list->elements;
        if (nkeys > REGISTRY_GATEWAYS_MAX) {
            if (!r->many_logged) {
                slog(pool, id, "redis: more than %d keys %s: connections "
                     "unknown", REGISTRY_GATEWAYS_MAX, pat);
                r->many_logged = 1;
            }
            freeReplyObject(keys);
            return REGISTRY_CONNS_UNKNOWN;
        }
        for (i = 0; i < list->elements; i++) {
            if (list->element[i]->type != REDIS_REPLY_STRING) {
                continue;
            }
            rep = redisCommand(c, "HGET %b %s", list->element[i]->str,
                               list->element[i]->len, id);
            if (rep == NULL) {
                reg_drop(r);
                freeReplyObject(keys);
                return REGISTRY_CONNS_UNKNOWN;
            }
            if (rep->type == REDIS_REPLY_ERROR) {
                slog(pool, id, "redis: HGET: %s", rep->str);
                freeReplyObject(rep);
                freeReplyObject(keys);
                return REGISTRY_CONNS_UNKNOWN;
            }
            /* a bad one is skipped, logged when it is a new one */
            if (rep->type == REDIS_REPLY_STRING
                && registry_conns_add(&sum, rep->str, rep->len, &err) != 0
                && snprintf(what, sizeof(what), "%s %s",
                            list->element[i]->str, id) > 0
                && strcmp(what, r->bad_logged) != 0)
            {
                slog(pool, id, "redis: bad health record in %s skipped: %s",
                     list->element[i]->str, err.msg);
                memcpy(r->bad_logged, what, sizeof(what));
            }
            freeReplyObject(rep);
        }
        freeReplyObject(keys);
    } while (strcmp(cursor, "0") != 0);
    r->many_logged = 0;
    return sum;
}
