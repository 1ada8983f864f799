/*
 * virt_vol.c: an instance's storage volumes (virt_vol.h): its qcow2
 * overlay ID.qcow2 on the template's base volume, and its NoCloud seed
 * ID.seed.iso (seed.c's image), both in a `dir` storage pool, so their
 * paths are the pool's directory and the name.  The seed is uploaded
 * through the connection (virStorageVolUpload), which works the same on
 * qemu:///system and on qemu+ssh:// hosts.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libvirt/virterror.h>

#include "virt_vol.h"

/* the directory of a storage pool (<target><path>), malloc'd */
static char *
pool_target(virStoragePoolPtr sp)
{
    char *xml = virStoragePoolGetXMLDesc(sp, 0), *r;

    r = virt_pool_target(xml);
    free(xml);
    return r;
}

int
vol_path(virConnectPtr c, const char *spool, const char *id, const char *suffix,
         char *buf, size_t size, char *err, size_t errlen)
{
    virStoragePoolPtr sp;
    char             *dir;

    if ((sp = virStoragePoolLookupByName(c, spool)) == NULL) {
        snprintf(err, errlen, "storage pool %s: %s", spool,
                 virGetLastErrorMessage());
        return -1;
    }
    dir = pool_target(sp);
    virStoragePoolFree(sp);
    if (dir == NULL || dir[0] != '/') {
        snprintf(err, errlen, "storage pool %s has no target path", spool);
        free(dir);
        return -1;
    }
    snprintf(buf, size, "%s/%s%s", dir, id, suffix);
    free(dir);
    return 0;
}

/* a volume of that name already there (a leftover of an interrupted
   create or delete, or the seed a reimage writes again) goes */
static void
leftover(virStoragePoolPtr sp, const char *pool, const char *id,
         const char *name)
{
    virStorageVolPtr vol;

    if ((vol = virStorageVolLookupByName(sp, name)) != NULL) {
        slog_warn(pool, id, "replacing volume %s", name);
        virStorageVolDelete(vol, 0);
        virStorageVolFree(vol);
    }
}

/* 1 when the volume was made where the tag says it is; else it goes */
static int
at_path(virStorageVolPtr vol, const char *spool, const char *name,
        const char *path, char *err, size_t errlen)
{
    char *vpath = virStorageVolGetPath(vol);
    int   ok = vpath != NULL && strcmp(vpath, path) == 0;

    if (!ok) {
        snprintf(err, errlen,
                 "volume %s is at %s, not %s (storage pool "
                 "%s must be a directory pool)",
                 name, vpath ? vpath : "?", path, spool);
        virStorageVolDelete(vol, 0);
    }
    free(vpath);
    return ok;
}

int
vol_overlay_make(virConnectPtr c, const pool_config_t *p,
                 const template_config_t *t, const char *id, const char *path,
                 char *err, size_t errlen)
{
    virStoragePoolPtr sp;
    virStorageVolPtr  base = NULL, vol = NULL;
    virStorageVolInfo info;
    char              name[80], xml[8192], *bpath = NULL;
    char             *e_name = NULL, *e_bpath = NULL;
    int               rc = -1;

    snprintf(name, sizeof(name), "%s%s", id, VOL_OVERLAY_SUFFIX);
    if ((sp = virStoragePoolLookupByName(c, t->vol_pool)) == NULL) {
        snprintf(err, errlen, "storage pool %s: %s", t->vol_pool,
                 virGetLastErrorMessage());
        return -1;
    }
    if ((base = virStorageVolLookupByName(sp, t->vol_backing)) == NULL
        || virStorageVolGetInfo(base, &info) != 0
        || (bpath = virStorageVolGetPath(base)) == NULL)
    {
        snprintf(err, errlen, "base volume %s in %s: %s", t->vol_backing,
                 t->vol_pool, virGetLastErrorMessage());
        goto done;
    }
    leftover(sp, p->name, id, name);
    e_name = template_escape(name);
    e_bpath = template_escape(bpath);
    snprintf(xml, sizeof(xml),
             "<volume><name>%s</name>"
             "<capacity unit='bytes'>%llu</capacity>"
             "<target><format type='qcow2'/></target>"
             "<backingStore><path>%s</path><format type='%s'/>"
             "</backingStore></volume>",
             e_name, (unsigned long long) info.capacity, e_bpath,
             t->vol_format);
    if ((vol = virStorageVolCreateXML(sp, xml, 0)) == NULL) {
        snprintf(err, errlen, "volume %s: %s", name, virGetLastErrorMessage());
        goto done;
    }
    rc = at_path(vol, t->vol_pool, name, path, err, errlen) ? 0 : -1;
done:
    free(e_name);
    free(e_bpath);
    free(bpath);
    if (vol) {
        virStorageVolFree(vol);
    }
    if (base) {
        virStorageVolFree(base);
    }
    virStoragePoolFree(sp);
    return rc;
}

typedef struct {
    const unsigned char *img;
    size_t               len, off;
} upload_t;

static int
upload_source(virStreamPtr st, char *data, size_t nbytes, void *opaque)
{
    upload_t *u = opaque;
    size_t    n = u->len - u->off < nbytes ? u->len - u->off : nbytes;

    (void) st;
    memcpy(data, u->img + u->off, n);
    u->off += n;
    return (int) n;
}

/* the test driver keeps volumes as names only: the seed is written at
   the volume's path by this process, so a test can read it back */
static int
write_local(const char *path, const unsigned char *img, size_t len, char *err,
            size_t errlen)
{
    size_t  off = 0;
    ssize_t w;
    int     fd;

    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        snprintf(err, errlen, "seed %s: %s", path, strerror(errno));
        return -1;
    }
    while (off < len) {
        if ((w = write(fd, img + off, len - off)) < 0) {
            if (errno == EINTR) {
                continue;
            }
            snprintf(err, errlen, "seed %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t) w;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "seed %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int
is_test_driver(virConnectPtr c)
{
    const char *type = virConnectGetType(c);

    return type != NULL && strcmp(type, "TEST") == 0;
}

int
vol_seed_make(virConnectPtr c, const char *pool, const char *spool,
              const char *id, const char *path, const unsigned char *img,
              size_t len, char *err, size_t errlen)
{
    virStoragePoolPtr sp;
    virStorageVolPtr  vol = NULL;
    virStreamPtr      st = NULL;
    upload_t          u = { img, len, 0 };
    char              name[80], xml[1024], *e_name;
    int               rc = -1;

    snprintf(name, sizeof(name), "%s%s", id, VOL_SEED_SUFFIX);
    if ((sp = virStoragePoolLookupByName(c, spool)) == NULL) {
        snprintf(err, errlen, "storage pool %s: %s", spool,
                 virGetLastErrorMessage());
        return -1;
    }
    leftover(sp, pool, id, name);
    e_name = template_escape(name);
    snprintf(xml, sizeof(xml),
             "<volume><name>%s</name>"
             "<capacity unit='bytes'>%zu</capacity>"
             "<allocation unit='bytes'>%zu</allocation>"
             "<target><format type='raw'/>"
             "<permissions><mode>0644</mode></permissions></target>"
             "</volume>",
             e_name, len, len);
    free(e_name);
    if ((vol = virStorageVolCreateXML(sp, xml, 0)) == NULL) {
        snprintf(err, errlen, "seed volume %s: %s", name,
                 virGetLastErrorMessage());
        goto done;
    }
    if (!at_path(vol, spool, name, path, err, errlen)) {
        goto done;
    }
    if ((st = virStreamNew(c, 0)) == NULL) {
        snprintf(err, errlen, "seed volume %s: %s", name,
                 virGetLastErrorMessage());
        goto failed;
    }
    if (virStorageVolUpload(vol, st, 0, len, 0) != 0) {
        if (virGetLastErrorCode() == VIR_ERR_NO_SUPPORT && is_test_driver(c)) {
            rc = write_local(path, img, len, err, errlen);
            if (rc != 0) {
                goto failed;
            }
            goto done;
        }
        snprintf(err, errlen, "seed volume %s: upload: %s", name,
                 virGetLastErrorMessage());
        goto failed;
    }
    if (virStreamSendAll(st, upload_source, &u) != 0
        || virStreamFinish(st) != 0) {
        snprintf(err, errlen, "seed volume %s: upload: %s", name,
                 virGetLastErrorMessage());
        virStreamAbort(st);
        goto failed;
    }
    rc = 0;
    goto done;

failed:
    virStorageVolDelete(vol, 0);
done:
    if (st) {
        virStreamFree(st);
    }
    if (vol) {
        virStorageVolFree(vol);
    }
    virStoragePoolFree(sp);
    return rc;
}

void
vol_delete_own(virConnectPtr c, const char *pool, const char *id,
               const char *path, const char *suffix)
{
    virStorageVolPtr vol;
    const char      *base;
    size_t           n;

    if (path[0] == '\0' || id[0] == '\0' || (base = strrchr(path, '/')) == NULL
        || strncmp(base + 1, id, (n = strlen(id))) != 0
        || strcmp(base + 1 + n, suffix) != 0)
    {
        return;
    }
    if ((vol = virStorageVolLookupByPath(c, path)) != NULL) {
        if (virStorageVolDelete(vol, 0) == 0) {
            slog(pool, id, "volume %s deleted", path);
        } else {
            slog_err(pool, id, "volume %s: %s", path, virGetLastErrorMessage());
        }
        virStorageVolFree(vol);
    }
    /* the test driver's volumes have no file: the seed written for it
       goes with the volume */
    if (is_test_driver(c) && strcmp(suffix, VOL_SEED_SUFFIX) == 0
        && unlink(path) != 0 && errno != ENOENT)
    {
        slog_err(pool, id, "seed %s: %s", path, strerror(errno));
    }
}
