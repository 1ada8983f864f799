/* virt_tags.c: the listing's tag cache merge, as table rows.  A listing
   copies each domain's cached tag, then leaves the cache it found; a
   background park changing a domain's warm flag meanwhile (tag_warm: the
   cache entry's gen past the listing's start) must survive that, or the
   cache calls a parked domain not warm (a saved one then vanishes from
   the scaler: VIRT_LEFT, a leaked domain) */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "virt_tags.h"

typedef struct {
    const char   *uuid; /* NULL ends a list */
    int           warm;
    unsigned long gen;  /* old: when tag_warm last changed it */
    int           read; /* seen: read from the domain */
} ent_t;

typedef struct {
    const char   *what;
    ent_t         old[4];  /* the cache when the listing ends */
    ent_t         seen[4]; /* what the listing found */
    unsigned long since;   /* the generation when it began */
    unsigned long missed;  /* the last tag_warm that hit no entry */
    ent_t         want[4]; /* the cache it leaves (uuid, warm) */
} row_t;

static const row_t rows[] = {
    { "no change meanwhile: the listing's findings",
      { { "a", 0, 0, 0 }, { "b", 1, 3, 0 } },
      { { "b", 1, 3, 0 }, { "a", 0, 0, 0 } },
      3, 0,
      { { "a", 0, 0, 0 }, { "b", 1, 0, 0 } } },
    { "parked during the listing (the defect): the park's warm=1 kept",
      { { "a", 1, 5, 0 }, { "b", 0, 0, 0 } },
      { { "a", 0, 0, 0 }, { "b", 0, 0, 0 } },
      4, 0,
      { { "a", 1, 0, 0 }, { "b", 0, 0, 0 } } },
    { "woken during the listing: warm=0 kept",
      { { "a", 0, 7, 0 } },
      { { "a", 1, 2, 0 } },
      6, 0,
      { { "a", 0, 0, 0 } } },
    { "changed before the listing began: its copy stands",
      { { "a", 1, 2, 0 } },
      { { "a", 1, 2, 0 } },
      2, 0,
      { { "a", 1, 0, 0 } } },
    { "a domain gone is forgotten, though parked meanwhile",
      { { "a", 1, 5, 0 }, { "b", 0, 0, 0 } },
      { { "b", 0, 0, 0 } },
      4, 0,
      { { "b", 0, 0, 0 } } },
    { "a new domain (read) with a change that hit no entry since: left "
      "out, read again next time",
      { { "a", 0, 0, 0 } },
      { { "a", 0, 0, 0 }, { "n", 0, 0, 1 } },
      4, 5,
      { { "a", 0, 0, 0 } } },
    { "a new domain read, the miss before the listing: kept",
      { { "a", 0, 0, 0 } },
      { { "n", 1, 0, 1 }, { "a", 0, 0, 0 } },
      4, 4,
      { { "a", 0, 0, 0 }, { "n", 1, 0, 0 } } },
    { "a read domain the park then hit: its change kept, not dropped",
      { { "n", 1, 6, 0 } },
      { { "n", 0, 0, 1 } },
      4, 5,
      { { "n", 1, 0, 0 } } },
    { "an empty cache: the listing's findings",
      { { NULL, 0, 0, 0 } },
      { { "b", 0, 0, 1 }, { "a", 1, 0, 1 } },
      0, 0,
      { { "a", 1, 0, 0 }, { "b", 0, 0, 0 } } },
};

static int
fill(tag_entry_t *e, const ent_t *src)
{
    int n = 0;

    for (; n < 4 && src[n].uuid; n++) {
        memset(&e[n], 0, sizeof(e[n]));
        snprintf(e[n].uuid, sizeof(e[n].uuid), "%s", src[n].uuid);
        snprintf(e[n].info.pool, sizeof(e[n].info.pool), "web");
        snprintf(e[n].info.id, sizeof(e[n].info.id), "web-%s", src[n].uuid);
        e[n].info.warm = src[n].warm;
        e[n].gen = src[n].gen;
        e[n].read = src[n].read;
    }
    return n;
}

static void
test_table(void **state)
{
    tag_entry_t old[4], seen[4];
    size_t      r;
    int         nold, n, nwant, i;

    (void) state;
    for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        nold = fill(old, rows[r].old);
        qsort(old, nold, sizeof(*old), tag_cmp);
        n = fill(seen, rows[r].seen);
        for (nwant = 0; nwant < 4 && rows[r].want[nwant].uuid; nwant++) {
        }
        n = tag_merge(seen, n, old, nold, rows[r].since, rows[r].missed);
        print_message("# %s\n", rows[r].what);
        assert_int_equal(n, nwant);
        for (i = 0; i < n; i++) {
            assert_string_equal(seen[i].uuid, rows[r].want[i].uuid);
            assert_int_equal(seen[i].info.warm, rows[r].want[i].warm);
            assert_string_equal(seen[i].info.pool, "web"); /* whole tag */
            assert_int_equal(seen[i].read, 0);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
