/* The kv breaker's kept writes and their fates (store/kv_breaker.h, kv.h
 * ch_kv_set_kept_hook): a noted write kept while the store is down is told, once the gate is
 * open again, whether it landed or was dropped (queue full, deadline passed, refused), with
 * its note; a write without a note is not; the fates waiting are bounded. The store is a
 * driver double that refuses or takes writes as the test says: the breaker is all that is
 * tested here (the Redis driver's side is in test_kv.c and tests/blackbox/test_kv_degraded.py). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "store/kv.h"
#include "store/kv_breaker.h"

/* ---- the store double: answers what g_answer says ------------------------------------- */

static atomic_int g_answer;     /* what writes and pings answer (a ch_err_t) */
static atomic_int g_writes;     /* writes that reached the store */

static ch_err_t fake_write(void)
{
    atomic_fetch_add(&g_writes, 1);
    return (ch_err_t)atomic_load(&g_answer);
}

static ch_err_t fake_set(void *impl, const char *key, const char *val, size_t len, int64_t ttl_ms)
{
    (void)impl, (void)key, (void)val, (void)len, (void)ttl_ms;
    return fake_write();
}

static ch_err_t fake_del(void *impl, const char *key)
{
    (void)impl, (void)key;
    return fake_write();
}

static ch_err_t fake_set_del(void *impl, const char *set_key, const char *val, size_t len, int64_t ttl_ms,
                             const char *del_key)
{
    (void)impl, (void)set_key, (void)val, (void)len, (void)ttl_ms, (void)del_key;
    return fake_write();
}

/* The store is "back" for the probe once g_answer is anything but unavailable. */
static ch_err_t fake_ping(void *impl)
{
    (void)impl;
    return atomic_load(&g_answer) == CH_EUNAVAILABLE ? CH_EUNAVAILABLE : CH_OK;
}

static const ch_kv_driver_t fake_driver = {
    .name = "fake", .set = fake_set, .del = fake_del, .set_del = fake_set_del, .ping = fake_ping,
};

/* ---- what the hook heard -------------------------------------------------------------- */

#define HEARD_MAX (2 * CH_KV_RETRY_MAX + 8)

typedef struct {
    ch_kv_breaker_t *b;
    pthread_mutex_t mu;
    size_t n;
    ch_kv_kept_fate_t fate[HEARD_MAX];
    uint64_t note[HEARD_MAX];
    int gate_open[HEARD_MAX]; /* the store took calls when the hook was told */
} heard_t;

static void hook(void *ctx, ch_kv_kept_fate_t fate, const void *note, size_t len)
{
    heard_t *h = ctx;
    uint64_t v = 0;
    assert_int_equal(len, sizeof(v));
    memcpy(&v, note, sizeof(v));
    int open = ch_kv_breaker_allow(h->b) && ch_kv_breaker_recovered_at(h->b) > 0;
    pthread_mutex_lock(&h->mu);
    if (h->n < HEARD_MAX) {
        h->fate[h->n] = fate;
        h->note[h->n] = v;
        h->gate_open[h->n] = open;
        h->n++;
    }
    pthread_mutex_unlock(&h->mu);
}

static size_t heard_count(heard_t *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->n;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Waits (at most 60 s: a bound for a hung test, not a speed check) until the hook heard n. */
static void wait_heard(heard_t *h, size_t n)
{
    for (int i = 0; i < 60000 && heard_count(h) < n; i++)
        sleep_ms(1);
    assert_int_equal(heard_count(h), n);
}

static int metric_has(ch_kv_breaker_t *b, const char *text)
{
    ch_buf_t buf = CH_BUF_INIT;
    ch_kv_breaker_render_metrics(b, &buf);
    int found = buf.data && strstr(buf.data, text) != NULL;
    ch_buf_clear(&buf);
    return found;
}

/* A breaker whose store is down (writes refused), with the hook set; the probe is idle
 * until back() makes it try every ms. */
static heard_t *setup_down(void)
{
    heard_t *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    pthread_mutex_init(&h->mu, NULL);
    atomic_store(&g_answer, CH_EUNAVAILABLE);
    atomic_store(&g_writes, 0);
    h->b = ch_kv_breaker_create(&fake_driver, NULL, 3600000);
    assert_non_null(h->b);
    ch_kv_breaker_set_hook(h->b, hook, h);
    ch_kv_breaker_trip(h->b, "test");
    return h;
}

static void back(heard_t *h, ch_err_t answer)
{
    atomic_store(&g_answer, answer);
    ch_kv_breaker_set_interval(h->b, 1);
}

static void teardown_heard(heard_t *h)
{
    ch_kv_breaker_destroy(h->b);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static int enqueue(heard_t *h, uint64_t note, int64_t until_ms)
{
    return ch_kv_breaker_enqueue(h->b, "sess:rev:1", "1", 1, 60000, "sess:ok:1", until_ms, &note, sizeof(note));
}

/* ---- tests ---------------------------------------------------------------------------- */

/* Landed: told once the gate is open (so the hook may call the store), in queue order, with
 * the notes; a write without a note is replayed but not told. */
static void test_landed_told_after_the_gate_opens(void **state)
{
    (void)state;
    heard_t *h = setup_down();
    assert_int_equal(enqueue(h, 11, INT64_MAX), 0);
    assert_int_equal(ch_kv_breaker_enqueue(h->b, "k", "v", 1, 0, NULL, INT64_MAX, NULL, 0), 0);
    assert_int_equal(enqueue(h, 12, INT64_MAX), 0);
    sleep_ms(20);
    assert_int_equal(heard_count(h), 0); /* nothing while the store is down */
    back(h, CH_OK);
    wait_heard(h, 2);
    assert_int_equal(atomic_load(&g_writes), 3);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(h->fate[i], CH_KV_KEPT_LANDED);
        assert_true(h->gate_open[i]);
    }
    assert_int_equal(h->note[0], 11);
    assert_int_equal(h->note[1], 12);
    assert_true(metric_has(h->b, "chorus_kv_retry_done_total{fate=\"landed\"} 3\n"));
    teardown_heard(h);
}

/* A full queue pushes its oldest write out: told as dropped (first, when the store is back),
 * the others as landed. */
static void test_dropped_when_full(void **state)
{
    (void)state;
    heard_t *h = setup_down();
    for (uint64_t i = 0; i <= CH_KV_RETRY_MAX; i++)
        assert_int_equal(enqueue(h, i, INT64_MAX), 0);
    assert_true(metric_has(h->b, "chorus_kv_retry_dropped_total 1\n"));
    back(h, CH_OK);
    wait_heard(h, (size_t)CH_KV_RETRY_MAX + 1);
    assert_int_equal(h->fate[0], CH_KV_KEPT_DROPPED_FULL);
    assert_int_equal(h->note[0], 0);
    assert_int_equal(h->fate[1], CH_KV_KEPT_LANDED);
    assert_int_equal(h->note[1], 1);
    assert_int_equal(h->fate[CH_KV_RETRY_MAX], CH_KV_KEPT_LANDED);
    assert_int_equal(h->note[CH_KV_RETRY_MAX], CH_KV_RETRY_MAX);
    assert_int_equal(atomic_load(&g_writes), CH_KV_RETRY_MAX);
    assert_true(metric_has(h->b, "chorus_kv_retry_done_total{fate=\"dropped_full\"} 1\n"));
    teardown_heard(h);
}

/* Past its deadline when the store is back: not written, told as dropped late. */
static void test_deadline_passed(void **state)
{
    (void)state;
    heard_t *h = setup_down();
    assert_int_equal(enqueue(h, 7, ch_now_ms() - 1), 0);
    assert_int_equal(enqueue(h, 8, INT64_MAX), 0);
    back(h, CH_OK);
    wait_heard(h, 2);
    assert_int_equal(h->fate[0], CH_KV_KEPT_DROPPED_LATE);
    assert_int_equal(h->note[0], 7);
    assert_int_equal(h->fate[1], CH_KV_KEPT_LANDED);
    assert_int_equal(atomic_load(&g_writes), 1);
    assert_true(metric_has(h->b, "chorus_kv_retry_done_total{fate=\"dropped_late\"} 1\n"));
    teardown_heard(h);
}

/* Refused with an error that is not an outage: dropped, told as refused. */
static void test_refused(void **state)
{
    (void)state;
    heard_t *h = setup_down();
    assert_int_equal(enqueue(h, 9, INT64_MAX), 0);
    back(h, CH_EINTERNAL);
    wait_heard(h, 1);
    assert_int_equal(h->fate[0], CH_KV_KEPT_DROPPED_FAILED);
    assert_int_equal(h->note[0], 9);
    teardown_heard(h);
}

/* The fates waiting for the gate are bounded (2 MAX): past that the oldest are forgotten
 * (counted), the rest told. 3 MAX + 1 writes: 2 MAX + 1 pushed out of the queue (note 0
 * forgotten), then the MAX landings of the replay push out notes 1..MAX. */
static void test_fates_waiting_are_bounded(void **state)
{
    (void)state;
    const uint64_t max = CH_KV_RETRY_MAX;
    heard_t *h = setup_down();
    for (uint64_t i = 0; i <= 3 * max; i++)
        assert_int_equal(enqueue(h, i, INT64_MAX), 0);
    assert_true(metric_has(h->b, "chorus_kv_retry_notes_lost_total 1\n"));
    back(h, CH_OK);
    wait_heard(h, 2 * (size_t)max);
    assert_int_equal(h->fate[0], CH_KV_KEPT_DROPPED_FULL);
    assert_int_equal(h->note[0], max + 1);
    assert_int_equal(h->fate[max - 1], CH_KV_KEPT_DROPPED_FULL);
    assert_int_equal(h->note[max - 1], 2 * max);
    assert_int_equal(h->fate[max], CH_KV_KEPT_LANDED);
    assert_int_equal(h->note[max], 2 * max + 1);
    char want[80];
    snprintf(want, sizeof(want), "chorus_kv_retry_notes_lost_total %llu\n", (unsigned long long)max + 1);
    assert_true(metric_has(h->b, want));
    teardown_heard(h);
}

/* With the hook off (what a process does before its hook's context goes), nothing is told;
 * the notes are freed (LeakSanitizer checks), and so are those a destroyed breaker held. */
static void test_hook_off(void **state)
{
    (void)state;
    heard_t *h = setup_down();
    assert_int_equal(enqueue(h, 1, INT64_MAX), 0);
    ch_kv_breaker_set_hook(h->b, NULL, NULL);
    back(h, CH_OK);
    /* the gate opens and the fates are taken in one hold of the breaker's lock */
    for (int i = 0; i < 60000 && !ch_kv_breaker_allow(h->b); i++)
        sleep_ms(1);
    assert_int_equal(atomic_load(&g_writes), 1);
    atomic_store(&g_answer, CH_EUNAVAILABLE);
    ch_kv_breaker_trip(h->b, "test again");
    ch_kv_breaker_set_hook(h->b, hook, h);
    assert_int_equal(enqueue(h, 2, ch_now_ms() - 1), 0);
    assert_int_equal(enqueue(h, 3, INT64_MAX), 0); /* still queued at destroy: freed */
    sleep_ms(20);
    assert_int_equal(heard_count(h), 0); /* the first was landed while the hook was off */
    teardown_heard(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_landed_told_after_the_gate_opens),
        cmocka_unit_test(test_dropped_when_full),
        cmocka_unit_test(test_deadline_passed),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_fates_waiting_are_bounded),
        cmocka_unit_test(test_hook_off),
    };
    return cmocka_run_group_tests_name("kv_kept", tests, NULL, NULL);
}
