/*
 * autoscale_loop CONFIG.json: one pool's autoscaler
 * (scaler/autoscale/autoscale_runner.c over scaler/autoscale/prom.c)
 * evaluated every interval on a libevent loop, the decided capacity
 * applied at once, as the daemon will.  For
 * t/autoscale_rules.t until the daemon wires it in.
 *
 *   { "prometheus": "http://127.0.0.1:9090", "interval_ms": 500,
 *     "capacity": [min, max, default], "current": 2, "max_step": 0,
 *     "fixed": [{"name": "x", "start_in_ms": 3000, "end_in_ms": 6000,
 *                "capacity": [min, max, default]}],
 *     "rules": [{"name": "busy", "query": "...", "operator": ">",
 *                "threshold": 50, "for_ms": 2000, "change": 2,
 *                "cooldown_ms": 3000, "reduce": "", "per_instance": true}] }
 *
 * Prints per evaluation one line:
 *   eval N ms=SINCE_START cap=C prev=P dir=D flap=F profile=NAME
 *       RULE=STATUS,VALUE,FIRED,HELD_MS,COOLDOWN_MS,ERRORS ...
 * and on SIGUSR1 the metrics text, on SIGUSR2 the JSON explanation.
 */

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "autoscale_runner.h"


typedef struct {
    struct event_base    *base;
    autoscale_runner_t   *runner;
    autoscale_config_t   *conf;
    int64_t               current;
    unsigned              n;
    uint64_t              start_ms;
    struct event         *tick;
    struct timeval        interval;
} loop_t;


static uint64_t
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


static void
on_decision(autoscale_runner_t *r, const autoscale_decision_t *d, void *arg)
{
    const autoscale_rule_state_t  *st;
    loop_t                        *l = arg;
    size_t                         i;
    uint64_t                       errs;
    int                            k;

    st = autoscale_runner_state(r);

    printf("eval %u ms=%llu cap=%lld prev=%lld dir=%s flap=%d profile=%s",
           ++l->n, (unsigned long long) (now_ms() - l->start_ms),
           (long long) d->capacity, (long long) d->previous,
           autoscale_dir_name(d->direction), d->flapping,
           d->profile ? d->profile->name : "default");

    for (i = 0; i < l->conf->nrules; i++) {
        errs = 0;
        for (k = 1; k < PROM_STATUS_COUNT; k++) {
            errs += st[i].errors[k];
        }
        printf(" %s=%s,%g,%d,%llu,%llu,%llu", l->conf->rules[i].name,
               prom_status_name(d->rules[i].status), d->rules[i].value,
               d->rules[i].fired, (unsigned long long) d->rules[i].held_ms,
               (unsigned long long) d->rules[i].cooldown_left_ms,
               (unsigned long long) errs);
    }

    printf(" reason=\"%s\"\n", d->reason);
    fflush(stdout);

    l->current = d->capacity;
}


static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    loop_t  *l = arg;

    (void) fd;
    (void) what;

    autoscale_runner_evaluate(l->runner, l->current, on_decision, l);
}


static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    loop_t           *l = arg;
    struct evbuffer  *b;
    expo_t            e;
    json_t           *j;
    char             *s;

    (void) what;

    if (sig == SIGTERM || sig == SIGINT) {
        event_base_loopexit(l->base, NULL);
        return;
    }

    if (sig == SIGUSR1) {
        b = evbuffer_new();
        expo_begin(&e, b);
        autoscale_metrics_write(&e, &l->runner, 1);
        if (expo_end(&e) != 0) {
            printf("metrics: %s\n", e.why);
        }
        printf("metrics-begin\n");
        fflush(stdout);
        evbuffer_write(b, 1);
        printf("metrics-end\n");
        evbuffer_free(b);
    } else {
        j = autoscale_runner_json(l->runner);
        s = json_dumps(j, JSON_COMPACT);
        printf("json %s\n", s);
        free(s);
        json_decref(j);
    }

    fflush(stdout);
}


static void
capacity(json_t *a, autoscale_capacity_t *c)
{
    c->min = json_integer_value(json_array_get(a, 0));
    c->max = json_integer_value(json_array_get(a, 1));
    c->def = json_integer_value(json_array_get(a, 2));
}


static void
log_line(void *ctx, int prio, const char *pool, const char *msg)
{
    (void) ctx;
    printf("log %d pool=%s %s\n", prio, pool, msg);
    fflush(stdout);
}


int
main(int argc, char **argv)
{
    autoscale_profile_config_t  *profiles;
    autoscale_rule_config_t     *rules;
    autoscale_config_t           conf;
    prom_config_t                pconf;
    prom_client_t               *prom;
    struct event                *sigs[5];
    json_error_t                 jerr;
    json_t                      *root, *jr, *fx, *x;
    uint64_t                     ms;
    loop_t                       l;
    size_t                       i;
    const char                  *s;
    int                          signals[5] = { SIGTERM, SIGINT, SIGUSR1,
                                                SIGUSR2, 0 };

    if (argc != 2 || (root = json_load_file(argv[1], 0, &jerr)) == NULL) {
        fprintf(stderr, "usage: autoscale_loop CONFIG.json\n");
        return 2;
    }

    memset(&conf, 0, sizeof(conf));
    memset(&l, 0, sizeof(l));
    capacity(json_object_get(root, "capacity"), &conf.capacity);
    conf.max_step = json_integer_value(json_object_get(root, "max_step"));
    l.current = json_integer_value(json_object_get(root, "current"));
    l.start_ms = now_ms();

    jr = json_object_get(root, "rules");
    conf.nrules = json_array_size(jr);
    rules = calloc(conf.nrules + 1, sizeof(*rules));

    for (i = 0; i < conf.nrules; i++) {
        x = json_array_get(jr, i);
        snprintf(rules[i].name, sizeof(rules[i].name), "%s",
                 json_string_value(json_object_get(x, "name")));
        rules[i].query = json_string_value(json_object_get(x, "query"));
        if (autoscale_op_parse(json_string_value(json_object_get(x,
                                                 "operator")),
                               &rules[i].op) != 0)
        {
            fprintf(stderr, "bad operator in rule %zu\n", i);
            return 2;
        }
        rules[i].threshold = json_number_value(json_object_get(x,
                                                               "threshold"));
        rules[i].for_ms = json_integer_value(json_object_get(x, "for_ms"));
        rules[i].cooldown_ms = json_integer_value(json_object_get(x,
                                                      "cooldown_ms"));
        if (json_object_get(x, "percent")) {
            rules[i].action = AUTOSCALE_ACTION_PERCENT;
            rules[i].value = json_integer_value(json_object_get(x,
                                                                "percent"));
        } else if (json_object_get(x, "exact")) {
            rules[i].action = AUTOSCALE_ACTION_EXACT;
            rules[i].value = json_integer_value(json_object_get(x, "exact"));
        } else {
            rules[i].action = AUTOSCALE_ACTION_CHANGE;
            rules[i].value = json_integer_value(json_object_get(x, "change"));
        }
        s = json_string_value(json_object_get(x, "reduce"));
        if (prom_reduce_parse(s ? s : "", &rules[i].reduce) != 0) {
            fprintf(stderr, "bad reduce in rule %zu\n", i);
            return 2;
        }
        rules[i].per_instance = !json_is_false(json_object_get(x,
                                                     "per_instance"));
    }
    conf.rules = rules;

    fx = json_object_get(root, "fixed");
    conf.nprofiles = json_array_size(fx);
    profiles = calloc(conf.nprofiles + 1, sizeof(*profiles));

    for (i = 0; i < conf.nprofiles; i++) {
        x = json_array_get(fx, i);
        snprintf(profiles[i].name, sizeof(profiles[i].name), "%s",
                 json_string_value(json_object_get(x, "name")));
        profiles[i].kind = AUTOSCALE_PROFILE_FIXED;
        ms = l.start_ms + json_integer_value(json_object_get(x,
                                                             "start_in_ms"));
        profiles[i].start = (time_t) ((ms + 999) / 1000);
        ms = l.start_ms + json_integer_value(json_object_get(x, "end_in_ms"));
        profiles[i].end = (time_t) ((ms + 999) / 1000);
        capacity(json_object_get(x, "capacity"), &profiles[i].capacity);
    }
    conf.profiles = profiles;

    ms = json_integer_value(json_object_get(root, "interval_ms"));
    l.interval.tv_sec = ms / 1000;
    l.interval.tv_usec = (ms % 1000) * 1000;
    l.conf = &conf;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    l.base = event_base_new();

    memset(&pconf, 0, sizeof(pconf));
    pconf.url = json_string_value(json_object_get(root, "prometheus"));
    pconf.timeout_ms = 1000;
    prom = prom_client_new(l.base, &pconf);

    l.runner = autoscale_runner_new(l.base, prom, "web", &conf);
    autoscale_runner_set_log(l.runner, log_line, NULL);

    for (i = 0; signals[i]; i++) {
        sigs[i] = evsignal_new(l.base, signals[i], on_signal, &l);
        event_add(sigs[i], NULL);
    }

    l.tick = event_new(l.base, -1, EV_PERSIST, on_tick, &l);
    event_add(l.tick, &l.interval);
    printf("started\n");
    fflush(stdout);

    event_base_dispatch(l.base);

    for (i = 0; signals[i]; i++) {
        event_free(sigs[i]);
    }
    event_free(l.tick);
    autoscale_runner_free(l.runner);
    prom_client_free(prom);
    event_base_free(l.base);
    curl_global_cleanup();
    free(rules);
    free(profiles);
    json_decref(root);

    return 0;
}
