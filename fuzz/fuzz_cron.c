/*
 * Cron expressions and time zones (scaler/autoscale/cron.c).  The input
 * is up to three lines: a cron expression, a time zone name, a date-time.
 * Properties:
 * - a parsed expression sets only bits of its fields' ranges, at least one
 *   in each;
 * - a zone cron_tz_valid() accepts is "", "UTC" or a TZif file of the
 *   system database (a directory or another file would silently be UTC);
 * - a date-time cron_parse_datetime() accepts has the documented shape
 *   (YYYY-MM-DD[T ]HH:MM[:SS] then Z, +HH:MM, -HH:MM or nothing), fields in
 *   range, and for Z and an offset exactly the instant the fields name;
 *   as a wall time it is within a day of the fields read as UTC;
 * - next = cron_next(t) is after t, cron_prev(next) == next, and with
 *   prev = cron_prev(t): prev <= t and cron_next(prev) == next; in UTC the
 *   expression matches next's wall clock.
 */

#include <time.h>

#include "fuzz.h"
#include "cron.h"


#define ZONEINFO  "/usr/share/zoneinfo"


typedef struct {
    int   y, mo, d, h, mi, s;
    int   kind;          /* 'Z', '+', '-', 0 (wall time) */
    int   oh, om;
} dt_t;


static int
digits(const char *s, int n, int *v)
{
    int  i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        *v = *v * 10 + (s[i] - '0');
    }

    return 0;
}


/* the documented shape, read independently of cron.c */
static int
dt_shape(const char *s, dt_t *dt)
{
    const char  *p;

    memset(dt, 0, sizeof(*dt));

    if (strlen(s) < 16 || digits(s, 4, &dt->y) || s[4] != '-'
        || digits(s + 5, 2, &dt->mo) || s[7] != '-'
        || digits(s + 8, 2, &dt->d) || (s[10] != 'T' && s[10] != ' ')
        || digits(s + 11, 2, &dt->h) || s[13] != ':'
        || digits(s + 14, 2, &dt->mi))
    {
        return -1;
    }

    p = s + 16;

    if (*p == ':') {
        if (digits(p + 1, 2, &dt->s)) {
            return -1;
        }
        p += 3;
    }

    if (*p == '\0') {
        return 0;
    }

    if (p[0] == 'Z' && p[1] == '\0') {
        dt->kind = 'Z';
        return 0;
    }

    if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':'
        && digits(p + 1, 2, &dt->oh) == 0 && digits(p + 4, 2, &dt->om) == 0)
    {
        dt->kind = p[0];
        return 0;
    }

    return -1;
}


/* the fields as UTC; -1 when one is out of range (normalised away) */
static int
dt_utc(const dt_t *dt, time_t *t)
{
    struct tm  tm, back;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = dt->y - 1900;
    tm.tm_mon = dt->mo - 1;
    tm.tm_mday = dt->d;
    tm.tm_hour = dt->h;
    tm.tm_min = dt->mi;
    tm.tm_sec = dt->s;
    *t = timegm(&tm);

    if (gmtime_r(t, &back) == NULL || back.tm_year != tm.tm_year
        || back.tm_mon != tm.tm_mon || back.tm_mday != tm.tm_mday
        || back.tm_hour != tm.tm_hour || back.tm_min != tm.tm_min
        || back.tm_sec != tm.tm_sec)
    {
        return -1;
    }

    return 0;
}


static void
check_datetime(const char *s, const char *tz)
{
    dt_t    dt;
    time_t  t, want;

    if (cron_parse_datetime(s, tz, &t) != 0) {
        return;
    }

    FUZZ_CHECK(dt_shape(s, &dt) == 0, "\"%s\" accepted", s);
    FUZZ_CHECK(dt.y >= 1970 && dt_utc(&dt, &want) == 0
               && dt.oh < 24 && dt.om < 60,
               "\"%s\" accepted: a field is out of range", s);

    switch (dt.kind) {
    case 'Z':
        FUZZ_CHECK(t == want, "\"%s\" is %lld, not %lld", s, (long long) t,
                   (long long) want);
        break;
    case '+':
    case '-':
        want -= (dt.kind == '+' ? 1 : -1) * (dt.oh * 3600 + dt.om * 60);
        FUZZ_CHECK(t == want, "\"%s\" is %lld, not %lld", s, (long long) t,
                   (long long) want);
        break;
    default:
        FUZZ_CHECK(t >= want - 86400 && t <= want + 86400,
                   "\"%s\" in \"%s\" is %lld, more than a day from %lld", s,
                   tz, (long long) t, (long long) want);
    }
}


static void
check_tz(const char *tz)
{
    char   path[4096], magic[4];
    FILE  *f;
    int    ok;

    if (!cron_tz_valid(tz) || tz[0] == '\0' || strcmp(tz, "UTC") == 0) {
        return;
    }

    snprintf(path, sizeof(path), "%s/%s", ZONEINFO, tz);
    ok = 0;
    f = fopen(path, "r");
    if (f != NULL) {
        ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
        fclose(f);
    }

    FUZZ_CHECK(ok, "zone \"%s\" accepted: %s is no TZif file", tz, path);
}


static void
check_expr(const cron_expr_t *c, const char *s)
{
    FUZZ_CHECK(c->minute != 0 && (c->minute >> 60) == 0, "\"%s\": minute "
               "bits %llx", s, (unsigned long long) c->minute);
    FUZZ_CHECK(c->hour != 0 && (c->hour >> 24) == 0, "\"%s\": hour bits "
               "%x", s, c->hour);
    FUZZ_CHECK(c->dom != 0 && (c->dom & 1) == 0, "\"%s\": dom bits %x", s,
               c->dom);
    FUZZ_CHECK(c->month != 0 && (c->month & 1) == 0 && (c->month >> 13) == 0,
               "\"%s\": month bits %x", s, c->month);
    FUZZ_CHECK(c->dow != 0 && (c->dow >> 7) == 0, "\"%s\": dow bits %x", s,
               c->dow);
}


/* next's UTC wall clock matches c */
static void
check_utc_match(const cron_expr_t *c, const char *s, time_t t)
{
    int        dom_ok, dow_ok;
    struct tm  tm;

    FUZZ_CHECK(gmtime_r(&t, &tm) != NULL, "gmtime %lld", (long long) t);
    dom_ok = (c->dom >> tm.tm_mday) & 1;
    dow_ok = (c->dow >> tm.tm_wday) & 1;

    FUZZ_CHECK(tm.tm_sec == 0 && ((c->minute >> tm.tm_min) & 1)
               && ((c->hour >> tm.tm_hour) & 1)
               && ((c->month >> (tm.tm_mon + 1)) & 1)
               && ((c->dom_star || c->dow_star) ? dom_ok && dow_ok
                                                : dom_ok || dow_ok),
               "\"%s\" fires at %lld (%04d-%02d-%02d %02d:%02d:%02d UTC)",
               s, (long long) t, tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         *buf, *expr, *tz, *dt, *nl, err[256];
    time_t        t, next, prev, x;
    int           rn, rp;
    cron_expr_t   c;

    if (memchr(data, '\0', size) != NULL) {
        return 0;                      /* the inputs are C strings */
    }

    buf = fuzz_cstr(data, size);
    expr = buf;
    tz = "";
    dt = "";

    if ((nl = strchr(expr, '\n')) != NULL) {
        *nl = '\0';
        tz = nl + 1;
        if ((nl = strchr(tz, '\n')) != NULL) {
            *nl = '\0';
            dt = nl + 1;
        }
    }

    check_tz(tz);
    check_datetime(dt, tz);

    err[0] = '\0';
    if (cron_parse(expr, &c, err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0] != '\0', "\"%s\" refused without a reason", expr);
        goto done;
    }

    check_expr(&c, expr);

    if (!cron_tz_valid(tz)) {
        FUZZ_CHECK(cron_next(&c, tz, 0, &x) == -1, "next in zone \"%s\"",
                   tz);
        goto done;
    }

    /* from the date-time when it is one, else 2026-11-20T12:00:00Z */
    if (cron_parse_datetime(dt, tz, &t) != 0) {
        t = 1795176000;
    }

    rn = cron_next(&c, tz, t, &next);
    rp = cron_prev(&c, tz, t, &prev);

    if (rn == 0) {
        FUZZ_CHECK(next > t, "\"%s\" in \"%s\": next %lld <= %lld", expr,
                   tz, (long long) next, (long long) t);
        FUZZ_CHECK(cron_prev(&c, tz, next, &x) == 0 && x == next,
                   "\"%s\" in \"%s\": prev(next %lld) = %lld", expr, tz,
                   (long long) next, (long long) x);
        if (tz[0] == '\0' || strcmp(tz, "UTC") == 0) {
            check_utc_match(&c, expr, next);
        }
    }

    if (rp == 0) {
        FUZZ_CHECK(prev <= t, "\"%s\" in \"%s\": prev %lld > %lld", expr,
                   tz, (long long) prev, (long long) t);
        if (rn == 0) {
            FUZZ_CHECK(cron_next(&c, tz, prev, &x) == 0 && x == next,
                       "\"%s\" in \"%s\": next(prev %lld) = %lld, not "
                       "%lld", expr, tz, (long long) prev, (long long) x,
                       (long long) next);
        }
        if (tz[0] == '\0' || strcmp(tz, "UTC") == 0) {
            check_utc_match(&c, expr, prev);
        }
    }

done:

    free(buf);
    return 0;
}
