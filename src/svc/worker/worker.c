#include "svc/worker/worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/clickhouse.h"
#include "store/timeline.h"
#include "svc/common/idempotency.h"
#include "svc/engage/notify.h"
#include "svc/engage/shipper.h"
#include "svc/engage/signals.h"
#include "svc/feed/fanout.h"
#include "svc/market/jobs.h"
#include "svc/market/reconcile.h"
#include "svc/worker/retention.h"

#define CH__BACKOFF_MAX_MS 10000

typedef struct ch__thread ch__thread_t;
/* One round of a thread's work; returns how long to wait before the next (ms). */
typedef int64_t (*ch__round_fn)(ch__thread_t *t);

struct ch__thread {
    ch_workers_t *owner;
    const char *name;
    ch__round_fn round;
    pthread_t thread;
    int started;
    int64_t backoff_ms; /* 0 while rounds succeed */
};

struct ch_workers {
    ch_svc_t *svc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int stopping;
    ch_shipper_t *shipper;
    ch__thread_t consumer, fanout, ship, retention, market, reconcile;
};

static const ch_consumer_t *const ch__consumers[] = {&ch_notify_outbox_consumer, &ch_notify_events_consumer,
                                                     &ch_signals_consumer};

/* The next wait after a failed round: doubles from first_ms up to CH__BACKOFF_MAX_MS. */
static int64_t ch__backoff(ch__thread_t *t, int64_t first_ms)
{
    t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : first_ms;
    if (t->backoff_ms > CH__BACKOFF_MAX_MS)
        t->backoff_ms = CH__BACKOFF_MAX_MS;
    return t->backoff_ms;
}

static int64_t ch__consume_round(ch__thread_t *t)
{
    ch_workers_t *w = t->owner;
    int busy = 0, failed = 0;
    for (size_t i = 0; i < sizeof(ch__consumers) / sizeof(ch__consumers[0]) && !atomic_load(&w->stopping); i++) {
        int applied = 0;
        if (ch_consumer_step(w->svc, ch__consumers[i], &applied) != CH_OK)
            failed = 1;
        else if (applied == CH_CONSUMER_BATCH)
            busy = 1;
    }
    ch_idem_sweep_tick(w->svc); /* expired Idempotency-Key records */
    if (failed)
        return ch__backoff(t, 500);
    t->backoff_ms = 0;
    return busy ? 0 : CH_WORKER_POLL_MS;
}

/* The feed's fan-out (svc/feed/fanout.h) on its own thread: its batches write timelines for
 * a while, and a Redis outage backs it off without holding up the other consumers. */
static int64_t ch__fanout_round(ch__thread_t *t)
{
    int applied = 0;
    if (ch_consumer_step_idempotent(t->owner->svc, &ch_feed_fanout_consumer, &applied) != CH_OK)
        return ch__backoff(t, 500);
    t->backoff_ms = 0;
    return applied == CH_CONSUMER_BATCH ? 0 : CH_WORKER_POLL_MS;
}

static int64_t ch__ship_round(ch__thread_t *t)
{
    int shipped = 0;
    ch_err_t err = ch_shipper_step(t->owner->shipper, &shipped);
    if (err) {
        int64_t wait_ms = ch__backoff(t, 1000);
        if (!atomic_load(&t->owner->stopping))
            ch_log_warn("clickhouse: shipping failed (%s); retrying in %lld ms", ch_err_code(err), (long long)wait_ms);
        return wait_ms;
    }
    t->backoff_ms = 0;
    return shipped == CH_SHIPPER_BATCH ? 0 : CH_SHIPPER_POLL_MS;
}

static int64_t ch__retention_round(ch__thread_t *t)
{
    ch_retention_stats_t st;
    if (ch_retention_sweep(t->owner->svc, &t->owner->stopping, &st) != CH_OK)
        return ch__backoff(t, 1000);
    t->backoff_ms = 0;
    return st.more ? 0 : t->owner->svc->cfg->retention_interval_s * 1000;
}

/* The marketplace's durable jobs (svc/market/jobs.h): Stripe calls of orders, auto-confirm.
 * A failed job backs off by itself; a failed claim (database down) backs the thread off. */
static int64_t ch__market_round(ch__thread_t *t)
{
    int ran = 0;
    if (ch_market_jobs_round(t->owner->svc, &t->owner->stopping, &ran) != CH_OK)
        return ch__backoff(t, 500);
    t->backoff_ms = 0;
    return ran == CH_MARKET_JOBS_PER_ROUND ? 0 : CH_WORKER_POLL_MS;
}

/* The periodic reconciliation of the ledger with Stripe (svc/market/reconcile.h) on its own
 * thread and lease: a run reads many pages of Stripe's history and must not hold up the
 * orders' jobs. */
static int64_t ch__reconcile_round(ch__thread_t *t)
{
    return ch_reconcile_tick(t->owner->svc, &t->owner->stopping);
}

/* Waits ms or until stop is asked; returns whether to go on. */
static int ch__wait(ch_workers_t *w, int64_t ms)
{
    pthread_mutex_lock(&w->mu);
    if (ms > 0 && !atomic_load(&w->stopping)) {
        struct timespec until = ch_mono_timespec_after(ms);
        while (!atomic_load(&w->stopping) && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&w->mu);
    return !atomic_load(&w->stopping);
}

static void *ch__thread_main(void *arg)
{
    ch__thread_t *t = arg;
    while (!atomic_load(&t->owner->stopping)) {
        int64_t wait_ms = t->round(t);
        if (!ch__wait(t->owner, wait_ms))
            break;
    }
    return NULL;
}

static int ch__start(ch_workers_t *w, ch__thread_t *t, const char *name, ch__round_fn round)
{
    *t = (ch__thread_t){.owner = w, .name = name, .round = round};
    if (pthread_create(&t->thread, NULL, ch__thread_main, t) != 0) {
        ch_log_error("worker: cannot start the %s thread", name);
        return -1;
    }
    t->started = 1;
    return 0;
}

/* Whether this process runs the feed's fan-out: always with a shared (Redis) timeline store;
 * with the in-process store only when the process also serves the api (the only reader of
 * its timelines), so a worker-only process does not take batches whose pushes no reader
 * would see. */
static int ch__fanout_here(const ch_svc_t *svc)
{
    return !svc->timelines || strcmp(ch_timeline_kind(svc->timelines), "memory") != 0 ||
           (svc->cfg->roles & CH_ROLE_API);
}

ch_workers_t *ch_workers_start(ch_svc_t *svc)
{
    if (!(svc->cfg->roles & CH_ROLE_WORKER))
        return NULL;
    ch_workers_t *w = ch_calloc(1, sizeof(*w));
    w->svc = svc;
    pthread_mutex_init(&w->mu, NULL);
    ch_cond_init_monotonic(&w->cv);
    if (svc->cfg->clickhouse_url[0]) {
        ch_clickhouse_global_init();
        if (!(w->shipper = ch_shipper_create(svc, &w->stopping)))
            ch_log_error("clickhouse: cannot set up the shipper for CHORUS_CLICKHOUSE");
    }
    int failed = ch__start(w, &w->consumer, "consumer", ch__consume_round) != 0;
    if (!failed && ch__fanout_here(svc))
        failed = ch__start(w, &w->fanout, "fanout", ch__fanout_round) != 0;
    else if (!failed)
        ch_log_info("worker: no fan-out here: the in-process timeline store of a process without the api role has "
                    "no reader (run the fan-out with the api role, or set CHORUS_REDIS)");
    if (!failed && w->shipper)
        failed = ch__start(w, &w->ship, "shipper", ch__ship_round) != 0;
    if (!failed)
        failed = ch__start(w, &w->retention, "retention", ch__retention_round) != 0;
    if (!failed)
        failed = ch__start(w, &w->market, "market", ch__market_round) != 0;
    if (!failed)
        failed = ch__start(w, &w->reconcile, "reconcile", ch__reconcile_round) != 0;
    if (failed) {
        ch_workers_stop(w);
        return NULL;
    }
    return w;
}

void ch_workers_stop(ch_workers_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stopping, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->consumer.started)
        pthread_join(w->consumer.thread, NULL);
    if (w->fanout.started)
        pthread_join(w->fanout.thread, NULL);
    if (w->ship.started)
        pthread_join(w->ship.thread, NULL);
    if (w->retention.started)
        pthread_join(w->retention.thread, NULL);
    if (w->market.started)
        pthread_join(w->market.thread, NULL);
    if (w->reconcile.started)
        pthread_join(w->reconcile.thread, NULL);
    ch_shipper_destroy(w->shipper);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
