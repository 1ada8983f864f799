/*
 * config_yaml.h: the YAML layer of the configuration parsers (defined in
 * config_yaml.c; used by config.c and config_autoscale.c).  Private to
 * them.
 *
 * Every mapping of the file is read through a key table, as nginx's
 * ngx_command_t or Redis's standardConfig: one cf_key_t per key with the
 * YAML type its value must have and the function that stores it.
 * cf_map() checks a mapping once: keys are scalars, known, given at most
 * once, their values of the table's type; then it calls each key's
 * function in document order.  Generic functions store strings, integers,
 * durations and booleans at an offset into the struct being filled;
 * special cases are functions of their own.  A key whose value is a
 * mapping (or a list of mappings) names the table of its keys in sub,
 * so the tables alone describe the whole file (t/docs_reference.t reads
 * them from the sources to check the reference docs).
 */

#ifndef SCALER_CONFIG_YAML_H
#define SCALER_CONFIG_YAML_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "scaler.h"

typedef struct {
    const char     *file;
    yaml_document_t doc;
    char           *err;
    size_t          errlen;
    int             failed;
} cfctx_t;

#define CF_SCALAR YAML_SCALAR_NODE
#define CF_MAP    YAML_MAPPING_NODE
#define CF_LIST   YAML_SEQUENCE_NODE

typedef struct cf_key_s cf_key_t;

/* stores value node v (of key->type) into conf; 0, or -1 with the error
   set (cf_error) */
typedef int (*cf_set_pt)(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);

struct cf_key_s {
    const char      *name;
    yaml_node_type_t type; /* CF_SCALAR, CF_MAP or CF_LIST */
    cf_set_pt        set;
    const cf_key_t  *sub; /* the keys of the value (a mapping) or
                             of each item (a list of mappings) */
    size_t    offset;     /* the field, for the generic setters */
    long long lo, hi;     /* cf_set_int's bounds; cf_set_duration's
                             in ms (hi 0: up to 1d) */
};

#define CF_AT(type, field) offsetof(type, field)
#define CF_END                               \
    {                                        \
        NULL, CF_SCALAR, NULL, NULL, 0, 0, 0 \
    }

/* the first error wins: "file:line: reason" (line of node n) */
void cf_error(cfctx_t *c, yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
yaml_node_t *cf_node(cfctx_t *c, int i);
/* 0, or -1 with "WHAT: expected a mapping|list|scalar" */
int cf_expect(cfctx_t *c, yaml_node_t *n, yaml_node_type_t t, const char *what);

/*
 * Reads mapping m with the table keys (ended by CF_END) into conf; what
 * names m in messages ("pool", "" for the top level).  *seen (if not
 * NULL) gets bit i for each keys[i] given (tables have at most 64 keys).
 */
int cf_map(cfctx_t *c, yaml_node_t *m, const cf_key_t *keys, void *conf,
           const char *what, uint64_t *seen);
/* 1 when the key name of table keys is in seen */
int cf_given(const cf_key_t *keys, uint64_t seen, const char *name);
/* the items of list seq, each a mapping, for each call */
#define FOR_ITEMS(c, seq, n)                                                  \
    for (yaml_node_item_t *it_ = (seq)->data.sequence.items.start;            \
         it_ < (seq)->data.sequence.items.top && ((n) = cf_node(c, *it_), 1); \
         it_++)
size_t cf_items(yaml_node_t *seq);

/* the generic setters: a malloc'd string (char *, the previous one
   freed), an int in lo..hi, a duration in ms (uint64_t, lo..hi ms, hi 0:
   up to 1d), a boolean (int: true/yes, false/no), and a mapping of
   key->sub filling the same struct */
int cf_set_str(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
int cf_set_int(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
int cf_set_duration(cfctx_t *c, yaml_node_t *v, void *conf,
                    const cf_key_t *key);
int cf_set_bool(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
int cf_set_map(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
/* a secret from a file (char *): its first line, which must not be empty
   (a password file, a bearer token file) */
int cf_set_secret_file(cfctx_t *c, yaml_node_t *v, void *conf,
                       const cf_key_t *key);

/* a malloc'd copy of a scalar's value; NULL (error set) otherwise */
char *cf_scalar(cfctx_t *c, yaml_node_t *n);
/* a scalar that is one of names[0..n-1]: its index; -1 otherwise, the
   error "WHAT \"value\": expected a, b or c" set */
int cf_enum(cfctx_t *c, yaml_node_t *v, const char *what,
            const char *const *names, int n);
int cf_int(cfctx_t *c, yaml_node_t *n, int lo, int hi, int *v);
/* nginx's durations, up to 1d */
int cf_duration(cfctx_t *c, yaml_node_t *n, uint64_t *ms);
/* a name of [A-Za-z0-9_.-]{1,max} into buf (size > max) */
int cf_name(cfctx_t *c, yaml_node_t *v, char *buf, size_t max,
            const char *what);
/* a whole file of at most CF_FILE_MAX bytes (a device or FIFO: its
   st_size, 0), NUL-terminated and malloc'd; NULL with errno (EISDIR,
   EFBIG, ...) */
#define CF_FILE_MAX (1024 * 1024)
char *cf_read_file(const char *path);

/* config_autoscale.c: the tables' special cases */
extern const cf_key_t cf_prometheus_keys[];
extern const cf_key_t cf_rule_keys[];
extern const cf_key_t cf_schedule_keys[];
int cf_prometheus(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
int cf_rules(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
int cf_schedules(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
int cf_max_step(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
/* once the whole file is read: bounds and pointers, rules need prometheus */
int  cf_autoscale_finish(cfctx_t *c, scaler_config_t *cf, pool_config_t *p);
void cf_autoscale_free(pool_config_t *p);

/* config_upgrade.c: a pool's upgrade: block */
extern const cf_key_t cf_upgrade_keys[];
void                  cf_upgrade_defaults(pool_config_t *p);
/* config_warm.c: warm_pool */
extern const cf_key_t cf_warm_keys[];
int  cf_warm_pool(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key);
void cf_warm_defaults(pool_config_t *p);

#endif /* SCALER_CONFIG_YAML_H */
