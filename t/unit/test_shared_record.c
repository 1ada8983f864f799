/*
 * Unit tests of shared/scaleset_record.c: the member record codec, the
 * health record codec, durations, names and keys.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <cmocka.h>

#include "scaleset_record.h"


#define N(a)  (sizeof(a) / sizeof((a)[0]))


/* --- good member records: input, canonical form ----------------------- */

typedef struct {
    const char  *in;
    const char  *canonical;
} good_case_t;

static const good_case_t  good_cases[] = {
    { "127.0.1.7:8080", "127.0.1.7:8080" },
    { "127.0.1.7:8080 weight=2 zone=z1 version=3",
      "127.0.1.7:8080 weight=2 zone=z1 version=3" },
    /* a zone of several hosts: host= after zone= */
    { "127.0.1.7:8080 version=3 host=kvm2 zone=z1",
      "127.0.1.7:8080 zone=z1 host=kvm2 version=3" },
    { "  10.0.0.1:1\t weight=1 max_fails=1 fail_timeout=10s  ",
      "10.0.0.1:1" },
    { "10.0.0.1:65535 backup down drain version=v2.1 zone=eu-1 "
      "fail_timeout=1500ms max_fails=0 weight=1000",
      "10.0.0.1:65535 weight=1000 max_fails=0 fail_timeout=1500ms zone=eu-1 "
      "version=v2.1 drain down backup" },
    { "[::1]:8080", "[::1]:8080" },
    { "[0:0:0:0:0:0:0:1]:80 weight=3", "[::1]:80 weight=3" },
    { "[2001:db8::1]:443 fail_timeout=1m", "[2001:db8::1]:443 "
      "fail_timeout=60s" },
    { "[::ffff:127.0.0.1]:80", "[::ffff:127.0.0.1]:80" },
    { "unix:/run/app.sock drain", "unix:/run/app.sock drain" },
    { "127.0.0.1:80 fail_timeout=0", "127.0.0.1:80 fail_timeout=0s" },
    { "127.0.0.1:80 fail_timeout=1m30s", "127.0.0.1:80 fail_timeout=90s" },
    { "127.0.0.1:80 fail_timeout=1d", "127.0.0.1:80 fail_timeout=86400s" },
    { "127.0.0.1:0080", "127.0.0.1:80" },
};


static void
test_member_good(void **state)
{
    int                n;
    char               buf[SCALESET_RECORD_MAX + 1];
    size_t             i;
    scaleset_error_t   err;
    scaleset_member_t  m;

    (void) state;

    for (i = 0; i < N(good_cases); i++) {
        const good_case_t  *c = &good_cases[i];

        if (scaleset_member_parse(c->in, strlen(c->in), &m, &err) != 0) {
            fail_msg("\"%s\": %s", c->in, err.msg);
        }

        n = scaleset_member_format(&m, buf, sizeof(buf), &err);
        assert_true(n > 0);
        assert_int_equal((size_t) n, strlen(buf));
        assert_string_equal(buf, c->canonical);
    }
}


static void
test_member_fields(void **state)
{
    const char                *rec;
    scaleset_error_t           err;
    scaleset_member_t          m;
    struct sockaddr_in        *sin;
    struct sockaddr_in6       *sin6;
    struct sockaddr_un        *sun;

    (void) state;

    rec = "127.0.1.7:8080 weight=2 zone=z1 version=3 max_fails=4 backup";
    assert_int_equal(scaleset_member_parse(rec, strlen(rec), &m, &err), 0);
    sin = (struct sockaddr_in *) &m.sockaddr;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 8080);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000107);
    assert_int_equal(m.socklen, sizeof(struct sockaddr_in));
    assert_int_equal(m.weight, 2);
    assert_int_equal(m.max_fails, 4);
    assert_int_equal(m.fail_timeout, SCALESET_DEFAULT_FAIL_TIMEOUT);
    assert_int_equal(m.flags, SCALESET_MEMBER_BACKUP);
    assert_int_equal(m.zone.len, 2);
    assert_memory_equal(m.zone.data, "z1", 2);
    assert_int_equal(m.version.len, 1);
    assert_ptr_equal(m.address.data, rec);
    assert_int_equal(m.address.len, strlen("127.0.1.7:8080"));

    rec = "[2001:db8::7]:9000";
    assert_int_equal(scaleset_member_parse(rec, strlen(rec), &m, &err), 0);
    sin6 = (struct sockaddr_in6 *) &m.sockaddr;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 9000);
    assert_int_equal(sin6->sin6_addr.s6_addr[15], 7);
    assert_int_equal(sin6->sin6_addr.s6_addr[0], 0x20);
    /* the full sockaddr_in6, not sizeof(struct sockaddr) */
    assert_int_equal(m.socklen, sizeof(struct sockaddr_in6));
    assert_true(m.socklen > sizeof(struct sockaddr));

    rec = "unix:/tmp/x.sock";
    assert_int_equal(scaleset_member_parse(rec, strlen(rec), &m, &err), 0);
    sun = (struct sockaddr_un *) &m.sockaddr;
    assert_int_equal(sun->sun_family, AF_UNIX);
    assert_string_equal(sun->sun_path, "/tmp/x.sock");
    assert_int_equal(m.socklen, offsetof(struct sockaddr_un, sun_path) + 12);

    /* not NUL-terminated: only len bytes are read */
    rec = "127.0.0.1:80 weight=5XXXX";
    assert_int_equal(scaleset_member_parse(rec, strlen(rec) - 4, &m, &err), 0);
    assert_int_equal(m.weight, 5);
}


/* --- bad member records: input, error code, a word the message names --- */

typedef struct {
    const char          *in;
    size_t               len;      /* 0: strlen */
    scaleset_errcode_t   code;
    const char          *names;
} bad_case_t;

static const bad_case_t  bad_cases[] = {
    { "", 0, SCALESET_ERR_EMPTY, "empty" },
    { "   \t ", 0, SCALESET_ERR_EMPTY, "address" },
    { "127.0.0.1", 0, SCALESET_ERR_PORT, "port" },
    { "127.0.0.1:", 0, SCALESET_ERR_PORT, "port" },
    { "127.0.0.1:0", 0, SCALESET_ERR_PORT, "port" },
    { "127.0.0.1:65536", 0, SCALESET_ERR_PORT, "port" },
    { "127.0.0.1:99999999999", 0, SCALESET_ERR_PORT, "port" },
    { "127.0.0.1:+80", 0, SCALESET_ERR_PORT, "port" },
    { "127.0.0.1:-80", 0, SCALESET_ERR_PORT, "port" },
    { "127.0.0.1:http", 0, SCALESET_ERR_PORT, "port" },
    { "127.0.0.1:80x", 0, SCALESET_ERR_PORT, "port" },
    { "example.com:80", 0, SCALESET_ERR_ADDRESS, "DNS" },
    { "localhost:80", 0, SCALESET_ERR_ADDRESS, "DNS" },
    { "256.0.0.1:80", 0, SCALESET_ERR_ADDRESS, "address" },
    { "127.1:80", 0, SCALESET_ERR_ADDRESS, "address" },
    { ":80", 0, SCALESET_ERR_ADDRESS, "address" },
    { "::1:80", 0, SCALESET_ERR_ADDRESS, "brackets" },
    { "[::1", 0, SCALESET_ERR_ADDRESS, "]" },
    { "[::1]80", 0, SCALESET_ERR_ADDRESS, "':'" },
    { "[::1]:", 0, SCALESET_ERR_PORT, "port" },
    { "[::1]", 0, SCALESET_ERR_PORT, "port" },
    { "[zzz]:80", 0, SCALESET_ERR_ADDRESS, "IPv6" },
    { "[]:80", 0, SCALESET_ERR_ADDRESS, "IPv6" },
    { "[127.0.0.1]:80", 0, SCALESET_ERR_ADDRESS, "IPv6" },
    { "[fe80::1%eth0]:80", 0, SCALESET_ERR_ADDRESS, "IPv6" },
    { "unix:", 0, SCALESET_ERR_UNIX_PATH, "path" },
    { "unix:run/x.sock", 0, SCALESET_ERR_UNIX_PATH, "absolute" },
    { "127.0.0.1:80 weight=0", 0, SCALESET_ERR_PARAM_VALUE, "weight" },
    { "127.0.0.1:80 weight=1001", 0, SCALESET_ERR_PARAM_VALUE, "weight" },
    { "127.0.0.1:80 weight=99999999999999999999", 0,
      SCALESET_ERR_PARAM_VALUE, "weight" },
    { "127.0.0.1:80 weight=-1", 0, SCALESET_ERR_PARAM_VALUE, "weight" },
    { "127.0.0.1:80 weight=", 0, SCALESET_ERR_PARAM_VALUE, "weight" },
    { "127.0.0.1:80 weight", 0, SCALESET_ERR_PARAM_VALUE, "weight" },
    { "127.0.0.1:80 weight=2 weight=3", 0, SCALESET_ERR_PARAM_DUPLICATE,
      "weight" },
    { "127.0.0.1:80 drain drain", 0, SCALESET_ERR_PARAM_DUPLICATE, "drain" },
    { "127.0.0.1:80 drain=1", 0, SCALESET_ERR_PARAM_VALUE, "drain" },
    { "127.0.0.1:80 backup=yes", 0, SCALESET_ERR_PARAM_VALUE, "backup" },
    { "127.0.0.1:80 max_fails=1001", 0, SCALESET_ERR_PARAM_VALUE,
      "max_fails" },
    { "127.0.0.1:80 max_fails=x", 0, SCALESET_ERR_PARAM_VALUE, "max_fails" },
    { "127.0.0.1:80 fail_timeout=2d", 0, SCALESET_ERR_PARAM_VALUE,
      "fail_timeout" },
    { "127.0.0.1:80 fail_timeout=10x", 0, SCALESET_ERR_PARAM_VALUE,
      "fail_timeout" },
    { "127.0.0.1:80 fail_timeout=s", 0, SCALESET_ERR_PARAM_VALUE,
      "fail_timeout" },
    { "127.0.0.1:80 zone=", 0, SCALESET_ERR_PARAM_VALUE, "zone" },
    { "127.0.0.1:80 zone=a/b", 0, SCALESET_ERR_PARAM_VALUE, "zone" },
    { "127.0.0.1:80 zone={x}", 0, SCALESET_ERR_PARAM_VALUE, "zone" },
    { "127.0.0.1:80 version=a,b", 0, SCALESET_ERR_PARAM_VALUE, "version" },
    { "127.0.0.1:80 host=", 0, SCALESET_ERR_PARAM_VALUE, "host" },
    { "127.0.0.1:80 host=qemu+ssh://kvm1/system", 0,
      SCALESET_ERR_PARAM_VALUE, "host" },
    { "127.0.0.1:80 host=a host=b", 0, SCALESET_ERR_PARAM_DUPLICATE,
      "host" },
    { "127.0.0.1:80 slow_start=10s", 0, SCALESET_ERR_PARAM_UNKNOWN,
      "slow_start" },
    { "127.0.0.1:80 Weight=2", 0, SCALESET_ERR_PARAM_UNKNOWN, "Weight" },
    { "127.0.0.1:80 =2", 0, SCALESET_ERR_PARAM_UNKNOWN, "parameter" },
    { "127.0.0.1:80\n", 0, SCALESET_ERR_BAD_BYTE, "control" },
    { "127.0.0.1:80\r weight=2", 0, SCALESET_ERR_BAD_BYTE, "0x0d" },
    { "127.0.0.1:80 \x1b[31m", 0, SCALESET_ERR_BAD_BYTE, "0x1b" },
    { "127.0.0.1:80 weight=2\0 down", 26, SCALESET_ERR_BAD_BYTE, "0x00" },
    { "127.0.0.1:80 \x7f", 0, SCALESET_ERR_BAD_BYTE, "0x7f" },
    /* 32-bit truncation: 2^32 + 1 must not wrap to 1 */
    { "127.0.0.1:80 weight=4294967297", 0, SCALESET_ERR_PARAM_VALUE,
      "weight" },
    { "127.0.0.1:80 max_fails=4294967296", 0, SCALESET_ERR_PARAM_VALUE,
      "max_fails" },
    { "127.0.0.1:80 fail_timeout=4294968s", 0, SCALESET_ERR_PARAM_VALUE,
      "fail_timeout" },
    { "[::1]:0", 0, SCALESET_ERR_PORT, "port" },
    { "[::1]:65536", 0, SCALESET_ERR_PORT, "port" },
    { "[::1]:8o", 0, SCALESET_ERR_PORT, "port" },
    { "[::1]:-1", 0, SCALESET_ERR_PORT, "port" },
    /* NUL first, inside the address, last */
    { "\0" "127.0.0.1:80", 13, SCALESET_ERR_BAD_BYTE, "0x00" },
    { "127.0\0.0.1:80", 13, SCALESET_ERR_BAD_BYTE, "0x00" },
    { "127.0.0.1:80\0", 13, SCALESET_ERR_BAD_BYTE, "0x00" },
    { "127.0.0.1:80\v", 0, SCALESET_ERR_BAD_BYTE, "0x0b" },
    { "127.0.0.1:80 \fdown", 0, SCALESET_ERR_BAD_BYTE, "0x0c" },
    { "127.0.0.1:80 zone=a zone=a", 0, SCALESET_ERR_PARAM_DUPLICATE, "zone" },
    { "127.0.0.1:80 version=1 version=2", 0, SCALESET_ERR_PARAM_DUPLICATE,
      "version" },
    { "127.0.0.1:80 max_fails=0 max_fails=0", 0,
      SCALESET_ERR_PARAM_DUPLICATE, "max_fails" },
    { "127.0.0.1:80 fail_timeout=1s fail_timeout=1s", 0,
      SCALESET_ERR_PARAM_DUPLICATE, "fail_timeout" },
    { "127.0.0.1:80 backup down backup", 0, SCALESET_ERR_PARAM_DUPLICATE,
      "backup" },
};


static void
test_member_bad(void **state)
{
    size_t             i, len;
    scaleset_error_t   err;
    scaleset_member_t  m;

    (void) state;

    for (i = 0; i < N(bad_cases); i++) {
        const bad_case_t  *c = &bad_cases[i];

        len = c->len ? c->len : strlen(c->in);
        memset(&err, 0, sizeof(err));

        if (scaleset_member_parse(c->in, len, &m, &err) == 0) {
            fail_msg("case %zu \"%s\": accepted", i, c->in);
        }

        if (err.code != c->code) {
            fail_msg("case %zu \"%s\": code %s, expected %s (%s)", i, c->in,
                     scaleset_errcode_name(err.code),
                     scaleset_errcode_name(c->code), err.msg);
        }

        if (strstr(err.msg, c->names) == NULL) {
            fail_msg("case %zu \"%s\": message \"%s\" does not name \"%s\"",
                     i, c->in, err.msg, c->names);
        }
    }
}


static void
test_member_limits(void **state)
{
    char               rec[SCALESET_RECORD_MAX + 64], path[200];
    size_t             n;
    scaleset_error_t   err;
    scaleset_member_t  m;

    (void) state;

    /* SCALESET_RECORD_MAX is accepted, one more is not */
    n = (size_t) snprintf(rec, sizeof(rec), "127.0.0.1:80");
    memset(rec + n, ' ', SCALESET_RECORD_MAX - n);
    assert_int_equal(scaleset_member_parse(rec, SCALESET_RECORD_MAX, &m, &err),
                     0);
    rec[SCALESET_RECORD_MAX] = ' ';
    assert_int_equal(scaleset_member_parse(rec, SCALESET_RECORD_MAX + 1, &m,
                                           &err), -1);
    assert_int_equal(err.code, SCALESET_ERR_TOO_LONG);

    /* the longest unix path that fits sun_path with its NUL, and one more */
    n = sizeof(((struct sockaddr_un *) 0)->sun_path) - 1;
    memset(path, 'a', sizeof(path));
    path[0] = '/';
    snprintf(rec, sizeof(rec), "unix:%.*s", (int) n, path);
    assert_int_equal(scaleset_member_parse(rec, strlen(rec), &m, &err), 0);
    snprintf(rec, sizeof(rec), "unix:%.*s", (int) n + 1, path);
    assert_int_equal(scaleset_member_parse(rec, strlen(rec), &m, &err), -1);
    assert_int_equal(err.code, SCALESET_ERR_UNIX_PATH);
    assert_non_null(strstr(err.msg, "longer"));

    /* names: 63 bytes pass, 64 do not */
    memset(path, 'z', sizeof(path));
    snprintf(rec, sizeof(rec), "127.0.0.1:80 zone=%.*s", SCALESET_NAME_MAX,
             path);
    assert_int_equal(scaleset_member_parse(rec, strlen(rec), &m, &err), 0);
    snprintf(rec, sizeof(rec), "127.0.0.1:80 zone=%.*s",
             SCALESET_NAME_MAX + 1, path);
    assert_int_equal(scaleset_member_parse(rec, strlen(rec), &m, &err), -1);

    /* port and weight bounds */
    assert_int_equal(scaleset_member_parse("1.2.3.4:65535", 13, &m, &err), 0);
    assert_int_equal(scaleset_member_parse("1.2.3.4:1 weight=1000", 21, &m,
                                           &err), 0);
    assert_int_equal(m.weight, 1000);
}


static void
test_member_format_nospace(void **state)
{
    int                n;
    char               buf[64];
    const char        *rec;
    scaleset_error_t   err;
    scaleset_member_t  m;

    (void) state;

    rec = "[2001:db8::1]:443 weight=7 zone=z1 drain";
    assert_int_equal(scaleset_member_parse(rec, strlen(rec), &m, &err), 0);

    n = scaleset_member_format(&m, buf, sizeof(buf), &err);
    assert_int_equal(n, (int) strlen(rec));

    /* exactly enough (with the NUL) works, one byte less does not */
    assert_int_equal(scaleset_member_format(&m, buf, (size_t) n + 1, &err), n);
    assert_int_equal(scaleset_member_format(&m, buf, (size_t) n, &err), -1);
    assert_int_equal(err.code, SCALESET_ERR_NOSPACE);
    assert_int_equal(scaleset_member_format(&m, buf, 4, &err), -1);
}


/*
 * Round trip over generated records: addresses x parameter subsets x
 * orders x spacing.  format(parse(x)) is canonical: parsing it gives the
 * same member and formatting that gives the same text.
 */
/* the formatter refuses what no parser would accept */
static void
test_member_format_refuses(void **state)
{
    size_t                i;
    char                  buf[SCALESET_RECORD_MAX + 1];
    scaleset_error_t      err;
    scaleset_member_t     m;
    struct sockaddr_in   *sin;
    struct sockaddr_un   *sun;

    static const struct {
        const char          *field;
        scaleset_errcode_t   code;
        const char          *names;
    } cases[] = {
        { "weight0", SCALESET_ERR_PARAM_VALUE, "weight" },
        { "weight1001", SCALESET_ERR_PARAM_VALUE, "weight" },
        { "max_fails", SCALESET_ERR_PARAM_VALUE, "max_fails" },
        { "fail_timeout", SCALESET_ERR_PARAM_VALUE, "fail_timeout" },
        { "zone_space", SCALESET_ERR_NAME, "zone" },
        { "version_long", SCALESET_ERR_NAME, "version" },
        { "flags", SCALESET_ERR_PARAM_UNKNOWN, "flags" },
        { "port0", SCALESET_ERR_PORT, "port" },
        { "family", SCALESET_ERR_ADDRESS, "family" },
        { "unix_relative", SCALESET_ERR_UNIX_PATH, "unix" },
    };

    static const char  long_name[] =
        "v123456789012345678901234567890123456789012345678901234567890123";

    (void) state;

    for (i = 0; i < N(cases); i++) {
        const char  *f = cases[i].field;

        assert_int_equal(scaleset_member_parse("127.0.0.1:80", 12, &m, &err),
                         0);
        sin = (struct sockaddr_in *) &m.sockaddr;
        sun = (struct sockaddr_un *) &m.sockaddr;

        if (strcmp(f, "weight0") == 0) {
            m.weight = 0;
        } else if (strcmp(f, "weight1001") == 0) {
            m.weight = SCALESET_WEIGHT_MAX + 1;
        } else if (strcmp(f, "max_fails") == 0) {
            m.max_fails = SCALESET_MAX_FAILS_MAX + 1;
        } else if (strcmp(f, "fail_timeout") == 0) {
            m.fail_timeout = SCALESET_FAIL_TIMEOUT_MAX + 1;
        } else if (strcmp(f, "zone_space") == 0) {
            m.zone.data = "z 1";
            m.zone.len = 3;
        } else if (strcmp(f, "version_long") == 0) {
            m.version.data = long_name;
            m.version.len = sizeof(long_name) - 1;
        } else if (strcmp(f, "flags") == 0) {
            m.flags = 0x80;
        } else if (strcmp(f, "port0") == 0) {
            sin->sin_port = 0;
        } else if (strcmp(f, "family") == 0) {
            m.sockaddr.ss_family = AF_APPLETALK;
        } else {
            memset(sun, 0, sizeof(*sun));
            sun->sun_family = AF_UNIX;
            strcpy(sun->sun_path, "run/x.sock");
        }

        memset(&err, 0, sizeof(err));
        if (scaleset_member_format(&m, buf, sizeof(buf), &err) != -1) {
            fail_msg("%s: formatted as \"%s\"", f, buf);
        }
        if (err.code != cases[i].code || strstr(err.msg, cases[i].names)
                                         == NULL)
        {
            fail_msg("%s: code %s \"%s\", expected %s naming %s", f,
                     scaleset_errcode_name(err.code), err.msg,
                     scaleset_errcode_name(cases[i].code), cases[i].names);
        }
        assert_int_equal(scaleset_member_check(&m, &err), -1);
    }

    /* the limits themselves are fine */
    assert_int_equal(scaleset_member_parse("127.0.0.1:80", 12, &m, &err), 0);
    m.weight = SCALESET_WEIGHT_MAX;
    m.max_fails = SCALESET_MAX_FAILS_MAX;
    m.fail_timeout = SCALESET_FAIL_TIMEOUT_MAX;
    m.version.data = long_name;
    m.version.len = sizeof(long_name) - 2;
    assert_int_equal(scaleset_member_check(&m, &err), 0);
    assert_true(scaleset_member_format(&m, buf, sizeof(buf), &err) > 0);
}


static void
test_member_roundtrip(void **state)
{
    int                n1, n2, k, j, count;
    char               rec[SCALESET_RECORD_MAX], c1[SCALESET_RECORD_MAX],
                       c2[SCALESET_RECORD_MAX];
    const char        *words[9];
    size_t             len, nw;
    unsigned           seed;
    scaleset_error_t   err;
    scaleset_member_t  m1, m2;

    static const char *const  addrs[] = {
        "127.0.0.1:80", "10.1.2.3:65535", "[::1]:8080", "[2001:db8:0::5]:1",
        "[::ffff:10.0.0.1]:443", "unix:/run/a.sock", "0.0.0.0:9",
    };
    static const char *const  params[][4] = {
        { "weight=1", "weight=2", "weight=1000", "weight=17" },
        { "max_fails=0", "max_fails=1", "max_fails=3", "max_fails=1000" },
        { "fail_timeout=10s", "fail_timeout=500ms", "fail_timeout=2m",
          "fail_timeout=1h1s" },
        { "zone=z1", "zone=eu-west.1", "zone=Z_2", "zone=a" },
        { "host=kvm1", "host=z2-1", "host=10.0.0.7", "host=h" },
        { "version=1", "version=v3", "version=2026.11", "version=x-y" },
        { "drain", "drain", "drain", "drain" },
        { "down", "down", "down", "down" },
        { "backup", "backup", "backup", "backup" },
    };
    static const char *const  spaces[] = { " ", "  ", "\t", " \t " };

    (void) state;

    seed = 12345;
    count = 0;

    for (k = 0; k < 4000; k++) {
        seed = seed * 1103515245 + 12345;
        nw = 0;

        /* a random subset of parameters, in a random order */
        for (j = 0; j < (int) N(params); j++) {
            if ((seed >> (j + 8)) & 1) {
                words[nw++] = params[j][(seed >> (2 * j)) & 3];
            }
        }

        for (j = (int) nw - 1; j > 0; j--) {
            size_t       r = (size_t) ((seed >> 3) + (unsigned) k * 7) % (size_t) (j + 1);
            const char  *t = words[j];
            words[j] = words[r];
            words[r] = t;
        }

        len = (size_t) snprintf(rec, sizeof(rec), "%s%s",
                                (seed & 1) ? " " : "",
                                addrs[(seed >> 4) % N(addrs)]);
        for (j = 0; j < (int) nw; j++) {
            len += (size_t) snprintf(rec + len, sizeof(rec) - len, "%s%s",
                                     spaces[(seed >> (j + 2)) & 3], words[j]);
        }

        if (scaleset_member_parse(rec, len, &m1, &err) != 0) {
            fail_msg("generated \"%s\": %s", rec, err.msg);
        }

        n1 = scaleset_member_format(&m1, c1, sizeof(c1), &err);
        assert_true(n1 > 0);

        if (scaleset_member_parse(c1, (size_t) n1, &m2, &err) != 0) {
            fail_msg("canonical \"%s\" of \"%s\": %s", c1, rec, err.msg);
        }

        if (!scaleset_member_equal(&m1, &m2)) {
            fail_msg("\"%s\" and its canonical \"%s\" differ", rec, c1);
        }

        n2 = scaleset_member_format(&m2, c2, sizeof(c2), &err);
        assert_int_equal(n1, n2);
        assert_string_equal(c1, c2);
        count++;
    }

    assert_int_equal(count, 4000);
}


/* --- health records ---------------------------------------------------- */

static void
test_health(void **state)
{
    int                 n;
    char                buf[SCALESET_RECORD_MAX];
    size_t              i;
    scaleset_error_t    err;
    scaleset_health_t   h;
    const char         *rec;

    static const struct {
        const char          *in;
        scaleset_errcode_t   code;
    } bad[] = {
        { "", SCALESET_ERR_EMPTY },
        { "   ", SCALESET_ERR_EMPTY },
        { "sideways conns=0 fails=0 checked=1", SCALESET_ERR_STATE },
        { "up conns=0 fails=0", SCALESET_ERR_PARAM_VALUE },
        { "up conns=0 checked=1", SCALESET_ERR_PARAM_VALUE },
        { "up conns=x fails=0 checked=1", SCALESET_ERR_PARAM_VALUE },
        { "up conns=-1 fails=0 checked=1", SCALESET_ERR_PARAM_VALUE },
        { "up conns=99999999999999999999 fails=0 checked=1",
          SCALESET_ERR_PARAM_VALUE },
        /* forged counters (#13): a sum of longs turned 5 connections
           negative with this one */
        { "up conns=18446744073709551516 fails=0 checked=1",
          SCALESET_ERR_PARAM_VALUE },
        { "up conns=9223372036854775807 fails=0 checked=1",
          SCALESET_ERR_PARAM_VALUE },
        { "up conns=4294967296 fails=0 checked=1", SCALESET_ERR_PARAM_VALUE },
        { "up conns=0 fails=4294967296 checked=1", SCALESET_ERR_PARAM_VALUE },
        { "up conns=0 fails=0 checked=253402300800000",
          SCALESET_ERR_PARAM_VALUE },
        { "up conns=+1 fails=0 checked=1", SCALESET_ERR_PARAM_VALUE },
        { "up conns= 1 fails=0 checked=1", SCALESET_ERR_PARAM_VALUE },
        { "up conns=1 conns=2 fails=0 checked=1",
          SCALESET_ERR_PARAM_DUPLICATE },
        { "up conns=0 fails=0 checked=1 color=red",
          SCALESET_ERR_PARAM_UNKNOWN },
        { "up conns=0 fails=0 checked=1 reason=two words",
          SCALESET_ERR_PARAM_UNKNOWN },
        { "up conns=0 fails=0 checked=1 reason=a/b",
          SCALESET_ERR_PARAM_VALUE },
        { "up conns=0 fails=0 checked=1 reason=", SCALESET_ERR_PARAM_VALUE },
        { "up conns=0\n fails=0 checked=1", SCALESET_ERR_BAD_BYTE },
        { "up conns=0 fails=0 checked=1 \x7f", SCALESET_ERR_BAD_BYTE },
        { "up conns=0 fails=0 checked=1 at=", SCALESET_ERR_PARAM_VALUE },
        { "up conns=0 fails=0 checked=1 at=-5", SCALESET_ERR_PARAM_VALUE },
        { "up conns=0 fails=0 checked=1 at=253402300800000",
          SCALESET_ERR_PARAM_VALUE },
        { "up conns=0 fails=0 checked=1 at=1 at=2",
          SCALESET_ERR_PARAM_DUPLICATE },
    };

    (void) state;

    rec = "down conns=3 fails=2 checked=1763800000123 reason=timeout_read";
    assert_int_equal(scaleset_health_parse(rec, strlen(rec), &h, &err), 0);
    assert_int_equal(h.state, SCALESET_HEALTH_DOWN);
    assert_int_equal(h.conns, 3);
    assert_int_equal(h.fails, 2);
    assert_int_equal(h.checked, 1763800000123ULL);
    assert_int_equal(h.reason.len, strlen("timeout_read"));

    n = scaleset_health_format(&h, buf, sizeof(buf), &err);
    assert_int_equal(n, (int) strlen(rec));
    assert_string_equal(buf, rec);

    rec = "  unchecked   fails=0 conns=0  checked=0 ";
    assert_int_equal(scaleset_health_parse(rec, strlen(rec), &h, &err), 0);
    assert_int_equal(h.state, SCALESET_HEALTH_UNCHECKED);
    assert_int_equal(h.reason.len, 0);
    scaleset_health_format(&h, buf, sizeof(buf), &err);
    assert_string_equal(buf, "unchecked conns=0 fails=0 checked=0");
    assert_int_equal(h.at, 0);

    /* the time the report was made, optional */
    rec = "up conns=1 fails=0 checked=1763800000000 at=1763800000450";
    assert_int_equal(scaleset_health_parse(rec, strlen(rec), &h, &err), 0);
    assert_int_equal(h.at, 1763800000450ULL);
    scaleset_health_format(&h, buf, sizeof(buf), &err);
    assert_string_equal(buf, rec);
    h.at = SCALESET_UNIX_MS_MAX + 1;
    assert_int_equal(scaleset_health_format(&h, buf, sizeof(buf), &err), -1);
    h.at = 0;

    /* the counters' bounds, both ways */
    h.state = SCALESET_HEALTH_UP;
    h.conns = SCALESET_HEALTH_COUNT_MAX;
    h.fails = SCALESET_HEALTH_COUNT_MAX;
    h.checked = SCALESET_UNIX_MS_MAX;
    scaleset_health_format(&h, buf, sizeof(buf), &err);
    assert_string_equal(buf, "up conns=4294967295 fails=4294967295 "
                        "checked=253402300799999");
    assert_int_equal(scaleset_health_parse(buf, strlen(buf), &h, &err), 0);
    assert_int_equal(h.conns, SCALESET_HEALTH_COUNT_MAX);
    assert_int_equal(h.checked, SCALESET_UNIX_MS_MAX);
    h.conns = 18446744073709551516ULL;
    assert_int_equal(scaleset_health_format(&h, buf, sizeof(buf), &err), -1);
    assert_int_equal(err.code, SCALESET_ERR_PARAM_VALUE);
    h.conns = 0;
    h.checked = SCALESET_UNIX_MS_MAX + 1;
    assert_int_equal(scaleset_health_format(&h, buf, sizeof(buf), &err), -1);
    h.checked = 0;
    h.fails = SCALESET_HEALTH_COUNT_MAX + 1;
    assert_int_equal(scaleset_health_format(&h, buf, sizeof(buf), &err), -1);
    h.fails = 0;

    assert_int_equal(scaleset_health_format(&h, buf, 10, &err), -1);
    assert_int_equal(err.code, SCALESET_ERR_NOSPACE);

    /* every buffer size: refused until the record and its NUL fit, and
       nothing written past the size it was given */
    h.state = SCALESET_HEALTH_DOWN;
    h.conns = 10;
    h.fails = 9;
    h.checked = 1763800000100ULL;
    h.reason.data = "status_503";
    h.reason.len = 10;
    rec = "down conns=10 fails=9 checked=1763800000100 reason=status_503";
    for (i = 0; i <= strlen(rec) + 1; i++) {
        memset(buf, '#', sizeof(buf));
        n = scaleset_health_format(&h, buf, i, &err);
        if (i <= strlen(rec)) {
            assert_int_equal(n, -1);
            assert_int_equal(err.code, SCALESET_ERR_NOSPACE);
        } else {
            assert_int_equal(n, (int) strlen(rec));
            assert_string_equal(buf, rec);
        }
        assert_int_equal(buf[i], '#');
    }
    h.reason.len = 0;
    h.conns = 0;
    h.fails = 0;
    h.checked = 0;

    /* what the parser would refuse is not written */
    h.state = (scaleset_health_state_t) 7;
    assert_int_equal(scaleset_health_format(&h, buf, sizeof(buf), &err), -1);
    assert_int_equal(err.code, SCALESET_ERR_STATE);
    h.state = SCALESET_HEALTH_DOWN;
    h.reason.data = "two words";
    h.reason.len = 9;
    assert_int_equal(scaleset_health_format(&h, buf, sizeof(buf), &err), -1);
    assert_non_null(strstr(err.msg, "reason"));

    for (i = 0; i < N(bad); i++) {
        if (scaleset_health_parse(bad[i].in, strlen(bad[i].in), &h, &err)
            == 0)
        {
            fail_msg("\"%s\": accepted", bad[i].in);
        }
        if (err.code != bad[i].code) {
            fail_msg("\"%s\": code %s, expected %s", bad[i].in,
                     scaleset_errcode_name(err.code),
                     scaleset_errcode_name(bad[i].code));
        }
    }

    assert_string_equal(scaleset_health_state_name(SCALESET_HEALTH_UP), "up");
    assert_string_equal(scaleset_health_state_name(SCALESET_HEALTH_DOWN),
                        "down");
    assert_string_equal(
        scaleset_health_state_name(SCALESET_HEALTH_UNCHECKED), "unchecked");
}


/* --- durations, names, keys ------------------------------------------- */

static void
test_parse_u64(void **state)
{
    static const struct {
        const char  *in;
        uint64_t     max;
        int          rc;
        uint64_t     v;
    } cases[] = {
        { "0", 10, 0, 0 },
        { "10", 10, 0, 10 },
        { "11", 10, -1, 0 },
        { "00000000000000000007", 7, 0, 7 },
        { "000000000000000000007", UINT64_MAX, -1, 0 },   /* 21 digits */
        { "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
        { "18446744073709551616", UINT64_MAX, -1, 0 },
        { "99999999999999999999", UINT64_MAX, -1, 0 },
        { "4294967295", 4294967295ULL, 0, 4294967295ULL },
        { "4294967296", 4294967295ULL, -1, 0 },
        { "9", 0, -1, 0 },
        { "0", 0, 0, 0 },
        { "", 10, -1, 0 },
        { "-1", 10, -1, 0 },
        { "+1", 10, -1, 0 },
        { " 1", 10, -1, 0 },
        { "1 ", 10, -1, 0 },
        { "1x", 10, -1, 0 },
        { "0x1", 10, -1, 0 },
    };
    size_t    i;
    uint64_t  v;

    (void) state;
    for (i = 0; i < N(cases); i++) {
        v = 12345;
        if (scaleset_parse_u64(cases[i].in, strlen(cases[i].in),
                               cases[i].max, &v) != cases[i].rc)
        {
            fail_msg("\"%s\" max %llu: expected %d", cases[i].in,
                     (unsigned long long) cases[i].max, cases[i].rc);
        }
        assert_true(v == (cases[i].rc == 0 ? cases[i].v : 12345));
    }
}


static void
test_duration(void **state)
{
    size_t    i;
    uint64_t  ms;

    static const struct {
        const char  *in;
        int          ok;
        uint64_t     ms;
    } cases[] = {
        { "10s", 1, 10000 }, { "500ms", 1, 500 }, { "2m", 1, 120000 },
        { "1h", 1, 3600000 }, { "1d", 1, 86400000 }, { "5", 1, 5000 },
        { "0", 1, 0 }, { "1m30s", 1, 90000 }, { "1h1m1s1ms", 1, 3661001 },
        { "1s500ms", 1, 1500 },
        { "", 0, 0 }, { "s", 0, 0 }, { "ms", 0, 0 }, { "10x", 0, 0 },
        { "-1s", 0, 0 }, { "1s1m", 0, 0 }, { "1s1s", 0, 0 },
        { "1m30", 0, 0 }, { "1.5s", 0, 0 }, { " 1s", 0, 0 },
        { "99999999999999999999999d", 0, 0 },
        { "213503982334601d", 0, 0 },
        /* the whole uint64 range, and one past it */
        { "18446744073709551615ms", 1, UINT64_MAX },
        { "18446744073709551609ms", 1, UINT64_MAX - 6 },
        { "18446744073709551616ms", 0, 0 },
        { "18446744073709551620ms", 0, 0 },
        { "18446744073709551s", 1, 18446744073709551000ULL },
        { "18446744073709552s", 0, 0 },
    };

    (void) state;

    for (i = 0; i < N(cases); i++) {
        int rc = scaleset_duration_parse(cases[i].in, strlen(cases[i].in),
                                         UINT64_MAX, &ms);
        if ((rc == 0) != cases[i].ok) {
            fail_msg("\"%s\": expected %s", cases[i].in,
                     cases[i].ok ? "ok" : "error");
        }
        if (rc == 0 && ms != cases[i].ms) {
            fail_msg("\"%s\": %llu ms, expected %llu", cases[i].in,
                     (unsigned long long) ms,
                     (unsigned long long) cases[i].ms);
        }
    }

    assert_int_equal(scaleset_duration_parse("2s", 2, 2000, &ms), 0);
    assert_int_equal(scaleset_duration_parse("2001ms", 6, 2000, &ms), -1);
}


static void
test_names_and_keys(void **state)
{
    int   n;
    char  buf[SCALESET_KEY_MAX], big[100];

    (void) state;

    assert_true(scaleset_name_valid("web", 3));
    assert_true(scaleset_name_valid("a.b-c_D9", 8));
    assert_false(scaleset_name_valid("", 0));
    assert_false(scaleset_name_valid("a b", 3));
    assert_false(scaleset_name_valid("{web}", 5));
    assert_false(scaleset_name_valid("a:b", 3));
    memset(big, 'a', sizeof(big));
    assert_true(scaleset_name_valid(big, SCALESET_NAME_MAX));
    assert_false(scaleset_name_valid(big, SCALESET_NAME_MAX + 1));
    assert_true(scaleset_id_valid("web-000001", 10));
    assert_false(scaleset_id_valid("web 1", 5));

    assert_true(scaleset_prefix_valid("scaleset:", 9));
    assert_true(scaleset_prefix_valid("", 0));
    assert_false(scaleset_prefix_valid("a b", 3));
    assert_false(scaleset_prefix_valid("x{", 2));
    assert_false(scaleset_prefix_valid(big, SCALESET_PREFIX_MAX + 1));

    n = scaleset_key(buf, sizeof(buf), NULL, "web", SCALESET_KEY_MEMBERS,
                     NULL);
    assert_int_equal(n, (int) strlen("scaleset:{web}:members"));
    assert_string_equal(buf, "scaleset:{web}:members");

    scaleset_key(buf, sizeof(buf), "scaleset:", "web", SCALESET_KEY_EPOCH,
                 NULL);
    assert_string_equal(buf, "scaleset:{web}:epoch");
    scaleset_key(buf, sizeof(buf), "p:", "api", SCALESET_KEY_EVENTS, NULL);
    assert_string_equal(buf, "p:{api}:events");
    scaleset_key(buf, sizeof(buf), NULL, "web", SCALESET_KEY_CAPACITY, NULL);
    assert_string_equal(buf, "scaleset:{web}:capacity");
    scaleset_key(buf, sizeof(buf), NULL, "web", SCALESET_KEY_HEALTH, "gw1");
    assert_string_equal(buf, "scaleset:{web}:health:gw1");

    assert_int_equal(scaleset_key(buf, sizeof(buf), NULL, "web",
                                  SCALESET_KEY_HEALTH, NULL), -1);
    assert_int_equal(scaleset_key(buf, sizeof(buf), NULL, "w{b",
                                  SCALESET_KEY_MEMBERS, NULL), -1);
    assert_int_equal(scaleset_key(buf, sizeof(buf), "a b", "web",
                                  SCALESET_KEY_MEMBERS, NULL), -1);
    assert_int_equal(scaleset_key(buf, 10, NULL, "web",
                                  SCALESET_KEY_MEMBERS, NULL), -1);

    /* exactly the key and its NUL fits; one byte less does not */
    n = (int) strlen("scaleset:{web}:members");
    assert_int_equal(scaleset_key(buf, (size_t) n + 1, NULL, "web",
                                  SCALESET_KEY_MEMBERS, NULL), n);
    assert_int_equal(scaleset_key(buf, (size_t) n, NULL, "web",
                                  SCALESET_KEY_MEMBERS, NULL), -1);

    /* every key of the contract, from one builder */
    {
        static const struct {
            scaleset_key_kind_t  kind;
            const char          *prefix, *gateway, *want;
        } keys[] = {
            { SCALESET_KEY_DRAINING, NULL, NULL, "scaleset:{web}:draining" },
            { SCALESET_KEY_SEQ, NULL, NULL, "scaleset:{web}:seq" },
            { SCALESET_KEY_UPGRADE, NULL, NULL, "scaleset:{web}:upgrade" },
            { SCALESET_KEY_PROTECTION, NULL, NULL,
              "scaleset:{web}:protection" },
            { SCALESET_KEY_LIFECYCLE, "p:", NULL, "p:{web}:lifecycle" },
            { SCALESET_KEY_STANDBY, "p:", NULL, "p:{web}:standby" },
            { SCALESET_KEY_REPAIR, "p:", NULL, "p:{web}:repair" },
            { SCALESET_KEY_HEALTH_MATCH, NULL, NULL,
              "scaleset:{web}:health:*" },
            /* a prefix's glob bytes match only themselves */
            { SCALESET_KEY_HEALTH_MATCH, "a*b?[c]\\:", NULL,
              "a\\*b\\?\\[c\\]\\\\:{web}:health:*" },
            { SCALESET_KEY_SCALER_LEASE, NULL, NULL,
              "scaleset:scaler:lease" },
        };
        size_t  i;

        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            n = scaleset_key(buf, sizeof(buf), keys[i].prefix, "web",
                             keys[i].kind, keys[i].gateway);
            assert_int_equal(n, (int) strlen(keys[i].want));
            assert_string_equal(buf, keys[i].want);
        }
        assert_int_equal(scaleset_key(buf, sizeof(buf), NULL, NULL,
                                      SCALESET_KEY_SCALER_LEASE, NULL),
                         (int) strlen("scaleset:scaler:lease"));
        assert_int_equal(scaleset_key(buf, sizeof(buf), NULL, NULL,
                                      SCALESET_KEY_SEQ, NULL), -1);
        assert_int_equal(scaleset_key(buf, 23, NULL, "web",
                                      SCALESET_KEY_HEALTH_MATCH, NULL), -1);
        assert_int_equal(scaleset_key(buf, 24, NULL, "web",
                                      SCALESET_KEY_HEALTH_MATCH, NULL), 23);
    }

    /* the gateway of a health key */
    {
        static const struct {
            const char  *key, *prefix, *pool, *gw;
        } cases[] = {
            { "scaleset:{web}:health:gw1", NULL, "web", "gw1" },
            { "p:{web}:health:a.b-c", "p:", "web", "a.b-c" },
            { "scaleset:{web}:health:", NULL, "web", NULL },
            { "scaleset:{web}:health:g w", NULL, "web", NULL },
            { "scaleset:{api}:health:gw1", NULL, "web", NULL },
            { "scaleset:{web}:members", NULL, "web", NULL },
            { "x:{web}:health:gw1", NULL, "web", NULL },
        };
        scaleset_slice_t  gw;
        size_t            i;
        int               ok;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            ok = scaleset_key_gateway(cases[i].key, strlen(cases[i].key),
                                      cases[i].prefix, cases[i].pool, &gw);
            assert_int_equal(ok, cases[i].gw != NULL);
            if (ok) {
                assert_int_equal(gw.len, strlen(cases[i].gw));
                assert_memory_equal(gw.data, cases[i].gw, gw.len);
            }
        }
    }

    /* the longest key of the contract fits SCALESET_KEY_MAX */
    {
        char  prefix[SCALESET_PREFIX_MAX + 1], name[SCALESET_NAME_MAX + 1];

        memset(prefix, 'p', SCALESET_PREFIX_MAX);
        prefix[SCALESET_PREFIX_MAX] = '\0';
        memset(name, 'n', SCALESET_NAME_MAX);
        name[SCALESET_NAME_MAX] = '\0';
        assert_true(scaleset_key(buf, sizeof(buf), prefix, name,
                                 SCALESET_KEY_HEALTH, name) > 0);
    }
}


static void
test_errcode_names(void **state)
{
    int          i, j;
    const char  *a;

    (void) state;

    for (i = 0; i < SCALESET_ERR_LAST; i++) {
        a = scaleset_errcode_name(i);
        assert_true(strlen(a) > 0);
        assert_true(strspn(a, "abcdefghijklmnopqrstuvwxyz_") == strlen(a));
        for (j = 0; j < i; j++) {
            assert_string_not_equal(a, scaleset_errcode_name(j));
        }
    }

    assert_string_equal(scaleset_errcode_name(SCALESET_ERR_LAST), "unknown");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_member_good),
        cmocka_unit_test(test_member_fields),
        cmocka_unit_test(test_member_bad),
        cmocka_unit_test(test_member_limits),
        cmocka_unit_test(test_member_format_nospace),
        cmocka_unit_test(test_member_format_refuses),
        cmocka_unit_test(test_member_roundtrip),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_names_and_keys),
        cmocka_unit_test(test_errcode_names),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);

    return cmocka_run_group_tests_name("shared_record", tests, NULL, NULL);
}
