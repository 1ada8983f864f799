/*
 * scaleset shared code: the Redis key schema, the member record codec and
 * the health record codec.  Used by the nginx module and by the scaler.
 *
 * Pure C: no I/O, no allocation.  Parsers return slices of their input and
 * formatters write into the caller's buffer.
 */

#ifndef SCALESET_RECORD_H
#define SCALESET_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SCALESET_RECORD_MAX        512     /* longest member/health record */
#define SCALESET_NAME_MAX          63      /* pool, zone, version, gateway */
#define SCALESET_ID_MAX            63      /* instance id */
#define SCALESET_KEY_MAX           256     /* longest key we build */
#define SCALESET_PREFIX_MAX        64

#define SCALESET_WEIGHT_MAX        1000
#define SCALESET_MAX_FAILS_MAX     1000
#define SCALESET_FAIL_TIMEOUT_MAX  (86400U * 1000U)   /* ms */

/* health record counters: what one gateway can have (conns, fails) and
   a wall clock up to the year 9999 (checked); larger values are refused,
   so that sums over gateways stay far from overflow */
#define SCALESET_HEALTH_COUNT_MAX  4294967295ULL              /* 2^32 - 1 */
#define SCALESET_UNIX_MS_MAX       253402300799999ULL         /* 9999-12-31 */

#define SCALESET_DEFAULT_WEIGHT        1
#define SCALESET_DEFAULT_MAX_FAILS     1
#define SCALESET_DEFAULT_FAIL_TIMEOUT  10000           /* ms, as nginx */

#define SCALESET_MEMBER_DRAIN      0x01
#define SCALESET_MEMBER_DOWN       0x02
#define SCALESET_MEMBER_BACKUP     0x04


typedef struct {
    const char  *data;
    size_t       len;
} scaleset_slice_t;


/* why a record was rejected: a stable code (for metrics) and a message */
typedef enum {
    SCALESET_OK = 0,
    SCALESET_ERR_EMPTY,
    SCALESET_ERR_TOO_LONG,
    SCALESET_ERR_BAD_BYTE,        /* NUL or control byte */
    SCALESET_ERR_ADDRESS,         /* not an IPv4/IPv6 literal or unix: */
    SCALESET_ERR_PORT,            /* missing or out of range */
    SCALESET_ERR_UNIX_PATH,       /* empty, relative or too long */
    SCALESET_ERR_PARAM_UNKNOWN,
    SCALESET_ERR_PARAM_DUPLICATE,
    SCALESET_ERR_PARAM_VALUE,     /* bad or out-of-range value */
    SCALESET_ERR_NAME,            /* pool, zone, version, id, gateway */
    SCALESET_ERR_STATE,           /* health record state word */
    SCALESET_ERR_NOSPACE,         /* caller's buffer too small */
    SCALESET_ERR_LAST
} scaleset_errcode_t;

typedef struct {
    scaleset_errcode_t  code;
    char                msg[160];  /* "weight: \"0\" is out of range 1..1000" */
} scaleset_error_t;


typedef struct {
    scaleset_slice_t         address;      /* ADDRESS as written */
    struct sockaddr_storage  sockaddr;     /* AF_INET, AF_INET6 or AF_UNIX */
    socklen_t                socklen;
    unsigned                 weight;       /* 1..SCALESET_WEIGHT_MAX */
    unsigned                 max_fails;    /* 0..SCALESET_MAX_FAILS_MAX */
    unsigned                 fail_timeout; /* ms, 0..SCALESET_FAIL_TIMEOUT_MAX */
    scaleset_slice_t         zone;         /* len 0: none */
    scaleset_slice_t         host;         /* len 0: none; the fault
                                              domain inside the zone */
    scaleset_slice_t         version;      /* len 0: none */
    unsigned                 flags;        /* SCALESET_MEMBER_* */
} scaleset_member_t;


typedef enum {
    SCALESET_HEALTH_UNCHECKED = 0,
    SCALESET_HEALTH_UP,
    SCALESET_HEALTH_DOWN
} scaleset_health_state_t;

typedef struct {
    scaleset_health_state_t  state;
    uint64_t                 conns;        /* active connections */
    uint64_t                 fails;        /* consecutive failed checks */
    uint64_t                 checked;      /* UNIX ms of the last check */
    uint64_t                 at;           /* UNIX ms the record was made
                                              (the report's time); 0:
                                              not given */
    scaleset_slice_t         reason;       /* len 0: none; one WORD */
} scaleset_health_t;


/*
 * Parses a member record "ADDRESS [weight=N] [max_fails=N]
 * [fail_timeout=TIME] [zone=NAME] [host=NAME] [version=V] [drain] [down]
 * [backup]".
 * ADDRESS is an IPv4 literal with port, "[IPv6]:port" or "unix:/abs/path";
 * never a DNS name.  Parameters are separated by one or more spaces or tabs,
 * in any order, each at most once.  Returns 0 and fills *m (slices point
 * into rec), or -1 and fills *err.  rec need not be NUL-terminated.
 */
int scaleset_member_parse(const char *rec, size_t len, scaleset_member_t *m,
    scaleset_error_t *err);

/*
 * Writes the canonical form of *m into buf: the address as inet_ntop
 * prints it, then only the parameters that differ from their defaults, in
 * the order of the grammar above; TIME as "Nms" or "Ns".  Returns the
 * length written (without the NUL that is always added), or -1 with
 * SCALESET_ERR_NOSPACE when size is too small.
 * format(parse(x)) is the canonical form of x; parse(format(m)) == m.
 * A member scaleset_member_check() refuses is not written: -1 and *err.
 */
int scaleset_member_format(const scaleset_member_t *m, char *buf, size_t size,
    scaleset_error_t *err);

/*
 * 0 when *m is a member a parser would accept (address family and port,
 * unix path, weight 1..1000, max_fails, fail_timeout, zone, host and
 * version names, known flags); -1 with *err naming the first thing wrong.
 * scaleset_member_format() calls it and refuses such a member.
 */
int scaleset_member_check(const scaleset_member_t *m, scaleset_error_t *err);

/* 1 when both parse results describe the same member (slices by content) */
int scaleset_member_equal(const scaleset_member_t *a,
    const scaleset_member_t *b);

/*
 * Parses "up|down|unchecked conns=N fails=N checked=UNIX_MS [at=UNIX_MS]
 * [reason=WORD]".  conns, fails and checked are required; at (when the
 * gateway made the report) is optional, 0 when absent; reason is
 * [A-Za-z0-9_.-]+.  conns and fails are 0..SCALESET_HEALTH_COUNT_MAX,
 * checked and at 0..SCALESET_UNIX_MS_MAX: a larger value is refused
 * (PARAM_VALUE), never clamped or wrapped.  Returns 0 or -1 with *err
 * filled.
 */
int scaleset_health_parse(const char *rec, size_t len, scaleset_health_t *h,
    scaleset_error_t *err);

/*
 * writes the health record (at= only when not 0); returns length, or -1
 * with *err: NOSPACE, an unknown state, a counter the parser would refuse
 * or a reason that is not one word
 */
int scaleset_health_format(const scaleset_health_t *h, char *buf, size_t size,
    scaleset_error_t *err);

const char *scaleset_health_state_name(scaleset_health_state_t state);

/* "empty", "too_long", "bad_byte", ...: a label value for metrics */
const char *scaleset_errcode_name(scaleset_errcode_t code);


/*
 * TIME as nginx writes it: "500ms", "10s", "2m", "1h", "1d", or a bare
 * number of seconds; combinations like "1m30s" are accepted.  Stores
 * milliseconds in *ms.  Returns 0, or -1 on an empty, malformed or
 * overflowing value (or one above max_ms).
 */
int scaleset_duration_parse(const char *s, size_t len, uint64_t max_ms,
    uint64_t *ms);


/*
 * An unsigned decimal number: 1..20 digits, no sign, no spaces, at most
 * max.  0 with *v set, or -1 (nothing stored) when s is anything else.
 */
int scaleset_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *v);


/* pool, zone, host, version and gateway names: [A-Za-z0-9_.-]{1,63} */
int scaleset_name_valid(const char *s, size_t len);

/* instance ids: [A-Za-z0-9_.-]{1,63}, e.g. "web-000001" */
int scaleset_id_valid(const char *s, size_t len);

/* a key prefix: printable, no spaces, braces or NUL, 0..64 bytes */
int scaleset_prefix_valid(const char *s, size_t len);


typedef enum {
    SCALESET_KEY_MEMBERS = 0,   /* PREFIX{POOL}:members */
    SCALESET_KEY_EPOCH,         /* PREFIX{POOL}:epoch */
    SCALESET_KEY_EVENTS,        /* PREFIX{POOL}:events */
    SCALESET_KEY_CAPACITY,      /* PREFIX{POOL}:capacity */
    SCALESET_KEY_HEALTH,        /* PREFIX{POOL}:health:GATEWAY */
    SCALESET_KEY_HEALTH_MATCH,  /* PREFIX{POOL}:health:* as a SCAN MATCH
                                   pattern (glob bytes of PREFIX escaped) */
    SCALESET_KEY_DRAINING,      /* PREFIX{POOL}:draining */
    SCALESET_KEY_SEQ,           /* PREFIX{POOL}:seq */
    SCALESET_KEY_UPGRADE,       /* PREFIX{POOL}:upgrade */
    SCALESET_KEY_PROTECTION,    /* PREFIX{POOL}:protection */
    SCALESET_KEY_LIFECYCLE,     /* PREFIX{POOL}:lifecycle (pub/sub) */
    SCALESET_KEY_SCALER_LEASE,  /* PREFIXscaler:lease (no pool) */
    SCALESET_KEY_STANDBY,       /* PREFIX{POOL}:standby */
    SCALESET_KEY_REPAIR         /* PREFIX{POOL}:repair */
} scaleset_key_kind_t;

#define SCALESET_DEFAULT_PREFIX  "scaleset:"

/*
 * Builds a key of the Redis contract into buf, NUL-terminated, e.g.
 * "scaleset:{web}:members".  gateway is used (and required) only for
 * SCALESET_KEY_HEALTH; pool is ignored (and may be NULL) for
 * SCALESET_KEY_SCALER_LEASE, the one key of all pools
 * ("scaleset:scaler:lease").  Returns the length, or -1 when a name is
 * invalid or buf is too small.
 */
int scaleset_key(char *buf, size_t size, const char *prefix, const char *pool,
    scaleset_key_kind_t kind, const char *gateway);

/*
 * 1 when key (len bytes) is PREFIX{POOL}:health:GATEWAY with a valid
 * gateway name, which *gateway then slices; 0 otherwise.
 */
int scaleset_key_gateway(const char *key, size_t len, const char *prefix,
    const char *pool, scaleset_slice_t *gateway);

#endif /* SCALESET_RECORD_H */
