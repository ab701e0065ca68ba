/* Comments: on posts, reels, stories (and livestreams, listings once their domains exist),
 * with one level of replies. A comment is an engageable target itself (reactions).
 *
 * - Every path first resolves the commented item for the viewer (svc/engage/target.h):
 *   404 when the viewer may not see it (deleted, expired story, private, followers-only,
 *   blocked either way). Comments by a user blocked either way with the viewer are left
 *   out of lists (with their replies) and answer 404 on their own.
 * - A reply to a reply attaches to the top-level comment and mentions the author replied
 *   to (notified as a mention unless already told of the reply).
 * - Deletion is soft: a deleted comment loses its text, mentions and hashtags; with live
 *   replies it stays in the thread as {deleted: true}, without any it leaves the lists.
 * - Every write runs in one transaction with its counters (the item's counts.comments,
 *   the parent's replies_count), the mentions and hashtags of the text, the engagement
 *   event ("comment" to the item's author, or "reply" to the parent comment's author,
 *   both on the item) and the outbox event (comment.created, comment.deleted).
 *
 * JSON bodies are borrowed; every json_t * returned belongs to the caller. */
#ifndef CH_SVC_ENGAGE_COMMENTS_H
#define CH_SVC_ENGAGE_COMMENTS_H

#include <jansson.h>
#include <stdint.h>

#include "svc/common/sql.h"
#include "svc/engage/target.h"

#define CH_COMMENT_TEXT_MAX 2200
/* Replies shown under each top-level comment in a list. */
#define CH_COMMENT_FIRST_REPLIES 2
/* "top" pages walk a frozen ordering shared by every viewer of the item (see comments_top.c):
 * at most this many comments are ranked, the rest follow newest first; a first page reuses
 * the item's current ordering for CH_COMMENTS_TOP_SHARE_MS; an item keeps at most
 * CH_COMMENTS_TOP_SLOTS orderings, each for CH_COMMENTS_TOP_TTL_MS at most. */
#define CH_COMMENTS_TOP_RANKED_MAX 1000
#define CH_COMMENTS_TOP_TTL_MS (3600LL * 1000)
#define CH_COMMENTS_TOP_SHARE_MS (60LL * 1000)
#define CH_COMMENTS_TOP_SLOTS 8 /* a power of two */

/** Resolves a comment as a target (the registry's resolve for comments): the comment is
 * live, not by a user blocked either way with the viewer, and viewer may see the item it
 * belongs to. CH_ENOTFOUND "comment not found" otherwise. */
ch_err_t ch_comment_resolve(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t comment_id, ch_target_t *out,
                            ch_fault_t *f);
/** Registers comments in the item-type registry (svc/common/items.h); called once at
 * start-up by ch_svc_register_item_types. */
void ch_comments_register_types(void);

typedef enum { CH_COMMENTS_SORT_TOP, CH_COMMENTS_SORT_NEW } ch_comments_sort_t;

/** Comments (or replies) by viewer on target (type, id) from body {text, parent_id?}.
 * For type comment the target is the comment replied to (parent_id, when given, must name
 * it). CH_ENOTFOUND when the viewer may not see the target; CH_EINVAL naming "text" or
 * "parent_id" (nothing stored); CH_ERATELIMIT past CHORUS_RATE_LIMIT_COMMENTS a minute.
 * *out receives the new comment. */
ch_err_t ch_comments_create(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, json_t *body,
                            json_t **out, ch_fault_t *f);
/** One page of top-level comments of (type, id), each with replies_count and its first
 * CH_COMMENT_FIRST_REPLIES replies: newest first (sort new, cursor a comment id) or ranked
 * (sort top, cursor opaque). For type comment: the comment's replies. cursor is NULL or a
 * next_cursor of the same walk (else CH_EINVAL naming "cursor"). Rendered by the hydration
 * layer, which decides what the viewer may see after the ids are read (a page reads more ids
 * than limit so that it stays full; it is shorter only when many were hidden). *out is
 * {items, next_cursor} as JSON text (malloc'd, caller frees). */
ch_err_t ch_comments_list(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id,
                          ch_comments_sort_t sort, int limit, const char *cursor, char **out, ch_fault_t *f);
/** One page of the replies of comment_id, oldest first, ids above `after` (0 = from the
 * first). A deleted comment still lists its replies. *out is {items, next_cursor} as JSON
 * text (caller frees). The single comment GET is ch_page_item_get (svc/common/page.h). */
ch_err_t ch_comments_replies(ch_svc_t *svc, uint64_t viewer, uint64_t comment_id, int limit, uint64_t after,
                             char **out, ch_fault_t *f);
/** Soft-deletes comment_id, by its author or the owner of the commented item. CH_ENOTFOUND
 * when the viewer may not see it (or it is deleted), CH_EFORBIDDEN for anyone else. */
ch_err_t ch_comments_delete(ch_svc_t *svc, uint64_t viewer, uint64_t comment_id, ch_fault_t *f);

#endif
