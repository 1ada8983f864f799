/*
 * plan(): what a pass decides, as a specification.  Each row is a pool
 * as a pass observes it (zones, capacity, instances with their member
 * records, readiness, drains and gateway reports) and the actions the
 * plan must hold, in order, written "KIND ID [ZONE ADDRESS] RULE
 * (REASON" (a creation in a zone of several hosts names its host, "z1-2",
 * instead of its zone): a row's text is a prefix of the action as
 * printed, so a row may leave the reason out.
 *
 * The pool: web, zones z1 z2 z3 (the row says how many), each of one host
 * unless the row gives .hosts (hosts z1-1, z1-2, ... in zone order; an
 * instance's .host is its index in its zone), addresses
 * 127.0.1.0/24 port 8080 (instance N at 127.0.1.N unless the row says),
 * template version 2, drain_timeout 30 s, health.grace 60 s unless the
 * row says.  "now" is 1 000 000 s.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "plan.h"

#define NOW   1000000000ULL
#define S     1000ULL
#define NONE  (-1L)                 /* no report from that gateway */
#define HUGE  (-2L)                 /* a report of conns=2^64-1 */
#define DOWN  (-3L)                 /* a report of the state down */

typedef struct {
    const char  *id;
    int          zone;          /* 0 z1, 1 z2, 2 z3 */
    const char  *state;         /* "booting" no member; "running";
                                   "draining"; "stopping" (draining, its
                                   shutdown sent stop_s ago); "standby"
                                   (drained, on standby); "bad"
                                   unparsable record */
    const char  *ready;         /* NULL not probed, "yes", or the reason
                                   it is not ("status 500") */
    int          age_s;         /* since it was first seen */
    int          drain_s;       /* draining: its recorded drain start, s
                                   ago (0: none recorded) */
    long         conns[3];      /* gateways gw1..gw3 (0 = "no report": use
                                   NONE; rows list what gateways said) */
    int          nreports;      /* how many of conns[] are reports */
    const char  *address;       /* NULL: 127.0.1.N:8080 */
    const char  *record_version;   /* NULL: the instance's ("1") */
    unsigned     asked;         /* ASK_*: the API's requests */
    int          created_s;     /* its tag's creation time, s ago (0: a
                                   tag that predates it) */
    const char  *version;       /* its model's: NULL "1" */
    const char  *image;         /* its model's base image digest */
    const char  *digest;        /* its model's template digest: NULL "" */
    const char  *warm;          /* its tag says warm, and it is "paused",
                                   "saved" or "running"; NULL: not warm */
    int          outdated;      /* its model is not the latest */
    int          manual;        /* made by hand (origin manual) */
    int          stop_s;        /* stopping: its shutdown sent s ago */
    int          off;           /* listed, its domain shut off */
    int          report_age_s[3];   /* its report from gw N made s ago
                                   (0: 1 s ago) */
    protect_t    protect;
    const char  *health;        /* with nreports, its reports' state:
                                   NULL up, "down", "mixed" (gw1 down, the
                                   others up); without, "up" / "down": a
                                   report of that state from every gateway
                                   (conns 0), NULL none */
    int          down_s;        /* down on every gateway since s ago */
    inst_repair_t repair;       /* its part in a repair ... */
    int          repair_s;      /* ... begun s ago */
    const char  *repair_of;
    inst_hook_t  hook;          /* it waits in a hook ... */
    int          hook_s;        /* ... since s ago */
    int          beat_s;        /* its last heartbeat s ago (0: none) */
    int          parked;        /* warm: past its launch hook, parked
                                   (instance_t.parked) */
    int          reuse;         /* waits in the terminate hook on its way
                                   back to the warm pool (.reuse) */
    int          host;          /* its host in its zone: 0 first */
    int          record_nohost; /* its record has no host= */
    int          lost;          /* counted as lost since its host failed
                                   over (instance_t.lost) */
} ispec_t;

typedef struct {
    const char        *name;        /* the behaviour */
    int                nzones;      /* 0: 1 */
    const char        *down;        /* zones that did not answer: "z2",
                                       or hosts: "z1-2" */
    int                hosts[3];    /* each zone's hosts (0: 1) */
    int                down_s;      /* how long .down have been
                                       unreachable, s (zone_failover is
                                       300 s) */
    unsigned long long free_mib[6]; /* each host's free memory, MiB (0:
                                       unknown) */
    int                capacity;
    long               seq;
    scale_in_policy_t  policy;
    int                grace_s;     /* 0: 60; -1: none */
    int                drain_timeout_s;    /* 0: 30 */
    int                reports_unknown;
    int                gw_quiet_s[3];  /* gateway N's key not read: last
                                       read s ago (0: read this pass) */
    int                gw_ttl_s[3];    /* its key's TTL (0: unknown) */
    int                gateway_ttl_s;  /* drain.gateway_ttl (0: default) */
    int                shutdown_s;     /* termination.shutdown_timeout
                                       (0: none, destroyed at once) */
    int                redis_down;
    const char        *cidr;        /* NULL: 127.0.1.0/24 */
    int                warm_size;   /* warm_pool.size */
    warm_state_t       warm_state;
    int                warm_reuse;  /* reuse_on_scale_in */
    int                cap_max;     /* 0: SCALER_CAPACITY_MAX */
    ispec_t            inst[12];
    const char        *strays[4];   /* members without a domain: "ID ZONE
                                       [ADDRESS]", ZONE "-" for none,
                                       "bad" for an unparsable record, a
                                       host ("z1-2") for host= */
    int                protection_unknown;
    /* repair: (0: the defaults, enabled, grace 10 s, replace, 5 %, 5) */
    int                repair_off;
    int                repair_grace_s;
    repair_action_t    repair_action;
    int                max_failures;
    int                suspended;       /* the pool's repairs, observed */
    int                failures;
    int                retry_s;         /* backing off s more */
    int                launch_s;        /* hooks.launch.timeout (0: no
                                           launch hook) */
    int                launch_continue; /* its default continue */
    int                terminate_s;     /* hooks.terminate.timeout */
    int                terminate_abandon;
    const char        *want[16];
    const char        *notes[4];    /* prefixes of the notes */
    /* upgrades */
    const char        *latest;      /* the pool's latest version (NULL
                                       "1", every instance's) */
    const char        *latest_image;    /* the zones' base image */
    const char        *latest_digest;   /* the template's digest (NULL
                                       "") */
    const char        *images;      /* their digest (obs->images) */
    const char        *rec;         /* the upgrade record: "STATE [from=V]
                                       [to=V] [batch=N] [batches=N]
                                       [ids=ID,ID] [started_s=S]
                                       [batch_s=S] [done_s=S]
                                       [rollback=breach|api] [zone=Z]
                                       [to_image=D]"; NULL: "idle to=LATEST",
                                       "-": no record, "?": not read */
    const char        *upgrade;     /* upgrade keys that differ from the
                                       defaults: "mode=manual batch=34
                                       unhealthy=N upgraded=N pause=S
                                       surge=0 prioritize=0 cross=1
                                       rollback=0 image=1" */
    int                ngw;         /* gateways reporting (0: 3) */
    int                no_previous; /* no recipe of the previous model */
    int                above;       /* pl.protected_above */
    int                want_failures;   /* pl.repair.failures + 1 (0:
                                       not checked) */
    int                want_suspended;  /* pl.repair.suspended + 1 (0: not
                                       checked) */
    int                want_repairing;  /* pl.repairing + 1 (0: not
                                       checked) */
    const char        *busy[4];     /* calls of earlier passes in flight
                                       (obs->busy): "park ID", or "create
                                       ID ZONE ADDRESS" (a warm creation;
                                       its number is the id's; ZONE may
                                       be a host, "z1-2") */
} case_t;

static const case_t  cases[] = {

    /* --- capacity: scale out ------------------------------------- */
    { .name = "an empty pool gets its capacity, spread over the zones, at "
              "the lowest addresses, numbered after seq",
      .nzones = 2, .capacity = 3, .seq = 5,
      .want = { "create web-000006 z1 127.0.1.1:8080 scale_out",
                "create web-000007 z2 127.0.1.2:8080 scale_out",
                "create web-000008 z1 127.0.1.3:8080 scale_out" } },

    { .name = "new instances go to the zones with the fewest (zone "
              "balance)",
      .nzones = 3, .capacity = 5,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 1, "running" } },
      .want = { "create web-000004 z3 127.0.1.4:8080 scale_out",
                "create web-000005 z2 127.0.1.5:8080 scale_out" } },

    { .name = "ids continue above every known id, also above seq and "
              "above members of no domain",
      .capacity = 3, .seq = 2,
      .inst = { { "web-000009", 0, "running" } },
      .strays = { "web-000012 z2" }, .nzones = 2, .down = "z2",
      .want = { "create web-000013 z1", "create web-000014 z1" } },

    { .name = "address allocation: the lowest address that no instance "
              "and no member uses",
      .nzones = 2, .down = "z2", .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .address = "127.0.1.3:8080" } },
      .strays = { "web-000003 z2 127.0.1.2:8080" },
      .want = { "create web-000004 z1 127.0.1.4:8080",
                "create web-000005 z1 127.0.1.5:8080" } },

    { .name = "no free address left: what fits is created, the rest is "
              "noted as an address error",
      .capacity = 4, .cidr = "127.0.1.0/30",
      .inst = { { "web-000001", 0, "running" } },
      .want = { "create web-000002 z1 127.0.1.2:8080 scale_out" },
      .notes = { "no free address left" } },

    { .name = "at capacity nothing happens",
      .nzones = 2, .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 1, "booting", "status 503", 5 } } },

    { .name = "draining instances do not count: they are replaced",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .conns = { 3 }, .nreports = 1 } },
      .want = { "create web-000003 z1 127.0.1.3:8080 scale_out" } },

    /* --- capacity: scale in -------------------------------------- */
    { .name = "scale in: registered instances drain, from the largest "
              "zone, highest id first (default policy)",
      .nzones = 2, .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 1, "running" },
                { "web-000003", 0, "running" },
                { "web-000004", 1, "running" },
                { "web-000005", 0, "running" } },
      .want = { "drain web-000005 scale_in (capacity 2, 5 in service",
                "drain web-000004 scale_in",
                "drain web-000003 scale_in" } },

    { .name = "scale-in policy oldest: the lowest ids, zones balanced "
              "first",
      .nzones = 2, .capacity = 2, .policy = SCALE_IN_OLDEST,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 1, "running" },
                { "web-000003", 0, "running" },
                { "web-000004", 1, "running" },
                { "web-000005", 0, "running" } },
      .want = { "drain web-000001 scale_in", "drain web-000002 scale_in",
                "drain web-000003 scale_in" } },

    { .name = "scale-in policy newest: the highest ids, zones balanced "
              "first",
      .nzones = 2, .capacity = 3, .policy = SCALE_IN_NEWEST,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "running" },
                { "web-000007", 1, "running" } },
      .want = { "drain web-000003 scale_in" } },

    /* --- protection ------------------------------------------------- */
    { .name = "scale in never picks an instance protected from scale-in "
              "or from everything: the next by policy goes",
      .nzones = 2, .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 1, "running" },
                { "web-000003", 0, "running", .protect = PROTECT_ALL },
                { "web-000004", 1, "running", .protect = PROTECT_SCALE_IN } },
      .want = { "drain web-000002 scale_in", "drain web-000001 scale_in" } },

    { .name = "when every candidate is protected the pool stays above its "
              "capacity, and the plan says by how many",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .protect = PROTECT_SCALE_IN },
                { "web-000003", 0, "booting", "yes", .protect = PROTECT_ALL },
                { "web-000004", 0, "running", .protect = PROTECT_ALL } },
      .want = { "drain web-000001 scale_in", "register web-000003 ready" },
      .above = 2 },

    { .name = "protections that cannot be read protect every instance",
      .capacity = 1, .protection_unknown = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" } },
      .notes = { "protections not read" }, .above = 1 },

    { .name = "protection does not hold an operator's deletion",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running", .protect = PROTECT_ALL,
                  .asked = ASK_DELETE } },
      .want = { "drain web-000001 api", "create web-000002" } },

    { .name = "scale in: an unregistered instance is deleted, not "
              "registered first",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes" } },
      .want = { "delete web-000002 scale_in (capacity 1, 2 in service; "
                "before registration" } },

    /* --- drain waits ----------------------------------------------- */
    { .name = "a draining instance with connections open waits",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .conns = { 3, 0 }, .nreports = 2 } } },

    { .name = "it goes once every gateway reports zero connections",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .conns = { 0, 0, 0 }, .nreports = 3 } },
      .want = { "delete web-000002 drain (no active connections" } },

    { .name = "no report at all counts as no connection open",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5 } },
      .want = { "delete web-000002 drain (no active connections" } },

    { .name = "it goes at drain_timeout, connections or not",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 31,
                  .conns = { 7 }, .nreports = 1 } },
      .want = { "delete web-000002 drain (drain_timeout" } },

    { .name = "Redis's reports unknown: the drain holds (unknown is not "
              "zero)",
      .capacity = 1, .reports_unknown = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5 } } },

    { .name = "reports unknown, but drain_timeout is over: it goes",
      .capacity = 1, .reports_unknown = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 40 } },
      .want = { "delete web-000002 drain (drain_timeout" } },

    { .name = "a drain whose start is not recorded counts from now: it "
              "waits for its connections",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .conns = { 1 },
                  .nreports = 1 } } },

    { .name = "conns of 2^64-1 on one gateway plus others does not wrap "
              "around to few",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .conns = { HUGE, 5 }, .nreports = 2 } } },

    { .name = "a present gateway whose report expired (not read this "
              "pass, read 5 s ago) holds the drain",
      .capacity = 1, .gw_quiet_s = { 0, 5 },
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 8,
                  .conns = { 0, 2 }, .nreports = 2 } } },

    { .name = "a gateway not read for longer than its presence (default "
              "30 s) does not hold it",
      .capacity = 1, .gw_quiet_s = { 0, 31 },
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 8,
                  .conns = { 0, 2 }, .nreports = 2 } },
      .want = { "delete web-000002 drain (no active connections" } },

    { .name = "presence by default: 3 x the gateway's report TTL",
      .capacity = 1, .gw_quiet_s = { 0, 10, 8 }, .gw_ttl_s = { 3, 3, 3 },
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 20 } } },

    { .name = "... once it is past that, the gateway is gone",
      .capacity = 1, .gw_quiet_s = { 0, 10, 10 }, .gw_ttl_s = { 3, 3, 3 },
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 20 } },
      .want = { "delete web-000002 drain (no active connections" } },

    { .name = "drain.gateway_ttl sets the presence",
      .capacity = 1, .gateway_ttl_s = 12, .gw_quiet_s = { 0, 11 },
      .gw_ttl_s = { 3, 3 },
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 20 } } },

    { .name = "a report made before the drain began does not count",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 3,
                  .conns = { 0, 0 }, .nreports = 2,
                  .report_age_s = { 1, 4 } } } },

    { .name = "with termination.shutdown_timeout a drained instance is "
              "shut down (ACPI) before it goes",
      .capacity = 1, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .conns = { 0 }, .nreports = 1 } },
      .want = { "stop web-000002 drain (no active connections" } },

    { .name = "a stopping instance whose domain is off is deleted",
      .capacity = 1, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "stopping", .stop_s = 2, .off = 1 } },
      .want = { "delete web-000002 drain (powered off" } },

    { .name = "one still on waits for its shutdown_timeout",
      .capacity = 1, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "stopping", .stop_s = 29 } } },

    { .name = "... and is destroyed then",
      .capacity = 1, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "stopping", .stop_s = 31 } },
      .want = { "delete web-000002 drain (shutdown_timeout: destroyed" } },

    { .name = "a stopping instance is not counted: it is replaced",
      .capacity = 2, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "stopping", .stop_s = 2 } },
      .want = { "create web-000003" } },

    { .name = "drain_timeout 0: a drain does not wait",
      .capacity = 1, .drain_timeout_s = -1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .conns = { 4 },
                  .nreports = 1 } },
      .want = { "delete web-000002 drain (drain_timeout" } },

    /* --- readiness and repair ------------------------------------ */
    { .name = "a ready instance is registered",
      .capacity = 1,
      .inst = { { "web-000001", 0, "booting", "yes", 2 } },
      .want = { "register web-000001 ready" } },

    { .name = "one not ready within health.grace is kept",
      .capacity = 1,
      .inst = { { "web-000001", 0, "booting", "status 500", 59 } } },

    { .name = "one not ready after health.grace is deleted and replaced "
              "in the same pass",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "status 500", 61 } },
      .want = { "delete web-000002 repair (not ready (status 500) within "
                "health.grace (60000 ms)",
                "create web-000003 z1 127.0.1.3:8080 scale_out" } },

    { .name = "repairs are bounded: at most 1 in 20 of the capacity per "
              "pass, at least 1",
      .capacity = 3,
      .inst = { { "web-000001", 0, "booting", "no address", 100 },
                { "web-000002", 0, "booting", "connect", 100 },
                { "web-000003", 0, "booting", "status 500", 100 } },
      .want = { "delete web-000001 repair (not ready (no address)",
                "create web-000004 z1 127.0.1.4:8080 scale_out" } },

    { .name = "health.grace counts from the creation time in the tag, "
              "so a restart does not start it over",
      .capacity = 1,
      .inst = { { "web-000001", 0, "booting", "status 500", 2,
                  .created_s = 61 } },
      .want = { "delete web-000001 repair", "create web-000002" } },

    { .name = "a tag without a creation time: health.grace counts from "
              "when this scaler first saw it",
      .capacity = 1,
      .inst = { { "web-000001", 0, "booting", "status 500", 2 } } },

    { .name = "without health.grace nothing is repaired",
      .capacity = 1, .grace_s = -1,
      .inst = { { "web-000001", 0, "booting", "status 500", 1000 } } },

    { .name = "an instance whose readiness is not known is not repaired",
      .capacity = 1,
      .inst = { { "web-000001", 0, "booting", NULL, 1000 } } },

    /* --- repair of running instances ----------------------------- */
    { .name = "a running instance down on every gateway longer than "
              "repair.grace is replaced: drained, and the pass's first "
              "creation replaces it",
      .capacity = 2, .want_repairing = 1 + 1,
      .inst = { { "web-000001", 0, "running", .conns = { 0, 0 },
                  .nreports = 2 },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down", .down_s = 11 } },
      .want = { "drain web-000002 repair (down on every gateway for 11000 "
                "ms (repair.grace 10000 ms): replaced",
                "create web-000003 z1 127.0.1.3:8080 repair v1 (replacing "
                "web-000002" } },

    { .name = "down for less than repair.grace: kept",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down", .down_s = 9 } } },

    { .name = "down on one gateway, up on another: not down",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "mixed", .down_s = 100 } } },

    { .name = "a present gateway that has not reported on it: its health "
              "is unknown, not down",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .conns = { 0, 0 },
                  .nreports = 2, .health = "down", .down_s = 100 } } },

    { .name = "repair.action restart: same id, reset",
      .capacity = 2, .repair_action = REPAIR_RESTART,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down", .down_s = 11 } },
      .want = { "restart web-000002 repair (down on every gateway for "
                "11000 ms (repair.grace 10000 ms): restarted" } },

    { .name = "repair.action reimage: same id, made again",
      .capacity = 2, .repair_action = REPAIR_REIMAGE,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down", .down_s = 11 } },
      .want = { "reimage web-000002 repair" } },

    { .name = "repair.enabled false: nothing is repaired",
      .capacity = 2, .repair_off = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down", .down_s = 100 } } },

    { .name = "protected from scale-set actions: not repaired; from "
              "scale-in only: repaired",
      .capacity = 3,
      .inst = { { "web-000001", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down", .down_s = 100,
                  .protect = PROTECT_ALL },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down", .down_s = 100,
                  .protect = PROTECT_SCALE_IN },
                { "web-000003", 0, "running" } },
      .want = { "drain web-000002 repair", "create web-000004 z1" } },

    { .name = "one at a time below 20 instances: a replacement under way "
              "holds the next repair",
      .capacity = 3, .want_repairing = 1 + 1,
      .inst = { { "web-000001", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down", .down_s = 100 },
                { "web-000002", 0, "running" },
                { "web-000004", 0, "booting", "status 503", 3,
                  .repair = IREP_REPLACEMENT, .repair_s = 3,
                  .repair_of = "web-000003" } } },

    { .name = "a replacement up on every gateway is repaired: the "
              "failures in a row start over",
      .capacity = 2, .failures = 3, .want_failures = 0 + 1,
      .want_repairing = 0 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000004", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .repair = IREP_REPLACEMENT, .repair_s = 5,
                  .repair_of = "web-000003" } } },

    { .name = "a restarted instance still booting past repair.grace is "
              "no failure yet: a power cycle boots, health.grace + "
              "repair.grace",
      .capacity = 2, .failures = 4, .want_failures = 4 + 1,
      .want_suspended = 0 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down",
                  .repair = IREP_RESTARTED, .repair_s = 11 } } },

    { .name = "a restarted instance not up health.grace + repair.grace "
              "after its restart failed; at repair.max_failures repairs "
              "are suspended",
      .capacity = 2, .failures = 4, .want_failures = 5 + 1,
      .want_suspended = 1 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down",
                  .repair = IREP_RESTARTED, .repair_s = 71 } } },

    { .name = "suspended: nothing is repaired",
      .capacity = 3, .suspended = 1, .failures = 5,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .conns = { 0, 0, 0 },
                  .nreports = 3, .health = "down", .down_s = 100 },
                { "web-000003", 0, "booting", "status 500", 1000 } } },

    { .name = "an instance not ready within health.grace is a failure; "
              "the first is replaced at once",
      .capacity = 2, .want_failures = 1 + 1, .want_suspended = 0 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "status 500", 61 } },
      .want = { "delete web-000002 repair (not ready (status 500)",
                "create web-000003" } },

    { .name = "... from the second in a row on, the creation that replaces "
              "it backs off",
      .capacity = 2, .failures = 1, .want_failures = 2 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "status 500", 61 } },
      .want = { "delete web-000002 repair (not ready (status 500)" } },

    { .name = "while creation backs off nothing is created",
      .capacity = 3, .failures = 2, .retry_s = 5,
      .inst = { { "web-000001", 0, "running" } } },

    { .name = "an operator's restart is not held by protection",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running", .protect = PROTECT_ALL,
                  .asked = ASK_RESTART } },
      .want = { "restart web-000001 api (restarted through the API" } },

    /* --- standby ------------------------------------------------------ */
    { .name = "standby: a running instance drains and is kept, out of the "
              "capacity: a new one replaces it",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .asked = ASK_STANDBY } },
      .want = { "standby web-000002 api (standby through the API; replaced",
                "create web-000003 z1" } },

    { .name = "standby with a decrement: not replaced (the capacity is "
              "lower already)",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running",
                  .asked = ASK_STANDBY | ASK_DECREMENT } },
      .want = { "standby web-000002 api (standby through the API; the "
                "capacity lowered" } },

    { .name = "on standby: never drained to its end, repaired or scaled "
              "in, even down and long drained",
      .capacity = 1, .drain_timeout_s = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "standby", .drain_s = 1000,
                  .conns = { 0, 0, 0 }, .nreports = 3, .health = "down",
                  .down_s = 1000 } },
      .want = { "drain web-000002 scale_in" } },

    { .name = "active: back in service",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "standby", .asked = ASK_ACTIVE } },
      .want = { "register web-000002 api (active through the API" } },

    { .name = "an API deletion of one on standby: stopped at once (it is "
              "drained)",
      .capacity = 1, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "standby", .asked = ASK_DELETE } },
      .want = { "stop web-000002 api (deleted through the API; on standby" } },

    /* --- lifecycle hooks -------------------------------------------- */
    { .name = "a launch hook: a ready instance waits before registration",
      .capacity = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "booting", "yes", 2 } },
      .want = { "hook web-000001 hook (ready; waiting for the launch hook "
                "(60000 ms, then abandon)" } },

    { .name = "waiting in it: nothing happens, it is not replaced",
      .capacity = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "booting", "yes", 20,
                  .hook = HOOK_LAUNCH, .hook_s = 10 } } },

    { .name = "continue registers it",
      .capacity = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "booting", "yes", 20,
                  .hook = HOOK_LAUNCH, .hook_s = 10,
                  .asked = ASK_CONTINUE } },
      .want = { "register web-000001 hook (launch hook: continue" } },

    { .name = "abandon deletes it (a failure; the next pass replaces it: "
              "the capacity step counted it)",
      .capacity = 1, .launch_s = 60, .want_failures = 1 + 1,
      .inst = { { "web-000001", 0, "booting", "yes", 20,
                  .hook = HOOK_LAUNCH, .hook_s = 10, .asked = ASK_ABANDON } },
      .want = { "delete web-000001 hook (launch hook: abandon" } },

    { .name = "at its timeout the default applies (abandon) ...",
      .capacity = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "booting", "yes", 70,
                  .hook = HOOK_LAUNCH, .hook_s = 61 } },
      .want = { "delete web-000001 hook (launch hook: abandon (its default, "
                "at its timeout" } },

    { .name = "... or continue",
      .capacity = 1, .launch_s = 60, .launch_continue = 1,
      .inst = { { "web-000001", 0, "booting", "yes", 70,
                  .hook = HOOK_LAUNCH, .hook_s = 61 } },
      .want = { "register web-000001 hook (launch hook: continue (its "
                "default" } },

    { .name = "a heartbeat starts its timeout again",
      .capacity = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "booting", "yes", 100,
                  .hook = HOOK_LAUNCH, .hook_s = 90, .beat_s = 30 } } },

    { .name = "a terminate hook: a drained instance waits before its "
              "shutdown",
      .capacity = 1, .terminate_s = 60, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .conns = { 0, 0, 0 }, .nreports = 3 } },
      .want = { "hook web-000002 hook (no active connections; waiting for "
                "the terminate hook (60000 ms, then continue)" } },

    { .name = "waiting in it, not shut down",
      .capacity = 1, .terminate_s = 60, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 50,
                  .hook = HOOK_TERMINATE, .hook_s = 40 } } },

    { .name = "either result shuts it down",
      .capacity = 1, .terminate_s = 60, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 50,
                  .hook = HOOK_TERMINATE, .hook_s = 40,
                  .asked = ASK_ABANDON } },
      .want = { "stop web-000002 hook (terminate hook: abandon" } },

    { .name = "at its timeout, the default",
      .capacity = 1, .terminate_s = 60, .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 80,
                  .hook = HOOK_TERMINATE, .hook_s = 61 } },
      .want = { "stop web-000002 hook (terminate hook: continue (its "
                "default" } },

    /* --- a zone down --------------------------------------------- */
    { .name = "a zone down: its instances are kept and counted, nothing "
              "is created there",
      .nzones = 2, .down = "z2", .capacity = 5,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 1, "running" },
                { "web-000003", 1, "booting", "no", 500 },
                { "web-000004", 1, "draining", .drain_s = 500 } },
      .want = { "create web-000005 z1 127.0.1.5:8080",
                "create web-000006 z1 127.0.1.6:8080" } },

    { .name = "a zone down: its members without a known domain stay",
      .nzones = 2, .down = "z2", .capacity = 1,
      .inst = { { "web-000001", 0, "running" } },
      .strays = { "web-000002 z2", "web-000003 z1" },
      .want = { "deregister web-000003 stray (no domain" } },

    { .name = "scale in with a zone down: only instances of zones that "
              "answer are chosen",
      .nzones = 2, .down = "z2", .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 1, "running" },
                { "web-000003", 1, "running" } },
      .want = { "drain web-000001 scale_in" } },

    { .name = "every zone down: nothing is created",
      .nzones = 2, .down = "z1 z2", .capacity = 2 },

    /* --- zones of several hosts (fault domains) ---------------------- */
    { .name = "a zone of two hosts: new instances spread over them, the "
              "one with the fewest first",
      .hosts = { 2 }, .capacity = 5,
      .inst = { { "web-000001", 0, "running", .host = 1 } },
      .want = { "create web-000002 z1-1 127.0.1.2:8080 scale_out",
                "create web-000003 z1-1 127.0.1.3:8080 scale_out",
                "create web-000004 z1-2 127.0.1.4:8080 scale_out",
                "create web-000005 z1-1 127.0.1.5:8080 scale_out" } },

    { .name = "hosts with as many instances: the one with the most free "
              "memory",
      .hosts = { 3 }, .capacity = 3, .free_mib = { 100, 300, 200 },
      .inst = { { "web-000001", 0, "running" } },
      .want = { "create web-000002 z1-2", "create web-000003 z1-3" } },

    { .name = "zones first, then their hosts",
      .nzones = 2, .hosts = { 2, 1 }, .capacity = 4,
      .want = { "create web-000001 z1-1", "create web-000002 z2",
                "create web-000003 z1-2", "create web-000004 z2" } },

    { .name = "a host down: the zone's other host takes the new ones, its "
              "instances are kept and counted",
      .hosts = { 2 }, .down = "z1-2", .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .host = 1 },
                { "web-000003", 0, "booting", "no", 500, .host = 1 } },
      .want = { "create web-000004 z1-1" } },

    { .name = "scale in keeps hosts balanced: the largest host gives",
      .hosts = { 2 }, .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "running" },
                { "web-000004", 0, "running", .host = 1 } },
      .want = { "drain web-000003 scale_in", "drain web-000002 scale_in" } },

    { .name = "scale in with a host down: only those of hosts that answer",
      .hosts = { 2 }, .down = "z1-1", .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "running", .host = 1 } },
      .want = { "drain web-000003 scale_in" } },

    { .name = "a host down: members on it stay, and those that name no "
              "host in its zone; others go",
      .hosts = { 2 }, .down = "z1-2", .capacity = 1,
      .inst = { { "web-000001", 0, "running" } },
      .strays = { "web-000005 z1-2", "web-000006 z1-1", "web-000007 z1" },
      .want = { "deregister web-000006 stray" } },

    { .name = "a record without host= in a zone of several is written "
              "again",
      .hosts = { 2 }, .capacity = 1,
      .inst = { { "web-000001", 0, "running", .host = 1,
                  .record_nohost = 1 } },
      .want = { "register web-000001 record (its record says not host "
                "z1-2" } },

    /* --- zone failover (zone_failover 300 s) --------------------------- */
    { .name = "a zone unreachable for less than zone_failover: its "
              "instances still count",
      .nzones = 2, .down = "z2", .down_s = 299, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 1, "running" },
                { "web-000004", 1, "running" } } },

    { .name = "unreachable for zone_failover: its instances are lost, not "
              "deleted, and their capacity is rebuilt in the zones that "
              "answer",
      .nzones = 2, .down = "z2", .down_s = 300, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 1, "running" },
                { "web-000004", 1, "booting", NULL, 900 } },
      .want = { "create web-000005 z1 127.0.1.5:8080 scale_out v1 (capacity "
                "4, 2 in service",
                "create web-000006 z1 127.0.1.6:8080 scale_out" } },

    { .name = "failed over and still away: nothing more (its lost "
              "instances and their members stay)",
      .nzones = 2, .down = "z2", .down_s = 900, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 1, "running", .lost = 1 },
                { "web-000004", 1, "running", .lost = 1 },
                { "web-000005", 0, "running" },
                { "web-000006", 0, "running" } } },

    { .name = "back after its failover: its instances from before drain "
              "(registered) or go (not): nothing runs twice",
      .nzones = 2, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 1, "running", .lost = 1 },
                { "web-000004", 1, "booting", "yes", 900, .lost = 1 },
                { "web-000005", 0, "running" },
                { "web-000006", 0, "running" } },
      .want = { "drain web-000003 failover (back from zone z2 host z2-1 "
                "after its failover: its capacity was rebuilt (4 in service",
                "delete web-000004 failover" } },

    { .name = "back after its failover, protected from scale-in: it "
              "stays and counts, an unprotected one is scaled in instead",
      .nzones = 2, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 1, "running", .lost = 1,
                  .protect = PROTECT_SCALE_IN },
                { "web-000005", 0, "running" },
                { "web-000006", 0, "running" } },
      .want = { "drain web-000006 scale_in" } },

    { .name = "back, its capacity not all rebuilt (no address, say): "
              "those still needed count again",
      .nzones = 2, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 1, "running", .lost = 1 },
                { "web-000004", 1, "running", .lost = 1 },
                { "web-000005", 0, "running" } },
      .want = { "drain web-000004 failover" } },

    { .name = "a host of a zone of two failed over: rebuilt on its zone's "
              "other host",
      .hosts = { 2 }, .down = "z1-2", .down_s = 400, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "running", .host = 1 },
                { "web-000004", 0, "running", .host = 1 } },
      .want = { "create web-000005 z1-1", "create web-000006 z1-1" } },

    /* --- rebalance ------------------------------------------------- */
    { .name = "zones 4 and 0 (one back): a new one in the smallest first, "
              "kept above the capacity",
      .nzones = 2, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "running" },
                { "web-000004", 0, "running" } },
      .want = { "create web-000005 z2 127.0.1.5:8080 rebalance v1 (zones z2 "
                "0, z1 4: a new one in z2 first, then one of z1 goes" } },

    { .name = "rebalance: while its new one boots, nothing drains",
      .nzones = 2, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "running" },
                { "web-000004", 0, "running" },
                { "web-000005", 1, "booting", "connect", 5 } } },

    { .name = "rebalance: once it runs, the largest zone gives one",
      .nzones = 2, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "running" },
                { "web-000004", 0, "running" },
                { "web-000005", 1, "running" } },
      .want = { "drain web-000004 scale_in (capacity 4, 5 in service" } },

    { .name = "rebalance: one move at a time: none while one drains",
      .nzones = 2, .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "running" },
                { "web-000004", 0, "draining", .drain_s = 5, .conns = { 2 },
                  .nreports = 1 },
                { "web-000005", 1, "running" } } },

    { .name = "zones one apart: balanced",
      .nzones = 2, .capacity = 3,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 1, "running" } } },

    { .name = "a zone that does not answer is not rebalanced into",
      .nzones = 2, .down = "z2", .capacity = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "running" },
                { "web-000004", 0, "running" } } },

    /* --- members ---------------------------------------------------- */
    { .name = "members without a domain are deregistered: one of ours, one "
              "without a zone, one that does not parse",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" } },
      .strays = { "web-000002 z1", "handmade -", "web-000003 bad" },
      .want = { "deregister handmade stray", "deregister web-000002 stray",
                "deregister web-000003 stray" } },

    { .name = "a record with another version than its instance's own is "
              "written again (the instance's model, not the pool's)",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running", .record_version = "2" },
                { "web-000002", 0, "draining", .drain_s = 1,
                  .conns = { 1 }, .nreports = 1, .record_version = "2" } },
      .want = { "create web-000003",
                "register web-000001 record (its record says version 2, "
                "the instance's is 1",
                "drain web-000002 record" } },

    { .name = "an instance whose record does not parse is registered "
              "again once ready",
      .capacity = 1,
      .inst = { { "web-000001", 0, "bad", "yes", 100 } },
      .want = { "register web-000001 ready (ready; its record did not "
                "parse" } },

    /* --- what the API asked ------------------------------------------ */
    { .name = "an instance deleted through the API: its domain goes, a "
              "new one replaces it",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .asked = ASK_DELETE } },
      .want = { "delete web-000002 api (deleted through the API; before "
                "registration",
                "create web-000003 z1 127.0.1.3:8080 scale_out" } },

    { .name = "API deletion in a zone that is down waits for it",
      .nzones = 2, .down = "z2", .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 1, "booting", .asked = ASK_DELETE } } },

    { .name = "an API deletion drains a registered instance first; a new "
              "one replaces it at once",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .asked = ASK_DELETE } },
      .want = { "drain web-000002 api (deleted through the API",
                "create web-000003 z1 127.0.1.3:8080 scale_out" } },

    { .name = "?force=true: deleted at once, no drain",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running", .asked = ASK_DELETE
                                                   | ASK_FORCE } },
      .want = { "delete web-000001 api (deleted through the API (force",
                "create web-000002 z1" } },

    { .name = "an API deletion of a draining instance leaves its drain "
              "as it is",
      .capacity = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 2,
                  .conns = { 1 }, .nreports = 1, .asked = ASK_DELETE } } },

    /* --- the warm pool ----------------------------------------------- */
    { .name = "warm pool size 2, scale 2 -> 4: both warm instances are "
              "woken (no creation for the capacity), the pool refilled to 2",
      .capacity = 4, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "booting", .warm = "paused" },
                { "web-000004", 0, "booting", .warm = "paused" } },
      .want = { "wake web-000003 scale_out (capacity 4, 2 in service; from "
                "the warm pool (paused)",
                "wake web-000004 scale_out (capacity 4, 3 in service",
                "create web-000005 z1 127.0.1.5:8080 warm v1"
                " (warm pool 0 of 2",
                "create web-000006 z1 127.0.1.6:8080 warm" } },

    { .name = "warm instances are neither counted in the capacity nor "
              "scaled in",
      .capacity = 1, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "booting", .warm = "paused" },
                { "web-000004", 0, "booting", .warm = "paused" } },
      .want = { "drain web-000002 scale_in (capacity 1, 2 in service" } },

    { .name = "the fastest first: running and ready, then paused, then "
              "saved; ready ones before one still booting; a saved one "
              "left is kept paused",
      .capacity = 3, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "saved" },
                { "web-000003", 0, "booting", .warm = "paused" },
                { "web-000004", 0, "booting", "connect", 5,
                  .warm = "running" },
                { "web-000005", 0, "booting", "yes", .warm = "running" } },
      .want = { "wake web-000005 scale_out (capacity 3, 1 in service; from "
                "the warm pool (running)",
                "wake web-000003 scale_out (capacity 3, 2 in service; from "
                "the warm pool (paused)",
                "park web-000002 warm (saved, kept paused" } },

    { .name = "one still booting is taken when no ready one is left",
      .capacity = 2, .warm_size = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "connect", 5,
                  .warm = "running" } },
      .want = { "wake web-000002 scale_out (capacity 2, 1 in service; from "
                "the warm pool (booting)",
                "create web-000003 z1 127.0.1.3:8080 warm" } },

    { .name = "zone balance: the warm instance of the zone with the "
              "fewest in service first",
      .nzones = 2, .capacity = 3, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running" },
                { "web-000003", 0, "booting", .warm = "saved" },
                { "web-000004", 1, "booting", .warm = "saved" } },
      .want = { "wake web-000004 scale_out",
                "create web-000005 z2 127.0.1.5:8080 warm" },
      .warm_state = WARM_SAVED },

    { .name = "more wanted than the warm pool holds: the rest is created, "
              "then the pool refilled",
      .capacity = 4, .warm_size = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused" } },
      .want = { "wake web-000002 scale_out",
                "create web-000003 z1 127.0.1.3:8080 scale_out v1"
                " (capacity 4, "
                "2 in service",
                "create web-000004 z1 127.0.1.4:8080 scale_out",
                "create web-000005 z1 127.0.1.5:8080 warm v1"
                " (warm pool 0 of 1" } },

    { .name = "no refill while the capacity is not reached (no address "
              "left)",
      .capacity = 3, .warm_size = 2, .cidr = "127.0.1.0/30",
      .inst = { { "web-000001", 0, "running" } },
      .want = { "create web-000002 z1 127.0.1.2:8080 scale_out" },
      .notes = { "no free address left" } },

    { .name = "an outdated warm instance is never woken: deleted, and "
              "replaced by one of the latest model",
      .capacity = 2, .warm_size = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused",
                  .outdated = 1 } },
      .want = { "delete web-000002 warm (warm, model version 1 is not the "
                "latest: replaced",
                "create web-000003 z1 127.0.1.3:8080 scale_out",
                "create web-000004 z1 127.0.1.4:8080 warm" } },

    { .name = "a warm instance not ready within health.grace is repaired: "
              "a failure of the pool, as a new instance's",
      .capacity = 1, .warm_size = 1, .want_failures = 1 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "status 500", 5,
                  .created_s = 61, .warm = "running" } },
      .want = { "delete web-000002 repair (warm, not ready (status 500) "
                "within health.grace",
                "create web-000003 z1 127.0.1.3:8080 warm" } },

    { .name = "... from the second failure in a row on, the refill backs "
              "off with the capacity's creations",
      .capacity = 1, .warm_size = 1, .failures = 1, .want_failures = 2 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "status 500", 5,
                  .created_s = 61, .warm = "running" } },
      .want = { "delete web-000002 repair (warm, not ready (status 500) "
                "within health.grace" } },

    { .name = "repairs suspended (a template that never boots): a warm "
              "instance never ready stays, nothing is made for the warm "
              "pool",
      .capacity = 1, .warm_size = 2, .suspended = 1, .failures = 5,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "status 500", 5,
                  .created_s = 61, .warm = "running" } } },

    { .name = "a ready warm instance is parked in warm_pool.state; one not "
              "ready yet waits",
      .capacity = 1, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 5, .warm = "running" },
                { "web-000003", 0, "booting", "connect", 5,
                  .warm = "running" } },
      .want = { "park web-000002 warm (ready, kept paused" } },

    /* --- the warm pool and the launch hook (AWS: Warmed:Pending:Wait,
       then Pending:Wait once woken) ----------------------------------- */
    { .name = "launch hook: a warm instance, ready, waits in it before its "
              "park (no second one made for the warm pool)",
      .capacity = 1, .warm_size = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 5,
                  .warm = "running" } },
      .want = { "hook web-000002 hook (warm, ready; waiting for the launch "
                "hook (60000 ms, then abandon)" } },

    { .name = "launch hook: a warm one waiting is neither parked, woken, "
              "cut nor replaced by the refill; the capacity is created",
      .capacity = 2, .warm_size = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 20, .warm = "running",
                  .hook = HOOK_LAUNCH, .hook_s = 10 } },
      .want = { "create web-000003 z1 127.0.1.3:8080 scale_out" } },

    { .name = "launch hook: a heartbeat keeps a warm one waiting",
      .capacity = 1, .warm_size = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 100, .warm = "running",
                  .hook = HOOK_LAUNCH, .hook_s = 90,
                  .asked = ASK_HEARTBEAT } } },

    { .name = "launch hook: continue parks a warm one",
      .capacity = 1, .warm_size = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 20, .warm = "running",
                  .hook = HOOK_LAUNCH, .hook_s = 10,
                  .asked = ASK_CONTINUE } },
      .want = { "park web-000002 hook (warm, launch hook: continue, kept "
                "paused" } },

    { .name = "launch hook: continue parks a warm one of state running too "
              "(left running)",
      .capacity = 1, .warm_size = 1, .launch_s = 60,
      .warm_state = WARM_RUNNING,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 20, .warm = "running",
                  .hook = HOOK_LAUNCH, .hook_s = 10,
                  .asked = ASK_CONTINUE } },
      .want = { "park web-000002 hook (warm, launch hook: continue, kept "
                "running" } },

    { .name = "launch hook: abandon deletes a warm one, a failure of the "
              "pool, and the refill replaces it",
      .capacity = 1, .warm_size = 1, .launch_s = 60, .want_failures = 1 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 20, .warm = "running",
                  .hook = HOOK_LAUNCH, .hook_s = 10,
                  .asked = ASK_ABANDON } },
      .want = { "delete web-000002 hook (warm, launch hook: abandon)",
                "create web-000003 z1 127.0.1.3:8080 warm v1 (warm pool 0 "
                "of 1" } },

    { .name = "launch hook: at its timeout a warm one gets the default "
              "(abandon: deleted, a failure; the second in a row backs the "
              "refill off)",
      .capacity = 1, .warm_size = 1, .launch_s = 60, .failures = 1,
      .want_failures = 2 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 70, .warm = "running",
                  .hook = HOOK_LAUNCH, .hook_s = 61 } },
      .want = { "delete web-000002 hook (warm, launch hook: abandon (its "
                "default, at its timeout)" } },

    { .name = "launch hook: ... or its default continue parks it",
      .capacity = 1, .warm_size = 1, .launch_s = 60, .launch_continue = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 70, .warm = "running",
                  .hook = HOOK_LAUNCH, .hook_s = 61 } },
      .want = { "park web-000002 hook (warm, launch hook: continue (its "
                "default, at its timeout), kept paused" } },

    { .name = "launch hook: a warm one parked (past its hook) does not wait "
              "again: paused, or running and remembered parked",
      .capacity = 1, .warm_size = 2, .launch_s = 60,
      .warm_state = WARM_RUNNING,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused" },
                { "web-000003", 0, "booting", "yes", 20, .warm = "running",
                  .parked = 1 } },
      .want = { "park web-000002 warm (paused, kept running" } },

    { .name = "launch hook: a warm one still booting does not wait yet",
      .capacity = 1, .warm_size = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "connect", 5,
                  .warm = "running" } } },

    { .name = "launch hook: a woken one waits in it once ready instead of "
              "being registered (its wake says so)",
      .capacity = 2, .warm_size = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused",
                  .parked = 1 } },
      .want = { "wake web-000002 scale_out +hook (capacity 2, 1 in service; "
                "from the warm pool (paused)",
                "create web-000003 z1 127.0.1.3:8080 warm" } },

    { .name = "launch hook: a warm one waiting whose model is outdated is "
              "replaced all the same (the upgrade's warm pool)",
      .capacity = 1, .warm_size = 1, .launch_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 20, .warm = "running",
                  .hook = HOOK_LAUNCH, .hook_s = 10, .outdated = 1 } },
      .want = { "delete web-000002 warm (warm, model version 1 is not the "
                "latest",
                "create web-000003 z1 127.0.1.3:8080 warm" } },

    { .name = "launch hook removed (a reload) while a warm one waits: it is "
              "parked, as without a hook",
      .capacity = 1, .warm_size = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 20, .warm = "running",
                  .hook = HOOK_LAUNCH, .hook_s = 10 } },
      .want = { "park web-000002 warm (ready, kept paused" } },

    { .name = "without a launch hook a wake registers as before (no +hook; "
              "the ready warm one left is parked at once)",
      .capacity = 2, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused" },
                { "web-000003", 0, "booting", "yes", 5,
                  .warm = "running" },
                { "web-000004", 0, "booting", "yes", 5,
                  .warm = "running" } },
      .want = { "wake web-000003 scale_out (capacity 2, 1 in service; "
                "from the warm pool (running))",
                "park web-000004 warm (ready, kept paused" } },

    /* --- the warm pool and the terminate hook (AWS: Warmed:Terminating:
       Wait, then Warmed:Terminated) ---------------------------------- */
    { .name = "terminate hook: an outdated warm instance waits in it "
              "instead of being deleted; out of the warm pool's count, the "
              "refill replaces it meanwhile",
      .capacity = 1, .warm_size = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused", .parked = 1,
                  .outdated = 1 } },
      .want = { "hook web-000002 hook (warm, model version 1 is not the "
                "latest: replaced; waiting for the terminate hook (60000 "
                "ms, then continue)",
                "create web-000003 z1 127.0.1.3:8080 warm v1 (warm pool 0 "
                "of 1" } },

    { .name = "terminate hook: a warm one waiting is neither deleted, woken "
              "nor counted in the warm pool: the capacity and the refill "
              "are created",
      .capacity = 2, .warm_size = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused", .parked = 1,
                  .hook = HOOK_TERMINATE, .hook_s = 10 } },
      .want = { "create web-000003 z1 127.0.1.3:8080 scale_out",
                "create web-000004 z1 127.0.1.4:8080 warm v1 (warm pool 0 "
                "of 1" } },

    { .name = "terminate hook: a warm one waiting, its replacement made: "
              "no other",
      .capacity = 1, .warm_size = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused", .parked = 1,
                  .outdated = 1, .hook = HOOK_TERMINATE, .hook_s = 10 },
                { "web-000003", 0, "booting", .warm = "paused",
                  .parked = 1 } } },

    { .name = "terminate hook: continue deletes a warm one",
      .capacity = 1, .warm_size = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused", .parked = 1,
                  .outdated = 1, .hook = HOOK_TERMINATE, .hook_s = 10,
                  .asked = ASK_CONTINUE },
                { "web-000003", 0, "booting", .warm = "paused",
                  .parked = 1 } },
      .want = { "delete web-000002 hook (warm, terminate hook: continue)" } },

    { .name = "terminate hook: abandon deletes a warm one too (only says "
              "the hook's work was not done), no failure",
      .capacity = 1, .warm_size = 1, .terminate_s = 60, .want_failures = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused", .parked = 1,
                  .outdated = 1, .hook = HOOK_TERMINATE, .hook_s = 10,
                  .asked = ASK_ABANDON },
                { "web-000003", 0, "booting", .warm = "paused",
                  .parked = 1 } },
      .want = { "delete web-000002 hook (warm, terminate hook: abandon)" } },

    { .name = "terminate hook: at its timeout a warm one gets the default "
              "(continue): deleted",
      .capacity = 1, .warm_size = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused", .parked = 1,
                  .outdated = 1, .hook = HOOK_TERMINATE, .hook_s = 61 },
                { "web-000003", 0, "booting", .warm = "paused",
                  .parked = 1 } },
      .want = { "delete web-000002 hook (warm, terminate hook: continue (its "
                "default, at its timeout)" } },

    { .name = "terminate hook: a heartbeat keeps a warm one waiting past "
              "its timeout",
      .capacity = 1, .warm_size = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused", .parked = 1,
                  .outdated = 1, .hook = HOOK_TERMINATE, .hook_s = 90,
                  .asked = ASK_HEARTBEAT },
                { "web-000003", 0, "booting", .warm = "paused",
                  .parked = 1 } } },

    { .name = "terminate hook: the warm one cut above the size waits in it "
              "(no refill: the pool is at its size without it)",
      .capacity = 1, .warm_size = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused", .parked = 1 },
                { "web-000003", 0, "booting", .warm = "paused",
                  .parked = 1 } },
      .want = { "hook web-000003 hook (warm pool above what it keeps (2 of "
                "1); waiting for the terminate hook" } },

    { .name = "terminate hook: a warm one never ready within health.grace "
              "waits in it, a failure of the pool, and is replaced",
      .capacity = 1, .warm_size = 1, .terminate_s = 60,
      .want_failures = 1 + 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "status 500", 5,
                  .created_s = 61, .warm = "running" } },
      .want = { "hook web-000002 hook (warm, not ready (status 500) within "
                "health.grace (60000 ms), to be replaced; waiting for the "
                "terminate hook",
                "create web-000003 z1 127.0.1.3:8080 warm" } },

    { .name = "terminate hook: a busy warm one (a park in flight) does not "
              "enter it, outdated or not",
      .capacity = 1, .warm_size = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 5, .warm = "running",
                  .outdated = 1 } },
      .busy = { "park web-000002" } },

    { .name = "terminate hook, reuse_on_scale_in: a drained instance going "
              "back to the warm pool waits in the terminate hook first "
              "(AWS: Warmed:Pending:Wait), counted in the warm pool (no "
              "refill)",
      .capacity = 1, .warm_size = 1, .warm_reuse = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .conns = { 0, 0 }, .nreports = 2 } },
      .want = { "hook web-000002 hook (drained, back to the warm pool "
                "(reuse_on_scale_in, 1 warm); waiting for the terminate "
                "hook" } },

    { .name = "terminate hook, reuse_on_scale_in: one waiting on its way "
              "back is neither shut down nor parked yet, and counted in the "
              "warm pool (no refill), past drain_timeout too",
      .capacity = 1, .warm_size = 1, .warm_reuse = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 50,
                  .hook = HOOK_TERMINATE, .hook_s = 40, .reuse = 1 } } },

    { .name = "terminate hook, reuse_on_scale_in: continue parks it",
      .capacity = 1, .warm_size = 1, .warm_reuse = 1, .terminate_s = 60,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 50,
                  .hook = HOOK_TERMINATE, .hook_s = 40, .reuse = 1,
                  .asked = ASK_CONTINUE } },
      .want = { "park web-000002 hook (terminate hook: continue, back to "
                "the warm pool)" } },

    { .name = "terminate hook, reuse_on_scale_in: at its timeout the default "
              "(abandon too) parks it",
      .capacity = 1, .warm_size = 1, .warm_reuse = 1, .terminate_s = 60,
      .terminate_abandon = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 80,
                  .hook = HOOK_TERMINATE, .hook_s = 61, .reuse = 1 } },
      .want = { "park web-000002 hook (terminate hook: abandon (its default, "
                "at its timeout), back to the warm pool)" } },

    { .name = "terminate hook, reuse_on_scale_in: one waiting to be shut "
              "down (not on its way back) is stopped on continue",
      .capacity = 1, .warm_size = 1, .warm_reuse = 1, .terminate_s = 60,
      .shutdown_s = 30,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 50,
                  .hook = HOOK_TERMINATE, .hook_s = 40,
                  .asked = ASK_CONTINUE },
                { "web-000003", 0, "booting", .warm = "paused",
                  .parked = 1 } },
      .want = { "stop web-000002 hook (terminate hook: continue)" } },

    { .name = "warm_pool.state running: a ready one is left running",
      .capacity = 1, .warm_size = 1, .warm_state = WARM_RUNNING,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 5,
                  .warm = "running" } } },

    { .name = "reuse_on_scale_in: a drained instance of the latest model "
              "goes back to the warm pool instead of being deleted",
      .capacity = 1, .warm_size = 1, .warm_reuse = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .conns = { 0, 0 }, .nreports = 2 } },
      .want = { "park web-000002 warm (drained, back to the warm pool "
                "(reuse_on_scale_in, 1 warm)" } },

    { .name = "reuse_on_scale_in: beyond the size while in service and "
              "warm stay within capacity.max; not an outdated one, not one "
              "cut off at drain_timeout, not one a gateway reports down",
      .capacity = 1, .warm_size = 1, .warm_reuse = 1, .cap_max = 4,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .outdated = 1, .conns = { 0 }, .nreports = 1 },
                { "web-000003", 0, "draining", .drain_s = 31,
                  .conns = { 2 }, .nreports = 1 },
                { "web-000004", 0, "draining", .drain_s = 5,
                  .conns = { DOWN }, .nreports = 1 },
                { "web-000005", 0, "booting", .warm = "paused" },
                { "web-000006", 0, "draining", .drain_s = 5 },
                { "web-000007", 0, "draining", .drain_s = 5,
                  .conns = { 0 }, .nreports = 1 },
                { "web-000008", 0, "draining", .drain_s = 5,
                  .conns = { 0 }, .nreports = 1 } },
      .want = { "park web-000006 warm (drained, back to the warm pool "
                "(reuse_on_scale_in, 2 warm)",
                "park web-000007 warm (drained, back to the warm pool "
                "(reuse_on_scale_in, 3 warm)",
                "delete web-000002 drain (no active connections",
                "delete web-000003 drain (drain_timeout",
                "delete web-000004 drain (no active connections",
                "delete web-000008 drain (no active connections" } },

    { .name = "reuse_on_scale_in: not one made by hand",
      .capacity = 1, .warm_size = 1, .warm_reuse = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5, .manual = 1 },
                { "web-000003", 0, "booting", .warm = "paused" } },
      .want = { "delete web-000002 drain (no active connections" } },

    /* --- the warm pool's calls in the background (act_bg.c) ---------- */
    { .name = "a warm instance with a park in flight is busy: not parked "
              "again, not woken (a free one is), counted in the warm pool",
      .capacity = 2, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 5, .warm = "running" },
                { "web-000003", 0, "booting", .warm = "saved" } },
      .busy = { "park web-000002" },
      .want = { "wake web-000003 scale_out",
                "create web-000004 z1 127.0.1.4:8080 warm v1"
                " (warm pool 1 of 2" } },

    { .name = "a scale-out while the only warm instance is busy parking: "
              "made for the capacity at once, not waited for; the busy "
              "one still fills the warm pool (no refill)",
      .capacity = 2, .warm_size = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "yes", 5, .warm = "running" } },
      .busy = { "park web-000002" },
      .want = { "create web-000003 z1 127.0.1.3:8080 scale_out" } },

    { .name = "a warm creation in flight, its domain not listed yet, is "
              "counted in the warm pool: the refill is not doubled, its "
              "id, number and address stay taken",
      .capacity = 1, .warm_size = 2, .seq = 1,
      .inst = { { "web-000001", 0, "running" } },
      .busy = { "create web-000002 z1 127.0.1.2:8080" },
      .want = { "create web-000003 z1 127.0.1.3:8080 warm v1"
                " (warm pool 1 of 2" } },

    { .name = "a warm creation in flight that is listed (defined, not "
              "started) is counted once",
      .capacity = 1, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "connect", 1,
                  .warm = "running" } },
      .busy = { "create web-000002 z1 127.0.1.2:8080" },
      .want = { "create web-000003 z1 127.0.1.3:8080 warm v1"
                " (warm pool 1 of 2" } },

    { .name = "busy warm instances are neither cut, nor replaced (outdated, "
              "never ready within health.grace), nor repaired",
      .capacity = 1, .warm_size = 0,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused",
                  .outdated = 1 },
                { "web-000003", 0, "booting", "status 500", 61,
                  .created_s = 61, .warm = "running" } },
      .busy = { "park web-000002", "create web-000003 z1 127.0.1.3:8080" } },

    { .name = "a host with HOST_BACKGROUND_MAX (4) background calls in "
              "flight: no warm creation planned on it (act would refuse it, "
              "its number spent), the next pass plans it",
      .capacity = 1, .warm_size = 6, .seq = 5,
      .inst = { { "web-000001", 0, "running" } },
      .busy = { "create web-000002 z1 127.0.1.2:8080",
                "create web-000003 z1 127.0.1.3:8080",
                "create web-000004 z1 127.0.1.4:8080",
                "create web-000005 z1 127.0.1.5:8080" } },

    { .name = "one host full of background calls: the warm creations go "
              "to another of the zone with room, though it has more "
              "instances",
      .hosts = { 2 }, .capacity = 5, .warm_size = 6, .seq = 9,
      .inst = { { "web-000001", 0, "running", .host = 1 },
                { "web-000002", 0, "running", .host = 1 },
                { "web-000003", 0, "running", .host = 1 },
                { "web-000004", 0, "running", .host = 1 },
                { "web-000005", 0, "running", .host = 1 } },
      .busy = { "create web-000006 z1-1 127.0.1.6:8080",
                "create web-000007 z1-1 127.0.1.7:8080",
                "create web-000008 z1-1 127.0.1.8:8080",
                "create web-000009 z1-1 127.0.1.9:8080" },
      .want = { "create web-000010 z1-2 127.0.1.10:8080 warm",
                "create web-000011 z1-2 127.0.1.11:8080 warm" } },

    { .name = "a host with 3 background calls in flight takes one more: "
              "one warm creation of two planned",
      .capacity = 1, .warm_size = 5, .seq = 4,
      .inst = { { "web-000001", 0, "running" } },
      .busy = { "create web-000002 z1 127.0.1.2:8080",
                "create web-000003 z1 127.0.1.3:8080",
                "create web-000004 z1 127.0.1.4:8080" },
      .want = { "create web-000005 z1 127.0.1.5:8080 warm v1"
                " (warm pool 3 of 5" } },

    { .name = "parks take their host's background room first: a ready warm "
              "one parked, no creation beside it on a host with 3 calls in "
              "flight",
      .capacity = 1, .warm_size = 6, .seq = 5,
      .inst = { { "web-000001", 0, "running" },
                { "web-000005", 0, "booting", "yes", 5, .warm = "running" } },
      .busy = { "create web-000002 z1 127.0.1.2:8080",
                "create web-000003 z1 127.0.1.3:8080",
                "create web-000004 z1 127.0.1.4:8080" },
      .want = { "park web-000005 warm (ready, kept paused" } },

    { .name = "a ready warm one on a host with 4 background calls in flight "
              "is not parked this pass (act would refuse it)",
      .capacity = 1, .warm_size = 5, .seq = 6,
      .inst = { { "web-000001", 0, "running" },
                { "web-000005", 0, "booting", "yes", 5, .warm = "running" } },
      .busy = { "create web-000002 z1 127.0.1.2:8080",
                "create web-000003 z1 127.0.1.3:8080",
                "create web-000004 z1 127.0.1.4:8080",
                "create web-000006 z1 127.0.1.6:8080" } },

    { .name = "a drained instance busy going back to the warm pool "
              "(reuse_on_scale_in) is not shut down by the drain step",
      .capacity = 1, .warm_size = 1, .warm_reuse = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5,
                  .conns = { 0, 0 }, .nreports = 2 } },
      .busy = { "park web-000002" } },

    { .name = "without reuse_on_scale_in a drained instance is deleted",
      .capacity = 1, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "draining", .drain_s = 5 } },
      .want = { "delete web-000002 drain (no active connections",
                "create web-000003 z1 127.0.1.3:8080 warm v1"
                " (warm pool 0 of 2",
                "create web-000004 z1 127.0.1.4:8080 warm" } },

    { .name = "a warm pool above its size is cut: the furthest from ready "
              "first, then the highest id",
      .capacity = 1, .warm_size = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused" },
                { "web-000003", 0, "booting", .warm = "paused" },
                { "web-000004", 0, "booting", "connect", 5,
                  .warm = "running" } },
      .want = { "delete web-000004 warm (warm pool above what it keeps (3 "
                "of 1",
                "delete web-000003 warm (warm pool above what it keeps (2 "
                "of 1" } },

    { .name = "protection holds in the warm pool: one protected from "
              "scale-set actions is not replaced when outdated, one "
              "protected from scale-in is not cut",
      .capacity = 1, .warm_size = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused",
                  .outdated = 1, .protect = PROTECT_ALL },
                { "web-000003", 0, "booting", .warm = "paused",
                  .protect = PROTECT_SCALE_IN },
                { "web-000004", 0, "booting", .warm = "paused" } },
      .want = { "delete web-000004 warm (warm pool above what it keeps (3 "
                "of 1" } },

    { .name = "size 0: the warm instances left serve a scale-out, the rest "
              "go",
      .capacity = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused" },
                { "web-000003", 0, "booting", .warm = "saved" } },
      .want = { "wake web-000002 scale_out",
                "delete web-000003 warm (warm pool above what it keeps (1 "
                "of 0" } },

    { .name = "a zone down: its warm instances are counted, not touched",
      .nzones = 2, .down = "z2", .capacity = 2, .warm_size = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 1, "booting", .warm = "paused" } },
      .want = { "create web-000003 z1 127.0.1.3:8080 scale_out" } },

    { .name = "a host down: its warm instances are counted, not woken; "
              "the zone's other host gives its warm one",
      .hosts = { 2 }, .down = "z1-2", .capacity = 2, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", .warm = "paused", .host = 1 },
                { "web-000003", 0, "booting", .warm = "paused" } },
      .want = { "wake web-000003 scale_out",
                "create web-000004 z1-1 127.0.1.4:8080 warm v1 (warm pool 1 "
                "of 2" } },

    { .name = "the refill goes to the zone's host with the fewest in "
              "service and warm",
      .hosts = { 2 }, .capacity = 2, .warm_size = 2,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "running", .host = 1 },
                { "web-000003", 0, "booting", .warm = "paused" } },
      .want = { "create web-000004 z1-2 127.0.1.4:8080 warm v1 (warm pool 1 "
                "of 2" } },

    { .name = "a warm instance back from its host's failover is warm "
              "again: woken for a scale-out, not drained or deleted",
      .nzones = 2, .capacity = 2, .warm_size = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 1, "booting", .warm = "paused",
                  .lost = 1 } },
      .want = { "wake web-000002 scale_out",
                "create web-000003 z1 127.0.1.3:8080 warm" } },

    /* --- Redis -------------------------------------------------------- */
    { .name = "Redis not read: nothing at all is decided",
      .capacity = 5, .redis_down = 1,
      .inst = { { "web-000001", 0, "running" },
                { "web-000002", 0, "booting", "status 500", 1000 } } },

    /* --- upgrades (plan_upgrade.c; docs/upgrades.md) ----------------------
       A pool of 6 on z1 (1 3 5) and z2 (2 4 6), healthy (up in the one
       gateway's report) on version 1, its template now at version 2;
       health.grace 60 s */
#define UP(id, z)      { id, z, "running", .health = "up" }
#define UP2(id, z, c)  { id, z, "running", .health = "up", .version = "2", \
                         .created_s = c }
#define DOWN2(id, z, c) { id, z, "running", .health = "down", \
                         .version = "2", .created_s = c }
#define SIX  UP("web-000001", 0), UP("web-000002", 1), UP("web-000003", 0), \
             UP("web-000004", 1), UP("web-000005", 0), UP("web-000006", 1)
#define UPGRADE_POOL(cap, v)  .nzones = 2, .capacity = cap, .latest = v, \
                              .ngw = 1

    { .name = "a template change starts a rolling upgrade: batches of 20 % "
              "of the capacity (at least 1), zone z1 first, the oldest "
              "first; with surge its replacement comes first (the old one "
              "serves on)",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1", .inst = { SIX },
      .want = { "record rolling 1/6 web-000001 (started (the template "
                "changed): version 1 -> 2, 6 outdated; batch 1 of 6 in "
                "zone z1: web-000001 -> version 2)",
                "create web-000007 z1 127.0.1.7:8080 upgrade v2 (batch 1: "
                "a replacement on version 2)" } },

    { .name = "max_batch_percent 34 of 6: batches of 2, one zone at a "
              "time (4 in all)",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1", .upgrade = "batch=34",
      .inst = { SIX },
      .want = { "record rolling 1/4 web-000001 web-000003 (started (the "
                "template changed): version 1 -> 2, 6 outdated; batch 1 of "
                "4 in zone z1: web-000001 web-000003 -> version 2)",
                "create web-000007 z1 127.0.1.7:8080 upgrade v2",
                "create web-000008 z1 127.0.1.8:8080 upgrade v2" } },

    { .name = "a zone of two hosts: the replacement goes to the batch's "
              "zone, on its host with the fewest instances",
      UPGRADE_POOL(6, "2"), .hosts = { 2 }, .rec = "idle to=1",
      .inst = { SIX },
      .want = { "record rolling 1/6 web-000001",
                "create web-000007 z1-2 127.0.1.7:8080 upgrade v2" } },

    { .name = "an instance counted as lost (its host failed over) is no "
              "batch's: the oldest of those that answer goes first",
      UPGRADE_POOL(6, "2"), .hosts = { 2 }, .down = "z1-2", .down_s = 400,
      .rec = "idle to=1",
      .inst = { { "web-000001", 0, "running", .health = "up", .host = 1,
                  .lost = 1 },
                UP("web-000002", 1), UP("web-000003", 0),
                UP("web-000004", 1), UP("web-000005", 0),
                UP("web-000006", 1) },
      .want = { "record rolling 1/5 web-000003",
                "create web-000007 z1-1 127.0.1.7:8080 upgrade v2" } },

    { .name = "no rebalance while an upgrade runs (its zones one at a "
              "time): zones 4 and 2 during the pause",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34 pause=30",
      .rec = "paused from=1 to=2 batch=2 batches=4 done_s=10 zone=z1",
      .inst = { UP("web-000002", 1), UP("web-000004", 1), UP("web-000005", 0),
                UP2("web-000007", 0, 5), UP2("web-000008", 0, 5),
                UP2("web-000009", 0, 8) } },

    { .name = "mode manual: a template change marks the instances "
              "outdated, nothing else",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1", .upgrade = "mode=manual",
      .inst = { SIX } },

    { .name = "mode manual, started through the API (a record rolling to "
              "the pool's model, no from yet): the batches begin",
      UPGRADE_POOL(6, "2"), .rec = "rolling to=2 started_s=1",
      .upgrade = "mode=manual batch=34", .inst = { SIX },
      .want = { "record rolling 1/4 web-000001 web-000003 (batch 1 of 4 in "
                "zone z1: web-000001 web-000003 -> version 2)",
                "create web-000007 z1", "create web-000008 z1" } },

    { .name = "surge: the batch's old instances drain once their "
              "replacements serve (healthy ones left >= the capacity); "
              "the batch ends with them, the next starts in the same pass",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=10 zone=z1",
      .inst = { SIX, UP2("web-000007", 0, 5), UP2("web-000008", 0, 5) },
      .want = { "record rolling 2/4 web-000005 (batch 1 of 4 done: 2 "
                "replaced, 2 of 2 on the model healthy; batch 2 of 4 in "
                "zone z1: web-000005 -> version 2)",
                "drain web-000001 upgrade (batch 1: replaced (its "
                "replacement serves)",
                "drain web-000003 upgrade (batch 1: replaced (its "
                "replacement serves)",
                "create web-000009 z1 127.0.1.9:8080 upgrade v2 (batch 2: "
                "a replacement on version 2)" } },

    { .name = "surge: while the replacements boot, the old ones serve "
              "(the capacity never drops)",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=10 zone=z1",
      .inst = { SIX,
                { "web-000007", 0, "booting", "yes", .version = "2",
                  .created_s = 2 },
                { "web-000008", 0, "booting", "yes", .version = "2",
                  .created_s = 2 } },
      .want = { "register web-000007 ready", "register web-000008 ready" } },

    { .name = "surge: one replacement healthy, one old instance drains",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=10 zone=z1",
      .inst = { SIX, UP2("web-000007", 0, 5),
                { "web-000008", 0, "booting", NULL, .version = "2",
                  .created_s = 5 } },
      .want = { "drain web-000001 upgrade (batch 1: replaced (its "
                "replacement serves)" } },

    { .name = "no surge: the batch drains at once and the capacity step "
              "creates the replacements (4 of 6 serve meanwhile)",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1", .upgrade = "batch=34 surge=0",
      .inst = { SIX },
      .want = { "record rolling 1/4 web-000001 web-000003 (started",
                "drain web-000001 upgrade (batch 1: replaced (no surge: "
                "drained first)",
                "drain web-000003 upgrade (batch 1: replaced (no surge",
                "create web-000007 z1 127.0.1.7:8080 scale_out v2",
                "create web-000008 z1 127.0.1.8:8080 scale_out v2" } },

    { .name = "a batch ends when its old instances no longer serve, the "
              "pool is at its capacity and the new ones are healthy; the "
              "next one starts in the same zone",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=20 zone=z1 started_s=30",
      .inst = { { "web-000001", 0, "draining", .drain_s = 5, .conns = { 1 },
                  .nreports = 1 },
                UP("web-000002", 1),
                { "web-000003", 0, "draining", .drain_s = 5, .conns = { 1 },
                  .nreports = 1 },
                UP("web-000004", 1), UP("web-000005", 0), UP("web-000006", 1),
                UP2("web-000007", 0, 15), UP2("web-000008", 0, 15) },
      .want = { "record rolling 2/4 web-000005 (batch 1 of 4 done: 2 "
                "replaced, 2 of 2 on the model healthy; batch 2 of 4 in "
                "zone z1: web-000005 -> version 2)",
                "create web-000009 z1 127.0.1.9:8080 upgrade v2" } },

    { .name = "one zone at a time: z1 done, z2 is next",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=2 batches=4 done_s=1 zone=z1",
      .inst = { UP("web-000002", 1), UP("web-000004", 1), UP("web-000006", 1),
                UP2("web-000007", 0, 60), UP2("web-000008", 0, 60),
                UP2("web-000009", 0, 30) },
      .want = { "record rolling 3/4 web-000002 web-000004 (batch 3 of 4 in "
                "zone z2: web-000002 web-000004 -> version 2)",
                "create web-000010 z2 127.0.1.1:8080 upgrade v2",
                "create web-000011 z2 127.0.1.3:8080 upgrade v2" } },

    { .name = "cross_zone: a batch takes the oldest of every zone",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1", .upgrade = "batch=34 cross=1",
      .inst = { SIX },
      .want = { "record rolling 1/3 web-000001 web-000002 (started (the "
                "template changed): version 1 -> 2, 6 outdated; batch 1 of "
                "3: web-000001 web-000002 -> version 2)",
                "create web-000007 z1 127.0.1.7:8080 upgrade v2",
                "create web-000008 z2 127.0.1.8:8080 upgrade v2" } },

    { .name = "prioritize_unhealthy: the zone of an unhealthy instance "
              "first, and it first in its batch (drained at once: it "
              "serves nothing)",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1", .upgrade = "batch=34",
      .inst = { UP("web-000001", 0), UP("web-000002", 1), UP("web-000003", 0),
                { "web-000004", 1, "running", .health = "down",
                  .age_s = 100 },
                UP("web-000005", 0), UP("web-000006", 1) },
      .want = { "record rolling 1/4 web-000002 web-000004 (started (the "
                "template changed): version 1 -> 2, 6 outdated; batch 1 of "
                "4 in zone z2: web-000004 web-000002 -> version 2)",
                "drain web-000004 upgrade (batch 1: replaced (unhealthy)",
                "create web-000007 z2 127.0.1.7:8080 upgrade v2",
                "create web-000008 z2 127.0.1.8:8080 upgrade v2" } },

    { .name = "an instance not reported healthy yet but within its time "
              "is young, not unhealthy: not first, not drained before the "
              "replacements serve",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1", .upgrade = "batch=34",
      .inst = { UP("web-000001", 0), UP("web-000002", 1), UP("web-000003", 0),
                UP("web-000004", 1), UP("web-000005", 0),
                { "web-000006", 1, "running", .health = "down",
                  .age_s = 2 } },
      .want = { "record rolling 1/4 web-000001 web-000003 (started",
                "create web-000007 z1", "create web-000008 z1" } },

    { .name = "before a batch, an instance being repaired (restarted in "
              "place) counts as unhealthy, young as it is: a breach",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 done_s=1 zone=z1 "
             "started_s=60",
      .inst = { UP("web-000002", 1),
                { "web-000004", 1, "running", .health = "down",
                  .created_s = 5, .repair = IREP_RESTARTED, .repair_s = 5 },
                UP("web-000005", 0),
                { "web-000006", 1, "running", .health = "down",
                  .created_s = 5, .repair = IREP_RESTARTED, .repair_s = 5 },
                UP2("web-000007", 0, 50), UP2("web-000008", 0, 50) },
      .want = { "record rolling_back (before batch 2: 2 of 6 instances "
                "unhealthy (more than max_unhealthy_percent 20)" } },

    { .name = "an instance protected from scale-set actions is left as it "
              "is: the batch takes the next one, the upgrade ends without "
              "it",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1",
      .inst = { { "web-000001", 0, "running", .health = "up",
                  .protect = PROTECT_ALL },
                UP("web-000002", 1), UP("web-000003", 0),
                UP("web-000004", 1), UP("web-000005", 0),
                UP("web-000006", 1) },
      .want = { "record rolling 1/5 web-000003",
                "create web-000007 z1 127.0.1.7:8080 upgrade v2" } },

    { .name = "protected from scale-set actions, the last outdated one: "
              "the upgrade is done",
      UPGRADE_POOL(2, "2"), .upgrade = "batch=50",
      .rec = "rolling from=1 to=2 batch=1 batches=1 done_s=1 zone=z2",
      .inst = { { "web-000001", 0, "running", .health = "up",
                  .protect = PROTECT_ALL },
                UP2("web-000003", 1, 50) },
      .want = { "record done" } },

    { .name = "protected from scale-in only: an upgrade replaces it all "
              "the same",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1",
      .inst = { { "web-000001", 0, "running", .health = "up",
                  .protect = PROTECT_SCALE_IN },
                UP("web-000002", 1), UP("web-000003", 0),
                UP("web-000004", 1), UP("web-000005", 0),
                UP("web-000006", 1) },
      .want = { "record rolling 1/6 web-000001",
                "create web-000007 z1 127.0.1.7:8080 upgrade v2" } },

    { .name = "before a batch, more than max_unhealthy_percent of the pool "
              "unhealthy: a breach, rolled back",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 done_s=1 zone=z1 "
             "started_s=60",
      .inst = { UP("web-000002", 1),
                { "web-000004", 1, "running", .health = "down",
                  .age_s = 100 },
                UP("web-000005", 0),
                { "web-000006", 1, "running", .health = "down",
                  .age_s = 100 },
                UP2("web-000007", 0, 50), UP2("web-000008", 0, 50) },
      .want = { "record rolling_back (before batch 2: 2 of 6 instances "
                "unhealthy (more than max_unhealthy_percent 20): rolling "
                "back to version 1)" } },

    { .name = "after a batch, more than max_unhealthy_upgraded_percent of "
              "the upgraded unhealthy after health.grace: rolled back; with "
              "surge the old ones never drained, the new ones go",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=100 zone=z1",
      .inst = { SIX, DOWN2("web-000007", 0, 90), DOWN2("web-000008", 0, 90) },
      .want = { "record rolling_back (after batch 1: 2 of 2 upgraded "
                "instances unhealthy (more than "
                "max_unhealthy_upgraded_percent 20): rolling back to "
                "version 1)",
                "drain web-000008 scale_in", "drain web-000007 scale_in" } },

    { .name = "upgraded instances within health.grace are not judged yet",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=20 zone=z1",
      .inst = { SIX, DOWN2("web-000007", 0, 10),
                DOWN2("web-000008", 0, 10) } },

    { .name = "rolling back: the upgraded instances are replaced in "
              "batches by the previous model (made from its recipe)",
      UPGRADE_POOL(6, "2"),
      .rec = "rolling_back from=1 to=2 rollback=breach started_s=100",
      .inst = { UP("web-000001", 0), UP("web-000002", 1), UP("web-000003", 0),
                UP("web-000004", 1), UP2("web-000005", 0, 50),
                UP2("web-000006", 1, 50) },
      .want = { "record rolling_back 1/2 web-000005 (batch 1 of 2 in zone "
                "z1: web-000005 -> version 1)",
                "create web-000007 z1 127.0.1.7:8080 upgrade v1 (batch 1: "
                "a replacement on version 1)" } },

    { .name = "rolled back: failed, and why",
      UPGRADE_POOL(6, "2"),
      .rec = "rolling_back from=1 to=2 rollback=breach batch=2 batches=2 "
             "done_s=1",
      .inst = { SIX },
      .want = { "record failed (rolled back: 6 instances on version 1)" } },

    { .name = "after a rollback new instances keep the previous model "
              "until an upgrade starts again",
      UPGRADE_POOL(7, "2"), .rec = "failed from=1 to=2 "
                                          "rollback=breach",
      .inst = { SIX },
      .want = { "create web-000007 z1 127.0.1.7:8080 scale_out v1" } },

    { .name = "after a rollback, another template change lifts the "
              "previous model (mode manual: outdated, nothing else)",
      UPGRADE_POOL(7, "3"), .upgrade = "mode=manual",
      .rec = "failed from=1 to=2 rollback=breach",
      .inst = { SIX },
      .want = { "create web-000007 z1 127.0.1.7:8080 scale_out v3" } },

    { .name = "a rollback whose previous model cannot be made (no instance "
              "of it left to take its recipe from): failed",
      UPGRADE_POOL(6, "2"), .no_previous = 1,
      .rec = "rolling_back from=1 to=2 rollback=breach",
      .inst = { SIX },
      .want = { "record failed (the rollback stops: no instance of the "
                "previous model left to take its recipe from)" } },

    { .name = "rollback off: a breach fails the upgrade, nothing more is "
              "replaced; with surge the failed batch's new instances go",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34 rollback=0",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=100 zone=z1",
      .inst = { SIX, DOWN2("web-000007", 0, 90), DOWN2("web-000008", 0, 90) },
      .want = { "record failed (failed: after batch 1: 2 of 2 upgraded "
                "instances unhealthy (more than "
                "max_unhealthy_upgraded_percent 20); rollback is off: "
                "nothing more is replaced)",
                "drain web-000007 upgrade (batch 1: its batch failed",
                "drain web-000008 upgrade (batch 1: its batch failed" } },

    { .name = "pause: a batch done, the upgrade pauses",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34 pause=30",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=20 zone=z1",
      .inst = { UP("web-000002", 1), UP("web-000004", 1), UP("web-000005", 0),
                UP("web-000006", 1), UP2("web-000007", 0, 15),
                UP2("web-000008", 0, 15) },
      .want = { "record paused (batch 1 of 4 done: 2 replaced, 2 of 2 on "
                "the model healthy)" } },

    { .name = "paused: nothing until the pause is over",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34 pause=30",
      .rec = "paused from=1 to=2 batch=1 batches=4 done_s=10 zone=z1",
      .inst = { UP("web-000002", 1), UP("web-000004", 1), UP("web-000005", 0),
                UP("web-000006", 1), UP2("web-000007", 0, 15),
                UP2("web-000008", 0, 15) } },

    { .name = "paused: the pause over, the next batch",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34 pause=30",
      .rec = "paused from=1 to=2 batch=1 batches=4 done_s=31 zone=z1",
      .inst = { UP("web-000002", 1), UP("web-000004", 1), UP("web-000005", 0),
                UP("web-000006", 1), UP2("web-000007", 0, 35),
                UP2("web-000008", 0, 35) },
      .want = { "record rolling 2/4 web-000005 (batch 2 of 4 in zone z1: "
                "web-000005 -> version 2)",
                "create web-000009 z1 127.0.1.1:8080 upgrade v2" } },

    { .name = "a restart mid-batch resumes the same batch: only the missing "
              "replacement is created, no instance is picked again",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=20 zone=z1",
      .inst = { SIX, { "web-000007", 0, "booting", NULL, .version = "2",
                       .created_s = 15 } },
      .want = { "create web-000008 z1 127.0.1.8:8080 upgrade v2" } },

    { .name = "never two upgrades at once: a template change while one "
              "rolls retargets it",
      UPGRADE_POOL(6, "3"), .upgrade = "batch=34",
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=20 zone=z1",
      .inst = { SIX,
                { "web-000007", 0, "booting", NULL, .version = "2",
                  .created_s = 15 },
                { "web-000008", 0, "booting", NULL, .version = "2",
                  .created_s = 15 } },
      .want = { "record rolling 1/4 web-000001 web-000003 (retargeted to "
                "version 3 (was 2))" } },

    { .name = "autoscale during an upgrade: scale-in takes outdated "
              "instances first",
      UPGRADE_POOL(4, "2"), .rec = "cancelled from=1 to=2",
      .inst = { UP("web-000001", 0), UP("web-000002", 1), UP("web-000003", 0),
                UP("web-000004", 1), UP2("web-000005", 0, 100),
                UP2("web-000006", 1, 100) },
      .want = { "drain web-000004 scale_in", "drain web-000003 scale_in" } },

    { .name = "the gateways' reports unknown: the upgrade waits, the "
              "batch's old instances serve beside their replacements",
      UPGRADE_POOL(6, "2"), .upgrade = "batch=34", .reports_unknown = 1,
      .rec = "rolling from=1 to=2 batch=1 batches=4 "
             "ids=web-000001,web-000003 batch_s=10 zone=z1",
      .inst = { SIX, UP2("web-000007", 0, 5), UP2("web-000008", 0, 5) } },

    { .name = "upgrade.image: a changed base image starts a rolling "
              "upgrade, logged with the old and new digests",
      .nzones = 2, .capacity = 2, .ngw = 1, .upgrade = "image=1",
      .latest_image = "bbbbbbbbbbbbbbbb", .images = "i2",
      .rec = "idle to=1 to_image=i1",
      .inst = { { "web-000001", 0, "running", .health = "up",
                  .image = "aaaaaaaaaaaaaaaa" },
                { "web-000002", 1, "running", .health = "up",
                  .image = "aaaaaaaaaaaaaaaa" } },
      .want = { "record rolling 1/2 web-000001 (started (the base image "
                "changed: z1 aaaaaaaaaaaa -> bbbbbbbbbbbb z2 aaaaaaaaaaaa "
                "-> bbbbbbbbbbbb): version 1 -> 1, 2 outdated; batch 1 of "
                "2 in zone z1: web-000001 -> version 1)",
                "create web-000003 z1 127.0.1.3:8080 upgrade v1" } },

    { .name = "upgrade.image: a new version directory named in the "
              "config (its base image and so the template digest changed) "
              "starts one as a changed base image, in mode manual too",
      .nzones = 2, .capacity = 2, .ngw = 1, .upgrade = "image=1 mode=manual",
      .latest_image = "bbbbbbbbbbbbbbbb", .images = "i2",
      .latest_digest = "t2",
      .rec = "idle to=1:t1 to_image=i1",
      .inst = { { "web-000001", 0, "running", .health = "up",
                  .image = "aaaaaaaaaaaaaaaa", .digest = "t1" },
                { "web-000002", 1, "running", .health = "up",
                  .image = "aaaaaaaaaaaaaaaa", .digest = "t1" } },
      .want = { "record rolling 1/2 web-000001 (started (the base image "
                "changed: z1 aaaaaaaaaaaa -> bbbbbbbbbbbb z2 aaaaaaaaaaaa "
                "-> bbbbbbbbbbbb): version 1 -> 1, 2 outdated; batch 1 of "
                "2 in zone z1: web-000001 -> version 1)",
                "create web-000003 z1 127.0.1.3:8080 upgrade v1" } },

    { .name = "without upgrade.image a changed base image makes the "
              "instances outdated, and nothing starts",
      .nzones = 2, .capacity = 2, .ngw = 1,
      .latest_image = "bbbbbbbbbbbbbbbb", .images = "i2",
      .rec = "idle to=1 to_image=i1",
      .inst = { { "web-000001", 0, "running", .health = "up",
                  .image = "aaaaaaaaaaaaaaaa" },
                { "web-000002", 1, "running", .health = "up",
                  .image = "aaaaaaaaaaaaaaaa" } } },

    { .name = "mode automatic: every outdated instance at once, in every "
              "zone (with surge, all replacements first)",
      UPGRADE_POOL(6, "2"), .rec = "idle to=1", .upgrade = "mode=automatic",
      .inst = { SIX },
      .want = { "record rolling 1/1 web-000001 web-000002 web-000003 "
                "web-000004 web-000005 web-000006 (started (the template "
                "changed): version 1 -> 2, 6 outdated; batch 1 of 1: "
                "web-000001 web-000002 web-000003 web-000004 web-000005 "
                "web-000006 -> version 2)",
                "create web-000007 z1", "create web-000008 z1",
                "create web-000009 z1", "create web-000010 z2",
                "create web-000011 z2", "create web-000012 z2" } },

    { .name = "the last batch done: done",
      UPGRADE_POOL(6, "2"),
      .rec = "rolling from=1 to=2 batch=4 batches=4 done_s=1 started_s=100",
      .inst = { UP2("web-000007", 0, 60), UP2("web-000008", 1, 60),
                UP2("web-000009", 0, 60), UP2("web-000010", 1, 60),
                UP2("web-000011", 0, 60), UP2("web-000012", 1, 60) },
      .want = { "record done (done: 6 instances on version 2 (4 batches))" } },

    { .name = "no record and nothing outdated: the record names the model "
              "the pool is on",
      .capacity = 1, .rec = "-", .inst = { UP("web-000001", 0) },
      .want = { "record idle (the pool is on version 1)" } },

    { .name = "cancelled: nothing more is replaced",
      UPGRADE_POOL(6, "2"), .rec = "cancelled from=1 to=2", .inst = { SIX } },

    { .name = "a record that could not be read: no upgrade step",
      UPGRADE_POOL(6, "2"), .rec = "?", .inst = { SIX } },
#undef UP
#undef UP2
#undef DOWN2
#undef SIX
#undef UPGRADE_POOL
};

/* the pool every row runs on */
static pool_config_t  pool;

/* the upgrade policy: the defaults of docs/upgrades.md, then the row's */
static void
upgrade_for(const char *spec)
{
    upgrade_config_t  *u = &pool.upgrade;
    char               k[32];
    const char        *p = spec;
    long               v;
    int                n;

    u->mode = UPGRADE_ROLLING;
    u->max_batch_percent = 20;
    u->max_unhealthy_percent = 20;
    u->max_unhealthy_upgraded_percent = 20;
    u->pause_ms = 0;
    u->surge = 1;
    u->prioritize_unhealthy = 1;
    u->cross_zone = 0;
    u->rollback = 1;
    u->image = 0;
    while (p && *p) {
        if (sscanf(p, " mode=%31s%n", k, &n) == 1) {
            u->mode = strcmp(k, "manual") == 0 ? UPGRADE_MANUAL
                      : strcmp(k, "automatic") == 0 ? UPGRADE_AUTOMATIC
                      : UPGRADE_ROLLING;
        } else if (sscanf(p, " %31[a-z]=%ld%n", k, &v, &n) == 2) {
            if (strcmp(k, "batch") == 0) {
                u->max_batch_percent = (int) v;
            } else if (strcmp(k, "unhealthy") == 0) {
                u->max_unhealthy_percent = (int) v;
            } else if (strcmp(k, "upgraded") == 0) {
                u->max_unhealthy_upgraded_percent = (int) v;
            } else if (strcmp(k, "pause") == 0) {
                u->pause_ms = (uint64_t) v * S;
            } else if (strcmp(k, "surge") == 0) {
                u->surge = (int) v;
            } else if (strcmp(k, "prioritize") == 0) {
                u->prioritize_unhealthy = (int) v;
            } else if (strcmp(k, "cross") == 0) {
                u->cross_zone = (int) v;
            } else if (strcmp(k, "rollback") == 0) {
                u->rollback = (int) v;
            } else if (strcmp(k, "image") == 0) {
                u->image = (int) v;
            } else {
                fail_msg("upgrade spec: unknown key %s", k);
            }
        } else {
            fail_msg("upgrade spec: \"%s\"", p);
        }
        p += n;
        while (*p == ' ') {
            p++;
        }
    }
}

static int
id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* "V" as the record names a model: "V:" (the rows' models have no
   template digest) */
static void
rec_model(char *buf, size_t size, const char *v)
{
    snprintf(buf, size, "%.*s:", (int) size - 2, v);
}

/* the upgrade record a row describes */
static void
record_for(const case_t *c, observation_t *obs)
{
    upgrade_t   *u = &obs->upgrade;
    const char  *spec = c->rec, *p;
    char         k[32], val[256], *id, *save;
    int          n;

    memset(u, 0, sizeof(*u));
    obs->upgrade_ok = 1;
    if (spec == NULL) {
        u->state = UPGRADE_IDLE;
        u->gen = 1;
        rec_model(u->to, sizeof(u->to), c->latest ? c->latest : "1");
        snprintf(u->to_image, sizeof(u->to_image), "%s",
                 c->images ? c->images : "");
        return;
    }
    if (strcmp(spec, "-") == 0) {
        return;                         /* no record */
    }
    if (strcmp(spec, "?") == 0) {
        obs->upgrade_ok = 0;
        return;
    }
    u->gen = 1;
    sscanf(spec, "%31s%n", k, &n);
    for (u->state = UPGRADE_IDLE; u->state < UPGRADE_STATE_COUNT; u->state++) {
        if (strcmp(upgrade_state_name(u->state), k) == 0) {
            break;
        }
    }
    assert_true(u->state < UPGRADE_STATE_COUNT);
    for (p = spec + n; sscanf(p, " %31[a-z_]=%255s%n", k, val, &n) == 2;
         p += n)
    {
        if (strcmp(k, "from") == 0) {
            rec_model(u->from, sizeof(u->from), val);
        } else if (strcmp(k, "to") == 0) {
            rec_model(u->to, sizeof(u->to), val);
        } else if (strcmp(k, "to_image") == 0) {
            snprintf(u->to_image, sizeof(u->to_image), "%.64s", val);
        } else if (strcmp(k, "batch") == 0) {
            u->batch = atol(val);
        } else if (strcmp(k, "batches") == 0) {
            u->batches = atol(val);
        } else if (strcmp(k, "started_s") == 0) {
            u->started = NOW - (uint64_t) atol(val) * S;
        } else if (strcmp(k, "batch_s") == 0) {
            u->batch_started = NOW - (uint64_t) atol(val) * S;
        } else if (strcmp(k, "done_s") == 0) {
            u->batch_done = NOW - (uint64_t) atol(val) * S;
        } else if (strcmp(k, "rollback") == 0) {
            u->rollback = strcmp(val, "api") == 0 ? UPGRADE_BACK_API
                          : UPGRADE_BACK_BREACH;
        } else if (strcmp(k, "zone") == 0) {
            snprintf(u->zone, sizeof(u->zone), "%.63s", val);
        } else if (strcmp(k, "ids") == 0) {
            u->ids = calloc(12, sizeof(*u->ids));
            for (id = strtok_r(val, ",", &save); id;
                 id = strtok_r(NULL, ",", &save))
            {
                snprintf(u->ids[u->nids++], sizeof(*u->ids), "%s", id);
            }
            qsort(u->ids, u->nids, sizeof(*u->ids), id_cmp);
        } else {
            fail_msg("record spec: unknown key %s", k);
        }
    }
}

static void
pool_for(const case_t *c)
{
    static const char *const zn[] = { "z1", "z2", "z3" };
    int                      z, k;

    memset(&pool, 0, sizeof(pool));
    pool.name = (char *) "web";
    pool.nzones = c->nzones ? c->nzones : 1;
    for (z = 0; z < pool.nzones; z++) {
        pool.zones[z].name = (char *) zn[z];
        pool.zones[z].host0 = pool.nhosts;
        pool.zones[z].nhosts = c->hosts[z] ? c->hosts[z] : 1;
        for (k = 0; k < pool.zones[z].nhosts; k++) {
            host_config_t *h = &pool.hosts[pool.nhosts++];

            h->uri = (char *) "test:///default";
            h->zone = z;
            snprintf(h->name, sizeof(h->name), "%s-%d", zn[z], k + 1);
        }
    }
    pool.ntemplates = 1;
    pool.templates[0].name = (char *) "";
    pool.templates[0].version = (char *) "2";
    pool.templates[0].weight = 1;
    pool.addr_mode = ADDR_STATIC;
    pool.net = (127U << 24) | (1U << 8);
    pool.prefix_len = c->cidr ? 30 : 24;
    pool.port = 8080;
    pool.readiness_tcp = 1;
    pool.health_grace_ms = c->grace_s < 0 ? 0
                           : (uint64_t) (c->grace_s ? c->grace_s : 60) * S;
    pool.drain_timeout_ms = c->drain_timeout_s < 0 ? 0
        : (uint64_t) (c->drain_timeout_s ? c->drain_timeout_s : 30) * S;
    pool.gateway_ttl_ms = (uint64_t) c->gateway_ttl_s * S;
    pool.shutdown_timeout_ms = (uint64_t) c->shutdown_s * S;
    pool.repair_enabled = !c->repair_off;
    pool.repair_grace_ms = (uint64_t) (c->repair_grace_s ? c->repair_grace_s
                                                         : 10) * S;
    pool.repair_action = c->repair_action;
    pool.repair_max_percent = 5;
    pool.repair_max_failures = c->max_failures ? c->max_failures : 5;
    pool.hook_launch.on = c->launch_s > 0;
    pool.hook_launch.timeout_ms = (uint64_t) c->launch_s * S;
    pool.hook_launch.abandon = !c->launch_continue;
    pool.hook_terminate.on = c->terminate_s > 0;
    pool.hook_terminate.timeout_ms = (uint64_t) c->terminate_s * S;
    pool.hook_terminate.abandon = c->terminate_abandon;
    pool.scale_in = c->policy;
    pool.cap_min = 0;
    pool.cap_max = c->cap_max ? c->cap_max : SCALER_CAPACITY_MAX;
    upgrade_for(c->upgrade);
    pool.zone_failover_ms = 300 * S;
    pool.warm.size = c->warm_size;
    pool.warm.state = c->warm_state;
    pool.warm.reuse = c->warm_reuse;
    pool.warm.wake_timeout_ms = 10 * S;
}

static int
zone_of(const char *name)
{
    int  z;

    for (z = 0; z < pool.nzones; z++) {
        if (strcmp(pool.zones[z].name, name) == 0) {
            return z;
        }
    }
    return -1;
}

/* 1 when word is one of the space-separated words of list */
static int
word_in(const char *list, const char *word)
{
    size_t       n = strlen(word);
    const char  *p = list;

    while (p != NULL && (p = strstr(p, word)) != NULL) {
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ')) {
            return 1;
        }
        p += n;
    }
    return 0;
}

static int
host_of(const char *name)
{
    int  h;

    for (h = 0; h < pool.nhosts; h++) {
        if (strcmp(pool.hosts[h].name, name) == 0) {
            return h;
        }
    }
    return -1;
}

static int
member_cmp(const void *a, const void *b)
{
    return strcmp(((const obs_member_t *) a)->id,
                  ((const obs_member_t *) b)->id);
}

static obs_member_t *
member_add(observation_t *obs, const char *id)
{
    obs_member_t  *m = &obs->members[obs->nmembers++];

    memset(m, 0, sizeof(*m));
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->inst = -1;
    m->zone = -1;
    m->host = -1;
    m->weight = 1;
    return m;
}

/* the observation a row describes */
static void
observation_for(const case_t *c, observation_t *obs)
{
    const ispec_t   *is;
    obs_instance_t  *o;
    obs_member_t    *m;
    char             id[64], zone[16], addr[80];
    int              i, k, n;

    memset(obs, 0, sizeof(*obs));
    obs->now = NOW;
    obs->nzones = pool.nzones;
    obs->nhosts = pool.nhosts;
    for (i = 0; i < pool.nhosts; i++) {
        const char *zname = pool.zones[pool.hosts[i].zone].name;

        /* "z2" downs every host of z2; "z1-2" only that one */
        obs->host_up[i] = !word_in(c->down, zname)
                          && !word_in(c->down, pool.hosts[i].name);
        obs->host_free[i] = c->free_mib[i] << 20;
        obs->host_down_since[i] = obs->host_up[i] ? 0
                                  : NOW - (uint64_t) c->down_s * S;
    }
    for (i = 0; i < pool.nzones; i++) {
        obs->zone_up[i] = 1;
        for (k = 0; k < pool.zones[i].nhosts; k++) {
            obs->zone_up[i] &= obs->host_up[pool.zones[i].host0 + k];
        }
    }
    obs->redis_ok = !c->redis_down;
    obs->drains_ok = 1;
    obs->protection_ok = !c->protection_unknown;
    obs->repair_ok = 1;
    obs->repair.suspended = c->suspended;
    obs->repair.failures = (unsigned) c->failures;
    obs->repair.since = c->suspended ? NOW - 100 * S : 0;
    obs->repair.retry = c->retry_s ? NOW + (uint64_t) c->retry_s * S : 0;
    obs->reports_ok = !c->reports_unknown;
    obs->seq = c->seq;
    obs->inst = calloc(12, sizeof(*obs->inst));
    obs->members = calloc(16, sizeof(*obs->members));
    obs->reports = calloc(36, sizeof(*obs->reports));
    obs->gateways = calloc(3, sizeof(*obs->gateways));
    obs->ngateways = c->ngw ? c->ngw : 3;
    for (i = 0; i < 3; i++) {
        snprintf(obs->gateways[i].name, sizeof(obs->gateways[i].name),
                 "gw%d", i + 1);
        obs->gateways[i].read = c->gw_quiet_s[i] == 0;
        obs->gateways[i].seen = NOW - (uint64_t) c->gw_quiet_s[i] * S;
        obs->gateways[i].at = c->gw_quiet_s[i] ? 0 : NOW - S;
        obs->gateways[i].ttl_ms = (uint64_t) c->gw_ttl_s[i] * S;
    }
    /* the pool's latest model on every host, and the upgrade's previous
       one */
    for (i = 0; i < pool.nhosts; i++) {
        snprintf(obs->latest[0][i].version, sizeof(obs->latest[0][i].version),
                 "%s", c->latest ? c->latest : "1");
        snprintf(obs->latest[0][i].image, sizeof(obs->latest[0][i].image),
                 "%s", c->latest_image ? c->latest_image : "");
        snprintf(obs->latest[0][i].digest,
                 sizeof(obs->latest[0][i].digest), "%s",
                 c->latest_digest ? c->latest_digest : "");
    }
    snprintf(obs->images, sizeof(obs->images), "%s",
             c->images ? c->images : "");
    record_for(c, obs);
    if (obs->upgrade.from[0] && !c->no_previous) {
        obs->previous_ok = 1;
        for (i = 0; i < pool.nhosts; i++) {
            snprintf(obs->previous[0][i].version,
                     sizeof(obs->previous[0][i].version), "%.*s",
                     (int) strcspn(obs->upgrade.from, ":"),
                     obs->upgrade.from);
        }
    }
    for (i = 0; i < 12 && c->inst[i].id; i++) {
        is = &c->inst[i];
        o = &obs->inst[obs->ninst++];
        o->member = -1;
        snprintf(o->in.id, sizeof(o->in.id), "%s", is->id);
        o->in.zone = is->zone;
        o->in.host = pool.zones[is->zone].host0 + is->host;
        o->in.seq = strtol(strrchr(is->id, '-') + 1, NULL, 10);
        if (is->address) {
            snprintf(o->in.address, sizeof(o->in.address), "%s",
                     is->address);
        } else {
            snprintf(o->in.address, sizeof(o->in.address),
                     "127.0.1.%ld:8080", o->in.seq);
        }
        snprintf(o->in.model.version, sizeof(o->in.model.version), "%s",
                 is->version ? is->version : "1");
        snprintf(o->in.model.image, sizeof(o->in.model.image), "%s",
                 is->image ? is->image : "");
        snprintf(o->in.model.digest, sizeof(o->in.model.digest), "%s",
                 is->digest ? is->digest : "");
        o->in.seen = NOW - (uint64_t) is->age_s * S;
        o->in.model.created = is->created_s
                              ? NOW - (uint64_t) is->created_s * S : 0;
        o->listed = obs->host_up[o->in.host];
        o->in.latest = !is->outdated;
        o->in.origin = is->manual ? ORIGIN_MANUAL : ORIGIN_SCALED;
        o->in.warm = is->warm != NULL;
        o->in.power = is->warm == NULL ? POWER_RUNNING
                      : strcmp(is->warm, "paused") == 0 ? POWER_PAUSED
                      : strcmp(is->warm, "saved") == 0 ? POWER_SAVED
                      : POWER_RUNNING;
        o->in.lost = is->lost;
        o->in.asked = is->asked;
        o->protection = c->protection_unknown ? PROTECT_ALL : is->protect;
        o->in.down_since = is->down_s ? NOW - (uint64_t) is->down_s * S : 0;
        o->in.repair = is->repair;
        o->in.repair_since = is->repair_s ? NOW - (uint64_t) is->repair_s * S
                                          : 0;
        snprintf(o->in.repair_of, sizeof(o->in.repair_of), "%s",
                 is->repair_of ? is->repair_of : "");
        o->in.hook = is->hook;
        o->in.hook_since = is->hook_s ? NOW - (uint64_t) is->hook_s * S : 0;
        o->in.hook_beat = is->beat_s ? NOW - (uint64_t) is->beat_s * S : 0;
        o->in.parked = is->parked;
        o->in.reuse = is->reuse;
        o->off = is->off;
        o->in.stop_since = is->stop_s ? NOW - (uint64_t) is->stop_s * S : 0;
        o->in.state = INST_RUNNING;     /* as last known */
        if (is->drain_s) {
            o->drain_since = NOW - (uint64_t) is->drain_s * S;
        }
        if (is->ready == NULL) {
            o->ready = READY_UNKNOWN;
        } else if (strcmp(is->ready, "yes") == 0) {
            o->ready = READY_YES;
        } else {
            o->ready = READY_NO;
            snprintf(o->why, sizeof(o->why), "%s", is->ready);
        }
        o->in.report0 = obs->nreports;
        for (k = 0; is->health && is->nreports == 0 && k < obs->ngateways;
             k++)
        {
            obs->reports[obs->nreports].gateway = k;
            obs->reports[obs->nreports].state = strcmp(is->health, "up") == 0
                ? SCALESET_HEALTH_UP : SCALESET_HEALTH_DOWN;
            obs->reports[obs->nreports].checked = NOW - S;
            obs->reports[obs->nreports].at = NOW - S;
            if (obs->reports[obs->nreports].at < obs->gateways[k].at) {
                obs->gateways[k].at = obs->reports[obs->nreports].at;
            }
            obs->nreports++;
            o->in.nreports++;
        }
        for (k = 0; k < is->nreports; k++) {
            if (is->conns[k] == NONE || c->gw_quiet_s[k]) {
                continue;
            }
            obs->reports[obs->nreports].gateway = k;
            obs->reports[obs->nreports].state =
                is->conns[k] == DOWN ? SCALESET_HEALTH_DOWN
                : is->health == NULL ? SCALESET_HEALTH_UP
                : strcmp(is->health, "down") == 0
                  || (strcmp(is->health, "mixed") == 0 && k == 0)
                ? SCALESET_HEALTH_DOWN : SCALESET_HEALTH_UP;
            obs->reports[obs->nreports].conns = is->conns[k] == HUGE
                ? UINT64_MAX : is->conns[k] == DOWN ? 0
                : (uint64_t) is->conns[k];
            obs->reports[obs->nreports].checked = NOW - S;
            obs->reports[obs->nreports].at = NOW - (uint64_t)
                (is->report_age_s[k] ? is->report_age_s[k] : 1) * S;
            if (obs->reports[obs->nreports].at < obs->gateways[k].at) {
                obs->gateways[k].at = obs->reports[obs->nreports].at;
            }
            obs->nreports++;
            o->in.nreports++;
        }
        if (strcmp(is->state, "booting") == 0) {
            continue;
        }
        m = member_add(obs, is->id);
        if (strcmp(is->state, "bad") == 0) {
            continue;
        }
        m->valid = 1;
        m->zone = is->zone;
        m->host = pool.zones[is->zone].nhosts > 1 && !is->record_nohost
                  ? o->in.host : -1;
        snprintf(m->address, sizeof(m->address), "%s", o->in.address);
        snprintf(m->version, sizeof(m->version), "%s",
                 is->record_version ? is->record_version : o->in.model.version);
        m->flags = strcmp(is->state, "draining") == 0
                   || strcmp(is->state, "stopping") == 0
                   || strcmp(is->state, "standby") == 0
                   ? SCALESET_MEMBER_DRAIN : 0;
        o->standby = strcmp(is->state, "standby") == 0;
    }
    for (i = 0; i < 4 && c->strays[i]; i++) {
        addr[0] = '\0';
        n = sscanf(c->strays[i], "%63s %15s %79s", id, zone, addr);
        m = member_add(obs, id);
        if (n >= 2 && strcmp(zone, "bad") == 0) {
            continue;
        }
        m->valid = 1;
        m->zone = zone_of(zone);
        if (m->zone < 0 && (m->host = host_of(zone)) >= 0) {
            m->zone = pool.hosts[m->host].zone;     /* "z1-2": a host */
        }
        snprintf(m->address, sizeof(m->address), "%s",
                 addr[0] ? addr : "127.0.2.1:8080");
    }
    for (i = 0; i < 4 && c->busy[i]; i++) {
        obs_busy_t *b;
        char        kind[16];

        obs->busy = realloc(obs->busy, (i + 1) * sizeof(*obs->busy));
        b = &obs->busy[obs->nbusy++];
        memset(b, 0, sizeof(*b));
        kind[0] = zone[0] = addr[0] = '\0';
        (void) sscanf(c->busy[i], "%15s %63s %15s %79s", kind, id, zone,
                      addr);
        b->create = strcmp(kind, "create") == 0;
        snprintf(b->id, sizeof(b->id), "%s", id);
        b->zone = b->create ? zone_of(zone) : 0;
        if (b->zone >= 0) {
            b->host = b->create ? pool.zones[b->zone].host0 : 0;
        } else if ((b->host = host_of(zone)) >= 0) {
            b->zone = pool.hosts[b->host].zone; /* "z1-2": a host */
        }
        for (k = 0; !b->create && k < obs->ninst; k++) {
            if (strcmp(obs->inst[k].in.id, id) == 0) {
                b->zone = obs->inst[k].in.zone; /* a park: its instance's */
                b->host = obs->inst[k].in.host;
            }
        }
        b->seq = strtol(strrchr(id, '-') + 1, NULL, 10);
        snprintf(b->address, sizeof(b->address), "%s", addr);
    }
    qsort(obs->members, obs->nmembers, sizeof(*obs->members), member_cmp);
    for (k = 0; k < obs->nmembers; k++) {
        for (i = 0; i < obs->ninst; i++) {
            if (strcmp(obs->inst[i].in.id, obs->members[k].id) == 0) {
                obs->members[k].inst = i;
                obs->inst[i].member = k;
            }
        }
    }
}

/* an action as the rows write it: creations with the version they get,
   the upgrade record's write as "record STATE [BATCH/BATCHES IDS]" */
static void
render(const plan_t *pl, const action_t *a, char *buf, size_t size)
{
    const upgrade_t  *u = &pl->upgrade;
    size_t            len;
    int               k;

    if (a->kind == ACT_CREATE) {
        snprintf(buf, size, "%s %s %s %s %s v%s (%s)",
                 act_kind_name(a->kind), a->id,
                 pool.zones[a->zone].nhosts > 1 ? pool.hosts[a->host].name
                                                : pool.zones[a->zone].name,
                 a->address, a->rule, a->model.version, a->reason);
    } else if (a->kind == ACT_UPGRADE) {
        len = (size_t) snprintf(buf, size, "record %s",
                                upgrade_state_name(u->state));
        if (u->nids > 0) {
            len += (size_t) snprintf(buf + len, size - len, " %ld/%ld",
                                     u->batch, u->batches);
        }
        for (k = 0; k < u->nids; k++) {
            len += (size_t) snprintf(buf + len, size - len, " %s",
                                     u->ids[k]);
        }
        snprintf(buf + len, size - len, " (%s)", pl->upgrade_log);
    } else {
        /* a wake into the launch hook: "wake ID RULE +hook (...)" */
        snprintf(buf, size, "%s %s %s%s (%s)", act_kind_name(a->kind), a->id,
                 a->rule,
                 a->kind == ACT_WAKE && a->hook == HOOK_LAUNCH ? " +hook" : "",
                 a->reason);
    }
}

/* want is got, or a prefix of it that ends at a word's end (or
   anywhere in the reason, once it is open) */
static int
matches(const char *want, const char *got)
{
    size_t  n = strlen(want);

    return strncmp(want, got, n) == 0
           && (got[n] == '\0' || got[n] == ' ' || strchr(want, '(') != NULL);
}

static void
test_table(void **state)
{
    const case_t   *c;
    observation_t   obs;
    plan_input_t    in;
    plan_t          pl;
    char            got[1024];
    size_t          i;
    int             k, nwant, nnotes, fail = 0;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        c = &cases[i];
        pool_for(c);
        observation_for(c, &obs);
        in.cf = &pool;
        in.obs = &obs;
        in.capacity = c->capacity;
        in.now = NOW;
        in.interval_ms = 1000;
        plan(&in, &pl);
        for (nwant = 0; nwant < 16 && c->want[nwant]; nwant++) {
            /* counted */
        }
        for (nnotes = 0; nnotes < 4 && c->notes[nnotes]; nnotes++) {
            /* counted */
        }
        for (k = 0; k < pl.nact || k < nwant; k++) {
            if (k < pl.nact) {
                render(&pl, &pl.act[k], got, sizeof(got));
            }
            if (k >= pl.nact || k >= nwant || !matches(c->want[k], got)) {
                print_message("# %s\n#   action %d: want \"%s\"\n"
                              "#   got \"%s\"\n", c->name, k,
                              k < nwant ? c->want[k] : "(none)",
                              k < pl.nact ? got : "(none)");
                fail = 1;
            }
        }
        for (k = 0; k < pl.nnote || k < nnotes; k++) {
            if (k >= pl.nnote || k >= nnotes
                || strncmp(pl.note[k].text, c->notes[k],
                           strlen(c->notes[k])) != 0)
            {
                print_message("# %s\n#   note %d: want \"%s\" got \"%s\"\n",
                              c->name, k, k < nnotes ? c->notes[k] : "",
                              k < pl.nnote ? pl.note[k].text : "");
                fail = 1;
            }
        }
        if ((c->want_failures && (int) pl.repair.failures
                                 != c->want_failures - 1)
            || (c->want_suspended && pl.repair.suspended
                                     != c->want_suspended - 1)
            || (c->want_repairing && pl.repairing != c->want_repairing - 1))
        {
            print_message("# %s\n#   repair: failures %u suspended %d "
                          "under way %d\n", c->name, pl.repair.failures,
                          pl.repair.suspended, pl.repairing);
            fail = 1;
        }
        if (pl.protected_above != c->above) {
            print_message("# %s\n#   protected_above: want %d got %d\n",
                          c->name, c->above, pl.protected_above);
            fail = 1;
        }
        plan_release(&pl);
        obs_release(&obs);
    }
    assert_int_equal(fail, 0);
}

/* a pure function: the same input gives the same plan, and the input is
   not changed */
static void
test_pure(void **state)
{
    observation_t   obs;
    obs_instance_t  copy[12];
    plan_input_t    in;
    plan_t          a, b;
    size_t          i;
    int             k;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pool_for(&cases[i]);
        observation_for(&cases[i], &obs);
        memcpy(copy, obs.inst, obs.ninst * sizeof(*copy));
        in.cf = &pool;
        in.obs = &obs;
        in.capacity = cases[i].capacity;
        in.now = NOW;
        plan(&in, &a);
        plan(&in, &b);
        assert_int_equal(a.nact, b.nact);
        for (k = 0; k < a.nact; k++) {
            assert_memory_equal(&a.act[k], &b.act[k], sizeof(a.act[k]));
        }
        assert_memory_equal(copy, obs.inst, obs.ninst * sizeof(*copy));
        plan_release(&a);
        plan_release(&b);
        obs_release(&obs);
    }
}

/* one step on its own, after plan_begin(): what a later step (an
   upgrade's surge) hands the capacity step, and the model a creation
   carries */
static void
test_step_capacity(void **state)
{
    static const case_t  c = {
        .name = "three running, capacity 2", .capacity = 2,
        .inst = { { "web-000001", 0, "running" },
                  { "web-000002", 0, "running" },
                  { "web-000003", 0, "running" } } };
    observation_t  obs;
    plan_input_t   in;
    plan_t         pl;

    (void) state;
    pool_for(&c);
    observation_for(&c, &obs);
    in.cf = &pool;
    in.obs = &obs;
    in.capacity = 2;
    in.now = NOW;

    plan_begin(&in, &pl);
    pl.surge = 1;                   /* one kept above the capacity */
    plan_capacity(&in, &pl);
    assert_int_equal(pl.nact, 0);
    plan_release(&pl);

    plan_begin(&in, &pl);
    plan_capacity(&in, &pl);        /* no surge: one drains */
    assert_int_equal(pl.nact, 1);
    assert_int_equal(pl.act[0].kind, ACT_DRAIN);
    assert_string_equal(pl.act[0].id, "web-000003");
    assert_int_equal(pl.view[2].state, INST_DRAINING);
    assert_int_equal(pl.view[2].claimed, 0);
    assert_false(plan_free(&pl, 2));
    plan_release(&pl);

    /* a creation is made from its template's latest model on its host */
    snprintf(obs.latest[0][0].version, sizeof(obs.latest[0][0].version), "2");
    snprintf(obs.latest[0][0].digest, sizeof(obs.latest[0][0].digest), "t2");
    in.capacity = 4;
    plan_begin(&in, &pl);
    plan_capacity(&in, &pl);
    assert_int_equal(pl.nact, 1);
    assert_int_equal(pl.act[0].kind, ACT_CREATE);
    assert_string_equal(pl.act[0].model.version, "2");
    assert_string_equal(pl.act[0].model.digest, "t2");
    assert_int_equal(pl.act[0].seq, 4);
    plan_release(&pl);
    obs_release(&obs);
}

/* 30 instances, 10 of them down: at most 2 repairs at once (5 % of 30,
   rounded up), never more than the capacity */
static void
test_repair_budget(void **state)
{
    observation_t   obs;
    plan_input_t    in;
    plan_t          pl;
    case_t          c;
    int             i, k, n;

    (void) state;
    memset(&c, 0, sizeof(c));
    c.capacity = 30;
    pool_for(&c);
    observation_for(&c, &obs);
    obs.inst = realloc(obs.inst, 30 * sizeof(*obs.inst));
    obs.members = realloc(obs.members, 30 * sizeof(*obs.members));
    obs.reports = realloc(obs.reports, 30 * sizeof(*obs.reports));
    memset(obs.inst, 0, 30 * sizeof(*obs.inst));
    memset(obs.members, 0, 30 * sizeof(*obs.members));
    obs.ninst = obs.nmembers = obs.nreports = 30;
    obs.ngateways = 1;
    pool.prefix_len = 16;
    for (i = 0; i < 30; i++) {
        snprintf(obs.inst[i].in.id, sizeof(obs.inst[i].in.id), "web-%06d",
                 i + 1);
        snprintf(obs.inst[i].in.address, sizeof(obs.inst[i].in.address),
                 "127.0.1.%d:8080", i + 1);
        obs.inst[i].in.seq = i + 1;
        obs.inst[i].listed = 1;
        obs.inst[i].member = i;
        obs.inst[i].in.report0 = i;
        obs.inst[i].in.nreports = 1;
        obs.inst[i].in.down_since = i < 10 ? NOW - 100 * S : 0;
        snprintf(obs.members[i].id, sizeof(obs.members[i].id), "%s",
                 obs.inst[i].in.id);
        obs.members[i].valid = 1;
        obs.members[i].inst = i;
        obs.members[i].zone = 0;
        snprintf(obs.members[i].address, sizeof(obs.members[i].address),
                 "%s", obs.inst[i].in.address);
        obs.reports[i].gateway = 0;
        obs.reports[i].at = NOW - S;
        obs.reports[i].state = i < 10 ? SCALESET_HEALTH_DOWN
                                      : SCALESET_HEALTH_UP;
    }
    in.cf = &pool;
    in.obs = &obs;
    in.capacity = 30;
    in.now = NOW;
    in.interval_ms = 1000;
    assert_int_equal(plan_repair_most(&pool, 30), 2);
    assert_int_equal(plan_repair_most(&pool, 19), 1);
    assert_int_equal(plan_repair_most(&pool, 1000), 50);
    assert_int_equal(plan_repair_most(&pool, 0), 0);

    /* the first pass: two of the ten, each replaced */
    plan(&in, &pl);
    for (k = n = 0; k < pl.nact; k++) {
        n += pl.act[k].kind == ACT_DRAIN
             && strcmp(pl.act[k].rule, "repair") == 0;
    }
    assert_int_equal(n, 2);
    assert_int_equal(pl.repairing, 2);
    assert_int_equal(pl.nreplacing, 2);
    plan_release(&pl);

    /* two replacements booting: no third repair */
    obs.inst[0].in.repair = IREP_REPLACEMENT;
    obs.inst[0].in.repair_since = NOW - S;
    obs.inst[1].in.repair = IREP_RESTARTED;
    obs.inst[1].in.repair_since = NOW - S;
    plan(&in, &pl);
    for (k = n = 0; k < pl.nact; k++) {
        n += strcmp(pl.act[k].rule, "repair") == 0;
    }
    assert_int_equal(n, 0);
    assert_non_null(strstr(pl.view[5].hold, "2 under way, at most 2"));
    plan_release(&pl);
    obs_release(&obs);
}

/* the circuit breaker's arithmetic */
static void
test_repair_failed(void **state)
{
    repair_state_t  rs;
    int             i;

    (void) state;
    memset(&rs, 0, sizeof(rs));
    memset(&pool, 0, sizeof(pool));
    pool.repair_max_failures = 3;
    /* one failure: replaced at once; then interval x 2^(failures - 2) */
    plan_repair_failed(&rs, &pool, NOW, 100, "one");
    assert_int_equal(rs.failures, 1);
    assert_false(rs.suspended);
    assert_int_equal(rs.retry, 0);
    plan_repair_failed(&rs, &pool, NOW, 100, "two");
    assert_int_equal(rs.retry, NOW + 100);
    plan_repair_failed(&rs, &pool, NOW, 100, "three");
    assert_true(rs.suspended);
    assert_int_equal(rs.since, NOW);
    assert_string_equal(rs.reason, "three");
    assert_int_equal(rs.retry, NOW + 200);
    for (i = 0; i < 20; i++) {
        plan_repair_failed(&rs, &pool, NOW + 1, 100, "more");
    }
    assert_int_equal(rs.since, NOW);        /* suspended once */
    assert_int_equal(rs.retry, NOW + 1 + 128 * 100);   /* at most 128 x */
}

/* the order the sub-planners run in is part of the specification */
static void
test_steps(void **state)
{
    static const char *const want[] = { "requests", "hand", "strays",
        "repair", "terminate", "warm", "drain", "upgrade", "failover",
        "rebalance", "capacity", "warm_fill", "launch", "register" };
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_non_null(plan_steps[i].run);
        assert_string_equal(plan_steps[i].name, want[i]);
    }
    assert_null(plan_steps[i].run);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_pure),
        cmocka_unit_test(test_step_capacity),
        cmocka_unit_test(test_repair_budget),
        cmocka_unit_test(test_repair_failed),
        cmocka_unit_test(test_steps),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
