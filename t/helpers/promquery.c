/*
 * promquery URL QUERY [REDUCE [TIMEOUT_MS]]: one instant query through
 * scaler/autoscale/prom.c on a libevent loop; prints "STATUS VALUE
 * DETAIL" (VALUE "-" on an error).  Used by t/autoscale_prom.t against a
 * real Prometheus.  PROM_TOKEN, PROM_USER and PROM_PASSWORD set the
 * optional credentials.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "prom.h"


static void
on_done(const prom_result_t *res, void *arg)
{
    if (res->status == PROM_OK) {
        printf("%s %.17g %s\n", prom_status_name(res->status), res->value,
               res->detail);
    } else {
        printf("%s - %s\n", prom_status_name(res->status), res->detail);
    }

    *(int *) arg = res->status == PROM_OK ? 0 : 1;
}


int
main(int argc, char **argv)
{
    struct event_base  *base;
    prom_client_t      *c;
    prom_config_t       conf;
    prom_reduce_t       reduce;
    int                 rc;

    if (argc < 3) {
        fprintf(stderr, "usage: promquery URL QUERY [REDUCE [TIMEOUT_MS]]\n");
        return 2;
    }

    reduce = PROM_REDUCE_NONE;
    if (argc > 3 && prom_reduce_parse(argv[3], &reduce) != 0) {
        fprintf(stderr, "bad reduce \"%s\"\n", argv[3]);
        return 2;
    }

    memset(&conf, 0, sizeof(conf));
    conf.url = argv[1];
    conf.timeout_ms = argc > 4 ? strtoull(argv[4], NULL, 10) : 2000;
    conf.bearer_token = getenv("PROM_TOKEN");
    conf.username = getenv("PROM_USER");
    conf.password = getenv("PROM_PASSWORD");

    curl_global_init(CURL_GLOBAL_DEFAULT);
    base = event_base_new();
    c = prom_client_new(base, &conf);

    rc = 2;
    if (c == NULL || prom_query(c, argv[2], reduce, on_done, &rc) != 0) {
        fprintf(stderr, "cannot start the query\n");
        return 2;
    }

    event_base_dispatch(base);

    prom_client_free(c);
    event_base_free(base);
    curl_global_cleanup();

    return rc;
}
