/* What a hydration-cache driver provides (store/hcache.h): the in-process driver
 * (hcache_mem.c) and the Redis one (hcache_redis.c) each fill one of these; hcache.c
 * dispatches to it. Internal to src/store. */
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
} ch_hcache_driver_t;

struct ch_hcache {
    const ch_hcache_driver_t *driver; /* static */
    void *impl;                       /* the driver's, freed by driver->destroy */
};

#endif
