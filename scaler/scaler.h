/*
 * scaleset-scaler: private header.  One block of prototypes per file.
 */

#ifndef SCALER_H
#define SCALER_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "autoscale_runner.h"
#include "clock.h"
#include "expo.h"
#include "scaleset_record.h"
#include "xmalloc.h"

#define SCALER_NS        "https://scaleset.dev/xmlns/instance/1"
#define SCALER_NS_PREFIX "scaleset"
/* an instance's recipe, beside its tag (virt_recipe_t) */
#define SCALER_NS_RECIPE        "https://scaleset.dev/xmlns/recipe/1"
#define SCALER_NS_RECIPE_PREFIX "recipe"
#define SCALER_MAX_ZONES        16
/* the most libvirt hosts of a pool, over all its zones */
#define SCALER_MAX_HOSTS 64
/* templates of a flexible pool (templates:); a pool with template: has 1 */
#define SCALER_MAX_TEMPLATES 8
/* the most instances a pool (or any capacity in its config) may have:
   the cloud scale sets' maximum */
#define SCALER_CAPACITY_MAX 1000
/* the most creations a pass runs at once on a host (create_concurrency):
   a host's worker threads (host.c) */
#define SCALER_CREATE_MAX 4
/* the most background calls (act_bg.c) a host runs at once */
#define HOST_BACKGROUND_MAX 4

typedef enum {
    SCALE_IN_DEFAULT = 0,
    SCALE_IN_OLDEST,
    SCALE_IN_NEWEST
} scale_in_policy_t;

/* one libvirt connection: a zone's `uri`, or one of its `hosts` */
typedef struct {
    char *uri;
    char  name[SCALESET_NAME_MAX + 1]; /* host= of the member
                                    record (zones of several
                                    hosts): the URI's server when
                                    that is a name unique in the
                                    zone, else ZONE-N */
    int zone;                          /* index into the pool's zones */
} host_config_t;

/* a zone: its hosts are the pool's hosts[host0 .. host0 + nhosts) */
typedef struct {
    char *name;
    int   host0, nhosts;
} zone_config_t;

/* warm_pool.state: what a warm instance is kept as */
typedef enum {
    WARM_PAUSED = 0, /* virDomainSuspend: in memory */
    WARM_SAVED,      /* virDomainManagedSave: on disk */
    WARM_RUNNING     /* booted and left running */
} warm_state_t;

/* warm_pool: instances kept ready beyond the capacity (config_warm.c) */
typedef struct {
    int          size; /* 0: no warm pool */
    warm_state_t state;
    int          reuse;           /* reuse_on_scale_in */
    uint64_t     wake_timeout_ms; /* to pass readiness again */
} warm_config_t;

typedef enum {
    ADDR_STATIC = 0, /* from cidr + port or ports */
    ADDR_LEASE,      /* libvirt network DHCP lease */
    ADDR_AGENT       /* qemu guest agent */
} addr_mode_t;

/* upgrade: the pool's upgrade policy (config_upgrade.c; docs/upgrades.md) */
typedef enum {
    UPGRADE_MANUAL = 0, /* only when the API asks */
    UPGRADE_AUTOMATIC,  /* every outdated one at once */
    UPGRADE_ROLLING     /* in health-gated batches */
} upgrade_mode_t;

typedef struct {
    upgrade_mode_t mode;
    int            max_batch_percent;
    int            max_unhealthy_percent;          /* before a batch */
    int            max_unhealthy_upgraded_percent; /* after a batch */
    uint64_t       pause_ms;                       /* between batches */
    int            surge;                          /* new ones first */
    int            prioritize_unhealthy;
    int            cross_zone; /* 0: one zone at a time */
    int            rollback;   /* on a breach */
    int            image;      /* a new base image starts one */
} upgrade_config_t;
/* repair.action: what is done to a running instance that is down */
typedef enum {
    REPAIR_REPLACE = 0, /* drained, deleted, a new one (new id) */
    REPAIR_RESTART,     /* a power cycle: same id, same disk */
    REPAIR_REIMAGE      /* its overlay made again from the base,
                           same id */
} repair_action_t;
/* template.cloud_init (docs/bootstrap.md): the files as read at load
   time, each NULL when not given (user_data NULL: no cloud_init) */
typedef struct {
    char *user_data_path, *user_data;
    char *meta_data_path, *meta_data;
    char *network_config_path, *network_config;
    char *vendor_data_path, *vendor_data;
    char *pool; /* the seeds' storage pool:
                   cloud_init.pool, else
                   volume.pool */
} cloud_init_config_t;

/* what instances are made from: the pool's template, or one entry of a
   flexible pool's templates */
typedef struct {
    char               *name; /* "" for template: */
    char               *path; /* domain: the XML's file */
    char               *text; /* its text, read at load time */
    char               *version;
    char               *vol_pool;    /* volume: storage pool */
    char               *vol_backing; /* its base volume, or NULL */
    char               *vol_format;  /* the base's format: qcow2, raw */
    cloud_init_config_t ci;
    int                 weight;      /* capacity units per instance (1) */
    int                 max_percent; /* of the capacity; 0: no bound */
    int                 mix;         /* its share in mix: (0: none) */
} template_config_t;

/* hooks.launch, hooks.terminate: an instance waits (pending_launch before
   its registration, pending_terminate after its drain) until an operator
   completes it, or until timeout, then default */
typedef struct {
    int      on;         /* the hook is configured */
    uint64_t timeout_ms; /* its timeout (5m) */
    int      abandon;    /* default: abandon (1) or
                            continue (0) */
} hook_config_t;

typedef struct {
    char             *name;
    zone_config_t     zones[SCALER_MAX_ZONES];
    int               nzones;
    host_config_t     hosts[SCALER_MAX_HOSTS]; /* zone by zone */
    int               nhosts;
    template_config_t templates[SCALER_MAX_TEMPLATES];
    int               ntemplates; /* 1 with template: */
    int               flexible;   /* templates: given */
    int               mixed;      /* mix: given (else the first
                                     template first) */
    addr_mode_t       addr_mode;
    uint32_t          net; /* static: first address, host order */
    int               prefix_len;
    int               port;
    int               port_lo, port_hi;  /* ports: range variant */
    int               readiness_tcp;     /* 1: register after a TCP connect */
    char             *health_uri;        /* health.uri: HTTP readiness */
    uint64_t          health_timeout_ms; /* health.timeout (1s) */
    uint64_t          health_grace_ms;   /* health.grace: 0 = none */
    int               cap_min, cap_max, cap_default;
    scale_in_policy_t scale_in;
    uint64_t          drain_timeout_ms;
    upgrade_config_t  upgrade;
    uint64_t          gateway_ttl_ms;    /* drain.gateway_ttl: 0 = 3 x each
                                            gateway's report TTL */
    uint64_t shutdown_timeout_ms;        /* termination.
                                        shutdown_timeout: ACPI, then
                                        destroy; 0 = destroy at once */
    int             repair_enabled;      /* repair.enabled (1) */
    uint64_t        repair_grace_ms;     /* repair.grace (10m) */
    repair_action_t repair_action;       /* repair.action (replace) */
    int             repair_max_percent;  /* repair.max_percent (5) */
    int             repair_max_failures; /* repair.max_failures (5) */
    hook_config_t   hook_launch;         /* hooks.launch */
    hook_config_t   hook_terminate;      /* hooks.terminate */
    char           *webhook;             /* hooks.webhook: every
                                            lifecycle event POSTed there */
    uint64_t      zone_failover_ms;      /* zone_failover (the file's) */
    int           create_concurrency;    /* creations at once per host */
    warm_config_t warm;
    /* autoscale (config_autoscale.c): rules, schedules, max_step; the
       arrays and the queries are owned here, autoscale points at them */
    autoscale_config_t          autoscale;
    autoscale_rule_config_t    *rules;
    autoscale_profile_config_t *profiles;
    unsigned long               rules_line; /* for "rules need prometheus" */
} pool_config_t;

/* redis: where the scaler's Redis is and how it logs in (redis_conn.c) */
#define REDIS_SENTINELS_MAX 16

typedef struct {
    char *host; /* IPv4 or IPv6 literal */
    int   port;
} redis_addr_t;

typedef struct {
    redis_addr_t addr;     /* redis.address (no sentinel) */
    char        *username; /* ACL user, or NULL (default) */
    char        *password; /* from password_file, or NULL */
    int          db;
    char        *master; /* sentinel.master, or NULL */
    redis_addr_t sentinels[REDIS_SENTINELS_MAX];
    int          nsentinels;
} redis_config_t;

typedef struct {
    char          *file;
    redis_config_t redis;
    char          *prefix;
    char          *api_host;
    int            api_port;
    char          *token;          /* from token_file, or NULL */
    uint64_t       api_timeout_ms; /* api.timeout */
    char          *ui_dir;         /* api.ui, NULL: ui_default_dir() */
    uint64_t       interval_ms;
    int            log_level; /* log.level: SLOG_* */
    char          *prom_url;  /* prometheus.url, or NULL */
    uint64_t       prom_timeout_ms;
    char          *prom_username; /* basic auth, optional */
    char          *prom_password;
    char          *prom_token;         /* from bearer_token_file */
    uint64_t       libvirt_timeout_ms; /* libvirt.timeout: a call's deadline */
    uint64_t       ka_interval_ms;     /* libvirt.keepalive_interval; 0 none */
    int            ka_count;           /* libvirt.keepalive_count */
    uint64_t       slow_pass_ms;       /* slow_pass: reported past this */
    uint64_t       zone_failover_ms;   /* zone_failover */
    uint64_t       ha_lease_ms;        /* ha.lease; 0: no ha block */
    char          *ha_advertise;       /* ha.advertise, or NULL */
    pool_config_t *pools;
    int            npools;
    int            refs; /* config_ref(); freed at 0 */
} scaler_config_t;

/* config_warm.c */
/* "paused", "saved", "running" */
const char *warm_state_name(warm_state_t st);

/* config.c */
/* loads and validates FILE; NULL with "file:line: reason" in err */
scaler_config_t *config_load(const char *file, char *err, size_t errlen);
/* one more holder (a host's call that may outlive a reload); each
   config_free() drops one, the last frees it (thread-safe) */
scaler_config_t *config_ref(scaler_config_t *cf);
void             config_free(scaler_config_t *cf);
pool_config_t   *config_pool(scaler_config_t *cf, const char *name);
/* 1 when the pool has rules or schedules (an autoscale runner) */
int config_autoscaled(const pool_config_t *p);
/* 1 when a and b reach the same Redis the same way */
int config_redis_same(const redis_config_t *a, const redis_config_t *b);
/* the index of p's template of that name ("" and NULL: the first, as
   instances of a pool's single template carry no name); -1: none */
int config_template(const pool_config_t *p, const char *name);

/* policy.c */
typedef struct {
    const char *id;
    int         zone; /* index into the pool's zones */
    int         host; /* index into the pool's hosts; -1: unknown */
    long        seq;  /* creation order (the id's number) */
} policy_instance_t;

/* zone for a new instance: fewest instances among usable ones; -1: none */
int policy_place(const int *count, const int *usable, int nzones);
/* host for a new instance among a zone's n hosts (fault domains): among
   the usable ones the one with the fewest instances of the pool, then the
   most free memory (bytes, 0: unknown, counts as none), then the first;
   -1 when none is usable */
int policy_place_host(const int *count, const unsigned long long *free_mem,
                      const int *usable, int n);
/* index into inst[] of the instance to remove next: among the largest
   zones, then the largest hosts (of those zones' instances), the highest
   id (oldest: the lowest); -1 when n == 0 */
int policy_scale_in(const policy_instance_t *inst, int n, int nzones,
                    scale_in_policy_t policy);
int policy_parse_name(const char *s, scale_in_policy_t *p);
/* 1 when a host unreachable since down_since (UNIX ms, 0: it answers)
   has been so for zone_failover at now: its capacity is rebuilt
   elsewhere */
int policy_failed_over(uint64_t down_since, uint64_t now, uint64_t failover_ms);
/* the largest instance number: POOL-N is a valid id (63 bytes) for a
   pool name of up to 53 */
#define POLICY_SEQ_MAX 999999999L
/* the number of an instance id POOL-NNNNNN; 0 when it has none (or one
   above POLICY_SEQ_MAX) */
long policy_id_seq(const char *id);
/* a capacity stored in Redis (raw, len bytes), as the bounds lo..hi in
   force take it: 0 with *cap when it is within them, 1 with *cap clamped
   into them, -1 when it is no capacity (anything but 1..20 digits, or
   above 2^64-1: negative, fractions, spaces, words) */
int policy_stored_capacity(const char *raw, size_t len, int lo, int hi,
                           int *cap);

/* template.c */
/* XML-escapes s into a malloc'd string */
char *template_escape(const char *s);
/* replaces {{key}} by XML-escaped values; unknown keys stay; malloc'd */
char *template_render(const char *tpl, const char *const *keys,
                      const char *const *vals, int n);
/* the same with the values as they are (the cloud-init files) */
char *template_render_raw(const char *tpl, const char *const *keys,
                          const char *const *vals, int n);
/* the variables of an instance's templates, in this order: name uuid
   mac address port volume pool zone version seed template */
enum {
    TV_NAME = 0,
    TV_UUID,
    TV_MAC,
    TV_ADDRESS,
    TV_PORT,
    TV_VOLUME,
    TV_POOL,
    TV_ZONE,
    TV_VERSION,
    TV_SEED,
    TV_TEMPLATE,
    TV_COUNT
};
extern const char *const template_vars[TV_COUNT];

/* cloudinit.c: an instance's NoCloud files (docs/bootstrap.md):
   rendered from template.cloud_init with the values as they are, and
   checked as cloud-init reads them (libyaml) */
#define CLOUDINIT_FILE_MAX (1 << 20) /* one file, bytes */
typedef enum {
    CI_USER_DATA = 0,
    CI_META_DATA,
    CI_NETWORK_CONFIG,
    CI_VENDOR_DATA,
    CI_FILES
} ci_file_t;
/* a file of the seed: its name on the cidata volume and its bytes */
typedef struct {
    const char *name; /* "user-data", "meta-data", ... */
    char       *data;
    size_t      len;
} seed_file_t;
/* "user-data", "meta-data", "network-config", "vendor-data" */
const char *cloudinit_file_name(ci_file_t f);
/* 0 when text is what cloud-init takes as file f: user-data and
   vendor-data a "#cloud-config" YAML mapping or a "#!" script (taken as
   it is), meta-data and network-config a YAML mapping (or empty
   meta-data); -1 with *line (1-based) and why */
int cloudinit_check(ci_file_t f, const char *text, unsigned long *line,
                    char *why, size_t whylen);
/* the meta-data of an instance: rendered (NULL: none) with instance-id
   and local-hostname added unless it sets them; malloc'd, NULL with why */
char *cloudinit_meta_data(const char *rendered, const char *id,
                          const char *hostname, char *why, size_t whylen);
/* the seed's files of an instance from ci, rendered with vals
   (template_vars order) and checked: 0 with out[0 .. *n) (user-data and
   meta-data always, the others when given), or -1 with "FILE:LINE:
   reason" in err */
int  cloudinit_files(const cloud_init_config_t *ci, const char *const *vals,
                     seed_file_t out[CI_FILES], int *n, char *err,
                     size_t errlen);
void cloudinit_files_free(seed_file_t *f, int n);
/* the config check of t's cloud_init (p read whole): every file rendered
   with the values an instance of each zone would get (paths that only
   libvirt knows as placeholders) must pass cloudinit_check; a variable
   whose value breaks the YAML is named.  0, or -1 with "FILE:LINE:
   reason" */
int cloudinit_config_check(const pool_config_t *p, const template_config_t *t,
                           char *err, size_t errlen);

/* seed.c: the NoCloud seed as an ISO 9660 image (libisofs) */
/* once, before any thread makes a seed */
int seed_init(void);
/* an image labelled "cidata" with Rock Ridge and Joliet holding files
   (in its root): 0 with *out (malloc'd) and *len, or -1 with err */
int seed_image(const seed_file_t *files, int n, unsigned char **out,
               size_t *len, char *err, size_t errlen);
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
typedef struct {
    const char *address; /* "A.B.C.D:PORT" */
    int         ok;      /* 1: ready */
    char        why[64]; /* !ok: "connect", "status 503", ... */
} ready_probe_t;
/* every probe at once (non-blocking, a bounded number in flight): ready
   when address answers a TCP connect, or with uri a GET answered 2xx or
   3xx, within timeout_ms of the probe's start */
void ready_check_all(ready_probe_t *pr, int n, const char *uri,
                     uint64_t timeout_ms);
/* ready_check_all by the pool's readiness: none (all ready), its
   health.uri within health.timeout, or a TCP connect within 200 ms */
void ready_pool_check(const pool_config_t *p, ready_probe_t *pr, int n);

/* model.c: an instance's model (docs/design.md, "Lifecycle"): written
   into its tag when it is created, read back by every listing */
#define MODEL_DIGEST_LEN 64 /* SHA-256, hex */
typedef struct {
    char version[SCALESET_NAME_MAX + 1];
    char digest[MODEL_DIGEST_LEN + 1];    /* of its template: "" in a
                                             tag that predates it */
    char image[MODEL_DIGEST_LEN + 1];     /* of its base image: "" with
                                             no template.volume (or an
                                             older tag) */
    char template[SCALESET_NAME_MAX + 1]; /* its template's name:
                                         "" for the pool's one */
    char host[256];                       /* the libvirt URI it was
                                             created on (its host's) */
    uint64_t created;                     /* UNIX ms; 0 in an older tag */
} virt_model_t;

/* the digest of a template: its domain XML as read, its volume settings
   (pool, base, format) and its cloud_init files as read */
void model_template_digest(const template_config_t *t,
                           char                     out[MODEL_DIGEST_LEN + 1]);
/* the digest of a base image: its path, size and modification time */
void model_image_digest(const char *path, unsigned long long size,
                        const char *mtime, char out[MODEL_DIGEST_LEN + 1]);
/* 1 when m is the model latest describes: the same version, and the
   same template and image digests where both are known (a tag that
   predates them, or a base image that could not be read, compares by
   version) */
int model_latest(const virt_model_t *latest, const virt_model_t *m);
/* the digest of a pool's base images, each template's on each host in
   order ("" when none has one: no volume) */
void model_images_digest(const virt_model_t latest[][SCALER_MAX_HOSTS],
                         int ntemplates, int nhosts,
                         char out[MODEL_DIGEST_LEN + 1]);
/* the digest of a flexible pool's templates: each one's name, version
   and template digest (latest[k][0]) */
void model_templates_digest(const virt_model_t latest[][SCALER_MAX_HOSTS],
                            int ntemplates, char out[MODEL_DIGEST_LEN + 1]);

/* upgrade.c: the upgrade record PREFIX{POOL}:upgrade (docs/upgrades.md),
   decoded and encoded; pure */
typedef enum {
    UPGRADE_NONE = 0,     /* no record */
    UPGRADE_IDLE,         /* none ran yet: the model it started from */
    UPGRADE_RUNNING,      /* "rolling": batches */
    UPGRADE_PAUSED,       /* between two batches (upgrade.pause) */
    UPGRADE_ROLLING_BACK, /* batches back to the previous model */
    UPGRADE_FAILED,       /* a breach: nothing more replaced */
    UPGRADE_CANCELLED,    /* through the API */
    UPGRADE_DONE,         /* every instance on the model */
    UPGRADE_STATE_COUNT
} upgrade_state_t;

typedef enum {
    UPGRADE_FORWARD = 0, /* to the pool's model */
    UPGRADE_BACK_BREACH, /* back: a health threshold was exceeded */
    UPGRADE_BACK_API     /* back: POST .../upgrade/rollback */
} upgrade_rollback_t;

/* a model as the record names it: "VERSION:DIGEST" (its template) */
#define UPGRADE_MODEL_MAX (SCALESET_NAME_MAX + 1 + MODEL_DIGEST_LEN)
#define UPGRADE_ERROR_MAX 255
#define UPGRADE_FIELDS    19 /* what upgrade_encode() writes */
/* a flexible pool's from, per template: "NAME=VERSION:DIGEST ..." ("-"
   for the pool's unnamed template) */
#define UPGRADE_FROM_MAX \
    (SCALER_MAX_TEMPLATES * (SCALESET_NAME_MAX + 2 + UPGRADE_MODEL_MAX))

typedef struct {
    upgrade_state_t state;
    int             automatic; /* all at once (mode automatic) */
    char            from[UPGRADE_MODEL_MAX + 1];
    char            to[UPGRADE_MODEL_MAX + 1];
    char            from_templates[UPGRADE_FROM_MAX + 1];
    char            from_image[MODEL_DIGEST_LEN + 1]; /* images of */
    char            to_image[MODEL_DIGEST_LEN + 1];   /* the zones */
    long            batch;         /* the current (or last) one, 1.. */
    long            batches;       /* as estimated at its start */
    long            upgraded;      /* old instances replaced */
    long            failed;        /* upgraded ones unhealthy */
    uint64_t        started;       /* UNIX ms */
    uint64_t        batch_started; /* 0: no batch under way */
    uint64_t        batch_done;    /* the last one ended */
    uint64_t        updated;
    char            zone[SCALESET_NAME_MAX + 1]; /* the batch's */
    char (*ids)[SCALESET_ID_MAX + 1];            /* the batch's old
                                     instances, sorted; malloc'd */
    int                nids;
    upgrade_rollback_t rollback;
    char               error[UPGRADE_ERROR_MAX + 1];
    uint64_t           gen; /* its writes; 0: no record */
} upgrade_t;

/* "idle", "rolling", "paused", "rolling_back", "failed", "cancelled",
   "done"; "idle" for UPGRADE_NONE */
const char *upgrade_state_name(upgrade_state_t st);
/* 1 while an upgrade runs: rolling, paused, rolling_back */
int upgrade_running(upgrade_state_t st);
/* the record from a hash's n fields and values (lengths given): 0, or -1
   with why when a field is refused (a state that is no state, a number
   beyond its bound, an id that is no id, more than SCALER_CAPACITY_MAX
   of them, a model or digest of the wrong form); unknown fields are
   ignored.  u->ids is malloc'd (upgrade_free()) */
int upgrade_decode(const char *const *field, const size_t *flen,
                   const char *const *value, const size_t *vlen, int n,
                   upgrade_t *u, char *why, size_t whylen);
/* the record as field/value pairs (2 * UPGRADE_FIELDS argv), the values
   formatted into buf (at least upgrade_encode_size(u)); the pair count, or
   -1 when buf is too small */
int    upgrade_encode(const upgrade_t *u, char *buf, size_t size,
                      const char **argv, size_t *argvlen);
size_t upgrade_encode_size(const upgrade_t *u);
/* a deep copy (dst's ids replaced); -1 when out of memory */
int  upgrade_copy(upgrade_t *dst, const upgrade_t *src);
void upgrade_free(upgrade_t *u);
/* 1 when id is one of the batch's */
int upgrade_has(const upgrade_t *u, const char *id);
/* "VERSION:DIGEST" of m */
void upgrade_model(const virt_model_t *m, char *buf, size_t size);
/* the pool's model as the record names it: its template's
   "VERSION:DIGEST", or for a flexible pool the first template's version
   and model_templates_digest() */
void upgrade_pool_model(const virt_model_t latest[][SCALER_MAX_HOSTS],
                        int ntemplates, char *buf, size_t size);
/* the model template name (""  for the pool's one) was on when the
   upgrade started ("VERSION:DIGEST" into buf): 1, or 0 when the record
   does not say (the template was not outdated then) */
int upgrade_from(const upgrade_t *u, const char *name, char *buf, size_t size);

/* how an instance came into its pool: made by the scaler for the
   capacity, made through POST .../instances (one more by hand, outside
   the capacity), or an operator's domain taken in (POST .../adopt) */
typedef enum {
    ORIGIN_SCALED = 0,
    ORIGIN_MANUAL,
    ORIGIN_ADOPTED
} origin_t;
/* "scaled", "manual", "adopted" */
const char *origin_name(origin_t o);
/* 0 with *o for a name origin_name() gives ("" is scaled: an older
   tag); -1 otherwise */
int origin_parse(const char *s, origin_t *o);

/* virt_xml.c */
/* our tag in a domain's <metadata>, decoded */
typedef struct {
    char         pool[64];
    char         id[64];
    char         zone[64];
    char         address[80];
    char         mode[16];
    char         port[8];
    virt_model_t model;
    origin_t     origin;
    int          warm;   /* warm="yes": in the warm pool */
    int          parked; /* warm and parked="yes": parked, past its
                            launch hook */
} virt_tag_info_t;

typedef struct {
    virt_tag_info_t info;
    char            volume[4096]; /* the overlay's path */
    char            seed[4096];   /* the NoCloud seed's path */
} virt_tag_t;

void virt_xml_init(void);
/* xml (an instance element as virDomainGetMetadata returns it) with
   warm="yes" when warm (and parked="yes" when parked too), without warm
   and parked otherwise; malloc'd, NULL when xml
   does not parse */
char *virt_tag_set_warm(const char *xml, int warm, int parked);
/* 0 when xml is an instance element (in SCALER_NS or, as libvirt returns
   it, in none) with pool, id and zone
   (other attributes "" when absent); -1 otherwise or when a value does
   not fit */
int virt_tag_parse(const char *xml, virt_tag_t *t);
/* how an instance was made, kept in its domain's <metadata> beside its
   tag: its template's domain XML as read, volume settings and cloud_init
   files as read (each base64 in an element of its own), so that its
   model can be made again after the pool moved on (a rollback) */
typedef struct {
    char digest[MODEL_DIGEST_LEN + 1];         /* model_template_digest() of
                                                  it, computed when read */
    char *text;                                /* malloc'd, NULL: none */
    char *vol_pool, *vol_backing, *vol_format; /* NULL: no volume */
    char *user_data, *meta_data, *network_config, *vendor_data;
    char *ci_pool; /* NULL: no cloud_init */
} virt_recipe_t;

/* the recipe element of template t, malloc'd (NULL: memory) */
char *virt_recipe_xml(const template_config_t *t);
/* the recipe element libvirt gives back into *r (malloc'd strings,
   virt_recipe_free()); -1 when it is none */
int  virt_recipe_parse(const char *xml, virt_recipe_t *r);
void virt_recipe_free(virt_recipe_t *r);
/* a copy of from of its own (malloc'd strings); 0, or -1 (memory: to
   holds nothing) */
int virt_recipe_copy(virt_recipe_t *to, const virt_recipe_t *from);
/* t made of r instead: its domain XML, volume and cloud_init (out's
   strings are r's and t's: valid while both are) */
void virt_recipe_template(const template_config_t *t, const virt_recipe_t *r,
                          template_config_t *out);
/* a storage pool's <target><path>, decoded, malloc'd; NULL when none */
char *virt_pool_target(const char *pool_xml);
/* a storage volume's <target><timestamps><mtime> into buf ("" when it
   has none) */
void virt_vol_mtime(const char *vol_xml, char *buf, size_t size);

/* virt_stats.c: a running domain's host-side metrics, decoded from its
   virConnectGetAllDomainStats record.  `have` says which fields are
   known: a field that is not is unknown, never zero. */
#define VMS_CPU   0x001 /* cpu_s */
#define VMS_VCPUS 0x002 /* vcpus */
#define VMS_ALLOC 0x004 /* mem_alloc */
#define VMS_USED  0x008 /* mem_used */
#define VMS_AVAIL 0x010 /* mem_avail (the guest's view only) */
#define VMS_GUEST 0x020 /* mem_used is the guest's view */
#define VMS_NET   0x040 /* net_rx, net_tx */
#define VMS_DISK  0x080 /* disk_rd, disk_wr */

typedef struct {
    unsigned have;             /* VMS_*; 0: not listed */
    double   cpu_s;            /* cpu.time */
    unsigned vcpus;            /* vcpu.current */
    uint64_t mem_alloc;        /* balloon.current: given to the guest */
    uint64_t mem_used;         /* guest: total - available; else rss */
    uint64_t mem_avail;        /* the guest's available memory */
    uint64_t net_rx, net_tx;   /* over every interface */
    uint64_t disk_rd, disk_wr; /* over every disk */
} vm_stats_t;

struct _virTypedParameter;
/* the fields of a stats record's params (n of them) into *vm, have set
   to those found */
void virt_stats_decode(const struct _virTypedParameter *params, int n,
                       vm_stats_t *vm);

/* virt.c */
/* what a domain's vCPUs do: run, paused (virDomainSuspend, or by qemu),
   saved to disk (a managed save, shut off) */
typedef enum {
    POWER_RUNNING = 0,
    POWER_PAUSED,
    POWER_SAVED
} virt_power_t;
/* "running", "paused", "saved" */
const char *virt_power_name(virt_power_t p);

typedef struct {
    char         id[64];
    char         zone[64];
    virt_model_t model; /* from its tag */
    char         address[80];
    origin_t     origin; /* from its tag */
    int          active;
    int          warm;   /* its tag says warm="yes" */
    int          parked; /* and parked="yes" */
    virt_power_t power;
    vm_stats_t   vm; /* running: from the listing call */
} virt_instance_t;

typedef enum {
    VIRT_LIVE = 0,
    VIRT_FAILED,
    VIRT_LEFT,
    VIRT_OFF
} virt_health_t;

#define VIRT_DOING_CREATE 0x01u /* between define and start */
#define VIRT_DOING_STOP   0x02u /* its ACPI shutdown was sent */
/* an owned domain in libvirt state/reason (virDomainGetState): a defined
   domain that is not running is failed (removed), unless this process is
   doing something to it (VIRT_DOING_*): between define and start it is
   live, shut off after the shutdown this process sent it is off (listed,
   inactive); shut off by a migration, a save or a snapshot revert it is
   left (not listed, never touched); a warm one shut off (but by a
   migration or a snapshot revert) is live: saved into the warm pool, if
   virt_list finds its managed save */
virt_health_t virt_classify(int state, int reason, unsigned doing, int warm);

typedef struct virt_conn virt_conn_t;
/* libvirt's event loop (virEventRegisterDefaultImpl) and a thread that
   runs it, as keepalive needs; before any connection is opened */
int virt_init(void);
/* a host's connection, opened (and reopened after a failure) by the
   first call that needs it, with keepalive (virConnectSetKeepAlive:
   interval s, count; interval <= 0: none) when the driver has it */
virt_conn_t *virt_open(const char *uri, int ka_interval, unsigned ka_count);
void         virt_close(virt_conn_t *vc);
/* the calling thread's next virt_* calls go (on 1) or no longer go (0)
   to their host's background connection: a second one, opened as the
   first is, for a host whose calls travel libvirt's RPC (every URI but
   the embedded test:), so that a call of the warm pool that takes
   seconds (a managed save) never holds the replies of the pass's calls
   (a wake, a listing): on one connection they waited for it */
void virt_background(int on);
/* owned, live instances of pool p in zone; returns count or -1; *out
   malloc'd.  Failed ones (virt_classify) are removed, not listed.  In
   modes lease/agent, address is the guest's IPv4:port once known, else
   "": the first address libvirt reports that addr_guest_ok() accepts
   (others are logged, once while they stay the same).  Running ones
   carry their metrics from the listing call (vm) */
int virt_list(virt_conn_t *vc, const pool_config_t *p, const char *zone,
              virt_instance_t **out);
/* defines, tags (with model, which must fit the tag, and origin) and
   starts id from the template model->template names (its overlay and its
   NoCloud seed made after the define) */
int virt_create(virt_conn_t *vc, const pool_config_t *p, const char *zone,
                const char *id, const char *address, const virt_model_t *model,
                origin_t origin, char *err, size_t errlen);
/* the same, origin scaled and tagged warm="yes": an instance for the warm
   pool */
int virt_create_warm(virt_conn_t *vc, const pool_config_t *p, const char *zone,
                     const char *id, const char *address,
                     const virt_model_t *model, char *err, size_t errlen);
/* id into the warm pool: tagged warm, then kept as st (suspended, managed
   saved, or running: resumed or restored); 0, or -1 with err */
int virt_park(virt_conn_t *vc, const char *pool, const char *id,
              warm_state_t st, char *err, size_t errlen);
/* id out of the warm pool: resumed (paused) or restored from its managed
   save (saved), then its tag without warm; *was its power before; 0, or
   -1 with err */
int virt_wake(virt_conn_t *vc, const char *pool, const char *id,
              virt_power_t *was, char *err, size_t errlen);
/* the digest of a template's base image in this zone (model_image_digest
   of its volume's base: path, capacity, mtime); -1 when it cannot be
   read, 1 when the template has no volume ("") */
int virt_image(virt_conn_t *vc, const template_config_t *t,
               char out[MODEL_DIGEST_LEN + 1]);
int virt_delete(virt_conn_t *vc, const char *pool, const char *id);
/* the recipe instance id of pool carries (virt_recipe_parse); -1 when it
   has none (created before recipes, or not ours) or libvirt failed */
int virt_recipe(virt_conn_t *vc, const char *pool, const char *id,
                virt_recipe_t *r);
/* asks the guest id to power off (virDomainShutdown: ACPI); until it is
   deleted, the domain shut off is listed inactive instead of failed.  0
   sent, 1 it is off already, -1 failed */
int virt_shutdown(virt_conn_t *vc, const char *pool, const char *id);
/* resets id: a power cycle (virDomainDestroy, virDomainCreate; started
   if it is off), not virDomainReset, which a domain with on_reboot
   destroy takes for a shutdown; same disk; 0 or -1 with err */
int virt_reset(virt_conn_t *vc, const char *pool, const char *id, char *err,
               size_t errlen);
/* id made again from its template's base image: destroyed, its overlay
   made again (its template's volume; without one it is reset) and its
   seed written again (virt_seed_rewrite), started; same id, same tag.
   0 or -1 with err */
int virt_reimage(virt_conn_t *vc, const pool_config_t *p, const char *id,
                 char *err, size_t errlen);
/* the host's free memory in bytes (virNodeGetFreeMemory); 0 unknown */
unsigned long long virt_free_memory(virt_conn_t *vc);

/* host.c: a host's libvirt calls on its own workers, each with a
   deadline; a call past it is given up (HOST_LATE) and stalls its host
   (every call refused at once) until it returns */
typedef enum {
    HOST_DONE = 0, /* ran to its end in time */
    HOST_REFUSED,  /* not run: the host is stalled */
    HOST_LATE,     /* past its deadline: unknown */
    HOST_CANCELLED /* the pass was stopped */
} host_outcome_t;
typedef struct host       host_t;
typedef struct host_call  host_call_t;
typedef struct host_batch host_batch_t;
/* a call: embedded first in the struct of its arguments and results */
struct host_call {
    void (*run)(virt_conn_t *vc, host_call_t *c);
    void (*drop)(host_call_t *c); /* frees the whole call */
    host_outcome_t outcome;       /* after host_wait() */
    /* host.c's */
    host_t       *host;
    host_batch_t *batch;
    int           state, late, refs;
    int           background; /* in no batch: on the host's
                                 background connection (virt.c) */
    uint64_t     started;     /* mono ms */
    host_call_t *next, *bnext;
};
/* calls a pass waits for together (on its stack) */
struct host_batch {
    pthread_cond_t cond;
    host_call_t   *calls;
    const int     *cancel; /* set: give up every call */
};
host_t *host_new(const char *uri, int ka_interval, unsigned ka_count,
                 uint64_t timeout_ms);
/* the host goes once its last call (a stuck one too) returns */
void host_release(host_t *h);
/* 1 when a call of h is past its deadline and has not returned; *since
   the mono ms it started */
int          host_stalled(host_t *h, uint64_t *since);
virt_conn_t *host_conn(host_t *h);
void         host_call_init(host_call_t *c,
                            void (*run)(virt_conn_t *vc, host_call_t *c),
                            void (*drop)(host_call_t *c));
/* the caller is done with c (its results read when HOST_DONE) */
void host_call_release(host_call_t *c);
void host_batch_init(host_batch_t *b, const int *cancel);
/* c queued on h's workers, or refused (outcome HOST_REFUSED) when h is
   stalled; b NULL: in no batch (host_call_poll()) */
void host_submit(host_batch_t *b, host_t *h, host_call_t *c);
/* a call submitted in no batch: 1 when it ended or was given up (its
   outcome says how: past libvirt.timeout it is HOST_LATE and its host
   stalled, as host_wait() does), 0 while it is queued or runs */
int host_call_poll(host_call_t *c);
/* until every call of b ended, or passed its deadline, or cancel */
void host_wait(host_batch_t *b);
void host_batch_destroy(host_batch_t *b);
/* the NoCloud seed of instance id written again (a reimage): rendered
   from its template as the config has it now, with the instance's
   identity (id, uuid, address, volume) as its tag and domain say; 0 also
   when its template has no cloud_init */
int virt_seed_rewrite(virt_conn_t *vc, const pool_config_t *p, const char *id,
                      char *err, size_t errlen);
/* the operator's domain (of zone) taken into pool p: tagged as instance
   `domain` (its name is its id) with origin adopted, model (its
   template and version) and, in mode static, address (IP:PORT); started
   when it is not running.  Never made, never removed as failed; deleted
   only through the API.  -1 with err when there is no such domain or it
   already carries a tag */
int virt_adopt(virt_conn_t *vc, const pool_config_t *p, const char *zone,
               const char *domain, const virt_model_t *model,
               const char *address, char *err, size_t errlen);

/* redis_conn.c: every connection the scaler makes to Redis: AUTH
   [username] password (or a PING), SELECT db, and with redis.sentinel the
   master asked of the sentinels and checked with ROLE (docs/scaler.md,
   "Redis") */
#define REDIS_HOST_MAX          64
#define REDIS_AUTH_RETRY_MS     10000 /* after refused credentials */
#define REDIS_AUTH_LOG_MS       60000 /* a refusal logged this often */
#define REDIS_SENTINEL_CHECK_MS 1000  /* a connection in use re-asks */

typedef enum {
    REDIS_FAIL_NONE = 0,
    REDIS_FAIL_CONNECT,  /* unreachable, timed out, lost */
    REDIS_FAIL_AUTH,     /* credentials refused (or none given) */
    REDIS_FAIL_SETUP,    /* SELECT or ROLE refused */
    REDIS_FAIL_SENTINEL, /* no sentinel named the master */
    REDIS_FAIL_ROLE      /* the one named is not a master (yet) */
} redis_fail_t;

/* deep copies (a connection outlives the configuration it came from) */
void redis_config_copy(redis_config_t *dst, const redis_config_t *src);
void redis_config_release(redis_config_t *rc);
/* AUTH [username] password as argv; 0 (nothing) without a password */
int redis_auth_argv(const redis_config_t *rc, const char *argv[3],
                    size_t len[3]);
/* " of user U" (or "") for messages */
const char *redis_who(const redis_config_t *rc, char *buf, size_t size);
/* 1 when host (len bytes) is an IPv4 or IPv6 literal */
int redis_addr_literal(const char *host, size_t len);
/* a SENTINEL get-master-addr-by-name reply (redisReply *): 0 with the
   master's IP literal and port; -1 with why (an error, nil: unknown, not
   two strings, a name that is no IP literal, a bad port) */
int redis_sentinel_reply(const void *reply, char *host, size_t size, int *port,
                         const char **why);
/* a ROLE reply: 1 master, 0 replica or sentinel, -1 not a ROLE reply */
int redis_role_master(const void *reply);

/* where the master is now: found by the blocking connections, followed
   by the loop's (thread-safe) */
typedef struct redis_topo redis_topo_t;
redis_topo_t             *redis_topo_new(void);
void                      redis_topo_free(redis_topo_t *t);
/* 0 with the master's address, -1 when none was found yet; *gen changes
   whenever the address does */
int redis_topo_get(redis_topo_t *t, char *host, size_t size, int *port,
                   unsigned *gen);
/* the master of gen failed (a failover may be why): the next blocking
   use asks the sentinels */
void redis_topo_stale(redis_topo_t *t, unsigned gen);

/* one blocking connection (one thread's); who prefixes its log lines */
typedef struct redis_conn redis_conn_t;
redis_conn_t *redis_conn_new(const redis_config_t *cfg, redis_topo_t *topo,
                             uint64_t timeout_ms, const char *who);
void          redis_conn_free(redis_conn_t *rc);
/* a ready connection to the master, or NULL (redis_conn_error(),
   redis_conn_failure()); refused credentials are not tried again for
   REDIS_AUTH_RETRY_MS */
struct redisContext;
struct redisContext *redis_conn_get(redis_conn_t *rc);
/* the connection failed mid-command: it goes, the next get makes one */
void         redis_conn_drop(redis_conn_t *rc);
const char  *redis_conn_error(const redis_conn_t *rc);
redis_fail_t redis_conn_failure(const redis_conn_t *rc);

/* registry_tx.c: the scaler's Redis writes as commands (argv), built
   once for both transports; the strings point into the tx and into the
   caller's arguments (valid while those are).  Every write is a script;
   with a fence (the lease's value as this scaler holds it, ha.c) the
   script first compares it with PREFIXscaler:lease and refuses the whole
   write with an error "FENCED ..." when it differs */
#define REGISTRY_TX_CMDS   4
#define REGISTRY_TX_ARGS   18
#define REGISTRY_FENCED    "FENCED"
#define REGISTRY_FENCE_MAX 255 /* the lease's value (ha.c) */
typedef struct {
    int         argc;
    const char *argv[REGISTRY_TX_ARGS];
    size_t      argvlen[REGISTRY_TX_ARGS];
} registry_cmd_t;

typedef struct {
    registry_cmd_t cmd[REGISTRY_TX_CMDS];
    int            n;
    char           k[6][SCALESET_KEY_MAX];
    char           lease[SCALESET_KEY_MAX];
    char           nkeys[REGISTRY_TX_CMDS][4];
    char           num[24], num2[24];
    char           copy[2048]; /* registry_tx_hash's fields and values:
                                  a queued write outlives its caller */
} registry_tx_t;

/* the write protocol for one member, one script: HSET members id rec (rec
   NULL: HDEL, and the instance's protection and standby fields go with
   it), HSETNX draining id drain_since (0: HDEL draining id), INCR epoch,
   PUBLISH events with the new epoch (the script's answer); -1 when id,
   pool or prefix is invalid.  fence NULL: unfenced (no ha) */
int registry_tx_member(registry_tx_t *tx, const char *prefix, const char *fence,
                       const char *pool, const char *id, const char *rec,
                       uint64_t drain_since);
/* the same; a member registered without drain leaves standby (HDEL
   standby id), one with standby (and a drain) enters it: HSET standby
   id standby */
int registry_tx_member_standby(registry_tx_t *tx, const char *prefix,
                               const char *fence, const char *pool,
                               const char *id, const char *rec,
                               uint64_t drain_since, const char *standby);
/* SET PREFIX{POOL}:capacity cap */
int registry_tx_capacity(registry_tx_t *tx, const char *prefix,
                         const char *fence, const char *pool, int cap);
/* reserves the instance numbers from + 1 .. to: PREFIX{POOL}:seq becomes
   `to` unless it is a number above `from`; the script answers 1 reserved,
   0 refused */
int registry_tx_seq(registry_tx_t *tx, const char *prefix, const char *fence,
                    const char *pool, long from, long to);
/* the upgrade record's write: one EVAL that replaces the hash whole (and
   increments its gen) when its gen is still expect ("*": whatever it is,
   for the API's writes over a refused record), fenced as every write;
   its reply is the new gen, 0 when refused.  The values are formatted
   into tx->buf (malloc'd: registry_tx_upgrade_free) */
#define REGISTRY_UPGRADE_ARGS (7 + 2 * UPGRADE_FIELDS)
typedef struct {
    int         argc;
    const char *argv[REGISTRY_UPGRADE_ARGS];
    size_t      argvlen[REGISTRY_UPGRADE_ARGS];
    char        key[SCALESET_KEY_MAX];
    char        lease[SCALESET_KEY_MAX];
    char        nkeys[4];
    char        expect[24];
    char       *buf;
} registry_upgrade_tx_t;
int  registry_tx_upgrade(registry_upgrade_tx_t *tx, const char *prefix,
                         const char *fence, const char *pool, const upgrade_t *u,
                         const char *expect);
void registry_tx_upgrade_free(registry_upgrade_tx_t *tx);
/* HSET PREFIX{POOL}:KIND with n field/value pairs fv[2i], fv[2i+1] (at
   most 5, copied into tx), or with fv[1] NULL (n 1) HDEL of field fv[0];
   -1 when the key or a value is invalid or they do not fit */
int registry_tx_hash(registry_tx_t *tx, const char *prefix, const char *fence,
                     const char *pool, scaleset_key_kind_t kind,
                     const char *const *fv, int n);
/* 1 with err when a reply (a redisReply *) of a tx failed: none, an error,
   or an EXEC whose array holds one */
int registry_reply_failed(const void *reply, char *err, size_t errlen);
/* 1 when err (an error reply's text) is the fence's refusal */
int registry_error_fenced(const char *err);

/* registry.c */
typedef struct registry registry_t;
registry_t *registry_open(const redis_config_t *cfg, redis_topo_t *topo,
                          const char *prefix);
void        registry_close(registry_t *r);
/* the text of the last failure of r ("" before any) */
const char *registry_error(const registry_t *r);
/* what kind of failure the last one was (REDIS_FAIL_AUTH: credentials) */
redis_fail_t registry_failure(const registry_t *r);
/* 1 when the last write was refused by the fence: the lease is lost */
int registry_refused(const registry_t *r);
/* the fence every write carries from now on (ha_fence()), or NULL */
void registry_fence(registry_t *r, const char *fence);

/* a hash as Redis sent it: fields and values point into the reply (or
   the HSCAN pages) */
typedef struct {
    void        *reply;
    void       **pages;
    int          npages;
    const char **field, **value;
    size_t      *flen, *vlen;
    int          n;
    int          ok;       /* read, at most max fields */
    char         err[128]; /* !ok: why */
    long long    ttl_ms;   /* registry_read_health: the key's PTTL
                              (-1 none, -2 unknown) */
} registry_hash_t;
void registry_hash_free(registry_hash_t *h);

/* the pool's stored state in one round trip: the hashes of kinds[] (at
   most REGISTRY_READ_MAX; each refused, !ok, beyond max fields, the last
   refusal in registry_error()) into hashes[], and PREFIX{POOL}:seq (as
   it is, "" unset, "?" when it does not fit); -1 when Redis did not
   answer */
#define REGISTRY_READ_MAX 8
int registry_read_pool(registry_t *r, const char *pool, int max,
                       const scaleset_key_kind_t *kinds, int n,
                       registry_hash_t *hashes, char *seq, size_t seqlen);
/* every gateway's report hash PREFIX{POOL}:health:GATEWAY (found with
   SCAN, read with HSCAN: read-only commands, as the scaler's ACL user has
   them on those keys; each refused, !ok, beyond max fields; a key that is
   no gateway's is skipped, *skipped of them); *gw and *hashes malloc'd,
   *n of each; -1 when Redis did not answer or there are more than maxgw
   gateways (registry_error() says "more than N keys") */
int registry_read_health(registry_t *r, const char *pool, int maxgw, int max,
                         char (**gw)[SCALESET_NAME_MAX + 1],
                         registry_hash_t **hashes, int *n, int *skipped);
/* reserves the instance numbers from + 1 .. to (registry_tx_seq: not when
   another writer handed those out meanwhile); 1 reserved, 0 refused, -1
   failed */
int registry_seq_reserve(registry_t *r, const char *pool, long from, long to);
int registry_set(registry_t *r, const char *pool, const char *id,
                 const char *rec);
int registry_del(registry_t *r, const char *pool, const char *id);
/* rec has "drain": also records when the drain began (kept if set) */
int registry_set_drain(registry_t *r, const char *pool, const char *id,
                       const char *rec, uint64_t since_ms);
/* writes u as the pool's upgrade record if its gen is still expect (0:
   no record): 1 (*gen the new one), 0 refused (another writer, the API,
   changed it), -1 failed */
int registry_upgrade_write(registry_t *r, const char *pool, const upgrade_t *u,
                           uint64_t expect, uint64_t *gen);
/* registry_tx_hash() */
int registry_hash_write(registry_t *r, const char *pool,
                        scaleset_key_kind_t kind, const char *const *fv, int n);
/* PUBLISH PREFIX{POOL}:KIND msg */
int registry_publish(registry_t *r, const char *pool, scaleset_key_kind_t kind,
                     const char *msg);
/* id enters standby (PREFIX{POOL}:standby id value) and, registered (rec
   with drain), drains in the same transaction */
int registry_set_standby(registry_t *r, const char *pool, const char *id,
                         const char *rec, uint64_t since_ms, const char *value);
/* the stored capacity as Redis has it ("?" when longer than size - 1
   bytes or holding a NUL: no valid capacity is): 1, 0 when unset, -1 on
   failure */
int registry_capacity_get(registry_t *r, const char *pool, char *buf,
                          size_t size);

/* registry_async.c: the event loop's Redis writes, non-blocking (hiredis
   async on the loop's event_base).  Each calls done(ok, arg) exactly once,
   on the loop (never from inside the call): ok 1 when Redis confirmed, 0
   when it failed, was unreachable or did not answer within
   REGISTRY_ASYNC_TIMEOUT_MS (the connection is then dropped and made
   again by the next operation; the write may still take effect if Redis
   was only slow).  The commands are registry_tx.c's. */
#define REGISTRY_ASYNC_TIMEOUT_MS 1000
struct event_base;
typedef struct registry_async registry_async_t;
typedef void (*registry_async_done_t)(int ok, void *arg);
/* topo: followed with redis.sentinel (the blocking connections find the
   master) */
registry_async_t *registry_async_open(struct event_base    *base,
                                      const redis_config_t *cfg,
                                      redis_topo_t *topo, const char *prefix);
/* why the last operation failed ("redis ... refused the credentials ...",
   "redis ... unreachable from the loop: ...") */
const char *registry_async_error(const registry_async_t *ra);
/* the pending operations fail (done(0, arg)) before it returns */
void registry_async_close(registry_async_t *ra);
void registry_async_capacity_set(registry_async_t *ra, const char *pool,
                                 int cap, registry_async_done_t done,
                                 void *arg);
/* the upgrade record's write (registry_tx_upgrade); *result (set before
   done) is the new gen, 0 when refused (the record changed meanwhile) */
void registry_async_upgrade_write(registry_async_t *ra, const char *pool,
                                  const upgrade_t *u, const char *expect,
                                  long long *result, registry_async_done_t done,
                                  void *arg);
/* registry_tx_hash() */
void registry_async_hash(registry_async_t *ra, const char *pool,
                         scaleset_key_kind_t kind, const char *const *fv, int n,
                         registry_async_done_t done, void *arg);

/* ha.c: several scalers, one acting (ha: { lease }): the lease
   PREFIXscaler:lease on a thread of its own, the fence every write
   carries, the lease as the passes, the API and virt.c ask for it */
#define HA_URL_MAX 224

typedef enum {
    HA_OFF = 0,
    HA_LEADER,
    HA_STANDBY
} ha_role_t;

/* the lease as this scaler knows it (mono ms) */
typedef struct {
    int      leader;
    uint64_t valid_until;
} ha_lease_t;

typedef enum {
    HA_GOT = 0,        /* SET NX PX took it */
    HA_HELD_ELSEWHERE, /* another holds it */
    HA_KEPT,           /* renewed */
    HA_GONE,           /* not ours anymore (expired, taken) */
    HA_NO_ANSWER       /* Redis did not answer */
} ha_result_t;

/* the lease after an attempt sent at `sent` answered r by `now` */
void ha_lease_step(ha_lease_t *l, ha_result_t r, uint64_t sent, uint64_t now,
                   uint64_t lease_ms);
/* 1 while leading with more than a quarter of the lease left */
int ha_lease_acting(const ha_lease_t *l, uint64_t now, uint64_t lease_ms);
/* when to try next after an attempt sent at `sent` answered r */
uint64_t ha_lease_next(ha_result_t r, uint64_t sent, uint64_t lease_ms);

/* without cf->ha_lease_ms: nothing (every scaler acts, unfenced); else
   the lease thread, a byte written to notify_fd at each change of role */
int ha_start(const scaler_config_t *cf, redis_topo_t *topo, int notify_fd);
/* the thread stopped, the lease released when held */
void ha_stop(void);
/* the fence of a write made now: 0 without ha (unfenced), else 1 with the
   lease's value as held (or "-", which no lease has, when standing by) */
int ha_fence(char *buf, size_t size);
/* 1 when this scaler may act on libvirt now (always without ha) */
int ha_acting(void);
/* a pass's role as it starts: HA_LEADER only while acting, with the fence
   its writes carry and the term (changes with each lease taken) */
ha_role_t ha_pass(char *fence, size_t size, unsigned *term);
/* the pass of term read the capacities back: the API and autoscale may
   write from now on (ha_writable()) */
void ha_ready(unsigned term);
/* a pass as leader of term ended */
void ha_passed(unsigned term);
/* 1 when API writes and autoscale decisions are this scaler's */
int ha_writable(void);
/* a write carrying fence was refused by it: that lease is over */
void ha_fenced(const char *fence);

typedef struct {
    int           enabled, leader, acting, ready;
    char          self[HA_URL_MAX];
    char          leader_url[HA_URL_MAX]; /* "" unknown */
    uint64_t      lease_ms, left_ms;
    uint64_t      since; /* UNIX ms; 0 standby */
    unsigned long term_passes, acquired, lost;
} ha_status_t;
void ha_status(ha_status_t *st);

/* reconcile.c */
/* docs/design.md, "Lifecycle": creating -> booting -> running ->
   draining -> stopping -> deleting */
typedef enum {
    INST_CREATING = 0,
    INST_BOOTING,
    INST_RUNNING,
    INST_DRAINING,
    INST_DELETING,
    INST_WARM,              /* in the warm pool: booting towards it,
                               or kept paused, saved or running */
    INST_STOPPING,          /* drained: ACPI shutdown sent, waiting for
                               it to power off (shutdown_timeout) */
    INST_REPAIRING,         /* restarted or reimaged (registered), until
                               it is up again */
    INST_STANDBY,           /* drained from the gateways and kept
                               running for an operator, not counted */
    INST_PENDING_LAUNCH,    /* ready, waiting for the launch hook */
    INST_PENDING_TERMINATE, /* drained, waiting for the terminate
                               hook */
    INST_STATE_COUNT
} inst_state_t;

/* one gateway's report on one instance (PREFIX{POOL}:health:GATEWAY) */
typedef struct {
    int                     gateway; /* index into the pool's gateways */
    scaleset_health_state_t state;
    uint64_t                conns;
    uint64_t                fails;
    uint64_t                checked; /* UNIX ms of the gateway's check */
    uint64_t                at;      /* UNIX ms the gateway made the
                                        report (its clock); 0: a record
                                        without at= */
} report_t;

/* a gateway that reports on a pool: its health key was read this pass,
   or was read within drain.gateway_ttl (it is still present: its report
   holds a drain until it reports again) */
typedef struct {
    char     name[SCALESET_NAME_MAX + 1];
    int      read;   /* its reports were read this pass */
    uint64_t at;     /* read: the newest at= of its records */
    uint64_t seen;   /* UNIX ms this scaler last read them */
    uint64_t ttl_ms; /* its key's TTL, the largest seen; 0 */
} gateway_t;

/* instance protection (PREFIX{POOL}:protection): from scale-in, or from
   every scale-set action (scale-in, repair, upgrades, reimage); an
   operator's explicit request is never blocked */
typedef enum {
    PROTECT_NONE = 0,
    PROTECT_SCALE_IN, /* "scale_in" */
    PROTECT_ALL       /* "all" */
} protect_t;

/* "none", "scale_in", "all" */
const char *protect_name(protect_t p);

/* what the API asked of an instance, carried out by the passes
   (reconcile_ask) */
#define ASK_DELETE  0x01u /* drained (registered), then deleted */
#define ASK_FORCE   0x02u /* with ASK_DELETE: deleted at once */
#define ASK_RESTART 0x04u /* POST .../restart */
#define ASK_REIMAGE 0x08u /* POST .../reimage */
#define ASK_STANDBY 0x10u /* POST .../standby */
#define ASK_ACTIVE  0x20u /* POST .../active */
#define ASK_DECREMENT                           \
    0x40u /* with ASK_STANDBY: the capacity was \
             lowered for it (?decrement=true) */
#define ASK_CONTINUE                                                   \
    0x80u                    /* POST .../lifecycle: the pending hook's \
                                result continue */
#define ASK_ABANDON   0x100u /* ... abandon */
#define ASK_HEARTBEAT 0x200u /* ... {"heartbeat":true} */

/* the lifecycle hook an instance waits in */
typedef enum {
    HOOK_NONE = 0,
    HOOK_LAUNCH,   /* ready, not registered yet */
    HOOK_TERMINATE /* drained, not shut down yet */
} inst_hook_t;

/* an instance's part in a repair (what this scaler remembers) */
typedef enum {
    IREP_NONE = 0,
    IREP_REPLACED,    /* down: drained and deleted, replaced */
    IREP_REPLACEMENT, /* created for one replaced, until it is
                         up on every present gateway */
    IREP_RESTARTED,   /* reset, until it is up again */
    IREP_REIMAGED     /* made again from the base image, until
                         it is up again */
} inst_repair_t;

/* a pool's repairs (PREFIX{POOL}:repair): a circuit breaker over the
   failures of new and repaired instances */
typedef struct {
    int      suspended; /* no repair; creation backs off */
    unsigned failures;  /* in a row, since the last success */
    uint64_t since;     /* UNIX ms it was suspended */
    uint64_t retry;     /* UNIX ms before which nothing is
                           created (the backoff); 0 none */
    char reason[160];   /* the last failure */
} repair_state_t;

/* repair.c: the pool's repair state in PREFIX{POOL}:repair */
/* "active" or "suspended" */
const char *repair_state_name(const repair_state_t *rs);
/* the hash h (read) over *rs (as known): its valid fields replace *rs's,
   an empty hash is active without failures; returns the fields refused */
int repair_decode(const registry_hash_t *h, uint64_t now, repair_state_t *rs);
int repair_equal(const repair_state_t *a, const repair_state_t *b);
/* the hash's 5 field/value pairs for registry_tx_hash() (num: their
   numbers' room) */
void repair_fields(const repair_state_t *rs, char num[3][24],
                   const char *fv[10]);
int  repair_store(registry_t *reg, const char *pool, const repair_state_t *rs);

/* an instance as the last pass left it (the published state); what this
   scaler remembers of it from pass to pass (the state, times, asks,
   repair, hook) is copied by observe.c's remember() */
typedef struct {
    char id[SCALESET_ID_MAX + 1];
    int  zone;
    int  host;        /* index into the pool's hosts: where it
                         was listed (or created) */
    long         seq; /* the id's number */
    inst_state_t state;
    char         address[80];
    virt_model_t model;         /* from its tag: version, digests,
                                   template, host, created */
    int tmpl;                   /* its template (model.template) among the
                                   pool's; -1: one the config no longer
                                   has */
    origin_t  origin;           /* from its tag */
    int       latest;           /* model is the pool's latest */
    uint64_t  seen;             /* UNIX ms this scaler first saw it */
    uint64_t  drain_seen;       /* UNIX ms it first saw it draining; 0 */
    uint64_t  stop_since;       /* UNIX ms its ACPI shutdown was sent; 0 */
    unsigned  asked;            /* ASK_*: what the API asked, not done */
    protect_t protection;       /* as the last pass read it */
    int       standby;          /* on standby (PREFIX{POOL}:standby): 1,
                                   2 when entered with ?decrement=true */
    inst_hook_t hook;           /* the hook it waits in */
    uint64_t    hook_since;     /* UNIX ms it began waiting */
    uint64_t    hook_beat;      /* UNIX ms of its last heartbeat; 0 */
    uint64_t    down_since;     /* UNIX ms since every present gateway
                                   reports it down; 0 */
    inst_repair_t repair;       /* its part in a repair */
    uint64_t      repair_since; /* UNIX ms that began */
    char          repair_of[SCALESET_ID_MAX + 1]; /* a replacement: the
                                 id it replaces */
    char hold[160];        /* what its drain waits for, as logged */
    int  lost;             /* counted as lost: its host was
                              unreachable longer than zone_failover
                              (its capacity rebuilt elsewhere) */
    unsigned weight;       /* its member record's; 0: unregistered */
    int      warm;         /* its tag says it is in the warm pool */
    int      parked;       /* warm, past its launch hook (remembered) */
    int      reuse;        /* drained, waiting in the terminate hook on
                              its way back to the warm pool
                              (reuse_on_scale_in; remembered) */
    virt_power_t power;    /* as listed */
    int          report0;  /* its gateway reports: the pool's */
    int          nreports; /*   reports[report0 .. + nreports) */
    vm_stats_t   vm;       /* from this pass's list (have 0: none) */
} instance_t;

typedef struct {
    char     id[SCALESET_ID_MAX + 1];
    unsigned ask; /* ASK_* */
} pool_ask_t;
/* an instance asked for by hand through the API (POST .../instances,
   POST .../instances/adopt), for the next pass */
typedef struct {
    origin_t origin;                  /* ORIGIN_MANUAL: one more made;
                                         ORIGIN_ADOPTED: domain taken in */
    int  tmpl;                        /* its template */
    int  zone;                        /* -1 (manual): where placement says */
    char domain[SCALESET_ID_MAX + 1]; /* adopted: its name */
    char address[80];                 /* adopted, mode static: IP:PORT */
} hand_req_t;

/* what went wrong, for scaleset_scaler_errors_total{pool,kind} */
typedef enum {
    ERR_LIBVIRT = 0, /* a zone's libvirt did not answer a pass */
    ERR_REDIS,       /* a Redis command of a pass failed */
    ERR_CREATE,      /* an instance could not be created */
    ERR_DELETE,      /* an instance's domain could not be deleted */
    ERR_ADDRESS,     /* no free address for a new instance */
    ERR_REDIS_DATA,  /* a value read from Redis was refused or
                        clamped */
    ERR_AUTH,        /* Redis refused the scaler's credentials */
    ERR_FENCED,      /* a write refused by the fence: the lease
                        was lost (ha) */
    ERR_WAKE,        /* a warm instance could not be woken (or was
                        not ready again in time): deleted */
    ERR_REPAIR,      /* a restart or reimage failed */
    ERR_KIND_COUNT
} err_kind_t;

/* "libvirt", "redis", "create", "delete", "address", "redis_data",
   "auth", "fenced", "wake", "repair" */
const char *err_kind_name(int kind);

typedef struct {
    pool_config_t   *cf;
    scaler_config_t *conf;           /* the whole of it (cf's): held by
                                        host calls that outlive a pass */
    host_t *hosts[SCALER_MAX_HOSTS]; /* one per host: its
                                 connection and workers */
    uint64_t    host_timeout_ms;     /* libvirt.timeout */
    registry_t *preg;                /* the pool's pass connection */
    const int  *cancel;              /* the pass thread's stop flag */
    int         capacity;            /* desired: the loop's, the one
                                        owner (Redis persists it) */
    uint64_t interval_ms;            /* the scaler's interval */
    char     digest[SCALER_MAX_TEMPLATES][MODEL_DIGEST_LEN + 1];
    /* each template's */
    char image[SCALER_MAX_TEMPLATES][SCALER_MAX_HOSTS][MODEL_DIGEST_LEN + 1];
    /* each template's base image on
       each host, as last read */
    instance_t *inst;
    int         ninst, cinst;
    report_t   *reports; /* the last pass's gateway reports */
    int         nreports;
    gateway_t  *gateways; /* and its gateways: those read and
                             those still present */
    int      ngateways;
    int      redis_ok;
    int      redis_lost;                        /* logged as not read */
    int      reports_lost;                      /* the gateways' reports, too */
    int      host_down[SCALER_MAX_HOSTS];       /* logged as down */
    uint64_t host_down_since[SCALER_MAX_HOSTS]; /* UNIX ms it
                                   was first unreachable; 0 up */
    int host_failed[SCALER_MAX_HOSTS];          /* logged as failed
                                       over */
    unsigned long actions_up, actions_down;
    unsigned long repairs;   /* repairs begun: not ready within
                                health.grace, down, API */
    unsigned long  wakes;    /* warm instances put in service */
    repair_state_t repair;   /* the circuit breaker, as the
                                last pass left it */
    int           repairing; /* repairs under way */
    unsigned long errors[ERR_KIND_COUNT];
    int           protected_above; /* instances kept above the
                                      capacity: every candidate for
                                      scale-in is protected */
    pool_ask_t *asks;              /* the API's requests for the next
                                      pass */
    int nasks;
    /* upgrades (plan_upgrade.c): the record as the last pass left it,
       the model new instances get, the previous model's recipe (the
       pass thread's), the batches ended */
    upgrade_t    upgrade;
    int          upgrade_lost;                 /* logged as refused */
    char         images[MODEL_DIGEST_LEN + 1]; /* obs->images */
    virt_model_t model;                        /* template 0, zone 0's target */
    char         key[UPGRADE_MODEL_MAX + 1];   /* the pool's latest
                                        model as the record names it
                                        (upgrade_pool_model); "" before
                                        a pass */
    int           previous_ok;
    virt_recipe_t recipe[SCALER_MAX_TEMPLATES]; /* each template's
                                       previous model's */
    char     recipe_tried[SCALER_MAX_TEMPLATES][MODEL_DIGEST_LEN + 1];
    uint64_t recipe_tried_at[SCALER_MAX_TEMPLATES];
    char     previous_image[SCALER_MAX_TEMPLATES][SCALER_MAX_HOSTS]
                       [MODEL_DIGEST_LEN + 1];
    unsigned long upgrade_batches[3]; /* succeeded, failed, rolled_back */
    /* the passes (the pass thread writes these under the lock) */
    uint64_t      pass_started;  /* mono ms; 0: none running */
    uint64_t      pass_ms;       /* the last one's duration */
    uint64_t      pass_ms_total; /* all of theirs */
    unsigned long passes;        /* ended */
    unsigned long slow_passes;   /* ran longer than slow_pass */
    int           slow_reported; /* the running one was */
    int           read_only;     /* this pass observes only (a
                                    standby's, ha.c) */
    hand_req_t *hand;            /* API requests for instances by
                                    hand, for the pass */
    int              nhand;
    struct act_bg_s *bg; /* the warm pool's calls in flight
                            (act_bg.c): the pass thread's alone */
    int nbg, cbg;
} pool_state_t;

/*
 * Each pool's passes run on a thread of their own (reconcile_thread.c)
 * with their own Redis connection (ps->preg) and the pool's hosts' own
 * workers (host.c), so libvirt and Redis never block the event loop nor
 * another pool.  A pass works on a private copy of its pool's state and
 * publishes it under lock; the loop (API, autoscale, metrics) reads and
 * changes the published state under the same lock (reconcile_lock()).
 */
typedef struct {
    scaler_config_t           *cf;
    redis_topo_t              *topo; /* where the master is (main.c) */
    registry_t                *reg;  /* reconcile_init()'s */
    registry_async_t          *areg; /* the loop's writes (main.c) */
    pool_state_t              *pools;
    int                        npools;
    struct reconcile_thread_s *thread;
} scaler_t;

/* a pool's capacity is prev's pool of that name's (a reload: no Redis on
   the loop), else the one stored in Redis as the bounds in force take it
   (policy_stored_capacity: clamped, or the default when it is no
   capacity; logged and counted), else its default.  s->topo is set */
void reconcile_init(scaler_t *s, scaler_config_t *cf, scaler_t *prev);
/* a reload, once prev's passes stopped (reconcile_stop) and before it is
   freed: the warm pool's calls in flight (act_bg.c) move to s's pool of
   the same name, on the same host; the others run to their end
   unobserved */
void reconcile_carry_calls(scaler_t *s, scaler_t *prev);
/* ps->capacity from the one stored in Redis, as reconcile_init() takes it
   (with reg: the pass thread's, for a lease just taken); 0 read (or
   unset: kept), -1 when Redis did not answer */
int reconcile_capacity_stored(registry_t *reg, pool_state_t *ps);
/* one pool's pass on ps (observe, plan, act: plan.h), with the pool's
   pass connection ps->preg; asks: the API's requests (freed here) */
void reconcile_pool_pass(scaler_t *s, pool_state_t *ps, pool_ask_t *asks,
                         int nasks);
/* the pass threads, one per pool: done() is called on base's loop after
   every pass, with the passes every pool has ended at least (0 until
   each had its first) */
struct event_base;
int reconcile_start(scaler_t *s, struct event_base *base,
                    void (*done)(scaler_t *s, unsigned long passes));
/* a pass of every pool as soon as its current one (if any) ends */
void reconcile_kick(scaler_t *s);
/* the passes every pool has ended at least */
unsigned long reconcile_passes(scaler_t *s);
/* stops the threads: a pass waiting for a host gives up its calls (they
   end on their own), one in a Redis command ends it first */
void reconcile_stop(scaler_t *s);
/* the published state: held by the loop while it reads or changes it
   (recursive) */
void reconcile_lock(scaler_t *s);
void reconcile_unlock(scaler_t *s);
/* under the lock: the API asks ask (ASK_*) of instance id; the next
   pass (kicked) carries it out */
void reconcile_ask(scaler_t *s, pool_state_t *ps, const char *id, unsigned ask);
/* under the lock: an instance by hand for the next pass (kicked) */
void reconcile_hand_later(scaler_t *s, pool_state_t *ps, const hand_req_t *r);
void reconcile_free(scaler_t *s);
pool_state_t *reconcile_pool(scaler_t *s, const char *name);
const char   *inst_state_name(inst_state_t st);
int           pool_actual(const pool_state_t *ps);

/* api.c */
struct event_base;
struct evhttp_request;
struct json_t;
int api_start(struct event_base *base, scaler_t *s);
/* an answer: j (stolen), or {"error":...} */
void api_reply_json(struct evhttp_request *req, int code, struct json_t *j);
void api_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* the body of POST .../lifecycle, {"hook":"launch|terminate","result":
   "continue|abandon"} or {"hook":...,"heartbeat":true}: 0 with *hook and
   *ask (ASK_CONTINUE, ASK_ABANDON or ASK_HEARTBEAT), or -1 with why */
int api_lifecycle_body(const char *body, size_t len, inst_hook_t *hook,
                       unsigned *ask, char *why, size_t whylen);

/* api_events.c: GET /v1/pools/{pool}/events?since=SEQ[&wait=S], a long
   poll answered when a pass made events (api_events_wake(), on the loop
   after each pass) or after S seconds (at most 60) */
void api_events_get(struct evhttp_request *req, struct event_base *base,
                    const char *pool);
void api_events_wake(void);
/* before the API's server goes: the waiting requests are dropped */
void api_events_stop(void);
/* after a reload that kept the server: the new api.timeout */
void api_reconfigure(void);
void api_stop(void);
/* the body of PUT .../capacity, {"capacity":N}: 0 with *cap, or -1 with
   why (a JSON error, "\"capacity\" must be an integer"; printable
   ASCII) */
int api_capacity_body(const char *body, size_t len, long long *cap, char *why,
                      size_t whylen);
/* api.c's answers, for the API's other files */
struct evhttp_request;
void api_reply_json(struct evhttp_request *req, int code, struct json_t *j);
void api_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* api_upgrade.c: GET|POST /v1/pools/{pool}/upgrade, POST .../cancel,
   POST .../rollback (docs/upgrades.md); on the loop, under the reconcile
   lock */
/* the upgrade as the last pass left it, with the live counts */
struct json_t *api_upgrade_json(const pool_state_t *ps);
/* what (the path after /upgrade: "", "/cancel", "/rollback") asked */
void api_upgrade(struct evhttp_request *req, scaler_t *s, pool_state_t *ps,
                 const char *what);
/* instances of ps booting or running, not on its model (outdated) */
int pool_outdated(const pool_state_t *ps);
/* api_stop(): the requests waiting for Redis lose their connection */
void api_upgrade_stop(void);
/* the body of PUT .../instances/{id}/protection,
   {"scale_in":B,"scale_set_actions":B} (each optional, false when
   absent; scale_set_actions implies scale_in): 0 with *p, or -1 with
   why */
int api_protection_body(const char *body, size_t len, protect_t *p, char *why,
                        size_t whylen);

/* the body of POST .../instances ({"template","zone"}, both optional) or
   of POST .../instances/adopt (adopt: {"domain","zone"} required,
   "address" IP:PORT in mode static, "template" optional) against pool p:
   0 with *r, or -1 with why */
int api_hand_body(const char *body, size_t len, const pool_config_t *p,
                  int adopt, hand_req_t *r, char *why, size_t whylen);

/* api_http.c: what the API's HTTP server lets in */
#define API_TOKEN_MAX   1024  /* api.token_file's token */
#define API_HEADERS_MAX 8192  /* a request's head */
#define API_BODY_MAX    16384 /* a request's body */
struct evhttp;
/* evhttp's limits (head, body, read/write timeout) and the gate: when
   token() returns a token, a connection whose first request's head does
   not carry it passes that head without its body (nothing after it is
   read) and no more; token() is asked for each connection */
void api_http_limits(struct evhttp *http, uint64_t timeout_ms,
                     const char *(*token)(void) );
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
int api_head_check(const char *head, size_t len, const char *token, char *out,
                   size_t *outlen);

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
void           history_free(void);

/* autoscale_daemon.c: the autoscale runners of the daemon (one per pool
   with rules or schedules); kick asks for a reconcile pass soon */
int autoscaler_start(struct event_base *base, scaler_t *s, void (*kick)(void));
/* next: the reloaded state (configs matched by pool and rule name, before
   the old config is freed); home: where the state lives afterwards */
void                autoscaler_reload(scaler_t *next, scaler_t *home);
void                autoscaler_tick(scaler_t *s);
autoscale_runner_t *autoscaler_runner(const char *pool);
/* the Prometheus client (NULL without prometheus.url): valid until the
   next reload or autoscaler_stop() */
prom_client_t *autoscaler_prom(void);
/* the runners' families (autoscale_metrics_write()) */
void autoscaler_metrics(expo_t *e);
void autoscaler_stop(void);

/* vmstats.c: the host-side VM metrics of every pool's instances, from
   the published state (the caller holds reconcile_lock()) */
void vmstats_metrics(expo_t *e, scaler_t *s);

/* events.c: lifecycle events (JSON {"pool","id","event","state","reason",
   "rule","at","seq"}): published on PREFIX{POOL}:lifecycle, kept for the
   API (the last 1000 per pool), POSTed to hooks.webhook in order by a
   thread of their own */
int events_start(void);
/* the webhook thread stops (before curl's global cleanup) */
void events_stop(void);
/* what is kept, and what was not delivered (after the passes stopped) */
void events_free(void);
/* from a pass (reg: its connection, NULL: not published) */
void events_emit(registry_t *reg, const pool_config_t *p, const char *id,
                 const char *event, const char *state, const char *rule,
                 const char *reason);
/* pool's events after seq since, oldest first (a JSON array, the caller
   owns it); *last: the newest seq */
struct json_t *events_since(const char *pool, unsigned long long since,
                            unsigned long long *last);
/* emitted, webhook sent, webhook dropped or given up, not published */
void events_counts(const char *pool, unsigned long counts[4]);

/* watchdog.c: WATCHDOG=1 from the loop (every second, or half of
   WATCHDOG_USEC), passes past slow_pass reported (log, STATUS=, metric);
   s stays valid (a reload changes *s in place) */
int watchdog_start(struct event_base *base, scaler_t *s);
/* STATUS=: slow passes, then each pool's running/capacity */
void watchdog_status(scaler_t *s);
void watchdog_stop(void);

/* log.c */
void slog(const char *pool, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* levels: syslog's priorities; slog() logs at SLOG_INFO */
#define SLOG_ERR   3
#define SLOG_WARN  4
#define SLOG_INFO  6
#define SLOG_DEBUG 7
/* a line at level (below the threshold: nothing, not even formatted)
   with the pool and the instance id as fields (each NULL: none) */
void slogl(int level, const char *pool, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define slog_err(pool, id, ...)   slogl(SLOG_ERR, pool, id, __VA_ARGS__)
#define slog_warn(pool, id, ...)  slogl(SLOG_WARN, pool, id, __VA_ARGS__)
#define slog_debug(pool, id, ...) slogl(SLOG_DEBUG, pool, id, __VA_ARGS__)
/* "error", "warn", "info", "debug" and back (-1: none of them) */
int         slog_level_parse(const char *name);
const char *slog_level_name(int level);
/* the threshold (log.level; SLOG_INFO until set); any thread may log */
void slog_set_level(int level);
int  slog_enabled(int level);
/* stderr is the journal's stream: "<N>" priorities from now on */
void slog_init(void);
/* 1 when env, JOURNAL_STREAM's "DEVICE:INODE", names the file of st */
struct stat;
int slog_journal_match(const char *env, const struct stat *st);
/* a whole line into buf (size >= 2): "[<N>]scaler: [LEVEL: ][pool=P ]
   [id=I ]msg\n", cut to fit but always one line (msg's CR and LF become
   spaces) ending in a newline; returns its length */
size_t slog_format(char *buf, size_t size, int level, int journal,
                   const char *pool, const char *id, const char *msg);

#endif /* SCALER_H */
