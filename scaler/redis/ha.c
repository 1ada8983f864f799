/*
 * ha.c: several scalers on one configuration and one Redis, one acting
 * (ha: { lease: 10s }).  The one that holds PREFIXscaler:lease leads: it
 * runs the passes and the autoscale decisions and takes API writes; the
 * others are standbys that observe (read-only passes) and answer reads.
 *
 * The lease is a Redis key whose value is a random token and the
 * holder's advertised API URL, set with SET NX PX by whoever finds it
 * free, renewed at lease/3 by a script that extends it only while it
 * holds that value, released (a script that deletes only its own) when
 * the scaler stops.  It runs on a thread of its own with its own
 * connection (redis_conn.c), so neither a pass stuck on a hypervisor nor
 * the loop delays a renewal.
 *
 * A lease alone does not make writes safe (a holder paused past its
 * lease wakes believing it still leads): every write carries the value
 * the writer holds the lease with (ha_fence()) and its script refuses
 * everything when the key says otherwise (registry_tx.c).  libvirt
 * cannot be fenced by Redis, so this scaler acts on libvirt only while
 * its own clock says the lease has at least a quarter left
 * (ha_acting(): virt.c asks it before every define, start, destroy and
 * undefine), measured from when the last renewal was sent (Redis starts
 * the key's time later, never earlier).  What remains is the time
 * between that check and libvirt carrying out the call
 * (docs/scaler.md, "High availability").
 *
 * The lease's state changes are decisions of ha_lease_step() (pure,
 * table-tested); this file is the thread around it.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>

#include "scaler.h"
#include "scaleset_record.h"

/* KEYS[1] the lease, ARGV[1] its value as held, ARGV[2] ms: extended
   only while held with that value (1), else 0 */
static const char renew_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

/* KEYS[1] the lease, ARGV[1] its value: deleted only if still ours */
static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

static struct {
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    pthread_t       tid;
    int             enabled, started, stop;
    uint64_t        lease_ms;
    char            key[SCALESET_KEY_MAX];
    char            self[HA_URL_MAX]; /* advertised */
    redis_conn_t   *conn;
    int             notify_fd;
    ha_lease_t      l;
    char            value[REGISTRY_FENCE_MAX + 1]; /* held with */
    char            leader[HA_URL_MAX];            /* the holder's URL */
    unsigned        term, ready_term;
    uint64_t        since; /* UNIX ms, leading */
    unsigned long   acquired, lost, term_passes;
    int             unreached; /* logged */
} ha = { .lock = PTHREAD_MUTEX_INITIALIZER, .notify_fd = -1 };

/* --- the decisions (pure) ---------------------------------------------- */

void
ha_lease_step(ha_lease_t *l, ha_result_t r, uint64_t sent, uint64_t now,
              uint64_t lease_ms)
{
    switch (r) {
    case HA_GOT:
    case HA_KEPT:
        /* Redis started the key's time when it got the command, after
           sent: it lasts at least until sent + lease there */
        l->leader = 1;
        l->valid_until = sent + lease_ms;
        break;
    case HA_HELD_ELSEWHERE:
    case HA_GONE:
        l->leader = 0;
        l->valid_until = 0;
        break;
    case HA_NO_ANSWER:
        /* unknown: held until it must have expired */
        if (l->leader && now >= l->valid_until) {
            l->leader = 0;
            l->valid_until = 0;
        }
        break;
    }
}

int
ha_lease_acting(const ha_lease_t *l, uint64_t now, uint64_t lease_ms)
{
    return l->leader && now + lease_ms / 4 < l->valid_until;
}

uint64_t
ha_lease_next(ha_result_t r, uint64_t sent, uint64_t lease_ms)
{
    uint64_t period = lease_ms / 3;

    if (r == HA_NO_ANSWER && period > 1000) {
        period = 1000; /* Redis back (or a failover): soon */
    }
    return sent + period;
}

/* --- Redis --------------------------------------------------------------- */

/* a value "TOKEN URL": 32 hex digits of getrandom() and this scaler's
   advertised URL */
static int
new_value(char *buf, size_t size)
{
    unsigned char raw[16];
    int           i, n = 0;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw)) {
        return -1;
    }
    for (i = 0; i < 16; i++) {
        n += snprintf(buf + n, size - n, "%02x", raw[i]);
    }
    snprintf(buf + n, size - n, " %s", ha.self);
    return 0;
}

/* the holder's URL from a lease value (as read: input), "" when it is not
   a scaler's */
static void
holder_of(const redisReply *r, char *url, size_t size)
{
    const char *sp;
    size_t      i, len;

    url[0] = '\0';
    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len < 34
        || r->len > REGISTRY_FENCE_MAX || r->str[32] != ' ')
    {
        return;
    }
    sp = r->str + 33;
    len = r->len - 33;
    for (i = 0; i < len; i++) {
        if (sp[i] <= 0x20 || sp[i] >= 0x7f) {
            return;
        }
    }
    if (len < size) {
        memcpy(url, sp, len);
        url[len] = '\0';
    }
}

/* one command on the lease's connection; NULL when it failed (dropped) */
static redisReply *
command(int argc, const char **argv)
{
    redisContext *c;
    redisReply   *r;

    if ((c = redis_conn_get(ha.conn)) == NULL) {
        return NULL;
    }
    if ((r = redisCommandArgv(c, argc, argv, NULL)) == NULL) {
        redis_conn_drop(ha.conn);
    }
    return r;
}

/* who holds the lease now, into url */
static void
read_holder(char *url, size_t size)
{
    const char *argv[] = { "GET", ha.key };
    redisReply *r = command(2, argv);

    holder_of(r, url, size);
    if (r) {
        freeReplyObject(r);
    }
}

/* an attempt: SET NX PX when standing by, the renewal when leading;
   value is what the lease is (to be) held with */
static ha_result_t
attempt(int leader, const char *value, char *holder, size_t size, char *err,
        size_t errlen)
{
    char        ms[24];
    const char *set[] = { "SET", ha.key, value, "NX", "PX", ms };
    const char *renew[] = { "EVAL", renew_script, "1", ha.key, value, ms };
    redisReply *r;
    ha_result_t res;

    snprintf(ms, sizeof(ms), "%llu", (unsigned long long) ha.lease_ms);
    r = leader ? command(6, renew) : command(6, set);
    if (r == NULL) {
        snprintf(err, errlen, "%s", redis_conn_error(ha.conn));
        return HA_NO_ANSWER;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s", r->str);
        res = HA_NO_ANSWER;
    } else if (leader) {
        res = r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? HA_KEPT
                                                                : HA_GONE;
    } else {
        res = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0
                  ? HA_GOT
                  : HA_HELD_ELSEWHERE;
    }
    freeReplyObject(r);
    holder[0] = '\0';
    if (res == HA_HELD_ELSEWHERE || res == HA_GONE) {
        read_holder(holder, size);
    }
    return res;
}

static void
notify(void)
{
    char c = 'h';

    if (ha.notify_fd >= 0 && write(ha.notify_fd, &c, 1) < 0 && errno != EAGAIN)
    {
        slog_err(NULL, NULL, "ha: cannot signal the loop: %s", strerror(errno));
    }
}

/* under the lock: the lease is gone (why) */
static void
lose(const char *why)
{
    ha.l.leader = 0;
    ha.l.valid_until = 0;
    ha.lost++;
    ha.value[0] = '\0';
    slog_warn(NULL, NULL, "ha: standing by: %s", why);
    notify();
}

static void *
ha_thread(void *arg)
{
    char            value[REGISTRY_FENCE_MAX + 1], holder[HA_URL_MAX];
    char            err[256], why[320];
    uint64_t        sent, now, next;
    ha_result_t     r;
    struct timespec ts;
    int             leader;

    (void) arg;
    pthread_mutex_lock(&ha.lock);
    while (!ha.stop) {
        leader = ha.l.leader;
        if (leader) {
            snprintf(value, sizeof(value), "%s", ha.value);
        } else if (new_value(value, sizeof(value)) != 0) {
            value[0] = '\0';
        }
        pthread_mutex_unlock(&ha.lock);

        sent = clock_mono_ms();
        err[0] = '\0';
        r = value[0] ? attempt(leader, value, holder, sizeof(holder), err,
                               sizeof(err))
                     : HA_NO_ANSWER;
        now = clock_mono_ms();

        pthread_mutex_lock(&ha.lock);
        if (leader && !ha.l.leader) {
            /* the fence said so meanwhile (ha_fenced) */
        } else if (r == HA_GOT) {
            ha_lease_step(&ha.l, r, sent, now, ha.lease_ms);
            snprintf(ha.value, sizeof(ha.value), "%s", value);
            snprintf(ha.leader, sizeof(ha.leader), "%s", ha.self);
            ha.term++;
            ha.term_passes = 0;
            ha.acquired++;
            ha.since = clock_unix_ms();
            slog(NULL, NULL, "ha: leading (took the lease %s for %llu ms)",
                 ha.key, (unsigned long long) ha.lease_ms);
            notify();
        } else if (r == HA_KEPT) {
            ha_lease_step(&ha.l, r, sent, now, ha.lease_ms);
        } else if (r == HA_HELD_ELSEWHERE || r == HA_GONE) {
            snprintf(ha.leader, sizeof(ha.leader), "%s", holder);
            if (leader) {
                snprintf(why, sizeof(why), "the lease is held by %s now",
                         holder[0] ? holder : "another writer");
                lose(why);
            }
        } else {
            ha_lease_step(&ha.l, r, sent, now, ha.lease_ms);
            if (leader && !ha.l.leader) {
                snprintf(why, sizeof(why),
                         "the lease expired without an "
                         "answer from Redis (%s)",
                         err);
                lose(why);
            }
        }
        if (r == HA_NO_ANSWER && !ha.unreached) {
            slog_warn(NULL, NULL, "ha: the lease could not be %s: %s",
                      leader ? "renewed" : "asked for", err);
            ha.unreached = 1;
        } else if (r != HA_NO_ANSWER && ha.unreached) {
            slog(NULL, NULL, "ha: Redis answers the lease again");
            ha.unreached = 0;
        }
        next = ha_lease_next(r, sent, ha.lease_ms);
        next += (uint64_t) (rand() % 50); /* scalers not in step */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = clock_mono_ms();
        if (next > now) {
            ts.tv_sec += (time_t) ((next - now) / 1000);
            ts.tv_nsec += (long) ((next - now) % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            while (!ha.stop
                   && pthread_cond_timedwait(&ha.cond, &ha.lock, &ts) == 0) {
                /* woken: stop, or spurious */
            }
        }
    }
    pthread_mutex_unlock(&ha.lock);
    return NULL;
}

/* --- the rest of the scaler ---------------------------------------------- */

int
ha_start(const scaler_config_t *cf, redis_topo_t *topo, int notify_fd)
{
    pthread_condattr_t a;
    uint64_t           timeout;

    if (cf->ha_lease_ms == 0) {
        return 0;
    }
    if (scaleset_key(ha.key, sizeof(ha.key), cf->prefix, NULL,
                     SCALESET_KEY_SCALER_LEASE, NULL)
        < 0)
    {
        slog_err(NULL, NULL, "ha: no lease key for prefix \"%s\"", cf->prefix);
        return -1;
    }
    if (cf->ha_advertise) {
        snprintf(ha.self, sizeof(ha.self), "%s", cf->ha_advertise);
    } else {
        snprintf(ha.self, sizeof(ha.self), "http://%s:%d", cf->api_host,
                 cf->api_port);
    }
    /* a command never takes longer than a quarter of the lease */
    timeout = cf->ha_lease_ms / 4 < 1000 ? cf->ha_lease_ms / 4 : 1000;
    ha.conn = redis_conn_new(&cf->redis, topo, timeout, "ha: ");
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&ha.cond, &a);
    pthread_condattr_destroy(&a);
    ha.lease_ms = cf->ha_lease_ms;
    ha.notify_fd = notify_fd;
    ha.stop = 0;
    memset(&ha.l, 0, sizeof(ha.l));
    ha.value[0] = ha.leader[0] = '\0';
    ha.enabled = 1;
    if (pthread_create(&ha.tid, NULL, ha_thread, NULL) != 0) {
        slog_err(NULL, NULL, "ha: no thread (%s)", strerror(errno));
        redis_conn_free(ha.conn);
        ha.conn = NULL;
        ha.enabled = 0;
        return -1;
    }
    ha.started = 1;
    slog(NULL, NULL, "ha: standing by for the lease %s (%llu ms) as %s", ha.key,
         (unsigned long long) ha.lease_ms, ha.self);
    return 0;
}

void
ha_stop(void)
{
    const char *argv[] = { "EVAL", release_script, "1", ha.key, ha.value };
    redisReply *r;

    if (!ha.started) {
        return;
    }
    pthread_mutex_lock(&ha.lock);
    ha.stop = 1;
    pthread_cond_signal(&ha.cond);
    pthread_mutex_unlock(&ha.lock);
    pthread_join(ha.tid, NULL);
    ha.started = 0;
    /* a standby takes over at its next attempt, not after the lease */
    if (ha.l.leader && (r = command(5, argv)) != NULL) {
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
            slog(NULL, NULL, "ha: lease released");
        }
        freeReplyObject(r);
    }
    pthread_mutex_lock(&ha.lock);
    ha.l.leader = 0;
    ha.enabled = 0;
    ha.value[0] = '\0';
    pthread_mutex_unlock(&ha.lock);
    redis_conn_free(ha.conn);
    ha.conn = NULL;
    pthread_cond_destroy(&ha.cond);
}

int
ha_fence(char *buf, size_t size)
{
    int enabled;

    pthread_mutex_lock(&ha.lock);
    enabled = ha.enabled;
    /* "-" is no lease's value: a standby's write is always refused */
    snprintf(buf, size, "%s", !enabled ? "" : ha.l.leader ? ha.value : "-");
    pthread_mutex_unlock(&ha.lock);
    return enabled;
}

int
ha_acting(void)
{
    int acting;

    pthread_mutex_lock(&ha.lock);
    acting =
        !ha.enabled || ha_lease_acting(&ha.l, clock_mono_ms(), ha.lease_ms);
    pthread_mutex_unlock(&ha.lock);
    return acting;
}

ha_role_t
ha_pass(char *fence, size_t size, unsigned *term)
{
    ha_role_t role;

    pthread_mutex_lock(&ha.lock);
    if (!ha.enabled) {
        role = HA_OFF;
        fence[0] = '\0';
    } else if (ha_lease_acting(&ha.l, clock_mono_ms(), ha.lease_ms)) {
        role = HA_LEADER;
        snprintf(fence, size, "%s", ha.value);
    } else {
        role = HA_STANDBY;
        snprintf(fence, size, "-");
    }
    *term = ha.term;
    pthread_mutex_unlock(&ha.lock);
    return role;
}

void
ha_ready(unsigned term)
{
    pthread_mutex_lock(&ha.lock);
    if (term == ha.term && ha.l.leader) {
        ha.ready_term = term;
    }
    pthread_mutex_unlock(&ha.lock);
}

void
ha_passed(unsigned term)
{
    pthread_mutex_lock(&ha.lock);
    if (term == ha.term && ha.l.leader) {
        ha.term_passes++;
    }
    pthread_mutex_unlock(&ha.lock);
}

int
ha_writable(void)
{
    int w;

    pthread_mutex_lock(&ha.lock);
    w = !ha.enabled || (ha.l.leader && ha.ready_term == ha.term);
    pthread_mutex_unlock(&ha.lock);
    return w;
}

void
ha_fenced(const char *fence)
{
    pthread_mutex_lock(&ha.lock);
    if (ha.enabled && ha.l.leader && strcmp(fence, ha.value) == 0) {
        lose("a write was refused by the fence: the lease is not ours");
    }
    pthread_mutex_unlock(&ha.lock);
}

void
ha_status(ha_status_t *st)
{
    uint64_t now = clock_mono_ms();

    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&ha.lock);
    st->enabled = ha.enabled;
    st->leader = !ha.enabled || ha.l.leader;
    st->acting = !ha.enabled || ha_lease_acting(&ha.l, now, ha.lease_ms);
    st->ready = !ha.enabled || (ha.l.leader && ha.ready_term == ha.term);
    snprintf(st->self, sizeof(st->self), "%s", ha.self);
    snprintf(st->leader_url, sizeof(st->leader_url), "%s",
             ha.l.leader ? ha.self : ha.leader);
    st->lease_ms = ha.lease_ms;
    st->left_ms =
        ha.l.leader && ha.l.valid_until > now ? ha.l.valid_until - now : 0;
    st->since = ha.l.leader ? ha.since : 0;
    st->term_passes = ha.l.leader ? ha.term_passes : 0;
    st->acquired = ha.acquired;
    st->lost = ha.lost;
    pthread_mutex_unlock(&ha.lock);
}
