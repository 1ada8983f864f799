/* template.c and addr.c: XML escaping of every value, static addresses */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaler.h"

static void
test_escape(void **state)
{
    static const char *const cases[][2] = {
        { "plain", "plain" },
        { "", "" },
        { "a&b", "a&amp;b" },
        { "<x>", "&lt;x&gt;" },
        { "\"q\" 'a'", "&quot;q&quot; &apos;a&apos;" },
        { "&amp;", "&amp;amp;" },
        { "]]><evil/>", "]]&gt;&lt;evil/&gt;" },
    };
    size_t  i;
    char   *s;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s = template_escape(cases[i][0]);
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
}

static void
test_render(void **state)
{
    static const char *const keys[] = { "name", "zone", "version" };
    static const char *const vals[] = { "web-000001", "z<1>", "1&2" };
    char  *s;

    (void) state;
    s = template_render("<name>{{name}}</name><z a='{{zone}}'/>{{version}}"
                        "{{unknown}}{{", keys, vals, 3);
    assert_string_equal(s, "<name>web-000001</name><z a='z&lt;1&gt;'/>"
                        "1&amp;2{{unknown}}{{");
    free(s);
    s = template_render("", keys, vals, 3);
    assert_string_equal(s, "");
    free(s);
}

static void
test_addr(void **state)
{
    pool_config_t  p = { 0 };
    char           buf[64];

    (void) state;
    p.net = (127U << 24) | (1U << 8);       /* 127.0.1.0/24 */
    p.prefix_len = 24;
    p.port = 8080;
    assert_int_equal(addr_static(&p, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "127.0.1.1:8080");
    assert_int_equal(addr_static(&p, 253, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "127.0.1.254:8080");
    assert_int_equal(addr_static(&p, 254, buf, sizeof(buf)), -1);
    assert_int_equal(addr_static(&p, -1, buf, sizeof(buf)), -1);

    p.net = (127U << 24) | 1;               /* 127.0.0.1/32 ports */
    p.prefix_len = 32;
    p.port_lo = 20000;
    p.port_hi = 20002;
    assert_int_equal(addr_static(&p, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "127.0.0.1:20000");
    assert_int_equal(addr_static(&p, 2, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "127.0.0.1:20002");
    assert_int_equal(addr_static(&p, 3, buf, sizeof(buf)), -1);

    /* lease / agent: distinct placeholders, never an address */
    p.addr_mode = ADDR_LEASE;
    assert_int_equal(addr_static(&p, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "pending:0");
    assert_int_equal(addr_static(&p, 5000, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "pending:5000");
}

static void
test_metadata(void **state)
{
    static const char *const cases[][2] = {
        { "<domain><name>a</name></domain>",
          "<domain><name>a</name><metadata><t/></metadata></domain>" },
        { "<domain><metadata><x:o xmlns:x='u'/></metadata></domain>\n",
          "<domain><metadata><t/><x:o xmlns:x='u'/></metadata></domain>\n" },
        { "<domain><metadata/><os/></domain>",
          "<domain><metadata><t/></metadata><os/></domain>" },
        { "<!-- </domain> --><domain></domain>",
          "<!-- </domain> --><domain><metadata><t/></metadata></domain>" },
    };
    size_t  i;
    char   *s;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s = template_add_metadata(cases[i][0], "<t/>");
        assert_non_null(s);
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
    assert_null(template_add_metadata("<domain>", "<t/>"));
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_metadata),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("scaler_template", tests, NULL, NULL);
}
