/* Prometheus metrics (core/metrics.h): histogram buckets are cumulative, _count and _sum
 * agree with what was observed, gauges and counters render their values. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/metrics.h"

#define H "http_server_request_duration_seconds"

/* Whether text has line as one complete line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

static void expect_line(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect_line(const char *text, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (!has_line(text, line))
        fail_msg("missing line: %s\n--- exposition ---\n%s", line, text);
}

static char *render(ch_buf_t *b)
{
    ch_buf_clear(b);
    ch_metrics_render(b);
    assert_non_null(b->data);
    assert_int_equal(strlen(b->data), b->len);
    return b->data;
}

static void test_histogram(void **state)
{
    static const char method[] = "GET", route[] = "/v1/things/{id}";
    size_t idx = ch_metrics_register_route(method, route);
    assert_int_equal(ch_metrics_register_route(method, route), idx); /* same strings, same slot */

    ch_metrics_observe(idx, 200, 300000);          /* 0.3 ms  -> le 0.0005 */
    ch_metrics_observe(idx, 200, 1000000);         /* 1 ms    -> le 0.001 (inclusive bound) */
    ch_metrics_observe(idx, 200, 2000000);         /* 2 ms    -> le 0.0025 */
    ch_metrics_observe(idx, 200, 700000000);       /* 0.7 s   -> le 1 */
    ch_metrics_observe(idx, 200, 20000000000ULL);  /* 20 s    -> only +Inf */
    ch_metrics_observe(idx, 404, 1500000);         /* 1.5 ms  -> le 0.0025 */

    ch_buf_t b = CH_BUF_INIT;
    const char *t = render(&b);
    assert_true(has_line(t, "# TYPE " H " histogram"));

#define L200 "method=\"GET\",route=\"/v1/things/{id}\",status=\"200\""
#define L404 "method=\"GET\",route=\"/v1/things/{id}\",status=\"404\""
    const struct {
        const char *le;
        unsigned n200, n404;
    } want[] = {
        {"0.0005", 1, 0}, {"0.001", 2, 0}, {"0.0025", 3, 1}, {"0.005", 3, 1}, {"0.01", 3, 1},
        {"0.025", 3, 1},  {"0.05", 3, 1},  {"0.1", 3, 1},    {"0.25", 3, 1},  {"0.5", 3, 1},
        {"1", 4, 1},      {"2.5", 4, 1},   {"5", 4, 1},      {"10", 4, 1},    {"+Inf", 5, 1},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        expect_line(t, H "_bucket{" L200 ",le=\"%s\"} %u", want[i].le, want[i].n200);
        expect_line(t, H "_bucket{" L404 ",le=\"%s\"} %u", want[i].le, want[i].n404);
    }
    expect_line(t, H "_count{" L200 "} 5");
    expect_line(t, H "_sum{" L200 "} 20.703300000");
    expect_line(t, H "_count{" L404 "} 1");
    expect_line(t, H "_sum{" L404 "} 0.001500000");
    /* No status that was never observed. */
    assert_null(strstr(t, "status=\"500\""));

    /* Observing more moves the numbers. */
    ch_metrics_observe(idx, 404, 100000);
    t = render(&b);
    expect_line(t, H "_bucket{" L404 ",le=\"0.0005\"} 1");
    expect_line(t, H "_bucket{" L404 ",le=\"+Inf\"} 2");
    expect_line(t, H "_count{" L404 "} 2");
    expect_line(t, H "_sum{" L404 "} 0.001600000");
    ch_buf_clear(&b);
}

static void test_unobserved_and_out_of_range(void **state)
{
    static const char method[] = "DELETE", route[] = "/v1/unused";
    size_t idx = ch_metrics_register_route(method, route);
    ch_buf_t b = CH_BUF_INIT;
    const char *t = render(&b);
    assert_null(strstr(t, "route=\"/v1/unused\"")); /* nothing observed, nothing rendered */

    /* An index that was never handed out is ignored, not a crash or a stray series. */
    size_t before = strlen(t);
    ch_metrics_observe(idx + 1000, 200, 1000);
    ch_metrics_observe(CH_METRICS_MAX_ROUTES + 5, 200, 1000);
    t = render(&b);
    assert_int_equal(strlen(t), before);
    ch_buf_clear(&b);
}

#define THREADS 4
#define PER_THREAD 10000

static void *observe_thread(void *p)
{
    size_t idx = *(size_t *)p;
    for (int i = 0; i < PER_THREAD; i++)
        ch_metrics_observe(idx, i % 2 ? 201 : 409, 1000);
    return NULL;
}

static void test_concurrent_observe(void **state)
{
    static const char method[] = "POST", route[] = "/v1/concurrent";
    size_t idx = ch_metrics_register_route(method, route);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, observe_thread, &idx), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    ch_buf_t b = CH_BUF_INIT;
    const char *t = render(&b);
    const unsigned half = THREADS * PER_THREAD / 2;
    expect_line(t, H "_count{method=\"POST\",route=\"/v1/concurrent\",status=\"201\"} %u", half);
    expect_line(t, H "_count{method=\"POST\",route=\"/v1/concurrent\",status=\"409\"} %u", half);
    expect_line(t, H "_bucket{method=\"POST\",route=\"/v1/concurrent\",status=\"201\",le=\"0.0005\"} %u", half);
    /* Each status has exactly one series (no slot claimed twice by racing threads). */
    const char *first = strstr(t, H "_count{method=\"POST\",route=\"/v1/concurrent\",status=\"201\"}");
    assert_non_null(first);
    assert_null(strstr(first + 1, H "_count{method=\"POST\",route=\"/v1/concurrent\",status=\"201\"}"));
    ch_buf_clear(&b);
}

static void test_gauges_and_counters(void **state)
{
    ch_buf_t b = CH_BUF_INIT;
    const char *t = render(&b);
    expect_line(t, "http_server_requests_in_flight 0");
    expect_line(t, "http_server_open_connections 0");
    expect_line(t, "chorus_worker_queue_depth 0");
    expect_line(t, "chorus_backend_errors_total{backend=\"db\"} 0");
    expect_line(t, "chorus_backend_errors_total{backend=\"kv\"} 0");

    ch_metrics_inflight_add(3);
    ch_metrics_inflight_add(-1);
    assert_int_equal(ch_metrics_inflight(), 2);
    ch_metrics_connections_add(5);
    ch_metrics_connections_add(-2);
    ch_metrics_queue_add(7);
    ch_metrics_backend_error(CH_BACKEND_DB);
    ch_metrics_backend_error(CH_BACKEND_DB);
    ch_metrics_backend_error(CH_BACKEND_KV);
    ch_metrics_backend_error((ch_backend_t)CH__BACKEND_COUNT); /* ignored */

    t = render(&b);
    assert_true(has_line(t, "# TYPE http_server_requests_in_flight gauge"));
    assert_true(has_line(t, "# TYPE chorus_backend_errors_total counter"));
    expect_line(t, "http_server_requests_in_flight 2");
    expect_line(t, "http_server_open_connections 3");
    expect_line(t, "chorus_worker_queue_depth 7");
    expect_line(t, "chorus_backend_errors_total{backend=\"db\"} 2");
    expect_line(t, "chorus_backend_errors_total{backend=\"kv\"} 1");
    expect_line(t, "chorus_build_info{version=\"%s\",revision=\"%s\"} 1", CHORUS_VERSION, CHORUS_GIT_REV);
    assert_true(t[b.len - 1] == '\n');

    ch_metrics_inflight_add(-2);
    ch_metrics_connections_add(-3);
    ch_metrics_queue_add(-7);
    assert_int_equal(ch_metrics_inflight(), 0);
    ch_buf_clear(&b);
}

/* The value of the consumer's lag sample in t, in seconds (fails when missing). */
static double consumer_lag(const char *t, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "\nchorus_consumer_lag_seconds{consumer=\"%s\"} ", name);
    const char *at = strstr(t, key);
    if (!at)
        fail_msg("no lag for %s\n--- exposition ---\n%s", name, t);
    return strtod(at + strlen(key), NULL);
}

/* The lag is the age of the oldest unapplied row taken when /metrics renders, so it keeps
 * growing between a consumer's reads (a consumer that cannot read its source is not shown
 * frozen); 0 once nothing waits. */
static void test_consumer_lag_is_age_at_render(void **state)
{
    ch_buf_t b = CH_BUF_INIT;
    ch_metrics_consumer_oldest("lag.test", ch_now_ms() - 90000);
    ch_metrics_consumer_oldest("lag.idle", 0);
    const char *t = render(&b);
    assert_true(has_line(t, "# TYPE chorus_consumer_lag_seconds gauge"));
    double lag = consumer_lag(t, "lag.test");
    assert_true(lag >= 90.0 && lag < 3600.0);
    expect_line(t, "chorus_consumer_lag_seconds{consumer=\"lag.idle\"} 0.000");
    /* Time passes with no new read (the database is away): the lag grows all the same. */
    struct timespec pause = {1, 100000000};
    nanosleep(&pause, NULL);
    t = render(&b);
    assert_true(consumer_lag(t, "lag.test") >= lag + 1.0);
    ch_metrics_consumer_oldest("lag.test", 0);
    t = render(&b);
    expect_line(t, "chorus_consumer_lag_seconds{consumer=\"lag.test\"} 0.000");
    ch_metrics_consumer_oldest("lag.test", ch_now_ms() + 5000); /* another node's clock ahead */
    t = render(&b);
    expect_line(t, "chorus_consumer_lag_seconds{consumer=\"lag.test\"} 0.000");
    ch_buf_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gauges_and_counters), /* first: gauges start at zero */
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_unobserved_and_out_of_range),
        cmocka_unit_test(test_concurrent_observe),
        cmocka_unit_test(test_consumer_lag_is_age_at_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
