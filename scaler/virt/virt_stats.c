/*
 * virt_stats.c: a running domain's host-side metrics from its record of
 * virConnectGetAllDomainStats (the listing call of virt.c, with the
 * groups STATE | CPU_TOTAL | VCPU | BALLOON | INTERFACE | BLOCK):
 *
 *   cpu.time                    ns            -> cpu_s
 *   vcpu.current                              -> vcpus
 *   balloon.current             KiB           -> mem_alloc (given to the guest)
 *   balloon.available           KiB, guest's total memory
 *   balloon.usable              KiB, guest's MemAvailable
 *   balloon.unused              KiB, guest's MemFree
 *   balloon.rss                 KiB, qemu's resident memory on the host
 *   net.count, net.N.rx.bytes / tx.bytes    -> net_rx, net_tx (summed)
 *   block.count, block.N.rd.bytes / wr.bytes -> disk_rd, disk_wr (summed)
 *
 * Memory used is the guest's view when its balloon driver reports
 * statistics (libvirt has them only with a stats period on the balloon):
 * total - MemAvailable (total - MemFree from a guest that reports no
 * MemAvailable), and memory available is MemAvailable (MemFree);
 * otherwise it is qemu's RSS, and available is unknown.  An interface or
 * disk without its byte counters does not count; none at all leaves the
 * family unknown (a NIC libvirt does not manage, such as qemu's own user
 * networking, has none), never zero.
 */

#include <stdio.h>
#include <string.h>
#include <libvirt/libvirt.h>

#include "scaler.h"

/* bound on net.count / block.count (read from libvirt: input) */
#define VMS_MAX_DEVICES 256

static int get_ull(const virTypedParameter *p, int n, const char *name,
                   unsigned long long *v);
static int get_uint(const virTypedParameter *p, int n, const char *name,
                    unsigned *v);
static int sum_devices(const virTypedParameter *p, int n, const char *group,
                       const char *a, const char *b, uint64_t *sa,
                       uint64_t *sb);

static int
get_ull(const virTypedParameter *p, int n, const char *name,
        unsigned long long *v)
{
    return virTypedParamsGetULLong((virTypedParameterPtr) p, n, name, v) == 1;
}

static int
get_uint(const virTypedParameter *p, int n, const char *name, unsigned *v)
{
    return virTypedParamsGetUInt((virTypedParameterPtr) p, n, name, v) == 1;
}

/* sums GROUP.N.A and GROUP.N.B over GROUP.count devices; 1 when at least
   one device had both */
static int
sum_devices(const virTypedParameter *p, int n, const char *group, const char *a,
            const char *b, uint64_t *sa, uint64_t *sb)
{
    unsigned long long va, vb;
    unsigned           count, i;
    char               ka[64], kb[64];
    int                found = 0;

    snprintf(ka, sizeof(ka), "%s.count", group);
    if (!get_uint(p, n, ka, &count)) {
        return 0;
    }
    *sa = *sb = 0;
    for (i = 0; i < count && i < VMS_MAX_DEVICES; i++) {
        snprintf(ka, sizeof(ka), "%s.%u.%s", group, i, a);
        snprintf(kb, sizeof(kb), "%s.%u.%s", group, i, b);
        if (get_ull(p, n, ka, &va) && get_ull(p, n, kb, &vb)) {
            *sa += va;
            *sb += vb;
            found = 1;
        }
    }
    return found;
}

void
virt_stats_decode(const struct _virTypedParameter *params, int n,
                  vm_stats_t *vm)
{
    unsigned long long v, total, avail, rss;
    unsigned           u;

    memset(vm, 0, sizeof(*vm));
    if (get_ull(params, n, "cpu.time", &v)) {
        vm->cpu_s = v / 1e9;
        vm->have |= VMS_CPU;
    }
    if (get_uint(params, n, "vcpu.current", &u) && u > 0) {
        vm->vcpus = u;
        vm->have |= VMS_VCPUS;
    }
    if (get_ull(params, n, "balloon.current", &v)) {
        vm->mem_alloc = v * 1024;
        vm->have |= VMS_ALLOC;
    }
    if (get_ull(params, n, "balloon.available", &total)
        && (get_ull(params, n, "balloon.usable", &avail)
            || get_ull(params, n, "balloon.unused", &avail))
        && avail <= total)
    {
        vm->mem_used = (total - avail) * 1024;
        vm->mem_avail = avail * 1024;
        vm->have |= VMS_USED | VMS_AVAIL | VMS_GUEST;
    } else if (get_ull(params, n, "balloon.rss", &rss)) {
        vm->mem_used = rss * 1024;
        vm->have |= VMS_USED;
    }
    if (sum_devices(params, n, "net", "rx.bytes", "tx.bytes", &vm->net_rx,
                    &vm->net_tx))
    {
        vm->have |= VMS_NET;
    }
    if (sum_devices(params, n, "block", "rd.bytes", "wr.bytes", &vm->disk_rd,
                    &vm->disk_wr))
    {
        vm->have |= VMS_DISK;
    }
}
