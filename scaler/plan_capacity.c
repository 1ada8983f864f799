/*
 * plan_capacity.c: the number of instances.  Below the capacity (counting
 * booting and running instances, of every zone, after what the earlier
 * steps took away), new ones are created, each in the usable zone with
 * the fewest (policy_place), at the lowest address that no instance and
 * no member uses, with the next instance number and the zone's latest
 * model.  Above it (plus the surge an earlier step keeps on purpose), one
 * at a time by scale_in_policy (policy_scale_in: balance zones, then
 * highest id, or oldest / newest) among those of zones that answer: a
 * registered one drains, an unregistered one is deleted.  plan_create()
 * is how any step makes new instances (the warm pool's too).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static int
addr_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* every address in use (instances, members and this plan's creations),
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

int
plan_create(const plan_input_t *in, plan_t *pl, int n, int *count,
    const char *rule, int warm, const char *reason)
{
    const pool_config_t  *p = in->cf;
    char                (*used)[80], addr[80];
    action_t             *a;
    int                   nused, k, knext = 0, z, made = 0;

    if (in->obs->seq < 0) {
        plan_note(pl, ERR_REDIS_DATA, rule, "seq is above %ld: no new "
                  "instances", (long) POLICY_SEQ_MAX);
        return 0;
    }
    used = used_addresses(in, pl, &nused);
    if (pl->oom) {
        return 0;
    }
    while (made < n) {
        if (pl->next_seq > POLICY_SEQ_MAX) {
            plan_note(pl, ERR_REDIS_DATA, rule, "instance numbers used up "
                      "(%ld): no new instances", (long) POLICY_SEQ_MAX);
            break;
        }
        if ((z = policy_place(count, in->obs->zone_up, p->nzones)) < 0) {
            break;                  /* no zone answers: nowhere to go */
        }
        for (k = knext;; k++) {
            if (addr_static(p, k, addr, sizeof(addr)) != 0) {
                addr[0] = '\0';
                break;
            }
            if (nused == 0
                || bsearch(addr, used, nused, sizeof(*used), addr_cmp)
                   == NULL)
            {
                break;
            }
        }
        if (addr[0] == '\0') {
            plan_note(pl, ERR_ADDRESS, rule, "no free address left");
            break;
        }
        knext = k + 1;
        if ((a = plan_add(pl, in, ACT_CREATE, -1, rule, "%s", reason))
            == NULL)
        {
            break;
        }
        a->warm = warm;
        a->zone = z;
        a->model = in->obs->latest[z];
        a->seq = pl->next_seq++;
        snprintf(a->id, sizeof(a->id), "%s-%06ld", p->name, a->seq);
        snprintf(a->address, sizeof(a->address), "%s", addr);
        made++;
        count[z]++;
    }
    free(used);
    return made;
}

static void
scale_out(const plan_input_t *in, plan_t *pl, int active, int *count)
{
    char  reason[64];

    snprintf(reason, sizeof(reason), "capacity %d, %d in service",
             in->capacity, active);
    plan_create(in, pl, in->capacity - active, count, "scale_out", 0, reason);
}

static void
scale_in(const plan_input_t *in, plan_t *pl, int active)
{
    const observation_t   *obs = in->obs;
    const obs_instance_t  *o;
    policy_instance_t     *cand;
    int                   *map, nc, c, i, want = in->capacity;

    cand = calloc(obs->ninst + 1, sizeof(*cand));
    map = calloc(obs->ninst + 1, sizeof(*map));
    if (cand == NULL || map == NULL) {
        pl->oom = 1;
        goto done;
    }
    while (active > want + pl->surge) {
        for (nc = 0, i = 0; i < obs->ninst; i++) {
            o = &obs->inst[i];
            if (o->listed && obs->zone_up[o->in.zone] && plan_free(pl, i)
                && (pl->view[i].state == INST_BOOTING
                    || pl->view[i].state == INST_RUNNING))
            {
                cand[nc].id = o->in.id;
                cand[nc].zone = o->in.zone;
                cand[nc].seq = o->in.seq;
                map[nc++] = i;
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
