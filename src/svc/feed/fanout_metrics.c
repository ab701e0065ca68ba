/* The fan-out's counters and its delivery-latency histogram (lock-free atomics). */
#include <stdatomic.h>

#include "core/clock.h"
#include "core/metrics.h"
#include "svc/feed/fanout.h"

/* Delivery latency buckets, seconds (the goal is p99 <= 1 s for ordinary authors). */
static const double ch__buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define CH__NBUCKETS (sizeof(ch__buckets) / sizeof(ch__buckets[0]))

static _Atomic uint64_t ch__bucket_counts[CH__NBUCKETS + 1]; /* the last one: +Inf only */
static _Atomic uint64_t ch__delivered, ch__delivered_us, ch__writes;
static _Atomic uint64_t ch__skipped[CH__FEED_SKIP_COUNT];
static atomic_int ch__renderer_added;

static const char *const ch__skip_names[CH__FEED_SKIP_COUNT] = {"inactive", "pull", "celebrity"};

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out, "# HELP chorus_feed_delivery_seconds Time from a post's creation (its acknowledgement) to "
                       "its arrival in followers' home timelines, one observation per batch of followers.\n"
                       "# TYPE chorus_feed_delivery_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t b = 0; b < CH__NBUCKETS; b++) {
        cumulative += atomic_load(&ch__bucket_counts[b]);
        ch_buf_printf(out, "chorus_feed_delivery_seconds_bucket{le=\"%g\"} %llu\n", ch__buckets[b],
                      (unsigned long long)cumulative);
    }
    cumulative += atomic_load(&ch__bucket_counts[CH__NBUCKETS]);
    ch_buf_printf(out,
                  "chorus_feed_delivery_seconds_bucket{le=\"+Inf\"} %llu\n"
                  "chorus_feed_delivery_seconds_sum %.6f\nchorus_feed_delivery_seconds_count %llu\n"
                  "# HELP chorus_feed_fanout_writes_total Home-timeline inserts made by the fan-out.\n"
                  "# TYPE chorus_feed_fanout_writes_total counter\nchorus_feed_fanout_writes_total %llu\n"
                  "# HELP chorus_feed_fanout_skipped_total Followers an item was not pushed to: timeline "
                  "inactive, pulled by the per-pair policy, or the author is a celebrity (pulled by all).\n"
                  "# TYPE chorus_feed_fanout_skipped_total counter\n",
                  (unsigned long long)cumulative, (double)atomic_load(&ch__delivered_us) / 1e6,
                  (unsigned long long)atomic_load(&ch__delivered), (unsigned long long)atomic_load(&ch__writes));
    for (int i = 0; i < CH__FEED_SKIP_COUNT; i++)
        ch_buf_printf(out, "chorus_feed_fanout_skipped_total{reason=\"%s\"} %llu\n", ch__skip_names[i],
                      (unsigned long long)atomic_load(&ch__skipped[i]));
}

void ch_feed_metrics_init(void)
{
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
}

void ch_feed_metrics_delivered(int64_t created_ms)
{
    int64_t ms = ch_now_ms() - created_ms;
    double secs = ms > 0 ? (double)ms / 1000.0 : 0;
    size_t b = 0;
    while (b < CH__NBUCKETS && secs > ch__buckets[b])
        b++;
    atomic_fetch_add(&ch__bucket_counts[b], 1);
    atomic_fetch_add(&ch__delivered, 1);
    atomic_fetch_add(&ch__delivered_us, (uint64_t)(ms > 0 ? ms : 0) * 1000);
}

void ch_feed_metrics_writes(uint64_t n)
{
    atomic_fetch_add(&ch__writes, n);
}

void ch_feed_metrics_skipped(ch_feed_skip_t why, uint64_t n)
{
    if (why < CH__FEED_SKIP_COUNT)
        atomic_fetch_add(&ch__skipped[why], n);
}
