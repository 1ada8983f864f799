/*
 * vmstats.c: host-side VM metrics from libvirt, so autoscale rules on
 * CPU, memory and network need no agent in the guest.  A pass lists each
 * zone with one virConnectGetAllDomainStats call (virt.c) and each
 * running instance carries what it reported (instance_t.vm, decoded by
 * virt_stats.c) in the published pool state; /metrics exports it from
 * there, one family after the other, each with the labels pool, zone
 * and id (the instance's; not "instance", which Prometheus sets to the
 * scrape target and would rename ours to exported_instance):
 *
 *   scaleset_scaler_instance_cpu_seconds_total{pool,zone,id}
 *   scaleset_scaler_instance_vcpus
 *   scaleset_scaler_instance_memory_allocated_bytes
 *   scaleset_scaler_instance_memory_used_bytes{...,source="guest|host"}
 *   scaleset_scaler_instance_memory_available_bytes
 *   scaleset_scaler_instance_network_receive_bytes_total
 *   scaleset_scaler_instance_network_transmit_bytes_total
 *   scaleset_scaler_instance_disk_read_bytes_total
 *   scaleset_scaler_instance_disk_written_bytes_total
 *
 * A value the instance's record did not have is not exported (unknown is
 * not zero).  An instance gone from the pool, being deleted, or in a zone
 * that did not answer the last pass has none.
 */

#include "scaler.h"

typedef struct {
    const char *name;
    const char *type;
    unsigned    need;   /* VMS_* bits the value needs */
    int         source; /* a label source="guest|host" */
    double (*value)(const vm_stats_t *vm);
    const char *help;
} vm_family_t;

static double
v_cpu(const vm_stats_t *vm)
{
    return vm->cpu_s;
}
static double
v_vcpus(const vm_stats_t *vm)
{
    return vm->vcpus;
}
static double
v_alloc(const vm_stats_t *vm)
{
    return vm->mem_alloc;
}
static double
v_used(const vm_stats_t *vm)
{
    return vm->mem_used;
}
static double
v_avail(const vm_stats_t *vm)
{
    return vm->mem_avail;
}
static double
v_rx(const vm_stats_t *vm)
{
    return vm->net_rx;
}
static double
v_tx(const vm_stats_t *vm)
{
    return vm->net_tx;
}
static double
v_rd(const vm_stats_t *vm)
{
    return vm->disk_rd;
}
static double
v_wr(const vm_stats_t *vm)
{
    return vm->disk_wr;
}

static const vm_family_t families[] = {
    { "scaleset_scaler_instance_cpu_seconds_total", "counter", VMS_CPU, 0,
      v_cpu,
      "CPU time of the instance's domain, all vCPUs (libvirt "
      "cpu.time)." },
    { "scaleset_scaler_instance_vcpus", "gauge", VMS_VCPUS, 0, v_vcpus,
      "vCPUs of the instance's domain (libvirt vcpu.current)." },
    { "scaleset_scaler_instance_memory_allocated_bytes", "gauge", VMS_ALLOC, 0,
      v_alloc,
      "Memory the host gives the instance: the balloon's current "
      "size (libvirt balloon.current)." },
    { "scaleset_scaler_instance_memory_used_bytes", "gauge", VMS_USED, 1,
      v_used,
      "Memory the instance uses: source=\"guest\" the guest's total "
      "minus its available memory (its balloon driver reports), "
      "source=\"host\" qemu's resident memory on the host." },
    { "scaleset_scaler_instance_memory_available_bytes", "gauge", VMS_AVAIL, 0,
      v_avail,
      "Memory available to the guest's programs (its MemAvailable, "
      "libvirt balloon.usable), as its balloon driver reports it." },
    { "scaleset_scaler_instance_network_receive_bytes_total", "counter",
      VMS_NET, 0, v_rx,
      "Bytes the instance received, over its interfaces "
      "(libvirt net.N.rx.bytes)." },
    { "scaleset_scaler_instance_network_transmit_bytes_total", "counter",
      VMS_NET, 0, v_tx,
      "Bytes the instance sent, over its interfaces "
      "(libvirt net.N.tx.bytes)." },
    { "scaleset_scaler_instance_disk_read_bytes_total", "counter", VMS_DISK, 0,
      v_rd,
      "Bytes the instance read from its disks (libvirt "
      "block.N.rd.bytes)." },
    { "scaleset_scaler_instance_disk_written_bytes_total", "counter", VMS_DISK,
      0, v_wr,
      "Bytes the instance wrote to its disks (libvirt "
      "block.N.wr.bytes)." },
};

void
vmstats_metrics(expo_t *e, scaler_t *s)
{
    const vm_family_t  *f;
    const pool_state_t *ps;
    const instance_t   *in;
    size_t              k;
    int                 i, j;

    for (k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
        f = &families[k];
        expo_family(e, f->name, f->type, f->help);
        for (i = 0; i < s->npools; i++) {
            ps = &s->pools[i];
            for (j = 0; j < ps->ninst; j++) {
                in = &ps->inst[j];
                if ((in->vm.have & f->need) != f->need
                    || in->state == INST_DELETING) {
                    continue;
                }
                if (f->source) {
                    expo_sample(
                        e, f->value(&in->vm), "pool", ps->cf->name, "zone",
                        ps->cf->zones[in->zone].name, "id", in->id, "source",
                        in->vm.have & VMS_GUEST ? "guest" : "host", NULL);
                } else {
                    expo_sample(e, f->value(&in->vm), "pool", ps->cf->name,
                                "zone", ps->cf->zones[in->zone].name, "id",
                                in->id, NULL);
                }
            }
        }
    }
}
