/*
 * The incremental HTTP response-head parser (shared/scaleset_check.c),
 * fed as a health check feeds it: always the bytes received so far.
 * Properties: a complete head ends in a line feed inside the input, with
 * a status 100..599; every shorter prefix of a complete head is AGAIN (the
 * parser never decides before the head is there), and the head alone,
 * without what follows it, gives the same answer; an error names a head
 * error; a prefix of an incomplete input is incomplete too.
 */

#include "fuzz.h"
#include "scaleset_check.h"


/* parses a copy of exactly len bytes, so that ASan sees any over-read */
static scaleset_head_rc_t
parse_copy(const uint8_t *data, size_t len, scaleset_head_t *h)
{
    char                *p;
    scaleset_head_rc_t   rc;

    p = malloc(len ? len : 1);
    if (p == NULL) {
        abort();
    }
    if (len) {
        memcpy(p, data, len);
    }
    rc = scaleset_head_parse(p, len, h);
    free(p);

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t              cut;
    scaleset_head_t     h, h2;
    scaleset_head_rc_t  rc, rc2;

    rc = scaleset_head_parse((const char *) data, size, &h);

    switch (rc) {

    case SCALESET_HEAD_DONE:
        FUZZ_CHECK(h.head_len > 0 && h.head_len <= size, "head_len %zu of "
                   "%zu", h.head_len, size);
        FUZZ_CHECK(data[h.head_len - 1] == '\n', "head ends in 0x%02x",
                   data[h.head_len - 1]);
        FUZZ_CHECK(h.status >= 100 && h.status <= 599, "status %u",
                   h.status);
        FUZZ_CHECK(h.http_minor <= 1, "HTTP/1.%u", h.http_minor);
        FUZZ_CHECK(h.content_length >= -1, "content_length %lld",
                   h.content_length);

        rc2 = parse_copy(data, h.head_len, &h2);
        FUZZ_CHECK(rc2 == SCALESET_HEAD_DONE && h2.head_len == h.head_len
                   && h2.status == h.status
                   && h2.content_length == h.content_length,
                   "the head alone gives %d", (int) rc2);

        rc2 = parse_copy(data, h.head_len - 1, &h2);
        FUZZ_CHECK(rc2 == SCALESET_HEAD_AGAIN, "the head less its last "
                   "byte gives %d", (int) rc2);

        /* and one prefix the input chooses */
        cut = h.head_len > 1 ? data[0] % h.head_len : 0;
        rc2 = parse_copy(data, cut, &h2);
        FUZZ_CHECK(rc2 == SCALESET_HEAD_AGAIN, "a %zu-byte prefix of a "
                   "%zu-byte head gives %d", cut, h.head_len, (int) rc2);
        break;

    case SCALESET_HEAD_ERROR:
        FUZZ_CHECK(h.error == SCALESET_CHECK_BAD_STATUS_LINE
                   || h.error == SCALESET_CHECK_BAD_HEADER,
                   "error %s", scaleset_check_result_name(h.error));
        break;

    case SCALESET_HEAD_AGAIN:
        FUZZ_CHECK(h.head_len == 0, "head_len %zu while incomplete",
                   h.head_len);
        cut = size ? data[size - 1] % size : 0;
        rc2 = parse_copy(data, cut, &h2);
        FUZZ_CHECK(rc2 == SCALESET_HEAD_AGAIN, "a %zu-byte prefix of an "
                   "incomplete head gives %d", cut, (int) rc2);
        break;

    default:
        FUZZ_CHECK(0, "rc %d", (int) rc);
    }

    return 0;
}
