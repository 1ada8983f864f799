/*
 * template.c: template rendering: the domain XML with its values
 * XML-escaped, the cloud-init files with their values as they are.
 */

#include <stdlib.h>
#include <string.h>

#include "scaler.h"

const char *const template_vars[TV_COUNT] = { "name",    "uuid",    "mac",
                                              "address", "port",    "volume",
                                              "pool",    "zone",    "version",
                                              "seed",    "template" };

static char *render(const char *tpl, const char *const *keys,
                    const char *const *vals, int n, int xml);

char *
template_escape(const char *s)
{
    size_t      n = 0;
    char       *out, *o;
    const char *p;

    for (p = s; *p; p++) {
        n += (*p == '&')                 ? 5
             : (*p == '<' || *p == '>')  ? 4
             : (*p == '"' || *p == '\'') ? 6
                                         : 1;
    }
    out = xmalloc(n + 1);
    for (o = out, p = s; *p; p++) {
        switch (*p) {
        case '&':
            memcpy(o, "&amp;", 5);
            o += 5;
            break;
        case '<':
            memcpy(o, "&lt;", 4);
            o += 4;
            break;
        case '>':
            memcpy(o, "&gt;", 4);
            o += 4;
            break;
        case '"':
            memcpy(o, "&quot;", 6);
            o += 6;
            break;
        case '\'':
            memcpy(o, "&apos;", 6);
            o += 6;
            break;
        default:
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

char *
template_render(const char *tpl, const char *const *keys,
                const char *const *vals, int n)
{
    return render(tpl, keys, vals, n, 1);
}

char *
template_render_raw(const char *tpl, const char *const *keys,
                    const char *const *vals, int n)
{
    return render(tpl, keys, vals, n, 0);
}

static char *
render(const char *tpl, const char *const *keys, const char *const *vals, int n,
       int xml)
{
    size_t      cap = strlen(tpl) + 256, len = 0, kl, vl;
    char       *out = xmalloc(cap), *esc;
    const char *p = tpl, *end;
    int         i;

    while (*p) {
        esc = NULL;
        vl = 1;
        if (p[0] == '{' && p[1] == '{' && (end = strstr(p + 2, "}}")) != NULL) {
            kl = end - (p + 2);
            for (i = 0; i < n; i++) {
                if (strlen(keys[i]) == kl && memcmp(keys[i], p + 2, kl) == 0) {
                    esc = xml ? template_escape(vals[i] ? vals[i] : "")
                              : xstrdup(vals[i] ? vals[i] : "");
                    break;
                }
            }
            if (esc) {
                vl = strlen(esc);
            }
        }
        if (len + vl + 1 > cap) {
            cap = (len + vl + 1) * 2;
            out = xrealloc(out, cap);
        }
        if (esc) {
            memcpy(out + len, esc, vl);
            len += vl;
            p = strstr(p + 2, "}}") + 2;
            free(esc);
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
    return out;
}

char *
template_add_metadata(const char *xml, const char *element)
{
    const char *at, *p, *end = NULL;
    const char *open = "", *close = "";
    size_t      el = strlen(element), head, skip = 0;
    char       *out;

    /* after an existing <metadata>, in place of <metadata/>, or a new
       <metadata> before the last </domain> */
    if ((at = strstr(xml, "<metadata>")) != NULL) {
        at += strlen("<metadata>");
    } else if ((at = strstr(xml, "<metadata/>")) != NULL) {
        skip = strlen("<metadata/>");
        open = "<metadata>";
        close = "</metadata>";
    } else {
        for (p = xml; (p = strstr(p, "</domain>")) != NULL; p++) {
            end = p;
        }
        if (end == NULL) {
            return NULL;
        }
        at = end;
        open = "<metadata>";
        close = "</metadata>";
    }
    head = at - xml;
    out = xmalloc(strlen(xml) + el + strlen(open) + strlen(close) + 1);
    memcpy(out, xml, head);
    strcpy(out + head, open);
    strcat(out + head, element);
    strcat(out + head, close);
    strcat(out + head, at + skip);
    return out;
}
