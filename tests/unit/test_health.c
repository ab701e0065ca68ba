/* Readiness checks and start-up in the background (svc/health): a process whose database
 * does not answer keeps retrying and stops at once when asked; one whose database answers
 * migrates it, loads the keys and reports every check ok; the backoff schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/log.h"
#include "svc/health/bootstrap.h"
#include "svc/health/health.h"

static ch_config_t cfg; /* no ClickHouse, no CHORUS_JWT_SECRET: keys come from the database */

static void test_backoff(void **state)
{
    (void)state;
    int64_t b = 0, seen[7];
    for (int i = 0; i < 7; i++)
        seen[i] = b = ch_bootstrap_backoff(b);
    int64_t want[7] = {500, 1000, 2000, 4000, 5000, 5000, 5000};
    for (int i = 0; i < 7; i++)
        assert_int_equal(seen[i], want[i]);
}

/* Nothing listens on port 1: every attempt is refused at once. */
static void test_unreachable_database_keeps_retrying_and_stops_promptly(void **state)
{
    (void)state;
    char err[256];
    ch_svc_t svc = {.cfg = &cfg};
    assert_int_equal(ch_db_open("postgres://chorus@127.0.0.1:1/none", &svc.db, err, sizeof(err)), CH_OK);
    assert_int_equal(ch_kv_open(NULL, &svc.kv, err, sizeof(err)), CH_OK);
    ch_health_t *h = ch_health_start(&svc, 0);
    assert_non_null(h);
    svc.health = h;
    usleep(700 * 1000); /* the first attempt and into the second pause */
    ch_health_report_t r;
    ch_health_report(h, &r);
    assert_int_equal(ch_health_bootstrapped(h), 0);
    assert_false(r.serving);
    assert_false(ch_health_serving(h));
    assert_int_equal(r.db.state, CH_CHECK_UNAVAILABLE);
    assert_int_equal(r.kv.state, CH_CHECK_OK);
    assert_false(r.has_clickhouse);
    int64_t t0 = ch_mono_ms();
    assert_int_equal(ch_health_stop(h), 0);
    assert_true(ch_mono_ms() - t0 < 500); /* woken from the pause, not waited out */
    ch_kv_close(svc.kv);
    ch_db_close(svc.db);
}

static void test_start_up_migrates_and_checks(void **state)
{
    (void)state;
    char dir[256], url[512], err[256];
    snprintf(dir, sizeof(dir), "%s/chorus-test-health-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    ch_svc_t svc = {.cfg = &cfg};
    assert_int_equal(ch_db_open(url, &svc.db, err, sizeof(err)), CH_OK);
    assert_int_equal(ch_kv_open(NULL, &svc.kv, err, sizeof(err)), CH_OK);
    ch_health_t *h = ch_health_start(&svc, 0); /* not migrated: the thread does it */
    assert_non_null(h);
    int64_t deadline = ch_mono_ms() + 10000;
    while (ch_health_bootstrapped(h) == 0 && ch_mono_ms() < deadline)
        usleep(10 * 1000);
    assert_int_equal(ch_health_bootstrapped(h), 1);
    ch_health_wait_first(h, 5000);
    ch_health_report_t r;
    ch_health_report(h, &r);
    assert_false(r.serving); /* main opens /v1 once its services run */
    assert_int_equal(r.db.state, CH_CHECK_OK);
    assert_int_equal(r.kv.state, CH_CHECK_OK);
    ch_health_set_serving(h);
    assert_true(ch_health_serving(h));
    static const uint8_t zero[CH_TOKEN_KEY_LEN];
    assert_memory_not_equal(svc.token_key, zero, CH_TOKEN_KEY_LEN); /* loaded from server_keys */
    /* The schema is there: the keys table holds the one secret. */
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    assert_int_equal(ch_db_acquire(svc.db, &conn), CH_OK);
    assert_int_equal(ch_db_exec(svc.db, conn, "SELECT COUNT(*) FROM server_keys", NULL, 0, &rows, NULL), CH_OK);
    assert_int_equal(ch_db_rows_int(rows, 0, 0), 1);
    ch_db_rows_free(rows);
    ch_db_release(svc.db, conn);
    assert_int_equal(ch_health_stop(h), 0);
    ch_kv_close(svc.kv);
    ch_db_close(svc.db);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    ch_log_set_level(CH_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_unreachable_database_keeps_retrying_and_stops_promptly),
        cmocka_unit_test(test_start_up_migrates_and_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
