/* The hydration cache (store/hcache.h): the same behaviour checked against the in-process
 * driver and the Redis one (a redis-server this test starts on a loopback port of its own,
 * skipped when there is none), plus what only one of them has: the memory bound, TTL and
 * shard locking of the in-process one; outages and the key epoch of Redis. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "core/buf.h"
#include "core/loop_guard.h"
#include "core/metrics.h"
#include "store/hcache.h"
#include "store/hcache_driver.h"
#include "store/kv.h"

typedef struct {
    ch_hcache_t *c;
    ch_kv_t *kv; /* Redis fixtures only */
    char prefix[32]; /* keys of this fixture start with it: runs never share a key */
} fx_t;

static unsigned g_fixture_seq;

/* ---- a private redis-server (see the Redis section) ------------------------------------- */

static int redis_start(void);
static const char *redis_url(void);

static int setup_mem(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->c = ch_hcache_mem_create((size_t)64 << 20, 600000);
    assert_non_null(f->c);
    snprintf(f->prefix, sizeof(f->prefix), "t%u:", ++g_fixture_seq);
    *state = f;
    return 0;
}

/* Without a redis-server the fixture has no cache and the test skips itself. */
static int setup_redis(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->prefix, sizeof(f->prefix), "p%d:t%u:", (int)getpid(), ++g_fixture_seq);
    if (redis_start() == 0) {
        char errbuf[256];
        if (ch_kv_open(redis_url(), &f->kv, errbuf, sizeof(errbuf)) != CH_OK)
            fail_msg("ch_kv_open: %s", errbuf);
        f->c = ch_hcache_redis_create(f->kv, 60000);
        assert_non_null(f->c);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    ch_hcache_destroy(f->c);
    ch_kv_close(f->kv);
    free(f);
    return 0;
}

static fx_t *need(void **state)
{
    fx_t *f = *state;
    if (!f->c)
        skip();
    return f;
}

static const char *K(fx_t *f, char *buf, const char *name)
{
    snprintf(buf, CH_HCACHE_KEY_MAX + 1, "%s%s", f->prefix, name);
    return buf;
}

/* One get; returns the value (caller frees) or NULL and *lease. */
static char *get1(ch_hcache_t *c, const char *key, uint64_t *lease, ch_err_t *err_out)
{
    ch_hcache_got_t got;
    ch_err_t err = ch_hcache_get_many(c, &key, 1, &got);
    if (err_out)
        *err_out = err;
    else
        assert_int_equal(err, CH_OK);
    if (lease)
        *lease = got.lease;
    return got.val;
}

static void put1(ch_hcache_t *c, const char *key, const char *val, uint64_t lease)
{
    size_t len = strlen(val);
    ch_hcache_put_many(c, &key, &val, &len, &lease, 1);
}

static void forget1(ch_hcache_t *c, const char *key)
{
    ch_hcache_forget_many(c, &key, 1);
}

/* ---- shared behaviour -------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    fx_t *f = need(state);
    char k[3][CH_HCACHE_KEY_MAX + 1];
    const char *keys[3] = {K(f, k[0], "a"), K(f, k[1], "b"), K(f, k[2], "c")};
    ch_hcache_got_t got[3];
    assert_int_equal(ch_hcache_get_many(f->c, keys, 3, got), CH_OK);
    for (int i = 0; i < 3; i++) {
        assert_null(got[i].val);
        assert_int_not_equal(got[i].lease, 0);
    }
    /* a and c stored; b's value holds a NUL byte (values are bytes, not strings) */
    const char *vals[3] = {"alpha", "b\0eta", "gamma"};
    size_t lens[3] = {5, 5, 5};
    uint64_t leases[3] = {got[0].lease, got[1].lease, got[2].lease};
    ch_hcache_put_many(f->c, keys, vals, lens, leases, 3);
    assert_int_equal(ch_hcache_get_many(f->c, keys, 3, got), CH_OK);
    for (int i = 0; i < 3; i++) {
        assert_non_null(got[i].val);
        assert_int_equal(got[i].len, 5);
        assert_memory_equal(got[i].val, vals[i], 5);
        assert_int_equal(got[i].val[5], '\0');
        assert_int_equal(got[i].lease, 0);
        free(got[i].val);
    }
    forget1(f->c, keys[1]);
    assert_int_equal(ch_hcache_get_many(f->c, keys, 3, got), CH_OK);
    assert_non_null(got[0].val);
    assert_null(got[1].val);
    assert_non_null(got[2].val);
    free(got[0].val);
    free(got[2].val);

    /* a put without a lease stores nothing; a forget of a missing key is fine */
    uint64_t lease;
    char *v = get1(f->c, keys[1], &lease, NULL);
    assert_null(v);
    put1(f->c, keys[1], "zero", 0);
    assert_null(get1(f->c, keys[1], NULL, NULL));
    forget1(f->c, K(f, k[0], "never-stored"));
}

/* A write between a reader's miss and its put: the put must not store what was read before. */
static void test_lease_lost_after_forget(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1];
    const char *key = K(f, k, "raced");
    uint64_t lease;
    assert_null(get1(f->c, key, &lease, NULL));
    assert_int_not_equal(lease, 0);
    forget1(f->c, key); /* the writer's commit, then its forget */
    put1(f->c, key, "stale", lease);
    assert_null(get1(f->c, key, &lease, NULL));
    assert_int_not_equal(lease, 0);
    put1(f->c, key, "fresh", lease);
    char *v = get1(f->c, key, NULL, NULL);
    assert_non_null(v);
    assert_string_equal(v, "fresh");
    free(v);
}

/* What visit_collect saw: each value handed over, by key index; refuse_at is refused. */
typedef struct {
    int calls[4];
    char vals[4][16];
    size_t lens[4];
    size_t refuse_at;
} visit_seen_t;

/* Records only: it runs under the in-process driver's shard lock, where a failed cmocka
 * assert would jump out with the lock held and hang the next test instead of failing. A
 * call out of range is counted in calls[0] many times over, which the asserts then catch. */
static int visit_collect(void *arg, size_t i, const char *val, size_t len)
{
    visit_seen_t *v = arg;
    if (i >= 4 || len >= sizeof(v->vals[0])) {
        v->calls[0] += 100;
        return -1;
    }
    v->calls[i]++;
    memcpy(v->vals[i], val, len);
    v->lens[i] = len;
    return i == v->refuse_at ? -1 : 0;
}

/* ch_hcache_get_visit: each hit's bytes handed to the callback once (the in-process driver
 * in place, Redis through copies), each miss a lease that a put can use, a refused value no
 * lease, and a forget voids a lease it handed out as get_many's. */
static void test_get_visit(void **state)
{
    fx_t *f = need(state);
    char k[4][CH_HCACHE_KEY_MAX + 1];
    const char *keys[4] = {K(f, k[0], "va"), K(f, k[1], "vb"), K(f, k[2], "vc"), K(f, k[3], "vd")};
    visit_seen_t seen = {.refuse_at = 99};
    uint64_t leases[4];
    assert_int_equal(ch_hcache_get_visit(f->c, keys, 4, visit_collect, &seen, leases), CH_OK);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(seen.calls[i], 0);
        assert_int_not_equal(leases[i], 0);
    }
    const char *vals[3] = {"one", "t\0o", "three"};
    size_t lens[3] = {3, 3, 5};
    ch_hcache_put_many(f->c, keys, vals, lens, leases, 3); /* vd stays missing */
    forget1(f->c, keys[3]);
    put1(f->c, keys[3], "stale", leases[3]); /* its lease was voided by the forget */

    memset(&seen, 0, sizeof(seen));
    seen.refuse_at = 2;
    assert_int_equal(ch_hcache_get_visit(f->c, keys, 4, visit_collect, &seen, leases), CH_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(seen.calls[i], 1);
        assert_int_equal(seen.lens[i], lens[i]);
        assert_memory_equal(seen.vals[i], vals[i], lens[i]);
        assert_int_equal(leases[i], 0); /* a hit, and the refused one: no lease */
    }
    assert_int_equal(seen.calls[3], 0);
    assert_int_not_equal(leases[3], 0);
    put1(f->c, keys[3], "four", leases[3]);
    memset(&seen, 0, sizeof(seen));
    seen.refuse_at = 99;
    assert_int_equal(ch_hcache_get_visit(f->c, keys + 3, 1, visit_collect, &seen, leases), CH_OK);
    assert_int_equal(seen.calls[0], 1);
    assert_memory_equal(seen.vals[0], "four", 4);

    /* a key too long is a miss without lease, the others still served */
    char longkey[CH_HCACHE_KEY_MAX + 8];
    memset(longkey, 'x', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    const char *mixed[2] = {longkey, keys[0]};
    memset(&seen, 0, sizeof(seen));
    seen.refuse_at = 99;
    assert_int_equal(ch_hcache_get_visit(f->c, mixed, 2, visit_collect, &seen, leases), CH_OK);
    assert_int_equal(seen.calls[0], 0);
    assert_int_equal(leases[0], 0);
    assert_int_equal(seen.calls[1], 1);
    assert_memory_equal(seen.vals[1], "one", 3);
    /* too many keys at once: refused, nothing visited */
    static const char *many[CH_HCACHE_BATCH_MAX + 1];
    static uint64_t lmany[CH_HCACHE_BATCH_MAX + 1];
    for (size_t i = 0; i < CH_HCACHE_BATCH_MAX + 1; i++)
        many[i] = keys[0];
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(ch_hcache_get_visit(f->c, many, CH_HCACHE_BATCH_MAX + 1, visit_collect, &seen, lmany),
                     CH_EUNAVAILABLE);
    assert_int_equal(seen.calls[0], 0);
}

/* Values up to CH_HCACHE_VALUE_MAX are stored; a larger one is skipped. */
static void test_value_sizes(void **state)
{
    fx_t *f = need(state);
    char k1[CH_HCACHE_KEY_MAX + 1], k2[CH_HCACHE_KEY_MAX + 1];
    const char *keys[2] = {K(f, k1, "max"), K(f, k2, "over")};
    char *big = malloc(CH_HCACHE_VALUE_MAX + 1);
    assert_non_null(big);
    for (size_t i = 0; i <= CH_HCACHE_VALUE_MAX; i++)
        big[i] = (char)('a' + i % 26);
    ch_hcache_got_t got[2];
    assert_int_equal(ch_hcache_get_many(f->c, keys, 2, got), CH_OK);
    const char *vals[2] = {big, big};
    size_t lens[2] = {CH_HCACHE_VALUE_MAX, CH_HCACHE_VALUE_MAX + 1};
    uint64_t leases[2] = {got[0].lease, got[1].lease};
    ch_hcache_put_many(f->c, keys, vals, lens, leases, 2);
    assert_int_equal(ch_hcache_get_many(f->c, keys, 2, got), CH_OK);
    assert_non_null(got[0].val);
    assert_int_equal(got[0].len, CH_HCACHE_VALUE_MAX);
    assert_memory_equal(got[0].val, big, CH_HCACHE_VALUE_MAX);
    assert_null(got[1].val);
    free(got[0].val);
    free(big);
}

/* Keys too long to cache miss without a lease; the others in the batch are served. */
static void test_bad_arguments(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1], longkey[CH_HCACHE_KEY_MAX + 2];
    memset(longkey, 'x', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    const char *keys[2] = {longkey, K(f, k, "ok")};
    ch_hcache_got_t got[2];
    assert_int_equal(ch_hcache_get_many(f->c, keys, 2, got), CH_OK);
    assert_null(got[0].val);
    assert_int_equal(got[0].lease, 0);
    assert_int_not_equal(got[1].lease, 0);
    const char *vals[2] = {"x", "y"};
    size_t lens[2] = {1, 1};
    uint64_t leases[2] = {1, got[1].lease};
    ch_hcache_put_many(f->c, keys, vals, lens, leases, 2);
    ch_hcache_forget_many(f->c, keys, 1);
    assert_int_equal(ch_hcache_get_many(f->c, keys, 2, got), CH_OK);
    assert_null(got[0].val);
    assert_non_null(got[1].val);
    free(got[1].val);

    /* more than a batch: unavailable, all misses without lease */
    static const char *many[CH_HCACHE_BATCH_MAX + 1];
    static ch_hcache_got_t gmany[CH_HCACHE_BATCH_MAX + 1];
    for (size_t i = 0; i <= CH_HCACHE_BATCH_MAX; i++)
        many[i] = keys[1];
    assert_int_equal(ch_hcache_get_many(f->c, many, CH_HCACHE_BATCH_MAX + 1, gmany), CH_EUNAVAILABLE);
    for (size_t i = 0; i <= CH_HCACHE_BATCH_MAX; i++)
        assert_null(gmany[i].val);
    assert_int_equal(ch_hcache_get_many(f->c, many, 0, gmany), CH_OK);
    /* NULL cache: every get misses without lease */
    assert_int_equal(ch_hcache_get_many(NULL, keys, 2, got), CH_EUNAVAILABLE);
    assert_int_equal(got[1].lease, 0);
    ch_hcache_forget_many(NULL, keys, 2);
    ch_hcache_destroy(NULL);
}

/* ---- in-process only --------------------------------------------------------------------- */

static void test_mem_metrics(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1];
    uint64_t lease;
    assert_null(get1(f->c, K(f, k, "m"), &lease, NULL));
    put1(f->c, k, "v", lease);
    free(get1(f->c, k, NULL, NULL));
    assert_true(ch_hcache_bytes(f->c) > 0);
    ch_buf_t buf = CH_BUF_INIT;
    ch_metrics_render(&buf);
    assert_non_null(strstr(buf.data, "chorus_hcache_gets_total{result=\"hit\"} "));
    assert_non_null(strstr(buf.data, "chorus_hcache_gets_total{result=\"down\"} "));
    assert_non_null(strstr(buf.data, "chorus_hcache_puts_total{result=\"lost_lease\"} "));
    assert_non_null(strstr(buf.data, "chorus_hcache_forgets_total "));
    assert_null(strstr(buf.data, "chorus_hcache_bytes 0\n"));
    ch_buf_clear(&buf);
}

/* 100k puts of ~1 KiB into a 4 MiB cache: it never holds more than its bound, and keeps
 * the most recently used of what it holds. */
static void test_mem_memory_bound(void **state)
{
    (void)state;
    const size_t bound = (size_t)4 << 20;
    ch_hcache_t *c = ch_hcache_mem_create(bound, 0);
    assert_non_null(c);
    char val[1000], key[CH_HCACHE_KEY_MAX + 1], hot[CH_HCACHE_KEY_MAX + 1] = "hot";
    memset(val, 'v', sizeof(val));
    uint64_t lease;
    assert_null(get1(c, hot, &lease, NULL));
    put1(c, hot, "kept", lease);
    size_t over = 0, most = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "k:%d", i);
        const char *kp = key, *vp = val;
        size_t len = sizeof(val);
        ch_hcache_got_t got;
        assert_int_equal(ch_hcache_get_many(c, &kp, 1, &got), CH_OK);
        assert_null(got.val);
        ch_hcache_put_many(c, &kp, &vp, &len, &got.lease, 1);
        size_t b = ch_hcache_bytes(c);
        over += b > bound;
        most = b > most ? b : most;
        if (i % 64 == 0) { /* the hot key is read all along: least recently used it is not */
            char *v = get1(c, hot, NULL, NULL);
            assert_non_null(v);
            free(v);
        }
    }
    assert_int_equal(over, 0);
    assert_true(most > bound / 2); /* it was used, not emptied */
    size_t hits = 0;
    for (int i = 100000 - 100; i < 100000; i++) {
        snprintf(key, sizeof(key), "k:%d", i);
        char *v = get1(c, key, NULL, NULL);
        hits += v != NULL;
        free(v);
    }
    assert_true(hits > 90); /* the newest are there */
    ch_hcache_destroy(c);
}

static void test_mem_ttl(void **state)
{
    (void)state;
    ch_hcache_t *c = ch_hcache_mem_create((size_t)1 << 20, 50);
    uint64_t lease;
    assert_null(get1(c, "old", &lease, NULL));
    put1(c, "old", "v", lease);
    /* (that a younger entry is served is what every other test shows: the in-process fixture
     * has production's lifetime) */
    usleep(120 * 1000); /* over twice the lifetime: a miss whatever the machine's speed */
    assert_null(get1(c, "old", &lease, NULL));
    assert_int_not_equal(lease, 0);
    ch_hcache_destroy(c);
}

/* Counts the hits handed to it; records the last value (runs under the shard lock: no asserts). */
static int visit_count(void *arg, size_t i, const char *val, size_t len)
{
    (void)i;
    (void)val;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

/* An expired entry is a miss, never the next entry of its bucket's chain: the lookup once
 * unlinked the expired entry and then read the link again, which by then held another key's
 * entry, and served that key's value as this one's (another item's record, another pair's
 * relation). Two hundred keys share the buckets; all expire; every get must miss. */
static void test_mem_ttl_expired_is_not_the_next_key(void **state)
{
    (void)state;
    ch_hcache_t *c = ch_hcache_mem_create((size_t)1 << 20, 50);
    enum { N = 200 };
    char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "x:%d", i);
        uint64_t lease;
        assert_null(get1(c, keys[i], &lease, NULL));
        put1(c, keys[i], keys[i], lease);
    }
    for (int i = 0; i < N; i++) { /* all there while young, each with its own value */
        char *v = get1(c, keys[i], NULL, NULL);
        assert_non_null(v);
        assert_string_equal(v, keys[i]);
        free(v);
    }
    usleep(120 * 1000); /* over twice the lifetime */
    int hits = 0;
    for (int i = 0; i < N; i++) {
        const char *key = keys[i];
        uint64_t lease = 0;
        if (i % 2) {
            char *v = get1(c, key, &lease, NULL);
            if (v)
                hits++;
            free(v);
        } else {
            (void)ch_hcache_get_visit(c, &key, 1, visit_count, &hits, &lease);
        }
        assert_int_not_equal(lease, 0);
    }
    assert_int_equal(hits, 0);
    ch_hcache_destroy(c);
}

/* Many threads over a few keys, each writer bumping the key's "row" then forgetting the key,
 * each reader putting what it read with its lease. At the end every cached value is the row's
 * current version: no put of a value read before a write survived. */
#define HAMMER_THREADS 8
#define HAMMER_KEYS 8

typedef struct {
    ch_hcache_t *c;
    const char *prefix;
    int rounds;
    atomic_uint_fast64_t *rows;
    unsigned seed;
    int bad; /* a value that is not one the row ever had, or an unavailable cache */
} hammer_arg_t;

static void *hammer(void *p)
{
    hammer_arg_t *a = p;
    char key[CH_HCACHE_KEY_MAX + 1], val[64];
    for (int i = 0; i < a->rounds; i++) {
        a->seed = a->seed * 1103515245u + 12345u;
        unsigned k = (a->seed >> 16) % HAMMER_KEYS, op = (a->seed >> 8) % 8;
        snprintf(key, sizeof(key), "%sh:%u", a->prefix, k);
        const char *kp = key;
        if (op == 0) { /* a write: the row changes, then (after its commit) the forget */
            atomic_fetch_add(&a->rows[k], 1);
            ch_hcache_forget_many(a->c, &kp, 1);
            continue;
        }
        ch_hcache_got_t got;
        if (ch_hcache_get_many(a->c, &kp, 1, &got) != CH_OK) {
            a->bad = 1;
            continue;
        }
        if (got.val) {
            unsigned kk;
            unsigned long long ver;
            if (sscanf(got.val, "%u:%llu", &kk, &ver) != 2 || kk != k || ver > atomic_load(&a->rows[k]))
                a->bad = 1;
            free(got.val);
            continue;
        }
        int n = snprintf(val, sizeof(val), "%u:%llu", k, (unsigned long long)atomic_load(&a->rows[k]));
        const char *vp = val;
        size_t len = (size_t)n;
        ch_hcache_put_many(a->c, &kp, &vp, &len, &got.lease, 1);
    }
    return NULL;
}

static void hammer_run(ch_hcache_t *c, const char *prefix, int rounds)
{
    atomic_uint_fast64_t rows[HAMMER_KEYS];
    for (int k = 0; k < HAMMER_KEYS; k++)
        atomic_init(&rows[k], 0);
    pthread_t th[HAMMER_THREADS];
    hammer_arg_t args[HAMMER_THREADS];
    for (int t = 0; t < HAMMER_THREADS; t++) {
        args[t] = (hammer_arg_t){.c = c, .prefix = prefix, .rounds = rounds, .rows = rows,
                                 .seed = (unsigned)t * 7919u + 1};
        assert_int_equal(pthread_create(&th[t], NULL, hammer, &args[t]), 0);
    }
    /* every thread joined before any assertion (a failed one leaves the test) */
    for (int t = 0; t < HAMMER_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < HAMMER_THREADS; t++)
        assert_int_equal(args[t].bad, 0);
    for (unsigned k = 0; k < HAMMER_KEYS; k++) {
        char key[CH_HCACHE_KEY_MAX + 1], want[64];
        snprintf(key, sizeof(key), "%sh:%u", prefix, k);
        snprintf(want, sizeof(want), "%u:%llu", k, (unsigned long long)atomic_load(&rows[k]));
        char *v = get1(c, key, NULL, NULL);
        if (v)
            assert_string_equal(v, want);
        free(v);
    }
}

static void test_mem_threads_one_shard(void **state)
{
    (void)state;
    ch_hcache_t *c = ch_hcache_mem_create(300 * 1024, 0); /* below two shards' minimum: one shard */
    hammer_run(c, "", 20000);
    ch_hcache_destroy(c);
}

/* ---- Redis ------------------------------------------------------------------------------- */

/* The test's own redis-server: on a loopback port of its own, without persistence unless a
 * test asks for a SAVE, so that tests can stop, hang and restart it. */
static pid_t g_redis_pid;
static int g_redis_port, g_redis_broken;
static char g_redis_dir[64], g_redis_url[64];

static redisContext *raw_redis(void)
{
    redisContext *c = redisConnect("127.0.0.1", g_redis_port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    return c;
}

static long long raw_int(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

static int redis_spawn(void)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", g_redis_port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly",
               "no", "--dir", g_redis_dir, "--dbfilename", "hc.rdb", (char *)NULL);
        _exit(127);
    }
    g_redis_pid = pid;
    for (int i = 0; i < 200; i++) { /* up to 10 s for it to answer */
        redisContext *c = redisConnect("127.0.0.1", g_redis_port);
        int up = 0;
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            up = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
        }
        if (c)
            redisFree(c);
        if (up)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) { /* exited: no redis-server, or the port is taken */
            g_redis_pid = 0;
            return -1;
        }
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    g_redis_pid = 0;
    return -1;
}

static int redis_start(void)
{
    if (g_redis_pid)
        return 0;
    if (g_redis_broken)
        return -1;
    if (!g_redis_dir[0]) {
        snprintf(g_redis_dir, sizeof(g_redis_dir), "/tmp/chorus-test-hcache-XXXXXX");
        if (!mkdtemp(g_redis_dir)) {
            g_redis_broken = 1;
            return -1;
        }
    }
    if (g_redis_port && redis_spawn() == 0) /* a restart: the same port */
        return 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        g_redis_port = 20000 + (int)(((unsigned)getpid() * 7919u + (unsigned)attempt * 1031u) % 40000u);
        if (redis_spawn() == 0) {
            snprintf(g_redis_url, sizeof(g_redis_url), "redis://127.0.0.1:%d", g_redis_port);
            return 0;
        }
    }
    g_redis_broken = 1;
    return -1;
}

static const char *redis_url(void)
{
    return g_redis_url;
}

static void redis_stop(void)
{
    if (!g_redis_pid)
        return;
    kill(g_redis_pid, SIGKILL);
    waitpid(g_redis_pid, NULL, 0);
    g_redis_pid = 0;
}

static int group_teardown(void **state)
{
    (void)state;
    redis_stop();
    if (g_redis_dir[0]) {
        char path[128];
        snprintf(path, sizeof(path), "%s/hc.rdb", g_redis_dir);
        unlink(path);
        rmdir(g_redis_dir);
    }
    return 0;
}

/* Gets key until the cache answers again (Redis back, the breaker's probe has seen it: a few
 * seconds at most); fails after 15 s. Returns the value (caller frees) or NULL. */
static char *get_when_back(ch_hcache_t *c, const char *key)
{
    for (int i = 0; i < 300; i++) {
        ch_err_t err;
        uint64_t lease;
        char *v = get1(c, key, &lease, &err);
        if (err == CH_OK)
            return v;
        assert_int_equal(err, CH_EUNAVAILABLE);
        assert_null(v);
        assert_int_equal(lease, 0);
        usleep(50 * 1000);
    }
    fail_msg("the cache did not answer again after Redis came back");
    return NULL;
}

static void store(ch_hcache_t *c, const char *key, const char *val)
{
    uint64_t lease;
    char *v = get1(c, key, &lease, NULL);
    free(v);
    assert_int_not_equal(lease, 0);
    put1(c, key, val, lease);
    v = get1(c, key, NULL, NULL);
    assert_non_null(v);
    assert_string_equal(v, val);
    free(v);
}

/* No Redis there: every get answers unavailable at once, puts and forgets return. */
static void test_redis_down(void **state)
{
    (void)state;
    ch_kv_t *kv;
    char errbuf[256];
    assert_int_equal(ch_kv_open("redis://127.0.0.1:1", &kv, errbuf, sizeof(errbuf)), CH_OK);
    ch_hcache_t *c = ch_hcache_redis_create(kv, 1000);
    assert_non_null(c);
    for (int i = 0; i < 3; i++) {
        ch_err_t err;
        uint64_t lease = 7;
        assert_null(get1(c, "k", &lease, &err));
        assert_int_equal(err, CH_EUNAVAILABLE);
        assert_int_equal(lease, 0);
    }
    put1(c, "k", "v", 5);
    forget1(c, "k");
    assert_int_equal(ch_hcache_bytes(c), 0);
    ch_hcache_destroy(c);
    ch_kv_close(kv);

    /* an in-process kv store has no Redis to cache in */
    assert_int_equal(ch_kv_open(NULL, &kv, errbuf, sizeof(errbuf)), CH_OK);
    assert_null(ch_hcache_redis_create(kv, 1000));
    ch_kv_close(kv);
}

/* Redis hangs while a write's forget is sent: the forget is lost. Once Redis answers again,
 * the value it should have removed (still in Redis: nothing was lost there) is not served. */
static void test_redis_forget_lost_while_hung(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1], other[CH_HCACHE_KEY_MAX + 1];
    K(f, k, "hung");
    K(f, other, "untouched");
    store(f->c, k, "before");
    store(f->c, other, "x");
    redisContext *raw = raw_redis();
    long long epoch = raw_int(raw, "GET hc:epoch");

    kill(g_redis_pid, SIGSTOP);
    forget1(f->c, k); /* times out after the pool's 1 s */
    ch_err_t err;
    assert_null(get1(f->c, k, NULL, &err));
    assert_int_equal(err, CH_EUNAVAILABLE);
    kill(g_redis_pid, SIGCONT);
    /* The DEL may still reach Redis (it sat in the socket while Redis was stopped): put the
     * stale value back, as if it had not, before the cache answers again (its breaker's
     * probe has to see Redis first). */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "SET hc:%lld:{%s} before", epoch, k);
    freeReplyObject(redisCommand(raw, cmd));

    char *v = get_when_back(f->c, k);
    assert_null(v);
    v = get1(f->c, other, NULL, NULL); /* every entry of the old epoch goes with it */
    assert_null(v);
    assert_true(raw_int(raw, "GET hc:epoch") > epoch);
    snprintf(cmd, sizeof(cmd), "EXISTS hc:%lld:{%s}", epoch, other);
    assert_int_equal(raw_int(raw, cmd), 1); /* still there, under the old epoch */
    redisFree(raw);
    char k3[CH_HCACHE_KEY_MAX + 1];
    store(f->c, K(f, k3, "after"), "after"); /* and the cache works again */
}

/* Redis stopped: gets answer unavailable. A forget sent meanwhile is lost; Redis restarts from
 * a snapshot that holds the old value: it is not served. */
static void test_redis_restart_from_snapshot(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1];
    K(f, k, "snap");
    store(f->c, k, "before");
    redisContext *raw = raw_redis();
    long long epoch = raw_int(raw, "GET hc:epoch");
    freeReplyObject(redisCommand(raw, "SAVE"));
    redisFree(raw);

    redis_stop();
    ch_err_t err;
    assert_null(get1(f->c, k, NULL, &err));
    assert_int_equal(err, CH_EUNAVAILABLE);
    forget1(f->c, k);
    assert_int_equal(redis_start(), 0);

    raw = raw_redis();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "EXISTS hc:%lld:{%s}", epoch, k);
    assert_int_equal(raw_int(raw, cmd), 1); /* the snapshot brought it back */
    char *v = get_when_back(f->c, k);
    assert_null(v);
    assert_true(raw_int(raw, "GET hc:epoch") > epoch);
    freeReplyObject(redisCommand(raw, "FLUSHALL"));
    redisFree(raw);
}

/* Two processes on one Redis (two handles): one sees the epoch another moved (at its next
 * get; the loop below allows for more), and a forget through a handle that has not read the new epoch yet still reaches
 * the entries under it. */
static void test_redis_second_handle(void **state)
{
    fx_t *f = need(state);
    char errbuf[256], k[CH_HCACHE_KEY_MAX + 1];
    K(f, k, "shared");
    ch_kv_t *kv2, *kv3;
    assert_int_equal(ch_kv_open(redis_url(), &kv2, errbuf, sizeof(errbuf)), CH_OK);
    assert_int_equal(ch_kv_open(redis_url(), &kv3, errbuf, sizeof(errbuf)), CH_OK);
    ch_hcache_t *b = ch_hcache_redis_create(kv2, 60000);

    store(f->c, k, "v1");
    char *v = get1(b, k, NULL, NULL);
    assert_non_null(v);
    assert_string_equal(v, "v1");
    free(v);

    redisContext *raw = raw_redis();
    raw_int(raw, "INCR hc:epoch"); /* another replica healed a lost forget */
    redisFree(raw);
    int seen = 0;
    for (int i = 0; i < 200 && !seen; i++) { /* about 1 s; 10 s at most on a loaded machine */
        v = get1(b, k, NULL, NULL);
        seen = v == NULL;
        free(v);
        if (!seen)
            usleep(50 * 1000);
    }
    assert_true(seen);

    /* a third replica, on the new epoch, caches a value; f->c, which has not read the epoch
     * since it moved (no get since), forgets the key: the third one must lose it */
    ch_hcache_t *c3 = ch_hcache_redis_create(kv3, 60000);
    char k2[CH_HCACHE_KEY_MAX + 1];
    store(c3, K(f, k2, "shared2"), "v2");
    forget1(f->c, k2);
    assert_null(get1(c3, k2, NULL, NULL));
    ch_hcache_destroy(c3);
    ch_hcache_destroy(b);
    ch_kv_close(kv3);
    ch_kv_close(kv2);
}

/* A replica that has not followed an epoch move (P1) must neither read nor store under the
 * old epoch once another (P2) forgets under the new one only: a relation read before a block
 * would otherwise be stored under the old epoch and served after the block's forget. */
static void test_redis_stale_epoch_replica(void **state)
{
    fx_t *f = need(state);
    char errbuf[256], k[CH_HCACHE_KEY_MAX + 1], k2[CH_HCACHE_KEY_MAX + 1], w[CH_HCACHE_KEY_MAX + 1];
    ch_kv_t *kv2;
    assert_int_equal(ch_kv_open(redis_url(), &kv2, errbuf, sizeof(errbuf)), CH_OK);
    ch_hcache_t *p1 = f->c, *p2 = ch_hcache_redis_create(kv2, 60000);
    assert_non_null(p2);
    redisContext *raw = raw_redis();

    /* both read the epoch (P2 first: it is the older read) */
    free(get1(p2, K(f, w, "warm2"), NULL, NULL));
    usleep(600 * 1000);
    free(get1(p1, K(f, w, "warm1"), NULL, NULL));
    long long e0 = raw_int(raw, "INCR hc:epoch") - 1;
    usleep(500 * 1000);
    free(get1(p2, K(f, w, "warm3"), NULL, NULL)); /* P2 follows */

    /* P1 misses and would take a lease; P2 commits a block and forgets under the new epoch */
    uint64_t lease;
    char *v = get1(p1, K(f, k, "rel"), &lease, NULL);
    assert_null(v);
    forget1(p2, k);
    put1(p1, k, "pre-block", lease);
    v = get1(p1, k, NULL, NULL);
    assert_null(v);
    v = get1(p2, k, NULL, NULL);
    assert_null(v);

    /* a lease taken before the move: the put is refused once hc:epoch moved */
    long long e1 = raw_int(raw, "GET hc:epoch");
    v = get1(p1, K(f, k2, "rel2"), &lease, NULL);
    assert_null(v);
    assert_int_not_equal(lease, 0);
    raw_int(raw, "INCR hc:epoch");
    free(get1(p2, K(f, w, "warm4"), NULL, NULL)); /* P2 follows */
    forget1(p2, k2);                              /* under e1 + 1 only */
    put1(p1, k2, "pre-block", lease);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "EXISTS hc:%lld:{%s}", e1, k2);
    assert_int_equal(raw_int(raw, cmd), 0);
    v = get1(p1, k2, NULL, NULL);
    assert_null(v);
    assert_true(e1 > e0);

    redisFree(raw);
    ch_hcache_destroy(p2);
    ch_kv_close(kv2);
}

/* A forget lost by a process that then never reads (a CLI command): it still moves the epoch
 * (in the background) once Redis answers, so other replicas stop serving the stale entry. */
static void test_redis_heal_without_reads(void **state)
{
    fx_t *f = need(state);
    char errbuf[256], k[CH_HCACHE_KEY_MAX + 1];
    ch_kv_t *kv2;
    assert_int_equal(ch_kv_open(redis_url(), &kv2, errbuf, sizeof(errbuf)), CH_OK);
    ch_hcache_t *p2 = ch_hcache_redis_create(kv2, 60000);
    store(p2, K(f, k, "cli"), "before");
    redisContext *raw = raw_redis();
    long long epoch = raw_int(raw, "GET hc:epoch");

    kill(g_redis_pid, SIGSTOP);
    forget1(f->c, k); /* lost: times out after the pool's 1 s */
    kill(g_redis_pid, SIGCONT);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "SET hc:%lld:{%s} before", epoch, k); /* as if the DEL never arrived */
    freeReplyObject(redisCommand(raw, cmd));

    int gone = 0;
    for (int i = 0; i < 300 && !gone; i++) { /* 15 s at most */
        char *v = get1(p2, k, NULL, NULL);
        gone = v == NULL;
        free(v);
        if (!gone)
            usleep(50 * 1000);
    }
    assert_true(gone);
    assert_true(raw_int(raw, "GET hc:epoch") > epoch);
    redisFree(raw);
    ch_hcache_destroy(p2);
    ch_kv_close(kv2);
}

/* The epoch a process uses never moves back: hc:epoch found lower (Redis lost it) is not
 * adopted (entries under the lower one may be stale), it is moved above the process's. */
static void test_redis_epoch_never_back(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1], w[CH_HCACHE_KEY_MAX + 1], cmd[128];
    K(f, k, "mono");
    redisContext *raw = raw_redis();
    long long high = raw_int(raw, "INCRBY hc:epoch 100"), low = high - 50;
    free(get1(f->c, K(f, w, "warm"), NULL, NULL)); /* adopts high */
    snprintf(cmd, sizeof(cmd), "SET hc:%lld:{%s} stale", low, k);
    freeReplyObject(redisCommand(raw, cmd));
    snprintf(cmd, sizeof(cmd), "SET hc:epoch %lld", low);
    freeReplyObject(redisCommand(raw, cmd));
    usleep(1100 * 1000); /* longer than any periodic re-read of the epoch */

    ch_err_t err;
    char *v = get1(f->c, k, NULL, &err);
    assert_null(v);
    v = get_when_back(f->c, k);
    assert_null(v);
    assert_true(raw_int(raw, "GET hc:epoch") > high);
    redisFree(raw);
    char k3[CH_HCACHE_KEY_MAX + 1];
    store(f->c, K(f, k3, "after"), "after");
}

/* One loader per key: a second reader that misses while the first holds the lease gets none
 * (it reads the database without putting); a batch with hits and misses answers both. */
static void test_redis_one_loader(void **state)
{
    fx_t *f = need(state);
    char k1[CH_HCACHE_KEY_MAX + 1], k2[CH_HCACHE_KEY_MAX + 1];
    const char *keys[2] = {K(f, k1, "loaded"), K(f, k2, "cached")};
    store(f->c, keys[1], "here");
    ch_hcache_got_t got[2];
    assert_int_equal(ch_hcache_get_many(f->c, keys, 2, got), CH_OK);
    assert_null(got[0].val);
    uint64_t first = got[0].lease;
    assert_int_not_equal(first, 0);
    assert_non_null(got[1].val);
    assert_string_equal(got[1].val, "here");
    free(got[1].val);
    uint64_t second;
    assert_null(get1(f->c, keys[0], &second, NULL));
    assert_int_equal(second, 0);
    put1(f->c, keys[0], "loaded", first);
    char *v = get1(f->c, keys[0], NULL, NULL);
    assert_non_null(v);
    assert_string_equal(v, "loaded");
    free(v);
}

/* The same many threads through one handle (the pool's connections) on Redis. */
static void test_redis_threads(void **state)
{
    fx_t *f = need(state);
    hammer_run(f->c, f->prefix, 1500);
}

/* The entry bound of the in-process driver (the L1's): more keys than it holds, never more
 * entries than the bound. */
static void test_mem_entry_bound(void **state)
{
    (void)state;
    ch_hcache_t *c = ch_hcache_mem_create_bounded((size_t)4 << 20, 64, 0);
    assert_non_null(c);
    char key[CH_HCACHE_KEY_MAX + 1];
    size_t most = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "e:%d", i);
        uint64_t lease;
        assert_null(get1(c, key, &lease, NULL));
        put1(c, key, "v", lease);
        size_t n = ch_hcache_entries(c);
        most = n > most ? n : most;
    }
    assert_true(most <= 64);
    assert_true(most >= 32); /* it was used */
    ch_hcache_destroy(c);
}

/* ---- the L1 in front of Redis (cluster mode) ---------------------------------------------- */

static unsigned long long metric_value(const char *name);

static ch_hcache_t *l1_open(ch_kv_t **kv)
{
    char errbuf[256];
    assert_int_equal(ch_kv_open(redis_url(), kv, errbuf, sizeof(errbuf)), CH_OK);
    ch_hcache_t *c = ch_hcache_l1_create(ch_hcache_redis_create(*kv, 60000), *kv, redis_url(), (size_t)4 << 20,
                                         0, 60000);
    assert_non_null(c);
    for (int i = 0; i < 400 && !ch_hcache_l1_live(c); i++) /* subscribed: 10 s at most */
        usleep(25 * 1000);
    assert_true(ch_hcache_l1_live(c));
    return c;
}

/* Node B serves a key from its own memory (Redis lost it behind its back and B still has
 * it), and a forget on node A reaches B's L1 through the invalidation channel: without it B
 * would serve the old value for its L1 TTL (60 s here). */
static void test_l1_forget_reaches_the_other_node(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1];
    K(f, k, "l1");
    ch_kv_t *kva, *kvb;
    ch_hcache_t *a = l1_open(&kva), *b = l1_open(&kvb);
    store(a, k, "v1");
    for (int i = 0; i < 2; i++) { /* the first from Redis (and into B's L1), the second from B's L1 */
        char *v = get1(b, k, NULL, NULL);
        assert_non_null(v);
        assert_string_equal(v, "v1");
        free(v);
    }
    redisContext *raw = raw_redis();
    long long epoch = raw_int(raw, "GET hc:epoch");
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "DEL hc:%lld:{%s}", epoch, k);
    raw_int(raw, cmd);
    redisFree(raw);
    char *v = get1(b, k, NULL, NULL); /* from B's L1: Redis has nothing */
    assert_non_null(v);
    free(v);

    unsigned long long failed = metric_value("chorus_hcache_l1_invalidations_total{direction=\"failed\"} ");
    forget1(a, k);
    /* published with the DELs (not the flush-all a failed PUBLISH leads to) */
    assert_int_equal(metric_value("chorus_hcache_l1_invalidations_total{direction=\"failed\"} "), failed);
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) { /* pub/sub: at once; 10 s at most on a loaded machine */
        v = get1(b, k, NULL, NULL);
        gone = v == NULL;
        free(v);
        if (!gone)
            usleep(50 * 1000);
    }
    assert_true(gone);
    ch_hcache_destroy(b);
    ch_hcache_destroy(a);
    ch_kv_close(kvb);
    ch_kv_close(kva);
}

#define SHARED(name)                                                                                                 \
    cmocka_unit_test_setup_teardown(name, setup_mem, teardown),                                                      \
        cmocka_unit_test_setup_teardown(name, setup_redis, teardown)

/* Node B's L1 serves a key without touching Redis; Redis's key epoch moves (what node A's
 * heal of a lost forget does, A's forget having reached neither Redis nor the channel): B's
 * L1 must stop serving what it read under the old epoch (without the epoch poll it served it
 * for its L1 TTL, 60 s here). */
static void test_l1_flushed_when_the_epoch_moves(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1];
    K(f, k, "l1ep");
    ch_kv_t *kvb;
    ch_hcache_t *b = l1_open(&kvb);
    store(b, k, "v1");
    for (int i = 0; i < 2; i++) {
        char *v = get1(b, k, NULL, NULL);
        assert_non_null(v);
        free(v);
    }
    redisContext *raw = raw_redis();
    raw_int(raw, "INCR hc:epoch");
    redisFree(raw);
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) { /* the poll: 250 ms; 10 s at most on a loaded machine */
        char *v = get1(b, k, NULL, NULL);
        gone = v == NULL;
        free(v);
        if (!gone)
            usleep(50 * 1000);
    }
    assert_true(gone);
    ch_hcache_destroy(b);
    ch_kv_close(kvb);
}

/* An L2 that runs a read on the L1 wrapper (g_race_reader) between the writer's L1 forget and
 * its Redis forget: the interleaving of a reader on the writing node. */
static ch_hcache_t *g_race_reader;
static char g_race_key[CH_HCACHE_KEY_MAX + 1];
static char *g_race_seen;

static ch_err_t race_get(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    ch_hcache_t *in = impl;
    return in->driver->get_many(in->impl, keys, n, got);
}
static void race_put(void *impl, const char *const *keys, const char *const *vals, const size_t *lens,
                     const uint64_t *leases, size_t n)
{
    ch_hcache_t *in = impl;
    in->driver->put_many(in->impl, keys, vals, lens, leases, n);
}
static void race_forget(void *impl, const char *const *keys, size_t n)
{
    ch_hcache_t *in = impl;
    if (g_race_reader) { /* misses the L1 (forgotten), reads the old value from Redis, fills the L1 */
        ch_hcache_t *r = g_race_reader;
        g_race_reader = NULL;
        g_race_seen = get1(r, g_race_key, NULL, NULL);
    }
    in->driver->forget_many(in->impl, keys, n);
}
static size_t race_bytes(const void *impl)
{
    (void)impl;
    return 0;
}
static void race_destroy(void *impl)
{
    ch_hcache_destroy(impl);
}
static long long race_epoch(void *impl, int refresh)
{
    ch_hcache_t *in = impl;
    return in->driver->epoch(in->impl, refresh);
}
static const ch_hcache_driver_t race_driver = {
    .name = "race", .get_many = race_get, .put_many = race_put, .forget_many = race_forget,
    .bytes = race_bytes, .destroy = race_destroy, .epoch = race_epoch,
};

/* The writing node's own L1 refilled with the old value: a reader that misses after the
 * writer's L1 forget and reads Redis before the writer's DEL puts the old value under a
 * lease that forget does not void; the writer skips its own message, so without a second L1
 * forget after the Redis one it served the old value for its L1 TTL. */
static void test_l1_writer_not_refilled_by_a_racing_reader(void **state)
{
    fx_t *f = need(state);
    K(f, g_race_key, "l1race");
    ch_kv_t *kv;
    char errbuf[256];
    assert_int_equal(ch_kv_open(redis_url(), &kv, errbuf, sizeof(errbuf)), CH_OK);
    ch_hcache_t *l2 = ch__hcache_wrap(&race_driver, ch_hcache_redis_create(kv, 60000));
    ch_hcache_t *a = ch_hcache_l1_create(l2, kv, redis_url(), (size_t)4 << 20, 0, 60000);
    assert_non_null(a);
    for (int i = 0; i < 400 && !ch_hcache_l1_live(a); i++)
        usleep(25 * 1000);
    assert_true(ch_hcache_l1_live(a));
    store(a, g_race_key, "old");
    g_race_reader = a;
    forget1(a, g_race_key); /* the write's forget, with the reader in between its two steps */
    assert_non_null(g_race_seen); /* the reader did read the old value from Redis */
    assert_string_equal(g_race_seen, "old");
    free(g_race_seen);
    g_race_seen = NULL;
    char *v = get1(a, g_race_key, NULL, NULL);
    assert_null(v);
    ch_hcache_destroy(a);
    ch_kv_close(kv);
}

/* A subscription that went silent without a disconnect (Redis stopped, a partition): the
 * L1 is bypassed once the channel has been quiet past CH__L1_STALE_MS (600 ms), well before
 * the connection is declared dead (3 s), so a forget published meanwhile and not delivered
 * is not served from the L1. With Redis stopped, a bypassing get finds the cache unavailable
 * (a miss); an L1 hit would return the value. */
static void test_l1_bypassed_when_the_channel_is_silent(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1];
    K(f, k, "l1quiet");
    ch_kv_t *kvb;
    ch_hcache_t *b = l1_open(&kvb);
    store(b, k, "v1");
    char *v = get1(b, k, NULL, NULL); /* into the L1 */
    assert_non_null(v);
    free(v);
    kill(g_redis_pid, SIGSTOP);
    usleep(1200 * 1000);
    ch_err_t err;
    v = get1(b, k, NULL, &err);
    kill(g_redis_pid, SIGCONT);
    assert_null(v);
    ch_hcache_destroy(b);
    ch_kv_close(kvb);
}

static unsigned long long metric_value(const char *name)
{
    ch_buf_t buf = CH_BUF_INIT;
    ch_metrics_render(&buf);
    const char *at = strstr(buf.data, name);
    unsigned long long v = at ? strtoull(at + strlen(name), NULL, 10) : ~0ULL;
    ch_buf_clear(&buf);
    return v;
}

/* An L1 fill is not a put into the hydration cache: chorus_hcache_puts_total counts the put
 * into Redis only, chorus_hcache_l1_fills_total the fill (it counted both as puts). */
static void test_l1_fills_counted_apart(void **state)
{
    fx_t *f = need(state);
    char k[CH_HCACHE_KEY_MAX + 1];
    K(f, k, "l1fill");
    ch_kv_t *kvb;
    ch_hcache_t *b = l1_open(&kvb);
    unsigned long long stored = metric_value("chorus_hcache_puts_total{result=\"stored\"} ");
    unsigned long long fills = metric_value("\nchorus_hcache_l1_fills_total ");
    store(b, k, "v1"); /* a put into Redis, then a read that fills the L1 */
    assert_int_equal(metric_value("chorus_hcache_puts_total{result=\"stored\"} "), stored + 1);
    assert_int_equal(metric_value("\nchorus_hcache_l1_fills_total "), fills + 1);
    assert_int_equal(ch_hcache_entries(b), 1);
    ch_hcache_destroy(b);
    ch_kv_close(kvb);
}

/* Under the loop guard (an event loop's cluster read) the cache answers from the L1 alone:
 * a key the L1 holds is served without Redis; a key only Redis holds is refused (unavailable,
 * the refusal noted so that the dispatcher moves the read), not fetched; puts store nothing and
 * forgets are refused with a note (the read's run on a worker forgets again). */
static void test_l1_guarded_reads_memory_only(void **state)
{
    fx_t *f = need(state);
    char warm[CH_HCACHE_KEY_MAX + 1], cold[CH_HCACHE_KEY_MAX + 1];
    K(f, warm, "guard-warm");
    K(f, cold, "guard-cold");
    ch_kv_t *kv;
    ch_hcache_t *c = l1_open(&kv);
    store(c, warm, "in the L1"); /* put into Redis, then filled into the L1 by the read */
    uint64_t lease;
    free(get1(c, cold, &lease, NULL));
    put1(c, cold, "only in Redis", lease); /* in Redis; the L1 fills at the next unguarded read */
    (void)ch_loop_guard_take();
    ch_loop_guard_set(1);
    ch_err_t err;
    char *v = get1(c, warm, NULL, &err);
    assert_int_equal(err, CH_OK);
    assert_string_equal(v, "in the L1");
    free(v);
    assert_false(ch_loop_guard_take());
    const char *both[2] = {warm, cold};
    ch_hcache_got_t got[2];
    assert_int_equal(ch_hcache_get_many(c, both, 2, got), CH_EUNAVAILABLE);
    assert_null(got[0].val);
    assert_null(got[1].val);
    assert_true(ch_loop_guard_take());
    forget1(c, warm);
    assert_true(ch_loop_guard_take());
    ch_loop_guard_set(0);
    v = get1(c, warm, NULL, NULL); /* the refused forget did not run */
    assert_string_equal(v, "in the L1");
    free(v);
    v = get1(c, cold, NULL, NULL); /* unguarded: from Redis */
    assert_string_equal(v, "only in Redis");
    free(v);
    ch_hcache_destroy(c);
    ch_kv_close(kv);
}

/* A SUBSCRIBE answered with an error (here an ACL that denies the channel) is logged and the
 * connection dropped and made again, so the L1 comes into use once the channel is allowed
 * (the error used to be ignored: the thread kept the connection, never subscribed). */
static void test_l1_subscribe_error_reconnects(void **state)
{
    fx_t *f = need(state);
    (void)f;
    redisContext *raw = raw_redis();
    redisReply *r = redisCommand(raw, "ACL SETUSER default resetchannels");
    assert_non_null(r);
    int acl = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!acl) {
        redisFree(raw);
        skip();
    }
    char errbuf[256];
    ch_kv_t *kv;
    assert_int_equal(ch_kv_open(redis_url(), &kv, errbuf, sizeof(errbuf)), CH_OK);
    ch_hcache_t *c = ch_hcache_l1_create(ch_hcache_redis_create(kv, 60000), kv, redis_url(), (size_t)4 << 20, 0,
                                         60000);
    assert_non_null(c);
    usleep(300 * 1000);
    assert_false(ch_hcache_l1_live(c)); /* refused */
    r = redisCommand(raw, "ACL SETUSER default allchannels");
    freeReplyObject(r);
    redisFree(raw);
    for (int i = 0; i < 400 && !ch_hcache_l1_live(c); i++) /* the reconnect: 1 s backoff at most */
        usleep(25 * 1000);
    assert_true(ch_hcache_l1_live(c));
    ch_hcache_destroy(c);
    ch_kv_close(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        SHARED(test_round_trip),
        SHARED(test_lease_lost_after_forget),
        SHARED(test_get_visit),
        SHARED(test_value_sizes),
        SHARED(test_bad_arguments),
        cmocka_unit_test_setup_teardown(test_mem_metrics, setup_mem, teardown),
        cmocka_unit_test(test_mem_memory_bound),
        cmocka_unit_test(test_mem_ttl),
        cmocka_unit_test(test_mem_ttl_expired_is_not_the_next_key),
        cmocka_unit_test(test_mem_threads_one_shard),
        cmocka_unit_test(test_redis_down),
        cmocka_unit_test_setup_teardown(test_redis_forget_lost_while_hung, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_restart_from_snapshot, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_second_handle, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_one_loader, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_threads, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_stale_epoch_replica, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_heal_without_reads, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_epoch_never_back, setup_redis, teardown),
        cmocka_unit_test(test_mem_entry_bound),
        cmocka_unit_test_setup_teardown(test_l1_forget_reaches_the_other_node, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_l1_flushed_when_the_epoch_moves, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_l1_writer_not_refilled_by_a_racing_reader, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_l1_bypassed_when_the_channel_is_silent, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_l1_fills_counted_apart, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_l1_guarded_reads_memory_only, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_l1_subscribe_error_reconnects, setup_redis, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
