/* virt_stats.c: a domain's virConnectGetAllDomainStats record decoded,
   as a table of records (the fields the qemu driver reports, the test
   driver's state-only record, partial and bad ones) and what each must
   give; a value the record lacks is unknown (its VMS_ bit clear) */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "scaler.h"

#define KIB 1024ULL

typedef struct {
    const char          *name;
    int                  type;      /* VIR_TYPED_PARAM_UINT / ULLONG / INT */
    unsigned long long   v;
} field_t;

typedef struct {
    const char  *what;
    field_t      f[24];             /* up to a NULL name */
    unsigned     have;
    double       cpu_s;
    unsigned     vcpus;
    uint64_t     alloc, used, avail, rx, tx, rd, wr;
} row_t;

#define U(n, v)   { n, VIR_TYPED_PARAM_UINT, v }
#define L(n, v)   { n, VIR_TYPED_PARAM_ULLONG, v }
#define I(n, v)   { n, VIR_TYPED_PARAM_INT, v }
#define STATE     I("state.state", 1), I("state.reason", 1)

static const row_t rows[] = {
    { "qemu guest with balloon statistics, 2 NICs, 2 disks",
      { STATE, L("cpu.time", 12500000000ULL), U("vcpu.current", 2),
        L("balloon.current", 98304), L("balloon.maximum", 98304),
        L("balloon.available", 80000), L("balloon.usable", 50000),
        L("balloon.unused", 30000), L("balloon.rss", 190000),
        U("net.count", 2), L("net.0.rx.bytes", 100), L("net.0.tx.bytes", 10),
        L("net.1.rx.bytes", 200), L("net.1.tx.bytes", 20),
        U("block.count", 2), L("block.0.rd.bytes", 4096),
        L("block.0.wr.bytes", 512), L("block.1.rd.bytes", 1),
        L("block.1.wr.bytes", 2), { NULL, 0, 0 } },
      VMS_CPU | VMS_VCPUS | VMS_ALLOC | VMS_USED | VMS_AVAIL | VMS_GUEST
      | VMS_NET | VMS_DISK,
      12.5, 2, 98304 * KIB, 30000 * KIB, 50000 * KIB, 300, 30, 4097, 514 },

    { "a guest without MemAvailable: total - MemFree",
      { STATE, L("balloon.current", 1000), L("balloon.available", 900),
        L("balloon.unused", 600), L("balloon.rss", 5000), { NULL, 0, 0 } },
      VMS_ALLOC | VMS_USED | VMS_AVAIL | VMS_GUEST,
      0, 0, 1000 * KIB, 300 * KIB, 600 * KIB, 0, 0, 0, 0 },

    { "no balloon driver in the guest (or no stats period): qemu's RSS",
      { STATE, L("cpu.time", 1000000000ULL), U("vcpu.current", 1),
        L("balloon.current", 98304), L("balloon.maximum", 98304),
        L("balloon.rss", 190000), { NULL, 0, 0 } },
      VMS_CPU | VMS_VCPUS | VMS_ALLOC | VMS_USED,
      1, 1, 98304 * KIB, 190000 * KIB, 0, 0, 0, 0, 0 },

    { "available above the total is nonsense: RSS instead",
      { L("balloon.available", 100), L("balloon.usable", 200),
        L("balloon.rss", 7), { NULL, 0, 0 } },
      VMS_USED, 0, 0, 0, 7 * KIB, 0, 0, 0, 0, 0 },

    { "the guest's view without RSS or total: nothing known",
      { L("balloon.usable", 200), L("balloon.unused", 100), { NULL, 0, 0 } },
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },

    { "the test driver: state only",
      { STATE, { NULL, 0, 0 } },
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },

    { "a NIC libvirt has no counters for (qemu user networking)",
      { U("net.count", 1), L("net.0.rx.pkts", 3), { NULL, 0, 0 } },
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },

    { "no NIC, no disk: unknown, not zero",
      { U("net.count", 0), U("block.count", 0), { NULL, 0, 0 } },
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },

    { "a NIC without tx.bytes does not count, the others do",
      { U("net.count", 3), L("net.0.rx.bytes", 5), L("net.1.rx.bytes", 7),
        L("net.1.tx.bytes", 8), L("net.2.tx.bytes", 9), { NULL, 0, 0 } },
      VMS_NET, 0, 0, 0, 0, 0, 7, 8, 0, 0 },

    { "a count far above the devices listed: bounded, the listed summed",
      { U("net.count", 4000000000U), L("net.0.rx.bytes", 1),
        L("net.0.tx.bytes", 2), L("net.300.rx.bytes", 50),
        L("net.300.tx.bytes", 50), { NULL, 0, 0 } },
      VMS_NET, 0, 0, 0, 0, 0, 1, 2, 0, 0 },

    { "counters of the wrong type are not read",
      { I("cpu.time", 5), L("vcpu.current", 2), I("balloon.current", 1),
        { NULL, 0, 0 } },
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },

    { "zero vCPUs is no vCPU count",
      { U("vcpu.current", 0), L("cpu.time", 0), { NULL, 0, 0 } },
      VMS_CPU, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
};

static void
build(const field_t *f, virTypedParameterPtr *p, int *n)
{
    int  max = 0;

    *p = NULL;
    *n = 0;
    for (; f->name; f++) {
        switch (f->type) {
        case VIR_TYPED_PARAM_UINT:
            assert_int_equal(virTypedParamsAddUInt(p, n, &max, f->name,
                                                   (unsigned) f->v), 0);
            break;
        case VIR_TYPED_PARAM_INT:
            assert_int_equal(virTypedParamsAddInt(p, n, &max, f->name,
                                                  (int) f->v), 0);
            break;
        default:
            assert_int_equal(virTypedParamsAddULLong(p, n, &max, f->name,
                                                     f->v), 0);
        }
    }
}

static void
test_table(void **state)
{
    virTypedParameterPtr  p;
    vm_stats_t            vm;
    size_t                i;
    int                   n;

    (void) state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];

        print_message("# %s\n", r->what);
        build(r->f, &p, &n);
        memset(&vm, 0xa5, sizeof(vm));
        virt_stats_decode(p, n, &vm);
        assert_int_equal(vm.have, r->have);
        if (r->have & VMS_CPU) {
            assert_true(vm.cpu_s == r->cpu_s);
        }
        if (r->have & VMS_VCPUS) {
            assert_int_equal(vm.vcpus, r->vcpus);
        }
        if (r->have & VMS_ALLOC) {
            assert_int_equal(vm.mem_alloc, r->alloc);
        }
        if (r->have & VMS_USED) {
            assert_int_equal(vm.mem_used, r->used);
        }
        if (r->have & VMS_AVAIL) {
            assert_int_equal(vm.mem_avail, r->avail);
        }
        if (r->have & VMS_NET) {
            assert_int_equal(vm.net_rx, r->rx);
            assert_int_equal(vm.net_tx, r->tx);
        }
        if (r->have & VMS_DISK) {
            assert_int_equal(vm.disk_rd, r->rd);
            assert_int_equal(vm.disk_wr, r->wr);
        }
        virTypedParamsFree(p, n);
    }
}

/* what the listing gives on test:///default: its records have the state
   only; CPU time, vCPUs and memory come from virDomainGetInfo (the CPU
   time is the wall clock), the rest is unknown */
static void
test_listing_test_driver(void **state)
{
    static const char *TPL = "<domain type='test'><name>{{name}}</name>"
        "<uuid>{{uuid}}</uuid><memory unit='MiB'>64</memory><vcpu>2</vcpu>"
        "<os><type>hvm</type></os><devices><interface type='network'>"
        "<source network='default'/><mac address='{{mac}}'/></interface>"
        "</devices></domain>";
    virt_model_t      model = { .version = "1", .digest = "t1",
                                    .host = "test:///default" };
    pool_config_t     p;
    virt_conn_t      *vc = virt_open("test:///default", 0, 0);
    virt_instance_t  *vi;
    char              err[256];
    int               n;

    (void) state;
    memset(&p, 0, sizeof(p));
    p.name = "st";
    p.ntemplates = 1;
    p.templates[0].name = "";
    p.templates[0].version = "1";
    p.templates[0].weight = 1;
    p.templates[0].text = (char *) TPL;
    p.addr_mode = ADDR_STATIC;
    assert_int_equal(virt_create(vc, &p, "z1", "st-000001", "127.0.0.1:80",
                                 &model, ORIGIN_SCALED, err, sizeof(err)),
                     0);
    n = virt_list(vc, &p, "z1", &vi);
    assert_int_equal(n, 1);
    assert_int_equal(vi[0].vm.have, VMS_CPU | VMS_VCPUS | VMS_ALLOC);
    assert_int_equal(vi[0].vm.vcpus, 2);
    assert_int_equal(vi[0].vm.mem_alloc, 64 * 1024 * 1024);
    assert_true(vi[0].vm.cpu_s > 1e9);          /* seconds since 1970 */
    free(vi);
    assert_int_equal(virt_delete(vc, "st", "st-000001"), 0);
    virt_close(vc);
}

static void
silence(void *ud, virErrorPtr err)
{
    (void) ud;
    (void) err;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_listing_test_driver),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    if (virInitialize() != 0) {     /* typed params use libvirt's errors */
        return 1;
    }
    virSetErrorFunc(NULL, silence);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
