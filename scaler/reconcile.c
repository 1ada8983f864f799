/*
 * reconcile.c: the pools' run-time state (set up from a configuration,
 * kept across a reload, freed) and one pool's pass: observe, plan, act
 * (plan.h).  Every step is idempotent: the domains and the member hash
 * are the recorded state, so a crash at any point is recovered by the
 * next pass.
 *   creating -> booting (defined, started, not registered)
 *            -> running (registered after its address answered)
 *            -> draining (member has "drain") -> deleting
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan.h"

const char *
inst_state_name(inst_state_t st)
{
    static const char *const names[] = { "creating", "booting", "running",
        "draining", "deleting" };

    return names[st];
}

const char *
err_kind_name(int kind)
{
    static const char *const names[] = { "libvirt", "redis", "create",
        "delete", "address", "redis_data", "auth", "fenced" };

    return names[kind];
}

int
pool_actual(const pool_state_t *ps)
{
    int  i, n = 0;

    for (i = 0; i < ps->ninst; i++) {
        if (ps->inst[i].state == INST_RUNNING) {
            n++;
        }
    }
    return n;
}

/* the bounds in force now: the active schedule's, else the pool's */
static void
bounds_now(const pool_config_t *p, int *lo, int *hi)
{
    const autoscale_profile_config_t  *prof;

    *lo = p->cap_min;
    *hi = p->cap_max;
    if (p->autoscale.nprofiles > 0
        && (prof = autoscale_profile_active(p->autoscale.profiles,
                                            p->autoscale.nprofiles,
                                            time(NULL), NULL, NULL)) != NULL)
    {
        *lo = (int) prof->capacity.min;
        *hi = (int) prof->capacity.max;
    }
}

/* the capacity stored for ps's pool, as the bounds in force take it */
int
reconcile_capacity_stored(registry_t *reg, pool_state_t *ps)
{
    const pool_config_t  *p = ps->cf;
    char                  raw[32];
    int                   lo, hi, cap, rc;

    if ((rc = registry_capacity_get(reg, p->name, raw, sizeof(raw))) != 1) {
        return rc;              /* unset: kept; Redis down: -1 */
    }
    bounds_now(p, &lo, &hi);
    rc = policy_stored_capacity(raw, strlen(raw), lo, hi, &cap);
    if (rc < 0) {
        slog(p->name, NULL, "stored capacity \"%s\" refused (not a "
             "number of instances): %d is kept", raw, ps->capacity);
        ps->errors[ERR_REDIS_DATA]++;
        return 0;
    }
    if (rc > 0) {
        slog(p->name, NULL, "stored capacity \"%s\" is outside the "
             "bounds in force %d..%d: clamped to %d", raw, lo, hi, cap);
        ps->errors[ERR_REDIS_DATA]++;
    }
    ps->capacity = cap;
    return 0;
}

/* a reload keeps what the last pass knew of the pool's instances (in
   zones the new configuration still has): the API shows them until the
   first pass, and that pass knows when it first saw each (health.grace,
   drains) instead of finding every domain again */
static void
carry_instances(pool_state_t *ps, const pool_state_t *old)
{
    instance_t  *in;
    int          i, z;

    if (old->ninst == 0
        || (ps->inst = calloc(old->ninst, sizeof(*ps->inst))) == NULL)
    {
        return;
    }
    ps->cinst = old->ninst;
    for (i = 0; i < old->ninst; i++) {
        for (z = 0; z < ps->cf->nzones; z++) {
            if (strcmp(ps->cf->zones[z].name,
                       old->cf->zones[old->inst[i].zone].name) == 0)
            {
                break;
            }
        }
        if (z == ps->cf->nzones) {
            continue;               /* its zone is gone from the pool */
        }
        in = &ps->inst[ps->ninst++];
        *in = old->inst[i];
        in->zone = z;
        in->report0 = in->nreports = 0;     /* the reports stay the old
                                               state's */
    }
}

int
reconcile_init(scaler_t *s, scaler_config_t *cf, scaler_t *prev)
{
    pool_state_t  *old;
    int            i, j, known;

    s->cf = cf;
    s->reg = registry_open(&cf->redis, s->topo, cf->prefix);
    s->preg = registry_open(&cf->redis, s->topo, cf->prefix);
    if (s->reg == NULL || s->preg == NULL) {
        slog(NULL, NULL, "out of memory");
        return -1;
    }
    s->npools = cf->npools;
    s->pools = calloc(cf->npools, sizeof(*s->pools));
    for (i = 0; i < cf->npools; i++) {
        pool_state_t *ps = &s->pools[i];

        ps->cf = &cf->pools[i];
        ps->capacity = ps->cf->cap_default;
        for (j = 0; j < ps->cf->ntemplates; j++) {
            model_template_digest(&ps->cf->templates[j], ps->digest[j]);
        }
        known = 0;
        if (prev != NULL) {
            reconcile_lock(prev);
            if ((old = reconcile_pool(prev, ps->cf->name)) != NULL) {
                ps->capacity = old->capacity;
                carry_instances(ps, old);
                /* the upgrade as last read, until the first pass */
                if (upgrade_copy(&ps->upgrade, &old->upgrade) != 0) {
                    memset(&ps->upgrade, 0, sizeof(ps->upgrade));
                }
                known = 1;
            }
            reconcile_unlock(prev);
        }
        if (!known) {
            reconcile_capacity_stored(s->reg, ps);
        }
        /* new bounds of a reload hold at once (a pool with schedules is
           clamped by its autoscaler to the profile in force) */
        if (ps->cf->autoscale.nprofiles == 0) {
            ps->capacity = ps->capacity < ps->cf->cap_min ? ps->cf->cap_min
                           : ps->capacity > ps->cf->cap_max
                           ? ps->cf->cap_max : ps->capacity;
        }
        for (j = 0; j < ps->cf->nzones; j++) {
            ps->conns[j] = virt_open(ps->cf->zones[j].uri);
        }
    }
    return 0;
}

void
reconcile_free(scaler_t *s)
{
    int  i, j;

    for (i = 0; i < s->npools; i++) {
        for (j = 0; j < s->pools[i].cf->nzones; j++) {
            virt_close(s->pools[i].conns[j]);
        }
        free(s->pools[i].inst);
        free(s->pools[i].reports);
        free(s->pools[i].gateways);
        for (j = 0; j < s->pools[i].ndel; j++) {
            free(s->pools[i].del_ids[j]);
        }
        free(s->pools[i].del_ids);
        upgrade_free(&s->pools[i].upgrade);
        for (j = 0; j < SCALER_MAX_TEMPLATES; j++) {
            virt_recipe_free(&s->pools[i].recipe[j]);
        }
        free(s->pools[i].hand);
    }
    free(s->pools);
    registry_close(s->reg);
    registry_close(s->preg);
}

pool_state_t *
reconcile_pool(scaler_t *s, const char *name)
{
    int  i;

    for (i = 0; i < s->npools; i++) {
        if (strcmp(s->pools[i].cf->name, name) == 0) {
            return &s->pools[i];
        }
    }
    return NULL;
}

void
reconcile_pool_pass(scaler_t *s, pool_state_t *ps, char **dels, int ndel)
{
    observation_t  obs;
    plan_input_t   in;
    plan_t         pl;
    int            i, ok;

    ok = observe(s->preg, ps, dels, ndel, &obs) == 0;
    for (i = 0; i < ndel; i++) {
        free(dels[i]);
    }
    free(dels);
    ps->errors[ERR_REDIS_DATA] += obs.refused;
    if (!ok) {
        ps->errors[registry_failure(s->preg) == REDIS_FAIL_AUTH ? ERR_AUTH
                   : ERR_REDIS]++;
        if (!ps->redis_lost) {
            slog(ps->cf->name, NULL, "members not read (%s): no action "
                 "until they are", obs.redis_err);
            ps->redis_lost = 1;
        }
        ps->redis_ok = 0;
        act(s->preg, ps, &obs, NULL);   /* the listing, nothing done */
        obs_release(&obs);
        return;
    }
    if (ps->redis_lost) {
        slog(ps->cf->name, NULL, "members read again");
        ps->redis_lost = 0;
    }
    if (!obs.reports_ok && !ps->reports_lost) {
        slog(ps->cf->name, NULL, "gateway reports not read (%s): "
             "connections unknown, drains wait for drain_timeout",
             obs.reports_err);
        ps->reports_lost = 1;
    } else if (obs.reports_ok && ps->reports_lost) {
        slog(ps->cf->name, NULL, "gateway reports read again");
        ps->reports_lost = 0;
    }
    if (!obs.upgrade_ok && !ps->upgrade_lost) {
        slog(ps->cf->name, NULL, "upgrade record refused (%s): no upgrade "
             "step until it is written again (POST /v1/pools/%s/upgrade)",
             obs.upgrade_err, ps->cf->name);
        ps->upgrade_lost = 1;
    } else if (obs.upgrade_ok && ps->upgrade_lost) {
        slog(ps->cf->name, NULL, "upgrade record read again");
        ps->upgrade_lost = 0;
    }
    ps->redis_ok = 1;
    if (ps->read_only) {
        act(s->preg, ps, &obs, NULL);   /* a standby's view, nothing done */
        obs_release(&obs);
        return;
    }
    in.cf = ps->cf;
    in.obs = &obs;
    in.capacity = ps->capacity;
    in.now = clock_unix_ms();
    if (plan(&in, &pl) != 0) {
        slog(ps->cf->name, NULL, "out of memory: no plan this pass");
        act(s->preg, ps, &obs, NULL);
    } else {
        act(s->preg, ps, &obs, &pl);
    }
    plan_release(&pl);
    obs_release(&obs);
}
