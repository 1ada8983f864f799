/*
 * The health record codec (shared/scaleset_record.c): whatever
 * scaleset_health_parse() accepts, scaleset_health_format() writes, and
 * that parses again to the same state, counters and reason; the written
 * record is a fixed point.  A rejected record has an error code and a
 * terminated message.
 */

#include "fuzz.h"


static int
health_equal(const scaleset_health_t *a, const scaleset_health_t *b)
{
    return a->state == b->state && a->conns == b->conns
           && a->fails == b->fails && a->checked == b->checked
           && a->reason.len == b->reason.len
           && (a->reason.len == 0
               || memcmp(a->reason.data, b->reason.data, a->reason.len) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                n, n2;
    char               buf[SCALESET_RECORD_MAX + 1], buf2[sizeof(buf)];
    const char        *rec = (const char *) data;
    scaleset_error_t   err;
    scaleset_health_t  h, h2;

    if (scaleset_health_parse(rec, size, &h, &err) != 0) {
        FUZZ_CHECK_REFUSAL(&err);
        return 0;
    }

    FUZZ_CHECK(h.state <= SCALESET_HEALTH_DOWN, "state %d", (int) h.state);
    FUZZ_CHECK(h.reason.len == 0
               || (h.reason.data >= rec
                   && h.reason.data + h.reason.len <= rec + size),
               "reason slice");

    n = scaleset_health_format(&h, buf, sizeof(buf), &err);
    FUZZ_CHECK(n > 0, "format: %s", err.msg);
    FUZZ_CHECK((size_t) n == strlen(buf), "length %d", n);

    if (scaleset_health_parse(buf, (size_t) n, &h2, &err) != 0) {
        FUZZ_CHECK(0, "\"%s\" does not parse: %s", buf, err.msg);
    }

    FUZZ_CHECK(health_equal(&h, &h2), "\"%s\" parses to another record",
               buf);

    n2 = scaleset_health_format(&h2, buf2, sizeof(buf2), &err);
    FUZZ_CHECK(n2 == n && memcmp(buf, buf2, (size_t) n) == 0,
               "\"%s\" formats as \"%s\"", buf, buf2);

    n2 = scaleset_health_format(&h, buf2, (size_t) n, &err);
    FUZZ_CHECK(n2 == -1 && err.code == SCALESET_ERR_NOSPACE,
               "format into %d bytes: %d", n, n2);

    return 0;
}
