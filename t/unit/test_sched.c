/*
 * Unit tests of ngx_module/ngx_http_scaleset_sched.c, the gateway's smooth
 * weighted round robin schedule, against nginx's algorithm as
 * ngx_http_upstream_get_peer() runs it (current weights, ties to the first
 * member in order).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_scaleset_sched.h"


#define MAXN    64
#define MAXLEN  8192


/* a schedule built into buffers of the right size */
static size_t
build(const uint32_t *w, size_t n, uint32_t *sched, size_t cap,
    uint64_t *scaled)
{
    size_t     len;
    uint64_t  *work;

    work = malloc(ngx_http_scaleset_sched_work_size(n) + sizeof(uint64_t));
    assert_non_null(work);

    len = ngx_http_scaleset_sched_build(w, n, sched, cap, work, scaled);

    free(work);
    return len;
}


/* nginx's smooth weighted round robin, one period of T = sum of weights */
static size_t
reference(const uint32_t *w, size_t n, uint32_t *out)
{
    size_t   i, t, best, total;
    int64_t  cw[MAXN];

    total = 0;
    for (i = 0; i < n; i++) {
        cw[i] = 0;
        total += w[i];
    }

    for (t = 0; t < total; t++) {
        best = n;
        for (i = 0; i < n; i++) {
            cw[i] += w[i];
            if (best == n || cw[i] > cw[best]) {
                best = i;
            }
        }

        cw[best] -= (int64_t) total;
        out[t] = (uint32_t) best;
    }

    return total;
}


static uint32_t
gcd(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }

    return a;
}


/* the schedule of w equals nginx's for w divided by the weights' gcd */
static void
assert_nginx_order(const uint32_t *w, size_t n)
{
    size_t     i, len, rlen;
    uint32_t   d, reduced[MAXN], got[MAXLEN], want[MAXLEN];
    uint64_t   scaled;

    d = 0;
    for (i = 0; i < n; i++) {
        d = gcd(d, w[i]);
    }

    for (i = 0; i < n; i++) {
        reduced[i] = w[i] / d;
    }

    len = build(w, n, got, MAXLEN, &scaled);
    rlen = reference(reduced, n, want);

    assert_int_equal(scaled, 0);
    assert_int_equal(len, rlen);

    for (i = 0; i < len; i++) {
        if (got[i] != want[i]) {
            fail_msg("n=%zu: entry %zu is member %u, nginx picks %u",
                     n, i, got[i], want[i]);
        }
    }
}


typedef struct {
    uint32_t  w[8];
    size_t    n;
    char      order[32];   /* members as letters a, b, c ... */
} order_case_t;

static const order_case_t  order_cases[] = {
    { { 5, 1, 1 }, 3, "aabacaa" },
    { { 1, 1, 1 }, 3, "abc" },
    { { 2, 1 }, 2, "aba" },
    { { 1, 2 }, 2, "bab" },
    { { 4, 4, 1, 7 }, 4, "dabdcdabdadbdabd" },
    { { 2, 4, 6, 8 }, 4, "dcbdacdbcd" },
    { { 7 }, 1, "a" },
    { { 0, 0 }, 2, "ab" },
    { { 0, 2 }, 2, "bab" },
};


static void
test_table(void **state)
{
    size_t    i, k, len;
    uint32_t  got[MAXLEN];
    uint64_t  scaled;
    char      s[MAXLEN + 1];

    (void) state;

    for (i = 0; i < sizeof(order_cases) / sizeof(order_cases[0]); i++) {
        const order_case_t  *c = &order_cases[i];

        len = build(c->w, c->n, got, MAXLEN, &scaled);

        for (k = 0; k < len; k++) {
            s[k] = (char) ('a' + got[k]);
        }
        s[len] = '\0';

        assert_string_equal(s, c->order);
        assert_int_equal(scaled, 0);
    }
}


/* many weight vectors: nginx's order, every member w / gcd times */
static void
test_against_nginx(void **state)
{
    size_t    i, k, n;
    uint32_t  w[MAXN];

    (void) state;

    srand(19);

    for (i = 0; i < 2000; i++) {
        n = 1 + (size_t) rand() % 12;

        for (k = 0; k < n; k++) {
            /* few distinct weights, and some large ones */
            w[k] = (i % 3 == 0) ? 1 + (uint32_t) (rand() % 3)
                                : 1 + (uint32_t) (rand() % 40);
        }

        assert_nginx_order(w, n);
    }

    /* many members of equal weight and one heavy */
    for (k = 0; k < MAXN; k++) {
        w[k] = 1;
    }
    w[MAXN / 2] = 50;
    assert_nginx_order(w, MAXN);
}


static void
test_empty(void **state)
{
    uint32_t  w[1] = { 3 }, sched[4];
    uint64_t  scaled = 7;

    (void) state;

    assert_int_equal(build(w, 0, sched, 4, &scaled), 0);
    assert_int_equal(scaled, 0);
    assert_int_equal(build(w, 1, sched, 0, &scaled), 0);
}


/* a total weight above the buffer: scaled to fit, shares kept roughly */
static void
test_scaled_down(void **state)
{
    size_t    i, len, count[6];
    uint32_t  w[6] = { 1000, 999, 998, 997, 1000, 1 }, sched[4096];
    uint64_t  scaled;

    (void) state;

    len = build(w, 6, sched, 4096, &scaled);

    assert_int_equal(scaled, 4995);
    assert_true(len <= 4096);
    assert_true(len >= 4096 - 2 * 6);

    memset(count, 0, sizeof(count));
    for (i = 0; i < len; i++) {
        assert_true(sched[i] < 6);
        count[sched[i]]++;
    }

    for (i = 0; i < 5; i++) {
        /* about a fifth each */
        assert_true(count[i] > len / 5 - len / 50);
        assert_true(count[i] < len / 5 + len / 50);
    }

    /* the lightest member still takes part */
    assert_int_equal(count[5], 1);
}


/* more members than entries: the first cap members, once each */
static void
test_more_members_than_entries(void **state)
{
    size_t    i, len;
    uint32_t  w[10], sched[4];
    uint64_t  scaled;

    (void) state;

    for (i = 0; i < 10; i++) {
        w[i] = (uint32_t) (1 + i);
    }

    len = build(w, 10, sched, 4, &scaled);

    assert_int_equal(len, 4);
    for (i = 0; i < len; i++) {
        assert_true(sched[i] < 4);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_against_nginx),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_scaled_down),
        cmocka_unit_test(test_more_members_than_entries),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
