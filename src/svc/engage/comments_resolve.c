/* Finding a comment for a viewer: the comment exists, and the viewer may see the item it
 * belongs to. As a target (reactions, comments on it) it must also be live and not by a
 * user blocked either way with the viewer. */
#include <string.h>

#include "svc/engage/comments_row.h"
#include "svc/graph/visibility.h"

ch_err_t ch__comment_not_found(ch_fault_t *f)
{
    return ch_fault(f, CH_ENOTFOUND, NULL, "comment not found");
}

ch_err_t ch__comment_find(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t id, ch__comment_ref_t *out,
                          ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    memset(out, 0, sizeof(*out));
    if (id == 0 || id > INT64_MAX)
        return ch__comment_not_found(f);
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    static const char sql[] = "SELECT target_type, target_id, parent_id, author_id,"
                              " CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END FROM comments WHERE id = $1";
    ch_err_t err = conn ? ch_sql_on(svc, conn, sql, p, 1, &rows, NULL) : ch_sql_run(svc, sql, p, 1, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch__comment_not_found(f);
    int type = err == CH_OK ? ch_target_from_name(ch_db_rows_text(rows, 0, 0)) : -1;
    if (err == CH_OK && (type < 0 || type == CH_TARGET_COMMENT))
        err = ch__comment_not_found(f);
    if (err == CH_OK) {
        out->id = id;
        out->parent_id = (uint64_t)ch_db_rows_int(rows, 0, 2);
        out->author_id = (uint64_t)ch_db_rows_int(rows, 0, 3);
        out->deleted = ch_db_rows_int(rows, 0, 4) != 0;
        uint64_t item_id = (uint64_t)ch_db_rows_int(rows, 0, 1);
        err = ch_target_resolve(svc, conn, viewer, (ch_target_type_t)type, item_id, &out->item, f);
        if (err == CH_ENOTFOUND)
            err = ch__comment_not_found(f);
    }
    if (err == CH_OK) {
        ch_graph_rel_t rel;
        err = ch_graph_relation(svc, conn, viewer, out->author_id, &rel);
        out->blocked = err == CH_OK && !ch_graph_may_see_user(&rel);
    }
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_comment_resolve(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t comment_id, ch_target_t *out,
                            ch_fault_t *f)
{
    ch__comment_ref_t c;
    ch_err_t err = ch__comment_find(svc, conn, viewer, comment_id, &c, f);
    if (err)
        return err;
    if (c.deleted || c.blocked)
        return ch__comment_not_found(f);
    *out = (ch_target_t){CH_TARGET_COMMENT, comment_id, c.author_id, c.item.followers_only};
    return CH_OK;
}
