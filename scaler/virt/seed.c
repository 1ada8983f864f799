/*
 * seed.c: an instance's NoCloud seed as an ISO 9660 image, made with
 * libisofs (the library of xorriso): volume id "cidata", Rock Ridge and
 * Joliet (cloud-init's ds-identify finds the volume by its label and
 * mounts it; Rock Ridge keeps the names "user-data", "meta-data" as they
 * are), the files in its root, read from memory.  The image is built in
 * memory (a few hundred KiB) and handed to virt.c, which uploads it
 * into a storage volume.
 *
 * libisofs keeps process-wide state (its message queue, the character
 * set it converts names from): it is initialised once, and images are
 * made one at a time.
 */

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
/* libisofs.h's own copy of struct burn_source (no libburn here) */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs.h>

#include "scaler.h"

#define SEED_VOLUME_ID "cidata"
#define SEED_BLOCK     2048

static pthread_mutex_t seed_lock = PTHREAD_MUTEX_INITIALIZER;
static int             seed_ready;

int
seed_init(void)
{
    int rc = 0;

    pthread_mutex_lock(&seed_lock);
    if (!seed_ready) {
        /* bit0: no locale from LC_*: the names are ASCII, UTF-8 */
        if (iso_init_with_flag(1) < 0) {
            rc = -1;
        } else {
            iso_set_local_charset((char *) "UTF-8", 0);
            /* nothing on stderr: errors come back as return codes */
            iso_set_msgs_severities((char *) "NEVER", (char *) "NEVER",
                                    (char *) "scaleset-scaler");
            seed_ready = 1;
        }
    }
    pthread_mutex_unlock(&seed_lock);
    return rc;
}

static int
seed_failed(const char *what, int rc, char *err, size_t errlen)
{
    snprintf(err, errlen, "seed image: %s: %s", what, iso_error_to_msg(rc));
    return -1;
}

/* the image's bytes from its burn source, into *out */
static int
drain(struct burn_source *bs, unsigned char **out, size_t *len, char *err,
      size_t errlen)
{
    unsigned char *buf;
    off_t          size = bs->get_size(bs);
    size_t         off = 0;
    int            r;

    if (size <= 0 || size % SEED_BLOCK != 0) {
        snprintf(err, errlen, "seed image: size %lld", (long long) size);
        return -1;
    }
    buf = xmalloc((size_t) size);
    while (off < (size_t) size) {
        r = bs->read_xt(bs, buf + off, SEED_BLOCK);
        if (r != SEED_BLOCK) {
            snprintf(err, errlen,
                     "seed image: short image (%zu of %lld "
                     "bytes)",
                     off, (long long) size);
            free(buf);
            return -1;
        }
        off += SEED_BLOCK;
    }
    *out = buf;
    *len = off;
    return 0;
}

int
seed_image(const seed_file_t *files, int n, unsigned char **out, size_t *len,
           char *err, size_t errlen)
{
    IsoImage           *img = NULL;
    IsoWriteOpts       *opts = NULL;
    IsoStream          *st;
    struct burn_source *bs = NULL;
    unsigned char      *copy;
    int                 i, rc, ret = -1;

    if (seed_init() != 0) {
        snprintf(err, errlen, "seed image: libisofs did not initialise");
        return -1;
    }
    pthread_mutex_lock(&seed_lock);
    if ((rc = iso_image_new(SEED_VOLUME_ID, &img)) < 0) {
        seed_failed("new image", rc, err, errlen);
        goto done;
    }
    iso_image_set_volume_id(img, SEED_VOLUME_ID);
    iso_image_set_application_id(img, "scaleset");
    for (i = 0; i < n; i++) {
        /* the stream owns its buffer (freed with it) */
        copy = xmalloc(files[i].len);
        memcpy(copy, files[i].data, files[i].len);
        if ((rc = iso_memory_stream_new(copy, files[i].len, &st)) < 0) {
            free(copy);
            seed_failed(files[i].name, rc, err, errlen);
            goto done;
        }
        /* the file takes the stream's reference */
        if ((rc = iso_image_add_new_file(img, iso_image_get_root(img),
                                         files[i].name, st, NULL))
            < 0)
        {
            iso_stream_unref(st);
            seed_failed(files[i].name, rc, err, errlen);
            goto done;
        }
    }
    /* profile 2 (distribution): Rock Ridge and Joliet, files world
       readable, timestamps of now */
    if ((rc = iso_write_opts_new(&opts, 2)) < 0) {
        seed_failed("options", rc, err, errlen);
        goto done;
    }
    iso_write_opts_set_rockridge(opts, 1);
    iso_write_opts_set_joliet(opts, 1);
    iso_write_opts_set_iso_level(opts, 3);
    /* the label as cloud-init's documentation writes it (genisoimage
       -volid cidata), not upper-cased into d-characters */
    iso_write_opts_set_relaxed_vol_atts(opts, 1);
    if ((rc = iso_image_create_burn_source(img, opts, &bs)) < 0) {
        seed_failed("writer", rc, err, errlen);
        bs = NULL;
        goto done;
    }
    ret = drain(bs, out, len, err, errlen);

done:
    if (bs) {
        if (ret != 0 && bs->cancel) {
            bs->cancel(bs);
        }
        bs->free_data(bs);
        free(bs);
    }
    if (opts) {
        iso_write_opts_free(opts);
    }
    if (img) {
        iso_image_unref(img);
    }
    pthread_mutex_unlock(&seed_lock);
    return ret;
}
