/* The chat service (svc/chat) on SQLite with the in-process bus and kv: who shares a
 * conversation (share.c, read by presence), and the events every write publishes after its
 * commit — to members only, as complete {"op","d"} frames — with typing fanned out at most
 * once per interval and never to the typist. The bus is destroyed before frames are
 * checked: its destroy delivers everything queued, so no waiting is involved. */
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

#include "core/id.h"
#include "core/log.h"
#include "store/bus.h"
#include "svc/chat/chat.h"
#include "svc/chat/share.h"
#include "svc/common/sql.h"

#define OK(x) assert_int_equal((x), CH_OK)
#define A 11
#define B 12
#define C 13
#define MAX_GOT 64

typedef struct {
    pthread_mutex_t mu;
    size_t n;
    uint64_t users[MAX_GOT];
    json_t *frames[MAX_GOT];
} got_t;

static ch_config_t cfg;
static ch_svc_t svc;
static char dir[256];
static got_t got = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_frame(void *ctx, uint64_t user_id, const char *frame, size_t len)
{
    got_t *g = ctx;
    pthread_mutex_lock(&g->mu);
    if (g->n < MAX_GOT) {
        g->users[g->n] = user_id;
        g->frames[g->n] = json_loadb(frame, len, 0, NULL);
        g->n++;
    }
    pthread_mutex_unlock(&g->mu);
}

static void got_clear(void)
{
    for (size_t i = 0; i < got.n; i++)
        json_decref(got.frames[i]);
    got.n = 0;
}

/* A fresh bus with A, B and C subscribed. */
static void bus_start(void)
{
    got_clear();
    svc.bus = ch_bus_mem_create();
    assert_non_null(svc.bus);
    ch_bus_set_receiver(svc.bus, on_frame, &got);
    OK(ch_bus_subscribe(svc.bus, A));
    OK(ch_bus_subscribe(svc.bus, B));
    OK(ch_bus_subscribe(svc.bus, C));
}

/* Delivers everything published and stops the bus. */
static void bus_stop(void)
{
    ch_bus_destroy(svc.bus);
    svc.bus = NULL;
}

/* How many frames of op user got; *last (may be NULL) the "d" of the last one (borrowed). */
static size_t frames_of(uint64_t user, const char *op, json_t **last)
{
    size_t n = 0;
    for (size_t i = 0; i < got.n; i++) {
        json_t *f = got.frames[i];
        assert_non_null(f);
        if (got.users[i] != user || strcmp(json_string_value(json_object_get(f, "op")), op) != 0)
            continue;
        n++;
        if (last)
            *last = json_object_get(f, "d");
    }
    return n;
}

static void user(int64_t id)
{
    char h[16];
    snprintf(h, sizeof(h), "u%lld", (long long)id);
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
    snprintf(dir, sizeof(dir), "%s/chorus-test-chat-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    if (ch_kv_open(NULL, &svc.kv, errbuf, sizeof(errbuf)) != CH_OK)
        return -1;
    svc.cfg = &cfg;
    user(A), user(B), user(C);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    got_clear();
    ch_kv_close(svc.kv);
    ch_db_close(svc.db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint64_t open_conv(uint64_t viewer, const char *members_json, int *created)
{
    json_t *body = json_loads(members_json, 0, NULL), *out = NULL;
    ch_fault_t f = {0};
    OK(ch_chat_conv_create(&svc, viewer, body, &out, created, &f));
    uint64_t id = ch_id_parse(json_string_value(json_object_get(out, "id")));
    json_decref(out);
    json_decref(body);
    return id;
}

static json_t *send_msg(uint64_t viewer, uint64_t conv, const char *key, const char *text, int *created)
{
    ch_chat_send_t in = {.conversation_id = conv, .client_msg_id = key, .text = text};
    json_t *out = NULL;
    ch_fault_t f = {0};
    OK(ch_chat_msg_send(&svc, viewer, &in, &out, created, &f));
    return out;
}

static void test_share(void **state)
{
    (void)state;
    int shared = -1, created;
    OK(ch_chat_shares_conversation(&svc, A, B, &shared));
    assert_int_equal(shared, 0);
    uint64_t g = open_conv(A, "{\"member_ids\":[\"12\",\"13\"]}", &created);
    OK(ch_chat_shares_conversation(&svc, A, B, &shared));
    assert_int_equal(shared, 1);
    OK(ch_chat_shares_conversation(&svc, C, B, &shared));
    assert_int_equal(shared, 1);
    ch_fault_t f = {0};
    OK(ch_chat_leave(&svc, B, g, &f));
    OK(ch_chat_shares_conversation(&svc, B, C, &shared));
    assert_int_equal(shared, 0);
    OK(ch_chat_shares_conversation(&svc, A, C, &shared));
    assert_int_equal(shared, 1);
    OK(ch_chat_shares_conversation(&svc, A, 0, &shared));
    assert_int_equal(shared, 0);
}

static void test_events_reach_members_only(void **state)
{
    (void)state;
    int created;
    ch_fault_t f = {0};
    uint64_t d = open_conv(A, "{\"member_ids\":[\"12\"]}", &created);
    bus_start();
    json_t *m = send_msg(A, d, "k1", "hello", &created);
    assert_int_equal(created, 1);
    json_t *again = send_msg(A, d, "k1", "hello", &created); /* a retry publishes nothing */
    assert_int_equal(created, 0);
    bus_stop();
    json_t *ev = NULL;
    assert_int_equal(frames_of(A, "message.new", &ev), 1); /* the sender's other devices too */
    assert_true(json_equal(ev, m));
    assert_int_equal(frames_of(B, "message.new", &ev), 1);
    assert_true(json_equal(ev, m));
    assert_int_equal(frames_of(C, "message.new", NULL), 0);
    assert_true(json_equal(again, m));
    uint64_t mid = ch_id_parse(json_string_value(json_object_get(m, "id")));
    json_decref(again);
    json_decref(m);

    /* Edit, delete, receipts. */
    bus_start();
    json_t *body = json_pack("{s:s}", "text", "hello!"), *out = NULL;
    OK(ch_chat_msg_edit(&svc, A, d, mid, body, &out, &f));
    json_decref(body);
    json_decref(out);
    OK(ch_chat_msg_delete(&svc, A, d, mid, &f));
    OK(ch_chat_msg_delete(&svc, A, d, mid, &f)); /* again: no second event */
    OK(ch_chat_receipt(&svc, B, d, 1, 0, NULL, &f));
    OK(ch_chat_receipt(&svc, B, d, 1, 1, NULL, &f));
    OK(ch_chat_receipt(&svc, B, d, 0, 1, NULL, &f)); /* lower: nothing moves, no event */
    bus_stop();
    assert_int_equal(frames_of(B, "message.updated", &ev), 1);
    assert_string_equal(json_string_value(json_object_get(ev, "text")), "hello!");
    assert_int_equal(frames_of(B, "message.deleted", &ev), 1);
    assert_true(json_is_true(json_object_get(ev, "deleted")));
    assert_true(json_is_null(json_object_get(ev, "text")));
    assert_int_equal(frames_of(A, "receipt", &ev), 2);
    assert_int_equal(json_integer_value(json_object_get(ev, "read_seq")), 1);
    assert_int_equal(json_integer_value(json_object_get(ev, "delivered_seq")), 1);
    assert_string_equal(json_string_value(json_object_get(ev, "user_id")), "12");
    assert_int_equal(frames_of(C, "receipt", NULL) + frames_of(C, "message.updated", NULL) +
                         frames_of(C, "message.deleted", NULL),
                     0);
}

/* A retry that lands after the commit but before the original's publish (its ordering record
 * not written yet: emulated by removing it) finds the publication claimed: message.new once. */
static void test_retry_between_commit_and_publish_publishes_once(void **state)
{
    (void)state;
    int created;
    uint64_t g = open_conv(A, "{\"member_ids\":[\"12\", \"13\"], \"title\":\"t\"}", &created);
    bus_start();
    json_t *m = send_msg(A, g, "race-1", "once", &created);
    assert_int_equal(created, 1);
    char key[48];
    snprintf(key, sizeof(key), "chat:pubseq:%llu", (unsigned long long)g);
    OK(ch_kv_del(svc.kv, key));
    json_t *again = send_msg(A, g, "race-1", "once", &created);
    assert_int_equal(created, 0);
    bus_stop();
    assert_int_equal(frames_of(B, "message.new", NULL), 1);
    assert_int_equal(frames_of(C, "message.new", NULL), 1);
    json_decref(again);
    json_decref(m);
}

/* A retry's republish of a lost message.new (its ordering record and claim gone) reaches
 * the members who see it, not a member who joined after it. */
static void test_republish_skips_later_members(void **state)
{
    (void)state;
    int created;
    ch_fault_t f = {0};
    json_t *out = NULL;
    uint64_t g = open_conv(A, "{\"member_ids\":[\"12\", \"13\"], \"title\":\"late\"}", &created);
    OK(ch_chat_member_remove(&svc, A, g, C, &f));
    json_t *m = send_msg(A, g, "late-1", "before C", &created);
    assert_int_equal(created, 1);
    OK(ch_chat_member_add(&svc, A, g, C, &out, &f)); /* C joins after seq 1 */
    json_decref(out);
    char key[64];
    snprintf(key, sizeof(key), "chat:pubseq:%llu", (unsigned long long)g);
    OK(ch_kv_del(svc.kv, key));
    snprintf(key, sizeof(key), "chat:pubclaim:%llu:1", (unsigned long long)g);
    OK(ch_kv_del(svc.kv, key));
    bus_start();
    json_t *again = send_msg(A, g, "late-1", "before C", &created);
    assert_int_equal(created, 0);
    bus_stop();
    assert_int_equal(frames_of(B, "message.new", NULL), 1); /* republished */
    assert_int_equal(frames_of(C, "message.new", NULL), 0);
    json_decref(again);
    json_decref(m);
}

static void test_typing_once_per_interval(void **state)
{
    (void)state;
    int created;
    ch_fault_t f = {0};
    uint64_t g = open_conv(A, "{\"member_ids\":[\"12\",\"13\"],\"title\":\"t\"}", &created);
    bus_start();
    OK(ch_chat_typing(&svc, A, g, &f));
    OK(ch_chat_typing(&svc, A, g, &f)); /* within CH_CHAT_TYPING_INTERVAL_MS: dropped */
    OK(ch_chat_typing(&svc, B, g, &f));
    bus_stop();
    json_t *ev = NULL;
    assert_int_equal(frames_of(A, "typing", &ev), 1); /* B's */
    assert_string_equal(json_string_value(json_object_get(ev, "user_id")), "12");
    assert_int_equal(frames_of(B, "typing", &ev), 1); /* A's, once */
    assert_string_equal(json_string_value(json_object_get(ev, "user_id")), "11");
    assert_int_equal(json_integer_value(json_object_get(ev, "expires_in_ms")), CH_CHAT_TYPING_EXPIRES_MS);
    assert_int_equal(frames_of(C, "typing", NULL), 2);
    /* A non-member cannot type there. */
    uint64_t d = open_conv(A, "{\"member_ids\":[\"12\"]}", &created);
    assert_int_equal(ch_chat_typing(&svc, C, d, &f), CH_ENOTFOUND);
}

static void test_membership_events(void **state)
{
    (void)state;
    int created;
    ch_fault_t f = {0};
    json_t *out = NULL;
    uint64_t d = open_conv(A, "{\"member_ids\":[\"12\"]}", &created); /* made here or before */
    uint64_t g = open_conv(A, "{\"member_ids\":[\"12\"],\"title\":\"x\"}", &created);
    assert_int_equal(created, 0); /* A and B's direct conversation: a title does not make a group */
    assert_true(g == d);
    g = open_conv(A, "{\"member_ids\":[\"12\", \"12\", \"11\", \"13\"]}", &created);
    bus_start();
    OK(ch_chat_member_remove(&svc, A, g, C, &f));
    OK(ch_chat_member_add(&svc, A, g, C, &out, &f));
    json_decref(out);
    bus_stop();
    json_t *ev = NULL;
    assert_int_equal(frames_of(C, "member.removed", &ev), 1); /* the one removed hears of it */
    assert_string_equal(json_string_value(json_object_get(ev, "user_id")), "13");
    assert_int_equal(frames_of(B, "member.removed", NULL), 1);
    assert_int_equal(frames_of(C, "member.added", NULL), 1);
    assert_int_equal(frames_of(A, "member.added", NULL), 1);
}

static void test_no_bus(void **state)
{
    (void)state;
    int created;
    uint64_t d = open_conv(B, "{\"member_ids\":[\"13\"]}", &created);
    json_t *m = send_msg(B, d, "nobus", "quiet", &created);
    assert_int_equal(json_integer_value(json_object_get(m, "seq")), 1);
    json_decref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share),
        cmocka_unit_test(test_events_reach_members_only),
        cmocka_unit_test(test_retry_between_commit_and_publish_publishes_once),
        cmocka_unit_test(test_republish_skips_later_members),
        cmocka_unit_test(test_typing_once_per_interval),
        cmocka_unit_test(test_membership_events),
        cmocka_unit_test(test_no_bus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
