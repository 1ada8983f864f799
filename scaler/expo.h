/*
 * expo.h: the scaler's one writer of the Prometheus text exposition
 * format 0.0.4 (api.c's /metrics and every file that adds families to
 * it: vmstats.c, autoscale_runner.c, autoscale_daemon.c).
 *
 *   expo_t e;
 *   expo_begin(&e, buf);
 *   expo_family(&e, "scaleset_scaler_x_total", "counter", "What it counts.");
 *   expo_sample(&e, 3, "pool", "web", "zone", "z1", NULL);
 *   rc = expo_end(&e);           (0, or -1: see below)
 *
 * Each family gets its "# HELP" and "# TYPE" lines once, before its
 * samples; a sample belongs to the last family begun.  Label values are
 * escaped (\\, \", \n), HELP text too (\\, \n); values are printed as
 * Prometheus parses them (NaN, +Inf, -Inf, integers without a point).
 * The first error sticks and makes expo_end() return -1: out of memory,
 * a family begun twice (its samples would not be contiguous), a sample
 * before any family, an invalid metric or label name, a type other than
 * counter, gauge or untyped.
 */

#ifndef SCALER_EXPO_H
#define SCALER_EXPO_H

#include <stddef.h>

struct evbuffer;

typedef struct {
    struct evbuffer *out;
    char           **seen; /* families begun, malloc'd names */
    size_t           nseen, cseen;
    int              failed;
    const char      *why; /* the first error, for logs */
} expo_t;

void expo_begin(expo_t *e, struct evbuffer *out);
void expo_family(expo_t *e, const char *name, const char *type,
                 const char *help);
/* label name/value pairs, then NULL */
void expo_sample(expo_t *e, double value, ...) __attribute__((sentinel));
/* a failure of the caller's (why: a literal), sticking as the writer's */
void expo_fail(expo_t *e, const char *why);
/* frees what expo_begin() set up; 0, or -1 when something failed */
int expo_end(expo_t *e);

#endif /* SCALER_EXPO_H */
