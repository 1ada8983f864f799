/*
 * prom.h: the Prometheus client (prom.c): instant queries on libcurl's
 * multi interface driven by a libevent base, and the decoder of their
 * answers (pure).
 */

#ifndef SCALER_PROM_H
#define SCALER_PROM_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef enum {
    PROM_REDUCE_NONE = 0, /* several series is an error */
    PROM_REDUCE_SUM,
    PROM_REDUCE_AVG,
    PROM_REDUCE_MAX,
    PROM_REDUCE_MIN
} prom_reduce_t;

typedef enum {
    PROM_OK = 0,
    PROM_ERR_UNREACHABLE, /* connect failed, refused, reset */
    PROM_ERR_TIMEOUT,
    PROM_ERR_HTTP,       /* a status other than 200 (and no JSON) */
    PROM_ERR_PROMETHEUS, /* "status": "error" */
    PROM_ERR_EMPTY,      /* no series (absent or stale data) */
    PROM_ERR_MULTIPLE,   /* several series and no reduce */
    PROM_ERR_NAN,        /* NaN or +-Inf */
    PROM_ERR_PARSE       /* not the JSON we expect */
} prom_status_t;

#define PROM_STATUS_COUNT 9

typedef struct {
    prom_status_t status;
    double        value; /* PROM_OK only */
    size_t        nseries;
    long          http_code;   /* 0: none */
    char          detail[256]; /* errorType: error, ... */
} prom_result_t;

typedef struct {
    const char *url;        /* http://127.0.0.1:9090 */
    uint64_t    timeout_ms; /* whole request; 0: 2000 */
    const char *username;   /* basic auth, optional */
    const char *password;
    const char *bearer_token; /* optional */
} prom_config_t;

typedef struct prom_client_s prom_client_t;

typedef void (*prom_handler_pt)(const prom_result_t *res, void *arg);

/* "ok", "unreachable", "timeout", "http", "prometheus", "empty",
 * "multiple", "nan", "parse": label values for metric_errors_total{kind} */
const char *prom_status_name(prom_status_t status);

/*
 * Decodes a /api/v1/query response body (any HTTP code: Prometheus sends
 * its error JSON with 400/422/503) into *res, reducing several series
 * with reduce.  Pure; returns res->status.
 */
prom_status_t prom_parse_response(long http_code, const char *body, size_t len,
                                  prom_reduce_t reduce, prom_result_t *res);

/* a client on base; the config strings are copied */
prom_client_t *prom_client_new(struct event_base   *base,
                               const prom_config_t *conf);

/*
 * Starts an instant query; handler is called exactly once from the event
 * loop (never from inside prom_query).  Returns 0, or -1 when the query
 * could not be started (then the handler is not called).
 */
int prom_query(prom_client_t *c, const char *query, prom_reduce_t reduce,
               prom_handler_pt handler, void *arg);

/*
 * Queries in flight are cancelled without calling their handlers.  Not
 * from inside a handler.
 */
void prom_client_free(prom_client_t *c);

/* "sum", "avg", "max", "min", "" and back */
int prom_reduce_parse(const char *s, prom_reduce_t *r);

#endif /* SCALER_PROM_H */
