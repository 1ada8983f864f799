/*
 * Unit tests of api_capacity_body() (scaler/api/api.c): the body of PUT
 * /v1/pools/NAME/capacity.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "scaler.h"


typedef struct {
    const char  *body;
    size_t       len;       /* 0: strlen(body) */
    int          rc;
    long long    capacity;  /* rc 0 */
    const char  *reason;    /* rc -1: a part of the message */
} body_case_t;

static const body_case_t  cases[] = {
    { "{\"capacity\": 3}", 0, 0, 3, NULL },
    { "{\"capacity\":0}\n", 0, 0, 0, NULL },
    { " {\"other\": \"x\", \"capacity\": -5} ", 0, 0, -5, NULL },
    { "{\"capacity\": 9223372036854775807}", 0, 0, 9223372036854775807LL,
      NULL },
    { "{\"capacity\": 3.5}", 0, -1, 0, "\"capacity\" must be an integer" },
    { "{\"capacity\": \"3\"}", 0, -1, 0, "\"capacity\" must be an integer" },
    { "{\"cap\": 3}", 0, -1, 0, "\"capacity\" must be an integer" },
    { "[3]", 0, -1, 0, "\"capacity\" must be an integer" },
    { "", 0, -1, 0, "bad JSON" },
    { "{\"capacity\": 3} x", 0, -1, 0, "bad JSON" },
    { "{\"capacity\": 99999999999999999999}", 0, -1, 0, "bad JSON" },
    /* a NUL ended the body for json_loads(): what followed was ignored */
    { "{\"capacity\": 3}\0garbage", 23, -1, 0, "bad JSON" },
    { "\xff\xfe", 0, -1, 0, "bad JSON: unable to decode byte 0xff" },
    /* jansson quotes the token it stopped in, cut inside a UTF-8
     * sequence: the reason was no valid UTF-8, json_pack() refused it
     * and the 400 went out as {} (found by fuzz/fuzz_api_body.c) */
    { "{\"\\u\xd0\x85\": 0}", 0, -1, 0,
      "bad JSON: invalid escape near '\"\\u?'" },
};


static void
test_capacity_body(void **state)
{
    int          rc;
    char         err[256];
    size_t       i, len;
    json_t      *j;
    long long    cap;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const body_case_t  *c = &cases[i];

        len = c->len ? c->len : strlen(c->body);
        cap = -42;
        err[0] = '\0';
        rc = api_capacity_body(c->body, len, &cap, err, sizeof(err));

        if (rc != c->rc) {
            fail_msg("case %zu: rc %d (%s)", i, rc, err);
        }
        if (rc == 0) {
            assert_int_equal(cap, c->capacity);
            continue;
        }
        if (strstr(err, c->reason) == NULL) {
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err,
                     c->reason);
        }
        /* it goes out as {"error": reason} */
        j = json_pack("{s:s}", "error", err);
        assert_non_null(j);
        json_decref(j);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_capacity_body),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("api_body", tests, NULL, NULL);
}
