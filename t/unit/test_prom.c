/*
 * Unit tests of scaler/autoscale/prom.c: response decoding (table), and
 * the client on a libevent loop against a closed port (unreachable) and
 * a listening socket that never answers (timeout).  t/autoscale_prom.t
 * runs it against a real Prometheus.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "prom.h"


typedef struct {
    long           http;
    const char    *body;
    prom_reduce_t  reduce;
    prom_status_t  want;
    double         value;
    const char    *detail;      /* substring, optional */
} parse_case_t;

#define V1(v)  "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\"," \
               "\"result\":[{\"metric\":{\"i\":\"a\"},\"value\":[1.5,\"" v \
               "\"]}]}}"
#define V3     "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\"," \
               "\"result\":[{\"metric\":{\"i\":\"a\"},\"value\":[1,\"1\"]},"  \
               "{\"metric\":{\"i\":\"b\"},\"value\":[1,\"2\"]},"              \
               "{\"metric\":{\"i\":\"c\"},\"value\":[1,\"6\"]}]}}"

static const parse_case_t  parse_cases[] = {
    { 200, V1("42.5"), PROM_REDUCE_NONE, PROM_OK, 42.5, NULL },
    { 200, V1("0"), PROM_REDUCE_NONE, PROM_OK, 0, NULL },
    { 200, V1("-3e2"), PROM_REDUCE_NONE, PROM_OK, -300, NULL },
    { 200, V1("NaN"), PROM_REDUCE_NONE, PROM_ERR_NAN, 0, NULL },
    { 200, V1("+Inf"), PROM_REDUCE_NONE, PROM_ERR_NAN, 0, NULL },
    { 200, V1("-Inf"), PROM_REDUCE_SUM, PROM_ERR_NAN, 0, NULL },
    { 200, V1("12abc"), PROM_REDUCE_NONE, PROM_ERR_PARSE, 0, NULL },
    { 200, V1(""), PROM_REDUCE_NONE, PROM_ERR_PARSE, 0, NULL },
    { 200, V3, PROM_REDUCE_NONE, PROM_ERR_MULTIPLE, 0, "3 series" },
    { 200, V3, PROM_REDUCE_SUM, PROM_OK, 9, NULL },
    { 200, V3, PROM_REDUCE_AVG, PROM_OK, 3, NULL },
    { 200, V3, PROM_REDUCE_MAX, PROM_OK, 6, NULL },
    { 200, V3, PROM_REDUCE_MIN, PROM_OK, 1, NULL },
    { 200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
      "\"result\":[]}}", PROM_REDUCE_SUM, PROM_ERR_EMPTY, 0, NULL },
    { 200, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
      "\"result\":[1700000000.1,\"7\"]}}", PROM_REDUCE_NONE, PROM_OK, 7,
      NULL },
    { 200, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
      "\"result\":[]}}", PROM_REDUCE_NONE, PROM_ERR_PARSE, 0, "matrix" },
    { 400, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
      "\"invalid parameter \\\"query\\\": 1:5: parse error\"}",
      PROM_REDUCE_NONE, PROM_ERR_PROMETHEUS, 0, "bad_data: invalid" },
    { 422, "{\"status\":\"error\",\"errorType\":\"execution\",\"error\":"
      "\"many-to-many matching\"}", PROM_REDUCE_NONE, PROM_ERR_PROMETHEUS,
      0, "execution" },
    { 503, "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":"
      "\"query timed out\"}", PROM_REDUCE_NONE, PROM_ERR_PROMETHEUS, 0,
      "timeout" },
    { 502, "<html>Bad Gateway</html>", PROM_REDUCE_NONE, PROM_ERR_HTTP, 0,
      "HTTP 502" },
    { 401, "", PROM_REDUCE_NONE, PROM_ERR_HTTP, 0, "HTTP 401" },
    { 200, "not json", PROM_REDUCE_NONE, PROM_ERR_PARSE, 0, NULL },
    { 200, "{\"status\":\"success\"}", PROM_REDUCE_NONE, PROM_ERR_PARSE, 0,
      NULL },
    { 200, "[]", PROM_REDUCE_NONE, PROM_ERR_PARSE, 0, NULL },
    { 200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
      "\"result\":[{\"metric\":{}}]}}", PROM_REDUCE_NONE, PROM_ERR_PARSE, 0,
      NULL },
    { 200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
      "\"result\":[{\"metric\":{},\"value\":[1,2]}]}}", PROM_REDUCE_NONE,
      PROM_ERR_PARSE, 0, NULL },
};


static void
test_parse(void **state)
{
    const parse_case_t  *tc;
    prom_result_t        res;
    size_t               i;

    (void) state;

    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        tc = &parse_cases[i];

        prom_parse_response(tc->http, tc->body, strlen(tc->body), tc->reduce,
                            &res);

        if (res.status != tc->want) {
            fail_msg("case %zu: expected %s, got %s (%s)", i,
                     prom_status_name(tc->want), prom_status_name(res.status),
                     res.detail);
        }

        if (tc->want == PROM_OK) {
            if (fabs(res.value - tc->value) > 1e-9) {
                fail_msg("case %zu: expected %g, got %g", i, tc->value,
                         res.value);
            }
        } else {
            assert_true(isnan(res.value));
        }

        if (tc->detail && strstr(res.detail, tc->detail) == NULL) {
            fail_msg("case %zu: detail \"%s\" lacks \"%s\"", i, res.detail,
                     tc->detail);
        }
    }
}


typedef struct {
    struct event_base  *base;
    prom_result_t       res;
    int                 calls;
} done_t;


static void
on_done(const prom_result_t *res, void *arg)
{
    done_t  *d = arg;

    d->res = *res;
    d->calls++;
    event_base_loopbreak(d->base);
}


static int
listener(int *port)
{
    struct sockaddr_in  sin;
    socklen_t           len;
    int                 fd;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);

    len = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    *port = ntohs(sin.sin_port);

    return fd;
}


static void
run_query(int port, uint64_t timeout_ms, done_t *d)
{
    prom_client_t  *c;
    prom_config_t   conf;
    char            url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    memset(&conf, 0, sizeof(conf));
    conf.url = url;
    conf.timeout_ms = timeout_ms;
    conf.bearer_token = "secret";

    memset(d, 0, sizeof(*d));
    d->base = event_base_new();
    c = prom_client_new(d->base, &conf);
    assert_non_null(c);

    assert_int_equal(prom_query(c, "up{job=\"x\"}", PROM_REDUCE_NONE, on_done,
                                d), 0);
    /* never called from inside prom_query */
    assert_int_equal(d->calls, 0);

    event_base_dispatch(d->base);

    prom_client_free(c);
    event_base_free(d->base);
}


static void
test_unreachable(void **state)
{
    done_t  d;
    int     fd, port;

    (void) state;

    /* a bound port nobody listens on refuses connections */
    fd = listener(&port);
    run_query(port, 2000, &d);
    close(fd);

    assert_int_equal(d.calls, 1);
    assert_int_equal(d.res.status, PROM_ERR_UNREACHABLE);
}


static void
test_timeout(void **state)
{
    done_t  d;
    int     fd, port;

    (void) state;

    /* listening, never accepted: connects, then no answer */
    fd = listener(&port);
    assert_int_equal(listen(fd, 8), 0);
    run_query(port, 300, &d);
    close(fd);

    assert_int_equal(d.calls, 1);
    assert_int_equal(d.res.status, PROM_ERR_TIMEOUT);
}


/* freeing a client with a query in flight calls no handler */
static void
test_free_in_flight(void **state)
{
    struct event_base  *base;
    prom_client_t      *c;
    prom_config_t       conf;
    done_t              d;
    int                 fd, port;
    char                url[64];

    (void) state;

    fd = listener(&port);
    assert_int_equal(listen(fd, 8), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    memset(&conf, 0, sizeof(conf));
    conf.url = url;
    conf.username = "u";
    conf.password = "p";

    memset(&d, 0, sizeof(d));
    base = event_base_new();
    d.base = base;
    c = prom_client_new(base, &conf);
    assert_int_equal(prom_query(c, "a", PROM_REDUCE_NONE, on_done, &d), 0);
    assert_int_equal(prom_query(c, "b", PROM_REDUCE_NONE, on_done, &d), 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    prom_client_free(c);
    event_base_free(base);
    close(fd);

    assert_int_equal(d.calls, 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_free_in_flight),
    };
    int                      rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    cmocka_set_message_output(CM_OUTPUT_TAP);
    rc = cmocka_run_group_tests_name("prom", tests, NULL, NULL);
    curl_global_cleanup();

    return rc;
}
