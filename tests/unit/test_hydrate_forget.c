/* The hydration layer's forget hooks (svc/common/hydrate_forget.c) against a recording
 * cache driver: sent at once outside a transaction, after the commit inside an ambient one
 * (never on rollback), and collected between ch_hydrate_forget_hold and
 * ch_hydrate_forget_flush into one call (the reactions writer's batches); the notification
 * worker's batch forgets its recipients' lists only at its flush, after the commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/db.h"
#include "store/hcache_driver.h"
#include "svc/common/hydrate.h"
#include "svc/engage/notify_cache.h"

/* ---- a driver that records its forget calls -------------------------------------------- */

#define MAX_CALLS 64
#define MAX_KEYS 2048

static struct {
    size_t calls;
    size_t sizes[MAX_CALLS];
    size_t nkeys;
    char keys[MAX_KEYS][CH_HCACHE_KEY_MAX + 1];
} rec;

static ch_err_t fake_get(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    (void)impl, (void)keys, (void)n, (void)got;
    return CH_EUNAVAILABLE;
}

static void fake_put(void *impl, const char *const *keys, const char *const *vals, const size_t *lens,
                     const uint64_t *leases, size_t n)
{
    (void)impl, (void)keys, (void)vals, (void)lens, (void)leases, (void)n;
}

static void fake_forget(void *impl, const char *const *keys, size_t n)
{
    (void)impl;
    assert_true(rec.calls < MAX_CALLS);
    rec.sizes[rec.calls++] = n;
    for (size_t i = 0; i < n; i++) {
        assert_true(rec.nkeys < MAX_KEYS);
        snprintf(rec.keys[rec.nkeys++], sizeof(rec.keys[0]), "%s", keys[i]);
    }
}

static size_t fake_bytes(const void *impl)
{
    (void)impl;
    return 0;
}

static void fake_destroy(void *impl)
{
    (void)impl;
}

static const ch_hcache_driver_t fake_driver = {.name = "fake", .get_many = fake_get, .put_many = fake_put, .forget_many = fake_forget, .bytes = fake_bytes, .destroy = fake_destroy};

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct {
    char dir[256];
    ch_db_t *db;
    struct ch_hcache cache;
    ch_svc_t svc;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    char url[512], errbuf[256];
    snprintf(fx->dir, sizeof(fx->dir), "%s/chorus-test-forget-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/test.db", fx->dir);
    if (ch_db_open(url, &fx->db, errbuf, sizeof(errbuf)) != CH_OK)
        return -1;
    fx->cache = (struct ch_hcache){&fake_driver, NULL};
    fx->svc.db = fx->db;
    fx->svc.hcache = &fx->cache;
    memset(&rec, 0, sizeof(rec));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    char path[512];
    ch_db_close(fx->db);
    for (const char *const *f = (const char *const[]){"test.db", "test.db-wal", "test.db-shm", NULL}; *f; f++) {
        snprintf(path, sizeof(path), "%s/%s", fx->dir, *f);
        unlink(path);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Runs one statement on the thread's (ambient) connection, so the ambient BEGIN is sent. */
static void touch(ch_db_t *db)
{
    ch_db_conn_t *conn;
    assert_int_equal(ch_db_acquire(db, &conn), CH_OK);
    assert_int_equal(ch_db_exec(db, conn, "SELECT 1", NULL, 0, NULL, NULL), CH_OK);
    ch_db_release(db, conn);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_outside_a_transaction_each_is_sent_at_once(void **state)
{
    fixture_t *fx = *state;
    ch_hydrate_forget_item(&fx->svc, CH_TARGET_POST, 7);
    assert_int_equal(rec.calls, 1);
    assert_string_equal(rec.keys[0], "i:0:7");
    ch_hydrate_forget_relation(&fx->svc, 3, 5);
    assert_int_equal(rec.calls, 2);
    /* the relation both ways, both followee lists, both users' first follower and following edges */
    assert_int_equal(rec.sizes[1], 8);
    assert_string_equal(rec.keys[1], "r:3:5");
    assert_string_equal(rec.keys[2], "r:5:3");
    assert_string_equal(rec.keys[3], "f:3");
    assert_string_equal(rec.keys[4], "f:5");
    assert_string_equal(rec.keys[5], "F:3");
    assert_string_equal(rec.keys[6], "F:5");
    assert_string_equal(rec.keys[7], "G:3");
    assert_string_equal(rec.keys[8], "G:5");
    ch_hydrate_forget_user(&fx->svc, 9);
    ch_hydrate_forget_viewer_item(&fx->svc, 9, CH_TARGET_STORY, 11);
    ch_hydrate_forget_author_items(&fx->svc, 12);
    assert_int_equal(rec.calls, 5);
    assert_string_equal(rec.keys[9], "u:9");
    assert_string_equal(rec.keys[10], "v:9:2:11");
    assert_string_equal(rec.keys[11], "a:12");
}

static void test_inside_an_ambient_transaction_after_its_commit_only(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(ch_db_ambient_begin(fx->db), CH_OK);
    touch(fx->db);
    ch_hydrate_forget_item(&fx->svc, CH_TARGET_COMMENT, 1);
    ch_hydrate_forget_user(&fx->svc, 2);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(ch_db_ambient_end(fx->db, 1), CH_OK);
    assert_int_equal(rec.calls, 1); /* both in one call */
    assert_int_equal(rec.sizes[0], 2);
    assert_string_equal(rec.keys[0], "i:3:1");
    assert_string_equal(rec.keys[1], "u:2");

    /* Rolled back: nothing now (the queue left is sent with a later transaction's). */
    assert_int_equal(ch_db_ambient_begin(fx->db), CH_OK);
    touch(fx->db);
    ch_hydrate_forget_user(&fx->svc, 4);
    assert_int_equal(ch_db_ambient_end(fx->db, 0), CH_OK);
    assert_int_equal(rec.calls, 1);
    /* The next transaction's first forget sends the left-over at once (forgetting more than
     * needed only costs a miss), its own after its commit. */
    assert_int_equal(ch_db_ambient_begin(fx->db), CH_OK);
    touch(fx->db);
    ch_hydrate_forget_user(&fx->svc, 6);
    assert_int_equal(rec.calls, 2);
    assert_string_equal(rec.keys[2], "u:4");
    assert_int_equal(ch_db_ambient_end(fx->db, 1), CH_OK);
    assert_int_equal(rec.calls, 3);
    assert_string_equal(rec.keys[3], "u:6");
}

static void test_held_forgets_go_in_one_call_at_flush(void **state)
{
    fixture_t *fx = *state;
    ch_hydrate_forget_hold();
    ch_hydrate_forget_item(&fx->svc, CH_TARGET_POST, 1);
    ch_hydrate_forget_viewer_item(&fx->svc, 8, CH_TARGET_POST, 1);
    ch_hydrate_forget_relation(&fx->svc, 1, 2);
    assert_int_equal(rec.calls, 0);
    ch_hydrate_forget_flush(&fx->svc);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.sizes[0], 10);
    assert_string_equal(rec.keys[0], "i:0:1");
    assert_string_equal(rec.keys[1], "v:8:0:1");
    /* Flushed: the next forget is sent at once again; an empty flush sends nothing. */
    ch_hydrate_forget_user(&fx->svc, 5);
    assert_int_equal(rec.calls, 2);
    ch_hydrate_forget_hold();
    ch_hydrate_forget_flush(&fx->svc);
    assert_int_equal(rec.calls, 2);
}

static void test_a_large_hold_is_sent_in_full(void **state)
{
    fixture_t *fx = *state;
    ch_hydrate_forget_hold();
    for (uint64_t id = 1; id <= 1000; id++)
        ch_hydrate_forget_item(&fx->svc, CH_TARGET_REEL, id);
    ch_hydrate_forget_flush(&fx->svc);
    assert_int_equal(rec.nkeys, 1000);
    assert_true(rec.calls >= 2 && rec.calls <= 8); /* chunks, never one per key */
    assert_string_equal(rec.keys[0], "i:1:1");
    assert_string_equal(rec.keys[999], "i:1:1000");
}

/* More keys than the in-place queue in one transaction: none is sent before the commit, all
 * after it (in chunks); a rolled back large queue frees its memory once sent. */
static void test_a_large_transaction_waits_for_its_commit(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(ch_db_ambient_begin(fx->db), CH_OK);
    touch(fx->db);
    for (uint64_t id = 1; id <= 1000; id++)
        ch_hydrate_forget_item(&fx->svc, CH_TARGET_POST, id);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(ch_db_ambient_end(fx->db, 1), CH_OK);
    assert_int_equal(rec.nkeys, 1000);
    assert_true(rec.calls >= 2 && rec.calls <= 8);
    assert_string_equal(rec.keys[0], "i:0:1");
    assert_string_equal(rec.keys[999], "i:0:1000");

    assert_int_equal(ch_db_ambient_begin(fx->db), CH_OK); /* rolled back: sent with the next one */
    touch(fx->db);
    for (uint64_t id = 1; id <= 300; id++)
        ch_hydrate_forget_user(&fx->svc, id);
    assert_int_equal(ch_db_ambient_end(fx->db, 0), CH_OK);
    ch_hydrate_forget_user(&fx->svc, 7); /* outside: at once */
    assert_int_equal(rec.nkeys, 1001);
    assert_int_equal(ch_db_ambient_begin(fx->db), CH_OK);
    touch(fx->db);
    ch_hydrate_forget_user(&fx->svc, 8);
    assert_int_equal(rec.nkeys, 1301); /* the left-over */
    assert_int_equal(ch_db_ambient_end(fx->db, 1), CH_OK);
    assert_int_equal(rec.nkeys, 1302);
}

static int g_hooks_run;
static void count_hook(void *ctx, uint64_t id)
{
    (void)ctx, (void)id;
    g_hooks_run++;
}

/* Many other after-commit calls registered first: the forget's still waits for the commit. */
static void test_many_after_commit_calls_still_wait(void **state)
{
    fixture_t *fx = *state;
    g_hooks_run = 0;
    assert_int_equal(ch_db_ambient_begin(fx->db), CH_OK);
    touch(fx->db);
    for (int i = 0; i < 40; i++)
        ch_db_after_commit(fx->db, count_hook, NULL, (uint64_t)i);
    ch_hydrate_forget_item(&fx->svc, CH_TARGET_POST, 5);
    assert_int_equal(g_hooks_run, 0);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(ch_db_ambient_end(fx->db, 1), CH_OK);
    assert_int_equal(g_hooks_run, 40);
    assert_int_equal(rec.calls, 1);
    assert_string_equal(rec.keys[0], "i:0:5");
}

static void test_a_hold_inside_an_ambient_transaction_still_waits_for_the_commit(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(ch_db_ambient_begin(fx->db), CH_OK);
    touch(fx->db);
    ch_hydrate_forget_hold();
    ch_hydrate_forget_item(&fx->svc, CH_TARGET_POST, 3);
    ch_hydrate_forget_flush(&fx->svc);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(ch_db_ambient_end(fx->db, 1), CH_OK);
    assert_int_equal(rec.calls, 1);
    assert_string_equal(rec.keys[0], "i:0:3");
}

/* The worker's batch notes the recipients whose groups it changed; nothing is sent until the
 * flush after its commit, then their lists and counts in one call, each recipient once. */
static void test_notification_lists_are_forgotten_after_the_batch(void **state)
{
    fixture_t *fx = *state;
    ch__notify_changed(4);
    ch__notify_changed(6);
    ch__notify_changed(4);
    assert_int_equal(rec.calls, 0);
    ch_notify_changed_flush(&fx->svc);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.sizes[0], 4);
    assert_string_equal(rec.keys[0], "N:4");
    assert_string_equal(rec.keys[1], "U:4");
    assert_string_equal(rec.keys[2], "N:6");
    assert_string_equal(rec.keys[3], "U:6");
    ch_notify_changed_flush(&fx->svc); /* nothing noted since: nothing sent */
    assert_int_equal(rec.calls, 1);
    ch_hydrate_forget_notifications(&fx->svc, 8); /* a mark read, outside a transaction: at once */
    assert_int_equal(rec.calls, 2);
    assert_string_equal(rec.keys[4], "N:8");
    assert_string_equal(rec.keys[5], "U:8");
}

static void test_no_cache_no_calls(void **state)
{
    fixture_t *fx = *state;
    fx->svc.hcache = NULL;
    ch_hydrate_forget_item(&fx->svc, CH_TARGET_POST, 1);
    ch_hydrate_forget_hold();
    ch_hydrate_forget_user(&fx->svc, 1);
    ch_hydrate_forget_flush(&fx->svc);
    assert_int_equal(rec.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outside_a_transaction_each_is_sent_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inside_an_ambient_transaction_after_its_commit_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_forgets_go_in_one_call_at_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_large_hold_is_sent_in_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_hold_inside_an_ambient_transaction_still_waits_for_the_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_cache_no_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notification_lists_are_forgotten_after_the_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_large_transaction_waits_for_its_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_after_commit_calls_still_wait, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
