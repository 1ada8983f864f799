/*
 * plan_upgrade.c: rolling upgrades (docs/upgrades.md), the sub-planner
 * between drain and capacity.  It reads the upgrade record
 * (PREFIX{POOL}:upgrade, as observed), decides where the upgrade stands
 * now, and hands on three things: the record as the pass leaves it
 * (ACT_UPGRADE, written before any of its other actions, so that a crash
 * resumes the same batch), the model new instances get (pl->target: the
 * pool's latest, or the previous one while it rolls back and after) and
 * the surge the capacity step keeps (the batch's old instances still
 * serving while their replacements come up).
 *
 * The record's states:
 *   idle, done, cancelled, failed: an upgrade starts when the pool's
 *       model is not the one the record last went to (a template change,
 *       in modes rolling and automatic), or its base images changed
 *       (upgrade.image), and instances are outdated; POST .../upgrade
 *       starts one in any mode (the API writes the record);
 *   rolling: batch after batch, each at most max_batch_percent of the
 *       capacity (at least 1; mode automatic: every outdated instance,
 *       in every zone) of one zone at a time (unless cross_zone), the
 *       unhealthy first (prioritize_unhealthy), then the oldest.  Before
 *       a batch: more than max_unhealthy_percent of the pool unhealthy
 *       is a breach.  During it: with surge the replacements are created
 *       first and an old instance drains only while the healthy ones
 *       left are at least the capacity (an unhealthy one at once);
 *       without, the batch drains at once and the capacity step creates
 *       the replacements.  The batch ends when none of its old instances
 *       serves, the pool is at its capacity and its new instances are
 *       settled (healthy, or unhealthy after health.grace); then more
 *       than max_unhealthy_upgraded_percent of the instances on the new
 *       model unhealthy is a breach;
 *   paused: between two batches, for upgrade.pause;
 *   rolling_back: a breach with upgrade.rollback (or POST
 *       .../upgrade/rollback): the same batches towards the previous
 *       model (the record's from, made from the recipe its instances
 *       carry, so it works after a restart); done, it is failed (a
 *       breach) or cancelled (the API's), and new instances keep the
 *       previous model until an upgrade starts again or the template
 *       changes once more.
 *   A breach without rollback, or one while rolling back, is failed:
 *   nothing more is replaced (with surge the failed batch's unhealthy new
 *   instances go).
 * "Healthy" is plan_healthy(): registered and up in the report of every
 * present gateway; an instance being repaired is unhealthy.  While the
 * reports are unknown the upgrade waits (nothing is judged, nothing
 * started).  An instance protected from scale-set actions is never
 * replaced; one being repaired, or that the API asked something of, is
 * left to that first.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* how long an upgraded instance has to become healthy without
   health.grace */
#define UPGRADE_GRACE_DEFAULT_MS (5 * 60 * 1000ULL)

typedef struct {
    int         inst;
    act_kind_t  kind;  /* ACT_DRAIN, ACT_DELETE */
    long        batch; /* the batch it is for */
    const char *why;
} up_step_t;

typedef struct {
    const plan_input_t     *in;
    const observation_t    *obs;
    plan_t                 *pl;
    const upgrade_config_t *uc;
    const upgrade_t        *rec;     /* as observed */
    upgrade_t              *out;     /* pl->upgrade */
    int                     changed; /* out is to be written */
    int                     back;    /* towards the previous model */
    uint64_t                now, grace;
    char                    key[UPGRADE_MODEL_MAX + 1]; /* the pool's */
    char                    log[512]; /* what happened, for act's log */
    up_step_t              *steps;    /* decided, added after the
                                         record's write */
    int   nsteps;
    char *taken; /* per instance: a step decided
                    for it this pass */
    int creates[SCALER_MAX_TEMPLATES][SCALER_MAX_ZONES];
    int surge; /* in capacity units */
} up_t;

/* protected from scale-set actions (PREFIX{POOL}:protection "all"): an
   instance the upgrade leaves as it is (protection from scale-in alone
   does not keep it from an upgrade) */
static int
upgrade_protected(const up_t *u, int i)
{
    return plan_protected(u->in, i, PROTECT_ALL);
}

/* registered in the view (it drains before it goes): running, or being
   repaired in place (restarted, reimaged) */
static int
registered(const up_t *u, int i)
{
    return u->pl->view[i].state == INST_RUNNING
           || u->pl->view[i].state == INST_REPAIRING;
}

static void event(up_t *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
event(up_t *u, const char *fmt, ...)
{
    size_t  len = strlen(u->log);
    va_list ap;

    if (len + 3 >= sizeof(u->log)) {
        return;
    }
    if (len) {
        memcpy(u->log + len, "; ", 3);
        len += 2;
    }
    va_start(ap, fmt);
    vsnprintf(u->log + len, sizeof(u->log) - len, fmt, ap);
    va_end(ap);
}

static void
step(up_t *u, int i, act_kind_t kind, const char *why)
{
    up_step_t *n;

    n = xrealloc(u->steps, (u->nsteps + 1) * sizeof(*n));
    u->steps = n;
    u->taken[i] = 1;
    n[u->nsteps].inst = i;
    n[u->nsteps].kind = kind;
    n[u->nsteps].batch = u->out->batch;
    n[u->nsteps++].why = why;
}

/* an instance that counts: it serves or will (as observed; one counted
   as lost, its host failed over, does not) */
static int
counted(const up_t *u, int i)
{
    inst_state_t st = plan_observed(u->obs, i);

    return (st == INST_BOOTING || st == INST_RUNNING || st == INST_REPAIRING)
           && !(u->obs->inst[i].in.asked & ASK_DELETE) && !u->pl->view[i].lost;
}

/* serving or booting in the view (no earlier step took it away, no step
   of this one decided for it, not lost) */
static int
active(const up_t *u, int i)
{
    return !u->taken[i] && !u->pl->view[i].lost
           && (u->pl->view[i].state == INST_BOOTING
               || u->pl->view[i].state == INST_RUNNING
               || u->pl->view[i].state == INST_REPAIRING);
}

/* obs->inst[i]'s template for what it is replaced with: its own, or
   the first for one of a template the config no longer has */
static int
tmpl_of(const up_t *u, int i)
{
    int k = u->obs->inst[i].in.tmpl;

    return k >= 0 && k < u->in->cf->ntemplates ? k : 0;
}

/* the capacity units obs->inst[i] provides (its template's weight) */
static int
units(const up_t *u, int i)
{
    return u->in->cf->templates[tmpl_of(u, i)].weight;
}

/* the units serving or booting for the capacity, with what this step
   decided so far (instances added by hand are outside it) */
static int
active_units(const up_t *u)
{
    const plan_t *pl = u->pl;
    int           i, k, z, n = 0;

    for (i = 0; i < u->obs->ninst; i++) {
        n += active(u, i) && u->obs->inst[i].in.origin == ORIGIN_SCALED
                 ? units(u, i)
                 : 0;
    }
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_CREATE && pl->act[i].origin == ORIGIN_SCALED)
        {
            n += u->in->cf->templates[pl->act[i].tmpl].weight;
        }
    }
    for (k = 0; k < u->in->cf->ntemplates; k++) {
        for (z = 0; z < SCALER_MAX_ZONES; z++) {
            n += u->creates[k][z] * u->in->cf->templates[k].weight;
        }
    }
    return n;
}

static uint64_t
born(const obs_instance_t *o)
{
    return o->in.model.created ? o->in.model.created : o->in.seen;
}

/* being repaired (restarted or reimaged in place): unhealthy, whatever
   the gateways say meanwhile */
static int
repairing(const up_t *u, int i)
{
    /* until the repair step saw it up again this pass */
    return plan_observed(u->obs, i) == INST_REPAIRING
           && u->pl->view[i].repaired <= 0;
}

/* not healthy, and its time to become healthy is over (or repairing) */
static int
settled_bad(const up_t *u, int i)
{
    return repairing(u, i)
           || (plan_healthy(u->in, i) == 0
               && u->now >= born(&u->obs->inst[i]) + u->grace);
}

/* not healthy yet, still within its time */
static int
initializing(const up_t *u, int i)
{
    return !repairing(u, i) && plan_healthy(u->in, i) == 0
           && u->now < born(&u->obs->inst[i]) + u->grace;
}

/* on its template's latest model (the config's) */
static int
on_forward(const up_t *u, int i)
{
    const obs_instance_t *o = &u->obs->inst[i];

    return o->in.tmpl >= 0 && o->in.tmpl < u->in->cf->ntemplates
           && o->in.host >= 0 && o->in.host < u->in->cf->nhosts
           && model_latest(&u->obs->latest[o->in.tmpl][o->in.host],
                           &o->in.model);
}

/* an outdated instance the upgrade may replace now */
static int
eligible(const up_t *u, int i)
{
    const obs_instance_t *o = &u->obs->inst[i];

    /* made for the capacity: one added by hand, or adopted, is the
       operator's; one the API asked something of, or being repaired, is
       left to that first */
    return active(u, i) && plan_free(u->pl, i) && plan_reachable(u->obs, i)
           && !o->in.asked && !repairing(u, i) && o->in.origin == ORIGIN_SCALED
           && !upgrade_protected(u, i) && !plan_on_target(u->in, u->pl, i);
}

/* the model most outdated instances are on ("VERSION:DIGEST") */
static void
majority(const up_t *u, char *buf, size_t size)
{
    char k[UPGRADE_MODEL_MAX + 1], best[UPGRADE_MODEL_MAX + 1] = "";
    int  i, j, n, nbest = 0;

    for (i = 0; i < u->obs->ninst; i++) {
        if (!counted(u, i) || plan_on_target(u->in, u->pl, i)) {
            continue;
        }
        upgrade_model(&u->obs->inst[i].in.model, k, sizeof(k));
        for (n = 0, j = 0; j < u->obs->ninst; j++) {
            char kj[UPGRADE_MODEL_MAX + 1];

            if (!counted(u, j) || plan_on_target(u->in, u->pl, j)) {
                continue;
            }
            upgrade_model(&u->obs->inst[j].in.model, kj, sizeof(kj));
            n += strcmp(k, kj) == 0;
        }
        if (n > nbest || (n == nbest && strcmp(k, best) < 0)) {
            nbest = n;
            snprintf(best, sizeof(best), "%s", k);
        }
    }
    snprintf(buf, size, "%s", best);
}

/* the version of a "VERSION:DIGEST" */
static const char *
version_of(const char *model, char *buf, size_t size)
{
    snprintf(buf, size, "%.*s", (int) strcspn(model, ":"), model);
    return buf[0] ? buf : "none";
}

static void
clear_batch(up_t *u)
{
    upgrade_free(u->out);
    u->out->batch_started = 0;
    u->out->batch_done = u->now;
    u->out->zone[0] = '\0';
}

/* the previous model is a different one on some host: a rollback can
   make something else than the pool's model */
static int
previous_differs(const up_t *u)
{
    int k, h;

    for (k = 0; k < u->in->cf->ntemplates; k++) {
        for (h = 0; h < u->in->cf->nhosts; h++) {
            if (!model_latest(&u->obs->latest[k][h], &u->obs->previous[k][h])
                || strcmp(u->obs->latest[k][h].version,
                          u->obs->previous[k][h].version)
                       != 0)
            {
                return 1;
            }
        }
    }
    return 0;
}

/* a threshold exceeded */
static void breach(up_t *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
breach(up_t *u, const char *fmt, ...)
{
    upgrade_t *out = u->out;
    char       why[160], v[SCALESET_NAME_MAX + 1];
    va_list    ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    clear_batch(u);
    u->changed = 1;
    u->pl->batches[1]++;
    u->surge = 0;
    if (out->state == UPGRADE_ROLLING_BACK) {
        out->state = UPGRADE_FAILED;
        snprintf(out->error, sizeof(out->error), "the rollback failed: %s",
                 why);
        event(u, "the rollback failed: %s", why);
        return;
    }
    if (u->uc->rollback && u->obs->previous_ok && previous_differs(u)) {
        out->state = UPGRADE_ROLLING_BACK;
        out->rollback = UPGRADE_BACK_BREACH;
        out->batch = 0;
        out->batches = 0;
        snprintf(out->error, sizeof(out->error),
                 "%s; rolling back to "
                 "version %s",
                 why, version_of(out->from, v, sizeof(v)));
        event(u, "%s: rolling back to version %s", why,
              version_of(out->from, v, sizeof(v)));
        u->back = 1;
        memcpy(u->pl->target, u->obs->previous, sizeof(u->pl->target));
        return;
    }
    out->state = UPGRADE_FAILED;
    snprintf(out->error, sizeof(out->error), "%s; %s", why,
             !u->uc->rollback ? "rollback is off: nothing more is replaced"
             : !u->obs->previous_ok
                 ? "no rollback: no instance of the "
                   "previous model left to take its recipe from"
                 : "no rollback: the previous model is the pool's (its base "
                   "image was replaced where it was)");
    event(u, "failed: %s", out->error);
}

/* the batch's old instances still serving, replaced: with surge the new
   ones first, an old one drained while enough healthy ones are left */
static void
run_batch(up_t *u, int *b, int nb)
{
    const plan_input_t *in = u->in;
    int                 k, i, z, t, need, healthy = 0, left = 0, bu = 0;

    if (!u->uc->surge) {
        for (k = 0; k < nb; k++) {
            step(u, b[k], registered(u, b[k]) ? ACT_DRAIN : ACT_DELETE,
                 "replaced (no surge: drained first)");
        }
        u->surge = 0;
        return;
    }
    /* in capacity units: a replacement of each old one's template in its
       zone, while the pool holds fewer than capacity + the batch */
    for (k = 0; k < nb; k++) {
        bu += units(u, b[k]);
    }
    need = in->capacity + bu - active_units(u);
    for (k = 0; k < nb && need > 0; k++) {
        z = u->obs->inst[b[k]].in.zone;
        t = tmpl_of(u, b[k]);
        if (plan_place_host(in, z, NULL) >= 0) { /* a host answers */
            u->creates[t][z]++;
            need -= in->cf->templates[t].weight;
        }
    }
    for (i = 0; i < u->obs->ninst; i++) {
        healthy += u->pl->view[i].state == INST_RUNNING && !u->taken[i]
                           && u->obs->inst[i].in.origin == ORIGIN_SCALED
                           && plan_healthy(u->in, i) == 1
                       ? units(u, i)
                       : 0;
    }
    for (k = 0; k < nb; k++) {
        i = b[k];
        if (!registered(u, i)) {
            step(u, i, ACT_DELETE, "replaced (not registered)");
        } else if (settled_bad(u, i)) {
            step(u, i, ACT_DRAIN, "replaced (unhealthy)");
        } else if (healthy - (plan_healthy(u->in, i) == 1 ? units(u, i) : 0)
                   >= in->capacity)
        {
            /* a young one not reported healthy yet may serve all the
               same: it waits like a healthy one */
            step(u, i, ACT_DRAIN, "replaced (its replacement serves)");
            healthy -= plan_healthy(u->in, i) == 1 ? units(u, i) : 0;
        } else {
            left += units(u, i);
        }
    }
    u->surge = left;
}

static int
id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* 0 for an unhealthy one (not healthy within its time) when those go
   first */
static int
batch_cmp_key(const up_t *u, int i)
{
    return u->uc->prioritize_unhealthy && settled_bad(u, i) ? 0 : 1;
}

/* the next batch: from one zone (the last one's while it has outdated
   instances, else one with an unhealthy one, else the first that has),
   unhealthy first, then oldest */
static void
next_batch(up_t *u, int *cand, int nc)
{
    const plan_input_t *in = u->in;
    upgrade_t          *out = u->out;
    char                ids[480], v[SCALESET_NAME_MAX + 1];
    int                 per_zone[SCALER_MAX_ZONES] = { 0 };
    int                 k, j, t, z = -1, n = 0, size, len = 0;
    long                left = 0;

    for (k = 0; k < nc; k++) {
        per_zone[in->obs->inst[cand[k]].in.zone]++;
    }
    if (!u->uc->cross_zone && !out->automatic) {
        for (j = 0; j < in->cf->nzones; j++) {
            if (strcmp(in->cf->zones[j].name, out->zone) == 0
                && per_zone[j] > 0) {
                z = j;
            }
        }
        /* a new zone: an unhealthy instance's first (prioritize_unhealthy),
           else the first with outdated ones */
        for (k = 0; z < 0 && k < nc; k++) {
            if (batch_cmp_key(u, cand[k]) == 0) {
                z = in->obs->inst[cand[k]].in.zone;
            }
        }
        for (j = 0; z < 0 && j < in->cf->nzones; j++) {
            if (per_zone[j] > 0) {
                z = j;
            }
        }
    }
    size = out->automatic ? nc : in->capacity * u->uc->max_batch_percent / 100;
    size = size < 1 ? 1 : size;
    /* the zone's candidates, unhealthy first, then by id (the oldest) */
    for (k = 0; k < nc; k++) {
        if (z < 0 || in->obs->inst[cand[k]].in.zone == z) {
            cand[n++] = cand[k];
        }
    }
    for (k = 1; k < n; k++) {
        for (j = k;
             j > 0
             && (batch_cmp_key(u, cand[j]) < batch_cmp_key(u, cand[j - 1])
                 || (batch_cmp_key(u, cand[j]) == batch_cmp_key(u, cand[j - 1])
                     && cand[j] < cand[j - 1]));
             j--)
        {
            t = cand[j];
            cand[j] = cand[j - 1];
            cand[j - 1] = t;
        }
    }
    n = n < size ? n : size;
    /* how many batches in all, as it stands */
    for (j = 0; j < in->cf->nzones; j++) {
        left += z < 0 ? 0 : (per_zone[j] + size - 1) / size;
    }
    if (z < 0) {
        left = (nc + size - 1) / size;
    }
    upgrade_free(out);
    out->ids = xcalloc(n, sizeof(*out->ids));
    for (k = 0; k < n; k++) {
        snprintf(out->ids[k], sizeof(out->ids[k]), "%s",
                 in->obs->inst[cand[k]].in.id);
        if (len < (int) sizeof(ids) - 1) {
            len += snprintf(ids + len, sizeof(ids) - len, "%s%s", k ? " " : "",
                            out->ids[k]);
        }
    }
    out->nids = n;
    qsort(out->ids, n, sizeof(*out->ids), id_cmp);
    out->batch++;
    out->batches = out->batch - 1 + left;
    out->batch_started = u->now;
    snprintf(out->zone, sizeof(out->zone), "%s",
             z >= 0 ? in->cf->zones[z].name : "");
    u->changed = 1;
    event(u, "batch %ld of %ld%s%s: %s -> version %s", out->batch, out->batches,
          z >= 0 ? " in zone " : "", z >= 0 ? in->cf->zones[z].name : "", ids,
          u->pl->target[0][z >= 0 ? in->cf->zones[z].host0 : 0].version[0]
              ? u->pl->target[0][z >= 0 ? in->cf->zones[z].host0 : 0].version
              : version_of(u->back ? out->from : out->to, v, sizeof(v)));
    run_batch(u, cand, n);
}

/* an upgrade under way: the batch in progress, or the next one */
static void
advance(up_t *u)
{
    const observation_t    *obs = u->obs;
    const upgrade_config_t *uc = u->uc;
    upgrade_t              *out = u->out;
    int                    *b, *cand, nb = 0, nball = 0, nc = 0, waiting = 0;
    int                     i, total = 0, bad = 0, upg = 0, upg_bad = 0;
    int                     nnew = 0, unsettled = 0;
    char                    v[SCALESET_NAME_MAX + 1];

    if (out->from[0] == '\0') {
        majority(u, out->from, sizeof(out->from));
        u->changed = 1;
    }
    if (!u->back
        && (strcmp(out->to, u->key) != 0
            || strcmp(out->to_image, obs->images) != 0))
    {
        if (strcmp(out->to, u->key) != 0) {
            event(u, "retargeted to version %s (was %s)",
                  obs->latest[0][0].version, version_of(out->to, v, sizeof(v)));
        }
        snprintf(out->to, sizeof(out->to), "%s", u->key);
        memcpy(out->to_image, obs->images, sizeof(out->to_image));
        u->changed = 1;
    }
    b = xcalloc(obs->ninst + 1, sizeof(*b));
    cand = xcalloc(obs->ninst + 1, sizeof(*cand));
    for (i = 0; i < obs->ninst; i++) {
        if (!upgrade_has(out, obs->inst[i].in.id) || !active(u, i)) {
            continue;
        }
        nball++; /* still serving, or booting */
        if (plan_reachable(obs, i)) {
            b[nb++] = i; /* and can be replaced now */
        }
    }
    if (!obs->reports_ok) {
        /* health unknown: nothing judged, nothing started; the batch's
           old ones keep serving beside their replacements */
        u->surge = uc->surge ? nball : 0;
        goto done;
    }
    for (i = 0; i < obs->ninst; i++) {
        if (!counted(u, i)) {
            continue;
        }
        total++;
        bad += settled_bad(u, i);
        if (plan_on_target(u->in, u->pl, i)) {
            upg++;
            upg_bad += settled_bad(u, i);
            if (out->batch_started && born(&obs->inst[i]) >= out->batch_started)
            {
                nnew++;
                unsettled += initializing(u, i);
            }
        }
    }
    if (out->batch_started) {
        /* the batch in progress: its new instances settled, judged */
        if (nnew > 0 && unsettled == 0
            && (long) upg_bad * 100
                   > (long) uc->max_unhealthy_upgraded_percent * upg)
        {
            breach(u,
                   "after batch %ld: %d of %d upgraded instances "
                   "unhealthy (more than max_unhealthy_upgraded_percent %d)",
                   out->batch, upg_bad, upg,
                   uc->max_unhealthy_upgraded_percent);
            if (out->state == UPGRADE_FAILED && uc->surge) {
                /* the failed batch's new ones never served: they go */
                for (i = 0; i < obs->ninst; i++) {
                    if (counted(u, i) && active(u, i) && plan_free(u->pl, i)
                        && plan_reachable(obs, i)
                        && plan_on_target(u->in, u->pl, i) && settled_bad(u, i))
                    {
                        step(u, i, registered(u, i) ? ACT_DRAIN : ACT_DELETE,
                             "its batch failed");
                    }
                }
            }
            goto done;
        }
        if (nball > 0) {
            if (nb > 0) {
                run_batch(u, b, nb);
            }
            /* those of a zone that does not answer still count */
            u->surge += uc->surge ? nball - nb : 0;
            if (!uc->surge || u->surge > 0) {
                goto done;
            }
            /* with surge, the last old ones drain now: the batch ends in
               this pass if the rest holds */
        }
        if (unsettled > 0 || active_units(u) < u->in->capacity) {
            goto done; /* its replacements are coming up */
        }
        event(u,
              "batch %ld of %ld done: %d replaced, %d of %d on the "
              "model healthy",
              out->batch, out->batches, out->nids, upg - upg_bad, upg);
        out->upgraded += out->nids;
        out->failed = upg_bad;
        u->pl->batches[u->back ? 2 : 0]++;
        clear_batch(u);
        u->changed = 1;
        if (uc->pause_ms > 0 && !u->back) {
            out->state = UPGRADE_PAUSED;
            goto done;
        }
    }
    if (out->state == UPGRADE_PAUSED) {
        if (u->now < out->batch_done + uc->pause_ms) {
            goto done;
        }
        out->state = UPGRADE_RUNNING;
        u->changed = 1;
    }
    for (i = 0; i < obs->ninst; i++) {
        if (eligible(u, i)) {
            cand[nc++] = i;
        } else if (active(u, i) && !plan_on_target(u->in, u->pl, i)
                   && !upgrade_protected(u, i))
        {
            waiting++; /* in a zone down, or taken this pass */
        }
    }
    if (nc == 0) {
        if (waiting > 0) {
            goto done;
        }
        out->batches = out->batch;
        out->failed = upg_bad;
        u->changed = 1;
        if (u->back) {
            out->state = out->rollback == UPGRADE_BACK_API ? UPGRADE_CANCELLED
                                                           : UPGRADE_FAILED;
            event(u, "rolled back: %d instances on version %s", upg,
                  version_of(out->from, v, sizeof(v)));
        } else {
            out->state = UPGRADE_DONE;
            out->error[0] = '\0';
            event(u, "done: %d instances on version %s (%ld batches)", upg,
                  obs->latest[0][0].version, out->batch);
        }
        goto done;
    }
    if (!u->back && !out->automatic
        && (long) bad * 100 > (long) uc->max_unhealthy_percent * total)
    {
        breach(u,
               "before batch %ld: %d of %d instances unhealthy (more "
               "than max_unhealthy_percent %d)",
               out->batch + 1, bad, total, uc->max_unhealthy_percent);
        goto done;
    }
    next_batch(u, cand, nc);
done:
    free(b);
    free(cand);
}

/* an upgrade that starts now, and why */
static void
start(up_t *u, const char *why)
{
    upgrade_t *out = u->out;
    uint64_t   gen = out->gen;
    char       from_image[MODEL_DIGEST_LEN + 1], was[UPGRADE_MODEL_MAX + 1];
    char       v[SCALESET_NAME_MAX + 1];
    int        i, n = 0;

    memcpy(from_image, u->rec->to_image, sizeof(from_image));
    upgrade_free(out);
    memset(out, 0, sizeof(*out));
    out->gen = gen;
    out->state = UPGRADE_RUNNING;
    out->automatic = u->uc->mode == UPGRADE_AUTOMATIC;
    out->started = u->now;
    snprintf(out->to, sizeof(out->to), "%s", u->key);
    memcpy(out->to_image, u->obs->images, sizeof(out->to_image));
    memcpy(out->from_image, from_image, sizeof(out->from_image));
    u->back = 0;
    memcpy(u->pl->target, u->obs->latest, sizeof(u->pl->target));
    majority(u, was, sizeof(was));
    snprintf(out->from, sizeof(out->from), "%s", was);
    for (i = 0; i < u->obs->ninst; i++) {
        n += counted(u, i) && !plan_on_target(u->in, u->pl, i);
    }
    u->changed = 1;
    event(u, "started (%s): version %s -> %s, %d outdated", why,
          version_of(was, v, sizeof(v)), u->obs->latest[0][0].version, n);
    advance(u);
}

/* no upgrade under way: one starts when the pool's model moved */
static void
maybe_start(up_t *u)
{
    const observation_t *obs = u->obs;
    const upgrade_t     *rec = u->rec;
    upgrade_t           *out = u->out;
    char                 why[240];
    int                  i, z, n = 0, nimg = 0, len;

    for (i = 0; i < obs->ninst; i++) {
        const virt_model_t *m = &obs->inst[i].in.model, *l;

        if (!counted(u, i) || on_forward(u, i)) {
            continue;
        }
        n++;
        l = &obs->latest[tmpl_of(u, i)][obs->inst[i].in.host];
        /* on another base image (another file at the path, or a new
           version directory named in the config: then its template
           digest changed too) */
        nimg += l->image[0] && strcmp(m->image, l->image) != 0;
    }
    if (n == 0) {
        /* nothing outdated: the record names the model the pool is on */
        if ((rec->state == UPGRADE_NONE || rec->state == UPGRADE_IDLE
             || rec->state == UPGRADE_DONE)
            && (strcmp(rec->to, u->key) != 0
                || strcmp(rec->to_image, obs->images) != 0))
        {
            out->state = rec->state == UPGRADE_NONE ? UPGRADE_IDLE : rec->state;
            event(u, "the pool is on version %s", obs->latest[0][0].version);
            snprintf(out->to, sizeof(out->to), "%s", u->key);
            memcpy(out->to_image, obs->images, sizeof(out->to_image));
            u->changed = 1;
        }
        return;
    }
    if (u->uc->image && nimg > 0 && strcmp(rec->to_image, obs->images) != 0) {
        /* which images, for the log: an outdated one's and the new */
        len = snprintf(why, sizeof(why), "the base image changed:");
        for (z = 0; z < obs->nzones; z++) {
            for (i = 0; i < obs->ninst; i++) {
                const obs_instance_t *o = &obs->inst[i];

                if (o->in.zone == z && counted(u, i) && !on_forward(u, i)
                    && strcmp(o->in.model.image,
                              obs->latest[tmpl_of(u, i)][o->in.host].image)
                           != 0)
                {
                    len += snprintf(
                        why + len, sizeof(why) - len, " %s %.12s -> %.12s",
                        u->in->cf->zones[z].name,
                        o->in.model.image[0] ? o->in.model.image : "none",
                        obs->latest[tmpl_of(u, i)][o->in.host].image);
                    break;
                }
            }
            if (len >= (int) sizeof(why)) {
                break;
            }
        }
        start(u, why);
        return;
    }
    if (u->uc->mode != UPGRADE_MANUAL && strcmp(rec->to, u->key) != 0) {
        start(u, "the template changed");
    }
}

/* the record's write first, then what it decided */
static void
emit(up_t *u)
{
    plan_t   *pl = u->pl;
    action_t *a;
    char      v[SCALESET_NAME_MAX + 1];
    int       k, t, z;

    if (u->changed) {
        a = plan_add(pl, u->in, ACT_UPGRADE, -1, "upgrade", "%s",
                     u->log[0] ? u->log : "record");
        if (a == NULL) {
            return;
        }
    }
    for (k = 0; k < u->nsteps; k++) {
        plan_add(pl, u->in, u->steps[k].kind, u->steps[k].inst, "upgrade",
                 "batch %ld: %s", u->steps[k].batch, u->steps[k].why);
    }
    for (t = 0; t < u->in->cf->ntemplates; t++) {
        for (z = 0; z < u->obs->nzones; z++) {
            for (k = 0; k < u->creates[t][z]; k++) {
                if (plan_create(
                        u->in, pl, t, z, "upgrade",
                        "batch %ld: a "
                        "replacement on version %s",
                        u->out->batch,
                        pl->target[t][u->in->cf->zones[z].host0].version[0]
                            ? pl->target[t][u->in->cf->zones[z].host0].version
                            : version_of(u->out->to, v, sizeof(v)))
                    == NULL)
                {
                    break;
                }
            }
        }
    }
    pl->surge += u->surge;
    snprintf(pl->upgrade_log, sizeof(pl->upgrade_log), "%s", u->log);
}

void
plan_upgrade(const plan_input_t *in, plan_t *pl)
{
    const observation_t *obs = in->obs;
    up_t                 u;

    if (!obs->upgrade_ok) {
        return; /* unknown: nothing to build on */
    }
    memset(&u, 0, sizeof(u));
    u.in = in;
    u.obs = obs;
    u.pl = pl;
    u.uc = &in->cf->upgrade;
    u.rec = &obs->upgrade;
    u.out = &pl->upgrade;
    u.now = in->now;
    u.grace = in->cf->health_grace_ms ? in->cf->health_grace_ms
                                      : UPGRADE_GRACE_DEFAULT_MS;
    upgrade_copy(u.out, u.rec);
    u.taken = xcalloc(obs->ninst + 1, 1);
    upgrade_pool_model(obs->latest, in->cf->ntemplates, u.key, sizeof(u.key));
    /* back: rolling back, or rolled back while the template is still
       the one it rolled back from (a new one is a new intent) */
    u.back = u.rec->state == UPGRADE_ROLLING_BACK
             || (u.rec->rollback != UPGRADE_FORWARD
                 && (u.rec->state == UPGRADE_FAILED
                     || u.rec->state == UPGRADE_CANCELLED)
                 && strcmp(u.rec->to, u.key) == 0);
    if (u.back && obs->previous_ok) {
        memcpy(pl->target, obs->previous, sizeof(pl->target));
    } else if (u.back && u.rec->state == UPGRADE_ROLLING_BACK) {
        clear_batch(&u);
        u.out->state = UPGRADE_FAILED;
        snprintf(u.out->error, sizeof(u.out->error),
                 "the rollback stops: "
                 "no instance of the previous model left to take its "
                 "recipe from");
        event(&u, "%s", u.out->error);
        u.changed = 1;
        u.back = 0;
    } else {
        u.back = 0;
    }
    if (upgrade_running(u.out->state)) {
        advance(&u);
    } else {
        maybe_start(&u);
    }
    if (u.changed) {
        u.out->updated = in->now;
    }
    emit(&u);
    free(u.steps);
    free(u.taken);
}
