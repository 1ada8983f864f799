/*
 * cloudinit.c and seed.c: what a seed holds and how its files are
 * checked.  A table of user-data / meta-data / network-config texts with
 * the verdict and the line cloud-init's YAML would stop at; meta-data
 * given instance-id and local-hostname unless it sets them; an image
 * made by seed_image() read back as cloud-init finds it (blkid: an
 * iso9660 volume labelled cidata; bsdtar: the files by their names,
 * Rock Ridge and Joliet present); the config check naming the variable
 * that breaks the YAML; and a whole instance on libvirt's test driver:
 * {{seed}} in the defined domain, the seed volume in the storage pool
 * with the instance's id, deleted with the instance.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <setjmp.h>
#include <cmocka.h>
#include <libvirt/libvirt.h>

#include "scaler.h"

typedef struct {
    ci_file_t     f;
    const char   *text;
    int           ok;
    unsigned long line;         /* when refused */
    const char   *why;          /* a part of the reason */
} check_case_t;

static const check_case_t  checks[] = {
    { CI_USER_DATA, "#cloud-config\npackages: [nginx]\n", 1, 0, NULL },
    { CI_USER_DATA, "#cloud-config  \r\nruncmd:\n  - [echo, hi]\n", 1, 0,
      NULL },
    { CI_USER_DATA, "#cloud-config\n", 1, 0, NULL },
    { CI_USER_DATA, "#!/bin/sh\necho {{name}}: [unbalanced\n", 1, 0, NULL },
    { CI_USER_DATA, "#cloud-config\npackages:\n  - a\n bad: [\n", 0, 4,
      "not YAML" },
    { CI_USER_DATA, "#cloud-config\nwrite_files:\n  - path: /x\n"
      "    content: \"open\n", 0, 5, "not YAML" },
    { CI_USER_DATA, "#cloud-config\n- a\n- b\n", 0, 2, "mapping" },
    { CI_USER_DATA, "#cloud-config\na: 1\n---\nb: 2\n", 0, 4,
      "second YAML document" },
    { CI_USER_DATA, "packages: [nginx]\n", 0, 1, "#cloud-config" },
    { CI_USER_DATA, "#include http://example.invalid/x\n", 0, 1,
      "#cloud-config" },
    { CI_USER_DATA, "", 0, 1, "#cloud-config" },
    { CI_VENDOR_DATA, "#!/bin/sh\ntrue\n", 1, 0, NULL },
    { CI_META_DATA, "", 1, 0, NULL },
    { CI_META_DATA, "local-hostname: web\n", 1, 0, NULL },
    { CI_META_DATA, "[1, 2]\n", 0, 1, "mapping" },
    { CI_NETWORK_CONFIG, "version: 2\nethernets:\n  eth0: {dhcp4: true}\n",
      1, 0, NULL },
    { CI_NETWORK_CONFIG, "", 0, 1, "empty" },
    { CI_NETWORK_CONFIG, "version: 2\n ethernets: x\n", 0, 2, "not YAML" },
};

static void
test_check(void **state)
{
    unsigned long  line;
    char           why[256];
    size_t         i;
    int            rc, fail = 0;

    (void) state;
    for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        why[0] = '\0';
        rc = cloudinit_check(checks[i].f, checks[i].text, &line, why,
                             sizeof(why));
        if ((rc == 0) != checks[i].ok
            || (!checks[i].ok && (line != checks[i].line
                                  || strstr(why, checks[i].why) == NULL)))
        {
            print_error("case %zu (%s): rc %d line %lu \"%s\"\n", i,
                        cloudinit_file_name(checks[i].f), rc, line, why);
            fail = 1;
        }
    }
    assert_false(fail);
}

static void
test_meta_data(void **state)
{
    char  why[128], *md;

    (void) state;
    md = cloudinit_meta_data("", "web-000001", "web-000001", why,
                             sizeof(why));
    assert_non_null(md);
    assert_non_null(strstr(md, "instance-id: web-000001"));
    assert_non_null(strstr(md, "local-hostname: web-000001"));
    free(md);
    /* its own local-hostname stays; instance-id is added */
    md = cloudinit_meta_data("# a comment\nlocal-hostname: shop\n"
                             "public-keys: [k1]\n", "web-000002",
                             "web-000002", why, sizeof(why));
    assert_non_null(md);
    assert_non_null(strstr(md, "instance-id: web-000002"));
    assert_non_null(strstr(md, "local-hostname: shop"));
    assert_null(strstr(md, "local-hostname: web-000002"));
    assert_non_null(strstr(md, "public-keys"));
    free(md);
    /* a flow mapping is written again, whole */
    md = cloudinit_meta_data("{dsmode: local}", "web-000003", "web-000003",
                             why, sizeof(why));
    assert_non_null(md);
    assert_non_null(strstr(md, "dsmode: local"));
    assert_non_null(strstr(md, "instance-id: web-000003"));
    free(md);
    /* both set: as written */
    md = cloudinit_meta_data("instance-id: i-1\nlocal-hostname: h\n",
                             "web-000004", "web-000004", why, sizeof(why));
    assert_string_equal(md, "instance-id: i-1\nlocal-hostname: h\n");
    free(md);
    assert_null(cloudinit_meta_data("- a\n", "w", "w", why, sizeof(why)));
}

/* output of a shell command, malloc'd */
static char *
sh(const char *fmt, ...)
{
    char     cmd[1024], *buf = calloc(1, 65536);
    va_list  ap;
    FILE    *p;
    size_t   n;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_non_null(p = popen(cmd, "r"));
    n = fread(buf, 1, 65535, p);
    buf[n] = '\0';
    pclose(p);
    return buf;
}

static char  dir[64];

static void
write_file(const char *path, const unsigned char *data, size_t len)
{
    FILE  *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void
test_image(void **state)
{
    seed_file_t     files[2] = {
        { "user-data", (char *) "#!/bin/sh\necho hello\n", 21 },
        { "meta-data", (char *) "instance-id: web-000001\n", 24 } };
    unsigned char  *img;
    size_t          len;
    char            err[256], path[128], *out;

    (void) state;
    assert_int_equal(seed_image(files, 2, &img, &len, err, sizeof(err)), 0);
    assert_int_equal(len % 2048, 0);
    /* the primary volume descriptor at sector 16: the label */
    assert_memory_equal(img + 16 * 2048 + 1, "CD001", 5);
    assert_memory_equal(img + 16 * 2048 + 40, "cidata  ", 8);
    snprintf(path, sizeof(path), "%s/seed.iso", dir);
    write_file(path, img, len);
    free(img);
    /* as cloud-init's ds-identify finds it */
    out = sh("blkid -p -o export %s", path);
    assert_non_null(strstr(out, "TYPE=iso9660"));
    assert_non_null(strstr(out, "LABEL=cidata"));
    free(out);
    /* the files by their names (Rock Ridge) */
    out = sh("bsdtar -tf %s | sort", path);
    assert_string_equal(out, ".\n./meta-data\n./user-data\n");
    free(out);
    out = sh("bsdtar -xOf %s user-data", path);
    assert_string_equal(out, "#!/bin/sh\necho hello\n");
    free(out);
    out = sh("bsdtar -xOf %s meta-data", path);
    assert_string_equal(out, "instance-id: web-000001\n");
    free(out);
    /* Joliet: a supplementary volume descriptor (type 2, UCS-2 level 3
       escape %/E) follows */
    out = sh("dd if=%s bs=2048 skip=17 count=1 2>/dev/null | head -c 91 | "
             "tail -c 3; dd if=%s bs=1 skip=%d count=1 2>/dev/null | od -An "
             "-tu1", path, path, 17 * 2048);
    assert_non_null(strstr(out, "%/E"));
    free(out);
    unlink(path);
}

/* the pool of the config check and of the instances below */
static pool_config_t      pool;

static void
flex_pool(const char *user_data, const char *spool)
{
    template_config_t  *t = &pool.templates[0];

    memset(&pool, 0, sizeof(pool));
    pool.name = (char *) "web";
    pool.nzones = 1;
    pool.zones[0].name = (char *) "z1";
    pool.zones[0].nhosts = 1;
    pool.nhosts = 1;
    pool.hosts[0].uri = (char *) "test:///default";
    snprintf(pool.hosts[0].name, sizeof(pool.hosts[0].name), "z1-1");
    pool.ntemplates = 1;
    pool.addr_mode = ADDR_STATIC;
    pool.net = (127U << 24) | (1U << 8);
    pool.prefix_len = 24;
    pool.port = 8080;
    t->name = (char *) "";
    t->version = (char *) "3";
    t->weight = 1;
    t->ci.user_data = (char *) user_data;
    t->ci.user_data_path = (char *) "ud.yaml";
    t->ci.pool = (char *) spool;
}

static void
test_config_check(void **state)
{
    char  err[512];

    (void) state;
    flex_pool("#cloud-config\nhostname: {{name}}\nruncmd:\n  - echo "
              "{{zone}} {{version}}\n", "default-pool");
    assert_int_equal(cloudinit_config_check(&pool, &pool.templates[0], err,
                                            sizeof(err)), 0);
    /* a zone name is [A-Za-z0-9_.-]: safe; a value with ": " is not */
    pool.zones[0].name = (char *) "a: b";
    pool.templates[0].ci.user_data =
        (char *) "#cloud-config\nruncmd:\n  - echo\nhostname: x-{{zone}}\n";
    assert_int_equal(cloudinit_config_check(&pool, &pool.templates[0], err,
                                            sizeof(err)), -1);
    assert_non_null(strstr(err, "ud.yaml:4: {{zone}} (\"a: b\" in zone"));
    /* the file itself */
    pool.zones[0].name = (char *) "z1";
    pool.templates[0].ci.user_data =
        (char *) "#cloud-config\nruncmd:\n  - echo\n  bad: [\n";
    assert_int_equal(cloudinit_config_check(&pool, &pool.templates[0], err,
                                            sizeof(err)), -1);
    assert_non_null(strstr(err, "ud.yaml:4: not YAML"));
}

/* --- an instance on the test driver ------------------------------------ */

static const char  DOMAIN[] =
    "<domain type='test'><name>{{name}}</name><uuid>{{uuid}}</uuid>"
    "<memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>"
    "<disk type='file' device='cdrom'><source file='{{seed}}'/>"
    "<target dev='sda' bus='sata'/><readonly/></disk></devices></domain>";

static void
test_instance(void **state)
{
    virConnectPtr      hv;
    virStoragePoolPtr  sp;
    virStorageVolPtr   vol;
    virDomainPtr       d;
    virt_conn_t       *vc;
    virt_model_t       model = { .version = "3", .host = "test:///default" };
    char               xml[1024], err[512], path[160], want[256], *out, *dx;
    struct stat        st;

    (void) state;
    /* test:///default is one state per process: a storage pool made here
       is the scaler's connection's too */
    hv = virConnectOpen("test:///default");
    assert_non_null(hv);
    snprintf(path, sizeof(path), "%s/seeds", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(xml, sizeof(xml), "<pool type='dir'><name>seeds</name>"
             "<target><path>%s</path></target></pool>", path);
    assert_non_null(sp = virStoragePoolCreateXML(hv, xml, 0));

    flex_pool("#!/bin/sh\necho {{name}} {{version}} {{zone}} > /www/x\n",
              "seeds");
    pool.templates[0].text = (char *) DOMAIN;
    pool.templates[0].ci.meta_data =
        (char *) "local-hostname: shop-{{name}}\n";
    pool.templates[0].ci.meta_data_path = (char *) "md.yaml";
    vc = virt_open("test:///default", 0, 0);
    if (virt_create(vc, &pool, "z1", "web-000007", "127.0.1.7:8080", &model,
                    ORIGIN_SCALED, err, sizeof(err)) != 0)
    {
        fail_msg("%s", err);
    }

    /* {{seed}} in the defined domain: the seed volume's path */
    snprintf(path, sizeof(path), "%s/seeds/web-000007.seed.iso", dir);
    assert_non_null(d = virDomainLookupByName(hv, "web-000007"));
    assert_non_null(dx = virDomainGetXMLDesc(d, 0));
    snprintf(want, sizeof(want), "<source file='%s'/>", path);
    assert_non_null(strstr(dx, want));
    assert_non_null(strstr(dx, "seed=\""));     /* and in our tag */
    free(dx);
    virDomainFree(d);
    assert_non_null(vol = virStorageVolLookupByName(sp,
                                                    "web-000007.seed.iso"));
    virStorageVolFree(vol);

    /* its files, as the instance's */
    assert_int_equal(stat(path, &st), 0);
    out = sh("bsdtar -xOf %s user-data", path);
    assert_string_equal(out, "#!/bin/sh\necho web-000007 3 z1 > /www/x\n");
    free(out);
    out = sh("bsdtar -xOf %s meta-data", path);
    assert_non_null(strstr(out, "instance-id: web-000007"));
    assert_non_null(strstr(out, "local-hostname: shop-web-000007"));
    free(out);

    /* the rewrite (a reimage) writes it again, from the template now */
    pool.templates[0].version = (char *) "4";
    assert_int_equal(virt_seed_rewrite(vc, &pool, "web-000007", err,
                                       sizeof(err)), 0);
    out = sh("bsdtar -xOf %s user-data", path);
    assert_string_equal(out, "#!/bin/sh\necho web-000007 4 z1 > /www/x\n");
    free(out);

    /* deleted with the instance: the volume and its file */
    assert_int_equal(virt_delete(vc, "web", "web-000007"), 0);
    assert_null(virStorageVolLookupByName(sp, "web-000007.seed.iso"));
    assert_int_not_equal(stat(path, &st), 0);

    /* user-data that a runtime value breaks: the creation fails, with
       the file's line, and nothing is left */
    pool.templates[0].ci.user_data = (char *) "#cloud-config\n"
        "write_files:\n  - path: /etc/x\n    content: {{seed}}: x\n";
    assert_int_equal(virt_create(vc, &pool, "z1", "web-000008",
                                 "127.0.1.8:8080", &model, ORIGIN_SCALED,
                                 err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ud.yaml:4: not YAML"));
    assert_null(virDomainLookupByName(hv, "web-000008"));
    virt_close(vc);
    virStoragePoolDestroy(sp);
    virStoragePoolFree(sp);
    virConnectClose(hv);
}

static int
setup(void **state)
{
    (void) state;
    snprintf(dir, sizeof(dir), "/tmp/test-cloudinit-XXXXXX");
    assert_non_null(mkdtemp(dir));
    virt_xml_init();
    return seed_init();
}

static int
teardown(void **state)
{
    char  cmd[128];

    (void) state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_meta_data),
        cmocka_unit_test(test_image),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_instance),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("cloudinit", tests, setup, teardown);
}
