/* Circuit breaker, background probe and write-retry queue of a shared (Redis) kv store.
 * Internal to store/kv.c; the in-process store has none (it has no outage).
 *
 * A call that answers CH_EUNAVAILABLE trips the breaker: the store is then "down", and every
 * call fails at once (no 1 s timeout per call against a hung server) until the probe thread,
 * which pings the store every interval (also while it is up, so that an idle replica notices
 * an outage too), finds it back. On the way back the probe first replays the queued writes,
 * then records the time (ch_kv_breaker_recovered_at), opens the gate, and tells the kept-write
 * hook what became of the noted writes (after the gate, so that the hook may call the store).
 * One log line per transition. Destroying the breaker stops a replay between two writes (the rest is lost,
 * as it would be with the process). */
#ifndef CH_STORE_KV_BREAKER_H
#define CH_STORE_KV_BREAKER_H

#include <stdint.h>

#include "core/buf.h"
#include "store/kv.h"

typedef struct ch_kv_breaker ch_kv_breaker_t;

/** Creates the breaker of drv/impl (borrowed; they must outlive it) and starts its probe
 * thread, which pings every interval_ms. NULL when the thread cannot start. Caller destroys. */
ch_kv_breaker_t *ch_kv_breaker_create(const ch_kv_driver_t *drv, void *impl, int64_t interval_ms);
/** Stops and joins the probe thread, frees queued writes. NULL is fine. */
void ch_kv_breaker_destroy(ch_kv_breaker_t *b);
/** Sets the wording of the breaker's log lines: name (e.g. "timeline") and what callers do
 * while the store is down (completes "calls fail at once and ..."); both static strings,
 * borrowed. The default is the kv store's. Call before the first call goes through it. */
void ch_kv_breaker_set_label(ch_kv_breaker_t *b, const char *name, const char *fallback);
/** Changes the probe interval (takes effect at the next wait). */
void ch_kv_breaker_set_interval(ch_kv_breaker_t *b, int64_t interval_ms);
/** 1 when a call may go to the store; 0 while it is down (the call is counted as failed fast). */
int ch_kv_breaker_allow(ch_kv_breaker_t *b);
/** Records that a call (op names it in the log) found the store unavailable. */
void ch_kv_breaker_trip(ch_kv_breaker_t *b, const char *op);
/** Unix ms of the last return of the store after an outage this process saw; 0 if none. */
int64_t ch_kv_breaker_recovered_at(ch_kv_breaker_t *b);
/** Queues a write for the probe to replay when the store is back: a set of key to val, a
 * delete of del_key (key and val NULL), or both as one atomic unit (the driver's set_del);
 * copies the keys and val. Dropped once until_ms (unix ms) has passed. Returns 0 when queued, -1
 * when the store is up again (the caller should write it itself). The queue is bounded
 * (CH_KV_RETRY_MAX): the oldest write goes when it is full. With a note (note_len <=
 * CH_KV_NOTE_MAX bytes, copied; NULL: none) the write's fate (ch_kv_kept_fate_t) is told to
 * the kept-write hook, with the note, once the gate opens after it is known: landed, dropped
 * from the full queue, too late, or refused. The fates waiting for that are bounded too
 * (2 x CH_KV_RETRY_MAX, the oldest forgotten and counted). */
int ch_kv_breaker_enqueue(ch_kv_breaker_t *b, const char *key, const char *val, size_t len, int64_t ttl_ms,
                          const char *del_key, int64_t until_ms, const void *note, size_t note_len);
/** Sets the kept-write hook (kv.h, ch_kv_set_kept_hook): fn NULL turns it off, waiting for a
 * call in progress to return (so ctx may be freed after). Not from the hook itself. */
void ch_kv_breaker_set_hook(ch_kv_breaker_t *b, ch_kv_kept_hook_fn fn, void *ctx);
/** Appends chorus_kv_up, chorus_kv_outages_total, chorus_kv_fast_failures_total,
 * chorus_kv_retry_queued, chorus_kv_retry_dropped_total and chorus_kv_retry_done_total{fate}
 * (Prometheus text) to out. */
void ch_kv_breaker_render_metrics(ch_kv_breaker_t *b, ch_buf_t *out);

#endif
