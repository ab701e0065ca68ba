/* The bounds settings (core/config.h): CHORUS_KV_MAX_MEMORY, CHORUS_TRENDING_REFRESH_MS,
 * CHORUS_HASHTAG_SCAN_MAX, CHORUS_WS_REORDER_HOLD_MS, CHORUS_WS_CLOSE_GRACE_MS, CHORUS_RATE_LIMIT_TYPING — defaults, accepted values, rejected ones named in the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

static const char *const g_vars[] = {"CHORUS_KV_MAX_MEMORY", "CHORUS_TRENDING_REFRESH_MS", "CHORUS_HASHTAG_SCAN_MAX",
                                      "CHORUS_WS_REORDER_HOLD_MS", "CHORUS_WS_CLOSE_GRACE_MS", "CHORUS_RATE_LIMIT_TYPING"};

static int clear_vars(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(g_vars) / sizeof(g_vars[0]); i++)
        unsetenv(g_vars[i]);
    return 0;
}

static void load_ok(ch_config_t *cfg)
{
    char err[512] = "";
    if (ch_config_load(cfg, err, sizeof(err)) != 0)
        fail_msg("load failed: %s", err);
}

static void expect_rejected(const char *var, const char *value)
{
    ch_config_t cfg;
    char err[512] = "";
    assert_int_equal(setenv(var, value, 1), 0);
    if (ch_config_load(&cfg, err, sizeof(err)) != -1)
        fail_msg("%s=%s was accepted", var, value);
    if (!strstr(err, var))
        fail_msg("%s=%s: message does not name the variable: '%s'", var, value, err);
    unsetenv(var);
}

static void test_defaults(void **state)
{
    (void)state;
    ch_config_t cfg;
    load_ok(&cfg);
    assert_int_equal(cfg.kv_max_memory, (size_t)256 << 20);
    assert_int_equal(cfg.trending_refresh_ms, 5000);
    assert_int_equal(cfg.hashtag_scan_max, 1000);
    assert_int_equal(cfg.ws_reorder_hold_ms, 2000);
    assert_int_equal(cfg.rate_limit_typing, 120);
}

static void test_good_values(void **state)
{
    (void)state;
    ch_config_t cfg;
    setenv("CHORUS_KV_MAX_MEMORY", "0", 1);
    setenv("CHORUS_TRENDING_REFRESH_MS", "0", 1);
    setenv("CHORUS_HASHTAG_SCAN_MAX", "10", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.kv_max_memory, 0);
    assert_int_equal(cfg.trending_refresh_ms, 0);
    assert_int_equal(cfg.hashtag_scan_max, 10);
    assert_int_equal(cfg.ws_close_grace_ms, 2000);
    setenv("CHORUS_KV_MAX_MEMORY", "16777216", 1);
    setenv("CHORUS_HASHTAG_SCAN_MAX", "100000", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.kv_max_memory, 16777216);
    assert_int_equal(cfg.hashtag_scan_max, 100000);
    setenv("CHORUS_WS_REORDER_HOLD_MS", "0", 1);
    setenv("CHORUS_RATE_LIMIT_TYPING", "1", 1);
    setenv("CHORUS_WS_CLOSE_GRACE_MS", "100", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.ws_reorder_hold_ms, 0);
    assert_int_equal(cfg.ws_close_grace_ms, 100);
    assert_int_equal(cfg.rate_limit_typing, 1);
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_rejected("CHORUS_KV_MAX_MEMORY", "16777215"); /* under 16 MiB: a shard's share < 256 KiB */
    expect_rejected("CHORUS_KV_MAX_MEMORY", "1");
    expect_rejected("CHORUS_KV_MAX_MEMORY", "-1");
    expect_rejected("CHORUS_KV_MAX_MEMORY", "256M");
    expect_rejected("CHORUS_TRENDING_REFRESH_MS", "-1");
    expect_rejected("CHORUS_TRENDING_REFRESH_MS", "3600001");
    expect_rejected("CHORUS_HASHTAG_SCAN_MAX", "9");
    expect_rejected("CHORUS_HASHTAG_SCAN_MAX", "100001");
    expect_rejected("CHORUS_WS_REORDER_HOLD_MS", "-1");
    expect_rejected("CHORUS_WS_REORDER_HOLD_MS", "10001");
    expect_rejected("CHORUS_WS_CLOSE_GRACE_MS", "99");
    expect_rejected("CHORUS_WS_CLOSE_GRACE_MS", "600001");
    expect_rejected("CHORUS_RATE_LIMIT_TYPING", "0");
    expect_rejected("CHORUS_RATE_LIMIT_TYPING", "1000001");
}

static void test_help_lists_them(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ch_config_print_help(f);
    fclose(f);
    for (size_t i = 0; i < sizeof(g_vars) / sizeof(g_vars[0]); i++)
        if (!strstr(text, g_vars[i]))
            fail_msg("--help does not mention %s", g_vars[i]);
    free(text);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, clear_vars, clear_vars)

int main(void)
{
    const struct CMUnitTest tests[] = {T(test_defaults), T(test_good_values), T(test_bad_values),
                                       T(test_help_lists_them)};
    return cmocka_run_group_tests_name("config_bounds", tests, NULL, NULL);
}
