/*
 * virt_hold URI: holds one libvirt connection open until SIGTERM.  A
 * libvirtd serving the test driver (test+unix:///default?socket=...)
 * keeps its test:///default state only while a connection is open; the
 * tests that stop a scaler, or whose scaler loses its connection to a
 * SIGSTOPped daemon, hold one here so the daemon's domains survive.  No
 * event loop, so no keepalive: a stopped daemon does not close it.
 */

#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <libvirt/libvirt.h>

static volatile sig_atomic_t  stop;

static void
on_signal(int sig)
{
    (void) sig;
    stop = 1;
}

int
main(int argc, char **argv)
{
    virConnectPtr  c;

    if (argc != 2) {
        fprintf(stderr, "usage: virt_hold URI\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if ((c = virConnectOpen(argv[1])) == NULL) {
        fprintf(stderr, "virt_hold: %s: cannot connect\n", argv[1]);
        return 1;
    }
    printf("held %s\n", argv[1]);
    fflush(stdout);
    while (!stop) {
        pause();
    }
    virConnectClose(c);
    return 0;
}
