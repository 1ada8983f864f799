/* registry_tx.c: the write protocol's commands, as both transports send
   them, and how a transaction's replies are judged */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "scaler.h"

/* the tx's commands as one line each, words separated by '|' */
static void
lines(const registry_tx_t *tx, char *buf, size_t size)
{
    size_t  len = 0;
    int     i, j;

    buf[0] = '\0';
    for (i = 0; i < tx->n; i++) {
        for (j = 0; j < tx->cmd[i].argc; j++) {
            assert_int_equal(tx->cmd[i].argvlen[j],
                             strlen(tx->cmd[i].argv[j]));
            len += snprintf(buf + len, size - len, "%s%s", j ? "|" : "",
                            tx->cmd[i].argv[j]);
        }
        len += snprintf(buf + len, size - len, "\n");
    }
}

/* the scripts, as registry_tx.c has them */
#define FENCE "if redis.call('GET', KEYS[#KEYS]) ~= ARGV[#ARGV] then " \
    "return redis.error_reply('FENCED the lease is not held by this " \
    "scaler') end "
#define MEMBER "if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) " \
    "redis.call('HDEL', KEYS[4], ARGV[1]) " \
    "redis.call('HDEL', KEYS[5], ARGV[1]) " \
    "else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) " \
    "if ARGV[5] ~= '' then redis.call('HSET', KEYS[5], ARGV[1], ARGV[5]) " \
    "elseif ARGV[3] == '0' then redis.call('HDEL', KEYS[5], ARGV[1]) end " \
    "end " \
    "if ARGV[3] == '0' then redis.call('HDEL', KEYS[2], ARGV[1]) " \
    "else redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) end " \
    "local e = redis.call('INCR', KEYS[3]) " \
    "redis.call('PUBLISH', ARGV[4], e) return e"
/* members, draining, epoch, protection, standby */
#define KEYS3 "p:{web}:members|p:{web}:draining|p:{web}:epoch|" \
    "p:{web}:protection|p:{web}:standby"

static void
test_member(void **state)
{
    static const struct {
        const char  *rec;
        uint64_t     since;
        const char  *fence;
        const char  *want;
    } cases[] = {
        /* registered */
        { "127.0.1.1:8080 zone=z1 version=1", 0, NULL,
          "EVAL|" MEMBER "|5|" KEYS3 "|web-000001|"
          "127.0.1.1:8080 zone=z1 version=1|0|p:{web}:events|\n" },
        /* a drain begins: its start is kept if set already */
        { "127.0.1.1:8080 zone=z1 version=1 drain", 1764000000123ULL, NULL,
          "EVAL|" MEMBER "|5|" KEYS3 "|web-000001|"
          "127.0.1.1:8080 zone=z1 version=1 drain|1764000000123|"
          "p:{web}:events|\n" },
        /* removed, with its drain, protection and standby records */
        { NULL, 0, NULL,
          "EVAL|" MEMBER "|5|" KEYS3 "|web-000001||0|p:{web}:events|\n" },
        /* fenced: the lease the last key, the value held the last
           argument, the comparison first */
        { NULL, 0, "0123456789abcdef0123456789abcdef http://s1:9180",
          "EVAL|" FENCE MEMBER "|6|" KEYS3 "|p:scaler:lease|web-000001||0|"
          "p:{web}:events||0123456789abcdef0123456789abcdef "
          "http://s1:9180\n" },
        /* a standby's fence matches no lease */
        { "127.0.1.1:8080", 0, "-",
          "EVAL|" FENCE MEMBER "|6|" KEYS3 "|p:scaler:lease|web-000001|"
          "127.0.1.1:8080|0|p:{web}:events||-\n" },
    };
    registry_tx_t  tx;
    char           got[4096], big[REGISTRY_FENCE_MAX + 2];
    size_t         i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(registry_tx_member(&tx, "p:", cases[i].fence, "web",
                                            "web-000001", cases[i].rec,
                                            cases[i].since), 0);
        lines(&tx, got, sizeof(got));
        assert_string_equal(got, cases[i].want);
    }
    /* standby: the drain and the standby record in one script */
    assert_int_equal(registry_tx_member_standby(&tx, "p:", NULL, "web",
                     "web-000001", "127.0.1.1:8080 zone=z1 drain", 7,
                     "7 decrement"), 0);
    lines(&tx, got, sizeof(got));
    assert_string_equal(got, "EVAL|" MEMBER "|5|" KEYS3 "|web-000001|"
                        "127.0.1.1:8080 zone=z1 drain|7|p:{web}:events|"
                        "7 decrement\n");
    /* nothing is built for what is not a valid id, pool, prefix, record
       or fence */
    assert_int_equal(registry_tx_member(&tx, "p:", NULL, "web", "a b", NULL,
                                        0), -1);
    assert_int_equal(registry_tx_member(&tx, "p:", NULL, "web", "", NULL, 0),
                     -1);
    assert_int_equal(registry_tx_member(&tx, "p:", NULL, "w{b", "web-1", NULL,
                                        0), -1);
    assert_int_equal(registry_tx_member(&tx, "a b", NULL, "web", "web-1",
                                        NULL, 0), -1);
    assert_int_equal(registry_tx_member(&tx, "p:", NULL, "web", "web-1", "",
                                        0), -1);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(registry_tx_member(&tx, "p:", big, "web", "web-1", NULL,
                                        0), -1);
}

static void
test_capacity_seq(void **state)
{
    registry_tx_t  tx;
    char           got[1024];

    (void) state;
    assert_int_equal(registry_tx_capacity(&tx, NULL, NULL, "web", 7), 0);
    lines(&tx, got, sizeof(got));
    assert_string_equal(got, "EVAL|return redis.call('SET', KEYS[1], "
                        "ARGV[1])|1|scaleset:{web}:capacity|7\n");
    assert_int_equal(registry_tx_capacity(&tx, NULL, "v", "web", 7), 0);
    lines(&tx, got, sizeof(got));
    assert_string_equal(got, "EVAL|" FENCE "return redis.call('SET', "
                        "KEYS[1], ARGV[1])|2|scaleset:{web}:capacity|"
                        "scaleset:scaler:lease|7|v\n");
    assert_int_equal(registry_tx_capacity(&tx, NULL, NULL, "web", -1), -1);

    assert_int_equal(registry_tx_seq(&tx, "p:", "v", "web", 4, 9), 0);
    lines(&tx, got, sizeof(got));
    assert_non_null(strstr(got, "|2|p:{web}:seq|p:scaler:lease|4|9|v\n"));
    assert_int_equal(strncmp(got, "EVAL|" FENCE "local v = redis.call('GET'",
                             strlen("EVAL|" FENCE "local v")), 0);
    assert_int_equal(registry_tx_seq(&tx, "p:", NULL, "web", 4, 3), -1);
}

/* HSET and HDEL of the pool's other hashes (protection, repair) */
static void
test_hash(void **state)
{
    static const char *const  set[] = { "web-000001", "all" };
    static const char *const  del[] = { "web-000001", NULL };
    static const char *const  two[] = { "state", "suspended", "failures",
                                        "5" };
    registry_tx_t  tx;
    char           got[1024], v[32];
    const char    *copied[] = { "web-000001", v };

    (void) state;
    assert_int_equal(registry_tx_hash(&tx, "p:", NULL, "web",
                                      SCALESET_KEY_PROTECTION, set, 1), 0);
    lines(&tx, got, sizeof(got));
    assert_non_null(strstr(got, "|1|p:{web}:protection|1|web-000001|all\n"));
    assert_int_equal(registry_tx_hash(&tx, "p:", NULL, "web",
                                      SCALESET_KEY_PROTECTION, del, 1), 0);
    lines(&tx, got, sizeof(got));
    assert_string_equal(got, "EVAL|return redis.call('HDEL', KEYS[1], "
                        "ARGV[1])|1|p:{web}:protection|web-000001\n");
    assert_int_equal(registry_tx_hash(&tx, "p:", "f", "web",
                                      SCALESET_KEY_REPAIR, two, 2), 0);
    lines(&tx, got, sizeof(got));
    assert_non_null(strstr(got, "|2|p:{web}:repair|p:scaler:lease|2|state|"
                           "suspended|failures|5|f\n"));
    assert_int_equal(strncmp(got, "EVAL|" FENCE, strlen("EVAL|" FENCE)), 0);
    /* the values are the tx's own: the caller's may go */
    snprintf(v, sizeof(v), "all");
    assert_int_equal(registry_tx_hash(&tx, "p:", NULL, "web",
                                      SCALESET_KEY_PROTECTION, copied, 1), 0);
    snprintf(v, sizeof(v), "gone");
    lines(&tx, got, sizeof(got));
    assert_non_null(strstr(got, "|web-000001|all\n"));
    assert_int_equal(registry_tx_hash(&tx, "p:", NULL, "w{b",
                                      SCALESET_KEY_REPAIR, two, 2), -1);
    assert_int_equal(registry_tx_hash(&tx, "p:", NULL, "web",
                                      SCALESET_KEY_REPAIR, two, 0), -1);
    assert_int_equal(registry_tx_hash(&tx, "p:", NULL, "web",
                                      SCALESET_KEY_REPAIR, del, 2), -1);
}

static void
test_fenced_error(void **state)
{
    (void) state;
    assert_int_equal(registry_error_fenced("FENCED the lease is not held"),
                     1);
    assert_int_equal(registry_error_fenced("FENCED"), 1);
    assert_int_equal(registry_error_fenced("FENCEDX"), 0);
    assert_int_equal(registry_error_fenced("ERR FENCED"), 0);
    assert_int_equal(registry_error_fenced("NOPERM"), 0);
}

static void
test_replies(void **state)
{
    redisReply   ok = { .type = REDIS_REPLY_STATUS, .str = "OK", .len = 2 };
    redisReply   e = { .type = REDIS_REPLY_ERROR, .str = "WRONGTYPE x",
                       .len = 11 };
    redisReply   n = { .type = REDIS_REPLY_INTEGER, .integer = 3 };
    redisReply  *good[] = { &n, &n }, *bad[] = { &n, &e };
    redisReply   exec_ok = { .type = REDIS_REPLY_ARRAY, .elements = 2,
                             .element = good };
    redisReply   exec_bad = { .type = REDIS_REPLY_ARRAY, .elements = 2,
                              .element = bad };
    char         err[64];

    (void) state;
    assert_int_equal(registry_reply_failed(&ok, err, sizeof(err)), 0);
    assert_int_equal(registry_reply_failed(&exec_ok, err, sizeof(err)), 0);
    assert_int_equal(registry_reply_failed(&e, err, sizeof(err)), 1);
    assert_string_equal(err, "WRONGTYPE x");
    /* an error inside EXEC's array fails the transaction */
    assert_int_equal(registry_reply_failed(&exec_bad, err, sizeof(err)), 1);
    assert_string_equal(err, "WRONGTYPE x");
    assert_int_equal(registry_reply_failed(NULL, err, sizeof(err)), 1);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_member),
        cmocka_unit_test(test_capacity_seq),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_fenced_error),
        cmocka_unit_test(test_replies),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("registry_tx", tests, NULL, NULL);
}
