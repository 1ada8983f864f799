/*
 * Cron expressions and date-times evaluated in an IANA timezone.
 *
 * Wall time <-> instant conversions read the zone's own rules from its
 * TZif file (tz.c): no TZ environment variable, no tzset(), nothing the
 * libvirt threads could see half-changed, and the same answers from any
 * thread.  Calendar arithmetic (days, weekdays) is done on civil dates.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cron.h"
#include "tz.h"


typedef struct {
    int y;
    int m; /* 1..12 */
    int d; /* 1..31 */
} civil_t;


static int     cron_field(const char *s, size_t len, int lo, int hi,
                          const char *const *names, uint64_t *bits, int *star,
                          char *err, size_t errlen);
static int     cron_atom(const char *s, size_t len, int lo, int hi,
                         const char *const *names, int *v);
static civil_t civil_from_days(int64_t z);
static int     days_in_month(int y, int m);
static int     day_matches(const cron_expr_t *c, civil_t cd, int64_t days);
static time_t  wall_to_instant(const tz_t *z, int y, int mo, int d, int h,
                               int mi);
static int     day_instants(const tz_t *z, const cron_expr_t *c, civil_t cd,
                            time_t *out, int max);
static int64_t local_days(const tz_t *z, time_t t);
static int cron_search(const cron_expr_t *c, const char *tz, time_t t, int dir,
                       int64_t days, time_t *found);
static int digits(const char *s, int n);


static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may",
                                           "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec", NULL };

static const char *const dow_names[] = { "sun", "mon", "tue", "wed",
                                         "thu", "fri", "sat", NULL };


int
cron_parse(const char *s, cron_expr_t *c, char *err, size_t errlen)
{
    /* clang-format off */
    static const struct {
        const char         *what;
        int                 lo, hi;
        const char *const  *names;
    } fields[5] = {
        { "minute", 0, 59, NULL },
        { "hour", 0, 23, NULL },
        { "day of month", 1, 31, NULL },
        { "month", 1, 12, month_names },
        { "day of week", 0, 7, dow_names },
    };
    /* clang-format on */
    const char *p, *start;
    uint64_t    bits[5];
    int         star[5], i;

    memset(c, 0, sizeof(*c));
    p = s;

    for (i = 0; i < 5; i++) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }

        if (*p == '\0') {
            snprintf(err, errlen, "expected 5 fields, got %d", i);
            return -1;
        }

        start = p;
        while (*p && *p != ' ' && *p != '\t') {
            p++;
        }

        if (cron_field(start, p - start, fields[i].lo, fields[i].hi,
                       fields[i].names, &bits[i], &star[i], err, errlen)
            != 0)
        {
            size_t l = strlen(err);
            snprintf(err + l, errlen > l ? errlen - l : 0, " in %s field",
                     fields[i].what);
            return -1;
        }
    }

    while (*p == ' ' || *p == '\t') {
        p++;
    }

    if (*p != '\0') {
        snprintf(err, errlen, "more than 5 fields");
        return -1;
    }

    c->minute = bits[0];
    c->hour = (uint32_t) bits[1];
    c->dom = (uint32_t) bits[2];
    c->month = (uint16_t) bits[3];
    /* 7 is Sunday too */
    c->dow = (uint8_t) ((bits[4] | (bits[4] >> 7)) & 0x7f);
    c->dom_star = star[2];
    c->dow_star = star[4];

    return 0;
}


static int
cron_field(const char *s, size_t len, int lo, int hi, const char *const *names,
           uint64_t *bits, int *star, char *err, size_t errlen)
{
    const char *p, *end, *item_end, *slash, *dash;
    int         a, b, step, v;

    *bits = 0;
    *star = (len >= 1 && s[0] == '*');
    p = s;
    end = s + len;

    while (p < end) {
        item_end = memchr(p, ',', end - p);
        if (item_end == NULL) {
            item_end = end;
        }

        if (item_end == p) {
            snprintf(err, errlen, "empty list item");
            return -1;
        }

        slash = memchr(p, '/', item_end - p);
        step = 1;

        if (slash) {
            char  buf[8];
            char *e;
            long  l;

            if (item_end - slash - 1 <= 0 || item_end - slash - 1 >= 8) {
                snprintf(err, errlen, "bad step");
                return -1;
            }
            memcpy(buf, slash + 1, item_end - slash - 1);
            buf[item_end - slash - 1] = '\0';
            l = strtol(buf, &e, 10);
            if (*e != '\0' || !isdigit((unsigned char) buf[0]) || l < 1
                || l > hi) {
                snprintf(err, errlen, "bad step \"%s\"", buf);
                return -1;
            }
            step = (int) l;
        } else {
            slash = item_end;
        }

        if (slash - p == 1 && *p == '*') {
            a = lo;
            b = (hi == 7) ? 6 : hi;

        } else {
            dash = memchr(p, '-', slash - p);

            if (dash) {
                if (cron_atom(p, dash - p, lo, hi, names, &a) != 0
                    || cron_atom(dash + 1, slash - dash - 1, lo, hi, names, &b)
                           != 0)
                {
                    snprintf(err, errlen, "bad range \"%.*s\"",
                             (int) (slash - p), p);
                    return -1;
                }
                if (a > b) {
                    snprintf(err, errlen, "reversed range \"%.*s\"",
                             (int) (slash - p), p);
                    return -1;
                }

            } else {
                if (cron_atom(p, slash - p, lo, hi, names, &a) != 0) {
                    snprintf(err, errlen, "bad value \"%.*s\"",
                             (int) (slash - p), p);
                    return -1;
                }
                /* "N/step" means N-max/step, as in Vixie cron */
                b = (slash != item_end) ? hi : a;
            }
        }

        for (v = a; v <= b; v += step) {
            *bits |= (uint64_t) 1 << v;
        }

        p = item_end + (item_end < end ? 1 : 0);
        if (item_end < end && p == end) {
            snprintf(err, errlen, "empty list item");
            return -1;
        }
    }

    return 0;
}


static int
cron_atom(const char *s, size_t len, int lo, int hi, const char *const *names,
          int *v)
{
    size_t i;
    int    n;

    if (len == 0 || len > 3) {
        return -1;
    }

    if (isalpha((unsigned char) s[0])) {
        if (names == NULL || len != 3) {
            return -1;
        }
        for (i = 0; names[i]; i++) {
            if (strncasecmp(s, names[i], 3) == 0) {
                *v = (int) i + (names == month_names ? 1 : 0);
                return 0;
            }
        }
        return -1;
    }

    n = 0;
    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char) s[i])) {
            return -1;
        }
        n = n * 10 + (s[i] - '0');
    }

    if (n < lo || n > hi) {
        return -1;
    }

    *v = n;
    return 0;
}


/* --- time zones ------------------------------------------------------- */

int
cron_tz_valid(const char *tz)
{
    return tz_get(tz) != NULL;
}


/* --- civil calendar (tz.c's) ------------------------------------------ */

static civil_t
civil_from_days(int64_t z)
{
    civil_t c;
    int64_t y;

    tz_civil_from_days(z, &y, &c.m, &c.d);
    c.y = (int) y;

    return c;
}


static int
days_in_month(int y, int m)
{
    return (
        int) (tz_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1)
              - tz_days_from_civil(y, m, 1));
}


static int
day_matches(const cron_expr_t *c, civil_t cd, int64_t days)
{
    int wd, dom_ok, dow_ok;

    if (!(c->month & (1u << cd.m))) {
        return 0;
    }

    /* 1970-01-01 was a Thursday */
    wd = (int) (((days % 7) + 7 + 4) % 7);

    dom_ok = (c->dom >> cd.d) & 1;
    dow_ok = (c->dow >> wd) & 1;

    if (c->dom_star || c->dow_star) {
        return dom_ok && dow_ok;
    }

    return dom_ok || dow_ok;
}


/*
 * The instant of a local wall time in zone z: an existing wall time maps
 * to its first occurrence; one skipped by a DST gap maps to the end of
 * the gap (the first instant whose wall clock is past it).
 */
static time_t
wall_to_instant(const tz_t *z, int y, int mo, int d, int h, int mi)
{
    return (time_t) tz_from_local(
        z, (tz_days_from_civil(y, mo, d) * 24 + h) * 3600 + mi * 60);
}


/* the instants at which c fires on local day cd, ascending */
static int
day_instants(const tz_t *z, const cron_expr_t *c, civil_t cd, time_t *out,
             int max)
{
    int    h, mi, n, i, j;
    time_t t, tmp;

    n = 0;

    for (h = 0; h < 24; h++) {
        if (!((c->hour >> h) & 1)) {
            continue;
        }
        for (mi = 0; mi < 60; mi++) {
            if (!((c->minute >> mi) & 1)) {
                continue;
            }
            t = wall_to_instant(z, cd.y, cd.m, cd.d, h, mi);
            if (n > 0 && out[n - 1] == t) {
                continue; /* two gap times mapped to one instant */
            }
            if (n < max) {
                out[n++] = t;
            }
        }
    }

    /* gap mappings may disorder a few entries */
    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && out[j - 1] > out[j]; j--) {
            tmp = out[j];
            out[j] = out[j - 1];
            out[j - 1] = tmp;
        }
    }

    return n;
}


/* the local day (days since 1970-01-01) of instant t */
static int64_t
local_days(const tz_t *z, time_t t)
{
    int64_t w = (int64_t) t + tz_offset(z, t);

    return w / 86400 - (w % 86400 < 0);
}


/*
 * The first match after t (dir 1) or the last at or before t (dir -1),
 * over the local days from the one before t's (after it, going back: a
 * gap time of that day may map past t) and days more.
 */
static int
cron_search(const cron_expr_t *c, const char *tz, time_t t, int dir,
            int64_t days, time_t *found)
{
    const tz_t *z;
    time_t      inst[24 * 60], v;
    int64_t     day, i;
    civil_t     cd;
    int         n, k;

    if ((z = tz_get(tz)) == NULL) {
        return -1;
    }

    day = local_days(z, t) - dir;

    for (i = 0; i <= days + 1; i++, day += dir) {
        cd = civil_from_days(day);

        if (cd.d > days_in_month(cd.y, cd.m) || !day_matches(c, cd, day)) {
            continue;
        }

        n = day_instants(z, c, cd, inst, 24 * 60);

        for (k = 0; k < n; k++) {
            v = inst[dir > 0 ? k : n - 1 - k];

            if (dir > 0 ? v > t : v <= t) {
                *found = v;
                return 0;
            }
        }
    }

    return -1;
}


int
cron_next(const cron_expr_t *c, const char *tz, time_t t, time_t *next)
{
    return cron_search(c, tz, t, 1, 366 * 28, next);
}


int
cron_prev(const cron_expr_t *c, const char *tz, time_t t, time_t *prev)
{
    return cron_search(c, tz, t, -1, 400, prev);
}


/* the value of exactly n ASCII digits at s, or -1 (a sign, a space or a
   short field is no number here) */
static int
digits(const char *s, int n)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }

    return v;
}


int
cron_parse_datetime(const char *s, const char *tz, time_t *t)
{
    const tz_t *z;
    int         y, mo, d, h, mi, sec, oh, om;
    const char *p;

    /* YYYY-MM-DD[T ]HH:MM[:SS][Z|(+|-)HH:MM], each field its digits */
    if (strlen(s) < 16 || s[4] != '-' || s[7] != '-'
        || (s[10] != ' ' && s[10] != 'T') || s[13] != ':')
    {
        return -1;
    }

    y = digits(s, 4);
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    h = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    sec = 0;
    p = s + 16;

    if (*p == ':') {
        if ((sec = digits(p + 1, 2)) < 0) {
            return -1;
        }
        p += 3;
    }

    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0) {
        return -1;
    }

    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)
        || h > 23 || mi > 59 || sec > 59)
    {
        return -1;
    }

    if (*p == 'Z' && p[1] == '\0') {
        *t = (time_t) ((tz_days_from_civil(y, mo, d) * 24 + h) * 3600 + mi * 60
                       + sec);
        return 0;
    }

    if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        oh = digits(p + 1, 2);
        om = digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59) {
            return -1;
        }
        *t = (time_t) ((tz_days_from_civil(y, mo, d) * 24 + h) * 3600 + mi * 60
                       + sec)
             - (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        return 0;
    }

    if (*p != '\0' || (z = tz_get(tz)) == NULL) {
        return -1;
    }

    *t = wall_to_instant(z, y, mo, d, h, mi) + sec;

    return 0;
}
