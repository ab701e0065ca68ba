/* Mixing after scoring (brd/feed.md, "Candidates and ranking"): reorders a ranked list so
 * that a page reads well, taking at every position the best-scored candidate that keeps
 *   1. no more than CH_FEED_MIX_MAX_RUN items in a row from one author,
 *   2. at least one reel in every reel_every consecutive items while reels are left,
 *   3. out-of-network items at most oon_share % of every prefix, when the viewer has at
 *      least CH_FEED_MIX_SUPPLY_MIN in-network candidates;
 * when no candidate keeps all three, the rules give way in the order 3, 2, 1 (an author with
 * the only items left still fills the page). Pure: no I/O. */
#ifndef CH_SVC_FEED_MIX_H
#define CH_SVC_FEED_MIX_H

#include <stddef.h>
#include <stdint.h>

#define CH_FEED_MIX_MAX_RUN 2
#define CH_FEED_MIX_SUPPLY_MIN 20 /* in-network candidates for the out-of-network cap to apply */
#define CH_FEED_MIX_MAX 1000      /* candidates one call mixes at most */

/** One ranked candidate as mixing sees it. */
typedef struct {
    uint64_t author_id;
    int is_reel;
    int in_network;
} ch_feed_mix_item_t;

/** Mixing parameters (CHORUS_FEED_REEL_EVERY, CHORUS_FEED_OON_SHARE). */
typedef struct {
    int reel_every; /* 0 = no quota */
    int oon_share;  /* percent, 0..100 */
} ch_feed_mix_params_t;

/** Orders items[0..n) (sorted best first, n <= CH_FEED_MIX_MAX): order_out[k] receives the
 * index of the item shown at position k (a permutation of 0..n). Returns 0, or -1 when n
 * is too large. */
int ch_feed_mix(const ch_feed_mix_item_t *items, size_t n, const ch_feed_mix_params_t *params, size_t *order_out);

#endif
