/*
 * scaleset shared code: the pieces of an HTTP health check that both the
 * gateway (active checks) and the scaler (readiness before registration)
 * need: the result vocabulary, status-range matching and the parsing of a
 * response head as it arrives.
 *
 * Pure C: no I/O, no allocation.
 */

#ifndef SCALESET_CHECK_H
#define SCALESET_CHECK_H

#include <stddef.h>


/* why a check passed or failed; names are health record reason words */
typedef enum {
    SCALESET_CHECK_PASS = 0,
    SCALESET_CHECK_CONNECT_REFUSED,
    SCALESET_CHECK_CONNECT_ERROR,
    SCALESET_CHECK_TIMEOUT_CONNECT,
    SCALESET_CHECK_TIMEOUT_SEND,
    SCALESET_CHECK_TIMEOUT_READ,
    SCALESET_CHECK_RESET,            /* connection reset by the peer */
    SCALESET_CHECK_CLOSED,           /* closed before a complete answer */
    SCALESET_CHECK_BAD_STATUS_LINE,
    SCALESET_CHECK_BAD_HEADER,
    SCALESET_CHECK_STATUS,           /* status outside the accepted ranges */
    SCALESET_CHECK_BODY,             /* body does not match the pattern */
    SCALESET_CHECK_TOO_LARGE,        /* answer exceeds the read limit */
    SCALESET_CHECK_INTERNAL,         /* no memory, no socket, ... */
    SCALESET_CHECK_LAST
} scaleset_check_result_t;

/* "pass", "connect_refused", "timeout_read", "status", ... */
const char *scaleset_check_result_name(scaleset_check_result_t r);


#define SCALESET_STATUS_RANGES_MAX  8

typedef struct {
    unsigned short  lo[SCALESET_STATUS_RANGES_MAX];
    unsigned short  hi[SCALESET_STATUS_RANGES_MAX];
    unsigned        n;
} scaleset_status_ranges_t;

/*
 * Parses "200-399", "200", "200,204,300-399": up to
 * SCALESET_STATUS_RANGES_MAX comma-separated codes or inclusive ranges of
 * codes 100..599.  Returns 0, or -1 on an empty list, a code out of range,
 * a reversed range, too many ranges or any other byte.
 */
int scaleset_status_ranges_parse(const char *s, size_t len,
    scaleset_status_ranges_t *r);

/* 1 when status is inside one of the ranges */
int scaleset_status_ranges_match(const scaleset_status_ranges_t *r,
    unsigned status);


/*
 * Incremental parser of an HTTP/1.x response head.  Feed it the bytes
 * received so far (always from the start of the response); it answers
 * SCALESET_HEAD_AGAIN until the head is complete.
 */
typedef enum {
    SCALESET_HEAD_AGAIN = 0,
    SCALESET_HEAD_DONE,
    SCALESET_HEAD_ERROR
} scaleset_head_rc_t;

typedef struct {
    unsigned    status;          /* 100..599 */
    unsigned    http_minor;      /* HTTP/1.x */
    size_t      head_len;        /* bytes up to and including CRLFCRLF */
    long long   content_length;  /* -1 when absent */
    scaleset_check_result_t  error;  /* BAD_STATUS_LINE or BAD_HEADER */
} scaleset_head_t;

scaleset_head_rc_t scaleset_head_parse(const char *buf, size_t len,
    scaleset_head_t *h);

#endif /* SCALESET_CHECK_H */
