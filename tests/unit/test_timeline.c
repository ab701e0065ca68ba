/* Home timelines (store/timeline.h): the same behaviour checked against the in-process
 * driver and, when CHORUS_TEST_REDIS_URL is set (e.g. redis://127.0.0.1:56379/15), against
 * Redis; plus what only one of them has (the memory bound and clock of the in-process one,
 * key TTLs of Redis). */
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
#include <hiredis/hiredis.h>

#include "store/timeline.h"
#include "store/timeline_mem.h"

typedef struct {
    ch_timeline_t *tl;
    int is_redis;
    uint64_t base; /* user ids of this fixture start here: runs against a shared Redis never collide */
} fx_t;

static unsigned g_fixture_seq;

static int fx_open(void **state, const char *url, int want)
{
    fx_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->base = ((uint64_t)getpid() << 24) + ((uint64_t)++g_fixture_seq << 12);
    if (want) {
        char errbuf[256];
        ch_err_t err = ch_timeline_open(url, &f->tl, errbuf, sizeof(errbuf));
        if (err != CH_OK)
            fail_msg("ch_timeline_open: %s", errbuf);
        f->is_redis = strcmp(ch_timeline_kind(f->tl), "redis") == 0;
    }
    *state = f;
    return 0;
}

static int setup_mem(void **state)
{
    return fx_open(state, "", 1);
}

/* Without CHORUS_TEST_REDIS_URL the fixture has no store and the test skips itself. */
static int setup_redis(void **state)
{
    const char *url = getenv("CHORUS_TEST_REDIS_URL");
    return fx_open(state, url, url && *url);
}

static int teardown(void **state)
{
    fx_t *f = *state;
    if (f->tl)
        for (uint64_t u = f->base; u < f->base + 64; u++)
            ch_timeline_drop(f->tl, u);
    ch_timeline_close(f->tl);
    free(f);
    return 0;
}

static fx_t *need(void **state)
{
    fx_t *f = *state;
    if (!f->tl)
        skip();
    return f;
}

static ch_timeline_entry_t E(uint64_t item, uint64_t author, uint8_t type)
{
    return (ch_timeline_entry_t){.item_id = item, .author_id = author, .type = type};
}

/* Reads the whole timeline of user (newest first) into out[CH_TIMELINE_MAX_ENTRIES]. */
static size_t read_all(fx_t *f, uint64_t user, ch_timeline_entry_t *out, ch_timeline_meta_t *meta)
{
    size_t n = 0;
    assert_int_equal(ch_timeline_read(f->tl, user, 0, CH_TIMELINE_MAX_ENTRIES, out, &n, meta), CH_OK);
    return n;
}

static void create_empty(fx_t *f, uint64_t user)
{
    ch_timeline_meta_t meta = {.last_read_ms = 1000, .read_rate = 2.5};
    assert_int_equal(ch_timeline_replace(f->tl, user, NULL, 0, &meta), CH_OK);
}

/* ---- shared behaviour ------------------------------------------------------------------ */

static void test_missing_timeline(void **state)
{
    fx_t *f = need(state);
    ch_timeline_entry_t out[4];
    ch_timeline_meta_t meta = {.exists = 1};
    size_t n = 9;
    assert_int_equal(ch_timeline_read(f->tl, f->base, 0, 4, out, &n, &meta), CH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(meta.exists, 0);

    uint64_t users[3] = {f->base + 1, f->base + 2, f->base + 3};
    ch_timeline_meta_t metas[3];
    memset(metas, 0xff, sizeof(metas));
    assert_int_equal(ch_timeline_meta_many(f->tl, users, 3, metas), CH_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(metas[i].exists, 0);
        assert_int_equal(metas[i].last_read_ms, 0);
    }
}

static void test_push_only_into_existing(void **state)
{
    fx_t *f = need(state);
    uint64_t users[4] = {f->base, f->base + 1, f->base + 2, f->base + 3};
    create_empty(f, users[1]);
    create_empty(f, users[3]);
    size_t pushed = 99;
    ch_timeline_entry_t e = E(1000, 7, 1);
    assert_int_equal(ch_timeline_push_many(f->tl, users, 4, &e, &pushed), CH_OK);
    assert_int_equal(pushed, 2);

    ch_timeline_entry_t out[CH_TIMELINE_MAX_ENTRIES];
    ch_timeline_meta_t meta;
    assert_int_equal(read_all(f, users[0], out, &meta), 0);
    assert_int_equal(meta.exists, 0);
    assert_int_equal(read_all(f, users[1], out, &meta), 1);
    assert_int_equal(meta.exists, 1);
    assert_int_equal(meta.last_read_ms, 1000);
    assert_true(meta.read_rate == 2.5);
    assert_int_equal(out[0].item_id, 1000);
    assert_int_equal(out[0].author_id, 7);
    assert_int_equal(out[0].type, 1);

    ch_timeline_meta_t metas[4];
    assert_int_equal(ch_timeline_meta_many(f->tl, users, 4, metas), CH_OK);
    assert_int_equal(metas[0].exists + metas[1].exists * 2 + metas[2].exists * 4 + metas[3].exists * 8, 10);
}

static void test_order_and_pagination(void **state)
{
    fx_t *f = need(state);
    uint64_t u = f->base;
    create_empty(f, u);
    /* out of order, large ids (exact above 2^53), a duplicate */
    uint64_t ids[] = {5, (1ULL << 62) + 3, 9, (1ULL << 62) + 1, 1, 7, (1ULL << 62) + 2, 9};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        ch_timeline_entry_t e = E(ids[i], ids[i] * 10 + 1, (uint8_t)(ids[i] & 3));
        size_t pushed;
        assert_int_equal(ch_timeline_push_many(f->tl, &u, 1, &e, &pushed), CH_OK);
        assert_int_equal(pushed, i == 7 ? 0 : 1); /* the second 9 changes nothing */
    }
    ch_timeline_entry_t out[CH_TIMELINE_MAX_ENTRIES];
    uint64_t want[] = {(1ULL << 62) + 3, (1ULL << 62) + 2, (1ULL << 62) + 1, 9, 7, 5, 1};
    size_t n = read_all(f, u, out, NULL);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        assert_true(out[i].item_id == want[i]);
        assert_true(out[i].author_id == want[i] * 10 + 1);
        assert_int_equal(out[i].type, want[i] & 3);
    }
    /* pages of 3 with before_id */
    assert_int_equal(ch_timeline_read(f->tl, u, (1ULL << 62) + 1, 3, out, &n, NULL), CH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].item_id, 9);
    assert_int_equal(out[2].item_id, 5);
    assert_int_equal(ch_timeline_read(f->tl, u, 5, 3, out, &n, NULL), CH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].item_id, 1);
    assert_int_equal(ch_timeline_read(f->tl, u, 1, 3, out, &n, NULL), CH_OK);
    assert_int_equal(n, 0);
}

static void test_bound_keeps_newest(void **state)
{
    fx_t *f = need(state);
    uint64_t u = f->base;
    create_empty(f, u);
    int total = CH_TIMELINE_MAX_ENTRIES + 250;
    for (int i = 1; i <= total; i++) {
        ch_timeline_entry_t e = E((uint64_t)i * 2, 42, 0);
        assert_int_equal(ch_timeline_push_many(f->tl, &u, 1, &e, NULL), CH_OK);
    }
    ch_timeline_entry_t out[CH_TIMELINE_MAX_ENTRIES];
    size_t n = read_all(f, u, out, NULL);
    assert_int_equal(n, CH_TIMELINE_MAX_ENTRIES);
    assert_int_equal(out[0].item_id, (uint64_t)total * 2);
    assert_int_equal(out[n - 1].item_id, (uint64_t)(total - CH_TIMELINE_MAX_ENTRIES + 1) * 2);
    for (size_t i = 1; i < n; i++)
        assert_true(out[i].item_id < out[i - 1].item_id);
    /* older than everything kept: not taken; in a gap: taken, the oldest falls off */
    size_t pushed;
    ch_timeline_entry_t old = E(3, 42, 0), gap = E((uint64_t)(total - 10) * 2 + 1, 43, 0);
    assert_int_equal(ch_timeline_push_many(f->tl, &u, 1, &old, &pushed), CH_OK);
    assert_int_equal(pushed, 0);
    assert_int_equal(ch_timeline_push_many(f->tl, &u, 1, &gap, &pushed), CH_OK);
    assert_int_equal(pushed, 1);
    n = read_all(f, u, out, NULL);
    assert_int_equal(n, CH_TIMELINE_MAX_ENTRIES);
    assert_int_equal(out[10].item_id, gap.item_id);
    assert_int_equal(out[10].author_id, 43);
    uint64_t oldest = (uint64_t)(total - CH_TIMELINE_MAX_ENTRIES + 2) * 2;
    assert_int_equal(out[n - 1].item_id, oldest);
    /* nothing older than the kept ones comes back: not by paging past the oldest, nor
     * when a kept one goes */
    assert_int_equal(ch_timeline_read(f->tl, u, oldest, 10, out, &n, NULL), CH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ch_timeline_remove_item(f->tl, &u, 1, (uint64_t)total * 2), CH_OK);
    assert_int_equal(ch_timeline_remove_author(f->tl, u, 43), CH_OK);
    n = read_all(f, u, out, NULL);
    assert_int_equal(n, CH_TIMELINE_MAX_ENTRIES - 2);
    assert_int_equal(out[0].item_id, (uint64_t)(total - 1) * 2);
    assert_int_equal(out[n - 1].item_id, oldest);
    /* and the freed room takes new entries */
    ch_timeline_entry_t newer = E((uint64_t)total * 2 + 10, 42, 0);
    assert_int_equal(ch_timeline_push_many(f->tl, &u, 1, &newer, &pushed), CH_OK);
    assert_int_equal(pushed, 1);
    n = read_all(f, u, out, NULL);
    assert_int_equal(n, CH_TIMELINE_MAX_ENTRIES - 1);
    assert_int_equal(out[n - 1].item_id, oldest);
}

static void test_replace(void **state)
{
    fx_t *f = need(state);
    uint64_t u = f->base;
    size_t big = CH_TIMELINE_MAX_ENTRIES + 100;
    ch_timeline_entry_t *in = calloc(big + 1, sizeof(*in));
    for (size_t i = 0; i < big; i++) /* shuffled order, ids 1..big */
        in[i] = E((i * 7919) % big + 1, 5, 1);
    in[big] = in[0]; /* a duplicate */
    ch_timeline_meta_t meta = {.last_read_ms = 123456, .read_rate = 0.75};
    assert_int_equal(ch_timeline_replace(f->tl, u, in, big + 1, &meta), CH_OK);
    ch_timeline_entry_t out[CH_TIMELINE_MAX_ENTRIES];
    ch_timeline_meta_t got;
    size_t n = read_all(f, u, out, &got);
    assert_int_equal(n, CH_TIMELINE_MAX_ENTRIES);
    assert_int_equal(out[0].item_id, big);
    assert_int_equal(out[n - 1].item_id, big - CH_TIMELINE_MAX_ENTRIES + 1);
    assert_int_equal(got.exists, 1);
    assert_int_equal(got.last_read_ms, 123456);
    assert_true(got.read_rate == 0.75);

    /* replaced again: nothing of the first remains */
    ch_timeline_entry_t two[2] = {E(10, 1, 0), E(20, 2, 1)};
    assert_int_equal(ch_timeline_replace(f->tl, u, two, 2, NULL), CH_OK);
    n = read_all(f, u, out, &got);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].item_id, 20);
    assert_int_equal(out[1].item_id, 10);
    assert_int_equal(got.exists, 1);
    assert_int_equal(got.last_read_ms, 0);
    free(in);
}

static void test_remove_author_item_drop(void **state)
{
    fx_t *f = need(state);
    uint64_t users[2] = {f->base, f->base + 1};
    create_empty(f, users[0]);
    create_empty(f, users[1]);
    for (uint64_t i = 1; i <= 30; i++) {
        ch_timeline_entry_t e = E(i, 100 + i % 3, 0);
        assert_int_equal(ch_timeline_push_many(f->tl, users, 2, &e, NULL), CH_OK);
    }
    assert_int_equal(ch_timeline_remove_author(f->tl, users[0], 101), CH_OK);
    ch_timeline_entry_t out[CH_TIMELINE_MAX_ENTRIES];
    size_t n = read_all(f, users[0], out, NULL);
    assert_int_equal(n, 20);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(out[i].author_id, 101);
    assert_int_equal(read_all(f, users[1], out, NULL), 30);

    assert_int_equal(ch_timeline_remove_item(f->tl, users, 2, 30), CH_OK);
    assert_int_equal(ch_timeline_remove_item(f->tl, users, 2, 999), CH_OK); /* not there */
    n = read_all(f, users[1], out, NULL);
    assert_int_equal(n, 29);
    assert_int_equal(out[0].item_id, 29);
    n = read_all(f, users[0], out, NULL);
    assert_int_equal(n, 19);
    assert_int_equal(out[0].item_id, 29);

    assert_int_equal(ch_timeline_drop(f->tl, users[0]), CH_OK);
    ch_timeline_meta_t meta;
    assert_int_equal(read_all(f, users[0], out, &meta), 0);
    assert_int_equal(meta.exists, 0);
    size_t pushed;
    ch_timeline_entry_t e = E(77, 1, 0);
    assert_int_equal(ch_timeline_push_many(f->tl, users, 2, &e, &pushed), CH_OK);
    assert_int_equal(pushed, 1);
    assert_int_equal(ch_timeline_drop(f->tl, f->base + 50), CH_OK); /* missing is fine */
}

static void test_touch(void **state)
{
    fx_t *f = need(state);
    uint64_t u = f->base;
    /* no-op on a missing timeline: it does not create one */
    assert_int_equal(ch_timeline_touch(f->tl, u, 5000, 1.0), CH_OK);
    ch_timeline_meta_t meta;
    ch_timeline_entry_t out[1];
    size_t n;
    assert_int_equal(ch_timeline_read(f->tl, u, 0, 1, out, &n, &meta), CH_OK);
    assert_int_equal(meta.exists, 0);

    create_empty(f, u);
    assert_int_equal(ch_timeline_touch(f->tl, u, 987654321, 4.25), CH_OK);
    assert_int_equal(ch_timeline_meta_many(f->tl, &u, 1, &meta), CH_OK);
    assert_int_equal(meta.exists, 1);
    assert_int_equal(meta.last_read_ms, 987654321);
    assert_true(meta.read_rate == 4.25);
}

static void test_bad_arguments(void **state)
{
    fx_t *f = need(state);
    uint64_t users[CH_TIMELINE_BATCH_MAX + 1] = {0};
    ch_timeline_entry_t e = E(1, 1, 0), zero = E(0, 1, 0);
    size_t n;
    assert_int_equal(ch_timeline_push_many(f->tl, users, CH_TIMELINE_BATCH_MAX + 1, &e, NULL), CH_EINVAL);
    assert_int_equal(ch_timeline_push_many(f->tl, users, 1, &zero, NULL), CH_EINVAL);
    assert_int_equal(ch_timeline_push_many(f->tl, users, 1, NULL, NULL), CH_EINVAL);
    assert_int_equal(ch_timeline_read(f->tl, 1, 0, 1, NULL, &n, NULL), CH_EINVAL);
    assert_int_equal(ch_timeline_touch(f->tl, 1, -1, 1.0), CH_EINVAL);
    assert_int_equal(ch_timeline_push_many(f->tl, users, 0, &e, &n), CH_OK);
    assert_int_equal(n, 0);

    char errbuf[128];
    ch_timeline_t *tl = (ch_timeline_t *)1;
    assert_int_equal(ch_timeline_open("postgres://secret@x/y", &tl, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_null(tl);
    assert_null(strstr(errbuf, "secret"));
}

/* ---- in-process only ------------------------------------------------------------------- */

static int64_t g_now;
static int64_t fake_now(void)
{
    return g_now;
}

static void test_mem_idle_expiry(void **state)
{
    fx_t *f = need(state);
    g_now = 1000000;
    ch__timeline_mem_set_clock(ch__timeline_impl(f->tl), fake_now);
    uint64_t a = f->base, b = f->base + 1;
    create_empty(f, a);
    create_empty(f, b);
    g_now += CH_TIMELINE_IDLE_TTL_MS - 10;
    assert_int_equal(ch_timeline_touch(f->tl, b, g_now, 1.0), CH_OK); /* b is read, a is not */
    g_now += 20;
    ch_timeline_meta_t meta[2];
    uint64_t users[2] = {a, b};
    assert_int_equal(ch_timeline_meta_many(f->tl, users, 2, meta), CH_OK);
    assert_int_equal(meta[0].exists, 0);
    assert_int_equal(meta[1].exists, 1);
    size_t pushed;
    ch_timeline_entry_t e = E(5, 1, 0);
    assert_int_equal(ch_timeline_push_many(f->tl, users, 2, &e, &pushed), CH_OK);
    assert_int_equal(pushed, 1);

    /* the sweep drops idle ones nobody looks up */
    g_now += CH_TIMELINE_IDLE_TTL_MS + 1;
    for (int i = 0; i < 64 * 256 * 2; i++) /* enough writes for the sweep to visit every shard */
        assert_int_equal(ch_timeline_push_many(f->tl, &a, 1, &e, NULL), CH_OK);
    ch_timeline_mem_stats_t st;
    ch__timeline_mem_stats(ch__timeline_impl(f->tl), &st);
    assert_int_equal(st.timelines, 0);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.evicted_idle, 2);
    ch__timeline_mem_set_clock(ch__timeline_impl(f->tl), NULL);
}

static void test_mem_memory_bound(void **state)
{
    fx_t *f = need(state);
    void *impl = ch__timeline_impl(f->tl);
    g_now = 5000000;
    ch__timeline_mem_set_clock(impl, fake_now);
    const uint64_t users = 400;
    ch_timeline_entry_t *in = calloc(CH_TIMELINE_MAX_ENTRIES, sizeof(*in));
    for (size_t i = 0; i < CH_TIMELINE_MAX_ENTRIES; i++)
        in[i] = E(i + 1, 9, 0);
    for (uint64_t u = 0; u < users; u++) {
        g_now++; /* user u was used at g_now: older users are less recent */
        assert_int_equal(ch_timeline_replace(f->tl, 1000000 + u, in, CH_TIMELINE_MAX_ENTRIES, NULL), CH_OK);
    }
    ch_timeline_mem_stats_t st;
    ch__timeline_mem_stats(impl, &st);
    assert_int_equal(st.timelines, users);
    assert_int_equal(st.entries, users * CH_TIMELINE_MAX_ENTRIES);
    size_t per = st.bytes / st.timelines;
    assert_true(st.bytes / st.entries >= CH_TIMELINE_MEM_SLOT_BYTES);
    assert_true(st.bytes / st.entries < 2 * CH_TIMELINE_MEM_SLOT_BYTES);

    /* keep the most recent users[300..400) readable */
    for (uint64_t u = 300; u < users; u++) {
        g_now++;
        assert_int_equal(ch_timeline_touch(f->tl, 1000000 + u, g_now, 1.0), CH_OK);
    }
    size_t bound = per * 150;
    ch_timeline_set_max_memory(f->tl, bound);
    ch__timeline_mem_stats(impl, &st);
    assert_true(st.bytes <= bound);
    assert_true(st.timelines >= 100);
    assert_int_equal(st.evicted_memory, users - st.timelines);
    assert_int_equal(st.entries, st.timelines * CH_TIMELINE_MAX_ENTRIES);
    /* sampled LRU: the recently touched mostly survive */
    uint64_t ids[100];
    ch_timeline_meta_t meta[100];
    for (int i = 0; i < 100; i++)
        ids[i] = 1000000 + 300 + (uint64_t)i;
    assert_int_equal(ch_timeline_meta_many(f->tl, ids, 100, meta), CH_OK);
    int alive = 0;
    for (int i = 0; i < 100; i++)
        alive += meta[i].exists;
    assert_true(alive >= 80);

    /* writes past the bound evict too */
    for (uint64_t u = 0; u < 50; u++)
        assert_int_equal(ch_timeline_replace(f->tl, 2000000 + u, in, CH_TIMELINE_MAX_ENTRIES, NULL), CH_OK);
    ch__timeline_mem_stats(impl, &st);
    assert_true(st.bytes <= bound);

    ch_buf_t buf = CH_BUF_INIT;
    ch_timeline_render_metrics(f->tl, &buf);
    assert_non_null(strstr(buf.data, "chorus_timeline_entries "));
    assert_non_null(strstr(buf.data, "chorus_timeline_evictions_total{reason=\"memory\"} "));
    ch_buf_clear(&buf);
    free(in);
    ch__timeline_mem_set_clock(impl, NULL);
}

#define PUSH_THREADS 4
#define PUSH_USERS 256
#define PUSH_ITEMS 400

typedef struct {
    fx_t *f;
    int t;
    uint64_t taken; /* timelines that took this thread's entries */
} pusher_t;

static void *pusher(void *arg)
{
    pusher_t *p = arg;
    uint64_t users[PUSH_USERS];
    for (int i = 0; i < PUSH_USERS; i++)
        users[i] = 500000 + (uint64_t)i;
    for (int k = 0; k < PUSH_ITEMS; k++) {
        /* thread t pushes ids t+1, t+1+T, ...: interleaved across threads */
        ch_timeline_entry_t e = E((uint64_t)k * PUSH_THREADS + (uint64_t)p->t + 1, (uint64_t)p->t, 0);
        size_t pushed;
        if (ch_timeline_push_many(p->f->tl, users, PUSH_USERS, &e, &pushed) != CH_OK || pushed > PUSH_USERS)
            return (void *)1;
        /* A thread that falls 800 ids behind the others (a loaded machine) pushes entries
         * older than every entry of a full timeline: those are refused, as they must be. */
        p->taken += pushed;
    }
    return NULL;
}

static void test_mem_concurrent_pushes(void **state)
{
    fx_t *f = need(state);
    for (int i = 0; i < PUSH_USERS; i++)
        create_empty(f, 500000 + (uint64_t)i);
    pthread_t th[PUSH_THREADS];
    pusher_t args[PUSH_THREADS];
    for (int t = 0; t < PUSH_THREADS; t++) {
        args[t] = (pusher_t){f, t, 0};
        assert_int_equal(pthread_create(&th[t], NULL, pusher, &args[t]), 0);
    }
    /* Join every thread before any assertion: a failed one jumps out of the test, and a
     * thread still pushing would then meet the store freed by the teardown. */
    void *rv[PUSH_THREADS];
    uint64_t taken = 0;
    for (int t = 0; t < PUSH_THREADS; t++) {
        pthread_join(th[t], &rv[t]);
        taken += args[t].taken;
    }
    for (int t = 0; t < PUSH_THREADS; t++)
        assert_null(rv[t]);
    ch_timeline_entry_t out[CH_TIMELINE_MAX_ENTRIES];
    const size_t total = (size_t)PUSH_THREADS * PUSH_ITEMS;
    size_t want = total < CH_TIMELINE_MAX_ENTRIES ? total : CH_TIMELINE_MAX_ENTRIES;
    for (int i = 0; i < PUSH_USERS; i++) {
        size_t n = read_all(f, 500000 + (uint64_t)i, out, NULL);
        assert_int_equal(n, want);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(out[k].item_id, total - k);
    }
    ch_timeline_mem_stats_t st;
    ch__timeline_mem_stats(ch__timeline_impl(f->tl), &st);
    assert_int_equal(st.pushes, taken);
    assert_true(taken >= (uint64_t)want * PUSH_USERS);
    assert_int_equal(st.entries, want * PUSH_USERS);
}

/* ---- Redis only ------------------------------------------------------------------------- */

/* A raw connection to the test server: "redis://host:port[/db]" (no credentials). */
static redisContext *raw_redis(void)
{
    const char *url = getenv("CHORUS_TEST_REDIS_URL");
    char host[128] = "";
    int port = 6379, db = 0;
    if (!url || strchr(url, '@') || sscanf(url, "redis://%127[^:/]:%d/%d", host, &port, &db) < 1)
        return NULL;
    redisContext *c = redisConnect(host, port);
    if (!c || c->err)
        fail_msg("cannot connect to %s:%d", host, port);
    if (db) {
        redisReply *r = redisCommand(c, "SELECT %d", db);
        freeReplyObject(r);
    }
    return c;
}

static long long pttl(redisContext *c, const char *prefix, uint64_t user)
{
    redisReply *r = redisCommand(c, "PTTL %s:{%llu}", prefix, (unsigned long long)user);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static void test_redis_ttl(void **state)
{
    fx_t *f = need(state);
    redisContext *c = raw_redis();
    if (!c)
        skip();
    uint64_t u = f->base, v = f->base + 1;
    ch_timeline_entry_t two[2] = {E(10, 1, 0), E(20, 2, 1)};
    assert_int_equal(ch_timeline_replace(f->tl, u, two, 2, NULL), CH_OK);
    const long long ttl = CH_TIMELINE_IDLE_TTL_MS, slack = 60000;
    assert_true(pttl(c, "tl", u) > ttl - slack && pttl(c, "tl", u) <= ttl);
    assert_true(pttl(c, "tlm", u) > ttl - slack && pttl(c, "tlm", u) <= ttl);

    /* touch sets the TTL of both keys again */
    freeReplyObject(redisCommand(c, "PEXPIRE tl:{%llu} 50000", (unsigned long long)u));
    freeReplyObject(redisCommand(c, "PEXPIRE tlm:{%llu} 50000", (unsigned long long)u));
    assert_true(pttl(c, "tl", u) <= 50000);
    assert_int_equal(ch_timeline_touch(f->tl, u, 1, 1.0), CH_OK);
    assert_true(pttl(c, "tl", u) > ttl - slack);
    assert_true(pttl(c, "tlm", u) > ttl - slack);

    /* an empty timeline has both keys, with the TTL */
    create_empty(f, v);
    assert_true(pttl(c, "tl", v) > ttl - slack);
    assert_true(pttl(c, "tlm", v) > ttl - slack);
    ch_timeline_entry_t e = E(5, 1, 0);
    size_t pushed;
    assert_int_equal(ch_timeline_push_many(f->tl, &v, 1, &e, &pushed), CH_OK);
    assert_int_equal(pushed, 1);

    /* one key without the other (Redis evicted one under maxmemory): no timeline, so the
     * read path rebuilds it rather than serving an empty feed for a week */
    ch_timeline_entry_t out[4];
    ch_timeline_meta_t meta;
    size_t n;
    freeReplyObject(redisCommand(c, "DEL tl:{%llu}", (unsigned long long)v));
    assert_int_equal(ch_timeline_read(f->tl, v, 0, 4, out, &n, &meta), CH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(meta.exists, 0);
    assert_int_equal(ch_timeline_meta_many(f->tl, &v, 1, &meta), CH_OK);
    assert_int_equal(meta.exists, 0);
    assert_int_equal(ch_timeline_push_many(f->tl, &v, 1, &e, &pushed), CH_OK);
    assert_int_equal(pushed, 0);
    create_empty(f, v);
    freeReplyObject(redisCommand(c, "DEL tlm:{%llu}", (unsigned long long)v));
    assert_int_equal(ch_timeline_read(f->tl, v, 0, 4, out, &n, &meta), CH_OK);
    assert_int_equal(meta.exists, 0);
    assert_int_equal(ch_timeline_touch(f->tl, v, 1, 1.0), CH_OK); /* does not bring the meta back */
    assert_int_equal(ch_timeline_meta_many(f->tl, &v, 1, &meta), CH_OK);
    assert_int_equal(meta.exists, 0);

    /* scripts flushed (a restarted server): loaded again */
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    assert_int_equal(ch_timeline_push_many(f->tl, &u, 1, &e, &pushed), CH_OK);
    assert_int_equal(pushed, 1);
    redisFree(c);
}

/* Redis not there: every call answers CH_EUNAVAILABLE (the first after the connect fails,
 * the next ones at once through the breaker), and open does not fail. */
static void test_redis_down(void **state)
{
    ch_timeline_t *tl = NULL;
    char errbuf[256];
    assert_int_equal(ch_timeline_open("redis://127.0.0.1:1", &tl, errbuf, sizeof(errbuf)), CH_OK);
    uint64_t u = 1;
    ch_timeline_entry_t e = E(5, 1, 0), out[2];
    size_t pushed = 7, n = 7;
    ch_timeline_meta_t meta;
    assert_int_equal(ch_timeline_push_many(tl, &u, 1, &e, &pushed), CH_EUNAVAILABLE);
    assert_int_equal(pushed, 0);
    assert_int_equal(ch_timeline_read(tl, u, 0, 2, out, &n, &meta), CH_EUNAVAILABLE);
    assert_int_equal(n, 0);
    assert_int_equal(ch_timeline_replace(tl, u, &e, 1, NULL), CH_EUNAVAILABLE);
    assert_int_equal(ch_timeline_meta_many(tl, &u, 1, &meta), CH_EUNAVAILABLE);
    ch_buf_t buf = CH_BUF_INIT;
    ch_timeline_render_metrics(tl, &buf);
    assert_non_null(strstr(buf.data, "chorus_timeline_unavailable_total 4\n"));
    ch_buf_clear(&buf);
    ch_timeline_close(tl);
}

#define SHARED(name) cmocka_unit_test_setup_teardown(name, setup_mem, teardown), \
                     cmocka_unit_test_setup_teardown(name, setup_redis, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SHARED(test_missing_timeline),
        SHARED(test_push_only_into_existing),
        SHARED(test_order_and_pagination),
        SHARED(test_bound_keeps_newest),
        SHARED(test_replace),
        SHARED(test_remove_author_item_drop),
        SHARED(test_touch),
        SHARED(test_bad_arguments),
        cmocka_unit_test_setup_teardown(test_mem_idle_expiry, setup_mem, teardown),
        cmocka_unit_test_setup_teardown(test_mem_memory_bound, setup_mem, teardown),
        cmocka_unit_test_setup_teardown(test_mem_concurrent_pushes, setup_mem, teardown),
        cmocka_unit_test_setup_teardown(test_redis_ttl, setup_redis, teardown),
        cmocka_unit_test(test_redis_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
