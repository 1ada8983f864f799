/*
 * plan_capacity.c: the number of instances.  Below the capacity (counting
 * booting and running instances, of every zone, after what the earlier
 * steps took away), new ones are created, each in the usable zone with
 * the fewest (policy_place), at the lowest address that no instance, no
 * member and no creation of this plan uses, with the next instance
 * number and the model new instances get (pl->target: the zone's latest,
 * or the previous one while an upgrade rolls back).  Above it (plus the
 * surge an earlier step keeps on purpose), one at a time by
 * scale_in_policy (policy_scale_in: balance zones, then highest id, or
 * oldest / newest) among those of zones that answer, outdated ones
 * (not on pl->target) first: a registered one drains, an unregistered one
 * is deleted.
 */

#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static int
addr_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* every address in use (instances, members, this plan's creations),
   sorted; NULL when none (or out of memory: pl->oom) */
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
        if (pl->act[i].kind == ACT_CREATE) {
            memcpy(used[(*n)++], pl->act[i].address, sizeof(*used));
        }
    }
    qsort(used, *n, sizeof(*used), addr_cmp);
    return used;
}

/* one creation in zone z at the lowest free address from the k-th on
   (*knext: where the next one looks); NULL when none can be made, noted
   under rule */
static action_t *
create_at(const plan_input_t *in, plan_t *pl, int z, char (*used)[80],
    int nused, int *knext, const char *rule, const char *reason)
{
    const pool_config_t  *p = in->cf;
    char                  addr[80];
    action_t             *a;
    int                   k;

    if (in->obs->seq < 0) {
        plan_note(pl, ERR_REDIS_DATA, rule, "seq is above %ld: no new "
                  "instances", (long) POLICY_SEQ_MAX);
        return NULL;
    }
    if (pl->next_seq > POLICY_SEQ_MAX) {
        plan_note(pl, ERR_REDIS_DATA, rule, "instance numbers used up "
                  "(%ld): no new instances", (long) POLICY_SEQ_MAX);
        return NULL;
    }
    for (k = *knext;; k++) {
        if (addr_static(p, k, addr, sizeof(addr)) != 0) {
            plan_note(pl, ERR_ADDRESS, rule, "no free address left");
            return NULL;
        }
        if (nused == 0
            || bsearch(addr, used, nused, sizeof(*used), addr_cmp) == NULL)
        {
            break;
        }
    }
    *knext = k + 1;
    if ((a = plan_add(pl, in, ACT_CREATE, -1, rule, "%s", reason)) == NULL) {
        return NULL;
    }
    a->zone = z;
    a->model = pl->target[z];
    a->seq = pl->next_seq++;
    snprintf(a->id, sizeof(a->id), "%s-%06ld", p->name, a->seq);
    snprintf(a->address, sizeof(a->address), "%s", addr);
    return a;
}

action_t *
plan_create(const plan_input_t *in, plan_t *pl, int z, const char *rule,
    const char *fmt, ...)
{
    char      (*used)[80], reason[160];
    action_t   *a;
    va_list     ap;
    int         nused, knext = 0;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    used = used_addresses(in, pl, &nused);
    if (pl->oom) {
        return NULL;
    }
    a = create_at(in, pl, z, used, nused, &knext, rule, reason);
    free(used);
    return a;
}

static void
scale_out(const plan_input_t *in, plan_t *pl, int active, int *count)
{
    const pool_config_t  *p = in->cf;
    char                (*used)[80], reason[160];
    int                   nused, knext = 0, z, want = in->capacity;

    used = used_addresses(in, pl, &nused);
    if (pl->oom) {
        return;
    }
    while (active < want) {
        if ((z = policy_place(count, in->obs->zone_up, p->nzones)) < 0) {
            break;                  /* no zone answers: nowhere to go */
        }
        snprintf(reason, sizeof(reason), "capacity %d, %d in service", want,
                 active);
        if (create_at(in, pl, z, used, nused, &knext, "scale_out", reason)
            == NULL)
        {
            break;
        }
        active++;
        count[z]++;
    }
    free(used);
}

static void
scale_in(const plan_input_t *in, plan_t *pl, int active)
{
    const observation_t   *obs = in->obs;
    const obs_instance_t  *o;
    policy_instance_t     *cand;
    int                   *map, nc, c, i, outdated, want = in->capacity;

    cand = calloc(obs->ninst + 1, sizeof(*cand));
    map = calloc(obs->ninst + 1, sizeof(*map));
    if (cand == NULL || map == NULL) {
        pl->oom = 1;
        goto done;
    }
    while (active > want + pl->surge) {
        /* the outdated ones first (an upgrade's work done by the way),
           then any */
        for (outdated = 1; outdated >= 0; outdated--) {
            for (nc = 0, i = 0; i < obs->ninst; i++) {
                o = &obs->inst[i];
                if (o->listed && obs->zone_up[o->in.zone] && plan_free(pl, i)
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
            break;                  /* the rest are in zones that are down */
        }
        i = map[c];
        if (pl->view[i].state == INST_RUNNING) {
            plan_add(pl, in, ACT_DRAIN, i, "scale_in", "capacity %d, %d in "
                     "service", want, active);
        } else {
            plan_add(pl, in, ACT_DELETE, i, "scale_in", "capacity %d, %d in "
                     "service; before registration", want, active);
        }
        if (pl->oom) {
            break;
        }
        active--;
    }
done:
    free(cand);
    free(map);
}

void
plan_capacity(const plan_input_t *in, plan_t *pl)
{
    int  count[SCALER_MAX_ZONES], active;

    active = plan_active(in, pl, count);
    if (active < in->capacity) {
        scale_out(in, pl, active, count);
    } else if (active > in->capacity + pl->surge) {
        scale_in(in, pl, active);
    }
}
