/*
 * registry_tx.c: the scaler's Redis writes as commands, built once for
 * both transports (registry.c blocking on the pass thread,
 * registry_async.c on the loop).  The write protocol of docs/design.md:
 * one MULTI/EXEC with HSET or HDEL of the member, the drain start record
 * (HSETNX when a drain begins, HDEL otherwise), INCR epoch and a PUBLISH
 * of the new epoch (a script inside the transaction, after the INCR).
 * Every key comes from scaleset_key(); arguments go as argv (binary
 * safe, nothing is formatted into a command line).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "scaler.h"
#include "scaleset_record.h"

/* KEYS[1] epoch, ARGV[1] events: publishes the epoch just incremented */
static const char  publish_epoch[] =
    "return redis.call('PUBLISH', ARGV[1], redis.call('GET', KEYS[1]))";

static void
cmd(registry_tx_t *tx, int argc, ...)
{
    registry_cmd_t  *c = &tx->cmd[tx->n++];
    va_list          ap;
    int              i;

    va_start(ap, argc);
    c->argc = argc;
    for (i = 0; i < argc; i++) {
        c->argv[i] = va_arg(ap, const char *);
        c->argvlen[i] = strlen(c->argv[i]);
    }
    va_end(ap);
}

int
registry_tx_member(registry_tx_t *tx, const char *prefix, const char *pool,
    const char *id, const char *rec, uint64_t drain_since)
{
    memset(tx, 0, sizeof(*tx));
    if (id == NULL || !scaleset_id_valid(id, strlen(id))
        || (rec != NULL && strlen(rec) > SCALESET_RECORD_MAX)
        || scaleset_key(tx->k[0], SCALESET_KEY_MAX, prefix, pool,
                        SCALESET_KEY_MEMBERS, NULL) < 0
        || scaleset_key(tx->k[1], SCALESET_KEY_MAX, prefix, pool,
                        SCALESET_KEY_DRAINING, NULL) < 0
        || scaleset_key(tx->k[2], SCALESET_KEY_MAX, prefix, pool,
                        SCALESET_KEY_EPOCH, NULL) < 0
        || scaleset_key(tx->k[3], SCALESET_KEY_MAX, prefix, pool,
                        SCALESET_KEY_EVENTS, NULL) < 0)
    {
        return -1;
    }
    snprintf(tx->num, sizeof(tx->num), "%llu",
             (unsigned long long) drain_since);
    cmd(tx, 1, "MULTI");
    if (rec != NULL) {
        cmd(tx, 4, "HSET", tx->k[0], id, rec);
    } else {
        cmd(tx, 3, "HDEL", tx->k[0], id);
    }
    if (drain_since > 0) {
        cmd(tx, 4, "HSETNX", tx->k[1], id, tx->num);
    } else {
        cmd(tx, 3, "HDEL", tx->k[1], id);
    }
    cmd(tx, 2, "INCR", tx->k[2]);
    cmd(tx, 5, "EVAL", publish_epoch, "1", tx->k[2], tx->k[3]);
    cmd(tx, 1, "EXEC");
    return 0;
}

int
registry_tx_capacity(registry_tx_t *tx, const char *prefix, const char *pool,
    int cap)
{
    memset(tx, 0, sizeof(*tx));
    if (cap < 0 || scaleset_key(tx->k[0], SCALESET_KEY_MAX, prefix, pool,
                                SCALESET_KEY_CAPACITY, NULL) < 0)
    {
        return -1;
    }
    snprintf(tx->num, sizeof(tx->num), "%d", cap);
    cmd(tx, 3, "SET", tx->k[0], tx->num);
    return 0;
}

/* KEYS[1] the upgrade hash, ARGV[1] the gen expected ("*": any), then
   field value pairs: the record replaced whole, its gen incremented */
static const char  upgrade_cas[] =
    "local g = redis.call('HGET', KEYS[1], 'gen') "
    "if ARGV[1] ~= '*' and (g or '0') ~= ARGV[1] then return 0 end "
    "local n = (tonumber(g) or 0) + 1 "
    "redis.call('DEL', KEYS[1]) "
    "redis.call('HSET', KEYS[1], 'gen', tostring(n), unpack(ARGV, 2)) "
    "return n";

int
registry_tx_upgrade(registry_upgrade_tx_t *tx, const char *prefix,
    const char *pool, const upgrade_t *u, const char *expect)
{
    size_t  size = upgrade_encode_size(u);
    int     n;

    memset(tx, 0, sizeof(*tx));
    if (scaleset_key(tx->key, SCALESET_KEY_MAX, prefix, pool,
                     SCALESET_KEY_UPGRADE, NULL) < 0
        || strlen(expect) >= sizeof(tx->expect)
        || (tx->buf = malloc(size)) == NULL)
    {
        return -1;
    }
    snprintf(tx->expect, sizeof(tx->expect), "%s", expect);
    tx->argv[0] = "EVAL";
    tx->argv[1] = upgrade_cas;
    tx->argv[2] = "1";
    tx->argv[3] = tx->key;
    tx->argv[4] = tx->expect;
    n = upgrade_encode(u, tx->buf, size, tx->argv + 5, tx->argvlen + 5);
    if (n < 0) {
        registry_tx_upgrade_free(tx);
        return -1;
    }
    tx->argc = 5 + 2 * n;
    for (n = 0; n < 5; n++) {
        tx->argvlen[n] = strlen(tx->argv[n]);
    }
    return 0;
}

void
registry_tx_upgrade_free(registry_upgrade_tx_t *tx)
{
    free(tx->buf);
    tx->buf = NULL;
}

int
registry_reply_failed(const void *reply, char *err, size_t errlen)
{
    const redisReply  *rep = reply;
    size_t             i;

    if (rep == NULL) {
        snprintf(err, errlen, "no reply");
        return 1;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s", rep->str);
        return 1;
    }
    /* EXEC: each command's reply; an error inside is the transaction's */
    if (rep->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < rep->elements; i++) {
            if (rep->element[i]->type == REDIS_REPLY_ERROR) {
                snprintf(err, errlen, "%s", rep->element[i]->str);
                return 1;
            }
        }
    }
    return 0;
}
