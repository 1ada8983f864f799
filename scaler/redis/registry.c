/*
 * registry.c: the Redis registry of the passes, blocking, on the pass
 * thread.  Writes are registry_tx.c's commands (the write protocol);
 * reads bring a pool's stored state in as few round trips as it takes,
 * bounded: the pool's own hashes by a script that refuses one beyond the
 * bound before sending it, the gateways' reports (read-only keys for the
 * scaler's ACL user, where Redis refuses a script) page by page with
 * HSCAN, given up past the bound.  Commands have a 1 s timeout; any
 * failure drops the connection, which is made again by the next call
 * (redis_conn.c: credentials, database, Sentinel).  Writes carry the
 * fence the pass set (registry_fence()).  What went wrong is in
 * registry_error(): the caller reports it, with the pool and id.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#include "scaler.h"
#include "scaleset_record.h"

struct registry {
    redis_conn_t *conn;
    char         *prefix;
    redisContext *c; /* conn's, while a call uses it */
    char          fence[REGISTRY_FENCE_MAX + 1];
    int           fenced;  /* fence[0] != '\0': writes carry it */
    redis_fail_t  failure; /* of the last failed call */
    int           refused; /* the last failure was the fence */
    char          err[256];
};

/* KEYS[1] a hash, ARGV[1] the most fields: HGETALL, or an error reply
   when the hash is larger (nothing of it sent) */
static const char hgetall_bounded[] =
    "local n = redis.call('HLEN', KEYS[1]) "
    "if n > tonumber(ARGV[1]) then "
    "return redis.error_reply('TOOBIG ' .. n .. ' fields, more than ' "
    ".. ARGV[1]) end "
    "return redis.call('HGETALL', KEYS[1])";

static redisContext *reg_get(registry_t *r);
static void          reg_drop(registry_t *r);
static void          reg_drop_now(registry_t *r);
static void          reg_fail(registry_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int  key(registry_t *r, char *buf, const char *pool,
                scaleset_key_kind_t kind);
static int  write_member(registry_t *r, const char *pool, const char *id,
                         const char *rec, uint64_t drain_since);
static void hash_take(registry_hash_t *h, redisReply *rep);

registry_t *
registry_open(const redis_config_t *cfg, redis_topo_t *topo, const char *prefix)
{
    registry_t *r = xcalloc(1, sizeof(*r));

    r->conn = redis_conn_new(cfg, topo, 1000, NULL);
    r->prefix = xstrdup(prefix);
    return r;
}

void
registry_close(registry_t *r)
{
    if (r == NULL) {
        return;
    }
    redis_conn_free(r->conn);
    free(r->prefix);
    free(r);
}

const char *
registry_error(const registry_t *r)
{
    return r->err;
}

redis_fail_t
registry_failure(const registry_t *r)
{
    return r->failure;
}

int
registry_refused(const registry_t *r)
{
    return r->refused;
}

void
registry_fence(registry_t *r, const char *fence)
{
    snprintf(r->fence, sizeof(r->fence), "%s", fence ? fence : "");
    r->fenced = fence != NULL;
}

/* the fence of the writes, or NULL (unfenced) */
static const char *
fence_of(const registry_t *r)
{
    return r->fenced ? r->fence : NULL;
}

static void
reg_fail(registry_t *r, const char *fmt, ...)
{
    va_list ap;

    r->failure = REDIS_FAIL_CONNECT;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
}

/* the connection for a call (made again after a failure: redis_conn.c
   logs that once); NULL with the reason in r->err */
static redisContext *
reg_get(registry_t *r)
{
    r->refused = 0;
    if ((r->c = redis_conn_get(r->conn)) == NULL) {
        snprintf(r->err, sizeof(r->err), "%s", redis_conn_error(r->conn));
        r->failure = redis_conn_failure(r->conn);
    }
    return r->c;
}

/* the connection failed mid-command: gone, made again next time */
static void
reg_drop(registry_t *r)
{
    if (r->c) {
        if (r->c->err) {
            reg_fail(r, "redis: %s", r->c->errstr);
        }
        r->c = NULL;
        redis_conn_drop(r->conn);
    }
}

static int
key(registry_t *r, char *buf, const char *pool, scaleset_key_kind_t kind)
{
    if (scaleset_key(buf, SCALESET_KEY_MAX, r->prefix, pool, kind, NULL) < 0) {
        reg_fail(r, "no key for pool \"%s\"", pool);
        return -1;
    }
    return 0;
}

/* n replies of commands appended before; NULL when the connection
   failed (dropped); each freed by the caller */
static int
replies(registry_t *r, redisReply **rep, int n)
{
    int i, j;

    for (i = 0; i < n; i++) {
        if (redisGetReply(r->c, (void **) &rep[i]) != REDIS_OK) {
            for (j = 0; j < i; j++) {
                freeReplyObject(rep[j]);
            }
            reg_drop(r);
            return -1;
        }
    }
    return 0;
}

/* a connection that answers but may not be written (a former master):
   dropped, so the next call finds the master */
static void
reg_drop_now(registry_t *r)
{
    r->c = NULL;
    redis_conn_drop(r->conn);
}

/* runs tx's commands in one round trip; 0 when Redis did all of them
   (*answer, when not NULL: the last one's integer answer, else -1) */
static int
run_tx(registry_t *r, registry_tx_t *tx, long long *answer)
{
    redisReply *rep[REGISTRY_TX_CMDS];
    char        err[200];
    int         i, rc = 0;

    if (reg_get(r) == NULL) {
        return -1;
    }
    for (i = 0; i < tx->n; i++) {
        redisAppendCommandArgv(r->c, tx->cmd[i].argc, tx->cmd[i].argv,
                               tx->cmd[i].argvlen);
    }
    if (replies(r, rep, tx->n) != 0) {
        return -1;
    }
    for (i = 0; i < tx->n; i++) {
        if (rc == 0 && registry_reply_failed(rep[i], err, sizeof(err))) {
            reg_fail(r, "redis: %s", err);
            r->refused = registry_error_fenced(err);
            rc = -1;
        } else if (rc == 0 && i == tx->n - 1 && answer != NULL) {
            *answer =
                rep[i]->type == REDIS_REPLY_INTEGER ? rep[i]->integer : -1;
        }
        freeReplyObject(rep[i]);
    }
    if (r->refused) {
        ha_fenced(r->fence); /* that lease is over */
    }
    if (rc != 0 && strstr(r->err, "READONLY") != NULL) {
        reg_drop_now(r); /* a replica now: ask where the master is */
    }
    return rc;
}

/* rec NULL: HDEL; drain_since > 0: the drain began then (recorded) */
static int
write_member(registry_t *r, const char *pool, const char *id, const char *rec,
             uint64_t drain_since)
{
    registry_tx_t tx;

    if (registry_tx_member(&tx, r->prefix, fence_of(r), pool, id, rec,
                           drain_since)
        != 0)
    {
        reg_fail(r, "no write for pool \"%s\" id \"%s\"", pool, id);
        return -1;
    }
    return run_tx(r, &tx, NULL);
}

int
registry_set(registry_t *r, const char *pool, const char *id, const char *rec)
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

int
registry_set_standby(registry_t *r, const char *pool, const char *id,
                     const char *rec, uint64_t since_ms, const char *value)
{
    registry_tx_t tx;
    const char   *fv[2] = { id, value };

    if (rec == NULL) {
        return registry_hash_write(r, pool, SCALESET_KEY_STANDBY, fv, 1);
    }
    if (registry_tx_member_standby(&tx, r->prefix, fence_of(r), pool, id, rec,
                                   since_ms ? since_ms : 1, value)
        != 0)
    {
        reg_fail(r, "no write for pool \"%s\" id \"%s\"", pool, id);
        return -1;
    }
    return run_tx(r, &tx, NULL);
}

int
registry_publish(registry_t *r, const char *pool, scaleset_key_kind_t kind,
                 const char *msg)
{
    char        k[SCALESET_KEY_MAX];
    const char *argv[] = { "PUBLISH", k, msg };
    redisReply *rep;
    int         rc;

    if (key(r, k, pool, kind) < 0 || reg_get(r) == NULL) {
        return -1;
    }
    if ((rep = redisCommandArgv(r->c, 3, argv, NULL)) == NULL) {
        reg_drop(r);
        return -1;
    }
    rc = rep->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rc != 0) {
        reg_fail(r, "PUBLISH %s: %s", k,
                 rep->type == REDIS_REPLY_ERROR ? rep->str
                                                : "unexpected reply");
    }
    freeReplyObject(rep);
    return rc;
}

int
registry_hash_write(registry_t *r, const char *pool, scaleset_key_kind_t kind,
                    const char *const *fv, int n)
{
    registry_tx_t tx;

    if (registry_tx_hash(&tx, r->prefix, fence_of(r), pool, kind, fv, n) != 0) {
        reg_fail(r, "no write for pool \"%s\"", pool);
        return -1;
    }
    return run_tx(r, &tx, NULL);
}

void
registry_hash_free(registry_hash_t *h)
{
    int i;

    if (h->reply) {
        freeReplyObject(h->reply);
    }
    for (i = 0; i < h->npages; i++) {
        freeReplyObject(h->pages[i]);
    }
    free(h->pages);
    free(h->field);
    free(h->value);
    free(h->flen);
    free(h->vlen);
    memset(h, 0, sizeof(*h));
}

/* the field/value pairs of arr (an HGETALL reply, an HSCAN page's) added
   to h; -1 (h->err) when it is not a hash */
static int
hash_add(registry_hash_t *h, const redisReply *arr)
{
    size_t i, n, k;

    if (arr->type != REDIS_REPLY_ARRAY || arr->elements % 2 != 0) {
        snprintf(h->err, sizeof(h->err), "not a hash");
        return -1;
    }
    n = arr->elements / 2;
    k = (size_t) h->n + n + 1;
    h->field = xrealloc(h->field, k * sizeof(*h->field));
    h->value = xrealloc(h->value, k * sizeof(*h->value));
    h->flen = xrealloc(h->flen, k * sizeof(*h->flen));
    h->vlen = xrealloc(h->vlen, k * sizeof(*h->vlen));
    for (i = 0; i < n; i++) {
        if (arr->element[2 * i]->type != REDIS_REPLY_STRING
            || arr->element[2 * i + 1]->type != REDIS_REPLY_STRING)
        {
            snprintf(h->err, sizeof(h->err), "not a hash");
            return -1;
        }
        h->field[h->n] = arr->element[2 * i]->str;
        h->flen[h->n] = arr->element[2 * i]->len;
        h->value[h->n] = arr->element[2 * i + 1]->str;
        h->vlen[h->n] = arr->element[2 * i + 1]->len;
        h->n++;
    }
    return 0;
}

/* an HGETALL reply (or the bounded script's error) into h; rep is h's */
static void
hash_take(registry_hash_t *h, redisReply *rep)
{
    memset(h, 0, sizeof(*h));
    h->reply = rep;
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(h->err, sizeof(h->err), "%s", rep->str);
        return;
    }
    h->ok = hash_add(h, rep) == 0;
}

/* key's hash page by page (HSCAN), refused beyond max fields; -1 when the
   connection failed */
static int
hash_scan(registry_t *r, const char *key, int max, registry_hash_t *h)
{
    redisReply *rep;
    char        cursor[32];
    const char *argv[] = { "HSCAN", key, cursor, "COUNT", "1000" };

    memset(h, 0, sizeof(*h));
    snprintf(cursor, sizeof(cursor), "0");
    do {
        if ((rep = redisCommandArgv(r->c, 5, argv, NULL)) == NULL) {
            reg_drop(r);
            return -1;
        }
        h->pages = xrealloc(h->pages, (h->npages + 1) * sizeof(*h->pages));
        h->pages[h->npages++] = rep;
        if (rep->type == REDIS_REPLY_ERROR) {
            snprintf(h->err, sizeof(h->err), "%s", rep->str);
            return 0;
        }
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2
            || rep->element[0]->type != REDIS_REPLY_STRING)
        {
            snprintf(h->err, sizeof(h->err), "HSCAN: unexpected reply");
            return 0;
        }
        if (hash_add(h, rep->element[1]) != 0) {
            return 0;
        }
        if (h->n > max) {
            snprintf(h->err, sizeof(h->err), "TOOBIG more than %d fields", max);
            return 0;
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
    } while (strcmp(cursor, "0") != 0);
    h->ok = 1;
    return 0;
}

/* key's PTTL into *ms (-1 no TTL, -2 no key); -1 when the connection
   failed */
static int
key_ttl(registry_t *r, const char *key, long long *ms)
{
    const char *argv[] = { "PTTL", key };
    redisReply *rep;

    if ((rep = redisCommandArgv(r->c, 2, argv, NULL)) == NULL) {
        reg_drop(r);
        return -1;
    }
    *ms = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -2;
    freeReplyObject(rep);
    return 0;
}

/* a string value into buf as it is, or "?" (which no reader takes) when
   it does not fit or holds a NUL */
static void
raw_copy(char *buf, size_t size, const redisReply *rep)
{
    if (rep->len >= size || memchr(rep->str, '\0', rep->len) != NULL) {
        snprintf(buf, size, "?");
        return;
    }
    memcpy(buf, rep->str, rep->len);
    buf[rep->len] = '\0';
}

static void
append_hgetall(registry_t *r, const char *k, const char *max)
{
    const char *argv[] = { "EVAL", hgetall_bounded, "1", k, max };

    redisAppendCommandArgv(r->c, 5, argv, NULL);
}

int
registry_read_pool(registry_t *r, const char *pool, int max,
                   const scaleset_key_kind_t *kinds, int n,
                   registry_hash_t *hashes, char *seq, size_t seqlen)
{
    char        k[REGISTRY_READ_MAX][SCALESET_KEY_MAX];
    char        ks[SCALESET_KEY_MAX], maxs[16];
    const char *get[] = { "GET", ks };
    redisReply *rep[REGISTRY_READ_MAX + 1];
    int         i;

    memset(hashes, 0, n * sizeof(*hashes));
    seq[0] = '\0';
    if (n > REGISTRY_READ_MAX || key(r, ks, pool, SCALESET_KEY_SEQ) < 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (key(r, k[i], pool, kinds[i]) < 0) {
            return -1;
        }
    }
    if (reg_get(r) == NULL) {
        return -1;
    }
    snprintf(maxs, sizeof(maxs), "%d", max);
    for (i = 0; i < n; i++) {
        append_hgetall(r, k[i], maxs);
    }
    redisAppendCommandArgv(r->c, 2, get, NULL);
    if (replies(r, rep, n + 1) != 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        hash_take(&hashes[i], rep[i]);
        if (!hashes[i].ok) {
            reg_fail(r, "%s: %s", k[i], hashes[i].err);
        }
    }
    if (rep[n]->type == REDIS_REPLY_STRING) {
        raw_copy(seq, seqlen, rep[n]);
    } else if (rep[n]->type != REDIS_REPLY_NIL) {
        snprintf(seq, seqlen, "?"); /* not a string: refused */
    }
    freeReplyObject(rep[n]);
    return 0;
}

int
registry_read_health(registry_t *r, const char *pool, int maxgw, int max,
                     char (**gw)[SCALESET_NAME_MAX + 1],
                     registry_hash_t **hashes, int *n, int *skipped)
{
    redisReply      *scan, *list;
    scaleset_slice_t name;
    char             pat[SCALESET_KEY_MAX], cursor[32];
    char(*keys)[SCALESET_KEY_MAX] = NULL;
    const char *argv[6];
    size_t      i;
    int         nk = 0, k, rc = -1;

    *gw = NULL;
    *hashes = NULL;
    *n = 0;
    *skipped = 0;
    if (key(r, pat, pool, SCALESET_KEY_HEALTH_MATCH) < 0 || reg_get(r) == NULL)
    {
        return -1;
    }
    keys = xcalloc(maxgw > 0 ? maxgw : 1, sizeof(*keys));
    /* SCAN, not KEYS: never blocks Redis on a big keyspace */
    snprintf(cursor, sizeof(cursor), "0");
    do {
        argv[0] = "SCAN";
        argv[1] = cursor;
        argv[2] = "MATCH";
        argv[3] = pat;
        argv[4] = "COUNT";
        argv[5] = "1000";
        if ((scan = redisCommandArgv(r->c, 6, argv, NULL)) == NULL) {
            reg_drop(r);
            goto done;
        }
        if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2
            || scan->element[0]->type != REDIS_REPLY_STRING
            || scan->element[1]->type != REDIS_REPLY_ARRAY)
        {
            reg_fail(r, "SCAN %s: unexpected reply", pat);
            freeReplyObject(scan);
            goto done;
        }
        snprintf(cursor, sizeof(cursor), "%s", scan->element[0]->str);
        list = scan->element[1];
        for (i = 0; i < list->elements; i++) {
            if (list->element[i]->type != REDIS_REPLY_STRING
                || !scaleset_key_gateway(list->element[i]->str,
                                         list->element[i]->len, r->prefix, pool,
                                         &name))
            {
                (*skipped)++;
                continue;
            }
            if (nk == maxgw) {
                reg_fail(r, "%s: more than %d keys", pat, maxgw);
                freeReplyObject(scan);
                goto done;
            }
            snprintf(keys[nk++], SCALESET_KEY_MAX, "%s", list->element[i]->str);
        }
        freeReplyObject(scan);
    } while (strcmp(cursor, "0") != 0);

    /* every gateway's hash, page by page */
    *gw = xcalloc(nk + 1, sizeof(**gw));
    *hashes = xcalloc(nk + 1, sizeof(**hashes));
    for (k = 0; k < nk; k++) {
        scaleset_key_gateway(keys[k], strlen(keys[k]), r->prefix, pool, &name);
        snprintf((*gw)[k], sizeof((*gw)[k]), "%.*s", (int) name.len, name.data);
        if (hash_scan(r, keys[k], max, &(*hashes)[k]) != 0
            || key_ttl(r, keys[k], &(*hashes)[k].ttl_ms) != 0)
        {
            while (k >= 0) {
                registry_hash_free(&(*hashes)[k--]);
            }
            goto done;
        }
    }
    *n = nk;
    rc = 0;
done:
    if (rc != 0) {
        free(*gw);
        free(*hashes);
        *gw = NULL;
        *hashes = NULL;
    }
    free(keys);
    return rc;
}

int
registry_seq_reserve(registry_t *r, const char *pool, long from, long to)
{
    registry_tx_t tx;
    long long     answer;

    if (registry_tx_seq(&tx, r->prefix, fence_of(r), pool, from, to) != 0) {
        reg_fail(r, "no reservation for pool \"%s\"", pool);
        return -1;
    }
    if (run_tx(r, &tx, &answer) != 0) {
        return -1;
    }
    if (answer != 0 && answer != 1) {
        reg_fail(r, "redis: unexpected answer to the reservation");
        return -1;
    }
    return (int) answer;
}

int
registry_upgrade_write(registry_t *r, const char *pool, const upgrade_t *u,
                       uint64_t expect, uint64_t *gen)
{
    registry_upgrade_tx_t tx;
    redisReply           *rep;
    char                  e[24], err[200];
    int                   rc = -1;

    snprintf(e, sizeof(e), "%llu", (unsigned long long) expect);
    if (registry_tx_upgrade(&tx, r->prefix, fence_of(r), pool, u, e) != 0) {
        reg_fail(r, "no upgrade record for pool \"%s\"", pool);
        return -1;
    }
    if (reg_get(r) == NULL) {
        registry_tx_upgrade_free(&tx);
        return -1;
    }
    rep = redisCommandArgv(r->c, tx.argc, tx.argv, tx.argvlen);
    registry_tx_upgrade_free(&tx);
    if (rep == NULL) {
        reg_drop(r);
        return -1;
    }
    if (registry_reply_failed(rep, err, sizeof(err))) {
        reg_fail(r, "redis: %s", err);
        r->refused = registry_error_fenced(err);
        if (r->refused) {
            ha_fenced(r->fence); /* that lease is over */
        }
    } else if (rep->type == REDIS_REPLY_INTEGER) {
        rc = rep->integer > 0;
        *gen = rep->integer > 0 ? (uint64_t) rep->integer : 0;
    } else {
        reg_fail(r, "redis: unexpected reply to the upgrade record");
    }
    freeReplyObject(rep);
    if (rc < 0 && strstr(r->err, "READONLY") != NULL) {
        reg_drop_now(r); /* a replica now: ask where the master is */
    }
    return rc;
}

int
registry_capacity_get(registry_t *r, const char *pool, char *buf, size_t size)
{
    char        k[SCALESET_KEY_MAX];
    const char *argv[] = { "GET", k };
    redisReply *rep;
    int         rc = 0;

    if (key(r, k, pool, SCALESET_KEY_CAPACITY) < 0 || reg_get(r) == NULL) {
        return -1;
    }
    if ((rep = redisCommandArgv(r->c, 2, argv, NULL)) == NULL) {
        reg_drop(r);
        return -1;
    }
    if (rep->type == REDIS_REPLY_STRING) {
        raw_copy(buf, size, rep);
        rc = 1;
    } else if (rep->type != REDIS_REPLY_NIL) {
        reg_fail(r, "GET %s: not a string", k);
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}
