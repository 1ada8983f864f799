/*
 * virt_xml.c: reading back the XML libvirt gives us — our instance tag
 * in a domain's <metadata> and a storage pool's target directory — with
 * libxml2, so entities written escaped come back decoded.
 */

#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

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
    char        created[24], origin[16], warm[8];
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
        && PROP("created", created, 0)
        && PROP("seed", t->seed, 0) && PROP("origin", origin, 0)
        && origin_parse(origin, &t->info.origin) == 0
        && PROP("warm", warm, 0))
    {
        t->info.warm = strcmp(warm, "yes") == 0;
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

char *
virt_tag_set_warm(const char *xml, int warm)
{
    xmlDocPtr     doc;
    xmlNodePtr    root;
    xmlBufferPtr  buf;
    char         *r = NULL;

    if ((doc = xml_read(xml)) == NULL) {
        return NULL;
    }
    root = xmlDocGetRootElement(doc);
    if (root != NULL && (buf = xmlBufferCreate()) != NULL) {
        if (warm) {
            xmlSetProp(root, (const xmlChar *) "warm",
                       (const xmlChar *) "yes");
        } else {
            xmlUnsetProp(root, (const xmlChar *) "warm");
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
                r = v ? xstrdup((const char *) v) : NULL;
                xmlFree(v);
                break;
            }
        }
    }
    xmlFreeDoc(doc);
    return r;
}
