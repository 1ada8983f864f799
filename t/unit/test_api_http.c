/*
 * Unit tests of scaler/api/api_http.c's pure checks: the bearer token (whole,
 * any length, scheme in any case), the Host names an API without a token
 * serves, and the gate's reading of a request head (one unfolded
 * Authorization header; the head without its body-framing lines).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scaler.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_token(void **state)
{
    static const struct {
        const char  *auth;
        const char  *token;
        int          ok;
    } cases[] = {
        { "Bearer s3cret", "s3cret", 1 },
        { "bearer s3cret", "s3cret", 1 },
        { "BEARER   s3cret", "s3cret", 1 },
        { "Bearer s3cre", "s3cret", 0 },
        { "Bearer s3crett", "s3cret", 0 },
        { "Bearer s3creT", "s3cret", 0 },
        { "Bearer ", "s3cret", 0 },
        { "Bearer", "s3cret", 0 },
        { "Basic s3cret", "s3cret", 0 },
        { "s3cret", "s3cret", 0 },
        { "Bearer s3cret ", "s3cret", 0 },
        { "", "s3cret", 0 },
    };
    char    token[601], auth[700];
    size_t  i;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        if (api_token_ok(cases[i].auth, cases[i].token) != cases[i].ok) {
            fail_msg("\"%s\" for \"%s\": expected %d", cases[i].auth,
                     cases[i].token, cases[i].ok);
        }
    }
    assert_false(api_token_ok(NULL, "s3cret"));
    assert_false(api_token_ok("Bearer x", NULL));

    /* #13: a 600-byte token was accepted by its first 504 bytes */
    for (i = 0; i < 600; i++) {
        token[i] = (char) ('a' + i % 26);
    }
    token[600] = '\0';
    snprintf(auth, sizeof(auth), "Bearer %s", token);
    assert_true(api_token_ok(auth, token));
    auth[7 + 504] = '\0';
    assert_false(api_token_ok(auth, token));
}

static void
test_host(void **state)
{
    static const struct {
        const char  *host;
        int          ok;
    } cases[] = {
        { "localhost", 1 },
        { "LocalHost:9180", 1 },
        { "localhost.", 1 },
        { "localhost.:9180", 1 },
        { "127.0.0.1", 1 },
        { "127.0.0.1:9180", 1 },
        { "127.1.2.3:80", 1 },
        { "[::1]", 1 },
        { "[::1]:9180", 1 },
        { "10.1.2.3:9180", 1 },          /* the listen address */
        { "evil.example", 0 },
        { "evil.example:9180", 0 },
        { "localhost.evil.example", 0 },
        { "127.0.0.1.evil.example", 0 },
        { "127.0.0.1:9180x", 0 },
        { "[::1]x", 0 },
        { "[::2]:9180", 0 },
        { ":9180", 0 },
        { "", 0 },
        { "127.0.0.1 evil", 0 },
    };
    size_t  i;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        if (api_host_ok(cases[i].host, "10.1.2.3") != cases[i].ok) {
            fail_msg("Host \"%s\": expected %d", cases[i].host, cases[i].ok);
        }
    }
    assert_true(api_host_ok(NULL, "127.0.0.1"));       /* HTTP/1.0 */
}

static void
test_head(void **state)
{
    static const struct {
        const char  *head;
        int          ok;
        const char  *stripped;
    } cases[] = {
        { "PUT /v1/pools/web/capacity HTTP/1.1\r\nHost: x\r\n"
          "Authorization: Bearer s3cret\r\nContent-Length: 14\r\n\r\n", 1,
          "PUT /v1/pools/web/capacity HTTP/1.1\r\nHost: x\r\n"
          "Authorization: Bearer s3cret\r\n\r\n" },
        { "PUT / HTTP/1.1\r\nauthorization:   bearer s3cret  \r\n\r\n", 1,
          NULL },
        /* LF-only line ends, as evhttp reads them */
        { "PUT / HTTP/1.1\nAuthorization: Bearer s3cret\nContent-Length: 9\n"
          "\n", 1, "PUT / HTTP/1.1\nAuthorization: Bearer s3cret\n\n" },
        { "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n"
          "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n", 0,
          "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n" },
        /* a folded framing header goes with its first line */
        { "PUT / HTTP/1.1\r\nContent-Length:\r\n 5\r\nHost: x\r\n\r\n", 0,
          "PUT / HTTP/1.1\r\nHost: x\r\n\r\n" },
        { "GET / HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n", 0, NULL },
        { "GET / HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n"
          "Authorization: Bearer s3cret\r\n\r\n", 0, NULL },
        { "GET / HTTP/1.1\r\nAuthorization: Bearer\r\n s3cret\r\n\r\n", 0,
          NULL },
        { "GET / HTTP/1.1\r\nAuthorization : Bearer s3cret\r\n\r\n", 0,
          NULL },
        { "GET / HTTP/1.1\r\nX-Authorization: Bearer s3cret\r\n\r\n", 0,
          NULL },
        { "GET / HTTP/1.1\r\nContent-Lengthy: 5\r\n\r\n", 0,
          "GET / HTTP/1.1\r\nContent-Lengthy: 5\r\n\r\n" },
    };
    char    out[512];
    size_t  i, n, len;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        len = strlen(cases[i].head);
        n = 0;
        if (api_head_check(cases[i].head, len, "s3cret", out, &n)
            != cases[i].ok)
        {
            fail_msg("case %zu: expected %d", i, cases[i].ok);
        }
        if (cases[i].stripped
            && (n != strlen(cases[i].stripped)
                || memcmp(out, cases[i].stripped, n) != 0))
        {
            fail_msg("case %zu: stripped to \"%.*s\"", i, (int) n, out);
        }
        assert_true(n <= len);
        /* no token configured: every head passes */
        assert_int_equal(api_head_check(cases[i].head, len, NULL, NULL,
                                        NULL), 1);
    }
}

static void
test_capacity_body(void **state)
{
    static const struct {
        const char  *body;
        int          rc;
        long long    cap;
    } cases[] = {
        { "{\"capacity\":3}", 0, 3 },
        { "{\"capacity\":-1}", 0, -1 },
        { "{\"capacity\":\"3\"}", -1, 0 },
        { "{\"capacity\":3,\"capacity\":4}", -1, 0 },
        { "{\"cap\":3}", -1, 0 },
        { "[]", -1, 0 },
        { "", -1, 0 },
        { "{\"capacity\":3", -1, 0 },
        { "{\"capacity\":1e3}", -1, 0 },
    };
    char       why[128];
    long long  cap;
    size_t     i;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        cap = 0;
        if (api_capacity_body(cases[i].body, strlen(cases[i].body), &cap,
                              why, sizeof(why)) != cases[i].rc
            || (cases[i].rc == 0 && cap != cases[i].cap))
        {
            fail_msg("\"%s\": rc or capacity wrong (%lld)", cases[i].body,
                     cap);
        }
    }
    /* not NUL-terminated: only len bytes are read */
    assert_int_equal(api_capacity_body("{\"capacity\":5}garbage", 14, &cap,
                                       why, sizeof(why)), 0);
    assert_int_equal(cap, 5);
}

static void
test_protection_body(void **state)
{
    static const struct {
        const char  *body;
        int          rc;
        protect_t    p;
    } cases[] = {
        { "{\"scale_in\":true,\"scale_set_actions\":false}", 0,
          PROTECT_SCALE_IN },
        { "{\"scale_in\":true,\"scale_set_actions\":true}", 0, PROTECT_ALL },
        /* from every scale-set action is from scale-in too */
        { "{\"scale_set_actions\":true}", 0, PROTECT_ALL },
        { "{\"scale_in\":false}", 0, PROTECT_NONE },
        { "{}", 0, PROTECT_NONE },
        { "{\"scale_in\":1}", -1, 0 },
        { "{\"scale_in\":\"true\"}", -1, 0 },
        { "{\"scale_in\":true,\"scale_in\":false}", -1, 0 },
        { "{\"scale_in\":true,\"all\":true}", -1, 0 },
        { "[true]", -1, 0 },
        { "", -1, 0 },
    };
    char       why[128];
    protect_t  p;
    size_t     i;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        p = (protect_t) 9;
        if (api_protection_body(cases[i].body, strlen(cases[i].body), &p,
                                why, sizeof(why)) != cases[i].rc
            || (cases[i].rc == 0 && p != cases[i].p))
        {
            fail_msg("\"%s\": rc or protection wrong (%d)", cases[i].body,
                     (int) p);
        }
    }
}

static void
test_lifecycle_body(void **state)
{
    static const struct {
        const char   *body;
        int           rc;
        inst_hook_t   hook;
        unsigned      ask;
    } cases[] = {
        { "{\"hook\":\"launch\",\"result\":\"continue\"}", 0,
          HOOK_LAUNCH, ASK_CONTINUE },
        { "{\"hook\":\"terminate\",\"result\":\"abandon\"}", 0,
          HOOK_TERMINATE, ASK_ABANDON },
        { "{\"hook\":\"launch\",\"heartbeat\":true}", 0, HOOK_LAUNCH,
          ASK_HEARTBEAT },
        { "{\"hook\":\"launch\",\"heartbeat\":false}", -1, 0, 0 },
        { "{\"hook\":\"launch\"}", -1, 0, 0 },
        { "{\"hook\":\"launch\",\"result\":\"continue\","
          "\"heartbeat\":true}", -1, 0, 0 },
        { "{\"hook\":\"boot\",\"result\":\"continue\"}", -1, 0, 0 },
        { "{\"hook\":\"launch\",\"result\":\"CONTINUE\"}", -1, 0, 0 },
        { "{\"hook\":\"launch\",\"result\":\"continue\",\"x\":1}", -1,
          0, 0 },
        { "{\"result\":\"continue\"}", -1, 0, 0 },
        { "[]", -1, 0, 0 },
        { "", -1, 0, 0 },
    };
    char         why[128];
    inst_hook_t  hook;
    unsigned     ask;
    size_t       i;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        hook = HOOK_NONE;
        ask = 0;
        if (api_lifecycle_body(cases[i].body, strlen(cases[i].body), &hook,
                               &ask, why, sizeof(why)) != cases[i].rc
            || (cases[i].rc == 0 && (hook != cases[i].hook
                                     || ask != cases[i].ask)))
        {
            fail_msg("\"%s\": rc, hook or ask wrong (%d %u)", cases[i].body,
                     (int) hook, ask);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_capacity_body),
        cmocka_unit_test(test_protection_body),
        cmocka_unit_test(test_lifecycle_body),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("api_http", tests, NULL, NULL);
}
