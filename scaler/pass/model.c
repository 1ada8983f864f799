/*
 * model.c: what an instance is made from, as a value that can be
 * compared (docs/design.md, "Lifecycle").  A model is the template
 * version, a digest of the template (the domain XML as the operator
 * wrote it, and the volume settings), a digest of the base image the
 * overlay sits on (its path, size and modification time), the
 * template's name and the host.  Each instance carries its own in its
 * tag; the pool's latest is the one a new instance would get now.
 * SHA-256 from libcrypto; each part is length-prefixed, so no two
 * different inputs hash the same bytes.
 */

#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

#include "scaler.h"

static void
part(EVP_MD_CTX *c, const char *s)
{
    unsigned char len[8];
    size_t        n = s ? strlen(s) : 0;
    int           i;

    for (i = 0; i < 8; i++) {
        len[i] = (unsigned char) (n >> (8 * i));
    }
    EVP_DigestUpdate(c, len, sizeof(len));
    if (n) {
        EVP_DigestUpdate(c, s, n);
    }
}

static void
hex(EVP_MD_CTX *c, char out[MODEL_DIGEST_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int  n = 0, i;

    out[0] = '\0';
    if (EVP_DigestFinal_ex(c, md, &n) != 1 || n * 2 > MODEL_DIGEST_LEN) {
        return;
    }
    for (i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

static void
digest(const char *const *parts, int n, char out[MODEL_DIGEST_LEN + 1])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int         i;

    out[0] = '\0';
    if (c == NULL) {
        return;
    }
    if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
        for (i = 0; i < n; i++) {
            part(c, parts[i]);
        }
        hex(c, out);
    }
    EVP_MD_CTX_free(c);
}

void
model_template_digest(const template_config_t *t,
                      char                     out[MODEL_DIGEST_LEN + 1])
{
    const char *parts[] = { "template", t->text, t->vol_pool, t->vol_backing,
                            t->vol_format,
                            /* only with cloud_init: a template without
                               keeps the digest it had before */
                            "cloud_init", t->ci.user_data, t->ci.meta_data,
                            t->ci.network_config, t->ci.vendor_data,
                            t->ci.pool };

    digest(parts, t->ci.user_data ? 11 : 5, out);
}

const char *
origin_name(origin_t o)
{
    static const char *const names[] = { "scaled", "manual", "adopted" };

    return (unsigned) o <= ORIGIN_ADOPTED ? names[o] : "?";
}

int
origin_parse(const char *s, origin_t *o)
{
    int i;

    if (s[0] == '\0') {
        *o = ORIGIN_SCALED; /* a tag that predates origins */
        return 0;
    }
    for (i = ORIGIN_SCALED; i <= ORIGIN_ADOPTED; i++) {
        if (strcmp(s, origin_name((origin_t) i)) == 0) {
            *o = (origin_t) i;
            return 0;
        }
    }
    return -1;
}

void
model_image_digest(const char *path, unsigned long long size, const char *mtime,
                   char out[MODEL_DIGEST_LEN + 1])
{
    char        sz[24];
    const char *parts[] = { "image", path, sz, mtime };

    snprintf(sz, sizeof(sz), "%llu", size);
    digest(parts, 4, out);
}

int
model_latest(const virt_model_t *latest, const virt_model_t *m)
{
    return strcmp(latest->version, m->version) == 0
           && (!latest->digest[0] || !m->digest[0]
               || strcmp(latest->digest, m->digest) == 0)
           && (!latest->image[0] || !m->image[0]
               || strcmp(latest->image, m->image) == 0);
}

void
model_images_digest(const virt_model_t latest[][SCALER_MAX_HOSTS],
                    int ntemplates, int nhosts, char out[MODEL_DIGEST_LEN + 1])
{
    const char *parts[1 + SCALER_MAX_TEMPLATES * SCALER_MAX_HOSTS];
    int         k, h, n = 0, any = 0;

    parts[n++] = "images";
    for (k = 0; k < ntemplates && k < SCALER_MAX_TEMPLATES; k++) {
        for (h = 0; h < nhosts && h < SCALER_MAX_HOSTS; h++) {
            parts[n++] = latest[k][h].image;
            any |= latest[k][h].image[0] != '\0';
        }
    }
    out[0] = '\0';
    if (any) {
        digest(parts, n, out);
    }
}

void
model_templates_digest(const virt_model_t latest[][SCALER_MAX_HOSTS],
                       int ntemplates, char out[MODEL_DIGEST_LEN + 1])
{
    const char *parts[1 + 3 * SCALER_MAX_TEMPLATES];
    int         k, n = 0;

    parts[n++] = "templates";
    for (k = 0; k < ntemplates && k < SCALER_MAX_TEMPLATES; k++) {
        parts[n++] = latest[k][0].template;
        parts[n++] = latest[k][0].version;
        parts[n++] = latest[k][0].digest;
    }
    digest(parts, n, out);
}
