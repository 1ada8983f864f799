/*
 * log.c: one line per event on stderr,
 *
 *     scaler: [LEVEL: ][pool=POOL ][id=ID ]message
 *
 * with the pool and the instance id given as arguments (slog(), slogl()),
 * never found again in the text.  Levels are syslog's priorities: error,
 * warn, info (no word) and debug; lines below log.level are not written.
 * When stderr is the journal's stream (JOURNAL_STREAM names it, as
 * systemd.exec(5) describes), each line starts with its "<N>" priority as
 * sd-daemon(3)'s SD_ERR etc. do, so journald files it at that priority.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scaler.h"

_Static_assert(SLOG_ERR == LOG_ERR && SLOG_WARN == LOG_WARNING
                   && SLOG_INFO == LOG_INFO && SLOG_DEBUG == LOG_DEBUG,
               "slog levels are syslog priorities");

/* set on the loop (start, reload), read by every thread that logs */
static atomic_int slog_threshold = SLOG_INFO;
static atomic_int slog_journal;

static const struct {
    int         level;
    const char *name;
} slog_levels[] = {
    { SLOG_ERR, "error" },
    { SLOG_WARN, "warn" },
    { SLOG_INFO, "info" },
    { SLOG_DEBUG, "debug" },
};

#define SLOG_NLEVELS (sizeof(slog_levels) / sizeof(slog_levels[0]))

static void slogv(int level, const char *pool, const char *id, const char *fmt,
                  va_list ap) __attribute__((format(printf, 4, 0)));


int
slog_level_parse(const char *name)
{
    size_t i;

    for (i = 0; i < SLOG_NLEVELS; i++) {
        if (strcmp(name, slog_levels[i].name) == 0) {
            return slog_levels[i].level;
        }
    }
    return -1;
}

const char *
slog_level_name(int level)
{
    size_t i;

    for (i = 0; i < SLOG_NLEVELS; i++) {
        if (slog_levels[i].level == level) {
            return slog_levels[i].name;
        }
    }
    return "info";
}

void
slog_set_level(int level)
{
    atomic_store(&slog_threshold, level);
}

int
slog_enabled(int level)
{
    return level <= atomic_load(&slog_threshold);
}

int
slog_journal_match(const char *env, const struct stat *st)
{
    unsigned long long dev, ino;
    char              *end;

    if (env == NULL || st == NULL) {
        return 0;
    }
    /* "DEVICE:INODE", both decimal */
    if (!isdigit((unsigned char) env[0])) {
        return 0;
    }
    dev = strtoull(env, &end, 10);
    if (*end != ':' || !isdigit((unsigned char) end[1])) {
        return 0;
    }
    ino = strtoull(end + 1, &end, 10);
    if (*end != '\0') {
        return 0;
    }
    return (unsigned long long) st->st_dev == dev
           && (unsigned long long) st->st_ino == ino;
}

void
slog_init(void)
{
    struct stat st;

    atomic_store(&slog_journal,
                 fstat(STDERR_FILENO, &st) == 0
                     && slog_journal_match(getenv("JOURNAL_STREAM"), &st));
}

size_t
slog_format(char *buf, size_t size, int level, int journal, const char *pool,
            const char *id, const char *msg)
{
    const char *word;
    char        prio[8];
    size_t      len, i;
    int         n;

    if (size < 2) {
        return 0;
    }
    prio[0] = '\0';
    if (journal) {
        snprintf(prio, sizeof(prio), "<%d>", level);
    }
    /* info (and notice) lines carry no level word */
    word = level == SLOG_ERR || level == SLOG_WARN || level == SLOG_DEBUG
               ? slog_level_name(level)
               : NULL;
    n = snprintf(buf, size, "%sscaler:%s%s%s%s%s%s%s ", prio, word ? " " : "",
                 word ? word : "", word ? ":" : "", pool ? " pool=" : "",
                 pool ? pool : "", id ? " id=" : "", id ? id : "");
    len = n < 0 ? 0 : (size_t) n < size - 1 ? (size_t) n : size - 2;
    /* the message, on one line whatever it holds; the newline always */
    for (i = 0; msg[i] != '\0' && len < size - 2; i++) {
        buf[len++] = (msg[i] == '\n' || msg[i] == '\r') ? ' ' : msg[i];
    }
    buf[len++] = '\n';
    buf[len] = '\0';
    return len;
}

static void
slogv(int level, const char *pool, const char *id, const char *fmt, va_list ap)
{
    char msg[512], line[768];

    if (level < SLOG_ERR) {
        level = SLOG_ERR;
    } else if (level > SLOG_DEBUG) {
        level = SLOG_DEBUG;
    }
    if (!slog_enabled(level)) {
        return;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    slog_format(line, sizeof(line), level, atomic_load(&slog_journal), pool, id,
                msg);
    fputs(line, stderr);
}

void
slogl(int level, const char *pool, const char *id, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    slogv(level, pool, id, fmt, ap);
    va_end(ap);
}

void
slog(const char *pool, const char *id, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    slogv(SLOG_INFO, pool, id, fmt, ap);
    va_end(ap);
}
