/*
 * cron.h: cron expressions and date-times in IANA time zones (cron.c),
 * pure functions of the expression, the zone and the instant.
 */

#ifndef SCALER_CRON_H
#define SCALER_CRON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* a parsed 5-field cron expression; see cron_parse() */
typedef struct {
    uint64_t minute;       /* bit 0..59 */
    uint32_t hour;         /* bit 0..23 */
    uint32_t dom;          /* bit 1..31 */
    uint16_t month;        /* bit 1..12 */
    uint8_t  dow;          /* bit 0..6, 0 = Sunday */
    unsigned dom_star : 1; /* field was "*" (or "*" /N) */
    unsigned dow_star : 1;
} cron_expr_t;

/*
 * "m h dom mon dow": each field "*", N, A-B, lists "a,b", steps "*" /N and
 * A-B/N; months JAN..DEC and days SUN..SAT (any case), 7 = Sunday.  As in
 * Vixie cron, when both day fields are restricted a day matching either
 * matches.  Returns 0, or -1 with a reason in err.
 */
int cron_parse(const char *s, cron_expr_t *c, char *err, size_t errlen);

/*
 * The first instant strictly after t (UTC seconds) at which c matches the
 * wall clock of timezone tz ("" or NULL: UTC).  A wall time skipped by a
 * DST change fires at the end of the gap; a repeated wall time fires once,
 * at its first occurrence.  Returns 0, or -1 (bad timezone, no match in
 * 28 years).
 */
int cron_next(const cron_expr_t *c, const char *tz, time_t t, time_t *next);

/* the last match at or before t (same rules); -1 if none within 400 days */
int cron_prev(const cron_expr_t *c, const char *tz, time_t t, time_t *prev);

/*
 * A fixed-date profile's start or end: "YYYY-MM-DD HH:MM[:SS]" (or with
 * "T") as wall time in tz, or with "Z" / "+HH:MM" / "-HH:MM" as an
 * absolute time (tz unused).  A wall time in a DST gap means the end of
 * the gap, a repeated one its first occurrence.  Returns 0 or -1.
 */
int cron_parse_datetime(const char *s, const char *tz, time_t *t);

/* 1 if tz names a zone in the system database ("" and "UTC" are valid) */
int cron_tz_valid(const char *tz);

#endif /* SCALER_CRON_H */
