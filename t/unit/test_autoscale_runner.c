/*
 * Unit tests of scaler/autoscale/autoscale_runner.c on a libevent loop,
 * Prometheus unreachable (a bound port nobody listens on): evaluations
 * complete with no action, the explanation JSON and the metrics text
 * carry the rules, a reload keeps state by rule name, freeing with
 * queries in flight calls nothing.  t/autoscale_rules.t runs it against
 * a real Prometheus.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "autoscale_runner.h"


typedef struct {
    struct event_base   *base;
    int                  calls;
    int64_t              capacity;
    int                  logs;
    int                  warnings;
    int                  last_prio;
    char                 last_log[512];
} ctx_t;


static autoscale_rule_config_t  rules_a[2] = {
    { "busy", "up", AUTOSCALE_OP_GT, 50, 0, AUTOSCALE_ACTION_CHANGE, 2, 0,
      PROM_REDUCE_NONE, 1 },
    { "idle", "up", AUTOSCALE_OP_LT, 10, 0, AUTOSCALE_ACTION_CHANGE, -1, 0,
      PROM_REDUCE_SUM, 1 },
};

static autoscale_rule_config_t  rules_b[3] = {
    { "new", "up", AUTOSCALE_OP_GT, 1, 0, AUTOSCALE_ACTION_CHANGE, 1, 0,
      PROM_REDUCE_NONE, 1 },
    { "idle", "up", AUTOSCALE_OP_LT, 10, 0, AUTOSCALE_ACTION_CHANGE, -1, 0,
      PROM_REDUCE_SUM, 1 },
    { "busy", "up", AUTOSCALE_OP_GT, 50, 0, AUTOSCALE_ACTION_CHANGE, 2, 0,
      PROM_REDUCE_NONE, 1 },
};


static void
on_done(autoscale_runner_t *r, const autoscale_decision_t *d, void *arg)
{
    ctx_t  *c = arg;

    assert_ptr_equal(autoscale_runner_last(r), d);
    c->calls++;
    c->capacity = d->capacity;
    event_base_loopbreak(c->base);
}


static void
on_log(void *arg, int prio, const char *pool, const char *msg)
{
    ctx_t  *c = arg;

    /* the pool is a field of its own, not in the text */
    assert_string_equal(pool, "web");
    assert_null(strstr(msg, "web"));
    c->logs++;
    c->warnings += prio == LOG_WARNING;
    c->last_prio = prio;
    snprintf(c->last_log, sizeof(c->last_log), "%s", msg);
}


static uint64_t
fixed_clock(void *arg)
{
    (void) arg;
    return 1800000000000ULL;
}


static int
closed_port(int *fd)
{
    struct sockaddr_in  sin;
    socklen_t           len;

    *fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(*fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    len = sizeof(sin);
    getsockname(*fd, (struct sockaddr *) &sin, &len);

    return ntohs(sin.sin_port);
}


static char *
metrics_text(autoscale_runner_t *r)
{
    struct evbuffer  *b;
    expo_t            e;
    char             *s;
    size_t            n;

    b = evbuffer_new();
    expo_begin(&e, b);
    autoscale_metrics_write(&e, &r, 1);
    assert_int_equal(expo_end(&e), 0);
    n = evbuffer_get_length(b);
    s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);

    return s;
}


static void
test_unreachable_no_action(void **state)
{
    autoscale_config_t   conf_a, conf_b;
    autoscale_runner_t  *r;
    prom_client_t       *prom;
    prom_config_t        pc;
    json_t              *j, *jr;
    ctx_t                c;
    char                 url[64], *m;
    int                  fd, port;

    (void) state;

    port = closed_port(&fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    memset(&pc, 0, sizeof(pc));
    pc.url = url;

    memset(&c, 0, sizeof(c));
    c.base = event_base_new();
    prom = prom_client_new(c.base, &pc);

    memset(&conf_a, 0, sizeof(conf_a));
    conf_a.capacity = (autoscale_capacity_t) { 2, 10, 2 };
    conf_a.rules = rules_a;
    conf_a.nrules = 2;

    r = autoscale_runner_new(c.base, prom, "web", &conf_a);
    autoscale_runner_set_log(r, on_log, &c);
    autoscale_runner_set_clock(r, fixed_clock, NULL);
    assert_null(autoscale_runner_last(r));

    /* metrics before the first evaluation */
    m = metrics_text(r);
    assert_non_null(strstr(m, "scaleset_scaler_rule_value{pool=\"web\","
                              "rule=\"busy\"} NaN\n"));
    free(m);

    assert_int_equal(autoscale_runner_evaluate(r, 5, on_done, &c), 0);
    assert_int_equal(autoscale_runner_evaluate(r, 5, on_done, &c), -1);
    assert_int_equal(c.calls, 0);
    event_base_dispatch(c.base);

    assert_int_equal(c.calls, 1);
    assert_int_equal(c.capacity, 5);
    assert_int_equal(autoscale_runner_state(r)[0]
                     .errors[PROM_ERR_UNREACHABLE], 1);
    /* two rules lost their data (warnings), the profile became known:
       logged */
    assert_int_equal(c.logs, 3);
    assert_int_equal(c.warnings, 2);
    assert_int_equal(c.last_prio, LOG_INFO);
    assert_string_equal(c.last_log, "profile default (min 2, max 10, "
                        "default 2)");

    /* again: no new log lines for the same state */
    assert_int_equal(autoscale_runner_evaluate(r, 5, on_done, &c), 0);
    event_base_dispatch(c.base);
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.logs, 3);

    j = autoscale_runner_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "profile")),
                        "default");
    assert_int_equal(json_integer_value(json_object_get(j, "capacity")), 5);
    assert_string_equal(json_string_value(json_object_get(j, "direction")),
                        "none");
    jr = json_array_get(json_object_get(j, "rules"), 1);
    assert_string_equal(json_string_value(json_object_get(jr, "name")),
                        "idle");
    assert_string_equal(json_string_value(json_object_get(jr, "status")),
                        "unreachable");
    assert_true(json_is_null(json_object_get(jr, "value")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(jr, "errors"), "unreachable")), 2);
    json_decref(j);

    m = metrics_text(r);
    assert_non_null(strstr(m, "# TYPE scaleset_scaler_metric_errors_total "
                              "counter\n"));
    assert_non_null(strstr(m, "scaleset_scaler_metric_errors_total{pool="
                              "\"web\",rule=\"idle\",kind=\"unreachable\"} "
                              "2\n"));
    assert_non_null(strstr(m, "scaleset_scaler_metric_errors_total{pool="
                              "\"web\",rule=\"idle\",kind=\"timeout\"} 0\n"));
    assert_non_null(strstr(m, "scaleset_scaler_scaling_actions_total{pool="
                              "\"web\",rule=\"busy\",direction=\"out\"} "
                              "0\n"));
    assert_non_null(strstr(m, "scaleset_scaler_rule_firing{pool=\"web\","
                              "rule=\"busy\"} 0\n"));
    assert_non_null(strstr(m, "scaleset_scaler_autoscale_bounds{pool="
                              "\"web\",profile=\"default\",bound=\"min\"} "
                              "2\n"));
    free(m);

    /* a reload keeps the state of rules by name */
    memset(&conf_b, 0, sizeof(conf_b));
    conf_b.capacity = (autoscale_capacity_t) { 1, 10, 3 };
    conf_b.rules = rules_b;
    conf_b.nrules = 3;
    autoscale_runner_reconfigure(r, &conf_b);
    assert_int_equal(autoscale_runner_state(r)[0]
                     .errors[PROM_ERR_UNREACHABLE], 0);
    assert_int_equal(autoscale_runner_state(r)[1]
                     .errors[PROM_ERR_UNREACHABLE], 2);
    assert_int_equal(autoscale_runner_state(r)[2]
                     .errors[PROM_ERR_UNREACHABLE], 2);

    /* below the default with no data: to the default */
    assert_int_equal(autoscale_runner_evaluate(r, 1, on_done, &c), 0);
    event_base_dispatch(c.base);
    assert_int_equal(c.capacity, 3);
    assert_non_null(strstr(c.last_log, "below default 3"));
    /* a decision is debug: the daemon logs the ones it applies */
    assert_int_equal(c.last_prio, LOG_DEBUG);

    /* reload in the middle of an evaluation: it is abandoned */
    assert_int_equal(autoscale_runner_evaluate(r, 5, on_done, &c), 0);
    autoscale_runner_reconfigure(r, &conf_a);
    event_base_loop(c.base, EVLOOP_NONBLOCK);
    event_base_loop(c.base, EVLOOP_NONBLOCK);
    assert_int_equal(c.calls, 3);

    /* freed with queries in flight: nothing is called */
    assert_int_equal(autoscale_runner_evaluate(r, 5, on_done, &c), 0);
    autoscale_runner_free(r);
    event_base_loop(c.base, EVLOOP_NONBLOCK);
    {
        struct timeval  tv = { 0, 200000 };

        event_base_loopexit(c.base, &tv);
        event_base_dispatch(c.base);
    }
    assert_int_equal(c.calls, 3);

    prom_client_free(prom);
    event_base_free(c.base);
    close(fd);
}


static void
test_no_rules(void **state)
{
    autoscale_profile_config_t  prof;
    autoscale_config_t          conf;
    autoscale_runner_t         *r;
    prom_client_t              *prom;
    prom_config_t               pc;
    ctx_t                       c;

    (void) state;

    memset(&pc, 0, sizeof(pc));
    pc.url = "http://127.0.0.1:1";
    memset(&c, 0, sizeof(c));
    c.base = event_base_new();
    prom = prom_client_new(c.base, &pc);

    memset(&prof, 0, sizeof(prof));
    strcpy(prof.name, "always");
    prof.kind = AUTOSCALE_PROFILE_FIXED;
    prof.start = 0;
    prof.end = 4000000000;
    prof.capacity = (autoscale_capacity_t) { 3, 5, 4 };

    memset(&conf, 0, sizeof(conf));
    conf.capacity = (autoscale_capacity_t) { 1, 10, 1 };
    conf.profiles = &prof;
    conf.nprofiles = 1;

    r = autoscale_runner_new(c.base, prom, "web", &conf);
    autoscale_runner_set_log(r, on_log, &c);

    /* never called from inside evaluate, even with nothing to query */
    assert_int_equal(autoscale_runner_evaluate(r, 9, on_done, &c), 0);
    assert_int_equal(c.calls, 0);
    event_base_dispatch(c.base);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.capacity, 5);

    autoscale_runner_free(r);
    prom_client_free(prom);
    event_base_free(c.base);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_unreachable_no_action),
        cmocka_unit_test(test_no_rules),
    };
    int                      rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    cmocka_set_message_output(CM_OUTPUT_TAP);
    rc = cmocka_run_group_tests_name("autoscale_runner", tests, NULL, NULL);
    curl_global_cleanup();

    return rc;
}
