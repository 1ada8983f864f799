/*
 * Unit tests of scaler/log.c: the line of each level with and without the
 * journal's priority prefix, the pool and id fields, cutting and one line
 * per event, log.level's names (and the config key), JOURNAL_STREAM
 * matching, and what the threshold lets through to stderr.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "scaler.h"


typedef struct {
    int          level;
    int          journal;
    const char  *pool;
    const char  *id;
    const char  *msg;
    const char  *line;
} format_case_t;

static const format_case_t  format_cases[] = {
    /* info: the line the scaler always wrote */
    { SLOG_INFO, 0, "web", "web-000003", "registered",
      "scaler: pool=web id=web-000003 registered\n" },
    { SLOG_INFO, 0, "web", NULL, "autoscale out rule=busy: 2 -> 4",
      "scaler: pool=web autoscale out rule=busy: 2 -> 4\n" },
    { SLOG_INFO, 0, NULL, NULL, "configuration reloaded",
      "scaler: configuration reloaded\n" },
    /* the other levels say so */
    { SLOG_ERR, 0, NULL, NULL, "out of memory",
      "scaler: error: out of memory\n" },
    { SLOG_WARN, 0, "web", NULL, "autoscale: rule idle: no value",
      "scaler: warn: pool=web autoscale: rule idle: no value\n" },
    { SLOG_DEBUG, 0, "web", "web-000001", "ready",
      "scaler: debug: pool=web id=web-000001 ready\n" },
    /* an id without a pool */
    { SLOG_INFO, 0, NULL, "web-000001", "x", "scaler: id=web-000001 x\n" },
    /* under the journal: sd-daemon(3)'s <N> first */
    { SLOG_ERR, 1, "web", NULL, "gone", "<3>scaler: error: pool=web gone\n" },
    { SLOG_WARN, 1, NULL, NULL, "slow", "<4>scaler: warn: slow\n" },
    { SLOG_INFO, 1, "web", "web-000002", "deleted",
      "<6>scaler: pool=web id=web-000002 deleted\n" },
    { SLOG_DEBUG, 1, NULL, NULL, "pass", "<7>scaler: debug: pass\n" },
    /* one event, one line: what a message carries cannot start another */
    { SLOG_WARN, 1, "web", NULL, "redis: ERR\r\n<3>forged line",
      "<4>scaler: warn: pool=web redis: ERR  <3>forged line\n" },
    { SLOG_INFO, 0, NULL, NULL, "", "scaler: \n" },
};


static void
test_format(void **state)
{
    char    buf[256];
    size_t  i, len;

    (void) state;

    for (i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
        const format_case_t  *c = &format_cases[i];

        len = slog_format(buf, sizeof(buf), c->level, c->journal, c->pool,
                          c->id, c->msg);
        if (strcmp(buf, c->line) != 0 || len != strlen(c->line)) {
            fail_msg("case %zu: expected \"%s\", got \"%s\" (%zu)", i,
                     c->line, buf, len);
        }
    }
}


/* a line that does not fit is cut, and still ends in its newline */
static void
test_format_cut(void **state)
{
    char    buf[32], big[600];
    size_t  len, size;

    (void) state;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    len = slog_format(buf, sizeof(buf), SLOG_WARN, 1, "web", NULL, big);
    assert_int_equal(len, sizeof(buf) - 1);
    assert_int_equal(strlen(buf), len);
    assert_int_equal(buf[len - 1], '\n');
    assert_memory_equal(buf, "<4>scaler: warn: pool=web xxxx", 30);

    /* even when the fields alone do not fit */
    for (size = 2; size < 12; size++) {
        len = slog_format(buf, size, SLOG_ERR, 1, big + 500, NULL, "m");
        assert_int_equal(len, size - 1);
        assert_int_equal(buf[len - 1], '\n');
        assert_int_equal(buf[len], '\0');
    }
}


static void
test_levels(void **state)
{
    (void) state;

    assert_int_equal(slog_level_parse("error"), SLOG_ERR);
    assert_int_equal(slog_level_parse("warn"), SLOG_WARN);
    assert_int_equal(slog_level_parse("info"), SLOG_INFO);
    assert_int_equal(slog_level_parse("debug"), SLOG_DEBUG);
    assert_int_equal(slog_level_parse("warning"), -1);
    assert_int_equal(slog_level_parse("INFO"), -1);
    assert_int_equal(slog_level_parse(""), -1);
    assert_string_equal(slog_level_name(SLOG_WARN), "warn");
    assert_string_equal(slog_level_name(SLOG_DEBUG), "debug");
}


static void
test_journal_match(void **state)
{
    struct stat  st;
    char         env[64];
    FILE        *f;

    (void) state;

    f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fstat(fileno(f), &st), 0);

    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long) st.st_dev,
             (unsigned long long) st.st_ino);
    assert_int_equal(slog_journal_match(env, &st), 1);

    /* another file, or not the format systemd.exec(5) gives */
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long) st.st_dev,
             (unsigned long long) st.st_ino + 1);
    assert_int_equal(slog_journal_match(env, &st), 0);
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long) st.st_dev + 1,
             (unsigned long long) st.st_ino);
    assert_int_equal(slog_journal_match(env, &st), 0);
    snprintf(env, sizeof(env), "%llu:%llux", (unsigned long long) st.st_dev,
             (unsigned long long) st.st_ino);
    assert_int_equal(slog_journal_match(env, &st), 0);
    snprintf(env, sizeof(env), "%llu", (unsigned long long) st.st_dev);
    assert_int_equal(slog_journal_match(env, &st), 0);
    snprintf(env, sizeof(env), "-%llu:%llu", (unsigned long long) st.st_dev,
             (unsigned long long) st.st_ino);
    assert_int_equal(slog_journal_match(env, &st), 0);
    snprintf(env, sizeof(env), "%llu: %llu", (unsigned long long) st.st_dev,
             (unsigned long long) st.st_ino);
    assert_int_equal(slog_journal_match(env, &st), 0);
    assert_int_equal(slog_journal_match("", &st), 0);
    assert_int_equal(slog_journal_match(NULL, &st), 0);

    fclose(f);
}


/* log.level in the config file: its default, each name, a bad one with
   its line */
static scaler_config_t *
load_level(const char *level, char *err, size_t errlen)
{
    scaler_config_t  *cf;
    char              dir[] = "/tmp/scaler-log-XXXXXX", tpl[64], yml[64];
    FILE             *f;

    assert_non_null(mkdtemp(dir));
    snprintf(tpl, sizeof(tpl), "%s/t.xml", dir);
    snprintf(yml, sizeof(yml), "%s/s.yaml", dir);
    f = fopen(tpl, "w");
    fputs("<domain type='test'><name>{{name}}</name></domain>\n", f);
    fclose(f);
    f = fopen(yml, "w");
    if (level) {
        fprintf(f, "log:\n  level: %s\n", level);
    }
    fprintf(f, "pools:\n"
            "  - name: web\n"
            "    zones: [ { name: z1, uri: \"test:///default\" } ]\n"
            "    template: { domain: %s }\n"
            "    address: { mode: static, cidr: 127.0.1.0/24, port: 80 }\n",
            tpl);
    fclose(f);
    cf = config_load(yml, err, errlen);
    unlink(yml);
    unlink(tpl);
    rmdir(dir);
    return cf;
}

static void
test_config(void **state)
{
    static const struct {
        const char  *name;
        int          level;
    } ok[] = {
        { NULL, SLOG_INFO }, { "error", SLOG_ERR }, { "warn", SLOG_WARN },
        { "info", SLOG_INFO }, { "debug", SLOG_DEBUG },
    };
    scaler_config_t  *cf;
    char              err[512];
    size_t            i;

    (void) state;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cf = load_level(ok[i].name, err, sizeof(err));
        if (cf == NULL) {
            fail_msg("level %s: %s", ok[i].name, err);
        }
        assert_int_equal(cf->log_level, ok[i].level);
        config_free(cf);
    }

    assert_null(load_level("verbose", err, sizeof(err)));
    assert_non_null(strstr(err, "s.yaml:2: log.level \"verbose\": expected "
                                "error, warn, info or debug"));
    assert_null(load_level("[ info ]", err, sizeof(err)));
    assert_non_null(strstr(err, "s.yaml:2: "));
}


/* what reaches stderr at each threshold, and the journal's prefix once
   JOURNAL_STREAM names stderr */
static void
test_threshold(void **state)
{
    struct stat  st;
    char         buf[1024], env[64];
    FILE        *f;
    size_t       n;
    int          saved;

    (void) state;

    f = tmpfile();
    assert_non_null(f);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);

    unsetenv("JOURNAL_STREAM");
    slog_init();
    slog_set_level(SLOG_INFO);
    assert_true(slog_enabled(SLOG_WARN));
    assert_false(slog_enabled(SLOG_DEBUG));
    slog("web", "web-000001", "info %d", 1);
    slog_debug("web", NULL, "not written");
    slog_warn("web", NULL, "warn %s", "two");
    slog_set_level(SLOG_WARN);
    slog(NULL, NULL, "not written");
    slog_err(NULL, "web-000002", "err");
    slog_set_level(SLOG_DEBUG);
    slog_debug(NULL, NULL, "debug");

    /* stderr is now the "journal" */
    assert_int_equal(fstat(STDERR_FILENO, &st), 0);
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long) st.st_dev,
             (unsigned long long) st.st_ino);
    setenv("JOURNAL_STREAM", env, 1);
    slog_init();
    slogl(SLOG_WARN, "web", NULL, "journal");
    slog(NULL, NULL, "info");
    unsetenv("JOURNAL_STREAM");
    slog_init();
    slog_set_level(SLOG_INFO);

    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);

    rewind(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);

    assert_string_equal(buf,
                        "scaler: pool=web id=web-000001 info 1\n"
                        "scaler: warn: pool=web warn two\n"
                        "scaler: error: id=web-000002 err\n"
                        "scaler: debug: debug\n"
                        "<4>scaler: warn: pool=web journal\n"
                        "<6>scaler: info\n");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_cut),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_journal_match),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_threshold),
    };

    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
