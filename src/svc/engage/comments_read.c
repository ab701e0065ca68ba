/* Reading comments: one comment, a target's top-level comments newest first (keyset on the
 * time-sortable id, so pages never repeat or skip one while new ones arrive), and the
 * replies of a comment oldest first. "top" is in comments_top.c. */
#include "core/clock.h"
#include "core/id.h"
#include "svc/engage/comments_row.h"
#include "svc/graph/visibility.h"

/* {items, next_cursor} from a list and the id that continues it (0: the last page). */
static json_t *ch__page(json_t *items, uint64_t next)
{
    char buf[CH_ID_STR_LEN];
    return json_pack("{s:o, s:o}", "items", items, "next_cursor",
                     next ? json_string(ch_id_format(next, buf)) : json_null());
}

ch_err_t ch_comments_get(ch_svc_t *svc, uint64_t viewer, uint64_t comment_id, json_t **out, ch_fault_t *f)
{
    ch__comment_ref_t c;
    ch_err_t err = ch__comment_find(svc, NULL, viewer, comment_id, &c, f);
    if (err)
        return err;
    if (c.deleted || c.blocked)
        return ch__comment_not_found(f);
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(comment_id)};
    err = ch_sql_run(svc, "SELECT " CH_COMMENT_COLUMNS CH_COMMENT_FROM " WHERE c.id = $2 AND c.deleted_at IS NULL", p,
                     CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0) /* deleted meanwhile */
        err = ch__comment_not_found(f);
    if (err == CH_OK)
        *out = ch__comment_render(rows, 0);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_comments_replies(ch_svc_t *svc, uint64_t viewer, uint64_t comment_id, int limit, uint64_t after,
                             json_t **out, ch_fault_t *f)
{
    ch__comment_ref_t c;
    ch_err_t err = ch__comment_find(svc, NULL, viewer, comment_id, &c, f);
    if (err)
        return err;
    /* A deleted comment keeps its thread; one by a user blocked either way hides it. */
    if (c.blocked)
        return ch__comment_not_found(f);
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(comment_id),
                         CH_DB_P_INT(after > INT64_MAX ? (uint64_t)INT64_MAX : after), CH_DB_P_INT(limit + 1)};
    err = ch_sql_run(svc,
                     "SELECT " CH_COMMENT_COLUMNS CH_COMMENT_FROM
                     " WHERE c.parent_id = $2 AND c.parent_id IS NOT NULL AND c.id > $3 AND c.deleted_at IS NULL AND"
                     CH_GRAPH_SQL_NO_BLOCK("$1", "c.author_id") " ORDER BY c.id LIMIT $4",
                     p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    json_t *items = json_array();
    size_t n = ch_db_rows_count(rows);
    for (size_t r = 0; r < n && r < (size_t)limit; r++)
        json_array_append_new(items, ch__comment_render(rows, r));
    uint64_t next = n > (size_t)limit ? (uint64_t)ch_db_rows_int(rows, (size_t)limit - 1, CH_COMMENT_COL_ID) : 0;
    ch_db_rows_free(rows);
    *out = ch__page(items, next);
    return CH_OK;
}

/* Top-level comments of item, newest first, ids below `before`. */
static ch_err_t ch__list_new(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const ch_target_t *item, int limit,
                             uint64_t before, json_t **out)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_TEXT(ch_target_type_name(item->type)), CH_DB_P_INT(item->id),
                         CH_DB_P_INT(before), CH_DB_P_INT(limit + 1)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT " CH_COMMENT_COLUMNS CH_COMMENT_FROM
                             " WHERE c.target_type = $2 AND c.target_id = $3 AND c.parent_id IS NULL AND c.id < $4 AND"
                             CH_COMMENT_LISTED " AND" CH_GRAPH_SQL_NO_BLOCK("$1", "c.author_id")
                             " ORDER BY c.id DESC LIMIT $5",
                             p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows), shown = n > (size_t)limit ? (size_t)limit : n;
    json_t *items = NULL;
    err = ch__comments_threads(svc, conn, viewer, rows, shown, NULL, 0, &items);
    uint64_t next = n > (size_t)limit ? (uint64_t)ch_db_rows_int(rows, (size_t)limit - 1, CH_COMMENT_COL_ID) : 0;
    ch_db_rows_free(rows);
    if (err == CH_OK)
        *out = ch__page(items, next);
    return err;
}

ch_err_t ch_comments_list(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id,
                          ch_comments_sort_t sort, int limit, const char *cursor, json_t **out, ch_fault_t *f)
{
    if (type == CH_TARGET_COMMENT) { /* the comments of a comment are its replies */
        uint64_t after = cursor ? ch_id_parse(cursor) : 0;
        if (cursor && (after == 0 || after > INT64_MAX))
            return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned");
        ch__comment_ref_t c;
        ch_err_t err = ch__comment_find(svc, NULL, viewer, id, &c, f);
        if (err == CH_OK && c.deleted)
            err = ch__comment_not_found(f);
        return err ? err : ch_comments_replies(svc, viewer, id, limit, after, out, f);
    }
    uint64_t before = INT64_MAX;
    if (sort == CH_COMMENTS_SORT_NEW && cursor) {
        before = ch_id_parse(cursor);
        if (before == 0 || before > INT64_MAX)
            return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned");
    }
    ch_target_t item;
    ch_db_conn_t *conn;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    if (err)
        return err;
    err = ch_target_resolve(svc, conn, viewer, type, id, &item, f);
    if (err == CH_OK)
        err = sort == CH_COMMENTS_SORT_NEW ? ch__list_new(svc, conn, viewer, &item, limit, before, out)
                                           : ch__comments_top(svc, conn, viewer, &item, limit, cursor, out, f);
    ch_db_release(svc->db, conn);
    return err;
}
