/*
 * config_autoscale.c: the autoscale part of the configuration: the
 * top-level prometheus block and each pool's rules, schedules and
 * max_step (docs/autoscale.md), into the pool's autoscale_config_t.
 * Key tables as in config.c (config_yaml.h); every error is
 * "file:line: reason".
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scaler.h"
#include "scaleset_record.h"
#include "config_yaml.h"

/* a schedule while it is read: the keys that depend on others (cron,
   start and end are read in the schedule's time zone) are kept as nodes
   until the whole mapping is read */
typedef struct {
    autoscale_profile_config_t *pr;
    yaml_node_t                *cron, *until, *start, *end, *capacity;
} schedule_ctx_t;

/* a schedule's capacity: ints, -1 while not given */
typedef struct {
    int min, max, def;
} bounds_t;

static int prom_url(cfctx_t *c, yaml_node_t *v, void *conf,
                    const cf_key_t *key);
static int rule_name(cfctx_t *c, yaml_node_t *v, void *conf,
                     const cf_key_t *key);
static int rule_query(cfctx_t *c, yaml_node_t *v, void *conf,
                      const cf_key_t *key);
static int rule_operator(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int rule_threshold(cfctx_t *c, yaml_node_t *v, void *conf,
                          const cf_key_t *key);
static int rule_action(cfctx_t *c, yaml_node_t *v, void *conf,
                       const cf_key_t *key);
static int action_value(cfctx_t *c, yaml_node_t *v, void *conf,
                        const cf_key_t *key);
static int rule_reduce(cfctx_t *c, yaml_node_t *v, void *conf,
                       const cf_key_t *key);
static int schedule_name(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int schedule_timezone(cfctx_t *c, yaml_node_t *v, void *conf,
                             const cf_key_t *key);
static int schedule_node(cfctx_t *c, yaml_node_t *v, void *conf,
                         const cf_key_t *key);
static int schedule_finish(cfctx_t *c, yaml_node_t *m, schedule_ctx_t *s);
static int cf_cron(cfctx_t *c, yaml_node_t *v, cron_expr_t *e);

/* --- the tables -------------------------------------------------------- */

const cf_key_t cf_prometheus_keys[] = {
    { "url", CF_SCALAR, prom_url, NULL, 0, 0, 0 },
    { "timeout", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(scaler_config_t, prom_timeout_ms), 10, 60000 },
    { "username", CF_SCALAR, cf_set_str, NULL,
      CF_AT(scaler_config_t, prom_username), 0, 0 },
    { "password", CF_SCALAR, cf_set_str, NULL,
      CF_AT(scaler_config_t, prom_password), 0, 0 },
    { "password_file", CF_SCALAR, cf_set_secret_file, NULL,
      CF_AT(scaler_config_t, prom_password), 0, 0 },
    { "bearer_token_file", CF_SCALAR, cf_set_secret_file, NULL,
      CF_AT(scaler_config_t, prom_token), 0, 0 },
    CF_END
};

/* action: { change: N } | { percent: P } | { exact: N } */
static const cf_key_t action_keys[] = {
    { "change", CF_SCALAR, action_value, NULL, AUTOSCALE_ACTION_CHANGE,
      -SCALER_CAPACITY_MAX, SCALER_CAPACITY_MAX },
    { "percent", CF_SCALAR, action_value, NULL, AUTOSCALE_ACTION_PERCENT, -100,
      10000 },
    { "exact", CF_SCALAR, action_value, NULL, AUTOSCALE_ACTION_EXACT, 0,
      SCALER_CAPACITY_MAX },
    CF_END
};

const cf_key_t cf_rule_keys[] = {
    { "name", CF_SCALAR, rule_name, NULL, 0, 0, 0 },
    { "query", CF_SCALAR, rule_query, NULL, 0, 0, 0 },
    { "operator", CF_SCALAR, rule_operator, NULL, 0, 0, 0 },
    { "threshold", CF_SCALAR, rule_threshold, NULL, 0, 0, 0 },
    { "for", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(autoscale_rule_config_t, for_ms), 0, 0 },
    { "cooldown", CF_SCALAR, cf_set_duration, NULL,
      CF_AT(autoscale_rule_config_t, cooldown_ms), 0, 0 },
    { "action", CF_MAP, rule_action, action_keys, 0, 0, 0 },
    { "reduce", CF_SCALAR, rule_reduce, NULL, 0, 0, 0 },
    { "per_instance", CF_SCALAR, cf_set_bool, NULL,
      CF_AT(autoscale_rule_config_t, per_instance), 0, 0 },
    CF_END
};

static const cf_key_t bounds_keys[] = {
    { "min", CF_SCALAR, cf_set_int, NULL, CF_AT(bounds_t, min), 0,
      SCALER_CAPACITY_MAX },
    { "max", CF_SCALAR, cf_set_int, NULL, CF_AT(bounds_t, max), 0,
      SCALER_CAPACITY_MAX },
    { "default", CF_SCALAR, cf_set_int, NULL, CF_AT(bounds_t, def), 0,
      SCALER_CAPACITY_MAX },
    CF_END
};

const cf_key_t cf_schedule_keys[] = {
    { "name", CF_SCALAR, schedule_name, NULL, 0, 0, 0 },
    { "timezone", CF_SCALAR, schedule_timezone, NULL, 0, 0, 0 },
    { "cron", CF_SCALAR, schedule_node, NULL, CF_AT(schedule_ctx_t, cron), 0,
      0 },
    { "until", CF_SCALAR, schedule_node, NULL, CF_AT(schedule_ctx_t, until), 0,
      0 },
    { "start", CF_SCALAR, schedule_node, NULL, CF_AT(schedule_ctx_t, start), 0,
      0 },
    { "end", CF_SCALAR, schedule_node, NULL, CF_AT(schedule_ctx_t, end), 0, 0 },
    { "capacity", CF_MAP, schedule_node, bounds_keys,
      CF_AT(schedule_ctx_t, capacity), 0, 0 },
    CF_END
};

/* --- prometheus -------------------------------------------------------- */

int
cf_prometheus(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;
    uint64_t         seen;

    cf->prom_timeout_ms = 2000;
    if (cf_map(c, v, key->sub, cf, "prometheus", &seen) != 0) {
        return -1;
    }
    if (cf_given(key->sub, seen, "password")
        && cf_given(key->sub, seen, "password_file"))
    {
        cf_error(c, v, "prometheus: password and password_file both given");
        return -1;
    }
    if (cf->prom_url == NULL) {
        cf_error(c, v, "prometheus needs url");
        return -1;
    }
    if (cf->prom_password && cf->prom_username == NULL) {
        cf_error(c, v, "prometheus password without username");
        return -1;
    }
    return 0;
}

static int
prom_url(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    scaler_config_t *cf = conf;

    (void) key;
    if ((cf->prom_url = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (strncmp(cf->prom_url, "http://", 7) != 0
        && strncmp(cf->prom_url, "https://", 8) != 0)
    {
        cf_error(c, v, "prometheus url \"%s\": expected http:// or https://",
                 cf->prom_url);
        return -1;
    }
    return 0;
}

/* a file holding a secret: its first line */
/* --- rules ------------------------------------------------------------- */

int
cf_rules(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t           *p = conf;
    autoscale_rule_config_t *rc;
    yaml_node_t             *m;
    uint64_t                 seen;
    size_t                   i;
    const char              *need;

    p->rules = xcalloc(cf_items(v) + 1, sizeof(*p->rules));
    p->autoscale.nrules = 0;
    p->rules_line = v->start_mark.line + 1;
    FOR_ITEMS(c, v, m)
    {
        rc = &p->rules[p->autoscale.nrules++];
        rc->per_instance = 1;
        if (cf_map(c, m, key->sub, rc, "rule", &seen) != 0) {
            return -1;
        }
        need = rc->name[0] == '\0'                      ? "a name"
               : rc->query == NULL                      ? "a query"
               : !cf_given(key->sub, seen, "operator")  ? "an operator"
               : !cf_given(key->sub, seen, "threshold") ? "a threshold"
               : !cf_given(key->sub, seen, "action")    ? "an action"
                                                        : NULL;
        if (need) {
            cf_error(c, m, "rule%s%s needs %s", rc->name[0] ? " " : "",
                     rc->name, need);
            return -1;
        }
        for (i = 0; i + 1 < p->autoscale.nrules; i++) {
            if (strcmp(p->rules[i].name, rc->name) == 0) {
                cf_error(c, m, "duplicate rule \"%s\"", rc->name);
                return -1;
            }
        }
    }
    return 0;
}

static int
rule_name(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    autoscale_rule_config_t *r = conf;

    (void) key;
    return cf_name(c, v, r->name, sizeof(r->name) - 1, "rule");
}

static int
rule_query(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    autoscale_rule_config_t *r = conf;

    (void) key;
    if ((r->query = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (r->query[0] == '\0') {
        cf_error(c, v, "empty query");
        return -1;
    }
    return 0;
}

static int
rule_operator(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    autoscale_rule_config_t *r = conf;
    char                    *s;

    (void) key;
    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (autoscale_op_parse(s, &r->op) != 0) {
        cf_error(c, v, "operator \"%s\": expected >, >=, < or <=", s);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

static int
rule_threshold(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    autoscale_rule_config_t *r = conf;
    char                    *s, *end;

    (void) key;
    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    errno = 0;
    r->threshold = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno || !isfinite(r->threshold)) {
        cf_error(c, v, "\"%s\" is not a number", s);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

static int
rule_action(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    autoscale_rule_config_t *r = conf;
    uint64_t                 seen;

    if (cf_map(c, v, key->sub, r, "action", &seen) != 0) {
        return -1;
    }
    if (seen == 0 || (seen & (seen - 1)) != 0) {
        cf_error(c, v,
                 "action: expected exactly one of change, percent, "
                 "exact");
        return -1;
    }
    return 0;
}

/* the action's kind is the table's offset field */
static int
action_value(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    autoscale_rule_config_t *r = conf;
    int                      val;

    if (cf_int(c, v, (int) key->lo, (int) key->hi, &val) != 0) {
        return -1;
    }
    r->action = (autoscale_action_kind_t) key->offset;
    if (r->action != AUTOSCALE_ACTION_EXACT && val == 0) {
        cf_error(c, v, "an action of 0 never changes the capacity");
        return -1;
    }
    r->value = val;
    return 0;
}

static int
rule_reduce(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    autoscale_rule_config_t *r = conf;
    char                    *s;

    (void) key;
    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (s[0] == '\0' || prom_reduce_parse(s, &r->reduce) != 0) {
        cf_error(c, v, "reduce \"%s\": expected sum, avg, max or min", s);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

/* --- schedules --------------------------------------------------------- */

int
cf_schedules(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;
    schedule_ctx_t s;
    yaml_node_t   *m;
    size_t         i;

    p->profiles = xcalloc(cf_items(v) + 1, sizeof(*p->profiles));
    p->autoscale.nprofiles = 0;
    FOR_ITEMS(c, v, m)
    {
        memset(&s, 0, sizeof(s));
        s.pr = &p->profiles[p->autoscale.nprofiles++];
        if (cf_map(c, m, key->sub, &s, "schedule", NULL) != 0
            || schedule_finish(c, m, &s) != 0)
        {
            return -1;
        }
        for (i = 0; i + 1 < p->autoscale.nprofiles; i++) {
            if (strcmp(p->profiles[i].name, s.pr->name) == 0) {
                cf_error(c, m, "duplicate schedule \"%s\"", s.pr->name);
                return -1;
            }
        }
    }
    return 0;
}

static int
schedule_name(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    schedule_ctx_t *s = conf;

    (void) key;
    return cf_name(c, v, s->pr->name, sizeof(s->pr->name) - 1, "schedule");
}

static int
schedule_timezone(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    schedule_ctx_t *s = conf;
    char           *tz;

    (void) key;
    if ((tz = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (strlen(tz) >= sizeof(s->pr->timezone) || !cron_tz_valid(tz)) {
        cf_error(c, v,
                 "unknown time zone \"%s\" (not a TZif file in "
                 "/usr/share/zoneinfo)",
                 tz);
        free(tz);
        return -1;
    }
    snprintf(s->pr->timezone, sizeof(s->pr->timezone), "%s", tz);
    free(tz);
    return 0;
}

/* kept for schedule_finish() */
static int
schedule_node(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    (void) c;
    *(yaml_node_t **) ((char *) conf + key->offset) = v;
    return 0;
}

static int
cf_cron(cfctx_t *c, yaml_node_t *v, cron_expr_t *e)
{
    char *s, why[160];

    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (cron_parse(s, e, why, sizeof(why)) != 0) {
        cf_error(c, v, "cron \"%s\": %s", s, why);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

static int
schedule_finish(cfctx_t *c, yaml_node_t *m, schedule_ctx_t *s)
{
    autoscale_profile_config_t *pr = s->pr;
    bounds_t                    b = { -1, -1, -1 };
    yaml_node_t                *v;
    time_t                     *t;
    char                       *text;

    if (pr->name[0] == '\0') {
        cf_error(c, m, "a schedule needs a name");
        return -1;
    }
    if (s->capacity == NULL) {
        cf_error(c, m, "schedule %s needs a capacity", pr->name);
        return -1;
    }
    if (cf_map(c, s->capacity, bounds_keys, &b, "capacity", NULL) != 0) {
        return -1;
    }
    if (b.min < 0 || b.max < 0) {
        cf_error(c, s->capacity, "a schedule's capacity needs min and max");
        return -1;
    }
    if (b.def < 0) {
        b.def = b.min;
    }
    if (b.min > b.max || b.def < b.min || b.def > b.max) {
        cf_error(c, s->capacity,
                 "capacity: expected min <= default <= max, "
                 "got %d, %d, %d",
                 b.min, b.def, b.max);
        return -1;
    }
    pr->capacity.min = b.min;
    pr->capacity.max = b.max;
    pr->capacity.def = b.def;

    if ((s->cron != NULL) == (s->start != NULL || s->end != NULL)) {
        cf_error(c, m,
                 "schedule %s: expected either cron (recurring) or "
                 "start and end (fixed dates)",
                 pr->name);
        return -1;
    }
    if (s->cron) {
        pr->kind = AUTOSCALE_PROFILE_RECURRING;
        if (cf_cron(c, s->cron, &pr->cron) != 0) {
            return -1;
        }
        pr->has_until = s->until != NULL;
        return s->until ? cf_cron(c, s->until, &pr->until) : 0;
    }
    if (s->until) {
        cf_error(c, s->until, "until is for a recurring schedule (cron)");
        return -1;
    }
    if (s->start == NULL || s->end == NULL) {
        cf_error(c, m, "schedule %s needs both start and end", pr->name);
        return -1;
    }
    pr->kind = AUTOSCALE_PROFILE_FIXED;
    for (v = s->start, t = &pr->start; v;
         v = v == s->start ? s->end : NULL, t = &pr->end)
    {
        if ((text = cf_scalar(c, v)) == NULL) {
            return -1;
        }
        if (cron_parse_datetime(text, pr->timezone, t) != 0) {
            cf_error(c, v,
                     "\"%s\": expected YYYY-MM-DD HH:MM[:SS] "
                     "(or with Z / +HH:MM)",
                     text);
            free(text);
            return -1;
        }
        free(text);
    }
    if (pr->end <= pr->start) {
        cf_error(c, s->end, "schedule %s ends before it starts", pr->name);
        return -1;
    }
    return 0;
}

/* --- the pool ---------------------------------------------------------- */

int
cf_max_step(cfctx_t *c, yaml_node_t *v, void *conf, const cf_key_t *key)
{
    pool_config_t *p = conf;
    int            n;

    (void) key;
    if (cf_int(c, v, 0, SCALER_CAPACITY_MAX, &n) != 0) {
        return -1;
    }
    p->autoscale.max_step = n;
    return 0;
}

/* after the whole file: the default profile and the pointers */
int
cf_autoscale_finish(cfctx_t *c, scaler_config_t *cf, pool_config_t *p)
{
    p->autoscale.capacity.min = p->cap_min;
    p->autoscale.capacity.max = p->cap_max;
    p->autoscale.capacity.def = p->cap_default;
    p->autoscale.rules = p->rules;
    p->autoscale.profiles = p->profiles;

    if (p->autoscale.nrules && cf->prom_url == NULL) {
        c->failed = 0;
        snprintf(c->err, c->errlen,
                 "%s:%lu: pool %s has rules but there is "
                 "no prometheus url",
                 c->file, p->rules_line, p->name);
        c->failed = 1;
        return -1;
    }
    return 0;
}

void
cf_autoscale_free(pool_config_t *p)
{
    size_t i;

    if (p->rules) {
        for (i = 0; i < p->autoscale.nrules; i++) {
            free((char *) p->rules[i].query);
        }
    }
    free(p->rules);
    free(p->profiles);
}

int
config_autoscaled(const pool_config_t *p)
{
    return p->autoscale.nrules > 0 || p->autoscale.nprofiles > 0;
}
