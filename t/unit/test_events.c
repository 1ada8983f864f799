/* events.c: the lifecycle events kept for the API, in order, per pool,
   the last 1000 of them */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>

#include "scaler.h"

static void
test_kept(void **state)
{
    pool_config_t        web, api;
    json_t              *a, *e;
    unsigned long long   last;
    unsigned long        c[4];
    char                 id[32];
    int                  i;

    (void) state;
    memset(&web, 0, sizeof(web));
    memset(&api, 0, sizeof(api));
    web.name = (char *) "web";
    api.name = (char *) "api";

    a = events_since("web", 0, &last);
    assert_int_equal(json_array_size(a), 0);
    assert_int_equal(last, 0);
    json_decref(a);

    events_emit(NULL, &web, "web-000001", "created", "booting", "scale_out",
                "capacity 1, 0 in service");
    events_emit(NULL, &api, "api-000001", "created", "booting", "scale_out",
                "");
    events_emit(NULL, &web, "web-000001", "registered", "running", "ready",
                "ready");
    a = events_since("web", 0, &last);
    assert_int_equal(json_array_size(a), 2);
    assert_int_equal(last, 2);
    e = json_array_get(a, 1);
    assert_string_equal(json_string_value(json_object_get(e, "event")),
                        "registered");
    assert_string_equal(json_string_value(json_object_get(e, "state")),
                        "running");
    assert_string_equal(json_string_value(json_object_get(e, "pool")), "web");
    assert_int_equal(json_integer_value(json_object_get(e, "seq")), 2);
    assert_true(json_integer_value(json_object_get(e, "at")) > 0);
    json_decref(a);
    a = events_since("web", 1, &last);
    assert_int_equal(json_array_size(a), 1);
    json_decref(a);
    a = events_since("api", 0, &last);
    assert_int_equal(json_array_size(a), 1);       /* per pool */
    json_decref(a);

    /* the last 1000, oldest first */
    for (i = 3; i <= 1500; i++) {
        snprintf(id, sizeof(id), "web-%06d", i);
        events_emit(NULL, &web, id, "created", "booting", "scale_out", "");
    }
    a = events_since("web", 0, &last);
    assert_int_equal(last, 1500);
    assert_int_equal(json_array_size(a), 1000);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 0),
                                                        "seq")), 501);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(a,
                                                        999), "seq")), 1500);
    json_decref(a);
    a = events_since("web", 1490, &last);
    assert_int_equal(json_array_size(a), 10);
    json_decref(a);
    a = events_since("web", 1500, &last);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
    events_counts("web", c);
    assert_int_equal(c[0], 1500);
    assert_int_equal(c[1], 0);                      /* no webhook */
    events_free();
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_kept),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
