/*
 * registry.c: the Redis registry.  Member writes follow the write protocol
 * of DESIGN.md: one MULTI/EXEC with HSET or HDEL, INCR epoch and PUBLISH.
 * Commands have a short timeout; any failure drops the connection, which
 * is retried on the next call (the caller keeps its state).
 */

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

/* runs tx's commands in one round trip; 0 when Redis did all of them */
static int
run_tx(registry_t *r, const char *pool, const char *id, registry_tx_t *tx)
{
    redisContext  *c = reg_get(r);
    redisReply    *rep;
    char           err[256];
    int            i, rc = 0;

    if (c == NULL) {
        return -1;
    }
    for (i = 0; i < tx->n; i++) {
        redisAppendCommandArgv(c, tx->cmd[i].argc, tx->cmd[i].argv,
                               tx->cmd[i].argvlen);
    }
    for (i = 0; i < tx->n; i++) {
        if (redisGetReply(c, (void **) &rep) != REDIS_OK) {
            reg_drop(r);
            return -1;
        }
        if (registry_reply_failed(rep, err, sizeof(err)) && rc == 0) {
            slog(pool, id, "redis: %s", err);
            rc = -1;
        }
        freeReplyObject(rep);
    }
    return rc;
}

/* rec NULL: HDEL; drain_since > 0: the drain began then (recorded) */
static int
write_member(registry_t *r, const char *pool, const char *id,
    const char *rec, uint64_t drain_since)
{
    registry_tx_t  tx;

    if (registry_tx_member(&tx, r->prefix, pool, id, rec, drain_since) != 0)
    {
        return -1;
    }
    return run_tx(r, pool, id, &tx);
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

    if (c == NULL || key(r, kd, pool, SCALESET_KEY_DRAINING) < 0) {
        return 0;
    }
    rep = redisCommand(c, "HGET %s %s", kd, id);
    if (rep == NULL) {
        reg_drop(r);
        return 0;
    }
    if (rep->type == REDIS_REPLY_STRING) {
        ms = strtoull(rep->str, NULL, 10);
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
registry_capacity_get(registry_t *r, const char *pool, char *buf,
    size_t size)
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
        snprintf(buf, size, "%.*s", (int) rep->len, rep->str);
        rc = 1;
    } else if (rep->type != REDIS_REPLY_NIL) {
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

long
registry_next_seq(registry_t *r, const char *pool, long above)
{
    redisContext  *c = reg_get(r);
    redisReply    *rep;
    char           k[SCALESET_KEY_MAX];
    long           v;

    if (c == NULL || key(r, k, pool, SCALESET_KEY_SEQ) < 0) {
        return -1;
    }
    rep = redisCommand(c, "EVAL %s 1 %s %ld",
        "local v = redis.call('INCR', KEYS[1]) "
        "if v <= tonumber(ARGV[1]) then v = tonumber(ARGV[1]) + 1 "
        "redis.call('SET', KEYS[1], v) end return v", k, above);
    if (rep == NULL) {
        reg_drop(r);
        return -1;
    }
    v = rep->type == REDIS_REPLY_INTEGER ? (long) rep->integer : -1;
    freeReplyObject(rep);
    return v;
}

long
registry_conns(registry_t *r, const char *pool, const char *id)
{
    redisContext       *c = reg_get(r);
    redisReply         *keys, *rep, *list;
    scaleset_health_t   h;
    char                cursor[32];
    scaleset_error_t    err;
    char                pat[SCALESET_KEY_MAX];
    long                sum = -1;
    size_t              i;

    if (c == NULL || key(r, pat, pool, SCALESET_KEY_HEALTH_MATCH) < 0) {
        return -1;
    }
    /* SCAN, not KEYS: never blocks Redis on a big keyspace */
    snprintf(cursor, sizeof(cursor), "0");
    do {
        keys = redisCommand(c, "SCAN %s MATCH %s COUNT 200", cursor, pat);
        if (keys == NULL) {
            reg_drop(r);
            return -1;
        }
        if (keys->type != REDIS_REPLY_ARRAY || keys->elements != 2
            || keys->element[0]->type != REDIS_REPLY_STRING
            || keys->element[1]->type != REDIS_REPLY_ARRAY)
        {
            freeReplyObject(keys);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", keys->element[0]->str);
        list = keys->element[1];
        for (i = 0; i < list->elements; i++) {
            rep = redisCommand(c, "HGET %s %s", list->element[i]->str, id);
            if (rep == NULL) {
                reg_drop(r);
                freeReplyObject(keys);
                return -1;
            }
            if (rep->type == REDIS_REPLY_STRING
                && scaleset_health_parse(rep->str, rep->len, &h, &err) == 0)
            {
                sum = (sum < 0 ? 0 : sum) + (long) h.conns;
            }
            freeReplyObject(rep);
        }
        freeReplyObject(keys);
    } while (strcmp(cursor, "0") != 0);
    return sum;
}
