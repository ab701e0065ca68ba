/* The read path of the ranked feeds (docs/design.md, "### rank"): GET /v1/feed/home and
 * /v1/feed/reels. A first page (no cursor) gathers the candidates (candidates.h), drops
 * what the viewer hid, muted or may not see, scores every one (rank_features.h under the
 * current model, rank_model.h), mixes them (mix.h) and keeps the ranking as a snapshot
 * (snapshot.h); a page with a cursor reads the snapshot at its offset. Every page is
 * hydrated at read time (svc/common/items.h), so an item deleted, blocked, muted, made
 * private or hidden after the snapshot is left out and the page filled from the next
 * entries (at most CH_FEED_PAGE_SCAN_MAX looked at). Items served join the seen set. */
#ifndef CH_SVC_FEED_RANK_H
#define CH_SVC_FEED_RANK_H

#include <jansson.h>
#include <stdint.h>

#include "svc/context.h"

/* Candidates asked from each source for one ranking. */
#define CH_FEED_RANK_IN_NETWORK 300
#define CH_FEED_RANK_ENGAGED 100
#define CH_FEED_RANK_HASHTAG 100
#define CH_FEED_RANK_POPULAR 100 /* per type on the home feed; twice that of reels on the reels feed */
/* Items per page at most (?limit). */
#define CH_FEED_PAGE_MAX 100
/* Snapshot entries one page looks at, at most (hidden ones included). */
#define CH_FEED_PAGE_SCAN_MAX 200

typedef enum { CH_FEED_HOME, CH_FEED_REELS } ch_feed_kind_t;

/** One page of viewer's ranked feed: {items: [{item, reason, via?, tag?, rank_score?,
 * features?}], next_cursor} as JSON text into *out (NUL-terminated, malloc'd, caller frees). cursor NULL for a first page;
 * explain adds each item's score and features (the caller checks who may ask). An unknown
 * or expired cursor answers CH_EINVAL (422, field cursor): start again. quick (the caller runs
 * on an event loop): serve only what needs no ranking and no SQL besides the page's
 * hydration (a reused ranking, a next page), else set *needs_worker and return
 * CH_EUNAVAILABLE at once, having changed nothing. */
ch_err_t ch_feed_ranked(ch_svc_t *svc, ch_feed_kind_t kind, uint64_t viewer, int limit, const char *cursor,
                        int explain, int quick, int *needs_worker, char **out, ch_fault_t *f);

#endif
