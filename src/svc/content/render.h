/* How items are read and rendered: the column list every item query selects (in the order
 * ch_item_render expects) and the row -> JSON object conversion. Internal to svc/content. */
#ifndef CH_SVC_CONTENT_RENDER_H
#define CH_SVC_CONTENT_RENDER_H

#include <jansson.h>

#include "svc/common/rows_json.h"
#include "svc/content/content.h"

/** Columns of an item row joined with its author and the viewer's story view. Queries use
 * CH_ITEM_FROM, whose $1 is the viewer; `seen` is 1 when the viewer saw the story (or is
 * its author). */
#define CH_ITEM_COLUMNS                                                                                   \
    "i.id, i.type, i.author_id, i.text, i.media, i.visibility, i.video_url, i.cover_url, i.media_url, "  \
    "i.kind, i.duration_ms, COALESCE(tc.views, 0), i.created_at, i.edited_at, i.expires_at, "            \
    "u.handle, u.display_name, u.avatar_url, "                                                            \
    "CASE WHEN sv.viewer_id IS NULL AND i.author_id <> $1 THEN 0 ELSE 1 END, "                            \
    "tc.r_like, tc.r_love, tc.r_haha, tc.r_wow, tc.r_sad, tc.r_angry, tc.comments, mr.kind, "            \
    "i.mentions, i.hashtags"
/* The engagement counters (svc/engage/counters.h) and the viewer's reaction are two
 * primary-key lookups joined per item: reading an item costs the same whatever its
 * number of reactions, and lists need no extra round trip. */
#define CH_ITEM_FROM                                                                                      \
    " FROM items i JOIN users u ON u.id = i.author_id"                                                    \
    " LEFT JOIN story_views sv ON sv.story_id = i.id AND sv.viewer_id = $1"                               \
    " LEFT JOIN target_counters tc ON tc.target_type = i.type AND tc.target_id = i.id"                    \
    " LEFT JOIN reactions mr ON mr.target_type = i.type AND mr.target_id = i.id AND mr.user_id = $1"
/** The condition of a live item: not deleted, not expired; $2 is the current time (ms). */
#define CH_ITEM_LIVE " i.deleted_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > $2)"

enum {
    CH_ITEM_COL_ID, CH_ITEM_COL_TYPE, CH_ITEM_COL_AUTHOR, CH_ITEM_COL_TEXT, CH_ITEM_COL_MEDIA,
    CH_ITEM_COL_VISIBILITY, CH_ITEM_COL_VIDEO_URL, CH_ITEM_COL_COVER_URL, CH_ITEM_COL_MEDIA_URL,
    CH_ITEM_COL_KIND, CH_ITEM_COL_DURATION, CH_ITEM_COL_VIEWS, CH_ITEM_COL_CREATED, CH_ITEM_COL_EDITED,
    CH_ITEM_COL_EXPIRES, CH_ITEM_COL_HANDLE, CH_ITEM_COL_NAME, CH_ITEM_COL_AVATAR, CH_ITEM_COL_SEEN,
    CH_ITEM_COL_REACTIONS, /* six reaction counts (r_like ... r_angry) from here */
    CH_ITEM_COL_COMMENTS = CH_ITEM_COL_REACTIONS + 6, CH_ITEM_COL_MY_REACTION,
    CH_ITEM_COL_MENTIONS, CH_ITEM_COL_HASHTAGS, /* JSON arrays (svc/engage/refs.h); NULL = none */
};

/** The type stored in a row's type column; CH_ITEM_POST for anything unknown. */
ch_item_type_t ch_item_row_type(const ch_db_rows_t *rows, size_t r);
/** The item object of row r without what depends on a viewer or another table's row:
 * "author", "my_reaction" and a story's "seen" (the hydration layer's record body, see
 * svc/common/hydrate.h). Caller owns it. ch_item_render adds those three to it. */
json_t *ch_item_render_body(const ch_db_rows_t *rows, size_t r);
/** Renders row r of a CH_ITEM_COLUMNS result as the API's item object (caller owns it). */
json_t *ch_item_render(const ch_db_rows_t *rows, size_t r);
/** One page {items, next_cursor} from a result of up to limit + 1 CH_ITEM_COLUMNS rows
 * ordered by id (the extra row says there is a next page; its cursor is the last id
 * shown). Takes ownership of rows (freed). */
json_t *ch_item_page(ch_db_rows_t *rows, int limit);

#endif
