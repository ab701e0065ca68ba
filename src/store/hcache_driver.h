/* What a hydration-cache driver provides (store/hcache.h): the in-process driver
 * (hcache_mem.c) and the Redis one (hcache_redis.c) each fill one of these; hcache.c
 * dispatches to it. Internal to src/store.
 *
 * hcache.c checks the arguments before a driver sees them: n is 1..CH_HCACHE_BATCH_MAX,
 * every key is at most CH_HCACHE_KEY_MAX bytes, and put_many gets only the entries with a
 * lease and a value of at most CH_HCACHE_VALUE_MAX bytes. It counts gets (hits, misses,
 * unavailable) itself; drivers count the outcome of each put they were given. */
#ifndef CH_STORE_HCACHE_DRIVER_H
#define CH_STORE_HCACHE_DRIVER_H

#include "store/hcache.h"

typedef struct {
    const char *name; /* "memory" or "redis" (metrics, logs) */
    ch_err_t (*get_many)(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got);
    void (*put_many)(void *impl, const char *const *keys, const char *const *vals, const size_t *lens,
                     const uint64_t *leases, size_t n);
    void (*forget_many)(void *impl, const char *const *keys, size_t n);
    size_t (*bytes)(const void *impl);
    void (*destroy)(void *impl);
    /* optional (NULL: not supported): drops every entry and voids every lease handed out */
    void (*flush)(void *impl);
    /* optional (NULL: 0): entries held */
    size_t (*entries)(const void *impl);
    /* optional (NULL: 0): a forget was lost and not healed yet (Redis: the epoch not moved) */
    int (*dirty)(void *impl);
    /* optional (NULL: 0): the key epoch in use; refresh: read it from the cache first (one
     * round trip, adopting a larger one) so that a move by another node is seen */
    long long (*epoch)(void *impl, int refresh);
    /* optional (NULL: not supported): forget_many with one PUBLISH of msg (len bytes) on
     * channel in the same round trip, after the DELs; 1 when the PUBLISH was taken */
    int (*forget_pub)(void *impl, const char *const *keys, size_t n, const char *channel, const char *msg,
                      size_t len);
    /* optional (NULL: not supported): get_many from this process's memory only, never the
     * network (the L1 of cluster mode, for reads on an event loop): misses get lease 0;
     * CH_EUNAVAILABLE when the memory may not be trusted now (the L1 bypassed) */
    ch_err_t (*get_local)(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got);
    /* optional (NULL: hcache.c falls back to get_many): get_many that hands each hit's bytes
     * to fn in place (no copy) and writes each miss's lease to leases[i]; for a driver that
     * cannot fail (the in-process one). fn's non-zero answer leaves lease 0. Returns the
     * number of hits (values handed to fn, taken or not). klens[i] is strlen(keys[i]). */
    size_t (*get_visit)(void *impl, const char *const *keys, const size_t *klens, size_t n, ch_hcache_visit_fn fn,
                        void *arg, uint64_t *leases);
} ch_hcache_driver_t;

struct ch_hcache {
    const ch_hcache_driver_t *driver; /* static */
    void *impl;                       /* the driver's, freed by driver->destroy */
};

/* Outcomes of a put (chorus_hcache_puts_total{result}). */
typedef enum {
    CH__HCACHE_PUT_STORED,
    CH__HCACHE_PUT_LOST_LEASE, /* a forget came between the get and the put (or the lease expired) */
    CH__HCACHE_PUT_TOO_BIG,    /* over CH_HCACHE_VALUE_MAX: skipped */
    CH__HCACHE_PUT_ERROR,      /* the cache could not take it (Redis down, error reply) */
    CH__HCACHE_PUT_RESULTS
} ch__hcache_put_result_t;

/** Wraps a driver's impl (ownership passes to the result) into a cache the caller owns, and
 * makes it the one whose size /metrics shows (chorus_hcache_bytes). */
ch_hcache_t *ch__hcache_wrap(const ch_hcache_driver_t *driver, void *impl);
/** Makes c (a ch_hcache_mem_create cache) count none of its puts in chorus_hcache_puts_total:
 * cluster mode's L1, whose fills are not puts into the hydration cache. */
void ch__hcache_mem_uncounted(ch_hcache_t *c);
/** Counts n puts that ended with result r. Thread-safe (relaxed atomics). */
void ch__hcache_count_puts(ch__hcache_put_result_t r, uint64_t n);

#endif
