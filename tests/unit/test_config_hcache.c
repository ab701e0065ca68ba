/* The hydration cache settings (core/config.h): CHORUS_HYDRATE_CACHE_MEMORY and
 * CHORUS_HYDRATE_TTL_MS, CHORUS_HYDRATE_L1_* — defaults, accepted values, rejected ones named in the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

static int clear_vars(void **state)
{
    (void)state;
    unsetenv("CHORUS_HYDRATE_CACHE_MEMORY");
    unsetenv("CHORUS_HYDRATE_TTL_MS");
    unsetenv("CHORUS_HYDRATE_L1_MEMORY");
    unsetenv("CHORUS_HYDRATE_L1_ENTRIES");
    unsetenv("CHORUS_HYDRATE_L1_TTL_MS");
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
    assert_int_equal(cfg.hydrate_cache_memory, (size_t)256 << 20);
    assert_int_equal(cfg.hydrate_ttl_ms, 600000);
    assert_int_equal(cfg.hydrate_l1_memory, (size_t)64 << 20);
    assert_int_equal(cfg.hydrate_l1_entries, 262144);
    assert_int_equal(cfg.hydrate_l1_ttl_ms, 5000);
}

static void test_good_values(void **state)
{
    (void)state;
    ch_config_t cfg;
    setenv("CHORUS_HYDRATE_CACHE_MEMORY", "1048576", 1);
    setenv("CHORUS_HYDRATE_TTL_MS", "1000", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.hydrate_cache_memory, 1048576);
    assert_int_equal(cfg.hydrate_ttl_ms, 1000);
    setenv("CHORUS_HYDRATE_TTL_MS", "86400000", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.hydrate_ttl_ms, 86400000);
    setenv("CHORUS_HYDRATE_L1_MEMORY", "0", 1); /* no L1 */
    setenv("CHORUS_HYDRATE_L1_ENTRIES", "1024", 1);
    setenv("CHORUS_HYDRATE_L1_TTL_MS", "100", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.hydrate_l1_memory, 0);
    assert_int_equal(cfg.hydrate_l1_entries, 1024);
    assert_int_equal(cfg.hydrate_l1_ttl_ms, 100);
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_rejected("CHORUS_HYDRATE_CACHE_MEMORY", "1048575");
    expect_rejected("CHORUS_HYDRATE_CACHE_MEMORY", "0");
    expect_rejected("CHORUS_HYDRATE_CACHE_MEMORY", "256M");
    expect_rejected("CHORUS_HYDRATE_TTL_MS", "999");
    expect_rejected("CHORUS_HYDRATE_TTL_MS", "0");
    expect_rejected("CHORUS_HYDRATE_TTL_MS", "86400001");
    expect_rejected("CHORUS_HYDRATE_L1_MEMORY", "1048575");
    expect_rejected("CHORUS_HYDRATE_L1_ENTRIES", "1023");
    expect_rejected("CHORUS_HYDRATE_L1_TTL_MS", "99");
    expect_rejected("CHORUS_HYDRATE_L1_TTL_MS", "600001");
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
    assert_non_null(strstr(text, "CHORUS_HYDRATE_CACHE_MEMORY"));
    assert_non_null(strstr(text, "CHORUS_HYDRATE_TTL_MS"));
    assert_non_null(strstr(text, "CHORUS_HYDRATE_L1_MEMORY"));
    free(text);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, clear_vars, clear_vars)

int main(void)
{
    const struct CMUnitTest tests[] = {T(test_defaults), T(test_good_values), T(test_bad_values),
                                       T(test_help_lists_them)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
