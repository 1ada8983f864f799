/*
 * registry_tx.c: the scaler's Redis writes as commands, built once for
 * both transports (registry.c blocking on the pass thread,
 * registry_async.c on the loop).  Every write is one script (EVAL): the
 * write protocol of docs/design.md (HSET or HDEL of the member, the drain
 * start record, INCR epoch, PUBLISH of the new epoch) in one atomic step,
 * the capacity, the reservation of instance numbers.
 *
 * The fence (ha.c): with a lease (ha:), every write carries the lease's
 * value as this scaler holds it, and its script begins by comparing it
 * with PREFIXscaler:lease; when they differ (another scaler leads, or the
 * lease expired) the script refuses the whole write with "FENCED ..."
 * before touching anything.  So a scaler that lost its lease (paused,
 * partitioned, slow) cannot write, whatever it believes.  The fence is
 * added here, by tx_script(), for every write: a new write is a new
 * script given to tx_script().
 *
 * Every key comes from scaleset_key(); arguments go as argv (binary safe,
 * nothing is formatted into a command line).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "scaler.h"
#include "scaleset_record.h"

/* the fence's first step: the lease is the last key, the value this
   scaler holds it with the last argument */
#define FENCE_CHECK                                          \
    "if redis.call('GET', KEYS[#KEYS]) ~= ARGV[#ARGV] then " \
    "return redis.error_reply('" REGISTRY_FENCED             \
    " the lease is not held by this scaler') end "

/* KEYS[1] members, [2] draining, [3] epoch, [4] protection, [5] standby;
   ARGV[1] id, [2] the record ("": the member goes, and what is kept of
   the instance, its protection and standby, with it), [3] the drain's
   start ("0": no drain), [4] the events channel, [5] its standby record
   ("": none; a registration without drain leaves standby): the member,
   its drain and standby records, then the new epoch published */
#define MEMBER_WRITE                                                       \
    "if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) "          \
    "redis.call('HDEL', KEYS[4], ARGV[1]) "                                \
    "redis.call('HDEL', KEYS[5], ARGV[1]) "                                \
    "else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) "                  \
    "if ARGV[5] ~= '' then redis.call('HSET', KEYS[5], ARGV[1], ARGV[5]) " \
    "elseif ARGV[3] == '0' then redis.call('HDEL', KEYS[5], ARGV[1]) end " \
    "end "                                                                 \
    "if ARGV[3] == '0' then redis.call('HDEL', KEYS[2], ARGV[1]) "         \
    "else redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) end "            \
    "local e = redis.call('INCR', KEYS[3]) "                               \
    "redis.call('PUBLISH', ARGV[4], e) "                                   \
    "return e"

/* KEYS[1] a hash; ARGV[1] n, then n field/value pairs: HSET */
#define HASH_SET                                                     \
    "local n = tonumber(ARGV[1]) "                                   \
    "for i = 1, n do "                                               \
    "redis.call('HSET', KEYS[1], ARGV[2 * i], ARGV[2 * i + 1]) end " \
    "return n"

/* KEYS[1] a hash; ARGV[1] a field: HDEL */
#define HASH_DEL "return redis.call('HDEL', KEYS[1], ARGV[1])"

/* KEYS[1] capacity, ARGV[1] the capacity */
#define CAPACITY_WRITE "return redis.call('SET', KEYS[1], ARGV[1])"

/* KEYS[1] seq, ARGV[1] the last number the plan took as handed out,
   ARGV[2] the last one it hands out: refused (0) when another writer
   handed out more meanwhile; a value that is no number is replaced */
#define SEQ_RESERVE                                          \
    "local v = redis.call('GET', KEYS[1]) "                  \
    "if v and string.match(v, '^%d+$') "                     \
    "and tonumber(v) > tonumber(ARGV[1]) then return 0 end " \
    "redis.call('SET', KEYS[1], ARGV[2]) return 1"

static const char *const member_write[2] = { MEMBER_WRITE,
                                             FENCE_CHECK MEMBER_WRITE };
static const char *const capacity_write[2] = { CAPACITY_WRITE,
                                               FENCE_CHECK CAPACITY_WRITE };
static const char *const seq_reserve[2] = { SEQ_RESERVE,
                                            FENCE_CHECK SEQ_RESERVE };
static const char *const hash_set[2] = { HASH_SET, FENCE_CHECK HASH_SET };
static const char *const hash_del[2] = { HASH_DEL, FENCE_CHECK HASH_DEL };

/* a write's fence: at most REGISTRY_FENCE_MAX bytes, and the lease key
   it is checked against into lease (SCALESET_KEY_MAX) */
static int
fence_key(char *lease, const char *prefix, const char *fence)
{
    if (strlen(fence) > REGISTRY_FENCE_MAX
        || scaleset_key(lease, SCALESET_KEY_MAX, prefix, NULL,
                        SCALESET_KEY_SCALER_LEASE, NULL)
               < 0)
    {
        return -1;
    }
    return 0;
}

/*
 * One EVAL of script[0], or with a fence of script[1] with the lease key
 * and the fence after the script's own keys and arguments.  keys and args
 * point into tx or at the caller's strings.
 */
static int
tx_script(registry_tx_t *tx, const char *const script[2], const char *prefix,
          const char *fence, int nkeys, const char *const *keys, int nargs,
          const char *const *args)
{
    registry_cmd_t *c;
    int             i, fenced = fence != NULL;

    if (tx->n == REGISTRY_TX_CMDS
        || 3 + nkeys + nargs + 2 * fenced > REGISTRY_TX_ARGS
        || (fenced && fence_key(tx->lease, prefix, fence) != 0))
    {
        return -1;
    }
    c = &tx->cmd[tx->n];
    snprintf(tx->nkeys[tx->n], sizeof(tx->nkeys[tx->n]), "%d", nkeys + fenced);
    c->argc = 0;
    c->argv[c->argc++] = "EVAL";
    c->argv[c->argc++] = script[fenced];
    c->argv[c->argc++] = tx->nkeys[tx->n];
    for (i = 0; i < nkeys; i++) {
        c->argv[c->argc++] = keys[i];
    }
    if (fenced) {
        c->argv[c->argc++] = tx->lease;
    }
    for (i = 0; i < nargs; i++) {
        c->argv[c->argc++] = args[i];
    }
    if (fenced) {
        c->argv[c->argc++] = fence;
    }
    for (i = 0; i < c->argc; i++) {
        c->argvlen[i] = strlen(c->argv[i]);
    }
    tx->n++;
    return 0;
}

int
registry_tx_member(registry_tx_t *tx, const char *prefix, const char *fence,
                   const char *pool, const char *id, const char *rec,
                   uint64_t drain_since)
{
    return registry_tx_member_standby(tx, prefix, fence, pool, id, rec,
                                      drain_since, NULL);
}

int
registry_tx_member_standby(registry_tx_t *tx, const char *prefix,
                           const char *fence, const char *pool, const char *id,
                           const char *rec, uint64_t drain_since,
                           const char *standby)
{
    /* tx->k[0..5]: the keys MEMBER_WRITE touches, and the events channel */
    static const scaleset_key_kind_t kinds[] = {
        SCALESET_KEY_MEMBERS, SCALESET_KEY_DRAINING,   SCALESET_KEY_EPOCH,
        SCALESET_KEY_EVENTS,  SCALESET_KEY_PROTECTION, SCALESET_KEY_STANDBY,
    };
    const char *keys[5], *args[5];
    size_t      i;

    memset(tx, 0, sizeof(*tx));
    if (id == NULL || !scaleset_id_valid(id, strlen(id))
        || (rec != NULL && (*rec == '\0' || strlen(rec) > SCALESET_RECORD_MAX)))
    {
        return -1;
    }
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (scaleset_key(tx->k[i], SCALESET_KEY_MAX, prefix, pool, kinds[i],
                         NULL)
            < 0) {
            return -1;
        }
    }
    if (standby != NULL
        && (rec == NULL || *standby == '\0'
            || strlen(standby) > SCALESET_RECORD_MAX))
    {
        return -1;
    }
    snprintf(tx->num, sizeof(tx->num), "%llu",
             (unsigned long long) drain_since);
    keys[0] = tx->k[0];
    keys[1] = tx->k[1];
    keys[2] = tx->k[2];
    keys[3] = tx->k[4];
    keys[4] = tx->k[5];
    args[0] = id;
    args[1] = rec ? rec : "";
    args[2] = tx->num;
    args[3] = tx->k[3];
    args[4] = standby ? standby : "";
    return tx_script(tx, member_write, prefix, fence, 5, keys, 5, args);
}

int
registry_tx_capacity(registry_tx_t *tx, const char *prefix, const char *fence,
                     const char *pool, int cap)
{
    const char *keys[1], *args[1];

    memset(tx, 0, sizeof(*tx));
    if (cap < 0
        || scaleset_key(tx->k[0], SCALESET_KEY_MAX, prefix, pool,
                        SCALESET_KEY_CAPACITY, NULL)
               < 0)
    {
        return -1;
    }
    snprintf(tx->num, sizeof(tx->num), "%d", cap);
    keys[0] = tx->k[0];
    args[0] = tx->num;
    return tx_script(tx, capacity_write, prefix, fence, 1, keys, 1, args);
}

int
registry_tx_seq(registry_tx_t *tx, const char *prefix, const char *fence,
                const char *pool, long from, long to)
{
    const char *keys[1], *args[2];

    memset(tx, 0, sizeof(*tx));
    if (from < 0 || to < from
        || scaleset_key(tx->k[0], SCALESET_KEY_MAX, prefix, pool,
                        SCALESET_KEY_SEQ, NULL)
               < 0)
    {
        return -1;
    }
    snprintf(tx->num, sizeof(tx->num), "%ld", from);
    snprintf(tx->num2, sizeof(tx->num2), "%ld", to);
    keys[0] = tx->k[0];
    args[0] = tx->num;
    args[1] = tx->num2;
    return tx_script(tx, seq_reserve, prefix, fence, 1, keys, 2, args);
}

/* KEYS[1] the upgrade hash, ARGV[1] the gen expected ("*": any), then
   field value pairs up to ARGV[LAST] (the last one, or the one before the
   fence): the record replaced whole (its other fields deleted), its gen
   incremented; 0 when the gen is not the one expected.  HGETALL rather
   than HGET and DEL, so that the scaler's ACL user needs no more */
#define UPGRADE_WRITE                                                         \
    "local cur = redis.call('HGETALL', KEYS[1]) "                             \
    "local g = nil "                                                          \
    "for i = 1, #cur, 2 do if cur[i] == 'gen' then g = cur[i + 1] end end "   \
    "if ARGV[1] ~= '*' and (g or '0') ~= ARGV[1] then return 0 end "          \
    "local keep = { gen = true } "                                            \
    "for i = 2, LAST, 2 do keep[ARGV[i]] = true end "                         \
    "for i = 1, #cur, 2 do "                                                  \
    "if not keep[cur[i]] then redis.call('HDEL', KEYS[1], cur[i]) end end "   \
    "local n = (tonumber(g) or 0) + 1 "                                       \
    "redis.call('HSET', KEYS[1], 'gen', tostring(n), unpack(ARGV, 2, LAST)) " \
    "return n"

static const char *const upgrade_write[2] = {
    "local LAST = #ARGV " UPGRADE_WRITE,
    FENCE_CHECK "local LAST = #ARGV - 1 " UPGRADE_WRITE
};

int
registry_tx_upgrade(registry_upgrade_tx_t *tx, const char *prefix,
                    const char *fence, const char *pool, const upgrade_t *u,
                    const char *expect)
{
    size_t size = upgrade_encode_size(u);
    int    n, i, fenced = fence != NULL;

    memset(tx, 0, sizeof(*tx));
    if (scaleset_key(tx->key, SCALESET_KEY_MAX, prefix, pool,
                     SCALESET_KEY_UPGRADE, NULL)
            < 0
        || strlen(expect) >= sizeof(tx->expect)
        || (fenced && fence_key(tx->lease, prefix, fence) != 0))
    {
        return -1;
    }
    tx->buf = xmalloc(size);
    snprintf(tx->expect, sizeof(tx->expect), "%s", expect);
    snprintf(tx->nkeys, sizeof(tx->nkeys), "%d", 1 + fenced);
    tx->argv[0] = "EVAL";
    tx->argv[1] = upgrade_write[fenced];
    tx->argv[2] = tx->nkeys;
    tx->argv[3] = tx->key;
    tx->argc = 4;
    if (fenced) {
        tx->argv[tx->argc++] = tx->lease;
    }
    tx->argv[tx->argc++] = tx->expect;
    n = upgrade_encode(u, tx->buf, size, tx->argv + tx->argc,
                       tx->argvlen + tx->argc);
    if (n < 0) {
        registry_tx_upgrade_free(tx);
        return -1;
    }
    for (i = 0; i < tx->argc; i++) {
        tx->argvlen[i] = strlen(tx->argv[i]);
    }
    tx->argc += 2 * n;
    if (fenced) {
        tx->argv[tx->argc] = fence;
        tx->argvlen[tx->argc++] = strlen(fence);
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
registry_tx_hash(registry_tx_t *tx, const char *prefix, const char *fence,
                 const char *pool, scaleset_key_kind_t kind,
                 const char *const *fv, int n)
{
    const char *keys[1], *args[11];
    size_t      used = 0, len;
    int         i;

    memset(tx, 0, sizeof(*tx));
    if (n < 1 || n > 5 || fv[0] == NULL
        || scaleset_key(tx->k[0], SCALESET_KEY_MAX, prefix, pool, kind, NULL)
               < 0)
    {
        return -1;
    }
    keys[0] = tx->k[0];
    /* copied: an asynchronous write may wait for its connection */
    for (i = 0; i < (fv[1] == NULL ? 1 : 2 * n); i++) {
        if (fv[i] == NULL || (len = strlen(fv[i])) > SCALESET_RECORD_MAX
            || used + len + 1 > sizeof(tx->copy))
        {
            return -1;
        }
        memcpy(tx->copy + used, fv[i], len + 1);
        args[1 + i] = tx->copy + used;
        used += len + 1;
    }
    if (fv[1] == NULL) {
        if (n != 1) {
            return -1;
        }
        return tx_script(tx, hash_del, prefix, fence, 1, keys, 1, args + 1);
    }
    snprintf(tx->num, sizeof(tx->num), "%d", n);
    args[0] = tx->num;
    return tx_script(tx, hash_set, prefix, fence, 1, keys, 1 + 2 * n, args);
}

int
registry_reply_failed(const void *reply, char *err, size_t errlen)
{
    const redisReply *rep = reply;
    size_t            i;

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

int
registry_error_fenced(const char *err)
{
    return strncmp(err, REGISTRY_FENCED, sizeof(REGISTRY_FENCED) - 1) == 0
           && (err[sizeof(REGISTRY_FENCED) - 1] == ' '
               || err[sizeof(REGISTRY_FENCED) - 1] == '\0');
}
