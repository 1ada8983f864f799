/*
 * Unit tests of scaler/registry.c without Redis: how the gateways' health
 * records of one instance are summed into its connections
 * (registry_conns_add, the sum registry_conns returns).  A forged counter
 * is refused, never cast into a negative sum; sums saturate.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "scaler.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_conns_sum(void **state)
{
    /* the records of one instance, one per gateway, in SCAN order */
    static const struct {
        const char  *recs[4];
        long         sum;
        int          refused;
    } cases[] = {
        { { NULL }, -1, 0 },
        { { "up conns=5 fails=0 checked=1", NULL }, 5, 0 },
        { { "up conns=5 fails=0 checked=1", "down conns=0 fails=3 checked=2",
            NULL }, 5, 0 },
        /* the forged record of issue #13: (long) made 5 + it -95 */
        { { "up conns=5 fails=0 checked=1",
            "up conns=18446744073709551516 fails=0 checked=1", NULL }, 5, 1 },
        { { "up conns=18446744073709551516 fails=0 checked=1",
            "up conns=5 fails=0 checked=1", NULL }, 5, 1 },
        { { "up conns=9223372036854775807 fails=0 checked=1",
            "up conns=5 fails=0 checked=1", NULL }, 5, 1 },
        /* only refused ones: no report */
        { { "up conns=-1 fails=0 checked=1", "garbage", NULL }, -1, 2 },
        { { "up conns=0 fails=0 checked=1", NULL }, 0, 0 },
        { { "up conns=4294967295 fails=0 checked=1",
            "up conns=4294967295 fails=0 checked=1", NULL }, 8589934590L, 0 },
    };
    scaleset_error_t  err;
    size_t            i, j;
    long              sum;
    int               refused;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        sum = -1;
        refused = 0;
        for (j = 0; cases[i].recs[j]; j++) {
            if (registry_conns_add(&sum, cases[i].recs[j],
                                   strlen(cases[i].recs[j]), &err) != 0)
            {
                refused++;
            }
        }
        if (sum != cases[i].sum || refused != cases[i].refused) {
            fail_msg("case %zu: sum %ld refused %d, expected %ld %d", i, sum,
                     refused, cases[i].sum, cases[i].refused);
        }
    }
}

static void
test_conns_saturate(void **state)
{
    const char       *rec = "up conns=4294967295 fails=0 checked=1";
    scaleset_error_t  err;
    long              sum;

    (void) state;
    /* near the top the sum stops below "unknown" instead of wrapping */
    sum = REGISTRY_CONNS_UNKNOWN - 10;
    assert_int_equal(registry_conns_add(&sum, rec, strlen(rec), &err), 0);
    assert_true(sum == REGISTRY_CONNS_UNKNOWN - 1);
    assert_int_equal(registry_conns_add(&sum, rec, strlen(rec), &err), 0);
    assert_true(sum == REGISTRY_CONNS_UNKNOWN - 1);

    /* a refused record leaves the sum and says why */
    sum = 7;
    rec = "up conns=18446744073709551516 fails=0 checked=1";
    assert_int_equal(registry_conns_add(&sum, rec, strlen(rec), &err), -1);
    assert_int_equal(sum, 7);
    assert_int_equal(err.code, SCALESET_ERR_PARAM_VALUE);
    assert_non_null(strstr(err.msg, "conns"));
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_conns_sum),
        cmocka_unit_test(test_conns_saturate),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
