/*
 * main.c: scaleset-scaler.  One libevent loop: reconcile timer, HTTP API,
 * signals (HUP reload, TERM/INT stop after the current step), sd_notify
 * (the watchdog: watchdog.c), the lease's changes (ha.c, through a pipe).
 */

#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "scaler.h"

static struct event_base *base;
static struct event      *tick;
static struct event      *ha_ev;
static int                ha_pipe[2] = { -1, -1 };
static scaler_t           sc;
static const char        *conf_file;

static void on_tick(evutil_socket_t fd, short ev, void *arg);
static void on_signal(evutil_socket_t sig, short ev, void *arg);
static void arm(void);
static void kick(void);

/* the lease changed hands (ha.c): a pass at once, in its new role */
static void
on_ha(evutil_socket_t fd, short ev, void *arg)
{
    char buf[64];

    (void) ev;
    (void) arg;
    while (read(fd, buf, sizeof(buf)) > 0) {
        /* drain */
    }
    reconcile_kick(&sc);
}

static void
ha_begin(const scaler_config_t *cf, redis_topo_t *topo)
{
    if (ha_start(cf, topo, ha_pipe[1]) != 0) {
        exit(1);
    }
}

/* a reconcile pass soon (an autoscale decision changed the capacity) */
static void
kick(void)
{
    reconcile_kick(&sc);
}

/* on the loop after every pass of a pool (the watchdog is fed by its
   own timer, watchdog.c, not by the passes) */
static void
on_pass(scaler_t *s, unsigned long passes)
{
    static int ready;

    watchdog_status(s);
    if (s->npools > 0) {
        reconcile_lock(s);
        history_sample(s);
        reconcile_unlock(s);
    }
    api_events_wake(); /* the events it made */
    if (!ready && (passes > 0 || s->npools == 0)) {
        sd_notify(0, "READY=1"); /* every pool had its first pass */
        ready = 1;
    }
}

static void
arm(void)
{
    struct timeval tv;

    tv.tv_sec = sc.cf->interval_ms / 1000;
    tv.tv_usec = (sc.cf->interval_ms % 1000) * 1000;
    evtimer_add(tick, &tv);
}

static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
    (void) fd;
    (void) ev;
    (void) arg;
    reconcile_kick(&sc);
    if (ha_writable()) {
        autoscaler_tick(&sc); /* the leader's decisions only */
    }
    arm();
}

static void
on_signal(evutil_socket_t sig, short ev, void *arg)
{
    scaler_config_t *ncf;
    char             err[512];

    (void) ev;
    (void) arg;
    if (sig == SIGHUP) {
        sd_notify(0, "RELOADING=1");
        ncf = config_load(conf_file, err, sizeof(err));
        if (ncf == NULL) {
            slog_err(NULL, NULL,
                     "reload rejected, keeping the running "
                     "configuration: %s",
                     err);
        } else {
            /* swap: the new state opens its connections before the old
               ones close (test:///default lives as long as one is open)
               and adopts the domains and members on its first pass */
            scaler_t          ns;
            registry_async_t *old = NULL;
            /* the API's server (and the requests waiting for Redis on it)
               stays unless it is to listen elsewhere */
            int relisten = ncf->api_port != sc.cf->api_port
                           || strcmp(ncf->api_host, sc.cf->api_host) != 0;

            int redis_same = config_redis_same(&ncf->redis, &sc.cf->redis)
                             && strcmp(ncf->prefix, sc.cf->prefix) == 0;
            int ha_same =
                redis_same && ncf->ha_lease_ms == sc.cf->ha_lease_ms
                && (ncf->ha_advertise == NULL
                        ? sc.cf->ha_advertise == NULL
                        : sc.cf->ha_advertise != NULL
                              && strcmp(ncf->ha_advertise, sc.cf->ha_advertise)
                                     == 0)
                && (ncf->ha_advertise != NULL || !relisten);
            redis_topo_t *old_topo = NULL;

            memset(&ns, 0, sizeof(ns));
            /* the loop's Redis writes in flight finish on the connection
               they started on unless Redis moved */
            if (redis_same) {
                ns.topo = sc.topo;
                ns.areg = sc.areg;
            } else {
                old_topo = sc.topo;
                ns.topo = redis_topo_new();
                old = sc.areg;
                ns.areg = registry_async_open(base, &ncf->redis, ns.topo,
                                              ncf->prefix);
            }
            reconcile_init(&ns, ncf, &sc);
            autoscaler_reload(&ns, &sc); /* before the old config goes */
            if (relisten) {
                api_stop();
            }
            reconcile_stop(&sc);             /* the current pass ends first */
            reconcile_carry_calls(&ns, &sc); /* then its background calls */
            if (!ha_same) {
                /* another Redis or lease: given up (released), taken
                   again on the new terms */
                ha_stop();
            }
            reconcile_free(&sc);
            config_free(sc.cf);
            sc = ns;
            registry_async_close(old); /* its writes fail (503) */
            redis_topo_free(old_topo); /* after its users */
            if (!ha_same) {
                ha_begin(sc.cf, sc.topo);
            }
            if ((relisten && api_start(base, &sc) != 0)
                || reconcile_start(&sc, base, on_pass) != 0)
            {
                exit(1);
            }
            if (!relisten) {
                api_reconfigure();
            }
            slog_set_level(sc.cf->log_level);
            slog(NULL, NULL, "configuration reloaded");
        }
        sd_notify(0, "READY=1");
        return;
    }
    slog(NULL, NULL, "signal %d: stopping", (int) sig);
    sd_notify(0, "STOPPING=1");
    event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
    scaler_config_t *cf;
    struct event    *sigs[3];
    char             err[512];
    int              opt, test = 0, i;
    int              signums[3] = { SIGHUP, SIGTERM, SIGINT };

    conf_file = "/etc/scaleset/scaler.yaml";
    while ((opt = getopt(argc, argv, "c:th")) != -1) {
        switch (opt) {
        case 'c':
            conf_file = optarg;
            break;
        case 't':
            test = 1;
            break;
        default:
            fprintf(stderr, "usage: scaleset-scaler [-t] [-c FILE]\n");
            return 2;
        }
    }
    setvbuf(stderr, NULL, _IOLBF, 0);
    slog_init();
    cf = config_load(conf_file, err, sizeof(err));
    if (cf == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    slog_set_level(cf->log_level);
    if (test) {
        printf("%s: configuration ok\n", conf_file);
        config_free(cf);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    virt_xml_init();
    if (virt_init() != 0) {
        slog_warn(NULL, NULL,
                  "libvirt's event loop could not start: no "
                  "keepalive");
    }
    if (seed_init() != 0) {
        slog_warn(NULL, NULL,
                  "libisofs did not initialise: no NoCloud "
                  "seeds");
    }
    srand((unsigned) getpid() ^ (unsigned) clock_mono_ms());
    base = event_base_new();
    if (pipe2(ha_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        slog_err(NULL, NULL, "no pipe: %s", strerror(errno));
        return 1;
    }
    ha_ev = event_new(base, ha_pipe[0], EV_READ | EV_PERSIST, on_ha, NULL);
    event_add(ha_ev, NULL);
    sc.topo = redis_topo_new();
    reconcile_init(&sc, cf, NULL);
    sc.areg = registry_async_open(base, &cf->redis, sc.topo, cf->prefix);
    ha_begin(cf, sc.topo);
    if (api_start(base, &sc) != 0) {
        return 1;
    }
    autoscaler_start(base, &sc, kick); /* curl's global init */
    events_start();
    for (i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(base, signums[i], on_signal, NULL);
        evsignal_add(sigs[i], NULL);
    }
    tick = evtimer_new(base, on_tick, NULL);
    slog(NULL, NULL, "listening on %s:%d, %d pools", cf->api_host, cf->api_port,
         cf->npools);
    if (reconcile_start(&sc, base, on_pass) != 0) {
        return 1;
    }
    autoscaler_tick(&sc);
    arm();
    watchdog_start(base, &sc);
    event_base_dispatch(base);

    watchdog_stop();
    api_stop();
    evtimer_del(tick);
    events_stop(); /* before curl's global cleanup */
    autoscaler_stop();
    registry_async_close(sc.areg); /* after its users */
    reconcile_stop(&sc);
    ha_stop(); /* after the last pass: released */
    event_free(ha_ev);
    close(ha_pipe[0]);
    close(ha_pipe[1]);
    events_free(); /* the passes are over */
    history_free();
    event_free(tick);
    for (i = 0; i < 3; i++) {
        event_free(sigs[i]);
    }
    reconcile_free(&sc);
    redis_topo_free(sc.topo);
    config_free(sc.cf);
    event_base_free(base);
    return 0;
}
