/* The generic group-commit writer (svc/common/batch_writer.h) against a real SQLite
 * database in a fresh temporary directory: items queued while the writer is busy share one
 * transaction; a refused item (a failed statement, or a refusal after its write) rolls back
 * to its savepoint alone; the queue's count and byte bounds refuse at once; an item past its
 * deadline is answered unwritten; stopping applies everything queued. The options the chat
 * writer uses: finished sees every item of a batch before any completes, the expiry margin,
 * a strict byte bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <semaphore.h>

#include "core/clock.h"
#include "core/log.h"
#include "svc/common/batch_writer.h"

#define OK(expr) assert_int_equal((expr), CH_OK)

static char dir[256];
static ch_svc_t svc;
static sem_t gate_entered, gate_open;

typedef struct {
    ch_batch_item_t item;
    const char *key;
    int gate;   /* apply waits for gate_open (holds the writer busy) */
    int refuse; /* apply writes, then refuses */
    ch_err_t err;
    int done;
} item_t;

#define ITEM(it) ((item_t *)(void *)((char *)(it) - offsetof(item_t, item)))

static ch_err_t apply(ch_svc_t *s, ch_db_conn_t *conn, ch_batch_item_t *bi, void *ctx)
{
    (void)ctx;
    item_t *it = ITEM(bi);
    if (it->gate) {
        sem_post(&gate_entered);
        sem_wait(&gate_open);
    }
    ch_db_param_t p[] = {CH_DB_P_TEXT(it->key)};
    ch_err_t err = ch_db_exec(s->db, conn, "INSERT INTO bw(k) VALUES($1)", p, 1, NULL, NULL);
    if (err == CH_OK && it->refuse)
        err = CH_EINVAL;
    it->err = err;
    return err;
}

static void on_fail(ch_batch_item_t *bi, ch_err_t err, const ch_fault_t *f, void *ctx)
{
    (void)f;
    (void)ctx;
    ITEM(bi)->err = err;
}

static void done(ch_batch_item_t *bi)
{
    ITEM(bi)->done++;
}

static ch_batch_writer_t *start(size_t queue_max, size_t queue_bytes_max)
{
    ch_batch_spec_t spec = {.name = "test",
                            .what = "item",
                            .batch_max = 16,
                            .queue_max = queue_max,
                            .queue_bytes_max = queue_bytes_max,
                            .attempts = 2,
                            .apply = apply,
                            .fail = on_fail};
    return ch_batch_writer_start(&svc, &spec);
}

static void submit(ch_batch_writer_t *w, item_t *it, size_t bytes)
{
    it->item.bytes = bytes;
    it->item.done = done;
    ch_batch_writer_submit(w, &it->item);
}

static int64_t rows(const char *key)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *r = NULL;
    OK(ch_db_acquire(svc.db, &conn));
    ch_db_param_t p[] = {CH_DB_P_TEXT(key)};
    OK(ch_db_exec(svc.db, conn, "SELECT COUNT(*) FROM bw WHERE k = $1", p, 1, &r, NULL));
    int64_t n = ch_db_rows_int(r, 0, 0);
    ch_db_rows_free(r);
    ch_db_release(svc.db, conn);
    return n;
}

static int setup(void **state)
{
    (void)state;
    char url[512], errbuf[256];
    snprintf(dir, sizeof(dir), "%s/chorus-test-batch-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    ch_log_set_level(CH_LOG_ERROR);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK)
        return -1;
    ch_db_conn_t *conn;
    if (ch_db_acquire(svc.db, &conn) != CH_OK)
        return -1;
    ch_err_t err = ch_db_exec(svc.db, conn, "CREATE TABLE bw(k TEXT PRIMARY KEY)", NULL, 0, NULL, NULL);
    ch_db_release(svc.db, conn);
    sem_init(&gate_entered, 0, 0);
    sem_init(&gate_open, 0, 0);
    return err == CH_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ch_db_close(svc.db);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_a_refused_item_rolls_back_alone_in_a_shared_batch(void **state)
{
    (void)state;
    ch_batch_writer_t *w = start(0, 0);
    assert_non_null(w);
    item_t gate = {.key = "gate", .gate = 1};
    submit(w, &gate, 1);
    sem_wait(&gate_entered); /* the writer is busy: what follows queues up for one batch */
    item_t items[] = {{.key = "a"}, {.key = "dup"}, {.key = "b", .refuse = 1}, {.key = "dup"}, {.key = "c"}};
    size_t n = sizeof(items) / sizeof(items[0]);
    for (size_t i = 0; i < n; i++)
        submit(w, &items[i], 1);
    sem_post(&gate_open);
    for (int i = 0; i < 1000; i++) { /* the second batch: done when items[4] is */
        ch_batch_stats_t st;
        ch_batch_writer_stats(w, &st);
        if (st.items == 1 + n) {
            assert_int_equal(st.batches, 2); /* the gate's, then all five in one */
            break;
        }
        assert_true(i < 999);
        usleep(10 * 1000);
    }
    ch_batch_writer_stop(w); /* drains */
    assert_int_equal(gate.done, 1);
    OK(gate.err);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(items[i].done, 1);
    OK(items[0].err);
    OK(items[1].err);
    assert_int_equal(items[2].err, CH_EINVAL);   /* wrote, then refused: rolled back */
    assert_int_equal(items[3].err, CH_ECONFLICT); /* the statement failed: rolled back */
    OK(items[4].err);
    assert_int_equal(rows("a"), 1);
    assert_int_equal(rows("dup"), 1);
    assert_int_equal(rows("b"), 0);
    assert_int_equal(rows("c"), 1);
    assert_int_equal(rows("gate"), 1);
}

static void test_queue_bounds_refuse_at_once(void **state)
{
    (void)state;
    ch_batch_writer_t *w = start(3, 100);
    assert_non_null(w);
    item_t gate = {.key = "gate2", .gate = 1};
    submit(w, &gate, 1);
    sem_wait(&gate_entered);
    item_t items[] = {{.key = "q1"}, {.key = "q2"}, {.key = "q3"}, {.key = "q4"}, {.key = "q5"}};
    submit(w, &items[0], 10);
    submit(w, &items[1], 95); /* past the byte bound */
    assert_int_equal(items[1].done, 1);
    assert_int_equal(items[1].err, CH_EOVERLOADED);
    submit(w, &items[2], 10);
    submit(w, &items[3], 10);
    submit(w, &items[4], 10); /* past the count bound */
    assert_int_equal(items[4].done, 1);
    assert_int_equal(items[4].err, CH_EOVERLOADED);
    ch_batch_stats_t st;
    ch_batch_writer_stats(w, &st);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.queued_bytes, 30);
    assert_int_equal(st.refused, 2);
    sem_post(&gate_open);
    ch_batch_writer_stop(w);
    OK(items[0].err);
    OK(items[2].err);
    OK(items[3].err);
    assert_int_equal(rows("q1") + rows("q3") + rows("q4"), 3);
    assert_int_equal(rows("q2") + rows("q5"), 0);
}

static void test_an_expired_item_is_answered_unwritten(void **state)
{
    (void)state;
    ch_batch_writer_t *w = start(0, 0);
    assert_non_null(w);
    item_t gate = {.key = "gate3", .gate = 1};
    submit(w, &gate, 1);
    sem_wait(&gate_entered);
    item_t late = {.key = "late"}, fine = {.key = "fine"};
    ch_db_deadline_set(ch_mono_ms() + 50);
    submit(w, &late, 1);
    ch_db_deadline_set(0);
    submit(w, &fine, 1);
    usleep(100 * 1000); /* late's deadline passes while the writer is busy */
    sem_post(&gate_open);
    ch_batch_writer_stop(w);
    assert_int_equal(late.done, 1);
    assert_int_equal(late.err, CH_EUNAVAILABLE);
    assert_int_equal(rows("late"), 0);
    OK(fine.err);
    assert_int_equal(rows("fine"), 1);
}

static int finished_calls, finished_items, finished_seen_done;

static void on_finished(ch_svc_t *s, ch_batch_item_t **items, size_t n, void *ctx)
{
    (void)s;
    (void)ctx;
    finished_calls++;
    finished_items += (int)n;
    for (size_t i = 0; i < n; i++)
        finished_seen_done += ITEM(items[i])->done; /* none completed yet */
}

static void test_chat_writer_options(void **state)
{
    (void)state;
    ch_batch_spec_t spec = {.name = "test",
                            .what = "item",
                            .batch_max = 16,
                            .queue_bytes_max = 100,
                            .queue_bytes_strict = 1,
                            .attempts = 2,
                            .apply = apply,
                            .fail = on_fail,
                            .finished = on_finished,
                            .expiry_margin_ms = 10000,
                            .deadline_latest = 1};
    ch_batch_writer_t *w = ch_batch_writer_start(&svc, &spec);
    assert_non_null(w);
    item_t big = {.key = "big"};
    submit(w, &big, 101); /* alone, into an empty queue: still past the strict bound */
    assert_int_equal(big.done, 1);
    assert_int_equal(big.err, CH_EOVERLOADED);
    item_t gate = {.key = "gate4", .gate = 1};
    submit(w, &gate, 1);
    sem_wait(&gate_entered);
    item_t soon = {.key = "soon"}, a = {.key = "o1"}, b = {.key = "o2"};
    ch_db_deadline_set(ch_mono_ms() + 5000); /* within the 10 s margin: answered unwritten */
    submit(w, &soon, 1);
    ch_db_deadline_set(0);
    submit(w, &a, 1);
    submit(w, &b, 1);
    sem_post(&gate_open);
    ch_batch_writer_stop(w);
    assert_int_equal(soon.done, 1);
    assert_int_equal(soon.err, CH_EUNAVAILABLE);
    assert_int_equal(rows("soon") + rows("big"), 0);
    OK(a.err);
    OK(b.err);
    assert_int_equal(rows("o1") + rows("o2") + rows("gate4"), 3);
    assert_int_equal(finished_items, 3); /* gate4, o1, o2: the refused and expired ones never ran */
    assert_true(finished_calls >= 2);
    assert_int_equal(finished_seen_done, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_refused_item_rolls_back_alone_in_a_shared_batch),
        cmocka_unit_test(test_queue_bounds_refuse_at_once),
        cmocka_unit_test(test_an_expired_item_is_answered_unwritten),
        cmocka_unit_test(test_chat_writer_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
