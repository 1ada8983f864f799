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
    static const char *const names[] = {
        "creating", "booting",        "running",          "draining",
        "deleting", "warm",           "stopping",         "repairing",
        "standby",  "pending_launch", "pending_terminate"
    };

    return (unsigned) st < INST_STATE_COUNT ? names[st] : "?";
}

const char *
protect_name(protect_t p)
{
    static const char *const names[] = { "none", "scale_in", "all" };

    return (unsigned) p <= PROTECT_ALL ? names[p] : "?";
}

const char *
err_kind_name(int kind)
{
    static const char *const names[] = { "libvirt", "redis",   "create",
                                         "delete",  "address", "redis_data",
                                         "auth",    "fenced",  "wake",
                                         "repair" };

    return names[kind];
}

int
pool_actual(const pool_state_t *ps)
{
    int i, n = 0;

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
    const autoscale_profile_config_t *prof;

    *lo = p->cap_min;
    *hi = p->cap_max;
    if (p->autoscale.nprofiles > 0
        && (prof = autoscale_profile_active(p->autoscale.profiles,
                                            p->autoscale.nprofiles, time(NULL),
                                            NULL, NULL))
               != NULL)
    {
        *lo = (int) prof->capacity.min;
        *hi = (int) prof->capacity.max;
    }
}

/* the capacity stored for ps's pool, as the bounds in force take it */
int
reconcile_capacity_stored(registry_t *reg, pool_state_t *ps)
{
    const pool_config_t *p = ps->cf;
    char                 raw[32];
    int                  lo, hi, cap, rc;

    if ((rc = registry_capacity_get(reg, p->name, raw, sizeof(raw))) != 1) {
        return rc; /* unset: kept; Redis down: -1 */
    }
    bounds_now(p, &lo, &hi);
    rc = policy_stored_capacity(raw, strlen(raw), lo, hi, &cap);
    if (rc < 0) {
        slog_warn(p->name, NULL,
                  "stored capacity \"%s\" refused (not a "
                  "number of instances): %d is kept",
                  raw, ps->capacity);
        ps->errors[ERR_REDIS_DATA]++;
        return 0;
    }
    if (rc > 0) {
        slog_warn(p->name, NULL,
                  "stored capacity \"%s\" is outside the "
                  "bounds in force %d..%d: clamped to %d",
                  raw, lo, hi, cap);
        ps->errors[ERR_REDIS_DATA]++;
    }
    ps->capacity = cap;
    return 0;
}

/* the index in ps's config of old's host h (same zone name, same URI);
   -1 when the new configuration has no such host */
static int
same_host(const pool_config_t *p, const pool_config_t *op, int h)
{
    const zone_config_t *zc;
    int                  z, k;

    for (z = 0; z < p->nzones; z++) {
        zc = &p->zones[z];
        if (strcmp(zc->name, op->zones[op->hosts[h].zone].name) != 0) {
            continue;
        }
        for (k = zc->host0; k < zc->host0 + zc->nhosts; k++) {
            if (strcmp(p->hosts[k].uri, op->hosts[h].uri) == 0) {
                return k;
            }
        }
    }
    return -1;
}

/* a reload: what the old state knew of the hosts the new configuration
   keeps (by zone name and URI), so that a host that does not answer the
   new state's first pass still has its instances (they are not lost, and
   not rebuilt elsewhere), its outage's start and its base image; and the
   API's requests not yet handed to a pass.  Under prev's lock */
static void
carry(pool_state_t *ps, const pool_state_t *old)
{
    int map[SCALER_MAX_HOSTS];
    int h, i, k, t, n = 0;

    for (h = 0; h < old->cf->nhosts; h++) {
        map[h] = same_host(ps->cf, old->cf, h);
        if (map[h] < 0) {
            continue;
        }
        ps->host_down[map[h]] = old->host_down[h];
        ps->host_down_since[map[h]] = old->host_down_since[h];
        ps->host_failed[map[h]] = old->host_failed[h];
        /* each template's base image there, for a template of that name */
        for (k = 0; k < old->cf->ntemplates; k++) {
            t = config_template(ps->cf, old->cf->templates[k].name);
            if (t >= 0) {
                memcpy(ps->image[t][map[h]], old->image[k][h],
                       sizeof(old->image[k][h]));
            }
        }
    }
    if (old->ninst > 0) {
        ps->inst = xcalloc(old->ninst, sizeof(*ps->inst));
        for (i = 0; i < old->ninst; i++) {
            h = old->inst[i].host;
            if (h < 0 || h >= old->cf->nhosts || map[h] < 0) {
                continue; /* a host the reload removed */
            }
            ps->inst[n] = old->inst[i];
            ps->inst[n].host = map[h];
            ps->inst[n].zone = ps->cf->hosts[map[h]].zone;
            ps->inst[n].report0 = ps->inst[n].nreports = 0;
            n++;
        }
        ps->ninst = ps->cinst = n;
    }
    if (old->nasks > 0) {
        ps->asks = xcalloc(old->nasks, sizeof(*ps->asks));
        memcpy(ps->asks, old->asks, old->nasks * sizeof(*ps->asks));
        ps->nasks = old->nasks;
    }
}

void
reconcile_carry_calls(scaler_t *s, scaler_t *prev)
{
    pool_state_t *ps, *old;
    int           map[SCALER_MAX_HOSTS];
    int           i, h;

    for (i = 0; i < prev->npools; i++) {
        old = &prev->pools[i];
        if ((ps = reconcile_pool(s, old->cf->name)) == NULL) {
            continue; /* released with it */
        }
        for (h = 0; h < old->cf->nhosts; h++) {
            map[h] = same_host(ps->cf, old->cf, h);
        }
        act_bg_move(ps, old, map);
    }
}

void
reconcile_init(scaler_t *s, scaler_config_t *cf, scaler_t *prev)
{
    pool_state_t *old;
    int           i, j, known;

    s->cf = cf;
    s->reg = registry_open(&cf->redis, s->topo, cf->prefix);
    s->npools = cf->npools;
    s->pools = xcalloc(cf->npools, sizeof(*s->pools));
    for (i = 0; i < cf->npools; i++) {
        pool_state_t *ps = &s->pools[i];

        ps->cf = &cf->pools[i];
        ps->conf = cf;
        ps->preg = registry_open(&cf->redis, s->topo, cf->prefix);
        ps->host_timeout_ms = cf->libvirt_timeout_ms;
        ps->capacity = ps->cf->cap_default;
        ps->interval_ms = cf->interval_ms;
        for (j = 0; j < ps->cf->ntemplates; j++) {
            model_template_digest(&ps->cf->templates[j], ps->digest[j]);
        }
        known = 0;
        if (prev != NULL) {
            reconcile_lock(prev);
            if ((old = reconcile_pool(prev, ps->cf->name)) != NULL) {
                ps->capacity = old->capacity;
                ps->repair = old->repair;
                carry(ps, old);
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
            ps->capacity = ps->capacity < ps->cf->cap_min   ? ps->cf->cap_min
                           : ps->capacity > ps->cf->cap_max ? ps->cf->cap_max
                                                            : ps->capacity;
        }
        /* each host's connection is opened by its first call, on its
           worker: a host that does not answer never holds the loop */
        for (j = 0; j < ps->cf->nhosts; j++) {
            ps->hosts[j] = host_new(
                ps->cf->hosts[j].uri, (int) ((cf->ka_interval_ms + 999) / 1000),
                (unsigned) cf->ka_count, cf->libvirt_timeout_ms);
        }
    }
}

void
reconcile_free(scaler_t *s)
{
    int i, j;

    for (i = 0; i < s->npools; i++) {
        /* a host stuck in a call goes when that call returns */
        for (j = 0; j < s->pools[i].cf->nhosts; j++) {
            host_release(s->pools[i].hosts[j]);
        }
        act_bg_release(&s->pools[i]); /* not waited for */
        registry_close(s->pools[i].preg);
        free(s->pools[i].inst);
        free(s->pools[i].reports);
        free(s->pools[i].gateways);
        free(s->pools[i].asks);
        upgrade_free(&s->pools[i].upgrade);
        for (j = 0; j < SCALER_MAX_TEMPLATES; j++) {
            virt_recipe_free(&s->pools[i].recipe[j]);
        }
        free(s->pools[i].hand);
    }
    free(s->pools);
    registry_close(s->reg);
}

pool_state_t *
reconcile_pool(scaler_t *s, const char *name)
{
    int i;

    for (i = 0; i < s->npools; i++) {
        if (strcmp(s->pools[i].cf->name, name) == 0) {
            return &s->pools[i];
        }
    }
    return NULL;
}

void
reconcile_pool_pass(scaler_t *s, pool_state_t *ps, pool_ask_t *asks, int nasks)
{
    observation_t obs;
    plan_input_t  in;
    plan_t        pl;
    int           ok;

    (void) s;
    memset(&pl, 0, sizeof(pl));
    /* the background calls that ended first: the observation sees what
       they did, and only those still running are busy */
    act_bg_collect(ps->preg, ps);
    ok = observe(ps->preg, ps, asks, nasks, &obs) == 0;
    free(asks);
    ps->errors[ERR_REDIS_DATA] += obs.refused;
    if (!ok) {
        ps->errors[registry_failure(ps->preg) == REDIS_FAIL_AUTH ? ERR_AUTH
                                                                 : ERR_REDIS]++;
        if (!ps->redis_lost) {
            slog_warn(ps->cf->name, NULL,
                      "members not read (%s): no action "
                      "until they are",
                      obs.redis_err);
            ps->redis_lost = 1;
        }
        ps->redis_ok = 0;
        act(ps->preg, ps, &obs, NULL); /* the listing, nothing done */
        obs_release(&obs);
        return;
    }
    if (ps->redis_lost) {
        slog(ps->cf->name, NULL, "members read again");
        ps->redis_lost = 0;
    }
    if (!obs.reports_ok && !ps->reports_lost) {
        slog_warn(ps->cf->name, NULL,
                  "gateway reports not read (%s): "
                  "connections unknown, drains wait for drain_timeout",
                  obs.reports_err);
        ps->reports_lost = 1;
    } else if (obs.reports_ok && ps->reports_lost) {
        slog(ps->cf->name, NULL, "gateway reports read again");
        ps->reports_lost = 0;
    }
    if (!obs.upgrade_ok && !ps->upgrade_lost) {
        slog_err(ps->cf->name, NULL,
                 "upgrade record refused (%s): no upgrade "
                 "step until it is written again (POST /v1/pools/%s/upgrade)",
                 obs.upgrade_err, ps->cf->name);
        ps->upgrade_lost = 1;
    } else if (obs.upgrade_ok && ps->upgrade_lost) {
        slog(ps->cf->name, NULL, "upgrade record read again");
        ps->upgrade_lost = 0;
    }
    ps->redis_ok = 1;
    if (ps->read_only) {
        act(ps->preg, ps, &obs, NULL); /* a standby's view, nothing done */
        obs_release(&obs);
        return;
    }
    in.cf = ps->cf;
    in.obs = &obs;
    in.capacity = ps->capacity;
    in.now = clock_unix_ms();
    in.interval_ms = ps->interval_ms;
    if (ps->cancel && __atomic_load_n(ps->cancel, __ATOMIC_ACQUIRE)) {
        act(ps->preg, ps, &obs, NULL); /* stopping: nothing more done */
    } else {
        plan(&in, &pl);
        act(ps->preg, ps, &obs, &pl);
    }
    plan_release(&pl);
    obs_release(&obs);
}
