/*
 * fuzz.h: what the libFuzzer targets in fuzz/ share.  Each target is one
 * fuzz_NAME.c with LLVMFuzzerTestOneInput(); besides the sanitizers
 * (ASan, UBSan, LeakSanitizer), a target checks properties of what the
 * code under test answers and aborts through FUZZ_CHECK() when one does
 * not hold, so that libFuzzer keeps the input as a crash.
 */

#ifndef SCALESET_FUZZ_H
#define SCALESET_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scaleset_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__,        \
                    __LINE__, #cond);                                        \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* a NUL-terminated malloc'd copy of data[0..size) (the caller frees) */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
    char  *s;

    s = malloc(size + 1);
    if (s == NULL) {
        abort();
    }
    if (size) {
        memcpy(s, data, size);
    }
    s[size] = '\0';

    return s;
}

/* 1 when buf holds a NUL within size bytes (an error message is a string) */
static inline int
fuzz_terminated(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

/* a record codec's refusal: a code that names it and a message */
#define FUZZ_CHECK_REFUSAL(err)                                              \
    do {                                                                     \
        FUZZ_CHECK((err)->code > SCALESET_OK                                 \
                   && (err)->code < SCALESET_ERR_LAST,                       \
                   "code %d", (int) (err)->code);                            \
        FUZZ_CHECK(fuzz_terminated((err)->msg, sizeof((err)->msg))           \
                   && (err)->msg[0] != '\0', "message"); \
    } while (0)

#endif /* SCALESET_FUZZ_H */
