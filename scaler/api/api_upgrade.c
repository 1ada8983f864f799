/*
 * api_upgrade.c: the upgrade through the API (docs/upgrades.md).
 *   GET  /v1/pools/{pool}/upgrade           the record as the last pass
 *                                           left it, with live counts
 *   POST /v1/pools/{pool}/upgrade           start (or resume) one
 *   POST /v1/pools/{pool}/upgrade/cancel    nothing more is replaced
 *   POST /v1/pools/{pool}/upgrade/rollback  back to the previous model
 * A POST writes the record (PREFIX{POOL}:upgrade) from the loop,
 * compare-and-set on the generation the last pass saw (registry_async.c),
 * and answers when Redis did: 200 and the record, 409 when the request
 * does not fit the upgrade's state or the record changed meanwhile, 503
 * when Redis did not answer.  The passes carry it out (a pass starts at
 * once).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include <jansson.h>

#include "scaler.h"

typedef struct up_wait {
    struct evhttp_request *req; /* NULL once api_stop() freed it */
    scaler_t              *s;
    char                   pool[128];
    upgrade_t              rec; /* what is written */
    long long              result;
    struct up_wait        *prev, *next;
} up_wait_t;

static up_wait_t *waiting;

int
pool_outdated(const pool_state_t *ps)
{
    int i, n = 0;

    for (i = 0; i < ps->ninst; i++) {
        n += (ps->inst[i].state == INST_BOOTING
              || ps->inst[i].state == INST_RUNNING)
             && !ps->inst[i].latest;
    }
    return n;
}

/* "VERSION:DIGEST" as {"version","digest"}; null when none */
static json_t *
model_json(const char *m)
{
    size_t v = strcspn(m, ":");

    if (m[0] == '\0') {
        return json_null();
    }
    return json_pack("{s:s%,s:s}", "version", m, v, "digest",
                     m[v] == ':' ? m + v + 1 : "");
}

static json_t *
ms_json(uint64_t ms)
{
    return ms ? json_integer((json_int_t) ms) : json_null();
}

json_t *
api_upgrade_json(const pool_state_t *ps)
{
    static const char *const modes[] = { "manual", "automatic", "rolling" };
    static const char *const why[] = { NULL, "breach", "api" };
    const upgrade_config_t  *uc = &ps->cf->upgrade;
    const upgrade_t         *u = &ps->upgrade;
    json_t                  *j, *ids;
    int                      i, on = 0;

    ids = json_array();
    for (i = 0; i < u->nids; i++) {
        json_array_append_new(ids, json_string(u->ids[i]));
    }
    for (i = 0; i < ps->ninst; i++) {
        on += (ps->inst[i].state == INST_BOOTING
               || ps->inst[i].state == INST_RUNNING)
              && ps->inst[i].latest;
    }
    j = json_pack(
        "{s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:I,s:I,s:I,s:I,s:i,s:i,"
        "s:o,s:o,s:o,s:s,s:o,s:o,s:b,s:s,s:{s:s,s:s},s:b}",
        "pool", ps->cf->name, "state", upgrade_state_name(u->state), "mode",
        u->state == UPGRADE_NONE ? modes[uc->mode]
        : u->automatic           ? "automatic"
                                 : "rolling",
        "from", model_json(u->from), "to", model_json(u->to), "from_image",
        u->from_image, "to_image", u->to_image, "batch", (json_int_t) u->batch,
        "batches", (json_int_t) u->batches, "upgraded",
        (json_int_t) u->upgraded, "failed", (json_int_t) u->failed, "on_model",
        on, "left", pool_outdated(ps), "started", ms_json(u->started),
        "updated", ms_json(u->updated), "batch_started",
        ms_json(u->batch_started), "zone", u->zone, "instances", ids,
        "rollback",
        why[u->rollback] ? json_string(why[u->rollback]) : json_null(),
        "rolled_back",
        u->rollback != UPGRADE_FORWARD
            && (u->state == UPGRADE_FAILED || u->state == UPGRADE_CANCELLED),
        "error", u->error, "model", "version",
        ps->model.version[0] ? ps->model.version : ps->cf->templates[0].version,
        "digest", ps->model.version[0] ? ps->model.digest : ps->digest[0],
        "previous_known", ps->previous_ok);
    json_object_set_new(
        j, "policy",
        json_pack("{s:s,s:i,s:i,s:i,s:I,s:b,"
                  "s:b,s:b,s:b,s:b}",
                  "mode", modes[uc->mode], "max_batch_percent",
                  uc->max_batch_percent, "max_unhealthy_percent",
                  uc->max_unhealthy_percent, "max_unhealthy_upgraded_percent",
                  uc->max_unhealthy_upgraded_percent, "pause_ms",
                  (json_int_t) uc->pause_ms, "surge", uc->surge,
                  "prioritize_unhealthy", uc->prioritize_unhealthy,
                  "cross_zone", uc->cross_zone, "rollback", uc->rollback,
                  "image", uc->image));
    return j;
}

static void
unlink_wait(up_wait_t *w)
{
    if (w->prev) {
        w->prev->next = w->next;
    } else {
        waiting = w->next;
    }
    if (w->next) {
        w->next->prev = w->prev;
    }
}

/* the record written (ok, result > 0), refused (result 0) or not */
static void
written(int ok, void *arg)
{
    up_wait_t    *w = arg;
    pool_state_t *ps;

    unlink_wait(w);
    reconcile_lock(w->s);
    ps = reconcile_pool(w->s, w->pool);
    if (ok && w->result > 0 && ps != NULL) {
        w->rec.gen = (uint64_t) w->result;
        slog(w->pool, NULL, "upgrade %s by API request%s%s",
             upgrade_state_name(w->rec.state), w->rec.error[0] ? ": " : "",
             w->rec.error);
        if (upgrade_copy(&ps->upgrade, &w->rec) != 0) {
            upgrade_free(&ps->upgrade);
        }
        reconcile_kick(w->s);
    }
    if (w->req == NULL) {
        /* its connection went with api_stop() */
    } else if (!ok) {
        api_reply_error(w->req, 503, "redis unreachable");
    } else if (w->result <= 0) {
        api_reply_error(w->req, 409,
                        "the upgrade changed meanwhile: ask "
                        "again");
    } else if (ps == NULL) {
        api_reply_error(w->req, 404, "no pool \"%s\"", w->pool);
    } else {
        api_reply_json(w->req, 200, api_upgrade_json(ps));
    }
    reconcile_unlock(w->s);
    upgrade_free(&w->rec);
    free(w);
}

/* writes rec as ps's record, compare-and-set on the gen last seen (any,
   when the last pass refused the record: the API's is the way out) */
static void
write_record(struct evhttp_request *req, scaler_t *s, pool_state_t *ps,
             upgrade_t *rec)
{
    up_wait_t *w = xcalloc(1, sizeof(*w));
    char       expect[24];

    w->req = req;
    w->s = s;
    snprintf(w->pool, sizeof(w->pool), "%s", ps->cf->name);
    w->rec = *rec;
    w->next = waiting;
    if (waiting) {
        waiting->prev = w;
    }
    waiting = w;
    snprintf(expect, sizeof(expect), "%llu",
             (unsigned long long) ps->upgrade.gen);
    registry_async_upgrade_write(s->areg, w->pool, &w->rec,
                                 ps->upgrade_lost ? "*" : expect, &w->result,
                                 written, w);
}

void
api_upgrade(struct evhttp_request *req, scaler_t *s, pool_state_t *ps,
            const char *what)
{
    const upgrade_t *u = &ps->upgrade;
    upgrade_t        rec;
    char             v[SCALESET_NAME_MAX + 1];
    int              post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;

    if (strcmp(what, "") == 0 && !post) {
        if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
            api_reply_error(req, 405, "method not allowed");
            return;
        }
        api_reply_json(req, 200, api_upgrade_json(ps));
        return;
    }
    if (!post) {
        api_reply_error(req, 405, "method not allowed");
        return;
    }
    if (strcmp(what, "") != 0 && strcmp(what, "/cancel") != 0
        && strcmp(what, "/rollback") != 0)
    {
        api_reply_error(req, 404, "no such path");
        return;
    }
    if (!ps->redis_ok) {
        api_reply_error(req, 503, "redis unreachable");
        return;
    }
    snprintf(v, sizeof(v), "%.*s", (int) strcspn(u->from, ":"), u->from);
    memset(&rec, 0, sizeof(rec));
    if (upgrade_copy(&rec, u) != 0) {
        api_reply_error(req, 503, "out of memory");
        return;
    }
    rec.updated = clock_unix_ms();
    if (strcmp(what, "") == 0) {
        /* a new upgrade to the pool's model; the pass fills in from */
        if (upgrade_running(u->state)) {
            upgrade_free(&rec);
            api_reply_error(req, 409,
                            "an upgrade is %s already (batch %ld "
                            "of %ld)",
                            upgrade_state_name(u->state), u->batch, u->batches);
            return;
        }
        upgrade_free(&rec);
        memset(&rec, 0, sizeof(rec));
        rec.state = UPGRADE_RUNNING;
        rec.automatic = ps->cf->upgrade.mode == UPGRADE_AUTOMATIC;
        /* the pass corrects it should the model have moved since */
        if (ps->key[0]) {
            snprintf(rec.to, sizeof(rec.to), "%s", ps->key);
        } else {
            snprintf(rec.to, sizeof(rec.to), "%s:%s",
                     ps->cf->templates[0].version, ps->digest[0]);
        }
        memcpy(rec.to_image, ps->images, sizeof(rec.to_image));
        memcpy(rec.from_image, u->to_image, sizeof(rec.from_image));
        rec.started = rec.updated = clock_unix_ms();
    } else if (strcmp(what, "/cancel") == 0) {
        if (!upgrade_running(u->state)) {
            upgrade_free(&rec);
            api_reply_error(req, 409, "no upgrade to cancel (it is %s)",
                            upgrade_state_name(u->state));
            return;
        }
        upgrade_free(&rec);
        rec.batch_started = 0;
        rec.state = UPGRADE_CANCELLED;
        snprintf(rec.error, sizeof(rec.error),
                 "cancelled through the API"
                 "%s",
                 u->state == UPGRADE_ROLLING_BACK ? " while rolling back" : "");
    } else {
        if (u->state == UPGRADE_ROLLING_BACK
            || (u->rollback != UPGRADE_FORWARD
                && (u->state == UPGRADE_FAILED
                    || u->state == UPGRADE_CANCELLED)))
        {
            upgrade_free(&rec);
            api_reply_error(req, 409,
                            "the upgrade is %s to version %s "
                            "already",
                            u->state == UPGRADE_ROLLING_BACK ? "rolling back"
                                                             : "rolled back",
                            v);
            return;
        }
        if (u->state == UPGRADE_NONE || u->state == UPGRADE_IDLE
            || u->from[0] == '\0') {
            upgrade_free(&rec);
            api_reply_error(req, 409, "no upgrade to roll back");
            return;
        }
        if (!ps->previous_ok) {
            upgrade_free(&rec);
            api_reply_error(req, 409,
                            "no instance of version %s left to "
                            "take its recipe from: no rollback",
                            v);
            return;
        }
        upgrade_free(&rec);
        rec.batch_started = 0;
        rec.batch = 0;
        rec.batches = 0;
        rec.state = UPGRADE_ROLLING_BACK;
        rec.rollback = UPGRADE_BACK_API;
        snprintf(rec.error, sizeof(rec.error),
                 "rolled back to version %s "
                 "through the API",
                 v);
    }
    write_record(req, s, ps, &rec);
}

void
api_upgrade_stop(void)
{
    up_wait_t *w;

    for (w = waiting; w; w = w->next) {
        w->req = NULL;
    }
}
