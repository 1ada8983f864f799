/*
 * tz.c: TZif files and POSIX TZ rules (tz.h).  The format is RFC 8536:
 * a header with six counts, a version 1 data block with 32-bit times,
 * and for version 2 and later a second header and block with 64-bit
 * times followed by a footer "\nTZ-STRING\n" that says what happens
 * after the last transition.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "tz.h"
#include "xmalloc.h"

#define TZ_FILE_MAX  (1024 * 1024) /* a real one is under 4 KiB */
#define TZ_TRANS_MAX 65536
#define TZ_OFF_MAX   (26 * 3600) /* RFC 8536: -89999..93599 */
#define TZ_NAME_MAX  255

/* a day of a POSIX rule: Jn (1..365, no Feb 29), n (0..365), Mm.w.d */
typedef struct {
    char kind;    /* 'J', 'D' or 'M' */
    int  a, b, c; /* n, or m, w, d */
    long time;    /* seconds after local midnight */
} tz_date_t;

typedef struct {
    long      std_off, dst_off; /* seconds east */
    int       has_dst;
    tz_date_t start, end; /* start in standard, end in DST time */
} tz_rule_t;

struct tz {
    int64_t  *trans; /* ascending */
    uint8_t  *idx;   /* type of each transition */
    size_t    ntrans;
    long     *types; /* utoff of each type */
    size_t    ntypes;
    int       has_rule;
    tz_rule_t rule;
};

typedef struct tz_entry {
    char             name[TZ_NAME_MAX + 1];
    dev_t            dev;
    ino_t            ino;
    off_t            size;
    struct timespec  mtime;
    tz_t            *z;
    struct tz_entry *next;
} tz_entry_t;

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static uint32_t    be32(const unsigned char *p);
static int64_t     be64(const unsigned char *p);
static int         name_ok(const char *name);
static int         parse_rule(const char *s, tz_rule_t *r);
static const char *parse_name(const char *s);
static const char *parse_hms(const char *s, long maxh, long *v);
static const char *parse_date(const char *s, tz_date_t *d);
static int64_t     floor_div(int64_t a, int64_t b);
static int64_t     rule_local(const tz_date_t *d, int64_t y);
static long        rule_offset(const tz_rule_t *r, int64_t t);

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static tz_entry_t     *tz_cache; /* newest first, under tz_lock */
static const char     *tz_dir;
static long            utc_types[1];
static tz_t            tz_utc = { NULL,
                                  NULL,
                                  0,
                                  utc_types,
                                  1,
                                  0,
                                  { 0, 0, 0, { 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0 } } };

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8
           | p[3];
}

static int64_t
be64(const unsigned char *p)
{
    return (int64_t) ((uint64_t) be32(p) << 32 | be32(p + 4));
}

/* --- the file ---------------------------------------------------------- */

tz_t *
tz_parse(const unsigned char *p, size_t len, char *err, size_t errlen)
{
    const unsigned char *h, *d, *end = p + len, *f;
    uint32_t             cnt[6];
    size_t               tsize, need, i;
    tz_t                *z;
    char                 footer[256];
    int                  v2;

    /* counts: isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
    if (len < 44 || memcmp(p, "TZif", 4) != 0) {
        fail(err, errlen, "not a TZif file");
        return NULL;
    }
    if (p[4] != 0 && (p[4] < '2' || p[4] > '9')) {
        fail(err, errlen, "unknown TZif version %u", p[4]);
        return NULL;
    }
    v2 = p[4] != 0;
    h = p;
    tsize = 4;
    for (;;) {
        for (i = 0; i < 6; i++) {
            cnt[i] = be32(h + 20 + 4 * i);
        }
        if (cnt[3] > TZ_TRANS_MAX || cnt[4] == 0 || cnt[4] > 256 || cnt[5] == 0
            || cnt[5] > 4096 || cnt[2] > 4096
            || (cnt[0] != 0 && cnt[0] != cnt[4])
            || (cnt[1] != 0 && cnt[1] != cnt[4]))
        {
            fail(err, errlen, "TZif counts out of range");
            return NULL;
        }
        need = cnt[3] * tsize + cnt[3] + cnt[4] * 6 + cnt[5]
               + cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
        if ((size_t) (end - h) < 44 + need) {
            fail(err, errlen, "TZif file truncated");
            return NULL;
        }
        if (!v2 || tsize == 8) {
            break;
        }
        /* version 2+: skip the 32-bit block, read the 64-bit one */
        h += 44 + need;
        if ((size_t) (end - h) < 44 || memcmp(h, "TZif", 4) != 0) {
            fail(err, errlen, "TZif second header missing");
            return NULL;
        }
        tsize = 8;
    }
    if (cnt[2] != 0) {
        fail(err, errlen, "leap-second zones (right/) are not supported");
        return NULL;
    }
    z = xcalloc(1, sizeof(*z));
    z->types = xcalloc(cnt[4], sizeof(*z->types));
    if (cnt[3]) {
        z->trans = xcalloc(cnt[3], sizeof(*z->trans));
        z->idx = xcalloc(cnt[3], 1);
    }
    z->ntrans = cnt[3];
    z->ntypes = cnt[4];
    d = h + 44;
    for (i = 0; i < z->ntrans; i++) {
        z->trans[i] =
            tsize == 8 ? be64(d + 8 * i) : (int64_t) (int32_t) be32(d + 4 * i);
        if (i > 0 && z->trans[i] <= z->trans[i - 1]) {
            tz_free(z);
            fail(err, errlen, "TZif transitions out of order");
            return NULL;
        }
    }
    d += z->ntrans * tsize;
    for (i = 0; i < z->ntrans; i++) {
        if ((z->idx[i] = d[i]) >= z->ntypes) {
            tz_free(z);
            fail(err, errlen, "TZif transition of an unknown type");
            return NULL;
        }
    }
    d += z->ntrans;
    for (i = 0; i < z->ntypes; i++, d += 6) {
        z->types[i] = (long) (int32_t) be32(d);
        if (z->types[i] < -TZ_OFF_MAX || z->types[i] > TZ_OFF_MAX) {
            fail(err, errlen, "TZif UTC offset %ld out of range", z->types[i]);
            tz_free(z);
            return NULL;
        }
    }
    if (v2) {
        /* the footer: "\n" TZ string "\n" right after the data */
        f = h + 44 + need;
        if (f >= end || *f != '\n'
            || (d = memchr(f + 1, '\n', (size_t) (end - f - 1))) == NULL
            || (size_t) (d - f - 1) >= sizeof(footer))
        {
            tz_free(z);
            fail(err, errlen, "TZif footer missing or too long");
            return NULL;
        }
        memcpy(footer, f + 1, (size_t) (d - f - 1));
        footer[d - f - 1] = '\0';
        if (footer[0] != '\0') {
            if (parse_rule(footer, &z->rule) != 0) {
                tz_free(z);
                fail(err, errlen,
                     "TZif footer \"%s\": not a POSIX TZ "
                     "rule",
                     footer);
                return NULL;
            }
            z->has_rule = 1;
        }
    }
    return z;
}

void
tz_free(tz_t *z)
{
    if (z == NULL || z == &tz_utc) {
        return;
    }
    free(z->trans);
    free(z->idx);
    free(z->types);
    free(z);
}

/* --- POSIX TZ rules ---------------------------------------------------- */

/* "CET", "<+0530>": what follows the name, or NULL */
static const char *
parse_name(const char *s)
{
    const char *p = s;

    if (*p == '<') {
        for (p++; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
                  || (*p >= '0' && *p <= '9') || *p == '+' || *p == '-';
             p++)
        {}
        return *p == '>' && p - s >= 4 ? p + 1 : NULL;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
        p++;
    }
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]], hh <= maxh: seconds, what follows, or NULL */
static const char *
parse_hms(const char *s, long maxh, long *v)
{
    long sign = 1, part[3] = { 0, 0, 0 }, n;
    int  i;

    if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
    }
    for (i = 0; i < 3; i++) {
        if (i > 0) {
            if (*s != ':') {
                break;
            }
            s++;
        }
        if (*s < '0' || *s > '9') {
            return NULL;
        }
        for (n = 0; *s >= '0' && *s <= '9' && n <= 999; s++) {
            n = n * 10 + (*s - '0');
        }
        if ((i == 0 && n > maxh) || (i > 0 && n > 59)) {
            return NULL;
        }
        part[i] = n;
    }
    *v = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return s;
}

/* Jn | n | Mm.w.d, then an optional /time (default 02:00) */
static const char *
parse_date(const char *s, tz_date_t *d)
{
    long n[3];
    int  i, parts;

    d->kind = *s == 'J' ? 'J' : *s == 'M' ? 'M' : 'D';
    s += d->kind != 'D';
    parts = d->kind == 'M' ? 3 : 1;
    for (i = 0; i < parts; i++) {
        if (i > 0 && *s++ != '.') {
            return NULL;
        }
        if (*s < '0' || *s > '9') {
            return NULL;
        }
        for (n[i] = 0; *s >= '0' && *s <= '9' && n[i] <= 999; s++) {
            n[i] = n[i] * 10 + (*s - '0');
        }
    }
    if ((d->kind == 'J' && (n[0] < 1 || n[0] > 365))
        || (d->kind == 'D' && n[0] > 365)
        || (d->kind == 'M'
            && (n[0] < 1 || n[0] > 12 || n[1] < 1 || n[1] > 5 || n[2] > 6)))
    {
        return NULL;
    }
    d->a = (int) n[0];
    d->b = parts == 3 ? (int) n[1] : 0;
    d->c = parts == 3 ? (int) n[2] : 0;
    d->time = 7200;
    if (*s == '/') {
        /* RFC 8536 allows -167..167 hours */
        s = parse_hms(s + 1, 167, &d->time);
    }
    return s;
}

/* "STD offset [DST [offset] [,start[/time],end[/time]]]" */
static int
parse_rule(const char *s, tz_rule_t *r)
{
    long off;

    memset(r, 0, sizeof(*r));
    if ((s = parse_name(s)) == NULL || (s = parse_hms(s, 24, &off)) == NULL) {
        return -1;
    }
    r->std_off = -off; /* POSIX counts west */
    r->dst_off = r->std_off;
    if (*s == '\0') {
        return 0;
    }
    if ((s = parse_name(s)) == NULL) {
        return -1;
    }
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if ((s = parse_hms(s, 24, &off)) == NULL) {
            return -1;
        }
        r->dst_off = -off;
    }
    if (*s == '\0') {
        /* POSIX's default rule: the US one */
        s = ",M3.2.0,M11.1.0";
    }
    if (*s != ',' || (s = parse_date(s + 1, &r->start)) == NULL || *s != ','
        || (s = parse_date(s + 1, &r->end)) == NULL || *s != '\0')
    {
        return -1;
    }
    return 0;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Howard Hinnant's days_from_civil and civil_from_days */
int64_t
tz_days_from_civil(int64_t y, int m, int d)
{
    int64_t  era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (unsigned) (m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned) d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

/* the local wall time (as seconds) of rule day d in year y */
static int64_t
rule_local(const tz_date_t *d, int64_t y)
{
    int64_t day, first;
    int     leap, wd, dim, md;

    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d->kind == 'J') {
        day = tz_days_from_civil(y, 1, 1) + d->a - 1 + (leap && d->a >= 60);
    } else if (d->kind == 'D') {
        day = tz_days_from_civil(y, 1, 1) + d->a;
    } else {
        first = tz_days_from_civil(y, d->a, 1);
        wd = (int) ((first % 7 + 7 + 4) % 7); /* 1970-01-01: Thu */
        md = 1 + (d->c - wd + 7) % 7 + 7 * (d->b - 1);
        dim = (int) (tz_days_from_civil(d->a == 12 ? y + 1 : y,
                                        d->a == 12 ? 1 : d->a + 1, 1)
                     - first);
        while (md > dim) {
            md -= 7; /* week 5: the last */
        }
        day = first + md - 1;
    }
    return day * 86400 + d->time;
}

void
tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t  z = days + 719468, era = floor_div(z, 146097);
    unsigned doe, yoe, doy, mp;

    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = (int64_t) yoe + era * 400 + (*m <= 2);
}

static long
rule_offset(const tz_rule_t *r, int64_t t)
{
    int64_t y, start, end;
    int     m, d;

    if (!r->has_dst) {
        return r->std_off;
    }
    /* the year of t in standard time */
    tz_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
    start = rule_local(&r->start, y) - r->std_off;
    end = rule_local(&r->end, y) - r->dst_off;
    if (start < end) {
        return start <= t && t < end ? r->dst_off : r->std_off;
    }
    /* southern hemisphere: DST across the new year */
    return t < end || t >= start ? r->dst_off : r->std_off;
}

/* --- conversions ------------------------------------------------------- */

long
tz_offset(const tz_t *z, int64_t t)
{
    size_t lo, hi, mid;

    if (z->ntrans == 0 || t < z->trans[0]) {
        /* before the first transition: type 0 (RFC 8536 3.2), or the
           rule of a zone that has no transitions at all */
        return z->ntrans == 0 && z->has_rule ? rule_offset(&z->rule, t)
                                             : z->types[0];
    }
    if (t > z->trans[z->ntrans - 1] && z->has_rule) {
        return rule_offset(&z->rule, t);
    }
    lo = 0;
    hi = z->ntrans; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return z->types[z->idx[lo]];
}

int64_t
tz_from_local(const tz_t *z, int64_t w)
{
    long    cand[3], o, omin, omax;
    int64_t t, best = 0, lo, hi, mid;
    int     i, found = 0;

    /* the offsets in force around w: offsets are at most 26 h, and real
       zones never change twice within 54 h */
    cand[0] = tz_offset(z, w - 27 * 3600);
    cand[1] = tz_offset(z, w);
    cand[2] = tz_offset(z, w + 27 * 3600);
    omin = omax = cand[0];
    for (i = 0; i < 3; i++) {
        o = cand[i];
        omin = o < omin ? o : omin;
        omax = o > omax ? o : omax;
        t = w - o;
        if (tz_offset(z, t) == o && (!found || t < best)) {
            best = t;
            found = 1;
        }
    }
    if (found) {
        return best;
    }
    /* a gap: the first instant whose wall time is past w, between the
       candidates (t + offset(t) grows across the one change there) */
    lo = w - omax;
    hi = w - omin;
    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;
        if (mid + tz_offset(z, mid) > w) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return hi;
}

/* --- the cache --------------------------------------------------------- */

static int
name_ok(const char *name)
{
    const char *p;

    if (strlen(name) > TZ_NAME_MAX || name[0] == '/' || name[0] == '.'
        || strstr(name, "..") != NULL || strstr(name, "//") != NULL)
    {
        return 0;
    }
    for (p = name; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '+' || *p == '-'
              || *p == '.' || *p == '/'))
        {
            return 0;
        }
    }
    return 1;
}

const tz_t *
tz_get(const char *name)
{
    char           path[4096 + TZ_NAME_MAX + 2], err[128];
    unsigned char *buf = NULL;
    struct stat    st;
    tz_entry_t    *e;
    tz_t          *z = NULL;
    ssize_t        n;
    size_t         got;
    int            fd;

    if (name == NULL || name[0] == '\0' || strcmp(name, "UTC") == 0) {
        return &tz_utc;
    }
    if (!name_ok(name)) {
        return NULL;
    }
    pthread_mutex_lock(&tz_lock);
    if (tz_dir == NULL) {
        tz_dir = getenv("TZDIR");
        if (tz_dir == NULL || tz_dir[0] != '/' || strlen(tz_dir) > 4096) {
            tz_dir = "/usr/share/zoneinfo";
        }
    }
    snprintf(path, sizeof(path), "%s/%s", tz_dir, name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        goto done;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 44
        || st.st_size > TZ_FILE_MAX)
    {
        goto done;
    }
    for (e = tz_cache; e; e = e->next) {
        if (strcmp(e->name, name) == 0) {
            break; /* the newest entry of this name */
        }
    }
    if (e && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size
        && e->mtime.tv_sec == st.st_mtim.tv_sec
        && e->mtime.tv_nsec == st.st_mtim.tv_nsec)
    {
        z = e->z;
        goto done;
    }
    buf = xmalloc((size_t) st.st_size);
    for (got = 0; got < (size_t) st.st_size; got += (size_t) n) {
        n = read(fd, buf + got, (size_t) st.st_size - got);
        if (n <= 0 && !(n < 0 && errno == EINTR)) {
            goto done;
        }
        n = n < 0 ? 0 : n;
    }
    if ((z = tz_parse(buf, got, err, sizeof(err))) == NULL) {
        goto done;
    }
    /* a changed file: a new entry in front, the old one kept (its zone
       may be in use) */
    e = xcalloc(1, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    e->z = z;
    e->next = tz_cache;
    tz_cache = e;

done:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    pthread_mutex_unlock(&tz_lock);
    return z;
}
