/* Home timelines: the Redis driver (placeholder until the sorted-set driver lands: opens,
 * and answers CH_EUNAVAILABLE to every call). */
#include "store/timeline.h"

static ch_err_t ch__tlr_open(const char *url, void **impl_out, char *errbuf, size_t errlen)
{
    static int dummy;
    *impl_out = &dummy;
    return CH_OK;
}

static void ch__tlr_close(void *impl)
{
}

static ch_err_t ch__tlr_meta_many(void *impl, const uint64_t *users, size_t n, ch_timeline_meta_t *out)
{
    return CH_EUNAVAILABLE;
}

static ch_err_t ch__tlr_push_many(void *impl, const uint64_t *users, size_t n, const ch_timeline_entry_t *e,
                                  size_t *pushed_out)
{
    return CH_EUNAVAILABLE;
}

static ch_err_t ch__tlr_read(void *impl, uint64_t user, uint64_t before_id, size_t max, ch_timeline_entry_t *out,
                             size_t *n_out, ch_timeline_meta_t *meta_out)
{
    return CH_EUNAVAILABLE;
}

static ch_err_t ch__tlr_replace(void *impl, uint64_t user, const ch_timeline_entry_t *entries, size_t n,
                                const ch_timeline_meta_t *meta)
{
    return CH_EUNAVAILABLE;
}

static ch_err_t ch__tlr_touch(void *impl, uint64_t user, int64_t now_ms, double read_rate)
{
    return CH_EUNAVAILABLE;
}

static ch_err_t ch__tlr_remove_author(void *impl, uint64_t user, uint64_t author_id)
{
    return CH_EUNAVAILABLE;
}

static ch_err_t ch__tlr_remove_item(void *impl, const uint64_t *users, size_t n, uint64_t item_id)
{
    return CH_EUNAVAILABLE;
}

static ch_err_t ch__tlr_drop(void *impl, uint64_t user)
{
    return CH_EUNAVAILABLE;
}

static void ch__tlr_render_metrics(void *impl, ch_buf_t *out)
{
}

const ch_timeline_driver_t ch_timeline_redis_driver = {
    .name = "redis",
    .open = ch__tlr_open,
    .close = ch__tlr_close,
    .meta_many = ch__tlr_meta_many,
    .push_many = ch__tlr_push_many,
    .read = ch__tlr_read,
    .replace = ch__tlr_replace,
    .touch = ch__tlr_touch,
    .remove_author = ch__tlr_remove_author,
    .remove_item = ch__tlr_remove_item,
    .drop = ch__tlr_drop,
    .render_metrics = ch__tlr_render_metrics,
};
