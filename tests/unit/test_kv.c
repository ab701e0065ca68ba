/* Key-value store: the same behaviour checked against the in-process driver and, when
 * CHORUS_TEST_REDIS_URL is set (e.g. redis://127.0.0.1:56379/15), against Redis. */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "store/kv.h"
#include "store/kv_breaker.h"

typedef struct {
    ch_kv_t *kv;
    int is_redis;
    char prefix[64];
} fx_t;

static unsigned g_fixture_seq;

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Keys unique per process and test, so runs against a shared Redis never collide. */
static const char *K(fx_t *f, const char *name)
{
    static _Thread_local char buf[8][160];
    static _Thread_local int slot;
    char *b = buf[slot++ & 7];
    snprintf(b, sizeof(buf[0]), "%s%s", f->prefix, name);
    return b;
}

static int fx_open(void **state, const char *url)
{
    fx_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->prefix, sizeof(f->prefix), "chorus_test:%ld:%u:", (long)getpid(), ++g_fixture_seq);
    if (url) {
        char errbuf[256];
        ch_err_t err = ch_kv_open(url, &f->kv, errbuf, sizeof(errbuf));
        if (err != CH_OK)
            fail_msg("ch_kv_open(%s): %s", url, errbuf);
        f->is_redis = strcmp(ch_kv_kind(f->kv), "redis") == 0;
    }
    *state = f;
    return 0;
}

static int setup_mem(void **state)
{
    return fx_open(state, "");
}

/* Without CHORUS_TEST_REDIS_URL the fixture has no store and the test skips itself. */
static int setup_redis(void **state)
{
    const char *url = getenv("CHORUS_TEST_REDIS_URL");
    return fx_open(state, url && *url ? url : NULL);
}

static int teardown(void **state)
{
    fx_t *f = *state;
    ch_kv_close(f->kv);
    free(f);
    return 0;
}

static fx_t *need(void **state)
{
    fx_t *f = *state;
    if (!f->kv)
        skip();
    return f;
}

/* ---- basic operations --------------------------------------------------------------- */

static void test_get_missing(void **state)
{
    fx_t *f = need(state);
    char *v = (char *)1;
    size_t len = 99;
    assert_int_equal(ch_kv_get(f->kv, K(f, "nope"), &v, &len), CH_OK);
    assert_null(v);
    assert_int_equal(len, 0);
    assert_int_equal(ch_kv_ping(f->kv), CH_OK);
}

static void test_set_get_overwrite(void **state)
{
    fx_t *f = need(state);
    const char *k = K(f, "greeting");
    char *v = NULL;
    size_t len = 0;

    assert_int_equal(ch_kv_set(f->kv, k, "hello", 5, 0), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, k, &v, &len), CH_OK);
    assert_non_null(v);
    assert_int_equal(len, 5);
    assert_string_equal(v, "hello");
    free(v);

    assert_int_equal(ch_kv_set(f->kv, k, "bye", 3, 0), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, k, &v, NULL), CH_OK);
    assert_non_null(v);
    assert_string_equal(v, "bye");
    free(v);

    /* an empty value is present, not missing */
    assert_int_equal(ch_kv_set(f->kv, k, NULL, 0, 0), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, k, &v, &len), CH_OK);
    assert_non_null(v);
    assert_int_equal(len, 0);
    assert_string_equal(v, "");
    free(v);

    /* other keys are untouched */
    assert_int_equal(ch_kv_get(f->kv, K(f, "greeting2"), &v, NULL), CH_OK);
    assert_null(v);
    ch_kv_del(f->kv, k);
}

static void test_binary_value(void **state)
{
    fx_t *f = need(state);
    const char *k = K(f, "bin");
    const char val[] = {'a', '\0', 'b', '\0', '\0', '\xff', 'c'};
    char *v = NULL;
    size_t len = 0;

    assert_int_equal(ch_kv_set(f->kv, k, val, sizeof(val), 0), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, k, &v, &len), CH_OK);
    assert_non_null(v);
    assert_int_equal(len, sizeof(val));
    assert_memory_equal(v, val, sizeof(val));
    assert_int_equal(v[len], '\0'); /* always NUL-terminated after the bytes */
    free(v);

    /* 1 MiB value survives intact */
    size_t big_len = 1 << 20;
    char *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 31 + 7);
    assert_int_equal(ch_kv_set(f->kv, k, big, big_len, 0), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, k, &v, &len), CH_OK);
    assert_non_null(v);
    assert_int_equal(len, big_len);
    assert_memory_equal(v, big, big_len);
    free(v);
    free(big);
    ch_kv_del(f->kv, k);
}

static void test_ttl_expiry(void **state)
{
    fx_t *f = need(state);
    const char *k = K(f, "short"), *k2 = K(f, "kept");
    char *v = NULL;

    assert_int_equal(ch_kv_set(f->kv, k, "x", 1, 20), CH_OK);
    assert_int_equal(ch_kv_set(f->kv, k2, "y", 1, 20), CH_OK);
    assert_int_equal(ch_kv_set(f->kv, k2, "z", 1, 0), CH_OK); /* rewrite without ttl: keeps forever */
    assert_int_equal(ch_kv_get(f->kv, k, &v, NULL), CH_OK);
    assert_non_null(v);
    free(v);

    sleep_ms(50);
    assert_int_equal(ch_kv_get(f->kv, k, &v, NULL), CH_OK);
    assert_null(v);
    assert_int_equal(ch_kv_get(f->kv, k2, &v, NULL), CH_OK);
    assert_non_null(v);
    assert_string_equal(v, "z");
    free(v);

    /* a long ttl does not expire early */
    assert_int_equal(ch_kv_set(f->kv, k, "x", 1, 60000), CH_OK);
    sleep_ms(30);
    assert_int_equal(ch_kv_get(f->kv, k, &v, NULL), CH_OK);
    assert_non_null(v);
    free(v);
    ch_kv_del(f->kv, k);
    ch_kv_del(f->kv, k2);
}

static void test_del(void **state)
{
    fx_t *f = need(state);
    const char *k = K(f, "gone");
    char *v = NULL;

    assert_int_equal(ch_kv_set(f->kv, k, "x", 1, 0), CH_OK);
    assert_int_equal(ch_kv_del(f->kv, k), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, k, &v, NULL), CH_OK);
    assert_null(v);
    assert_int_equal(ch_kv_del(f->kv, k), CH_OK); /* missing is fine */
    assert_int_equal(ch_kv_del(f->kv, K(f, "never")), CH_OK);
}

static void test_many_keys(void **state)
{
    fx_t *f = need(state);
    int n = f->is_redis ? 2000 : 50000; /* enough to make every memory shard grow */
    char key[96], val[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%smany:%d", f->prefix, i);
        int len = snprintf(val, sizeof(val), "v%d", i * 7);
        assert_int_equal(ch_kv_set(f->kv, key, val, (size_t)len, i % 2 ? 0 : 60000), CH_OK);
    }
    for (int i = 0; i < n; i++) {
        char *v = NULL;
        snprintf(key, sizeof(key), "%smany:%d", f->prefix, i);
        snprintf(val, sizeof(val), "v%d", i * 7);
        assert_int_equal(ch_kv_get(f->kv, key, &v, NULL), CH_OK);
        assert_non_null(v);
        assert_string_equal(v, val);
        free(v);
    }
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%smany:%d", f->prefix, i);
        assert_int_equal(ch_kv_del(f->kv, key), CH_OK);
    }
}

/* ---- counters ----------------------------------------------------------------------- */

static void test_incr_window(void **state)
{
    fx_t *f = need(state);
    const char *k = K(f, "win");
    int64_t v = 0, left = 0, left1 = 0;
    char *s = NULL;

    assert_int_equal(ch_kv_incr(f->kv, k, 1000, &v, &left1), CH_OK);
    assert_int_equal(v, 1);
    assert_in_range(left1, 1, 1000);
    sleep_ms(20);
    assert_int_equal(ch_kv_incr(f->kv, k, 1000, &v, &left), CH_OK);
    assert_int_equal(v, 2);
    /* the window is fixed: the second call did not push the expiry out */
    assert_in_range(left, 1, left1 - 10);
    assert_int_equal(ch_kv_incr(f->kv, k, 1000, &v, NULL), CH_OK);
    assert_int_equal(v, 3);

    /* the counter reads back as decimal text */
    assert_int_equal(ch_kv_get(f->kv, k, &s, NULL), CH_OK);
    assert_non_null(s);
    assert_string_equal(s, "3");
    free(s);

    /* after the window, counting restarts at 1 with a fresh ttl */
    const char *w = K(f, "shortwin");
    assert_int_equal(ch_kv_incr(f->kv, w, 30, &v, &left), CH_OK);
    assert_int_equal(v, 1);
    assert_in_range(left, 1, 30);
    assert_int_equal(ch_kv_incr(f->kv, w, 30, &v, NULL), CH_OK);
    assert_int_equal(v, 2);
    sleep_ms(60);
    assert_int_equal(ch_kv_incr(f->kv, w, 500, &v, &left), CH_OK);
    assert_int_equal(v, 1);
    assert_in_range(left, 31, 500);

    /* a counter created by set without ttl gets the window's ttl on its first incr */
    const char *p = K(f, "preset");
    assert_int_equal(ch_kv_set(f->kv, p, "41", 2, 0), CH_OK);
    assert_int_equal(ch_kv_incr(f->kv, p, 5000, &v, &left), CH_OK);
    assert_int_equal(v, 42);
    assert_in_range(left, 1, 5000);

    /* ttl 0: a counter that never expires */
    const char *n = K(f, "forever");
    assert_int_equal(ch_kv_incr(f->kv, n, 0, &v, &left), CH_OK);
    assert_int_equal(v, 1);
    assert_int_equal(left, -1);

    ch_kv_del(f->kv, k);
    ch_kv_del(f->kv, w);
    ch_kv_del(f->kv, p);
    ch_kv_del(f->kv, n);
}

static void test_incr_not_integer(void **state)
{
    fx_t *f = need(state);
    const char *k = K(f, "text");
    int64_t v = 7;
    char *s = NULL;

    assert_int_equal(ch_kv_set(f->kv, k, "abc", 3, 0), CH_OK);
    assert_int_equal(ch_kv_incr(f->kv, k, 1000, &v, NULL), CH_EINVAL);
    assert_int_equal(ch_kv_get(f->kv, k, &s, NULL), CH_OK);
    assert_non_null(s);
    assert_string_equal(s, "abc"); /* left as it was */
    free(s);

    assert_int_equal(ch_kv_set(f->kv, k, "9223372036854775807", 19, 0), CH_OK);
    assert_int_equal(ch_kv_incr(f->kv, k, 1000, &v, NULL), CH_EINVAL); /* would overflow */

    assert_int_equal(ch_kv_set(f->kv, k, "-5", 2, 0), CH_OK);
    assert_int_equal(ch_kv_incr(f->kv, k, 1000, &v, NULL), CH_OK);
    assert_int_equal(v, -4);
    ch_kv_del(f->kv, k);
}

#define INCR_THREADS 8

typedef struct {
    ch_kv_t *kv;
    const char *key;
    int n;
    int64_t *seen; /* n values returned to this thread */
    int errors;
} incr_arg_t;

static void *incr_worker(void *p)
{
    incr_arg_t *a = p;
    for (int i = 0; i < a->n; i++) {
        int64_t v = 0;
        if (ch_kv_incr(a->kv, a->key, 60000, &v, NULL) != CH_OK)
            a->errors++;
        a->seen[i] = v;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_incr_concurrent(void **state)
{
    fx_t *f = need(state);
    const char *k = K(f, "race");
    int per = f->is_redis ? 300 : 5000, total = per * INCR_THREADS;
    int64_t *seen = calloc((size_t)total, sizeof(*seen));
    assert_non_null(seen);
    pthread_t th[INCR_THREADS];
    incr_arg_t args[INCR_THREADS];

    for (int i = 0; i < INCR_THREADS; i++) {
        args[i] = (incr_arg_t){.kv = f->kv, .key = k, .n = per, .seen = seen + (size_t)i * (size_t)per};
        assert_int_equal(pthread_create(&th[i], NULL, incr_worker, &args[i]), 0);
    }
    for (int i = 0; i < INCR_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }

    /* every value 1..total handed out exactly once */
    qsort(seen, (size_t)total, sizeof(*seen), cmp_i64);
    for (int i = 0; i < total; i++)
        assert_int_equal(seen[i], i + 1);
    free(seen);

    char *s = NULL;
    char want[32];
    snprintf(want, sizeof(want), "%d", total);
    assert_int_equal(ch_kv_get(f->kv, k, &s, NULL), CH_OK);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
    ch_kv_del(f->kv, k);
}

static void test_bad_arguments(void **state)
{
    fx_t *f = need(state);
    char *v = NULL;
    int64_t n = 0;
    assert_int_equal(ch_kv_get(f->kv, NULL, &v, NULL), CH_EINVAL);
    assert_int_equal(ch_kv_get(f->kv, K(f, "a"), NULL, NULL), CH_EINVAL);
    assert_int_equal(ch_kv_set(f->kv, NULL, "x", 1, 0), CH_EINVAL);
    assert_int_equal(ch_kv_set(f->kv, K(f, "a"), NULL, 3, 0), CH_EINVAL);
    assert_int_equal(ch_kv_set(f->kv, K(f, "a"), "x", 1, -1), CH_EINVAL);
    assert_int_equal(ch_kv_del(f->kv, NULL), CH_EINVAL);
    assert_int_equal(ch_kv_incr(f->kv, NULL, 10, &n, NULL), CH_EINVAL);
    assert_int_equal(ch_kv_incr(f->kv, K(f, "a"), -1, &n, NULL), CH_EINVAL);
    assert_int_equal(ch_kv_incr(f->kv, K(f, "a"), 10, NULL, NULL), CH_EINVAL);
    assert_int_equal(ch_kv_ping(NULL), CH_EINVAL);
    /* nothing was written by the rejected calls */
    assert_int_equal(ch_kv_get(f->kv, K(f, "a"), &v, NULL), CH_OK);
    assert_null(v);
}

/* ---- opening (no server needed) ----------------------------------------------------- */

static void test_open_urls(void **state)
{
    ch_kv_t *kv = NULL;
    char errbuf[256];

    assert_int_equal(ch_kv_open(NULL, &kv, errbuf, sizeof(errbuf)), CH_OK);
    assert_string_equal(ch_kv_kind(kv), "memory");
    ch_kv_close(kv);
    assert_int_equal(ch_kv_open("", &kv, NULL, 0), CH_OK);
    assert_string_equal(ch_kv_kind(kv), "memory");
    ch_kv_close(kv);
    ch_kv_close(NULL);

    assert_int_equal(ch_kv_open("mysql://root@localhost/x", &kv, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_null(kv);
    assert_non_null(strstr(errbuf, "mysql"));
    assert_int_equal(ch_kv_open("localhost:6379", &kv, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_true(errbuf[0] != '\0');

    static const char *const bad[] = {
        "redis://",         "redis://:6379",           "redis://host:0",      "redis://host:65536",
        "redis://host:abc", "redis://host/notadb",     "redis://host/1?x=y",  "redis://[::1",
        "redis://u@host",   "redis://:s3cr%zzet@host", "redis://host:6379/-1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errbuf[0] = '\0';
        if (ch_kv_open(bad[i], &kv, errbuf, sizeof(errbuf)) != CH_EINVAL)
            fail_msg("accepted bad URL %s", bad[i]);
        assert_null(kv);
        assert_true(errbuf[0] != '\0');
    }
    /* the password never appears in the message */
    assert_int_equal(ch_kv_open("redis://:hunter2@host:99999", &kv, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_null(strstr(errbuf, "hunter2"));
    assert_int_equal(ch_kv_open("ftp://:hunter2@host", &kv, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_null(strstr(errbuf, "hunter2"));

    static const char *const good[] = {
        "redis://127.0.0.1",  "redis://localhost:6380/3", "REDIS://h:1/", "redis://:pw@h",
        "redis://u:p%40@[::1]:7000/2", "redis://:@h:1",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (ch_kv_open(good[i], &kv, errbuf, sizeof(errbuf)) != CH_OK)
            fail_msg("rejected good URL %s: %s", good[i], errbuf);
        assert_string_equal(ch_kv_kind(kv), "redis");
        ch_kv_close(kv);
    }
}

/* Opening must not need the server; calls answer CH_EUNAVAILABLE, again and again. */
static void test_redis_down(void **state)
{
    ch_kv_t *kv = NULL;
    char errbuf[256];
    assert_int_equal(ch_kv_open("redis://127.0.0.1:1", &kv, errbuf, sizeof(errbuf)), CH_OK);
    for (int i = 0; i < 3; i++) {
        char *v = (char *)1;
        int64_t n = 5;
        assert_int_equal(ch_kv_ping(kv), CH_EUNAVAILABLE);
        assert_int_equal(ch_kv_get(kv, "k", &v, NULL), CH_EUNAVAILABLE);
        assert_null(v);
        assert_int_equal(ch_kv_set(kv, "k", "v", 1, 0), CH_EUNAVAILABLE);
        assert_int_equal(ch_kv_del(kv, "k"), CH_EUNAVAILABLE);
        assert_int_equal(ch_kv_incr(kv, "k", 100, &n, NULL), CH_EUNAVAILABLE);
    }
    ch_kv_close(kv);
}

/* ---- memory bound (in-process only) ------------------------------------------------- */

#define BOUND (1u << 20) /* 16 KiB per shard */

static ch_kv_stats_t stats_of(ch_kv_t *kv)
{
    ch_kv_stats_t st;
    ch_kv_stats(kv, &st);
    return st;
}

/* Writing ten times the bound keeps the accounted memory under it, counts evictions, keeps
 * the keys that are in use and those written last, and never evicts pinned keys. */
static void test_memory_bound_evicts(void **state)
{
    fx_t *f = need(state);
    char key[96], val[100], *v = NULL;
    memset(val, 'v', sizeof(val));
    ch_kv_set_max_memory(f->kv, BOUND);
    assert_int_equal(stats_of(f->kv).max_memory, BOUND);
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "sess:rev:%d", i);
        assert_int_equal(ch_kv_set(f->kv, key, "1", 1, 60000), CH_OK);
    }
    assert_int_equal(ch_kv_set(f->kv, "hot", "h", 1, 0), CH_OK);
    const int total = 50000; /* ~200 bytes each: about ten times the bound */
    for (int i = 0; i < total; i++) {
        assert_int_equal(ch_kv_get(f->kv, "hot", &v, NULL), CH_OK); /* in use all along */
        assert_non_null(v);
        free(v);
        v = NULL;
        snprintf(key, sizeof(key), "fill:%d", i);
        assert_int_equal(ch_kv_set(f->kv, key, val, sizeof(val), i % 2 ? 600000 : 0), CH_OK);
        if (i % 1000 == 0)
            assert_true(stats_of(f->kv).memory <= BOUND);
    }
    ch_kv_stats_t st = stats_of(f->kv);
    assert_true(st.memory <= BOUND);
    assert_true(st.memory > BOUND / 2); /* filled, not emptied */
    assert_true(st.keys < (size_t)total / 4);
    assert_true(st.evictions >= (uint64_t)(total - (int)st.keys));
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "sess:rev:%d", i);
        assert_int_equal(ch_kv_get(f->kv, key, &v, NULL), CH_OK);
        assert_non_null(v);
        free(v);
        v = NULL;
    }
    /* Of the last 64 keys written (about one per shard, each among the newest of its
     * shard), nearly all are still there; eviction samples, so allow a few. */
    int kept = 0;
    for (int i = total - 64; i < total; i++) {
        snprintf(key, sizeof(key), "fill:%d", i);
        assert_int_equal(ch_kv_get(f->kv, key, &v, NULL), CH_OK);
        kept += v != NULL;
        free(v);
        v = NULL;
    }
    assert_true(kept >= 60);
    /* Counters are evictable entries too and keep working under the bound. */
    int64_t n = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(ch_kv_incr(f->kv, "counter", 60000, &n, NULL), CH_OK);
    assert_int_equal(n, 3);
    assert_true(stats_of(f->kv).memory <= BOUND);
}

/* A value that cannot fit its shard's share is refused (CH_EUNAVAILABLE, like Redis's OOM
 * answer) and leaves nothing behind; an overwrite that cannot fit drops the key. */
static void test_memory_bound_refuses_too_big(void **state)
{
    fx_t *f = need(state);
    ch_kv_set_max_memory(f->kv, BOUND);
    size_t big_len = BOUND / 32; /* twice a shard's share */
    char *big = calloc(1, big_len), *v = NULL;
    assert_non_null(big);
    assert_int_equal(ch_kv_set(f->kv, "big", big, big_len, 0), CH_EUNAVAILABLE);
    assert_int_equal(ch_kv_get(f->kv, "big", &v, NULL), CH_OK);
    assert_null(v);
    assert_int_equal(ch_kv_set(f->kv, "small", "s", 1, 0), CH_OK);
    assert_int_equal(ch_kv_set(f->kv, "small", big, big_len, 0), CH_EUNAVAILABLE);
    assert_int_equal(ch_kv_get(f->kv, "small", &v, NULL), CH_OK);
    assert_null(v);
    assert_true(stats_of(f->kv).memory <= BOUND);
    assert_int_equal(stats_of(f->kv).keys, 0);
    /* Without a bound it fits. */
    ch_kv_set_max_memory(f->kv, 0);
    assert_int_equal(ch_kv_set(f->kv, "big", big, big_len, 0), CH_OK);
    assert_int_equal(stats_of(f->kv).evictions, 0);
    free(big);
}

/* The accounting goes back to where it started when the keys go (del, overwrite, expiry). */
static void test_memory_accounting_balances(void **state)
{
    fx_t *f = need(state);
    size_t empty = stats_of(f->kv).memory;
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(ch_kv_set(f->kv, key, "abc", 3, 0), CH_OK);
        assert_int_equal(ch_kv_set(f->kv, key, "abcdefgh", 8, 0), CH_OK);
        int64_t n;
        snprintf(key, sizeof(key), "c%d", i);
        for (int j = 0; j < 12; j++)
            assert_int_equal(ch_kv_incr(f->kv, key, 60000, &n, NULL), CH_OK);
    }
    assert_int_equal(stats_of(f->kv).keys, 200);
    assert_true(stats_of(f->kv).memory > empty);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(ch_kv_del(f->kv, key), CH_OK);
        snprintf(key, sizeof(key), "c%d", i);
        assert_int_equal(ch_kv_del(f->kv, key), CH_OK);
    }
    ch_kv_stats_t st = stats_of(f->kv);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.memory, empty); /* no bucket array grew: 200 keys over 64 shards */
    ch_buf_t buf = CH_BUF_INIT;
    ch_kv_render_metrics(f->kv, &buf);
    assert_non_null(strstr(buf.data, "chorus_kv_keys 0\n"));
    assert_non_null(strstr(buf.data, "chorus_kv_evictions_total 0\n"));
    ch_buf_clear(&buf);
}

/* ---- outages: breaker, local fallback, retried writes -------------------------------- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int has(ch_kv_t *kv, const char *text)
{
    ch_buf_t buf = CH_BUF_INIT;
    ch_kv_render_metrics(kv, &buf);
    int found = buf.data && strstr(buf.data, text) != NULL;
    ch_buf_clear(&buf);
    return found;
}

/* A "hung" Redis: a socket that listens and never accepts, so connections complete in the
 * kernel and commands wait for the 1 s timeout (as with a SIGSTOPped server). The first call
 * pays it and trips the breaker; the next ones fail at once. Writes that must land are kept
 * for the store's return; the local fallback store works. */
static void test_redis_hung_trips_breaker(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 128), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
    char url[64], errbuf[256];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(sa.sin_port));
    ch_kv_t *kv = NULL;
    assert_int_equal(ch_kv_open(url, &kv, errbuf, sizeof(errbuf)), CH_OK);
    ch_kv_set_probe_interval(kv, 60000); /* the probe stays out of the way */
    assert_true(has(kv, "chorus_kv_up 1\n"));

    char *v = NULL;
    int64_t n = 0;
    assert_int_equal(ch_kv_get(kv, "k", &v, NULL), CH_EUNAVAILABLE);
    assert_true(has(kv, "chorus_kv_up 0\n"));
    double t0 = mono_s();
    for (int i = 0; i < 20; i++) { /* 100 calls: 100 s if each waited for the timeout */
        assert_int_equal(ch_kv_get(kv, "k", &v, NULL), CH_EUNAVAILABLE);
        assert_null(v);
        assert_int_equal(ch_kv_set(kv, "k", "v", 1, 0), CH_EUNAVAILABLE);
        assert_int_equal(ch_kv_del(kv, "k"), CH_EUNAVAILABLE);
        assert_int_equal(ch_kv_incr(kv, "k", 100, &n, NULL), CH_EUNAVAILABLE);
        assert_int_equal(ch_kv_ping(kv), CH_EUNAVAILABLE);
    }
    assert_true(mono_s() - t0 < 20);
    assert_true(has(kv, "chorus_kv_outages_total 1\n"));
    assert_true(has(kv, "chorus_kv_fast_failures_total 100\n"));
    assert_int_equal(ch_kv_recovered_at(kv), 0);

    assert_true(ch_kv_outage(kv, CH_EUNAVAILABLE));
    assert_false(ch_kv_outage(kv, CH_EINVAL));
    ch_kv_t *local = ch_kv_local(kv);
    assert_non_null(local);
    assert_int_equal(ch_kv_incr(local, "rl:x", 60000, &n, NULL), CH_OK);
    assert_int_equal(n, 1);
    assert_true(has(kv, "chorus_kv_local_keys 1\n"));

    assert_int_equal(ch_kv_set_retrying(kv, "sess:rev:1", "1", 1, 60000, INT64_MAX), CH_OK);
    assert_int_equal(ch_kv_del_retrying(kv, "sess:ok:1", INT64_MAX), CH_OK);
    assert_true(has(kv, "chorus_kv_retry_queued 2\n"));
    assert_int_equal(ch_kv_set_del_retrying(kv, "sess:rev:2", "1", 1, 60000, "sess:ok:2", INT64_MAX), CH_OK);
    assert_true(has(kv, "chorus_kv_retry_queued 3\n")); /* the pair is one unit */
    ch_kv_close(kv); /* frees the queue (LeakSanitizer checks) */
    close(fd);
}

/* The in-process store has no outage: no fallback, no breaker, retried writes are writes. */
static void test_mem_has_no_outage(void **state)
{
    fx_t *f = need(state);
    if (f->is_redis)
        skip();
    assert_null(ch_kv_local(f->kv));
    assert_false(ch_kv_outage(f->kv, CH_EUNAVAILABLE));
    assert_int_equal(ch_kv_recovered_at(f->kv), 0);
    char *v = NULL;
    assert_int_equal(ch_kv_set_retrying(f->kv, K(f, "r"), "1", 1, 60000, 0), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, K(f, "r"), &v, NULL), CH_OK);
    assert_string_equal(v, "1");
    free(v);
    assert_int_equal(ch_kv_del_retrying(f->kv, K(f, "r"), 0), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, K(f, "r"), &v, NULL), CH_OK);
    assert_null(v);
    assert_false(has(f->kv, "chorus_kv_up"));
}

/* set_del: the set and the delete land together (a revocation's two marks). */
static void test_set_del(void **state)
{
    fx_t *f = need(state);
    char *v = NULL;
    assert_int_equal(ch_kv_set(f->kv, K(f, "ok"), "123", 3, 60000), CH_OK);
    assert_int_equal(ch_kv_set_del(f->kv, K(f, "rev"), "1", 1, 60000, K(f, "ok")), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, K(f, "rev"), &v, NULL), CH_OK);
    assert_non_null(v);
    assert_string_equal(v, "1");
    free(v);
    v = NULL;
    assert_int_equal(ch_kv_get(f->kv, K(f, "ok"), &v, NULL), CH_OK);
    assert_null(v);
    /* the key deleted may be missing; the ttl is the set's */
    assert_int_equal(ch_kv_set_del(f->kv, K(f, "rev2"), "2", 1, 0, K(f, "none")), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, K(f, "rev2"), &v, NULL), CH_OK);
    assert_non_null(v);
    free(v);
    assert_int_equal(ch_kv_set_del(f->kv, NULL, "1", 1, 0, K(f, "ok")), CH_EINVAL);
    assert_int_equal(ch_kv_set_del(f->kv, K(f, "rev"), "1", 1, 0, NULL), CH_EINVAL);
    assert_int_equal(ch_kv_set_del_retrying(f->kv, K(f, "rev3"), "1", 1, 60000, K(f, "rev2"), INT64_MAX), CH_OK);
    assert_int_equal(ch_kv_get(f->kv, K(f, "rev2"), &v, NULL), CH_OK);
    assert_null(v);
}

/* A driver whose writes take a while, for the breaker alone: the probe replays its queue. */
static atomic_int g_slow_writes;

static ch_err_t slow_write(void)
{
    atomic_fetch_add(&g_slow_writes, 1);
    sleep_ms(20);
    return CH_OK;
}

static ch_err_t slow_set(void *impl, const char *key, const char *val, size_t len, int64_t ttl_ms)
{
    (void)impl, (void)key, (void)val, (void)len, (void)ttl_ms;
    return slow_write();
}

static ch_err_t slow_del(void *impl, const char *key)
{
    (void)impl, (void)key;
    return slow_write();
}

static ch_err_t slow_set_del(void *impl, const char *set_key, const char *val, size_t len, int64_t ttl_ms,
                             const char *del_key)
{
    (void)impl, (void)set_key, (void)val, (void)len, (void)ttl_ms, (void)del_key;
    return slow_write();
}

static ch_err_t slow_ping(void *impl)
{
    (void)impl;
    return CH_OK;
}

static const ch_kv_driver_t slow_driver = {
    .name = "slow", .set = slow_set, .del = slow_del, .set_del = slow_set_del, .ping = slow_ping,
};

/* Closing the store stops the probe's replay between two writes: with a slow store the whole
 * queue (up to CH_KV_RETRY_MAX writes of up to 1 s each) would hold ch_kv_close. */
static void test_close_stops_replay(void **state)
{
    (void)state;
    enum { QUEUED = 50 };
    atomic_store(&g_slow_writes, 0);
    ch_kv_breaker_t *b = ch_kv_breaker_create(&slow_driver, NULL, 3600000);
    assert_non_null(b);
    ch_kv_breaker_trip(b, "test");
    for (int i = 0; i < QUEUED; i++)
        assert_int_equal(ch_kv_breaker_enqueue(b, "k", "v", 1, 0, i & 1 ? "d" : NULL, INT64_MAX, NULL, 0), 0);
    ch_kv_breaker_set_interval(b, 1); /* the probe finds the store back and replays */
    while (atomic_load(&g_slow_writes) == 0)
        sleep_ms(1);
    ch_kv_breaker_destroy(b); /* frees what was not replayed (LeakSanitizer checks) */
    int done = atomic_load(&g_slow_writes);
    assert_true(done >= 1);
    assert_true(done < QUEUED);
}

/* ---- main --------------------------------------------------------------------------- */

#define MEM(t) cmocka_unit_test_setup_teardown(t, setup_mem, teardown)

#define REDIS(t) cmocka_unit_test_setup_teardown(t, setup_redis, teardown)

int main(void)
{
    const struct CMUnitTest mem_tests[] = {
        MEM(test_get_missing),     MEM(test_set_get_overwrite), MEM(test_binary_value),
        MEM(test_ttl_expiry),      MEM(test_del),               MEM(test_many_keys),
        MEM(test_incr_window),     MEM(test_incr_not_integer),  MEM(test_incr_concurrent),
        MEM(test_bad_arguments),   cmocka_unit_test(test_open_urls), cmocka_unit_test(test_redis_down),
        MEM(test_memory_bound_evicts), MEM(test_memory_bound_refuses_too_big), MEM(test_memory_accounting_balances),
        MEM(test_mem_has_no_outage),   cmocka_unit_test(test_redis_hung_trips_breaker),
        MEM(test_set_del),             cmocka_unit_test(test_close_stops_replay),
    };
    const struct CMUnitTest redis_tests[] = {
        REDIS(test_get_missing),   REDIS(test_set_get_overwrite), REDIS(test_binary_value),
        REDIS(test_ttl_expiry),    REDIS(test_del),               REDIS(test_many_keys),
        REDIS(test_incr_window),   REDIS(test_incr_not_integer),  REDIS(test_incr_concurrent),
        REDIS(test_bad_arguments), REDIS(test_set_del),
    };
    int failed = cmocka_run_group_tests_name("kv_memory", mem_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("kv_redis", redis_tests, NULL, NULL);
    return failed;
}
