/*
 * xmalloc.c: allocations that do not fail (xmalloc.h says why).  The
 * message goes through slog() at error level, which formats into its own
 * stack buffers and writes to stderr unbuffered: nothing here allocates
 * on the way to abort().
 */

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scaler.h"
#include "xmalloc.h"

_Noreturn void
xmalloc_oom(size_t size, const char *file, int line)
{
    slog_err(NULL, NULL, "out of memory: %zu bytes at %s:%d", size, file, line);
    abort();
}

void *
xmalloc_at(size_t size, const char *file, int line)
{
    void *p;

    if ((p = malloc(size ? size : 1)) == NULL) {
        xmalloc_oom(size, file, line);
    }
    return p;
}

void *
xcalloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p;

    if (size != 0 && n > SIZE_MAX / size) {
        xmalloc_oom(SIZE_MAX, file, line);
    }
    if (n == 0 || size == 0) {
        n = size = 1;
    }
    if ((p = calloc(n, size)) == NULL) {
        xmalloc_oom(n * size, file, line);
    }
    return p;
}

void *
xrealloc_at(void *p, size_t size, const char *file, int line)
{
    void *np;

    if ((np = realloc(p, size ? size : 1)) == NULL) {
        xmalloc_oom(size, file, line);
    }
    return np;
}

char *
xstrdup_at(const char *s, const char *file, int line)
{
    size_t len = strlen(s) + 1;

    return memcpy(xmalloc_at(len, file, line), s, len);
}

char *
xstrndup_at(const char *s, size_t n, const char *file, int line)
{
    size_t len = strnlen(s, n);
    char  *p = xmalloc_at(len + 1, file, line);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
xasprintf_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    char   *p;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        /* EOVERFLOW: more than INT_MAX bytes */
        xmalloc_oom((size_t) INT_MAX + 1, file, line);
    }
    p = xmalloc_at((size_t) n + 1, file, line);
    va_start(ap, fmt);
    vsnprintf(p, (size_t) n + 1, fmt, ap);
    va_end(ap);
    return p;
}
