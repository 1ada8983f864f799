
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
 * One member in shared memory.  The member (identity, address, weight,
 * flags) is written only by the lease holder, or the master at start: under
 * the pool's write lock for the status page, reports and checks, and as a
 * seqlock for requests, which take no lock.  The generation is odd while
 * the slot is given to another member or freed, and even and new after.
 * A request counts itself in active, then checks that the slot still has
 * the generation it chose (ngx_http_scaleset_get_peer); apply gives a slot
 * to a new member only when nothing is counted in it, unless the pool has
 * no other room, and free_peer counts only into the generation it chose.
 * The counters are atomic; active is never reset, only given back.
 */
typedef struct {
    /* the first cache line: what every request reads or counts */
    ngx_atomic_t                    generation;
    ngx_atomic_t                    active;        /* requests in flight */
    ngx_atomic_t                    requests;      /* total */
    ngx_atomic_t                    fails;         /* nginx's peer->fails */
    ngx_atomic_t                    checked;       /* ms: last probe or
                                                      failure */
    uint32_t                        weight;
    uint32_t                        max_fails;
    uint32_t                        fail_timeout;  /* ms */
    uint32_t                        flags;         /* SCALESET_MEMBER_* */
    uint8_t                         in_use;
    uint8_t                         health;        /* ..._HEALTH_* */
    uint8_t                         health_reason;
    uint8_t                         health_owner;
    socklen_t                       socklen;

    /* the second line: what the end of a request counts */
    ngx_atomic_t                    responses[5];  /* 1xx .. 5xx */
    ngx_atomic_t                    accessed;      /* ms: last failure; of
                                                      a freed slot, when it
                                                      was freed */
    ngx_atomic_t                    fails_total;

    ngx_sockaddr_t                  sockaddr;      /* socklen bytes */

    /* active health checks (issue 4) */
    ngx_msec_t                      health_checked;
    ngx_msec_t                      health_since;
    uint64_t                        health_wall;   /* UNIX ms, last check */
    uint32_t                        health_fails;
    uint32_t                        health_passes;
    uint32_t                        health_latency; /* ms, last check */

    /* the member's names, lease holder only */
    u_char                          id_len;
    u_char                          zone_len;
    u_char                          version_len;
    u_char                          id[SCALESET_ID_MAX + 1];
    u_char                          zone[SCALESET_NAME_MAX + 1];
    u_char                          version[SCALESET_NAME_MAX + 1];
} ngx_http_scaleset_slot_t;


/* a schedule: slot numbers, primaries then backups */
typedef struct {
    uint32_t                       *entries;       /* sched_cap */
    ngx_uint_t                      nprimary;
    ngx_uint_t                      nbackup;
} ngx_http_scaleset_schedule_t;


/* the layout of a zone this build can use (kept across reload) */
#define NGX_HTTP_SCALESET_LAYOUT                                              \
    (4096 * sizeof(ngx_http_scaleset_slot_t)                                  \
     + sizeof(ngx_http_scaleset_shctx_t))


/* one pool's shared state: the slots and two schedule buffers */
typedef struct {
    ngx_atomic_t                    rwlock;
    ngx_atomic_t                    cursor;
    ngx_atomic_t                    build_lock;    /* pid */

    ngx_uint_t                      max_members;
    ngx_uint_t                      layout;        /* ..._LAYOUT */
    ngx_uint_t                      sched_cap;

    /*
     * requests read sched[current]; apply builds the other one and then
     * switches (a request that read a schedule being rebuilt still finds
     * slot numbers only, and checks the slot it chose)
     */
    ngx_atomic_t                    current;
    ngx_http_scaleset_schedule_t    sched[2];

    /* under rwlock */
    ngx_uint_t                      primaries;     /* distinct members */
    ngx_uint_t                      backups;

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
