/*
 * The upgrade record (scaler/pass/upgrade.c): what a pass reads from
 * PREFIX{POOL}:upgrade is input, checked field by field; what it writes
 * reads back the same.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaler.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* decodes "f1", "v1", "f2", "v2", ..., NULL */
static int
decode(upgrade_t *u, char *why, size_t whylen, ...)
{
    const char  *f[40], *v[40];
    size_t       fl[40], vl[40];
    va_list      ap;
    int          n = 0, rc;

    va_start(ap, whylen);
    while ((f[n] = va_arg(ap, const char *)) != NULL) {
        v[n] = va_arg(ap, const char *);
        fl[n] = strlen(f[n]);
        vl[n] = strlen(v[n]);
        n++;
    }
    va_end(ap);
    why[0] = '\0';
    rc = upgrade_decode(f, fl, v, vl, n, u, why, whylen);
    return rc;
}

static void
test_decode(void **state)
{
    upgrade_t  u;
    char       why[128];

    (void) state;
    assert_int_equal(decode(&u, why, sizeof(why), NULL), 0);
    assert_int_equal(u.state, UPGRADE_NONE);

    assert_int_equal(decode(&u, why, sizeof(why), "state", "rolling",
                            "mode", "automatic", "from", "1:" D64,
                            "to", "2:", "to_image", D64, "batch", "2",
                            "batches", "4", "upgraded", "3", "failed", "0",
                            "started", "1700000000000", "zone", "z1",
                            "instances", "web-000005  web-000003 web-000005",
                            "rollback", "breach", "error", "a reason",
                            "gen", "7", "later_field", "ignored", NULL), 0);
    assert_int_equal(u.state, UPGRADE_RUNNING);
    assert_true(u.automatic);
    assert_string_equal(u.from, "1:" D64);
    assert_string_equal(u.to, "2:");
    assert_string_equal(u.to_image, D64);
    assert_int_equal(u.batch, 2);
    assert_int_equal(u.batches, 4);
    assert_int_equal(u.upgraded, 3);
    assert_int_equal(u.started, 1700000000000ULL);
    assert_string_equal(u.zone, "z1");
    assert_int_equal(u.nids, 2);            /* sorted, once each */
    assert_string_equal(u.ids[0], "web-000003");
    assert_string_equal(u.ids[1], "web-000005");
    assert_true(upgrade_has(&u, "web-000005"));
    assert_false(upgrade_has(&u, "web-000004"));
    assert_int_equal(u.rollback, UPGRADE_BACK_BREACH);
    assert_string_equal(u.error, "a reason");
    assert_int_equal(u.gen, 7);
    upgrade_free(&u);
}

static void
test_refused(void **state)
{
    static const char *const bad[][2] = {
        { "state", "upgrading" },           /* no state */
        { "mode", "manual" },               /* not how one runs */
        { "from", "1" },                    /* no VERSION:DIGEST */
        { "to", "1:abc" },                  /* a digest of the wrong form */
        { "to", "a b:" },                   /* a version that is no name */
        { "to_image", "xyz" },
        { "batch", "-1" },
        { "batches", "1000000001" },        /* beyond its bound */
        { "started", "253402300800000" },   /* after 9999 */
        { "zone", "z 1" },
        { "instances", "web-000001 bad/id" },
        { "rollback", "yes" },
        { "error", "two\nlines" },
        { "gen", "x" },
    };
    upgrade_t  u;
    char       why[128];
    size_t     i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(decode(&u, why, sizeof(why), "state", "done",
                                "gen", "1", bad[i][0], bad[i][1], NULL), -1);
        assert_true(why[0] != '\0');
        assert_null(u.ids);
    }
    /* a state and a generation are needed */
    assert_int_equal(decode(&u, why, sizeof(why), "gen", "1", NULL), -1);
    assert_string_equal(why, "no state");
    assert_int_equal(decode(&u, why, sizeof(why), "state", "done", NULL),
                     -1);
    assert_string_equal(why, "no gen");
}

static void
test_too_many_ids(void **state)
{
    upgrade_t  u;
    char      *ids, why[128];
    size_t     len = 0;
    int        i;

    (void) state;
    ids = malloc((SCALER_CAPACITY_MAX + 1) * 12);
    assert_non_null(ids);
    for (i = 0; i <= SCALER_CAPACITY_MAX; i++) {
        len += (size_t) sprintf(ids + len, "%sw-%06d", i ? " " : "", i);
    }
    assert_int_equal(decode(&u, why, sizeof(why), "state", "rolling", "gen",
                            "1", "instances", ids, NULL), -1);
    assert_non_null(strstr(why, "at most 1000"));
    free(ids);
}

/* what is written reads back the same */
static void
test_round_trip(void **state)
{
    upgrade_t     u, back;
    const char   *argv[2 * UPGRADE_FIELDS];
    size_t        argvlen[2 * UPGRADE_FIELDS];
    char          buf[4096], small[64], why[128];
    int           n, i;

    (void) state;
    memset(&u, 0, sizeof(u));
    u.state = UPGRADE_ROLLING_BACK;
    u.automatic = 1;
    snprintf(u.from, sizeof(u.from), "1:%s", D64);
    snprintf(u.to, sizeof(u.to), "2:%s", D64);
    snprintf(u.to_image, sizeof(u.to_image), "%s", D64);
    u.batch = 3;
    u.batches = 5;
    u.upgraded = 4;
    u.failed = 2;
    u.started = 1700000000000ULL;
    u.batch_started = 1700000001000ULL;
    u.batch_done = 1700000000500ULL;
    u.updated = 1700000001000ULL;
    snprintf(u.zone, sizeof(u.zone), "z2");
    u.ids = calloc(2, sizeof(*u.ids));
    snprintf(u.ids[0], sizeof(u.ids[0]), "web-000002");
    snprintf(u.ids[1], sizeof(u.ids[1]), "web-000004");
    u.nids = 2;
    u.rollback = UPGRADE_BACK_API;
    snprintf(u.error, sizeof(u.error), "rolled back to version 1");
    assert_true(upgrade_encode_size(&u) <= sizeof(buf));
    n = upgrade_encode(&u, buf, sizeof(buf), argv, argvlen);
    assert_int_equal(n, UPGRADE_FIELDS);
    /* the generation is the write's (its script's): add one */
    {
        const char  *f[UPGRADE_FIELDS + 1], *v[UPGRADE_FIELDS + 1];
        size_t       fl[UPGRADE_FIELDS + 1], vl[UPGRADE_FIELDS + 1];

        for (i = 0; i < n; i++) {
            f[i] = argv[2 * i];
            fl[i] = argvlen[2 * i];
            v[i] = argv[2 * i + 1];
            vl[i] = argvlen[2 * i + 1];
        }
        f[n] = "gen";
        fl[n] = 3;
        v[n] = "9";
        vl[n] = 1;
        assert_int_equal(upgrade_decode(f, fl, v, vl, n + 1, &back, why,
                                        sizeof(why)), 0);
    }
    assert_int_equal(back.state, u.state);
    assert_int_equal(back.automatic, 1);
    assert_string_equal(back.from, u.from);
    assert_string_equal(back.to, u.to);
    assert_string_equal(back.to_image, u.to_image);
    assert_int_equal(back.batch, 3);
    assert_int_equal(back.batches, 5);
    assert_int_equal(back.upgraded, 4);
    assert_int_equal(back.failed, 2);
    assert_int_equal(back.batch_started, u.batch_started);
    assert_int_equal(back.batch_done, u.batch_done);
    assert_string_equal(back.zone, "z2");
    assert_int_equal(back.nids, 2);
    assert_string_equal(back.ids[1], "web-000004");
    assert_int_equal(back.rollback, UPGRADE_BACK_API);
    assert_string_equal(back.error, u.error);
    upgrade_free(&back);

    /* a buffer too small is said so, not overrun */
    assert_int_equal(upgrade_encode(&u, small, sizeof(small), argv, argvlen),
                     -1);
    upgrade_free(&u);
}

static void
test_names(void **state)
{
    (void) state;
    assert_string_equal(upgrade_state_name(UPGRADE_NONE), "idle");
    assert_string_equal(upgrade_state_name(UPGRADE_RUNNING), "rolling");
    assert_string_equal(upgrade_state_name(UPGRADE_ROLLING_BACK),
                        "rolling_back");
    assert_true(upgrade_running(UPGRADE_PAUSED));
    assert_false(upgrade_running(UPGRADE_FAILED));
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_too_many_ids),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_names),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("upgrade", tests, NULL, NULL);
}
