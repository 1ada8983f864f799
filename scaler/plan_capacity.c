/*
 * plan_capacity.c: the number of instances, in capacity units (an
 * instance provides its template's weight: 1 in a pool with one
 * template).  Below the capacity (counting booting and running
 * instances made for it, of every zone, after what the earlier steps
 * took away; instances added by hand are outside it), new ones are
 * created: from the template the mix asks for (plan_mix.c), each in the
 * usable zone with the fewest of that template (then the fewest of all:
 * policy_place), at the lowest address that no instance and no member
 * uses, with the next instance number and the model new instances of
 * its template get there (pl->target: the latest, or the previous one
 * while an upgrade rolls back).  Above it (plus the surge an earlier step
 * keeps on purpose), one at a time from the template furthest above its
 * target, by scale_in_policy (policy_scale_in: balance zones, then highest
 * id, or oldest / newest) among that template's instances in zones that
 * answer, outdated ones (not on pl->target) first, while the units left
 * still meet the capacity: a registered one drains, an unregistered one
 * is deleted.  An instance of a template the config no longer has goes
 * first.
 */

#include <stdarg.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static int
addr_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* every address in use (instances, members, the plan's creations so
   far), sorted; NULL when none (or out of memory: pl->oom) */
static char (*used_addresses(const plan_input_t *in, plan_t *pl, int *n))[80]
{
    const observation_t  *obs = in->obs;
    char                (*used)[80];
    int                   i;

    *n = 0;
    if (obs->ninst + obs->nmembers + pl->creates == 0) {
        return NULL;
    }
    used = malloc((obs->ninst + obs->nmembers + pl->creates)
                  * sizeof(*used));
    if (used == NULL) {
        pl->oom = 1;
        return NULL;
    }
    for (i = 0; i < obs->ninst; i++) {
        memcpy(used[(*n)++], obs->inst[i].in.address, sizeof(*used));
    }
    for (i = 0; i < obs->nmembers; i++) {
        if (obs->members[i].valid) {
            memcpy(used[(*n)++], obs->members[i].address, sizeof(*used));
        }
    }
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_CREATE || pl->act[i].kind == ACT_ADOPT) {
            memcpy(used[(*n)++], pl->act[i].address, sizeof(*used));
        }
    }
    qsort(used, *n, sizeof(*used), addr_cmp);
    return used;
}

/* the lowest address from k on that used[] has not: its index, -1 when
   the range is used up */
static int
next_free(const pool_config_t *p, char (*used)[80], int nused, int k,
    char *addr, size_t size)
{
    for (;; k++) {
        if (addr_static(p, k, addr, size) != 0) {
            addr[0] = '\0';
            return -1;
        }
        if (nused == 0
            || bsearch(addr, used, nused, sizeof(*used), addr_cmp) == NULL)
        {
            return k;
        }
    }
}

int
plan_free_address(const plan_input_t *in, plan_t *pl, char *buf,
    size_t size)
{
    char  (*used)[80];
    int     nused, k;

    used = used_addresses(in, pl, &nused);
    if (pl->oom) {
        return -1;
    }
    k = next_free(in->cf, used, nused, 0, buf, size);
    free(used);
    return k < 0 ? -1 : 0;
}

action_t *
plan_create(const plan_input_t *in, plan_t *pl, int tmpl, int z,
    const char *rule, const char *fmt, ...)
{
    const pool_config_t  *p = in->cf;
    char                (*used)[80], addr[80];
    action_t             *a = NULL;
    va_list               ap;
    int                   nused;

    if (in->obs->seq < 0 || pl->next_seq > POLICY_SEQ_MAX) {
        plan_note(pl, ERR_REDIS_DATA, rule, "instance numbers used up "
                  "(%ld): no new instances", (long) POLICY_SEQ_MAX);
        return NULL;
    }
    used = used_addresses(in, pl, &nused);
    if (pl->oom) {
        return NULL;
    }
    if (next_free(p, used, nused, 0, addr, sizeof(addr)) < 0) {
        plan_note(pl, ERR_ADDRESS, rule, "no free address left");
    } else if ((a = plan_add(pl, in, ACT_CREATE, -1, rule, "%s", "")) != NULL)
    {
        va_start(ap, fmt);
        vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
        va_end(ap);
        a->zone = z;
        a->tmpl = tmpl;
        a->origin = ORIGIN_SCALED;
        a->model = pl->target[tmpl][z];
        a->seq = pl->next_seq++;
        snprintf(a->id, sizeof(a->id), "%s-%06ld", p->name, a->seq);
        snprintf(a->address, sizeof(a->address), "%s", addr);
    }
    free(used);
    return a;
}

/* the capacity's instances by template (the last index: of a template
   the config no longer has) and zone, and their units */
typedef struct {
    mix_template_t  t[SCALER_MAX_TEMPLATES + 1];
    int             n;                  /* the pool's templates */
    int             count[SCALER_MAX_TEMPLATES + 1];
    int             zone[SCALER_MAX_TEMPLATES + 1][SCALER_MAX_ZONES];
    int             all[SCALER_MAX_ZONES];
    int             target[SCALER_MAX_TEMPLATES + 1];
    int             units;
} mix_state_t;

/* the weight of obs->inst[i]: its template's; for one the config no
   longer has, its record's (1 unregistered) */
static int
inst_weight(const plan_input_t *in, int i)
{
    const obs_instance_t  *o = &in->obs->inst[i];

    if (o->in.tmpl >= 0 && o->in.tmpl < in->cf->ntemplates) {
        return in->cf->templates[o->in.tmpl].weight;
    }
    return o->member >= 0 && in->obs->members[o->member].valid
           && in->obs->members[o->member].weight > 0
           ? (int) in->obs->members[o->member].weight : 1;
}

static int
inst_tmpl(const plan_input_t *in, int i)
{
    int  k = in->obs->inst[i].in.tmpl;

    return k >= 0 && k < in->cf->ntemplates ? k : in->cf->ntemplates;
}

static void
mix_state(const plan_input_t *in, const plan_t *pl, mix_state_t *ms)
{
    const pool_config_t  *p = in->cf;
    const obs_instance_t *o;
    int                   i, k, z;

    memset(ms, 0, sizeof(*ms));
    ms->n = p->ntemplates;
    for (k = 0; k < p->ntemplates; k++) {
        ms->t[k].weight = p->templates[k].weight;
        ms->t[k].share = p->templates[k].mix;
        ms->t[k].max_units = p->templates[k].max_percent
            ? (int) ((long long) in->capacity * p->templates[k].max_percent
                     / 100)
            : INT_MAX;
    }
    ms->t[ms->n].weight = 1;            /* the orphans: never made */
    for (i = 0; i < in->obs->ninst; i++) {
        o = &in->obs->inst[i];
        if (o->in.origin != ORIGIN_SCALED
            || (pl->view[i].state != INST_BOOTING
                && pl->view[i].state != INST_RUNNING))
        {
            continue;                   /* by hand, or not in service */
        }
        k = inst_tmpl(in, i);
        z = o->in.zone;
        ms->count[k]++;
        ms->units += inst_weight(in, i);
        if (z >= 0 && z < SCALER_MAX_ZONES) {
            ms->zone[k][z]++;
            ms->all[z]++;
        }
    }
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_CREATE
            && pl->act[i].origin == ORIGIN_SCALED)
        {
            k = pl->act[i].tmpl;
            ms->count[k]++;
            ms->units += ms->t[k].weight;
            ms->zone[k][pl->act[i].zone]++;
            ms->all[pl->act[i].zone]++;
        }
    }
    mix_targets(ms->t, ms->n, p->mixed, in->capacity, ms->target);
}

/* the reason of a capacity action */
static void
reason(const plan_input_t *in, const mix_state_t *ms, int k, char *buf,
    size_t size, const char *more)
{
    if (in->cf->flexible) {
        snprintf(buf, size, "capacity %d, %d in service; template %s "
                 "weight %d%s", in->capacity, ms->units,
                 k < ms->n ? in->cf->templates[k].name : "(gone)",
                 ms->t[k].weight, more);
    } else {
        snprintf(buf, size, "capacity %d, %d in service%s", in->capacity,
                 ms->units, more);
    }
}

static void
scale_out(const plan_input_t *in, plan_t *pl, mix_state_t *ms)
{
    const pool_config_t  *p = in->cf;
    char                (*used)[80], addr[80], why[160];
    action_t             *a;
    int                   nused, k, knext = 0, z, t, zc[SCALER_MAX_ZONES];
    int                   want = in->capacity;

    if (in->obs->seq < 0) {
        plan_note(pl, ERR_REDIS_DATA, "scale_out", "seq is above %ld: no "
                  "new instances", (long) POLICY_SEQ_MAX);
        return;
    }
    used = used_addresses(in, pl, &nused);
    if (pl->oom) {
        return;
    }
    while (ms->units < want) {
        if (pl->next_seq > POLICY_SEQ_MAX) {
            plan_note(pl, ERR_REDIS_DATA, "scale_out", "instance numbers "
                      "used up (%ld): no new instances",
                      (long) POLICY_SEQ_MAX);
            break;
        }
        if ((t = mix_pick_out(ms->t, ms->n, p->mixed, ms->target, ms->count,
                              want - ms->units)) < 0)
        {
            plan_note(pl, ERR_KIND_COUNT, "scale_out", "capacity %d: every "
                      "template is at its max_percent", want);
            break;
        }
        /* the fewest of this template, then the fewest of all */
        for (z = 0; z < p->nzones; z++) {
            zc[z] = ms->zone[t][z] * (SCALER_CAPACITY_MAX + 1) + ms->all[z];
        }
        if ((z = policy_place(zc, in->obs->zone_up, p->nzones)) < 0) {
            break;                  /* no zone answers: nowhere to go */
        }
        if ((k = next_free(p, used, nused, knext, addr, sizeof(addr))) < 0) {
            plan_note(pl, ERR_ADDRESS, "scale_out", "no free address left");
            break;
        }
        knext = k + 1;
        reason(in, ms, t, why, sizeof(why), "");
        a = plan_add(pl, in, ACT_CREATE, -1, "scale_out", "%s", why);
        if (a == NULL) {
            break;
        }
        a->zone = z;
        a->tmpl = t;
        a->origin = ORIGIN_SCALED;
        a->model = pl->target[t][z];
        a->seq = pl->next_seq++;
        snprintf(a->id, sizeof(a->id), "%s-%06ld", p->name, a->seq);
        snprintf(a->address, sizeof(a->address), "%s", addr);
        ms->units += ms->t[t].weight;
        ms->count[t]++;
        ms->zone[t][z]++;
        ms->all[z]++;
    }
    free(used);
}

static void
scale_in(const plan_input_t *in, plan_t *pl, mix_state_t *ms)
{
    const observation_t   *obs = in->obs;
    const obs_instance_t  *o;
    policy_instance_t     *cand;
    char                   why[160];
    int                   *map, nc, c, i, k, t, w, outdated;
    int                    removable[SCALER_MAX_TEMPLATES + 1];
    int                    want = in->capacity + pl->surge;

    cand = calloc(obs->ninst + 1, sizeof(*cand));
    map = calloc(obs->ninst + 1, sizeof(*map));
    if (cand == NULL || map == NULL) {
        pl->oom = 1;
        goto done;
    }
    while (ms->units > want) {
        /* what each template could give: listed in a zone that answers,
           not claimed, booting or running, made for the capacity */
        memset(removable, 0, sizeof(removable));
        for (i = 0; i < obs->ninst; i++) {
            o = &obs->inst[i];
            removable[inst_tmpl(in, i)] +=
                o->listed && obs->zone_up[o->in.zone] && plan_free(pl, i)
                && o->in.origin == ORIGIN_SCALED
                && (pl->view[i].state == INST_BOOTING
                    || pl->view[i].state == INST_RUNNING);
        }
        if (removable[ms->n] > 0) {
            t = ms->n;              /* of a template the config lost */
        } else if ((t = mix_pick_in(ms->t, ms->n, ms->target, ms->count,
                                    removable, ms->units - want)) < 0)
        {
            break;                  /* the rest are in zones that are down,
                                       or removing one undershoots */
        }
        /* the outdated ones first (an upgrade's work done by the way),
           then any */
        for (outdated = 1; outdated >= 0; outdated--) {
            for (nc = 0, i = 0; i < obs->ninst; i++) {
                o = &obs->inst[i];
                if (o->listed && obs->zone_up[o->in.zone] && plan_free(pl, i)
                    && o->in.origin == ORIGIN_SCALED && inst_tmpl(in, i) == t
                    && (pl->view[i].state == INST_BOOTING
                        || pl->view[i].state == INST_RUNNING)
                    && (!outdated || !plan_on_target(in, pl, i)))
                {
                    cand[nc].id = o->in.id;
                    cand[nc].zone = o->in.zone;
                    cand[nc].seq = o->in.seq;
                    map[nc++] = i;
                }
            }
            if (nc > 0) {
                break;
            }
        }
        if ((c = policy_scale_in(cand, nc, in->cf->nzones,
                                 in->cf->scale_in)) < 0)
        {
            break;
        }
        i = map[c];
        w = inst_weight(in, i);
        reason(in, ms, t, why, sizeof(why),
               pl->view[i].state == INST_RUNNING ? ""
               : "; before registration");
        plan_add(pl, in, pl->view[i].state == INST_RUNNING ? ACT_DRAIN
                                                           : ACT_DELETE,
                 i, "scale_in", "%s", why);
        if (pl->oom) {
            break;
        }
        ms->units -= w;
        ms->count[t]--;
        k = obs->inst[i].in.zone;
        ms->zone[t][k]--;
        ms->all[k]--;
    }
done:
    free(cand);
    free(map);
}

void
plan_capacity(const plan_input_t *in, plan_t *pl)
{
    mix_state_t  ms;

    mix_state(in, pl, &ms);
    if (ms.units < in->capacity) {
        scale_out(in, pl, &ms);
    } else if (ms.units > in->capacity + pl->surge) {
        scale_in(in, pl, &ms);
    }
}
