/* Candidate generation for the feeds (brd/feed.md, "Candidates and ranking"): each source
 * returns a bounded list of item keys with why it was chosen; the ranker (svc/feed/rank*)
 * merges them (an item from several sources keeps the first reason in the order of
 * ch_feed_reason_t, i.e. in-network wins), scores, mixes and serves them.
 *
 * Sources see only what the viewer may see in principle (never their own blocks either way
 * or mutes; followers-only and private content only through an approved follow), but the
 * hydration step (svc/common/items.h) decides per item again: sources may be a little
 * stale, hydration is not. Every source is bounded by its max argument. */
#ifndef CH_SVC_FEED_CANDIDATES_H
#define CH_SVC_FEED_CANDIDATES_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/items.h"
#include "svc/context.h"

/* Bounds per source for one ranking (defaults; the ranker may ask for fewer). */
#define CH_FEED_SOURCE_IN_NETWORK_MAX 500
#define CH_FEED_SOURCE_ENGAGED_MAX 100
#define CH_FEED_SOURCE_HASHTAG_MAX 100
#define CH_FEED_SOURCE_POPULAR_MAX 200
#define CH_FEED_TAG_MAX 128 /* bytes of a tag, NUL included (a folded tag is <= 64 chars) */
#define CH_FEED_VIA_MAX 3   /* followees named in a liked_by_following reason */

/** Why an item is a candidate: the API's `reason`. In order of precedence. */
typedef enum {
    CH_FEED_REASON_FOLLOWING,          /* an account the viewer follows posted it */
    CH_FEED_REASON_LIKED_BY_FOLLOWING, /* followees engaged with it (via) */
    CH_FEED_REASON_TRENDING_HASHTAG,   /* it carries a trending tag (tag) */
    CH_FEED_REASON_INTEREST,           /* it carries one of the viewer's interests (tag) */
    CH_FEED_REASON_POPULAR,            /* engaging now, out of network */
    CH_FEED_REASON_SUGGESTED,          /* cold start / exploration */
} ch_feed_reason_t;

/** The API name of a reason ("liked_by_following"); static storage. */
const char *ch_feed_reason_name(ch_feed_reason_t r);

/** One candidate. */
typedef struct {
    ch_item_key_t key;
    uint64_t author_id;
    ch_feed_reason_t reason;
    uint64_t via[CH_FEED_VIA_MAX]; /* liked_by_following: followees who engaged (0 = none) */
    char tag[CH_FEED_TAG_MAX];     /* trending_hashtag, interest: the tag ("" otherwise) */
} ch_feed_cand_t;

/** In-network items for viewer, newest first, item id < before_id (0 = newest): the
 * materialized home timeline (rebuilt when missing, store/timeline.h) merged with the recent
 * items of the followees the viewer pulls (policy.h), without duplicates, by accounts the
 * viewer follows now. Muted and blocked authors' items that the timeline still holds are not
 * taken out here: the caller hydrates what it shows, which leaves out what a block hides and
 * says what is muted (ch_item_facts_t.muted), and skips those (svc/feed/visible.h). Records
 * the read (read rate) when before_id is 0. Posts and reels only (stories are the tray's).
 * *n_out <= max. (svc/feed/inbox.c) */
ch_err_t ch_feed_in_network(ch_svc_t *svc, uint64_t viewer, uint64_t before_id, size_t max, ch_feed_cand_t *out,
                            size_t *n_out, ch_fault_t *f);

/** As ch_feed_in_network, and tells the end of the source apart from bounded work: *next_before
 * gets 0 when the source ended below what it returned, otherwise the position reached (every
 * item with a larger id was examined): pass it as before_id to go on. When *n_out < max and
 * *next_before != 0 the call stopped after its rounds, not at the end. (svc/feed/inbox.c) */
ch_err_t ch_feed_in_network_page(ch_svc_t *svc, uint64_t viewer, uint64_t before_id, size_t max, ch_feed_cand_t *out,
                                 size_t *n_out, uint64_t *next_before, ch_fault_t *f);

/** ch_feed_in_network_page for a caller on an event-loop thread (on_loop 1): when the page
 * needs statements beyond point reads (no cached, current pull set; no timeline yet; a store
 * this process does not feed) it does nothing and sets *needs_worker (call it again from a
 * worker thread). on_loop 0 is ch_feed_in_network_page (needs_worker may be NULL).
 * (svc/feed/inbox.c) */
ch_err_t ch_feed_in_network_page_on(ch_svc_t *svc, uint64_t viewer, uint64_t before_id, size_t max, int on_loop,
                                    ch_feed_cand_t *out, size_t *n_out, uint64_t *next_before, int *needs_worker,
                                    ch_fault_t *f);

/** Out-of-network posts and reels that accounts the viewer follows reacted to or commented
 * on recently (reason liked_by_following, via = up to three of them), most engaged first.
 * (svc/feed/sources.c) */
ch_err_t ch_feed_engaged_by_following(ch_svc_t *svc, uint64_t viewer, size_t max, ch_feed_cand_t *out,
                                      size_t *n_out, ch_fault_t *f);
/** Public posts and reels carrying trending hashtags (reason trending_hashtag) and the
 * viewer's interest tags (the profile's interests and tags they engaged with; reason
 * interest), newest first per tag. (svc/feed/sources.c) */
ch_err_t ch_feed_hashtag_items(ch_svc_t *svc, uint64_t viewer, size_t max, ch_feed_cand_t *out, size_t *n_out,
                               ch_fault_t *f);
/** Popular public items of type (CH_TARGET_POST or CH_TARGET_REEL; reason popular): the
 * highest engagement velocity of the last days, preferring the viewer's interests and
 * region, then global: what a user with no follows sees (cold start) and the reels feed's
 * main source. (svc/feed/sources.c) */
ch_err_t ch_feed_popular(ch_svc_t *svc, uint64_t viewer, uint8_t type, size_t max, ch_feed_cand_t *out,
                         size_t *n_out, ch_fault_t *f);

/* ---- negative and positive feedback (svc/feed/feedback.c) ------------------------------ */

/* Feedback entries one ranking looks at (the newest). */
#define CH_FEED_FEEDBACK_MAX 500

typedef enum {
    CH_FEED_SIGNAL_NOT_INTERESTED, /* hide this item */
    CH_FEED_SIGNAL_SEE_LESS_AUTHOR,
    CH_FEED_SIGNAL_SEE_MORE,       /* more like this item (its author, its tags) */
} ch_feed_signal_t;

/** What a viewer said, as the ranker reads it (owned by the caller: ch_feed_feedback_clear). */
typedef struct {
    ch_item_key_t *hidden;     /* not_interested items: never shown again */
    size_t n_hidden;
    uint64_t *less_authors;    /* see_less_author: demoted */
    size_t n_less_authors;
    uint64_t *more_authors;    /* see_more: promoted */
    size_t n_more_authors;
} ch_feed_feedback_t;

/** Stores one signal of viewer about an item it may see (CH_ENOTFOUND otherwise); a repeat
 * changes nothing. */
ch_err_t ch_feed_feedback_add(ch_svc_t *svc, uint64_t viewer, ch_item_key_t key, ch_feed_signal_t signal,
                              ch_fault_t *f);
/** Loads viewer's recent feedback (at most CH_FEED_FEEDBACK_MAX entries). */
ch_err_t ch_feed_feedback_load(ch_svc_t *svc, uint64_t viewer, ch_feed_feedback_t *out, ch_fault_t *f);
/** Frees what ch_feed_feedback_load filled in. */
void ch_feed_feedback_clear(ch_feed_feedback_t *fb);

#endif
