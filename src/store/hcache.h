/* The hydration cache: a bounded cache of byte values by short text keys, behind one
 * interface with two drivers — in-process (embedded mode: sharded, memory-bounded, this
 * process is the only writer) and Redis (cluster mode: shared by every replica, pipelined,
 * TTL'd). What is stored is the hydration layer's business (svc/common/hydrate.h): facts
 * about items, users, relations and a viewer's own state, never an answer for a viewer.
 *
 * Consistency ("leases"): a reader that misses gets a lease token; it reads the source of
 * truth and puts the value with that token. A forget (called by every writer after its
 * commit) cancels every lease taken on the key before it, so a reader that raced with a
 * write can never store what it read before the write. In Redis the lease is a second key
 * beside the value; in process, a version per shard.
 *
 * Cache down (Redis unreachable): get answers CH_EUNAVAILABLE and the caller reads the source
 * of truth without putting; a forget that could not be delivered marks the cache dirty, and
 * before anything is served again the Redis driver moves every replica to a new key epoch
 * (INCR of "hc:epoch", retried in the background until Redis answers; every get and put
 * checks "hc:epoch" in its own round trip, so a replica never reads or stores under an
 * epoch another has left), so no entry a lost forget should have removed is served after
 * the outage. */
#ifndef CH_STORE_HCACHE_H
#define CH_STORE_HCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/kv.h"

/* Longest key (bytes, without the NUL), and most keys per call. */
#define CH_HCACHE_KEY_MAX 64
#define CH_HCACHE_BATCH_MAX 512
/* Largest value stored (bytes); a larger put is skipped (counted). */
#define CH_HCACHE_VALUE_MAX (64 * 1024)

typedef struct ch_hcache ch_hcache_t;

/** What a get found for one key. */
typedef struct {
    char *val;      /* the value (malloc'd, caller frees) or NULL on a miss */
    size_t len;
    uint64_t lease; /* on a miss: pass to ch_hcache_put_many; 0 = do not put */
} ch_hcache_got_t;

/** An in-process cache holding at most max_bytes of keys, values and overhead (evicting the
 * least recently used, sampled); entries older than ttl_ms are misses (0 = no age limit).
 * Caller owns it (ch_hcache_destroy). NULL on out-of-memory. */
ch_hcache_t *ch_hcache_mem_create(size_t max_bytes, int64_t ttl_ms);
/** ch_hcache_mem_create holding at most max_entries entries too (0 = no count bound). */
ch_hcache_t *ch_hcache_mem_create_bounded(size_t max_bytes, size_t max_entries, int64_t ttl_ms);
/** A cache in the Redis behind kv (a kv_redis store; borrowed, must outlive the cache),
 * entries kept ttl_ms. Caller owns it. NULL when kv is not a Redis store. */
ch_hcache_t *ch_hcache_redis_create(ch_kv_t *kv, int64_t ttl_ms);
/** Cluster mode's two-level cache (hcache_l1.c): an in-process L1 (max_bytes, max_entries,
 * entries kept at most ttl_ms) in front of l2 (a ch_hcache_redis_create cache on kv; takes
 * ownership), kept coherent across nodes by Redis pub/sub: every forget is also published
 * on one channel (the keys of the call in one message) and each node drops the keys from
 * its L1; while this node's subscription is not confirmed the L1 is flushed and bypassed.
 * kv (borrowed, must outlive the cache) gives the connections for the PUBLISHes; the
 * subscriber has a connection of its own to url, whose database number names the channel.
 * Caller owns the result. NULL (l2 destroyed) on failure. */
ch_hcache_t *ch_hcache_l1_create(ch_hcache_t *l2, ch_kv_t *kv, const char *url, size_t max_bytes,
                                 size_t max_entries, int64_t ttl_ms);
/** Whether c serves from an in-process L1 now (1), for tests and metrics; 0 for the other
 * drivers and while the L1 is bypassed. */
int ch_hcache_l1_live(const ch_hcache_t *c);
/** Frees the cache (not kv). NULL is fine. */
void ch_hcache_destroy(ch_hcache_t *c);

/** Looks up keys[0..n) (n <= CH_HCACHE_BATCH_MAX, NUL-terminated, <= CH_HCACHE_KEY_MAX) in
 * one round trip (Redis: two when some miss, the second taking their leases); got[0..n)
 * receives each value or a miss with its lease. CH_EUNAVAILABLE when the cache cannot answer
 * now (got[] all misses with lease 0). Under the loop guard (core/loop_guard.h) only the L1's
 * memory is read: CH_OK when every key was there, else CH_EUNAVAILABLE with the refusal noted;
 * puts are then skipped and forgets refused (noted). Thread-safe. */
ch_err_t ch_hcache_get_many(ch_hcache_t *c, const char *const *keys, size_t n, ch_hcache_got_t *got);
/** What ch_hcache_get_visit calls for each hit: val[0..len) is borrowed, valid during the
 * call only (in process the call runs under the shard's lock: keep it short, never call the
 * cache from it). i is the key's index. Returns 0 when it took the value, non-zero when the
 * value is no good (it then counts as a miss without lease, as one that does not decode). */
typedef int (*ch_hcache_visit_fn)(void *arg, size_t i, const char *val, size_t len);
/** ch_hcache_get_many without a copy of each value: fn(arg, i, ...) is called for each hit
 * keys[i] (in no set order), and leases[0..n) (zeroed by the call) receives the lease of each
 * miss. The in-process driver hands fn its own bytes; the others fall back to a get_many and
 * free each copy after fn. Same bounds, loop guard and errors as ch_hcache_get_many: on
 * CH_EUNAVAILABLE fn was not called and every lease is 0. Thread-safe. */
ch_err_t ch_hcache_get_visit(ch_hcache_t *c, const char *const *keys, size_t n, ch_hcache_visit_fn fn, void *arg,
                             uint64_t *leases);
/** Stores vals[i] (lens[i] bytes, copied) under keys[i] for each i whose leases[i] is non-zero
 * and still valid (no forget of that key since the get that gave it), in one round trip.
 * Failures are counted, not returned (a put is only an optimisation). */
void ch_hcache_put_many(ch_hcache_t *c, const char *const *keys, const char *const *vals, const size_t *lens,
                        const uint64_t *leases, size_t n);
/** Drops keys[0..n) and cancels their leases, in one round trip. Call after the commit of the
 * write that changed what they hold. A forget that cannot be delivered marks the cache dirty
 * (see above); never fails. */
void ch_hcache_forget_many(ch_hcache_t *c, const char *const *keys, size_t n);

/** Bytes held (in-process driver; 0 for Redis), for metrics and tests. */
size_t ch_hcache_bytes(const ch_hcache_t *c);
/** Entries held (in-process driver and the L1; 0 for Redis), for metrics and tests. */
size_t ch_hcache_entries(const ch_hcache_t *c);

#endif
