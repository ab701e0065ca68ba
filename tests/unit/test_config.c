/* Configuration from the environment (core/config.h): defaults, every bad value rejected
 * with a message naming its variable, good values parsed, and the two parsers directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/config.h"
#include "core/log.h"

extern char **environ;

/* Unsets every CHORUS_* variable, whatever the machine running the tests has set. */
static int clear_chorus_env(void **state)
{
    char names[64][128];
    size_t n = 0;
    for (char **e = environ; e && *e && n < 64; e++) {
        if (strncmp(*e, "CHORUS_", 7) != 0)
            continue;
        size_t len = strcspn(*e, "=");
        if (len >= sizeof(names[0]))
            continue;
        memcpy(names[n], *e, len);
        names[n++][len] = '\0';
    }
    for (size_t i = 0; i < n; i++)
        unsetenv(names[i]);
    for (char **e = environ; e && *e; e++)
        assert_true(strncmp(*e, "CHORUS_", 7) != 0);
    return 0;
}

/* Loads with var=value set; the load must fail with a message that names var. */
static void expect_rejected(const char *var, const char *value)
{
    ch_config_t cfg;
    char err[512] = "";
    assert_int_equal(setenv(var, value, 1), 0);
    int rc = ch_config_load(&cfg, err, sizeof(err));
    if (rc != -1)
        fail_msg("%s=%s was accepted", var, value);
    if (!strstr(err, var))
        fail_msg("%s=%s: message does not name the variable: '%s'", var, value, err);
    unsetenv(var);
}

static void load_ok(ch_config_t *cfg)
{
    char err[512] = "";
    if (ch_config_load(cfg, err, sizeof(err)) != 0)
        fail_msg("ch_config_load failed: %s", err);
}

/* ---- defaults ----------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    ch_config_t cfg;
    memset(&cfg, 0xAB, sizeof(cfg)); /* the load must not depend on a zeroed struct */
    load_ok(&cfg);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.data_dir, "./var");
    assert_string_equal(cfg.db_url, "sqlite:./var/chorus.db");
    assert_string_equal(cfg.redis_url, "");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(cfg.threads, cores > 0 ? (unsigned)cores : 1u);
    assert_int_equal(cfg.workers, 16);
    assert_int_equal(cfg.roles, CH_ROLE_ALL);
    assert_int_equal(cfg.roles, CH_ROLE_API | CH_ROLE_GATEWAY | CH_ROLE_WORKER);
    assert_int_equal(cfg.node_id, 0);
    assert_string_equal(cfg.jwt_secret, "");
    assert_int_equal(cfg.access_ttl_s, 900);
    assert_int_equal(cfg.refresh_ttl_s, 30 * 86400);
    assert_int_equal(cfg.refresh_reuse_s, 30);
    assert_int_equal(cfg.rate_limit_user, 600);
    assert_int_equal(cfg.rate_limit_ip, 6000);
    assert_int_equal(cfg.login_max_failures, 5);
    assert_int_equal(cfg.login_window_s, 900);
    assert_int_equal(cfg.login_ip_max_failures, 100);
    assert_int_equal(cfg.login_handle_max_failures, 1000);
    assert_int_equal(cfg.pwhash_max_memory, 128u << 20);
    assert_int_equal(cfg.pwhash_queue, 8);
    assert_int_equal(cfg.pwhash_opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
    assert_int_equal(cfg.pwhash_memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
    assert_int_equal(cfg.log_level, CH_LOG_INFO);
}

static void test_empty_values_mean_default(void **state)
{
    setenv("CHORUS_LISTEN", "", 1);
    setenv("CHORUS_DB", "", 1);
    setenv("CHORUS_ROLES", "", 1);
    setenv("CHORUS_THREADS", "", 1);
    setenv("CHORUS_LOG_LEVEL", "", 1);
    ch_config_t cfg;
    load_ok(&cfg);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.db_url, "sqlite:./var/chorus.db");
    assert_int_equal(cfg.roles, CH_ROLE_ALL);
    assert_int_equal(cfg.log_level, CH_LOG_INFO);
}

static void test_db_default_follows_data_dir(void **state)
{
    setenv("CHORUS_DATA_DIR", "/srv/chorus", 1);
    ch_config_t cfg;
    load_ok(&cfg);
    assert_string_equal(cfg.data_dir, "/srv/chorus");
    assert_string_equal(cfg.db_url, "sqlite:/srv/chorus/chorus.db");
}

static void test_listen_port_zero(void **state)
{
    setenv("CHORUS_LISTEN", "127.0.0.1:0", 1);
    setenv("CHORUS_PORT_FILE", "/tmp/chorus.port", 1);
    ch_config_t cfg;
    load_ok(&cfg);
    assert_int_equal(cfg.listen_port, 0);
    assert_string_equal(cfg.port_file, "/tmp/chorus.port");
}

/* ---- bad values --------------------------------------------------------------------------- */

static void test_bad_listen(void **state)
{
    expect_rejected("CHORUS_LISTEN", "nonsense");
    expect_rejected("CHORUS_LISTEN", ":80");
    expect_rejected("CHORUS_LISTEN", "host:70000");
    expect_rejected("CHORUS_LISTEN", "host:65536");
    expect_rejected("CHORUS_LISTEN", "host:");
    expect_rejected("CHORUS_LISTEN", "host:-1");
    expect_rejected("CHORUS_LISTEN", "host:80x");
    expect_rejected("CHORUS_LISTEN", "[::1]:x");
    expect_rejected("CHORUS_LISTEN", "[::1]");
    expect_rejected("CHORUS_LISTEN", "[::1:80");
    expect_rejected("CHORUS_LISTEN", "[]:80");
}

static void test_bad_threads(void **state)
{
    expect_rejected("CHORUS_THREADS", "0");
    expect_rejected("CHORUS_THREADS", "abc");
    expect_rejected("CHORUS_THREADS", "257");
    expect_rejected("CHORUS_THREADS", "-1");
    expect_rejected("CHORUS_THREADS", "4x");
    expect_rejected("CHORUS_THREADS", "99999999999999999999999");
}

static void test_bad_db(void **state)
{
    expect_rejected("CHORUS_DB", "mysql://x");
    expect_rejected("CHORUS_DB", "sqlite:");
    expect_rejected("CHORUS_DB", "chorus.db");
    expect_rejected("CHORUS_DB", "postgres:/x");
}

static void test_bad_redis(void **state)
{
    expect_rejected("CHORUS_REDIS", "http://x");
    expect_rejected("CHORUS_REDIS", "127.0.0.1:6379");
}

static void test_bad_roles(void **state)
{
    expect_rejected("CHORUS_ROLES", "api,,x");
    expect_rejected("CHORUS_ROLES", "api,,worker");
    expect_rejected("CHORUS_ROLES", ",api");
    expect_rejected("CHORUS_ROLES", "api,");
    expect_rejected("CHORUS_ROLES", ",");
    expect_rejected("CHORUS_ROLES", "admin");
    expect_rejected("CHORUS_ROLES", "API");
    expect_rejected("CHORUS_ROLES", "api, worker");
    expect_rejected("CHORUS_ROLES", "apix");
    expect_rejected("CHORUS_ROLES", "all,api");
}

static void test_bad_jwt_secret(void **state)
{
    const char *secret = "0123456789012345678901234567890"; /* 31 bytes */
    ch_config_t cfg;
    char err[512] = "";
    setenv("CHORUS_JWT_SECRET", secret, 1);
    assert_int_equal(ch_config_load(&cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "CHORUS_JWT_SECRET"));
    /* The message ends up in logs: it must not echo the secret. */
    assert_null(strstr(err, secret));
    unsetenv("CHORUS_JWT_SECRET");
    expect_rejected("CHORUS_JWT_SECRET", "short");
}

static void test_bad_other_values(void **state)
{
    expect_rejected("CHORUS_LOG_LEVEL", "loud");
    expect_rejected("CHORUS_LOG_LEVEL", "INFO");
    expect_rejected("CHORUS_WORKERS", "0");
    expect_rejected("CHORUS_WORKERS", "1025");
    expect_rejected("CHORUS_NODE_ID", "1024");
    expect_rejected("CHORUS_NODE_ID", "-1");
    expect_rejected("CHORUS_ACCESS_TTL", "0");
    expect_rejected("CHORUS_REFRESH_TTL", "59");
    expect_rejected("CHORUS_REFRESH_REUSE_INTERVAL", "-1");
    expect_rejected("CHORUS_REFRESH_REUSE_INTERVAL", "301");
    expect_rejected("CHORUS_PWHASH_QUEUE", "1025");
    expect_rejected("CHORUS_PWHASH_QUEUE", "-1");
    expect_rejected("CHORUS_PWHASH_MAX_MEMORY", "0");
    expect_rejected("CHORUS_LOGIN_IP_MAX_FAILURES", "0");
    expect_rejected("CHORUS_LOGIN_HANDLE_MAX_FAILURES", "0");
    expect_rejected("CHORUS_PWHASH_MEMLIMIT", "1024");
    expect_rejected("CHORUS_DATA_DIR", "");
}

static void test_message_names_the_bad_variable_only(void **state)
{
    /* Good values elsewhere do not hide which one is wrong. */
    setenv("CHORUS_LISTEN", "0.0.0.0:9000", 1);
    setenv("CHORUS_ROLES", "api", 1);
    setenv("CHORUS_THREADS", "abc", 1);
    ch_config_t cfg;
    char err[512] = "";
    assert_int_equal(ch_config_load(&cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "CHORUS_THREADS"));
    assert_non_null(strstr(err, "abc"));
    assert_null(strstr(err, "CHORUS_LISTEN"));
    assert_null(strstr(err, "CHORUS_ROLES"));
}

/* ---- good values -------------------------------------------------------------------------- */

static void test_good_listen(void **state)
{
    ch_config_t cfg;
    setenv("CHORUS_LISTEN", "[::1]:9443", 1);
    load_ok(&cfg);
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 9443);

    setenv("CHORUS_LISTEN", "[2001:db8::7]:1", 1);
    load_ok(&cfg);
    assert_string_equal(cfg.listen_host, "2001:db8::7");
    assert_int_equal(cfg.listen_port, 1);

    setenv("CHORUS_LISTEN", "0.0.0.0:65535", 1);
    load_ok(&cfg);
    assert_string_equal(cfg.listen_host, "0.0.0.0");
    assert_int_equal(cfg.listen_port, 65535);

    setenv("CHORUS_LISTEN", "localhost:80", 1);
    load_ok(&cfg);
    assert_string_equal(cfg.listen_host, "localhost");
    assert_int_equal(cfg.listen_port, 80);
}

static void test_good_backends(void **state)
{
    ch_config_t cfg;
    setenv("CHORUS_DB", "postgres://chorus:pw@db.internal:5432/chorus?sslmode=disable", 1);
    setenv("CHORUS_REDIS", "redis://127.0.0.1:6379/2", 1);
    load_ok(&cfg);
    assert_string_equal(cfg.db_url, "postgres://chorus:pw@db.internal:5432/chorus?sslmode=disable");
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379/2");

    setenv("CHORUS_DB", "postgresql://localhost/chorus", 1);
    load_ok(&cfg);
    assert_string_equal(cfg.db_url, "postgresql://localhost/chorus");

    setenv("CHORUS_DB", "sqlite:/tmp/x.db", 1);
    load_ok(&cfg);
    assert_string_equal(cfg.db_url, "sqlite:/tmp/x.db");
}

static void test_good_roles(void **state)
{
    ch_config_t cfg;
    setenv("CHORUS_ROLES", "api", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.roles, CH_ROLE_API);

    setenv("CHORUS_ROLES", "gateway,worker", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.roles, CH_ROLE_GATEWAY | CH_ROLE_WORKER);

    setenv("CHORUS_ROLES", "worker", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.roles, CH_ROLE_WORKER);

    setenv("CHORUS_ROLES", "all", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.roles, CH_ROLE_ALL);
}

static void test_good_numbers_and_secret(void **state)
{
    const char *secret = "0123456789abcdef0123456789abcdef"; /* exactly 32 bytes */
    ch_config_t cfg;
    setenv("CHORUS_THREADS", "1", 1);
    setenv("CHORUS_WORKERS", "1024", 1);
    setenv("CHORUS_NODE_ID", "1023", 1);
    setenv("CHORUS_JWT_SECRET", secret, 1);
    setenv("CHORUS_LOG_LEVEL", "debug", 1);
    setenv("CHORUS_ACCESS_TTL", "60", 1);
    setenv("CHORUS_REFRESH_REUSE_INTERVAL", "0", 1);
    setenv("CHORUS_PWHASH_OPSLIMIT", "3", 1);
    setenv("CHORUS_PWHASH_MEMLIMIT", "8192", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.threads, 1);
    assert_int_equal(cfg.workers, 1024);
    assert_int_equal(cfg.node_id, 1023);
    assert_string_equal(cfg.jwt_secret, secret);
    assert_int_equal(cfg.log_level, CH_LOG_DEBUG);
    assert_int_equal(cfg.access_ttl_s, 60);
    assert_int_equal(cfg.refresh_reuse_s, 0);
    assert_int_equal(cfg.pwhash_opslimit, 3);
    assert_int_equal(cfg.pwhash_memlimit, 8192);

    setenv("CHORUS_THREADS", "256", 1);
    setenv("CHORUS_LOG_LEVEL", "error", 1);
    setenv("CHORUS_REFRESH_REUSE_INTERVAL", "300", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.threads, 256);
    assert_int_equal(cfg.refresh_reuse_s, 300);
    assert_int_equal(cfg.log_level, CH_LOG_ERROR);
}

/* ---- parsers directly --------------------------------------------------------------------- */

static void test_parse_roles(void **state)
{
    unsigned roles = 12345;
    assert_int_equal(ch_config_parse_roles("api", &roles), 0);
    assert_int_equal(roles, CH_ROLE_API);
    assert_int_equal(ch_config_parse_roles("gateway", &roles), 0);
    assert_int_equal(roles, CH_ROLE_GATEWAY);
    assert_int_equal(ch_config_parse_roles("api,gateway,worker", &roles), 0);
    assert_int_equal(roles, CH_ROLE_ALL);
    assert_int_equal(ch_config_parse_roles("worker,api", &roles), 0);
    assert_int_equal(roles, CH_ROLE_WORKER | CH_ROLE_API);
    assert_int_equal(ch_config_parse_roles("api,api", &roles), 0);
    assert_int_equal(roles, CH_ROLE_API);
    assert_int_equal(ch_config_parse_roles("all", &roles), 0);
    assert_int_equal(roles, CH_ROLE_ALL);

    const char *bad[] = {"", ",", "api,", ",api", "api,,gateway", "x", "ap", "apii", "Api", " api", "api ", "all,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        roles = 999;
        if (ch_config_parse_roles(bad[i], &roles) != -1)
            fail_msg("roles '%s' accepted", bad[i]);
        assert_int_equal(roles, 999); /* untouched on failure */
    }
}

static void test_parse_listen(void **state)
{
    char host[64];
    uint16_t port = 0;
    assert_int_equal(ch_config_parse_listen("127.0.0.1:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(ch_config_parse_listen("[::]:443", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::");
    assert_int_equal(port, 443);
    assert_int_equal(ch_config_parse_listen("[fe80::1%eth0]:1", host, sizeof(host), &port), 0);
    assert_string_equal(host, "fe80::1%eth0");
    assert_int_equal(port, 1);
    /* Port 0: the kernel picks one (CHORUS_PORT_FILE reports it). */
    assert_int_equal(ch_config_parse_listen("127.0.0.1:0", host, sizeof(host), &port), 0);
    assert_int_equal(port, 0);

    const char *bad[] = {"", "nonsense", ":80", "host", "host:", "host:65536", "host:70000",
                         "host:-80", "host:8o", "[::1]", "[::1]80", "[::1]:", "[::1]:x", "[]:80", "[::1:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ch_config_parse_listen(bad[i], host, sizeof(host), &port) != -1)
            fail_msg("listen '%s' accepted", bad[i]);

    /* host gets at most hostlen-1 bytes: a longer host is refused, not truncated. */
    char small[5];
    assert_int_equal(ch_config_parse_listen("abcd:1", small, sizeof(small), &port), 0);
    assert_string_equal(small, "abcd");
    assert_int_equal(ch_config_parse_listen("abcde:1", small, sizeof(small), &port), -1);
    assert_int_equal(ch_config_parse_listen("[abcde]:1", small, sizeof(small), &port), -1);
}

/* CHORUS_KV_PROBE_INTERVAL: 1 s by default, 50 ms .. 60 s. */
static void test_kv_probe_interval(void **state)
{
    ch_config_t cfg;
    load_ok(&cfg);
    assert_int_equal(cfg.kv_probe_interval_ms, 1000);
    setenv("CHORUS_KV_PROBE_INTERVAL", "250", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.kv_probe_interval_ms, 250);
    unsetenv("CHORUS_KV_PROBE_INTERVAL");
    expect_rejected("CHORUS_KV_PROBE_INTERVAL", "49");
    expect_rejected("CHORUS_KV_PROBE_INTERVAL", "60001");
    expect_rejected("CHORUS_KV_PROBE_INTERVAL", "1s");
}

static void test_help_lists_every_variable(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ch_config_print_help(f);
    fclose(f);
    const char *vars[] = {"CHORUS_LISTEN", "CHORUS_DATA_DIR", "CHORUS_DB", "CHORUS_REDIS", "CHORUS_THREADS",
                          "CHORUS_ROLES", "CHORUS_JWT_SECRET", "CHORUS_LOG_LEVEL"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (!strstr(text, vars[i]))
            fail_msg("--help does not mention %s", vars[i]);
    free(text);
}

/* The feed's settings: mixing bounds and the admin list (explain). */
static void test_feed_settings(void **state)
{
    (void)state;
    ch_config_t cfg;
    load_ok(&cfg);
    assert_int_equal(cfg.feed_reel_every, CH_CONFIG_FEED_REEL_EVERY);
    assert_int_equal(cfg.feed_oon_share, CH_CONFIG_FEED_OON_SHARE);
    assert_int_equal(cfg.nadmin_users, 0);
    assert_false(ch_config_is_admin(&cfg, 7));
    assert_string_equal(cfg.feed_model_path, "");
    setenv("CHORUS_ADMIN_USERS", "7,7262919837184000001", 1);
    setenv("CHORUS_FEED_REEL_EVERY", "0", 1);
    setenv("CHORUS_FEED_MODEL", "/etc/chorus/model.json", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.nadmin_users, 2);
    assert_true(ch_config_is_admin(&cfg, 7));
    assert_true(ch_config_is_admin(&cfg, 7262919837184000001ULL));
    assert_false(ch_config_is_admin(&cfg, 8));
    assert_false(ch_config_is_admin(&cfg, 0));
    assert_int_equal(cfg.feed_reel_every, 0);
    assert_string_equal(cfg.feed_model_path, "/etc/chorus/model.json");
    unsetenv("CHORUS_ADMIN_USERS");
    unsetenv("CHORUS_FEED_REEL_EVERY");
    expect_rejected("CHORUS_ADMIN_USERS", "7,x");
    expect_rejected("CHORUS_ADMIN_USERS", "7,,8");
    expect_rejected("CHORUS_ADMIN_USERS", "0");
    expect_rejected("CHORUS_ADMIN_USERS", "-5");
    expect_rejected("CHORUS_ADMIN_USERS", "99999999999999999999");
    expect_rejected("CHORUS_FEED_REEL_EVERY", "1");
    expect_rejected("CHORUS_FEED_REEL_EVERY", "101");
    expect_rejected("CHORUS_FEED_OON_SHARE", "101");
    expect_rejected("CHORUS_FEED_OON_SHARE", "-1");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, clear_chorus_env, clear_chorus_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_empty_values_mean_default),
        T(test_listen_port_zero),
        T(test_db_default_follows_data_dir),
        T(test_bad_listen),
        T(test_bad_threads),
        T(test_bad_db),
        T(test_bad_redis),
        T(test_bad_roles),
        T(test_bad_jwt_secret),
        T(test_bad_other_values),
        T(test_message_names_the_bad_variable_only),
        T(test_good_listen),
        T(test_good_backends),
        T(test_good_roles),
        T(test_good_numbers_and_secret),
        T(test_parse_roles),
        T(test_parse_listen),
        T(test_help_lists_every_variable),
        T(test_kv_probe_interval),
        T(test_feed_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
