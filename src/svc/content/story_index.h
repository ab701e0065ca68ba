/* The active-story index (docs/design.md, "Hydration", "lists"): per author, the ids and
 * expiry times of their stories that were live when the entry was read, oldest first, kept
 * as a fact "s:<author>" in the hydration cache (an author index, svc/common/author_index.h)
 * and forgotten when the author posts or deletes a story (ch_hydrate_forget_stories). Expiry
 * needs no write: every read drops the entries whose time has passed (the entry's aux).
 * Internal to svc/content. */
#ifndef CH_SVC_CONTENT_STORY_INDEX_H
#define CH_SVC_CONTENT_STORY_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/author_index.h"
#include "svc/context.h"

/* Stories of one author kept in its entry (24 h of stories is far below this). */
#define CH_STORY_INDEX_PER_AUTHOR 100

/** The index's spec: rows (story id, expires_at ms). */
extern const ch_author_index_spec_t ch__story_index_spec;

/** Fills idx (caller clears it: ch_author_index_clear, also after an error) with the stories
 * of authors[0..n) live at now, oldest first (ents[].aux: the expiry): one cache round trip
 * per CH_HCACHE_BATCH_MAX authors, the misses read in one statement per CH_ITEMS_IN_MAX
 * authors (index items_live_stories) and put back under their leases. Nothing here depends
 * on a viewer. */
static inline ch_err_t ch__story_index(ch_svc_t *svc, const uint64_t *authors, size_t n, int64_t now,
                                       ch_author_index_t *idx)
{
    return ch_author_index_read(svc, &ch__story_index_spec, authors, n, now, idx);
}

#endif
