/*
 * ctl.h: what scalesetctl's commands share (scalesetctl.c): the API
 * request, its failure, the output.  One file per group of commands.
 */

#ifndef SCALESETCTL_H
#define SCALESETCTL_H

#include <jansson.h>

#define EXIT_REFUSED     1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3

extern int as_json;

/* method path [body] on the API: the HTTP status (0: unreachable, curl's
   reason printed) and the decoded answer in *out */
long request(const char *method, const char *path, const char *body,
             json_t **out);
/* the exit status of a request that did not succeed (the API's message
   printed); frees j */
int  fail(long code, json_t *j);
void print_json(json_t *j);

/* ctl_upgrade.c */
int cmd_upgrade(const char *pool, int wait);
int cmd_upgrade_status(const char *pool);
int cmd_upgrade_cancel(const char *pool);
int cmd_rollback(const char *pool, int wait);

#endif /* SCALESETCTL_H */
