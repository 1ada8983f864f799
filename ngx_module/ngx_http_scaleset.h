
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
/* resyncs answered by the epoch and the size before one reads the hash */
#define NGX_HTTP_SCALESET_RESYNC_PROBES        12

/* schedule entries per member and the minimum schedule length */
#define NGX_HTTP_SCALESET_SCHED_PER_MEMBER     4
#define NGX_HTTP_SCALESET_SCHED_MIN            4096

#define NGX_HTTP_SCALESET_LEASE_TICK           200      /* ms */
#define NGX_HTTP_SCALESET_LEASE_STALE          3000     /* ms */
#define NGX_HTTP_SCALESET_REDIS_TIMEOUT        2000     /* ms, default */
#define NGX_HTTP_SCALESET_BACKOFF_MIN          100      /* ms */
#define NGX_HTTP_SCALESET_BACKOFF_MAX          3000     /* ms */
#define NGX_HTTP_SCALESET_AUTH_RETRY           10000    /* ms */
#define NGX_HTTP_SCALESET_AUTH_LOG             60000    /* ms */

/* Redis failures by kind, for the status page and the metrics */
#define NGX_HTTP_SCALESET_REDIS_CONNECTION     0
#define NGX_HTTP_SCALESET_REDIS_TIMEOUT_ERR    1
#define NGX_HTTP_SCALESET_REDIS_AUTH           2
#define NGX_HTTP_SCALESET_REDIS_REPLY          3
#define NGX_HTTP_SCALESET_REDIS_PROTOCOL       4
#define NGX_HTTP_SCALESET_REDIS_SENTINEL       5
#define NGX_HTTP_SCALESET_REDIS_ERR_LAST       6

#define NGX_HTTP_SCALESET_REDIS_ERRSTR         128

/* response time histogram buckets, the last one +Inf */
#define NGX_HTTP_SCALESET_BUCKETS              12

#define NGX_HTTP_SCALESET_BALANCE_RR           0
#define NGX_HTTP_SCALESET_BALANCE_LEAST_CONN   1

#define NGX_HTTP_SCALESET_SOURCE_NONE          0
#define NGX_HTTP_SCALESET_SOURCE_STATE         1
#define NGX_HTTP_SCALESET_SOURCE_REDIS         2

/* health state of a slot (active checks fill these in) */
#define NGX_HTTP_SCALESET_HEALTH_UNCHECKED     0
#define NGX_HTTP_SCALESET_HEALTH_UP            1
#define NGX_HTTP_SCALESET_HEALTH_DOWN          2

/* slow start: a ramping member has 1..LEVELS-1 twentieths of its weight */
#define NGX_HTTP_SCALESET_RAMP_LEVELS          20


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

    /* active health checks */
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
    u_char                          ramp;          /* slow start level in
                                                      the schedule, 0: full */
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


/*
 * A pool's slot lock (ngx_http_scaleset_lock.c): the writer's pid, and
 * each process's read hold in the entry of its process slot, one cache
 * line each.  Holds of dead processes are taken back.
 */
#define NGX_HTTP_SCALESET_LINE                 64

typedef struct {
    ngx_atomic_t                    pid;           /* 0: not reading */
    u_char                          pad[NGX_HTTP_SCALESET_LINE
                                        - sizeof(ngx_atomic_t)];
} ngx_http_scaleset_reader_t;

typedef struct {
    ngx_atomic_t                    writer;        /* pid, 0: none */
    ngx_atomic_t                    nreaders;      /* entries ever used */
    u_char                          pad[NGX_HTTP_SCALESET_LINE
                                        - 2 * sizeof(ngx_atomic_t)];
    ngx_http_scaleset_reader_t      readers[NGX_MAX_PROCESSES];
} ngx_http_scaleset_lock_t;


/* changes whenever the layout of the shared structures does */
#define NGX_HTTP_SCALESET_LAYOUT               0x5ca1e003

/* one pool's shared state: the slots and two schedule buffers */
typedef struct {
    ngx_atomic_t                    layout;        /* ..._LAYOUT */
    ngx_atomic_t                    cursor;
    ngx_atomic_t                    build_lock;    /* pid */

    ngx_uint_t                      max_members;
    ngx_uint_t                      slot_size;     /* layout check */
    ngx_uint_t                      sched_cap;

    ngx_http_scaleset_lock_t       *lock;          /* its own pages */

    /*
     * requests read sched[current] without the lock; apply and rebuild
     * build the other one and then switch (a request that read a schedule
     * being rebuilt still finds slot numbers only, and checks the slot it
     * chose)
     */
    ngx_atomic_t                    current;
    ngx_http_scaleset_schedule_t    sched[2];

    /* under the lock */
    ngx_uint_t                      primaries;     /* distinct members */
    ngx_uint_t                      backups;

    ngx_uint_t                      members;       /* slots in use */
    uint64_t                        epoch;
    ngx_atomic_t                    version;       /* applied changes */
    ngx_uint_t                      source;
    ngx_msec_t                      updated;
    time_t                          updated_sec;

    uint64_t                        synced;        /* UNIX ms of the last
                                                      read from Redis, 0 */
    uint64_t                        started;       /* UNIX ms, zone made */
    ngx_atomic_t                    reads_refused; /* hash too large */
    ngx_atomic_t                    refused_size;  /* its HLEN, or 0 */

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


/* the instance-wide shared state: the Redis lease, what it sees */
typedef struct {
    ngx_atomic_t                    lease_pid;
    ngx_atomic_t                    lease_heartbeat;  /* ngx_current_msec */
    ngx_atomic_t                    lease_changes;
    ngx_atomic_t                    redis_up;
    ngx_atomic_t                    redis_errors;
    ngx_atomic_t                    errors[NGX_HTTP_SCALESET_REDIS_ERR_LAST];
    ngx_atomic_t                    master_changes;   /* sentinel */

    /* written by the lease holder, read racily: text, always terminated */
    u_char                          master[NGX_SOCKADDR_STRLEN + 1];
    u_char                          last_error[NGX_HTTP_SCALESET_REDIS_ERRSTR];
    uint64_t                        last_error_time;  /* UNIX ms */
} ngx_http_scaleset_main_shctx_t;


/* a Redis or Sentinel address of scaleset_redis */
typedef struct {
    ngx_str_t                       text;          /* as written */
    u_char                         *host;          /* NUL-terminated: an IP
                                                      literal, or a path */
    ngx_int_t                       port;          /* 0: unix socket */
} ngx_http_scaleset_addr_t;


typedef struct ngx_http_scaleset_main_conf_s  ngx_http_scaleset_main_conf_t;
typedef struct ngx_http_scaleset_peer_s  ngx_http_scaleset_peer_t;
typedef struct ngx_http_scaleset_state_s  ngx_http_scaleset_state_t;


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


/* scaleset_allow: the addresses members may have */
typedef struct {
    ngx_array_t                    *cidrs;         /* ngx_cidr_t */
    ngx_array_t                    *paths;         /* ngx_str_t prefixes */
} ngx_http_scaleset_allow_t;


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
    ngx_http_scaleset_allow_t      *allow;         /* NULL: the default */

    /* this worker's peers: the members' addresses, by slot (balancer.c) */
    ngx_http_scaleset_peer_t      **peers;

    /* this process's health report of the pool (report.c), NULL: none */
    void                           *report;

    /* lease holder, per process */
    unsigned                        fetching:1;
    unsigned                        refetch:1;     /* a read of the hash
                                                      after this one */
    unsigned                        full:1;        /* this one reads the
                                                      hash, whatever the
                                                      epoch says */
    unsigned                        read_ok:1;     /* the last read of the
                                                      hash was applied */
    unsigned                        empty_logged:1;
    ngx_msec_t                      next_resync;
    uint64_t                        read_epoch;    /* of that read */
    ngx_uint_t                      read_fields;   /* the hash's, then */
    ngx_int_t                       probe_fields;  /* HLEN now, -1: unknown */
    ngx_uint_t                      probes;        /* resyncs since the last
                                                      full read */
    ngx_array_t                    *logged;        /* crc32 of bad records */
    ngx_uint_t                      full_logged;
    ngx_http_scaleset_state_t      *state;         /* its writer */

    /* this process's health checks (ngx_http_scaleset_check.c) */
    struct ngx_http_scaleset_check_pool_s  *checks;
} ngx_http_scaleset_srv_conf_t;


struct ngx_http_scaleset_main_conf_s {
    ngx_str_t                       redis;         /* as written */
    ngx_http_scaleset_addr_t        master;        /* without Sentinel */
    ngx_str_t                       sentinel;      /* master name, or "" */
    ngx_array_t                    *sentinels;     /* addr_t */
    ngx_str_t                       username;      /* NUL-terminated */
    ngx_str_t                       password;      /* NUL-terminated */
    ngx_msec_t                      timeout;
    ngx_int_t                       db;
    ngx_str_t                       prefix;
    ngx_str_t                       gateway_id;
    ngx_path_t                     *state_path;
#if (NGX_THREADS)
    ngx_thread_pool_t              *thread_pool;   /* writes the state */
#endif
    ngx_http_scaleset_allow_t      *allow;         /* http level, or NULL */
    ngx_array_t                    *denied;        /* without allow */

    ngx_array_t                     pools;         /* srv_conf_t * */

    ngx_shm_zone_t                 *shm_zone;
    ngx_http_scaleset_main_shctx_t *sh;
};


/*
 * A caller of ngx_http_scaleset_redis_argv() waiting for the reply: pending
 * until it (or the connection's end) arrives, then done, if set, gets
 * hiredis's reply, or NULL when the connection went.
 */
typedef struct ngx_http_scaleset_redis_wait_s  ngx_http_scaleset_redis_wait_t;

typedef void (*ngx_http_scaleset_redis_done_pt)(
    ngx_http_scaleset_redis_wait_t *wait, void *reply);

struct ngx_http_scaleset_redis_wait_s {
    const char                       *what;
    ngx_http_scaleset_redis_done_pt   done;
    void                             *data;
    ngx_uint_t                        pending;
};


/* this process's Redis side (ngx_http_scaleset_redis.c, _sentinel.c) */
typedef struct {
    ngx_cycle_t                    *cycle;
    ngx_log_t                      *log;
    ngx_http_scaleset_main_conf_t  *smcf;

    ngx_event_t                     tick;

    struct redisAsyncContext       *cmd;
    struct redisAsyncContext       *sub;
    struct redisAsyncContext       *sentinel;

    /* the master: configured, or as a sentinel reported it */
    u_char                          host[NGX_SOCKADDR_STRLEN + 1];
    ngx_int_t                       port;          /* 0: unix socket */
    u_char                          name[NGX_SOCKADDR_STRLEN + 8];
    ngx_uint_t                      next_sentinel; /* index to ask */
    ngx_uint_t                      sentinel_tries;

    ngx_msec_t                      next_connect;
    ngx_msec_t                      connect_started;
    ngx_msec_t                      auth_logged;
    ngx_msec_t                      report_logged;
    ngx_uint_t                      failures;
    ngx_uint_t                      auth_failures;
    ngx_uint_t                      serial;        /* connections made */

    unsigned                        holder:1;
    unsigned                        closing:1;
    unsigned                        cmd_ready:1;
    unsigned                        sub_ready:1;
    unsigned                        up:1;
    unsigned                        down_logged:1;
    unsigned                        master_known:1;
    unsigned                        auth_failed:1;
} ngx_http_scaleset_redis_t;


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
ngx_int_t ngx_http_scaleset_rebuild(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log);
ngx_int_t ngx_http_scaleset_add_member(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_array_t *members, u_char *id, size_t id_len, u_char *rec,
    size_t rec_len, ngx_uint_t log_once, ngx_log_t *log);
ngx_int_t ngx_http_scaleset_refilter(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log);
ngx_int_t ngx_http_scaleset_inherit(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_log_t *log);

/* ngx_http_scaleset_allow.c */
char *ngx_http_scaleset_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_scaleset_allow_init(ngx_conf_t *cf,
    ngx_http_scaleset_main_conf_t *smcf);
ngx_uint_t ngx_http_scaleset_allowed(ngx_http_scaleset_srv_conf_t *sscf,
    struct sockaddr *sa, socklen_t socklen);

/* ngx_http_scaleset_lock.c */
void ngx_http_scaleset_rlock_wait(ngx_http_scaleset_lock_t *lock);
ngx_uint_t ngx_http_scaleset_wlock(ngx_http_scaleset_lock_t *lock);
void ngx_http_scaleset_wunlock(ngx_http_scaleset_lock_t *lock);


/*
 * The read lock's fast path: this process's entry set (a locked
 * operation, so the writer's word is read after it) and no writer.
 */

static ngx_inline void
ngx_http_scaleset_rlock(ngx_http_scaleset_lock_t *lock)
{
    ngx_atomic_t  *mine;

    mine = &lock->readers[ngx_process_slot].pid;

    if ((ngx_atomic_uint_t) ngx_process_slot < lock->nreaders
        && *mine == 0
        && ngx_atomic_cmp_set(mine, 0, (ngx_atomic_uint_t) ngx_pid)
        && lock->writer == 0)
    {
        return;
    }

    ngx_http_scaleset_rlock_wait(lock);
}


static ngx_inline void
ngx_http_scaleset_runlock(ngx_http_scaleset_lock_t *lock)
{
    ngx_memory_barrier();
    lock->readers[ngx_process_slot].pid = 0;
}


/* ngx_http_scaleset_balancer.c */
ngx_int_t ngx_http_scaleset_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
ngx_int_t ngx_http_scaleset_balancer_init_process(ngx_cycle_t *cycle);

/* ngx_http_scaleset_redis.c */
ngx_int_t ngx_http_scaleset_redis_init_process(ngx_cycle_t *cycle);
void ngx_http_scaleset_redis_exit_process(ngx_cycle_t *cycle);
void ngx_http_scaleset_redis_shutdown(void);
ngx_uint_t ngx_http_scaleset_redis_ready(void);
ngx_uint_t ngx_http_scaleset_redis_busy(void);
const char *ngx_http_scaleset_redis_kind(ngx_uint_t kind);
ngx_uint_t ngx_http_scaleset_redis_serial(void);
ngx_int_t ngx_http_scaleset_redis_argv(const char *what, int argc,
    const char **argv, const size_t *argvlen,
    ngx_http_scaleset_redis_wait_t *wait);
void ngx_http_scaleset_redis_refused(const char *what, const char *str);
ngx_uint_t ngx_http_scaleset_redis_stale(ngx_http_scaleset_srv_conf_t *sscf,
    uint64_t *since);
struct redisAsyncContext *ngx_http_scaleset_redis_open(
    ngx_http_scaleset_redis_t *w, u_char *host, ngx_int_t port);
void ngx_http_scaleset_redis_error(ngx_http_scaleset_redis_t *w,
    ngx_uint_t kind, const char *what, const char *reason);
void ngx_http_scaleset_redis_master(ngx_http_scaleset_redis_t *w,
    u_char *host, size_t len, ngx_int_t port, const char *how);
void ngx_http_scaleset_redis_fail(ngx_http_scaleset_redis_t *w,
    ngx_uint_t kind, const char *what, const char *reason);

/* ngx_http_scaleset_sentinel.c */
void ngx_http_scaleset_sentinel_ask(ngx_http_scaleset_redis_t *w);
void ngx_http_scaleset_sentinel_close(ngx_http_scaleset_redis_t *w);
void ngx_http_scaleset_sentinel_fail(ngx_http_scaleset_redis_t *w,
    const char *reason);

/* ngx_http_scaleset_hiredis.c */
void ngx_http_scaleset_hiredis_limit(ngx_uint_t max_elements);
ngx_int_t ngx_http_scaleset_hiredis_attach(struct redisAsyncContext *ac,
    ngx_log_t *log);
ngx_uint_t ngx_http_scaleset_hiredis_stalled(struct redisAsyncContext *ac,
    ngx_msec_t timeout);
const char *ngx_http_scaleset_hiredis_refusal(void);

/* ngx_http_scaleset_report.c */
ngx_int_t ngx_http_scaleset_report_init_process(ngx_cycle_t *cycle);
void ngx_http_scaleset_report_soon(ngx_http_scaleset_srv_conf_t *sscf);

/* ngx_http_scaleset_check.c */
char *ngx_http_scaleset_health_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_scaleset_check_init_process(ngx_cycle_t *cycle);
void ngx_http_scaleset_check_added(ngx_http_scaleset_srv_conf_t *sscf);
ngx_uint_t ngx_http_scaleset_check_usable(ngx_http_scaleset_srv_conf_t *sscf,
    ngx_http_scaleset_slot_t *slot, ngx_msec_t now);
ngx_uint_t ngx_http_scaleset_check_ramp(ngx_http_scaleset_srv_conf_t *sscf,
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
