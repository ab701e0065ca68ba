/* The hydration cache's dispatch (store/hcache.h): argument checks, then the driver. */
#include "store/hcache.h"

#include <stdlib.h>
#include <string.h>

#include "store/hcache_driver.h"

void ch_hcache_destroy(ch_hcache_t *c)
{
    if (!c)
        return;
    c->driver->destroy(c->impl);
    free(c);
}

ch_err_t ch_hcache_get_many(ch_hcache_t *c, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    memset(got, 0, n * sizeof(*got));
    if (n == 0)
        return CH_OK;
    if (!c || n > CH_HCACHE_BATCH_MAX)
        return CH_EUNAVAILABLE;
    return c->driver->get_many(c->impl, keys, n, got);
}

void ch_hcache_put_many(ch_hcache_t *c, const char *const *keys, const char *const *vals, const size_t *lens,
                        const uint64_t *leases, size_t n)
{
    if (c && n > 0 && n <= CH_HCACHE_BATCH_MAX)
        c->driver->put_many(c->impl, keys, vals, lens, leases, n);
}

void ch_hcache_forget_many(ch_hcache_t *c, const char *const *keys, size_t n)
{
    if (!c)
        return;
    for (size_t at = 0; at < n; at += CH_HCACHE_BATCH_MAX)
        c->driver->forget_many(c->impl, keys + at, n - at < CH_HCACHE_BATCH_MAX ? n - at : CH_HCACHE_BATCH_MAX);
}

size_t ch_hcache_bytes(const ch_hcache_t *c)
{
    return c ? c->driver->bytes(c->impl) : 0;
}
