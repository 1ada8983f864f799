/*
 * config_yaml.c: the YAML layer of the configuration (config_yaml.h):
 * errors with their line, the key tables' reader and the generic
 * setters.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>
#include <sys/stat.h>

#include "scaler.h"
#include "scaleset_record.h"

#include "config_yaml.h"

static const char *type_name(yaml_node_type_t t);
static const char *key_text(yaml_node_t *k, char *buf, size_t size);

void
cf_error(cfctx_t *c, yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    int     len;

    if (c->failed) {
        return;
    }
    c->failed = 1;
    len = snprintf(c->err, c->errlen, "%s:%lu: ", c->file,
                   n ? (unsigned long) n->start_mark.line + 1 : 1UL);
    if (len < 0 || (size_t) len >= c->errlen) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(c->err + len, c->errlen - len, fmt, ap);
    va_end(ap);
}

yaml_node_t *
cf_node(cfctx_t *c, int i)
{
    return yaml_document_get_node(&c->doc, i);
}

static const char *
type_name(yaml_node_type_t t)
{
    return t == YAML_MAPPING_NODE    ? "mapping"
           : t == YAML_SEQUENCE_NODE ? "list"
                                     : "scalar";
}

int
cf_expect(cfctx_t *c, yaml_node_t *n, yaml_node_type_t t, const char *what)
{
    if (n->type != t) {
        cf_error(c, n, "%s: expected a %s", what, type_name(t));
        return -1;
    }
    return 0;
}

/* a scalar key for a message: at most 64 bytes, others than printable
   ASCII as '?' */
static const char *
key_text(yaml_node_t *k, char *buf, size_t size)
{
    size_t i, n = k->data.scalar.length;

    n = n < size - 1 ? n : size - 1;
    for (i = 0; i < n; i++) {
        buf[i] =
            k->data.scalar.value[i] >= 0x20 && k->data.scalar.value[i] < 0x7f
                ? (char) k->data.scalar.value[i]
                : '?';
    }
    buf[n] = '\0';
    return buf;
}

int
cf_map(cfctx_t *c, yaml_node_t *m, const cf_key_t *keys, void *conf,
       const char *what, uint64_t *seen)
{
    yaml_node_pair_t *pr;
    yaml_node_t      *k, *v;
    uint64_t          given = 0;
    char              kt[65];
    size_t            i;

    if (cf_expect(c, m, YAML_MAPPING_NODE, what[0] ? what : "configuration")
        != 0) {
        return -1;
    }
    for (pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++)
    {
        k = cf_node(c, pr->key);
        v = cf_node(c, pr->value);
        if (k == NULL || v == NULL) {
            cf_error(c, m, "%s: broken mapping", what);
            return -1;
        }
        /* a mapping or list as a key ("? []") has no text to match */
        if (k->type != YAML_SCALAR_NODE) {
            cf_error(c, k, "%s%skeys must be scalars, not a %s", what,
                     what[0] ? ": " : "", type_name(k->type));
            return -1;
        }
        for (i = 0; keys[i].name != NULL; i++) {
            if (strlen(keys[i].name) == k->data.scalar.length
                && memcmp(keys[i].name, k->data.scalar.value,
                          k->data.scalar.length)
                       == 0)
            {
                break;
            }
        }
        if (keys[i].name == NULL) {
            cf_error(c, k, "unknown key \"%s\"%s%s",
                     key_text(k, kt, sizeof(kt)), what[0] ? " in " : "", what);
            return -1;
        }
        if (given & (1ULL << i)) {
            cf_error(c, k, "%s%s\"%s\" given twice", what, what[0] ? ": " : "",
                     keys[i].name);
            return -1;
        }
        given |= 1ULL << i;
        if (v->type != keys[i].type) {
            cf_error(c, v, "%s: expected a %s", keys[i].name,
                     type_name(keys[i].type));
            return -1;
        }
        if (keys[i].set(c, v, conf, &keys[i]) != 0) {
            if (!c->failed) {
                cf_error(c, v, "bad %s", keys[i].name);
            }
            return -1;
        }
    }
    if (seen) {
        *seen = given;
    }
    return 0;
}

int
cf_given(const cf_key_t *keys, uint64_t seen, const char *name)
{
    size_t i;

    for (i = 0; keys[i].name != NULL; i++) {
        if (strcmp(keys[i].name, name) == 0) {
            return (seen >> i) & 1;
        }
    }
    return 0;
}

size_t
cf_items(yaml_node_t *seq)
{
    return (size_t) (seq->data.sequence.items.top
                     - seq->data.sequence.items.start);
}

char *
cf_scalar(cfctx_t *c, yaml_node_t *n)
{
    char *s;

    if (n->type != YAML_SCALAR_NODE) {
        cf_error(c, n, "expected a scalar value");
        return NULL;
    }
    /* a NUL inside ("\0" in a quoted scalar) would cut the value short
       without a word: refused */
    if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL) {
        cf_error(c, n, "a value with a NUL byte");
        return NULL;
    }
    s = xstrndup((char *) n->data.scalar.value, n->data.scalar.length);
    return s;
}

int
cf_enum(cfctx_t *c, yaml_node_t *v, const char *what, const char *const *names,
        int n)
{
    char  *s, list[256];
    size_t len = 0;
    int    i;

    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            free(s);
            return i;
        }
    }
    list[0] = '\0';
    for (i = 0; i < n && len < sizeof(list); i++) {
        len += snprintf(list + len, sizeof(list) - len, "%s%s",
                        i == 0       ? ""
                        : i == n - 1 ? " or "
                                     : ", ",
                        names[i]);
    }
    cf_error(c, v, "%s \"%s\": expected %s", what, s, list);
    free(s);
    return -1;
}

int
cf_int(cfctx_t *c, yaml_node_t *n, int lo, int hi, int *v)
{
    char *s, *end;
    long  l;

    if ((s = cf_scalar(c, n)) == NULL) {
        return -1;
    }
    errno = 0;
    l = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || l < lo || l > hi) {
        cf_error(c, n, "\"%s\" is not an integer in %d..%d", s, lo, hi);
        free(s);
        return -1;
    }
    free(s);
    *v = (int) l;
    return 0;
}

int
cf_duration(cfctx_t *c, yaml_node_t *n, uint64_t *ms)
{
    char *s;

    if ((s = cf_scalar(c, n)) == NULL) {
        return -1;
    }
    if (scaleset_duration_parse(s, strlen(s), 86400ULL * 1000, ms) != 0) {
        cf_error(c, n, "bad duration \"%s\"", s);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

int
cf_name(cfctx_t *c, yaml_node_t *v, char *buf, size_t max, const char *what)
{
    char *s;

    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (!scaleset_name_valid(s, strlen(s)) || strlen(s) > max) {
        cf_error(c, v, "bad %s name \"%s\": expected [A-Za-z0-9_.-]{1,%zu}",
                 what, s, max);
        free(s);
        return -1;
    }
    snprintf(buf, max + 1, "%s", s);
    free(s);
    return 0;
}

int
cf_set_str(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    char **dst = (char **) ((char *) conf + key->offset);

    free(*dst);
    *dst = cf_scalar(c, v);
    return *dst ? 0 : -1;
}

int
cf_set_int(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    return cf_int(c, v, (int) key->lo, (int) key->hi,
                  (int *) ((char *) conf + key->offset));
}

int
cf_set_duration(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    uint64_t *dst = (uint64_t *) ((char *) conf + key->offset);

    if (cf_duration(c, v, dst) != 0) {
        return -1;
    }
    if ((key->lo && *dst < (uint64_t) key->lo)
        || (key->hi && *dst > (uint64_t) key->hi))
    {
        cf_error(c, v, "%s: expected %llums..%llums", key->name,
                 (unsigned long long) key->lo,
                 (unsigned long long) (key->hi ? key->hi : 86400000));
        return -1;
    }
    return 0;
}

int
cf_set_bool(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    int  *b = (int *) ((char *) conf + key->offset);
    char *s;

    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
        *b = 1;
    } else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
        *b = 0;
    } else {
        cf_error(c, v, "\"%s\": expected true or false", s);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

int
cf_set_secret_file(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    char **dst = (char **) ((char *) conf + key->offset);
    char  *path;

    if ((path = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    free(*dst);
    if ((*dst = cf_read_file(path)) == NULL) {
        cf_error(c, v, "%s \"%s\": %s", key->name, path, strerror(errno));
        free(path);
        return -1;
    }
    (*dst)[strcspn(*dst, "\r\n")] = '\0';
    if ((*dst)[0] == '\0') {
        cf_error(c, v, "%s \"%s\" holds nothing on its first line", key->name,
                 path);
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

int
cf_set_map(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    return cf_map(c, v, key->sub, conf, key->name, NULL);
}

char *
cf_read_file(const char *path)
{
    int         fd, e;
    char       *buf;
    size_t      len, n;
    ssize_t     r = 0;
    struct stat st;

    /* O_NONBLOCK: a FIFO is not waited on */
    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        goto failed;
    }
    /* a directory's size (by fseek/ftell: LONG_MAX) is no length to
       allocate; a device or FIFO reads as its st_size, 0 */
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto failed;
    }
    if (st.st_size > CF_FILE_MAX) {
        errno = EFBIG;
        goto failed;
    }
    len = (size_t) st.st_size;
    buf = xmalloc(len + 1);
    for (n = 0; n < len; n += (size_t) r) {
        r = read(fd, buf + n, len - n);
        if (r == -1 && errno == EINTR) {
            r = 0;
            continue;
        }
        if (r <= 0) {
            break; /* shrunk meanwhile: what is there */
        }
    }
    if (n < len && r == -1) {
        free(buf);
        goto failed;
    }
    buf[n] = '\0';
    close(fd);
    return buf;

failed:
    e = errno;
    close(fd);
    errno = e;
    return NULL;
}
