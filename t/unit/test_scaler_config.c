/* config.c: a good config loads; each bad one is reported with its line */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaler.h"

static char  dir[] = "/tmp/scaler-config-XXXXXX";
static char  tpl[256], yml[256], pw[256], empty[256];

#define POOL_HEAD                                                           \
    "pools:\n"                                                              \
    "  - name: web\n"                                                       \
    "    zones:\n"                                                          \
    "      - { name: z1, uri: \"test:///default\" }\n"

static scaler_config_t *
load(const char *text, char *err, size_t errlen)
{
    FILE  *f = fopen(yml, "w");
    char  *t = NULL;
    const char *p;
    size_t n = 0;

    /* %T stands for the template path, %D for the directory */
    t = malloc(strlen(text) + strlen(tpl) * 4 + 1);
    for (p = text; *p; p++) {
        if (p[0] == '%' && p[1] == 'T') {
            n += sprintf(t + n, "%s", tpl);
            p++;
        } else if (p[0] == '%' && p[1] == 'D') {
            n += sprintf(t + n, "%s", dir);
            p++;
        } else {
            t[n++] = *p;
        }
    }
    t[n] = '\0';
    fputs(t, f);
    fclose(f);
    free(t);
    return config_load(yml, err, errlen);
}

static int
setup(void **state)
{
    FILE  *f;

    (void) state;
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(tpl, sizeof(tpl), "%s/t.xml", dir);
    snprintf(yml, sizeof(yml), "%s/s.yaml", dir);
    f = fopen(tpl, "w");
    fputs("<domain type='test'><name>{{name}}</name></domain>\n", f);
    fclose(f);
    snprintf(pw, sizeof(pw), "%s/pw", dir);
    f = fopen(pw, "w");
    fputs("s3cret\nsecond line\n", f);
    fclose(f);
    snprintf(empty, sizeof(empty), "%s/empty", dir);
    f = fopen(empty, "w");
    fputs("\n", f);
    fclose(f);
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    unlink(tpl);
    unlink(yml);
    unlink(pw);
    unlink(empty);
    rmdir(dir);
    return 0;
}

static void
test_good(void **state)
{
    scaler_config_t  *cf;
    pool_config_t    *p;
    char              err[512];

    (void) state;
    cf = load("redis: { address: 127.0.0.1:6390, prefix: \"x:\" }\n"
              "api: { listen: 127.0.0.1:9999 }\n"
              "interval: 1s\n"
              POOL_HEAD
              "      - { name: z2, uri: \"test:///default\" }\n"
              "    template: { domain: %T, version: 7 }\n"
              "    address: { mode: static, cidr: 127.0.1.0/24, port: 8080 }\n"
              "    capacity: { min: 1, max: 9, default: 3 }\n"
              "    scale_in_policy: oldest\n"
              "    drain_timeout: 1m30s\n"
              "  - name: api\n"
              "    zones: [ { name: z1, uri: \"test:///default\" } ]\n"
              "    template: { domain: %T }\n"
              "    address: { cidr: 127.0.2.0/24, port: 8080 }\n"
              "    capacity: { min: 2, max: 5 }\n", err, sizeof(err));
    if (cf == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(cf->redis.addr.port, 6390);
    assert_string_equal(cf->redis.addr.host, "127.0.0.1");
    assert_null(cf->redis.username);
    assert_null(cf->redis.password);
    assert_int_equal(cf->redis.db, 0);
    assert_null(cf->redis.master);
    assert_int_equal(cf->ha_lease_ms, 0);
    assert_string_equal(cf->prefix, "x:");
    assert_int_equal(cf->api_port, 9999);
    assert_int_equal(cf->interval_ms, 1000);
    p = config_pool(cf, "web");
    assert_non_null(p);
    assert_int_equal(p->nzones, 2);
    assert_string_equal(p->templates[0].version, "7");
    assert_int_equal(p->cap_default, 3);
    assert_int_equal(p->scale_in, SCALE_IN_OLDEST);
    assert_int_equal(p->drain_timeout_ms, 90000);
    assert_int_equal(p->port, 8080);
    p = config_pool(cf, "api");
    assert_non_null(p);
    assert_int_equal(p->cap_min, 2);
    assert_int_equal(p->cap_default, 2);      /* follows min, as a schedule's */
    assert_null(config_pool(cf, "nope"));
    config_free(cf);
}

/* zones of several hosts: hosts listed zone by zone, named after their
   URI's server when those are unique names, else ZONE-N */
static void
test_hosts(void **state)
{
    scaler_config_t  *cf;
    pool_config_t    *p;
    char              err[512];

    (void) state;
    cf = load("pools:\n"
              "  - name: web\n"
              "    zones:\n"
              "      - { name: z1, uri: \"qemu+ssh://root@kvm1/system\" }\n"
              "      - name: z2\n"
              "        hosts:\n"
              "          - \"qemu+ssh://root@kvm2:2222/system?no_tty=1\"\n"
              "          - \"qemu+ssh://kvm3/system\"\n"
              "      - name: z3\n"
              "        hosts: [\"test+unix:///default?socket=/a\","
              " \"test+unix:///default?socket=/b\"]\n"
              "      - { name: z4, hosts: [\"qemu://h/system\","
              " \"qemu+tcp://h/system\"] }\n"
              "    template: { domain: %T }\n"
              "    address: { cidr: 127.0.1.0/24, port: 8080 }\n",
              err, sizeof(err));
    if (cf == NULL) {
        fail_msg("%s", err);
    }
    p = config_pool(cf, "web");
    assert_int_equal(p->nzones, 4);
    assert_int_equal(p->nhosts, 7);
    assert_int_equal(p->zones[0].host0, 0);
    assert_int_equal(p->zones[0].nhosts, 1);
    assert_string_equal(p->hosts[0].uri, "qemu+ssh://root@kvm1/system");
    assert_string_equal(p->hosts[0].name, "kvm1");
    assert_int_equal(p->zones[1].host0, 1);
    assert_int_equal(p->zones[1].nhosts, 2);
    assert_string_equal(p->hosts[1].name, "kvm2");
    assert_string_equal(p->hosts[2].name, "kvm3");
    assert_int_equal(p->hosts[2].zone, 1);
    /* no server in the URI: ZONE-N */
    assert_string_equal(p->hosts[3].name, "z3-1");
    assert_string_equal(p->hosts[4].name, "z3-2");
    assert_string_equal(p->hosts[4].uri, "test+unix:///default?socket=/b");
    /* the same server twice: ZONE-N for all of the zone's */
    assert_string_equal(p->hosts[5].name, "z4-1");
    assert_string_equal(p->hosts[6].name, "z4-2");
    config_free(cf);
}

static void
test_volume_and_modes(void **state)
{
    scaler_config_t  *cf;
    pool_config_t    *p;
    char              err[512];

    (void) state;
    cf = load(POOL_HEAD
              "    template:\n"
              "      domain: %T\n"
              "      volume: { pool: default, backing: web-base.qcow2 }\n"
              "    address: { mode: lease, port: 80 }\n"
              "  - name: api\n"
              "    zones: [ { name: z1, uri: \"test:///default\" } ]\n"
              "    template:\n"
              "      domain: %T\n"
              "      volume: { pool: images, base: b.img, format: raw }\n"
              "    address: { port: 8080, mode: agent, cidr: 10.77.0.0/16 }\n"
              "  - name: leased\n"
              "    zones: [ { name: z1, uri: \"test:///default\" } ]\n"
              "    template: { domain: %T }\n"
              "    address: { mode: lease, port: 80, cidr: 192.168.122.0/24 }\n",
              err, sizeof(err));
    if (cf == NULL) {
        fail_msg("%s", err);
    }
    p = config_pool(cf, "web");
    assert_string_equal(p->templates[0].vol_pool, "default");
    assert_string_equal(p->templates[0].vol_backing, "web-base.qcow2");
    assert_string_equal(p->templates[0].vol_format, "qcow2");
    assert_int_equal(p->addr_mode, ADDR_LEASE);
    assert_int_equal(p->port, 80);
    p = config_pool(cf, "api");
    assert_string_equal(p->templates[0].vol_pool, "images");
    assert_string_equal(p->templates[0].vol_backing, "b.img");
    assert_string_equal(p->templates[0].vol_format, "raw");
    assert_int_equal(p->addr_mode, ADDR_AGENT);
    assert_int_equal(p->net, 0x0a4d0000);
    assert_int_equal(p->prefix_len, 16);
    p = config_pool(cf, "web");
    assert_int_equal(p->prefix_len, 0);         /* lease: no network given */
    p = config_pool(cf, "leased");
    assert_int_equal(p->net, 0xc0a87a00);
    assert_int_equal(p->prefix_len, 24);
    config_free(cf);
}

#define POOL_OK                                                             \
    POOL_HEAD                                                               \
    "    template: { domain: %T }\n"                                      \
    "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"

static void
test_autoscale(void **state)
{
    scaler_config_t            *cf;
    pool_config_t              *p;
    const autoscale_rule_config_t *r;
    const autoscale_profile_config_t *pr;
    char                        err[512];

    (void) state;
    cf = load("prometheus: { url: \"http://127.0.0.1:9090\", timeout: 3s,"
              " username: u, password: pw }\n"
              POOL_OK
              "    capacity: { min: 1, max: 9, default: 2 }\n"
              "    max_step: 3\n"
              "    rules:\n"
              "      - name: busy\n"
              "        query: 'sum(rate(x[30s]))'\n"
              "        operator: \">=\"\n"
              "        threshold: 50.5\n"
              "        for: 30s\n"
              "        action: { percent: 50 }\n"
              "        cooldown: 1m\n"
              "        reduce: avg\n"
              "      - { name: idle, query: y, operator: \"<\", threshold: -1,"
              " action: { change: -1 }, per_instance: false }\n"
              "    schedules:\n"
              "      - { name: office, cron: \"0 8 * * MON-FRI\","
              " until: \"0 18 * * 1-5\", timezone: Europe/Berlin,"
              " capacity: { min: 4, max: 20, default: 5 } }\n"
              "      - { name: bf, start: \"2026-11-27 00:00\","
              " end: \"2026-11-30 00:00\", timezone: America/New_York,"
              " capacity: { min: 10, max: 40 } }\n", err, sizeof(err));
    if (cf == NULL) {
        fail_msg("%s", err);
    }
    assert_string_equal(cf->prom_url, "http://127.0.0.1:9090");
    assert_int_equal(cf->prom_timeout_ms, 3000);
    assert_string_equal(cf->prom_username, "u");
    assert_string_equal(cf->prom_password, "pw");
    p = config_pool(cf, "web");
    assert_int_equal(p->autoscale.nrules, 2);
    assert_int_equal(p->autoscale.max_step, 3);
    assert_int_equal(p->autoscale.capacity.min, 1);
    assert_int_equal(p->autoscale.capacity.max, 9);
    assert_int_equal(p->autoscale.capacity.def, 2);
    r = &p->autoscale.rules[0];
    assert_string_equal(r->name, "busy");
    assert_string_equal(r->query, "sum(rate(x[30s]))");
    assert_int_equal(r->op, AUTOSCALE_OP_GE);
    assert_true(r->threshold == 50.5);
    assert_int_equal(r->for_ms, 30000);
    assert_int_equal(r->action, AUTOSCALE_ACTION_PERCENT);
    assert_int_equal(r->value, 50);
    assert_int_equal(r->cooldown_ms, 60000);
    assert_int_equal(r->reduce, PROM_REDUCE_AVG);
    assert_int_equal(r->per_instance, 1);
    r = &p->autoscale.rules[1];
    assert_int_equal(r->op, AUTOSCALE_OP_LT);
    assert_int_equal(r->action, AUTOSCALE_ACTION_CHANGE);
    assert_int_equal(r->value, -1);
    assert_int_equal(r->per_instance, 0);
    assert_int_equal(r->for_ms, 0);
    assert_int_equal(p->autoscale.nprofiles, 2);
    pr = &p->autoscale.profiles[0];
    assert_int_equal(pr->kind, AUTOSCALE_PROFILE_RECURRING);
    assert_string_equal(pr->timezone, "Europe/Berlin");
    assert_true(pr->has_until);
    assert_true(pr->cron.hour & (1u << 8));
    assert_int_equal(pr->capacity.def, 5);
    pr = &p->autoscale.profiles[1];
    assert_int_equal(pr->kind, AUTOSCALE_PROFILE_FIXED);
    /* 2026-11-27 00:00 EST = 05:00 UTC */
    assert_int_equal(pr->start, 1795755600);
    assert_int_equal(pr->end - pr->start, 3 * 86400);
    assert_int_equal(pr->capacity.def, 10);
    config_free(cf);

    /* a schedule without rules needs no prometheus; a token file */
    cf = load(POOL_OK
              "    schedules:\n"
              "      - { name: s, cron: \"*/5 * * * *\","
              " capacity: { min: 1, max: 2 } }\n", err, sizeof(err));
    if (cf == NULL) {
        fail_msg("%s", err);
    }
    assert_null(cf->prom_url);
    assert_int_equal(config_pool(cf, "web")->autoscale.nrules, 0);
    config_free(cf);
}

/* warm_pool and create_concurrency: given, and their defaults */
static void
test_warm(void **state)
{
    scaler_config_t  *cf;
    pool_config_t    *p;
    char              err[512];

    (void) state;
    cf = load(POOL_OK
              "    warm_pool: { size: 3, state: saved, reuse_on_scale_in: true,"
              " wake_timeout: 2s }\n"
              "    create_concurrency: 1\n"
              "  - name: api\n"
              "    zones: [ { name: z1, uri: \"test:///default\" } ]\n"
              "    template: { domain: %T }\n"
              "    address: { cidr: 127.0.2.0/24, port: 8080 }\n"
              "    warm_pool: { size: 1 }\n"
              "  - name: cold\n"
              "    zones: [ { name: z1, uri: \"test:///default\" } ]\n"
              "    template: { domain: %T }\n"
              "    address: { cidr: 127.0.3.0/24, port: 8080 }\n",
              err, sizeof(err));
    if (cf == NULL) {
        fail_msg("%s", err);
    }
    p = config_pool(cf, "web");
    assert_int_equal(p->warm.size, 3);
    assert_int_equal(p->warm.state, WARM_SAVED);
    assert_true(p->warm.reuse);
    assert_int_equal(p->warm.wake_timeout_ms, 2000);
    assert_int_equal(p->create_concurrency, 1);
    p = config_pool(cf, "api");
    assert_int_equal(p->warm.size, 1);
    assert_int_equal(p->warm.state, WARM_PAUSED);
    assert_false(p->warm.reuse);
    assert_int_equal(p->warm.wake_timeout_ms, 10000);
    p = config_pool(cf, "cold");
    assert_int_equal(p->warm.size, 0);
    assert_int_equal(p->create_concurrency, 4);
    config_free(cf);
}

static void
test_redis_ha(void **state)
{
    scaler_config_t  *cf, *cf2;
    redis_config_t    copy;
    char              err[512];

    (void) state;
    cf = load("redis:\n"
              "  username: scaler\n"
              "  password_file: %D/pw\n"
              "  db: 3\n"
              "  sentinel: { master: mymaster, addresses: [\"127.0.0.1:26379\","
              " \"127.0.0.2:26380\"] }\n"
              "ha: { lease: 3s, advertise: \"http://10.0.0.5:9180\" }\n"
              POOL_OK, err, sizeof(err));
    if (cf == NULL) {
        fail_msg("%s", err);
    }
    assert_string_equal(cf->redis.username, "scaler");
    assert_string_equal(cf->redis.password, "s3cret");  /* the first line */
    assert_int_equal(cf->redis.db, 3);
    assert_string_equal(cf->redis.master, "mymaster");
    assert_int_equal(cf->redis.nsentinels, 2);
    assert_string_equal(cf->redis.sentinels[1].host, "127.0.0.2");
    assert_int_equal(cf->redis.sentinels[1].port, 26380);
    assert_int_equal(cf->ha_lease_ms, 3000);
    assert_string_equal(cf->ha_advertise, "http://10.0.0.5:9180");
    /* a deep copy compares the same; another database does not */
    redis_config_copy(&copy, &cf->redis);
    assert_int_equal(config_redis_same(&copy, &cf->redis), 1);
    copy.db = 4;
    assert_int_equal(config_redis_same(&copy, &cf->redis), 0);
    redis_config_release(&copy);
    /* ha: {} has the default lease */
    cf2 = load("ha: {}\n" POOL_OK, err, sizeof(err));
    if (cf2 == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(cf2->ha_lease_ms, 10000);
    assert_null(cf2->ha_advertise);
    assert_int_equal(config_redis_same(&cf->redis, &cf2->redis), 0);
    config_free(cf2);
    config_free(cf);
}

static void
test_errors(void **state)
{
    static const struct {
        const char  *text;
        int          line;
        const char  *reason;
    } cases[] = {
        { "bogus: 1\n", 1, "unknown key \"bogus\"" },
        { POOL_OK "    warm_pool: { size: 2, state: asleep }\n", 7,
          "warm_pool state \"asleep\": expected paused, saved or running" },
        /* the other one-of-a-list keys (cf_enum) say the same way */
        { POOL_OK "    readiness: http\n", 7,
          "readiness \"http\": expected tcp or none" },
        { POOL_OK "    repair: { action: reboot }\n", 7,
          "repair action \"reboot\": expected replace, restart or reimage" },
        { POOL_OK "    hooks: { launch: { default: maybe } }\n", 7,
          "hook default \"maybe\": expected continue or abandon" },
        { POOL_OK "    upgrade: { mode: yolo }\n", 7,
          "upgrade mode \"yolo\": expected manual, automatic or rolling" },
        { POOL_OK "    warm_pool: { size: 1001 }\n", 7,
          "\"1001\" is not an integer in 0..1000" },
        { POOL_OK "    warm_pool: { size: 1, colour: blue }\n", 7,
          "unknown key \"colour\" in warm_pool" },
        { POOL_OK "    warm_pool: { wake_timeout: 1ms }\n", 7,
          "wake_timeout: expected 100ms..600000ms" },
        { POOL_OK "    create_concurrency: 0\n", 7,
          "\"0\" is not an integer in 1..4" },
        { "interval: 5s\ninterval2: 1\n", 2, "unknown key \"interval2\"" },
        { "interval: fast\n", 1, "bad duration \"fast\"" },
        { "redis: { address: localhost }\n", 1, "expected ADDRESS:PORT" },
        { "redis:\n  address: 127.0.0.1:6379\n  port: 1\n", 3,
          "unknown key \"port\" in redis" },
        { "redis: { username: scaler }\n", 1,
          "redis: username \"scaler\" needs password_file" },
        { "redis: { username: \"a b\", password_file: %D/pw }\n", 1,
          "redis: bad username \"a b\"" },
        { "redis: { password_file: %D/none }\n", 1,
          "password_file \"" },
        { "redis: { password_file: %D/empty }\n", 1,
          "holds nothing on its first line" },
        { "redis: { db: -1 }\n", 1, "" },
        { "redis:\n  address: 127.0.0.1:6379\n"
          "  sentinel: { master: m, addresses: [\"127.0.0.1:26379\"] }\n", 2,
          "redis: address and sentinel exclude each other" },
        { "redis:\n  sentinel: { master: m }\n", 2,
          "redis: sentinel needs master and addresses" },
        { "redis:\n  sentinel: { master: m, addresses: [] }\n", 2,
          "redis: sentinel addresses is empty" },
        { "redis:\n  sentinel: { master: m, addresses: [localhost:1] }\n", 2,
          "expected IPv4-ADDRESS:PORT" },
        { "redis:\n  sentinel:\n    master: m\n    addresses:\n"
          "      - 127.0.0.1:26379\n      - 127.0.0.1:26379\n", 6,
          "redis: sentinel 127.0.0.1:26379 listed twice" },
        { "redis:\n  sentinel: { master: m, addresses: [{a: 1}] }\n", 2,
          "a sentinel address: expected a scalar" },
        { "redis:\n  sentinel: { master: \"a b\", addresses: [\"1.2.3.4:1\"] }"
          "\n", 2, "redis: bad sentinel master name" },
        { "ha: { lease: 500ms }\n", 1, "" },
        { "ha: { advertise: \"ftp://x\" }\n", 1,
          "ha: advertise \"ftp://x\": expected an http:// or https:// URL" },
        { "ha: { leases: 1s }\n", 1, "unknown key \"leases\" in ha" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/33, port: 8080 }\n", 6,
          "bad CIDR" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"
          "    capacity: { min: 5, max: 2 }\n", 7, "min 5 > max 2" },
        { POOL_HEAD
          "    template: { domain: /nonexistent/x.xml }\n", 5,
          "cannot read template" },
        { POOL_HEAD
          "      - { name: z1, uri: \"test:///default\" }\n", 5,
          "duplicate zone \"z1\"" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"
          "  - { name: web, zones: [ { name: z1, uri: \"test:///\" } ],"
          " template: { domain: %T },"
          " address: { cidr: 127.0.1.0/24, port: 8080 } }\n", 7,
          "duplicate pool \"web\"" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"
          "    scale_in_policy: random\n", 7, "scale_in_policy \"random\"" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"
          "    drain_timeout: 10x\n", 7, "bad duration \"10x\"" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"
          "    capacity: { min: two }\n", 7, "not an integer" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"
          "    capacity: { max: 1001 }\n", 7,
          "\"1001\" is not an integer in 0..1000" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"
          "    schedules:\n"
          "      - { name: big, start: \"2026-12-01 00:00\","
          " end: \"2026-12-02 00:00\", capacity: { min: 1, max: 5000 } }\n",
          8, "\"5000\" is not an integer in 0..1000" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"
          "    capacity: { min: 1, max: 3, default: 4 }\n", 7,
          "default 4 outside min..max 1..3" },
        { POOL_HEAD
          "    template:\n"
          "      domain: %T\n"
          "      volume: { pool: default }\n", 7,
          "volume needs pool and backing" },
        { POOL_HEAD
          "    template:\n"
          "      domain: %T\n"
          "      volume:\n"
          "        pool: default\n"
          "        backing: b.qcow2\n"
          "        size: 1G\n", 10, "unknown key \"size\" in volume" },
        { POOL_HEAD
          "    template:\n"
          "      domain: %T\n"
          "      volume: { pool: default, backing: b, format: vmdk }\n", 7,
          "volume format \"vmdk\"" },
        { POOL_HEAD
          "    template:\n"
          "      domain: %T\n"
          "      volume: { pool: default, backing: ../etc/x }\n", 7,
          "volume: bad backing" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { mode: dhcp, port: 80 }\n", 6,
          "address mode \"dhcp\": expected static, lease or agent" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { mode: lease, cidr: 10.0.0.0/24, ports: 80-90 }\n",
          6, "address mode lease takes port and cidr" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address: { mode: agent, port: 80 }\n", 6,
          "address mode agent needs cidr" },
        { POOL_HEAD
          "    template: { domain: %T }\n"
          "    address:\n"
          "      mode: agent\n", 7, "address mode agent needs port" },
        { "pools:\n  - name: web\n    zones: z1\n", 3,
          "zones: expected a list" },
        { "pools:\n  - name: web\n    zones:\n      - { name: z1 }\n", 4,
          "a zone needs name and uri (or hosts)" },
        { "pools:\n  - name: web\n    zones:\n"
          "      - { name: z1, uri: a, hosts: [b] }\n", 4,
          "uri and hosts are exclusive" },
        { "pools:\n  - name: web\n    zones:\n"
          "      - { name: z1, hosts: [] }\n", 4, "hosts is empty" },
        { "pools:\n  - name: web\n    zones:\n"
          "      - name: z1\n        hosts:\n          - a:///x\n"
          "          - a:///x\n", 7, "duplicate host \"a:///x\"" },
        { "pools:\n  - name: web\n    zones:\n"
          "      - { name: z1, hosts: [\"a b\"] }\n", 4,
          "\"a b\" is no libvirt URI" },
        { "pools:\n  - name: web\n    zones:\n"
          "      - { name: z1, hosts: [[x]] }\n", 4, "expected a scalar" },
        { "pools:\n  - name: web\n    zones:\n"
          "      - { name: z1, hosts: x }\n", 4, "hosts: expected a list" },
        { "pools: [\n", 2, "" },
        /* a key that is no scalar (#13: its text was read from a
           mapping or list node), at every level */
        { "? []\n: 1\n", 1, "keys must be scalars, not a list" },
        { "redis:\n  ? []\n  : 1\n", 2,
          "redis: keys must be scalars, not a list" },
        { "api:\n  ? { a: 1 }\n  : 1\n", 2,
          "api: keys must be scalars, not a mapping" },
        { "prometheus:\n  url: http://127.0.0.1:9090\n  ? [x]\n  : 1\n", 3,
          "prometheus: keys must be scalars" },
        { POOL_HEAD "    ? [a, b]\n    : 1\n", 5,
          "pool: keys must be scalars" },
        { "pools:\n  - name: web\n    zones:\n"
          "      - { ? [z] : 1 }\n", 4, "zone: keys must be scalars" },
        { POOL_HEAD "    template: { ? [] : 1 }\n", 5,
          "template: keys must be scalars" },
        { POOL_HEAD "    template:\n      domain: %T\n"
          "      volume: { ? {} : 1 }\n", 7, "volume: keys must be scalars" },
        { POOL_HEAD "    template: { domain: %T }\n"
          "    address: { ? [] : 1 }\n", 6, "address: keys must be scalars" },
        { POOL_OK "    capacity: { ? [] : 1 }\n", 7,
          "capacity: keys must be scalars" },
        { POOL_OK "    health: { ? [] : 1 }\n", 7,
          "health: keys must be scalars" },
        { "prometheus: { url: \"http://127.0.0.1:9090\" }\n" POOL_OK
          "    rules:\n      - { ? [] : 1 }\n", 9, "rule: keys must be scalars" },
        { "prometheus: { url: \"http://127.0.0.1:9090\" }\n" POOL_OK
          "    rules:\n      - { name: r, action: { ? [] : 1 } }\n", 9,
          "action: keys must be scalars" },
        { POOL_OK "    schedules:\n      - { ? [] : 1 }\n", 8,
          "schedule: keys must be scalars" },
        { POOL_OK "    schedules:\n      - { name: s, cron: \"* * * * *\","
          " capacity: { ? [] : 1 } }\n", 8, "capacity: keys must be scalars" },
        /* a key given twice: refused (the first value leaked) */
        { POOL_OK "    name: again\n", 7, "pool: \"name\" given twice" },
        { "redis: { prefix: a }\nredis: { prefix: b }\n", 2,
          "\"redis\" given twice" },
        { "redis: { prefix: a, prefix: b }\n", 1,
          "redis: \"prefix\" given twice" },
        { "pools:\n  - name: web\n    zones:\n"
          "      - { name: z1, name: z2, uri: x }\n", 4,
          "zone: \"name\" given twice" },
        { POOL_HEAD "    template: { domain: %T, domain: %T }\n", 5,
          "template: \"domain\" given twice" },
        { POOL_HEAD "    template:\n      domain: %T\n"
          "      volume: { pool: a, backing: b, base: c }\n", 7,
          "backing and base are the same key" },
        { "prometheus: { url: \"http://127.0.0.1:9090\" }\n" POOL_OK
          "    rules:\n      - { name: r, name: s }\n", 9,
          "rule: \"name\" given twice" },
        { "prometheus: { url: \"http://127.0.0.1:9090\" }\n" POOL_OK
          "    rules:\n      - { name: r, query: a, query: b }\n", 9,
          "rule: \"query\" given twice" },
        { POOL_OK "    schedules:\n      - { name: s, name: t }\n", 8,
          "schedule: \"name\" given twice" },
        { "prometheus: { url: \"http://a\", url: \"http://b\" }\n", 1,
          "prometheus: \"url\" given twice" },
        /* a value of the wrong type, named by its key */
        { "redis: 1\n", 1, "redis: expected a mapping" },
        { POOL_OK "    capacity: [1, 2]\n", 7, "capacity: expected a mapping" },
        { POOL_OK "    drain_timeout: { a: 1 }\n", 7,
          "drain_timeout: expected a scalar" },
        { POOL_OK "    rules: { a: 1 }\n", 7, "rules: expected a list" },
        { "interval: 50ms\n", 1, "interval: expected 100ms.." },
        /* an unknown key's text is printed safely, and cut */
        { "\"a\\x01\\x7fb\": 1\n", 1, "unknown key \"a??b\"" },
        { "\"k\\0j\": 1\n", 1, "unknown key \"k?j\"" },
        { "redis: { address: \"127.0.0.1\\0:6379\" }\n", 1,
          "a value with a NUL byte" },
        /* pool names leave room for the instance numbers */
        { "pools:\n  - name: "
          "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd\n", 2,
          "bad pool name" },
        { POOL_OK "    address: { cidr: 127.0.1.0/24, ports: 1-+5 }\n", 7,
          "\"address\" given twice" },
        { POOL_HEAD "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, ports: \"1- 5\" }\n", 6,
          "bad port range" },
        { POOL_HEAD "    template: { domain: %T }\n"
          "    address: { cidr: 127.0.1.0/24, ports: 5-1 }\n", 6,
          "bad port range" },
        { "api: { token_file: /dev/null }\n", 1, "token_file is empty" },
        { "api: { listen: 10.0.0.1:9180 }\n", 1, "token_file is required" },
        /* a key that is a list or a mapping was printed as a scalar (a
         * heap over-read); a key given twice leaked the first value
         * (both found by fuzz/fuzz_config.c) */
        { "redis:\n  ? []\n  : 1\n", 2, "keys must be scalars" },
        { "pools:\n  - name: web\n    ? { a: 1 }\n    : 1\n", 3,
          "keys must be scalars" },
        { "interval: 5s\ninterval: 6s\n", 2,
          "\"interval\" given twice" },
        { POOL_HEAD "    name: other\n", 5,
          "\"name\" given twice" },
        { POOL_HEAD
          "    template: { domain: %T, domain: %T }\n", 5,
          "\"domain\" given twice" },
        /* a directory's size, by fseek/ftell, was LONG_MAX: len + 1
         * overflowed (UBSan; found by fuzz/fuzz_config.c) */
        { POOL_HEAD
          "    template: { domain: / }\n", 5,
          "cannot read template \"/\": Is a directory" },
        { "api: { token_file: /tmp }\n", 1,
          "cannot read token_file \"/tmp\": Is a directory" },
        { "prometheus: { url: \"http://127.0.0.1:1\", username: u,"
          " password_file: /etc }\n", 1,
          "password_file \"/etc\": Is a directory" },
    };
    scaler_config_t  *cf;
    char              err[512], want[600];
    size_t            i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cf = load(cases[i].text, err, sizeof(err));
        if (cf != NULL) {
            fail_msg("case %zu loaded", i);
        }
        snprintf(want, sizeof(want), "%s:%d: ", yml, cases[i].line);
        if (strncmp(err, want, strlen(want)) != 0
            || strstr(err, cases[i].reason) == NULL)
        {
            fail_msg("case %zu: got \"%s\", want \"%s%s\"", i, err, want,
                     cases[i].reason);
        }
    }
}

static void
put(const char *name, const char *text, char *path, size_t size)
{
    FILE  *f;

    snprintf(path, size, "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* templates: (a flexible pool) and template.cloud_init */
static void
test_templates(void **state)
{
    scaler_config_t  *cf;
    pool_config_t    *p;
    char              err[512], text[4096], want[600];
    char              seedtpl[256], ud[256], bad[256], md[256];
    size_t            i;
    static const struct {
        const char *yaml;           /* after POOL_HEAD; %S seed template,
                                       %U user-data, %B bad user-data */
        const char *file;           /* "yml", or "bad" for the user-data */
        int         line;
        const char *reason;
    } errs[] = {
        { "    template: { domain: %T }\n"
          "    templates: [ { name: a, domain: %T } ]\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 2,
          "template or templates, not both" },
        { "    templates: [ { domain: %T } ]\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 5,
          "needs a name" },
        { "    templates: [ { name: a, domain: %T }, { name: a, domain: %T } ]\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 5,
          "duplicate template \"a\"" },
        { "    templates: [ { name: a, domain: %T, weight: 0 } ]\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 5,
          "is not an integer in 1..1000" },
        { "    templates: [ { name: a, domain: %T } ]\n"
          "    mix: { b: 50 }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 6,
          "mix: no template \"b\"" },
        { "    templates: [ { name: a, domain: %T } ]\n"
          "    mix: { a: 0 }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 6,
          "add up to 0" },
        { "    template: { domain: %T }\n"
          "    mix: { a: 10 }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 2,
          "mix is for templates" },
        { "    template: { domain: %T, volume: { pool: p, backing: b },"
          " cloud_init: { user_data: %U } }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 2,
          "has no {{seed}}" },
        { "    template: { domain: %S, cloud_init: { user_data: %U } }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 2,
          "needs a storage pool" },
        { "    template: { domain: %S, cloud_init: { meta_data: %U } }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 5,
          "cloud_init needs user_data" },
        { "    template: { domain: %S, cloud_init: { user_data: %B,"
          " pool: seeds } }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "bad", 4,
          "not YAML" },
        { "    template: { domain: %S, cloud_init: { user_data: %T,"
          " pool: seeds } }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "tpl", 1,
          "must start with #cloud-config" },
        { "    template: { domain: %S, cloud_init: { user_data: %U,"
          " pool: a/b } }\n"
          "    address: { cidr: 127.0.1.0/24, port: 8080 }\n", "yml", 5,
          "cloud_init: bad pool" },
    };

    (void) state;
    put("seed.xml", "<domain type='test'><name>{{name}}</name><devices>"
        "<disk type='file' device='cdrom'><source file='{{seed}}'/>"
        "<target dev='sda' bus='sata'/></disk></devices></domain>\n",
        seedtpl, sizeof(seedtpl));
    put("ud", "#cloud-config\nhostname: {{name}}\nruncmd:\n"
        "  - [sh, -c, 'echo {{zone}} {{version}}']\n", ud, sizeof(ud));
    put("bad", "#cloud-config\npackages:\n  - nginx\n  oops: [\n", bad,
        sizeof(bad));
    put("md", "local-hostname: shop\n", md, sizeof(md));

    snprintf(text, sizeof(text), POOL_HEAD
             "      - { name: z2, uri: \"test:///default\" }\n"
             "    templates:\n"
             "      - { name: small, domain: %%T, version: 2 }\n"
             "      - name: large\n"
             "        domain: %s\n"
             "        weight: 2\n"
             "        max_percent: 60\n"
             "        volume: { pool: images, backing: base.qcow2 }\n"
             "        cloud_init: { user_data: %s, meta_data: %s }\n"
             "    mix: { large: 30, small: 70 }\n"
             "    address: { cidr: 127.0.1.0/24, port: 8080 }\n"
             "  - name: uni\n"
             "    zones: [ { name: z1, uri: \"test:///default\" } ]\n"
             "    template: { domain: %%T }\n"
             "    address: { cidr: 127.0.2.0/24, port: 8080 }\n",
             seedtpl, ud, md);
    cf = load(text, err, sizeof(err));
    if (cf == NULL) {
        fail_msg("%s", err);
    }
    p = config_pool(cf, "web");
    assert_int_equal(p->ntemplates, 2);
    assert_true(p->flexible);
    assert_true(p->mixed);
    assert_string_equal(p->templates[0].name, "small");
    assert_string_equal(p->templates[0].version, "2");
    assert_int_equal(p->templates[0].weight, 1);
    assert_int_equal(p->templates[0].mix, 70);
    assert_null(p->templates[0].ci.user_data);
    assert_string_equal(p->templates[1].name, "large");
    assert_string_equal(p->templates[1].version, "1");
    assert_int_equal(p->templates[1].weight, 2);
    assert_int_equal(p->templates[1].max_percent, 60);
    assert_int_equal(p->templates[1].mix, 30);
    assert_non_null(strstr(p->templates[1].ci.user_data, "hostname"));
    assert_string_equal(p->templates[1].ci.meta_data, "local-hostname: shop\n");
    assert_string_equal(p->templates[1].ci.pool, "images");  /* volume's */
    assert_int_equal(config_template(p, "large"), 1);
    assert_int_equal(config_template(p, ""), 0);
    assert_int_equal(config_template(p, "huge"), -1);
    p = config_pool(cf, "uni");
    assert_int_equal(p->ntemplates, 1);
    assert_false(p->flexible);
    assert_string_equal(p->templates[0].name, "");
    config_free(cf);

    for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        char  *o = text, *e;
        const char *q;

        o += sprintf(o, "%s", POOL_HEAD);
        for (q = errs[i].yaml; *q; q++) {
            if (q[0] == '%' && (q[1] == 'S' || q[1] == 'U' || q[1] == 'B')) {
                o += sprintf(o, "%s", q[1] == 'S' ? seedtpl
                             : q[1] == 'U' ? ud : bad);
                q++;
            } else {
                *o++ = *q;
            }
        }
        *o = '\0';
        cf = load(text, err, sizeof(err));
        if (cf != NULL) {
            fail_msg("template case %zu loaded", i);
        }
        e = strcmp(errs[i].file, "bad") == 0 ? bad
            : strcmp(errs[i].file, "tpl") == 0 ? tpl : yml;
        snprintf(want, sizeof(want), "%s:%d: ", e, errs[i].line);
        if (strncmp(err, want, strlen(want)) != 0
            || strstr(err, errs[i].reason) == NULL)
        {
            fail_msg("template case %zu: got \"%s\", want \"%s%s\"", i, err,
                     want, errs[i].reason);
        }
    }
    unlink(seedtpl);
    unlink(ud);
    unlink(bad);
    unlink(md);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_volume_and_modes),
        cmocka_unit_test(test_autoscale),
        cmocka_unit_test(test_warm),
        cmocka_unit_test(test_redis_ha),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_templates),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("scaler_config", tests, setup,
                                       teardown);
}
