/*
 * scaleset-scaler: private header.  One block of prototypes per file.
 */

#ifndef SCALER_H
#define SCALER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "autoscale.h"
#include "expo.h"
#include "scaleset_record.h"

#define SCALER_NS        "https://scaleset.dev/xmlns/instance/1"
#define SCALER_NS_PREFIX "scaleset"
#define SCALER_MAX_ZONES 16
/* the most instances a pool (or any capacity in its config) may have:
   the cloud scale sets' maximum */
#define SCALER_CAPACITY_MAX 1000

typedef enum {
    SCALE_IN_DEFAULT = 0,
    SCALE_IN_OLDEST,
    SCALE_IN_NEWEST
} scale_in_policy_t;

typedef struct {
    char      *name;
    char      *uri;
} zone_config_t;

typedef enum {
    ADDR_STATIC = 0,                      /* from cidr + port or ports */
    ADDR_LEASE,                           /* libvirt network DHCP lease */
    ADDR_AGENT                            /* qemu guest agent */
} addr_mode_t;

typedef struct {
    char              *name;
    zone_config_t      zones[SCALER_MAX_ZONES];
    int                nzones;
    char              *template_path;
    char              *template_text;     /* read at load time */
    char              *version;
    char              *vol_pool;          /* template.volume: storage pool */
    char              *vol_backing;       /* its base volume, or NULL */
    char              *vol_format;        /* the base's format: qcow2, raw */
    addr_mode_t        addr_mode;
    uint32_t           net;               /* static: first address, host order */
    int                prefix_len;
    int                port;
    int                port_lo, port_hi;  /* ports: range variant */
    int                readiness_tcp;     /* 1: register after a TCP connect */
    char              *health_uri;        /* health.uri: HTTP readiness */
    uint64_t           health_timeout_ms; /* health.timeout (1s) */
    uint64_t           health_grace_ms;   /* health.grace: 0 = none */
    int                cap_min, cap_max, cap_default;
    scale_in_policy_t  scale_in;
    uint64_t           drain_timeout_ms;
    /* autoscale (config_autoscale.c): rules, schedules, max_step; the
       arrays and the queries are owned here, autoscale points at them */
    autoscale_config_t          autoscale;
    autoscale_rule_config_t    *rules;
    autoscale_profile_config_t *profiles;
    unsigned long               rules_line;  /* for "rules need prometheus" */
} pool_config_t;

typedef struct {
    char           *file;
    char           *redis_host;
    int             redis_port;
    char           *prefix;
    char           *api_host;
    int             api_port;
    char           *token;               /* from token_file, or NULL */
    uint64_t        api_timeout_ms;      /* api.timeout */
    char           *ui_dir;              /* api.ui, NULL: ui_default_dir() */
    uint64_t        interval_ms;
    char           *prom_url;            /* prometheus.url, or NULL */
    uint64_t        prom_timeout_ms;
    char           *prom_username;       /* basic auth, optional */
    char           *prom_password;
    char           *prom_token;          /* from bearer_token_file */
    pool_config_t  *pools;
    int             npools;
} scaler_config_t;

/* config.c */
/* loads and validates FILE; NULL with "file:line: reason" in err */
scaler_config_t *config_load(const char *file, char *err, size_t errlen);
void config_free(scaler_config_t *cf);
pool_config_t *config_pool(scaler_config_t *cf, const char *name);
/* 1 when the pool has rules or schedules (an autoscale runner) */
int config_autoscaled(const pool_config_t *p);

/* policy.c */
typedef struct {
    const char  *id;
    int          zone;        /* index into the pool's zones */
    long         seq;         /* creation order (the id's number) */
} policy_instance_t;

/* zone for a new instance: fewest instances among usable ones; -1: none */
int policy_place(const int *count, const int *usable, int nzones);
/* index into inst[] of the instance to remove next; -1 when n == 0 */
int policy_scale_in(const policy_instance_t *inst, int n, int nzones,
    scale_in_policy_t policy);
int policy_parse_name(const char *s, scale_in_policy_t *p);

/* template.c */
/* XML-escapes s into a malloc'd string */
char *template_escape(const char *s);
/* replaces {{key}} by XML-escaped values; unknown keys stay; malloc'd */
char *template_render(const char *tpl, const char *const *keys,
    const char *const *vals, int n);
/* xml with element added to its <metadata> (created before </domain>
   when missing); malloc'd, NULL when xml has no </domain> */
char *template_add_metadata(const char *xml, const char *element);

/* addr.c */
/* the n-th static address (0-based) of the pool as "A.B.C.D:PORT";
   -1 when the range is exhausted.  Modes lease and agent have no address
   before the guest runs: "pending:N", distinct per n, never registered */
int addr_static(const pool_config_t *p, int n, char *buf, size_t size);
/* 1 when ip (IPv4, host order), a guest's own address in mode lease or
   agent, may be its instance's address: inside address.cidr when the
   pool names one; else (lease only; agent needs cidr) anything but 0/8,
   loopback, link-local, multicast and 240/4 */
int addr_guest_ok(const pool_config_t *p, uint32_t ip);

/* ready.c */
/* 1 when address answers: a TCP connect, or with uri a GET answered 2xx
   or 3xx, within timeout_ms; 0 with why ("connect", "status 503", ...) */
int ready_check(const char *address, const char *uri, uint64_t timeout_ms,
    char *why, size_t whylen);

/* virt_xml.c */
/* our tag in a domain's <metadata>, decoded */
typedef struct {
    char   pool[64];
    char   id[64];
    char   zone[64];
    char   version[64];
    char   address[80];
    char   mode[16];
    char   port[8];
} virt_tag_info_t;

typedef struct {
    virt_tag_info_t  info;
    char             volume[4096];      /* the overlay's path */
} virt_tag_t;

void virt_xml_init(void);
/* 0 when xml is an instance element (in SCALER_NS or, as libvirt returns
   it, in none) with pool, id and zone
   (other attributes "" when absent); -1 otherwise or when a value does
   not fit */
int virt_tag_parse(const char *xml, virt_tag_t *t);
/* a storage pool's <target><path>, decoded, malloc'd; NULL when none */
char *virt_pool_target(const char *pool_xml);

/* virt.c */
typedef struct {
    char   id[64];
    char   zone[64];
    char   version[64];
    char   address[80];
    int    active;
    int    stats;                   /* running: cpu_s and mem_bytes set */
    double cpu_s;                   /* libvirt's cpu.time */
    unsigned long long mem_bytes;   /* the balloon's current size */
} virt_instance_t;

typedef enum { VIRT_LIVE = 0, VIRT_FAILED, VIRT_LEFT } virt_health_t;

/* an owned domain in libvirt state/reason (virDomainGetState): a defined
   domain that is not running is failed (removed), unless being_created
   (this process is between define and start); shut off by a migration,
   a save or a snapshot revert it is left (not listed, never touched) */
virt_health_t virt_classify(int state, int reason, int being_created);

typedef struct virt_conn virt_conn_t;
virt_conn_t *virt_open(const char *uri);
void virt_close(virt_conn_t *vc);
int virt_ok(virt_conn_t *vc);
/* owned, live instances of pool p in zone; returns count or -1; *out
   malloc'd.  Failed ones (virt_classify) are removed, not listed.  In
   modes lease/agent, address is the guest's IPv4:port once known, else
   "": the first address libvirt reports that addr_guest_ok() accepts
   (others are logged, once while they stay the same).  Running ones
   carry libvirt's CPU time and memory (stats) */
int virt_list(virt_conn_t *vc, const pool_config_t *p, const char *zone,
    virt_instance_t **out);
int virt_create(virt_conn_t *vc, const pool_config_t *p, const char *zone,
    const char *id, const char *address, char *err, size_t errlen);
int virt_delete(virt_conn_t *vc, const char *pool, const char *id);

/* registry.c */
typedef struct registry registry_t;
registry_t *registry_open(const char *host, int port, const char *prefix);
void registry_close(registry_t *r);
/* member ids/records of pool; -1 when Redis is unreachable */
int registry_members(registry_t *r, const char *pool, char ***ids,
    char ***recs);
int registry_set(registry_t *r, const char *pool, const char *id,
    const char *rec);
int registry_del(registry_t *r, const char *pool, const char *id);
/* rec has "drain": also records when the drain began (kept if set) */
int registry_set_drain(registry_t *r, const char *pool, const char *id,
    const char *rec, uint64_t since_ms);
/* when the drain of id began (UNIX ms), 0 when unknown */
uint64_t registry_drain_since(registry_t *r, const char *pool,
    const char *id);
int registry_capacity_get(registry_t *r, const char *pool, int *cap);
int registry_capacity_set(registry_t *r, const char *pool, int cap);
/* the next instance number: above every number used so far and above
   `above` (adopted instances) */
long registry_next_seq(registry_t *r, const char *pool, long above);
/* sum of conns over every gateway health report for id; -1: none.  A
   record the codec refuses (a counter out of range, ...) is skipped and
   logged; the sum saturates below REGISTRY_CONNS_UNKNOWN.  When the
   reports cannot all be read (Redis unreachable or answering an error,
   more than REGISTRY_GATEWAYS_MAX health keys) the connections are
   unknown: REGISTRY_CONNS_UNKNOWN, which counts as busy (a drain waits
   for its drain_timeout) */
#define REGISTRY_CONNS_UNKNOWN LONG_MAX
#define REGISTRY_GATEWAYS_MAX  1024
long registry_conns(registry_t *r, const char *pool, const char *id);
/* adds the conns of health record rec to *sum (-1: no record yet), as
   registry_conns() sums them, saturating; -1 with *err when the codec
   refuses rec (*sum unchanged) */
int registry_conns_add(long *sum, const char *rec, size_t len,
    scaleset_error_t *err);
/* the highest instance number registry_next_seq() hands out: POOL-N must
   be a valid id */
#define REGISTRY_SEQ_MAX 999999999L
void registry_free_list(char **l, int n);

/* registry_async.c: the event loop's Redis writes, non-blocking (hiredis
   async on the loop's event_base).  Each calls done(ok, arg) exactly once,
   on the loop (never from inside the call): ok 1 when Redis confirmed, 0
   when it failed, was unreachable or did not answer within
   REGISTRY_ASYNC_TIMEOUT_MS (the connection is then dropped and made
   again by the next operation; the write may still take effect if Redis
   was only slow).  The effects are registry_capacity_set()'s and
   registry_del()'s. */
#define REGISTRY_ASYNC_TIMEOUT_MS 1000
struct event_base;
typedef struct registry_async registry_async_t;
typedef void (*registry_async_done_t)(int ok, void *arg);
registry_async_t *registry_async_open(struct event_base *base,
    const char *host, int port, const char *prefix);
/* the pending operations fail (done(0, arg)) before it returns */
void registry_async_close(registry_async_t *ra);
void registry_async_capacity_set(registry_async_t *ra, const char *pool,
    int cap, registry_async_done_t done, void *arg);
/* the member-removal transaction of the write protocol */
void registry_async_member_del(registry_async_t *ra, const char *pool,
    const char *id, registry_async_done_t done, void *arg);

/* reconcile.c */
typedef enum {
    INST_CREATING = 0, INST_BOOTING, INST_RUNNING, INST_DRAINING,
    INST_DELETING
} inst_state_t;

typedef struct {
    char          id[64];
    int           zone;
    long          seq;
    inst_state_t  state;
    char          address[80];
    uint64_t      drain_since;
    uint64_t      since;        /* created or first seen (now_ms()) */
    int           present;
    int           stats;        /* cpu_s, mem_bytes from this pass's list */
    double        cpu_s;
    unsigned long long mem_bytes;
} instance_t;

/* what went wrong, for scaleset_scaler_errors_total{pool,kind} */
typedef enum {
    ERR_LIBVIRT = 0,        /* a zone's libvirt did not answer a pass */
    ERR_REDIS,              /* a Redis command of a pass failed */
    ERR_CREATE,             /* an instance could not be created */
    ERR_DELETE,             /* an instance's domain could not be deleted */
    ERR_ADDRESS,            /* no free address for a new instance */
    ERR_KIND_COUNT
} err_kind_t;

/* "libvirt", "redis", "create", "delete", "address" */
const char *err_kind_name(int kind);

typedef struct {
    pool_config_t  *cf;
    virt_conn_t    *conns[SCALER_MAX_ZONES];
    int             capacity;
    instance_t     *inst;
    int             ninst, cinst;
    int             redis_ok;
    int             zone_down[SCALER_MAX_ZONES];
    unsigned long   actions_up, actions_down;
    unsigned long   repairs;            /* not ready within health.grace */
    unsigned long   errors[ERR_KIND_COUNT];
    unsigned        cap_gen;             /* bumped by every capacity set */
    char          **del_ids;             /* API deletions for the pass */
    int             ndel;
} pool_state_t;

/*
 * The passes run on their own thread (reconcile.c) with their own Redis
 * connection, so libvirt and Redis never block the event loop.  The
 * thread works on a private copy of each pool's state and publishes it
 * under lock; the loop (API, autoscale, metrics) reads and changes the
 * published state under the same lock (reconcile_lock()).
 */
typedef struct {
    scaler_config_t  *cf;
    registry_t       *reg;               /* reconcile_init()'s */
    registry_t       *preg;              /* the pass thread's */
    registry_async_t *areg;              /* the loop's writes (main.c) */
    pool_state_t     *pools;
    int               npools;
    struct reconcile_thread_s *thread;
} scaler_t;

/* a pool's capacity is prev's pool of that name's (a reload: no Redis on
   the loop), else the one stored in Redis, else its default */
int reconcile_init(scaler_t *s, scaler_config_t *cf, scaler_t *prev);
/* one pass of every pool, here (before the thread runs, or in tests) */
void reconcile_pass(scaler_t *s);
/* one pool's pass on ps, with the pass connection s->preg */
void reconcile_pool_pass(scaler_t *s, pool_state_t *ps);
/* the pass thread: done() is called on base's loop after every pass */
struct event_base;
int reconcile_start(scaler_t *s, struct event_base *base,
    void (*done)(scaler_t *s, unsigned long passes));
/* a pass as soon as the current one (if any) ends */
void reconcile_kick(scaler_t *s);
/* waits for the current pass to end, then stops the thread */
void reconcile_stop(scaler_t *s);
/* the published state: held by the loop while it reads or changes it
   (recursive) */
void reconcile_lock(scaler_t *s);
void reconcile_unlock(scaler_t *s);
/* under the lock: the API deleted id (deregistered): the pass deletes
   its domain */
void reconcile_delete_later(scaler_t *s, pool_state_t *ps, const char *id);
void reconcile_free(scaler_t *s);
pool_state_t *reconcile_pool(scaler_t *s, const char *name);
const char *inst_state_name(inst_state_t st);
int pool_actual(const pool_state_t *ps);

/* api.c */
struct event_base;
int api_start(struct event_base *base, scaler_t *s);
/* after a reload that kept the server: the new api.timeout */
void api_reconfigure(void);
void api_stop(void);
/* the body of PUT .../capacity, {"capacity":N}: 0 with *cap, or -1 with
   why (a JSON error, "\"capacity\" must be an integer") */
int api_capacity_body(const char *body, size_t len, long long *cap,
    char *why, size_t whylen);

/* api_http.c: what the API's HTTP server lets in */
#define API_TOKEN_MAX    1024           /* api.token_file's token */
#define API_HEADERS_MAX  8192           /* a request's head */
#define API_BODY_MAX     16384          /* a request's body */
struct evhttp;
/* evhttp's limits (head, body, read/write timeout) and the gate: when
   token() returns a token, a connection whose first request's head does
   not carry it passes that head without its body (nothing after it is
   read) and no more; token() is asked for each connection */
void api_http_limits(struct evhttp *http, uint64_t timeout_ms,
    const char *(*token)(void));
/* after evhttp_free(): the gates of connections it freed */
void api_http_close(void);
/* 1 when authorization is "Bearer TOKEN" (the scheme in any case), the
   whole token compared in time that depends on its length only */
int api_token_ok(const char *authorization, const char *token);
/* for an API without a token (DNS rebinding): 1 when host, a Host header
   (NULL: none), names localhost, a 127/8 or [::1] literal or
   listen_host, with any port */
int api_host_ok(const char *host, const char *listen_host);
/* the gate's check of a request head (its bytes up to and with the empty
   line): 1 when token is NULL or the head has exactly one Authorization
   header, unfolded, that api_token_ok(); out (len bytes, or NULL) gets
   the head without its Content-Length and Transfer-Encoding lines */
int api_head_check(const char *head, size_t len, const char *token,
    char *out, size_t *outlen);

/* ui.c: the dashboard's files (GET /ui/...) from dir */
struct evhttp_request;
void ui_serve(struct evhttp_request *req, const char *dir, const char *path);
/* the installed directory, ../share/scaleset/ui from the binary's, when
   it exists, else the source tree's it was built from (SCALER_SRC_UI_DIR)
   when that exists, else /usr/share/scaleset/ui */
const char *ui_default_dir(void);
/* the content type of a file name the dashboard may serve (one segment,
   [A-Za-z0-9_.-], no leading dot, a known extension); NULL otherwise */
const char *ui_content_type(const char *name);

/* history.c: the last hour of each pool for the dashboard, by pool name
   (kept across reloads); on the loop */
struct json_t;
/* a sample of every pool (at most one per 5 s): desired, running, the
   rules' last values */
void history_sample(scaler_t *s);
/* a capacity change an autoscale decision made, with its rules */
void history_decision(const char *pool, const autoscale_config_t *conf,
    const autoscale_decision_t *d);
/* a capacity set through the API */
void history_manual(const char *pool, int previous, int capacity);
/* {"pool","step_s","window_s","t":[ms],"series":{name:[v|null]},
   "decisions":[newest first]} */
struct json_t *history_json(const char *pool);
void history_free(void);

/* autoscaler.c: the autoscale runners of the daemon (one per pool with
   rules or schedules); kick asks for a reconcile pass soon */
int autoscaler_start(struct event_base *base, scaler_t *s, void (*kick)(void));
/* next: the reloaded state (configs matched by pool and rule name, before
   the old config is freed); home: where the state lives afterwards */
void autoscaler_reload(scaler_t *next, scaler_t *home);
void autoscaler_tick(scaler_t *s);
autoscale_runner_t *autoscaler_runner(const char *pool);
/* the Prometheus client (NULL without prometheus.url): valid until the
   next reload or autoscaler_stop() */
prom_client_t *autoscaler_prom(void);
/* the runners' families (autoscale_metrics_write()) */
void autoscaler_metrics(expo_t *e);
void autoscaler_stop(void);

/* vmstats.c: host-side VM metrics (libvirt CPU time and memory) of a
   pool's instances, as its pass listed them (on the pass thread);
   metrics: pools of s only (thread-safe) */
void vmstats_pool(const pool_state_t *ps);
void vmstats_metrics(expo_t *e, scaler_t *s);
void vmstats_free(void);

/* log.c */
void slog(const char *pool, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t now_ms(void);

#endif /* SCALER_H */
