/*
 * The API's request bodies (api_capacity_body() in scaler/api/api.c): PUT
 * /v1/pools/NAME/capacity's {"capacity": N}, at most API_BODY_MAX bytes
 * as the API reads it.
 * Properties: no leak or bad access; a refusal has a reason the JSON
 * answer can carry; what is accepted is deterministic, and the
 * capacity written back as {"capacity": N} reads as the same N.
 */

#include <jansson.h>

#include "fuzz.h"
#include "scaler.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int         rc;
    char        err[256], buf[64];
    json_t     *j;
    long long   cap, again;

    if (size > API_BODY_MAX) {
        return 0;
    }

    memset(err, 0, sizeof(err));
    rc = api_capacity_body((const char *) data, size, &cap, err,
                           sizeof(err));

    if (rc != 0) {
        FUZZ_CHECK(rc == -1, "rc %d", rc);
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0',
                   "no reason");
        j = json_pack("{s:s}", "error", err);
        FUZZ_CHECK(j != NULL, "the reason \"%s\" cannot be sent as JSON",
                   err);
        json_decref(j);
        FUZZ_CHECK(api_capacity_body((const char *) data, size, &again, err,
                                     sizeof(err)) == -1,
                   "accepted the second time");
        return 0;
    }

    FUZZ_CHECK(api_capacity_body((const char *) data, size, &again, err,
                                 sizeof(err)) == 0 && again == cap,
               "a second decoding differs");

    snprintf(buf, sizeof(buf), "{\"capacity\": %lld}", cap);
    FUZZ_CHECK(api_capacity_body(buf, strlen(buf), &again, err, sizeof(err))
               == 0 && again == cap, "%s reads as %lld", buf, again);

    return 0;
}
