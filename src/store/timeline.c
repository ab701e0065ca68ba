/* Home timelines: the generic part. Picks a driver from the URL, checks that its vtable is
 * complete, and forwards calls after validating arguments, so drivers can trust them. */
#include "store/timeline.h"
#include "store/timeline_mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

struct ch_timeline {
    const ch_timeline_driver_t *drv;
    void *impl;
};

static void ch__tl_errf(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void ch__tl_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* A driver with a missing slot would crash on first use; refuse it at start-up instead. */
static const char *ch__tl_missing_slot(const ch_timeline_driver_t *d)
{
#define CH__TL_SLOT(s)                                                                              \
    if (!d->s)                                                                                      \
        return #s;
    CH__TL_SLOT(name)
    CH__TL_SLOT(open)
    CH__TL_SLOT(close)
    CH__TL_SLOT(meta_many)
    CH__TL_SLOT(push_many)
    CH__TL_SLOT(read)
    CH__TL_SLOT(replace)
    CH__TL_SLOT(touch)
    CH__TL_SLOT(remove_author)
    CH__TL_SLOT(remove_item)
    CH__TL_SLOT(drop)
    CH__TL_SLOT(render_metrics)
#undef CH__TL_SLOT
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

ch_err_t ch_timeline_open(const char *url, ch_timeline_t **out, char *errbuf, size_t errlen)
{
    char scratch[1];
    if (!errbuf || errlen == 0) { /* drivers may then always write to errbuf */
        errbuf = scratch;
        errlen = sizeof(scratch);
    }
    errbuf[0] = '\0';
    if (!out) {
        ch__tl_errf(errbuf, errlen, "timeline: out is NULL");
        return CH_EINVAL;
    }
    *out = NULL;

    const ch_timeline_driver_t *drv;
    if (!url || !*url) {
        drv = &ch_timeline_mem_driver;
        url = NULL;
    } else if (strncasecmp(url, "redis://", 8) == 0) {
        drv = &ch_timeline_redis_driver;
    } else {
        /* Print only the scheme: the rest of a URL may hold a password. */
        const char *sep = strstr(url, "://");
        ch__tl_errf(errbuf, errlen, "timeline: unsupported URL scheme '%.*s' (expected empty or redis://...)",
                    sep ? (int)(sep - url > 32 ? 32 : sep - url) : 0, url);
        return CH_EINVAL;
    }
    const char *missing = ch__tl_missing_slot(drv);
    if (missing) {
        ch__tl_errf(errbuf, errlen, "timeline: driver '%s' has no '%s' slot", drv->name ? drv->name : "?", missing);
        return CH_EINTERNAL;
    }
    ch_timeline_t *tl = ch_calloc(1, sizeof(*tl));
    tl->drv = drv;
    ch_err_t err = drv->open(url, &tl->impl, errbuf, errlen);
    if (err != CH_OK) {
        if (!errbuf[0])
            ch__tl_errf(errbuf, errlen, "timeline: %s driver failed to open (%s)", drv->name, ch_err_code(err));
        free(tl);
        return err;
    }
    if (drv == &ch_timeline_mem_driver)
        ch__timeline_mem_set_max_memory(tl->impl, CH_TIMELINE_DEFAULT_MAX_MEMORY);
    *out = tl;
    return CH_OK;
}

void ch_timeline_close(ch_timeline_t *tl)
{
    if (!tl)
        return;
    tl->drv->close(tl->impl);
    free(tl);
}

const char *ch_timeline_kind(const ch_timeline_t *tl)
{
    return tl ? tl->drv->name : "none";
}

void *ch__timeline_impl(ch_timeline_t *tl)
{
    return tl->impl;
}

void ch_timeline_set_max_memory(ch_timeline_t *tl, size_t bytes)
{
    if (tl && tl->drv == &ch_timeline_mem_driver)
        ch__timeline_mem_set_max_memory(tl->impl, bytes);
}

/* ---- operations ---------------------------------------------------------------------- */

ch_err_t ch_timeline_meta_many(ch_timeline_t *tl, const uint64_t *users, size_t n, ch_timeline_meta_t *out)
{
    if (!tl || (n && (!users || !out)) || n > CH_TIMELINE_BATCH_MAX)
        return CH_EINVAL;
    if (n == 0)
        return CH_OK;
    ch_err_t err = tl->drv->meta_many(tl->impl, users, n, out);
    if (err != CH_OK)
        memset(out, 0, n * sizeof(*out));
    return err;
}

ch_err_t ch_timeline_push_many(ch_timeline_t *tl, const uint64_t *users, size_t n, const ch_timeline_entry_t *e,
                               size_t *pushed_out)
{
    if (pushed_out)
        *pushed_out = 0;
    if (!tl || !e || (n && !users) || n > CH_TIMELINE_BATCH_MAX || e->item_id == 0)
        return CH_EINVAL;
    if (n == 0)
        return CH_OK;
    return tl->drv->push_many(tl->impl, users, n, e, pushed_out);
}

ch_err_t ch_timeline_read(ch_timeline_t *tl, uint64_t user, uint64_t before_id, size_t max, ch_timeline_entry_t *out,
                          size_t *n_out, ch_timeline_meta_t *meta_out)
{
    if (n_out)
        *n_out = 0;
    if (meta_out)
        memset(meta_out, 0, sizeof(*meta_out));
    if (!tl || !n_out || (max && !out))
        return CH_EINVAL;
    if (max > CH_TIMELINE_MAX_ENTRIES)
        max = CH_TIMELINE_MAX_ENTRIES;
    return tl->drv->read(tl->impl, user, before_id, max, out, n_out, meta_out);
}

ch_err_t ch_timeline_replace(ch_timeline_t *tl, uint64_t user, const ch_timeline_entry_t *entries, size_t n,
                             const ch_timeline_meta_t *meta)
{
    if (!tl || (n && !entries))
        return CH_EINVAL;
    return tl->drv->replace(tl->impl, user, entries, n, meta);
}

ch_err_t ch_timeline_touch(ch_timeline_t *tl, uint64_t user, int64_t now_ms, double read_rate)
{
    if (!tl || now_ms < 0 || !(read_rate >= 0)) /* NaN too */
        return CH_EINVAL;
    return tl->drv->touch(tl->impl, user, now_ms, read_rate);
}

ch_err_t ch_timeline_remove_author(ch_timeline_t *tl, uint64_t user, uint64_t author_id)
{
    if (!tl)
        return CH_EINVAL;
    return tl->drv->remove_author(tl->impl, user, author_id);
}

ch_err_t ch_timeline_remove_item(ch_timeline_t *tl, const uint64_t *users, size_t n, uint64_t item_id)
{
    if (!tl || (n && !users))
        return CH_EINVAL;
    if (n == 0)
        return CH_OK;
    return tl->drv->remove_item(tl->impl, users, n, item_id);
}

ch_err_t ch_timeline_drop(ch_timeline_t *tl, uint64_t user)
{
    if (!tl)
        return CH_EINVAL;
    return tl->drv->drop(tl->impl, user);
}

void ch_timeline_render_metrics(ch_timeline_t *tl, ch_buf_t *out)
{
    if (tl && out)
        tl->drv->render_metrics(tl->impl, out);
}
