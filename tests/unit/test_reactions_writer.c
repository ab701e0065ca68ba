/* The reactions group-commit writer and the counters, against a real SQLite database in a
 * fresh temporary directory: many threads queue writes at once, every completion comes
 * back once, the counters equal the rows afterwards (ch_counters_repair finds nothing to
 * fix), and stopping applies every queued write before it returns. Also the kinds table
 * and the counts JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/log.h"
#include "svc/engage/counters.h"
#include "svc/engage/reactions_writer.h"
#include "svc/item_types.h"

#define OK(expr) assert_int_equal((expr), CH_OK)
#define USERS 40
#define THREADS 8
#define OPS_PER_THREAD 150
#define TARGET_A 7001
#define TARGET_B 7002
#define TARGET_BLOCK 7003  /* by a user who blocks the reacting user before the batch */
#define TARGET_DELETE 7004 /* deleted before the batch */
#define AUTHOR_BLOCKING 2

static char dir[256];
static ch_svc_t svc;

static int setup(void **state)
{
    char url[512], errbuf[256];
    snprintf(dir, sizeof(dir), "%s/chorus-test-reactions-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    ch_log_set_level(CH_LOG_ERROR);
    ch_svc_register_item_types(); /* ch_target_resolve goes through the registry */
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    ch_db_conn_t *conn;
    if (ch_db_acquire(svc.db, &conn) != CH_OK)
        return -1;
    for (int u = 1; u <= USERS; u++) {
        ch_db_param_t p[] = {CH_DB_P_INT(u), CH_DB_P_INT(u)};
        if (ch_db_exec(svc.db, conn,
                       "INSERT INTO users(id, handle, password_hash, display_name, created_at, updated_at)"
                       " VALUES($1, 'u' || $2, '-', 'U', 0, 0)",
                       p, 2, NULL, NULL) != CH_OK)
            return -1;
    }
    /* The writes' targets: public posts by user 1. */
    uint64_t posts[] = {TARGET_A, TARGET_B, TARGET_BLOCK, TARGET_DELETE};
    for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
        ch_db_param_t p[] = {CH_DB_P_INT(posts[i])};
        if (ch_db_exec(svc.db, conn, "INSERT INTO items(id, type, author_id, text, created_at) VALUES($1, 'post', 1, 'x', 0)",
                       p, 1, NULL, NULL) != CH_OK)
            return -1;
    }
    ch_db_release(svc.db, conn);
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    ch_db_close(svc.db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- kinds and counts ------------------------------------------------------------------- */

static void test_kinds_round_trip(void **state)
{
    assert_int_equal(CH_REACTION_KIND_COUNT, 6);
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        assert_int_equal(ch_reaction_kind_parse(ch_reaction_kind_name((ch_reaction_kind_t)k)), k);
    assert_int_equal(ch_reaction_kind_parse("LIKE"), -1);
    assert_int_equal(ch_reaction_kind_parse(""), -1);
    assert_int_equal(ch_reaction_kind_parse(NULL), -1);
    assert_string_equal(ch_reaction_kind_names()[5], "angry");
    assert_null(ch_reaction_kind_names()[6]);
}

static void test_counts_json_lists_kinds_above_zero(void **state)
{
    ch_counters_t c = {.comments = 3, .views = 9};
    c.reactions[CH_REACTION_LOVE] = 2;
    c.reactions[CH_REACTION_SAD] = 1;
    json_t *j = ch_counters_json(&c);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"comments\":3,\"reactions\":{\"love\":2,\"sad\":1},\"reactions_total\":3,\"views\":9}");
    free(text);
    json_decref(j);
    ch_counters_t zero = {0};
    assert_true(ch_counters_is_zero(&zero));
    assert_false(ch_counters_is_zero(&c));
}

/* ---- the writer --------------------------------------------------------------------------- */

typedef struct {
    ch__reaction_op_t op;
    int *done_count;
    pthread_mutex_t *mu;
} tracked_t;

static void tracked_done(ch__reaction_op_t *op)
{
    tracked_t *t = (tracked_t *)(void *)op;
    assert_int_equal(op->err, CH_OK);
    pthread_mutex_lock(t->mu);
    (*t->done_count)++;
    pthread_mutex_unlock(t->mu);
    free(t);
}

typedef struct {
    ch_reactions_writer_t *w;
    unsigned seed;
    int done_count;
    pthread_mutex_t mu;
} worker_t;

/* Queues OPS_PER_THREAD random writes (set a kind, or remove) of random users on two
 * targets, without waiting; the completions count them. */
static void *pour(void *arg)
{
    worker_t *wk = arg;
    for (int i = 0; i < OPS_PER_THREAD; i++) {
        tracked_t *t = calloc(1, sizeof(*t));
        int r = rand_r(&wk->seed);
        uint64_t target = r % 2 ? TARGET_A : TARGET_B;
        t->op = (ch__reaction_op_t){.user_id = 1 + (uint64_t)(r / 2 % USERS), .type = CH_TARGET_POST,
                                    .target_id = target, .kind = r / 64 % 8 - 1, .resolved = 1,
                                    .done = tracked_done};
        if (t->op.kind >= CH_REACTION_KIND_COUNT)
            t->op.kind = CH_REACTION_LIKE;
        t->op.target = (ch_target_t){CH_TARGET_POST, target, 1, 0};
        t->done_count = &wk->done_count;
        t->mu = &wk->mu;
        ch_reactions_writer_submit(wk->w, &t->op);
    }
    return NULL;
}

static int64_t rows_of(uint64_t target)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    OK(ch_db_acquire(svc.db, &conn));
    ch_db_param_t p[] = {CH_DB_P_INT(target)};
    OK(ch_db_exec(svc.db, conn, "SELECT COUNT(*) FROM reactions WHERE target_type = 'post' AND target_id = $1", p, 1,
                  &rows, NULL));
    int64_t n = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    ch_db_release(svc.db, conn);
    return n;
}

static void test_concurrent_writes_keep_counters_exact_and_stop_drains(void **state)
{
    ch_reactions_writer_t *w = ch_reactions_writer_start(&svc);
    assert_non_null(w);
    worker_t workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker_t){.w = w, .seed = 1000u + (unsigned)i};
        pthread_mutex_init(&workers[i].mu, NULL);
        assert_int_equal(pthread_create(&threads[i], NULL, pour, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    /* Everything is queued, probably not all applied: stopping must apply the rest. */
    ch_reactions_writer_stop(w);
    for (int i = 0; i < THREADS; i++) {
        pthread_mutex_lock(&workers[i].mu);
        assert_int_equal(workers[i].done_count, OPS_PER_THREAD);
        pthread_mutex_unlock(&workers[i].mu);
        pthread_mutex_destroy(&workers[i].mu);
    }
    /* The counters equal the rows: a repair changes nothing. */
    uint64_t targets[] = {TARGET_A, TARGET_B};
    for (size_t t = 0; t < 2; t++) {
        ch_counters_t before, after;
        OK(ch_counters_repair(&svc, CH_TARGET_POST, targets[t], &before, &after));
        assert_memory_equal(&before, &after, sizeof(after));
        assert_int_equal(ch_counters_reactions_total(&after), rows_of(targets[t]));
        assert_true(rows_of(targets[t]) > 0);
    }
}

static void test_repair_fixes_a_tampered_counter(void **state)
{
    ch_db_conn_t *conn;
    OK(ch_db_acquire(svc.db, &conn));
    ch_db_param_t p[] = {CH_DB_P_INT(TARGET_A)};
    OK(ch_db_exec(svc.db, conn, "UPDATE target_counters SET r_wow = r_wow + 5 WHERE target_id = $1", p, 1, NULL,
                  NULL));
    ch_db_release(svc.db, conn);
    ch_counters_t before, after, now;
    OK(ch_counters_repair(&svc, CH_TARGET_POST, TARGET_A, &before, &after));
    assert_int_equal(before.reactions[CH_REACTION_WOW], after.reactions[CH_REACTION_WOW] + 5);
    OK(ch_counters_read(&svc, NULL, CH_TARGET_POST, TARGET_A, &now));
    assert_memory_equal(&now, &after, sizeof(now));
    uint64_t checked = 0, fixed = 9;
    OK(ch_counters_repair_all(&svc, &checked, &fixed));
    assert_int_equal(checked, 2);
    assert_int_equal(fixed, 0);
}

/* ---- the re-check inside the batch ------------------------------------------------------- */

static int64_t count_of(const char *sql, uint64_t target)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    OK(ch_db_acquire(svc.db, &conn));
    ch_db_param_t p[] = {CH_DB_P_INT(target)};
    OK(ch_db_exec(svc.db, conn, sql, p, 1, &rows, NULL));
    int64_t n = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    ch_db_release(svc.db, conn);
    return n;
}

/* Everything a reaction write leaves for target: rows, events, outbox rows, counter. */
static int64_t traces_of(uint64_t target)
{
    return count_of("SELECT COUNT(*) FROM reactions WHERE target_id = $1", target) +
           count_of("SELECT COUNT(*) FROM engagement_events WHERE target_id = $1", target) +
           count_of("SELECT COUNT(*) FROM outbox WHERE aggregate_id = $1", target) +
           count_of("SELECT COALESCE(SUM(r_like + r_love + r_haha + r_wow + r_sad + r_angry), 0) FROM target_counters"
                    " WHERE target_id = $1",
                    target);
}

static void exec_now(const char *sql)
{
    ch_db_conn_t *conn;
    OK(ch_db_acquire(svc.db, &conn));
    OK(ch_db_exec(svc.db, conn, sql, NULL, 0, NULL, NULL));
    ch_db_release(svc.db, conn);
}

static void set_done(ch__reaction_op_t *op)
{
    (void)op;
}

/* Writes resolved (visible) when they were queued; then, on another connection, the author
 * of one target blocks the reacting user and another target is deleted, both committed
 * before the batch runs. The batch must refuse those two (404, nothing written for them)
 * and commit the third. Run as one batch (ch__reactions_run), then through the writer. */
static void test_batch_rechecks_visibility_after_block_and_delete(void **state)
{
    const uint64_t reactor = 5;
    /* Resolved now: every target is visible to the reactor. */
    ch_target_t t_ok, t_block, t_delete;
    ch_fault_t f;
    OK(ch_target_resolve(&svc, NULL, reactor, CH_TARGET_POST, TARGET_A, &t_ok, &f));
    OK(ch_target_resolve(&svc, NULL, reactor, CH_TARGET_POST, TARGET_BLOCK, &t_block, &f));
    OK(ch_target_resolve(&svc, NULL, reactor, CH_TARGET_POST, TARGET_DELETE, &t_delete, &f));
    exec_now("UPDATE items SET author_id = 2 WHERE id = 7003");
    t_block.author_id = AUTHOR_BLOCKING;
    int64_t before_ok = count_of("SELECT COUNT(*) FROM reactions WHERE target_id = $1", TARGET_A);
    int64_t traces_block = traces_of(TARGET_BLOCK), traces_delete = traces_of(TARGET_DELETE);

    /* Committed between the check and the batch. */
    exec_now("INSERT INTO blocks(blocker_id, blocked_id, created_at) VALUES(2, 5, 0)");
    exec_now("UPDATE items SET deleted_at = 1 WHERE id = 7004");

    for (int round = 0; round < 2; round++) {
        int kind = round ? CH_REACTION_WOW : CH_REACTION_LOVE;
        ch__reaction_op_t ops[3] = {
            {.user_id = reactor, .type = CH_TARGET_POST, .target_id = TARGET_BLOCK, .kind = kind, .resolved = 1,
             .target = t_block, .done = set_done},
            {.user_id = reactor, .type = CH_TARGET_POST, .target_id = TARGET_A, .kind = kind, .resolved = 1,
             .target = t_ok, .done = set_done},
            {.user_id = reactor, .type = CH_TARGET_POST, .target_id = TARGET_DELETE, .kind = kind, .resolved = 1,
             .target = t_delete, .done = set_done},
        };
        ch__reaction_op_t *batch[] = {&ops[0], &ops[1], &ops[2]};
        if (round == 0) {
            OK(ch__reactions_run(&svc, NULL, batch, 3));
        } else {
            ch_reactions_writer_t *w = ch_reactions_writer_start(&svc);
            assert_non_null(w);
            for (int i = 0; i < 3; i++)
                ch_reactions_writer_submit_wait(w, batch[i]);
            ch_reactions_writer_stop(w);
        }
        assert_int_equal(ops[0].err, CH_ENOTFOUND);
        assert_string_equal(ops[0].fault.detail, "post not found");
        assert_int_equal(ops[1].err, CH_OK);
        assert_int_equal(ops[2].err, CH_ENOTFOUND);
        ch_counters_t now;
        OK(ch_counters_read(&svc, NULL, CH_TARGET_POST, TARGET_A, &now));
        assert_memory_equal(&ops[1].counts, &now, sizeof(now));
        assert_true(now.reactions[kind] >= 1);
        /* Nothing at all was written for the refused ones. */
        assert_int_equal(traces_of(TARGET_BLOCK), traces_block);
        assert_int_equal(traces_of(TARGET_DELETE), traces_delete);
    }
    assert_int_equal(count_of("SELECT COUNT(*) FROM reactions WHERE target_id = $1 AND user_id = 5", TARGET_A), 1);
    assert_true(count_of("SELECT COUNT(*) FROM reactions WHERE target_id = $1", TARGET_A) >= before_ok);
    ch_counters_t before, after;
    OK(ch_counters_repair(&svc, CH_TARGET_POST, TARGET_A, &before, &after));
    assert_memory_equal(&before, &after, sizeof(after));
    /* The unblocked, undeleted state lets the write through again (the check is the rule,
     * not a stale refusal). */
    exec_now("DELETE FROM blocks WHERE blocker_id = 2 AND blocked_id = 5");
    ch__reaction_op_t again = {.user_id = reactor, .type = CH_TARGET_POST, .target_id = TARGET_BLOCK,
                               .kind = CH_REACTION_LIKE, .resolved = 1, .target = t_block, .done = set_done};
    ch__reaction_op_t *one[] = {&again};
    OK(ch__reactions_run(&svc, NULL, one, 1));
    assert_int_equal(again.err, CH_OK);
    assert_int_equal(again.counts.reactions[CH_REACTION_LIKE], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_round_trip),
        cmocka_unit_test(test_counts_json_lists_kinds_above_zero),
        cmocka_unit_test(test_concurrent_writes_keep_counters_exact_and_stop_drains),
        cmocka_unit_test(test_repair_fixes_a_tampered_counter),
        cmocka_unit_test(test_batch_rechecks_visibility_after_block_and_delete),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
