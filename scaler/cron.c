/*
 * Cron expressions evaluated in an IANA timezone, and profile selection.
 *
 * Wall time <-> instant conversions use the C library with the system tz
 * database: TZ is switched with setenv() + tzset() under a mutex, the
 * conversion done with mktime()/localtime_r(), and the previous TZ put
 * back before the mutex is released.  glibc's localtime_r() does not
 * re-read TZ by itself, hence the explicit tzset().  The scaler calls
 * these from its event loop thread only; other threads (libvirt workers)
 * never read the local time zone, so the switch is not observable.
 * Calendar arithmetic (days, weekdays) is done on civil dates without
 * the library.
 */

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "autoscale.h"


typedef struct {
    int      y;
    int      m;         /* 1..12 */
    int      d;         /* 1..31 */
} civil_t;

typedef struct {
    char    *saved;
    int      had;
} tz_guard_t;


static int cron_field(const char *s, size_t len, int lo, int hi,
    const char *const *names, uint64_t *bits, int *star, char *err,
    size_t errlen);
static int cron_atom(const char *s, size_t len, int lo, int hi,
    const char *const *names, int *v);
static void tz_enter(tz_guard_t *g, const char *tz);
static void tz_leave(tz_guard_t *g);
static int64_t days_from_civil(int y, int m, int d);
static civil_t civil_from_days(int64_t z);
static int days_in_month(int y, int m);
static int day_matches(const cron_expr_t *c, civil_t cd, int64_t days);
static int64_t wall_key(const struct tm *tm);
static int wall_to_instant(int y, int mo, int d, int h, int mi, time_t *t);
static int day_instants(const cron_expr_t *c, civil_t cd, time_t *out,
    int max);
static int local_days(time_t t, int64_t *days);
static int fixed_digits(const char *s, int n, int *v);


static pthread_mutex_t  tz_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const  month_names[] = {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
    "nov", "dec", NULL
};

static const char *const  dow_names[] = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};


int
cron_parse(const char *s, cron_expr_t *c, char *err, size_t errlen)
{
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
    const char  *p, *start;
    uint64_t     bits[5];
    int          star[5], i;

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
            size_t  l = strlen(err);
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
cron_field(const char *s, size_t len, int lo, int hi,
    const char *const *names, uint64_t *bits, int *star, char *err,
    size_t errlen)
{
    const char  *p, *end, *item_end, *slash, *dash;
    int          a, b, step, v;

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
            char   buf[8];
            char  *e;
            long   l;

            if (item_end - slash - 1 <= 0 || item_end - slash - 1 >= 8) {
                snprintf(err, errlen, "bad step");
                return -1;
            }
            memcpy(buf, slash + 1, item_end - slash - 1);
            buf[item_end - slash - 1] = '\0';
            l = strtol(buf, &e, 10);
            if (*e != '\0' || !isdigit((unsigned char) buf[0]) || l < 1
                || l > hi)
            {
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
                    || cron_atom(dash + 1, slash - dash - 1, lo, hi, names,
                                 &b) != 0)
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
cron_atom(const char *s, size_t len, int lo, int hi,
    const char *const *names, int *v)
{
    size_t  i;
    int     n;

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

static void
tz_enter(tz_guard_t *g, const char *tz)
{
    const char  *old;

    pthread_mutex_lock(&tz_lock);

    old = getenv("TZ");
    g->had = (old != NULL);
    g->saved = old ? strdup(old) : NULL;

    setenv("TZ", (tz && tz[0]) ? tz : "UTC", 1);
    tzset();
}


static void
tz_leave(tz_guard_t *g)
{
    if (g->had && g->saved) {
        setenv("TZ", g->saved, 1);
    } else {
        unsetenv("TZ");
    }
    free(g->saved);
    tzset();

    pthread_mutex_unlock(&tz_lock);
}


int
cron_tz_valid(const char *tz)
{
    char         path[512], magic[4];
    const char  *dir;
    struct stat  st;
    int          fd, ok;

    if (tz == NULL || tz[0] == '\0' || strcmp(tz, "UTC") == 0) {
        return 1;
    }

    /* glibc silently treats an unknown name as UTC: check the file */
    if (tz[0] == '/' || strstr(tz, "..") != NULL) {
        return 0;
    }

    dir = getenv("TZDIR");
    if ((size_t) snprintf(path, sizeof(path), "%s/%s",
                          dir ? dir : "/usr/share/zoneinfo", tz)
        >= sizeof(path))
    {
        return 0;
    }

    /* a zone file, not a directory of the database or one of its other
       files (zone.tab, tzdata.zi): those would be UTC too */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1) {
        return 0;
    }

    ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
         && read(fd, magic, sizeof(magic)) == (ssize_t) sizeof(magic)
         && memcmp(magic, "TZif", 4) == 0;

    close(fd);

    return ok;
}


/* --- civil calendar (Howard Hinnant's algorithms) --------------------- */

static int64_t
days_from_civil(int y, int m, int d)
{
    int64_t   era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t) doe - 719468;
}


static civil_t
civil_from_days(int64_t z)
{
    civil_t   c;
    int64_t   era, y;
    unsigned  doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = (int64_t) yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    c.d = (int) (doy - (153 * mp + 2) / 5 + 1);
    c.m = (int) (mp < 10 ? mp + 3 : mp - 9);
    c.y = (int) (y + (c.m <= 2));

    return c;
}


static int
days_in_month(int y, int m)
{
    return (int) (days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1,
                                  1)
                  - days_from_civil(y, m, 1));
}


static int
day_matches(const cron_expr_t *c, civil_t cd, int64_t days)
{
    int  wd, dom_ok, dow_ok;

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


static int64_t
wall_key(const struct tm *tm)
{
    return ((((int64_t) tm->tm_year * 13 + tm->tm_mon) * 32 + tm->tm_mday)
            * 24 + tm->tm_hour) * 60 + tm->tm_min;
}


/*
 * The instant of a local wall time; TZ is set.  An existing wall time maps
 * to its first occurrence; one skipped by a DST gap maps to the end of the
 * gap (the first instant whose wall clock is past it).
 */
static int
wall_to_instant(int y, int mo, int d, int h, int mi, time_t *t)
{
    static const int  isdst[3] = { -1, 0, 1 };
    struct tm         tm, back;
    time_t            x, best, lo, hi, mid;
    int64_t           want;
    int               i, found;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    want = wall_key(&tm);

    found = 0;
    best = 0;
    x = -1;

    for (i = 0; i < 3; i++) {
        struct tm  in = tm;

        in.tm_isdst = isdst[i];
        x = mktime(&in);
        if (x == (time_t) -1) {
            continue;
        }
        if (localtime_r(&x, &back) && wall_key(&back) == want) {
            if (!found || x < best) {
                best = x;
            }
            found = 1;
        }
    }

    if (found) {
        *t = best;
        return 0;
    }

    if (x == (time_t) -1) {
        return -1;
    }

    /* a gap: the smallest minute whose wall time is past the wanted one */
    lo = x - 4 * 3600;
    hi = x + 4 * 3600;
    lo -= ((lo % 60) + 60) % 60;

    while (hi - lo > 60) {
        mid = lo + ((hi - lo) / 120) * 60;
        if (localtime_r(&mid, &back) == NULL) {
            return -1;
        }
        if (wall_key(&back) > want) {
            hi = mid;
        } else {
            lo = mid;
        }
    }

    *t = hi;
    return 0;
}


/* the instants at which c fires on local day cd, ascending; TZ is set */
static int
day_instants(const cron_expr_t *c, civil_t cd, time_t *out, int max)
{
    int     h, mi, n, i, j;
    time_t  t, tmp;

    n = 0;

    for (h = 0; h < 24; h++) {
        if (!((c->hour >> h) & 1)) {
            continue;
        }
        for (mi = 0; mi < 60; mi++) {
            if (!((c->minute >> mi) & 1)) {
                continue;
            }
            if (wall_to_instant(cd.y, cd.m, cd.d, h, mi, &t) != 0) {
                continue;
            }
            if (n > 0 && out[n - 1] == t) {
                continue;       /* two gap times mapped to one instant */
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


static int
local_days(time_t t, int64_t *days)
{
    struct tm  tm;

    if (localtime_r(&t, &tm) == NULL) {
        return -1;
    }

    *days = days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return 0;
}


int
cron_next(const cron_expr_t *c, const char *tz, time_t t, time_t *next)
{
    tz_guard_t  g;
    time_t      inst[24 * 60];
    int64_t     day, end;
    civil_t     cd;
    int         n, i, rc;

    if (!cron_tz_valid(tz)) {
        return -1;
    }

    rc = -1;
    tz_enter(&g, tz);

    /* a day earlier: a gap time of yesterday may map past t */
    if (local_days(t, &day) != 0) {
        goto done;
    }

    for (end = day + 366 * 28, day--; day <= end; day++) {
        cd = civil_from_days(day);

        if (cd.d > days_in_month(cd.y, cd.m) || !day_matches(c, cd, day)) {
            continue;
        }

        n = day_instants(c, cd, inst, 24 * 60);

        for (i = 0; i < n; i++) {
            if (inst[i] > t) {
                *next = inst[i];
                rc = 0;
                goto done;
            }
        }
    }

done:

    tz_leave(&g);
    return rc;
}


int
cron_prev(const cron_expr_t *c, const char *tz, time_t t, time_t *prev)
{
    tz_guard_t  g;
    time_t      inst[24 * 60];
    int64_t     day, end;
    civil_t     cd;
    int         n, i, rc;

    if (!cron_tz_valid(tz)) {
        return -1;
    }

    rc = -1;
    tz_enter(&g, tz);

    if (local_days(t, &day) != 0) {
        goto done;
    }

    for (end = day - 400, day++; day >= end; day--) {
        cd = civil_from_days(day);

        if (!day_matches(c, cd, day)) {
            continue;
        }

        n = day_instants(c, cd, inst, 24 * 60);

        for (i = n - 1; i >= 0; i--) {
            if (inst[i] <= t) {
                *prev = inst[i];
                rc = 0;
                goto done;
            }
        }
    }

done:

    tz_leave(&g);
    return rc;
}


/* exactly n decimal digits at s (no sign, no space) into *v */
static int
fixed_digits(const char *s, int n, int *v)
{
    int  i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char) s[i])) {
            return -1;
        }
        *v = *v * 10 + (s[i] - '0');
    }

    return 0;
}


int
cron_parse_datetime(const char *s, const char *tz, time_t *t)
{
    tz_guard_t  g;
    int         y, mo, d, h, mi, sec, oh, om, rc;
    const char *p;

    sec = 0;

    /* "YYYY-MM-DD[T ]HH:MM": every field exactly its digits */
    if (strnlen(s, 16) < 16 || fixed_digits(s, 4, &y) != 0 || s[4] != '-'
        || fixed_digits(s + 5, 2, &mo) != 0 || s[7] != '-'
        || fixed_digits(s + 8, 2, &d) != 0 || (s[10] != ' ' && s[10] != 'T')
        || fixed_digits(s + 11, 2, &h) != 0 || s[13] != ':'
        || fixed_digits(s + 14, 2, &mi) != 0)
    {
        return -1;
    }

    p = s + 16;

    if (*p == ':') {
        if (fixed_digits(p + 1, 2, &sec) != 0) {
            return -1;
        }
        p += 3;
    }

    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)
        || h > 23 || mi > 59 || sec > 59)
    {
        return -1;
    }

    if (*p == 'Z' && p[1] == '\0') {
        *t = (time_t) ((days_from_civil(y, mo, d) * 24 + h) * 3600
                       + mi * 60 + sec);
        return 0;
    }

    if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':'
        && fixed_digits(p + 1, 2, &oh) == 0
        && fixed_digits(p + 4, 2, &om) == 0 && oh < 24 && om < 60)
    {
        *t = (time_t) ((days_from_civil(y, mo, d) * 24 + h) * 3600
                       + mi * 60 + sec)
             - (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        return 0;
    }

    if (*p != '\0' || !cron_tz_valid(tz)) {
        return -1;
    }

    tz_enter(&g, tz);
    rc = wall_to_instant(y, mo, d, h, mi, t);
    tz_leave(&g);

    if (rc == 0) {
        *t += sec;
    }

    return rc;
}


/* --- profiles --------------------------------------------------------- */

const autoscale_profile_config_t *
autoscale_profile_active(const autoscale_profile_config_t *profiles,
    size_t n, time_t t, time_t *since, time_t *until)
{
    const autoscale_profile_config_t  *p, *best, *fixed;
    time_t                             start, best_start, end, next, change;
    size_t                             i;

    /* the answer may change at the next start or end of any profile */
    change = t + 3600;
    fixed = NULL;

    for (i = 0; i < n; i++) {
        p = &profiles[i];

        if (p->kind == AUTOSCALE_PROFILE_FIXED) {
            if (p->start > t && p->start < change) {
                change = p->start;
            }
            if (p->end > t && p->end < change) {
                change = p->end;
            }
            if (fixed == NULL && p->start <= t && t < p->end) {
                fixed = p;
            }

        } else if (cron_next(&p->cron, p->timezone, t, &next) == 0
                   && next < change)
        {
            change = next;
        }
    }

    if (fixed) {
        if (since) {
            *since = fixed->start;
        }
        if (until) {
            *until = change;
        }
        return fixed;
    }

    best = NULL;
    best_start = 0;

    for (i = 0; i < n; i++) {
        p = &profiles[i];
        if (p->kind != AUTOSCALE_PROFILE_RECURRING) {
            continue;
        }
        if (cron_prev(&p->cron, p->timezone, t, &start) != 0) {
            continue;
        }
        /* on a tie the first listed wins */
        if (best == NULL || start > best_start) {
            best = p;
            best_start = start;
        }
    }

    if (best && best->has_until
        && cron_next(&best->until, best->timezone, best_start, &end) == 0)
    {
        if (end <= t) {
            best = NULL;
        } else if (end < change) {
            change = end;
        }
    }

    if (until) {
        *until = change;
    }

    if (best && since) {
        *since = best_start;
    }

    return best;
}
