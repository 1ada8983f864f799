/*
 * config_upgrade.c: a pool's upgrade: block (docs/upgrades.md), read
 * through its key table (config_yaml.h) into pool_config_t.upgrade.  The
 * defaults are the cloud scale sets' rolling upgrade policy: batches of
 * 20 %, 20 % unhealthy allowed before and after each batch, surge,
 * unhealthy instances first, one zone at a time, rollback on a breach.
 */

#include <stdlib.h>
#include <string.h>

#include "config_yaml.h"

static int upgrade_mode(cfctx_t *c, yaml_node_t *v, void *conf,
                        const cf_key_t *key);

const cf_key_t cf_upgrade_keys[] = {
    { "mode", CF_SCALAR, upgrade_mode, NULL, 0, 0, 0 },
    { "max_batch_percent", CF_SCALAR, cf_set_int, NULL,
      CF_AT(pool_config_t, upgrade.max_batch_percent), 1, 100 },
    { "max_unhealthy_percent", CF_SCALAR, cf_set_int, NULL,
      CF_AT(pool_config_t, upgrade.max_unhealthy_percent), 0, 100 },
    { "max_unhealthy_upgraded_percent", CF_SCALAR, cf_set_int, NULL,
      CF_AT(pool_config_t, upgrade.max_unhealthy_upgraded_percent), 0, 100 },
    { "pause", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(pool_config_t, upgrade.pause_ms), 0, 0 },
    { "surge", CF_SCALAR, cf_set_bool, NULL,
      CF_AT(pool_config_t, upgrade.surge), 0, 0 },
    { "prioritize_unhealthy", CF_SCALAR, cf_set_bool, NULL,
      CF_AT(pool_config_t, upgrade.prioritize_unhealthy), 0, 0 },
    { "cross_zone", CF_SCALAR, cf_set_bool, NULL,
      CF_AT(pool_config_t, upgrade.cross_zone), 0, 0 },
    { "rollback", CF_SCALAR, cf_set_bool, NULL,
      CF_AT(pool_config_t, upgrade.rollback), 0, 0 },
    { "image", CF_SCALAR, cf_set_bool, NULL,
      CF_AT(pool_config_t, upgrade.image), 0, 0 },
    CF_END
};

void
cf_upgrade_defaults(pool_config_t *p)
{
    p->upgrade.mode = UPGRADE_ROLLING;
    p->upgrade.max_batch_percent = 20;
    p->upgrade.max_unhealthy_percent = 20;
    p->upgrade.max_unhealthy_upgraded_percent = 20;
    p->upgrade.pause_ms = 0;
    p->upgrade.surge = 1;
    p->upgrade.prioritize_unhealthy = 1;
    p->upgrade.cross_zone = 0;
    p->upgrade.rollback = 1;
    p->upgrade.image = 0;
}

static int
upgrade_mode(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    static const char *const names[] = { "manual", "automatic", "rolling" };
    pool_config_t           *p = conf;
    int                      i;

    (void) key;
    if ((i = cf_enum(c, v, "upgrade mode", names, 3)) < 0) {
        return -1;
    }
    p->upgrade.mode = (upgrade_mode_t) i;
    return 0;
}
