/*
 * scalesetctl: the command line client of the scaler's HTTP API.
 *   scalesetctl [--api URL] [--token-file F] [--json] pools
 *   scalesetctl ... show POOL
 *   scalesetctl ... instances POOL
 *   scalesetctl ... scale POOL N [--wait]
 *   scalesetctl ... delete POOL ID [--force] [--decrement]
 *   scalesetctl ... protect POOL ID [--scale-in|--all|--off]
 *   scalesetctl ... restart|reimage POOL ID
 *   scalesetctl ... standby POOL ID [--decrement], active POOL ID
 *   scalesetctl ... complete POOL ID --hook H (--result R | --heartbeat)
 *   scalesetctl ... events POOL [--follow]
 *   scalesetctl ... repair-resume POOL
 *   scalesetctl ... upgrade POOL [--wait], upgrade-status POOL,
 *                   upgrade-cancel POOL, rollback POOL [--wait]
 *   scalesetctl ... ha
 *   scalesetctl ... add POOL [--template T] [--zone Z]
 *   scalesetctl ... adopt POOL DOMAIN --zone Z [--address A] [--template T]
 *   scalesetctl completion bash
 * Exit: 0 ok, 1 refused (the API's message printed), 2 usage,
 * 3 the API unreachable.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include "xmalloc.h"

#include "ctl.h"

typedef struct {
    char  *data;
    size_t len;
} buf_t;

static const char *api = "http://127.0.0.1:9180";
static char       *token;
int                as_json; /* ctl.h */
/* options of some verbs */
static int         opt_force, opt_decrement;
static int         opt_protect;           /* 1 --scale-in, 2 --all, 3 --off */
static const char *opt_hook, *opt_result; /* complete */
static int         opt_heartbeat, opt_follow; /* complete, events */
static long        req_timeout = 10;          /* seconds, a request's whole */
static const char *opt_template, *opt_zone, *opt_address; /* add, adopt */

static size_t on_data(char *p, size_t sz, size_t n, void *ud);
static void   usage(FILE *f);
static int    cmd_completion(const char *shell);
static int    cmd_pools(void);
static int    cmd_show(const char *pool);
static int    cmd_history(const char *pool);
static int    cmd_instances(const char *pool);
static int    cmd_scale(const char *pool, const char *n, int wait);
static int    cmd_delete(const char *pool, const char *id);
static int    cmd_ha(void);
static int    cmd_hand(const char *pool, const char *domain);

static size_t
on_data(char *p, size_t sz, size_t n, void *ud)
{
    buf_t *b = ud;

    b->data = xrealloc(b->data, b->len + sz * n + 1);
    memcpy(b->data + b->len, p, sz * n);
    b->len += sz * n;
    b->data[b->len] = '\0';
    return sz * n;
}

long
request(const char *method, const char *path, const char *body, json_t **out)
{
    CURL              *c = curl_easy_init();
    struct curl_slist *h = NULL;
    buf_t              b = { NULL, 0 };
    char               url[1024], auth[1024];
    long               code = 0;
    CURLcode           rc;

    snprintf(url, sizeof(url), "%s%s", api, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, req_timeout);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "scalesetctl: %s: %s\n", url, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        *out = b.data ? json_loads(b.data, 0, NULL) : NULL;
    }
    free(b.data);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return code;
}

/* a request that did not succeed: code 0 is an unreachable API (curl
   printed why), otherwise the API's {"error"} message is printed */
int
fail(long code, json_t *j)
{
    json_t *e = j ? json_object_get(j, "error") : NULL;

    if (code == 0) {
        json_decref(j);
        return EXIT_UNREACHABLE;
    }
    if (json_is_string(e)) {
        fprintf(stderr, "scalesetctl: %s\n", json_string_value(e));
    } else {
        fprintf(stderr,
                "scalesetctl: the API answered HTTP %ld without a "
                "message\n",
                code);
    }
    json_decref(j);
    return EXIT_REFUSED;
}

void
print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2));

    printf("%s\n", s);
    free(s);
}

/* GET path into *j for a command that shows it: -1 when the caller is to
   print *j (and free it), else the exit status, with the failure said or,
   with --json, the answer printed as it came */
static int
get_shown(const char *path, json_t **j)
{
    long code;

    *j = NULL;
    if ((code = request("GET", path, NULL, j)) != 200) {
        return fail(code, *j);
    }
    if (as_json) {
        print_json(*j);
        json_decref(*j);
        return 0;
    }
    return -1;
}

static int
cmd_pools(void)
{
    json_t *j = NULL, *p;
    size_t  i;
    long    code = request("GET", "/v1/pools", NULL, &j);

    if (code != 200) {
        return fail(code, j);
    }
    if (as_json) {
        print_json(j);
    } else {
        printf("%-20s %8s %8s %8s %8s\n", "POOL", "CAPACITY", "RUNNING", "MIN",
               "MAX");
        json_array_foreach(json_object_get(j, "pools"), i, p)
        {
            printf("%-20s %8lld %8lld %8lld %8lld\n",
                   json_string_value(json_object_get(p, "name")),
                   json_integer_value(json_object_get(p, "capacity")),
                   json_integer_value(json_object_get(p, "running")),
                   json_integer_value(json_object_get(p, "min")),
                   json_integer_value(json_object_get(p, "max")));
        }
    }
    json_decref(j);
    return 0;
}

static double
num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* the "autoscale" explanation: the active profile and its bounds, the
   last decision, per rule its last value, firing or not, window progress
   and the cooldown left */
static void
print_autoscale(json_t *a)
{
    json_t     *r;
    const char *status, *reason;
    char        value[32], window[32];
    size_t      i;

    if (!json_is_true(json_object_get(a, "evaluated"))) {
        printf("autoscale: not evaluated yet\n");
        return;
    }
    printf("autoscale: profile %s (min %lld, max %lld, default %lld); last "
           "decision %lld -> %lld (%s): %s\n",
           json_string_value(json_object_get(a, "profile")),
           json_integer_value(json_object_get(a, "min")),
           json_integer_value(json_object_get(a, "max")),
           json_integer_value(json_object_get(a, "default")),
           json_integer_value(json_object_get(a, "previous")),
           json_integer_value(json_object_get(a, "capacity")),
           json_string_value(json_object_get(a, "direction")),
           json_string_value(json_object_get(a, "reason")));
    if (json_array_size(json_object_get(a, "rules")) == 0) {
        return;
    }
    printf("%-16s %-4s %12s %12s %-5s %-5s %-15s %9s %s\n", "RULE", "DIR",
           "VALUE", "THRESHOLD", "HOLDS", "FIRED", "WINDOW", "COOLDOWN",
           "STATUS");
    json_array_foreach(json_object_get(a, "rules"), i, r)
    {
        status = json_string_value(json_object_get(r, "status"));
        reason = json_string_value(json_object_get(r, "reason"));
        if (json_is_number(json_object_get(r, "value"))) {
            snprintf(value, sizeof(value), "%.4g", num(r, "value"));
        } else {
            snprintf(value, sizeof(value), "-");
        }
        snprintf(window, sizeof(window), "%.1fs/%.1fs", num(r, "held_s"),
                 num(r, "for_s"));
        printf("%-16s %-4s %12s %2s %9.4g %-5s %-5s %-15s %8.1fs %s%s%s\n",
               json_string_value(json_object_get(r, "name")),
               json_string_value(json_object_get(r, "direction"))
                   ? json_string_value(json_object_get(r, "direction"))
                   : "-",
               value, json_string_value(json_object_get(r, "operator")),
               num(r, "threshold"),
               json_is_true(json_object_get(r, "holds")) ? "yes" : "no",
               json_is_true(json_object_get(r, "fired")) ? "yes" : "no", window,
               num(r, "cooldown_left_s"), status ? status : "-",
               reason ? ": " : "", reason ? reason : "");
    }
}

/* how long ago an instance was created: "42s", "3m", "5h", "2d"; "-"
   when its tag does not say */
static const char *
age_of(json_t *in, char *buf, size_t size)
{
    json_t *c = json_object_get(in, "created");
    double  s;

    if (!json_is_integer(c)) {
        return "-";
    }
    s = (double) time(NULL) - json_integer_value(c) / 1000.0;
    s = s < 0 ? 0 : s;
    if (s < 120) {
        snprintf(buf, size, "%.0fs", s);
    } else if (s < 7200) {
        snprintf(buf, size, "%.0fm", s / 60);
    } else if (s < 172800) {
        snprintf(buf, size, "%.0fh", s / 3600);
    } else {
        snprintf(buf, size, "%.0fd", s / 86400);
    }
    return buf;
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* each gateway's report "gw1:up/3", by gateway name */
static void
health_of(json_t *in, char *buf, size_t size)
{
    json_t     *hs = json_object_get(in, "health"), *h;
    const char *gw, *names[64];
    size_t      n = 0, k, len = 0;

    buf[0] = '\0';
    json_object_foreach(hs, gw, h)
    {
        if (n < 64) {
            names[n++] = gw;
        }
    }
    qsort(names, n, sizeof(*names), str_cmp);
    for (k = 0; k < n && len < size; k++) {
        h = json_object_get(hs, names[k]);
        len +=
            snprintf(buf + len, size - len, "%s%s:%s/%lld", len ? " " : "",
                     names[k], json_string_value(json_object_get(h, "state")),
                     json_integer_value(json_object_get(h, "conns")));
    }
}

/* an instance's protection for a table: "-", "scale_in", "all" */
static const char *
protection_of(json_t *in)
{
    const char *p = json_string_value(json_object_get(in, "protection"));

    return p == NULL || strcmp(p, "none") == 0 ? "-" : p;
}

static int
cmd_instances(const char *pool)
{
    json_t     *j = NULL, *in;
    char        path[512], age[16], health[256], state[32];
    const char *st, *pw;
    size_t      i;
    int         rc;

    snprintf(path, sizeof(path), "/v1/pools/%s/instances", pool);
    if ((rc = get_shown(path, &j)) != -1) {
        return rc;
    }
    printf("%-20s %-8s %-12s %-8s %-6s %-8s %-6s %-10s %-8s %-8s %s\n", "ID",
           "ZONE", "STATE", "VERSION", "LATEST", "AGE", "WEIGHT", "TEMPLATE",
           "ORIGIN", "PROTECT", "HEALTH (gateway:state/conns)");
    json_array_foreach(json_object_get(j, "instances"), i, in)
    {
        const char *tmpl = json_string_value(json_object_get(in, "template"));
        const char *origin = json_string_value(json_object_get(in, "origin"));

        health_of(in, health, sizeof(health));
        /* a warm one says how it waits: warm/paused */
        st = json_string_value(json_object_get(in, "state"));
        pw = json_string_value(json_object_get(in, "power"));
        if (st && pw && strcmp(st, "warm") == 0) {
            snprintf(state, sizeof(state), "%s/%s", st, pw);
        } else if (st && json_is_true(json_object_get(in, "warm"))) {
            snprintf(state, sizeof(state), "%s/warm", st); /* its hook */
        } else {
            snprintf(state, sizeof(state), "%s", st ? st : "?");
        }
        printf("%-20s %-8s %-12s %-8s %-6s %-8s %-6lld %-10s %-8s %-8s %s\n",
               json_string_value(json_object_get(in, "id")),
               json_string_value(json_object_get(in, "zone")), state,
               json_string_value(json_object_get(in, "version")),
               json_is_true(json_object_get(in, "latest_model")) ? "yes" : "no",
               age_of(in, age, sizeof(age)),
               json_integer_value(json_object_get(in, "weight")),
               tmpl && tmpl[0] ? tmpl : "-", origin ? origin : "-",
               protection_of(in), health[0] ? health : "-");
    }
    json_decref(j);
    return 0;
}

/* the pool's repairs and what holds it above its capacity, for show */
static void
print_repair(const char *pool, json_t *j)
{
    json_t   *r = json_object_get(j, "repair");
    long long above =
        json_integer_value(json_object_get(j, "protected_above_capacity"));
    const char *state = json_string_value(json_object_get(r, "state"));

    if (r == NULL || state == NULL) {
        return;
    }
    if (strcmp(state, "suspended") == 0) {
        printf("repair: SUSPENDED after %lld failures in a row, the last: "
               "%s; creation backs off (scalesetctl repair-resume %s)\n",
               json_integer_value(json_object_get(r, "failures")),
               json_string_value(json_object_get(r, "reason")), pool);
    } else {
        printf("repair: %s, %s, %lld under way (at most %lld at once), "
               "%lld failures in a row\n",
               json_is_true(json_object_get(r, "enabled")) ? "active"
                                                           : "disabled",
               json_string_value(json_object_get(r, "action")),
               json_integer_value(json_object_get(r, "in_progress")),
               json_integer_value(json_object_get(r, "at_once")),
               json_integer_value(json_object_get(r, "failures")));
    }
    if (above > 0) {
        printf("%lld instances above the capacity: every candidate for "
               "scale-in is protected\n",
               above);
    }
}

static int
cmd_show(const char *pool)
{
    json_t *j = NULL, *in;
    char    path[512];
    size_t  i;
    long    code;

    snprintf(path, sizeof(path), "/v1/pools/%s", pool);
    if ((code = request("GET", path, NULL, &j)) != 200) {
        return fail(code, j);
    }
    if (as_json) {
        print_json(j);
    } else {
        printf("pool %s: capacity %lld, running %lld (min %lld, max %lld), "
               "version %s: %lld of %lld instances on the latest model\n",
               pool, json_integer_value(json_object_get(j, "capacity")),
               json_integer_value(json_object_get(j, "running")),
               json_integer_value(json_object_get(j, "min")),
               json_integer_value(json_object_get(j, "max")),
               json_string_value(json_object_get(j, "version")),
               json_integer_value(json_object_get(j, "latest_model_instances")),
               json_integer_value(json_object_get(j, "instances")));
        printf("%-20s %-10s %-10s %-8s %-6s %-8s %s\n", "ID", "ZONE", "STATE",
               "VERSION", "LATEST", "AGE", "ADDRESS");
        json_array_foreach(json_object_get(j, "instances_list"), i, in)
        {
            char age[16];

            printf("%-20s %-10s %-10s %-8s %-6s %-8s %s\n",
                   json_string_value(json_object_get(in, "id")),
                   json_string_value(json_object_get(in, "zone")),
                   json_string_value(json_object_get(in, "state")),
                   json_string_value(json_object_get(in, "version")),
                   json_is_true(json_object_get(in, "latest_model")) ? "yes"
                                                                     : "no",
                   age_of(in, age, sizeof(age)),
                   json_string_value(json_object_get(in, "address")));
        }
        print_repair(pool, j);
        if (json_object_get(j, "autoscale")) {
            print_autoscale(json_object_get(j, "autoscale"));
        }
    }
    json_decref(j);
    return 0;
}

static int
cmd_scale(const char *pool, const char *n, int wait)
{
    json_t *j = NULL;
    char    path[512], body[64], *end;
    long    code, want = strtol(n, &end, 10), run, inst, warm, last = -1;
    int     tty = isatty(STDOUT_FILENO), k, w;
    time_t  start = time(NULL);

    if (*n == '\0' || *end != '\0') {
        fprintf(stderr, "scalesetctl: capacity \"%s\" is not a number\n", n);
        return EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "/v1/pools/%s/capacity", pool);
    snprintf(body, sizeof(body), "{\"capacity\":%ld}", want);
    if ((code = request("PUT", path, body, &j)) != 200) {
        return fail(code, j);
    }
    json_decref(j);
    if (!wait) {
        printf(as_json ? "{\"pool\":\"%s\",\"capacity\":%ld}\n"
                       : "pool %s: capacity %ld\n",
               pool, want);
        return 0;
    }
    snprintf(path, sizeof(path), "/v1/pools/%s", pool);
    for (;;) {
        j = NULL;
        if ((code = request("GET", path, NULL, &j)) != 200) {
            return fail(code, j);
        }
        run = json_integer_value(json_object_get(j, "running"));
        inst = json_integer_value(json_object_get(j, "instances"));
        /* the warm pool's instances are beyond the capacity */
        warm = json_integer_value(
            json_object_get(json_object_get(j, "warm_pool"), "instances"));
        inst -= warm;
        json_decref(j);
        if (tty && !as_json) {
            w = want ? (int) (40 * (run < want ? run : want) / want) : 40;
            printf("\r%s [", pool);
            for (k = 0; k < 40; k++) {
                putchar(k < w ? '#' : '.');
            }
            printf("] %ld/%ld running, %ld instances ", run, want, inst);
            fflush(stdout);
        } else if (run != last) {
            printf(as_json ? "{\"pool\":\"%s\",\"running\":%ld,"
                             "\"capacity\":%ld}\n"
                           : "%s: %ld/%ld running\n",
                   pool, run, want);
            fflush(stdout);
        }
        last = run;
        if (run == want && inst == want) {
            break;
        }
        if (time(NULL) - start > 600) {
            fprintf(stderr, "\nscalesetctl: gave up waiting\n");
            return EXIT_REFUSED;
        }
        usleep(200000);
    }
    if (tty && !as_json) {
        printf("\n");
    }
    return 0;
}

/* drained first (the pass does it: 202), unless --force */
/* POST PATH (under /v1/pools/POOL), the answer printed as said */
static int
post(const char *pool, const char *sub, const char *said)
{
    json_t *j = NULL;
    char    path[512];
    long    code;

    snprintf(path, sizeof(path), "/v1/pools/%s%s", pool, sub);
    if ((code = request("POST", path, "", &j)) != 202 && code != 200) {
        return fail(code, j);
    }
    if (as_json) {
        print_json(j);
    } else {
        printf("%s: %s\n", pool, said);
    }
    json_decref(j);
    return 0;
}

/* POST .../instances/ID/restart|reimage|standby|active: done by the
   next pass */
static int
cmd_instance(const char *verb, const char *pool, const char *id)
{
    char sub[256], said[256];

    snprintf(sub, sizeof(sub), "/instances/%s/%s%s", id, verb,
             opt_decrement && strcmp(verb, "standby") == 0 ? "?decrement=true"
                                                           : "");
    snprintf(said, sizeof(said), "%s %s by the next pass", id,
             strcmp(verb, "restart") == 0   ? "restarted"
             : strcmp(verb, "reimage") == 0 ? "reimaged"
             : strcmp(verb, "standby") == 0 ? "on standby"
                                            : "back in service");
    return post(pool, sub, said);
}

/* POST .../instances/ID/lifecycle: a hook's result or heartbeat */
static int
cmd_complete(const char *pool, const char *id)
{
    json_t *j = NULL, *body;
    char    path[512], *s;
    long    code;

    if (opt_hook == NULL || (opt_result == NULL) == !opt_heartbeat) {
        fprintf(stderr, "scalesetctl: usage: scalesetctl complete POOL ID "
                        "--hook launch|terminate (--result continue|abandon | "
                        "--heartbeat)\n");
        return EXIT_USAGE;
    }
    body = opt_heartbeat
               ? json_pack("{s:s,s:b}", "hook", opt_hook, "heartbeat", 1)
               : json_pack("{s:s,s:s}", "hook", opt_hook, "result", opt_result);
    s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    snprintf(path, sizeof(path), "/v1/pools/%s/instances/%s/lifecycle", pool,
             id);
    code = request("POST", path, s, &j);
    free(s);
    if (code != 202) {
        return fail(code, j);
    }
    if (as_json) {
        print_json(j);
    } else {
        printf("%s: %s %s hook: %s\n", pool, id, opt_hook,
               opt_heartbeat ? "heartbeat" : opt_result);
    }
    json_decref(j);
    return 0;
}

/* an event as a line: time, id, event, state (reason) rule=RULE */
static void
print_event(json_t *e)
{
    char      when[32], *s;
    time_t    t;
    long long at = json_integer_value(json_object_get(e, "at"));

    if (as_json) {
        s = json_dumps(e, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        return;
    }
    t = (time_t) (at / 1000);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", gmtime(&t));
    printf("%s.%03lldZ %s %-18s %-17s (%s) rule=%s\n", when, at % 1000,
           json_string_value(json_object_get(e, "id")),
           json_string_value(json_object_get(e, "event")),
           json_string_value(json_object_get(e, "state")),
           json_string_value(json_object_get(e, "reason")),
           json_string_value(json_object_get(e, "rule")));
}

/* GET .../events: those kept, and with --follow every new one as it
   comes (a long poll of 25 s, again and again) */
static int
cmd_events(const char *pool)
{
    json_t            *j, *e;
    char               path[512];
    unsigned long long since = 0;
    size_t             i;
    long               code;
    int                first = 1;

    req_timeout = 40;
    for (;;) {
        j = NULL;
        /* the first answer is what is kept: from then on, wait */
        snprintf(path, sizeof(path), "/v1/pools/%s/events?since=%llu%s", pool,
                 since, first ? "" : "&wait=25");
        first = 0;
        if ((code = request("GET", path, NULL, &j)) != 200) {
            return fail(code, j);
        }
        json_array_foreach(json_object_get(j, "events"), i, e)
        {
            print_event(e);
        }
        fflush(stdout);
        since =
            (unsigned long long) json_integer_value(json_object_get(j, "last"));
        json_decref(j);
        if (!opt_follow) {
            return 0;
        }
    }
}

/* PUT .../protection: --scale-in (the default), --all, --off */
static int
cmd_protect(const char *pool, const char *id)
{
    json_t *j = NULL;
    char    path[512];
    long    code;

    snprintf(path, sizeof(path), "/v1/pools/%s/instances/%s/protection", pool,
             id);
    if ((code = request("PUT", path,
                        opt_protect == 2
                            ? "{\"scale_in\":true,\"scale_set_actions\":true}"
                        : opt_protect == 3
                            ? "{\"scale_in\":false,\"scale_set_actions\":false}"
                            : "{\"scale_in\":true,\"scale_set_actions\":false}",
                        &j))
        != 200)
    {
        return fail(code, j);
    }
    if (as_json) {
        print_json(j);
    } else {
        printf("%s: %s protected: %s\n", pool, id,
               json_string_value(json_object_get(j, "protection")));
    }
    json_decref(j);
    return 0;
}

static int
cmd_delete(const char *pool, const char *id)
{
    json_t *j = NULL, *c;
    char    path[512];
    long    code;

    snprintf(path, sizeof(path), "/v1/pools/%s/instances/%s%s%s%s", pool, id,
             opt_force || opt_decrement ? "?" : "",
             opt_force ? "force=true" : "",
             opt_decrement ? (opt_force ? "&decrement=true" : "decrement=true")
                           : "");
    if ((code = request("DELETE", path, NULL, &j)) != 202 && code != 200) {
        return fail(code, j);
    }
    if (as_json) {
        print_json(j);
    } else {
        c = json_object_get(j, "capacity");
        printf("%s: %s %s%s", pool, id,
               opt_force ? "deleted at once" : "drains, then it is deleted",
               json_is_integer(c) ? ", capacity " : "\n");
        if (json_is_integer(c)) {
            printf("%lld\n", (long long) json_integer_value(c));
        }
    }
    json_decref(j);
    return 0;
}

/* add (domain NULL) or adopt: POST .../instances[/adopt]; the next pass
   does it */
static int
cmd_hand(const char *pool, const char *domain)
{
    json_t *j = NULL, *body = json_object();
    char    path[512], *b;
    long    code;

    if (opt_template) {
        json_object_set_new(body, "template", json_string(opt_template));
    }
    if (opt_zone) {
        json_object_set_new(body, "zone", json_string(opt_zone));
    }
    if (domain) {
        json_object_set_new(body, "domain", json_string(domain));
        if (opt_address) {
            json_object_set_new(body, "address", json_string(opt_address));
        }
    }
    b = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    snprintf(path, sizeof(path), "/v1/pools/%s/instances%s", pool,
             domain ? "/adopt" : "");
    code = request("POST", path, b ? b : "{}", &j);
    free(b);
    if (code != 202) {
        return fail(code, j);
    }
    if (as_json) {
        print_json(j);
    } else if (domain) {
        printf("%s: adopting %s (zone %s)\n", pool, domain, opt_zone);
    } else {
        printf("%s: one more instance (template %s, zone %s) asked for\n", pool,
               json_string_value(json_object_get(j, "template"))[0]
                   ? json_string_value(json_object_get(j, "template"))
                   : "the pool's",
               opt_zone ? opt_zone : "by placement");
    }
    json_decref(j);
    return 0;
}

/* GET /v1/ha: who leads, as this scaler knows it */
static int
cmd_ha(void)
{
    json_t     *j = NULL, *lu;
    int         rc = get_shown("/v1/ha", &j);
    const char *self;
    json_int_t  since;
    time_t      t;
    char        when[32];

    if (rc != -1) {
        return rc;
    }
    self = json_string_value(json_object_get(j, "self"));
    lu = json_object_get(j, "leader_url");
    if (!json_is_true(json_object_get(j, "enabled"))) {
        printf("%s: no ha block: it runs alone and leads\n", api);
    } else if (json_is_true(json_object_get(j, "leader"))) {
        since = json_integer_value(json_object_get(j, "since"));
        t = (time_t) (since / 1000);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
        printf(
            "%s: leader since %s%s (lease %lld ms, %lld ms left, %lld "
            "passes)\n",
            self ? self : api, when,
            json_is_true(json_object_get(j, "ready"))
                ? ""
                : ", reading the pools' state",
            (long long) json_integer_value(json_object_get(j, "lease_ms")),
            (long long) json_integer_value(json_object_get(j, "lease_left_ms")),
            (long long) json_integer_value(json_object_get(j, "passes")));
    } else {
        printf("%s: standby\nleader: %s\n", self ? self : api,
               json_is_string(lu) ? json_string_value(lu) : "none known");
    }
    json_decref(j);
    return 0;
}

/* GET /v1/pools/POOL/history: the last capacity changes with the rule
   values that made them, and each series' latest sample */
static int
cmd_history(const char *pool)
{
    json_t     *j = NULL, *d, *series, *v, *a, *r;
    const char *name;
    char        path[512], when[32];
    size_t      i, k, n;
    int         rc;
    time_t      t;

    snprintf(path, sizeof(path), "/v1/pools/%s/history", pool);
    if ((rc = get_shown(path, &j)) != -1) {
        return rc;
    }
    n = json_array_size(json_object_get(j, "t"));
    printf("pool %s: %zu samples every %llds over the last %llds\n", pool, n,
           (long long) json_integer_value(json_object_get(j, "step_s")),
           (long long) json_integer_value(json_object_get(j, "window_s")));
    series = json_object_get(j, "series");
    json_object_foreach(series, name, a)
    {
        v = json_array_get(a, json_array_size(a) - 1);
        if (json_is_number(v)) {
            printf("  %-24s %g\n", name, json_number_value(v));
        } else {
            printf("  %-24s -\n", name);
        }
    }
    printf("%-19s %-9s %-9s %s\n", "TIME", "SOURCE", "CAPACITY", "REASON");
    json_array_foreach(json_object_get(j, "decisions"), i, d)
    {
        t = (time_t) (json_integer_value(json_object_get(d, "at")) / 1000);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
        printf("%-19s %-9s %3lld -> %-3lld %s\n", when,
               json_string_value(json_object_get(d, "source")),
               (long long) json_integer_value(json_object_get(d, "previous")),
               (long long) json_integer_value(json_object_get(d, "capacity")),
               json_string_value(json_object_get(d, "reason")));
        json_array_foreach(json_object_get(d, "rules"), k, r)
        {
            printf("%-19s   rule %s: %g %s %g%s\n", "",
                   json_string_value(json_object_get(r, "name")),
                   json_number_value(json_object_get(r, "value")),
                   json_string_value(json_object_get(r, "operator")),
                   json_number_value(json_object_get(r, "threshold")),
                   json_is_true(json_object_get(r, "fired")) ? ", fired" : "");
        }
    }
    json_decref(j);
    return 0;
}

/* the verbs: one table for dispatch, usage and completion */
typedef struct {
    const char *name;
    int         nargs; /* words after the verb */
    const char *args;  /* for usage */
    const char *help;
} ctl_cmd_t;

static const ctl_cmd_t ctl_cmds[] = {
    { "pools", 0, "", "list pools" },
    { "show", 1, "POOL", "a pool, its instances, autoscale" },
    { "instances", 1, "POOL", "its instances: model, age, health" },
    { "history", 1, "POOL", "capacity changes and their rules" },
    { "scale", 2, "POOL N [--wait]", "set the capacity (and wait for it)" },
    { "delete", 2, "POOL ID [--force] [--decrement]",
      "drain and delete one instance (replaced unless --decrement)" },
    { "protect", 2, "POOL ID [--scale-in|--all|--off]",
      "protect one from scale-in, or from every scale-set action" },
    { "restart", 2, "POOL ID", "restart one (power cycle)" },
    { "reimage", 2, "POOL ID", "make one again from the base image" },
    { "repair-resume", 1, "POOL", "resume the pool's suspended repairs" },
    { "standby", 2, "POOL ID [--decrement]",
      "drain one and keep it running, out of the capacity" },
    { "active", 2, "POOL ID", "take one on standby back into service" },
    { "complete", 2, "POOL ID --hook H --result R",
      "complete a lifecycle hook (or --heartbeat)" },
    { "events", 1, "POOL [--follow]", "the pool's lifecycle events" },
    { "upgrade", 1, "POOL [--wait]", "start an upgrade (and wait)" },
    { "upgrade-status", 1, "POOL", "the upgrade: state, batch, counts" },
    { "upgrade-cancel", 1, "POOL", "cancel the upgrade" },
    { "rollback", 1, "POOL [--wait]", "roll the upgrade back (and wait)" },
    { "ha", 0, "", "who leads (several scalers, ha:)" },
    { "add", 1, "POOL [--template T] [--zone Z]",
      "one more instance, by hand" },
    { "adopt", 2, "POOL DOMAIN --zone Z",
      "take a libvirt domain into the pool" },
    { "completion", 1, "bash", "print the bash completion script" },
};

#define NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static void
usage(FILE *f)
{
    size_t i;
    char   line[96];

    fprintf(f, "usage: scalesetctl [--api URL] [--token-file FILE] [--json] "
               "COMMAND\n");
    for (i = 0; i < NCMDS; i++) {
        snprintf(line, sizeof(line), "%s %s", ctl_cmds[i].name,
                 ctl_cmds[i].args);
        fprintf(f, "  %-40s %s\n", line, ctl_cmds[i].help);
    }
    fprintf(f,
            "API from --api or SCALESET_API (default http://127.0.0.1:9180);\n"
            "token from --token-file or SCALESET_TOKEN.\n"
            "Exit status: 0 ok, 1 refused by the API, 2 usage, 3 API "
            "unreachable.\n");
}

/* bash completion: verbs, options, pool names (scalesetctl pools) and
   instance ids (scalesetctl show POOL), asked with the same --api and
   token as the command line being completed */
static int
cmd_completion(const char *shell)
{
    size_t i;

    if (strcmp(shell, "bash") != 0) {
        fprintf(stderr, "scalesetctl: no completion for \"%s\" (bash)\n",
                shell);
        return EXIT_USAGE;
    }
    printf("# bash completion for scalesetctl: "
           "source <(scalesetctl completion bash)\n"
           "_scalesetctl() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} w i verb= pos=0 "
           "opts=()\n"
           "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
           "        w=${COMP_WORDS[i]}\n"
           "        case $w in\n"
           "            --api|--token-file) opts+=(\"$w\" "
           "\"${COMP_WORDS[i+1]}\"); ((i++)) ;;\n"
           "            --template|--zone|--address) ((i++)) ;;\n"
           "            --*) ;;\n"
           "            *) if [[ -z $verb ]]; then verb=$w; else ((pos++)); "
           "fi ;;\n"
           "        esac\n"
           "    done\n"
           "    case ${COMP_WORDS[COMP_CWORD-1]} in\n"
           "        --token-file) COMPREPLY=($(compgen -f -- \"$cur\")); "
           "return ;;\n"
           "        --api|--template|--zone|--address) return ;;\n"
           "    esac\n"
           "    if [[ $cur == --* ]]; then\n"
           "        COMPREPLY=($(compgen -W '--api --token-file --json --wait "
           "--force --decrement --scale-in --all --off --template --zone "
           "--address --hook --result --heartbeat --follow --help' -- "
           "\"$cur\")); return\n"
           "    fi\n"
           "    if [[ -z $verb ]]; then\n"
           "        COMPREPLY=($(compgen -W '");
    for (i = 0; i < NCMDS; i++) {
        printf("%s%s", i ? " " : "", ctl_cmds[i].name);
    }
    printf(
        "' -- \"$cur\")); return\n"
        "    fi\n"
        "    case $verb:$pos in\n"
        "        show:0|instances:0|scale:0|delete:0|protect:0|restart:0|"
        "reimage:0|repair-resume:0|standby:0|active:0|complete:0|"
        "events:0|add:0|adopt:0|upgrade:0|upgrade-status:0|"
        "upgrade-cancel:0|rollback:0)\n"
        "            COMPREPLY=($(compgen -W \"$(scalesetctl \"${opts[@]}\" "
        "pools 2>/dev/null | awk 'NR > 1 { print $1 }')\" -- \"$cur\")) ;;\n"
        "        delete:1|protect:1|restart:1|reimage:1|standby:1|active:1|"
        "complete:1)\n"
        "            local pool\n"
        "            for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "                [[ ${COMP_WORDS[i]} == \"$verb\" ]] && "
        "pool=${COMP_WORDS[i+1]}\n"
        "            done\n"
        "            COMPREPLY=($(compgen -W \"$(scalesetctl \"${opts[@]}\" "
        "show \"$pool\" 2>/dev/null | awk '$1 ~ /-[0-9]+$/ { print $1 }')\" "
        "-- \"$cur\")) ;;\n"
        "        completion:0) COMPREPLY=($(compgen -W bash -- \"$cur\")) ;;\n"
        "    esac\n"
        "}\n"
        "complete -F _scalesetctl scalesetctl\n");
    return 0;
}

int
main(int argc, char **argv)
{
    char       *args[8], *e;
    const char *tf = NULL;
    int         nargs = 0, wait = 0, i, rc;
    size_t      k, o;

    /* the options: one that takes a word sets *str to it (and is unknown
       as the last word), one without sets *flag to value */
    const struct {
        const char  *name;
        const char **str;
        int         *flag;
        int          value;
    } opts[] = {
        { "--api", &api, NULL, 0 },
        { "--token-file", &tf, NULL, 0 },
        { "--json", NULL, &as_json, 1 },
        { "--wait", NULL, &wait, 1 },
        { "--force", NULL, &opt_force, 1 },
        { "--decrement", NULL, &opt_decrement, 1 },
        { "--hook", &opt_hook, NULL, 0 },
        { "--result", &opt_result, NULL, 0 },
        { "--heartbeat", NULL, &opt_heartbeat, 1 },
        { "--follow", NULL, &opt_follow, 1 },
        { "--scale-in", NULL, &opt_protect, 1 },
        { "--all", NULL, &opt_protect, 2 },
        { "--off", NULL, &opt_protect, 3 },
        { "--template", &opt_template, NULL, 0 },
        { "--zone", &opt_zone, NULL, 0 },
        { "--address", &opt_address, NULL, 0 },
    };
    FILE       *f;
    static char tbuf[512];

    if (getenv("SCALESET_API")) {
        api = getenv("SCALESET_API");
    }
    if (getenv("SCALESET_TOKEN")) {
        token = getenv("SCALESET_TOKEN");
    }
    for (i = 1; i < argc; i++) {
        for (o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
            if (strcmp(argv[i], opts[o].name) == 0
                && (opts[o].str == NULL || i + 1 < argc)) {
                break;
            }
        }
        if (o < sizeof(opts) / sizeof(opts[0])) {
            if (opts[o].str != NULL) {
                *opts[o].str = argv[++i];
            } else {
                *opts[o].flag = opts[o].value;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
        {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "scalesetctl: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        } else if (nargs < 8) {
            args[nargs++] = argv[i];
        }
    }
    for (k = 0; nargs > 0 && k < NCMDS; k++) {
        if (strcmp(args[0], ctl_cmds[k].name) == 0) {
            break;
        }
    }
    if (nargs == 0 || k == NCMDS) {
        if (nargs > 0) {
            fprintf(stderr, "scalesetctl: unknown command \"%s\"\n", args[0]);
        }
        usage(stderr);
        return EXIT_USAGE;
    }
    if (nargs - 1 != ctl_cmds[k].nargs) {
        fprintf(stderr, "scalesetctl: usage: scalesetctl %s %s\n",
                ctl_cmds[k].name, ctl_cmds[k].args);
        return EXIT_USAGE;
    }
    if (strcmp(args[0], "completion") == 0) {
        return cmd_completion(args[1]);
    }
    if (tf) {
        if ((f = fopen(tf, "r")) == NULL
            || fgets(tbuf, sizeof(tbuf), f) == NULL) {
            fprintf(stderr, "scalesetctl: cannot read %s\n", tf);
            if (f) {
                fclose(f);
            }
            return EXIT_USAGE;
        }
        fclose(f);
        e = tbuf + strcspn(tbuf, "\r\n");
        *e = '\0';
        token = tbuf;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(args[0], "pools") == 0) {
        rc = cmd_pools();
    } else if (strcmp(args[0], "show") == 0) {
        rc = cmd_show(args[1]);
    } else if (strcmp(args[0], "history") == 0) {
        rc = cmd_history(args[1]);
    } else if (strcmp(args[0], "instances") == 0) {
        rc = cmd_instances(args[1]);
    } else if (strcmp(args[0], "scale") == 0) {
        rc = cmd_scale(args[1], args[2], wait);
    } else if (strcmp(args[0], "protect") == 0) {
        rc = cmd_protect(args[1], args[2]);
    } else if (strcmp(args[0], "restart") == 0
               || strcmp(args[0], "reimage") == 0
               || strcmp(args[0], "standby") == 0
               || strcmp(args[0], "active") == 0)
    {
        rc = cmd_instance(args[0], args[1], args[2]);
    } else if (strcmp(args[0], "complete") == 0) {
        rc = cmd_complete(args[1], args[2]);
    } else if (strcmp(args[0], "events") == 0) {
        rc = cmd_events(args[1]);
    } else if (strcmp(args[0], "repair-resume") == 0) {
        rc = post(args[1], "/repair/resume", "repairs resumed");
    } else if (strcmp(args[0], "upgrade") == 0) {
        rc = cmd_upgrade(args[1], wait);
    } else if (strcmp(args[0], "upgrade-status") == 0) {
        rc = cmd_upgrade_status(args[1]);
    } else if (strcmp(args[0], "upgrade-cancel") == 0) {
        rc = cmd_upgrade_cancel(args[1]);
    } else if (strcmp(args[0], "rollback") == 0) {
        rc = cmd_rollback(args[1], wait);
    } else if (strcmp(args[0], "ha") == 0) {
        rc = cmd_ha();
    } else if (strcmp(args[0], "add") == 0) {
        rc = cmd_hand(args[1], NULL);
    } else if (strcmp(args[0], "adopt") == 0) {
        if (opt_zone == NULL) {
            fprintf(stderr, "scalesetctl: adopt needs --zone\n");
            rc = EXIT_USAGE;
        } else {
            rc = cmd_hand(args[1], args[2]);
        }
    } else {
        rc = cmd_delete(args[1], args[2]);
    }
    curl_global_cleanup();
    return rc;
}
