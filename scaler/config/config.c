/*
 * config.c: YAML configuration, loaded into a new scaler_config_t and
 * validated completely; every error is "file:line: reason".  The keys
 * are the tables below (config_yaml.h), from config_keys down; a key
 * with a special case has its own function, the rest use the generic
 * setters.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>
#include <libxml/uri.h>

#include "scaler.h"
#include "scaleset_record.h"

#include "config_yaml.h"

/* the longest pool name: its instance ids POOL-NNNNNN, numbers up to
   REGISTRY_SEQ_MAX, must be valid ids */
#define POOL_NAME_MAX (SCALESET_ID_MAX - 10)

static int parse_hostport(cfctx_t *c, yaml_node_t *n, char **host, int *port);
static int parse_cidr(cfctx_t *c, yaml_node_t *v, uint32_t *net, int *len);
static int pool_finish(cfctx_t *c, yaml_node_t *m, pool_config_t *p,
                       uint64_t seen);
static int mix_resolve(cfctx_t *c, yaml_node_t *m, pool_config_t *p);
static int cloud_init_finish(cfctx_t *c, yaml_node_t *m, pool_config_t *p,
                             template_config_t *t);

static int  config_redis(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int  redis_address(cfctx_t *c, yaml_node_t *v, void *conf,
                          const cf_key_t *key);
static int  redis_prefix(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int  redis_username(cfctx_t *c, yaml_node_t *v, void *conf,
                           const cf_key_t *key);
static int  redis_sentinel(cfctx_t *c, yaml_node_t *v, void *conf,
                           const cf_key_t *key);
static int  sentinel_master(cfctx_t *c, yaml_node_t *v, void *conf,
                            const cf_key_t *key);
static int  sentinel_addresses(cfctx_t *c, yaml_node_t *v, void *conf,
                               const cf_key_t *key);
static int  config_ha(cfctx_t *c, yaml_node_t *v, void *conf,
                      const cf_key_t *key);
static int  ha_advertise(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int  api_listen(cfctx_t *c, yaml_node_t *v, void *conf,
                       const cf_key_t *key);
static int  api_token_file(cfctx_t *c, yaml_node_t *v, void *conf,
                           const cf_key_t *key);
static int  api_ui(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
static int  log_level(cfctx_t *c, yaml_node_t *v, void *conf,
                      const cf_key_t *key);
static int  config_pools(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int  pool_name(cfctx_t *c, yaml_node_t *v, void *conf,
                      const cf_key_t *key);
static int  pool_zones(cfctx_t *c, yaml_node_t *v, void *conf,
                       const cf_key_t *key);
static int  zone_name(cfctx_t *c, yaml_node_t *v, void *conf,
                      const cf_key_t *key);
static int  zone_node(cfctx_t *c, yaml_node_t *v, void *conf,
                      const cf_key_t *key);
static int  zone_hosts(cfctx_t *c, yaml_node_t *z, pool_config_t *p,
                       zone_config_t *zc, yaml_node_t *uri, yaml_node_t *hosts);
static void host_names(pool_config_t *p, zone_config_t *zc);
static int  pool_template(cfctx_t *c, yaml_node_t *v, void *conf,
                          const cf_key_t *key);
static int  pool_templates(cfctx_t *c, yaml_node_t *v, void *conf,
                           const cf_key_t *key);
static int  pool_mix(cfctx_t *c, yaml_node_t *v, void *conf,
                     const cf_key_t *key);
static int  template_name(cfctx_t *c, yaml_node_t *v, void *conf,
                          const cf_key_t *key);
static int  template_domain(cfctx_t *c, yaml_node_t *v, void *conf,
                            const cf_key_t *key);
static int  template_cloud_init(cfctx_t *c, yaml_node_t *v, void *conf,
                                const cf_key_t *key);
static int  cloud_init_file(cfctx_t *c, yaml_node_t *v, void *conf,
                            const cf_key_t *key);
static int  cloud_init_pool(cfctx_t *c, yaml_node_t *v, void *conf,
                            const cf_key_t *key);
static int  template_volume(cfctx_t *c, yaml_node_t *v, void *conf,
                            const cf_key_t *key);
static int  volume_name(cfctx_t *c, yaml_node_t *v, void *conf,
                        const cf_key_t *key);
static int  template_version(cfctx_t *c, yaml_node_t *v, void *conf,
                             const cf_key_t *key);
static int  pool_address(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int  address_mode(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int  address_cidr(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int  address_ports(cfctx_t *c, yaml_node_t *v, void *conf,
                          const cf_key_t *key);
static int  pool_readiness(cfctx_t *c, yaml_node_t *v, void *conf,
                           const cf_key_t *key);
static int  pool_capacity(cfctx_t *c, yaml_node_t *v, void *conf,
                          const cf_key_t *key);
static int  pool_scale_in(cfctx_t *c, yaml_node_t *v, void *conf,
                          const cf_key_t *key);
static int  pool_health(cfctx_t *c, yaml_node_t *v, void *conf,
                        const cf_key_t *key);
static int  health_uri(cfctx_t *c, yaml_node_t *v, void *conf,
                       const cf_key_t *key);

/* --- the tables -------------------------------------------------------- */

/* redis.sentinel: { master: NAME, addresses: [IP:PORT, ...] } */
static const cf_key_t sentinel_keys[] = {
    { "master", CF_SCALAR, sentinel_master, NULL, 0, 0, 0 },
    { "addresses", CF_LIST, sentinel_addresses, NULL, 0, 0, 0 },
    CF_END
};

static const cf_key_t redis_keys[] = {
    { "address", CF_SCALAR, redis_address, NULL, 0, 0, 0 },
    { "prefix", CF_SCALAR, redis_prefix, NULL, 0, 0, 0 },
    { "username", CF_SCALAR, redis_username, NULL, 0, 0, 0 },
    { "password_file", CF_SCALAR, cf_set_secret_file, NULL,
      CF_AT(scaler_config_t, redis.password), 0, 0 },
    { "db", CF_SCALAR, cf_set_int, NULL, CF_AT(scaler_config_t, redis.db), 0,
      2147483647 },
    { "sentinel", CF_MAP, redis_sentinel, sentinel_keys, 0, 0, 0 },
    CF_END
};

/* ha: { lease: 10s, advertise: URL } */
static const cf_key_t ha_keys[] = {
    { "lease", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(scaler_config_t, ha_lease_ms), 1000, 3600000 },
    { "advertise", CF_SCALAR, ha_advertise, NULL, 0, 0, 0 },
    CF_END
};

static const cf_key_t api_keys[] = {
    { "listen", CF_SCALAR, api_listen, NULL, 0, 0, 0 },
    { "token_file", CF_SCALAR, api_token_file, NULL, 0, 0, 0 },
    { "timeout", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(scaler_config_t, api_timeout_ms), 100, 3600000 },
    { "ui", CF_SCALAR, api_ui, NULL, 0, 0, 0 },
    CF_END
};

/* a zone being read: its keys' nodes, checked together once it is */
typedef struct {
    zone_config_t *zc;
    yaml_node_t   *uri;
    yaml_node_t   *hosts;
} zone_parse_t;

/* { name, uri } or { name, hosts: [URI, ...] } */
static const cf_key_t zone_keys[] = {
    { "name", CF_SCALAR, zone_name, NULL, 0, 0, 0 },
    { "uri", CF_SCALAR, zone_node, NULL, CF_AT(zone_parse_t, uri), 0, 0 },
    { "hosts", CF_LIST, zone_node, NULL, CF_AT(zone_parse_t, hosts), 0, 0 },
    CF_END
};

/* template.volume: { pool: STORAGE_POOL, backing: BASE_VOLUME,
   format: qcow2|raw } ("base" is accepted for "backing") */
static const cf_key_t volume_keys[] = {
    { "pool", CF_SCALAR, volume_name, NULL, CF_AT(template_config_t, vol_pool),
      0, 0 },
    { "backing", CF_SCALAR, volume_name, NULL,
      CF_AT(template_config_t, vol_backing), 0, 0 },
    { "base", CF_SCALAR, volume_name, NULL,
      CF_AT(template_config_t, vol_backing), 0, 0 },
    { "format", CF_SCALAR, volume_name, NULL,
      CF_AT(template_config_t, vol_format), 0, 0 },
    CF_END
};

/* template.cloud_init (docs/bootstrap.md): each file's key is at the
   offset of its path, the text follows it (cloud_init_file) */
static const cf_key_t cloud_init_keys[] = {
    { "user_data", CF_SCALAR, cloud_init_file, NULL,
      CF_AT(cloud_init_config_t, user_data_path), 0, 0 },
    { "meta_data", CF_SCALAR, cloud_init_file, NULL,
      CF_AT(cloud_init_config_t, meta_data_path), 0, 0 },
    { "network_config", CF_SCALAR, cloud_init_file, NULL,
      CF_AT(cloud_init_config_t, network_config_path), 0, 0 },
    { "vendor_data", CF_SCALAR, cloud_init_file, NULL,
      CF_AT(cloud_init_config_t, vendor_data_path), 0, 0 },
    { "pool", CF_SCALAR, cloud_init_pool, NULL,
      CF_AT(cloud_init_config_t, pool), 0, 0 },
    CF_END
};

static const cf_key_t template_keys[] = {
    { "domain", CF_SCALAR, template_domain, NULL, 0, 0, 0 },
    { "volume", CF_MAP, template_volume, volume_keys, 0, 0, 0 },
    { "version", CF_SCALAR, template_version, NULL, 0, 0, 0 },
    { "cloud_init", CF_MAP, template_cloud_init, cloud_init_keys, 0, 0, 0 },
    CF_END
};

/* an entry of a flexible pool's templates: */
static const cf_key_t templates_keys[] = {
    { "name", CF_SCALAR, template_name, NULL, 0, 0, 0 },
    { "domain", CF_SCALAR, template_domain, NULL, 0, 0, 0 },
    { "volume", CF_MAP, template_volume, volume_keys, 0, 0, 0 },
    { "version", CF_SCALAR, template_version, NULL, 0, 0, 0 },
    { "cloud_init", CF_MAP, template_cloud_init, cloud_init_keys, 0, 0, 0 },
    { "weight", CF_SCALAR, cf_set_int, NULL, CF_AT(template_config_t, weight),
      1, SCALER_CAPACITY_MAX },
    { "max_percent", CF_SCALAR, cf_set_int, NULL,
      CF_AT(template_config_t, max_percent), 1, 100 },
    CF_END
};

static const cf_key_t address_keys[] = {
    { "mode", CF_SCALAR, address_mode, NULL, 0, 0, 0 },
    { "cidr", CF_SCALAR, address_cidr, NULL, 0, 0, 0 },
    { "port", CF_SCALAR, cf_set_int, NULL, CF_AT(pool_config_t, port), 1,
      65535 },
    { "ports", CF_SCALAR, address_ports, NULL, 0, 0, 0 },
    CF_END
};

static const cf_key_t capacity_keys[] = {
    { "min", CF_SCALAR, cf_set_int, NULL, CF_AT(pool_config_t, cap_min), 0,
      SCALER_CAPACITY_MAX },
    { "max", CF_SCALAR, cf_set_int, NULL, CF_AT(pool_config_t, cap_max), 0,
      SCALER_CAPACITY_MAX },
    { "default", CF_SCALAR, cf_set_int, NULL, CF_AT(pool_config_t, cap_default),
      0, SCALER_CAPACITY_MAX },
    CF_END
};

/* log: { level: info }, at the file's top level as redis and api */
static const cf_key_t log_keys[] = {
    { "level", CF_SCALAR, log_level, NULL, 0, 0, 0 },
    CF_END,
};

/* health: { uri: /healthz, timeout: 1s, grace: 60s } */
static const cf_key_t health_keys[] = {
    { "uri", CF_SCALAR, health_uri, NULL, 0, 0, 0 },
    { "timeout", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(pool_config_t, health_timeout_ms), 10, 30000 },
    { "grace", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(pool_config_t, health_grace_ms), 0, 0 },
    CF_END
};

static int repair_action(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);

/* repair: { enabled: true, grace: 10m, action: replace, max_percent: 5,
   max_failures: 5 } */
static const cf_key_t repair_keys[] = {
    { "enabled", CF_SCALAR, cf_set_bool, NULL,
      CF_AT(pool_config_t, repair_enabled), 0, 0 },
    { "grace", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(pool_config_t, repair_grace_ms), 0, 0 },
    { "action", CF_SCALAR, repair_action, NULL, 0, 0, 0 },
    { "max_percent", CF_SCALAR, cf_set_int, NULL,
      CF_AT(pool_config_t, repair_max_percent), 1, 100 },
    { "max_failures", CF_SCALAR, cf_set_int, NULL,
      CF_AT(pool_config_t, repair_max_failures), 1, 1000 },
    CF_END
};

static int hook_map(cfctx_t *c, yaml_node_t *v, void *conf,
                    const cf_key_t *key);
static int hook_default(cfctx_t *c, yaml_node_t *v, void *conf,
                        const cf_key_t *key);
static int hooks_webhook(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);

/* hooks.launch, hooks.terminate: { timeout: 5m, default: continue } */
static const cf_key_t hook_keys[] = {
    { "timeout", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(hook_config_t, timeout_ms), 1000, 0 },
    { "default", CF_SCALAR, hook_default, NULL, 0, 0, 0 },
    CF_END
};

/* hooks: { launch: {...}, terminate: {...}, webhook: URL } */
static const cf_key_t hooks_keys[] = {
    { "launch", CF_MAP, hook_map, hook_keys, CF_AT(pool_config_t, hook_launch),
      0, 0 },
    { "terminate", CF_MAP, hook_map, hook_keys,
      CF_AT(pool_config_t, hook_terminate), 0, 0 },
    { "webhook", CF_SCALAR, hooks_webhook, NULL, 0, 0, 0 },
    CF_END
};

/* drain: { gateway_ttl: 30s } */
static const cf_key_t drain_keys[] = {
    { "gateway_ttl", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(pool_config_t, gateway_ttl_ms), 1000, 0 },
    CF_END
};

/* termination: { shutdown_timeout: 30s } */
static const cf_key_t termination_keys[] = {
    { "shutdown_timeout", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(pool_config_t, shutdown_timeout_ms), 0, 3600000 },
    CF_END
};

static const cf_key_t pool_keys[] = {
    { "name", CF_SCALAR, pool_name, NULL, 0, 0, 0 },
    { "zones", CF_LIST, pool_zones, zone_keys, 0, 0, 0 },
    { "template", CF_MAP, pool_template, template_keys, 0, 0, 0 },
    { "templates", CF_LIST, pool_templates, templates_keys, 0, 0, 0 },
    { "mix", CF_MAP, pool_mix, NULL, 0, 0, 0 },
    { "address", CF_MAP, pool_address, address_keys, 0, 0, 0 },
    { "readiness", CF_SCALAR, pool_readiness, NULL, 0, 0, 0 },
    { "capacity", CF_MAP, pool_capacity, capacity_keys, 0, 0, 0 },
    { "scale_in_policy", CF_SCALAR, pool_scale_in, NULL, 0, 0, 0 },
    { "drain_timeout", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(pool_config_t, drain_timeout_ms), 0, 0 },
    { "rules", CF_LIST, cf_rules, cf_rule_keys, 0, 0, 0 },
    { "schedules", CF_LIST, cf_schedules, cf_schedule_keys, 0, 0, 0 },
    { "max_step", CF_SCALAR, cf_max_step, NULL, 0, 0, 0 },
    { "health", CF_MAP, pool_health, health_keys, 0, 0, 0 },
    { "upgrade", CF_MAP, cf_set_map, cf_upgrade_keys, 0, 0, 0 },
    { "warm_pool", CF_MAP, cf_warm_pool, cf_warm_keys, 0, 0, 0 },
    { "create_concurrency", CF_SCALAR, cf_set_int, NULL,
      CF_AT(pool_config_t, create_concurrency), 1, SCALER_CREATE_MAX },
    { "drain", CF_MAP, cf_set_map, drain_keys, 0, 0, 0 },
    { "termination", CF_MAP, cf_set_map, termination_keys, 0, 0, 0 },
    { "repair", CF_MAP, cf_set_map, repair_keys, 0, 0, 0 },
    { "hooks", CF_MAP, cf_set_map, hooks_keys, 0, 0, 0 },
    CF_END
};

/* libvirt: { timeout: 10s, keepalive_interval: 5s, keepalive_count: 3 } */
static const cf_key_t libvirt_keys[] = {
    { "timeout", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(scaler_config_t, libvirt_timeout_ms), 100, 3600000 },
    { "keepalive_interval", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(scaler_config_t, ka_interval_ms), 0, 3600000 },
    { "keepalive_count", CF_SCALAR, cf_set_int, NULL,
      CF_AT(scaler_config_t, ka_count), 0, 100 },
    CF_END
};

/* the file */
static const cf_key_t config_keys[] = {
    { "redis", CF_MAP, config_redis, redis_keys, 0, 0, 0 },
    { "ha", CF_MAP, config_ha, ha_keys, 0, 0, 0 },
    { "api", CF_MAP, cf_set_map, api_keys, 0, 0, 0 },
    { "log", CF_MAP, cf_set_map, log_keys, 0, 0, 0 },
    { "interval", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(scaler_config_t, interval_ms), 100, 0 },
    { "prometheus", CF_MAP, cf_prometheus, cf_prometheus_keys, 0, 0, 0 },
    { "pools", CF_LIST, config_pools, pool_keys, 0, 0, 0 },
    { "libvirt", CF_MAP, cf_set_map, libvirt_keys, 0, 0, 0 },
    { "slow_pass", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(scaler_config_t, slow_pass_ms), 1000, 0 },
    { "zone_failover", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(scaler_config_t, zone_failover_ms), 1000, 0 },
    CF_END
};

/* --- redis, api -------------------------------------------------------- */

/* 1 when s is one word of printable ASCII (no spaces, nothing to quote
   in a header or a command), 1..max bytes */
static int
one_word(const char *s, size_t max)
{
    size_t i;

    for (i = 0; s[i]; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f) {
            return 0;
        }
    }
    return i > 0 && i <= max;
}

/* a string key that must be one word (one_word) into *dst */
static int
word_key(cfctx_t *c, yaml_node_t *v, char **dst, size_t max, const char *what)
{
    free(*dst);
    if ((*dst = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (!one_word(*dst, max)) {
        cf_error(c, v,
                 "redis: bad %s \"%s\": expected one word of printable "
                 "ASCII, up to %zu bytes",
                 what, *dst, max);
        return -1;
    }
    return 0;
}

/* a name key into *dst: one scalar that valid() accepts, else
 * "bad WHAT \"value\"" */
static int
name_key(cfctx_t *c, yaml_node_t *v, char **dst,
         int (*valid)(const char *s, size_t len), const char *what)
{
    free(*dst);
    if ((*dst = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (!valid(*dst, strlen(*dst))) {
        cf_error(c, v, "bad %s \"%s\"", what, *dst);
        return -1;
    }
    return 0;
}

static int
parse_hostport(cfctx_t *c, yaml_node_t *n, char **host, int *port)
{
    char          *s, *colon, *end;
    long           l;
    struct in_addr a;

    if ((s = cf_scalar(c, n)) == NULL) {
        return -1;
    }
    colon = strrchr(s, ':');
    if (colon == NULL) {
        cf_error(c, n, "\"%s\": expected ADDRESS:PORT", s);
        free(s);
        return -1;
    }
    *colon = '\0';
    l = strtol(colon + 1, &end, 10);
    if (*end != '\0' || l < 1 || l > 65535 || inet_pton(AF_INET, s, &a) != 1) {
        *colon = ':';
        cf_error(c, n, "\"%s\": expected IPv4-ADDRESS:PORT", s);
        free(s);
        return -1;
    }
    free(*host);
    *host = s;
    *port = (int) l;
    return 0;
}

/* the redis block once all its keys are read: one way to find Redis,
   credentials that make sense */
static int
config_redis(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;
    uint64_t         seen;

    if (cf_map(c, v, key->sub, cf, "redis", &seen) != 0) {
        return -1;
    }
    if (cf_given(key->sub, seen, "address")
        && cf_given(key->sub, seen, "sentinel")) {
        cf_error(c, v,
                 "redis: address and sentinel exclude each other (the "
                 "sentinels name the master)");
        return -1;
    }
    if (cf->redis.username && cf->redis.password == NULL) {
        cf_error(c, v, "redis: username \"%s\" needs password_file",
                 cf->redis.username);
        return -1;
    }
    return 0;
}

static int
redis_address(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;

    (void) key;
    return parse_hostport(c, v, &cf->redis.addr.host, &cf->redis.addr.port);
}

/* an ACL user name: sent as an AUTH argument, one word */
static int
redis_username(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;

    (void) key;
    return word_key(c, v, &cf->redis.username, 128, "username");
}

static int
redis_sentinel(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;

    if (cf_map(c, v, key->sub, cf, "sentinel", NULL) != 0) {
        return -1;
    }
    if (cf->redis.master == NULL || cf->redis.nsentinels == 0) {
        cf_error(c, v, "redis: sentinel needs master and addresses");
        return -1;
    }
    return 0;
}

/* the master's name as the sentinels know it (sentinel monitor NAME) */
static int
sentinel_master(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;

    (void) key;
    return word_key(c, v, &cf->redis.master, 128, "sentinel master name");
}

static int
sentinel_addresses(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t  *cf = conf;
    redis_addr_t     *a;
    yaml_node_item_t *it;
    yaml_node_t      *n;
    int               i;

    (void) key;
    for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        n = cf_node(c, *it);
        if (cf->redis.nsentinels == REDIS_SENTINELS_MAX) {
            cf_error(c, n, "redis: more than %d sentinels",
                     REDIS_SENTINELS_MAX);
            return -1;
        }
        if (cf_expect(c, n, CF_SCALAR, "a sentinel address") != 0) {
            return -1;
        }
        a = &cf->redis.sentinels[cf->redis.nsentinels];
        if (parse_hostport(c, n, &a->host, &a->port) != 0) {
            return -1;
        }
        cf->redis.nsentinels++;
        for (i = 0; i < cf->redis.nsentinels - 1; i++) {
            if (cf->redis.sentinels[i].port == a->port
                && strcmp(cf->redis.sentinels[i].host, a->host) == 0)
            {
                cf_error(c, n, "redis: sentinel %s:%d listed twice", a->host,
                         a->port);
                return -1;
            }
        }
    }
    if (cf->redis.nsentinels == 0) {
        cf_error(c, v, "redis: sentinel addresses is empty");
        return -1;
    }
    return 0;
}

int
config_redis_same(const redis_config_t *a, const redis_config_t *b)
{
#define SAME(x, y) ((x) == NULL ? (y) == NULL : (y) != NULL && !strcmp(x, y))
    int i;

    if (a->addr.port != b->addr.port || !SAME(a->addr.host, b->addr.host)
        || !SAME(a->username, b->username) || !SAME(a->password, b->password)
        || a->db != b->db || !SAME(a->master, b->master)
        || a->nsentinels != b->nsentinels)
    {
        return 0;
    }
    for (i = 0; i < a->nsentinels; i++) {
        if (a->sentinels[i].port != b->sentinels[i].port
            || !SAME(a->sentinels[i].host, b->sentinels[i].host))
        {
            return 0;
        }
    }
    return 1;
#undef SAME
}

/* --- ha ---------------------------------------------------------------- */

static int
config_ha(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;

    cf->ha_lease_ms = 10000;
    return cf_map(c, v, key->sub, cf, "ha", NULL);
}

/* the URL other scalers and clients reach this one's API at: named in
   the lease, so a standby's 503 says where the leader is */
static int
ha_advertise(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;

    (void) key;
    free(cf->ha_advertise);
    if ((cf->ha_advertise = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if ((strncmp(cf->ha_advertise, "http://", 7) != 0
         && strncmp(cf->ha_advertise, "https://", 8) != 0)
        || !one_word(cf->ha_advertise, 200))
    {
        cf_error(c, v,
                 "ha: advertise \"%s\": expected an http:// or "
                 "https:// URL of up to 200 bytes without spaces",
                 cf->ha_advertise);
        return -1;
    }
    return 0;
}

static int
redis_prefix(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;

    (void) key;
    return name_key(c, v, &cf->prefix, scaleset_prefix_valid, "prefix");
}

static int
api_listen(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;

    (void) key;
    return parse_hostport(c, v, &cf->api_host, &cf->api_port);
}

static int
api_token_file(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;
    char            *s, *tok, *e;

    (void) key;
    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    tok = cf_read_file(s);
    if (tok == NULL) {
        cf_error(c, v, "cannot read token_file \"%s\": %s", s, strerror(errno));
        free(s);
        return -1;
    }
    free(s);
    e = tok + strlen(tok);
    while (e > tok && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ')) {
        *--e = '\0';
    }
    if (*tok == '\0') {
        cf_error(c, v, "token_file is empty");
        free(tok);
        return -1;
    }
    /* sent in a header: one line of printable ASCII, no spaces */
    if (!one_word(tok, strlen(tok))) {
        cf_error(c, v,
                 "token_file: the token must be one word of "
                 "printable ASCII");
        free(tok);
        return -1;
    }
    if (strlen(tok) > API_TOKEN_MAX) {
        cf_error(c, v, "token_file: the token is longer than %d bytes",
                 API_TOKEN_MAX);
        free(tok);
        return -1;
    }
    free(cf->token);
    cf->token = tok;
    return 0;
}

/* the dashboard's directory (GET /ui/) */
static int
api_ui(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;
    struct stat      st;
    char            *s;

    (void) key;
    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (stat(s, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cf_error(c, v, "api.ui \"%s\" is not a directory", s);
        free(s);
        return -1;
    }
    free(cf->ui_dir);
    cf->ui_dir = s;
    return 0;
}

/* --- log --------------------------------------------------------------- */

static int
log_level(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;
    char            *s;
    int              level;

    (void) key;
    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if ((level = slog_level_parse(s)) < 0) {
        cf_error(c, v,
                 "log.level \"%s\": expected error, warn, info or "
                 "debug",
                 s);
        free(s);
        return -1;
    }
    free(s);
    cf->log_level = level;
    return 0;
}

/* --- pools ------------------------------------------------------------- */

static int
config_pools(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;
    pool_config_t   *p, *np;
    yaml_node_t     *item;
    uint64_t         seen;
    int              i;

    cf->pools = xcalloc(cf_items(v) + 1, sizeof(*cf->pools));
    FOR_ITEMS(c, v, item)
    {
        p = &cf->pools[cf->npools++];
        p->cap_max = SCALER_CAPACITY_MAX;
        p->drain_timeout_ms = 30000;
        p->shutdown_timeout_ms = 30000;
        p->repair_enabled = 1;
        p->repair_grace_ms = 600000;
        p->repair_action = REPAIR_REPLACE;
        p->repair_max_percent = 5;
        p->repair_max_failures = 5;
        p->readiness_tcp = 1;
        cf_upgrade_defaults(p);
        p->create_concurrency = 4;
        cf_warm_defaults(p);
        if (cf_map(c, item, key->sub, p, "pool", &seen) != 0
            || pool_finish(c, item, p, seen) != 0)
        {
            return -1;
        }
        for (i = 0; i < cf->npools - 1; i++) {
            np = &cf->pools[i];
            if (strcmp(np->name, p->name) == 0) {
                cf_error(c, item, "duplicate pool \"%s\"", p->name);
                return -1;
            }
        }
    }
    return 0;
}

/* what a pool needs once all its keys are read */
static int
pool_finish(cfctx_t *c, yaml_node_t *m, pool_config_t *p, uint64_t seen)
{
    int i;

    if (p->name == NULL) {
        cf_error(c, m, "a pool needs a name");
        return -1;
    }
    if (p->nzones == 0) {
        cf_error(c, m, "pool \"%s\" needs at least one zone", p->name);
        return -1;
    }
    if (cf_given(pool_keys, seen, "template")
        && cf_given(pool_keys, seen, "templates"))
    {
        cf_error(c, m, "pool \"%s\": template or templates, not both", p->name);
        return -1;
    }
    if (p->ntemplates == 0) {
        cf_error(c, m, "pool \"%s\" needs template (or templates)", p->name);
        return -1;
    }
    if (cf_given(pool_keys, seen, "mix") && !p->flexible) {
        cf_error(c, m, "pool \"%s\": mix is for templates:", p->name);
        return -1;
    }
    if (p->mixed && mix_resolve(c, m, p) != 0) {
        return -1;
    }
    for (i = 0; i < p->ntemplates; i++) {
        if (p->templates[i].ci.user_data != NULL
            && cloud_init_finish(c, m, p, &p->templates[i]) != 0)
        {
            return -1;
        }
    }
    if (!cf_given(pool_keys, seen, "address")) {
        cf_error(c, m, "pool \"%s\" needs an address section", p->name);
        return -1;
    }
    return 0;
}

static int
pool_name(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;

    (void) key;
    if ((p->name = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (!scaleset_name_valid(p->name, strlen(p->name))
        || strlen(p->name) > POOL_NAME_MAX)
    {
        cf_error(c, v,
                 "bad pool name \"%s\": expected "
                 "[A-Za-z0-9_.-]{1,%d} (its instance ids must be valid)",
                 p->name, POOL_NAME_MAX);
        return -1;
    }
    return 0;
}

static int
pool_zones(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;
    zone_config_t *zc;
    zone_parse_t   zp;
    yaml_node_t   *z;
    int            j;

    FOR_ITEMS(c, v, z)
    {
        if (p->nzones == SCALER_MAX_ZONES) {
            cf_error(c, z, "more than %d zones", SCALER_MAX_ZONES);
            return -1;
        }
        zc = &p->zones[p->nzones++];
        memset(&zp, 0, sizeof(zp));
        zp.zc = zc;
        if (cf_map(c, z, key->sub, &zp, "zone", NULL) != 0) {
            return -1;
        }
        if (zc->name == NULL || (zp.uri == NULL && zp.hosts == NULL)) {
            cf_error(c, z, "a zone needs name and uri (or hosts)");
            return -1;
        }
        for (j = 0; j < p->nzones - 1; j++) {
            if (strcmp(p->zones[j].name, zc->name) == 0) {
                cf_error(c, z, "duplicate zone \"%s\"", zc->name);
                return -1;
            }
        }
        if (zone_hosts(c, z, p, zc, zp.uri, zp.hosts) != 0) {
            return -1;
        }
    }
    return 0;
}

/* the zone's hosts appended to the pool's: its uri, or each of hosts */
static int
zone_hosts(cfctx_t *c, yaml_node_t *z, pool_config_t *p, zone_config_t *zc,
           yaml_node_t *uri, yaml_node_t *hosts)
{
    yaml_node_item_t *it;
    yaml_node_t      *n;
    host_config_t    *h;
    int               j;

    if (uri != NULL && hosts != NULL) {
        cf_error(c, z,
                 "zone \"%s\": uri and hosts are exclusive (a "
                 "single host is hosts: [URI])",
                 zc->name);
        return -1;
    }
    zc->host0 = p->nhosts;
    if (hosts != NULL
        && hosts->data.sequence.items.top == hosts->data.sequence.items.start)
    {
        cf_error(c, hosts, "zone \"%s\": hosts is empty", zc->name);
        return -1;
    }
    it = hosts ? hosts->data.sequence.items.start : NULL;
    for (;;) {
        if (hosts == NULL) {
            n = uri;
        } else if (it < hosts->data.sequence.items.top) {
            n = cf_node(c, *it++);
        } else {
            break;
        }
        if (p->nhosts == SCALER_MAX_HOSTS) {
            cf_error(c, n, "more than %d hosts in pool", SCALER_MAX_HOSTS);
            return -1;
        }
        h = &p->hosts[p->nhosts];
        if ((h->uri = cf_scalar(c, n)) == NULL) {
            return -1;
        }
        p->nhosts++;
        h->zone = (int) (zc - p->zones);
        zc->nhosts++;
        if (h->uri[0] == '\0' || strpbrk(h->uri, " \t\r\n")) {
            cf_error(c, n, "zone \"%s\": \"%s\" is no libvirt URI", zc->name,
                     h->uri);
            return -1;
        }
        for (j = zc->host0; j < p->nhosts - 1; j++) {
            if (strcmp(p->hosts[j].uri, h->uri) == 0) {
                cf_error(c, n, "zone \"%s\": duplicate host \"%s\"", zc->name,
                         h->uri);
                return -1;
            }
        }
        if (hosts == NULL) {
            break;
        }
    }
    host_names(p, zc);
    return 0;
}

/* the server of a libvirt URI (qemu+ssh://root@kvm2:22/system: kvm2)
   into buf, "" when it has none or it is no name */
static void
uri_server(const char *uri, char *buf, size_t size)
{
    xmlURIPtr u = xmlParseURI(uri);

    buf[0] = '\0';
    if (u != NULL && u->server != NULL && strlen(u->server) < size
        && scaleset_name_valid(u->server, strlen(u->server)))
    {
        snprintf(buf, size, "%s", u->server);
    }
    xmlFreeURI(u);
}

/* each host's name in the zone: its URI's server, unless one of them has
   none or two have the same; then ZONE-1, ZONE-2, ... for all of them */
static void
host_names(pool_config_t *p, zone_config_t *zc)
{
    host_config_t *h;
    char           name[SCALESET_NAME_MAX + 16];
    int            k, j, unique = 1;

    for (k = 0; k < zc->nhosts; k++) {
        h = &p->hosts[zc->host0 + k];
        uri_server(h->uri, h->name, sizeof(h->name));
        unique &= h->name[0] != '\0';
        for (j = 0; j < k && unique; j++) {
            unique = strcmp(p->hosts[zc->host0 + j].name, h->name) != 0;
        }
    }
    for (k = 0; !unique && k < zc->nhosts; k++) {
        /* at most 64 hosts: ZONE cut to 60 bytes keeps a valid name */
        snprintf(name, sizeof(name), "%.60s-%d", zc->name, k + 1);
        name[SCALESET_NAME_MAX] = '\0';
        memcpy(p->hosts[zc->host0 + k].name, name, SCALESET_NAME_MAX + 1);
    }
}

static int
zone_name(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    zone_parse_t  *zp = conf;
    zone_config_t *zc = zp->zc;

    (void) key;
    return name_key(c, v, &zc->name, scaleset_name_valid, "zone name");
}

/* uri, hosts: the node, checked with the rest of the zone */
static int
zone_node(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    (void) c;
    *(yaml_node_t **) ((char *) conf + key->offset) = v;
    return 0;
}

/* --- templates -------------------------------------------------------- */

/* a template's entry, its defaults set */
static template_config_t *
template_new(cfctx_t *c, yaml_node_t *v, pool_config_t *p)
{
    template_config_t *t;

    if (p->ntemplates == SCALER_MAX_TEMPLATES) {
        cf_error(c, v, "more than %d templates", SCALER_MAX_TEMPLATES);
        return NULL;
    }
    t = &p->templates[p->ntemplates++];
    t->weight = 1;
    t->version = xstrdup("1");
    return t;
}

/* what a template needs once its keys are read */
static int
template_done(cfctx_t *c, yaml_node_t *v, template_config_t *t)
{
    if (t->name == NULL) {
        t->name = xstrdup("");
    }
    if (t->text == NULL) {
        cf_error(c, v, "template%s%s needs domain", t->name[0] ? " " : "",
                 t->name);
        return -1;
    }
    return 0;
}

static int
pool_template(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t     *p = conf;
    template_config_t *t;

    if ((t = template_new(c, v, p)) == NULL
        || cf_map(c, v, key->sub, t, "template", NULL) != 0)
    {
        return -1;
    }
    return template_done(c, v, t);
}

/* templates: a list of named templates (a flexible pool) */
static int
pool_templates(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t     *p = conf;
    template_config_t *t;
    yaml_node_t       *item;
    int                j;

    p->flexible = 1;
    FOR_ITEMS(c, v, item)
    {
        if ((t = template_new(c, item, p)) == NULL
            || cf_map(c, item, key->sub, t, "template", NULL) != 0)
        {
            return -1;
        }
        if (t->name == NULL) {
            cf_error(c, item, "an entry of templates needs a name");
            return -1;
        }
        if (template_done(c, item, t) != 0) {
            return -1;
        }
        for (j = 0; j < p->ntemplates - 1; j++) {
            if (strcmp(p->templates[j].name, t->name) == 0) {
                cf_error(c, item, "duplicate template \"%s\"", t->name);
                return -1;
            }
        }
    }
    if (p->ntemplates == 0) {
        cf_error(c, v, "templates: at least one template");
        return -1;
    }
    return 0;
}

static int
template_name(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    template_config_t *t = conf;

    (void) key;
    if ((t->name = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (!scaleset_name_valid(t->name, strlen(t->name))) {
        cf_error(c, v,
                 "bad template name \"%s\": expected "
                 "[A-Za-z0-9_.-]{1,63}",
                 t->name);
        return -1;
    }
    return 0;
}

/* mix: { TEMPLATE: SHARE, ... }: its shape here, its names once the
   templates are read (mix_resolve) */
static int
pool_mix(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t    *p = conf;
    yaml_node_pair_t *pair;
    yaml_node_t      *k, *val;
    int               share;

    (void) key;
    for (pair = v->data.mapping.pairs.start; pair < v->data.mapping.pairs.top;
         pair++)
    {
        k = cf_node(c, pair->key);
        val = cf_node(c, pair->value);
        if (cf_expect(c, k, CF_SCALAR, "mix: a template's name") != 0
            || cf_int(c, val, 0, 100, &share) != 0)
        {
            return -1;
        }
    }
    if (v->data.mapping.pairs.start == v->data.mapping.pairs.top) {
        cf_error(c, v, "mix: at least one template");
        return -1;
    }
    p->mixed = 1;
    return 0;
}

/* the mix's names are the pool's templates, each once; shares that add
   up to more than 0 */
static int
mix_resolve(cfctx_t *c, yaml_node_t *m, pool_config_t *p)
{
    yaml_node_pair_t *pair, *mp;
    yaml_node_t      *k, *v = NULL;
    int               t, share, sum = 0;
    char              name[SCALESET_NAME_MAX + 1];

    for (mp = m->data.mapping.pairs.start; mp < m->data.mapping.pairs.top; mp++)
    {
        k = cf_node(c, mp->key);
        if (k->type == CF_SCALAR && k->data.scalar.length == 3
            && memcmp(k->data.scalar.value, "mix", 3) == 0)
        {
            v = cf_node(c, mp->value);
        }
    }
    if (v == NULL) {
        return 0;
    }
    for (pair = v->data.mapping.pairs.start; pair < v->data.mapping.pairs.top;
         pair++)
    {
        k = cf_node(c, pair->key);
        if (cf_name(c, k, name, SCALESET_NAME_MAX, "mix: template") != 0) {
            return -1;
        }
        if ((t = config_template(p, name)) < 0 || name[0] == '\0') {
            cf_error(c, k, "mix: no template \"%s\"", name);
            return -1;
        }
        if (p->templates[t].mix != 0) {
            cf_error(c, k, "mix: template \"%s\" given twice", name);
            return -1;
        }
        if (cf_int(c, cf_node(c, pair->value), 0, 100, &share) != 0) {
            return -1;
        }
        /* a share of 0 is kept apart from "not in the mix" by -1 */
        p->templates[t].mix = share ? share : -1;
        sum += share;
    }
    if (sum == 0) {
        cf_error(c, v, "mix: the shares add up to 0");
        return -1;
    }
    for (t = 0; t < p->ntemplates; t++) {
        p->templates[t].mix = p->templates[t].mix < 0 ? 0 : p->templates[t].mix;
    }
    return 0;
}

int
config_template(const pool_config_t *p, const char *name)
{
    int t;

    if (name == NULL || name[0] == '\0') {
        return p->ntemplates > 0 ? 0 : -1;
    }
    for (t = 0; t < p->ntemplates; t++) {
        if (strcmp(p->templates[t].name, name) == 0) {
            return t;
        }
    }
    return -1;
}

static int
template_domain(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    template_config_t *t = conf;

    (void) key;
    if ((t->path = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    t->text = cf_read_file(t->path);
    if (t->text == NULL) {
        cf_error(c, v, "cannot read template \"%s\": %s", t->path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static int
template_volume(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    template_config_t *t = conf;
    uint64_t           seen;

    if (cf_map(c, v, key->sub, t, "volume", &seen) != 0) {
        return -1;
    }
    if (cf_given(key->sub, seen, "backing") && cf_given(key->sub, seen, "base"))
    {
        cf_error(c, v, "volume: backing and base are the same key");
        return -1;
    }
    if (t->vol_pool == NULL || t->vol_backing == NULL) {
        cf_error(c, v, "volume needs pool and backing (the base volume)");
        return -1;
    }
    if (t->vol_format == NULL) {
        t->vol_format = xstrdup("qcow2");
    } else if (strcmp(t->vol_format, "qcow2") != 0
               && strcmp(t->vol_format, "raw") != 0)
    {
        cf_error(c, v, "volume format \"%s\": expected qcow2 or raw",
                 t->vol_format);
        return -1;
    }
    return 0;
}

/* a storage pool or volume name: not empty, no "/" */
static int
storage_name(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key,
             const char *what)
{
    char **dst = (char **) ((char *) conf + key->offset);

    if (cf_set_str(c, v, conf, key) != 0) {
        return -1;
    }
    if (**dst == '\0' || strchr(*dst, '/') != NULL) {
        cf_error(c, v, "%s: bad %s \"%s\"", what, key->name, *dst);
        return -1;
    }
    return 0;
}

static int
volume_name(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    return storage_name(c, v, conf, key, "volume");
}

static int
cloud_init_pool(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    return storage_name(c, v, conf, key, "cloud_init");
}

static int
template_version(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    template_config_t *t = conf;

    (void) key;
    return name_key(c, v, &t->version, scaleset_name_valid, "version");
}

static int
template_cloud_init(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    template_config_t *t = conf;

    if (cf_map(c, v, key->sub, &t->ci, "cloud_init", NULL) != 0) {
        return -1;
    }
    if (t->ci.user_data == NULL) {
        cf_error(c, v, "cloud_init needs user_data");
        return -1;
    }
    return 0;
}

/* a template's cloud_init once the pool is read: the seeds' storage
   pool, {{seed}} in the domain, the files as they render (cloudinit.c:
   "FILE:LINE: reason" of the file itself) */
static int
cloud_init_finish(cfctx_t *c, yaml_node_t *m, pool_config_t *p,
                  template_config_t *t)
{
    char err[512];

    if (t->ci.pool == NULL && t->vol_pool != NULL) {
        t->ci.pool = xstrdup(t->vol_pool);
    }
    if (t->ci.pool == NULL) {
        cf_error(c, m,
                 "pool \"%s\": cloud_init needs a storage pool for "
                 "the seeds: cloud_init.pool, or a volume",
                 p->name);
        return -1;
    }
    if (strstr(t->text, "{{seed}}") == NULL) {
        cf_error(c, m,
                 "pool \"%s\": cloud_init, but the domain template "
                 "%s has no {{seed}} (the seed's cdrom disk)",
                 p->name, t->path);
        return -1;
    }
    if (cloudinit_config_check(p, t, err, sizeof(err)) != 0) {
        if (!c->failed) {
            c->failed = 1;
            snprintf(c->err, c->errlen, "%s", err);
        }
        return -1;
    }
    return 0;
}

/* a cloud_init file: its path at key->offset, its text right after */
static int
cloud_init_file(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    char **path = (char **) ((char *) conf + key->offset);
    char **text = path + 1;

    if (cf_set_str(c, v, conf, key) != 0) {
        return -1;
    }
    free(*text);
    if ((*text = cf_read_file(*path)) == NULL) {
        cf_error(c, v, "cannot read cloud_init %s \"%s\": %s", key->name, *path,
                 strerror(errno));
        return -1;
    }
    if (strlen(*text) > CLOUDINIT_FILE_MAX) {
        cf_error(c, v, "cloud_init %s \"%s\" is larger than %d bytes",
                 key->name, *path, CLOUDINIT_FILE_MAX);
        return -1;
    }
    return 0;
}

/* --- address ----------------------------------------------------------- */

static int
parse_cidr(cfctx_t *c, yaml_node_t *v, uint32_t *net, int *len)
{
    char          *s, *slash, *end;
    long           l;
    struct in_addr a;

    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    slash = strchr(s, '/');
    l = slash ? strtol(slash + 1, &end, 10) : -1;
    if (slash) {
        *slash = '\0';
    }
    if (slash == NULL || slash[1] == '\0' || *end != '\0' || l < 8 || l > 32
        || inet_pton(AF_INET, s, &a) != 1)
    {
        if (slash) {
            *slash = '/';
        }
        cf_error(c, v, "bad CIDR \"%s\"", s);
        free(s);
        return -1;
    }
    free(s);
    *len = (int) l;
    *net = ntohl(a.s_addr) & (l == 32 ? 0xffffffffU : ~(0xffffffffU >> l));
    return 0;
}

static int
pool_address(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;
    uint64_t       seen;
    const char    *mode;

    if (cf_map(c, v, key->sub, p, "address", &seen) != 0) {
        return -1;
    }
    if (!cf_given(key->sub, seen, "port") && !cf_given(key->sub, seen, "ports")
        && p->addr_mode != ADDR_STATIC)
    {
        cf_error(c, v, "address mode %s needs port",
                 p->addr_mode == ADDR_LEASE ? "lease" : "agent");
        return -1;
    }
    if (p->addr_mode != ADDR_STATIC) {
        /* the guest's own address, learnt from libvirt once it has one,
           and accepted only inside cidr */
        mode = p->addr_mode == ADDR_LEASE ? "lease" : "agent";
        if (cf_given(key->sub, seen, "ports")) {
            cf_error(c, v,
                     "address mode %s takes port and cidr (ports are "
                     "for mode static)",
                     mode);
            return -1;
        }
        if (p->addr_mode == ADDR_AGENT && !cf_given(key->sub, seen, "cidr")) {
            cf_error(c, v,
                     "address mode agent needs cidr: the network the "
                     "guest's reported address must be in");
            return -1;
        }
        return 0;
    }
    if (!cf_given(key->sub, seen, "cidr")
        || (!cf_given(key->sub, seen, "port")
            && !cf_given(key->sub, seen, "ports")))
    {
        cf_error(c, v, "address needs cidr and port (or ports)");
        return -1;
    }
    return 0;
}

static int
address_mode(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    /* in addr_mode_t's order */
    static const char *const names[] = { "static", "lease", "agent" };
    pool_config_t           *p = conf;
    int                      i;

    (void) key;
    if ((i = cf_enum(c, v, "address mode", names, 3)) < 0) {
        return -1;
    }
    p->addr_mode = (addr_mode_t) i;
    return 0;
}

static int
address_cidr(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;

    (void) key;
    return parse_cidr(c, v, &p->net, &p->prefix_len);
}

static int
address_ports(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;
    char          *s, *dash;
    uint64_t       lo, hi;

    (void) key;
    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    dash = strchr(s, '-');
    if (dash == NULL
        || scaleset_parse_u64(s, (size_t) (dash - s), 65535, &lo) != 0
        || scaleset_parse_u64(dash + 1, strlen(dash + 1), 65535, &hi) != 0
        || lo < 1 || lo > hi)
    {
        cf_error(c, v, "bad port range \"%s\"", s);
        free(s);
        return -1;
    }
    free(s);
    p->port_lo = (int) lo;
    p->port_hi = (int) hi;
    return 0;
}

/* --- the rest of a pool ------------------------------------------------ */

static int
pool_readiness(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    static const char *const names[] = { "tcp", "none" };
    pool_config_t           *p = conf;
    int                      i;

    (void) key;
    if ((i = cf_enum(c, v, "readiness", names, 2)) < 0) {
        return -1;
    }
    p->readiness_tcp = i == 0;
    return 0;
}

static int
pool_capacity(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;
    uint64_t       seen;

    if (cf_map(c, v, key->sub, p, "capacity", &seen) != 0) {
        return -1;
    }
    if (!cf_given(key->sub, seen, "default")) {
        p->cap_default = p->cap_min; /* as a schedule's */
    }
    if (p->cap_min > p->cap_max) {
        cf_error(c, v, "capacity min %d > max %d", p->cap_min, p->cap_max);
        return -1;
    }
    if (p->cap_default < p->cap_min || p->cap_default > p->cap_max) {
        cf_error(c, v, "capacity default %d outside min..max %d..%d",
                 p->cap_default, p->cap_min, p->cap_max);
        return -1;
    }
    return 0;
}

static int
pool_scale_in(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;
    char          *s;

    (void) key;
    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (policy_parse_name(s, &p->scale_in) != 0) {
        cf_error(c, v,
                 "scale_in_policy \"%s\": expected default, oldest or "
                 "newest",
                 s);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

static int
repair_action(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    /* in repair_action_t's order */
    static const char *const names[] = { "replace", "restart", "reimage" };
    pool_config_t           *p = conf;
    int                      i;

    (void) key;
    if ((i = cf_enum(c, v, "repair action", names, 3)) < 0) {
        return -1;
    }
    p->repair_action = (repair_action_t) i;
    return 0;
}

/* hooks.launch / terminate: on, 5m; the launch hook abandons by default,
   the terminate hook continues (AWS's defaults) */
static int
hook_map(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    hook_config_t *h = (hook_config_t *) ((char *) conf + key->offset);

    h->on = 1;
    h->timeout_ms = 300000;
    h->abandon = strcmp(key->name, "launch") == 0;
    return cf_map(c, v, key->sub, h, key->name, NULL);
}

static int
hook_default(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    static const char *const names[] = { "continue", "abandon" };
    hook_config_t           *h = conf;
    int                      i;

    (void) key;
    if ((i = cf_enum(c, v, "hook default", names, 2)) < 0) {
        return -1;
    }
    h->abandon = i == 1;
    return 0;
}

/* an http:// or https:// URL of printable ASCII */
static int
hooks_webhook(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;
    char          *s, *e;

    (void) key;
    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    for (e = s; *e > 0x20 && *e < 0x7f; e++) {
        /* printable */
    }
    if (*e != '\0'
        || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        || strlen(s) > 1024)
    {
        cf_error(c, v,
                 "hooks.webhook \"%s\": expected an http:// or "
                 "https:// URL (no spaces, up to 1024 bytes)",
                 s);
        free(s);
        return -1;
    }
    free(p->webhook);
    p->webhook = s;
    return 0;
}

static int
pool_health(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;

    /* without uri, health.grace alone: readiness stays `readiness` */
    p->health_timeout_ms = 1000;
    return cf_map(c, v, key->sub, p, "health", NULL);
}

static int
health_uri(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;

    (void) key;
    if ((p->health_uri = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (p->health_uri[0] != '/' || strpbrk(p->health_uri, " \t\r\n")) {
        cf_error(c, v,
                 "health uri \"%s\": expected a path starting with / "
                 "and without spaces",
                 p->health_uri);
        return -1;
    }
    return 0;
}

/* --- the file ---------------------------------------------------------- */

scaler_config_t *
config_load(const char *file, char *err, size_t errlen)
{
    FILE            *f;
    yaml_parser_t    parser;
    cfctx_t          c;
    yaml_node_t     *root;
    scaler_config_t *cf;
    int              i;

    memset(&c, 0, sizeof(c));
    c.file = file;
    c.err = err;
    c.errlen = errlen;

    if ((f = fopen(file, "r")) == NULL) {
        snprintf(err, errlen, "%s:1: cannot open: %s", file, strerror(errno));
        return NULL;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &c.doc)) {
        snprintf(err, errlen, "%s:%lu: %s", file,
                 (unsigned long) parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        fclose(f);
        return NULL;
    }
    yaml_parser_delete(&parser);
    fclose(f);

    cf = xcalloc(1, sizeof(*cf));
    cf->file = xstrdup(file);
    cf->redis.addr.host = xstrdup("127.0.0.1");
    cf->prefix = xstrdup(SCALESET_DEFAULT_PREFIX);
    cf->api_host = xstrdup("127.0.0.1");
    cf->redis.addr.port = 6379;
    cf->api_port = 9180;
    cf->ui_dir = NULL; /* ui_default_dir() */
    cf->log_level = SLOG_INFO;
    cf->interval_ms = 5000;
    cf->api_timeout_ms = 10000;
    cf->libvirt_timeout_ms = 10000;
    cf->ka_interval_ms = 5000;
    cf->ka_count = 3;
    cf->slow_pass_ms = 120000;
    cf->zone_failover_ms = 300000;
    cf->refs = 1;

    root = yaml_document_get_root_node(&c.doc);
    if (root == NULL) {
        snprintf(err, errlen, "%s:1: empty configuration", file);
        goto failed;
    }
    if (cf_map(&c, root, config_keys, cf, "", NULL) != 0) {
        goto failed;
    }

    for (i = 0; i < cf->npools; i++) {
        if (cf_autoscale_finish(&c, cf, &cf->pools[i]) != 0) {
            goto failed;
        }
        /* the planner reads a pool's config only */
        cf->pools[i].zone_failover_ms = cf->zone_failover_ms;
    }

    if (cf->token == NULL && strncmp(cf->api_host, "127.", 4) != 0) {
        snprintf(err, errlen,
                 "%s:1: api.listen %s is not loopback: "
                 "api.token_file is required",
                 file, cf->api_host);
        goto failed;
    }

    yaml_document_delete(&c.doc);
    return cf;

failed:
    yaml_document_delete(&c.doc);
    config_free(cf);
    return NULL;
}

void
config_free(scaler_config_t *cf)
{
    int i, j;

    if (cf == NULL || __atomic_sub_fetch(&cf->refs, 1, __ATOMIC_ACQ_REL) > 0) {
        return;
    }
    for (i = 0; i < cf->npools; i++) {
        pool_config_t *p = &cf->pools[i];
        free(p->name);
        for (j = 0; j < p->ntemplates; j++) {
            template_config_t *t = &p->templates[j];

            free(t->name);
            free(t->path);
            free(t->text);
            free(t->version);
            free(t->vol_pool);
            free(t->vol_backing);
            free(t->vol_format);
            free(t->ci.user_data_path);
            free(t->ci.user_data);
            free(t->ci.meta_data_path);
            free(t->ci.meta_data);
            free(t->ci.network_config_path);
            free(t->ci.network_config);
            free(t->ci.vendor_data_path);
            free(t->ci.vendor_data);
            free(t->ci.pool);
        }
        free(p->health_uri);
        free(p->webhook);
        cf_autoscale_free(p);
        for (j = 0; j < p->nzones; j++) {
            free(p->zones[j].name);
        }
        for (j = 0; j < p->nhosts; j++) {
            free(p->hosts[j].uri);
        }
    }
    free(cf->pools);
    free(cf->file);
    free(cf->redis.addr.host);
    free(cf->redis.username);
    free(cf->redis.password);
    free(cf->redis.master);
    for (i = 0; i < cf->redis.nsentinels; i++) {
        free(cf->redis.sentinels[i].host);
    }
    free(cf->ha_advertise);
    free(cf->prefix);
    free(cf->api_host);
    free(cf->token);
    free(cf->ui_dir);
    free(cf->prom_url);
    free(cf->prom_username);
    free(cf->prom_password);
    free(cf->prom_token);
    free(cf);
}

scaler_config_t *
config_ref(scaler_config_t *cf)
{
    __atomic_add_fetch(&cf->refs, 1, __ATOMIC_ACQ_REL);
    return cf;
}

pool_config_t *
config_pool(scaler_config_t *cf, const char *name)
{
    int i;

    for (i = 0; i < cf->npools; i++) {
        if (strcmp(cf->pools[i].name, name) == 0) {
            return &cf->pools[i];
        }
    }
    return NULL;
}
