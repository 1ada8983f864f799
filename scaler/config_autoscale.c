/*
 * config_autoscale.c: the autoscale part of the configuration: the
 * top-level prometheus block and each pool's rules, schedules and
 * max_step (docs/autoscale.md), into the pool's autoscale_config_t.
 * Every error is "file:line: reason", as in config.c.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scaler.h"
#include "scaleset_record.h"
#include "config_yaml.h"


/* a file holding a secret: its first line */
static char *
cf_secret_file(cfctx_t *c, yaml_node_t *v, const char *what)
{
    char  *path, *text;

    if ((path = cf_scalar(c, v)) == NULL) {
        return NULL;
    }
    if ((text = cf_read_file(path)) == NULL) {
        cf_error(c, v, "%s \"%s\": %s", what, path, strerror(errno));
        free(path);
        return NULL;
    }
    free(path);
    text[strcspn(text, "\r\n")] = '\0';
    return text;
}


int
cf_prometheus(cfctx_t *c, yaml_node_t *m, scaler_config_t *cf)
{
    yaml_node_t  *k, *v;

    if (cf_expect(c, m, YAML_MAPPING_NODE, "prometheus") != 0) {
        return -1;
    }
    cf->prom_timeout_ms = 2000;
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "url")) {
            free(cf->prom_url);
            if ((cf->prom_url = cf_scalar(c, v)) == NULL) {
                return -1;
            }
            if (strncmp(cf->prom_url, "http://", 7) != 0
                && strncmp(cf->prom_url, "https://", 8) != 0)
            {
                cf_error(c, v, "prometheus url \"%s\": expected http:// or "
                         "https://", cf->prom_url);
                return -1;
            }
        } else if (KEY(k, "timeout")) {
            if (cf_duration(c, v, &cf->prom_timeout_ms) != 0) {
                return -1;
            }
            if (cf->prom_timeout_ms < 10 || cf->prom_timeout_ms > 60000) {
                cf_error(c, v, "prometheus timeout: expected 10ms..60s");
                return -1;
            }
        } else if (KEY(k, "username")) {
            free(cf->prom_username);
            if ((cf->prom_username = cf_scalar(c, v)) == NULL) {
                return -1;
            }
        } else if (KEY(k, "password")) {
            free(cf->prom_password);
            if ((cf->prom_password = cf_scalar(c, v)) == NULL) {
                return -1;
            }
        } else if (KEY(k, "password_file")) {
            free(cf->prom_password);
            cf->prom_password = cf_secret_file(c, v, "password_file");
            if (cf->prom_password == NULL) {
                return -1;
            }
        } else if (KEY(k, "bearer_token_file")) {
            free(cf->prom_token);
            cf->prom_token = cf_secret_file(c, v, "bearer_token_file");
            if (cf->prom_token == NULL) {
                return -1;
            }
        } else {
            cf_error(c, k, "unknown key \"%s\" in prometheus",
                     (char *) k->data.scalar.value);
            return -1;
        }
    }
    if (cf->prom_url == NULL) {
        cf_error(c, m, "prometheus needs url");
        return -1;
    }
    if (cf->prom_password && cf->prom_username == NULL) {
        cf_error(c, m, "prometheus password without username");
        return -1;
    }
    return 0;
}


static int
cf_name(cfctx_t *c, yaml_node_t *v, char *buf, size_t size, const char *what)
{
    char  *s;

    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    if (!scaleset_name_valid(s, strlen(s)) || strlen(s) >= size) {
        cf_error(c, v, "bad %s name \"%s\": expected [A-Za-z0-9_.-]{1,63}",
                 what, s);
        free(s);
        return -1;
    }
    snprintf(buf, size, "%s", s);
    free(s);
    return 0;
}


static int
cf_number(cfctx_t *c, yaml_node_t *v, double *d)
{
    char  *s, *end;

    if ((s = cf_scalar(c, v)) == NULL) {
        return -1;
    }
    errno = 0;
    *d = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno || !isfinite(*d)) {
        cf_error(c, v, "\"%s\" is not a number", s);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}


static int
cf_bool(cfctx_t *c, yaml_node_t *v, int *b)
{
    char  *s;

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


/* action: { change: N } | { percent: P } | { exact: N } */
static int
cf_action(cfctx_t *c, yaml_node_t *m, autoscale_rule_config_t *r)
{
    int           n = 0, val;
    yaml_node_t  *k, *v;

    if (cf_expect(c, m, YAML_MAPPING_NODE, "action") != 0) {
        return -1;
    }
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "change")) {
            r->action = AUTOSCALE_ACTION_CHANGE;
            if (cf_int(c, v, -SCALER_CAPACITY_MAX, SCALER_CAPACITY_MAX, &val) != 0) {
                return -1;
            }
        } else if (KEY(k, "percent")) {
            r->action = AUTOSCALE_ACTION_PERCENT;
            if (cf_int(c, v, -100, 10000, &val) != 0) {
                return -1;
            }
        } else if (KEY(k, "exact")) {
            r->action = AUTOSCALE_ACTION_EXACT;
            if (cf_int(c, v, 0, SCALER_CAPACITY_MAX, &val) != 0) {
                return -1;
            }
        } else {
            cf_error(c, k, "unknown action \"%s\": expected change, percent "
                     "or exact", (char *) k->data.scalar.value);
            return -1;
        }
        if (r->action != AUTOSCALE_ACTION_EXACT && val == 0) {
            cf_error(c, v, "an action of 0 never changes the capacity");
            return -1;
        }
        r->value = val;
        n++;
    }
    if (n != 1) {
        cf_error(c, m, "action: expected exactly one of change, percent, "
                 "exact");
        return -1;
    }
    return 0;
}


static int
cf_rule(cfctx_t *c, yaml_node_t *m, autoscale_rule_config_t *r)
{
    char         *s;
    int           have_op = 0, have_th = 0, have_action = 0;
    yaml_node_t  *k, *v;

    if (cf_expect(c, m, YAML_MAPPING_NODE, "rule") != 0) {
        return -1;
    }
    r->per_instance = 1;
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "name")) {
            if (cf_name(c, v, r->name, sizeof(r->name), "rule") != 0) {
                return -1;
            }
        } else if (KEY(k, "query")) {
            free((char *) r->query);
            if ((r->query = cf_scalar(c, v)) == NULL) {
                return -1;
            }
            if (r->query[0] == '\0') {
                cf_error(c, v, "empty query");
                return -1;
            }
        } else if (KEY(k, "operator")) {
            if ((s = cf_scalar(c, v)) == NULL) {
                return -1;
            }
            if (autoscale_op_parse(s, &r->op) != 0) {
                cf_error(c, v, "operator \"%s\": expected >, >=, < or <=", s);
                free(s);
                return -1;
            }
            free(s);
            have_op = 1;
        } else if (KEY(k, "threshold")) {
            if (cf_number(c, v, &r->threshold) != 0) {
                return -1;
            }
            have_th = 1;
        } else if (KEY(k, "for")) {
            if (cf_duration(c, v, &r->for_ms) != 0) {
                return -1;
            }
        } else if (KEY(k, "cooldown")) {
            if (cf_duration(c, v, &r->cooldown_ms) != 0) {
                return -1;
            }
        } else if (KEY(k, "action")) {
            if (cf_action(c, v, r) != 0) {
                return -1;
            }
            have_action = 1;
        } else if (KEY(k, "reduce")) {
            if ((s = cf_scalar(c, v)) == NULL) {
                return -1;
            }
            if (s[0] == '\0' || prom_reduce_parse(s, &r->reduce) != 0) {
                cf_error(c, v, "reduce \"%s\": expected sum, avg, max or min",
                         s);
                free(s);
                return -1;
            }
            free(s);
        } else if (KEY(k, "per_instance")) {
            if (cf_bool(c, v, &r->per_instance) != 0) {
                return -1;
            }
        } else {
            cf_error(c, k, "unknown key \"%s\" in rule",
                     (char *) k->data.scalar.value);
            return -1;
        }
    }
    if (r->name[0] == '\0' || r->query == NULL || !have_op || !have_th
        || !have_action)
    {
        cf_error(c, m, "rule%s%s needs %s", r->name[0] ? " " : "", r->name,
                 r->name[0] == '\0' ? "a name"
                 : r->query == NULL ? "a query"
                 : !have_op ? "an operator"
                 : !have_th ? "a threshold" : "an action");
        return -1;
    }
    return 0;
}


int
cf_rules(cfctx_t *c, yaml_node_t *seq, pool_config_t *p)
{
    size_t        i, n;
    yaml_node_t  *r;

    if (cf_expect(c, seq, YAML_SEQUENCE_NODE, "rules") != 0) {
        return -1;
    }
    n = (size_t) (seq->data.sequence.items.top
                  - seq->data.sequence.items.start);
    p->rules = calloc(n ? n : 1, sizeof(*p->rules));
    p->autoscale.nrules = 0;
    p->rules_line = seq->start_mark.line + 1;
    FOR_ITEMS(c, seq, r) {
        autoscale_rule_config_t *rc = &p->rules[p->autoscale.nrules++];

        if (cf_rule(c, r, rc) != 0) {
            return -1;
        }
        for (i = 0; i + 1 < p->autoscale.nrules; i++) {
            if (strcmp(p->rules[i].name, rc->name) == 0) {
                cf_error(c, r, "duplicate rule \"%s\"", rc->name);
                return -1;
            }
        }
    }
    return 0;
}


static int
cf_bounds(cfctx_t *c, yaml_node_t *m, autoscale_capacity_t *cap)
{
    int           v3[3] = { -1, -1, -1 }, i;
    yaml_node_t  *k, *v;

    static const char *const  names[3] = { "min", "max", "default" };

    if (cf_expect(c, m, YAML_MAPPING_NODE, "capacity") != 0) {
        return -1;
    }
    FOR_PAIRS(c, m, k, v) {
        for (i = 0; i < 3; i++) {
            if (KEY(k, names[i])) {
                break;
            }
        }
        if (i == 3) {
            cf_error(c, k, "unknown key \"%s\" in capacity",
                     (char *) k->data.scalar.value);
            return -1;
        }
        if (cf_int(c, v, 0, SCALER_CAPACITY_MAX, &v3[i]) != 0) {
            return -1;
        }
    }
    if (v3[0] < 0 || v3[1] < 0) {
        cf_error(c, m, "a schedule's capacity needs min and max");
        return -1;
    }
    if (v3[2] < 0) {
        v3[2] = v3[0];
    }
    if (v3[0] > v3[1] || v3[2] < v3[0] || v3[2] > v3[1]) {
        cf_error(c, m, "capacity: expected min <= default <= max, got %d, "
                 "%d, %d", v3[0], v3[2], v3[1]);
        return -1;
    }
    cap->min = v3[0];
    cap->max = v3[1];
    cap->def = v3[2];
    return 0;
}


static int
cf_cron(cfctx_t *c, yaml_node_t *v, cron_expr_t *e)
{
    char  *s, why[160];

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
cf_schedule(cfctx_t *c, yaml_node_t *m, autoscale_profile_config_t *pr)
{
    char         *s;
    yaml_node_t  *k, *v, *cron = NULL, *start = NULL, *end = NULL;
    yaml_node_t  *until = NULL, *cap = NULL;
    time_t       *t;

    if (cf_expect(c, m, YAML_MAPPING_NODE, "schedule") != 0) {
        return -1;
    }
    FOR_PAIRS(c, m, k, v) {
        if (KEY(k, "name")) {
            if (cf_name(c, v, pr->name, sizeof(pr->name), "schedule") != 0) {
                return -1;
            }
        } else if (KEY(k, "timezone")) {
            if ((s = cf_scalar(c, v)) == NULL) {
                return -1;
            }
            if (strlen(s) >= sizeof(pr->timezone) || !cron_tz_valid(s)) {
                cf_error(c, v, "unknown time zone \"%s\" (not in "
                         "/usr/share/zoneinfo)", s);
                free(s);
                return -1;
            }
            snprintf(pr->timezone, sizeof(pr->timezone), "%s", s);
            free(s);
        } else if (KEY(k, "cron")) {
            cron = v;
        } else if (KEY(k, "until")) {
            until = v;
        } else if (KEY(k, "start")) {
            start = v;
        } else if (KEY(k, "end")) {
            end = v;
        } else if (KEY(k, "capacity")) {
            cap = v;
        } else {
            cf_error(c, k, "unknown key \"%s\" in schedule",
                     (char *) k->data.scalar.value);
            return -1;
        }
    }
    if (pr->name[0] == '\0') {
        cf_error(c, m, "a schedule needs a name");
        return -1;
    }
    if (cap == NULL) {
        cf_error(c, m, "schedule %s needs a capacity", pr->name);
        return -1;
    }
    if (cf_bounds(c, cap, &pr->capacity) != 0) {
        return -1;
    }
    if ((cron != NULL) == (start != NULL || end != NULL)) {
        cf_error(c, m, "schedule %s: expected either cron (recurring) or "
                 "start and end (fixed dates)", pr->name);
        return -1;
    }
    if (cron) {
        pr->kind = AUTOSCALE_PROFILE_RECURRING;
        if (cf_cron(c, cron, &pr->cron) != 0) {
            return -1;
        }
        pr->has_until = until != NULL;
        return until ? cf_cron(c, until, &pr->until) : 0;
    }
    if (until) {
        cf_error(c, until, "until is for a recurring schedule (cron)");
        return -1;
    }
    if (start == NULL || end == NULL) {
        cf_error(c, m, "schedule %s needs both start and end", pr->name);
        return -1;
    }
    pr->kind = AUTOSCALE_PROFILE_FIXED;
    for (v = start, t = &pr->start; v; v = v == start ? end : NULL,
                                       t = &pr->end)
    {
        if ((s = cf_scalar(c, v)) == NULL) {
            return -1;
        }
        if (cron_parse_datetime(s, pr->timezone, t) != 0) {
            cf_error(c, v, "\"%s\": expected YYYY-MM-DD HH:MM[:SS] "
                     "(or with Z / +HH:MM)", s);
            free(s);
            return -1;
        }
        free(s);
    }
    if (pr->end <= pr->start) {
        cf_error(c, end, "schedule %s ends before it starts", pr->name);
        return -1;
    }
    return 0;
}


int
cf_schedules(cfctx_t *c, yaml_node_t *seq, pool_config_t *p)
{
    size_t        i, n;
    yaml_node_t  *s;

    if (cf_expect(c, seq, YAML_SEQUENCE_NODE, "schedules") != 0) {
        return -1;
    }
    n = (size_t) (seq->data.sequence.items.top
                  - seq->data.sequence.items.start);
    p->profiles = calloc(n ? n : 1, sizeof(*p->profiles));
    p->autoscale.nprofiles = 0;
    FOR_ITEMS(c, seq, s) {
        autoscale_profile_config_t *pr =
            &p->profiles[p->autoscale.nprofiles++];

        if (cf_schedule(c, s, pr) != 0) {
            return -1;
        }
        for (i = 0; i + 1 < p->autoscale.nprofiles; i++) {
            if (strcmp(p->profiles[i].name, pr->name) == 0) {
                cf_error(c, s, "duplicate schedule \"%s\"", pr->name);
                return -1;
            }
        }
    }
    return 0;
}


int
cf_max_step(cfctx_t *c, yaml_node_t *v, pool_config_t *p)
{
    int  n;

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
        snprintf(c->err, c->errlen, "%s:%lu: pool %s has rules but there is "
                 "no prometheus url", c->file, p->rules_line, p->name);
        c->failed = 1;
        return -1;
    }
    return 0;
}


void
cf_autoscale_free(pool_config_t *p)
{
    size_t  i;

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
