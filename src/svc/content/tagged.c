/* The hashtag page: items joined from the hashtags index (svc/engage/refs.h), newest first
 * by keyset on the item id, with the visibility rule applied in the statement
 * (CH_GRAPH_SQL_MAY_SEE_CONTENT), so that a page is full whatever the viewer may not see. */
#include "svc/content/tagged.h"

#include "core/clock.h"
#include "svc/content/render.h"
#include "svc/graph/visibility.h"

static const char ch__sql_tagged[] =
    "SELECT " CH_ITEM_COLUMNS CH_ITEM_FROM
    " JOIN hashtags h ON h.target_id = i.id AND h.target_type = i.type"
    " WHERE h.tag = $3 AND h.target_type IN ('post', 'reel') AND h.target_id < $4 AND" CH_ITEM_LIVE " AND"
    CH_GRAPH_SQL_MAY_SEE_CONTENT("$1", "i.author_id", "i.visibility = 'followers'", "u.is_private")
    " ORDER BY h.target_id DESC LIMIT $5";

ch_err_t ch_content_tagged(ch_svc_t *svc, uint64_t viewer, const char *tag, int limit, uint64_t before, json_t **out,
                           ch_fault_t *f)
{
    (void)f;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(ch_now_ms()), CH_DB_P_TEXT(tag),
                         CH_DB_P_INT(before && before <= INT64_MAX ? before : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(limit + 1)};
    ch_err_t err = ch_sql_run(svc, ch__sql_tagged, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    *out = ch_item_page(rows, limit);
    return CH_OK;
}
