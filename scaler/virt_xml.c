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
static int prop(xmlNodePtr n, const char *name, char *buf, size_t size,
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
    xmlChar  *v = xmlGetProp(n, (const xmlChar *) name);
    size_t    len;

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

#define PROP(name, buf, required)                                           \
    (prop(root, name, buf, sizeof(buf), required) == 0)

int
virt_tag_parse(const char *xml, virt_tag_t *t)
{
    xmlDocPtr   doc;
    xmlNodePtr  root;
    char        created[24];
    uint64_t    ms;
    int         rc = -1;

    memset(t, 0, sizeof(*t));
    if ((doc = xml_read(xml)) == NULL) {
        return -1;
    }
    root = xmlDocGetRootElement(doc);
    /* virDomainGetMetadata(SCALER_NS) hands the element back without
       its namespace; with one, it must be ours */
    if (root != NULL && strcmp((const char *) root->name, "instance") == 0
        && (root->ns == NULL || (root->ns->href != NULL
                                 && strcmp((const char *) root->ns->href,
                                           SCALER_NS) == 0))
        && PROP("pool", t->info.pool, 1) && PROP("id", t->info.id, 1)
        && PROP("zone", t->info.zone, 1)
        && PROP("version", t->info.model.version, 0)
        && PROP("address", t->info.address, 0)
        && PROP("volume", t->volume, 0) && PROP("mode", t->info.mode, 0)
        && PROP("port", t->info.port, 0)
        /* the model (older tags have none of these: "") */
        && PROP("digest", t->info.model.digest, 0)
        && PROP("image", t->info.model.image, 0)
        && PROP("template", t->info.model.template, 0)
        && PROP("host", t->info.model.host, 0)
        && PROP("created", created, 0))
    {
        /* a creation time that is no number is unknown, not a reason to
           disown the domain */
        if (created[0] && scaleset_parse_u64(created, strlen(created),
                                             SCALESET_UNIX_MS_MAX, &ms) == 0)
        {
            t->info.model.created = ms;
        }
        rc = 0;
    }
    xmlFreeDoc(doc);
    return rc;
}

#undef PROP

void
virt_vol_mtime(const char *xml, char *buf, size_t size)
{
    xmlDocPtr   doc;
    xmlNodePtr  root, n, m, k;
    xmlChar    *v;

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
    xmlDocPtr   doc;
    xmlNodePtr  root, n, m;
    xmlChar    *v;
    char       *r = NULL;

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
                && strcmp((const char *) m->name, "path") == 0)
            {
                v = xmlNodeGetContent(m);
                r = v ? strdup((const char *) v) : NULL;
                xmlFree(v);
                break;
            }
        }
    }
    xmlFreeDoc(doc);
    return r;
}

/* --- recipes ------------------------------------------------------------ */

char *
virt_recipe_xml(const pool_config_t *p)
{
    const char     *t = p->template_text ? p->template_text : "";
    size_t          n = strlen(t), b64len = 4 * ((n + 2) / 3) + 1, len;
    unsigned char  *b64;
    char           *e[3], *xml;

    if ((b64 = malloc(b64len)) == NULL) {
        return NULL;
    }
    EVP_EncodeBlock(b64, (const unsigned char *) t, (int) n);
    e[0] = template_escape(p->vol_pool ? p->vol_pool : "");
    e[1] = template_escape(p->vol_backing ? p->vol_backing : "");
    e[2] = template_escape(p->vol_format ? p->vol_format : "");
    len = b64len + 512 + strlen(e[0]) + strlen(e[1]) + strlen(e[2]);
    if ((xml = malloc(len)) != NULL) {
        snprintf(xml, len, "<%s:recipe xmlns:%s=\"%s\" volume=\"%s\" "
                 "pool=\"%s\" backing=\"%s\" format=\"%s\">%s</%s:recipe>",
                 SCALER_NS_RECIPE_PREFIX, SCALER_NS_RECIPE_PREFIX,
                 SCALER_NS_RECIPE, p->vol_pool ? "yes" : "no", e[0], e[1],
                 e[2], (const char *) b64, SCALER_NS_RECIPE_PREFIX);
    }
    free(e[0]);
    free(e[1]);
    free(e[2]);
    free(b64);
    return xml;
}

static char *
prop_dup(xmlNodePtr n, const char *name)
{
    xmlChar  *v = xmlGetProp(n, (const xmlChar *) name);
    char     *r = v ? strdup((const char *) v) : NULL;

    xmlFree(v);
    return r;
}

int
virt_recipe_parse(const char *xml, virt_recipe_t *r)
{
    xmlDocPtr       doc;
    xmlNodePtr      root;
    xmlChar        *text = NULL;
    char           *vol = NULL;
    unsigned char  *raw = NULL;
    size_t          n, pad;
    int             len, rc = -1;

    memset(r, 0, sizeof(*r));
    if ((doc = xml_read(xml)) == NULL) {
        return -1;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || strcmp((const char *) root->name, "recipe") != 0
        || (root->ns != NULL && (root->ns->href == NULL
                                 || strcmp((const char *) root->ns->href,
                                           SCALER_NS_RECIPE) != 0))
        || (text = xmlNodeGetContent(root)) == NULL
        || (vol = prop_dup(root, "volume")) == NULL)
    {
        goto done;
    }
    n = strlen((const char *) text);
    if (n % 4 != 0) {
        goto done;
    }
    if ((raw = malloc(n / 4 * 3 + 1)) == NULL) {
        goto done;
    }
    len = EVP_DecodeBlock(raw, text, (int) n);
    if (len < 0) {
        goto done;
    }
    /* EVP_DecodeBlock counts the padding as bytes */
    pad = (n >= 1 && text[n - 1] == '=') + (n >= 2 && text[n - 2] == '=');
    raw[len - pad] = '\0';
    if (memchr(raw, '\0', len - pad) != NULL) {
        goto done;                  /* a template is text */
    }
    r->template_text = (char *) raw;
    raw = NULL;
    if (strcmp(vol, "yes") == 0) {
        r->vol_pool = prop_dup(root, "pool");
        r->vol_backing = prop_dup(root, "backing");
        r->vol_format = prop_dup(root, "format");
        if (r->vol_pool == NULL || r->vol_backing == NULL
            || r->vol_format == NULL)
        {
            virt_recipe_free(r);
            goto done;
        }
    }
    rc = 0;
done:
    free(raw);
    free(vol);
    xmlFree(text);
    xmlFreeDoc(doc);
    return rc;
}

void
virt_recipe_free(virt_recipe_t *r)
{
    free(r->template_text);
    free(r->vol_pool);
    free(r->vol_backing);
    free(r->vol_format);
    memset(r, 0, sizeof(*r));
}

void
virt_recipe_pool(const pool_config_t *p, const virt_recipe_t *r,
    pool_config_t *out)
{
    *out = *p;
    out->template_text = r->template_text;
    out->vol_pool = r->vol_pool;
    out->vol_backing = r->vol_backing;
    out->vol_format = r->vol_format;
}
