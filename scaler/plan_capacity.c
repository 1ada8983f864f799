/*
 * plan_capacity.c: the number of instances.  Below the capacity (counting
 * booting and running instances, of every zone, after what the earlier
 * steps took away), new ones are created, each in the zone with the
 * fewest among those with a host that answers (policy_place), on that
 * zone's answering host with the fewest, then the most free memory
 * (policy_place_host), at the lowest address that no instance and no
 * member uses, with the next instance number and that host's latest
 * model.  Above it (plus the surge an earlier step keeps on purpose), one
 * at a time by scale_in_policy (policy_scale_in: balance zones, then
 * their hosts, then highest id, or oldest / newest) among those of hosts
 * that answer: a registered one drains, an unregistered one is deleted.
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

/* every address in use (instances, members and the plan's creations so
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
        if (pl->act[i].kind == ACT_CREATE) {
            memcpy(used[(*n)++], pl->act[i].address, sizeof(*used));
        }
    }
    qsort(used, *n, sizeof(*used), addr_cmp);
    return used;
}

int
plan_place_host(const plan_input_t *in, int z, const int *hcount)
{
    const zone_config_t  *zc = &in->cf->zones[z];
    int                   k;

    k = policy_place_host(hcount + zc->host0, in->obs->host_free + zc->host0,
                          in->obs->host_up + zc->host0, zc->nhosts);
    return k < 0 ? -1 : zc->host0 + k;
}

int
plan_scale_out(const plan_input_t *in, plan_t *pl, int n, const char *rule,
    const char *reason)
{
    const pool_config_t  *p = in->cf;
    char                (*used)[80], addr[80];
    action_t             *a;
    int                   count[SCALER_MAX_ZONES], hcount[SCALER_MAX_HOSTS];
    int                   usable[SCALER_MAX_ZONES];
    int                   nused, k, knext = 0, z, h, active, made = 0;

    if (in->obs->seq < 0) {
        plan_note(pl, ERR_REDIS_DATA, rule, "seq is above %ld: no "
                  "new instances", (long) POLICY_SEQ_MAX);
        return 0;
    }
    active = plan_active_hosts(in, pl, count, hcount);
    for (z = 0; z < p->nzones; z++) {
        usable[z] = plan_place_host(in, z, hcount) >= 0;
    }
    used = used_addresses(in, pl, &nused);
    if (pl->oom) {
        return 0;
    }
    while (made < n) {
        if (pl->next_seq > POLICY_SEQ_MAX) {
            plan_note(pl, ERR_REDIS_DATA, rule, "instance numbers "
                      "used up (%ld): no new instances",
                      (long) POLICY_SEQ_MAX);
            break;
        }
        if ((z = policy_place(count, usable, p->nzones)) < 0
            || (h = plan_place_host(in, z, hcount)) < 0)
        {
            break;                  /* no host answers: nowhere to go */
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
        a = reason ? plan_add(pl, in, ACT_CREATE, -1, rule, "%s", reason)
                   : plan_add(pl, in, ACT_CREATE, -1, rule, "capacity %d, "
                              "%d in service", in->capacity, active);
        if (a == NULL) {
            break;
        }
        a->zone = z;
        a->host = h;
        a->model = in->obs->latest[h];
        a->seq = pl->next_seq++;
        snprintf(a->id, sizeof(a->id), "%s-%06ld", p->name, a->seq);
        snprintf(a->address, sizeof(a->address), "%s", addr);
        active++;
        made++;
        count[z]++;
        hcount[h]++;
    }
    free(used);
    return made;
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
            if (plan_reachable(obs, i) && plan_free(pl, i)
                && !pl->view[i].lost
                && (pl->view[i].state == INST_BOOTING
                    || pl->view[i].state == INST_RUNNING))
            {
                cand[nc].id = o->in.id;
                cand[nc].zone = o->in.zone;
                cand[nc].host = o->in.host;
                cand[nc].seq = o->in.seq;
                map[nc++] = i;
            }
        }
        if ((c = policy_scale_in(cand, nc, in->cf->nzones,
                                 in->cf->scale_in)) < 0)
        {
            break;                  /* the rest are on hosts that are down */
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
    int  active;

    active = plan_active(in, pl, NULL);
    if (active < in->capacity) {
        plan_scale_out(in, pl, in->capacity - active, "scale_out", NULL);
    } else if (active > in->capacity + pl->surge) {
        scale_in(in, pl, active);
    }
}
