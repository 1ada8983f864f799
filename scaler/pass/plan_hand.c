/*
 * plan_hand.c: instances asked for by hand (docs/scaler.md, "Instances
 * added by hand").  POST /v1/pools/{pool}/instances makes one more
 * instance outside the capacity: created here with origin manual (its
 * template, its zone or the one with the fewest instances, the lowest
 * free address, the next number), so the capacity step neither counts
 * nor scales it in.  POST .../instances/adopt takes an operator's
 * domain in: adopted here (its name is its id), unless an instance or a
 * member of the pool has that id, its zone does not answer, or its
 * address is in use; what cannot be done is noted (logged), not retried.
 */

#include <stdio.h>
#include <string.h>

#include "plan.h"

static int
member_has(const observation_t *obs, const char *id)
{
    int k;

    for (k = 0; k < obs->nmembers; k++) {
        if (strcmp(obs->members[k].id, id) == 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when addr is some instance's, member's or planned creation's */
static int
address_used(const plan_input_t *in, const plan_t *pl, const char *addr)
{
    const observation_t *obs = in->obs;
    int                  i;

    for (i = 0; i < obs->ninst; i++) {
        if (strcmp(obs->inst[i].in.address, addr) == 0) {
            return 1;
        }
    }
    for (i = 0; i < obs->nmembers; i++) {
        if (obs->members[i].valid && strcmp(obs->members[i].address, addr) == 0)
        {
            return 1;
        }
    }
    for (i = 0; i < pl->nact; i++) {
        if ((pl->act[i].kind == ACT_CREATE || pl->act[i].kind == ACT_ADOPT)
            && strcmp(pl->act[i].address, addr) == 0)
        {
            return 1;
        }
    }
    return 0;
}

static void
manual(const plan_input_t *in, plan_t *pl, const hand_req_t *r)
{
    const pool_config_t *p = in->cf;
    action_t            *a;
    char                 addr[80];
    int                  count[SCALER_MAX_ZONES], hcount[SCALER_MAX_HOSTS];
    int                  usable[SCALER_MAX_ZONES], z = r->zone, h = -1;

    if (in->obs->seq < 0 || pl->next_seq > POLICY_SEQ_MAX) {
        plan_note(pl, ERR_REDIS_DATA, "api",
                  "instance by hand: instance "
                  "numbers used up");
        return;
    }
    plan_active_hosts(in, pl, count, hcount);
    if (z < 0) {
        for (z = 0; z < p->nzones; z++) {
            usable[z] = plan_place_host(in, z, hcount) >= 0;
        }
        z = policy_place(count, usable, p->nzones);
    }
    if (z >= 0 && z < p->nzones) {
        h = plan_place_host(in, z, hcount);
    }
    if (h < 0) {
        plan_note(pl, ERR_CREATE, "api",
                  "instance by hand: zone %s does "
                  "not answer",
                  z >= 0 && z < p->nzones ? p->zones[z].name : "(none)");
        return;
    }
    if (plan_free_address(in, pl, addr, sizeof(addr)) != 0) {
        plan_note(pl, ERR_ADDRESS, "api",
                  "instance by hand: no free "
                  "address left");
        return;
    }
    a = plan_add(pl, in, ACT_CREATE, -1, "api", "by hand: template %s%s",
                 p->templates[r->tmpl].name[0] ? p->templates[r->tmpl].name
                                               : "(the pool's)",
                 r->zone < 0 ? ", zone by placement" : "");
    a->zone = z;
    a->host = h;
    a->tmpl = r->tmpl;
    a->origin = ORIGIN_MANUAL;
    a->model = in->obs->latest[r->tmpl][h];
    a->seq = pl->next_seq++;
    snprintf(a->id, sizeof(a->id), "%s-%06ld", p->name, a->seq);
    snprintf(a->address, sizeof(a->address), "%s", addr);
}

static void
adopt(const plan_input_t *in, plan_t *pl, const hand_req_t *r)
{
    const pool_config_t *p = in->cf;
    action_t            *a;
    char                 addr[80];

    if (obs_instance(in->obs, r->domain) != NULL
        || member_has(in->obs, r->domain)) {
        plan_note(pl, ERR_KIND_COUNT, "api",
                  "adopt %s: the pool has an "
                  "instance or member of that id",
                  r->domain);
        return;
    }
    if (plan_place_host(in, r->zone, NULL) < 0) {
        plan_note(pl, ERR_LIBVIRT, "api",
                  "adopt %s: zone %s does not "
                  "answer",
                  r->domain, p->zones[r->zone].name);
        return;
    }
    if (p->addr_mode == ADDR_STATIC) {
        snprintf(addr, sizeof(addr), "%s", r->address);
        if (address_used(in, pl, addr)) {
            plan_note(pl, ERR_ADDRESS, "api",
                      "adopt %s: address %s is in "
                      "use",
                      r->domain, addr);
            return;
        }
    } else {
        addr[0] = '\0'; /* the guest's, learnt by the listing */
    }
    a = plan_add(pl, in, ACT_ADOPT, -1, "api", "by hand: template %s",
                 p->templates[r->tmpl].name[0] ? p->templates[r->tmpl].name
                                               : "(the pool's)");
    snprintf(a->id, sizeof(a->id), "%s", r->domain);
    a->zone = r->zone;
    a->tmpl = r->tmpl;
    a->origin = ORIGIN_ADOPTED;
    /* not made from the template: its name and version, no digests (act
       asks every host of the zone, the tag names the one that has it) */
    a->model = in->obs->latest[r->tmpl][p->zones[r->zone].host0];
    a->model.digest[0] = a->model.image[0] = '\0';
    snprintf(a->address, sizeof(a->address), "%s", addr);
}

void
plan_hand(const plan_input_t *in, plan_t *pl)
{
    const hand_req_t *r;
    int               i;

    for (i = 0; i < in->obs->nhand; i++) {
        r = &in->obs->hand[i];
        if (r->tmpl < 0 || r->tmpl >= in->cf->ntemplates) {
            continue; /* a reload took its template away */
        }
        if (r->origin == ORIGIN_MANUAL) {
            manual(in, pl, r);
        } else if (r->zone >= 0 && r->zone < in->cf->nzones) {
            adopt(in, pl, r);
        }
    }
}
