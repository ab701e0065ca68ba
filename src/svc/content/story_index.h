/* The active-story index (docs/design.md, "Hydration", "lists"): per author, the ids and
 * expiry times of their stories that were live when the entry was read, kept as a fact
 * "s:<author>" in the hydration cache (store/hcache.h; hydrate_keys.h) and forgotten when the
 * author posts or deletes a story (ch_hydrate_forget_stories). Expiry needs no write: readers
 * drop the entries whose time has passed. Internal to svc/content. */
#ifndef CH_SVC_CONTENT_STORY_INDEX_H
#define CH_SVC_CONTENT_STORY_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

/* Stories of one author kept in its entry (24 h of stories is far below this). */
#define CH_STORY_INDEX_PER_AUTHOR 100

/** One story of the index. */
typedef struct {
    uint64_t id;
    int64_t expires_ms;
} ch__story_ent_t;

/** The index entries read for some authors: author i's live stories, oldest first, are
 * ents[span[i].first .. span[i].first + span[i].n). */
typedef struct {
    struct {
        size_t first, n;
    } *span;              /* one per author asked (owned) */
    ch__story_ent_t *ents; /* owned */
    size_t nents, cap;
} ch__story_index_t;

/** Fills idx (caller clears it: ch__story_index_clear) with the stories of authors[0..n)
 * live at now: one cache round trip per CH_HCACHE_BATCH_MAX authors, the misses read in one
 * statement per CH_ITEMS_IN_MAX authors (index items_live_stories) and put back under their
 * leases. Nothing here depends on a viewer. */
ch_err_t ch__story_index(ch_svc_t *svc, const uint64_t *authors, size_t n, int64_t now, ch__story_index_t *idx);
/** Frees what idx holds. */
void ch__story_index_clear(ch__story_index_t *idx);

#endif
