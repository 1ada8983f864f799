/*
 * Unit tests of scaler/autoscale/tz.c, our TZif reader: offsets on both
 * sides of DST changes and local times in gaps and repeats (Europe/Berlin,
 * America/New_York, Australia/Adelaide with its 30-minute offset,
 * Australia/Lord_Howe whose DST is 30 minutes, values from GNU date);
 * every zone tested agrees with glibc's localtime_r() from 1970 to 2100
 * (so past 2037, where the files' POSIX rule takes over); a zone of
 * nothing but a POSIX rule; malformed files and names refused.  This
 * test alone sets TZ (glibc as the oracle, single-threaded).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "tz.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_offsets(void **state)
{
    static const struct {
        const char  *zone;
        int64_t      t;
        long         off;
    } cases[] = {
        { "Europe/Berlin", 1711846799, 3600 },       /* 2024-03-31 01:59:59 */
        { "Europe/Berlin", 1711846800, 7200 },       /* 03:00 CEST */
        { "Europe/Berlin", 1729990799, 7200 },       /* 2024-10-27 02:59:59 */
        { "Europe/Berlin", 1729990800, 3600 },       /* 02:00 CET */
        { "Europe/Berlin", 2531955599, 3600 },       /* 2050: the rule */
        { "Europe/Berlin", 2531955600, 7200 },
        { "America/New_York", 1710053999, -18000 },
        { "America/New_York", 1710054000, -14400 },
        { "America/New_York", 1730613599, -14400 },
        { "America/New_York", 1730613600, -18000 },
        { "America/New_York", 4129250399, -14400 },  /* 2100-11-07 */
        { "America/New_York", 4129250400, -18000 },
        { "Australia/Adelaide", 1712420999, 37800 }, /* +10:30 */
        { "Australia/Adelaide", 1712421000, 34200 }, /* +09:30 */
        { "Australia/Adelaide", 1728145799, 34200 },
        { "Australia/Adelaide", 1728145800, 37800 },
        { "Australia/Lord_Howe", 1712415599, 39600 },
        { "Australia/Lord_Howe", 1712415600, 37800 },
        { "Australia/Lord_Howe", 1728142199, 37800 },
        { "Australia/Lord_Howe", 1728142200, 39600 },
        { "Asia/Kolkata", 1717200000, 19800 },
        { "Europe/Dublin", 1719835200, 3600 },       /* IST in summer */
        { "Europe/Dublin", 1704110400, 0 },          /* GMT in winter */
        { "UTC", 1719835200, 0 },
        { "", 1719835200, 0 },
    };
    const tz_t  *z;
    size_t       i;
    long         off;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        z = tz_get(cases[i].zone);
        if (z == NULL) {
            fail_msg("%s: not loaded", cases[i].zone);
        }
        off = tz_offset(z, cases[i].t);
        if (off != cases[i].off) {
            fail_msg("%s at %lld: offset %ld, expected %ld", cases[i].zone,
                     (long long) cases[i].t, off, cases[i].off);
        }
    }
}

/* seconds of a local date-time counted as UTC */
static int64_t
wall(int y, int mo, int d, int h, int mi)
{
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t) timegm(&tm);
}

static void
test_from_local(void **state)
{
    static const struct {
        const char  *zone;
        int          y, mo, d, h, mi;
        int64_t      t;
    } cases[] = {
        /* a gap maps to its end, a repeated time to its first instant */
        { "Europe/Berlin", 2024, 3, 31, 2, 30, 1711846800 },
        { "Europe/Berlin", 2024, 10, 27, 2, 30, 1729989000 },
        { "Europe/Berlin", 2024, 7, 1, 12, 0, 1719828000 },
        { "America/New_York", 2024, 3, 10, 2, 30, 1710054000 },
        { "America/New_York", 2024, 11, 3, 1, 30, 1730611800 },
        { "Australia/Adelaide", 2024, 10, 6, 2, 15, 1728145800 },
        { "Australia/Adelaide", 2024, 4, 7, 2, 30, 1712419200 },
        { "Australia/Lord_Howe", 2024, 10, 6, 2, 10, 1728142200 },
        { "Australia/Lord_Howe", 2024, 4, 7, 1, 45, 1712414700 },
        { "Asia/Kolkata", 2024, 6, 1, 5, 30, 1717200000 },
        { "Europe/Berlin", 2050, 3, 27, 2, 30, 2531955600 },
    };
    const tz_t  *z;
    size_t       i;
    int64_t      t;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        z = tz_get(cases[i].zone);
        assert_non_null(z);
        t = tz_from_local(z, wall(cases[i].y, cases[i].mo, cases[i].d,
                                  cases[i].h, cases[i].mi));
        if (t != cases[i].t) {
            fail_msg("%s %04d-%02d-%02d %02d:%02d: %lld, expected %lld",
                     cases[i].zone, cases[i].y, cases[i].mo, cases[i].d,
                     cases[i].h, cases[i].mi, (long long) t,
                     (long long) cases[i].t);
        }
    }
}

/*
 * glibc says the offset at instants every 7 h 13 min (so every hour of
 * the day and minute offsets are met) and at both sides of each change
 * it has; ours must agree, and every wall time must map back to its
 * first instant.
 */
static void
test_against_glibc(void **state)
{
    static const char *const  zones[] = {
        "Europe/Berlin", "America/New_York", "Australia/Adelaide",
        "Australia/Lord_Howe", "Asia/Kolkata", "Asia/Kathmandu",
        "America/St_Johns", "Pacific/Chatham", "Europe/Dublin",
        "America/Sao_Paulo", "Africa/Casablanca", "America/Nuuk",
        "Pacific/Apia", "Asia/Tehran",
    };
    const int64_t  from = 0, to = 4102444800LL;       /* 1970 .. 2100 */
    const int64_t  step = 7 * 3600 + 13 * 60;
    const tz_t    *z;
    struct tm      tm;
    time_t         tt;
    int64_t        t, back, w;
    long           ours, prev;
    size_t         i, checked = 0;

    (void) state;
    for (i = 0; i < N(zones); i++) {
        z = tz_get(zones[i]);
        if (z == NULL) {
            fail_msg("%s: not loaded", zones[i]);
        }
        setenv("TZ", zones[i], 1);
        tzset();
        prev = 0;
        for (t = from; t < to; t += step) {
            tt = (time_t) t;
            localtime_r(&tt, &tm);
            ours = tz_offset(z, t);
            if (ours != tm.tm_gmtoff) {
                fail_msg("%s at %lld: ours %ld, glibc %ld", zones[i],
                         (long long) t, ours, (long) tm.tm_gmtoff);
            }
            if (t > from && ours != prev) {
                /* a change within the step: find it with glibc, check
                   both sides */
                int64_t  lo = t - step, hi = t, mid;

                while (hi - lo > 1) {
                    mid = lo + (hi - lo) / 2;
                    tt = (time_t) mid;
                    localtime_r(&tt, &tm);
                    if (tm.tm_gmtoff == prev) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                tt = (time_t) hi;
                localtime_r(&tt, &tm);
                assert_int_equal(tz_offset(z, hi), tm.tm_gmtoff);
                tt = (time_t) lo;
                localtime_r(&tt, &tm);
                assert_int_equal(tz_offset(z, lo), tm.tm_gmtoff);
                checked++;
            }
            prev = ours;
            /* the wall time maps back to an instant showing it, the
               first one that does */
            w = t + ours;
            back = tz_from_local(z, w);
            if (back > t || back + tz_offset(z, back) != w) {
                fail_msg("%s: wall of %lld maps to %lld", zones[i],
                         (long long) t, (long long) back);
            }
        }
    }
    if (checked < 1000) {
        fail_msg("only %zu changes met", checked);
    }
    unsetenv("TZ");
    tzset();
}

/* a version 2 image: no transitions, one type, the footer given */
static size_t
rule_only(unsigned char *buf, const char *footer, long utoff)
{
    static const unsigned char  v1[] = {
        'T', 'Z', 'i', 'f', '2', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,
        0, 0, 0, 1,  0, 0, 0, 4,
    };
    size_t  n = 0, k;

    for (k = 0; k < 2; k++) {
        memcpy(buf + n, v1, sizeof(v1));
        n += sizeof(v1);
        buf[n++] = (unsigned char) ((unsigned long) utoff >> 24);
        buf[n++] = (unsigned char) ((unsigned long) utoff >> 16);
        buf[n++] = (unsigned char) ((unsigned long) utoff >> 8);
        buf[n++] = (unsigned char) utoff;
        buf[n++] = 0;                           /* isdst */
        buf[n++] = 0;                           /* desigidx */
        memcpy(buf + n, "STD", 4);
        n += 4;
    }
    buf[n++] = '\n';
    memcpy(buf + n, footer, strlen(footer));
    n += strlen(footer);
    buf[n++] = '\n';
    return n;
}

static void
test_rule_only(void **state)
{
    unsigned char  buf[512];
    char           err[128];
    const tz_t    *berlin, *ny;
    tz_t          *z, *z2;
    int64_t        t;
    size_t         n;

    (void) state;
    berlin = tz_get("Europe/Berlin");
    ny = tz_get("America/New_York");
    n = rule_only(buf, "CET-1CEST,M3.5.0,M10.5.0/3", 3600);
    z = tz_parse(buf, n, err, sizeof(err));
    if (z == NULL) {
        fail_msg("%s", err);
    }
    n = rule_only(buf, "EST5EDT,M3.2.0,M11.1.0", -18000);
    z2 = tz_parse(buf, n, err, sizeof(err));
    assert_non_null(z2);
    /* 1997..2030: Berlin's and New York's rules as today */
    for (t = 852076800; t < 1893456000; t += 3 * 3600 + 17) {
        if (tz_offset(z, t) != tz_offset(berlin, t)) {
            fail_msg("CET rule at %lld", (long long) t);
        }
        if (t > 1199145600 && tz_offset(z2, t) != tz_offset(ny, t)) {
            fail_msg("EST rule at %lld", (long long) t);
        }
    }
    tz_free(z);
    tz_free(z2);

    /* the extensions RFC 8536 names: hours past 24, DST all year, Jn */
    n = rule_only(buf, "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", -10800);
    assert_non_null(z = tz_parse(buf, n, err, sizeof(err)));
    tz_free(z);
    n = rule_only(buf, "EST5EDT,0/0,J365/25", -18000);
    assert_non_null(z = tz_parse(buf, n, err, sizeof(err)));
    assert_int_equal(tz_offset(z, 1719835200), -14400);
    assert_int_equal(tz_offset(z, 1704110400), -14400);
    tz_free(z);
    n = rule_only(buf, "<+0530>-5:30", 19800);
    assert_non_null(z = tz_parse(buf, n, err, sizeof(err)));
    assert_int_equal(tz_offset(z, 1719835200), 19800);
    tz_free(z);
}

static void
test_refused(void **state)
{
    static const char *const  footers[] = {
        "CE", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
        "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0",
        "CET-1CEST,J0,J365", "CET-1CEST,366,1", "CET-25", "<CET-1",
        "CET-1CEST,M3.5.0/168,M10.5.0", "CET-1 CEST", "CET-1CEST,M3.5.0,"
        "M10.5.0x",
    };
    static const char *const  names[] = {
        "/etc/localtime", "../../etc/passwd", "Europe/../../etc/passwd",
        "Europe//Berlin", "Europe/Berlin ", "Mars/Olympus_Mons",
        ".hidden", "Europe", "Europe/Berlin\n",
    };
    unsigned char  buf[512], good[512];
    char           err[128];
    tz_t          *z;
    size_t         i, n;

    (void) state;
    for (i = 0; i < N(footers); i++) {
        n = rule_only(buf, footers[i], 3600);
        if ((z = tz_parse(buf, n, err, sizeof(err))) != NULL) {
            tz_free(z);
            fail_msg("footer \"%s\" accepted", footers[i]);
        }
    }
    for (i = 0; i < N(names); i++) {
        if (tz_get(names[i]) != NULL) {
            fail_msg("name \"%s\" accepted", names[i]);
        }
    }

    n = rule_only(good, "CET-1CEST,M3.5.0,M10.5.0/3", 3600);
    assert_non_null(z = tz_parse(good, n, err, sizeof(err)));
    tz_free(z);
    /* every truncation is refused, never read past */
    for (i = 0; i < n - 1; i++) {
        if ((z = tz_parse(good, i, err, sizeof(err))) != NULL) {
            tz_free(z);
            fail_msg("truncated to %zu bytes: accepted", i);
        }
    }
    memcpy(buf, good, n);
    buf[0] = 'X';
    assert_null(tz_parse(buf, n, err, sizeof(err)));
    memcpy(buf, good, n);
    buf[4] = '1';                               /* no such version */
    assert_null(tz_parse(buf, n, err, sizeof(err)));
    memcpy(buf, good, n);
    buf[43] = 0;                                /* charcnt 0 */
    assert_null(tz_parse(buf, n, err, sizeof(err)));
    memcpy(buf, good, n);
    buf[54 + 44] = 0x7f;            /* the 64-bit block's utoff: 68 years */
    assert_null(tz_parse(buf, n, err, sizeof(err)));
    assert_non_null(strstr(err, "offset"));
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_from_local),
        cmocka_unit_test(test_against_glibc),
        cmocka_unit_test(test_rule_only),
        cmocka_unit_test(test_refused),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("tz", tests, NULL, NULL);
}
