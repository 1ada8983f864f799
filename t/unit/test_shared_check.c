/*
 * Unit tests of shared/scaleset_check.c: status ranges, the response head
 * parser and the result names.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "scaleset_check.h"


typedef struct {
    const char  *in;
    int          ok;
    unsigned     n;
} ranges_case_t;

static const ranges_case_t  ranges_cases[] = {
    { "200-399", 1, 1 },
    { "200", 1, 1 },
    { "200,204,300-399", 1, 3 },
    { "100-599", 1, 1 },
    { "200-200", 1, 1 },
    { "", 0, 0 },
    { "99", 0, 0 },
    { "600", 0, 0 },
    { "2000", 0, 0 },
    { "20", 0, 0 },
    { "399-200", 0, 0 },
    { "200-", 0, 0 },
    { "-200", 0, 0 },
    { "200,", 0, 0 },
    { ",200", 0, 0 },
    { "200 ", 0, 0 },
    { "2xx", 0, 0 },
    { "200;300", 0, 0 },
    { "200,201,202,203,204,205,206,207", 1, 8 },
    { "200,201,202,203,204,205,206,207,208", 0, 0 },
};


static void
test_ranges_parse(void **state)
{
    size_t                    i;
    scaleset_status_ranges_t  r;

    (void) state;

    for (i = 0; i < sizeof(ranges_cases) / sizeof(ranges_cases[0]); i++) {
        const ranges_case_t  *c = &ranges_cases[i];
        int rc = scaleset_status_ranges_parse(c->in, strlen(c->in), &r);

        if ((rc == 0) != c->ok) {
            fail_msg("\"%s\": expected %s", c->in, c->ok ? "ok" : "error");
        }

        if (c->ok) {
            assert_int_equal(r.n, c->n);
        }
    }
}


static void
test_ranges_match(void **state)
{
    scaleset_status_ranges_t  r;

    (void) state;

    assert_int_equal(scaleset_status_ranges_parse("200,204,300-399", 15, &r),
                     0);
    assert_true(scaleset_status_ranges_match(&r, 200));
    assert_true(scaleset_status_ranges_match(&r, 204));
    assert_true(scaleset_status_ranges_match(&r, 300));
    assert_true(scaleset_status_ranges_match(&r, 399));
    assert_false(scaleset_status_ranges_match(&r, 201));
    assert_false(scaleset_status_ranges_match(&r, 400));
    assert_false(scaleset_status_ranges_match(&r, 199));
    assert_false(scaleset_status_ranges_match(&r, 500));
}


typedef struct {
    const char              *in;
    scaleset_head_rc_t       rc;
    unsigned                 status;
    long long                content_length;
    scaleset_check_result_t  error;
} head_case_t;

static const head_case_t  head_cases[] = {
    { "HTTP/1.1 200 OK\r\n\r\n", SCALESET_HEAD_DONE, 200, -1, 0 },
    { "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 12\r\n\r\nbody",
      SCALESET_HEAD_DONE, 503, 12, 0 },
    { "HTTP/1.1 204\r\n\r\n", SCALESET_HEAD_DONE, 204, -1, 0 },
    { "HTTP/1.1 200 OK\nServer: x\n\n", SCALESET_HEAD_DONE, 200, -1, 0 },
    { "HTTP/1.1 200 OK\r\ncontent-length:  7 \r\n\r\n",
      SCALESET_HEAD_DONE, 200, 7, 0 },
    { "HTTP/1.1 200 OK\r\nX: y\r\n", SCALESET_HEAD_AGAIN, 200, -1, 0 },
    { "HTTP/1.1 20", SCALESET_HEAD_AGAIN, 0, -1, 0 },
    { "HTT", SCALESET_HEAD_AGAIN, 0, -1, 0 },
    { "", SCALESET_HEAD_AGAIN, 0, -1, 0 },
    { "SSH-2.0-OpenSSH", SCALESET_HEAD_ERROR, 0, -1,
      SCALESET_CHECK_BAD_STATUS_LINE },
    { "HTTP/2 200\r\n\r\n", SCALESET_HEAD_ERROR, 0, -1,
      SCALESET_CHECK_BAD_STATUS_LINE },
    { "HTTP/1.1 2000 OK\r\n\r\n", SCALESET_HEAD_ERROR, 0, -1,
      SCALESET_CHECK_BAD_STATUS_LINE },
    { "HTTP/1.1 099 OK\r\n\r\n", SCALESET_HEAD_ERROR, 0, -1,
      SCALESET_CHECK_BAD_STATUS_LINE },
    { "HTTP/1.1 abc\r\n\r\n", SCALESET_HEAD_ERROR, 0, -1,
      SCALESET_CHECK_BAD_STATUS_LINE },
    { "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", SCALESET_HEAD_ERROR, 200, -1,
      SCALESET_CHECK_BAD_HEADER },
    { "HTTP/1.1 200 OK\r\n: empty\r\n\r\n", SCALESET_HEAD_ERROR, 200, -1,
      SCALESET_CHECK_BAD_HEADER },
    { "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", SCALESET_HEAD_ERROR,
      200, -1, SCALESET_CHECK_BAD_HEADER },
    { "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
      SCALESET_HEAD_ERROR, 200, -1, SCALESET_CHECK_BAD_HEADER },
    { "HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", SCALESET_HEAD_ERROR, 200, -1,
      SCALESET_CHECK_BAD_HEADER },
};


static void
test_head_parse(void **state)
{
    size_t              i;
    scaleset_head_t     h;
    scaleset_head_rc_t  rc;

    (void) state;

    for (i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++) {
        const head_case_t  *c = &head_cases[i];

        rc = scaleset_head_parse(c->in, strlen(c->in), &h);
        if (rc != c->rc) {
            fail_msg("case %zu: rc %d, expected %d", i, rc, c->rc);
        }
        if (rc == SCALESET_HEAD_DONE) {
            assert_int_equal(h.status, c->status);
            assert_int_equal(h.content_length, c->content_length);
            assert_true(h.head_len > 0 && h.head_len <= strlen(c->in));
            assert_int_equal(c->in[h.head_len - 1], '\n');
        }
        if (rc == SCALESET_HEAD_ERROR) {
            assert_int_equal(h.error, c->error);
        }
    }
}


/* a head fed byte by byte gives AGAIN until the last byte, then DONE */
static void
test_head_incremental(void **state)
{
    size_t              i, len;
    scaleset_head_t     h;
    const char         *in;

    (void) state;

    in = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nok\n";
    len = strlen(in) - 3;

    for (i = 0; i < len; i++) {
        assert_int_equal(scaleset_head_parse(in, i, &h), SCALESET_HEAD_AGAIN);
    }

    assert_int_equal(scaleset_head_parse(in, len, &h), SCALESET_HEAD_DONE);
    assert_int_equal(h.head_len, len);
    assert_int_equal(h.content_length, 3);
}


static void
test_result_names(void **state)
{
    int          i, j;
    const char  *a;

    (void) state;

    assert_string_equal(scaleset_check_result_name(SCALESET_CHECK_PASS),
                        "pass");
    assert_string_equal(scaleset_check_result_name(SCALESET_CHECK_STATUS),
                        "status");
    assert_string_equal(scaleset_check_result_name(SCALESET_CHECK_LAST),
                        "unknown");

    /* every result has its own name made of [a-z_] */
    for (i = 0; i < SCALESET_CHECK_LAST; i++) {
        a = scaleset_check_result_name(i);
        assert_non_null(a);
        assert_true(strspn(a, "abcdefghijklmnopqrstuvwxyz_") == strlen(a));
        for (j = 0; j < i; j++) {
            assert_string_not_equal(a, scaleset_check_result_name(j));
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_ranges_parse),
        cmocka_unit_test(test_ranges_match),
        cmocka_unit_test(test_head_parse),
        cmocka_unit_test(test_head_incremental),
        cmocka_unit_test(test_result_names),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);

    return cmocka_run_group_tests_name("shared_check", tests, NULL, NULL);
}
