/*
 * Unit tests of scaler/autoscale/cron.c: parsing, next/previous matches
 * in IANA time zones across DST changes, and the profile selection made
 * of them (autoscale_profile_active() in
 * scaler/autoscale/autoscale_decision.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "autoscale_decision.h"


static time_t
utc(const char *s)
{
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    if (strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL) {
        fail_msg("bad time literal %s", s);
    }
    return timegm(&tm);
}


static void
fmt(time_t t, char *buf, size_t len)
{
    struct tm  tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


typedef struct {
    const char  *expr;
    const char  *tz;
    const char  *from;
    const char  *next;      /* NULL: no match / error */
} next_case_t;

static const next_case_t  next_cases[] = {
    /* weekdays at 08:00 in Berlin, from a Friday afternoon */
    { "0 8 * * 1-5", "Europe/Berlin", "2026-11-20T12:00:00Z",
      "2026-11-23T07:00:00Z" },
    { "0 8 * * MON-FRI", "Europe/Berlin", "2026-11-23T06:59:00Z",
      "2026-11-23T07:00:00Z" },
    /* strictly after */
    { "0 8 * * 1-5", "Europe/Berlin", "2026-11-23T07:00:00Z",
      "2026-11-24T07:00:00Z" },
    /* Berlin spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z):
     * 02:30 does not exist, fires at the end of the gap */
    { "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
      "2026-03-29T01:00:00Z" },
    { "30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z",
      "2026-03-30T00:30:00Z" },
    { "0 8 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
      "2026-03-29T06:00:00Z" },
    { "0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
      "2026-03-29T01:00:00Z" },
    /* Berlin fall back 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z):
     * 02:30 happens twice, fires once at the first */
    { "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
      "2026-10-25T00:30:00Z" },
    { "30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z",
      "2026-10-26T01:30:00Z" },
    { "0 8 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
      "2026-10-25T07:00:00Z" },
    /* 02:00 and 02:30 repeat: only their first occurrences (00:00Z,
     * 00:30Z) fire; 02:00 CET (01:00Z) is a repeat, so the next is
     * tomorrow's 02:00 CET */
    { "*/30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z",
      "2026-10-26T01:00:00Z" },
    /* New York spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z) */
    { "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
      "2026-03-08T07:00:00Z" },
    { "0 9 * * *", "America/New_York", "2026-03-07T15:00:00Z",
      "2026-03-08T13:00:00Z" },
    /* New York fall back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z) */
    { "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
      "2026-11-01T05:30:00Z" },
    { "30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z",
      "2026-11-02T06:30:00Z" },
    { "0 0 * * 0", "America/New_York", "2026-11-20T00:00:00Z",
      "2026-11-22T05:00:00Z" },
    { "0 0 * * 7", "America/New_York", "2026-11-20T00:00:00Z",
      "2026-11-22T05:00:00Z" },
    { "0 0 * * sun", "UTC", "2026-11-20T00:00:00Z",
      "2026-11-22T00:00:00Z" },
    /* steps, ranges, lists, names */
    { "*/15 * * * *", "", "2026-01-01T00:07:00Z", "2026-01-01T00:15:00Z" },
    { "5-20/5 * * * *", "UTC", "2026-01-01T00:06:00Z",
      "2026-01-01T00:10:00Z" },
    { "5/20 * * * *", "UTC", "2026-01-01T00:26:00Z",
      "2026-01-01T00:45:00Z" },
    { "0 12 1 jan,JUL *", "UTC", "2026-02-01T00:00:00Z",
      "2026-07-01T12:00:00Z" },
    { "0 0 1-3,10 * *", "UTC", "2026-01-03T00:00:00Z",
      "2026-01-10T00:00:00Z" },
    { "* * * * *", "UTC", "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z" },
    /* both day fields restricted: either matches (13th or a Friday) */
    { "0 0 13 * 5", "UTC", "2026-11-21T00:00:00Z", "2026-11-27T00:00:00Z" },
    { "0 0 13 * 5", "UTC", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z" },
    /* day of month restricted, weekday "*": only the 13th */
    { "0 0 13 * *", "UTC", "2026-11-21T00:00:00Z", "2026-12-13T00:00:00Z" },
    /* leap day */
    { "0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z" },
    /* 31st: months without one are skipped */
    { "0 0 31 * *", "UTC", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z" },
    /* a time zone east of UTC crossing the date line */
    { "0 0 * * *", "Pacific/Auckland", "2026-06-01T11:00:00Z",
      "2026-06-01T12:00:00Z" },
    /* never */
    { "0 0 31 4 *", "UTC", "2026-01-01T00:00:00Z", NULL },
    { "0 0 * * *", "Mars/Olympus_Mons", "2026-01-01T00:00:00Z", NULL },
};


static void
test_next(void **state)
{
    const next_case_t  *tc;
    time_t              next;
    cron_expr_t         c;
    char                err[128], got[32];
    size_t              i;
    int                 rc;

    (void) state;

    for (i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
        tc = &next_cases[i];

        if (cron_parse(tc->expr, &c, err, sizeof(err)) != 0) {
            fail_msg("case %zu: \"%s\": %s", i, tc->expr, err);
        }

        rc = cron_next(&c, tc->tz, utc(tc->from), &next);

        if (tc->next == NULL) {
            if (rc == 0) {
                fmt(next, got, sizeof(got));
                fail_msg("case %zu: \"%s\" %s from %s: expected no match, "
                         "got %s", i, tc->expr, tc->tz, tc->from, got);
            }
            continue;
        }

        if (rc != 0) {
            fail_msg("case %zu: \"%s\" %s from %s: no match", i, tc->expr,
                     tc->tz, tc->from);
        }

        fmt(next, got, sizeof(got));
        if (strcmp(got, tc->next) != 0) {
            fail_msg("case %zu: \"%s\" %s from %s: expected %s, got %s", i,
                     tc->expr, tc->tz, tc->from, tc->next, got);
        }
    }
}


typedef struct {
    const char  *expr;
    const char  *tz;
    const char  *at;
    const char  *prev;
} prev_case_t;

static const prev_case_t  prev_cases[] = {
    { "0 8 * * 1-5", "Europe/Berlin", "2026-11-22T12:00:00Z",
      "2026-11-20T07:00:00Z" },
    /* at or before */
    { "0 8 * * 1-5", "Europe/Berlin", "2026-11-23T07:00:00Z",
      "2026-11-23T07:00:00Z" },
    { "30 2 * * *", "Europe/Berlin", "2026-03-29T05:00:00Z",
      "2026-03-29T01:00:00Z" },
    { "30 2 * * *", "Europe/Berlin", "2026-10-25T03:00:00Z",
      "2026-10-25T00:30:00Z" },
    { "0 0 1 1 *", "UTC", "2026-11-22T12:00:00Z", "2026-01-01T00:00:00Z" },
    { "0 0 29 2 *", "UTC", "2026-11-22T12:00:00Z", NULL },
};


static void
test_prev(void **state)
{
    const prev_case_t  *tc;
    time_t              prev;
    cron_expr_t         c;
    char                err[128], got[32];
    size_t              i;
    int                 rc;

    (void) state;

    for (i = 0; i < sizeof(prev_cases) / sizeof(prev_cases[0]); i++) {
        tc = &prev_cases[i];
        assert_int_equal(cron_parse(tc->expr, &c, err, sizeof(err)), 0);

        rc = cron_prev(&c, tc->tz, utc(tc->at), &prev);

        if (tc->prev == NULL) {
            if (rc == 0) {
                fail_msg("case %zu: expected none", i);
            }
            continue;
        }

        assert_int_equal(rc, 0);
        fmt(prev, got, sizeof(got));
        if (strcmp(got, tc->prev) != 0) {
            fail_msg("case %zu: \"%s\" %s at %s: expected %s, got %s", i,
                     tc->expr, tc->tz, tc->at, tc->prev, got);
        }
    }
}


static const char *const  bad_exprs[] = {
    "", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
    "* * 32 * *", "* * * 13 *", "* * * 0 *", "* * * * 8", "5-1 * * * *",
    "*/0 * * * *", "*/61 * * * *", "1,,2 * * * *", "1, * * * *",
    ",1 * * * *", "foo * * * *", "* * * jan-xyz *", "* * * * mo",
    "-1 * * * *", "1- * * * *", "1/ * * * *", "a/5 * * * *",
    "* * * * monday", "1.5 * * * *", "*/2x * * * *",
};


static void
test_parse_errors(void **state)
{
    cron_expr_t  c;
    char         err[128];
    size_t       i;

    (void) state;

    for (i = 0; i < sizeof(bad_exprs) / sizeof(bad_exprs[0]); i++) {
        err[0] = '\0';
        if (cron_parse(bad_exprs[i], &c, err, sizeof(err)) == 0) {
            fail_msg("\"%s\" accepted", bad_exprs[i]);
        }
        assert_true(err[0] != '\0');
    }

    assert_int_equal(cron_parse(" 0  8\t* * 1-5 ", &c, err, sizeof(err)), 0);
    assert_true(c.minute == 1);
    assert_true(c.hour == (1u << 8));
    assert_true(c.dow == 0x3e);
    assert_true(c.dom_star && c.dow == 0x3e && !c.dow_star);

    assert_int_equal(cron_parse("* * * * 0,7", &c, err, sizeof(err)), 0);
    assert_int_equal(c.dow, 1);
}


static void
test_tz_valid(void **state)
{
    (void) state;

    assert_true(cron_tz_valid(""));
    assert_true(cron_tz_valid("UTC"));
    assert_true(cron_tz_valid("Europe/Berlin"));
    assert_true(cron_tz_valid("America/New_York"));
    assert_false(cron_tz_valid("Mars/Olympus_Mons"));
    assert_false(cron_tz_valid("../../etc/passwd"));
    assert_false(cron_tz_valid("/etc/localtime"));
    /* what glibc would silently read as UTC: a directory of the
     * database, or one of its files that is no zone (found by
     * fuzz/fuzz_cron.c) */
    assert_false(cron_tz_valid("."));
    assert_false(cron_tz_valid("Europe"));
    assert_false(cron_tz_valid("Europe/"));
    assert_false(cron_tz_valid("zone.tab"));
    assert_false(cron_tz_valid("tzdata.zi"));
    assert_true(cron_tz_valid("Etc/UTC"));
}


typedef struct {
    const char  *at;
    const char  *profile;   /* NULL: the default */
} profile_case_t;

static const profile_case_t  profile_cases[] = {
    /* Monday 09:30 Berlin */
    { "2026-11-23T08:30:00Z", "office-hours" },
    /* Monday 18:30 Berlin: until passed, the weekend profile does not
     * come back */
    { "2026-11-23T17:30:00Z", NULL },
    { "2026-11-23T16:59:00Z", "office-hours" },
    { "2026-11-23T17:00:00Z", NULL },
    /* Saturday: weekend (no until, runs to the next start) */
    { "2026-11-21T10:00:00Z", "weekend" },
    { "2026-11-22T23:30:00Z", "weekend" },
    { "2026-11-23T06:59:00Z", "weekend" },
    { "2026-11-23T07:00:00Z", "office-hours" },
    /* fixed date wins over the recurring ones */
    { "2026-12-25T10:00:00Z", "holidays" },
    { "2026-12-24T00:00:00Z", "holidays" },
    /* after it, the recurring profile that started last (Sat 26th) */
    { "2026-12-27T00:00:00Z", "weekend" },
    /* office hours across the Berlin DST change: Monday 2026-03-30 08:00
     * CEST is 06:00Z */
    { "2026-03-30T05:59:00Z", "weekend" },
    { "2026-03-30T06:00:00Z", "office-hours" },
    { "2026-03-30T15:59:00Z", "office-hours" },
    { "2026-03-30T16:00:00Z", NULL },
};


static const struct {
    const char  *at;
    const char  *until;
} change_cases[] = {
    /* office hours end at 18:00 Berlin */
    { "2026-11-23T16:30:00Z", "2026-11-23T17:00:00Z" },
    { "2026-11-23T08:30:00Z", "2026-11-23T09:30:00Z" },
    /* default after until: re-checked within the hour */
    { "2026-11-23T17:30:00Z", "2026-11-23T18:30:00Z" },
    /* weekend, office hours start at 08:00 Berlin */
    { "2026-11-23T06:30:00Z", "2026-11-23T07:00:00Z" },
    /* the fixed date starts */
    { "2026-12-23T23:30:00Z", "2026-12-24T00:00:00Z" },
    /* the fixed date ends */
    { "2026-12-26T23:10:00Z", "2026-12-27T00:00:00Z" },
};


static void
test_profiles(void **state)
{
    autoscale_profile_config_t          p[3];
    const autoscale_profile_config_t   *got;
    char                                err[128];
    size_t                              i;

    (void) state;

    memset(p, 0, sizeof(p));

    strcpy(p[0].name, "office-hours");
    p[0].kind = AUTOSCALE_PROFILE_RECURRING;
    strcpy(p[0].timezone, "Europe/Berlin");
    assert_int_equal(cron_parse("0 8 * * 1-5", &p[0].cron, err, 128), 0);
    p[0].has_until = 1;
    assert_int_equal(cron_parse("0 18 * * 1-5", &p[0].until, err, 128), 0);

    strcpy(p[1].name, "weekend");
    p[1].kind = AUTOSCALE_PROFILE_RECURRING;
    strcpy(p[1].timezone, "Europe/Berlin");
    assert_int_equal(cron_parse("0 0 * * sat", &p[1].cron, err, 128), 0);

    strcpy(p[2].name, "holidays");
    p[2].kind = AUTOSCALE_PROFILE_FIXED;
    p[2].start = utc("2026-12-24T00:00:00Z");
    p[2].end = utc("2026-12-27T00:00:00Z");

    for (i = 0; i < sizeof(profile_cases) / sizeof(profile_cases[0]); i++) {
        got = autoscale_profile_active(p, 3, utc(profile_cases[i].at), NULL,
                                       NULL);

        if (profile_cases[i].profile == NULL) {
            if (got != NULL) {
                fail_msg("case %zu at %s: expected default, got %s", i,
                         profile_cases[i].at, got->name);
            }
            continue;
        }

        if (got == NULL || strcmp(got->name, profile_cases[i].profile) != 0)
        {
            fail_msg("case %zu at %s: expected %s, got %s", i,
                     profile_cases[i].at, profile_cases[i].profile,
                     got ? got->name : "default");
        }
    }

    /* when the selection may change next (capped at an hour ahead) */
    for (i = 0; i < sizeof(change_cases) / sizeof(change_cases[0]); i++) {
        time_t  until;
        char    buf[32];

        autoscale_profile_active(p, 3, utc(change_cases[i].at), NULL, &until);
        fmt(until, buf, sizeof(buf));
        if (strcmp(buf, change_cases[i].until) != 0) {
            fail_msg("change case %zu at %s: expected %s, got %s", i,
                     change_cases[i].at, change_cases[i].until, buf);
        }
    }
}


typedef struct {
    const char  *in;
    const char  *tz;
    const char  *want;      /* NULL: rejected */
} datetime_case_t;

static const datetime_case_t  datetime_cases[] = {
    { "2026-12-24 00:00", "Europe/Berlin", "2026-12-23T23:00:00Z" },
    { "2026-07-01T12:30:15", "Europe/Berlin", "2026-07-01T10:30:15Z" },
    { "2026-07-01 12:30", "America/New_York", "2026-07-01T16:30:00Z" },
    { "2026-07-01 12:30", "", "2026-07-01T12:30:00Z" },
    { "2026-07-01 12:30Z", "Europe/Berlin", "2026-07-01T12:30:00Z" },
    { "2026-07-01T12:30:00+02:00", "America/New_York",
      "2026-07-01T10:30:00Z" },
    { "2026-07-01T12:30:00-05:30", "", "2026-07-01T18:00:00Z" },
    /* in the spring gap: its end; in the autumn repeat: the first */
    { "2026-03-29 02:30", "Europe/Berlin", "2026-03-29T01:00:00Z" },
    { "2026-10-25 02:30", "Europe/Berlin", "2026-10-25T00:30:00Z" },
    { "2028-02-29 00:00", "UTC", "2028-02-29T00:00:00Z" },
    { "2026-02-29 00:00", "UTC", NULL },
    { "2026-13-01 00:00", "UTC", NULL },
    { "2026-01-01 24:00", "UTC", NULL },
    { "2026-01-01 00:60", "UTC", NULL },
    { "2026-01-01", "UTC", NULL },
    { "2026-01-01 00:00 ", "UTC", NULL },
    { "2026-01-01 00:00", "Mars/Olympus_Mons", NULL },
    { "2026-01-01 00:00+2", "UTC", NULL },
    { "26-01-01 00:00", "UTC", NULL },
    { "", "UTC", NULL },
    /* negative or padded fields (#13): every field is exactly its digits */
    { "2024-01-01T-1:-1Z", "UTC", NULL },
    { "2024-01-01T00:00+-1:-5", "UTC", NULL },
    { "2024-01-01T00:00+01:-5", "UTC", NULL },
    { "2024-01-01T00:00--1:00", "UTC", NULL },
    { "2024-01-01T00:00+ 1:05", "UTC", NULL },
    { "2024-01-01T-1:00", "UTC", NULL },
    { "2024-01-01T00:-1", "Europe/Berlin", NULL },
    { "2024-01-01  0:00", "UTC", NULL },
    { "2024-01- 1 00:00", "UTC", NULL },
    { "2024--1-01 00:00", "UTC", NULL },
    { " 2024-01-01 00:00", "UTC", NULL },
    { "+2024-01-01 00:00", "UTC", NULL },
    { "2024-01-01 +1:00", "UTC", NULL },
    { "2024-01-01 00:+1", "UTC", NULL },
    { "2024-01-01T00:00:-1Z", "UTC", NULL },
    { "2024-01-01T00:00+24:00", "UTC", NULL },
    { "2024-01-01T00:00+01:60", "UTC", NULL },
    { "2024-01-01T00:00+0100", "UTC", NULL },
    { "2024-01-01T00:00:00+01:00", "UTC", "2023-12-31T23:00:00Z" },
    { "2024-01-01T23:59:59-23:59", "UTC", "2024-01-02T23:58:59Z" },
    /* the same, found by fuzz/fuzz_cron.c */
    { "2024-01-01T00:00-+1:05", "UTC", NULL },
    { "2024-01-01T+1:05Z", "UTC", NULL },
    { "2024- 1-01 00:00", "UTC", NULL },
    { "2024-01-01 00: 5", "UTC", NULL },
    { "2024-01-01 00:00+01: 5", "UTC", NULL },
};


static void
test_datetime(void **state)
{
    const datetime_case_t  *tc;
    time_t                  t;
    char                    got[32];
    size_t                  i;
    int                     rc;

    (void) state;

    for (i = 0; i < sizeof(datetime_cases) / sizeof(datetime_cases[0]);
         i++)
    {
        tc = &datetime_cases[i];
        rc = cron_parse_datetime(tc->in, tc->tz, &t);

        if (tc->want == NULL) {
            if (rc == 0) {
                fail_msg("case %zu: \"%s\" accepted", i, tc->in);
            }
            continue;
        }

        if (rc != 0) {
            fail_msg("case %zu: \"%s\" rejected", i, tc->in);
        }
        fmt(t, got, sizeof(got));
        if (strcmp(got, tc->want) != 0) {
            fail_msg("case %zu: \"%s\" %s: expected %s, got %s", i, tc->in,
                     tc->tz, tc->want, got);
        }
    }
}


/*
 * Another thread (libvirt's, in the daemon) reading the process's local
 * time and environment while cron converts in other zones must see
 * neither change: the old code switched TZ with setenv() + tzset().
 */
typedef struct {
    volatile int  stop;
    long          seen_off;
    char          seen_tz[64];
    unsigned long reads;
} watcher_t;

static void *
watch(void *arg)
{
    watcher_t   *w = arg;
    struct tm    tm;
    time_t       now = 1719835200;
    const char  *tz;

    while (!w->stop) {
        localtime_r(&now, &tm);
        if (tm.tm_gmtoff != 0 && w->seen_off == 0) {
            w->seen_off = tm.tm_gmtoff;
        }
        tz = getenv("TZ");
        if ((tz == NULL || strcmp(tz, "UTC0") != 0) && !w->seen_tz[0]) {
            snprintf(w->seen_tz, sizeof(w->seen_tz), "%s", tz ? tz : "(unset)");
        }
        w->reads++;
    }
    return NULL;
}

static void
test_no_environment(void **state)
{
    cron_expr_t   c;
    pthread_t     th;
    watcher_t     w;
    time_t        t, next, start;
    char          err[64];
    int           i;

    (void) state;
    setenv("TZ", "UTC0", 1);
    tzset();
    memset(&w, 0, sizeof(w));
    assert_int_equal(cron_parse("30 2 * * *", &c, err, sizeof(err)), 0);
    assert_int_equal(pthread_create(&th, NULL, watch, &w), 0);
    start = time(NULL);
    for (i = 0; time(NULL) - start < 2 && (i < 200 || w.reads < 100000);
         i++)
    {
        t = utc("2026-03-28T12:00:00Z") + i * 3600;
        assert_int_equal(cron_next(&c, i % 2 ? "Europe/Berlin"
                                   : "Australia/Adelaide", t, &next), 0);
    }
    w.stop = 1;
    pthread_join(th, NULL);
    if (w.seen_off != 0 || w.seen_tz[0]) {
        fail_msg("another thread saw offset %ld, TZ %s", w.seen_off,
                 w.seen_tz[0] ? w.seen_tz : "UTC0");
    }
    assert_string_equal(getenv("TZ"), "UTC0");
    unsetenv("TZ");
    tzset();
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_prev),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_tz_valid),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_no_environment),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("cron", tests, NULL, NULL);
}
