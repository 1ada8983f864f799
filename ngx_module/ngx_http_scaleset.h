
/*
 * ngx_http_scaleset_module: upstream membership held in Redis.
 * Private header shared by the module's files.
 */


#ifndef _NGX_HTTP_SCALESET_H_INCLUDED_
#define _NGX_HTTP_SCALESET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <scaleset_record.h>
#include <scaleset_check.h>

#include "ngx_http_scaleset_sched.h"


#define NGX_HTTP_SCALESET_DEFAULT_MAX_MEMBERS  256
#define NGX_HTTP_SCALESET_DEFAULT_RESYNC       5000     /* ms */

/* schedule entries per member and the minimum schedule length */
#define NGX_HTTP_SCALESET_SCHED_PER_MEMBER     4
#define NGX_HTTP_SCALESET_SCHED_MIN            4096

#define NGX_HTTP_SCALESET_LEASE_TICK           200      /* ms */
#define NGX_HTTP_SCALESET_LEASE_STALE          3000     /* ms */
#define NGX_HTTP_SCALESET_CONNECT_TIMEOUT      2000     /* ms */
#define NGX_HTTP_SCALESET_BACKOFF_MIN          100      /* ms */
#define NGX_HTTP_SCALESET_BACKOFF_MAX          3000     /* ms */

/* response time histogram buckets, the last one +Inf */
#define NGX_HTTP_SCALESET_BUCKETS              12

#define NGX_HTTP_SCALESET_BALANCE_RR           0
#define NGX_HTTP_SCALESET_BALANCE_LEAST_CONN   1

#define NGX_HTTP_SCALESET_SOURCE_NONE          0
#define NGX_HTTP_SCALESET_SOURCE_STATE         1
#define NGX_HTTP_SCALESET_SOURCE_REDIS         2

/* health state of a slot (issue 4: active checks fill these in) */
#define NGX_HTTP_SCALESET_HEALTH_UNCHECKED     0
#define NGX_HTTP_SCALESET_HEALTH_UP            1
#define NGX_HTTP_SCALESET_HEALTH_DOWN          2


/*
 * One member in shared memory.  The identity and the address are written
 * only by the lease holder under the pool's write lock; the counters are
 * updated atomically by every worker.  A slot's generation changes each
 * time it is given to another member or freed, so free_peer never counts
 * into a reused slot.
 */
typedef struct {
    /* what a request touches: the first cache line and the address */
    ngx_atomic_t                    generation;
    ngx_atomic_t                    active;        /* requests in flight */
    ngx_atomic_t                    requests;      /* total */
    ngx_atomic_t                    fails;         /* nginx's peer->fails */
    ngx_msec_t                      accessed;      /* last failure */
    ngx_msec_t                      checked;       /* last probe or failure */
    uint32_t                        weight;
    uint32_t                        max_fails;
    uint32_t                        fail_timeout;  /* ms */
    socklen_t                       socklen;

    /* the second line: responses, then an IPv4 address in full */
    ngx_atomic_t                    responses[5];  /* 1xx .. 5xx */
    ngx_sockaddr_t                  sockaddr;      /* socklen bytes */

    ngx_atomic_t                    fails_total;

    /* active health checks (issue 4) */
    ngx_msec_t                      health_checked;
    ngx_msec_t                      health_since;
    uint32_t                        health_fails;
    uint32_t                        health_passes;
    uint8_t                         health;        /* ..._HEALTH_* */
    uint8_t                         health_reason;
    uint8_t                         health_owner;
    uint8_t                         in_use;
    uint32_t                        health_latency; /* ms, last check */
    uint64_t                        health_wall;   /* UNIX ms, last check */

    /* the member, lease holder only */
    uint32_t                        flags;         /* SCALESET_MEMBER_* */

    u_char                          id_len;
    u_char                          zone_len;
    u_char                          version_len;
    u_char                          id[SCALESET_ID_MAX + 1];
    u_char                          zone[SCALESET_NAME_MAX + 1];
    u_char                          version[SCALESET_NAME_MAX + 1];
} ngx_http_scaleset_slot_t;


/* one pool's shared state: the slots and two schedule buffers */
typedef struct {
    ngx_atomic_t                    rwlock;
    ngx_atomic_t                    cursor;
    ngx_atomic_t                    build_lock;    /* pid */

    ngx_uint_t                      max_members;
    ngx_uint_t                      slot_size;     /* layout check */
    ngx_uint_t                      sched_cap;

    /* under rwlock */
    ngx_uint_t                      current;       /* schedule buffer */
    ngx_uint_t                      nprimary;      /* schedule entries */
    ngx_uint_t                      nbackup;
    ngx_uint_t                      primaries;     /* distinct members */
    ngx_uint_t                      backups;
    uint32_t                       *sched[2];      /* primaries, then backups */

    ngx_uint_t                      members;       /* slots in use */
    uint64_t                        epoch;
    ngx_atomic_t                    version;       /* applied changes */
    ngx_uint_t                      source;
    ngx_msec_t                      updated;
    time_t                          updated_sec;

    ngx_atomic_t                    bad_records;   /* in the last read */
    ngx_atomic_t                    rejected_total;
    ngx_atomic_t                    skipped_full;  /* no free slot */
    ngx_atomic_t                    applied_total;

    /* active health checks by result */
    ngx_atomic_t                    checks[SCALESET_CHECK_LAST];

    /* response times of the pool, ms */
    ngx_atomic_t                    latency[NGX_HTTP_SCALESET_BUCKETS];
    ngx_atomic_t                    latency_sum;

    ngx_http_scaleset_slot_t       *slots;
} ngx_http_scaleset_shctx_t;


/* the instance-wide shared state: the Redis lease */
typedef struct {
    ngx_atomic_t                    lease_pid;
    ngx_atomic_t                    lease_heartbeat;  /* ngx_current_msec */
    ngx_atomic_t                    lease_changes;
    ngx_atomic_t                    redis_up;
    ngx_atomic_t                    redis_errors;
} ngx_http_scaleset_main_shctx_t;


typedef struct ngx_http_scaleset_main_conf_s  ngx_http_scaleset_main_conf_t;
typedef struct ngx_http_scaleset_addr_s  ngx_http_scaleset_addr_t;


/* scaleset_health_check */
typedef struct {
    ngx_str_t                       uri;
    ngx_msec_t                      interval;
    ngx_msec_t                      jitter;
    ngx_msec_t                      timeout;
    ngx_msec_t                      slow_start;
    ngx_uint_t                      fails;
    ngx_uint_t                      passes;
    ngx_flag_t                      mandatory;
    scaleset_status_ranges_t        status;
#if (NGX_PCRE)
    ngx_regex_t                    *body;
#else
    void                           *body;
#endif
} ngx_http_scaleset_check_conf_t;


typedef struct {
    ngx_str_t                       pool;          /* NUL-terminated */
    ngx_str_t                       upstream;
    ngx_uint_t                      balance;
    ngx_uint_t                      max_members;
    size_t                          zone_size;
    ngx_msec_t                      resync;

    ngx_str_t                       key_members;   /* NUL-terminated */
    ngx_str_t                       key_epoch;
    ngx_str_t                       key_events;
    ngx_str_t                       state_file;    /* empty: none */

    ngx_shm_zone_t                 *shm_zone;
    ngx_http_scaleset_shctx_t      *sh;
    ngx_http_scaleset_main_conf_t  *main;
    ngx_http_upstream_server_t     *placeholder;
    ngx_http_scaleset_check_conf_t *check;         /* NULL: no checks */

    /* this worker's addresses of the members, by slot (balancer.c) */
    ngx_http_scaleset_addr_t      **addrs;

    /* lease holder, per process */
    unsigned                        fetching:1;
    unsigned                        refetch:1;
    unsigned                        empty_logged:1;
    ngx_msec_t                      next_resync;
    ngx_array_t                    *logged;        /* crc32 of bad records */
    ngx_uint_t                      full_logged;
} ngx_http_scaleset_srv_conf_t;


struct ngx_http_scaleset_main_conf_s {
    ngx_str_t                       redis;         /* as written */
    ngx_str_t                       redis_host;    /* NUL-terminated */
    ngx_int_t                       redis_port;    /* 0: unix socket */
    ngx_str_t                       password;
    ngx_int_t                       db;
    ngx_str_t                       prefix;
    ngx_str_t                       gateway_id;
    ngx_path_t                     *state_path;

    ngx_array_t                     pools;         /* srv_conf_t * */

    ngx_shm_zone_t                 *shm_zone;
    ngx_http_scaleset_main_shctx_t *sh;
};


/* a parsed member on its way into the slots */
typedef struct {
    ngx_str_t                       id;
    scaleset_member_t               m;
} ngx_http_scaleset_member_t;


extern ngx_module_t  ngx_http_scaleset_module;
extern ngx_http_scaleset_main_conf_t  *ngx_http_scaleset_prev;


/* ngx_http_scaleset_zone.c */
size_t ngx_http_scaleset_zone_size(ngx_uint_t max_members);
ngx_int_t ngx_http_scaleset_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_int_t ngx_http_scaleset_init_main_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_scaleset_apply(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_array_t *members, uint64_t epoch, ngx_uint_t source, ngx_log_t *log);
void ngx_http_scaleset_slot_member(ngx_http_scaleset_slot_t *slot,
    scaleset_member_t *m, u_char *addr);
ngx_int_t ngx_http_scaleset_add_member(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_array_t *members, u_char *id, size_t id_len, u_char *rec,
    size_t rec_len, ngx_uint_t log_once, ngx_log_t *log);

/* ngx_http_scaleset_balancer.c */
ngx_int_t ngx_http_scaleset_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
ngx_int_t ngx_http_scaleset_balancer_init_process(ngx_cycle_t *cycle);

/* ngx_http_scaleset_redis.c */
ngx_int_t ngx_http_scaleset_redis_init_process(ngx_cycle_t *cycle);
void ngx_http_scaleset_redis_exit_process(ngx_cycle_t *cycle);
ngx_uint_t ngx_http_scaleset_redis_ready(void);
ngx_int_t ngx_http_scaleset_redis_argv(const char *what, int argc,
    const char **argv, const size_t *argvlen);

/* ngx_http_scaleset_report.c */
ngx_int_t ngx_http_scaleset_report_init_process(ngx_cycle_t *cycle);
size_t ngx_http_scaleset_health_record(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now, u_char *buf,
    size_t size);

/* ngx_http_scaleset_check.c */
char *ngx_http_scaleset_health_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_scaleset_check_init_process(ngx_cycle_t *cycle);
ngx_uint_t ngx_http_scaleset_check_usable(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now);

/* ngx_http_scaleset_status.c */
char *ngx_http_scaleset_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_scaleset_account(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_http_request_t *r);

/* ngx_http_scaleset_state.c */
ngx_int_t ngx_http_scaleset_state_write(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log);
ngx_int_t ngx_http_scaleset_state_load(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log);


#endif /* _NGX_HTTP_SCALESET_H_INCLUDED_ */
