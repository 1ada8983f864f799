/*
 * The member record codec (shared/scaleset_record.c): whatever
 * scaleset_member_parse() accepts, scaleset_member_format() writes as a
 * record that parses again to the same member, and that canonical form is
 * a fixed point (formatting the re-parsed member writes the same bytes).
 * A rejected record has an error code and a terminated message.
 */

#include "fuzz.h"


static int
slice_inside(scaleset_slice_t s, const char *rec, size_t len)
{
    return s.len == 0
           || (s.data >= rec && s.data + s.len <= rec + len);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                n, n2;
    char               buf[SCALESET_RECORD_MAX + 1], buf2[sizeof(buf)];
    const char        *rec = (const char *) data;
    scaleset_error_t   err;
    scaleset_member_t  m, m2;

    if (scaleset_member_parse(rec, size, &m, &err) != 0) {
        FUZZ_CHECK_REFUSAL(&err);
        return 0;
    }

    FUZZ_CHECK(slice_inside(m.address, rec, size), "address slice");
    FUZZ_CHECK(slice_inside(m.zone, rec, size), "zone slice");
    FUZZ_CHECK(slice_inside(m.version, rec, size), "version slice");
    FUZZ_CHECK(scaleset_member_check(&m, &err) == 0, "check: %s", err.msg);

    n = scaleset_member_format(&m, buf, sizeof(buf), &err);
    FUZZ_CHECK(n > 0, "format: %s", err.msg);
    FUZZ_CHECK((size_t) n == strlen(buf), "length %d", n);
    FUZZ_CHECK(n <= SCALESET_RECORD_MAX, "canonical form is %d bytes", n);

    if (scaleset_member_parse(buf, (size_t) n, &m2, &err) != 0) {
        FUZZ_CHECK(0, "\"%s\" does not parse: %s", buf, err.msg);
    }

    FUZZ_CHECK(scaleset_member_equal(&m, &m2), "\"%s\" parses to another "
               "member", buf);

    n2 = scaleset_member_format(&m2, buf2, sizeof(buf2), &err);
    FUZZ_CHECK(n2 == n && memcmp(buf, buf2, (size_t) n) == 0,
               "canonical form \"%s\" formats as \"%s\"", buf, buf2);

    /* exactly n + 1 bytes fit; n do not */
    n2 = scaleset_member_format(&m, buf2, (size_t) n + 1, &err);
    FUZZ_CHECK(n2 == n, "format into %d bytes: %d", n + 1, n2);
    n2 = scaleset_member_format(&m, buf2, (size_t) n, &err);
    FUZZ_CHECK(n2 == -1 && err.code == SCALESET_ERR_NOSPACE,
               "format into %d bytes: %d", n, n2);

    return 0;
}
