/* Authors' recent posts and reels (docs/design.md, "### feedwarm"): per author, the ids and
 * types of their newest CH_RECENT_ITEMS_PER_AUTHOR live posts and reels, newest first, kept as
 * a fact "a:<author>" in the hydration cache (an author index, svc/common/author_index.h) and
 * forgotten after the commit of every post or reel the author creates or deletes
 * (ch_hydrate_forget_author_items). Read by an author's timeline (content) and by the pulled
 * side of the following feed (svc/feed/inbox.c). Nothing in it depends on a viewer: who may
 * see what is decided at read from the viewer's relation facts and the item records. */
#ifndef CH_SVC_CONTENT_RECENT_H
#define CH_SVC_CONTENT_RECENT_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/author_index.h"
#include "svc/context.h"

/* Posts and reels kept per author: a first page of the largest limit (50) from one author. */
#define CH_RECENT_ITEMS_PER_AUTHOR 50

/** Fills out (caller clears it: ch_author_index_clear, also after an error) with the recent
 * items of authors[0..n), newest first (ents[].aux: the target type, post or reel;
 * span[].full: there may be older ones): one cache round trip per CH_HCACHE_BATCH_MAX
 * authors, the misses read by one statement per 16 authors (two bounded ranges of index
 * items_author_type each) and put back under their leases; with the cache down or more
 * misses than 2 statements read, out->cold is set instead (nothing more loaded: the caller
 * reads the database in one statement). Errors: the database's. */
ch_err_t ch_recent_items_read(ch_svc_t *svc, const uint64_t *authors, size_t n, ch_author_index_t *out);

#endif
