/* The hydration layer (docs/design.md, "Hydration"): every list and item read of the API
 * renders its items and user summaries here. Given keys and a viewer it returns each item
 * as JSON text with its author's summary, its counters and the viewer's own state (reaction,
 * story seen), in a constant number of backend round trips per page, never one per item:
 *
 *   1. item records (ch_item_record_t, filled by each type's load_many) for the keys, and for
 *      comments the records of the items they are on;
 *   2. in one batch: author summaries, the viewer's relations with those authors, the
 *      viewer's own state on the items;
 *   3. visibility decided here, per viewer, from those facts (the rules of
 *      svc/graph/visibility.h), then the text spliced: "{" body ',"author":' summary
 *      ',"my_reaction":' kind [',"seen":' bool] "}".
 *
 * Each of the four kinds of fact is read from the hydration cache (store/hcache.h: in process
 * in embedded mode, Redis in cluster mode), and only the misses from the database, one
 * statement per kind (and per group of types sharing a table). What is cached are facts, never
 * a viewer's answer; every write that changes a fact forgets it after its commit
 * (ch_hydrate_forget_*). Cache down: everything is read from the database.
 *
 * Cache keys (private to hydrate.c): "i:<type>:<id>" item record, "u:<id>" user summary,
 * "r:<viewer>:<other>" relation bits, "v:<viewer>:<type>:<id>" viewer state. */
#ifndef CH_SVC_COMMON_HYDRATE_H
#define CH_SVC_COMMON_HYDRATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "svc/common/items.h"
#include "svc/context.h"

/** One item as a viewer sees it. */
typedef struct {
    char *json;            /* the item object as JSON text (NUL-terminated, owned; ch_hydrated_free),
                              NULL when not shown (missing, deleted, expired, not visible) */
    size_t len;
    ch_item_facts_t facts; /* for every shown item; facts-only mode: author_id 0 = not shown */
} ch_hydrated_t;

enum {
    CH_HYDRATE_FACTS_ONLY = 1u << 0,   /* facts only, no text built (ranking reads hundreds) */
    CH_HYDRATE_PLACEHOLDERS = 1u << 1, /* comment threads: a deleted comment with live replies
                                          is shown as its placeholder (record.placeholder) */
};

/** Renders keys[0..n) (n <= CH_ITEMS_HYDRATE_MAX; duplicates get equal, separate texts) for
 * viewer into out[0..n) (zeroed by the call). Muting is not applied (facts.muted says it);
 * everything else a viewer may not see is left NULL. Errors: a database failure
 * (CH_EUNAVAILABLE ...) with f filled; out[] is then all NULL. */
ch_err_t ch_hydrate_items(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n, unsigned flags,
                          ch_hydrated_t *out, ch_fault_t *f);
/** Frees the texts of h[0..n) and zeroes them. */
void ch_hydrated_free(ch_hydrated_t *h, size_t n);

/** A user summary as a viewer sees it. */
typedef struct {
    char *json;        /* {"id","handle","display_name","avatar_url"} as JSON text (owned;
                          ch_hydrated_users_free), NULL when the user does not exist or a block
                          stands either way */
    size_t len;
    int is_private;    /* facts, filled when json is set */
    int following;     /* viewer follows them (approved) */
    int requested;     /* viewer's follow request is pending */
    int followed_by;   /* they follow the viewer */
    int muting;        /* viewer mutes them */
} ch_hydrated_user_t;

/** Summaries of users ids[0..n) (n <= CH_ITEMS_HYDRATE_MAX) for viewer (0 = anonymous: no
 * relation) into out[0..n) (zeroed by the call), from the same caches. */
ch_err_t ch_hydrate_users(ch_svc_t *svc, uint64_t viewer, const uint64_t *ids, size_t n, ch_hydrated_user_t *out,
                          ch_fault_t *f);
/** Frees the texts of u[0..n) and zeroes them. */
void ch_hydrated_users_free(ch_hydrated_user_t *u, size_t n);

/** Appends '[' the shown texts of h[0..n) in order, comma-separated ']' to b. */
void ch_hydrated_append_array(ch_buf_t *b, const ch_hydrated_t *h, size_t n);
/** Appends h's text with members spliced in before its closing brace: extra is members
 * without braces (e.g. "\"reason\":\"following\""), extra_len 0 = none. h must be shown. */
void ch_hydrated_append_with(ch_buf_t *b, const ch_hydrated_t *h, const char *extra, size_t extra_len);

/* Invalidation. Each forgets the facts a write changed: at once when the calling thread
 * has no open transaction, else after it commits (nothing when it rolls back). Call after
 * every write that changes what the fact holds (see docs/design.md, "Hydration"). */

/** The item's record: edit, delete, counters (reactions, comments, replies, views). */
void ch_hydrate_forget_item(ch_svc_t *svc, ch_target_type_t type, uint64_t id);
/** The user's summary and privacy: profile edit, privacy change, account deletion. */
void ch_hydrate_forget_user(ch_svc_t *svc, uint64_t user);
/** The relation of a and b, both ways, both users' followee lists (svc/graph/followees.h) and
 * the first edges of both users' follower and following lists (svc/graph/lists.c):
 * follow, unfollow, request, approve, reject, remove follower, block, unblock, mute, unmute. */
void ch_hydrate_forget_relation(ch_svc_t *svc, uint64_t a, uint64_t b);
/** The newest reactions on a target (svc/engage/reactions_list.c): a reaction set, changed
 * or removed on it. */
void ch_hydrate_forget_reactions(ch_svc_t *svc, ch_target_type_t type, uint64_t id);
/** The viewer's own state on an item: the viewer's reaction set, changed or removed, a story
 * view recorded. */
void ch_hydrate_forget_viewer_item(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id);
/** The author's active-story index (the story tray, a user's stories): the author posted or
 * deleted a story. */
void ch_hydrate_forget_stories(ch_svc_t *svc, uint64_t author);
/** The author's recent posts and reels (svc/content/recent.h): the author created or deleted a
 * post or reel. */
void ch_hydrate_forget_author_items(ch_svc_t *svc, uint64_t author);
/** User's notification list and unread count ("N:", "U:"): a group of user's made, joined,
 * left or dropped, or user's groups marked read. */
void ch_hydrate_forget_notifications(ch_svc_t *svc, uint64_t user);
/** The first comments of item (type, id) with their first replies, its shared "top" ranking
 * ("K:", svc/engage/comments_top_fact.c), and when parent is not 0 the first replies of
 * comment parent (svc/engage/comments_page.c): a comment or reply written or deleted on the
 * item (after the ranking's kv name was dropped). */
void ch_hydrate_forget_thread(ch_svc_t *svc, ch_target_type_t type, uint64_t id, uint64_t parent);
/** The newest posts and reels of a hashtag (svc/content/tagged.c): a post or reel gained or
 * lost the tag (create, edit, delete). Inside the writer's own (not ambient) transaction, call
 * it between ch_hydrate_forget_hold and a ch_hydrate_forget_flush after the commit. */
void ch_hydrate_forget_tag(ch_svc_t *svc, const char *tag);
/** A user's rendered profile "p:<user>" (svc/users/profile_fact.h): a profile edit, a
 * follower, following or posts count moved. Call through ch_users_profile_forget. */
void ch_hydrate_forget_profile(ch_svc_t *svc, uint64_t user);
/** Collects the calling thread's forgets made outside a transaction from now on, to be sent
 * together by ch_hydrate_forget_flush: for a writer that commits a batch of writes itself
 * (the reactions writer) and then forgets what each changed, in one round trip rather than
 * one per key. Only between a commit and the answers it releases. */
void ch_hydrate_forget_hold(void);
/** Sends what was collected since ch_hydrate_forget_hold and stops collecting. */
void ch_hydrate_forget_flush(ch_svc_t *svc);

#endif
