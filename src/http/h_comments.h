/* REST handlers: comments and hashtags (engagement). Comment routes exist once per target
 * type (routes_comments.def); the handlers take the type from the matched template. Path
 * ids that cannot be ids answer 404 like unknown ones. */
#ifndef CH_HTTP_H_COMMENTS_H
#define CH_HTTP_H_COMMENTS_H

#include "http/call.h"

/** POST /v1/{type}/{id}/comments {text, parent_id?} -> 201 comment. */
ch_err_t ch_h_comment_create(ch_call_t *call);
/** GET /v1/{type}/{id}/comments?sort=top|new&limit&cursor -> 200 {items, next_cursor}. */
ch_err_t ch_h_comments_list(ch_call_t *call);
/** GET /v1/comments/{id} -> 200 comment. */
ch_err_t ch_h_comment_get(ch_call_t *call);
/** GET /v1/comments/{id}/replies?limit&cursor -> 200 {items, next_cursor}, oldest first. */
ch_err_t ch_h_comment_replies(ch_call_t *call);
/** DELETE /v1/comments/{id} -> 204 (its author or the item's owner). */
ch_err_t ch_h_comment_delete(ch_call_t *call);

/** GET /v1/hashtags/{tag} -> 200 {tag, items_count}. */
ch_err_t ch_h_hashtag_get(ch_call_t *call);
/** GET /v1/hashtags/{tag}/items?limit&cursor -> 200 {items, next_cursor}, newest first. */
ch_err_t ch_h_hashtag_items(ch_call_t *call);
/** GET /v1/trending/hashtags -> 200 {items: [{tag, uses_last_hour, baseline_per_hour, score}]}. */
ch_err_t ch_h_hashtags_trending(ch_call_t *call);

#endif
