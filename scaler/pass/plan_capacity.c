/*
 * plan_capacity.c: the number of instances, in capacity units (an
 * instance provides its template's weight: 1 in a pool with one
 * template).  Below the capacity (counting booting and running
 * instances made for it, of every zone, after what the earlier steps
 * took away; instances added by hand are outside it), new ones are
 * created: from the template the mix asks for (plan_mix.c), each in the
 * zone with the fewest of that template (then the fewest of all:
 * policy_place) among those with a host that answers, on that zone's
 * answering host with the fewest of the pool's instances, then the most
 * free memory (policy_place_host), at the lowest address that no instance
 * and no member uses, with the next instance number and the model new
 * instances of its template get on that host (pl->target: the latest, or
 * the previous one while an upgrade rolls back); the first ones replace
 * what the repair step replaced this pass (rule repair).  Nothing is
 * created while the pool's creation backs off after failures
 * (repair_state_t.retry).  Above it (plus the surge an earlier step keeps
 * on purpose), one at a time from the template furthest above its
 * target, by scale_in_policy (policy_scale_in: balance zones, then their
 * hosts, then highest id, or oldest / newest) among that template's
 * instances on hosts that answer and not protected (from scale-in or
 * from everything), outdated ones (not on pl->target) first, while the
 * units left still meet the capacity: a registered one drains, an
 * unregistered one is deleted.  An instance of a template the config no
 * longer has goes first.  Instances counted as lost (their host failed
 * over: plan_zones.c) are not counted.  When only protected ones are
 * left the pool stays above its capacity, and the plan says by how many
 * (pl->protected_above).  Warm instances (the warm pool's) are outside
 * the capacity; plan_create_warm() makes them as scale-out does.
 */

#include <limits.h>
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

/* every address in use (instances, members, the plan's creations so
   far, the creations of earlier passes in flight), sorted; NULL when
   none */
static char (*used_addresses(const plan_input_t *in, plan_t *pl, int *n))[80]
{
    const observation_t *obs = in->obs;
    char(*used)[80];
    int i;

    *n = 0;
    if (obs->ninst + obs->nmembers + pl->creates + obs->nbusy == 0) {
        return NULL;
    }
    used = xmalloc((obs->ninst + obs->nmembers + pl->creates + obs->nbusy)
                   * sizeof(*used));
    for (i = 0; i < obs->nbusy; i++) {
        if (obs->busy[i].create) { /* in flight: maybe not listed yet */
            memcpy(used[(*n)++], obs->busy[i].address, sizeof(*used));
        }
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
            || bsearch(addr, used, nused, sizeof(*used), addr_cmp) == NULL) {
            return k;
        }
    }
}

int
plan_free_address(const plan_input_t *in, plan_t *pl, char *buf, size_t size)
{
    char(*used)[80];
    int nused, k;

    used = used_addresses(in, pl, &nused);
    k = next_free(in->cf, used, nused, 0, buf, size);
    free(used);
    return k < 0 ? -1 : 0;
}

/* the capacity's instances by template (the last index: of a template
   the config no longer has) and zone, and their units */
typedef struct {
    mix_template_t t[SCALER_MAX_TEMPLATES + 1];
    int            n; /* the pool's templates */
    int            count[SCALER_MAX_TEMPLATES + 1];
    int            zone[SCALER_MAX_TEMPLATES + 1][SCALER_MAX_ZONES];
    int            all[SCALER_MAX_ZONES];
    int            host[SCALER_MAX_HOSTS]; /* of all templates */
    int            target[SCALER_MAX_TEMPLATES + 1];
    int            units;
} mix_state_t;

/* the weight of obs->inst[i]: its template's; for one the config no
   longer has, its record's (1 unregistered) */
static int
inst_weight(const plan_input_t *in, int i)
{
    const obs_instance_t *o = &in->obs->inst[i];

    if (o->in.tmpl >= 0 && o->in.tmpl < in->cf->ntemplates) {
        return in->cf->templates[o->in.tmpl].weight;
    }
    return o->member >= 0 && in->obs->members[o->member].valid
                   && in->obs->members[o->member].weight > 0
               ? (int) in->obs->members[o->member].weight
               : 1;
}

static int
inst_tmpl(const plan_input_t *in, int i)
{
    int k = in->obs->inst[i].in.tmpl;

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
                                 ? (int) ((long long) in->capacity
                                          * p->templates[k].max_percent / 100)
                                 : INT_MAX;
    }
    ms->t[ms->n].weight = 1; /* the orphans: never made */
    for (i = 0; i < in->obs->ninst; i++) {
        o = &in->obs->inst[i];
        if (o->in.origin != ORIGIN_SCALED || pl->view[i].lost
            || (pl->view[i].state != INST_BOOTING
                && pl->view[i].state != INST_RUNNING
                && pl->view[i].state != INST_REPAIRING))
        {
            continue; /* by hand, lost, or not in
                         service */
        }
        k = inst_tmpl(in, i);
        z = o->in.zone;
        ms->count[k]++;
        ms->units += inst_weight(in, i);
        if (z >= 0 && z < SCALER_MAX_ZONES) {
            ms->zone[k][z]++;
            ms->all[z]++;
        }
        if (o->in.host >= 0 && o->in.host < SCALER_MAX_HOSTS) {
            ms->host[o->in.host]++;
        }
    }
    for (i = 0; i < pl->nact; i++) {
        if (pl->act[i].kind == ACT_CREATE && pl->act[i].origin == ORIGIN_SCALED
            && !pl->act[i].warm)
        {
            k = pl->act[i].tmpl;
            ms->count[k]++;
            ms->units += ms->t[k].weight;
            ms->zone[k][pl->act[i].zone]++;
            ms->all[pl->act[i].zone]++;
            if (pl->act[i].host >= 0) {
                ms->host[pl->act[i].host]++;
            }
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
        snprintf(buf, size,
                 "capacity %d, %d in service; template %s "
                 "weight %d%s",
                 in->capacity, ms->units,
                 k < ms->n ? in->cf->templates[k].name : "(gone)",
                 ms->t[k].weight, more);
    } else {
        snprintf(buf, size, "capacity %d, %d in service%s", in->capacity,
                 ms->units, more);
    }
}

int
plan_place_host(const plan_input_t *in, int z, const int *hcount)
{
    static const int     none[SCALER_MAX_HOSTS];
    const zone_config_t *zc = &in->cf->zones[z];
    int                  k;

    k = policy_place_host((hcount ? hcount : none) + zc->host0,
                          in->obs->host_free + zc->host0,
                          in->obs->host_up + zc->host0, zc->nhosts);
    return k < 0 ? -1 : zc->host0 + k;
}

/* the creations of a pass: the addresses in use, where the next is */
typedef struct {
    char (*used)[80];
    int nused, knext;
} addr_cursor_t;

/* a creation of template t in zone z on host h, at the next free address
   of ac, with the next number: for the capacity, or (warm) for the warm
   pool; NULL (noted) when no address is left */
static action_t *
create(const plan_input_t *in, plan_t *pl, addr_cursor_t *ac, int t, int z,
       int h, const char *rule, const char *why, int warm)
{
    char      addr[80];
    action_t *a;
    int       k;

    if ((k = next_free(in->cf, ac->used, ac->nused, ac->knext, addr,
                       sizeof(addr)))
        < 0)
    {
        plan_note(pl, ERR_ADDRESS, rule, "no free address left");
        return NULL;
    }
    ac->knext = k + 1;
    a = plan_add(pl, in, ACT_CREATE, -1, rule, "%s", why);
    a->warm = warm;
    a->zone = z;
    a->host = h;
    a->tmpl = t;
    a->origin = ORIGIN_SCALED;
    a->model = pl->target[t][h];
    a->seq = pl->next_seq++;
    snprintf(a->id, sizeof(a->id), "%s-%06ld", in->cf->name, a->seq);
    snprintf(a->address, sizeof(a->address), "%s", addr);
    return a;
}

/* one new instance of template t made for the capacity: its zone (zone,
   or with zone -1 the fewest of t, then of all, among zones with a host
   that answers), host, address, number and model; 0, or -1 (noted) when
   none can be */
static int
create_one(const plan_input_t *in, plan_t *pl, mix_state_t *ms,
           addr_cursor_t *ac, int t, int zone, const char *rule,
           const char *why)
{
    const pool_config_t *p = in->cf;
    int                  z, h, zc[SCALER_MAX_ZONES];
    int                  usable[SCALER_MAX_ZONES];

    if (pl->next_seq > POLICY_SEQ_MAX) {
        plan_note(pl, ERR_REDIS_DATA, rule,
                  "instance numbers used up "
                  "(%ld): no new instances",
                  (long) POLICY_SEQ_MAX);
        return -1;
    }
    /* the fewest of this template, then the fewest of all */
    for (z = 0; z < p->nzones; z++) {
        zc[z] = ms->zone[t][z] * (SCALER_CAPACITY_MAX + 1) + ms->all[z];
        usable[z] = plan_place_host(in, z, ms->host) >= 0;
    }
    if ((z = zone >= 0 ? zone : policy_place(zc, usable, p->nzones)) < 0
        || (h = plan_place_host(in, z, ms->host)) < 0)
    {
        return -1; /* no host answers: nowhere to go */
    }
    if (create(in, pl, ac, t, z, h, rule, why, 0) == NULL) {
        return -1;
    }
    ms->units += ms->t[t].weight;
    ms->count[t]++;
    ms->zone[t][z]++;
    ms->all[z]++;
    ms->host[h]++;
    return 0;
}

/* up to n instances (n < 0: until the units meet the capacity), each of
   template tmpl (-1: the one the mix asks for); the number made */
static int
scale_out(const plan_input_t *in, plan_t *pl, mix_state_t *ms, int n, int tmpl,
          const char *rule, const char *why)
{
    const pool_config_t *p = in->cf;
    addr_cursor_t        ac = { NULL, 0, 0 };
    char                 buf[160];
    int                  t, made = 0, want = in->capacity, rep = 0;

    if (in->obs->seq < 0) {
        plan_note(pl, ERR_REDIS_DATA, rule,
                  "seq is above %ld: no "
                  "new instances",
                  (long) POLICY_SEQ_MAX);
        return 0;
    }
    if (pl->repair.retry > in->now) {
        return 0; /* backing off after failures */
    }
    ac.used = used_addresses(in, pl, &ac.nused);
    while (n < 0 ? ms->units < want : made < n) {
        t = tmpl >= 0
                ? tmpl
                : mix_pick_out(ms->t, ms->n, p->mixed, ms->target, ms->count,
                               want - ms->units > 0 ? want - ms->units : 1);
        if (t < 0) {
            plan_note(pl, ERR_KIND_COUNT, rule,
                      "capacity %d: every "
                      "template is at its max_percent",
                      want);
            break;
        }
        if (why == NULL) {
            reason(in, ms, t, buf, sizeof(buf), "");
        }
        if (n < 0 && rep < pl->nreplacing) {
            /* the repair step's replacements first */
            snprintf(buf, sizeof(buf), "replacing %s", pl->replacing[rep]);
            if (create_one(in, pl, ms, &ac, t, -1, "repair", buf) != 0) {
                break;
            }
            memcpy(pl->act[pl->nact - 1].repair_of, pl->replacing[rep++],
                   sizeof(pl->act[0].repair_of));
        } else if (create_one(in, pl, ms, &ac, t, -1, rule, why ? why : buf)
                   != 0) {
            break;
        }
        made++;
    }
    free(ac.used);
    return made;
}

int
plan_scale_out(const plan_input_t *in, plan_t *pl, int n, int tmpl,
               const char *rule, const char *why)
{
    mix_state_t ms;

    mix_state(in, pl, &ms);
    return scale_out(in, pl, &ms, n, tmpl, rule, why);
}

action_t *
plan_create(const plan_input_t *in, plan_t *pl, int tmpl, int z,
            const char *rule, const char *fmt, ...)
{
    mix_state_t   ms;
    addr_cursor_t ac = { NULL, 0, 0 };
    char          why[160];
    va_list       ap;
    int           rc;

    if (in->obs->seq < 0) {
        plan_note(pl, ERR_REDIS_DATA, rule,
                  "seq is above %ld: no "
                  "new instances",
                  (long) POLICY_SEQ_MAX);
        return NULL;
    }
    if (pl->repair.retry > in->now) {
        return NULL; /* backing off after failures */
    }
    ac.used = used_addresses(in, pl, &ac.nused);
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    mix_state(in, pl, &ms);
    rc = create_one(in, pl, &ms, &ac, tmpl, z, rule, why);
    free(ac.used);
    return rc == 0 ? &pl->act[pl->nact - 1] : NULL;
}

int
plan_units(const plan_input_t *in, const plan_t *pl, int *per_zone,
           int *per_host)
{
    mix_state_t ms;

    mix_state(in, pl, &ms);
    if (per_zone) {
        memcpy(per_zone, ms.all, sizeof(ms.all));
    }
    if (per_host) {
        memcpy(per_host, ms.host, sizeof(ms.host));
    }
    return ms.units;
}

static void
scale_in(const plan_input_t *in, plan_t *pl, mix_state_t *ms)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    policy_instance_t    *cand;
    char                  why[160];
    int                  *map, nc, c, i, k, t, w, held, outdated;
    int                   removable[SCALER_MAX_TEMPLATES + 1];
    int                   want = in->capacity + pl->surge;

    cand = xcalloc(obs->ninst + 1, sizeof(*cand));
    map = xcalloc(obs->ninst + 1, sizeof(*map));
    while (ms->units > want) {
        /* what each template could give: listed in a zone that answers,
           not claimed, booting or running, made for the capacity */
        memset(removable, 0, sizeof(removable));
        for (i = 0, held = 0; i < obs->ninst; i++) {
            o = &obs->inst[i];
            k = plan_reachable(obs, i) && plan_free(pl, i) && !pl->view[i].lost
                && o->in.origin == ORIGIN_SCALED
                && (pl->view[i].state == INST_BOOTING
                    || pl->view[i].state == INST_RUNNING);
            /* protected: never taken, but said */
            held += k && plan_protected(in, i, PROTECT_SCALE_IN);
            removable[inst_tmpl(in, i)] +=
                k && !plan_protected(in, i, PROTECT_SCALE_IN);
        }
        if (removable[ms->n] > 0) {
            t = ms->n; /* of a template the config lost */
        } else if ((t = mix_pick_in(ms->t, ms->n, ms->target, ms->count,
                                    removable, ms->units - want))
                   < 0)
        {
            /* the rest are on hosts that are down, protected, or
               removing one undershoots */
            for (k = 0, c = 0; k <= ms->n; k++) {
                c += removable[k];
            }
            pl->protected_above = held && c == 0 ? ms->units - want : 0;
            break;
        }
        /* the outdated ones first (an upgrade's work done by the way),
           then any */
        for (outdated = 1; outdated >= 0; outdated--) {
            for (nc = 0, i = 0; i < obs->ninst; i++) {
                o = &obs->inst[i];
                if (plan_reachable(obs, i) && plan_free(pl, i)
                    && !pl->view[i].lost && o->in.origin == ORIGIN_SCALED
                    && inst_tmpl(in, i) == t
                    && !plan_protected(in, i, PROTECT_SCALE_IN)
                    && (pl->view[i].state == INST_BOOTING
                        || pl->view[i].state == INST_RUNNING)
                    && (!outdated || !plan_on_target(in, pl, i)))
                {
                    cand[nc].id = o->in.id;
                    cand[nc].zone = o->in.zone;
                    cand[nc].host = o->in.host;
                    cand[nc].seq = o->in.seq;
                    map[nc++] = i;
                }
            }
            if (nc > 0) {
                break;
            }
        }
        if ((c = policy_scale_in(cand, nc, in->cf->nzones, in->cf->scale_in))
            < 0) {
            break;
        }
        i = map[c];
        w = inst_weight(in, i);
        reason(in, ms, t, why, sizeof(why),
               pl->view[i].state == INST_RUNNING ? ""
                                                 : "; before registration");
        plan_add(pl, in,
                 pl->view[i].state == INST_RUNNING ? ACT_DRAIN : ACT_DELETE, i,
                 "scale_in", "%s", why);
        ms->units -= w;
        ms->count[t]--;
        k = obs->inst[i].in.zone;
        ms->zone[t][k]--;
        ms->all[k]--;
        if (obs->inst[i].in.host >= 0) {
            ms->host[obs->inst[i].in.host]--;
        }
    }
    free(cand);
    free(map);
}

int
plan_weight(const plan_input_t *in, int i)
{
    return inst_weight(in, i);
}

/* the host of zone z a warm creation goes to: as plan_place_host, among
   those that answer with room for another background call (room[],
   plan_bg_room); -1 when none */
static int
warm_host(const plan_input_t *in, int z, const int *hcount, const int *room)
{
    const zone_config_t *zc = &in->cf->zones[z];
    int                  usable[SCALER_MAX_HOSTS], k;

    for (k = 0; k < zc->nhosts; k++) {
        usable[k] = in->obs->host_up[zc->host0 + k] && room[zc->host0 + k] > 0;
    }
    k = policy_place_host(hcount + zc->host0, in->obs->host_free + zc->host0,
                          usable, zc->nhosts);
    return k < 0 ? -1 : zc->host0 + k;
}

int
plan_create_warm(const plan_input_t *in, plan_t *pl, int n, int *zcount,
                 int *hcount, const char *why)
{
    const pool_config_t *p = in->cf;
    addr_cursor_t        ac = { NULL, 0, 0 };
    mix_state_t          ms;
    int                  z, h, t, made = 0, usable[SCALER_MAX_ZONES];
    int                  room[SCALER_MAX_HOSTS];

    if (in->obs->seq < 0) {
        return 0; /* noted by the capacity step */
    }
    mix_state(in, pl, &ms);
    ac.used = used_addresses(in, pl, &ac.nused);
    /* a creation runs in the background (act_bg.c): none planned on a
       host whose background calls are all taken, which act would refuse
       with its number reserved (spent) */
    plan_bg_room(in, pl, room);
    for (z = 0; z < p->nzones; z++) {
        usable[z] = warm_host(in, z, hcount, room) >= 0;
    }
    while (made < n && pl->next_seq <= POLICY_SEQ_MAX) {
        /* the template the mix would add next; the zone, then its host,
           with the fewest in service and warm */
        if ((t = mix_next(ms.t, ms.n, p->mixed, ms.count, INT_MAX / 2)) < 0
            || (z = policy_place(zcount, usable, p->nzones)) < 0
            || (h = warm_host(in, z, hcount, room)) < 0
            || create(in, pl, &ac, t, z, h, "warm", why, 1) == NULL)
        {
            break;
        }
        ms.count[t]++;
        zcount[z]++;
        hcount[h]++;
        room[h]--;
        usable[z] = warm_host(in, z, hcount, room) >= 0;
        made++;
    }
    free(ac.used);
    return made;
}

void
plan_capacity(const plan_input_t *in, plan_t *pl)
{
    mix_state_t ms;

    mix_state(in, pl, &ms);
    if (ms.units < in->capacity) {
        scale_out(in, pl, &ms, -1, -1, "scale_out", NULL);
    } else if (ms.units > in->capacity + pl->surge) {
        scale_in(in, pl, &ms);
    }
}
