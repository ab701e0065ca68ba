/* Author timelines: a user's posts or reels, newest first, keyset-paginated on the id
 * (time-sortable), so a page never repeats or skips an item while new ones arrive. */
#include "core/clock.h"
#include "svc/content/store.h"
#include "svc/graph/visibility.h"

ch_err_t ch_content_timeline(ch_svc_t *svc, uint64_t viewer, uint64_t author, ch_item_type_t type, int limit,
                             uint64_t before, json_t **out, ch_fault_t *f)
{
    ch_graph_rel_t rel;
    ch_err_t err = ch_graph_check_author(svc, viewer, author, &rel, f);
    if (err)
        return err;
    const char *widest = ch_graph_may_see_content(&rel, 1) ? "followers" : "public";
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer),
                         CH_DB_P_INT(ch_now_ms()),
                         CH_DB_P_INT(author),
                         CH_DB_P_TEXT(ch_item_type_name(type)),
                         CH_DB_P_INT(before && before <= INT64_MAX ? before : (uint64_t)INT64_MAX),
                         CH_DB_P_TEXT(widest),
                         CH_DB_P_INT(limit + 1)};
    err = ch_sql_run(svc,
                     "SELECT " CH_ITEM_COLUMNS CH_ITEM_FROM
                     " WHERE i.author_id = $3 AND i.type = CAST($4 AS TEXT) AND" CH_ITEM_LIVE /* see items.c */
                     " AND i.id < $5 AND i.visibility IN ('public', $6) ORDER BY i.id DESC LIMIT $7",
                     p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    *out = ch_item_page(rows, limit);
    return CH_OK;
}
