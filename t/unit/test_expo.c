/*
 * Unit tests of scaler/expo.c, the Prometheus text exposition writer:
 * HELP and TYPE once per family, escaping of label values and HELP text,
 * the values Prometheus parses, and the errors that stick (a family begun
 * twice, a sample before any family, bad names and types).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "expo.h"

static char *
text_of(struct evbuffer *b)
{
    size_t  n = evbuffer_get_length(b);
    char   *s = malloc(n + 1);

    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static void
test_families(void **state)
{
    struct evbuffer  *b = evbuffer_new();
    expo_t            e;
    char             *s;

    (void) state;
    expo_begin(&e, b);
    expo_family(&e, "scaleset_scaler_x_total", "counter", "Things done.");
    expo_sample(&e, 3, "pool", "web", "zone", "z1", NULL);
    expo_sample(&e, 0, "pool", "api", "zone", "z2", NULL);
    expo_family(&e, "scaleset_scaler_up", "gauge", "Is it up.");
    expo_sample(&e, 1, NULL);
    assert_int_equal(expo_end(&e), 0);
    s = text_of(b);
    assert_string_equal(s,
        "# HELP scaleset_scaler_x_total Things done.\n"
        "# TYPE scaleset_scaler_x_total counter\n"
        "scaleset_scaler_x_total{pool=\"web\",zone=\"z1\"} 3\n"
        "scaleset_scaler_x_total{pool=\"api\",zone=\"z2\"} 0\n"
        "# HELP scaleset_scaler_up Is it up.\n"
        "# TYPE scaleset_scaler_up gauge\n"
        "scaleset_scaler_up 1\n");
    free(s);
    evbuffer_free(b);
}

static void
test_escaping(void **state)
{
    struct evbuffer  *b = evbuffer_new();
    expo_t            e;
    char             *s;

    (void) state;
    expo_begin(&e, b);
    expo_family(&e, "m", "gauge", "back\\slash and\nnewline \"kept\"");
    expo_sample(&e, 1, "rule", "a\"b\\c\nd", NULL);
    expo_sample(&e, 2, "rule", "", NULL);
    assert_int_equal(expo_end(&e), 0);
    s = text_of(b);
    assert_string_equal(s,
        "# HELP m back\\\\slash and\\nnewline \"kept\"\n"
        "# TYPE m gauge\n"
        "m{rule=\"a\\\"b\\\\c\\nd\"} 1\n"
        "m{rule=\"\"} 2\n");
    free(s);
    evbuffer_free(b);
}

static void
test_values(void **state)
{
    static const struct {
        double       v;
        const char  *text;
    } cases[] = {
        { 0, "m 0\n" },
        { 42, "m 42\n" },
        { -7, "m -7\n" },
        { 0.5, "m 0.5\n" },
        { 0.1, "m 0.1\n" },
        { 1e21, "m 1e+21\n" },
        { 18446744073709551615.0, "m 1.8446744073709552e+19\n" },
        { NAN, "m NaN\n" },
        { INFINITY, "m +Inf\n" },
        { -INFINITY, "m -Inf\n" },
    };
    struct evbuffer  *b;
    expo_t            e;
    char             *s, *nl;
    size_t            i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b = evbuffer_new();
        expo_begin(&e, b);
        expo_family(&e, "m", "untyped", "x");
        expo_sample(&e, cases[i].v, NULL);
        assert_int_equal(expo_end(&e), 0);
        s = text_of(b);
        nl = strstr(s, "\nm ");
        assert_non_null(nl);
        assert_string_equal(nl + 1, cases[i].text);
        /* what is printed reads back as the value */
        if (!isnan(cases[i].v)) {
            assert_true(strtod(nl + 3, NULL) == cases[i].v);
        }
        free(s);
        evbuffer_free(b);
    }
}

static void
test_errors(void **state)
{
    static const char *const  bad_metric[] = { "", "1abc", "a-b", "a b",
                                               "é" };
    struct evbuffer  *b = evbuffer_new();
    expo_t            e;
    size_t            i;

    (void) state;
    /* a family begun twice: its samples would not be contiguous */
    expo_begin(&e, b);
    expo_family(&e, "a", "gauge", "x");
    expo_sample(&e, 1, NULL);
    expo_family(&e, "b", "gauge", "x");
    expo_family(&e, "a", "gauge", "x");
    assert_int_equal(expo_end(&e), -1);
    assert_string_equal(e.why, "a metric family begun twice");

    expo_begin(&e, b);
    expo_sample(&e, 1, NULL);
    assert_int_equal(expo_end(&e), -1);

    for (i = 0; i < sizeof(bad_metric) / sizeof(bad_metric[0]); i++) {
        expo_begin(&e, b);
        expo_family(&e, bad_metric[i], "gauge", "x");
        assert_int_equal(expo_end(&e), -1);
    }

    expo_begin(&e, b);
    expo_family(&e, "a", "histogram", "x");
    assert_int_equal(expo_end(&e), -1);

    expo_begin(&e, b);
    expo_family(&e, "a", "gauge", "x");
    expo_sample(&e, 1, "a:b", "v", NULL);
    assert_int_equal(expo_end(&e), -1);

    expo_begin(&e, b);
    expo_family(&e, "a", "gauge", "x");
    expo_sample(&e, 1, "__name__", "v", NULL);
    assert_int_equal(expo_end(&e), -1);

    /* the first error sticks: nothing more is written */
    evbuffer_drain(b, evbuffer_get_length(b));
    expo_begin(&e, b);
    expo_sample(&e, 1, NULL);
    expo_family(&e, "ok", "gauge", "x");
    assert_int_equal(expo_end(&e), -1);
    assert_int_equal(evbuffer_get_length(b), 0);
    evbuffer_free(b);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("expo", tests, NULL, NULL);
}
