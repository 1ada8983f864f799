/*
 * virt.c: the hypervisor layer over libvirt, one connection per zone.
 * Only domains carrying our <metadata> tag are ever listed or deleted.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "scaler.h"

struct virt_conn {
    char              *uri;
    virConnectPtr      conn;
};

static void virt_silence(void *ud, virErrorPtr err);
static int attr(const char *xml, const char *name, char *buf, size_t size);
static virConnectPtr virt_get(virt_conn_t *vc);

static void
virt_silence(void *ud, virErrorPtr err)
{
    (void) ud;
    (void) err;
}

virt_conn_t *
virt_open(const char *uri)
{
    virt_conn_t  *vc = calloc(1, sizeof(*vc));

    virSetErrorFunc(NULL, virt_silence);
    vc->uri = strdup(uri);
    virt_get(vc);
    return vc;
}

static virConnectPtr
virt_get(virt_conn_t *vc)
{
    if (vc->conn && virConnectIsAlive(vc->conn) == 1) {
        return vc->conn;
    }
    if (vc->conn) {
        virConnectClose(vc->conn);
    }
    /* reconnect on every use after a failure */
    vc->conn = virConnectOpen(vc->uri);
    return vc->conn;
}

int
virt_ok(virt_conn_t *vc)
{
    return virt_get(vc) != NULL;
}

void
virt_close(virt_conn_t *vc)
{
    if (vc == NULL) {
        return;
    }
    if (vc->conn) {
        virConnectClose(vc->conn);
    }
    free(vc->uri);
    free(vc);
}

static int
attr(const char *xml, const char *name, char *buf, size_t size)
{
    char         pat[64];
    const char  *p, *e;
    size_t       n;

    snprintf(pat, sizeof(pat), " %s=\"", name);
    if ((p = strstr(xml, pat)) == NULL) {
        snprintf(pat, sizeof(pat), " %s='", name);
        if ((p = strstr(xml, pat)) == NULL) {
            return -1;
        }
    }
    p += strlen(pat);
    e = strpbrk(p, "\"'");
    if (e == NULL || (n = e - p) >= size) {
        return -1;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

int
virt_list(virt_conn_t *vc, const char *pool, const char *zone,
    virt_instance_t **out)
{
    virConnectPtr    c = virt_get(vc);
    virDomainPtr    *doms = NULL;
    virt_instance_t *res, *vi;
    char             buf[64];
    char            *md;
    int              n, i, k = 0;

    *out = NULL;
    if (c == NULL || (n = virConnectListAllDomains(c, &doms, 0)) < 0) {
        return -1;
    }
    res = calloc(n + 1, sizeof(*res));
    for (i = 0; i < n; i++) {
        md = virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT,
                                  SCALER_NS, 0);
        if (md != NULL && attr(md, "pool", buf, sizeof(buf)) == 0
            && strcmp(buf, pool) == 0
            && attr(md, "zone", buf, sizeof(buf)) == 0
            && strcmp(buf, zone) == 0)
        {
            vi = &res[k];
            if (attr(md, "id", vi->id, sizeof(vi->id)) == 0) {
                snprintf(vi->zone, sizeof(vi->zone), "%s", zone);
                attr(md, "version", vi->version, sizeof(vi->version));
                attr(md, "address", vi->address, sizeof(vi->address));
                vi->active = virDomainIsActive(doms[i]) == 1;
                k++;
            }
        }
        free(md);
        virDomainFree(doms[i]);
    }
    free(doms);
    *out = res;
    return k;
}

int
virt_create(virt_conn_t *vc, const pool_config_t *p, const char *zone,
    const char *id, const char *address, char *err, size_t errlen)
{
    static const char *const keys[] = { "name", "uuid", "mac", "address",
        "port", "volume", "pool", "zone", "version" };
    virConnectPtr  c = virt_get(vc);
    virDomainPtr   dom;
    unsigned char  raw[16];
    char           uuid[40], mac[20], host[64], port[8], md[512], *xml;
    char          *colon;
    const char    *vals[9];
    char          *e_pool, *e_id, *e_zone, *e_ver, *e_addr;
    unsigned       h = 5381;
    int            i;

    if (c == NULL) {
        snprintf(err, errlen, "zone %s: no libvirt connection", zone);
        return -1;
    }
    for (i = 0; id[i]; i++) {
        h = h * 33 + (unsigned char) id[i];
    }
    for (i = 0; i < 16; i++) {
        raw[i] = (unsigned char) (rand() & 0xff);
    }
    raw[6] = (raw[6] & 0x0f) | 0x40;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    snprintf(uuid, sizeof(uuid), "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x-%02x%02x%02x%02x%02x%02x", raw[0], raw[1], raw[2],
             raw[3], raw[4], raw[5], raw[6], raw[7], raw[8], raw[9], raw[10],
             raw[11], raw[12], raw[13], raw[14], raw[15]);
    snprintf(mac, sizeof(mac), "52:54:00:%02x:%02x:%02x", (h >> 16) & 255,
             (h >> 8) & 255, h & 255);
    snprintf(host, sizeof(host), "%s", address);
    colon = strrchr(host, ':');
    snprintf(port, sizeof(port), "%s", colon ? colon + 1 : "");
    if (colon) {
        *colon = '\0';
    }
    vals[0] = id; vals[1] = uuid; vals[2] = mac; vals[3] = host;
    vals[4] = port; vals[5] = ""; vals[6] = p->name; vals[7] = zone;
    vals[8] = p->version;

    xml = template_render(p->template_text, keys, vals, 9);
    if (xml == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    dom = virDomainDefineXML(c, xml);
    free(xml);
    if (dom == NULL) {
        snprintf(err, errlen, "define: %s", virGetLastErrorMessage());
        return -1;
    }
    e_pool = template_escape(p->name);
    e_id = template_escape(id);
    e_zone = template_escape(zone);
    e_ver = template_escape(p->version);
    e_addr = template_escape(address);
    snprintf(md, sizeof(md), "<instance pool=\"%s\" id=\"%s\" zone=\"%s\" "
             "version=\"%s\" address=\"%s\"/>", e_pool, e_id, e_zone, e_ver,
             e_addr);
    free(e_pool); free(e_id); free(e_zone); free(e_ver); free(e_addr);
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, md,
                             SCALER_NS_PREFIX, SCALER_NS,
                             VIR_DOMAIN_AFFECT_CONFIG) != 0)
    {
        snprintf(err, errlen, "metadata: %s", virGetLastErrorMessage());
        virDomainUndefine(dom);
        virDomainFree(dom);
        return -1;
    }
    if (virDomainCreate(dom) != 0) {
        snprintf(err, errlen, "start: %s", virGetLastErrorMessage());
        virDomainFree(dom);
        return -1;
    }
    virDomainFree(dom);
    return 0;
}

int
virt_delete(virt_conn_t *vc, const char *pool, const char *id)
{
    virConnectPtr  c = virt_get(vc);
    virDomainPtr   dom;
    char          *md, buf[64];
    int            rc = -1;

    if (c == NULL) {
        return -1;
    }
    if ((dom = virDomainLookupByName(c, id)) == NULL) {
        return 0;           /* already gone */
    }
    md = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, SCALER_NS, 0);
    /* never touch a domain that is not ours */
    if (md && attr(md, "pool", buf, sizeof(buf)) == 0
        && strcmp(buf, pool) == 0
        && attr(md, "id", buf, sizeof(buf)) == 0 && strcmp(buf, id) == 0)
    {
        if (virDomainIsActive(dom) == 1) {
            virDomainDestroy(dom);
        }
        rc = virDomainUndefine(dom) == 0 ? 0 : -1;
    }
    free(md);
    virDomainFree(dom);
    return rc;
}
