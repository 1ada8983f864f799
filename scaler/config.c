/*
 * config.c: YAML configuration, loaded into a new scaler_config_t and
 * validated completely; every error is "file:line: reason".
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "scaler.h"
#include "scaleset_record.h"

typedef struct {
    const char     *file;
    yaml_document_t doc;
    char           *err;
    size_t          errlen;
    int             failed;
} cfctx_t;

static void cf_error(cfctx_t *c, yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static yaml_node_t *node(cfctx_t *c, int i);
static int expect(cfctx_t *c, yaml_node_t *n, yaml_node_type_t t,
    const char *what);
static char *scalar(cfctx_t *c, yaml_node_t *n);
static int get_int(cfctx_t *c, yaml_node_t *n, int lo, int hi, int *v);
static int get_duration(cfctx_t *c, yaml_node_t *n, uint64_t *ms);
static int parse_hostport(cfctx_t *c, yaml_node_t *n, char **host, int *port);
static int parse_pool(cfctx_t *c, scaler_config_t *cf, yaml_node_t *n,
    pool_config_t *p);
static char *read_file(const char *path);

static void
cf_error(cfctx_t *c, yaml_node_t *n, const char *fmt, ...)
{
    va_list  ap;
    int      len;

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

static yaml_node_t *
node(cfctx_t *c, int i)
{
    return yaml_document_get_node(&c->doc, i);
}

static int
expect(cfctx_t *c, yaml_node_t *n, yaml_node_type_t t, const char *what)
{
    if (n->type != t) {
        cf_error(c, n, "%s: expected a %s", what,
                 t == YAML_MAPPING_NODE ? "mapping"
                 : t == YAML_SEQUENCE_NODE ? "list" : "scalar");
        return -1;
    }
    return 0;
}

static char *
scalar(cfctx_t *c, yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE) {
        cf_error(c, n, "expected a scalar value");
        return NULL;
    }
    return strndup((char *) n->data.scalar.value, n->data.scalar.length);
}

static int
get_int(cfctx_t *c, yaml_node_t *n, int lo, int hi, int *v)
{
    char  *s, *end;
    long   l;

    if ((s = scalar(c, n)) == NULL) {
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

static int
get_duration(cfctx_t *c, yaml_node_t *n, uint64_t *ms)
{
    char  *s;

    if ((s = scalar(c, n)) == NULL) {
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

static int
parse_hostport(cfctx_t *c, yaml_node_t *n, char **host, int *port)
{
    char          *s, *colon, *end;
    long           l;
    struct in_addr a;

    if ((s = scalar(c, n)) == NULL) {
        return -1;
    }
    colon = strrchr(s, ':');
    if (colon == NULL) {
        cf_error(c, n, "\"%s\": expected ADDRESS:PORT", s);
        free(s);
        return -1;
    }
    *colon = '\0';
    l = strtol(colon + 1, &end, 10);
    if (*end != '\0' || l < 1 || l > 65535 || inet_pton(AF_INET, s, &a) != 1)
    {
        *colon = ':';
        cf_error(c, n, "\"%s\": expected IPv4-ADDRESS:PORT", s);
        free(s);
        return -1;
    }
    *host = s;
    *port = (int) l;
    return 0;
}

static char *
read_file(const char *path)
{
    FILE   *f;
    char   *buf;
    long    len;

    if ((f = fopen(path, "r")) == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0 || (buf = malloc(len + 1)) == NULL)
    {
        fclose(f);
        return NULL;
    }
    if (fread(buf, 1, len, f) != (size_t) len) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

#define FOR_PAIRS(c, map, k, v)                                              \
    for (yaml_node_pair_t *pr_ = (map)->data.mapping.pairs.start;            \
         pr_ < (map)->data.mapping.pairs.top                                 \
         && ((k) = node(c, pr_->key), (v) = node(c, pr_->value), 1);         \
         pr_++)

#define KEY(k, name)                                                         \
    ((k)->type == YAML_SCALAR_NODE                                           \
     && strcmp((char *) (k)->data.scalar.value, name) == 0)

static int
parse_address(cfctx_t *c, yaml_node_t *m, pool_config_t *p)
{
    yaml_node_t  *k, *v;
    char         *s, *slash, *dash;
    int           have_cidr = 0, have_port = 0;
    struct in_addr a;
    long          len;

    if (expect(c, m, YAML_MAPPING_NODE, "address") != 0) {
        return -1;
    }
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "mode")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            if (strcmp(s, "static") == 0) {
                p->addr_mode = ADDR_STATIC;
            } else if (strcmp(s, "lease") == 0) {
                p->addr_mode = ADDR_LEASE;
            } else if (strcmp(s, "agent") == 0) {
                p->addr_mode = ADDR_AGENT;
            } else {
                cf_error(c, v, "address mode \"%s\": expected static, lease "
                         "or agent", s);
                free(s);
                return -1;
            }
            free(s);
        } else if (KEY(k, "cidr")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            slash = strchr(s, '/');
            len = slash ? strtol(slash + 1, &dash, 10) : -1;
            if (slash) {
                *slash = '\0';
            }
            if (slash == NULL || *dash != '\0' || len < 8 || len > 32
                || inet_pton(AF_INET, s, &a) != 1)
            {
                if (slash) {
                    *slash = '/';
                }
                cf_error(c, v, "bad CIDR \"%s\"", s);
                free(s);
                return -1;
            }
            free(s);
            p->prefix_len = (int) len;
            p->net = ntohl(a.s_addr)
                     & (len == 32 ? 0xffffffffU : ~(0xffffffffU >> len));
            if (len == 32) {
                p->net = ntohl(a.s_addr);
            }
            have_cidr = 1;
        } else if (KEY(k, "port")) {
            if (get_int(c, v, 1, 65535, &p->port) != 0) {
                return -1;
            }
            have_port = 1;
        } else if (KEY(k, "ports")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            if (sscanf(s, "%d-%d", &p->port_lo, &p->port_hi) != 2
                || p->port_lo < 1 || p->port_hi > 65535
                || p->port_lo > p->port_hi)
            {
                cf_error(c, v, "bad port range \"%s\"", s);
                free(s);
                return -1;
            }
            free(s);
            have_port = 1;
        } else {
            cf_error(c, k, "unknown key \"%s\" in address", k->data.scalar.value);
            return -1;
        }
    }
    if (p->addr_mode != ADDR_STATIC) {
        /* the guest's own address, learnt from libvirt once it has one */
        if (have_cidr || p->port_lo) {
            cf_error(c, m, "address mode %s takes only port (cidr and "
                     "ports are for mode static)",
                     p->addr_mode == ADDR_LEASE ? "lease" : "agent");
            return -1;
        }
        if (!have_port) {
            cf_error(c, m, "address mode %s needs port",
                     p->addr_mode == ADDR_LEASE ? "lease" : "agent");
            return -1;
        }
        return 0;
    }
    if (!have_cidr || !have_port) {
        cf_error(c, m, "address needs cidr and port (or ports)");
        return -1;
    }
    return 0;
}

/* template.volume: { pool: STORAGE_POOL, backing: BASE_VOLUME,
   format: qcow2|raw } ("base" is accepted for "backing") */
static int
parse_volume(cfctx_t *c, yaml_node_t *m, pool_config_t *p)
{
    yaml_node_t  *k, *v;
    char        **dst;

    if (expect(c, m, YAML_MAPPING_NODE, "volume") != 0) {
        return -1;
    }
    FOR_PAIRS(c, m, k, v) {
        dst = KEY(k, "pool") ? &p->vol_pool
              : KEY(k, "backing") || KEY(k, "base") ? &p->vol_backing
              : KEY(k, "format") ? &p->vol_format : NULL;
        if (dst == NULL) {
            cf_error(c, k, "unknown key \"%s\" in volume",
                     (char *) k->data.scalar.value);
            return -1;
        }
        if (*dst != NULL) {
            cf_error(c, k, "volume: \"%s\" given twice",
                     (char *) k->data.scalar.value);
            return -1;
        }
        if ((*dst = scalar(c, v)) == NULL) {
            return -1;
        }
        if (**dst == '\0' || strpbrk(*dst, "/") != NULL) {
            cf_error(c, v, "volume: bad %s \"%s\"",
                     (char *) k->data.scalar.value, *dst);
            return -1;
        }
    }
    if (p->vol_pool == NULL || p->vol_backing == NULL) {
        cf_error(c, m, "volume needs pool and backing (the base volume)");
        return -1;
    }
    if (p->vol_format == NULL) {
        p->vol_format = strdup("qcow2");
    } else if (strcmp(p->vol_format, "qcow2") != 0
               && strcmp(p->vol_format, "raw") != 0)
    {
        cf_error(c, m, "volume format \"%s\": expected qcow2 or raw",
                 p->vol_format);
        return -1;
    }
    return 0;
}

/* --- autoscale: prometheus, rules, schedules (docs/autoscale.md) ------- */

/* a scalar into a fixed buffer; -1 (reported) when empty or too long */
static int
get_name(cfctx_t *c, yaml_node_t *n, const char *what, char *buf,
    size_t size)
{
    char  *s;

    if ((s = scalar(c, n)) == NULL) {
        return -1;
    }
    if (!scaleset_name_valid(s, strlen(s)) || strlen(s) >= size) {
        cf_error(c, n, "bad %s name \"%s\"", what, s);
        free(s);
        return -1;
    }
    strcpy(buf, s);
    free(s);
    return 0;
}

static int
get_i64(cfctx_t *c, yaml_node_t *n, int64_t lo, int64_t hi, int64_t *v)
{
    char       *s, *end;
    long long   l;

    if ((s = scalar(c, n)) == NULL) {
        return -1;
    }
    errno = 0;
    l = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || l < lo || l > hi) {
        cf_error(c, n, "\"%s\" is not an integer in %lld..%lld", s,
                 (long long) lo, (long long) hi);
        free(s);
        return -1;
    }
    free(s);
    *v = l;
    return 0;
}

/* a file's first line (trailing blanks cut); malloc'd, NULL reported */
static char *
get_secret_file(cfctx_t *c, yaml_node_t *n, const char *what)
{
    char  *path, *text, *e;

    if ((path = scalar(c, n)) == NULL) {
        return NULL;
    }
    if ((text = read_file(path)) == NULL) {
        cf_error(c, n, "cannot read %s \"%s\": %s", what, path,
                 strerror(errno));
        free(path);
        return NULL;
    }
    free(path);
    e = text + strcspn(text, "\r\n");
    *e = '\0';
    while (e > text && (e[-1] == ' ' || e[-1] == '\t')) {
        *--e = '\0';
    }
    if (*text == '\0') {
        cf_error(c, n, "%s is empty", what);
        free(text);
        return NULL;
    }
    return text;
}

static int
parse_prometheus(cfctx_t *c, yaml_node_t *m, scaler_config_t *cf)
{
    yaml_node_t  *k, *v;
    char        **dst;

    if (expect(c, m, YAML_MAPPING_NODE, "prometheus") != 0) {
        return -1;
    }
    cf->prom_timeout_ms = 2000;
    FOR_PAIRS(c, m, k, v) {
        dst = KEY(k, "url") ? &cf->prom_url
              : KEY(k, "username") ? &cf->prom_user
              : KEY(k, "password") || KEY(k, "password_file")
                ? &cf->prom_password
              : KEY(k, "bearer_token_file") ? &cf->prom_token : NULL;
        if (KEY(k, "timeout")) {
            if (get_duration(c, v, &cf->prom_timeout_ms) != 0) {
                return -1;
            }
            if (cf->prom_timeout_ms < 10 || cf->prom_timeout_ms > 60000) {
                cf_error(c, v, "prometheus timeout outside 10ms..60s");
                return -1;
            }
            continue;
        }
        if (dst == NULL) {
            cf_error(c, k, "unknown key \"%s\" in prometheus",
                     (char *) k->data.scalar.value);
            return -1;
        }
        if (*dst != NULL) {
            cf_error(c, k, "prometheus: \"%s\" given twice (or password "
                     "and password_file)", (char *) k->data.scalar.value);
            return -1;
        }
        *dst = KEY(k, "password_file") ? get_secret_file(c, v, "password_file")
               : KEY(k, "bearer_token_file")
                 ? get_secret_file(c, v, "bearer_token_file")
               : scalar(c, v);
        if (*dst == NULL) {
            return -1;
        }
    }
    if (cf->prom_url == NULL) {
        cf_error(c, m, "prometheus needs url");
        return -1;
    }
    if (strncmp(cf->prom_url, "http://", 7) != 0
        && strncmp(cf->prom_url, "https://", 8) != 0)
    {
        cf_error(c, m, "prometheus url \"%s\": expected http:// or https://",
                 cf->prom_url);
        return -1;
    }
    if ((cf->prom_user == NULL) != (cf->prom_password == NULL)) {
        cf_error(c, m, "prometheus basic auth needs username and password "
                 "(or password_file)");
        return -1;
    }
    if (cf->prom_user && cf->prom_token) {
        cf_error(c, m, "prometheus: basic auth or bearer_token_file, "
                 "not both");
        return -1;
    }
    return 0;
}

static int
parse_action(cfctx_t *c, yaml_node_t *m, autoscale_rule_config_t *r)
{
    yaml_node_t  *k, *v;
    int           n = 0;

    if (expect(c, m, YAML_MAPPING_NODE, "action") != 0) {
        return -1;
    }
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "change")) {
            r->action = AUTOSCALE_ACTION_CHANGE;
            if (get_i64(c, v, -100000, 100000, &r->value) != 0) {
                return -1;
            }
        } else if (KEY(k, "percent")) {
            r->action = AUTOSCALE_ACTION_PERCENT;
            if (get_i64(c, v, -100, 10000, &r->value) != 0) {
                return -1;
            }
        } else if (KEY(k, "exact")) {
            r->action = AUTOSCALE_ACTION_EXACT;
            if (get_i64(c, v, 0, 100000, &r->value) != 0) {
                return -1;
            }
        } else {
            cf_error(c, k, "bad action \"%s\": expected change, percent or "
                     "exact", (char *) k->data.scalar.value);
            return -1;
        }
        n++;
    }
    if (n != 1) {
        cf_error(c, m, "action needs exactly one of change, percent, exact");
        return -1;
    }
    if (r->value == 0 && r->action != AUTOSCALE_ACTION_EXACT) {
        cf_error(c, m, "action: a change of 0 does nothing");
        return -1;
    }
    return 0;
}

static int
parse_rule(cfctx_t *c, yaml_node_t *m, autoscale_rule_config_t *r)
{
    yaml_node_t  *k, *v;
    char         *s, *end;
    int           have_op = 0, have_thr = 0, have_action = 0;

    if (expect(c, m, YAML_MAPPING_NODE, "rule") != 0) {
        return -1;
    }
    r->per_instance = 1;
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "name")) {
            if (get_name(c, v, "rule", r->name, sizeof(r->name)) != 0) {
                return -1;
            }
        } else if (KEY(k, "query")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            free((char *) r->query);
            r->query = s;
            if (*s == '\0') {
                cf_error(c, v, "empty query");
                return -1;
            }
        } else if (KEY(k, "operator")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            if (autoscale_op_parse(s, &r->op) != 0) {
                cf_error(c, v, "bad operator \"%s\": expected >, >=, < or <=",
                         s);
                free(s);
                return -1;
            }
            free(s);
            have_op = 1;
        } else if (KEY(k, "threshold")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            errno = 0;
            r->threshold = strtod(s, &end);
            if (*s == '\0' || *end != '\0' || errno
                || r->threshold != r->threshold
                || r->threshold > 1e300 || r->threshold < -1e300)
            {
                cf_error(c, v, "bad threshold \"%s\": expected a number", s);
                free(s);
                return -1;
            }
            free(s);
            have_thr = 1;
        } else if (KEY(k, "for")) {
            if (get_duration(c, v, &r->for_ms) != 0) {
                return -1;
            }
        } else if (KEY(k, "cooldown")) {
            if (get_duration(c, v, &r->cooldown_ms) != 0) {
                return -1;
            }
        } else if (KEY(k, "action")) {
            if (parse_action(c, v, r) != 0) {
                return -1;
            }
            have_action = 1;
        } else if (KEY(k, "reduce")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            if (*s == '\0' || prom_reduce_parse(s, &r->reduce) != 0) {
                cf_error(c, v, "bad reduce \"%s\": expected sum, avg, max or "
                         "min", s);
                free(s);
                return -1;
            }
            free(s);
        } else if (KEY(k, "per_instance")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            if (strcmp(s, "true") == 0) {
                r->per_instance = 1;
            } else if (strcmp(s, "false") == 0) {
                r->per_instance = 0;
            } else {
                cf_error(c, v, "per_instance \"%s\": expected true or false",
                         s);
                free(s);
                return -1;
            }
            free(s);
        } else {
            cf_error(c, k, "unknown key \"%s\" in rule",
                     (char *) k->data.scalar.value);
            return -1;
        }
    }
    if (r->name[0] == '\0' || r->query == NULL || !have_op || !have_thr
        || !have_action)
    {
        cf_error(c, m, "a rule needs name, query, operator, threshold and "
                 "action");
        return -1;
    }
    return 0;
}

static int
parse_rules(cfctx_t *c, yaml_node_t *l, pool_config_t *p)
{
    yaml_node_item_t         *it;
    autoscale_rule_config_t  *r;
    size_t                    n, i;

    if (expect(c, l, YAML_SEQUENCE_NODE, "rules") != 0) {
        return -1;
    }
    n = l->data.sequence.items.top - l->data.sequence.items.start;
    p->rules = calloc(n ? n : 1, sizeof(*p->rules));
    for (it = l->data.sequence.items.start;
         it < l->data.sequence.items.top; it++)
    {
        r = &p->rules[p->autoscale.nrules++];
        if (parse_rule(c, node(c, *it), r) != 0) {
            return -1;
        }
        for (i = 0; i + 1 < p->autoscale.nrules; i++) {
            if (strcmp(p->rules[i].name, r->name) == 0) {
                cf_error(c, node(c, *it), "duplicate rule \"%s\"", r->name);
                return -1;
            }
        }
    }
    return 0;
}

static int
parse_capacity3(cfctx_t *c, yaml_node_t *m, autoscale_capacity_t *cap)
{
    yaml_node_t  *k, *v;
    int64_t      *dst;
    int           have_def = 0;

    if (expect(c, m, YAML_MAPPING_NODE, "capacity") != 0) {
        return -1;
    }
    cap->min = 0;
    cap->max = 1000;
    FOR_PAIRS(c, m, k, v) {
        dst = KEY(k, "min") ? &cap->min : KEY(k, "max") ? &cap->max
              : KEY(k, "default") ? &cap->def : NULL;
        if (dst == NULL) {
            cf_error(c, k, "unknown key \"%s\" in capacity",
                     (char *) k->data.scalar.value);
            return -1;
        }
        have_def |= dst == &cap->def;
        if (get_i64(c, v, 0, 1000, dst) != 0) {
            return -1;
        }
    }
    if (!have_def) {
        cap->def = cap->min;
    }
    if (cap->min > cap->max) {
        cf_error(c, m, "capacity min %lld > max %lld", (long long) cap->min,
                 (long long) cap->max);
        return -1;
    }
    if (cap->def < cap->min || cap->def > cap->max) {
        cf_error(c, m, "capacity default %lld outside min..max %lld..%lld",
                 (long long) cap->def, (long long) cap->min,
                 (long long) cap->max);
        return -1;
    }
    return 0;
}

static int
parse_cron(cfctx_t *c, yaml_node_t *n, cron_expr_t *e)
{
    char  *s, why[128];

    if ((s = scalar(c, n)) == NULL) {
        return -1;
    }
    why[0] = '\0';
    if (cron_parse(s, e, why, sizeof(why)) != 0) {
        cf_error(c, n, "bad cron \"%s\": %s", s, why);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

static int
parse_schedule(cfctx_t *c, yaml_node_t *m, autoscale_profile_config_t *pr)
{
    yaml_node_t  *k, *v, *start = NULL, *end = NULL, *cron = NULL;
    yaml_node_t  *until = NULL, *cap = NULL;
    char         *s;

    if (expect(c, m, YAML_MAPPING_NODE, "schedule") != 0) {
        return -1;
    }
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "name")) {
            if (get_name(c, v, "schedule", pr->name, sizeof(pr->name)) != 0) {
                return -1;
            }
        } else if (KEY(k, "cron")) {
            cron = v;
        } else if (KEY(k, "until")) {
            until = v;
        } else if (KEY(k, "start")) {
            start = v;
        } else if (KEY(k, "end")) {
            end = v;
        } else if (KEY(k, "timezone")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            if (strlen(s) >= sizeof(pr->timezone) || !cron_tz_valid(s)) {
                cf_error(c, v, "unknown time zone \"%s\"", s);
                free(s);
                return -1;
            }
            strcpy(pr->timezone, s);
            free(s);
        } else if (KEY(k, "capacity")) {
            cap = v;
            if (parse_capacity3(c, v, &pr->capacity) != 0) {
                return -1;
            }
        } else {
            cf_error(c, k, "unknown key \"%s\" in schedule",
                     (char *) k->data.scalar.value);
            return -1;
        }
    }
    if (pr->name[0] == '\0' || cap == NULL) {
        cf_error(c, m, "a schedule needs name and capacity");
        return -1;
    }
    if ((cron != NULL) == (start != NULL || end != NULL)) {
        cf_error(c, m, "schedule \"%s\": either cron (and until) or start "
                 "and end", pr->name);
        return -1;
    }
    if (cron) {
        pr->kind = AUTOSCALE_PROFILE_RECURRING;
        if (parse_cron(c, cron, &pr->cron) != 0) {
            return -1;
        }
        if (until) {
            pr->has_until = 1;
            if (parse_cron(c, until, &pr->until) != 0) {
                return -1;
            }
        }
        return 0;
    }
    if (until) {
        cf_error(c, until, "until is for cron schedules (use end)");
        return -1;
    }
    if (start == NULL || end == NULL) {
        cf_error(c, m, "schedule \"%s\" needs start and end", pr->name);
        return -1;
    }
    pr->kind = AUTOSCALE_PROFILE_FIXED;
    for (k = start; k != NULL; k = k == start ? end : NULL) {
        if ((s = scalar(c, k)) == NULL) {
            return -1;
        }
        if (cron_parse_datetime(s, pr->timezone,
                                k == start ? &pr->start : &pr->end) != 0)
        {
            cf_error(c, k, "bad date \"%s\": expected YYYY-MM-DD HH:MM[:SS] "
                     "[Z|+HH:MM]", s);
            free(s);
            return -1;
        }
        free(s);
    }
    if (pr->end <= pr->start) {
        cf_error(c, end, "schedule \"%s\" ends before it starts", pr->name);
        return -1;
    }
    return 0;
}

static int
parse_schedules(cfctx_t *c, yaml_node_t *l, pool_config_t *p)
{
    yaml_node_item_t            *it;
    autoscale_profile_config_t  *pr;
    size_t                       n, i;

    if (expect(c, l, YAML_SEQUENCE_NODE, "schedules") != 0) {
        return -1;
    }
    n = l->data.sequence.items.top - l->data.sequence.items.start;
    p->profiles = calloc(n ? n : 1, sizeof(*p->profiles));
    for (it = l->data.sequence.items.start;
         it < l->data.sequence.items.top; it++)
    {
        pr = &p->profiles[p->autoscale.nprofiles++];
        if (parse_schedule(c, node(c, *it), pr) != 0) {
            return -1;
        }
        for (i = 0; i + 1 < p->autoscale.nprofiles; i++) {
            if (strcmp(p->profiles[i].name, pr->name) == 0) {
                cf_error(c, node(c, *it), "duplicate schedule \"%s\"",
                         pr->name);
                return -1;
            }
        }
    }
    return 0;
}

static int
parse_pool(cfctx_t *c, scaler_config_t *cf, yaml_node_t *m, pool_config_t *p)
{
    yaml_node_t  *k, *v, *k2, *v2, *cap = NULL, *zl = NULL, *tn = NULL;
    yaml_node_item_t *it;
    char         *s;
    int           i, j, have_addr = 0;

    (void) cf;
    if (expect(c, m, YAML_MAPPING_NODE, "pool") != 0) {
        return -1;
    }
    p->cap_min = 0;
    p->cap_max = 1000;
    p->cap_default = 0;
    p->drain_timeout_ms = 30000;
    p->readiness_tcp = 1;
    p->version = strdup("1");

    FOR_PAIRS(c, m, k, v) {
        if (k->type != YAML_SCALAR_NODE) {
            cf_error(c, k, "keys must be scalars");
            return -1;
        }
        if (KEY(k, "name")) {
            if ((p->name = scalar(c, v)) == NULL) {
                return -1;
            }
            if (!scaleset_name_valid(p->name, strlen(p->name))) {
                cf_error(c, v, "bad pool name \"%s\"", p->name);
                return -1;
            }
        } else if (KEY(k, "zones")) {
            if (expect(c, v, YAML_SEQUENCE_NODE, "zones") != 0) {
                return -1;
            }
            zl = v;
            for (it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++)
            {
                yaml_node_t *z = node(c, *it);
                zone_config_t *zc;

                if (expect(c, z, YAML_MAPPING_NODE, "zone") != 0) {
                    return -1;
                }
                if (p->nzones == SCALER_MAX_ZONES) {
                    cf_error(c, z, "more than %d zones", SCALER_MAX_ZONES);
                    return -1;
                }
                zc = &p->zones[p->nzones++];
                FOR_PAIRS(c, z, k2, v2) {
                    if (KEY(k2, "name")) {
                        if ((zc->name = scalar(c, v2)) == NULL) {
                            return -1;
                        }
                        if (!scaleset_name_valid(zc->name, strlen(zc->name))) {
                            cf_error(c, v2, "bad zone name \"%s\"", zc->name);
                            return -1;
                        }
                        for (j = 0; j < p->nzones - 1; j++) {
                            if (strcmp(p->zones[j].name, zc->name) == 0) {
                                cf_error(c, v2, "duplicate zone \"%s\"",
                                         zc->name);
                                return -1;
                            }
                        }
                    } else if (KEY(k2, "uri")) {
                        if ((zc->uri = scalar(c, v2)) == NULL) {
                            return -1;
                        }
                    } else {
                        cf_error(c, k2, "unknown key \"%s\" in zone",
                                 (char *) k2->data.scalar.value);
                        return -1;
                    }
                }
                if (zc->name == NULL || zc->uri == NULL) {
                    cf_error(c, z, "a zone needs name and uri");
                    return -1;
                }
            }
        } else if (KEY(k, "template")) {
            if (expect(c, v, YAML_MAPPING_NODE, "template") != 0) {
                return -1;
            }
            tn = v;
            FOR_PAIRS(c, v, k2, v2) {
                if (KEY(k2, "domain")) {
                    if ((p->template_path = scalar(c, v2)) == NULL) {
                        return -1;
                    }
                    p->template_text = read_file(p->template_path);
                    if (p->template_text == NULL) {
                        cf_error(c, v2, "cannot read template \"%s\": %s",
                                 p->template_path, strerror(errno));
                        return -1;
                    }
                } else if (KEY(k2, "volume")) {
                    if (parse_volume(c, v2, p) != 0) {
                        return -1;
                    }
                } else if (KEY(k2, "version")) {
                    free(p->version);
                    if ((p->version = scalar(c, v2)) == NULL) {
                        return -1;
                    }
                    if (!scaleset_name_valid(p->version, strlen(p->version))) {
                        cf_error(c, v2, "bad version \"%s\"", p->version);
                        return -1;
                    }
                } else {
                    cf_error(c, k2, "unknown key \"%s\" in template",
                             (char *) k2->data.scalar.value);
                    return -1;
                }
            }
        } else if (KEY(k, "address")) {
            if (parse_address(c, v, p) != 0) {
                return -1;
            }
            have_addr = 1;
        } else if (KEY(k, "readiness")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            if (strcmp(s, "tcp") == 0) {
                p->readiness_tcp = 1;
            } else if (strcmp(s, "none") == 0) {
                p->readiness_tcp = 0;
            } else {
                cf_error(c, v, "readiness \"%s\": expected tcp or none", s);
                free(s);
                return -1;
            }
            free(s);
        } else if (KEY(k, "capacity")) {
            if (expect(c, v, YAML_MAPPING_NODE, "capacity") != 0) {
                return -1;
            }
            cap = v;
            FOR_PAIRS(c, v, k2, v2) {
                int *dst = KEY(k2, "min") ? &p->cap_min
                           : KEY(k2, "max") ? &p->cap_max
                           : KEY(k2, "default") ? &p->cap_default : NULL;
                if (dst == NULL) {
                    cf_error(c, k2, "unknown key \"%s\" in capacity",
                             (char *) k2->data.scalar.value);
                    return -1;
                }
                if (get_int(c, v2, 0, 1000, dst) != 0) {
                    return -1;
                }
            }
        } else if (KEY(k, "scale_in_policy")) {
            if ((s = scalar(c, v)) == NULL) {
                return -1;
            }
            if (policy_parse_name(s, &p->scale_in) != 0) {
                cf_error(c, v, "scale_in_policy \"%s\": expected default, "
                         "oldest or newest", s);
                free(s);
                return -1;
            }
            free(s);
        } else if (KEY(k, "drain_timeout")) {
            if (get_duration(c, v, &p->drain_timeout_ms) != 0) {
                return -1;
            }
        } else if (KEY(k, "rules")) {
            if (p->rules != NULL) {
                cf_error(c, k, "rules given twice");
                return -1;
            }
            p->rules_line = k->start_mark.line + 1;
            if (parse_rules(c, v, p) != 0) {
                return -1;
            }
        } else if (KEY(k, "schedules")) {
            if (p->profiles != NULL) {
                cf_error(c, k, "schedules given twice");
                return -1;
            }
            if (parse_schedules(c, v, p) != 0) {
                return -1;
            }
        } else if (KEY(k, "max_step")) {
            if (get_i64(c, v, 0, 1000, &p->autoscale.max_step) != 0) {
                return -1;
            }
        } else if (KEY(k, "health")) {
            /* accepted here, interpreted by later parts */
        } else {
            cf_error(c, k, "unknown key \"%s\" in pool",
                     (char *) k->data.scalar.value);
            return -1;
        }
    }

    if (p->name == NULL) {
        cf_error(c, m, "a pool needs a name");
        return -1;
    }
    if (zl == NULL || p->nzones == 0) {
        cf_error(c, m, "pool \"%s\" needs at least one zone", p->name);
        return -1;
    }
    if (tn == NULL || p->template_text == NULL) {
        cf_error(c, m, "pool \"%s\" needs template.domain", p->name);
        return -1;
    }
    if (!have_addr) {
        cf_error(c, m, "pool \"%s\" needs an address section", p->name);
        return -1;
    }
    if (cap && p->cap_min > p->cap_max) {
        cf_error(c, cap, "capacity min %d > max %d", p->cap_min, p->cap_max);
        return -1;
    }
    if (cap && (p->cap_default < p->cap_min || p->cap_default > p->cap_max)) {
        cf_error(c, cap, "capacity default %d outside min..max %d..%d",
                 p->cap_default, p->cap_min, p->cap_max);
        return -1;
    }
    p->autoscale.capacity.min = p->cap_min;
    p->autoscale.capacity.max = p->cap_max;
    p->autoscale.capacity.def = p->cap_default;
    p->autoscale.rules = p->rules;
    p->autoscale.profiles = p->profiles;
    i = 0;
    return i;
}

scaler_config_t *
config_load(const char *file, char *err, size_t errlen)
{
    FILE             *f;
    yaml_parser_t     parser;
    cfctx_t           c;
    yaml_node_t      *root, *k, *v, *k2, *v2;
    yaml_node_item_t *it;
    scaler_config_t  *cf;
    char             *s;
    int               i;

    memset(&c, 0, sizeof(c));
    c.file = file;
    c.err = err;
    c.errlen = errlen;

    if ((f = fopen(file, "r")) == NULL) {
        snprintf(err, errlen, "%s:1: cannot open: %s", file, strerror(errno));
        return NULL;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &c.doc)) {
        snprintf(err, errlen, "%s:%lu: %s", file,
                 (unsigned long) parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        fclose(f);
        return NULL;
    }
    yaml_parser_delete(&parser);
    fclose(f);

    cf = calloc(1, sizeof(*cf));
    cf->file = strdup(file);
    cf->redis_host = strdup("127.0.0.1");
    cf->redis_port = 6379;
    cf->prefix = strdup(SCALESET_DEFAULT_PREFIX);
    cf->api_host = strdup("127.0.0.1");
    cf->api_port = 9180;
    cf->interval_ms = 5000;

    root = yaml_document_get_root_node(&c.doc);
    if (root == NULL) {
        snprintf(err, errlen, "%s:1: empty configuration", file);
        goto failed;
    }
    if (expect(&c, root, YAML_MAPPING_NODE, "configuration") != 0) {
        goto failed;
    }

    FOR_PAIRS(&c, root, k, v) {
        if (k->type != YAML_SCALAR_NODE) {
            cf_error(&c, k, "keys must be scalars");
            goto failed;
        }
        if (KEY(k, "redis")) {
            if (expect(&c, v, YAML_MAPPING_NODE, "redis") != 0) {
                goto failed;
            }
            FOR_PAIRS(&c, v, k2, v2) {
                if (KEY(k2, "address")) {
                    free(cf->redis_host);
                    cf->redis_host = NULL;
                    if (parse_hostport(&c, v2, &cf->redis_host,
                                       &cf->redis_port) != 0)
                    {
                        goto failed;
                    }
                } else if (KEY(k2, "prefix")) {
                    free(cf->prefix);
                    if ((cf->prefix = scalar(&c, v2)) == NULL) {
                        goto failed;
                    }
                    if (!scaleset_prefix_valid(cf->prefix,
                                               strlen(cf->prefix)))
                    {
                        cf_error(&c, v2, "bad prefix \"%s\"", cf->prefix);
                        goto failed;
                    }
                } else {
                    cf_error(&c, k2, "unknown key \"%s\" in redis",
                             (char *) k2->data.scalar.value);
                    goto failed;
                }
            }
        } else if (KEY(k, "api")) {
            if (expect(&c, v, YAML_MAPPING_NODE, "api") != 0) {
                goto failed;
            }
            FOR_PAIRS(&c, v, k2, v2) {
                if (KEY(k2, "listen")) {
                    free(cf->api_host);
                    cf->api_host = NULL;
                    if (parse_hostport(&c, v2, &cf->api_host, &cf->api_port)
                        != 0)
                    {
                        goto failed;
                    }
                } else if (KEY(k2, "token_file")) {
                    char *tok, *e;
                    if ((s = scalar(&c, v2)) == NULL) {
                        goto failed;
                    }
                    tok = read_file(s);
                    if (tok == NULL) {
                        cf_error(&c, v2, "cannot read token_file \"%s\": %s",
                                 s, strerror(errno));
                        free(s);
                        goto failed;
                    }
                    free(s);
                    e = tok + strlen(tok);
                    while (e > tok && (e[-1] == '\n' || e[-1] == '\r'
                                       || e[-1] == ' '))
                    {
                        *--e = '\0';
                    }
                    if (*tok == '\0') {
                        cf_error(&c, v2, "token_file is empty");
                        free(tok);
                        goto failed;
                    }
                    free(cf->token);
                    cf->token = tok;
                } else {
                    cf_error(&c, k2, "unknown key \"%s\" in api",
                             (char *) k2->data.scalar.value);
                    goto failed;
                }
            }
        } else if (KEY(k, "interval")) {
            if (get_duration(&c, v, &cf->interval_ms) != 0) {
                goto failed;
            }
            if (cf->interval_ms < 100) {
                cf_error(&c, v, "interval below 100ms");
                goto failed;
            }
        } else if (KEY(k, "prometheus")) {
            if (cf->prom_url != NULL) {
                cf_error(&c, k, "prometheus given twice");
                goto failed;
            }
            if (parse_prometheus(&c, v, cf) != 0) {
                goto failed;
            }
        } else if (KEY(k, "pools")) {
            if (expect(&c, v, YAML_SEQUENCE_NODE, "pools") != 0) {
                goto failed;
            }
            for (it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++)
            {
                pool_config_t *p;

                cf->pools = realloc(cf->pools,
                                    (cf->npools + 1) * sizeof(*cf->pools));
                p = &cf->pools[cf->npools++];
                memset(p, 0, sizeof(*p));
                if (parse_pool(&c, cf, node(&c, *it), p) != 0) {
                    goto failed;
                }
                for (i = 0; i < cf->npools - 1; i++) {
                    if (strcmp(cf->pools[i].name, p->name) == 0) {
                        cf_error(&c, node(&c, *it), "duplicate pool \"%s\"",
                                 p->name);
                        goto failed;
                    }
                }
            }
        } else {
            cf_error(&c, k, "unknown key \"%s\"",
                     (char *) k->data.scalar.value);
            goto failed;
        }
    }

    for (i = 0; i < cf->npools; i++) {
        if (cf->pools[i].autoscale.nrules > 0 && cf->prom_url == NULL) {
            snprintf(err, errlen, "%s:%lu: pool \"%s\" has rules but there "
                     "is no prometheus block", file, cf->pools[i].rules_line,
                     cf->pools[i].name);
            goto failed;
        }
    }
    if (cf->token == NULL && strncmp(cf->api_host, "127.", 4) != 0) {
        snprintf(err, errlen, "%s:1: api.listen %s is not loopback: "
                 "api.token_file is required", file, cf->api_host);
        goto failed;
    }

    yaml_document_delete(&c.doc);
    return cf;

failed:
    yaml_document_delete(&c.doc);
    config_free(cf);
    return NULL;
}

void
config_free(scaler_config_t *cf)
{
    int  i, j;

    if (cf == NULL) {
        return;
    }
    for (i = 0; i < cf->npools; i++) {
        pool_config_t *p = &cf->pools[i];
        free(p->name);
        free(p->template_path);
        free(p->template_text);
        free(p->version);
        free(p->vol_pool);
        free(p->vol_backing);
        free(p->vol_format);
        for (j = 0; j < p->nzones; j++) {
            free(p->zones[j].name);
            free(p->zones[j].uri);
        }
        for (j = 0; p->rules && j < (int) p->autoscale.nrules; j++) {
            free((char *) p->rules[j].query);
        }
        free(p->rules);
        free(p->profiles);
    }
    free(cf->pools);
    free(cf->file);
    free(cf->redis_host);
    free(cf->prefix);
    free(cf->api_host);
    free(cf->token);
    free(cf->prom_url);
    free(cf->prom_user);
    free(cf->prom_password);
    free(cf->prom_token);
    free(cf);
}

pool_config_t *
config_pool(scaler_config_t *cf, const char *name)
{
    int  i;

    for (i = 0; i < cf->npools; i++) {
        if (strcmp(cf->pools[i].name, name) == 0) {
            return &cf->pools[i];
        }
    }
    return NULL;
}
