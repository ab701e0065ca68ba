/* The hashtag page: items joined from the hashtags index (svc/engage/refs.h), newest first
 * by keyset on the item id, with the visibility rule applied in the statement
 * (CH_GRAPH_SQL_MAY_SEE_CONTENT).
 *
 * A page examines at most CHORUS_HASHTAG_SCAN_MAX rows of the tag's index: a tag flooded
 * with items the viewer may not see (private accounts, followers-only, blocks) must not
 * cost more per request the more it holds. So a first, index-only statement finds the
 * lowest id among the next scan_max rows below the cursor (any target type: comment rows
 * share the index range), and the item query is confined to [that id, cursor). When that
 * range holds fewer than limit visible items but the scan stopped at its bound, the page
 * comes back short with a cursor at the lowest id examined; the client continues from it
 * and never sees an item twice or misses one. */
#include "svc/content/tagged.h"

#include "core/clock.h"
#include "core/id.h"
#include "svc/content/render.h"
#include "svc/graph/visibility.h"

static const char ch__sql_scan[] =
    "SELECT COUNT(*), MIN(x.target_id) FROM"
    " (SELECT target_id FROM hashtags WHERE tag = $1 AND target_id < $2 ORDER BY target_id DESC LIMIT $3) x";

static const char ch__sql_tagged[] =
    "SELECT " CH_ITEM_COLUMNS CH_ITEM_FROM
    " JOIN hashtags h ON h.target_id = i.id AND h.target_type = i.type"
    " WHERE h.tag = $3 AND h.target_type IN ('post', 'reel') AND h.target_id < $4 AND h.target_id >= $6 AND"
    CH_ITEM_LIVE " AND"
    CH_GRAPH_SQL_MAY_SEE_CONTENT("$1", "i.author_id", "i.visibility = 'followers'", "u.is_private")
    " ORDER BY h.target_id DESC LIMIT $5";

ch_err_t ch_content_tagged(ch_svc_t *svc, uint64_t viewer, const char *tag, int limit, uint64_t before, json_t **out,
                           ch_fault_t *f)
{
    (void)f;
    uint64_t below = before && before <= INT64_MAX ? before : (uint64_t)INT64_MAX;
    int64_t scan_max = svc->cfg->hashtag_scan_max, scanned = 0, lowest = 0;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t ps[] = {CH_DB_P_TEXT(tag), CH_DB_P_INT(below), CH_DB_P_INT(scan_max)};
    ch_err_t err = ch_sql_run(svc, ch__sql_scan, ps, CH_NPARAMS(ps), &rows, NULL);
    if (err)
        return err;
    if (ch_db_rows_count(rows) == 1) {
        scanned = ch_db_rows_int(rows, 0, 0);
        lowest = ch_db_rows_int(rows, 0, 1);
    }
    ch_db_rows_free(rows);
    rows = NULL;
    int bounded = scanned >= scan_max; /* rows below `lowest` are left for the next page */
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(ch_now_ms()), CH_DB_P_TEXT(tag),
                         CH_DB_P_INT(below), CH_DB_P_INT(limit + 1), CH_DB_P_INT(bounded ? lowest : 0)};
    err = ch_sql_run(svc, ch__sql_tagged, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    int full = ch_db_rows_count(rows) > (size_t)limit;
    *out = ch_item_page(rows, limit);
    if (!full && bounded) {
        char buf[CH_ID_STR_LEN];
        json_object_set_new(*out, "next_cursor", json_string(ch_id_format((uint64_t)lowest, buf)));
    }
    return CH_OK;
}
