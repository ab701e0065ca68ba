/* Home timelines rebuilt from the database (brd/feed.md: "their timeline is rebuilt when
 * they return"): for a reader without one (new, inactive for CH_TIMELINE_IDLE_TTL_MS,
 * evicted, or the in-process store after a restart), the newest posts and reels of the
 * followees whose items are pushed to them, in one statement joining follows and items. */
#ifndef CH_SVC_FEED_REBUILD_H
#define CH_SVC_FEED_REBUILD_H

#include <stddef.h>
#include <stdint.h>

#include "store/timeline.h"
#include "svc/context.h"

/* How far back a rebuild looks (older items are not brought back). */
#define CH_FEED_REBUILD_WINDOW_MS (30LL * 24 * 3600 * 1000)

/** The entries a rebuilt timeline of viewer holds, newest first, item id < before_id (0 =
 * from the newest), at most max (<= CH_TIMELINE_MAX_ENTRIES) into out: posts and reels of
 * the CH_FEED_FOLLOWEES_MAX followees who posted most recently and are not celebrities
 * (policy.h), not muted
 * and not blocked either way. Authors the reader pulls are included too (the writer may
 * push to them; the read path's merge drops duplicates). Also the read path's fallback
 * while the timeline store is unavailable (one statement, LIMIT max). Blocks (SQL). */
ch_err_t ch_feed_rebuild_entries(ch_svc_t *svc, uint64_t viewer, uint64_t before_id, size_t max,
                                 ch_timeline_entry_t *out, size_t *n_out);
/** Builds viewer's timeline (ch_timeline_replace with ch_feed_rebuild_entries and meta),
 * then pushes again what the fan-out may have pushed while it was being built (items of
 * the last CH_CONSUMER_WINDOW_MS before the read; pushes are idempotent). */
ch_err_t ch_feed_rebuild(ch_svc_t *svc, uint64_t viewer, const ch_timeline_meta_t *meta);

#endif
