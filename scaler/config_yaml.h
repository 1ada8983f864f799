/*
 * config_yaml.h: the YAML helpers the config parsers share (config.c,
 * config_autoscale.c).  Private to them.
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

/* the first error wins: "file:line: reason" (line of node n) */
void cf_error(cfctx_t *c, yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
yaml_node_t *cf_node(cfctx_t *c, int i);
/* 0, or -1 with "WHAT: expected a mapping|list|scalar" */
int cf_expect(cfctx_t *c, yaml_node_t *n, yaml_node_type_t t,
    const char *what);
/* a malloc'd copy of a scalar's value; NULL (error set) otherwise */
char *cf_scalar(cfctx_t *c, yaml_node_t *n);
int cf_int(cfctx_t *c, yaml_node_t *n, int lo, int hi, int *v);
/* nginx's durations, up to 1d */
int cf_duration(cfctx_t *c, yaml_node_t *n, uint64_t *ms);
/* a whole regular file of at most CF_FILE_MAX bytes, NUL-terminated and
   malloc'd; NULL with errno (EISDIR, EINVAL: not a regular file, EFBIG) */
#define CF_FILE_MAX  (1024 * 1024)
char *cf_read_file(const char *path);

/* config_autoscale.c */
int cf_prometheus(cfctx_t *c, yaml_node_t *m, scaler_config_t *cf);
int cf_rules(cfctx_t *c, yaml_node_t *seq, pool_config_t *p);
int cf_schedules(cfctx_t *c, yaml_node_t *seq, pool_config_t *p);
int cf_max_step(cfctx_t *c, yaml_node_t *v, pool_config_t *p);
/* once the whole file is read: bounds and pointers, rules need prometheus */
int cf_autoscale_finish(cfctx_t *c, scaler_config_t *cf, pool_config_t *p);
void cf_autoscale_free(pool_config_t *p);

#define FOR_PAIRS(c, map, k, v)                                              \
    for (yaml_node_pair_t *pr_ = (map)->data.mapping.pairs.start;            \
         pr_ < (map)->data.mapping.pairs.top                                 \
         && ((k) = cf_node(c, pr_->key), (v) = cf_node(c, pr_->value), 1);   \
         pr_++)

#define FOR_ITEMS(c, seq, n)                                                 \
    for (yaml_node_item_t *it_ = (seq)->data.sequence.items.start;           \
         it_ < (seq)->data.sequence.items.top                                \
         && ((n) = cf_node(c, *it_), 1);                                     \
         it_++)

#define KEY(k, name)                                                         \
    ((k)->type == YAML_SCALAR_NODE                                           \
     && strcmp((char *) (k)->data.scalar.value, name) == 0)

#endif /* SCALER_CONFIG_YAML_H */
