/* policy.c: zone placement and scale-in choice, as tables */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaler.h"

static void
test_place(void **state)
{
    static const struct {
        int  count[3], usable[3], n, want;
    } cases[] = {
        { { 0, 0, 0 }, { 1, 1, 1 }, 3, 0 },     /* tie: first zone */
        { { 2, 1, 2 }, { 1, 1, 1 }, 3, 1 },     /* fewest */
        { { 2, 1, 2 }, { 1, 0, 1 }, 3, 0 },     /* fewest is down */
        { { 5, 3, 4 }, { 0, 0, 1 }, 3, 2 },     /* only usable one */
        { { 1, 1, 1 }, { 0, 0, 0 }, 3, -1 },    /* none usable */
        { { 3, 0, 0 }, { 1, 1, 1 }, 1, 0 },     /* one zone */
    };
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(policy_place(cases[i].count, cases[i].usable,
                                      cases[i].n), cases[i].want);
    }
}

static void
test_scale_in(void **state)
{
    /* zone a: 1, 4, 5; zone b: 2, 3 */
    static const policy_instance_t  set1[] = {
        { "p-1", 0, 1 }, { "p-2", 1, 2 }, { "p-3", 1, 3 }, { "p-4", 0, 4 },
        { "p-5", 0, 5 } };
    /* balanced: a: 1, 3; b: 2, 4 */
    static const policy_instance_t  set2[] = {
        { "p-1", 0, 1 }, { "p-2", 1, 2 }, { "p-3", 0, 3 }, { "p-4", 1, 4 } };
    /* zone b larger, holds the oldest and the newest */
    static const policy_instance_t  set3[] = {
        { "p-1", 1, 1 }, { "p-2", 0, 2 }, { "p-3", 1, 3 }, { "p-9", 1, 9 } };
    static const struct {
        const policy_instance_t  *set;
        int                       n, nzones;
        scale_in_policy_t         pol;
        const char               *want;
    } cases[] = {
        { set1, 5, 2, SCALE_IN_DEFAULT, "p-5" },
        { set1, 5, 2, SCALE_IN_NEWEST,  "p-5" },
        { set1, 5, 2, SCALE_IN_OLDEST,  "p-1" },   /* largest zone first */
        { set2, 4, 2, SCALE_IN_DEFAULT, "p-4" },   /* tie: highest id */
        { set2, 4, 2, SCALE_IN_OLDEST,  "p-1" },
        { set3, 4, 2, SCALE_IN_DEFAULT, "p-9" },
        { set3, 4, 2, SCALE_IN_OLDEST,  "p-1" },
        { set3, 1, 2, SCALE_IN_DEFAULT, "p-1" },
        { set2, 4, 1, SCALE_IN_OLDEST,  "p-1" },   /* zone out of range */
    };
    size_t  i;
    int     k;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        k = policy_scale_in(cases[i].set, cases[i].n, cases[i].nzones,
                            cases[i].pol);
        assert_true(k >= 0);
        assert_string_equal(cases[i].set[k].id, cases[i].want);
    }
    assert_int_equal(policy_scale_in(set1, 0, 2, SCALE_IN_DEFAULT), -1);
}

/* PREFIX{POOL}:capacity as read at start, against the bounds in force */
static void
test_stored_capacity(void **state)
{
    static const struct {
        const char  *raw;
        int          lo, hi, rc, cap;
    } cases[] = {
        { "2",    0, 3,  0, 2 },        /* taken as it is */
        { "0",    0, 3,  0, 0 },
        { "3",    0, 3,  0, 3 },
        { "40",   0, 3,  1, 3 },        /* above max: clamped */
        { "1",    2, 5,  1, 2 },        /* below min: clamped */
        { "0040", 0, 50, 0, 40 },
        { "18446744073709551615", 0, 3, 1, 3 },
        { "99999999999999999999", 0, 3, -1, 0 },   /* beyond 2^64: refused */
        { "-5",   0, 3, -1, 0 },
        { "abc",  0, 3, -1, 0 },
        { "2.5",  0, 3, -1, 0 },
        { " 2",   0, 3, -1, 0 },
        { "2\n",  0, 3, -1, 0 },
        { "",     0, 3, -1, 0 },
    };
    size_t  i;
    int     cap;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cap = -42;
        assert_int_equal(policy_stored_capacity(cases[i].raw,
                                                strlen(cases[i].raw),
                                                cases[i].lo, cases[i].hi,
                                                &cap), cases[i].rc);
        assert_int_equal(cap, cases[i].rc < 0 ? -42 : cases[i].cap);
    }
}

static void
test_policy_names(void **state)
{
    scale_in_policy_t  p;

    (void) state;
    assert_int_equal(policy_parse_name("oldest", &p), 0);
    assert_int_equal(p, SCALE_IN_OLDEST);
    assert_int_equal(policy_parse_name("newest", &p), 0);
    assert_int_equal(p, SCALE_IN_NEWEST);
    assert_int_equal(policy_parse_name("default", &p), 0);
    assert_int_equal(p, SCALE_IN_DEFAULT);
    assert_int_equal(policy_parse_name("Oldest", &p), -1);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_place),
        cmocka_unit_test(test_scale_in),
        cmocka_unit_test(test_stored_capacity),
        cmocka_unit_test(test_policy_names),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
