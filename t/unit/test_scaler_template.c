/* template.c and addr.c: XML escaping of every value, static addresses */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    /* no address section (yet: a config check samples the cloud-init
       variables before it says the section is missing): no address,
       and no shift by 32 (make check-fuzz found it) */
    assert_int_equal(addr_static(&p, 0, buf, sizeof(buf)), -1);

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

/* what virt_create writes into <metadata> comes back decoded */
static void
test_tag(void **state)
{
    virt_tag_t  t;
    char       *e, xml[1024], *dir;

    (void) state;
    e = template_escape("/var/lib/a&b <'\">");
    snprintf(xml, sizeof(xml), "<scaleset:instance xmlns:scaleset=\"%s\" "
             "pool=\"web\" id=\"web-000001\" zone=\"z1\" version=\"3\" "
             "address=\"127.0.0.1:20000\" volume=\"%s/web-000001.qcow2\" "
             "mode=\"static\" port=\"20000\"/>", SCALER_NS, e);
    free(e);
    assert_int_equal(virt_tag_parse(xml, &t), 0);
    assert_string_equal(t.info.pool, "web");
    assert_string_equal(t.info.id, "web-000001");
    assert_string_equal(t.info.zone, "z1");
    assert_string_equal(t.info.model.version, "3");
    assert_string_equal(t.info.address, "127.0.0.1:20000");
    assert_string_equal(t.volume, "/var/lib/a&b <'\">/web-000001.qcow2");
    assert_string_equal(t.info.mode, "static");
    assert_string_equal(t.info.port, "20000");
    /* a tag that predates the model's other parts: adopted, they are
       unknown */
    assert_string_equal(t.info.model.digest, "");
    assert_string_equal(t.info.model.host, "");
    assert_int_equal(t.info.model.created, 0);

    /* the instance's model */
    snprintf(xml, sizeof(xml), "<scaleset:instance xmlns:scaleset=\"%s\" "
             "pool=\"web\" id=\"web-000002\" zone=\"z1\" version=\"4\" "
             "digest=\"ab12\" image=\"cd34\" template=\"small\" "
             "host=\"qemu+ssh://root@kvm1/system?keyfile=a&amp;b\" "
             "created=\"1764000000123\"/>", SCALER_NS);
    assert_int_equal(virt_tag_parse(xml, &t), 0);
    assert_string_equal(t.info.model.version, "4");
    assert_string_equal(t.info.model.digest, "ab12");
    assert_string_equal(t.info.model.image, "cd34");
    assert_string_equal(t.info.model.template, "small");
    assert_string_equal(t.info.model.host,
                        "qemu+ssh://root@kvm1/system?keyfile=a&b");
    assert_int_equal(t.info.model.created, 1764000000123ULL);
    /* a creation time that is no number is unknown; the tag is ours */
    snprintf(xml, sizeof(xml), "<i:instance xmlns:i='%s' pool='p' id='x' "
             "zone='z' created='-5'/>", SCALER_NS);
    assert_int_equal(virt_tag_parse(xml, &t), 0);
    assert_int_equal(t.info.model.created, 0);

    /* libvirt may hand it back with another prefix and quoting */
    snprintf(xml, sizeof(xml), "<i:instance xmlns:i='%s' pool='p&amp;q' "
             "id='x' zone='z'/>", SCALER_NS);
    assert_int_equal(virt_tag_parse(xml, &t), 0);
    assert_string_equal(t.info.pool, "p&q");
    assert_string_equal(t.volume, "");

    /* as virDomainGetMetadata returns it: without the namespace */
    assert_int_equal(virt_tag_parse("<instance pool=\"p\" id=\"x&lt;\" "
                                    "zone=\"z\"/>", &t), 0);
    assert_string_equal(t.info.id, "x<");
    assert_false(t.info.warm);

    /* in the warm pool: warm="yes" set and taken away, the rest kept
       (escaped as it was) */
    {
        char *p, *w = virt_tag_set_warm("<instance pool=\"p\" id=\"x&lt;\" "
                                    "zone=\"z\"/>", 1, 0), *c;

        assert_non_null(w);
        assert_int_equal(virt_tag_parse(w, &t), 0);
        assert_true(t.info.warm);
        assert_string_equal(t.info.id, "x<");
        assert_null(strstr(w, "<?xml"));
        assert_false(t.info.parked);
        assert_null(strstr(w, "parked"));
        /* parked (past its launch hook): parked="yes" beside warm="yes",
           both taken away by a wake */
        p = virt_tag_set_warm(w, 1, 1);
        assert_non_null(p);
        assert_int_equal(virt_tag_parse(p, &t), 0);
        assert_true(t.info.warm);
        assert_true(t.info.parked);
        assert_non_null(strstr(p, "warm=\"yes\""));
        assert_non_null(strstr(p, "parked=\"yes\""));
        free(w);
        w = p;
        c = virt_tag_set_warm(w, 0, 0);
        assert_non_null(c);
        assert_null(strstr(c, "warm"));
        assert_int_equal(virt_tag_parse(c, &t), 0);
        assert_false(t.info.warm);
        assert_false(t.info.parked);
        assert_null(strstr(c, "parked"));
        assert_string_equal(t.info.id, "x<");
        free(w);
        free(c);
        assert_null(virt_tag_set_warm("<instance", 1, 0));
    }
    assert_int_equal(virt_tag_parse("<instance pool='p' id='x' zone='z' "
                                    "warm='no'/>", &t), 0);
    assert_false(t.info.warm);

    /* not ours, not whole, not well-formed, too long */
    assert_int_equal(virt_tag_parse("<o:instance xmlns:o='urn:other' "
                                    "pool='p' id='x' zone='z'/>", &t), -1);
    assert_int_equal(virt_tag_parse("<inst pool='p' id='x' zone='z'/>", &t),
                     -1);
    snprintf(xml, sizeof(xml), "<i:instance xmlns:i='%s' pool='p' "
             "zone='z'/>", SCALER_NS);
    assert_int_equal(virt_tag_parse(xml, &t), -1);
    snprintf(xml, sizeof(xml), "<i:instance xmlns:i='%s' pool='p&' id='x' "
             "zone='z'/>", SCALER_NS);
    assert_int_equal(virt_tag_parse(xml, &t), -1);
    snprintf(xml, sizeof(xml), "<i:instance xmlns:i='%s' pool='p' id='x' "
             "zone='z' port='123456789'/>", SCALER_NS);
    assert_int_equal(virt_tag_parse(xml, &t), -1);
    assert_int_equal(virt_tag_parse(NULL, &t), -1);

    dir = virt_pool_target("<pool type='dir'><name>p</name><source/>"
                           "<target><path>/srv/a&amp;b&lt;c</path>"
                           "</target></pool>");
    assert_non_null(dir);
    assert_string_equal(dir, "/srv/a&b<c");
    free(dir);
    assert_null(virt_pool_target("<pool><name>p</name></pool>"));
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_tag),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("scaler_template", tests, NULL, NULL);
}
