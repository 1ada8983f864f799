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
    return registry_tx_member_standby(tx, prefix, pool, id, rec, drain_since,
                                      NULL);
}

int
registry_tx_member_standby(registry_tx_t *tx, const char *prefix,
    const char *pool, const char *id, const char *rec, uint64_t drain_since,
    const char *standby)
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
                        SCALESET_KEY_EVENTS, NULL) < 0
        || scaleset_key(tx->k[4], SCALESET_KEY_MAX, prefix, pool,
                        SCALESET_KEY_PROTECTION, NULL) < 0
        || scaleset_key(tx->k[5], SCALESET_KEY_MAX, prefix, pool,
                        SCALESET_KEY_STANDBY, NULL) < 0)
    {
        return -1;
    }
    snprintf(tx->num, sizeof(tx->num), "%llu",
             (unsigned long long) drain_since);
    cmd(tx, 1, "MULTI");
    if (rec != NULL) {
        cmd(tx, 4, "HSET", tx->k[0], id, rec);
        if (standby != NULL) {
            cmd(tx, 4, "HSET", tx->k[5], id, standby);
        } else if (drain_since == 0) {
            /* registered: in service, not on standby */
            cmd(tx, 3, "HDEL", tx->k[5], id);
        }
    } else {
        /* the instance goes: what is kept about it, with it */
        cmd(tx, 3, "HDEL", tx->k[0], id);
        cmd(tx, 3, "HDEL", tx->k[4], id);
        cmd(tx, 3, "HDEL", tx->k[5], id);
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

int
registry_tx_hash(registry_tx_t *tx, const char *prefix, const char *pool,
    scaleset_key_kind_t kind, const char *const *fv, int n)
{
    registry_cmd_t  *c;
    int              i;

    memset(tx, 0, sizeof(*tx));
    if (n < 1 || n > 5 || fv[0] == NULL
        || scaleset_key(tx->k[0], SCALESET_KEY_MAX, prefix, pool, kind,
                        NULL) < 0)
    {
        return -1;
    }
    if (fv[1] == NULL) {
        if (n != 1) {
            return -1;
        }
        cmd(tx, 3, "HDEL", tx->k[0], fv[0]);
        return 0;
    }
    c = &tx->cmd[tx->n++];
    c->argc = 2 + 2 * n;
    c->argv[0] = "HSET";
    c->argv[1] = tx->k[0];
    for (i = 0; i < 2 * n; i++) {
        if (fv[i] == NULL || strlen(fv[i]) > SCALESET_RECORD_MAX) {
            return -1;
        }
        c->argv[2 + i] = fv[i];
    }
    for (i = 0; i < c->argc; i++) {
        c->argvlen[i] = strlen(c->argv[i]);
    }
    return 0;
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
