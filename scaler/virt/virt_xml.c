/*
 * virt_xml.c: reading back the XML libvirt gives us — our instance tag
 * and recipe in a domain's <metadata> and a storage pool's target
 * directory — with libxml2, so entities written escaped come back
 * decoded; and the recipe element written beside the tag.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "scaler.h"

static xmlDocPtr xml_read(const char *xml);
static int       prop(xmlNodePtr n, const char *name, char *buf, size_t size,
                      int required);

/* once, before any thread parses (libxml2's own initialisation is not
   safe to race) */
void
virt_xml_init(void)
{
    xmlInitParser();
}

static xmlDocPtr
xml_read(const char *xml)
{
    if (xml == NULL) {
        return NULL;
    }
    return xmlReadMemory(xml, (int) strlen(xml), NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR
                             | XML_PARSE_NOWARNING);
}

/* the decoded attribute name of n into buf; a missing optional one is
   ""; -1 when a required one is missing or any does not fit */
static int
prop(xmlNodePtr n, const char *name, char *buf, size_t size, int required)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *) name);
    size_t   len;

    buf[0] = '\0';
    if (v == NULL) {
        return required ? -1 : 0;
    }
    len = strlen((const char *) v);
    if (len >= size) {
        xmlFree(v);
        return -1;
    }
    memcpy(buf, v, len + 1);
    xmlFree(v);
    return 0;
}

#define PROP(name, buf, required) \
    (prop(root, name, buf, sizeof(buf), required) == 0)

int
virt_tag_parse(const char *xml, virt_tag_t *t)
{
    xmlDocPtr  doc;
    xmlNodePtr root;
    char       created[24], origin[16], warm[8], parked[8];
    uint64_t   ms;
    int        rc = -1;

    memset(t, 0, sizeof(*t));
    if ((doc = xml_read(xml)) == NULL) {
        return -1;
    }
    root = xmlDocGetRootElement(doc);
    /* virDomainGetMetadata(SCALER_NS) hands the element back without
       its namespace; with one, it must be ours */
    if (root != NULL && strcmp((const char *) root->name, "instance") == 0
        && (root->ns == NULL
            || (root->ns->href != NULL
                && strcmp((const char *) root->ns->href, SCALER_NS) == 0))
        && PROP("pool", t->info.pool, 1) && PROP("id", t->info.id, 1)
        && PROP("zone", t->info.zone, 1)
        && PROP("version", t->info.model.version, 0)
        && PROP("address", t->info.address, 0) && PROP("volume", t->volume, 0)
        && PROP("mode", t->info.mode, 0)
        && PROP("port", t->info.port, 0)
        /* the model (older tags have none of these: "") */
        && PROP("digest", t->info.model.digest, 0)
        && PROP("image", t->info.model.image, 0)
        && PROP("template", t->info.model.template, 0)
        && PROP("host", t->info.model.host, 0) && PROP("created", created, 0)
        && PROP("seed", t->seed, 0) && PROP("origin", origin, 0)
        && origin_parse(origin, &t->info.origin) == 0 && PROP("warm", warm, 0)
        && PROP("parked", parked, 0))
    {
        t->info.warm = strcmp(warm, "yes") == 0;
        t->info.parked = t->info.warm && strcmp(parked, "yes") == 0;
        /* a creation time that is no number is unknown, not a reason to
           disown the domain */
        if (created[0]
            && scaleset_parse_u64(created, strlen(created),
                                  SCALESET_UNIX_MS_MAX, &ms)
                   == 0)
        {
            t->info.model.created = ms;
        }
        rc = 0;
    }
    xmlFreeDoc(doc);
    return rc;
}

#undef PROP

char *
virt_tag_set_warm(const char *xml, int warm, int parked)
{
    xmlDocPtr    doc;
    xmlNodePtr   root;
    xmlBufferPtr buf;
    char        *r = NULL;

    if ((doc = xml_read(xml)) == NULL) {
        return NULL;
    }
    root = xmlDocGetRootElement(doc);
    if (root != NULL && (buf = xmlBufferCreate()) != NULL) {
        if (warm) {
            xmlSetProp(root, (const xmlChar *) "warm", (const xmlChar *) "yes");
        } else {
            xmlUnsetProp(root, (const xmlChar *) "warm");
        }
        if (warm && parked) {
            xmlSetProp(root, (const xmlChar *) "parked",
                       (const xmlChar *) "yes");
        } else {
            xmlUnsetProp(root, (const xmlChar *) "parked");
        }
        /* the element alone, without an XML declaration */
        if (xmlNodeDump(buf, doc, root, 0, 0) > 0) {
            r = xstrdup((const char *) xmlBufferContent(buf));
        }
        xmlBufferFree(buf);
    }
    xmlFreeDoc(doc);
    return r;
}

void
virt_vol_mtime(const char *xml, char *buf, size_t size)
{
    xmlDocPtr  doc;
    xmlNodePtr root, n, m, k;
    xmlChar   *v;

    buf[0] = '\0';
    if ((doc = xml_read(xml)) == NULL) {
        return;
    }
    root = xmlDocGetRootElement(doc);
    for (n = root ? root->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE
            || strcmp((const char *) n->name, "target") != 0)
        {
            continue;
        }
        for (m = n->children; m; m = m->next) {
            if (m->type != XML_ELEMENT_NODE
                || strcmp((const char *) m->name, "timestamps") != 0)
            {
                continue;
            }
            for (k = m->children; k; k = k->next) {
                if (k->type == XML_ELEMENT_NODE
                    && strcmp((const char *) k->name, "mtime") == 0
                    && (v = xmlNodeGetContent(k)) != NULL)
                {
                    snprintf(buf, size, "%s", (const char *) v);
                    xmlFree(v);
                }
            }
        }
    }
    xmlFreeDoc(doc);
}

char *
virt_pool_target(const char *xml)
{
    xmlDocPtr  doc;
    xmlNodePtr root, n, m;
    xmlChar   *v;
    char      *r = NULL;

    if ((doc = xml_read(xml)) == NULL) {
        return NULL;
    }
    root = xmlDocGetRootElement(doc);
    for (n = root ? root->children : NULL; n && r == NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE
            || strcmp((const char *) n->name, "target") != 0)
        {
            continue;
        }
        for (m = n->children; m; m = m->next) {
            if (m->type == XML_ELEMENT_NODE
                && strcmp((const char *) m->name, "path") == 0) {
                v = xmlNodeGetContent(m);
                r = v ? xstrdup((const char *) v) : NULL;
                xmlFree(v);
                break;
            }
        }
    }
    xmlFreeDoc(doc);
    return r;
}

/* --- recipes ------------------------------------------------------------ */

/* <recipe:NAME>BASE64</recipe:NAME> of s (NULL: nothing), malloc'd */
static char *
b64_element(const char *name, const char *s)
{
    size_t         n, len;
    unsigned char *b64;
    char          *el;

    if (s == NULL) {
        return xstrdup("");
    }
    n = strlen(s);
    len = 4 * ((n + 2) / 3) + 1;
    b64 = xmalloc(len);
    EVP_EncodeBlock(b64, (const unsigned char *) s, (int) n);
    len += 2 * strlen(name) + 2 * sizeof(SCALER_NS_RECIPE_PREFIX) + 8;
    el = xmalloc(len);
    snprintf(el, len, "<%s:%s>%s</%s:%s>", SCALER_NS_RECIPE_PREFIX, name,
             (const char *) b64, SCALER_NS_RECIPE_PREFIX, name);
    free(b64);
    return el;
}

char *
virt_recipe_xml(const template_config_t *t)
{
    static const char *const names[] = { "domain", "user_data", "meta_data",
                                         "network_config", "vendor_data" };
    const char              *texts[5];
    char                    *el[5] = { NULL }, *a[4], *xml = NULL;
    size_t                   len = 1024;
    int                      i, ok = 1;

    texts[0] = t->text ? t->text : "";
    texts[1] = t->ci.user_data;
    texts[2] = t->ci.meta_data;
    texts[3] = t->ci.network_config;
    texts[4] = t->ci.vendor_data;
    for (i = 0; i < 5; i++) {
        ok &= (el[i] = b64_element(names[i], texts[i])) != NULL;
        len += el[i] ? strlen(el[i]) : 0;
    }
    a[0] = template_escape(t->vol_pool ? t->vol_pool : "");
    a[1] = template_escape(t->vol_backing ? t->vol_backing : "");
    a[2] = template_escape(t->vol_format ? t->vol_format : "");
    a[3] = template_escape(t->ci.pool ? t->ci.pool : "");
    for (i = 0; i < 4; i++) {
        ok &= a[i] != NULL;
        len += a[i] ? strlen(a[i]) : 0;
    }
    if (ok) {
        xml = xmalloc(len);
        snprintf(xml, len,
                 "<%s:recipe xmlns:%s=\"%s\" volume=\"%s\" "
                 "pool=\"%s\" backing=\"%s\" format=\"%s\" "
                 "cloud_init=\"%s\" ci_pool=\"%s\">%s%s%s%s%s</%s:recipe>",
                 SCALER_NS_RECIPE_PREFIX, SCALER_NS_RECIPE_PREFIX,
                 SCALER_NS_RECIPE, t->vol_pool ? "yes" : "no", a[0], a[1], a[2],
                 t->ci.user_data ? "yes" : "no", a[3], el[0], el[1], el[2],
                 el[3], el[4], SCALER_NS_RECIPE_PREFIX);
    }
    for (i = 0; i < 5; i++) {
        free(el[i]);
    }
    for (i = 0; i < 4; i++) {
        free(a[i]);
    }
    return xml;
}

static char *
prop_dup(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *) name);
    char    *r = v ? xstrdup((const char *) v) : NULL;

    xmlFree(v);
    return r;
}

/* an element's base64 text decoded (a text: no NUL), malloc'd; NULL when
   it is none */
static char *
b64_text(xmlNodePtr n)
{
    xmlChar       *text = xmlNodeGetContent(n);
    unsigned char *raw = NULL;
    size_t         len, pad;
    int            got;

    if (text == NULL || (len = strlen((const char *) text)) % 4 != 0
        || (raw = xmalloc(len / 4 * 3 + 1)) == NULL
        || (got = EVP_DecodeBlock(raw, text, (int) len)) < 0)
    {
        free(raw);
        xmlFree(text);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as bytes */
    pad =
        (len >= 1 && text[len - 1] == '=') + (len >= 2 && text[len - 2] == '=');
    raw[got - pad] = '\0';
    xmlFree(text);
    if (memchr(raw, '\0', got - pad) != NULL) {
        free(raw);
        return NULL;
    }
    return (char *) raw;
}

int
virt_recipe_parse(const char *xml, virt_recipe_t *r)
{
    xmlDocPtr  doc;
    xmlNodePtr root, n;
    char      *vol = NULL, *ci = NULL, **dst;
    int        rc = -1;

    memset(r, 0, sizeof(*r));
    if ((doc = xml_read(xml)) == NULL) {
        return -1;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || strcmp((const char *) root->name, "recipe") != 0
        || (root->ns != NULL
            && (root->ns->href == NULL
                || strcmp((const char *) root->ns->href, SCALER_NS_RECIPE)
                       != 0))
        || (vol = prop_dup(root, "volume")) == NULL
        || (ci = prop_dup(root, "cloud_init")) == NULL)
    {
        goto done;
    }
    for (n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        dst = strcmp((const char *) n->name, "domain") == 0      ? &r->text
              : strcmp((const char *) n->name, "user_data") == 0 ? &r->user_data
              : strcmp((const char *) n->name, "meta_data") == 0 ? &r->meta_data
              : strcmp((const char *) n->name, "network_config") == 0
                  ? &r->network_config
              : strcmp((const char *) n->name, "vendor_data") == 0
                  ? &r->vendor_data
                  : NULL;
        if (dst == NULL || *dst != NULL) {
            continue; /* not ours, or twice: the first */
        }
        if (n->children == NULL) {
            continue; /* empty: not in the template */
        }
        if ((*dst = b64_text(n)) == NULL) {
            goto done;
        }
    }
    if (r->text == NULL) {
        goto done;
    }
    if (strcmp(vol, "yes") == 0
        && ((r->vol_pool = prop_dup(root, "pool")) == NULL
            || (r->vol_backing = prop_dup(root, "backing")) == NULL
            || (r->vol_format = prop_dup(root, "format")) == NULL))
    {
        goto done;
    }
    if (strcmp(ci, "yes") == 0) {
        if (r->user_data == NULL
            || (r->ci_pool = prop_dup(root, "ci_pool")) == NULL) {
            goto done;
        }
    }
    rc = 0;
done:
    if (rc != 0) {
        virt_recipe_free(r);
    }
    free(vol);
    free(ci);
    xmlFreeDoc(doc);
    return rc;
}

void
virt_recipe_free(virt_recipe_t *r)
{
    free(r->text);
    free(r->vol_pool);
    free(r->vol_backing);
    free(r->vol_format);
    free(r->user_data);
    free(r->meta_data);
    free(r->network_config);
    free(r->vendor_data);
    free(r->ci_pool);
    memset(r, 0, sizeof(*r));
}

int
virt_recipe_copy(virt_recipe_t *to, const virt_recipe_t *from)
{
    char **dst[] = { &to->text,           &to->vol_pool,    &to->vol_backing,
                     &to->vol_format,     &to->user_data,   &to->meta_data,
                     &to->network_config, &to->vendor_data, &to->ci_pool };
    const char *src[] = { from->text,           from->vol_pool,
                          from->vol_backing,    from->vol_format,
                          from->user_data,      from->meta_data,
                          from->network_config, from->vendor_data,
                          from->ci_pool };
    size_t      k;

    memset(to, 0, sizeof(*to));
    memcpy(to->digest, from->digest, sizeof(to->digest));
    for (k = 0; k < sizeof(src) / sizeof(src[0]); k++) {
        *dst[k] = src[k] != NULL ? xstrdup(src[k]) : NULL;
    }
    return 0;
}

void
virt_recipe_template(const template_config_t *t, const virt_recipe_t *r,
                     template_config_t *out)
{
    *out = *t;
    out->text = r->text;
    out->vol_pool = r->vol_pool;
    out->vol_backing = r->vol_backing;
    out->vol_format = r->vol_format;
    out->ci.user_data = r->user_data;
    out->ci.meta_data = r->user_data ? r->meta_data : NULL;
    out->ci.network_config = r->user_data ? r->network_config : NULL;
    out->ci.vendor_data = r->user_data ? r->vendor_data : NULL;
    out->ci.pool = r->user_data ? r->ci_pool : NULL;
}
