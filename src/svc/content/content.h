/* Authored content: posts, reels and stories. One polymorphic item (type, id) stored in the
 * `items` table; every read path asks the social graph (svc/graph/visibility.h) whether the
 * viewer may see the author's content, and answers CH_ENOTFOUND when not (never 403), so
 * that existence does not leak. Every write goes to the outbox in its own transaction.
 *
 * Items are rendered as Jansson objects; the caller owns every json_t * it receives. JSON
 * request bodies are borrowed for the call. */
#ifndef CH_SVC_CONTENT_H
#define CH_SVC_CONTENT_H

#include <jansson.h>
#include <stdint.h>

#include "svc/common/sql.h"

#define CH_POST_TEXT_MAX 5000
#define CH_POST_MEDIA_MAX 10
#define CH_REEL_CAPTION_MAX 2200
#define CH_REEL_DURATION_MIN_MS 1000
#define CH_REEL_DURATION_MAX_MS 180000
#define CH_STORY_DURATION_MIN_MS 1000
#define CH_STORY_DURATION_MAX_MS 60000
#define CH_MEDIA_URL_MAX 2048
#define CH_MEDIA_DIMENSION_MAX 2147483647LL
/* The tray is one screen of avatars, loaded at once: the most relevant authors only. */
#define CH_STORY_TRAY_MAX 100
/* Stories of one author shown in a tray entry (24 h of stories is far below this). */
#define CH_STORY_TRAY_STORIES_MAX 100
/* Followees whose active-story index entries the tray reads (most recently followed first):
 * bounds the tray's cost for users who follow thousands. */
#define CH_STORY_TRAY_FOLLOWEES_MAX 2000
/* Stories the tray hydrates at most (in at most five chunks, svc/content/tray.c): past it,
 * the authors whose latest story is oldest are left out before ordering. */
#define CH_STORY_TRAY_SCAN_MAX 1000

/** The three authored types; their API names are "post", "reel", "story". */
typedef enum { CH_ITEM_POST, CH_ITEM_REEL, CH_ITEM_STORY } ch_item_type_t;

/** The API name of a type ("post"); static storage. */
const char *ch_item_type_name(ch_item_type_t type);

/** What a caller needs to know about an item it may see (engagement, feeds use this). */
typedef struct {
    uint64_t id;
    uint64_t author_id;
    ch_item_type_t type;
    int followers_only; /* visibility "followers" */
} ch_item_ref_t;

/** Finds a live item (not deleted, not expired) of `type` that viewer may see. conn may be
 * NULL (a connection is borrowed) or the caller's, inside its transaction. CH_ENOTFOUND
 * when it does not exist, was deleted, expired, or the viewer may not see it. */
ch_err_t ch_content_find(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_item_type_t type, uint64_t id,
                         ch_item_ref_t *out, ch_fault_t *f);

/** Validates a create body of `type` and stores the item in one transaction with its
 * outbox event (and the author's posts_count for posts). Bad input is CH_EINVAL naming the
 * field ("media[2].url") and stores nothing. *out receives the item as its author sees it. */
ch_err_t ch_content_create(ch_svc_t *svc, uint64_t author, ch_item_type_t type, json_t *body, json_t **out,
                           ch_fault_t *f);
/** The item as viewer sees it; CH_ENOTFOUND as in ch_content_find. */
ch_err_t ch_content_get(ch_svc_t *svc, uint64_t viewer, ch_item_type_t type, uint64_t id, json_t **out,
                        ch_fault_t *f);
/** Changes a post's text ({"text"}) or a reel's caption ({"caption"}) and sets edited_at.
 * CH_ENOTFOUND when the viewer may not see the item, CH_EFORBIDDEN when it is someone
 * else's, CH_EINVAL for a bad value (nothing changed). *out receives the edited item. */
ch_err_t ch_content_edit(ch_svc_t *svc, uint64_t viewer, ch_item_type_t type, uint64_t id, json_t *body,
                         json_t **out, ch_fault_t *f);
/** Soft-deletes the viewer's own item: it leaves every read path (and posts_count).
 * CH_ENOTFOUND / CH_EFORBIDDEN as in ch_content_edit. */
ch_err_t ch_content_delete(ch_svc_t *svc, uint64_t viewer, ch_item_type_t type, uint64_t id, ch_fault_t *f);
/** One page of author's posts or reels as viewer sees them, newest first: items with id
 * below `before` (0 = from the newest). *out is {items, next_cursor} as JSON text (malloc'd,
 * caller frees), rendered by the hydration layer. CH_ENOTFOUND when
 * the viewer may not see the author's content (blocked, private and not an approved
 * follower); followers-only posts are left out for non-followers. */
ch_err_t ch_content_timeline(ch_svc_t *svc, uint64_t viewer, uint64_t author, ch_item_type_t type, int limit,
                             uint64_t before, char **out, ch_fault_t *f);

/** Registers posts, reels and stories in the item-type registry (svc/common/items.h);
 * called once at start-up by ch_svc_register_item_types. */
void ch_content_register_types(void);

/* ---- stories (stories.c) ---------------------------------------------------------------- */

/** The story tray: followees with active stories the viewer may see, not muted, authors
 * with unseen stories first (then the most recent story first), each {user, stories (oldest
 * first), has_unseen}; at most CH_STORY_TRAY_MAX authors. Built from the followees'
 * active-story index entries (story_index.h) and the hydration layer, never a scan. *out is
 * {items} as JSON text (malloc'd, caller frees). */
ch_err_t ch_stories_tray(ch_svc_t *svc, uint64_t viewer, char **out, ch_fault_t *f);
/** One page of author's active stories, oldest first: ids above `after` (0 = from the
 * oldest), from the author's active-story index. *out is {items, next_cursor} as JSON text
 * (caller frees). CH_ENOTFOUND as in ch_content_timeline. */
ch_err_t ch_stories_of_user(ch_svc_t *svc, uint64_t viewer, uint64_t author, int limit, uint64_t after, char **out,
                            ch_fault_t *f);
/** One page of a story's viewers, newest view first, for its author only (CH_EFORBIDDEN for
 * another user who may see the story, CH_ENOTFOUND for one who may not). cursor is NULL or
 * a next_cursor this function returned (else CH_EINVAL naming "cursor"). *out is
 * {items: [{user, viewed_at}], next_cursor} as JSON text (malloc'd, caller frees). */
ch_err_t ch_stories_viewers(ch_svc_t *svc, uint64_t viewer, uint64_t story_id, int limit, const char *cursor,
                            char **out, ch_fault_t *f);

#endif
