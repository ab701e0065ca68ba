/* The home timelines' deferred read-rate touches (touch_queue.h). */
#include "svc/feed/touch_queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/timeline.h"
#include "svc/feed/policy.h"
#include "svc/feed/seen.h"

/* The bumps one pass applies to a viewer at most (a flood of one viewer's reads is one rate). */
#define CH__BUMPS_MAX 1000

typedef struct {
    uint64_t viewer; /* 0: empty */
    uint32_t reads;
    int64_t last_ms;
} ch__pending_t;

typedef struct {
    uint64_t viewer; /* 0: empty */
    size_t n;
    ch_item_key_t keys[CH_FEED_SEEN_PENDING_KEYS]; /* newest first */
} ch__seen_t;

static ch__seen_t ch__seen[CH_FEED_SEEN_PENDING];
static size_t ch__seen_used;
static _Atomic uint64_t ch__seen_noted, ch__seen_dropped;
static pthread_mutex_t ch__mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ch__cond = PTHREAD_COND_INITIALIZER;
static ch__pending_t ch__slots[CH_FEED_TOUCH_PENDING];
static size_t ch__used;
static int ch__state; /* 0 not started, 1 running, 2 stopping or stopped */
static pthread_t ch__thread;
static ch_svc_t *ch__svc;
static _Atomic uint64_t ch__noted, ch__dropped, ch__touched, ch__failed;
static atomic_int ch__renderer_added;

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_feed_touches_total Home-timeline read-rate touches made off the request: noted, "
                  "dropped (pending table full for that slot, thread not running), applied, failed (store).\n"
                  "# TYPE chorus_feed_touches_total counter\n"
                  "chorus_feed_touches_total{result=\"noted\"} %llu\nchorus_feed_touches_total{result=\"dropped\"} %llu\n"
                  "chorus_feed_touches_total{result=\"applied\"} %llu\nchorus_feed_touches_total{result=\"failed\"} %llu\n",
                  (unsigned long long)atomic_load(&ch__noted), (unsigned long long)atomic_load(&ch__dropped),
                  (unsigned long long)atomic_load(&ch__touched), (unsigned long long)atomic_load(&ch__failed));
    ch_buf_printf(out,
                  "# HELP chorus_feed_seen_later_total Feed pages served on the loop whose seen-set update was "
                  "noted for the feed's background thread, or dropped (its slot held another viewer).\n"
                  "# TYPE chorus_feed_seen_later_total counter\n"
                  "chorus_feed_seen_later_total{result=\"noted\"} %llu\nchorus_feed_seen_later_total{result=\"dropped\"} %llu\n",
                  (unsigned long long)atomic_load(&ch__seen_noted), (unsigned long long)atomic_load(&ch__seen_dropped));
}

/* Touches batch[0..n): one meta round trip, then one touch each. */
static void ch__apply(ch_svc_t *svc, const ch__pending_t *batch, size_t n)
{
    uint64_t users[CH_TIMELINE_BATCH_MAX] = {0}; /* -O2 cannot tell n <= the batch fills it */
    ch_timeline_meta_t metas[CH_TIMELINE_BATCH_MAX];
    for (size_t i = 0; i < n; i++)
        users[i] = batch[i].viewer;
    if (ch_timeline_meta_many(svc->timelines, users, n, metas) != CH_OK) {
        atomic_fetch_add(&ch__failed, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!metas[i].exists) /* dropped meanwhile: the next read rebuilds it */
            continue;
        double rate = metas[i].read_rate;
        int64_t at = metas[i].last_read_ms;
        /* A read touched directly since (on a worker) may be newer than the noted ones: the
         * last read time never goes back. */
        int64_t last = batch[i].last_ms > at ? batch[i].last_ms : at;
        uint32_t k = batch[i].reads < CH__BUMPS_MAX ? batch[i].reads : CH__BUMPS_MAX;
        for (uint32_t b = 0; b < k; b++) {
            rate = ch_feed_rate_bump(rate, at, last, CH_FEED_READ_RATE_HALF_LIFE_MS);
            at = last;
        }
        if (ch_timeline_touch(svc->timelines, users[i], last, rate) == CH_OK)
            atomic_fetch_add(&ch__touched, 1);
        else
            atomic_fetch_add(&ch__failed, 1);
    }
}

/* Takes what is pending (at most CH_TIMELINE_BATCH_MAX) into batch; the count. Under ch__mu. */
static size_t ch__take(ch__pending_t *batch)
{
    size_t n = 0;
    for (size_t i = 0; i < CH_FEED_TOUCH_PENDING && ch__used && n < CH_TIMELINE_BATCH_MAX; i++) {
        if (!ch__slots[i].viewer)
            continue;
        batch[n++] = ch__slots[i];
        memset(&ch__slots[i], 0, sizeof(ch__slots[i]));
        ch__used--;
    }
    return n;
}

static void *ch__main(void *arg)
{
    ch_svc_t *svc = arg;
    ch__pending_t *batch = ch_malloc(CH_TIMELINE_BATCH_MAX * sizeof(*batch));
    ch__seen_t *seen = ch_malloc(sizeof(*seen));
    pthread_mutex_lock(&ch__mu);
    for (;;) {
        int took = 0; /* one seen page per turn, under the lock only to copy it */
        for (size_t i = 0; i < CH_FEED_SEEN_PENDING && ch__seen_used && !took; i++) {
            if (!ch__seen[i].viewer)
                continue;
            *seen = ch__seen[i];
            ch__seen[i].viewer = 0;
            ch__seen[i].n = 0;
            ch__seen_used--;
            took = 1;
        }
        if (took) {
            pthread_mutex_unlock(&ch__mu);
            if (ch_feed_seen_add(svc, seen->viewer, seen->keys, seen->n) != CH_OK)
                ch_log_warn("feed: seen set not updated");
            pthread_mutex_lock(&ch__mu);
        }
        /* then one touch batch: seen pages arriving faster than they are written must not
         * starve the touches (each turn takes one of each) */
        size_t n = ch__take(batch);
        if (n) {
            pthread_mutex_unlock(&ch__mu);
            ch__apply(svc, batch, n);
            pthread_mutex_lock(&ch__mu);
        }
        if (took || n)
            continue; /* until both are empty */
        if (ch__state != 1)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CH_FEED_TOUCH_PASS_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ch__cond, &ch__mu, &ts);
    }
    pthread_mutex_unlock(&ch__mu);
    free(seen);
    free(batch);
    return NULL;
}

/* Starts the thread at the first note. Under ch__mu. */
static void ch__start(ch_svc_t *svc)
{
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
    if (ch__state == 0) {
        ch__svc = svc;
        if (pthread_create(&ch__thread, NULL, ch__main, svc) == 0) {
            ch__state = 1;
        } else {
            ch__state = 2;
            ch_log_error("feed: cannot start the touch thread; read rates of cached reads are not recorded");
        }
    }
}

int ch_feed_seen_later(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n)
{
    if (!viewer || !n)
        return 0;
    pthread_mutex_lock(&ch__mu);
    ch__start(svc);
    int noted = 0;
    ch__seen_t *s = &ch__seen[((viewer * 0x9E3779B97F4A7C15ULL) >> 32) % CH_FEED_SEEN_PENDING];
    if (ch__state == 1 && ch__svc == svc && (s->viewer == 0 || s->viewer == viewer)) {
        /* this page's keys first, then the older pending ones not among them, the newest kept */
        ch_item_key_t merged[CH_FEED_SEEN_PENDING_KEYS];
        size_t m = 0;
        for (size_t i = 0; i < n && m < CH_FEED_SEEN_PENDING_KEYS; i++)
            merged[m++] = keys[i];
        for (size_t i = 0; s->viewer && i < s->n && m < CH_FEED_SEEN_PENDING_KEYS; i++) {
            int dup = 0;
            for (size_t j = 0; j < n && !dup; j++)
                dup = keys[j].type == s->keys[i].type && keys[j].id == s->keys[i].id;
            if (!dup)
                merged[m++] = s->keys[i];
        }
        if (!s->viewer)
            ch__seen_used++;
        s->viewer = viewer;
        memcpy(s->keys, merged, m * sizeof(merged[0]));
        s->n = m;
        noted = 1;
    }
    pthread_mutex_unlock(&ch__mu);
    atomic_fetch_add(noted ? &ch__seen_noted : &ch__seen_dropped, 1);
    return noted;
}

int ch_feed_touch_later(ch_svc_t *svc, uint64_t viewer, int64_t now_ms)
{
    if (!viewer || !svc->timelines)
        return 0;
    pthread_mutex_lock(&ch__mu);
    ch__start(svc);
    int noted = 0;
    ch__pending_t *s = &ch__slots[((viewer * 0x9E3779B97F4A7C15ULL) >> 32) % CH_FEED_TOUCH_PENDING];
    if (ch__state == 1 && ch__svc == svc && (s->viewer == 0 || s->viewer == viewer)) {
        if (!s->viewer) {
            s->viewer = viewer;
            ch__used++;
        }
        if (s->reads < UINT32_MAX)
            s->reads++;
        if (now_ms > s->last_ms)
            s->last_ms = now_ms;
        noted = 1;
    }
    pthread_mutex_unlock(&ch__mu);
    atomic_fetch_add(noted ? &ch__noted : &ch__dropped, 1);
    return noted;
}

void ch_feed_touch_stop(void)
{
    pthread_mutex_lock(&ch__mu);
    int running = ch__state == 1;
    ch__state = 2;
    pthread_cond_signal(&ch__cond);
    pthread_mutex_unlock(&ch__mu);
    if (running)
        pthread_join(ch__thread, NULL);
}
