/*
 * domstats: the cost of one virConnectGetAllDomainStats call, for
 * bench/vm-metrics.pl.  One connection to URI; ROUNDS calls with the
 * stats groups GROUPS and the flags FLAGS (numbers, as in libvirt.h);
 * prints "records N calls K wall_us MEDIAN client_cpu_us MEAN params P"
 * (the median wall time of a call, the caller's CPU per call, the typed
 * parameters per record).
 *
 *   domstats URI GROUPS FLAGS ROUNDS
 */

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/resource.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

static int
cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

static double
now_us(clockid_t c)
{
    struct timespec  ts;

    clock_gettime(c, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
    virConnectPtr             c;
    virDomainStatsRecordPtr  *recs;
    double                   *wall, t0, cpu0, cpu1;
    long                      rounds, i;
    int                       n = 0, params = 0, j;

    if (argc != 5 || (rounds = atol(argv[4])) < 1) {
        fprintf(stderr, "usage: domstats URI GROUPS FLAGS ROUNDS\n");
        return 2;
    }
    if ((c = virConnectOpen(argv[1])) == NULL) {
        fprintf(stderr, "domstats: %s: %s\n", argv[1],
                virGetLastErrorMessage());
        return 1;
    }
    wall = calloc(rounds, sizeof(*wall));
    cpu0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
    for (i = 0; i < rounds; i++) {
        t0 = now_us(CLOCK_MONOTONIC);
        n = virConnectGetAllDomainStats(c, (unsigned) atol(argv[2]), &recs,
                                        (unsigned) atol(argv[3]));
        wall[i] = now_us(CLOCK_MONOTONIC) - t0;
        if (n < 0) {
            fprintf(stderr, "domstats: %s\n", virGetLastErrorMessage());
            return 1;
        }
        for (params = 0, j = 0; j < n; j++) {
            params += recs[j]->nparams;
        }
        virDomainStatsRecordListFree(recs);
    }
    cpu1 = now_us(CLOCK_PROCESS_CPUTIME_ID);
    qsort(wall, rounds, sizeof(*wall), cmp);
    printf("records %d calls %ld wall_us %.1f client_cpu_us %.1f params %d\n",
           n, rounds, wall[rounds / 2], (cpu1 - cpu0) / rounds,
           n ? params / n : 0);
    free(wall);
    virConnectClose(c);
    return 0;
}
