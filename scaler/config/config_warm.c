/*
 * config_warm.c: a pool's warm_pool block (docs/scaler.md, "Warm pool"):
 *
 *   warm_pool: { size: 2, state: paused, reuse_on_scale_in: true,
 *                wake_timeout: 10s }
 *
 * Key table as in config.c (config_yaml.h); every error is
 * "file:line: reason".
 */

#include <stdlib.h>
#include <string.h>

#include "scaler.h"
#include "config_yaml.h"

static int warm_state(cfctx_t *c, yaml_node_t *v, void *conf,
                      const cf_key_t *key);

const cf_key_t cf_warm_keys[] = {
    { "size", CF_SCALAR, cf_set_int, NULL, CF_AT(warm_config_t, size), 0,
      SCALER_CAPACITY_MAX },
    { "state", CF_SCALAR, warm_state, NULL, 0, 0, 0 },
    { "reuse_on_scale_in", CF_SCALAR, cf_set_bool, NULL,
      CF_AT(warm_config_t, reuse), 0, 0 },
    { "wake_timeout", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(warm_config_t, wake_timeout_ms), 100, 600000 },
    CF_END
};

static const char *const warm_state_names[] = { "paused", "saved", "running" };

const char *
warm_state_name(warm_state_t st)
{
    return (unsigned) st <= WARM_RUNNING ? warm_state_names[st] : "?";
}

static int
warm_state(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    warm_config_t *w = conf;
    int            i;

    (void) key;
    if ((i = cf_enum(c, v, "warm_pool state", warm_state_names,
                     WARM_RUNNING + 1))
        < 0)
    {
        return -1;
    }
    w->state = (warm_state_t) i;
    return 0;
}

void
cf_warm_defaults(pool_config_t *p)
{
    p->warm.size = 0;
    p->warm.state = WARM_PAUSED;
    p->warm.reuse = 0;
    p->warm.wake_timeout_ms = 10000;
}

int
cf_warm_pool(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;

    return cf_map(c, v, key->sub, &p->warm, "warm_pool", NULL);
}
