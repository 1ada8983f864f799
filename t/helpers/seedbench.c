/*
 * seedbench: what one instance's NoCloud seed costs (bench/seed.pl).
 *
 *   seedbench URI STORAGE_POOL N USER_DATA_FILE
 *
 * N times: the files rendered and checked (cloudinit.c), the image made
 * (seed.c, libisofs), then the volume created and written through the
 * connection (virt_vol.c: virStorageVolCreateXML + virStorageVolUpload;
 * the test driver's local write); each step timed.  The volumes are
 * deleted at the end.  Prints "render_us image_us volume_us bytes" as
 * medians, one line.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scaler.h"
#include "virt_vol.h"
#include "config_yaml.h"

static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
dcmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, n, sizeof(*v), dcmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
    cloud_init_config_t  ci;
    seed_file_t          files[CI_FILES];
    virConnectPtr        c;
    const char          *vals[TV_COUNT];
    unsigned char       *img;
    size_t               len = 0;
    double              *tr, *ti, *tv, t0;
    char                 id[64], path[4096], err[512];
    int                  n, i, nf;

    if (argc != 5 || (n = atoi(argv[3])) < 1) {
        fprintf(stderr, "usage: seedbench URI STORAGE_POOL N USER_DATA\n");
        return 2;
    }
    memset(&ci, 0, sizeof(ci));
    ci.user_data_path = argv[4];
    if ((ci.user_data = cf_read_file(argv[4])) == NULL) {
        perror(argv[4]);
        return 1;
    }
    ci.pool = argv[2];
    virt_xml_init();
    if (seed_init() != 0 || (c = virConnectOpen(argv[1])) == NULL) {
        fprintf(stderr, "seedbench: no libisofs or no connection to %s\n",
                argv[1]);
        return 1;
    }
    tr = calloc(n, sizeof(double));
    ti = calloc(n, sizeof(double));
    tv = calloc(n, sizeof(double));
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "bench-%06d", i + 1);
        if (vol_path(c, argv[2], id, VOL_SEED_SUFFIX, path, sizeof(path),
                     err, sizeof(err)) != 0)
        {
            fprintf(stderr, "seedbench: %s\n", err);
            return 1;
        }
        vals[TV_NAME] = id;
        vals[TV_UUID] = "6b1f3e1c-5a3a-4c55-9d1e-000000000001";
        vals[TV_MAC] = "52:54:00:00:00:01";
        vals[TV_ADDRESS] = "127.0.0.1";
        vals[TV_PORT] = "8080";
        vals[TV_VOLUME] = "";
        vals[TV_POOL] = "bench";
        vals[TV_ZONE] = "z1";
        vals[TV_VERSION] = "1";
        vals[TV_SEED] = path;
        vals[TV_TEMPLATE] = "";
        t0 = now_us();
        if (cloudinit_files(&ci, vals, files, &nf, err, sizeof(err)) != 0) {
            fprintf(stderr, "seedbench: %s\n", err);
            return 1;
        }
        tr[i] = now_us() - t0;
        t0 = now_us();
        if (seed_image(files, nf, &img, &len, err, sizeof(err)) != 0) {
            fprintf(stderr, "seedbench: %s\n", err);
            return 1;
        }
        ti[i] = now_us() - t0;
        cloudinit_files_free(files, nf);
        t0 = now_us();
        if (vol_seed_make(c, "bench", argv[2], id, path, img, len, err,
                          sizeof(err)) != 0)
        {
            fprintf(stderr, "seedbench: %s\n", err);
            return 1;
        }
        tv[i] = now_us() - t0;
        free(img);
    }
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "bench-%06d", i + 1);
        if (vol_path(c, argv[2], id, VOL_SEED_SUFFIX, path, sizeof(path),
                     err, sizeof(err)) == 0)
        {
            vol_delete_own(c, "bench", id, path, VOL_SEED_SUFFIX);
        }
    }
    printf("%.0f %.0f %.0f %zu\n", median(tr, n), median(ti, n),
           median(tv, n), len);
    virConnectClose(c);
    return 0;
}
