/* Retention (svc/worker/retention.c) against a real SQLite database: which rows of the
 * outbox and the event log a sweep deletes — only rows older than the table's age, passed
 * by every consumer of the table (none while one has no cursor), shipped when ClickHouse
 * shipping is on, nothing with age 0 — and that a backlog larger than a batch goes. */
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
#include "core/id.h"
#include "core/log.h"
#include "svc/worker/retention.h"

#define OK(expr) assert_int_equal((expr), CH_OK)
#define HOUR_MS 3600000LL

static char dir[256];
static ch_config_t cfg;
static ch_svc_t svc;
static unsigned seq;

static int setup(void **state)
{
    char url[512], errbuf[256];
    snprintf(dir, sizeof(dir), "%s/chorus-test-retention-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    ch_log_set_level(CH_LOG_ERROR);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    svc.cfg = &cfg;
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    ch_db_close(svc.db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void exec_sql(const char *sql, const ch_db_param_t *p, size_t n)
{
    ch_db_conn_t *conn;
    OK(ch_db_acquire(svc.db, &conn));
    OK(ch_db_exec(svc.db, conn, sql, p, n, NULL, NULL));
    ch_db_release(svc.db, conn);
}

static int64_t count(const char *sql)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    OK(ch_db_acquire(svc.db, &conn));
    OK(ch_db_exec(svc.db, conn, sql, NULL, 0, &rows, NULL));
    int64_t n = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    ch_db_release(svc.db, conn);
    return n;
}

/* A row of each table with the id of ago_ms before now; returns the id. */
static uint64_t outbox_row(int64_t ago_ms)
{
    uint64_t id = ch_id_at(ch_now_ms() - ago_ms, seq++ % 4000);
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    exec_sql("INSERT INTO outbox(id, topic, aggregate_id, payload, created_at) VALUES($1, 't', 1, '{}', 0)", p, 1);
    return id;
}

static uint64_t event_row(int64_t ago_ms, int shipped)
{
    uint64_t id = ch_id_at(ch_now_ms() - ago_ms, seq++ % 4000);
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_INT(shipped)};
    exec_sql("INSERT INTO engagement_events(id, ts, user_id, kind, target_type, target_id, author_id, value,"
             " shipped_at) VALUES($1, 0, 1, 'reaction', 'post', 1, 2, 1.0, CASE WHEN $2 = 1 THEN 5 ELSE NULL END)",
             p, 2);
    return id;
}

static void set_cursor(const char *name, uint64_t last_id)
{
    ch_db_param_t p[] = {CH_DB_P_TEXT(name), CH_DB_P_INT(last_id)};
    exec_sql("INSERT INTO consumer_offsets(name, last_id, updated_at) VALUES($1, $2, 0)"
             " ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
             p, 2);
}

static int exists(const char *table, uint64_t id)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE id = %llu", table, (unsigned long long)id);
    return count(sql) == 1;
}

static void test_only_old_rows_every_consumer_passed_go(void **state)
{
    cfg = (ch_config_t){.retention_outbox_s = 3600, .retention_events_s = 3600};
    uint64_t o3 = outbox_row(3 * HOUR_MS), o2 = outbox_row(2 * HOUR_MS), o15 = outbox_row(HOUR_MS * 3 / 2),
             o_new = outbox_row(HOUR_MS / 6);
    uint64_t e3 = event_row(3 * HOUR_MS, 0), e2 = event_row(2 * HOUR_MS, 0), e15 = event_row(HOUR_MS * 3 / 2, 0),
             e_new = event_row(HOUR_MS / 6, 0);
    ch_retention_stats_t st;

    /* No consumer has a cursor yet: nothing has been consumed. */
    OK(ch_retention_sweep(&svc, NULL, &st));
    assert_int_equal(st.outbox + st.events, 0);

    /* The outbox consumer passed o1.5h; the event consumers passed e_new and e2h. */
    set_cursor("notify.outbox", o15);
    set_cursor("feed.fanout", o15);
    set_cursor("notify.events", e_new);
    OK(ch_retention_sweep(&svc, NULL, &st));
    assert_int_equal(st.outbox, 3);
    assert_int_equal(st.events, 0); /* signals has no cursor */
    assert_false(exists("outbox", o3) || exists("outbox", o2) || exists("outbox", o15));
    assert_true(exists("outbox", o_new)); /* consumed by no one, and young */

    set_cursor("signals", e2);
    OK(ch_retention_sweep(&svc, NULL, &st));
    assert_int_equal(st.outbox, 0);
    assert_int_equal(st.events, 2);
    assert_false(exists("engagement_events", e3) || exists("engagement_events", e2));
    assert_true(exists("engagement_events", e15)); /* signals has not passed it */

    /* Every consumer passed everything: only rows younger than the age stay. */
    set_cursor("signals", e_new);
    set_cursor("notify.outbox", o_new);
    set_cursor("feed.fanout", o_new);
    OK(ch_retention_sweep(&svc, NULL, &st));
    assert_int_equal(st.events, 1);
    assert_int_equal(st.outbox, 0);
    assert_true(exists("engagement_events", e_new));
    assert_true(exists("outbox", o_new));
    uint64_t bound;
    OK(ch_retention_bound(&svc, "outbox", &bound));
    assert_true(bound < ch_id_floor(ch_now_ms() - 3600 * 1000LL));
    assert_int_equal(ch_retention_bound(&svc, "users", &bound), CH_EINVAL);
}

static void test_unshipped_events_stay_while_shipping_is_on(void **state)
{
    cfg = (ch_config_t){.retention_outbox_s = 3600, .retention_events_s = 3600};
    strcpy(cfg.clickhouse_url, "http://127.0.0.1:9/chorus");
    uint64_t shipped = event_row(2 * HOUR_MS, 1), unshipped = event_row(2 * HOUR_MS, 0);
    uint64_t top = event_row(HOUR_MS / 10, 1);
    set_cursor("notify.events", top);
    set_cursor("signals", top);
    ch_retention_stats_t st;
    OK(ch_retention_sweep(&svc, NULL, &st));
    assert_int_equal(st.events, 1);
    assert_false(exists("engagement_events", shipped));
    assert_true(exists("engagement_events", unshipped));
    /* Without shipping, shipped_at means nothing. */
    cfg.clickhouse_url[0] = '\0';
    OK(ch_retention_sweep(&svc, NULL, &st));
    assert_int_equal(st.events, 1);
    assert_false(exists("engagement_events", unshipped));
}

static void test_age_zero_keeps_everything(void **state)
{
    cfg = (ch_config_t){.retention_outbox_s = 0, .retention_events_s = 0};
    uint64_t o = outbox_row(24 * HOUR_MS), e = event_row(24 * HOUR_MS, 1);
    uint64_t top = ch_id_floor(ch_now_ms());
    set_cursor("notify.outbox", top);
    set_cursor("feed.fanout", top);
    set_cursor("notify.events", top);
    set_cursor("signals", top);
    ch_retention_stats_t st;
    OK(ch_retention_sweep(&svc, NULL, &st));
    assert_int_equal(st.outbox + st.events, 0);
    assert_true(exists("outbox", o) && exists("engagement_events", e));
    cfg.retention_outbox_s = 60; /* (also takes the earlier tests' young row) */
    OK(ch_retention_sweep(&svc, NULL, &st));
    assert_true(st.outbox >= 1);
    assert_int_equal(st.events, 0);
    assert_false(exists("outbox", o));
    assert_true(exists("engagement_events", e));
}

static void test_a_backlog_goes_in_batches_and_stopping_stops(void **state)
{
    cfg = (ch_config_t){.retention_outbox_s = 60, .retention_events_s = 60};
    int64_t start = ch_now_ms() - 48 * HOUR_MS;
    ch_db_conn_t *conn;
    OK(ch_db_acquire(svc.db, &conn));
    OK(ch_db_begin(svc.db, conn, 1));
    for (int i = 0; i < CH_RETENTION_BATCH * 2 + 500; i++) {
        ch_db_param_t p[] = {CH_DB_P_INT(ch_id_at(start + i, 7))};
        OK(ch_db_exec(svc.db, conn,
                      "INSERT INTO outbox(id, topic, aggregate_id, payload, created_at) VALUES($1, 't', 1, '{}', 0)", p,
                      1, NULL, NULL));
    }
    OK(ch_db_commit(svc.db, conn));
    ch_db_release(svc.db, conn);
    set_cursor("notify.outbox", ch_id_floor(ch_now_ms()));
    set_cursor("feed.fanout", ch_id_floor(ch_now_ms()));
    ch_retention_stats_t st;
    atomic_int stop = 1;
    OK(ch_retention_sweep(&svc, &stop, &st));
    assert_int_equal(st.outbox, 0);
    OK(ch_retention_sweep(&svc, NULL, &st));
    assert_int_equal(st.outbox, CH_RETENTION_BATCH * 2 + 500);
    assert_false(st.more);
    assert_int_equal(count("SELECT COUNT(*) FROM outbox"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_old_rows_every_consumer_passed_go),
        cmocka_unit_test(test_unshipped_events_stay_while_shipping_is_on),
        cmocka_unit_test(test_age_zero_keeps_everything),
        cmocka_unit_test(test_a_backlog_goes_in_batches_and_stopping_stops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
