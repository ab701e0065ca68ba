/* REST handlers of the feed (brd/feed.md): home, following and reels feeds, feedback and
 * user suggestions. Each parses the query, calls svc/feed and sets the answer. */
#ifndef CH_HTTP_H_FEED_H
#define CH_HTTP_H_FEED_H

#include "http/call.h"

/** GET /v1/feed/home?limit&cursor[&explain=1] -> 200 {items: [{item, reason, ...}], next_cursor}. */
ch_err_t ch_h_feed_home(ch_call_t *call);
/** GET /v1/feed/following?limit&cursor -> 200 followed accounts' posts and reels, newest first. */
ch_err_t ch_h_feed_following(ch_call_t *call);
/** GET /v1/feed/reels?limit&cursor -> 200 ranked reels, mostly out of network. */
ch_err_t ch_h_feed_reels(ch_call_t *call);
/** POST /v1/feed/feedback {type, id, signal} -> 204. */
ch_err_t ch_h_feed_feedback(ch_call_t *call);
/** GET /v1/suggestions/users?limit -> 200 accounts to follow. */
ch_err_t ch_h_suggestions_users(ch_call_t *call);

#endif
