/* policy.c: zone and host placement and scale-in choice, as tables */

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
        { "p-1", 0, -1, 1 }, { "p-2", 1, -1, 2 }, { "p-3", 1, -1, 3 }, { "p-4", 0, -1, 4 },
        { "p-5", 0, -1, 5 } };
    /* balanced: a: 1, 3; b: 2, 4 */
    static const policy_instance_t  set2[] = {
        { "p-1", 0, -1, 1 }, { "p-2", 1, -1, 2 }, { "p-3", 0, -1, 3 }, { "p-4", 1, -1, 4 } };
    /* zone b larger, holds the oldest and the newest */
    static const policy_instance_t  set3[] = {
        { "p-1", 1, -1, 1 }, { "p-2", 0, -1, 2 }, { "p-3", 1, -1, 3 }, { "p-9", 1, -1, 9 } };
    /* zones of several hosts: zones balanced first, then the hosts of
       the largest zones, then the policy's order */
    /* zone 0: host 0 has 1, 2, 3; host 1 has 4; zone 1: host 2 has 5, 6 */
    static const policy_instance_t  hset1[] = {
        { "p-1", 0, 0, 1 }, { "p-2", 0, 0, 2 }, { "p-3", 0, 0, 3 },
        { "p-4", 0, 1, 4 }, { "p-5", 1, 2, 5 }, { "p-6", 1, 2, 6 } };
    /* zones 2 / 2, zone 1's host 3 holds 2: it gives first */
    static const policy_instance_t  hset2[] = {
        { "p-1", 0, 0, 1 }, { "p-2", 0, 1, 2 }, { "p-3", 1, 3, 3 },
        { "p-4", 1, 3, 4 } };
    /* hosts balanced 2 / 2 in one zone: the policy decides */
    static const policy_instance_t  hset3[] = {
        { "p-1", 0, 0, 1 }, { "p-2", 0, 1, 2 }, { "p-3", 0, 0, 3 },
        { "p-4", 0, 1, 4 } };
    /* one of unknown host: it competes with the largest host's */
    static const policy_instance_t  hset4[] = {
        { "p-1", 0, 0, 1 }, { "p-2", 0, 0, 2 }, { "p-7", 0, -1, 7 },
        { "p-4", 0, 1, 4 } };
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
        { hset1, 6, 2, SCALE_IN_DEFAULT, "p-3" },   /* host 0, not p-4 */
        { hset1, 6, 2, SCALE_IN_OLDEST,  "p-1" },
        { hset1, 6, 2, SCALE_IN_NEWEST,  "p-3" },
        { hset2, 4, 2, SCALE_IN_DEFAULT, "p-4" },
        { hset2, 4, 2, SCALE_IN_OLDEST,  "p-3" },   /* not p-1: host 3 */
        { hset3, 4, 1, SCALE_IN_DEFAULT, "p-4" },
        { hset3, 4, 1, SCALE_IN_OLDEST,  "p-1" },
        { hset4, 4, 1, SCALE_IN_DEFAULT, "p-7" },
        { hset4, 4, 1, SCALE_IN_OLDEST,  "p-1" },
    };
    size_t  i;
    int     k;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        k = policy_scale_in(cases[i].set, cases[i].n, cases[i].nzones,
                            cases[i].pol);
        assert_true(k >= 0);
        if (strcmp(cases[i].set[k].id, cases[i].want) != 0) {
            fail_msg("case %zu: want %s, got %s", i, cases[i].want,
                     cases[i].set[k].id);
        }
    }
    assert_int_equal(policy_scale_in(set1, 0, 2, SCALE_IN_DEFAULT), -1);
}

/* a zone's hosts (fault domains): fewest of the pool's instances, then
   the most free memory, then the first */
static void
test_place_host(void **state)
{
    static const struct {
        int                 count[3];
        unsigned long long  free_mem[3];
        int                 usable[3], n, want;
    } cases[] = {
        { { 0, 0, 0 }, { 0, 0, 0 }, { 1, 1, 1 }, 3, 0 },  /* tie: first */
        { { 1, 0, 0 }, { 0, 0, 0 }, { 1, 1, 1 }, 3, 1 },  /* fewest */
        { { 1, 0, 0 }, { 9, 4, 8 }, { 1, 1, 1 }, 3, 2 },  /* then memory */
        { { 0, 1, 0 }, { 1, 9, 2 }, { 1, 1, 1 }, 3, 2 },  /* count first */
        { { 2, 2, 2 }, { 0, 5, 0 }, { 1, 1, 1 }, 3, 1 },  /* 0: unknown */
        { { 0, 3, 3 }, { 9, 1, 2 }, { 0, 1, 1 }, 3, 2 },  /* fewest is down */
        { { 3, 1, 2 }, { 0, 0, 0 }, { 0, 0, 0 }, 3, -1 }, /* none usable */
        { { 4, 0, 0 }, { 0, 0, 0 }, { 1, 0, 0 }, 1, 0 },  /* one host */
        { { 3, 3, 0 }, { 1, 1, 1 }, { 1, 1, 1 }, 2, 0 },  /* n bounds it */
    };
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(policy_place_host(cases[i].count, cases[i].free_mem,
                                           cases[i].usable, cases[i].n),
                         cases[i].want);
    }
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
        cmocka_unit_test(test_place_host),
        cmocka_unit_test(test_stored_capacity),
        cmocka_unit_test(test_policy_names),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
