/*
 * cloudinit.c: the files of an instance's NoCloud seed (docs/bootstrap.md).
 * cloud-init's NoCloud datasource reads a volume labelled "cidata" with
 * user-data, meta-data and optionally network-config and vendor-data.
 * Each comes from a file of template.cloud_init rendered with the
 * template variables, the values inserted as they are (XML escaping is
 * the domain's), and is checked the way cloud-init will read it:
 * user-data (and vendor-data) is "#cloud-config" YAML, which must parse
 * and be a mapping, or a "#!" script, taken as it is; meta-data and
 * network-config are YAML mappings.  The YAML is libyaml's (YAML 1.1, as
 * cloud-init's PyYAML).  meta-data gets instance-id (the instance id)
 * and local-hostname (the domain's name) unless it sets them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "scaler.h"

static int yaml_doc(const char *text, yaml_document_t *doc, unsigned long *line,
                    char *why, size_t whylen);
static int check_yaml_mapping(const char *text, int empty_ok,
                              unsigned long *line, char *why, size_t whylen);

const char *
cloudinit_file_name(ci_file_t f)
{
    static const char *const names[] = { "user-data", "meta-data",
                                         "network-config", "vendor-data" };

    return (unsigned) f < CI_FILES ? names[f] : "?";
}

/* the first document of text (loaded into *doc; none: no root node);
   0, or -1 with the parser's line and problem, or when a second document
   follows (cloud-init loads exactly one) */
static int
yaml_doc(const char *text, yaml_document_t *doc, unsigned long *line, char *why,
         size_t whylen)
{
    yaml_parser_t   parser;
    yaml_document_t next;
    yaml_node_t    *root;
    int             rc = -1;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *) text,
                                 strlen(text));
    if (!yaml_parser_load(&parser, doc)) {
        *line = (unsigned long) parser.problem_mark.line + 1;
        snprintf(why, whylen, "not YAML: %s%s%s",
                 parser.problem ? parser.problem : "syntax error",
                 parser.context ? " " : "",
                 parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return -1;
    }
    if (!yaml_parser_load(&parser, &next)) {
        *line = (unsigned long) parser.problem_mark.line + 1;
        snprintf(why, whylen, "not YAML: %s",
                 parser.problem ? parser.problem : "syntax error");
    } else {
        root = yaml_document_get_root_node(&next);
        if (root != NULL) {
            *line = (unsigned long) root->start_mark.line + 1;
            snprintf(why, whylen,
                     "a second YAML document: cloud-init "
                     "reads one");
        } else {
            rc = 0;
        }
        yaml_document_delete(&next);
    }
    if (rc != 0) {
        yaml_document_delete(doc);
    }
    yaml_parser_delete(&parser);
    return rc;
}

static int
check_yaml_mapping(const char *text, int empty_ok, unsigned long *line,
                   char *why, size_t whylen)
{
    yaml_document_t doc;
    yaml_node_t    *root;
    int             rc = 0;

    if (yaml_doc(text, &doc, line, why, whylen) != 0) {
        return -1;
    }
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        if (!empty_ok) {
            *line = 1;
            snprintf(why, whylen, "empty: expected a YAML mapping");
            rc = -1;
        }
    } else if (root->type != YAML_MAPPING_NODE) {
        *line = (unsigned long) root->start_mark.line + 1;
        snprintf(why, whylen, "expected a YAML mapping, not a %s",
                 root->type == YAML_SEQUENCE_NODE ? "list" : "scalar");
        rc = -1;
    }
    yaml_document_delete(&doc);
    return rc;
}

int
cloudinit_check(ci_file_t f, const char *text, unsigned long *line, char *why,
                size_t whylen)
{
    size_t n;

    *line = 1;
    switch (f) {
    case CI_USER_DATA:
    case CI_VENDOR_DATA:
        if (strncmp(text, "#!", 2) == 0) {
            return 0; /* a script: cloud-init runs it */
        }
        /* "#cloud-config", then the end of the line (blanks allowed) */
        n = strlen("#cloud-config");
        if (strncmp(text, "#cloud-config", n) == 0
            && (text[n + strspn(text + n, " \t\r")] == '\n'
                || text[n + strspn(text + n, " \t\r")] == '\0'))
        {
            /* a mapping; only the header is nothing to do */
            return check_yaml_mapping(text, 1, line, why, whylen);
        }
        snprintf(why, whylen,
                 "%s must start with #cloud-config (YAML) or "
                 "#! (a script)",
                 cloudinit_file_name(f));
        return -1;
    case CI_META_DATA:
        return check_yaml_mapping(text, 1, line, why, whylen);
    case CI_NETWORK_CONFIG:
        return check_yaml_mapping(text, 0, line, why, whylen);
    default:
        snprintf(why, whylen, "no such file");
        return -1;
    }
}

/* a yaml_emitter_t write handler into a growing buffer */
typedef struct {
    char  *buf;
    size_t len, cap;
} out_t;

static int
out_write(void *data, unsigned char *buffer, size_t size)
{
    out_t *o = data;

    if (o->len + size + 1 > o->cap) {
        o->cap = (o->len + size + 1) * 2;
        o->buf = xrealloc(o->buf, o->cap);
    }
    memcpy(o->buf + o->len, buffer, size);
    o->len += size;
    o->buf[o->len] = '\0';
    return 1;
}

/* 1 when mapping m of doc has the scalar key name */
static int
has_key(yaml_document_t *doc, yaml_node_t *m, const char *name)
{
    yaml_node_pair_t *p;
    yaml_node_t      *k;

    for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE
            && k->data.scalar.length == strlen(name)
            && memcmp(k->data.scalar.value, name, strlen(name)) == 0)
        {
            return 1;
        }
    }
    return 0;
}

static int
add_pair(yaml_document_t *doc, int map, const char *k, const char *v)
{
    int kn, vn;

    kn = yaml_document_add_scalar(doc, NULL, (yaml_char_t *) k, -1,
                                  YAML_PLAIN_SCALAR_STYLE);
    vn = yaml_document_add_scalar(doc, NULL, (yaml_char_t *) v, -1,
                                  YAML_ANY_SCALAR_STYLE);
    return kn && vn && yaml_document_append_mapping_pair(doc, map, kn, vn);
}

char *
cloudinit_meta_data(const char *rendered, const char *id, const char *hostname,
                    char *why, size_t whylen)
{
    yaml_document_t doc;
    yaml_emitter_t  em;
    yaml_node_t    *root;
    unsigned long   line;
    out_t           o = { NULL, 0, 0 };
    int             map, ok;

    if (yaml_doc(rendered ? rendered : "", &doc, &line, why, whylen) != 0) {
        return NULL;
    }
    root = yaml_document_get_root_node(&doc);
    if (root != NULL && root->type != YAML_MAPPING_NODE) {
        snprintf(why, whylen, "meta-data: expected a YAML mapping");
        yaml_document_delete(&doc);
        return NULL;
    }
    if (root != NULL && has_key(&doc, root, "instance-id")
        && has_key(&doc, root, "local-hostname"))
    {
        yaml_document_delete(&doc);
        return xstrdup(rendered); /* it says both itself: as written */
    }
    if (root == NULL) {
        /* an empty meta-data: a document of its own */
        yaml_document_delete(&doc);
        if (!yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1)) {
            snprintf(why, whylen, "out of memory");
            return NULL;
        }
        map = yaml_document_add_mapping(&doc, NULL, YAML_BLOCK_MAPPING_STYLE);
        root = map ? yaml_document_get_node(&doc, map) : NULL;
    } else {
        map = 1; /* the root is the first node */
    }
    ok = root != NULL
         && (has_key(&doc, root, "instance-id")
             || add_pair(&doc, map, "instance-id", id))
         && (has_key(&doc, yaml_document_get_node(&doc, map), "local-hostname")
             || add_pair(&doc, map, "local-hostname", hostname));
    if (!ok) {
        snprintf(why, whylen, "out of memory");
        yaml_document_delete(&doc);
        return NULL;
    }
    yaml_emitter_initialize(&em);
    yaml_emitter_set_output(&em, out_write, &o);
    yaml_emitter_set_unicode(&em, 1);
    /* dump takes the document (deleted either way) */
    ok = yaml_emitter_dump(&em, &doc) && yaml_emitter_close(&em)
         && yaml_emitter_flush(&em);
    yaml_emitter_delete(&em);
    if (!ok) {
        snprintf(why, whylen, "meta-data could not be written as YAML");
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

/* ci's files (text, path) by ci_file_t; NULL when not given */
static void
sources(const cloud_init_config_t *ci, const char **src, const char **path)
{
    src[CI_USER_DATA] = ci->user_data;
    src[CI_META_DATA] = ci->meta_data;
    src[CI_NETWORK_CONFIG] = ci->network_config;
    src[CI_VENDOR_DATA] = ci->vendor_data;
    path[CI_USER_DATA] = ci->user_data_path;
    path[CI_META_DATA] = ci->meta_data_path;
    path[CI_NETWORK_CONFIG] = ci->network_config_path;
    path[CI_VENDOR_DATA] = ci->vendor_data_path;
}

void
cloudinit_files_free(seed_file_t *f, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        free(f[i].data);
        f[i].data = NULL;
    }
}

int
cloudinit_files(const cloud_init_config_t *ci, const char *const *vals,
                seed_file_t out[CI_FILES], int *n, char *err, size_t errlen)
{
    const char   *src[CI_FILES], *path[CI_FILES];
    char         *text, why[256], *md;
    unsigned long line;
    int           f;

    sources(ci, src, path);
    *n = 0;
    for (f = 0; f < CI_FILES; f++) {
        if (src[f] == NULL && f != CI_META_DATA) {
            continue;
        }
        text = src[f]
                   ? template_render_raw(src[f], template_vars, vals, TV_COUNT)
                   : xstrdup("");
        if (src[f]
            && cloudinit_check((ci_file_t) f, text, &line, why, sizeof(why))
                   != 0)
        {
            snprintf(err, errlen, "%s:%lu: %s (as rendered for %s)", path[f],
                     line, why, vals[TV_NAME]);
            free(text);
            goto failed;
        }
        if (f == CI_META_DATA) {
            md = cloudinit_meta_data(text, vals[TV_NAME], vals[TV_NAME], why,
                                     sizeof(why));
            free(text);
            if ((text = md) == NULL) {
                snprintf(err, errlen, "%s:1: %s",
                         path[f] ? path[f] : "meta-data", why);
                goto failed;
            }
        }
        out[*n].name = cloudinit_file_name((ci_file_t) f);
        out[*n].data = text;
        out[*n].len = strlen(text);
        (*n)++;
    }
    return 0;

failed:
    cloudinit_files_free(out, *n);
    *n = 0;
    return -1;
}

/* the values an instance of zone z of p, made from t, would get; the
   paths libvirt gives (the storage pool's directory) as placeholders */
static void
sample_vals(const pool_config_t *p, const template_config_t *t, int z,
            const char **vals, char *name, char *addr, char *port, char *vol,
            char *seed, size_t size)
{
    char *colon;

    snprintf(name, size / 2, "%s-000001", p->name);
    addr[0] = '\0';
    snprintf(port, size, "%d", p->port_lo ? p->port_lo : p->port);
    if (p->addr_mode == ADDR_STATIC && addr_static(p, 0, addr, size) == 0
        && (colon = strrchr(addr, ':')) != NULL)
    {
        snprintf(port, size, "%s", colon + 1);
        *colon = '\0';
    }
    vol[0] = '\0';
    if (t->vol_pool) {
        snprintf(vol, size, "/var/lib/libvirt/images/%.80s.qcow2", name);
    }
    snprintf(seed, size, "/var/lib/libvirt/images/%.80s.seed.iso", name);
    vals[TV_NAME] = name;
    vals[TV_UUID] = "6b1f3e1c-5a3a-4c55-9d1e-000000000001";
    vals[TV_MAC] = "52:54:00:00:00:01";
    vals[TV_ADDRESS] = addr;
    vals[TV_PORT] = port;
    vals[TV_VOLUME] = vol;
    vals[TV_POOL] = p->name;
    vals[TV_ZONE] = p->zones[z].name;
    vals[TV_VERSION] = t->version;
    vals[TV_SEED] = seed;
    vals[TV_TEMPLATE] = t->name;
}

/* the first line of src that holds {{var}}, 1 when none */
static unsigned long
var_line(const char *src, const char *var)
{
    char          key[40];
    const char   *at, *s;
    unsigned long line = 1;

    snprintf(key, sizeof(key), "{{%s}}", var);
    if ((at = strstr(src, key)) == NULL) {
        return 1;
    }
    for (s = src; s < at; s++) {
        line += *s == '\n';
    }
    return line;
}

int
cloudinit_config_check(const pool_config_t *p, const template_config_t *t,
                       char *err, size_t errlen)
{
    const cloud_init_config_t *ci = &t->ci;
    const char                *src[CI_FILES], *path[CI_FILES], *vals[TV_COUNT];
    const char                *safe[TV_COUNT], *one[TV_COUNT];
    char          name[160], addr[160], port[160], vol[160], seed[160];
    char         *text, why[256];
    unsigned long line;
    int           f, z, v, rc;

    sources(ci, src, path);
    for (v = 0; v < TV_COUNT; v++) {
        safe[v] = "x";
    }
    for (f = 0; f < CI_FILES; f++) {
        if (src[f] == NULL) {
            continue;
        }
        /* the file itself, every variable a plain word */
        text = template_render_raw(src[f], template_vars, safe, TV_COUNT);
        rc = cloudinit_check((ci_file_t) f, text, &line, why, sizeof(why));
        free(text);
        if (rc != 0) {
            snprintf(err, errlen, "%s:%lu: %s", path[f], line, why);
            return -1;
        }
        /* then with what each zone's instances get, one variable at a
           time, so the one that breaks it is named */
        for (z = 0; z < p->nzones; z++) {
            sample_vals(p, t, z, vals, name, addr, port, vol, seed,
                        sizeof(name));
            for (v = 0; v < TV_COUNT; v++) {
                memcpy(one, safe, sizeof(one));
                one[v] = vals[v];
                text =
                    template_render_raw(src[f], template_vars, one, TV_COUNT);
                rc = cloudinit_check((ci_file_t) f, text, &line, why,
                                     sizeof(why));
                free(text);
                if (rc != 0) {
                    snprintf(err, errlen,
                             "%s:%lu: {{%s}} (\"%s\" in zone "
                             "%s) breaks the YAML: %s; quote it",
                             path[f], var_line(src[f], template_vars[v]),
                             template_vars[v], vals[v], p->zones[z].name, why);
                    return -1;
                }
            }
        }
    }
    return 0;
}
