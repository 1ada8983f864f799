/*
 * expo.c: the Prometheus text exposition writer (expo.h).
 */

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "expo.h"
#include "xmalloc.h"

static int  name_ok(const char *s, int colons);
static void add_escaped(expo_t *e, const char *s, int quotes);
static void add_value(expo_t *e, double v);

void
expo_begin(expo_t *e, struct evbuffer *out)
{
    memset(e, 0, sizeof(*e));
    e->out = out;
}

void
expo_fail(expo_t *e, const char *why)
{
    if (!e->failed) {
        e->failed = 1;
        e->why = why;
    }
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, without ':' for labels */
static int
name_ok(const char *s, int colons)
{
    const char *p;

    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9')) {
        return 0;
    }
    for (p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_'
              || (colons && *p == ':')))
        {
            return 0;
        }
    }
    return 1;
}

/* a label value (quotes: \" too) or HELP text */
static void
add_escaped(expo_t *e, const char *s, int quotes)
{
    const char *run = s;

    for (; *s; s++) {
        if (*s != '\\' && *s != '\n' && !(quotes && *s == '"')) {
            continue;
        }
        if (evbuffer_add(e->out, run, (size_t) (s - run)) != 0
            || evbuffer_add(e->out,
                            *s == '\n'  ? "\\n"
                            : *s == '"' ? "\\\""
                                        : "\\\\",
                            2)
                   != 0)
        {
            expo_fail(e, "out of memory");
            return;
        }
        run = s + 1;
    }
    if (evbuffer_add(e->out, run, (size_t) (s - run)) != 0) {
        expo_fail(e, "out of memory");
    }
}

static void
add_value(expo_t *e, double v)
{
    char buf[40];

    if (isnan(v)) {
        snprintf(buf, sizeof(buf), "NaN");
    } else if (isinf(v)) {
        snprintf(buf, sizeof(buf), v > 0 ? "+Inf" : "-Inf");
    } else {
        /* the shortest of 15 or 17 digits that reads back the same */
        snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v) {
            snprintf(buf, sizeof(buf), "%.17g", v);
        }
    }
    if (evbuffer_add_printf(e->out, " %s\n", buf) < 0) {
        expo_fail(e, "out of memory");
    }
}

void
expo_family(expo_t *e, const char *name, const char *type, const char *help)
{
    size_t i;

    if (e->failed) {
        return;
    }
    if (!name_ok(name, 1)) {
        expo_fail(e, "invalid metric name");
        return;
    }
    if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0
        && strcmp(type, "untyped") != 0)
    {
        expo_fail(e, "unknown metric type");
        return;
    }
    for (i = 0; i < e->nseen; i++) {
        if (strcmp(e->seen[i], name) == 0) {
            expo_fail(e, "a metric family begun twice");
            return;
        }
    }
    if (e->nseen == e->cseen) {
        e->cseen = e->cseen ? e->cseen * 2 : 16;
        e->seen = xrealloc(e->seen, e->cseen * sizeof(*e->seen));
    }
    e->seen[e->nseen++] = xstrdup(name);
    if (evbuffer_add_printf(e->out, "# HELP %s ", name) < 0) {
        expo_fail(e, "out of memory");
        return;
    }
    add_escaped(e, help ? help : "", 0);
    if (evbuffer_add_printf(e->out, "\n# TYPE %s %s\n", name, type) < 0) {
        expo_fail(e, "out of memory");
    }
}

void
expo_sample(expo_t *e, double value, ...)
{
    va_list     ap;
    const char *k, *v;
    int         first = 1;

    if (e->failed) {
        return;
    }
    if (e->nseen == 0) {
        expo_fail(e, "a sample before any metric family");
        return;
    }
    if (evbuffer_add_printf(e->out, "%s", e->seen[e->nseen - 1]) < 0) {
        expo_fail(e, "out of memory");
        return;
    }
    va_start(ap, value);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        if (!name_ok(k, 0) || strncmp(k, "__", 2) == 0) {
            expo_fail(e, "invalid label name");
            break;
        }
        if (evbuffer_add_printf(e->out, "%s%s=\"", first ? "{" : ",", k) < 0) {
            expo_fail(e, "out of memory");
            break;
        }
        add_escaped(e, v ? v : "", 1);
        if (evbuffer_add(e->out, "\"", 1) != 0) {
            expo_fail(e, "out of memory");
        }
        first = 0;
    }
    va_end(ap);
    if (e->failed) {
        return;
    }
    if (!first && evbuffer_add(e->out, "}", 1) != 0) {
        expo_fail(e, "out of memory");
        return;
    }
    add_value(e, value);
}

int
expo_end(expo_t *e)
{
    size_t i;

    for (i = 0; i < e->nseen; i++) {
        free(e->seen[i]);
    }
    free(e->seen);
    e->seen = NULL;
    e->nseen = e->cseen = 0;
    return e->failed ? -1 : 0;
}
