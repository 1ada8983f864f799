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

#define PUB "return redis.call('PUBLISH', ARGV[1], redis.call('GET', KEYS[1]))"

static void
test_member(void **state)
{
    static const struct {
        const char  *rec;
        uint64_t     since;
        const char  *want;
    } cases[] = {
        /* registered: in service (not on standby) */
        { "127.0.1.1:8080 zone=z1 version=1", 0,
          "MULTI\n"
          "HSET|p:{web}:members|web-000001|127.0.1.1:8080 zone=z1 version=1\n"
          "HDEL|p:{web}:standby|web-000001\n"
          "HDEL|p:{web}:draining|web-000001\n"
          "INCR|p:{web}:epoch\n"
          "EVAL|" PUB "|1|p:{web}:epoch|p:{web}:events\n"
          "EXEC\n" },
        /* a drain begins: its start is kept if set already */
        { "127.0.1.1:8080 zone=z1 version=1 drain", 1764000000123ULL,
          "MULTI\n"
          "HSET|p:{web}:members|web-000001|"
          "127.0.1.1:8080 zone=z1 version=1 drain\n"
          "HSETNX|p:{web}:draining|web-000001|1764000000123\n"
          "INCR|p:{web}:epoch\n"
          "EVAL|" PUB "|1|p:{web}:epoch|p:{web}:events\n"
          "EXEC\n" },
        /* removed, with its drain record, protection and standby */
        { NULL, 0,
          "MULTI\n"
          "HDEL|p:{web}:members|web-000001\n"
          "HDEL|p:{web}:protection|web-000001\n"
          "HDEL|p:{web}:standby|web-000001\n"
          "HDEL|p:{web}:draining|web-000001\n"
          "INCR|p:{web}:epoch\n"
          "EVAL|" PUB "|1|p:{web}:epoch|p:{web}:events\n"
          "EXEC\n" },
    };
    registry_tx_t  tx;
    char           got[2048];
    size_t         i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(registry_tx_member(&tx, "p:", "web", "web-000001",
                                            cases[i].rec, cases[i].since), 0);
        lines(&tx, got, sizeof(got));
        assert_string_equal(got, cases[i].want);
    }
    /* standby: the drain and the standby record in one transaction */
    assert_int_equal(registry_tx_member_standby(&tx, "p:", "web",
                     "web-000001", "127.0.1.1:8080 zone=z1 drain", 7,
                     "7 decrement"), 0);
    lines(&tx, got, sizeof(got));
    assert_string_equal(got, "MULTI\n"
                        "HSET|p:{web}:members|web-000001|"
                        "127.0.1.1:8080 zone=z1 drain\n"
                        "HSET|p:{web}:standby|web-000001|7 decrement\n"
                        "HSETNX|p:{web}:draining|web-000001|7\n"
                        "INCR|p:{web}:epoch\n"
                        "EVAL|" PUB "|1|p:{web}:epoch|p:{web}:events\n"
                        "EXEC\n");
    /* nothing is built for what is not a valid id, pool or prefix */
    assert_int_equal(registry_tx_member(&tx, "p:", "web", "a b", NULL, 0), -1);
    assert_int_equal(registry_tx_member(&tx, "p:", "web", "", NULL, 0), -1);
    assert_int_equal(registry_tx_member(&tx, "p:", "w{b", "web-1", NULL, 0),
                     -1);
    assert_int_equal(registry_tx_member(&tx, "a b", "web", "web-1", NULL, 0),
                     -1);
}

static void
test_capacity(void **state)
{
    registry_tx_t  tx;
    char           got[512];

    (void) state;
    assert_int_equal(registry_tx_capacity(&tx, NULL, "web", 7), 0);
    lines(&tx, got, sizeof(got));
    assert_string_equal(got, "SET|scaleset:{web}:capacity|7\n");
    assert_int_equal(registry_tx_capacity(&tx, NULL, "web", -1), -1);
}

static void
test_hash(void **state)
{
    static const char *const  set[] = { "web-000001", "all" };
    static const char *const  del[] = { "web-000001", NULL };
    static const char *const  two[] = { "state", "suspended", "failures",
                                        "5" };
    registry_tx_t  tx;
    char           got[512];

    (void) state;
    assert_int_equal(registry_tx_hash(&tx, "p:", "web",
                                      SCALESET_KEY_PROTECTION, set, 1), 0);
    lines(&tx, got, sizeof(got));
    assert_string_equal(got, "HSET|p:{web}:protection|web-000001|all\n");
    assert_int_equal(registry_tx_hash(&tx, "p:", "web",
                                      SCALESET_KEY_PROTECTION, del, 1), 0);
    lines(&tx, got, sizeof(got));
    assert_string_equal(got, "HDEL|p:{web}:protection|web-000001\n");
    assert_int_equal(registry_tx_hash(&tx, "p:", "web", SCALESET_KEY_REPAIR,
                                      two, 2), 0);
    lines(&tx, got, sizeof(got));
    assert_string_equal(got, "HSET|p:{web}:repair|state|suspended|failures|"
                        "5\n");
    assert_int_equal(registry_tx_hash(&tx, "p:", "w{b", SCALESET_KEY_REPAIR,
                                      two, 2), -1);
    assert_int_equal(registry_tx_hash(&tx, "p:", "web", SCALESET_KEY_REPAIR,
                                      two, 0), -1);
    assert_int_equal(registry_tx_hash(&tx, "p:", "web", SCALESET_KEY_REPAIR,
                                      del, 2), -1);
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
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_replies),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("registry_tx", tests, NULL, NULL);
}
