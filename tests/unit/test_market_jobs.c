/* The marketplace's durable job queue (svc/market/jobs.c) against a real SQLite database:
 * a step is enqueued once per (order, step); a claim leases the job (a second claimer gets
 * nothing until the lease ends, then the job runs again: a crashed worker's job is not
 * lost); a failure backs off by attempts (1 s doubling, capped) and only while the lease is
 * ours; held jobs are not claimed until rearmed; a request claims its own new job at once. */
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
#include "svc/common/sql.h"
#include "svc/market/jobs.h"
#include "svc/market/orders.h"

#define OK(expr) assert_int_equal((expr), CH_OK)

static char dir[256];
static ch_config_t cfg;
static ch_svc_t svc;

static int setup(void **state)
{
    char url[512], errbuf[256];
    snprintf(dir, sizeof(dir), "%s/chorus-test-mjobs-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    ch_log_set_level(CH_LOG_ERROR);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    cfg.stripe_timeout_ms = 1000;
    cfg.stripe_max_retries = 0;
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

static void enqueue(uint64_t order, const char *step, int64_t at)
{
    ch_db_conn_t *conn;
    OK(ch_sql_begin(&svc, 1, &conn));
    OK(ch_sql_end(&svc, conn, ch_market_job_enqueue(&svc, conn, "order", order, step, at)));
}

static int64_t job_int(uint64_t order, const char *step, const char *col)
{
    char sql[256];
    ch_db_rows_t *rows = NULL;
    snprintf(sql, sizeof(sql), "SELECT %s FROM market_jobs WHERE order_id = $1 AND step = $2", col);
    ch_db_param_t p[] = {CH_DB_P_INT(order), CH_DB_P_TEXT(step)};
    OK(ch_sql_run(&svc, sql, p, 2, &rows, NULL));
    int64_t v = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    return v;
}

static void test_backoff(void **state)
{
    assert_int_equal(ch_market_job_backoff_ms(1), 1000);
    assert_int_equal(ch_market_job_backoff_ms(2), 2000);
    assert_int_equal(ch_market_job_backoff_ms(4), 8000);
    assert_int_equal(ch_market_job_backoff_ms(40), CH_MARKET_JOB_BACKOFF_MAX_MS);
    assert_true(ch_market_job_lease_ms(&svc) >= CH_MARKET_JOB_LEASE_MIN_MS);
    assert_int_equal(ch_order_fee(2500, 1000), 250);
    assert_int_equal(ch_order_fee(999, 1000), 99); /* rounded down */
    assert_int_equal(ch_order_fee(5, 0), 0);
}

static void test_once_per_step_and_lease(void **state)
{
    int64_t now = ch_now_ms();
    enqueue(11, "transfer", now - 10);
    enqueue(11, "transfer", now - 5); /* a second enqueue of the step: nothing */
    assert_int_equal(job_int(11, "transfer", "COUNT(*)"), 1);

    ch_market_job_t job, other;
    int got = 0;
    OK(ch_market_job_claim(&svc, now, 60000, &job, &got));
    assert_int_equal(got, 1);
    assert_int_equal(job.order_id, 11);
    assert_string_equal(job.step, "transfer");
    assert_int_equal(job.attempts, 1);
    /* Leased: nobody else gets it now. */
    OK(ch_market_job_claim(&svc, now, 60000, &other, &got));
    assert_int_equal(got, 0);
    /* The worker died: when the lease ends it runs again. */
    OK(ch_market_job_claim(&svc, now + 60001, 60000, &other, &got));
    assert_int_equal(got, 1);
    assert_int_equal(other.id, job.id);
    assert_int_equal(other.attempts, 2);
    /* The first claimer's late failure does not touch the job claimed again. */
    OK(ch_market_job_retry(&svc, &job, "late"));
    assert_int_equal(job_int(11, "transfer", "run_at"), other.lease_until);
    /* The current claimer's failure backs off. */
    OK(ch_market_job_retry(&svc, &other, "stripe down"));
    int64_t run_at = job_int(11, "transfer", "run_at");
    assert_true(run_at >= now + ch_market_job_backoff_ms(2) - 10 && run_at <= ch_now_ms() + ch_market_job_backoff_ms(2));
    /* Done: never again, even if enqueued again. */
    ch_db_conn_t *conn;
    OK(ch_sql_begin(&svc, 1, &conn));
    OK(ch_sql_end(&svc, conn, ch_market_job_done(&svc, conn, other.id)));
    enqueue(11, "transfer", now);
    OK(ch_market_job_claim(&svc, now + 10000000, 60000, &other, &got));
    assert_int_equal(got, 0);
}

static void test_hold_rearm_and_claim_one(void **state)
{
    int64_t now = ch_now_ms();
    enqueue(12, "transfer", now - 1);
    ch_db_conn_t *conn;
    int held = 0;
    OK(ch_sql_begin(&svc, 1, &conn));
    OK(ch_sql_end(&svc, conn, ch_market_job_hold(&svc, conn, 12, "transfer", &held)));
    assert_int_equal(held, 1);
    ch_market_job_t job;
    int got = 0;
    OK(ch_market_job_claim(&svc, now + 1000, 60000, &job, &got));
    assert_int_equal(got, 0);
    OK(ch_sql_begin(&svc, 1, &conn));
    OK(ch_sql_end(&svc, conn, ch_market_job_rearm(&svc, conn, 12, "transfer", now)));
    OK(ch_market_job_claim(&svc, now + 1000, 60000, &job, &got));
    assert_int_equal(got, 1);

    /* A request's own new job (due after a lease, never claimed): it takes it at once;
     * a second taker does not. */
    enqueue(13, "payment_intent", now + 60000);
    OK(ch_market_job_claim_one(&svc, 13, "payment_intent", 60000, &job, &got));
    assert_int_equal(got, 1);
    OK(ch_market_job_claim_one(&svc, 13, "payment_intent", 60000, &job, &got));
    assert_int_equal(got, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_once_per_step_and_lease),
        cmocka_unit_test(test_hold_rearm_and_claim_one),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
