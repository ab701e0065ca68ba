#include "svc/graph/visibility.h"

#include "svc/common/sql.h"

/* One statement, one round trip: a row only when the other user exists, every fact a
 * primary-key point lookup. CASE turns EXISTS into 0/1 on both engines (PostgreSQL would
 * answer a boolean as "t"/"f"). */
static const char ch__sql_relation[] =
    "SELECT u.is_private,"
    " CASE WHEN EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2) THEN 1 ELSE 0 END,"
    " CASE WHEN EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = $1) THEN 1 ELSE 0 END,"
    " CASE WHEN EXISTS (SELECT 1 FROM follow_requests WHERE requester_id = $1 AND target_id = $2) THEN 1 ELSE 0 END,"
    " CASE WHEN EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2) THEN 1 ELSE 0 END,"
    " CASE WHEN EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $2 AND blocked_id = $1) THEN 1 ELSE 0 END,"
    " CASE WHEN EXISTS (SELECT 1 FROM mutes WHERE muter_id = $1 AND muted_id = $2) THEN 1 ELSE 0 END"
    " FROM users u WHERE u.id = $2";

ch_err_t ch_graph_relation(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t other, ch_graph_rel_t *out)
{
    *out = (ch_graph_rel_t){0};
    out->self = viewer == other;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(other)};
    ch_err_t err = conn ? ch_sql_on(svc, conn, ch__sql_relation, p, CH_NPARAMS(p), &rows, NULL)
                        : ch_sql_run(svc, ch__sql_relation, p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 1) {
        out->exists = 1;
        out->other_private = ch_db_rows_int(rows, 0, 0) != 0;
        out->following = ch_db_rows_int(rows, 0, 1) != 0;
        out->followed_by = ch_db_rows_int(rows, 0, 2) != 0;
        out->requested = ch_db_rows_int(rows, 0, 3) != 0;
        out->blocking = ch_db_rows_int(rows, 0, 4) != 0;
        out->blocked_by = ch_db_rows_int(rows, 0, 5) != 0;
        out->muting = ch_db_rows_int(rows, 0, 6) != 0;
    }
    ch_db_rows_free(rows);
    return err;
}

int ch_graph_may_see_user(const ch_graph_rel_t *rel)
{
    if (!rel->exists)
        return 0;
    return rel->self || (!rel->blocking && !rel->blocked_by);
}

int ch_graph_may_see_content(const ch_graph_rel_t *rel, int followers_only)
{
    if (!ch_graph_may_see_user(rel))
        return 0;
    if (rel->self)
        return 1;
    if (followers_only || rel->other_private)
        return rel->following;
    return 1;
}

ch_err_t ch_graph_check_author(ch_svc_t *svc, uint64_t viewer, uint64_t author, ch_graph_rel_t *rel, ch_fault_t *f)
{
    *rel = (ch_graph_rel_t){0};
    if (author == 0 || author > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    ch_err_t err = ch_graph_relation(svc, NULL, viewer, author, rel);
    if (err)
        return err;
    /* A private account's content is for approved followers only; blocked either way is
     * indistinguishable from no such user. */
    if (!ch_graph_may_see_content(rel, 0))
        return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    return CH_OK;
}
