#include "svc/feed/visible.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "svc/common/hydrate.h"

static int ch__cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

ch_err_t ch_feed_keep_visible(ch_svc_t *svc, uint64_t viewer, ch_timeline_entry_t *e, size_t *n)
{
    if (*n == 0)
        return CH_OK;
    size_t m = *n;
    uint64_t *authors = ch_malloc(m * sizeof(uint64_t));
    for (size_t i = 0; i < m; i++)
        authors[i] = e[i].author_id;
    qsort(authors, m, sizeof(uint64_t), ch__cmp);
    size_t d = 0;
    for (size_t i = 0; i < m; i++)
        if (d == 0 || authors[d - 1] != authors[i])
            authors[d++] = authors[i];
    /* The relation facts (follow, mute, blocks) of the hydration layer: cached, forgotten after
     * every change of the pair's edges (ch_hydrate_forget_relation). Kept authors are packed to
     * the front of authors[]. */
    ch_hydrated_user_t *u = ch_malloc(CH_ITEMS_HYDRATE_MAX * sizeof(*u));
    ch_err_t err = CH_OK;
    size_t keep = 0;
    for (size_t at = 0; at < d && err == CH_OK; at += CH_ITEMS_HYDRATE_MAX) {
        size_t k = d - at < CH_ITEMS_HYDRATE_MAX ? d - at : CH_ITEMS_HYDRATE_MAX;
        ch_fault_t f = {0};
        err = ch_hydrate_users(svc, viewer, authors + at, k, u, &f);
        for (size_t i = 0; err == CH_OK && i < k; i++)
            if (u[i].json && u[i].following && !u[i].muting)
                authors[keep++] = authors[at + i];
        if (err == CH_OK)
            ch_hydrated_users_free(u, k);
    }
    if (err == CH_OK) {
        size_t kept = 0;
        for (size_t i = 0; i < *n; i++)
            if (keep && bsearch(&e[i].author_id, authors, keep, sizeof(uint64_t), ch__cmp))
                e[kept++] = e[i];
        *n = kept;
    }
    free(u);
    free(authors);
    return err;
}
