/* What the candidate sources (sources*.c) share: their bounds, the SQL rule for an
 * out-of-network item a viewer may be shown, and small helpers. Internal to svc/feed. */
#ifndef CH_SVC_FEED_SOURCES_INT_H
#define CH_SVC_FEED_SOURCES_INT_H

#include <jansson.h>

#include "svc/feed/candidates.h"
#include "svc/graph/visibility.h"

/* Engaged by following: the viewer's newest followees looked at, how far back, and how
 * many of their newest engagements (reactions + comments) are read at most. */
#define CH_FEED_ENGAGED_FOLLOWEES_MAX 300
#define CH_FEED_ENGAGED_WINDOW_MS (3LL * 24 * 3600 * 1000)
#define CH_FEED_ENGAGED_SCAN_MAX 2000

/* Hashtag items: trending tags used, interest tags used (profile first, then tags of items
 * the viewer engaged with), the viewer's engagements read for those tags, and the newest
 * rows of each tag read. */
#define CH_FEED_TRENDING_TAGS_MAX 5
#define CH_FEED_INTEREST_TAGS_MAX 10
#define CH_FEED_ENGAGED_TAGS_MAX 5
#define CH_FEED_ENGAGED_TAGS_SCAN_MAX 200
#define CH_FEED_TAG_SCAN_MAX 100

/* Popular: velocity rows updated in the window are candidates, the newest
 * CH_FEED_POPULAR_SCAN_MAX of them read per refresh; the best CH_FEED_POPULAR_TOPK per
 * type are kept, shared by every viewer of the process. */
#define CH_FEED_POPULAR_WINDOW_MS (3LL * 24 * 3600 * 1000)
#define CH_FEED_POPULAR_SCAN_MAX 20000
#define CH_FEED_POPULAR_TOPK 500

/* A live public post or reel (items i, author users au) of a public account that viewer
 * (a bound parameter) may be shown out of network: not the viewer's own, no block either
 * way, author not muted. `now` is a bound parameter with the current unix ms. */
#define CH_FEED__SQL_OUT_ITEM(viewer, now)                                                          \
    " i.type IN ('post', 'reel') AND i.visibility = 'public' AND au.is_private = 0 AND"             \
    " i.deleted_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > " now ") AND"               \
    " i.author_id <> " viewer " AND" CH_GRAPH_SQL_NO_BLOCK(viewer, "i.author_id") " AND"           \
    " NOT EXISTS (SELECT 1 FROM mutes mv WHERE mv.muter_id = " viewer " AND mv.muted_id = i.author_id)"

/** Fills *c as a candidate of reason r (via and tag empty); type_name is "post" or "reel". */
void ch_feed__cand(ch_feed_cand_t *c, const char *type_name, uint64_t id, uint64_t author, ch_feed_reason_t r);

/** The viewer's profile interests (a new JSON array of folded tags, caller owns it; empty
 * when none) and region (ISO code upper case, "" when none). */
ch_err_t ch_feed__viewer_profile(ch_svc_t *svc, uint64_t viewer, json_t **interests, char region[3]);

/** Drops the process's shared popular snapshot (tests switching databases, shutdown):
 * the next ch_feed_popular computes afresh. */
void ch_feed__popular_reset(void);

/** Whether (key) is among out[0..n). */
int ch_feed__has(const ch_feed_cand_t *out, size_t n, ch_item_key_t key);

#endif
