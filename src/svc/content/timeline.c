/* Author timelines: a user's posts or reels, newest first, keyset-paginated on the id
 * (time-sortable), so a page never repeats or skips an item while new ones arrive. The
 * author is checked up front (404 for a blocked or private author), then one indexed
 * statement reads the page's ids and the hydration layer renders them. */
#include <stdlib.h>

#include "core/clock.h"
#include "svc/common/page.h"
#include "svc/content/store.h"

/* The ids of a page: $1 author, $2 type, $3 now, $4 below this id, $5 the widest visibility
 * shown, $6 limit + 1. Index (author_id, type, id). */
static const char ch__sql_ids[] =
    "SELECT i.id FROM items i WHERE i.author_id = $1 AND i.type = CAST($2 AS TEXT) AND i.deleted_at IS NULL"
    " AND (i.expires_at IS NULL OR i.expires_at > $3) AND i.id < $4 AND i.visibility IN ('public', $5)"
    " ORDER BY i.id DESC LIMIT $6";

ch_err_t ch_content_timeline(ch_svc_t *svc, uint64_t viewer, uint64_t author, ch_item_type_t type, int limit,
                             uint64_t before, char **out, ch_fault_t *f)
{
    int followers = 0;
    ch_err_t err = ch_page_check_author(svc, viewer, author, &followers, f);
    if (err)
        return err;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(author),
                         CH_DB_P_TEXT(ch_item_type_name(type)),
                         CH_DB_P_INT(ch_now_ms()),
                         CH_DB_P_INT(before && before <= INT64_MAX ? before : (uint64_t)INT64_MAX),
                         CH_DB_P_TEXT(followers ? "followers" : "public"),
                         CH_DB_P_INT(limit + 1)};
    if ((err = ch_sql_run(svc, ch__sql_ids, p, CH_NPARAMS(p), &rows, NULL)) != CH_OK)
        return err;
    return ch__content_page(svc, viewer, type, rows, limit, f, out);
}
