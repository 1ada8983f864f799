/*
 * upgrade.c: the upgrade record, PREFIX{POOL}:upgrade (docs/upgrades.md),
 * as a value: decoded from the hash a pass reads (every field checked
 * like any input read from Redis) and encoded into the field/value pairs
 * a write replaces it with.  The record is written whole, by the passes
 * (registry_upgrade.c) and the API, each write compare-and-set on its
 * generation `gen`.  Nothing here does I/O.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scaler.h"

#define UPGRADE_COUNT_MAX 1000000000ULL /* batch, batches, counts */
#define UPGRADE_GEN_MAX   (1ULL << 53)

static int model_ok(const char *s, size_t len);

static const char *const state_names[] = { "idle",         "idle",
                                           "rolling",      "paused",
                                           "rolling_back", "failed",
                                           "cancelled",    "done" };
static const char *const rollback_names[] = { "", "breach", "api" };

const char *
upgrade_state_name(upgrade_state_t st)
{
    return (unsigned) st < UPGRADE_STATE_COUNT ? state_names[st] : "?";
}

int
upgrade_running(upgrade_state_t st)
{
    return st == UPGRADE_RUNNING || st == UPGRADE_PAUSED
           || st == UPGRADE_ROLLING_BACK;
}

void
upgrade_model(const virt_model_t *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%s", m->version, m->digest);
}

void
upgrade_pool_model(const virt_model_t latest[][SCALER_MAX_HOSTS],
                   int ntemplates, char *buf, size_t size)
{
    char d[MODEL_DIGEST_LEN + 1];

    if (ntemplates <= 1) {
        upgrade_model(&latest[0][0], buf, size);
        return;
    }
    model_templates_digest(latest, ntemplates, d);
    snprintf(buf, size, "%s:%s", latest[0][0].version, d);
}

int
upgrade_from(const upgrade_t *u, const char *name, char *buf, size_t size)
{
    const char *p = u->from_templates, *eq, *end;
    size_t      n = strlen(name);

    if (u->from_templates[0] == '\0') {
        /* a pool of one template: from is its */
        snprintf(buf, size, "%s", u->from);
        return name[0] == '\0' && u->from[0] != '\0';
    }
    while (*p) {
        end = p + strcspn(p, " ");
        eq = memchr(p, '=', (size_t) (end - p));
        if (eq != NULL
            && ((n == 0 && eq - p == 1 && *p == '-')
                || ((size_t) (eq - p) == n && memcmp(p, name, n) == 0)))
        {
            snprintf(buf, size, "%.*s", (int) (end - eq - 1), eq + 1);
            return 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* "NAME=VERSION:DIGEST ..." (NAME "-": the unnamed template) */
static int
from_templates_ok(const char *s, size_t len)
{
    size_t i = 0, j, e;
    int    n = 0;

    while (i < len) {
        for (j = i; j < len && s[j] != ' '; j++) {
            /* the word */
        }
        for (e = i; e < j && s[e] != '='; e++) {
            /* its name */
        }
        if (e == j || e == i || ++n > SCALER_MAX_TEMPLATES
            || !((e - i == 1 && s[i] == '-')
                 || scaleset_name_valid(s + i, e - i))
            || !model_ok(s + e + 1, j - e - 1) || j - e - 1 == 0)
        {
            return 0;
        }
        i = j + 1;
    }
    return 1;
}

static int
eq(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

static int
hex64(const char *s, size_t len)
{
    size_t i;

    if (len != MODEL_DIGEST_LEN) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* "" or "VERSION:DIGEST" (the digest "" for a tag that predates it) */
static int
model_ok(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    size_t      v;

    if (len == 0) {
        return 1;
    }
    if (colon == NULL) {
        return 0;
    }
    v = (size_t) (colon - s);
    return scaleset_name_valid(s, v)
           && (len - v - 1 == 0 || hex64(colon + 1, len - v - 1));
}

static int
text_ok(const char *s, size_t len, size_t max)
{
    size_t i;

    if (len > max) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

static int
id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* space-separated ids into u->ids, sorted, without duplicates */
static int
ids_parse(const char *s, size_t len, upgrade_t *u)
{
    size_t i = 0, j, n = 0, k;

    for (j = 0; j < len; j++) {
        n += (j == 0 || s[j - 1] == ' ') && s[j] != ' ';
    }
    if (n > SCALER_CAPACITY_MAX) {
        return -1;
    }
    free(u->ids);
    u->ids = NULL;
    u->nids = 0;
    if (n == 0) {
        return 0;
    }
    u->ids = xcalloc(n, sizeof(*u->ids));
    while (i < len) {
        while (i < len && s[i] == ' ') {
            i++;
        }
        for (j = i; j < len && s[j] != ' '; j++) {
            /* the word */
        }
        if (j > i) {
            if (!scaleset_id_valid(s + i, j - i)) {
                return -1;
            }
            memcpy(u->ids[u->nids], s + i, j - i);
            u->ids[u->nids++][j - i] = '\0';
        }
        i = j;
    }
    qsort(u->ids, u->nids, sizeof(*u->ids), id_cmp);
    for (i = 0, k = 0; i < (size_t) u->nids; i++) {
        if (k == 0 || strcmp(u->ids[k - 1], u->ids[i]) != 0) {
            memmove(u->ids[k++], u->ids[i], sizeof(*u->ids));
        }
    }
    u->nids = (int) k;
    return 0;
}

static int
num(const char *s, size_t len, uint64_t max, uint64_t *v)
{
    return scaleset_parse_u64(s, len, max, v);
}

int
upgrade_decode(const char *const *field, const size_t *flen,
               const char *const *value, const size_t *vlen, int n,
               upgrade_t *u, char *why, size_t whylen)
{
    uint64_t    v;
    const char *f, *s;
    size_t      fl, l;
    int         i, k, have_state = 0;
    long       *counts[] = { &u->batch, &u->batches, &u->upgraded, &u->failed };
    static const char *const count_names[] = { "batch", "batches", "upgraded",
                                               "failed" };
    uint64_t *times[] = { &u->started, &u->batch_started, &u->batch_done,
                          &u->updated };
    static const char *const time_names[] = { "started", "batch_started",
                                              "batch_done", "updated" };

    memset(u, 0, sizeof(*u));
    if (n == 0) {
        return 0; /* no record */
    }
    for (i = 0; i < n; i++) {
        f = field[i];
        fl = flen[i];
        s = value[i];
        l = vlen[i];
        if (eq(f, fl, "state")) {
            for (k = UPGRADE_IDLE; k < UPGRADE_STATE_COUNT; k++) {
                if (eq(s, l, state_names[k])) {
                    break;
                }
            }
            if (k == UPGRADE_STATE_COUNT) {
                snprintf(why, whylen, "state \"%.*s\" is no state",
                         (int) (l > 32 ? 32 : l), s);
                goto refused;
            }
            u->state = (upgrade_state_t) k;
            have_state = 1;
            continue;
        }
        if (eq(f, fl, "mode")) {
            if (!eq(s, l, "rolling") && !eq(s, l, "automatic")) {
                snprintf(why, whylen,
                         "mode is neither rolling nor "
                         "automatic");
                goto refused;
            }
            u->automatic = eq(s, l, "automatic");
            continue;
        }
        if (eq(f, fl, "from") || eq(f, fl, "to")) {
            if (!model_ok(s, l) || l > UPGRADE_MODEL_MAX) {
                snprintf(why, whylen, "%.*s is no VERSION:DIGEST", (int) fl, f);
                goto refused;
            }
            memcpy(eq(f, fl, "from") ? u->from : u->to, s, l);
            continue;
        }
        if (eq(f, fl, "from_templates")) {
            if (l > UPGRADE_FROM_MAX || !from_templates_ok(s, l)) {
                snprintf(why, whylen,
                         "from_templates is no list of "
                         "NAME=VERSION:DIGEST");
                goto refused;
            }
            memcpy(u->from_templates, s, l);
            continue;
        }
        if (eq(f, fl, "from_image") || eq(f, fl, "to_image")) {
            if (l != 0 && !hex64(s, l)) {
                snprintf(why, whylen, "%.*s is no digest", (int) fl, f);
                goto refused;
            }
            memcpy(eq(f, fl, "from_image") ? u->from_image : u->to_image, s, l);
            continue;
        }
        if (eq(f, fl, "zone")) {
            if (l != 0 && !scaleset_name_valid(s, l)) {
                snprintf(why, whylen, "zone is no name");
                goto refused;
            }
            memcpy(u->zone, s, l);
            continue;
        }
        if (eq(f, fl, "instances")) {
            if (ids_parse(s, l, u) != 0) {
                snprintf(why, whylen,
                         "instances: not a list of at most %d "
                         "ids",
                         SCALER_CAPACITY_MAX);
                goto refused;
            }
            continue;
        }
        if (eq(f, fl, "rollback")) {
            for (k = 0; k < 3; k++) {
                if (eq(s, l, rollback_names[k])) {
                    break;
                }
            }
            if (k == 3) {
                snprintf(why, whylen, "rollback is none of breach, api");
                goto refused;
            }
            u->rollback = (upgrade_rollback_t) k;
            continue;
        }
        if (eq(f, fl, "error")) {
            if (!text_ok(s, l, UPGRADE_ERROR_MAX)) {
                snprintf(why, whylen,
                         "error: longer than %d bytes or not "
                         "one line of text",
                         UPGRADE_ERROR_MAX);
                goto refused;
            }
            memcpy(u->error, s, l);
            continue;
        }
        if (eq(f, fl, "gen")) {
            if (num(s, l, UPGRADE_GEN_MAX, &u->gen) != 0) {
                snprintf(why, whylen, "gen is no number");
                goto refused;
            }
            continue;
        }
        for (k = 0; k < 4; k++) {
            if (eq(f, fl, count_names[k])) {
                if (num(s, l, UPGRADE_COUNT_MAX, &v) != 0) {
                    snprintf(why, whylen, "%s is no count", count_names[k]);
                    goto refused;
                }
                *counts[k] = (long) v;
                break;
            }
            if (eq(f, fl, time_names[k])) {
                if (num(s, l, SCALESET_UNIX_MS_MAX, times[k]) != 0) {
                    snprintf(why, whylen, "%s is no time", time_names[k]);
                    goto refused;
                }
                break;
            }
        }
        /* another field: a later version's, ignored */
    }
    if (!have_state) {
        snprintf(why, whylen, "no state");
        goto refused;
    }
    if (u->gen == 0) {
        snprintf(why, whylen, "no gen");
        goto refused;
    }
    return 0;

refused:
    upgrade_free(u);
    return -1;
}

size_t
upgrade_encode_size(const upgrade_t *u)
{
    return 2048 + UPGRADE_FROM_MAX + (size_t) u->nids * (SCALESET_ID_MAX + 1);
}

int
upgrade_encode(const upgrade_t *u, char *buf, size_t size, const char **argv,
               size_t *argvlen)
{
    char *p = buf, *end = buf + size;
    int   n = 0, i, w;

#define PAIR(name, ...)                                   \
    do {                                                  \
        w = snprintf(p, (size_t) (end - p), __VA_ARGS__); \
        if (w < 0 || w >= end - p) {                      \
            return -1;                                    \
        }                                                 \
        argv[2 * n] = name;                               \
        argvlen[2 * n] = strlen(name);                    \
        argv[2 * n + 1] = p;                              \
        argvlen[2 * n + 1] = (size_t) w;                  \
        p += w + 1;                                       \
        n++;                                              \
    } while (0)

    PAIR("state", "%s", upgrade_state_name(u->state));
    PAIR("mode", "%s", u->automatic ? "automatic" : "rolling");
    PAIR("from", "%s", u->from);
    PAIR("from_templates", "%s", u->from_templates);
    PAIR("to", "%s", u->to);
    PAIR("from_image", "%s", u->from_image);
    PAIR("to_image", "%s", u->to_image);
    PAIR("batch", "%ld", u->batch);
    PAIR("batches", "%ld", u->batches);
    PAIR("upgraded", "%ld", u->upgraded);
    PAIR("failed", "%ld", u->failed);
    PAIR("started", "%llu", (unsigned long long) u->started);
    PAIR("batch_started", "%llu", (unsigned long long) u->batch_started);
    PAIR("batch_done", "%llu", (unsigned long long) u->batch_done);
    PAIR("updated", "%llu", (unsigned long long) u->updated);
    PAIR("zone", "%s", u->zone);
    PAIR("rollback", "%s", rollback_names[u->rollback]);
    PAIR("error", "%s", u->error);
    /* the batch's instances, space-separated */
    argv[2 * n] = "instances";
    argvlen[2 * n] = strlen("instances");
    argv[2 * n + 1] = p;
    for (i = 0; i < u->nids; i++) {
        w = snprintf(p, (size_t) (end - p), "%s%s", i ? " " : "", u->ids[i]);
        if (w < 0 || w >= end - p) {
            return -1;
        }
        p += w;
    }
    if (p >= end) {
        return -1;
    }
    *p = '\0';
    argvlen[2 * n + 1] = (size_t) (p - argv[2 * n + 1]);
    n++;
#undef PAIR
    return n;
}

int
upgrade_copy(upgrade_t *dst, const upgrade_t *src)
{
    void *ids = NULL;

    if (dst == src) {
        return 0;
    }
    if (src->nids > 0) {
        ids = xmalloc(src->nids * sizeof(*src->ids));
        memcpy(ids, src->ids, src->nids * sizeof(*src->ids));
    }
    free(dst->ids);
    *dst = *src;
    dst->ids = ids;
    return 0;
}

void
upgrade_free(upgrade_t *u)
{
    free(u->ids);
    u->ids = NULL;
    u->nids = 0;
}

int
upgrade_has(const upgrade_t *u, const char *id)
{
    return u->nids > 0 && strlen(id) <= SCALESET_ID_MAX
           && bsearch(id, u->ids, u->nids, sizeof(*u->ids), id_cmp) != NULL;
}
