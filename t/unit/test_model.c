/* model.c: an instance's model against the pool's latest, and what the
   digests depend on */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaler.h"

static void
test_latest(void **state)
{
    static const struct {
        const char  *what;
        const char  *lv, *ld, *li;      /* the pool's latest */
        const char  *v, *d, *i;         /* the instance's */
        int          want;
    } cases[] = {
        { "the same model", "2", "t2", "i2", "2", "t2", "i2", 1 },
        { "an older version", "2", "t2", "i2", "1", "t2", "i2", 0 },
        { "another template", "2", "t2", "i2", "2", "t1", "i2", 0 },
        { "another base image", "2", "t2", "i2", "2", "t2", "i1", 0 },
        { "a tag that predates digests: by version", "2", "t2", "i2",
          "2", "", "", 1 },
        { "an older version in a tag without digests", "2", "t2", "i2",
          "1", "", "", 0 },
        { "no volume: no image to compare", "2", "t2", "", "2", "t2", "", 1 },
        { "the base image could not be read: by the rest", "2", "t2", "",
          "2", "t2", "i1", 1 },
    };
    virt_model_t  l, m;
    size_t        k;

    (void) state;
    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        memset(&l, 0, sizeof(l));
        memset(&m, 0, sizeof(m));
        strcpy(l.version, cases[k].lv);
        strcpy(l.digest, cases[k].ld);
        strcpy(l.image, cases[k].li);
        strcpy(m.version, cases[k].v);
        strcpy(m.digest, cases[k].d);
        strcpy(m.image, cases[k].i);
        if (model_latest(&l, &m) != cases[k].want) {
            fail_msg("%s: want %d", cases[k].what, cases[k].want);
        }
    }
}

static void
test_digests(void **state)
{
    template_config_t  p;
    char               a[MODEL_DIGEST_LEN + 1], b[MODEL_DIGEST_LEN + 1];

    (void) state;
    memset(&p, 0, sizeof(p));
    p.text = (char *) "<domain>{{name}}</domain>";
    model_template_digest(&p, a);
    assert_int_equal(strlen(a), MODEL_DIGEST_LEN);
    model_template_digest(&p, b);
    assert_string_equal(a, b);                  /* a function of it */
    p.text = (char *) "<domain>{{name}} </domain>";
    model_template_digest(&p, b);
    assert_string_not_equal(a, b);              /* the template's text */
    p.text = (char *) "<domain>{{name}}</domain>";
    p.vol_pool = (char *) "default";
    p.vol_backing = (char *) "base.qcow2";
    model_template_digest(&p, b);
    assert_string_not_equal(a, b);              /* its volume settings */
    model_template_digest(&p, a);
    p.vol_backing = (char *) "base2.qcow2";
    model_template_digest(&p, b);
    assert_string_not_equal(a, b);
    /* parts are length-prefixed: moving bytes between them shows */
    p.vol_pool = (char *) "defaultb";
    p.vol_backing = (char *) "ase.qcow2";
    model_template_digest(&p, b);
    assert_string_not_equal(a, b);

    model_image_digest("/p/base.qcow2", 100, "1700000000.5", a);
    model_image_digest("/p/base.qcow2", 100, "1700000001.5", b);
    assert_string_not_equal(a, b);              /* a new file */
    model_image_digest("/p/base.qcow2", 101, "1700000000.5", b);
    assert_string_not_equal(a, b);
    model_image_digest("/p/base.qcow2", 100, "1700000000.5", b);
    assert_string_equal(a, b);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_latest),
        cmocka_unit_test(test_digests),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
