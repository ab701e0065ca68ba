/* The chat sends' group commit (svc/chat/send_writer.h, send_op.h) on SQLite with the
 * in-process kv and bus: a batch where some sends are refused (not a member, blocked, a
 * client_msg_id of another conversation) keeps the others, with gapless seqs; the same
 * client_msg_id twice in one batch stores one message; many threads sending to one
 * conversation get gapless seqs and message.new in seq order; and a send whose database
 * cannot commit (the write lock held by another connection) is never answered before the
 * writer gave up: 503, nothing stored, and a retry stores it once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "store/bus.h"
#include "svc/chat/chat.h"
#include "svc/chat/send_writer.h"
#include "svc/common/sql.h"

#define OK(x) assert_int_equal((x), CH_OK)
#define A 21
#define B 22
#define C 23
#define D 24
#define THREADS 6
#define SENDS_PER_THREAD 40

static ch_config_t cfg;
static ch_svc_t svc;
static char dir[256];

/* message.new frames seen by B, in delivery order (seq per conversation) */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t seen_seq[THREADS * SENDS_PER_THREAD + 16];
static size_t seen_n;

static void on_frame(void *ctx, uint64_t user_id, const char *frame, size_t len)
{
    (void)ctx;
    json_t *f = json_loadb(frame, len, 0, NULL);
    const char *op = json_string_value(json_object_get(f, "op"));
    pthread_mutex_lock(&seen_mu);
    if (user_id == B && op && strcmp(op, "message.new") == 0 && seen_n < sizeof(seen_seq) / sizeof(seen_seq[0]))
        seen_seq[seen_n++] = json_integer_value(json_object_get(json_object_get(f, "d"), "seq"));
    pthread_mutex_unlock(&seen_mu);
    json_decref(f);
}

static void user(int64_t id)
{
    char h[16];
    snprintf(h, sizeof(h), "w%lld", (long long)id);
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(h)};
    OK(ch_sql_run(&svc,
                  "INSERT INTO users(id, handle, password_hash, display_name, created_at, updated_at)"
                  " VALUES($1, $2, 'x', $2, 0, 0)",
                  p, 2, NULL, NULL));
}

static int setup(void **state)
{
    (void)state;
    char url[300], errbuf[256];
    ch_log_set_level(CH_LOG_ERROR);
    snprintf(dir, sizeof(dir), "%s/chorus-test-chatw-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    if (ch_kv_open(NULL, &svc.kv, errbuf, sizeof(errbuf)) != CH_OK)
        return -1;
    svc.cfg = &cfg;
    user(A), user(B), user(C), user(D);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    ch_kv_close(svc.kv);
    ch_db_close(svc.db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint64_t open_conv(uint64_t viewer, const char *members_json)
{
    json_t *body = json_loads(members_json, 0, NULL), *out = NULL;
    ch_fault_t f = {0};
    int created = 0;
    OK(ch_chat_conv_create(&svc, viewer, body, &out, &created, &f));
    uint64_t id = ch_id_parse(json_string_value(json_object_get(out, "id")));
    json_decref(out);
    json_decref(body);
    return id;
}

static void op_init(ch__chat_send_op_t *op, uint64_t sender, uint64_t conv, const char *key)
{
    ch_chat_send_t in = {.conversation_id = conv, .client_msg_id = key, .text = "hi"};
    OK(ch__chat_send_op_init(op, sender, &in));
}

static int64_t count_messages(uint64_t conv)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(conv)};
    OK(ch_sql_run(&svc, "SELECT COUNT(*) FROM messages WHERE conversation_id = $1", p, 1, &rows, NULL));
    int64_t n = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    return n;
}

/* One batch: refused sends roll back alone, the others commit with gapless seqs. */
static void test_batch_refusals_do_not_fail_the_others(void **state)
{
    (void)state;
    uint64_t group = open_conv(A, "{\"member_ids\": [\"22\"], \"title\": \"g\"}");
    uint64_t other = open_conv(A, "{\"member_ids\": [\"23\"], \"title\": \"o\"}");
    uint64_t direct = open_conv(A, "{\"member_ids\": [\"24\"]}");
    ch_db_param_t pb[] = {CH_DB_P_INT(D), CH_DB_P_INT(A)};
    OK(ch_sql_run(&svc, "INSERT INTO blocks(blocker_id, blocked_id, created_at) VALUES($1, $2, 0)", pb, 2, NULL,
                  NULL));
    enum { N = 7 };
    ch__chat_send_op_t ops[N], *p[N];
    op_init(&ops[0], A, group, "k1");      /* stored, seq 1 */
    op_init(&ops[1], C, group, "c1");      /* C is not a member: 404 */
    op_init(&ops[2], A, other, "k1");      /* k1 went to another conversation: 409 */
    op_init(&ops[3], A, direct, "k3");     /* D blocks A: 404 */
    op_init(&ops[4], B, group, "b1");      /* stored, seq 2 */
    op_init(&ops[5], A, group, "k1");      /* the same client_msg_id again: the original */
    op_init(&ops[6], A, group, "k2");      /* stored, seq 3 */
    ops[6].reply_to = 1;                   /* not a message of the conversation: 422 */
    for (int i = 0; i < N; i++)
        p[i] = &ops[i];
    OK(ch__chat_send_run(&svc, NULL, p, N));
    assert_int_equal(ops[0].err, CH_OK);
    assert_int_equal(ops[0].created, 1);
    assert_int_equal(ops[0].seq, 1);
    assert_int_equal(ops[1].err, CH_ENOTFOUND);
    assert_int_equal(ops[2].err, CH_ECONFLICT);
    assert_int_equal(ops[3].err, CH_ENOTFOUND);
    assert_int_equal(ops[4].err, CH_OK);
    assert_int_equal(ops[4].seq, 2);
    assert_int_equal(ops[5].err, CH_OK);
    assert_int_equal(ops[5].created, 0);
    assert_int_equal(ops[5].seq, 1);
    assert_string_equal(json_string_value(json_object_get(ops[5].msg, "id")),
                        json_string_value(json_object_get(ops[0].msg, "id")));
    assert_int_equal(ops[6].err, CH_EINVAL);
    assert_null(ops[6].msg);
    /* the recipients of a stored one were read in the transaction */
    assert_int_equal(ops[4].n, 2);
    for (int i = 0; i < N; i++)
        ch__chat_send_op_clear(&ops[i]);
    assert_int_equal(count_messages(group), 2);
    assert_int_equal(count_messages(other), 0);
    assert_int_equal(count_messages(direct), 0);
    /* the next send continues the seq without a gap (the refused ones gave theirs back) */
    op_init(&ops[0], A, group, "k4");
    p[0] = &ops[0];
    OK(ch__chat_send_run(&svc, NULL, p, 1));
    assert_int_equal(ops[0].seq, 3);
    ch__chat_send_op_clear(&ops[0]);
}

typedef struct {
    ch_chat_writer_t *w;
    uint64_t conv;
    uint64_t sender;
    int index;
    int64_t seqs[SENDS_PER_THREAD];
} sender_t;

/* Sends SENDS_PER_THREAD messages through the writer, each waiting for its commit. */
static void *pour(void *arg)
{
    sender_t *s = arg;
    for (int i = 0; i < SENDS_PER_THREAD; i++) {
        char key[32];
        snprintf(key, sizeof(key), "t%d-%d", s->index, i);
        ch__chat_send_op_t op;
        op_init(&op, s->sender, s->conv, key);
        ch_chat_writer_submit_wait(s->w, &op);
        assert_int_equal(op.err, CH_OK);
        s->seqs[i] = op.seq;
        ch__chat_send_op_clear(&op);
    }
    return NULL;
}

/* Many threads, one conversation: seqs 1..n each once; B's device sees them in order. */
static void test_concurrent_senders_gapless_and_in_order(void **state)
{
    (void)state;
    uint64_t conv = open_conv(A, "{\"member_ids\": [\"22\", \"23\"], \"title\": \"busy\"}");
    svc.bus = ch_bus_mem_create();
    assert_non_null(svc.bus);
    ch_bus_set_receiver(svc.bus, on_frame, NULL);
    OK(ch_bus_subscribe(svc.bus, B));
    seen_n = 0;
    ch_chat_writer_t *w = ch_chat_writer_start(&svc);
    assert_non_null(w);
    sender_t s[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (sender_t){.w = w, .conv = conv, .sender = i % 2 ? C : A, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, pour, &s[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ch_chat_writer_stop(w);
    ch_bus_destroy(svc.bus); /* delivers everything queued */
    svc.bus = NULL;
    enum { TOTAL = THREADS * SENDS_PER_THREAD };
    unsigned char hit[TOTAL + 1] = {0};
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < SENDS_PER_THREAD; k++) {
            int64_t q = s[i].seqs[k];
            assert_true(q >= 1 && q <= TOTAL);
            assert_int_equal(hit[q], 0);
            hit[q] = 1;
            if (k)
                assert_true(q > s[i].seqs[k - 1]); /* one sender's order is kept */
        }
    assert_int_equal(count_messages(conv), TOTAL);
    assert_int_equal(seen_n, TOTAL);
    for (size_t i = 0; i < seen_n; i++)
        assert_int_equal(seen_seq[i], (int64_t)i + 1);
}

typedef struct {
    pthread_mutex_t mu;
    int done;
    ch_err_t err;
    int64_t seq;
} outcome_t;

static void on_done(ch__chat_send_op_t *op)
{
    outcome_t *o = op->arg;
    pthread_mutex_lock(&o->mu);
    o->done = 1;
    o->err = op->err;
    o->seq = op->seq;
    pthread_mutex_unlock(&o->mu);
}

static int outcome_done(outcome_t *o, ch_err_t *err)
{
    pthread_mutex_lock(&o->mu);
    int d = o->done;
    *err = o->err;
    pthread_mutex_unlock(&o->mu);
    return d;
}

/* The database cannot commit (another connection holds the write lock past the send's
 * deadline): the send is answered only once the writer gave up, with 503, and nothing was
 * stored; once the lock is gone the retry stores it, seq 1. */
static void test_no_ack_before_commit(void **state)
{
    (void)state;
    uint64_t conv = open_conv(B, "{\"member_ids\": [\"23\"], \"title\": \"locked\"}");
    ch_db_conn_t *holder = NULL;
    OK(ch_db_acquire(svc.db, &holder));
    OK(ch_db_begin(svc.db, holder, 1)); /* BEGIN IMMEDIATE: the write lock is ours */
    ch_chat_writer_t *w = ch_chat_writer_start(&svc);
    assert_non_null(w);
    outcome_t o = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ch__chat_send_op_t op;
    op_init(&op, B, conv, "locked-1");
    op.done = on_done;
    op.arg = &o;
    ch_db_deadline_set(ch_mono_ms() + 300);
    ch_chat_writer_submit(w, &op);
    ch_db_deadline_set(0);
    /* While the lock is held, an answer can only be the writer giving up at the deadline. */
    usleep(100 * 1000);
    ch_err_t err = CH_OK;
    if (outcome_done(&o, &err))
        assert_int_equal(err, CH_EUNAVAILABLE);
    while (!outcome_done(&o, &err))
        usleep(10 * 1000);
    assert_int_equal(err, CH_EUNAVAILABLE);
    assert_int_equal(op.created, 0);
    ch__chat_send_op_clear(&op);
    ch_db_rollback(svc.db, holder);
    ch_db_release(svc.db, holder);
    assert_int_equal(count_messages(conv), 0);
    /* the retry, with the database back */
    outcome_t o2 = {.mu = PTHREAD_MUTEX_INITIALIZER};
    op_init(&op, B, conv, "locked-1");
    op.done = on_done;
    op.arg = &o2;
    ch_chat_writer_submit(w, &op);
    while (!outcome_done(&o2, &err))
        usleep(10 * 1000);
    OK(err);
    assert_int_equal(o2.seq, 1);
    assert_int_equal(op.created, 1);
    ch__chat_send_op_clear(&op);
    ch_chat_writer_stop(w);
    assert_int_equal(count_messages(conv), 1);
}

typedef struct {
    pthread_mutex_t mu;
    size_t done, overloaded, unavailable, other;
} tally_t;

static void on_tally(ch__chat_send_op_t *op)
{
    tally_t *t = op->arg;
    pthread_mutex_lock(&t->mu);
    t->done++;
    if (op->err == CH_EOVERLOADED)
        t->overloaded++;
    else if (op->err == CH_EUNAVAILABLE)
        t->unavailable++;
    else
        t->other++;
    pthread_mutex_unlock(&t->mu);
}

/* The writer's queue is bounded: with the database stuck (the write lock held past the
 * sends' deadline) and more sends than CH_CHAT_SEND_QUEUE_MAX queued, the excess is answered
 * 503 overloaded at once, the queued ones 503 once their deadline passed; nothing stored. */
static void test_queue_is_bounded(void **state)
{
    (void)state;
    uint64_t conv = open_conv(C, "{\"member_ids\": [\"24\"]}");
    ch_db_conn_t *holder = NULL;
    OK(ch_db_acquire(svc.db, &holder));
    OK(ch_db_begin(svc.db, holder, 1));
    ch_chat_writer_t *w = ch_chat_writer_start(&svc);
    assert_non_null(w);
    enum { EXTRA = 2000, N = CH_CHAT_SEND_QUEUE_MAX + CH_CHAT_SEND_BATCH_MAX + EXTRA };
    ch__chat_send_op_t *ops = calloc(N, sizeof(*ops));
    assert_non_null(ops);
    tally_t t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    /* The first batch waits on the holder's lock until this deadline: it must outlast the
     * submissions even under ASan on a loaded machine, or the writer takes a second batch
     * (after the first fails) and fewer sends are refused early. */
    ch_db_deadline_set(ch_mono_ms() + 8000);
    for (size_t i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof(key), "q%zu", i);
        op_init(&ops[i], C, conv, key);
        ops[i].done = on_tally;
        ops[i].arg = &t;
        ch_chat_writer_submit(w, &ops[i]);
    }
    ch_db_deadline_set(0);
    pthread_mutex_lock(&t.mu);
    size_t early = t.overloaded;
    pthread_mutex_unlock(&t.mu);
    for (;;) {
        pthread_mutex_lock(&t.mu);
        size_t d = t.done;
        pthread_mutex_unlock(&t.mu);
        if (d == N)
            break;
        usleep(20 * 1000);
    }
    ch_chat_writer_stop(w);
    ch_db_rollback(svc.db, holder);
    ch_db_release(svc.db, holder);
    /* asserted once the writer is stopped: a failed assertion leaves this frame, and the
     * writer must not be holding pointers into it then */
    assert_true(early >= EXTRA); /* the writer took at most one batch meanwhile */
    assert_int_equal(t.other, 0);
    assert_int_equal(t.overloaded + t.unavailable, N);
    assert_int_equal(count_messages(conv), 0);
    for (size_t i = 0; i < N; i++)
        ch__chat_send_op_clear(&ops[i]);
    free(ops);
}

/* A batch whose transaction fails after its sends were applied (here: the push jobs' table
 * is missing) is run again: the rollback gave the seqs back (gapless), and each send was
 * charged to the message rate limit once, not once per run. */
static void test_failed_batch_rerun_charges_once(void **state)
{
    (void)state;
    uint64_t group = open_conv(D, "{\"member_ids\": [\"23\"], \"title\": \"r\"}");
    cfg.rate_limit_messages = 4;
    enum { N = 3 };
    ch__chat_send_op_t ops[N + 2], *p[N + 2];
    for (int i = 0; i < N; i++) {
        char key[16];
        snprintf(key, sizeof(key), "r%d", i);
        op_init(&ops[i], D, group, key);
        p[i] = &ops[i];
    }
    OK(ch_sql_run(&svc, "ALTER TABLE chat_push_jobs RENAME TO chat_push_jobs_away", NULL, 0, NULL, NULL));
    assert_int_not_equal(ch__chat_send_run(&svc, NULL, p, N), CH_OK);
    OK(ch_sql_run(&svc, "ALTER TABLE chat_push_jobs_away RENAME TO chat_push_jobs", NULL, 0, NULL, NULL));
    assert_int_equal(count_messages(group), 0);
    OK(ch__chat_send_run(&svc, NULL, p, N));
    for (int i = 0; i < N; i++) {
        assert_int_equal(ops[i].err, CH_OK);
        assert_int_equal(ops[i].created, 1);
        assert_int_equal(ops[i].seq, i + 1);
    }
    assert_int_equal(count_messages(group), N);
    /* N charged so far: one more fits the limit of 4, the next one does not */
    op_init(&ops[N], D, group, "r-next");
    op_init(&ops[N + 1], D, group, "r-over");
    p[N] = &ops[N];
    p[N + 1] = &ops[N + 1];
    OK(ch__chat_send_run(&svc, NULL, p + N, 2));
    assert_int_equal(ops[N].err, CH_OK);
    assert_int_equal(ops[N].seq, N + 1);
    assert_int_equal(ops[N + 1].err, CH_ERATELIMIT);
    cfg.rate_limit_messages = 0;
    for (int i = 0; i < N + 2; i++)
        ch__chat_send_op_clear(&ops[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_refusals_do_not_fail_the_others),
        cmocka_unit_test(test_concurrent_senders_gapless_and_in_order),
        cmocka_unit_test(test_no_ack_before_commit),
        cmocka_unit_test(test_queue_is_bounded),
        cmocka_unit_test(test_failed_batch_rerun_charges_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
