/* Circuit breaker, probe thread and write-retry queue of a shared kv store (kv_breaker.h). */
#include "store/kv_breaker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

typedef struct ch__kv_retry {
    struct ch__kv_retry *next;
    char *key;     /* the key set; NULL: a delete alone */
    char *val;     /* set when key is */
    char *del_key; /* the key deleted; NULL: a set alone; with key: both at once */
    size_t len;
    int64_t ttl_ms;
    int64_t until_ms;
    ch_kv_kept_fate_t fate; /* once known (on the done list) */
    int noted;              /* the fate is told to the hook */
    size_t note_len;
    unsigned char note[CH_KV_NOTE_MAX];
} ch__kv_retry_t;

/* How many fates of noted writes wait for the gate to open: a full queue replayed (the
 * landings) and as many writes pushed out of it meanwhile (about 100 bytes each). */
#define CH__DONE_MAX (2 * (size_t)CH_KV_RETRY_MAX)

/* Fates counted by chorus_kv_retry_done_total{fate} (indexed by ch_kv_kept_fate_t). */
static const char *const ch__fate_names[] = {"landed", "dropped_full", "dropped_late", "dropped_failed"};
#define CH__FATES 4

/* A FIFO of writes (the queue, and the fates waiting for the gate), under the breaker's mu. */
typedef struct {
    ch__kv_retry_t *head, *tail;
    size_t n;
} ch__kv_fifo_t;

static void ch__fifo_push(ch__kv_fifo_t *q, ch__kv_retry_t *r)
{
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->n++;
}

/* Takes the oldest; NULL when empty. */
static ch__kv_retry_t *ch__fifo_pop(ch__kv_fifo_t *q)
{
    ch__kv_retry_t *r = q->head;
    if (!r)
        return NULL;
    q->head = r->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    return r;
}

/* Puts r back as the oldest. */
static void ch__fifo_push_front(ch__kv_fifo_t *q, ch__kv_retry_t *r)
{
    r->next = q->head;
    q->head = r;
    if (!q->tail)
        q->tail = r;
    q->n++;
}

struct ch_kv_breaker {
    const ch_kv_driver_t *drv;
    void *impl;
    atomic_int up;                  /* 1: calls go to the store */
    atomic_llong recovered_at_ms;   /* unix ms of the last down -> up; 0: never */
    atomic_llong interval_ms;
    atomic_ullong outages, fast_failures;
    int64_t down_since_mono;        /* under mu */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC: wakes the probe for stop or a new interval */
    int stop;
    pthread_t thread;

    ch__kv_fifo_t queue; /* under mu */
    atomic_ullong dropped;
    atomic_ullong fates[CH__FATES];

    /* noted writes whose fate is known, waiting for the gate to open (under mu, FIFO, at most
     * CH__DONE_MAX: the oldest forgotten beyond), and the hook they are told to */
    ch__kv_fifo_t done;
    atomic_ullong notes_lost;
    ch_kv_kept_hook_fn hook; /* under mu */
    void *hook_ctx;
    int hook_busy;           /* under mu: the probe is calling it */
    pthread_cond_t idle_cv;  /* signalled when hook_busy drops */

    /* log wording (ch_kv_breaker_set_label): which store, and what its callers do meanwhile */
    const char *name, *fallback;
};

/* Frees what a write needed for the store (its keys and value), not the entry. */
static void ch__retry_strip(ch__kv_retry_t *r)
{
    free(r->key);
    free(r->val);
    free(r->del_key);
    r->key = r->val = r->del_key = NULL;
}

static void ch__retry_free(ch__kv_retry_t *r)
{
    if (!r)
        return;
    ch__retry_strip(r);
    free(r);
}

/* The write r (out of the queue) is done with: counted, and when noted kept with its fate
 * for the hook (mu held). The done list is bounded: past CH__DONE_MAX its oldest note is
 * forgotten (counted) rather than told. */
static void ch__retry_settle_locked(ch_kv_breaker_t *b, ch__kv_retry_t *r, ch_kv_kept_fate_t fate)
{
    atomic_fetch_add_explicit(&b->fates[fate], 1, memory_order_relaxed);
    if (!r->noted) {
        ch__retry_free(r);
        return;
    }
    ch__retry_strip(r);
    r->fate = fate;
    if (b->done.n >= CH__DONE_MAX) {
        free(ch__fifo_pop(&b->done));
        if (atomic_fetch_add(&b->notes_lost, 1) == 0)
            ch_log_warn("kv: %zu kept writes' fates wait for the store; the oldest are forgotten", CH__DONE_MAX);
    }
    ch__fifo_push(&b->done, r);
}

/* Tells the hook the fates known so far (mu held; released around the calls). Without a
 * hook they are forgotten. */
static void ch__tell_locked(ch_kv_breaker_t *b)
{
    ch__kv_retry_t *r = b->done.head;
    b->done = (ch__kv_fifo_t){0};
    ch_kv_kept_hook_fn fn = b->hook;
    void *ctx = b->hook_ctx;
    if (!r)
        return;
    b->hook_busy = 1;
    pthread_mutex_unlock(&b->mu);
    while (r) {
        ch__kv_retry_t *next = r->next;
        if (fn)
            fn(ctx, r->fate, r->note, r->note_len);
        free(r);
        r = next;
    }
    pthread_mutex_lock(&b->mu);
    b->hook_busy = 0;
    pthread_cond_broadcast(&b->idle_cv);
}

void ch_kv_breaker_set_hook(ch_kv_breaker_t *b, ch_kv_kept_hook_fn fn, void *ctx)
{
    pthread_mutex_lock(&b->mu);
    while (b->hook_busy)
        pthread_cond_wait(&b->idle_cv, &b->mu);
    b->hook = fn;
    b->hook_ctx = fn ? ctx : NULL;
    pthread_mutex_unlock(&b->mu);
}

/* ---- state ---------------------------------------------------------------------------- */

int ch_kv_breaker_allow(ch_kv_breaker_t *b)
{
    if (atomic_load(&b->up))
        return 1;
    atomic_fetch_add_explicit(&b->fast_failures, 1, memory_order_relaxed);
    return 0;
}

void ch_kv_breaker_trip(ch_kv_breaker_t *b, const char *op)
{
    pthread_mutex_lock(&b->mu);
    if (atomic_exchange(&b->up, 0) == 1) {
        b->down_since_mono = ch_mono_ms();
        atomic_fetch_add(&b->outages, 1);
        ch_log_warn("%s: shared store unavailable (%s); calls fail at once and %s until a probe every %lld ms "
                    "finds it back",
                    b->name, op, b->fallback, (long long)atomic_load(&b->interval_ms));
    }
    pthread_mutex_unlock(&b->mu);
}

int64_t ch_kv_breaker_recovered_at(ch_kv_breaker_t *b)
{
    return atomic_load(&b->recovered_at_ms);
}

void ch_kv_breaker_set_label(ch_kv_breaker_t *b, const char *name, const char *fallback)
{
    pthread_mutex_lock(&b->mu);
    b->name = name;
    b->fallback = fallback;
    pthread_mutex_unlock(&b->mu);
}

void ch_kv_breaker_set_interval(ch_kv_breaker_t *b, int64_t interval_ms)
{
    pthread_mutex_lock(&b->mu);
    atomic_store(&b->interval_ms, interval_ms > 0 ? interval_ms : CH_KV_DEFAULT_PROBE_INTERVAL_MS);
    pthread_cond_signal(&b->cv); /* the probe's current wait takes the new interval */
    pthread_mutex_unlock(&b->mu);
}

/* ---- retry queue ---------------------------------------------------------------------- */

int ch_kv_breaker_enqueue(ch_kv_breaker_t *b, const char *key, const char *val, size_t len, int64_t ttl_ms,
                          const char *del_key, int64_t until_ms, const void *note, size_t note_len)
{
    ch__kv_retry_t *r = ch_calloc(1, sizeof(*r)), *drop = NULL;
    if (del_key)
        r->del_key = ch_strdup(del_key);
    if (key && val) {
        r->key = ch_strdup(key);
        r->val = ch_malloc(len + 1);
        memcpy(r->val, val, len);
        r->val[len] = '\0';
    }
    r->len = len;
    r->ttl_ms = ttl_ms;
    r->until_ms = until_ms;
    if (note) {
        r->noted = 1;
        r->note_len = note_len < CH_KV_NOTE_MAX ? note_len : CH_KV_NOTE_MAX;
        memcpy(r->note, note, r->note_len);
    }

    pthread_mutex_lock(&b->mu);
    /* The probe opens the gate under mu with an empty queue: a write queued while the gate
     * is shut is always replayed before it opens. */
    if (atomic_load(&b->up)) {
        pthread_mutex_unlock(&b->mu);
        ch__retry_free(r);
        return -1;
    }
    if (b->queue.n >= CH_KV_RETRY_MAX) {
        drop = ch__fifo_pop(&b->queue);
        ch__retry_settle_locked(b, drop, CH_KV_KEPT_DROPPED_FULL);
    }
    ch__fifo_push(&b->queue, r);
    pthread_mutex_unlock(&b->mu);
    if (drop && atomic_fetch_add(&b->dropped, 1) == 0)
        ch_log_warn("kv: retry queue full (%d writes); the oldest are dropped", CH_KV_RETRY_MAX);
    return 0;
}

/* Replays the queue in order (called by the probe with mu held, which it releases around
 * each write). 0 when the queue is empty, -1 when a write failed (it stays first) or the
 * breaker is being destroyed (with a slow store the whole queue could take a second a write,
 * and ch_kv_close waits for this thread). */
static int ch__replay_locked(ch_kv_breaker_t *b)
{
    while (b->queue.head) {
        if (b->stop)
            return -1;
        ch__kv_retry_t *r = ch__fifo_pop(&b->queue);
        pthread_mutex_unlock(&b->mu);
        ch_err_t err = CH_OK;
        int late = r->until_ms <= ch_now_ms();
        if (!late)
            err = r->key && r->del_key ? b->drv->set_del(b->impl, r->key, r->val, r->len, r->ttl_ms, r->del_key)
                  : r->key             ? b->drv->set(b->impl, r->key, r->val, r->len, r->ttl_ms)
                                       : b->drv->del(b->impl, r->del_key);
        pthread_mutex_lock(&b->mu);
        if (err == CH_EUNAVAILABLE) {
            ch__fifo_push_front(&b->queue, r);
            return -1;
        }
        if (err != CH_OK)
            ch_log_warn("kv: a queued write of %s failed (%s); dropped", r->key ? r->key : r->del_key,
                        ch_err_code(err));
        ch__retry_settle_locked(b, r,
                                late             ? CH_KV_KEPT_DROPPED_LATE
                                : err == CH_OK   ? CH_KV_KEPT_LANDED
                                                 : CH_KV_KEPT_DROPPED_FAILED);
    }
    return 0;
}

/* ---- probe thread --------------------------------------------------------------------- */

static void *ch__probe_main(void *arg)
{
    ch_kv_breaker_t *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        /* Waits an interval; a changed interval counts from the same start. */
        int64_t start = ch_mono_ms();
        for (;;) {
            int64_t left = start + atomic_load(&b->interval_ms) - ch_mono_ms();
            if (b->stop || left <= 0)
                break;
            struct timespec ts = ch_mono_timespec_after(left);
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        }
        if (b->stop)
            break;
        int was_up = atomic_load(&b->up);
        pthread_mutex_unlock(&b->mu);
        ch_err_t err = b->drv->ping(b->impl);
        pthread_mutex_lock(&b->mu);
        if (err != CH_OK) {
            if (atomic_exchange(&b->up, 0) == 1) {
                b->down_since_mono = ch_mono_ms();
                atomic_fetch_add(&b->outages, 1);
                ch_log_warn("%s: shared store unavailable (probe: %s); calls fail at once until it is back",
                            b->name, ch_err_code(err));
            }
            continue;
        }
        /* A trip while this ping ran came after it: the next probe decides. */
        if (was_up || atomic_load(&b->up) || ch__replay_locked(b) != 0)
            continue;
        /* Back: the recovery time first, so a caller that sees the gate open sees it too. */
        atomic_store(&b->recovered_at_ms, ch_now_ms());
        atomic_store(&b->up, 1);
        ch_log_warn("%s: shared store back after %lld ms; calls go to it again", b->name,
                    (long long)(ch_mono_ms() - b->down_since_mono));
        /* the gate is open: what the hook does may go to the store */
        ch__tell_locked(b);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

ch_kv_breaker_t *ch_kv_breaker_create(const ch_kv_driver_t *drv, void *impl, int64_t interval_ms)
{
    ch_kv_breaker_t *b = ch_calloc(1, sizeof(*b));
    b->drv = drv;
    b->impl = impl;
    b->name = "kv";
    b->fallback = "fall back (rate limits, login throttling, comment snapshots: this replica's memory; sessions: "
                  "the database)";
    atomic_init(&b->up, 1);
    atomic_init(&b->recovered_at_ms, 0);
    atomic_init(&b->interval_ms, interval_ms > 0 ? interval_ms : CH_KV_DEFAULT_PROBE_INTERVAL_MS);
    atomic_init(&b->outages, 0);
    atomic_init(&b->fast_failures, 0);
    atomic_init(&b->dropped, 0);
    for (int i = 0; i < CH__FATES; i++)
        atomic_init(&b->fates[i], 0);
    atomic_init(&b->notes_lost, 0);
    int ok = pthread_mutex_init(&b->mu, NULL) == 0;
    if (ok && ch_cond_init_monotonic(&b->cv) != 0) {
        pthread_mutex_destroy(&b->mu);
        ok = 0;
    }
    if (ok && pthread_cond_init(&b->idle_cv, NULL) != 0) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        ok = 0;
    }
    if (ok && pthread_create(&b->thread, NULL, ch__probe_main, b) != 0) {
        pthread_cond_destroy(&b->idle_cv);
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        ok = 0;
    }
    if (!ok) {
        free(b);
        return NULL;
    }
    return b;
}

void ch_kv_breaker_destroy(ch_kv_breaker_t *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    ch__kv_retry_t *r;
    while ((r = ch__fifo_pop(&b->queue)))
        ch__retry_free(r);
    while ((r = ch__fifo_pop(&b->done))) /* fates not told: the hook's owner may be gone */
        free(r);
    pthread_cond_destroy(&b->idle_cv);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

void ch_kv_breaker_render_metrics(ch_kv_breaker_t *b, ch_buf_t *out)
{
    pthread_mutex_lock(&b->mu);
    size_t queued = b->queue.n;
    pthread_mutex_unlock(&b->mu);
    ch_buf_printf(out,
                  "# HELP chorus_kv_up 1 while the shared kv store (Redis) takes calls, 0 while it is considered "
                  "down (calls fail at once and fall back).\n"
                  "# TYPE chorus_kv_up gauge\nchorus_kv_up %d\n"
                  "# HELP chorus_kv_outages_total Times the shared kv store was found unavailable after being up.\n"
                  "# TYPE chorus_kv_outages_total counter\nchorus_kv_outages_total %llu\n"
                  "# HELP chorus_kv_fast_failures_total kv calls refused at once because the shared store was "
                  "down.\n"
                  "# TYPE chorus_kv_fast_failures_total counter\nchorus_kv_fast_failures_total %llu\n"
                  "# HELP chorus_kv_retry_queued Writes (session revocation marks) waiting for the shared kv store "
                  "to return.\n"
                  "# TYPE chorus_kv_retry_queued gauge\nchorus_kv_retry_queued %zu\n"
                  "# HELP chorus_kv_retry_dropped_total Queued writes dropped because the retry queue was full.\n"
                  "# TYPE chorus_kv_retry_dropped_total counter\nchorus_kv_retry_dropped_total %llu\n",
                  atomic_load(&b->up), (unsigned long long)atomic_load(&b->outages),
                  (unsigned long long)atomic_load(&b->fast_failures), queued,
                  (unsigned long long)atomic_load(&b->dropped));
    ch_buf_printf(out, "# HELP chorus_kv_retry_done_total Queued writes by what became of them (landed: replayed; "
                       "dropped_full: pushed out of the full queue; dropped_late: past their deadline; "
                       "dropped_failed: refused by the store).\n"
                       "# TYPE chorus_kv_retry_done_total counter\n");
    for (int i = 0; i < CH__FATES; i++)
        ch_buf_printf(out, "chorus_kv_retry_done_total{fate=\"%s\"} %llu\n", ch__fate_names[i],
                      (unsigned long long)atomic_load_explicit(&b->fates[i], memory_order_relaxed));
    ch_buf_printf(out,
                  "# HELP chorus_kv_retry_notes_lost_total Fates of queued writes forgotten untold (more than "
                  "the bound waited for the store).\n"
                  "# TYPE chorus_kv_retry_notes_lost_total counter\nchorus_kv_retry_notes_lost_total %llu\n",
                  (unsigned long long)atomic_load(&b->notes_lost));
}
