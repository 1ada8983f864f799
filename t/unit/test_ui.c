/* ui.c: which file names the dashboard serves, and as what */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaler.h"

static void
test_content_type(void **state)
{
    static const struct {
        const char  *name;
        const char  *want;          /* NULL: not served */
    } cases[] = {
        { "index.html",       "text/html; charset=utf-8" },
        { "app.js",           "text/javascript; charset=utf-8" },
        { "style.css",        "text/css; charset=utf-8" },
        { "logo.svg",         "image/svg+xml" },
        { "a.min.js",         "text/javascript; charset=utf-8" },
        { "favicon.ico",      "image/x-icon" },
        { "",                 NULL },
        { ".",                NULL },
        { "..",               NULL },
        { ".hidden.js",       NULL },
        { "../app.js",        NULL },
        { "sub/app.js",       NULL },
        { "app.js/",          NULL },
        { "%2e%2e",           NULL },
        { "app.js%00.html",   NULL },
        { "app.js\\x",        NULL },
        { "app js.js",        NULL },
        { "Makefile",         NULL },
        { "secret.key",       NULL },
        { "app.JS",           NULL },
        { "app.",             NULL },
    };
    size_t       i;
    const char  *got;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        got = ui_content_type(cases[i].name);
        if (cases[i].want == NULL) {
            assert_null(got);
        } else {
            assert_non_null(got);
            assert_string_equal(got, cases[i].want);
        }
    }
}

static void
test_long_name(void **state)
{
    char  name[200];

    (void) state;
    memset(name, 'a', sizeof(name));
    memcpy(name + sizeof(name) - 4, ".js", 4);
    assert_null(ui_content_type(name));
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_long_name),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("ui", tests, NULL, NULL);
}
