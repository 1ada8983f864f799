/*
 * ctl_upgrade.c: scalesetctl's upgrade commands (docs/upgrades.md).
 *   upgrade POOL [--wait]    POST /v1/pools/POOL/upgrade
 *   upgrade-status POOL      GET  /v1/pools/POOL/upgrade
 *   upgrade-cancel POOL      POST /v1/pools/POOL/upgrade/cancel
 *   rollback POOL [--wait]   POST /v1/pools/POOL/upgrade/rollback
 * --wait follows the upgrade until it is no longer rolling, paused or
 * rolling back: a progress bar on a terminal, a line per batch otherwise
 * (a JSON object per batch with --json); exit 0 when it is done, 1 when
 * it failed or was cancelled (its error printed).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define WAIT_MAX_S 3600

static const char *
str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static long long
num(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *
version(json_t *o, const char *key)
{
    json_t *m = json_object_get(o, key);

    return json_is_object(m) ? str(m, "version") : "-";
}

static int
running(const char *state)
{
    return strcmp(state, "rolling") == 0 || strcmp(state, "paused") == 0
           || strcmp(state, "rolling_back") == 0;
}

/* "web-000003 web-000005" */
static void
ids(json_t *u, char *buf, size_t size)
{
    json_t *id;
    size_t  i, len = 0;

    buf[0] = '\0';
    json_array_foreach(json_object_get(u, "instances"), i, id)
    {
        if (len < size) {
            len += (size_t) snprintf(buf + len, size - len, "%s%s",
                                     len ? " " : "", json_string_value(id));
        }
    }
}

static void
print_status(const char *pool, json_t *u)
{
    char batch[512];

    ids(u, batch, sizeof(batch));
    printf("pool %s: upgrade %s (mode %s), version %s -> %s", pool,
           str(u, "state"), str(u, "mode"), version(u, "from"),
           version(u, "to"));
    if (num(u, "batches") > 0) {
        printf(", batch %lld of %lld", num(u, "batch"), num(u, "batches"));
    }
    if (batch[0]) {
        printf("%s%s: %s", str(u, "zone")[0] ? " in zone " : "", str(u, "zone"),
               batch);
    }
    printf("\n  on the pool's model (version %s): %lld, outdated: %lld, "
           "replaced: %lld, unhealthy after the last batch: %lld\n",
           version(u, "model"), num(u, "on_model"), num(u, "left"),
           num(u, "upgraded"), num(u, "failed"));
    if (str(u, "error")[0]) {
        printf("  %s\n", str(u, "error"));
    }
}

/* follows the upgrade until it ends; 0 done (back: rolled back), 1
   failed or cancelled */
static int
follow(const char *pool, int back)
{
    json_t     *u;
    char        path[512], batch[512], last[600] = "", now[600];
    const char *state;
    long        code;
    long long   on, left;
    int         tty = isatty(STDOUT_FILENO) && !as_json, k, w, rc;
    time_t      start = time(NULL);

    snprintf(path, sizeof(path), "/v1/pools/%s/upgrade", pool);
    for (;;) {
        u = NULL;
        if ((code = request("GET", path, NULL, &u)) != 200) {
            return fail(code, u);
        }
        state = str(u, "state");
        on = num(u, "on_model");
        left = num(u, "left");
        ids(u, batch, sizeof(batch));
        if (tty) {
            w = on + left > 0 ? (int) (40 * on / (on + left)) : 40;
            printf("\r%s [", pool);
            for (k = 0; k < 40; k++) {
                putchar(k < w ? '#' : '.');
            }
            printf("] %lld/%lld on version %s, %s batch %lld/%lld ", on,
                   on + left, version(u, "model"), state, num(u, "batch"),
                   num(u, "batches"));
            fflush(stdout);
        } else {
            snprintf(now, sizeof(now), "%s %lld %s", state, num(u, "batch"),
                     batch);
            if (strcmp(now, last) != 0) {
                if (as_json) {
                    char *s = json_dumps(u, JSON_COMPACT);

                    printf("%s\n", s ? s : "{}");
                    free(s);
                } else {
                    printf("%s: %s, batch %lld of %lld%s%s: %lld/%lld on "
                           "version %s\n",
                           pool, state, num(u, "batch"), num(u, "batches"),
                           batch[0] ? ": " : "", batch, on, on + left,
                           version(u, "model"));
                }
                fflush(stdout);
                snprintf(last, sizeof(last), "%s", now);
            }
        }
        if (!running(state)) {
            break;
        }
        json_decref(u);
        if (time(NULL) - start > WAIT_MAX_S) {
            fprintf(stderr, "%sscalesetctl: gave up waiting\n",
                    tty ? "\n" : "");
            return EXIT_REFUSED;
        }
        usleep(200000);
    }
    if (tty) {
        printf("\n");
    }
    rc = (back ? json_is_true(json_object_get(u, "rolled_back"))
               : strcmp(state, "done") == 0)
             ? 0
             : EXIT_REFUSED;
    if (rc != 0) {
        fprintf(stderr, "scalesetctl: the upgrade of %s is %s%s%s\n", pool,
                state, str(u, "error")[0] ? ": " : "", str(u, "error"));
    } else if (!as_json) {
        printf("%s: %s: %lld instances on version %s\n", pool,
               back ? "rolled back" : "upgrade done", on, version(u, "model"));
    }
    json_decref(u);
    return rc;
}

/* a POST of .../upgrade[/what] */
static int
post(const char *pool, const char *what, const char *done, int wait)
{
    json_t *u = NULL;
    char    path[512];
    long    code;

    snprintf(path, sizeof(path), "/v1/pools/%s/upgrade%s", pool, what);
    if ((code = request("POST", path, "{}", &u)) != 200) {
        return fail(code, u);
    }
    if (!wait) {
        if (as_json) {
            print_json(u);
        } else {
            printf("%s: %s\n", pool, done);
        }
        json_decref(u);
        return 0;
    }
    json_decref(u);
    return follow(pool, strcmp(what, "/rollback") == 0);
}

int
cmd_upgrade(const char *pool, int wait)
{
    return post(pool, "", "upgrade started", wait);
}

int
cmd_rollback(const char *pool, int wait)
{
    return post(pool, "/rollback", "rolling back", wait);
}

int
cmd_upgrade_cancel(const char *pool)
{
    return post(pool, "/cancel", "upgrade cancelled", 0);
}

int
cmd_upgrade_status(const char *pool)
{
    json_t *u = NULL;
    char    path[512];
    long    code;

    snprintf(path, sizeof(path), "/v1/pools/%s/upgrade", pool);
    if ((code = request("GET", path, NULL, &u)) != 200) {
        return fail(code, u);
    }
    if (as_json) {
        print_json(u);
    } else {
        print_status(pool, u);
    }
    json_decref(u);
    return 0;
}
