/* Whether anything arrived in a viewer's network since a ranking, told without SQL
 * (docs/design.md, "### feedhot"): a reused ranking (svc/feed/rank.c) is served again only
 * while no in-network item newer than the one it recorded (net_top) exists.
 *
 * Pushed items are in the viewer's timeline (store/timeline.h): its newest entry. Pulled
 * ones are not; for them the fan-out worker, which sees every post and reel, notes each
 * author's newest item in the kv store ("feed:anew:<author>"), and the newest item of any
 * author every follower pulls (celebrities, or everyone in pull mode) in one key
 * ("feed:anew:joined"): a celebrity's post makes every reuse rank again once, whoever follows
 * it. Each note lives CH_FEED_ANEW_TTL_MS, longer than any ranking is reused. */
#ifndef CH_SVC_FEED_NETTOP_H
#define CH_SVC_FEED_NETTOP_H

#include <stdint.h>

#include "svc/context.h"

/* How long an author's newest-item note is kept (longer than CHORUS_FEED_REUSE_MS at most). */
#define CH_FEED_ANEW_TTL_MS (20LL * 60 * 1000)
/* Pulled authors whose notes one check reads at most; a larger pull set is checked by SQL. */
#define CH_FEED_ANEW_AUTHORS_MAX 64

/** Notes that author published item_id (fan-out worker, after the item's commit); joined: the
 * author has at least ch_feed_pull_join_followers followers (every follower pulls them).
 * Kv errors are logged, not returned (a missed note delays the item in a reused ranking by
 * at most CHORUS_FEED_REUSE_MS). */
void ch_feed_anew_note(ch_svc_t *svc, uint64_t author, uint64_t item_id, int joined);

/** Sets *newer to 1 when an in-network item newer than net_top may exist for viewer: the
 * timeline's newest entry or a pulled author's noted item is above net_top. Records the read
 * in the timeline's read rate, as ch_feed_in_network does. CH_OK when it could tell from
 * memory and the kv store alone; otherwise (no timeline yet, a store this process does not
 * feed, no cached pull set, a pull set over CH_FEED_ANEW_AUTHORS_MAX, a store error) an
 * error, and the caller asks ch_feed_in_network. */
ch_err_t ch_feed_net_newer(ch_svc_t *svc, uint64_t viewer, uint64_t net_top, int *newer);

/** Whether this process's timeline store receives the fan-out's pushes (svc/feed/inbox.c). */
int ch_feed_store_fed(const ch_svc_t *svc);
/** Whether the timeline store is this process's memory (embedded): then a fresh read's
 * read-rate touch is noted for the feed's thread (svc/feed/touch_queue.h) instead of made on
 * the request, as with the cluster's cached timeline heads. */
int ch_feed_timelines_in_process(const ch_svc_t *svc);

#endif
