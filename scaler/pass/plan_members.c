/*
 * plan_members.c: what the member hash should hold.  A member without a
 * domain leaves it (plan_strays, early: a member of a zone that does not
 * answer stays, its domain is not lost); a ready instance that stays
 * enters it, and a record that no longer says what its instance is (its
 * address, zone, host in a zone of several, its template's weight, or
 * its own model's version) is written again
 * (plan_register, last: nothing scaled in is registered first).
 */

#include <stdio.h>
#include <string.h>

#include "plan.h"

void
plan_strays(const plan_input_t *in, plan_t *pl)
{
    const observation_t *obs = in->obs;
    const obs_member_t  *m;
    action_t            *a;
    int                  k;

    for (k = 0; k < obs->nmembers; k++) {
        m = &obs->members[k];
        if (m->inst >= 0) {
            continue;
        }
        if (m->valid
            && (m->host >= 0 ? !obs->host_up[m->host]
                             : m->zone >= 0 && !obs->zone_up[m->zone]))
        {
            continue; /* its host (or a host of its zone,
                         when it names none) did not answer */
        }
        a = plan_add(pl, in, ACT_DEREGISTER, -1, "stray", "no domain");
        a->member = k;
        a->zone = m->zone;
        memcpy(a->id, m->id, sizeof(a->id));
    }
}

/* 1 when m says something else than its instance o would be registered
   with (o's address only when known: lease/agent learn it late) */
static int
differs(const plan_input_t *in, const obs_instance_t *o, const obs_member_t *m,
        char *what, size_t size)
{
    const char *zone = in->cf->zones[o->in.zone].name;

    if (o->in.address[0] && strncmp(o->in.address, "pending:", 8) != 0
        && strcmp(m->address, o->in.address) != 0)
    {
        snprintf(what, size, "address %s, the instance's is %s", m->address,
                 o->in.address);
        return 1;
    }
    if (m->zone < 0 || strcmp(in->cf->zones[m->zone].name, zone) != 0) {
        snprintf(what, size, "not zone %s", zone);
        return 1;
    }
    /* host= in a zone of several hosts, none in a zone of one */
    if (in->cf->zones[o->in.zone].nhosts > 1 ? m->host != o->in.host
                                             : m->host != -1)
    {
        snprintf(what, size, "not host %s",
                 in->cf->zones[o->in.zone].nhosts > 1
                     ? in->cf->hosts[o->in.host].name
                     : "none");
        return 1;
    }
    if (o->in.tmpl >= 0 && o->in.tmpl < in->cf->ntemplates
        && m->weight != (unsigned) in->cf->templates[o->in.tmpl].weight)
    {
        snprintf(what, size, "weight %u, its template's is %d", m->weight,
                 in->cf->templates[o->in.tmpl].weight);
        return 1;
    }
    if (strcmp(m->version, o->in.model.version) != 0) {
        snprintf(what, size, "version %s, the instance's is %s",
                 m->version[0] ? m->version : "none",
                 o->in.model.version[0] ? o->in.model.version : "none");
        return 1;
    }
    return 0;
}

void
plan_register(const plan_input_t *in, plan_t *pl)
{
    const observation_t  *obs = in->obs;
    const obs_instance_t *o;
    char                  what[256];
    int                   i;

    for (i = 0; i < obs->ninst; i++) {
        o = &obs->inst[i];
        if (!plan_reachable(obs, i) || !plan_free(pl, i)) {
            continue;
        }
        switch (pl->view[i].state) {
        case INST_BOOTING:
            if (o->ready == READY_YES) {
                plan_add(pl, in, ACT_REGISTER, i, "ready", "%s",
                         o->member >= 0 ? "ready; its record did not parse"
                                        : "ready");
            }
            break;
        case INST_RUNNING:
        case INST_DRAINING:
            if (differs(in, o, &obs->members[o->member], what, sizeof(what))) {
                plan_add(pl, in,
                         pl->view[i].state == INST_RUNNING ? ACT_REGISTER
                                                           : ACT_DRAIN,
                         i, "record", "its record says %s", what);
            }
            break;
        default:
            break;
        }
    }
}
