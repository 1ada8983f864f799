/*
 * The Prometheus query response decoder (scaler/autoscale/prom.c,
 * prom_parse_response).  The first input byte picks the HTTP status
 * (200 three times in four, else 400 or 503), the second the reduce;
 * the rest is the body.
 * Properties: the status is one of prom_status_t with a terminated
 * detail; PROM_OK exactly when the value is finite, and only for HTTP 200
 * with at least one series (one without a reduce); a failure's value is
 * NaN; decoding the same body twice gives the same answer.
 */

#include <math.h>

#include "fuzz.h"
#include "prom.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long           code;
    prom_reduce_t  reduce;
    prom_status_t  st;
    prom_result_t  res, again;

    static const long  codes[] = { 200, 200, 200, 400, 200, 200, 200, 503 };

    if (size < 2) {
        return 0;
    }

    code = codes[data[0] % 8];
    reduce = (prom_reduce_t) (data[1] % 5);

    st = prom_parse_response(code, (const char *) data + 2, size - 2, reduce,
                             &res);

    FUZZ_CHECK(st == res.status, "returned %d, stored %d", (int) st,
               (int) res.status);
    FUZZ_CHECK((unsigned) st < PROM_STATUS_COUNT, "status %d", (int) st);
    FUZZ_CHECK(fuzz_terminated(res.detail, sizeof(res.detail)), "detail");
    FUZZ_CHECK(res.http_code == code, "http_code %ld", res.http_code);

    if (st == PROM_OK) {
        FUZZ_CHECK(isfinite(res.value), "ok with %g", res.value);
        FUZZ_CHECK(code == 200, "ok with HTTP %ld", code);
        FUZZ_CHECK(res.nseries >= 1, "ok with %zu series", res.nseries);
        FUZZ_CHECK(reduce != PROM_REDUCE_NONE || res.nseries == 1,
                   "ok with %zu series and no reduce", res.nseries);
    } else {
        FUZZ_CHECK(isnan(res.value), "%s with value %g",
                   prom_status_name(st), res.value);
        FUZZ_CHECK(st != PROM_ERR_UNREACHABLE && st != PROM_ERR_TIMEOUT,
                   "a body decodes as %s", prom_status_name(st));
    }

    prom_parse_response(code, (const char *) data + 2, size - 2, reduce,
                        &again);
    FUZZ_CHECK(again.status == res.status && again.nseries == res.nseries
               && (st != PROM_OK || again.value == res.value)
               && strcmp(again.detail, res.detail) == 0,
               "a second decoding differs");

    return 0;
}
