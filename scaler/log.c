/*
 * log.c: one line per event on stderr, with pool and instance id.
 */

#include <stdarg.h>
#include <stdio.h>

#include "scaler.h"

void
slog(const char *pool, const char *id, const char *fmt, ...)
{
    va_list  ap;
    char     msg[512];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "scaler:%s%s%s%s %s\n", pool ? " pool=" : "",
            pool ? pool : "", id ? " id=" : "", id ? id : "", msg);
}
