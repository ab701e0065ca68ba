/* Comment rows -> the API's comment objects, and threads (a top-level comment with its
 * first replies) for lists. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/rows_json.h"
#include "svc/engage/comments_row.h"
#include "svc/engage/counters.h"
#include "svc/graph/visibility.h"

json_t *ch__comment_render_body(const ch_db_rows_t *rows, size_t r)
{
    int deleted = !ch_db_rows_isnull(rows, r, CH_COMMENT_COL_DELETED);
    char created[CH_RFC3339_LEN];
    ch_format_rfc3339(ch_db_rows_int(rows, r, CH_COMMENT_COL_CREATED), created);
    /* A comment's counts are its reactions; comments and views do not apply to it. */
    ch_counters_t counts = {0};
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        counts.reactions[k] = ch_db_rows_int(rows, r, CH_COMMENT_COL_REACTIONS + (size_t)k);
    json_t *cj = ch_counters_json(&counts);
    json_object_del(cj, "comments");
    json_object_del(cj, "views");
    json_t *c = json_pack("{s:s, s:{s:s, s:s}, s:o, s:o, s:s, s:b, s:I, s:o, s:o, s:o}", "id",
                          ch_db_rows_text(rows, r, CH_COMMENT_COL_ID), "target", "type",
                          ch_db_rows_text(rows, r, CH_COMMENT_COL_TARGET_TYPE), "id",
                          ch_db_rows_text(rows, r, CH_COMMENT_COL_TARGET_ID), "parent_id",
                          ch_db_rows_isnull(rows, r, CH_COMMENT_COL_PARENT)
                              ? json_null()
                              : json_string(ch_db_rows_text(rows, r, CH_COMMENT_COL_PARENT)),
                          "text", deleted ? json_null() : json_string(ch_db_rows_text(rows, r, CH_COMMENT_COL_TEXT)),
                          "created_at", created, "deleted", deleted, "replies_count",
                          (json_int_t)ch_db_rows_int(rows, r, CH_COMMENT_COL_REPLIES), "counts", cj, "mentions",
                          deleted ? json_array() : ch_rows_json_array(rows, r, CH_COMMENT_COL_MENTIONS), "hashtags",
                          deleted ? json_array() : ch_rows_json_array(rows, r, CH_COMMENT_COL_HASHTAGS));
    if (deleted)
        json_object_set_new(c, "author", json_null());
    return c;
}

json_t *ch__comment_render(const ch_db_rows_t *rows, size_t r)
{
    int deleted = !ch_db_rows_isnull(rows, r, CH_COMMENT_COL_DELETED);
    json_t *c = ch__comment_render_body(rows, r);
    if (!deleted)
        json_object_set_new(c, "author",
                            json_pack("{s:s, s:s, s:s, s:o}", "id", ch_db_rows_text(rows, r, CH_COMMENT_COL_AUTHOR),
                                      "handle", ch_db_rows_text(rows, r, CH_COMMENT_COL_HANDLE), "display_name",
                                      ch_db_rows_text(rows, r, CH_COMMENT_COL_NAME), "avatar_url",
                                      ch_db_rows_isnull(rows, r, CH_COMMENT_COL_AVATAR)
                                          ? json_null()
                                          : json_string(ch_db_rows_text(rows, r, CH_COMMENT_COL_AVATAR))));
    json_object_set_new(c, "my_reaction",
                        deleted || ch_db_rows_isnull(rows, r, CH_COMMENT_COL_MY_REACTION)
                            ? json_null()
                            : json_string(ch_db_rows_text(rows, r, CH_COMMENT_COL_MY_REACTION)));
    return c;
}
