/*
 * Unit tests of scaler/xmalloc.c: the copies and the formatted string
 * are what libc's would be, sizes of 0 give memory, and an allocation
 * that cannot be made (n * size past SIZE_MAX: refused before libc is
 * asked, so it fails the same under ASan) logs its size and the caller's
 * file:line at error level and aborts, in a child.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "scaler.h"


static void
test_copies(void **state)
{
    char  *s;

    (void) state;
    s = xstrdup("web-000003");
    assert_string_equal(s, "web-000003");
    free(s);
    s = xstrndup("web-000003", 3);
    assert_string_equal(s, "web");
    free(s);
    s = xstrndup("ab", 10);
    assert_string_equal(s, "ab");
    free(s);
    s = xasprintf("%s:%d", "127.0.0.1", 6379);
    assert_string_equal(s, "127.0.0.1:6379");
    free(s);
    s = xasprintf("%s", "");
    assert_string_equal(s, "");
    free(s);
}

static void
test_sizes(void **state)
{
    unsigned char  *p;
    size_t          i;

    (void) state;
    p = xmalloc(0);
    assert_non_null(p);
    free(p);
    p = xcalloc(0, 8);
    assert_non_null(p);
    free(p);
    p = xcalloc(64, 4);
    for (i = 0; i < 256; i++) {
        assert_int_equal(p[i], 0);
    }
    p = xrealloc(p, 1024);
    p[1023] = 1;
    free(p);
    p = xrealloc(NULL, 16);
    free(p);
}

static void
test_out_of_memory(void **state)
{
    char     buf[512];
    ssize_t  n;
    size_t   got = 0;
    pid_t    pid;
    int      fds[2], status;

    (void) state;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        signal(SIGABRT, SIG_DFL);
        (void) xcalloc(SIZE_MAX / 2, 4);
        _exit(0);                       /* not reached */
    }
    close(fds[1]);
    while (got < sizeof(buf) - 1
           && (n = read(fds[0], buf + got, sizeof(buf) - 1 - got)) > 0)
    {
        got += (size_t) n;
    }
    buf[got] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    /* the size asked for and where, at error level */
    assert_non_null(strstr(buf, "scaler: error: out of memory: "));
    assert_non_null(strstr(buf, " bytes at t/unit/test_xmalloc.c:"));
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_out_of_memory),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("xmalloc", tests, NULL, NULL);
}
