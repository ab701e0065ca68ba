/* The durable consumer's idempotent mode (ch_consumer_step_idempotent, svc/worker/
 * consumer.h) against a real SQLite database: a batch is applied without a transaction
 * held, then the cursor moves; a batch that fails part-way is applied again from its first
 * row (at least once) and nothing is skipped; a second applier of the same batch (another
 * replica) leaves the cursor right and fails neither; old rows move the watermark, young
 * ones are recorded as seen. */
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
#include "svc/common/sql.h"
#include "svc/worker/consumer.h"

#define OK(expr) assert_int_equal((expr), CH_OK)
#define MAX_APPLIED 64

static char dir[256];
static ch_config_t cfg;
static ch_svc_t svc;
static unsigned seq;

/* What the test consumer saw, and how it misbehaves. */
static uint64_t applied[MAX_APPLIED];
static size_t napplied;
static uint64_t fail_at;   /* apply fails on this row id once (0: never) */
static int nest_once;      /* the first apply runs a whole step of the same consumer inside */
static int in_transaction; /* set when apply found a transaction open on its connection */

static ch_err_t apply(ch_svc_t *s, ch_db_conn_t *conn, const ch_db_rows_t *rows, size_t row);

static const ch_consumer_t consumer = {
    "test.idem",
    "SELECT o.id FROM outbox o WHERE o.id > $1 AND o.topic = 'idem'"
    " AND NOT EXISTS (SELECT 1 FROM consumer_seen s WHERE s.name = $2 AND s.event_id = o.id)"
    " ORDER BY o.id LIMIT $3",
    apply,
};

static ch_err_t apply(ch_svc_t *s, ch_db_conn_t *conn, const ch_db_rows_t *rows, size_t row)
{
    uint64_t id = (uint64_t)ch_db_rows_int(rows, row, 0);
    /* Outside a transaction, BEGIN works: inside one it would fail (nested BEGIN). */
    if (ch_db_begin(s->db, conn, 0) == CH_OK)
        ch_db_rollback(s->db, conn);
    else
        in_transaction = 1;
    if (id == fail_at) {
        fail_at = 0;
        return CH_EUNAVAILABLE;
    }
    if (nest_once) {
        nest_once = 0;
        int inner = 0;
        OK(ch_consumer_step_idempotent(s, &consumer, &inner)); /* "the other replica" */
    }
    if (napplied < MAX_APPLIED)
        applied[napplied++] = id;
    return CH_OK;
}

static int setup(void **state)
{
    char url[512], errbuf[256];
    snprintf(dir, sizeof(dir), "%s/chorus-test-consumer-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
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

static void reset(void)
{
    napplied = 0;
    fail_at = 0;
    nest_once = 0;
    in_transaction = 0;
}

static uint64_t row(int64_t ago_ms)
{
    uint64_t id = ch_id_at(ch_now_ms() - ago_ms, seq++ % 4000);
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    OK(ch_sql_run(&svc, "INSERT INTO outbox(id, topic, aggregate_id, payload, created_at) VALUES($1, 'idem', 1, '{}', 0)",
                  p, 1, NULL, NULL));
    return id;
}

static int64_t number(const char *sql)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(consumer.name)};
    OK(ch_sql_run(&svc, sql, p, 1, &rows, NULL));
    int64_t n = ch_db_rows_count(rows) ? ch_db_rows_int(rows, 0, 0) : -1;
    ch_db_rows_free(rows);
    return n;
}

static void test_applies_outside_a_transaction_then_moves_the_cursor(void **state)
{
    reset();
    uint64_t old1 = row(120000), old2 = row(110000), young = row(0);
    int n = 0;
    OK(ch_consumer_step_idempotent(&svc, &consumer, &n));
    assert_int_equal(n, 3);
    assert_int_equal(napplied, 3);
    assert_true(applied[0] == old1 && applied[1] == old2 && applied[2] == young);
    assert_false(in_transaction);
    /* The old rows are below the watermark now, the young one is recorded as seen. */
    assert_true((uint64_t)number("SELECT last_id FROM consumer_offsets WHERE name = $1") >= old2);
    assert_int_equal(number("SELECT COUNT(*) FROM consumer_seen WHERE name = $1"), 1);
    OK(ch_consumer_step_idempotent(&svc, &consumer, &n));
    assert_int_equal(n, 0);
    assert_int_equal(napplied, 3);
}

static void test_a_failed_batch_is_applied_again_from_its_first_row(void **state)
{
    reset();
    uint64_t a = row(0), b = row(0), c = row(0);
    fail_at = b;
    int n = 0;
    assert_int_not_equal(ch_consumer_step_idempotent(&svc, &consumer, &n), CH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(napplied, 1); /* a's effect happened, the cursor did not move */
    OK(ch_consumer_step_idempotent(&svc, &consumer, &n));
    assert_int_equal(n, 3);
    assert_int_equal(napplied, 4);
    assert_true(applied[0] == a && applied[1] == a && applied[2] == b && applied[3] == c);
    OK(ch_consumer_step_idempotent(&svc, &consumer, &n));
    assert_int_equal(n, 0);
}

static void test_two_appliers_of_one_batch_both_succeed(void **state)
{
    reset();
    uint64_t a = row(0), b = row(0);
    nest_once = 1;
    int n = 0;
    OK(ch_consumer_step_idempotent(&svc, &consumer, &n)); /* the inner step recorded a and b first */
    assert_int_equal(n, 2);
    assert_int_equal(napplied, 4);
    assert_true(applied[0] == a && applied[1] == b && applied[2] == a && applied[3] == b);
    int64_t seen = number("SELECT COUNT(*) FROM consumer_seen WHERE name = $1");
    OK(ch_consumer_step_idempotent(&svc, &consumer, &n));
    assert_int_equal(n, 0);
    assert_int_equal(number("SELECT COUNT(*) FROM consumer_seen WHERE name = $1"), seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_applies_outside_a_transaction_then_moves_the_cursor),
        cmocka_unit_test(test_a_failed_batch_is_applied_again_from_its_first_row),
        cmocka_unit_test(test_two_appliers_of_one_batch_both_succeed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
