/* Accounts to follow (GET /v1/suggestions/users, brd/feed.md): friends of friends, then
 * popular accounts in the viewer's interests and region, then popular globally. */
#ifndef CH_SVC_FEED_SUGGEST_H
#define CH_SVC_FEED_SUGGEST_H

#include <jansson.h>

#include "svc/context.h"

/* Page size: 1..CH_SUGGEST_LIMIT_MAX, CH_SUGGEST_LIMIT_DEFAULT when not asked. */
#define CH_SUGGEST_LIMIT_DEFAULT 20
#define CH_SUGGEST_LIMIT_MAX 50
/* Friends of friends: the viewer's newest followees walked, and follow edges read from
 * them at most. */
#define CH_SUGGEST_FOF_FOLLOWEES_MAX 100
#define CH_SUGGEST_FOF_EDGES_MAX 5000
/* Popular in interests: the profile's first interests used, the newest hashtag rows read
 * per interest. */
#define CH_SUGGEST_INTEREST_TAGS_MAX 5
#define CH_SUGGEST_TAG_SCAN_MAX 200
/* Popular in region / globally: the most followed accounts read before the viewer's
 * exclusions are applied. */
#define CH_SUGGEST_POPULAR_SCAN_MAX 500

/** {items: [{user: <user summary>, reason, mutual_count?}]}: at most limit accounts viewer
 * might follow, best first, each once under its first reason ("friends_of_friends" with
 * mutual_count = how many of the viewer's followees follow it, "popular_in_interests",
 * "popular_in_region", "popular"). Never the viewer, an account the viewer follows or has
 * asked to follow, blocks, mutes or is blocked by. Bounded reads only. *out is the
 * caller's. */
ch_err_t ch_feed_suggest_users(ch_svc_t *svc, uint64_t viewer, int limit, json_t **out, ch_fault_t *f);

#endif
