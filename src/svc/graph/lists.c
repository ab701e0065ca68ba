/* Followers, following and pending follow requests: keyset pages on the edge id, newest
 * first. An edge made while a client walks the pages has a larger id than every edge it
 * already saw, so it never shows up twice and nothing is skipped. Each page is one index
 * range scan (see migrations_graph.c) plus a primary-key lookup per row. */
#include "svc/graph/graph.h"

#include <stdint.h>

#include "core/id.h"
#include "svc/common/sql.h"
#include "svc/graph/visibility.h"

/* Columns: edge id, then the user summary. $1 the listed user, $2 the cursor, $3 the viewer,
 * $4 the page size + 1. Users blocking the viewer, or blocked by it, are left out. */
#define CH__SUMMARY_COLUMNS "e.id, u.id, u.handle, u.display_name, u.avatar_url, u.is_private"
#define CH__NOT_BLOCKED(col)                                                                            \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $3 AND b.blocked_id = " col ")"      \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = " col " AND b.blocked_id = $3)"

static const char ch__sql_followers[] =
    "SELECT " CH__SUMMARY_COLUMNS " FROM follows e JOIN users u ON u.id = e.follower_id"
    " WHERE e.followee_id = $1 AND e.id < $2" CH__NOT_BLOCKED("e.follower_id") " ORDER BY e.id DESC LIMIT $4";
static const char ch__sql_following[] =
    "SELECT " CH__SUMMARY_COLUMNS " FROM follows e JOIN users u ON u.id = e.followee_id"
    " WHERE e.follower_id = $1 AND e.id < $2" CH__NOT_BLOCKED("e.followee_id") " ORDER BY e.id DESC LIMIT $4";
static const char ch__sql_requests[] =
    "SELECT " CH__SUMMARY_COLUMNS " FROM follow_requests e JOIN users u ON u.id = e.requester_id"
    " WHERE e.target_id = $1 AND e.id < $2" CH__NOT_BLOCKED("e.requester_id") " ORDER BY e.id DESC LIMIT $4";

/* Runs a list query and renders {items, next_cursor}. */
static ch_err_t ch__page(ch_svc_t *svc, const char *sql, uint64_t user, uint64_t viewer, int limit, uint64_t before,
                         json_t **out)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT(before ? before : (uint64_t)INT64_MAX), CH_DB_P_INT(viewer),
                         CH_DB_P_INT(limit + 1)};
    ch_err_t err = ch_sql_run(svc, sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    json_t *items = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++) {
        json_array_append_new(
            items, json_pack("{s:s, s:s, s:s, s:o, s:b}", "id", ch_db_rows_text(rows, i, 1), "handle",
                             ch_db_rows_text(rows, i, 2), "display_name", ch_db_rows_text(rows, i, 3), "avatar_url",
                             ch_db_rows_isnull(rows, i, 4) ? json_null() : json_string(ch_db_rows_text(rows, i, 4)),
                             "is_private", (int)ch_db_rows_int(rows, i, 5)));
    }
    json_t *next = n > (size_t)limit ? json_string(ch_db_rows_text(rows, (size_t)limit - 1, 0)) : json_null();
    ch_db_rows_free(rows);
    *out = json_pack("{s:o, s:o}", "items", items, "next_cursor", next);
    return CH_OK;
}

ch_err_t ch_graph_list(ch_svc_t *svc, uint64_t viewer, uint64_t user, ch_graph_list_t which, int limit,
                       uint64_t before, json_t **out, ch_fault_t *f)
{
    ch_graph_rel_t rel;
    /* A private account's lists are "content": its owner and approved followers only. */
    ch_err_t err = ch_graph_check_author(svc, viewer, user, &rel, f);
    if (err)
        return err;
    return ch__page(svc, which == CH_GRAPH_FOLLOWERS ? ch__sql_followers : ch__sql_following, user, viewer, limit,
                    before, out);
}

ch_err_t ch_graph_list_requests(ch_svc_t *svc, uint64_t owner, int limit, uint64_t before, json_t **out,
                                ch_fault_t *f)
{
    (void)f;
    return ch__page(svc, ch__sql_requests, owner, owner, limit, before, out);
}
