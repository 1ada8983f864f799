/*
 * xmalloc.c: the scaler's one out-of-memory policy.  Every allocation in
 * scaler/ (the daemon and scalesetctl) goes through these: on failure they
 * log the size and the caller's file:line at error level and abort(), as
 * Redis's zmalloc_default_oom() and relayd's fatal() do, so that no caller
 * checks for NULL and no half-built state is kept.  shared/ is linked into
 * the nginx module too and keeps returning errors; the libraries' own
 * allocations (jansson, hiredis, libyaml, libxml2) are theirs.
 */

#ifndef SCALER_XMALLOC_H
#define SCALER_XMALLOC_H

#include <stddef.h>

#define xmalloc(size)     xmalloc_at(size, __FILE__, __LINE__)
#define xcalloc(n, size)  xcalloc_at(n, size, __FILE__, __LINE__)
#define xrealloc(p, size) xrealloc_at(p, size, __FILE__, __LINE__)
#define xstrdup(s)        xstrdup_at(s, __FILE__, __LINE__)
#define xstrndup(s, n)    xstrndup_at(s, n, __FILE__, __LINE__)
#define xasprintf(...)    xasprintf_at(__FILE__, __LINE__, __VA_ARGS__)

/* never NULL; a size of 0 allocates 1 byte */
void *xmalloc_at(size_t size, const char *file, int line);
/* zeroed; n * size overflowing size_t is out of memory too */
void *xcalloc_at(size_t n, size_t size, const char *file, int line);
/* p may be NULL; never NULL, never frees p (a size of 0 keeps 1 byte) */
void *xrealloc_at(void *p, size_t size, const char *file, int line);
char *xstrdup_at(const char *s, const char *file, int line);
char *xstrndup_at(const char *s, size_t n, const char *file, int line);
/* the formatted string, malloc'd */
char *xasprintf_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* logs "out of memory: SIZE bytes at FILE:LINE" and aborts */
_Noreturn void xmalloc_oom(size_t size, const char *file, int line);

#endif /* SCALER_XMALLOC_H */
