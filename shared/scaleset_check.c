/*
 * HTTP health check pieces shared by the gateway and the scaler.
 */

#include <string.h>
#include <strings.h>

#include "scaleset_check.h"


static const char *const  scaleset_check_names[SCALESET_CHECK_LAST] = {
    [SCALESET_CHECK_PASS]             = "pass",
    [SCALESET_CHECK_CONNECT_REFUSED]  = "connect_refused",
    [SCALESET_CHECK_CONNECT_ERROR]    = "connect_error",
    [SCALESET_CHECK_TIMEOUT_CONNECT]  = "timeout_connect",
    [SCALESET_CHECK_TIMEOUT_SEND]     = "timeout_send",
    [SCALESET_CHECK_TIMEOUT_READ]     = "timeout_read",
    [SCALESET_CHECK_RESET]            = "reset",
    [SCALESET_CHECK_CLOSED]           = "closed",
    [SCALESET_CHECK_BAD_STATUS_LINE]  = "bad_status_line",
    [SCALESET_CHECK_BAD_HEADER]       = "bad_header",
    [SCALESET_CHECK_STATUS]           = "status",
    [SCALESET_CHECK_BODY]             = "body",
    [SCALESET_CHECK_TOO_LARGE]        = "too_large",
    [SCALESET_CHECK_INTERNAL]         = "internal",
};


const char *
scaleset_check_result_name(scaleset_check_result_t r)
{
    if ((unsigned) r >= SCALESET_CHECK_LAST) {
        return "unknown";
    }

    return scaleset_check_names[r];
}


/* reads 100..599 from s[*i..]; advances *i; -1 when not a status code */
static int
scaleset_status_code(const char *s, size_t len, size_t *i)
{
    unsigned  v = 0, n = 0;

    while (*i < len && s[*i] >= '0' && s[*i] <= '9' && n < 4) {
        v = v * 10 + (unsigned) (s[*i] - '0');
        (*i)++;
        n++;
    }

    if (n != 3 || v < 100 || v > 599) {
        return -1;
    }

    return (int) v;
}


int
scaleset_status_ranges_parse(const char *s, size_t len,
    scaleset_status_ranges_t *r)
{
    int     lo, hi;
    size_t  i = 0;

    r->n = 0;

    if (len == 0) {
        return -1;
    }

    for ( ;; ) {
        if (r->n == SCALESET_STATUS_RANGES_MAX) {
            return -1;
        }

        lo = scaleset_status_code(s, len, &i);
        if (lo < 0) {
            return -1;
        }

        hi = lo;

        if (i < len && s[i] == '-') {
            i++;
            hi = scaleset_status_code(s, len, &i);
            if (hi < 0 || hi < lo) {
                return -1;
            }
        }

        r->lo[r->n] = (unsigned short) lo;
        r->hi[r->n] = (unsigned short) hi;
        r->n++;

        if (i == len) {
            return 0;
        }

        if (s[i] != ',') {
            return -1;
        }

        i++;
    }
}


int
scaleset_status_ranges_match(const scaleset_status_ranges_t *r,
    unsigned status)
{
    unsigned  k;

    for (k = 0; k < r->n; k++) {
        if (status >= r->lo[k] && status <= r->hi[k]) {
            return 1;
        }
    }

    return 0;
}


/* the end of the line starting at p, or NULL when it has not arrived */
static const char *
scaleset_line_end(const char *p, const char *last)
{
    const char  *lf;

    lf = memchr(p, '\n', (size_t) (last - p));

    return lf;
}


static int
scaleset_is_token(char c)
{
    if (c >= 'a' && c <= 'z') {
        return 1;
    }

    if (c >= 'A' && c <= 'Z') {
        return 1;
    }

    if (c >= '0' && c <= '9') {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


static scaleset_head_rc_t
scaleset_head_error(scaleset_head_t *h, scaleset_check_result_t why)
{
    h->error = why;
    return SCALESET_HEAD_ERROR;
}


/* "HTTP/1.x SSS[ reason]"; line excludes the line end */
static scaleset_head_rc_t
scaleset_status_line(const char *p, size_t len, scaleset_head_t *h)
{
    int     status;
    size_t  i;

    if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0
        || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
    {
        return scaleset_head_error(h, SCALESET_CHECK_BAD_STATUS_LINE);
    }

    i = 9;
    status = scaleset_status_code(p, len, &i);

    if (status < 0 || (i < len && p[i] != ' ')) {
        return scaleset_head_error(h, SCALESET_CHECK_BAD_STATUS_LINE);
    }

    h->http_minor = (unsigned) (p[7] - '0');
    h->status = (unsigned) status;

    return SCALESET_HEAD_AGAIN;
}


/* "Name: value"; sets content_length for Content-Length */
static scaleset_head_rc_t
scaleset_header_line(const char *p, size_t len, scaleset_head_t *h)
{
    size_t     i, n;
    long long  v;

    for (n = 0; n < len && scaleset_is_token(p[n]); n++) { /* void */ }

    if (n == 0 || n == len || p[n] != ':') {
        return scaleset_head_error(h, SCALESET_CHECK_BAD_HEADER);
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) p[i] < 0x20 && p[i] != '\t') {
            return scaleset_head_error(h, SCALESET_CHECK_BAD_HEADER);
        }
    }

    if (n != 14 || strncasecmp(p, "Content-Length", 14) != 0) {
        return SCALESET_HEAD_AGAIN;
    }

    i = n + 1;
    while (i < len && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }

    if (i == len) {
        return scaleset_head_error(h, SCALESET_CHECK_BAD_HEADER);
    }

    v = 0;
    for ( /* void */ ; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        if (v > (0x7fffffffffffffffLL - 9) / 10) {
            return scaleset_head_error(h, SCALESET_CHECK_BAD_HEADER);
        }
        v = v * 10 + (p[i] - '0');
    }

    while (i < len && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }

    if (i != len) {
        return scaleset_head_error(h, SCALESET_CHECK_BAD_HEADER);
    }

    h->content_length = v;

    return SCALESET_HEAD_AGAIN;
}


scaleset_head_rc_t
scaleset_head_parse(const char *buf, size_t len, scaleset_head_t *h)
{
    size_t              n;
    const char         *p, *lf, *last;
    scaleset_head_rc_t  rc;

    h->status = 0;
    h->http_minor = 0;
    h->head_len = 0;
    h->content_length = -1;
    h->error = SCALESET_CHECK_PASS;

    p = buf;
    last = buf + len;

    lf = scaleset_line_end(p, last);
    if (lf == NULL) {
        /* a status line never starts with anything but "HTTP/1." */
        n = len < 7 ? len : 7;
        if (memcmp(buf, "HTTP/1.", n) != 0) {
            return scaleset_head_error(h, SCALESET_CHECK_BAD_STATUS_LINE);
        }
        return SCALESET_HEAD_AGAIN;
    }

    n = (size_t) (lf - p);
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }

    rc = scaleset_status_line(p, n, h);
    if (rc != SCALESET_HEAD_AGAIN) {
        return rc;
    }

    for (p = lf + 1; p < last; p = lf + 1) {
        lf = scaleset_line_end(p, last);
        if (lf == NULL) {
            return SCALESET_HEAD_AGAIN;
        }

        n = (size_t) (lf - p);
        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }

        if (n == 0) {
            h->head_len = (size_t) (lf + 1 - buf);
            return SCALESET_HEAD_DONE;
        }

        rc = scaleset_header_line(p, n, h);
        if (rc != SCALESET_HEAD_AGAIN) {
            return rc;
        }
    }

    return SCALESET_HEAD_AGAIN;
}
