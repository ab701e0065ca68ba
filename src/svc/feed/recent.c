/* The pulled side's merge over authors' recent items: see recent.h. */
#include "svc/feed/recent.h"

#include <stdlib.h>

#include "core/alloc.h"

int ch_feed_recent_merge(const ch_author_index_t *r, size_t nauthors, uint64_t before, uint64_t floor_id,
                         ch_timeline_entry_t *out, size_t max, size_t *n_out, uint64_t *deep)
{
    *n_out = 0;
    *deep = 0;
    if (before == 0)
        before = UINT64_MAX;
    /* Where each list starts below before; the deepest point every full list still covers. */
    size_t *at = ch_malloc((nauthors ? nauthors : 1) * sizeof(size_t));
    for (size_t a = 0; a < nauthors; a++) {
        size_t first = r->span[a].first, n = r->span[a].n, i = 0;
        while (i < n && r->ents[first + i].id >= before)
            i++;
        at[a] = i;
        if (!r->span[a].full || n == 0)
            continue;
        uint64_t last = r->ents[first + n - 1].id;
        if (last >= before) { /* nothing of this author below before is known */
            free(at);
            return 0;
        }
        if (last > floor_id && last > *deep)
            *deep = last;
    }
    /* k-way merge by scanning the heads: pages are small. */
    while (*n_out < max) {
        size_t best = SIZE_MAX;
        uint64_t best_id = 0;
        for (size_t a = 0; a < nauthors; a++) {
            if (at[a] >= r->span[a].n)
                continue;
            uint64_t id = r->ents[r->span[a].first + at[a]].id;
            if (id > best_id) {
                best_id = id;
                best = a;
            }
        }
        if (best == SIZE_MAX || best_id <= floor_id || best_id < *deep)
            break;
        const ch_author_ent_t *e = &r->ents[r->span[best].first + at[best]];
        out[(*n_out)++] = (ch_timeline_entry_t){e->id, e->author, (uint8_t)e->aux};
        at[best]++;
    }
    free(at);
    return 1;
}
