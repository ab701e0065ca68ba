/* Key-value store for small, hot, expiring state: rate-limit windows, sessions' last-seen
 * and revocation marks, caches. Two implementations chosen by configuration: in-process
 * (sharded hash map, one lock per shard) when CHORUS_REDIS is unset, Redis (hiredis, a pool
 * of connections) otherwise. Every call is thread-safe; with Redis they block (call them
 * from worker threads). Redis failures answer CH_EUNAVAILABLE and trip a circuit breaker
 * (store/kv_breaker.h): calls then fail at once until a background probe finds Redis back.
 * Callers choose per use what to do meanwhile; ch_kv_local gives them a bounded in-process
 * store of this replica to fall back to (docs/design.md, "Storage"). */
#ifndef CH_STORE_KV_H
#define CH_STORE_KV_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/err.h"

typedef struct ch_kv ch_kv_t;

/* The in-process store's memory bound (CHORUS_KV_MAX_MEMORY): past it, writes evict
 * expired entries, then the least recently used of a few sampled (as Redis's maxmemory with
 * allkeys-lru). Keys starting with "sess:rev:" or "login:" are never evicted (kv_mem.c says
 * why). With Redis the bound and the policy are the operator's (maxmemory,
 * maxmemory-policy). */
#define CH_KV_DEFAULT_MAX_MEMORY ((size_t)256 << 20)
#define CH_KV_MIN_MAX_MEMORY ((size_t)16 << 20)

/* Shared store (Redis) down: how often the probe tries it (CHORUS_KV_PROBE_INTERVAL; it
 * also pings this often while it is up, so an idle replica notices an outage), and how many
 * writes ch_kv_set_retrying/ch_kv_del_retrying keep for its return (oldest dropped). */
#define CH_KV_DEFAULT_PROBE_INTERVAL_MS 1000
#define CH_KV_RETRY_MAX 65536

/** What the in-process store holds (all zero for Redis, whose INFO tells the operator). */
typedef struct {
    size_t memory;       /* bytes accounted: entries (key, value, overhead) and bucket arrays */
    size_t max_memory;   /* the bound; 0 = none */
    size_t keys;         /* entries, expired ones not yet dropped included */
    uint64_t evictions;  /* entries evicted to stay under the bound (expiry not counted) */
} ch_kv_stats_t;

/** Backend vtable; every slot is mandatory (checked by ch_kv_open). */
typedef struct ch_kv_driver {
    const char *name; /* "memory" or "redis" */
    /* url is NULL for memory, "redis://[:password@]host:port[/db]" for redis. Must not fail
     * when the Redis server is down: connections are made lazily. */
    ch_err_t (*open)(const char *url, void **impl_out, char *errbuf, size_t errlen);
    void (*close)(void *impl);
    ch_err_t (*get)(void *impl, const char *key, char **val_out, size_t *len_out);
    ch_err_t (*set)(void *impl, const char *key, const char *val, size_t len, int64_t ttl_ms);
    ch_err_t (*del)(void *impl, const char *key);
    /* set(set_key) and del(del_key) as one atomic step: no reader sees one without the other,
     * and a failure applies neither (Redis: MULTI/EXEC; in-process: under both shard locks). */
    ch_err_t (*set_del)(void *impl, const char *set_key, const char *val, size_t len, int64_t ttl_ms,
                        const char *del_key);
    ch_err_t (*incr)(void *impl, const char *key, int64_t ttl_ms, int64_t *value_out, int64_t *ttl_left_ms_out);
    ch_err_t (*ping)(void *impl);
    /* Unix ms at which the driver last connected to a server other than the one before (a
     * restarted Redis, a failover: a dataset that may be older than what this process saw);
     * 0 if never. Set before any command on the new server answers. */
    int64_t (*server_changed_at)(void *impl);
} ch_kv_driver_t;

extern const ch_kv_driver_t ch_kv_mem_driver;
extern const ch_kv_driver_t ch_kv_redis_driver;

/** Opens the store: url NULL or "" = in-process, "redis://..." = Redis. Caller owns *kv_out. */
ch_err_t ch_kv_open(const char *url, ch_kv_t **kv_out, char *errbuf, size_t errlen);
/** Closes the store. NULL is fine. */
void ch_kv_close(ch_kv_t *kv);
/** Backend name ("memory", "redis"). */
const char *ch_kv_kind(const ch_kv_t *kv);
/** Reads a value. *val_out is NULL when the key is missing or expired, otherwise a
 * NUL-terminated copy the caller frees with free(); len_out (may be NULL) gets its length. */
ch_err_t ch_kv_get(ch_kv_t *kv, const char *key, char **val_out, size_t *len_out);
/** Writes a value (copied). ttl_ms > 0 expires it after that many ms; 0 keeps it. */
ch_err_t ch_kv_set(ch_kv_t *kv, const char *key, const char *val, size_t len, int64_t ttl_ms);
/** Deletes a key (missing is fine). */
ch_err_t ch_kv_del(ch_kv_t *kv, const char *key);
/** Writes set_key (as ch_kv_set) and deletes del_key (missing is fine) in one atomic step:
 * no reader sees one change without the other; on an error neither may have happened. */
ch_err_t ch_kv_set_del(ch_kv_t *kv, const char *set_key, const char *val, size_t len, int64_t ttl_ms,
                       const char *del_key);
/** Atomically increments an integer counter, creating it at 1 with a ttl_ms expiry (a fixed
 * window) when missing or expired. value_out gets the new value; ttl_left_ms_out (may be
 * NULL) the ms left before the window expires. */
ch_err_t ch_kv_incr(ch_kv_t *kv, const char *key, int64_t ttl_ms, int64_t *value_out, int64_t *ttl_left_ms_out);
/** Checks that the backend answers. */
ch_err_t ch_kv_ping(ch_kv_t *kv);

/* ---- outages of a shared store ------------------------------------------------------ */

/** 1 when err, answered by a call on kv, means the shared store is unavailable (down, hung,
 * refusing: the breaker is open), the case a caller may fall back from; always 0 for the
 * in-process store, whose errors keep their meaning. */
int ch_kv_outage(const ch_kv_t *kv, ch_err_t err);
/** The bounded in-process store of this replica that callers of a shared store fall back to
 * while it is unavailable (its bound is CHORUS_KV_MAX_MEMORY); NULL for the in-process store.
 * Borrowed: owned by kv. */
ch_kv_t *ch_kv_local(ch_kv_t *kv);
/** Unix ms at which the shared store last came back after an outage this process saw (a
 * failed call or probe), or was found to be another server or a restarted one (its Redis
 * run_id changed: it may hold a dataset from an older snapshot); 0 if none, always 0 for the
 * in-process store. Values written before it may be stale: a revocation could not reach
 * them, or was lost with the dataset. */
int64_t ch_kv_recovered_at(const ch_kv_t *kv);
/** ch_kv_set for a write that must land: when the shared store is unavailable it is kept
 * (copied; at most CH_KV_RETRY_MAX, the oldest dropped) and written, in order with the other
 * kept writes, as soon as the probe finds the store back, unless until_ms (unix ms) has
 * passed. CH_OK when written or kept; other errors as ch_kv_set. */
ch_err_t ch_kv_set_retrying(ch_kv_t *kv, const char *key, const char *val, size_t len, int64_t ttl_ms,
                            int64_t until_ms);
/** ch_kv_del likewise (see ch_kv_set_retrying). */
ch_err_t ch_kv_del_retrying(ch_kv_t *kv, const char *key, int64_t until_ms);
/** ch_kv_set_del likewise: the pair is kept, and replayed, as one unit (see
 * ch_kv_set_retrying). */
ch_err_t ch_kv_set_del_retrying(ch_kv_t *kv, const char *set_key, const char *val, size_t len, int64_t ttl_ms,
                                const char *del_key, int64_t until_ms);
/* ---- what became of a kept write --------------------------------------------------- */

/** The fate of a write kept by ch_kv_set_del_retrying_noted while the shared store was
 * unavailable. */
typedef enum {
    CH_KV_KEPT_LANDED = 0,     /* replayed: the store has it */
    CH_KV_KEPT_DROPPED_FULL,   /* pushed out of the full queue (CH_KV_RETRY_MAX) */
    CH_KV_KEPT_DROPPED_LATE,   /* its until_ms passed before the store came back */
    CH_KV_KEPT_DROPPED_FAILED, /* the store answered it an error other than an outage */
} ch_kv_kept_fate_t;

/* The most bytes of a note carried by a kept write (copied into the queue entry). */
#define CH_KV_NOTE_MAX 16

/** Told, once per kept write that carries a note, what became of it, with its note (len
 * bytes, borrowed for the call). Called on the store's probe thread once the store takes
 * calls again (so the hook may call it), in the order the fates were known; never for a
 * write that was not kept (written at once), nor for what a destroyed store still held. */
typedef void (*ch_kv_kept_hook_fn)(void *ctx, ch_kv_kept_fate_t fate, const void *note, size_t len);

/** Sets the hook told about noted kept writes (ctx borrowed: it must stay valid until the
 * hook is set to NULL); NULL turns it off, waiting for a call in progress to return. Notes
 * whose fate comes while no hook is set are forgotten. No-op for the in-process store. */
void ch_kv_set_kept_hook(ch_kv_t *kv, ch_kv_kept_hook_fn fn, void *ctx);
/** ch_kv_set_del_retrying, and when the pair is kept (not written at once), its fate is told
 * to the kept-write hook with note (note_len <= CH_KV_NOTE_MAX bytes, copied; CH_EINVAL
 * beyond). */
ch_err_t ch_kv_set_del_retrying_noted(ch_kv_t *kv, const char *set_key, const char *val, size_t len,
                                      int64_t ttl_ms, const char *del_key, int64_t until_ms, const void *note,
                                      size_t note_len);
/** Sets how often the probe tries a shared store (ms > 0); no-op for the in-process store. */
void ch_kv_set_probe_interval(ch_kv_t *kv, int64_t ms);
/** Sets the in-process store's memory bound in bytes (0 = none; the default is
 * CH_KV_DEFAULT_MAX_MEMORY); entries over it go at the next writes. For Redis it bounds the
 * local fallback store (ch_kv_local). */
void ch_kv_set_max_memory(ch_kv_t *kv, size_t bytes);
/** Fills *out with the store's figures (zeros for Redis). Takes each shard lock briefly. */
void ch_kv_stats(ch_kv_t *kv, ch_kv_stats_t *out);
/** Appends chorus_kv_memory_bytes, chorus_kv_max_memory_bytes, chorus_kv_keys and
 * chorus_kv_evictions_total (Prometheus text) to out; for Redis the breaker's figures
 * (chorus_kv_up, ...) and chorus_kv_local_keys instead. */
void ch_kv_render_metrics(ch_kv_t *kv, ch_buf_t *out);

#endif
