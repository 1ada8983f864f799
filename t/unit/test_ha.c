/* ha.c's lease decisions and redis_conn.c's reading of Sentinel and ROLE
   replies: tables */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "scaler.h"

#define L 9000      /* the lease, ms */

static void
test_lease_step(void **state)
{
    static const struct {
        const char   *name;
        int           leader;
        uint64_t      until;
        ha_result_t   r;
        uint64_t      sent, now;
        int           want_leader;
        uint64_t      want_until;
        int           acting_at_now;
    } cases[] = {
        { "taken: valid from when the SET was sent", 0, 0, HA_GOT,
          1000, 1400, 1, 1000 + L, 1 },
        { "held elsewhere: standing by", 0, 0, HA_HELD_ELSEWHERE,
          1000, 1010, 0, 0, 0 },
        { "renewed", 1, 5000, HA_KEPT, 4000, 4100, 1, 4000 + L, 1 },
        { "the renewal found it another's", 1, 5000, HA_GONE, 4000, 4100,
          0, 0, 0 },
        { "no answer, lease left: still leading", 1, 10000, HA_NO_ANSWER,
          4000, 5000, 1, 10000, 1 },
        { "no answer, a quarter or less left: leads, does not act", 1,
          10000, HA_NO_ANSWER, 7000, 7750, 1, 10000, 0 },
        { "no answer past the lease: standing by", 1, 10000, HA_NO_ANSWER,
          9000, 10000, 0, 0, 0 },
        { "no answer while standing by: nothing", 0, 0, HA_NO_ANSWER,
          9000, 10000, 0, 0, 0 },
        /* a reply that took longer than the lease: held, but not for
           acting (what is left is measured from the sending) */
        { "taken, answered after the lease", 0, 0, HA_GOT, 1000, 1000 + L,
          1, 1000 + L, 0 },
    };
    ha_lease_t  l;
    size_t      i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        l.leader = cases[i].leader;
        l.valid_until = cases[i].until;
        ha_lease_step(&l, cases[i].r, cases[i].sent, cases[i].now, L);
        if (l.leader != cases[i].want_leader
            || l.valid_until != cases[i].want_until
            || ha_lease_acting(&l, cases[i].now, L)
               != cases[i].acting_at_now)
        {
            fail_msg("%s: leader %d until %llu acting %d", cases[i].name,
                     l.leader, (unsigned long long) l.valid_until,
                     ha_lease_acting(&l, cases[i].now, L));
        }
    }
}

static void
test_lease_next(void **state)
{
    (void) state;
    /* renewed at a third of the lease; after no answer within a second */
    assert_int_equal(ha_lease_next(HA_KEPT, 1000, L), 1000 + L / 3);
    assert_int_equal(ha_lease_next(HA_HELD_ELSEWHERE, 1000, L), 1000 + L / 3);
    assert_int_equal(ha_lease_next(HA_NO_ANSWER, 1000, L), 2000);
    assert_int_equal(ha_lease_next(HA_NO_ANSWER, 1000, 1500), 1500);
    /* a dead leader's lease, renewed at t, is taken by a standby trying
       every third by t + lease + lease / 3 < 2 x lease */
    assert_true(L + L / 3 < 2 * L);
}

/* a redisReply array of strings */
static redisReply *
strings(redisReply *arr, redisReply **el, redisReply *s, const char **v,
    int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        memset(&s[i], 0, sizeof(s[i]));
        s[i].type = REDIS_REPLY_STRING;
        s[i].str = (char *) v[i];
        s[i].len = strlen(v[i]);
        el[i] = &s[i];
    }
    memset(arr, 0, sizeof(*arr));
    arr->type = REDIS_REPLY_ARRAY;
    arr->elements = n;
    arr->element = el;
    return arr;
}

static void
test_sentinel_reply(void **state)
{
    static const struct {
        const char  *host, *port;
        int          ok;
        const char  *why;
    } cases[] = {
        { "127.0.0.1", "6380", 1, NULL },
        { "::1", "6380", 1, NULL },
        { "fe80::1", "65535", 1, NULL },
        { "redis1.example", "6379", 0, "not an IP literal" },
        { "127.0.0.1", "0", 0, "not a port" },
        { "127.0.0.1", "65536", 0, "not a port" },
        { "127.0.0.1", "-1", 0, "not a port" },
        { "127.0.0.1", "63 79", 0, "not a port" },
        { "", "6379", 0, "not an IP literal" },
    };
    redisReply   arr, s[2], *el[2], nil = { .type = REDIS_REPLY_NIL };
    redisReply   err = { .type = REDIS_REPLY_ERROR, .str = "NOPERM x" };
    redisReply   one;
    const char  *v[2], *why;
    char         host[REDIS_HOST_MAX];
    int          port, i;

    (void) state;
    for (i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++) {
        v[0] = cases[i].host;
        v[1] = cases[i].port;
        strings(&arr, el, s, v, 2);
        why = NULL;
        if ((redis_sentinel_reply(&arr, host, sizeof(host), &port, &why) == 0)
            != cases[i].ok)
        {
            fail_msg("case %d (%s %s): %s", i, v[0], v[1], why);
        }
        if (cases[i].ok) {
            assert_string_equal(host, cases[i].host);
            assert_int_equal(port, atoi(cases[i].port));
        } else {
            assert_non_null(strstr(why, cases[i].why));
        }
    }
    assert_int_equal(redis_sentinel_reply(&nil, host, sizeof(host), &port,
                                          &why), -1);
    assert_non_null(strstr(why, "not known"));
    assert_int_equal(redis_sentinel_reply(&err, host, sizeof(host), &port,
                                          &why), -1);
    assert_string_equal(why, "NOPERM x");
    v[0] = "127.0.0.1";
    strings(&one, el, s, v, 1);
    assert_int_equal(redis_sentinel_reply(&one, host, sizeof(host), &port,
                                          &why), -1);
    assert_int_equal(redis_sentinel_reply(NULL, host, sizeof(host), &port,
                                          &why), -1);
}

static void
test_role(void **state)
{
    redisReply   arr, s[3], *el[3];
    redisReply   n = { .type = REDIS_REPLY_INTEGER, .integer = 1 };
    const char  *master[] = { "master", "0", "x" };
    const char  *slave[] = { "slave", "127.0.0.1", "6379" };
    const char  *sentinel[] = { "sentinel" };

    (void) state;
    assert_int_equal(redis_role_master(strings(&arr, el, s, master, 3)), 1);
    assert_int_equal(redis_role_master(strings(&arr, el, s, slave, 3)), 0);
    assert_int_equal(redis_role_master(strings(&arr, el, s, sentinel, 1)), 0);
    assert_int_equal(redis_role_master(&n), -1);
    assert_int_equal(redis_role_master(NULL), -1);
}

static void
test_auth_argv(void **state)
{
    redis_config_t  rc;
    const char     *argv[3];
    size_t          len[3];

    (void) state;
    memset(&rc, 0, sizeof(rc));
    assert_int_equal(redis_auth_argv(&rc, argv, len), 0);
    rc.password = "pw";
    assert_int_equal(redis_auth_argv(&rc, argv, len), 2);
    assert_string_equal(argv[1], "pw");
    rc.username = "scaler";
    assert_int_equal(redis_auth_argv(&rc, argv, len), 3);
    assert_string_equal(argv[0], "AUTH");
    assert_string_equal(argv[1], "scaler");
    assert_int_equal(len[2], 2);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_lease_step),
        cmocka_unit_test(test_lease_next),
        cmocka_unit_test(test_sentinel_reply),
        cmocka_unit_test(test_role),
        cmocka_unit_test(test_auth_argv),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("ha", tests, NULL, NULL);
}
