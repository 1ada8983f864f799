/*
 * virt_vol.h: an instance's storage volumes (virt_vol.c), on a libvirt
 * connection virt.c holds.  Private to virt.c.
 */

#ifndef SCALER_VIRT_VOL_H
#define SCALER_VIRT_VOL_H

#include <libvirt/libvirt.h>

#include "scaler.h"

#define VOL_OVERLAY_SUFFIX ".qcow2"
#define VOL_SEED_SUFFIX    ".seed.iso"

/* where volume ID SUFFIX of storage pool spool goes: its directory
   (<target><path>) / ID SUFFIX; -1 with err */
int vol_path(virConnectPtr c, const char *spool, const char *id,
             const char *suffix, char *buf, size_t size, char *err,
             size_t errlen);
/* the overlay ID.qcow2 on t's base volume at path (a leftover of an
   interrupted create or delete replaced) */
int vol_overlay_make(virConnectPtr c, const pool_config_t *p,
                     const template_config_t *t, const char *id,
                     const char *path, char *err, size_t errlen);
/* the seed ID.seed.iso at path in storage pool spool, len bytes of img:
   created (a leftover replaced), then uploaded (virStorageVolUpload, so
   a remote host gets it through the connection); the test driver, which
   has no upload and makes no files, gets the file written at the path */
int vol_seed_make(virConnectPtr c, const char *pool, const char *spool,
                  const char *id, const char *path, const unsigned char *img,
                  size_t len, char *err, size_t errlen);
/* deletes the volume at path when its name is ID SUFFIX (an instance's
   own, whatever a tag says); logged with pool and id */
void vol_delete_own(virConnectPtr c, const char *pool, const char *id,
                    const char *path, const char *suffix);

#endif /* SCALER_VIRT_VOL_H */
