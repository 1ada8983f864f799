/*
 * tz.h: IANA time zones from their TZif files (RFC 8536) in
 * /usr/share/zoneinfo, read by our own code instead of the C library's
 * local time: no TZ environment variable, no tzset(), no global state
 * but a cache behind a mutex, so any thread may convert at any time
 * (glibc's getenv()/setenv() are not thread-safe, and libvirt's threads
 * read the environment).
 *
 * A zone is its transitions (64-bit times of version 2+ files, or the
 * 32-bit ones of version 1) and, after the last one, the POSIX TZ rule
 * of the file's footer ("CET-1CEST,M3.5.0,M10.5.0/3"), so any year
 * converts, slim files and dates past 2037 included.
 */

#ifndef SCALER_TZ_H
#define SCALER_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct tz tz_t;

/*
 * The zone NAME ("Europe/Berlin"; "" and "UTC" are UTC) from
 * $TZDIR/NAME, TZDIR read once (default /usr/share/zoneinfo).  Read on
 * first use and kept; read again when the file changes (a tzdata
 * upgrade).  NULL when NAME is not a relative path of [A-Za-z0-9_+-./]
 * without "..", or its file is missing or not valid TZif.  The zone is
 * never freed while the process runs.
 */
const tz_t *tz_get(const char *name);

/* the UTC offset (seconds east of Greenwich) in force at instant t */
long tz_offset(const tz_t *z, int64_t t);

/*
 * The instant of local wall time w (the local date and time as seconds
 * since 1970-01-01 00:00 counted as if it were UTC): its first
 * occurrence when a backward change repeats it; a wall time a forward
 * change skips maps to the end of the gap (the change's instant).
 */
int64_t tz_from_local(const tz_t *z, int64_t w);

/* the civil calendar (proleptic Gregorian, Howard Hinnant's algorithms):
   the day number (days since 1970-01-01) of y-m-d, and back */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void    tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* a TZif image, parsed (tz_get()'s parser, for tests); NULL with err */
tz_t *tz_parse(const unsigned char *p, size_t len, char *err, size_t errlen);
void  tz_free(tz_t *z);

#endif /* SCALER_TZ_H */
