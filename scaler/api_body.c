/*
 * api_body.c: the API's request bodies, decoded apart from evhttp: pure
 * functions of the bytes received (t/unit/test_api_body.c,
 * fuzz/fuzz_api_body.c).
 */

#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "scaler.h"


static void api_body_printable(char *s);


/* jansson's reason quotes the token it stopped in, which may be cut inside
   a UTF-8 sequence: only printable ASCII, so that the JSON answer that
   carries it can be built */
static void
api_body_printable(char *s)
{
    for ( /* void */ ; *s != '\0'; s++) {
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f) {
            *s = '?';
        }
    }
}


int
api_capacity_body(const char *body, size_t len, long long *capacity,
    char *err, size_t errlen)
{
    json_t        *j, *cap;
    json_error_t   jerr;

    j = json_loadb(body, len, 0, &jerr);
    if (j == NULL) {
        snprintf(err, errlen, "bad JSON: %s", jerr.text);
        api_body_printable(err);
        return -1;
    }

    cap = json_object_get(j, "capacity");
    if (!json_is_integer(cap)) {
        json_decref(j);
        snprintf(err, errlen, "\"capacity\" must be an integer");
        return -1;
    }

    *capacity = (long long) json_integer_value(cap);
    json_decref(j);

    return 0;
}
