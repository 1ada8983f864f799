/*
 * The scaler's YAML configuration loader (scaler/config/config.c,
 * scaler/config/config_autoscale.c), fed through a memfd so that config_load()
 * reads a file as it does in production.  Files the configuration names
 * (template.domain, token_file, ...) are read by path: the seeds name
 * those under fuzz/data/, relative to the repo root.
 * Properties: a configuration is loaded and freed without a leak or a bad
 * access (LeakSanitizer, ASan); a refused one has a message
 * "FILE:LINE: reason", FILE the configuration or a file it names (a
 * cloud_init file is refused at its own line); what is loaded has valid, distinct pool names, each
 * with a zone.
 */

#include <ctype.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "scaler.h"


static int   cfg_fd = -1;
static char  cfg_path[64];


static void
check_error(const char *err, size_t size)
{
    size_t       n;
    const char  *p;

    FUZZ_CHECK(fuzz_terminated(err, size), "unterminated error");

    n = strlen(cfg_path);
    if (strncmp(err, cfg_path, n) != 0 || err[n] != ':') {
        /* or a file the configuration names (a cloud_init file whose own
           line is wrong): a path that exists */
        char  other[512];

        p = strstr(err, ": ");
        while (p > err && isdigit((unsigned char) p[-1])) {
            p--;
        }
        n = p && p > err && p[-1] == ':' ? (size_t) (p - 1 - err) : 0;
        FUZZ_CHECK(n > 0 && n < sizeof(other),
                   "error \"%s\" does not start with a file name", err);
        memcpy(other, err, n);
        other[n] = '\0';
        FUZZ_CHECK(access(other, F_OK) == 0, "error \"%s\" names no file "
                   "(neither the configuration nor one it names)", err);
    }

    p = err + n + 1;
    FUZZ_CHECK(isdigit((unsigned char) *p), "error \"%s\" has no line", err);
    while (isdigit((unsigned char) *p)) {
        p++;
    }
    FUZZ_CHECK(p[0] == ':' && p[1] == ' ' && p[2] != '\0',
               "error \"%s\" is not FILE:LINE: reason", err);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               i, j;
    char              err[1024];
    scaler_config_t  *cf;

    if (cfg_fd == -1) {
        cfg_fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        FUZZ_CHECK(cfg_fd != -1, "memfd_create");
        snprintf(cfg_path, sizeof(cfg_path), "/proc/self/fd/%d", cfg_fd);
    }

    FUZZ_CHECK(ftruncate(cfg_fd, 0) == 0, "ftruncate");
    FUZZ_CHECK(size == 0 || pwrite(cfg_fd, data, size, 0) == (ssize_t) size,
               "pwrite");

    memset(err, 0, sizeof(err));
    cf = config_load(cfg_path, err, sizeof(err));

    if (cf == NULL) {
        check_error(err, sizeof(err));
        return 0;
    }

    for (i = 0; i < cf->npools; i++) {
        FUZZ_CHECK(cf->pools[i].name != NULL
                   && scaleset_name_valid(cf->pools[i].name,
                                          strlen(cf->pools[i].name)),
                   "pool %d has no valid name", i);
        FUZZ_CHECK(cf->pools[i].nzones > 0, "pool %s has no zone",
                   cf->pools[i].name);
        FUZZ_CHECK(config_pool(cf, cf->pools[i].name) == &cf->pools[i],
                   "pool %s is not found as itself", cf->pools[i].name);
        for (j = 0; j < i; j++) {
            FUZZ_CHECK(strcmp(cf->pools[i].name, cf->pools[j].name) != 0,
                       "pool %s twice", cf->pools[i].name);
        }
    }

    config_free(cf);

    return 0;
}
