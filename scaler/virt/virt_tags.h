/*
 * virt_tags.h: the listing's tag cache (virt.c) and how a listing's
 * findings are merged into it (virt_tags.c), beside tag changes made by
 * background calls (a park's warm flag) while the listing ran.
 */
#ifndef VIRT_TAGS_H
#define VIRT_TAGS_H

#include <libvirt/libvirt.h>

#include "scaler.h"

/* what a list learnt of a tagged domain, by UUID, for the next list.
   Our tag is written when the domain is defined; only its warm flag
   changes after (tag_warm: a park or a wake, possibly on a host worker
   while the pass lists), so it is read (virDomainGetMetadata: an RPC on a
   real host, and an XML parse) once; whatever deletes a domain reads it
   again.  The overlay's path is not kept.  In modes lease and agent the
   guest's address, once learnt, is kept while the domain runs. */
typedef struct {
    char            uuid[VIR_UUID_STRING_BUFLEN];
    virt_tag_info_t info;
    char            learnt[80];  /* the guest's address, or "" */
    char            refused[96]; /* addresses refused, last logged */
    unsigned long   gen;         /* the cache's generation when the warm
                                    flag was last changed here, 0 never */
    int read;                    /* a listing's entry: read from the
                                    domain, not taken from the cache */
} tag_entry_t;

int tag_cmp(const void *a, const void *b);

/* the cache a listing leaves: seen (n entries, what it found, sorted by
   uuid; domains gone are forgotten), with each entry that old (nold,
   sorted, the cache as it is now) changed after the listing began
   (gen > since) taking old's tag (the listing's copy of it may predate
   the change); when a change since then hit no entry (missed > since: a
   domain the listing may have read before it was changed), the entries
   the listing read from their domains are left out, to be read again by
   the next.  Returns how many of seen are kept, in place, sorted. */
int tag_merge(tag_entry_t *seen, int n, const tag_entry_t *old, int nold,
              unsigned long since, unsigned long missed);

/* tests only (NULL otherwise): called by virt_list after it read the
   domains' tags, before it leaves the cache: a park run there comes
   between the listing's copies and its cache, deterministically */
extern void (*virt_list_hook)(virt_conn_t *vc);

#endif
