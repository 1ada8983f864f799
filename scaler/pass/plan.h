/*
 * plan.h: a pool's reconcile pass as observe -> plan -> act
 * (docs/design.md, "The reconcile pass").
 *
 *   observe.c   impure: every zone's owned domains (virt.c), the pool's
 *               Redis state (members, drain starts, seq, every gateway's
 *               health report; registry.c), the readiness of unregistered
 *               instances (ready.c), the API's deletions; all of it
 *               bounded and validated into one observation_t.
 *   plan.c      pure: plan(input) -> a plan_t of actions, made by the
 *               sub-planners in a fixed order (plan_steps[] in plan.c),
 *               each a pure function of the same input and of the plan
 *               so far, in a file of its own: plan_requests.c,
 *               plan_members.c, plan_repair.c, plan_drain.c,
 *               plan_upgrade.c, plan_capacity.c, plan_warm.c.  No I/O,
 *               no globals, no clock.
 *   act.c       applies the actions (registry.c, virt.c), each one
 *               idempotent, reports a failure once with pool and id, and
 *               leaves the pool's instances as the pass ends; the warm
 *               pool's slow calls go on in the background (act_bg.c),
 *               collected by the next passes.
 *
 * A sub-planner is void plan_NAME(const plan_input_t *in, plan_t *pl): it
 * reads in->obs and the view pl->view[] (where each observed instance
 * stands after the actions so far), and adds actions with plan_add() and
 * notes with plan_note().  It acts only on instances no earlier step
 * claimed (plan_free()), so the order decides who wins.
 */

#ifndef SCALER_PLAN_H
#define SCALER_PLAN_H

#include "scaler.h"

/* the most fields of a Redis hash a pass reads (members, drain starts,
   one gateway's reports): 4 x the largest pool; a larger hash is refused */
#define OBS_HASH_MAX (4 * SCALER_CAPACITY_MAX)
/* the most gateways' reports a pass reads; more health keys than that
   make every instance's connections unknown */
#define OBS_GATEWAYS_MAX 1024
/* how far in the future a stored time (a drain start, a creation time)
   may be before it is refused as a lie: the clocks' skew */
#define OBS_SKEW_MS 60000
/* the largest instance number taken from PREFIX{POOL}:seq */
#define OBS_SEQ_MAX POLICY_SEQ_MAX

/* a member of PREFIX{POOL}:members, decoded */
typedef struct {
    char id[SCALESET_ID_MAX + 1];
    int  valid; /* its record parsed (else only id is set) */
    int  zone;  /* its zone= among the pool's; -1: none */
    int  host;  /* its host= among its zone's hosts (an
                   index into the pool's); -1: none given,
                   -2: one its zone does not have */
    char     address[80];
    char     version[SCALESET_NAME_MAX + 1];
    unsigned weight;
    unsigned flags; /* SCALESET_MEMBER_DRAIN, _DOWN, _BACKUP */
    int      inst;  /* obs->inst of this id; -1: none (stray) */
} obs_member_t;

typedef enum {
    READY_UNKNOWN = 0, /* not probed: registered, zone down */
    READY_YES,
    READY_NO
} obs_ready_t;

/* a libvirt call of an earlier pass still running on its host's worker
   (act_bg.c: the warm pool's refill and parks run in the background): its
   instance is busy until a pass has collected its outcome */
typedef struct {
    int create; /* 1 a warm creation (its domain may not be listed
                   yet: its id, number and address stay taken), 0 a
                   park */
    char id[SCALESET_ID_MAX + 1];
    int  zone, host; /* the instance's */
    long seq;        /* a creation's number */
    char address[80];
} obs_busy_t;

/* an owned domain (or, in a zone that did not answer, one known before) */
typedef struct {
    instance_t in;        /* from its domain and tag (virt_list) and
                             what this scaler remembers of it */
    int      listed;      /* 0: its zone did not answer this pass */
    int      member;      /* obs->members of this id; -1: none */
    uint64_t drain_since; /* PREFIX{POOL}:draining, UNIX ms; 0: none
                             (or refused) */
    obs_ready_t ready;    /* probed when listed and not registered */
    char        why[64];  /* READY_NO: "no address", "status 500" */
    int         off;      /* listed, its domain not running (shut
                             off after our ACPI shutdown) */
    protect_t protection; /* PREFIX{POOL}:protection; PROTECT_ALL
                             for every instance when the hash could
                             not be read */
    int standby;          /* PREFIX{POOL}:standby: 1, 2 entered with
                             a decrement of the capacity */
} obs_instance_t;

typedef struct {
    uint64_t       now;    /* UNIX ms of the observation */
    repair_state_t repair; /* PREFIX{POOL}:repair (none: active,
                              no failure) */
    int repair_ok;         /* it was read */
    int nzones;
    int zone_up[SCALER_MAX_ZONES]; /* every host of the zone
                        answered (its instances are all
                        known) */
    int nhosts;
    int host_up[SCALER_MAX_HOSTS];                  /* the host answered: its
                                         instances are listed */
    unsigned long long host_free[SCALER_MAX_HOSTS]; /* its free memory
                                     (virNodeGetFreeMemory), bytes; 0
                                     unknown */
    uint64_t host_down_since[SCALER_MAX_HOSTS];     /* UNIX ms it
                                 has been unreachable since (this
                                 scaler's count); 0: it answered */
    virt_model_t latest[SCALER_MAX_TEMPLATES][SCALER_MAX_HOSTS];
    /* each template's model as a new
       instance of it on that host would
       get it now (its base image as last
       read there, its URI); created 0 */
    int  redis_ok;         /* members read: else no plan */
    char redis_err[200];   /* !redis_ok: why */
    int  drains_ok;        /* PREFIX{POOL}:draining read */
    int  protection_ok;    /* PREFIX{POOL}:protection read */
    int  reports_ok;       /* every gateway's reports read */
    char reports_err[200]; /* !reports_ok: why */
    long seq;              /* PREFIX{POOL}:seq, the last instance
                              number handed out; 0 unset or no
                              number (replaced); -1 above
                              POLICY_SEQ_MAX: no new ids */
    obs_instance_t *inst;  /* sorted by id */
    int             ninst;
    obs_member_t   *members; /* sorted by id */
    int             nmembers;
    report_t       *reports; /* grouped by instance: each instance's
                                in->report0 .. + in->nreports */
    int        nreports;
    gateway_t *gateways; /* those read this pass, then those
                            not read but still present (their
                            reports unknown: read 0) */
    int               ngateways;
    const hand_req_t *hand; /* instances asked for by hand (the
                               pass's requests, pool_state_t) */
    int         nhand;
    obs_busy_t *busy; /* the calls of earlier passes in flight
                         (act_bg_busy(): copied when the pass
                         began) */
    int nbusy;
    int refused; /* values read from Redis and refused
                    (scaleset_scaler_errors_total
                    {kind="redis_data"}) */
    /* the upgrade (plan_upgrade.c): PREFIX{POOL}:upgrade as read, the
       digest of the hosts' base images, and the previous model (the
       record's from, as an instance of it records how it was made: its
       recipe, virt_recipe()) as a new instance on each host would get
       it */
    int upgrade_ok; /* read and valid, or absent (state
                       UPGRADE_NONE): else no upgrade step */
    char         upgrade_err[160];
    upgrade_t    upgrade;
    char         images[MODEL_DIGEST_LEN + 1];
    virt_model_t previous[SCALER_MAX_TEMPLATES][SCALER_MAX_HOSTS];
    int          previous_ok; /* a recipe of from was found */
} observation_t;

/* everything plan() depends on */
typedef struct {
    const pool_config_t *cf;
    const observation_t *obs;
    int                  capacity;    /* the loop's desired capacity */
    uint64_t             now;         /* UNIX ms */
    uint64_t             interval_ms; /* between passes: the creation
                                         backoff's unit */
} plan_input_t;

typedef enum {
    ACT_CREATE = 0, /* define and start a new instance: id, zone,
                       address */
    ACT_REGISTER,   /* its member record, from its own model */
    ACT_DRAIN,      /* its member record with drain, and the drain's
                       start */
    ACT_DEREGISTER, /* HDEL a member that has no domain */
    ACT_DELETE,     /* its domain deleted, then its member (if any) */
    ACT_STOP,       /* drained: its ACPI shutdown (deleted at once
                       if it is off already) */
    ACT_RESTART,    /* a power cycle (repair, API) */
    ACT_REIMAGE,    /* its overlay made again, started (repair, API) */
    ACT_STANDBY,    /* its standby record and (registered) its drain,
                       in one transaction */
    ACT_HOOK,       /* it begins to wait in a lifecycle hook (hook) */
    ACT_ADOPT,      /* an operator's domain tagged into the pool: id
                       (its name), zone, address, model */
    ACT_UPGRADE,    /* the upgrade record written (pl->upgrade),
                       compare-and-set on the generation observed;
                       when it is not, the rest of the upgrade's
                       actions are not carried out */
    ACT_WAKE,       /* out of the warm pool: resumed or restored, its
                       readiness checked again, registered */
    ACT_PARK,       /* into the warm pool: deregistered (if it was),
                       tagged warm, kept as warm_pool.state */
    ACT_KIND_COUNT
} act_kind_t;

typedef struct {
    act_kind_t kind;
    int        inst;   /* obs->inst; -1 for CREATE, DEREGISTER */
    int        member; /* obs->members: DEREGISTER, and DELETE of
                          a registered one; else -1 */
    char id[SCALESET_ID_MAX + 1];
    int  zone;                           /* the instance's (CREATE: where) */
    int  host;                           /* the instance's host (CREATE: where);
                                            -1: none (DEREGISTER) */
    long         seq;                    /* CREATE: the id's number */
    char         address[80];            /* CREATE */
    virt_model_t model;                  /* CREATE: what it is made from (its
                                            template's latest on the host; act
                                            sets created) */
    char repair_of[SCALESET_ID_MAX + 1]; /* CREATE: the
                        instance it replaces ("": none) */
    inst_hook_t hook;                    /* HOOK: which one; more below */
    int         tmpl;                    /* CREATE: its template */
    origin_t    origin; /* CREATE: scaled, or manual (by hand) */
    int         warm;   /* CREATE: for the warm pool (tagged so;
                           not counted in the capacity); HOOK: a
                           drained one waits in the terminate hook
                           on its way back to it (reuse_on_scale_in) */
    const char *rule;   /* "api", "stray", "ready", "record",
                           "repair", "drain", "upgrade",
                           "scale_out", "scale_in", "warm" */
    char reason[160];   /* why, for the log */
    /* hook HOOK_LAUNCH: a WAKE's instance waits in the launch hook once
       ready instead of being registered; a PARK or a REGISTER completes
       the launch hook it waited in */
} action_t;

/* something a sub-planner could not do, for the log and the metrics */
typedef struct {
    err_kind_t  err; /* ERR_KIND_COUNT: only logged */
    const char *rule;
    char        text[160];
} plan_note_t;

/* an instance's health as every present gateway reports it
   (plan_health()) */
typedef enum {
    HEALTH_UNKNOWN = 0,
    HEALTH_UP,
    HEALTH_DOWN,
    HEALTH_MIXED
} plan_health_t;

/* where an observed instance stands after the actions so far */
typedef struct {
    inst_state_t state;     /* BOOTING (unregistered), RUNNING,
                               DRAINING, STOPPING, DELETING (it goes),
                               WARM */
    int  claimed;           /* pl->act of the step that took it; -1 */
    char hold[160];         /* what it waits for ("" nothing): logged
                               when it changes */
    plan_health_t health;   /* plan_health() this pass: act keeps
                               in.down_since */
    inst_repair_t repair;   /* its part in a repair after this plan */
    int           repaired; /* its repair ended: 1 up again, -1 it
                               failed (logged, counted) */
    int beat;               /* its hook's heartbeat came this pass */
    int lost;               /* counted as lost (its host failed over,
                               in->lost or now): not active, its
                               capacity rebuilt elsewhere */
} plan_view_t;

typedef struct {
    action_t    *act;
    int          nact, cact;
    plan_note_t *note;
    int          nnote, cnote;
    plan_view_t *view;     /* one per obs->inst */
    long         next_seq; /* the next instance number to hand out */
    int          creates;  /* CREATE actions so far */
    int          surge;    /* instances an earlier step keeps above
                              the capacity on purpose (an upgrade's
                              new ones while the old still serve):
                              scale-in stops at capacity + surge */
    virt_model_t target[SCALER_MAX_TEMPLATES][SCALER_MAX_HOSTS];
    /* the model a new instance of each
       template on each host gets: its
       latest, or the previous one while an
       upgrade rolls back (and after) */
    upgrade_t upgrade;          /* the upgrade record as the pass leaves
                                   it (ACT_UPGRADE writes it) */
    char upgrade_log[512];      /* what happened to it, for the
                           log of that write */
    int batches[3];             /* batches ended: succeeded, failed,
                                   rolled back (upgrade_batches_total) */
    int protected_above;        /* instances above capacity + surge
                               that stay: every candidate for scale-in
                               is protected */
    repair_state_t repair;      /* the pool's repairs after this plan */
    int            repairing;   /* repairs under way after it */
    int            repair_most; /* at most that many at once */
    char (*replacing)[SCALESET_ID_MAX + 1]; /* replaced this pass:
                           the capacity step's first creations
                           replace them */
    int nreplacing;
} plan_t;

/* plan.c */
/* the sub-planners in the order they run (plan_steps[]) */
typedef void (*plan_step_pt)(const plan_input_t *in, plan_t *pl);
typedef struct {
    const char  *name;
    plan_step_pt run;
} plan_step_t;
extern const plan_step_t plan_steps[];

/* runs every step (none when !obs->redis_ok); plan_release() frees pl */
void plan(const plan_input_t *in, plan_t *pl);
/* what plan() does before the steps: the view as observed, the next
   instance number; a test runs one step after it */
void plan_begin(const plan_input_t *in, plan_t *pl);
void plan_release(plan_t *pl);
/* obs->inst[i]'s state as observed: BOOTING (no readable member record),
   RUNNING, DRAINING (its record has drain), WARM (no member record, its
   tag says warm); as last known when Redis was not read */
inst_state_t plan_observed(const observation_t *obs, int i);
/* adds an action (its view follows: REGISTER -> RUNNING, DRAIN ->
   DRAINING, DELETE -> DELETING, WAKE -> BOOTING, PARK -> WARM) and claims
   its instance; never NULL */
action_t *plan_add(plan_t *pl, const plan_input_t *in, act_kind_t kind,
                   int inst, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void plan_note(plan_t *pl, err_kind_t err, const char *rule, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));
/* obs->busy's entry for id, or NULL */
const obs_busy_t *plan_busy(const observation_t *obs, const char *id);
/* 1 when no step claimed obs->inst[i] yet (an instance with a call in
   flight, obs->busy, is claimed by plan_begin: it stays warm, counted in
   the warm pool, and no step acts on it) */
int plan_free(const plan_t *pl, int i);
/* a step takes obs->inst[i] without an action (it waits: st) */
void plan_claim(plan_t *pl, int i, inst_state_t st);
/* a failure of a new or repaired instance (why: for the log and the
   API): counted in a row; at repair.max_failures the pool's repairs are
   suspended; from the second failure in a row on, creation backs off for
   interval x 2^(failures - 2), at most 128 x interval */
void plan_repair_failed(repair_state_t *rs, const pool_config_t *cf,
                        uint64_t now, uint64_t interval_ms, const char *why);
/* how many repairs may be under way at once: one below 20 instances of
   capacity, else repair.max_percent of it (rounded up), never more than
   the capacity */
int plan_repair_most(const pool_config_t *cf, int capacity);

/* 1 when obs->inst[i] is protected at least at level (PROTECT_SCALE_IN:
   from scale-in; PROTECT_ALL: from repair, upgrades and every other
   scale-set action too) */
int plan_protected(const plan_input_t *in, int i, protect_t level);
/* 1 when obs->inst[i] was listed this pass by its host: it can be acted
   on (an instance of a host that did not answer is kept as it was) */
int plan_reachable(const observation_t *obs, int i);
/* instances that serve or will: booting, running, creating (not for the
   warm pool), in every zone (those of a zone down count, unless lost:
   view.lost); per_zone (SCALER_MAX_ZONES) and per_host
   (SCALER_MAX_HOSTS) may be NULL */
int plan_active(const plan_input_t *in, const plan_t *pl, int *per_zone);
/* obs->inst[i]'s health for upgrades: 1 when it is registered (not
   draining, not down) and up in the report of every present gateway
   (plan_health() HEALTH_UP); 0 when not; -1 unknown (the reports were
   not read) */
int plan_healthy(const plan_input_t *in, int i);
/* 1 when obs->inst[i] is on the model new instances get (pl->target) */
int plan_on_target(const plan_input_t *in, const plan_t *pl, int i);
/* a new instance of template tmpl in zone z made for the capacity (on
   the zone's host plan_place_host() picks, its address, id and
   pl->target[tmpl][host]); NULL when none can be made (noted) or out of
   memory */
action_t *plan_create(const plan_input_t *in, plan_t *pl, int tmpl, int z,
                      const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
int plan_active_hosts(const plan_input_t *in, const plan_t *pl, int *per_zone,
                      int *per_host);
const char *act_kind_name(act_kind_t kind);
/* how long gateway g counts as present after its reports were last
   read: drain.gateway_ttl, else 3 x its report key's TTL, else 30 s */
uint64_t plan_gateway_ttl(const pool_config_t *cf, const gateway_t *g);
/* 1 when g reported within plan_gateway_ttl() of now */
int plan_gateway_present(const pool_config_t *cf, const gateway_t *g,
                         uint64_t now);

/* obs->inst[i]'s health as every present gateway reports it (upgrades,
   repair): UP when each of them reports it up, DOWN when each reports it
   down, UNKNOWN when a report is missing or unreadable or there is no
   gateway, MIXED otherwise */
plan_health_t plan_health(const plan_input_t *in, int i);

/* the sub-planners, each in its own file, in plan_steps[] order */
/* plan_requests.c: what the API asked for: deleted instances' domains */
void plan_requests(const plan_input_t *in, plan_t *pl);
/* plan_hand.c: instances asked for by hand: one more created outside
   the capacity (origin manual), an operator's domain adopted */
void plan_hand(const plan_input_t *in, plan_t *pl);
/* plan_members.c: members without a domain deregistered (unless their
   zone is down); after capacity: ready instances registered, records
   that differ from the instance rewritten */
void plan_strays(const plan_input_t *in, plan_t *pl);
void plan_register(const plan_input_t *in, plan_t *pl);
/* plan_repair.c: repairs under way end (up again, or failed); instances
   not ready within health.grace are deleted; running ones down on every
   present gateway longer than repair.grace are repaired by
   repair.action, at most plan_repair_most() at once; nothing while the
   pool's repairs are suspended */
void plan_repair(const plan_input_t *in, plan_t *pl);
/* plan_drain.c: draining instances shut down (ACPI) once every present
   gateway reported zero connections since the drain began, or at
   drain_timeout; held while a report is unknown or older than the drain;
   stopping instances deleted once off, or at shutdown_timeout */
void plan_drain(const plan_input_t *in, plan_t *pl);
/* plan_upgrade.c: the upgrade record's state machine and its batches:
   outdated instances replaced in health-gated batches, rolled back on a
   breach (docs/upgrades.md) */
void plan_upgrade(const plan_input_t *in, plan_t *pl);
typedef enum {
    DRAIN_HOLDS = 0,
    DRAIN_EMPTY,
    DRAIN_TIMEOUT
} drain_over_t;
/* whether the drain of obs->inst[i] (draining, listed) is over: its
   gateways report no connection open, or drain_timeout passed */
drain_over_t plan_drain_over(const plan_input_t *in, int i);
/* plan_zones.c: a host unreachable longer than zone_failover has its
   instances counted as lost (plan_begin), so the capacity step rebuilds
   them elsewhere; back, they are drained and deleted where the capacity
   stands without them (else counted again).  Zones more than one apart
   are rebalanced, one move at a time: a new instance in the smallest
   first (surge), then the capacity step drains one in the largest */
void plan_failover(const plan_input_t *in, plan_t *pl);
void plan_rebalance(const plan_input_t *in, plan_t *pl);
/* plan_capacity.c: new instances up to the capacity (placement, address,
   id); above it, scale-in by scale_in_policy, outdated instances first */
void plan_capacity(const plan_input_t *in, plan_t *pl);
/* plan_hooks.c: lifecycle hooks.  plan_terminate (before drain):
   instances waiting in the terminate hook are shut down once it is
   completed or timed out; plan_launch (before register): ready ones wait
   in the launch hook, registered on continue, deleted on abandon (a
   failure of the pool), the hook's default at its timeout;
   plan_hook_enter: a step makes obs->inst[i] wait in hook;
   plan_warm_launch, from plan_warm before it wakes, cuts or parks: with
   hooks.launch, a warm instance ready and not parked yet waits in the
   launch hook (pending_launch, still warm: not registered, not counted),
   continue parks it (ACT_PARK, hook HOOK_LAUNCH), abandon deletes it (a
   failure of the pool) */
void      plan_terminate(const plan_input_t *in, plan_t *pl);
void      plan_launch(const plan_input_t *in, plan_t *pl);
void      plan_warm_launch(const plan_input_t *in, plan_t *pl);
action_t *plan_hook_enter(const plan_input_t *in, plan_t *pl, int i,
                          inst_hook_t hook, const char *why);
/* n new instances made for the capacity (fewer when no host, address,
   number or template is left: noted), each of template tmpl (-1: the one
   the mix asks for), placed as the capacity step places them: the zone
   with the fewest of the template then of all, its host with the fewest
   then the most free memory, the lowest free address, the next number,
   the template's latest model on the host; why NULL: the capacity
   step's reason.  The number made */
int plan_scale_out(const plan_input_t *in, plan_t *pl, int n, int tmpl,
                   const char *rule, const char *why);
/* the capacity units of the instances made for it (origin scaled, not
   warm) that serve or will (booting, running, creations so far; not
   lost), and per_zone / per_host (SCALER_MAX_ZONES / _HOSTS, may be
   NULL) how many of them each has */
int plan_units(const plan_input_t *in, const plan_t *pl, int *per_zone,
               int *per_host);
/* the units obs->inst[i] provides: its template's weight */
int plan_weight(const plan_input_t *in, int i);
/* up to n new instances for the warm pool, made as scale-out makes them
   (a free address, the next number, the latest model on the host) from
   the template the mix would add next, each in the zone with the fewest
   in zcount[] (SCALER_MAX_ZONES: in service and warm), on its host with
   the fewest in hcount[] (SCALER_MAX_HOSTS) among those with room for
   another background call (plan_bg_room: none planned where act would
   refuse it, its number spent); both follow; with reason.  How many
   were planned */
int plan_create_warm(const plan_input_t *in, plan_t *pl, int n, int *zcount,
                     int *hcount, const char *reason);
/* how many more background calls (act_bg.c: a warm creation, a park)
   each host (room[SCALER_MAX_HOSTS]) takes this pass: HOST_BACKGROUND_MAX
   less those of earlier passes in flight (obs->busy) and those pl plans
   already; <= 0 none (act_bg_submit would refuse it) */
void plan_bg_room(const plan_input_t *in, const plan_t *pl, int *room);
/* the host of zone z a new instance goes to (policy_place_host over
   hcount, the instances per host, NULL: none); -1 when none of its hosts
   answers */
int plan_place_host(const plan_input_t *in, int z, const int *hcount);
/* plan_warm.c: the warm pool.  plan_warm, before drain: outdated or never
   ready warm instances go, drained ones come back (reuse_on_scale_in),
   warm ones are taken for a scale-out first (woken), ready ones kept as
   warm_pool.state (parked); plan_warm_fill, after capacity: the warm pool
   refilled to its size */
void plan_warm(const plan_input_t *in, plan_t *pl);
void plan_warm_fill(const plan_input_t *in, plan_t *pl);
/* the lowest address of the pool that no instance, no member and no
   creation of the plan so far uses: 0, or -1 when none is left */
int plan_free_address(const plan_input_t *in, plan_t *pl, char *buf,
                      size_t size);

/* plan_mix.c: a flexible pool's templates by the mix (pure) */
typedef struct {
    int weight;    /* the capacity units one instance provides */
    int share;     /* its share in mix: (0: not in it) */
    int max_units; /* max_percent of the capacity, in units; INT_MAX:
                      no bound */
} mix_template_t;
/* the template of the next instance given count[] of each, missing
   units short of the capacity: mixed, the one that stands lowest against
   its share after it ((units + weight) / share, first on ties); else the
   first with room; one that fits within missing when the choice is
   heavier; -1 when none has room */
int mix_next(const mix_template_t *t, int n, int mixed, const int *count,
             int missing);
/* count[] of each template that a capacity (units) asks for: mix_next()
   until the units reach it (or none has room) */
void mix_targets(const mix_template_t *t, int n, int mixed, int capacity,
                 int *count);
/* the template to create from: the one furthest below its target (in
   units, first on ties) that has room, else mix_next(); -1: none */
int mix_pick_out(const mix_template_t *t, int n, int mixed, const int *target,
                 const int *count, int missing);
/* the template to take one instance from: the one furthest above its
   target (in units; the later on ties) with a removable instance whose
   weight is at most spare (the units above the capacity); -1: none */
int mix_pick_in(const mix_template_t *t, int n, const int *target,
                const int *count, const int *removable, int spare);

/* observe.c */
/* fills *obs for ps's pool: prev = ps's instances of the last pass (kept
   for a zone that does not answer; what this scaler remembers) and
   gateways (kept while present), asks = the API's requests (ASK_* into
   each instance's in.asked); 0, or -1 when the member hash could not be
   read (Redis did not answer, or it was refused: obs->redis_err says
   which; obs then holds only the listing and the gateways known).
   obs_release() frees it either way */
int  observe(registry_t *reg, pool_state_t *ps, const pool_ask_t *asks,
             int nasks, observation_t *obs);
void obs_release(observation_t *obs);
/* the instance of id in obs (sorted), or NULL */
const obs_instance_t *obs_instance(const observation_t *obs, const char *id);

/* act.c */
/* applies pl to ps's pool; ps->inst becomes the instances as the pass
   leaves them, ps->reports/gateways the observation's reports; counters
   and errors counted in ps */
void act(registry_t *reg, pool_state_t *ps, observation_t *obs,
         const plan_t *pl);
/* a failed action, logged once ("KIND failed: ERR (REASON) rule=RULE")
   and counted as kind */
void act_failed(pool_state_t *ps, const action_t *a, err_kind_t kind,
                const char *err);
/* a Redis write of a that failed: refused by the fence (the lease is
   lost: ERR_FENCED), or not done (ERR_REDIS) */
void act_write_failed(pool_state_t *ps, const action_t *a, registry_t *reg);
/* the outcome of one libvirt call of act_virt() */
typedef struct {
    int          ok;
    virt_power_t was; /* a wake's: the power before */
    char         err[256];
} act_virt_t;
/* the libvirt call kind (ACT_WAKE, ACT_DELETE) for each of acts[0..n)
   on its instance's host, all at once, each within libvirt.timeout;
   out[i] is acts[i]'s outcome */
void act_virt(pool_state_t *ps, const action_t *const *acts, int n,
              act_kind_t kind, act_virt_t *out);
/* the member record of an instance, from its own model, through the
   shared codec; 0, or -1 with err */
int member_record(const pool_config_t *p, const instance_t *in, int drain,
                  char *buf, size_t size, char *err, size_t errlen);

/* act_warm.c: the warm pool's actions */
/* every ACT_WAKE of pl at once: resumed or restored, tags cleared, then
   their readiness polled together until each passes (registered at once)
   or warm_pool.wake_timeout (deleted: the next pass replaces it); st[]
   follows */
void act_wake_all(registry_t *reg, pool_state_t *ps, observation_t *obs,
                  const plan_t *pl, inst_state_t *st);

/* act.c: an action's libvirt call on its host's worker, with what it
   needs copied (a late one, or one in the background, may outlive the
   pass and a reload: the configuration is held) */
typedef struct {
    host_call_t          c;
    scaler_config_t     *conf;
    const pool_config_t *p;
    const action_t      *a; /* the pass's: read before the wait
                               only */
    char       id[SCALESET_ID_MAX + 1];
    char       zone[SCALESET_NAME_MAX + 1];
    char       address[80];
    act_kind_t kind;      /* CREATE, ADOPT, DELETE, STOP,
                             RESTART, REIMAGE, WAKE or PARK */
    origin_t     origin;  /* a creation's */
    int          warm;    /* a creation's: for the warm pool */
    virt_power_t was;     /* a wake's: its power before */
    virt_model_t model;   /* a creation's or an adoption's:
                             into its tag */
    pool_config_t cf;     /* a creation from a recipe: the
                             pool's configuration with that
                             template made of it (p = &cf) */
    virt_recipe_t recipe; /* the call's copy of it */
    int           shut;   /* a STOP's virt_shutdown(): 0 sent,
                             1 off already, -1 refused (then
                             rc is its removal's) */
    int  rc;
    char err[256];
} virt_call_t;
/* the lifecycle event of action a done (the instance's state before and
   after it), or NULL: not a transition (a record written again); a
   pass's actions (act.c) and the background ones collected (act_bg.c) */
const char *act_event(const action_t *a, inst_state_t before,
                      inst_state_t after);
/* why call v did not do its work, for the log */
const char *act_why(const pool_state_t *ps, const virt_call_t *v, char *buf,
                    size_t size);
/* a creation that succeeded (a, made by call v): logged, its event, the
   instance appended to ps->inst; sort (a background one's, collected):
   unless ps->inst has it already, then sorted by id; latest: on the
   model new instances get */
void act_created(registry_t *reg, pool_state_t *ps, const action_t *a,
                 const virt_call_t *v, uint64_t now, int latest, int sort);
/* a creation that failed (why): logged, counted, its event, one of the
   pool's repair failures in rs */
void act_create_failed(registry_t *reg, pool_state_t *ps, const action_t *a,
                       const char *why, repair_state_t *rs, uint64_t now);
/* the repair state rs a pass leaves (was: the one it began with):
   stored when it changed, its changes logged */
void act_keep_repair_state(registry_t *reg, pool_state_t *ps,
                           const repair_state_t *was, uint64_t now,
                           const repair_state_t *rs);

/* act_bg.c: the warm pool's slow libvirt calls (its creations, its
   parks) in the background: submitted by act, not waited for; collected
   by the next passes */
/* v (for action a, its instance's state before: before) submitted to
   its host without waiting: 0, or -1 when its host has
   HOST_BACKGROUND_MAX calls in flight already (not submitted: v is the
   caller's still) */
int act_bg_submit(pool_state_t *ps, const action_t *a, inst_state_t before,
                  virt_call_t *v);
/* the calls that ended (or passed libvirt.timeout) since: their outcome
   logged, counted and carried out as the pass that made them would have;
   the others stay.  First thing of a pass */
void act_bg_collect(registry_t *reg, pool_state_t *ps);
/* a copy of the calls still in flight, for the observation (NULL when
   none; the caller frees it) */
obs_busy_t *act_bg_busy(const pool_state_t *ps, int *n);
/* a reload: old's calls moved to ps (the same pool of the new
   configuration), their hosts mapped by map[] (old host index -> new, -1
   gone: that call is no longer followed) */
void act_bg_move(pool_state_t *ps, pool_state_t *old, const int *map);
/* the calls no longer followed (the pool's state freed): they run to
   their end on their workers, unobserved */
void act_bg_release(pool_state_t *ps);

#endif /* SCALER_PLAN_H */
