/*
 * host.c: a host's calls on its own workers, each with a deadline.  The
 * calls here do not touch libvirt (the connection is opened only by a
 * call that asks for it): one returns at once, one blocks until the test
 * lets it go (a hung host).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaler.h"

static pthread_mutex_t  gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t   gate_cond = PTHREAD_COND_INITIALIZER;
static int              gate_open, ran, dropped;

typedef struct {
    host_call_t  c;
    int          block;         /* wait for the gate */
    int          result;
} test_call_t;

static void
run(virt_conn_t *vc, host_call_t *c)
{
    test_call_t  *t = (test_call_t *) c;

    (void) vc;
    pthread_mutex_lock(&gate_lock);
    ran++;
    while (t->block && !gate_open) {
        pthread_cond_wait(&gate_cond, &gate_lock);
    }
    pthread_mutex_unlock(&gate_lock);
    t->result = 42;
}

static void
drop(host_call_t *c)
{
    __atomic_add_fetch(&dropped, 1, __ATOMIC_SEQ_CST);
    free(c);
}

static test_call_t *
call(int block)
{
    test_call_t  *t = calloc(1, sizeof(*t));

    host_call_init(&t->c, run, drop);
    t->block = block;
    return t;
}

static void
gate(int open)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* the drops so far, waited for (a late call is dropped by its worker
   when it returns) */
static int
drops(int want)
{
    int  i, n = 0;

    for (i = 0; i < 500; i++) {
        if ((n = __atomic_load_n(&dropped, __ATOMIC_SEQ_CST)) >= want) {
            break;
        }
        usleep(10000);
    }
    return n;
}

static void
test_done(void **state)
{
    host_t        *h = host_new("test:///default", 0, 0, 5000);
    host_batch_t   b;
    test_call_t   *c[3];
    int            i;

    (void) state;
    dropped = 0;
    host_batch_init(&b, NULL);
    for (i = 0; i < 3; i++) {
        c[i] = call(0);
        host_submit(&b, h, &c[i]->c);
    }
    host_wait(&b);
    host_batch_destroy(&b);
    for (i = 0; i < 3; i++) {
        assert_int_equal(c[i]->c.outcome, HOST_DONE);
        assert_int_equal(c[i]->result, 42);
        host_call_release(&c[i]->c);
    }
    assert_int_equal(drops(3), 3);
    assert_int_equal(host_stalled(h, NULL), 0);
    host_release(h);
}

/* a call past its deadline: given up, the host stalled (the next call
   refused at once, one queued behind it too) until it returns */
static void
test_late(void **state)
{
    host_t        *h = host_new("test:///default", 0, 0, 200);
    host_batch_t   b;
    test_call_t   *stuck, *more[5], *after;
    uint64_t       t0, since;
    int            i, late;

    (void) state;
    dropped = 0;
    ran = 0;
    gate(0);
    host_batch_init(&b, NULL);
    stuck = call(1);
    t0 = clock_mono_ms();
    host_submit(&b, h, &stuck->c);
    /* 4 workers: three more block too, a fifth waits in the queue */
    for (i = 0; i < 5; i++) {
        more[i] = call(1);
        host_submit(&b, h, &more[i]->c);
    }
    host_wait(&b);
    host_batch_destroy(&b);
    assert_true(clock_mono_ms() - t0 >= 200);
    assert_int_equal(stuck->c.outcome, HOST_LATE);
    /* the others ran and are late too, or were still queued behind a
       stuck call: never run (at least the two beyond the 4 workers) */
    for (i = 0, late = 1; i < 5; i++) {
        assert_true(more[i]->c.outcome == HOST_LATE
                    || more[i]->c.outcome == HOST_REFUSED);
        late += more[i]->c.outcome == HOST_LATE;
    }
    assert_int_equal(more[3]->c.outcome, HOST_REFUSED);
    assert_int_equal(more[4]->c.outcome, HOST_REFUSED);
    assert_true(host_stalled(h, &since));
    assert_true(since >= t0 && since <= clock_mono_ms());

    /* stalled: refused without waiting */
    host_batch_init(&b, NULL);
    after = call(0);
    t0 = clock_mono_ms();
    host_submit(&b, h, &after->c);
    host_wait(&b);
    host_batch_destroy(&b);
    assert_int_equal(after->c.outcome, HOST_REFUSED);
    assert_true(clock_mono_ms() - t0 < 200);
    host_call_release(&after->c);

    /* the caller lets go of the late calls; their workers drop them */
    host_call_release(&stuck->c);
    for (i = 0; i < 5; i++) {
        host_call_release(&more[i]->c);
    }
    /* after and the refused ones at once */
    assert_int_equal(drops(1 + 6 - late), 1 + 6 - late);
    gate(1);                            /* the host answers again */
    assert_int_equal(drops(7), 7);
    assert_int_equal(ran, late);
    for (i = 0; i < 500 && host_stalled(h, NULL); i++) {
        usleep(10000);
    }
    assert_int_equal(host_stalled(h, NULL), 0);

    host_batch_init(&b, NULL);
    after = call(0);
    host_submit(&b, h, &after->c);
    host_wait(&b);
    host_batch_destroy(&b);
    assert_int_equal(after->c.outcome, HOST_DONE);
    host_call_release(&after->c);
    host_release(h);
}

/* a pass being stopped gives its calls up at once; a host released
   while a call is stuck goes when that call returns */
static void
test_cancel_release(void **state)
{
    host_t        *h = host_new("test:///default", 0, 0, 60000);
    host_batch_t   b;
    test_call_t   *c;
    int            cancel = 0, i;
    uint64_t       t0;

    (void) state;
    dropped = 0;
    gate(0);
    host_batch_init(&b, &cancel);
    ran = 0;
    c = call(1);
    host_submit(&b, h, &c->c);
    for (i = 0; i < 500 && __atomic_load_n(&ran, __ATOMIC_SEQ_CST) == 0;
         i++)
    {
        usleep(10000);                  /* running, stuck */
    }
    cancel = 1;
    t0 = clock_mono_ms();
    host_wait(&b);
    host_batch_destroy(&b);
    assert_true(clock_mono_ms() - t0 < 5000);
    assert_int_equal(c->c.outcome, HOST_CANCELLED);
    host_call_release(&c->c);
    host_release(h);                    /* its worker is stuck in c */
    assert_int_equal(__atomic_load_n(&dropped, __ATOMIC_SEQ_CST), 0);
    gate(1);
    assert_int_equal(drops(1), 1);      /* c, then the host itself */
}

/* a call in no batch (the warm pool's background calls): it runs on
   workers of its own, beside 4 stuck calls of a pass; nobody waits for
   it, host_call_poll() tells when it ended, and gives it up at its
   deadline as host_wait() does (late: the host stalled) */
static void
test_background(void **state)
{
    host_t        *h = host_new("test:///default", 0, 0, 200);
    host_batch_t   b;
    test_call_t   *pass[4], *bg, *done;
    uint64_t       t0;
    int            i;

    (void) state;
    dropped = 0;
    ran = 0;
    gate(0);
    host_batch_init(&b, NULL);
    for (i = 0; i < 4; i++) {
        pass[i] = call(1);
        host_submit(&b, h, &pass[i]->c);
    }
    bg = call(1);
    t0 = clock_mono_ms();
    host_submit(NULL, h, &bg->c);
    for (i = 0; i < 500 && __atomic_load_n(&ran, __ATOMIC_SEQ_CST) < 5; i++) {
        usleep(1000);
    }
    assert_int_equal(__atomic_load_n(&ran, __ATOMIC_SEQ_CST), 5);
    assert_int_equal(host_call_poll(&bg->c), 0);    /* running */
    while (clock_mono_ms() - t0 < 250) {
        usleep(10000);
    }
    assert_int_equal(host_call_poll(&bg->c), 1);    /* given up */
    assert_int_equal(bg->c.outcome, HOST_LATE);
    assert_true(host_stalled(h, NULL));
    host_wait(&b);
    host_batch_destroy(&b);
    gate(1);
    for (i = 0; i < 4; i++) {
        host_call_release(&pass[i]->c);
    }
    host_call_release(&bg->c);
    assert_int_equal(drops(5), 5);
    for (i = 0; i < 500 && host_stalled(h, NULL); i++) {
        usleep(10000);
    }
    assert_int_equal(host_stalled(h, NULL), 0);

    /* one that ends in time: done, polled as such */
    done = call(0);
    host_submit(NULL, h, &done->c);
    for (i = 0; i < 500 && !host_call_poll(&done->c); i++) {
        usleep(1000);
    }
    assert_int_equal(done->c.outcome, HOST_DONE);
    assert_int_equal(done->result, 42);
    host_call_release(&done->c);
    host_release(h);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_done),
        cmocka_unit_test(test_late),
        cmocka_unit_test(test_cancel_release),
        cmocka_unit_test(test_background),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
