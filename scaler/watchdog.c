/*
 * watchdog.c: systemd's watchdog, fed by the event loop, and the passes
 * that run too long, reported.  The loop answers the API, runs autoscale
 * and reads the passes' results; it is what must stay alive, so a timer
 * on it sends WATCHDOG=1 (every second, or half of WATCHDOG_USEC when
 * that is shorter), whatever the passes do: a pass stuck on a host that
 * does not answer is not a reason to be killed.  It is a reason to be
 * told: a pass that has not ended slow_pass after it began is logged
 * once, counted (scaleset_scaler_slow_passes_total{pool}) and shown in
 * STATUS= until it ends; STATUS= also says, after a pass that changed
 * it, how each pool stands.
 */

#include <stdio.h>
#include <string.h>
#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "scaler.h"

static struct event *wd_timer;
static scaler_t     *wd_s;
static uint64_t      wd_tick_ms;
static int           wd_enabled; /* WATCHDOG_USEC set for us */

static void on_tick(evutil_socket_t fd, short ev, void *arg);

/* STATUS=: the lease's role (with ha), slow passes, then the first
   pools' instances; sent when it changed (systemd keeps the last one) */
void
watchdog_status(scaler_t *s)
{
    static char   last[512];
    char          status[512];
    size_t        n;
    uint64_t      now = clock_mono_ms();
    pool_state_t *ps;
    ha_status_t   ha;
    int           i;

    ha_status(&ha);
    n = (size_t) snprintf(status, sizeof(status), "STATUS=%s",
                          !ha.enabled ? ""
                          : ha.leader ? "leading; "
                                      : "standing by; ");
    reconcile_lock(s);
    for (i = 0; i < s->npools && n < sizeof(status); i++) {
        ps = &s->pools[i];
        if (ps->slow_reported && ps->pass_started) {
            n += (size_t) snprintf(
                status + n, sizeof(status) - n,
                "slow pass: %s running for %llu s; ", ps->cf->name,
                (unsigned long long) (now - ps->pass_started) / 1000);
        }
    }
    if (n < sizeof(status)) {
        n += (size_t) snprintf(status + n, sizeof(status) - n, "%d pools",
                               s->npools);
    }
    for (i = 0; i < s->npools && i < 4 && n < sizeof(status); i++) {
        ps = &s->pools[i];
        n += (size_t) snprintf(status + n, sizeof(status) - n,
                               "; %s: %d/%d running", ps->cf->name,
                               pool_actual(ps), ps->capacity);
    }
    reconcile_unlock(s);
    if (strcmp(status, last) != 0) {
        memcpy(last, status, sizeof(last));
        sd_notify(0, status);
    }
}

/* passes past slow_pass, reported once each; 1 when one was now */
static int
check_slow(scaler_t *s)
{
    uint64_t      now = clock_mono_ms();
    pool_state_t *ps;
    int           i, any = 0;

    reconcile_lock(s);
    for (i = 0; i < s->npools; i++) {
        ps = &s->pools[i];
        if (ps->pass_started == 0 || ps->slow_reported
            || now - ps->pass_started <= s->cf->slow_pass_ms)
        {
            continue;
        }
        ps->slow_reported = 1;
        ps->slow_passes++;
        any = 1;
        slog_warn(ps->cf->name, NULL,
                  "slow pass: running for %llu ms "
                  "(slow_pass %llu ms); reported, the scaler goes on",
                  (unsigned long long) (now - ps->pass_started),
                  (unsigned long long) s->cf->slow_pass_ms);
    }
    reconcile_unlock(s);
    return any;
}

static void
arm(void)
{
    struct timeval tv;

    tv.tv_sec = (time_t) (wd_tick_ms / 1000);
    tv.tv_usec = (suseconds_t) (wd_tick_ms % 1000) * 1000;
    evtimer_add(wd_timer, &tv);
}

static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
    (void) fd;
    (void) ev;
    (void) arg;
    if (wd_enabled) {
        sd_notify(0, "WATCHDOG=1");
    }
    if (check_slow(wd_s)) {
        watchdog_status(wd_s);
    }
    arm();
}

int
watchdog_start(struct event_base *base, scaler_t *s)
{
    uint64_t usec = 0;

    wd_s = s;
    wd_enabled = sd_watchdog_enabled(0, &usec) > 0;
    wd_tick_ms = 1000;
    if (wd_enabled && usec / 2000 < wd_tick_ms) {
        wd_tick_ms = usec / 2000 > 10 ? usec / 2000 : 10;
    }
    if ((wd_timer = evtimer_new(base, on_tick, NULL)) == NULL) {
        return -1;
    }
    if (wd_enabled) {
        sd_notify(0, "WATCHDOG=1");
    }
    arm();
    return 0;
}

void
watchdog_stop(void)
{
    if (wd_timer) {
        evtimer_del(wd_timer);
        event_free(wd_timer);
        wd_timer = NULL;
    }
}
