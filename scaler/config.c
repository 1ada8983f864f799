/*
 * config.c: YAML configuration, loaded into a new scaler_config_t and
 * validated completely; every error is "file:line: reason".
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <yaml.h>

#include "scaler.h"
#include "scaleset_record.h"

#include "config_yaml.h"

void
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

yaml_node_t *
cf_node(cfctx_t *c, int i)
{
    return yaml_document_get_node(&c->doc, i);
}

int
cf_expect(cfctx_t *c, yaml_node_t *n, yaml_node_type_t t, const char *what)
{
    if (n->type != t) {
        cf_error(c, n, "%s: expected a %s", what,
                 t == YAML_MAPPING_NODE ? "mapping"
                 : t == YAML_SEQUENCE_NODE ? "list" : "scalar");
        return -1;
    }
    return 0;
}

char *
cf_scalar(cfctx_t *c, yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE) {
        cf_error(c, n, "expected a scalar value");
        return NULL;
    }
    return strndup((char *) n->data.scalar.value, n->data.scalar.length);
}

int
cf_int(cfctx_t *c, yaml_node_t *n, int lo, int hi, int *v)
{
    char  *s, *end;
    long   l;

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
    char  *s;

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

static int
parse_hostport(cfctx_t *c, yaml_node_t *n, char **host, int *port)
{
    char          *s, *colon, *end;
    long           l;
    struct in_addr a;

    if ((s = cf_scalar(c, n)) == NULL) {
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

char *
cf_read_file(const char *path)
{
    int          fd, e;
    char        *buf;
    size_t       len, n;
    ssize_t      r = 0;
    struct stat  st;

    /* O_NONBLOCK: a FIFO is refused below instead of waited on */
    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        goto failed;
    }
    /* a directory's or a device's size is no length to allocate */
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        goto failed;
    }
    if (st.st_size > CF_FILE_MAX) {
        errno = EFBIG;
        goto failed;
    }
    len = (size_t) st.st_size;
    if ((buf = malloc(len + 1)) == NULL) {
        goto failed;
    }
    for (n = 0; n < len; n += (size_t) r) {
        r = read(fd, buf + n, len - n);
        if (r == -1 && errno == EINTR) {
            r = 0;
            continue;
        }
        if (r <= 0) {
            break;              /* shrunk meanwhile: what is there */
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

static int
parse_address(cfctx_t *c, yaml_node_t *m, pool_config_t *p)
{
    yaml_node_t  *k, *v;
    char         *s, *slash, *dash;
    int           have_cidr = 0, have_port = 0;
    struct in_addr a;
    long          len;

    if (cf_expect(c, m, YAML_MAPPING_NODE, "address") != 0) {
        return -1;
    }
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "mode")) {
            if ((s = cf_scalar(c, v)) == NULL) {
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
            if ((s = cf_scalar(c, v)) == NULL) {
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
            if (cf_int(c, v, 1, 65535, &p->port) != 0) {
                return -1;
            }
            have_port = 1;
        } else if (KEY(k, "ports")) {
            if ((s = cf_scalar(c, v)) == NULL) {
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

    if (cf_expect(c, m, YAML_MAPPING_NODE, "volume") != 0) {
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
        if ((*dst = cf_scalar(c, v)) == NULL) {
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

/* health: { uri: /healthz, timeout: 1s, grace: 60s } */
static int
parse_health(cfctx_t *c, yaml_node_t *m, pool_config_t *p)
{
    yaml_node_t  *k, *v;

    if (cf_expect(c, m, YAML_MAPPING_NODE, "health") != 0) {
        return -1;
    }
    p->health_timeout_ms = 1000;
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "uri")) {
            free(p->health_uri);
            if ((p->health_uri = cf_scalar(c, v)) == NULL) {
                return -1;
            }
            if (p->health_uri[0] != '/' || strpbrk(p->health_uri, " \t\r\n"))
            {
                cf_error(c, v, "health uri \"%s\": expected a path starting "
                         "with / and without spaces", p->health_uri);
                return -1;
            }
        } else if (KEY(k, "timeout")) {
            if (cf_duration(c, v, &p->health_timeout_ms) != 0) {
                return -1;
            }
            if (p->health_timeout_ms < 10 || p->health_timeout_ms > 30000) {
                cf_error(c, v, "health timeout: expected 10ms..30s");
                return -1;
            }
        } else if (KEY(k, "grace")) {
            if (cf_duration(c, v, &p->health_grace_ms) != 0) {
                return -1;
            }
        } else {
            cf_error(c, k, "unknown key \"%s\" in health",
                     (char *) k->data.scalar.value);
            return -1;
        }
    }
    if (p->health_uri == NULL) {
        cf_error(c, m, "health needs uri");
        return -1;
    }
    return 0;
}

static int
parse_pool(cfctx_t *c, scaler_config_t *cf, yaml_node_t *m, pool_config_t *p)
{
    yaml_node_t  *k, *v, *k2, *v2, *cap = NULL, *zl = NULL, *tn = NULL;
    yaml_node_item_t *it;
    char         *s;
    int           i, j, have_addr = 0, have_default = 0;

    (void) cf;
    if (cf_expect(c, m, YAML_MAPPING_NODE, "pool") != 0) {
        return -1;
    }
    p->cap_min = 0;
    p->cap_max = SCALER_CAPACITY_MAX;
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
            if ((p->name = cf_scalar(c, v)) == NULL) {
                return -1;
            }
            if (!scaleset_name_valid(p->name, strlen(p->name))) {
                cf_error(c, v, "bad pool name \"%s\"", p->name);
                return -1;
            }
        } else if (KEY(k, "zones")) {
            if (cf_expect(c, v, YAML_SEQUENCE_NODE, "zones") != 0) {
                return -1;
            }
            zl = v;
            for (it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++)
            {
                yaml_node_t *z = cf_node(c, *it);
                zone_config_t *zc;

                if (cf_expect(c, z, YAML_MAPPING_NODE, "zone") != 0) {
                    return -1;
                }
                if (p->nzones == SCALER_MAX_ZONES) {
                    cf_error(c, z, "more than %d zones", SCALER_MAX_ZONES);
                    return -1;
                }
                zc = &p->zones[p->nzones++];
                FOR_PAIRS(c, z, k2, v2) {
                    if (KEY(k2, "name")) {
                        if ((zc->name = cf_scalar(c, v2)) == NULL) {
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
                        if ((zc->uri = cf_scalar(c, v2)) == NULL) {
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
            if (cf_expect(c, v, YAML_MAPPING_NODE, "template") != 0) {
                return -1;
            }
            tn = v;
            FOR_PAIRS(c, v, k2, v2) {
                if (KEY(k2, "domain")) {
                    if ((p->template_path = cf_scalar(c, v2)) == NULL) {
                        return -1;
                    }
                    p->template_text = cf_read_file(p->template_path);
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
                    if ((p->version = cf_scalar(c, v2)) == NULL) {
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
            if ((s = cf_scalar(c, v)) == NULL) {
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
            if (cf_expect(c, v, YAML_MAPPING_NODE, "capacity") != 0) {
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
                if (cf_int(c, v2, 0, SCALER_CAPACITY_MAX, dst) != 0) {
                    return -1;
                }
                have_default |= dst == &p->cap_default;
            }
        } else if (KEY(k, "scale_in_policy")) {
            if ((s = cf_scalar(c, v)) == NULL) {
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
            if (cf_duration(c, v, &p->drain_timeout_ms) != 0) {
                return -1;
            }
        } else if (KEY(k, "rules")) {
            if (cf_rules(c, v, p) != 0) {
                return -1;
            }
        } else if (KEY(k, "schedules")) {
            if (cf_schedules(c, v, p) != 0) {
                return -1;
            }
        } else if (KEY(k, "max_step")) {
            if (cf_max_step(c, v, p) != 0) {
                return -1;
            }
        } else if (KEY(k, "health")) {
            if (parse_health(c, v, p) != 0) {
                return -1;
            }
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
    if (cap && !have_default) {
        p->cap_default = p->cap_min;    /* as a schedule's */
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
    i = 0;
    return i;
}

/*
 * Every mapping of the document, before any is read: keys are scalars
 * (the parsers print a key as one) and each at most once in its mapping
 * (YAML requires it; a second value would replace, and leak, the first).
 */
static int
cf_check_keys(cfctx_t *c)
{
    yaml_node_t       *n, *k, *k2;
    yaml_node_pair_t  *p, *q;

    for (n = c->doc.nodes.start; n < c->doc.nodes.top; n++) {
        if (n->type != YAML_MAPPING_NODE) {
            continue;
        }
        for (p = n->data.mapping.pairs.start;
             p < n->data.mapping.pairs.top; p++)
        {
            k = cf_node(c, p->key);
            if (k->type != YAML_SCALAR_NODE) {
                cf_error(c, k, "keys must be scalars");
                return -1;
            }
            for (q = n->data.mapping.pairs.start; q < p; q++) {
                k2 = cf_node(c, q->key);
                if (k2->data.scalar.length == k->data.scalar.length
                    && memcmp(k2->data.scalar.value, k->data.scalar.value,
                              k->data.scalar.length) == 0)
                {
                    cf_error(c, k, "key \"%s\" given twice (first at line "
                             "%lu)", (char *) k->data.scalar.value,
                             (unsigned long) k2->start_mark.line + 1);
                    return -1;
                }
            }
        }
    }
    return 0;
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
    cf->ui_dir = NULL;                  /* ui_default_dir() */
    cf->interval_ms = 5000;

    root = yaml_document_get_root_node(&c.doc);
    if (root == NULL) {
        snprintf(err, errlen, "%s:1: empty configuration", file);
        goto failed;
    }
    if (cf_check_keys(&c) != 0) {
        goto failed;
    }
    if (cf_expect(&c, root, YAML_MAPPING_NODE, "configuration") != 0) {
        goto failed;
    }

    FOR_PAIRS(&c, root, k, v) {
        if (k->type != YAML_SCALAR_NODE) {
            cf_error(&c, k, "keys must be scalars");
            goto failed;
        }
        if (KEY(k, "redis")) {
            if (cf_expect(&c, v, YAML_MAPPING_NODE, "redis") != 0) {
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
                    if ((cf->prefix = cf_scalar(&c, v2)) == NULL) {
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
            if (cf_expect(&c, v, YAML_MAPPING_NODE, "api") != 0) {
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
                    if ((s = cf_scalar(&c, v2)) == NULL) {
                        goto failed;
                    }
                    tok = cf_read_file(s);
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
                } else if (KEY(k2, "ui")) {
                    struct stat  st;
                    if ((s = cf_scalar(&c, v2)) == NULL) {
                        goto failed;
                    }
                    if (stat(s, &st) != 0 || !S_ISDIR(st.st_mode)) {
                        cf_error(&c, v2, "api.ui \"%s\" is not a directory",
                                 s);
                        free(s);
                        goto failed;
                    }
                    free(cf->ui_dir);
                    cf->ui_dir = s;
                } else {
                    cf_error(&c, k2, "unknown key \"%s\" in api",
                             (char *) k2->data.scalar.value);
                    goto failed;
                }
            }
        } else if (KEY(k, "interval")) {
            if (cf_duration(&c, v, &cf->interval_ms) != 0) {
                goto failed;
            }
            if (cf->interval_ms < 100) {
                cf_error(&c, v, "interval below 100ms");
                goto failed;
            }
        } else if (KEY(k, "prometheus")) {
            if (cf_prometheus(&c, v, cf) != 0) {
                goto failed;
            }
        } else if (KEY(k, "pools")) {
            if (cf_expect(&c, v, YAML_SEQUENCE_NODE, "pools") != 0) {
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
                if (parse_pool(&c, cf, cf_node(&c, *it), p) != 0) {
                    goto failed;
                }
                for (i = 0; i < cf->npools - 1; i++) {
                    if (strcmp(cf->pools[i].name, p->name) == 0) {
                        cf_error(&c, cf_node(&c, *it), "duplicate pool \"%s\"",
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
        if (cf_autoscale_finish(&c, cf, &cf->pools[i]) != 0) {
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
        free(p->health_uri);
        cf_autoscale_free(p);
        for (j = 0; j < p->nzones; j++) {
            free(p->zones[j].name);
            free(p->zones[j].uri);
        }
    }
    free(cf->pools);
    free(cf->file);
    free(cf->redis_host);
    free(cf->prefix);
    free(cf->api_host);
    free(cf->token);
    free(cf->ui_dir);
    free(cf->prom_url);
    free(cf->prom_username);
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
