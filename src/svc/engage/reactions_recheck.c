/* The visibility re-check of a reaction write inside the group-commit transaction. The
 * handler resolved the target before queueing the write; a block or a delete that commits
 * between that check and the batch must still win, so each pre-resolved write asks again,
 * in the batch transaction, in one statement: the rule of ch_target_resolve written as SQL
 * (svc/graph/visibility.h keeps the SQL and C rules side by side). */
#include "svc/engage/reactions_apply.h"

#include "core/clock.h"
#include "svc/common/sql.h"
#include "svc/graph/visibility.h"

/* The item is live ($2 = now) and the viewer ($1) may see it. */
#define CH__ITEM_LIVE_AND_VISIBLE                                                                    \
    " i.deleted_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > $2) AND"                      \
    CH_GRAPH_SQL_MAY_SEE_CONTENT("$1", "i.author_id", "i.visibility = 'followers'", "u.is_private")

/* A post, reel or story: $3 its id, $4 its type. */
static const char ch__sql_item[] =
    "SELECT 1 FROM items i JOIN users u ON u.id = i.author_id"
    " WHERE i.id = $3 AND i.type = CAST($4 AS TEXT) AND" CH__ITEM_LIVE_AND_VISIBLE;

/* A comment ($3): live, on an item the viewer may see, not by a user blocked either way
 * with the viewer (ch_comment_resolve). */
static const char ch__sql_comment[] =
    "SELECT 1 FROM comments c JOIN items i ON i.id = c.target_id AND i.type = c.target_type"
    " JOIN users u ON u.id = i.author_id"
    " WHERE c.id = $3 AND c.deleted_at IS NULL AND" CH__ITEM_LIVE_AND_VISIBLE
    " AND" CH_GRAPH_SQL_NO_BLOCK("$1", "c.author_id");

/* The rule of the target's type in the registry, on conn: its resolve (a type without one
 * resolves nothing: not visible). */
static ch_err_t ch__recheck_registry(ch_svc_t *svc, ch_db_conn_t *conn, const ch__reaction_op_t *op, int *visible)
{
    ch_target_t t;
    ch_err_t err = ch_target_resolve(svc, conn, op->user_id, op->type, op->target_id, &t, NULL);
    *visible = err == CH_OK;
    return err == CH_ENOTFOUND ? CH_OK : err;
}

ch_err_t ch__reactions_recheck(ch_svc_t *svc, ch_db_conn_t *conn, const ch__reaction_op_t *op, int *visible)
{
    ch_db_rows_t *rows = NULL;
    ch_err_t err = CH_OK;
    *visible = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(op->user_id), CH_DB_P_INT(ch_now_ms()), CH_DB_P_INT(op->target_id),
                         CH_DB_P_TEXT(ch_target_type_name(op->type))};
    switch (op->type) {
    case CH_TARGET_POST:
    case CH_TARGET_REEL:
    case CH_TARGET_STORY:
        err = ch_sql_on(svc, conn, ch__sql_item, p, CH_NPARAMS(p), &rows, NULL);
        break;
    case CH_TARGET_COMMENT:
        err = ch_sql_on(svc, conn, ch__sql_comment, p, CH_NPARAMS(p) - 1, &rows, NULL);
        break;
    default: /* another domain's type: its registered rule (svc/common/items.h) */
        return ch__recheck_registry(svc, conn, op, visible);
    }
    *visible = err == CH_OK && ch_db_rows_count(rows) > 0;
    ch_db_rows_free(rows);
    /* A comment on an item of another table (a listing): the statement joins items only. */
    if (err == CH_OK && !*visible && op->type == CH_TARGET_COMMENT)
        return ch__recheck_registry(svc, conn, op, visible);
    return err;
}
