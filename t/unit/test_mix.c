/*
 * plan_mix.c: a flexible pool's templates by their mix, as tables.
 * Each row: the templates ("NAME:WEIGHT[:SHARE[:MAX_PERCENT]]"), whether
 * a mix is given, a capacity in units and the instances of each
 * template it asks for.  Then the capacity step itself over the same
 * pools: a scale-out from nothing and the scale-in back keep the mix,
 * instances added by hand are outside the capacity, and an instance of
 * a template the config lost goes first.
 */

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "plan.h"

#define NOW  1000000000ULL

typedef struct {
    const char  *name;
    const char  *tmpl[4];       /* "name:weight[:share[:max_percent]]" */
    int          mixed;
    int          capacity;
    int          want[4];       /* instances of each */
} target_case_t;

static const target_case_t  targets[] = {
    { "one template of weight 1: the capacity itself",
      { "web:1" }, 0, 5, { 5 } },
    { "small 1 + large 2 at 50/50, capacity 8: 4 small, 2 large (4 units "
      "each)",
      { "small:1:50", "large:2:50" }, 1, 8, { 4, 2 } },
    { "the same at capacity 4: 2 small, 1 large (the scale-in target)",
      { "small:1:50", "large:2:50" }, 1, 4, { 2, 1 } },
    { "70/30 by capacity, weights 1 and 1: 7 and 3 of 10",
      { "small:1:70", "large:1:30" }, 1, 10, { 7, 3 } },
    { "capacity 3 at 50/50 with weights 1 and 2: met exactly (the large "
      "one does not fit the last unit)",
      { "small:1:50", "large:2:50" }, 1, 3, { 1, 1 } },
    { "no mix: the first template first",
      { "small:1", "large:2" }, 0, 6, { 6, 0 } },
    { "no mix, the first bounded by max_percent 50: the rest from the "
      "next",
      { "small:1:0:50", "large:2" }, 0, 8, { 4, 2 } },
    { "only a heavy template: the capacity is exceeded by the last "
      "instance, never undershot",
      { "big:4" }, 0, 6, { 2 } },
    { "a template at share 0 gets nothing from the capacity",
      { "small:1:100", "large:2:0" }, 1, 6, { 6, 0 } },
    { "every template at its max_percent: the capacity is not met",
      { "small:1:50:25", "large:2:50:25" }, 1, 8, { 2, 1 } },
    { "capacity 0: nothing",
      { "small:1:50", "large:2:50" }, 1, 0, { 0, 0 } },
};

static int
parse_templates(const char *const *spec, int capacity, mix_template_t *t)
{
    int  n, w, s, m;

    for (n = 0; n < 4 && spec[n]; n++) {
        s = 0;
        m = 0;
        assert_true(sscanf(strchr(spec[n], ':') + 1, "%d:%d:%d", &w, &s,
                           &m) >= 1);
        t[n].weight = w;
        t[n].share = s;
        t[n].max_units = m ? capacity * m / 100 : INT_MAX;
    }
    return n;
}

static void
test_targets(void **state)
{
    mix_template_t  t[4];
    int             count[4], n, k, fail = 0;
    size_t          i;

    (void) state;
    for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        n = parse_templates(targets[i].tmpl, targets[i].capacity, t);
        mix_targets(t, n, targets[i].mixed, targets[i].capacity, count);
        for (k = 0; k < n; k++) {
            if (count[k] != targets[i].want[k]) {
                print_error("%s: %s got %d, want %d\n", targets[i].name,
                            targets[i].tmpl[k], count[k],
                            targets[i].want[k]);
                fail = 1;
            }
        }
    }
    assert_false(fail);
}

static void
test_picks(void **state)
{
    mix_template_t  t[2] = { { 1, 50, INT_MAX }, { 2, 50, INT_MAX } };
    int             target[2] = { 2, 1 }, count[2], removable[2];

    (void) state;
    /* 4 small + 2 large down to capacity 4: the excess is 2 units each,
       the later template gives first */
    count[0] = 4; count[1] = 2;
    removable[0] = 4; removable[1] = 2;
    assert_int_equal(mix_pick_in(t, 2, target, count, removable, 4), 1);
    count[1] = 1;
    assert_int_equal(mix_pick_in(t, 2, target, count, removable, 2), 0);
    /* a large one does not fit 1 spare unit */
    count[0] = 2; count[1] = 2;
    assert_int_equal(mix_pick_in(t, 2, target, count, removable, 1), -1);
    /* nothing removable there (a zone down): none */
    count[0] = 3; count[1] = 1;
    removable[0] = 0;
    assert_int_equal(mix_pick_in(t, 2, target, count, removable, 1), -1);
    /* scale-out: the deficit first */
    count[0] = 2; count[1] = 0;
    assert_int_equal(mix_pick_out(t, 2, 1, target, count, 2), 1);
    count[0] = 0; count[1] = 1;
    assert_int_equal(mix_pick_out(t, 2, 1, target, count, 2), 0);
    /* every target met but units short: the next by the rule */
    count[0] = 2; count[1] = 1;
    assert_int_equal(mix_pick_out(t, 2, 1, target, count, 1), 0);
}

/* --- the capacity step over a flexible pool ---------------------------- */

static pool_config_t  pool;

static void
flex_pool(void)
{
    memset(&pool, 0, sizeof(pool));
    pool.name = (char *) "web";
    pool.nzones = 2;
    pool.zones[0].name = (char *) "z1";
    pool.zones[1].name = (char *) "z2";
    pool.zones[0].host0 = 0;
    pool.zones[1].host0 = 1;
    pool.zones[0].nhosts = pool.zones[1].nhosts = 1;
    pool.nhosts = 2;
    pool.hosts[0].uri = pool.hosts[1].uri = (char *) "test:///default";
    pool.hosts[1].zone = 1;
    pool.ntemplates = 2;
    pool.flexible = 1;
    pool.mixed = 1;
    pool.templates[0].name = (char *) "small";
    pool.templates[0].version = (char *) "1";
    pool.templates[0].weight = 1;
    pool.templates[0].mix = 50;
    pool.templates[1].name = (char *) "large";
    pool.templates[1].version = (char *) "1";
    pool.templates[1].weight = 2;
    pool.templates[1].mix = 50;
    pool.addr_mode = ADDR_STATIC;
    pool.net = (127U << 24) | (1U << 8);
    pool.prefix_len = 24;
    pool.port = 8080;
    pool.cap_max = SCALER_CAPACITY_MAX;
}

/* instances "ID TEMPLATE ZONE [manual|adopted]", all running */
static void
flex_obs(observation_t *obs, const char *const *inst, int n)
{
    obs_instance_t  *o;
    obs_member_t    *m;
    char             id[64], tmpl[32], origin[16];
    int              i, z, k;

    memset(obs, 0, sizeof(*obs));
    obs->now = NOW;
    obs->nzones = 2;
    obs->zone_up[0] = obs->zone_up[1] = 1;
    obs->nhosts = 2;
    obs->host_up[0] = obs->host_up[1] = 1;
    obs->redis_ok = obs->drains_ok = obs->reports_ok = 1;
    obs->inst = calloc(n + 1, sizeof(*obs->inst));
    obs->members = calloc(n + 1, sizeof(*obs->members));
    for (k = 0; k < 2; k++) {
        for (z = 0; z < 2; z++) {
            snprintf(obs->latest[k][z].template,
                     sizeof(obs->latest[k][z].template), "%s",
                     pool.templates[k].name);
        }
    }
    for (i = 0; i < n; i++) {
        origin[0] = '\0';
        assert_true(sscanf(inst[i], "%63s %31s z%d %15s", id, tmpl, &z,
                           origin) >= 3);
        o = &obs->inst[obs->ninst++];
        snprintf(o->in.id, sizeof(o->in.id), "%s", id);
        o->in.zone = z - 1;
        o->in.host = z - 1;         /* one host per zone */
        o->in.seq = strtol(strrchr(id, '-') + 1, NULL, 10);
        snprintf(o->in.address, sizeof(o->in.address), "127.0.1.%ld:8080",
                 o->in.seq);
        snprintf(o->in.model.template, sizeof(o->in.model.template), "%s",
                 tmpl);
        o->in.tmpl = config_template(&pool, tmpl);
        o->in.origin = strcmp(origin, "manual") == 0 ? ORIGIN_MANUAL
                       : strcmp(origin, "adopted") == 0 ? ORIGIN_ADOPTED
                       : ORIGIN_SCALED;
        o->listed = 1;
        o->member = obs->nmembers;
        m = &obs->members[obs->nmembers++];
        snprintf(m->id, sizeof(m->id), "%s", id);
        snprintf(m->address, sizeof(m->address), "%s", o->in.address);
        m->valid = 1;
        m->zone = o->in.zone;
        m->host = -1;               /* zones of one host: no host= */
        m->weight = o->in.tmpl >= 0 ? pool.templates[o->in.tmpl].weight : 3;
        m->inst = i;
    }
}

/* the capacity step's actions as "KIND ID TEMPLATE", one per line */
static void
run(observation_t *obs, int capacity, char *out, size_t size)
{
    plan_input_t  in = { &pool, obs, capacity, NOW, 1000 };
    plan_t        pl;
    size_t        len = 0;
    int           i, k;

    plan_begin(&in, &pl);
    plan_capacity(&in, &pl);
    out[0] = '\0';
    for (i = 0; i < pl.nact; i++) {
        const action_t *a = &pl.act[i];

        k = a->kind == ACT_CREATE ? a->tmpl : obs->inst[a->inst].in.tmpl;
        len += snprintf(out + len, size - len, "%s %s %s %s\n",
                        act_kind_name(a->kind), a->id,
                        k >= 0 ? pool.templates[k].name : "(gone)",
                        a->kind == ACT_CREATE ? pool.zones[a->zone].name
                                              : "");
        if (a->kind == ACT_CREATE) {
            assert_string_equal(a->model.template, pool.templates[k].name);
        }
    }
    plan_release(&pl);
}

static void
test_capacity_flexible(void **state)
{
    static const char *const eight[] = {
        "web-000001 small z1", "web-000002 small z2", "web-000003 large z1",
        "web-000004 small z1", "web-000005 small z2", "web-000006 large z2" };
    static const char *const by_hand[] = {
        "web-000001 small z1", "web-000002 small z2", "web-000003 large z1",
        "web-000004 small z1", "web-000005 small z2", "web-000006 large z2",
        "web-000007 large z1 manual", "web-000008 small z2 adopted" };
    static const char *const orphan[] = {
        "web-000001 small z1", "web-000002 small z2", "web-000003 large z1",
        "web-000004 medium z2" };
    observation_t  obs;
    char           got[1024];

    (void) state;
    flex_pool();
    /* 0 -> 8: 4 small + 2 large, each template spread over the zones
       (and the zones even: 4 units each) */
    flex_obs(&obs, NULL, 0);
    run(&obs, 8, got, sizeof(got));
    assert_string_equal(got,
        "create web-000001 small z1\n"
        "create web-000002 large z2\n"
        "create web-000003 small z2\n"
        "create web-000004 small z1\n"
        "create web-000005 large z1\n"
        "create web-000006 small z2\n");
    obs_release(&obs);

    /* 8 -> 4: 2 small + 1 large stay (one large, two small go; zones
       balanced within each template, highest id first) */
    flex_obs(&obs, eight, 6);
    run(&obs, 4, got, sizeof(got));
    assert_string_equal(got,
        "drain web-000006 large \n"
        "drain web-000005 small \n"
        "drain web-000004 small \n");
    obs_release(&obs);

    /* at capacity nothing moves; one more by hand and one adopted are
       outside the capacity: still nothing, and never scaled in */
    flex_obs(&obs, eight, 6);
    run(&obs, 8, got, sizeof(got));
    assert_string_equal(got, "");
    obs_release(&obs);
    flex_obs(&obs, by_hand, 8);
    run(&obs, 8, got, sizeof(got));
    assert_string_equal(got, "");
    run(&obs, 0, got, sizeof(got));
    assert_null(strstr(got, "web-000007"));
    assert_null(strstr(got, "web-000008"));
    obs_release(&obs);

    /* an instance of a template the config lost goes first, and is
       replaced from the mix */
    flex_obs(&obs, orphan, 4);
    run(&obs, 4, got, sizeof(got));
    assert_non_null(strstr(got, "drain web-000004 (gone)"));
    obs_release(&obs);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_picks),
        cmocka_unit_test(test_capacity_flexible),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("mix", tests, NULL, NULL);
}
