/* Pieces of rendering shared by the domains that render rows of their own (items,
 * comments, reaction lists, story viewers): a user summary and JSON arrays stored as text.
 * Lives here, below the domains, so that none includes another's renderer. */
#ifndef CH_SVC_COMMON_ROWS_JSON_H
#define CH_SVC_COMMON_ROWS_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "store/db.h"

/** A user summary {id, handle, display_name, avatar_url} from row r: the id at id_col,
 * handle, display_name and avatar_url at name_col and the two after it. Caller owns it. */
json_t *ch_user_summary_render(const ch_db_rows_t *rows, size_t r, size_t id_col, size_t name_col);
/** The JSON array stored as text in row r, column col (mentions, hashtags), or a new empty
 * array for NULL or anything that is not an array. Caller owns it. */
json_t *ch_rows_json_array(const ch_db_rows_t *rows, size_t r, size_t col);

#endif
