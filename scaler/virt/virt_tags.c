/*
 * virt_tags.c: the listing's tag cache merge (virt_tags.h), a pure
 * function: a background park changes a domain's warm flag in the cache
 * while a listing that copied the old flag runs, and the listing's
 * replacement of the cache must not undo it.
 */
#include <stdlib.h>
#include <string.h>

#include "virt_tags.h"

int
tag_cmp(const void *a, const void *b)
{
    return strcmp(((const tag_entry_t *) a)->uuid,
                  ((const tag_entry_t *) b)->uuid);
}

int
tag_merge(tag_entry_t *seen, int n, const tag_entry_t *old, int nold,
          unsigned long since, unsigned long missed)
{
    const tag_entry_t *o;
    int                i, k = 0;

    qsort(seen, n, sizeof(*seen), tag_cmp);
    for (i = 0; i < n; i++) {
        o = nold ? bsearch(&seen[i], old, nold, sizeof(*old), tag_cmp) : NULL;
        if (o && o->gen > since) {
            seen[i].info = o->info;
            seen[i].gen = o->gen;
        } else if (seen[i].read && missed > since) {
            continue;
        }
        seen[i].read = 0;
        if (k != i) {
            seen[k] = seen[i];
        }
        k++;
    }
    return k;
}
