/* The hydration cache's Redis driver (store/hcache.h). For now a cache that never answers
 * (every get is CH_EUNAVAILABLE: callers read the database): the pipelined driver follows. */
#include "store/hcache.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/hcache_driver.h"

static ch_err_t ch__hcr_get_many(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    (void)impl, (void)keys, (void)n, (void)got;
    return CH_EUNAVAILABLE;
}

static void ch__hcr_put_many(void *impl, const char *const *keys, const char *const *vals, const size_t *lens,
                             const uint64_t *leases, size_t n)
{
    (void)impl, (void)keys, (void)vals, (void)lens, (void)leases;
    ch__hcache_count_puts(CH__HCACHE_PUT_ERROR, n);
}

static void ch__hcr_forget_many(void *impl, const char *const *keys, size_t n)
{
    (void)impl, (void)keys, (void)n;
}

static size_t ch__hcr_bytes(const void *impl)
{
    (void)impl;
    return 0;
}

static void ch__hcr_destroy(void *impl)
{
    free(impl);
}

static const ch_hcache_driver_t ch__hcr_driver = {
    .name = "redis",
    .get_many = ch__hcr_get_many,
    .put_many = ch__hcr_put_many,
    .forget_many = ch__hcr_forget_many,
    .bytes = ch__hcr_bytes,
    .destroy = ch__hcr_destroy,
};

ch_hcache_t *ch_hcache_redis_create(ch_kv_t *kv, int64_t ttl_ms)
{
    (void)ttl_ms;
    if (!kv || strcmp(ch_kv_kind(kv), "redis") != 0)
        return NULL;
    return ch__hcache_wrap(&ch__hcr_driver, ch_calloc(1, 1));
}
