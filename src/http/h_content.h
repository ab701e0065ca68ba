/* REST handlers of authored content: posts, reels, stories, author timelines, the story
 * tray. h_content.c serves items and timelines, h_stories.c the story-only endpoints. Each
 * parses the path (an id that cannot be one is 404, as an unknown one) and the page
 * parameters, calls svc/content/content.h and sets the answer. */
#ifndef CH_HTTP_H_CONTENT_H
#define CH_HTTP_H_CONTENT_H

#include "http/call.h"

/** POST /v1/posts {text?, media?, visibility?} -> 201 post. */
ch_err_t ch_h_post_create(ch_call_t *call);
/** POST /v1/reels {video_url, duration_ms, caption?, cover_url?} -> 201 reel. */
ch_err_t ch_h_reel_create(ch_call_t *call);
/** POST /v1/stories {media_url, kind, duration_ms?} -> 201 story. */
ch_err_t ch_h_story_create(ch_call_t *call);
/** GET /v1/posts/{id} -> 200 post. */
ch_err_t ch_h_post_get(ch_call_t *call);
/** GET /v1/reels/{id} -> 200 reel. */
ch_err_t ch_h_reel_get(ch_call_t *call);
/** GET /v1/stories/{id} -> 200 story. */
ch_err_t ch_h_story_get(ch_call_t *call);
/** PATCH /v1/posts/{id} {text} -> 200 post (author only). */
ch_err_t ch_h_post_patch(ch_call_t *call);
/** PATCH /v1/reels/{id} {caption} -> 200 reel (author only). */
ch_err_t ch_h_reel_patch(ch_call_t *call);
/** DELETE /v1/posts/{id} -> 204 (author only). */
ch_err_t ch_h_post_delete(ch_call_t *call);
/** DELETE /v1/reels/{id} -> 204 (author only). */
ch_err_t ch_h_reel_delete(ch_call_t *call);
/** DELETE /v1/stories/{id} -> 204 (author only). */
ch_err_t ch_h_story_delete(ch_call_t *call);
/** GET /v1/users/{id}/posts?limit&cursor -> 200 {items, next_cursor}, newest first. */
ch_err_t ch_h_user_posts(ch_call_t *call);
/** GET /v1/users/{id}/reels?limit&cursor -> 200 {items, next_cursor}, newest first. */
ch_err_t ch_h_user_reels(ch_call_t *call);

/** GET /v1/stories/tray -> 200 {items: [{user, stories, has_unseen}]}. */
ch_err_t ch_h_stories_tray(ch_call_t *call);
/** GET /v1/users/{id}/stories?limit&cursor -> 200 {items, next_cursor}, oldest first. */
ch_err_t ch_h_user_stories(ch_call_t *call);
/** GET /v1/stories/{id}/viewers?limit&cursor -> 200 {items: [{user, viewed_at}], next_cursor}. */
ch_err_t ch_h_story_viewers(ch_call_t *call);

#endif
