/*
 * The Redis key schema, the member record codec and the health record
 * codec shared by the nginx module and the scaler.
 */

#include <arpa/inet.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "scaleset_record.h"


static const char *const  scaleset_errcode_names[SCALESET_ERR_LAST] = {
    [SCALESET_OK]                  = "ok",
    [SCALESET_ERR_EMPTY]           = "empty",
    [SCALESET_ERR_TOO_LONG]        = "too_long",
    [SCALESET_ERR_BAD_BYTE]        = "bad_byte",
    [SCALESET_ERR_ADDRESS]         = "address",
    [SCALESET_ERR_PORT]            = "port",
    [SCALESET_ERR_UNIX_PATH]       = "unix_path",
    [SCALESET_ERR_PARAM_UNKNOWN]   = "unknown_parameter",
    [SCALESET_ERR_PARAM_DUPLICATE] = "duplicate_parameter",
    [SCALESET_ERR_PARAM_VALUE]     = "parameter_value",
    [SCALESET_ERR_NAME]            = "name",
    [SCALESET_ERR_STATE]           = "state",
    [SCALESET_ERR_NOSPACE]         = "no_space",
};


const char *
scaleset_errcode_name(scaleset_errcode_t code)
{
    if ((unsigned) code >= SCALESET_ERR_LAST) {
        return "unknown";
    }

    return scaleset_errcode_names[code];
}


/* fills *err (when given) and returns -1 */
static int
scaleset_fail(scaleset_error_t *err, scaleset_errcode_t code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
scaleset_fail(scaleset_error_t *err, scaleset_errcode_t code,
    const char *fmt, ...)
{
    va_list  ap;

    if (err != NULL) {
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }

    return -1;
}


/*
 * A slice made printable for an error message: at most 40 bytes, other
 * than printable ASCII shown as '?'.
 */
static const char *
scaleset_quote(char *buf, size_t size, const char *s, size_t len)
{
    size_t  i, n;

    n = len < size - 1 ? len : size - 1;
    if (n > 40) {
        n = 40;
    }

    for (i = 0; i < n; i++) {
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    }

    buf[n] = '\0';

    return buf;
}


static int
scaleset_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}


int
scaleset_name_valid(const char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len == 0 || len > SCALESET_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!scaleset_name_char(s[i])) {
            return 0;
        }
    }

    return 1;
}


int
scaleset_id_valid(const char *s, size_t len)
{
    return len <= SCALESET_ID_MAX && scaleset_name_valid(s, len);
}


int
scaleset_prefix_valid(const char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len > SCALESET_PREFIX_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '{' || s[i] == '}') {
            return 0;
        }
    }

    return 1;
}


/* an unsigned decimal number of 1..10 digits, no sign; -1 when not one */
static int
scaleset_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *v)
{
    size_t    i;
    uint64_t  n = 0;

    if (len == 0 || len > 10) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        n = n * 10 + (uint64_t) (s[i] - '0');
    }

    if (n > max) {
        return -1;
    }

    *v = n;

    return 0;
}


int
scaleset_duration_parse(const char *s, size_t len, uint64_t max_ms,
    uint64_t *ms)
{
    size_t    i, start;
    uint64_t  total, n, unit;
    int       last_rank, rank;

    if (len == 0) {
        return -1;
    }

    total = 0;
    last_rank = 6;
    i = 0;

    while (i < len) {
        start = i;
        n = 0;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (n > (UINT64_MAX - (uint64_t) (s[i] - '0')) / 10) {
                return -1;
            }
            n = n * 10 + (uint64_t) (s[i] - '0');
            i++;
        }

        if (i == start) {
            return -1;
        }

        /* units in decreasing order, each at most once, as nginx */
        if (i == len) {
            if (start != 0) {
                return -1;        /* "1m30" is ambiguous */
            }
            unit = 1000;
            rank = 0;

        } else if (len - i >= 2 && s[i] == 'm' && s[i + 1] == 's') {
            unit = 1;
            rank = 0;
            i += 2;

        } else {
            switch (s[i]) {
            case 'd': unit = 86400000; rank = 5; break;
            case 'h': unit = 3600000; rank = 4; break;
            case 'm': unit = 60000; rank = 3; break;
            case 's': unit = 1000; rank = 2; break;
            default: return -1;
            }
            i++;
        }

        if (rank >= last_rank) {
            return -1;
        }

        last_rank = rank;

        if (n > UINT64_MAX / unit || total > UINT64_MAX - n * unit) {
            return -1;
        }

        total += n * unit;
    }

    if (total > max_ms) {
        return -1;
    }

    *ms = total;

    return 0;
}


/* a port 1..65535 after an address's ':' */
static int
scaleset_parse_port(const char *p, size_t plen, uint64_t *port,
    scaleset_error_t *err)
{
    char  q[48];

    if (scaleset_parse_uint(p, plen, 65535, port) != 0 || *port == 0) {
        return scaleset_fail(err, SCALESET_ERR_PORT,
                             "address: port \"%s\" is not 1..65535",
                             scaleset_quote(q, sizeof(q), p, plen));
    }

    return 0;
}


/* what both IP forms share: the host h (hlen bytes) as a literal of
   family af, then the port from p to the end of the address s (len
   bytes, quoted in errors), into m->sockaddr */
static int
scaleset_parse_inet(int af, const char *s, size_t len, const char *h,
    size_t hlen, const char *p, scaleset_member_t *m, scaleset_error_t *err)
{
    char                  host[INET6_ADDRSTRLEN + 1], q[48];
    size_t                plen = (size_t) (s + len - p);
    uint64_t              port;
    void                 *addr;
    const char           *what;
    struct sockaddr_in   *sin = (struct sockaddr_in *) &m->sockaddr;
    struct sockaddr_in6  *sin6 = (struct sockaddr_in6 *) &m->sockaddr;

    if (af == AF_INET6) {
        addr = &sin6->sin6_addr;
        what = "an IPv6 literal";
    } else {
        addr = &sin->sin_addr;
        what = "an IP address literal (no DNS names)";
    }

    if (hlen == 0
        || hlen > (af == AF_INET6 ? INET6_ADDRSTRLEN : INET_ADDRSTRLEN))
    {
        return scaleset_fail(err, SCALESET_ERR_ADDRESS,
                             "address: \"%s\" is not %s",
                             scaleset_quote(q, sizeof(q), h, hlen), what);
    }

    memcpy(host, h, hlen);
    host[hlen] = '\0';

    if (inet_pton(af, host, addr) != 1) {
        return scaleset_fail(err, SCALESET_ERR_ADDRESS,
                             "address: \"%s\" is not %s",
                             scaleset_quote(q, sizeof(q), host, hlen), what);
    }

    if (plen == 0) {
        return scaleset_fail(err, SCALESET_ERR_PORT,
                             "address: \"%s\" has no port",
                             scaleset_quote(q, sizeof(q), s, len));
    }

    if (scaleset_parse_port(p, plen, &port, err) != 0) {
        return -1;
    }

    if (af == AF_INET6) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t) port);
        m->socklen = sizeof(struct sockaddr_in6);
    } else {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t) port);
        m->socklen = sizeof(struct sockaddr_in);
    }

    return 0;
}


/* "[v6]:port", "v4:port" or "unix:/path" into m->sockaddr */
static int
scaleset_parse_address(const char *s, size_t len, scaleset_member_t *m,
    scaleset_error_t *err)
{
    char                  q[48];
    size_t                plen;
    const char           *p, *colon, *close;
    struct sockaddr_un   *sun;

    memset(&m->sockaddr, 0, sizeof(m->sockaddr));

    if (len >= 5 && memcmp(s, "unix:", 5) == 0) {
        p = s + 5;
        plen = len - 5;
        sun = (struct sockaddr_un *) &m->sockaddr;

        if (plen == 0) {
            return scaleset_fail(err, SCALESET_ERR_UNIX_PATH,
                                 "address: empty unix socket path");
        }

        if (p[0] != '/') {
            return scaleset_fail(err, SCALESET_ERR_UNIX_PATH,
                                 "address: unix socket path \"%s\" is not "
                                 "absolute", scaleset_quote(q, sizeof(q), p,
                                                            plen));
        }

        if (plen >= sizeof(sun->sun_path)) {
            return scaleset_fail(err, SCALESET_ERR_UNIX_PATH,
                                 "address: unix socket path is %zu bytes, "
                                 "longer than %zu", plen,
                                 sizeof(sun->sun_path) - 1);
        }

        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, p, plen);
        m->socklen = (socklen_t) (offsetof(struct sockaddr_un, sun_path)
                                  + plen + 1);
        return 0;
    }

    if (s[0] == '[') {
        close = memchr(s, ']', len);
        if (close == NULL) {
            return scaleset_fail(err, SCALESET_ERR_ADDRESS,
                                 "address: \"%s\" has no closing ']'",
                                 scaleset_quote(q, sizeof(q), s, len));
        }

        if (close + 1 == s + len) {
            return scaleset_fail(err, SCALESET_ERR_PORT,
                                 "address: \"%s\" has no port",
                                 scaleset_quote(q, sizeof(q), s, len));
        }

        if (close[1] != ':') {
            return scaleset_fail(err, SCALESET_ERR_ADDRESS,
                                 "address: \"%s\": expected ':' after ']'",
                                 scaleset_quote(q, sizeof(q), s, len));
        }

        return scaleset_parse_inet(AF_INET6, s, len, s + 1,
                                   (size_t) (close - s - 1), close + 2, m,
                                   err);
    }

    colon = memchr(s, ':', len);
    if (colon == NULL) {
        return scaleset_fail(err, SCALESET_ERR_PORT,
                             "address: \"%s\" has no port",
                             scaleset_quote(q, sizeof(q), s, len));
    }

    if (memchr(colon + 1, ':', (size_t) (s + len - colon - 1)) != NULL) {
        return scaleset_fail(err, SCALESET_ERR_ADDRESS,
                             "address: \"%s\": IPv6 addresses need brackets, "
                             "as in [::1]:8080",
                             scaleset_quote(q, sizeof(q), s, len));
    }

    return scaleset_parse_inet(AF_INET, s, len, s, (size_t) (colon - s),
                               colon + 1, m, err);
}


/* the member record's parameters, in canonical order */
typedef enum {
    SCALESET_P_WEIGHT = 0,
    SCALESET_P_MAX_FAILS,
    SCALESET_P_FAIL_TIMEOUT,
    SCALESET_P_ZONE,
    SCALESET_P_HOST,
    SCALESET_P_VERSION,
    SCALESET_P_DRAIN,
    SCALESET_P_DOWN,
    SCALESET_P_BACKUP,
    SCALESET_P_LAST
} scaleset_param_t;

static const struct {
    const char  *name;
    size_t       len;
    int          flag;      /* a bare word, not name=value */
} scaleset_params[SCALESET_P_LAST] = {
    { "weight", 6, 0 },
    { "max_fails", 9, 0 },
    { "fail_timeout", 12, 0 },
    { "zone", 4, 0 },
    { "host", 4, 0 },
    { "version", 7, 0 },
    { "drain", 5, SCALESET_MEMBER_DRAIN },
    { "down", 4, SCALESET_MEMBER_DOWN },
    { "backup", 6, SCALESET_MEMBER_BACKUP },
};


static int
scaleset_member_param(const char *w, size_t wlen, scaleset_member_t *m,
    unsigned *seen, scaleset_error_t *err)
{
    char              q[48];
    size_t            nlen, vlen;
    uint64_t          v;
    const char       *eq, *val;
    scaleset_param_t  p;

    eq = memchr(w, '=', wlen);
    nlen = eq ? (size_t) (eq - w) : wlen;
    val = eq ? eq + 1 : NULL;
    vlen = eq ? (size_t) (w + wlen - val) : 0;

    for (p = 0; p < SCALESET_P_LAST; p++) {
        if (scaleset_params[p].len == nlen
            && memcmp(scaleset_params[p].name, w, nlen) == 0)
        {
            break;
        }
    }

    if (p == SCALESET_P_LAST) {
        return scaleset_fail(err, SCALESET_ERR_PARAM_UNKNOWN,
                             "unknown parameter \"%s\"",
                             scaleset_quote(q, sizeof(q), w, nlen));
    }

    if (*seen & (1u << p)) {
        return scaleset_fail(err, SCALESET_ERR_PARAM_DUPLICATE,
                             "%s: given twice", scaleset_params[p].name);
    }

    *seen |= 1u << p;

    if (scaleset_params[p].flag) {
        if (eq != NULL) {
            return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                                 "%s: takes no value",
                                 scaleset_params[p].name);
        }
        m->flags |= (unsigned) scaleset_params[p].flag;
        return 0;
    }

    if (eq == NULL || vlen == 0) {
        return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                             "%s: needs a value, as %s=...",
                             scaleset_params[p].name,
                             scaleset_params[p].name);
    }

    switch (p) {

    case SCALESET_P_WEIGHT:
        if (scaleset_parse_uint(val, vlen, SCALESET_WEIGHT_MAX, &v) != 0
            || v == 0)
        {
            return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                                 "weight: \"%s\" is not 1..%u",
                                 scaleset_quote(q, sizeof(q), val, vlen),
                                 SCALESET_WEIGHT_MAX);
        }
        m->weight = (unsigned) v;
        return 0;

    case SCALESET_P_MAX_FAILS:
        if (scaleset_parse_uint(val, vlen, SCALESET_MAX_FAILS_MAX, &v) != 0) {
            return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                                 "max_fails: \"%s\" is not 0..%u",
                                 scaleset_quote(q, sizeof(q), val, vlen),
                                 SCALESET_MAX_FAILS_MAX);
        }
        m->max_fails = (unsigned) v;
        return 0;

    case SCALESET_P_FAIL_TIMEOUT:
        if (scaleset_duration_parse(val, vlen, SCALESET_FAIL_TIMEOUT_MAX, &v)
            != 0)
        {
            return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                                 "fail_timeout: \"%s\" is not a time up to "
                                 "1d (as 10s, 500ms)",
                                 scaleset_quote(q, sizeof(q), val, vlen));
        }
        m->fail_timeout = (unsigned) v;
        return 0;

    case SCALESET_P_ZONE:
    case SCALESET_P_HOST:
    case SCALESET_P_VERSION:
        if (!scaleset_name_valid(val, vlen)) {
            return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                                 "%s: \"%s\" is not 1..%d of "
                                 "[A-Za-z0-9_.-]", scaleset_params[p].name,
                                 scaleset_quote(q, sizeof(q), val, vlen),
                                 SCALESET_NAME_MAX);
        }
        if (p == SCALESET_P_ZONE) {
            m->zone.data = val;
            m->zone.len = vlen;
        } else if (p == SCALESET_P_HOST) {
            m->host.data = val;
            m->host.len = vlen;
        } else {
            m->version.data = val;
            m->version.len = vlen;
        }
        return 0;

    default:
        return scaleset_fail(err, SCALESET_ERR_PARAM_UNKNOWN,
                             "unknown parameter");
    }
}


static int
scaleset_space(char c)
{
    return c == ' ' || c == '\t';
}


/* the checks every record passes first: not empty, not too long, no NUL,
 * control or DEL byte (a tab separates words) */
static int
scaleset_record_check(const char *rec, size_t len, scaleset_error_t *err)
{
    size_t  i;

    if (rec == NULL || len == 0) {
        return scaleset_fail(err, SCALESET_ERR_EMPTY, "empty record");
    }

    if (len > SCALESET_RECORD_MAX) {
        return scaleset_fail(err, SCALESET_ERR_TOO_LONG,
                             "record is %zu bytes, longer than %d", len,
                             SCALESET_RECORD_MAX);
    }

    for (i = 0; i < len; i++) {
        if (((unsigned char) rec[i] < 0x20 && rec[i] != '\t')
            || (unsigned char) rec[i] == 0x7f)
        {
            return scaleset_fail(err, SCALESET_ERR_BAD_BYTE,
                                 "control byte 0x%02x at offset %zu",
                                 (unsigned char) rec[i], i);
        }
    }

    return 0;
}


/* the next space-separated word from rec[*i]; 0 when there is none */
static int
scaleset_next_word(const char *rec, size_t len, size_t *i, const char **w,
    size_t *wlen)
{
    size_t  start;

    while (*i < len && scaleset_space(rec[*i])) {
        (*i)++;
    }

    if (*i == len) {
        return 0;
    }

    start = *i;
    while (*i < len && !scaleset_space(rec[*i])) {
        (*i)++;
    }

    *w = rec + start;
    *wlen = *i - start;

    return 1;
}


int
scaleset_member_parse(const char *rec, size_t len, scaleset_member_t *m,
    scaleset_error_t *err)
{
    size_t       i, wlen;
    unsigned     seen;
    int          first;
    const char  *w;

    memset(m, 0, sizeof(*m));
    m->weight = SCALESET_DEFAULT_WEIGHT;
    m->max_fails = SCALESET_DEFAULT_MAX_FAILS;
    m->fail_timeout = SCALESET_DEFAULT_FAIL_TIMEOUT;

    if (err != NULL) {
        err->code = SCALESET_OK;
        err->msg[0] = '\0';
    }

    if (scaleset_record_check(rec, len, err) != 0) {
        return -1;
    }

    seen = 0;
    first = 1;
    i = 0;

    while (scaleset_next_word(rec, len, &i, &w, &wlen)) {

        if (first) {
            m->address.data = w;
            m->address.len = wlen;

            if (scaleset_parse_address(w, wlen, m, err) != 0) {
                return -1;
            }

            first = 0;
            continue;
        }

        if (scaleset_member_param(w, wlen, m, &seen, err) != 0) {
            return -1;
        }
    }

    if (first) {
        return scaleset_fail(err, SCALESET_ERR_EMPTY,
                             "record has no address");
    }

    return 0;
}


/* appends to buf; keeps *n the length that would have been written */
static void
scaleset_append(char *buf, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
scaleset_append(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
    int      rc;
    va_list  ap;

    va_start(ap, fmt);
    rc = vsnprintf(*n < size ? buf + *n : NULL, *n < size ? size - *n : 0,
                   fmt, ap);
    va_end(ap);

    if (rc > 0) {
        *n += (size_t) rc;
    }
}


/*
 * scaleset_append() of "%.*s" and of "%llu" without vsnprintf: a gateway
 * formats a health record per member and report (~1 800 instructions
 * each through vsnprintf, ~150 this way)
 */
static void
scaleset_append_str(char *buf, size_t size, size_t *n, const char *s,
    size_t len)
{
    if (*n < size) {
        memcpy(buf + *n, s, len < size - *n ? len : size - *n);
        buf[*n + len < size ? *n + len : size - 1] = '\0';
    }

    *n += len;
}


static void
scaleset_append_u64(char *buf, size_t size, size_t *n, uint64_t v)
{
    char   d[20], *p;

    p = d + sizeof(d);

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    scaleset_append_str(buf, size, n, p, (size_t) (d + sizeof(d) - p));
}


static void
scaleset_append_duration(char *buf, size_t size, size_t *n, unsigned ms)
{
    if (ms % 1000 == 0) {
        scaleset_append(buf, size, n, "%us", ms / 1000);
    } else {
        scaleset_append(buf, size, n, "%ums", ms);
    }
}


/* a zone, host or version slice: absent, or a valid name */
static int
scaleset_member_check_name(const char *what, scaleset_slice_t s,
    scaleset_error_t *err)
{
    char  q[48];

    if (s.len && !scaleset_name_valid(s.data, s.len)) {
        return scaleset_fail(err, SCALESET_ERR_NAME,
                             "%s: \"%s\" is not 1..%d of [A-Za-z0-9_.-]",
                             what, scaleset_quote(q, sizeof(q), s.data, s.len),
                             SCALESET_NAME_MAX);
    }

    return 0;
}


int
scaleset_member_check(const scaleset_member_t *m, scaleset_error_t *err)
{
    size_t                      plen;
    const struct sockaddr_un   *sun;
    const struct sockaddr_in   *sin;
    const struct sockaddr_in6  *sin6;

    switch (m->sockaddr.ss_family) {

    case AF_INET:
    case AF_INET6:
        sin = (const struct sockaddr_in *) &m->sockaddr;
        sin6 = (const struct sockaddr_in6 *) &m->sockaddr;
        if ((m->sockaddr.ss_family == AF_INET ? sin->sin_port
                                              : sin6->sin6_port) == 0)
        {
            return scaleset_fail(err, SCALESET_ERR_PORT,
                                 "address: port 0 is not 1..65535");
        }
        break;

    case AF_UNIX:
        sun = (const struct sockaddr_un *) &m->sockaddr;
        plen = strnlen(sun->sun_path, sizeof(sun->sun_path));
        if (plen == 0 || plen == sizeof(sun->sun_path)
            || sun->sun_path[0] != '/')
        {
            return scaleset_fail(err, SCALESET_ERR_UNIX_PATH,
                                 "address: unix socket path is empty, "
                                 "relative or not terminated");
        }
        break;

    default:
        return scaleset_fail(err, SCALESET_ERR_ADDRESS,
                             "address: unknown address family %d",
                             (int) m->sockaddr.ss_family);
    }

    if (m->weight == 0 || m->weight > SCALESET_WEIGHT_MAX) {
        return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                             "weight: %u is not 1..%u", m->weight,
                             SCALESET_WEIGHT_MAX);
    }

    if (m->max_fails > SCALESET_MAX_FAILS_MAX) {
        return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                             "max_fails: %u is not 0..%u", m->max_fails,
                             SCALESET_MAX_FAILS_MAX);
    }

    if (m->fail_timeout > SCALESET_FAIL_TIMEOUT_MAX) {
        return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                             "fail_timeout: %ums is more than 1d",
                             m->fail_timeout);
    }

    if (scaleset_member_check_name("zone", m->zone, err) != 0
        || scaleset_member_check_name("host", m->host, err) != 0
        || scaleset_member_check_name("version", m->version, err) != 0)
    {
        return -1;
    }

    if (m->flags & ~(unsigned) (SCALESET_MEMBER_DRAIN | SCALESET_MEMBER_DOWN
                                | SCALESET_MEMBER_BACKUP))
    {
        return scaleset_fail(err, SCALESET_ERR_PARAM_UNKNOWN,
                             "flags: unknown bits 0x%x", m->flags);
    }

    return 0;
}


int
scaleset_member_format(const scaleset_member_t *m, char *buf, size_t size,
    scaleset_error_t *err)
{
    char                        host[INET6_ADDRSTRLEN];
    size_t                      n, plen;
    const struct sockaddr_un   *sun;
    const struct sockaddr_in   *sin;
    const struct sockaddr_in6  *sin6;

    if (scaleset_member_check(m, err) != 0) {
        return -1;
    }

    n = 0;

    switch (m->sockaddr.ss_family) {

    case AF_INET:
        sin = (const struct sockaddr_in *) &m->sockaddr;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        scaleset_append(buf, size, &n, "%s:%u", host,
                        (unsigned) ntohs(sin->sin_port));
        break;

    case AF_INET6:
        sin6 = (const struct sockaddr_in6 *) &m->sockaddr;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        scaleset_append(buf, size, &n, "[%s]:%u", host,
                        (unsigned) ntohs(sin6->sin6_port));
        break;

    case AF_UNIX:
        sun = (const struct sockaddr_un *) &m->sockaddr;
        plen = strnlen(sun->sun_path, sizeof(sun->sun_path));
        scaleset_append(buf, size, &n, "unix:%.*s", (int) plen,
                        sun->sun_path);
        break;

    default:
        return scaleset_fail(err, SCALESET_ERR_ADDRESS,
                             "address: unknown address family %d",
                             (int) m->sockaddr.ss_family);
    }

    if (m->weight != SCALESET_DEFAULT_WEIGHT) {
        scaleset_append(buf, size, &n, " weight=%u", m->weight);
    }

    if (m->max_fails != SCALESET_DEFAULT_MAX_FAILS) {
        scaleset_append(buf, size, &n, " max_fails=%u", m->max_fails);
    }

    if (m->fail_timeout != SCALESET_DEFAULT_FAIL_TIMEOUT) {
        scaleset_append(buf, size, &n, " fail_timeout=");
        scaleset_append_duration(buf, size, &n, m->fail_timeout);
    }

    if (m->zone.len) {
        scaleset_append(buf, size, &n, " zone=%.*s", (int) m->zone.len,
                        m->zone.data);
    }

    if (m->host.len) {
        scaleset_append(buf, size, &n, " host=%.*s", (int) m->host.len,
                        m->host.data);
    }

    if (m->version.len) {
        scaleset_append(buf, size, &n, " version=%.*s",
                        (int) m->version.len, m->version.data);
    }

    if (m->flags & SCALESET_MEMBER_DRAIN) {
        scaleset_append(buf, size, &n, " drain");
    }

    if (m->flags & SCALESET_MEMBER_DOWN) {
        scaleset_append(buf, size, &n, " down");
    }

    if (m->flags & SCALESET_MEMBER_BACKUP) {
        scaleset_append(buf, size, &n, " backup");
    }

    if (n >= size) {
        return scaleset_fail(err, SCALESET_ERR_NOSPACE,
                             "record needs %zu bytes, buffer has %zu",
                             n + 1, size);
    }

    return (int) n;
}


static int
scaleset_slice_equal(scaleset_slice_t a, scaleset_slice_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}


int
scaleset_member_equal(const scaleset_member_t *a, const scaleset_member_t *b)
{
    return a->socklen == b->socklen
           && memcmp(&a->sockaddr, &b->sockaddr, a->socklen) == 0
           && a->weight == b->weight
           && a->max_fails == b->max_fails
           && a->fail_timeout == b->fail_timeout
           && a->flags == b->flags
           && scaleset_slice_equal(a->zone, b->zone)
           && scaleset_slice_equal(a->host, b->host)
           && scaleset_slice_equal(a->version, b->version);
}


static const char *const  scaleset_health_names[] = {
    [SCALESET_HEALTH_UNCHECKED] = "unchecked",
    [SCALESET_HEALTH_UP]        = "up",
    [SCALESET_HEALTH_DOWN]      = "down",
};


const char *
scaleset_health_state_name(scaleset_health_state_t state)
{
    if ((unsigned) state > SCALESET_HEALTH_DOWN) {
        return "unknown";
    }

    return scaleset_health_names[state];
}


int
scaleset_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *v)
{
    size_t    i;
    uint64_t  n = 0, d;

    if (len == 0 || len > 20) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        d = (uint64_t) (s[i] - '0');
        if (d > max || n > (max - d) / 10) {        /* n * 10 + d > max */
            return -1;
        }
        n = n * 10 + d;
    }

    *v = n;

    return 0;
}


int
scaleset_health_parse(const char *rec, size_t len, scaleset_health_t *h,
    scaleset_error_t *err)
{
    char         q[48];
    size_t       i, wlen, nlen;
    unsigned     seen;
    uint64_t    *field, max;
    const char  *w, *eq;
    int          first, k;

    static const char *const  fields[] = { "conns", "fails", "checked",
                                           "reason", "at" };

    memset(h, 0, sizeof(*h));

    if (scaleset_record_check(rec, len, err) != 0) {
        return -1;
    }

    seen = 0;
    first = 1;
    i = 0;

    while (scaleset_next_word(rec, len, &i, &w, &wlen)) {

        if (first) {
            first = 0;

            if (wlen == 2 && memcmp(w, "up", 2) == 0) {
                h->state = SCALESET_HEALTH_UP;
            } else if (wlen == 4 && memcmp(w, "down", 4) == 0) {
                h->state = SCALESET_HEALTH_DOWN;
            } else if (wlen == 9 && memcmp(w, "unchecked", 9) == 0) {
                h->state = SCALESET_HEALTH_UNCHECKED;
            } else {
                return scaleset_fail(err, SCALESET_ERR_STATE,
                                     "state: \"%s\" is not up, down or "
                                     "unchecked",
                                     scaleset_quote(q, sizeof(q), w, wlen));
            }
            continue;
        }

        eq = memchr(w, '=', wlen);
        nlen = eq ? (size_t) (eq - w) : wlen;

        for (k = 0; k < 5; k++) {
            if (strlen(fields[k]) == nlen && memcmp(fields[k], w, nlen) == 0) {
                break;
            }
        }

        if (k == 5) {
            return scaleset_fail(err, SCALESET_ERR_PARAM_UNKNOWN,
                                 "unknown field \"%s\"",
                                 scaleset_quote(q, sizeof(q), w, nlen));
        }

        if (seen & (1u << k)) {
            return scaleset_fail(err, SCALESET_ERR_PARAM_DUPLICATE,
                                 "%s: given twice", fields[k]);
        }

        seen |= 1u << k;

        if (eq == NULL || eq + 1 == w + wlen) {
            return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                                 "%s: needs a value", fields[k]);
        }

        if (k == 3) {
            if (!scaleset_name_valid(eq + 1, (size_t) (w + wlen - eq - 1))) {
                return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                                     "reason: \"%s\" is not one word of "
                                     "[A-Za-z0-9_.-]",
                                     scaleset_quote(q, sizeof(q), eq + 1,
                                                    (size_t) (w + wlen - eq
                                                              - 1)));
            }
            h->reason.data = eq + 1;
            h->reason.len = (size_t) (w + wlen - eq - 1);
            continue;
        }

        field = k == 0 ? &h->conns : k == 1 ? &h->fails
                : k == 2 ? &h->checked : &h->at;
        max = k >= 2 ? SCALESET_UNIX_MS_MAX : SCALESET_HEALTH_COUNT_MAX;

        if (scaleset_parse_u64(eq + 1, (size_t) (w + wlen - eq - 1), max,
                               field)
            != 0)
        {
            return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                                 "%s: \"%s\" is not a number in 0..%llu",
                                 fields[k],
                                 scaleset_quote(q, sizeof(q), eq + 1,
                                                (size_t) (w + wlen - eq - 1)),
                                 (unsigned long long) max);
        }
    }

    if (first) {
        return scaleset_fail(err, SCALESET_ERR_EMPTY, "record has no state");
    }

    for (k = 0; k < 3; k++) {
        if (!(seen & (1u << k))) {
            return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                                 "%s: missing", fields[k]);
        }
    }

    return 0;
}


int
scaleset_health_format(const scaleset_health_t *h, char *buf, size_t size,
    scaleset_error_t *err)
{
    char         q[48];
    size_t       n = 0;
    const char  *name;

    if ((unsigned) h->state > SCALESET_HEALTH_DOWN) {
        return scaleset_fail(err, SCALESET_ERR_STATE,
                             "state: %u is not up, down or unchecked",
                             (unsigned) h->state);
    }

    if (h->conns > SCALESET_HEALTH_COUNT_MAX
        || h->fails > SCALESET_HEALTH_COUNT_MAX
        || h->checked > SCALESET_UNIX_MS_MAX
        || h->at > SCALESET_UNIX_MS_MAX)
    {
        return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                             "conns, fails, checked or at out of range");
    }

    if (h->reason.len && !scaleset_name_valid(h->reason.data, h->reason.len)) {
        return scaleset_fail(err, SCALESET_ERR_PARAM_VALUE,
                             "reason: \"%s\" is not one word of "
                             "[A-Za-z0-9_.-]",
                             scaleset_quote(q, sizeof(q), h->reason.data,
                                            h->reason.len));
    }

    name = scaleset_health_state_name(h->state);

    scaleset_append_str(buf, size, &n, name, strlen(name));
    scaleset_append_str(buf, size, &n, " conns=", 7);
    scaleset_append_u64(buf, size, &n, h->conns);
    scaleset_append_str(buf, size, &n, " fails=", 7);
    scaleset_append_u64(buf, size, &n, h->fails);
    scaleset_append_str(buf, size, &n, " checked=", 9);
    scaleset_append_u64(buf, size, &n, h->checked);

    if (h->at) {
        scaleset_append(buf, size, &n, " at=%llu",
                        (unsigned long long) h->at);
    }

    if (h->reason.len) {
        scaleset_append_str(buf, size, &n, " reason=", 8);
        scaleset_append_str(buf, size, &n, h->reason.data, h->reason.len);
    }

    if (n >= size) {
        return scaleset_fail(err, SCALESET_ERR_NOSPACE,
                             "record needs %zu bytes, buffer has %zu",
                             n + 1, size);
    }

    return (int) n;
}


int
scaleset_key(char *buf, size_t size, const char *prefix, const char *pool,
    scaleset_key_kind_t kind, const char *gateway)
{
    int          rc;
    size_t       i, k;
    const char  *suffix;

    if (prefix == NULL) {
        prefix = SCALESET_DEFAULT_PREFIX;
    }

    if (!scaleset_prefix_valid(prefix, strlen(prefix))) {
        return -1;
    }

    if (kind == SCALESET_KEY_SCALER_LEASE) {
        rc = snprintf(buf, size, "%sscaler:lease", prefix);
        return (rc < 0 || (size_t) rc >= size) ? -1 : rc;
    }

    if (pool == NULL || !scaleset_name_valid(pool, strlen(pool))) {
        return -1;
    }

    switch (kind) {
    case SCALESET_KEY_MEMBERS:    suffix = "members"; break;
    case SCALESET_KEY_EPOCH:      suffix = "epoch"; break;
    case SCALESET_KEY_EVENTS:     suffix = "events"; break;
    case SCALESET_KEY_CAPACITY:   suffix = "capacity"; break;
    case SCALESET_KEY_DRAINING:   suffix = "draining"; break;
    case SCALESET_KEY_SEQ:        suffix = "seq"; break;
    case SCALESET_KEY_UPGRADE:    suffix = "upgrade"; break;
    case SCALESET_KEY_PROTECTION: suffix = "protection"; break;
    case SCALESET_KEY_LIFECYCLE:  suffix = "lifecycle"; break;
    case SCALESET_KEY_STANDBY:    suffix = "standby"; break;
    case SCALESET_KEY_REPAIR:     suffix = "repair"; break;

    case SCALESET_KEY_HEALTH:
        if (gateway == NULL || !scaleset_name_valid(gateway, strlen(gateway)))
        {
            return -1;
        }
        rc = snprintf(buf, size, "%s{%s}:health:%s", prefix, pool, gateway);
        return (rc < 0 || (size_t) rc >= size) ? -1 : rc;

    case SCALESET_KEY_HEALTH_MATCH:
        /* Redis glob: a prefix's * ? [ ] \ match themselves only when
           escaped; pool names hold none */
        for (i = 0, k = 0; prefix[i]; i++) {
            if (strchr("*?[]\\", prefix[i]) != NULL) {
                if (k + 1 >= size) {
                    return -1;
                }
                buf[k++] = '\\';
            }
            if (k + 1 >= size) {
                return -1;
            }
            buf[k++] = prefix[i];
        }
        rc = snprintf(buf + k, size - k, "{%s}:health:*", pool);
        return (rc < 0 || (size_t) rc >= size - k) ? -1 : (int) k + rc;

    default:
        return -1;
    }

    rc = snprintf(buf, size, "%s{%s}:%s", prefix, pool, suffix);

    return (rc < 0 || (size_t) rc >= size) ? -1 : rc;
}


int
scaleset_key_gateway(const char *key, size_t len, const char *prefix,
    const char *pool, scaleset_slice_t *gateway)
{
    char    head[SCALESET_KEY_MAX];
    int     n;

    if (prefix == NULL) {
        prefix = SCALESET_DEFAULT_PREFIX;
    }

    if (!scaleset_prefix_valid(prefix, strlen(prefix)) || pool == NULL
        || !scaleset_name_valid(pool, strlen(pool)))
    {
        return 0;
    }

    n = snprintf(head, sizeof(head), "%s{%s}:health:", prefix, pool);
    if (n < 0 || (size_t) n >= sizeof(head) || len <= (size_t) n
        || memcmp(key, head, (size_t) n) != 0
        || !scaleset_name_valid(key + n, len - (size_t) n))
    {
        return 0;
    }

    gateway->data = key + n;
    gateway->len = len - (size_t) n;

    return 1;
}
