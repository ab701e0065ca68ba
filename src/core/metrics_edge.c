#include "core/metrics_edge.h"

#include <stdatomic.h>

static const double ch__lag_buckets[] = {0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,   1.0,   2.5,  5.0,   10.0};
#define CH__NLAG (sizeof(ch__lag_buckets) / sizeof(ch__lag_buckets[0]))

typedef struct {
    _Atomic int used;
    _Atomic uint64_t buckets[CH__NLAG];
    _Atomic uint64_t count, sum_ns;
    /* the max gauge: the current window's max and the previous one's */
    _Atomic int64_t window_start_ms;
    _Atomic uint64_t max_cur_ns, max_prev_ns;
} ch__loop_lag_t;

static ch__loop_lag_t ch__loops[CH_METRICS_MAX_LOOPS];
static _Atomic uint64_t ch__refused[CH__REFUSED_COUNT];
static _Atomic uint64_t ch__loop_reads_moved;
static _Atomic uint64_t ch__loop_reads_handed;
static _Atomic uint64_t ch__loop_reads_served;
static const char *const ch__refused_names[CH__REFUSED_COUNT] = {"per_address", "total"};

static ch__loop_lag_t *ch__loop(unsigned loop)
{
    return &ch__loops[loop < CH_METRICS_MAX_LOOPS ? loop : CH_METRICS_MAX_LOOPS - 1];
}

/* Starts a new max window when the current one is over (one thread wins the swap). */
static void ch__roll(ch__loop_lag_t *l, int64_t now_ms)
{
    int64_t start = atomic_load(&l->window_start_ms);
    if (now_ms - start >= CH_LOOP_LAG_MAX_WINDOW_MS &&
        atomic_compare_exchange_strong(&l->window_start_ms, &start, now_ms)) {
        /* two windows gone by without a sample: nothing recent to show */
        atomic_store(&l->max_prev_ns, now_ms - start >= 2 * CH_LOOP_LAG_MAX_WINDOW_MS ? 0 : atomic_load(&l->max_cur_ns));
        atomic_store(&l->max_cur_ns, 0);
    }
}

void ch_metrics_loop_register(unsigned loop)
{
    atomic_store(&ch__loop(loop)->used, 1);
}

void ch_metrics_loop_lag(unsigned loop, uint64_t lag_ns, int64_t now_ms)
{
    ch__loop_lag_t *l = ch__loop(loop);
    atomic_store(&l->used, 1);
    double s = (double)lag_ns / 1e9;
    for (size_t b = 0; b < CH__NLAG; b++)
        if (s <= ch__lag_buckets[b]) {
            atomic_fetch_add(&l->buckets[b], 1);
            break;
        }
    atomic_fetch_add(&l->count, 1);
    atomic_fetch_add(&l->sum_ns, lag_ns);
    ch__roll(l, now_ms);
    uint64_t cur = atomic_load(&l->max_cur_ns);
    while (lag_ns > cur && !atomic_compare_exchange_weak(&l->max_cur_ns, &cur, lag_ns))
        ;
}

void ch_metrics_conn_refused(ch_refused_reason_t reason)
{
    atomic_fetch_add(&ch__refused[reason], 1);
}

void ch_metrics_loop_read_moved(void)
{
    atomic_fetch_add(&ch__loop_reads_moved, 1);
}

void ch_metrics_loop_read_served(void)
{
    atomic_fetch_add_explicit(&ch__loop_reads_served, 1, memory_order_relaxed);
}

void ch_metrics_loop_read_handed(void)
{
    atomic_fetch_add(&ch__loop_reads_handed, 1);
}

void ch_metrics_edge_render(ch_buf_t *out, int64_t now_ms)
{
    ch_buf_printf(out, "# HELP chorus_event_loop_lag_seconds How late an event-loop thread ran a timer that "
                       "was due (time the loop was busy or blocked).\n"
                       "# TYPE chorus_event_loop_lag_seconds histogram\n");
    for (unsigned i = 0; i < CH_METRICS_MAX_LOOPS; i++) {
        ch__loop_lag_t *l = &ch__loops[i];
        if (!atomic_load(&l->used))
            continue;
        uint64_t cumulative = 0;
        for (size_t b = 0; b < CH__NLAG; b++) {
            cumulative += atomic_load(&l->buckets[b]);
            ch_buf_printf(out, "chorus_event_loop_lag_seconds_bucket{loop=\"%u\",le=\"%g\"} %llu\n", i,
                          ch__lag_buckets[b], (unsigned long long)cumulative);
        }
        uint64_t count = atomic_load(&l->count);
        ch_buf_printf(out,
                      "chorus_event_loop_lag_seconds_bucket{loop=\"%u\",le=\"+Inf\"} %llu\n"
                      "chorus_event_loop_lag_seconds_sum{loop=\"%u\"} %.9f\n"
                      "chorus_event_loop_lag_seconds_count{loop=\"%u\"} %llu\n",
                      i, (unsigned long long)count, i, (double)atomic_load(&l->sum_ns) / 1e9, i,
                      (unsigned long long)count);
    }
    ch_buf_printf(out, "# HELP chorus_event_loop_lag_max_seconds The largest event-loop lag of the last one to "
                       "two minutes.\n# TYPE chorus_event_loop_lag_max_seconds gauge\n");
    for (unsigned i = 0; i < CH_METRICS_MAX_LOOPS; i++) {
        ch__loop_lag_t *l = &ch__loops[i];
        if (!atomic_load(&l->used))
            continue;
        ch__roll(l, now_ms);
        uint64_t cur = atomic_load(&l->max_cur_ns), prev = atomic_load(&l->max_prev_ns);
        ch_buf_printf(out, "chorus_event_loop_lag_max_seconds{loop=\"%u\"} %.9f\n", i,
                      (double)(cur > prev ? cur : prev) / 1e9);
    }
    ch_buf_printf(out, "# HELP chorus_loop_reads_total Calls run inline on an event loop and answered there.\n"
                       "# TYPE chorus_loop_reads_total counter\nchorus_loop_reads_total %llu\n",
                  (unsigned long long)atomic_load(&ch__loop_reads_served));
    ch_buf_printf(out, "# HELP chorus_loop_reads_moved_total Calls run inline on an event loop that met a "
                       "database lock (or, in cluster mode, a backend call refused under the loop guard: "
                       "not in the L1) and were run again on a worker thread.\n"
                       "# TYPE chorus_loop_reads_moved_total counter\nchorus_loop_reads_moved_total %llu\n",
                  (unsigned long long)atomic_load(&ch__loop_reads_moved));
    ch_buf_printf(out, "# HELP chorus_loop_reads_handed_total Calls run inline on an event loop whose "
                       "handler asked to be run again on a worker thread (statements to run).\n"
                       "# TYPE chorus_loop_reads_handed_total counter\nchorus_loop_reads_handed_total %llu\n",
                  (unsigned long long)atomic_load(&ch__loop_reads_handed));
    ch_buf_printf(out, "# HELP chorus_connections_refused_total Connections closed at accept because a cap "
                       "was reached.\n# TYPE chorus_connections_refused_total counter\n");
    for (int r = 0; r < CH__REFUSED_COUNT; r++)
        ch_buf_printf(out, "chorus_connections_refused_total{cap=\"%s\"} %llu\n", ch__refused_names[r],
                      (unsigned long long)atomic_load(&ch__refused[r]));
}
