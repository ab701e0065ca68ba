/* Comments in the item-type registry (svc/common/items.h): resolved one at a time by
 * ch_comment_resolve (comments_resolve.c), many read as records in one statement per chunk
 * of ids. A comment's record names the item it is on (parent), whose own record the
 * hydration layer (svc/common/hydrate.h) reads to decide whether a viewer sees the comment;
 * a deleted comment with replies is a placeholder. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/common/hydrate_codec.h"
#include "svc/common/items.h"
#include "svc/common/sql.h"
#include "svc/engage/comments_row.h"
#include "svc/engage/target.h"

/* $1 the viewer nobody is (0: CH_COMMENT_FROM joins a viewer), $2.. the ids
 * (CH_ITEMS_IN_MAX). The item's visibility follows the comment columns. */
static char ch__sql_load[4096];
static pthread_once_t ch__sql_once = PTHREAD_ONCE_INIT;
enum { CH__COL_ITEM_VISIBILITY = CH_COMMENT_COL_MY_REACTION + 1 };

static void ch__sql_build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN];
    ch_items_sql_in(in, sizeof(in), 2);
    snprintf(ch__sql_load, sizeof(ch__sql_load),
             "SELECT " CH_COMMENT_COLUMNS ", i.visibility" CH_COMMENT_FROM
             " LEFT JOIN items i ON i.id = c.target_id AND i.type = c.target_type"
             " WHERE c.id IN %s AND" CH_COMMENT_LISTED,
             in);
}

static ch_err_t ch__load_comments(ch_svc_t *svc, const ch_item_key_t *keys, size_t n, ch_item_record_t *out,
                                  ch_fault_t *f)
{
    pthread_once(&ch__sql_once, ch__sql_build);
    ch_db_param_t p[1 + CH_ITEMS_IN_MAX];
    p[0] = CH_DB_P_INT(0);
    for (size_t i = 0; i < CH_ITEMS_IN_MAX; i++)
        p[1 + i] = CH_DB_P_INT(i < n ? keys[i].id : 0);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, ch__sql_load, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        int k = ch_items_find_key(keys, n, CH_TARGET_COMMENT, (uint64_t)ch_db_rows_int(rows, r, CH_COMMENT_COL_ID));
        int on = ch_target_from_name(ch_db_rows_text(rows, r, CH_COMMENT_COL_TARGET_TYPE));
        if (k < 0 || out[k].found || on < 0)
            continue;
        ch_item_record_t *rec = &out[k];
        rec->body = ch_hcodec_members(ch__comment_render_body(rows, r), &rec->body_len);
        if (!rec->body) {
            ch_db_rows_free(rows);
            return ch_fault(f, CH_EINTERNAL, NULL, "cannot render a comment");
        }
        rec->found = 1;
        rec->placeholder = !ch_db_rows_isnull(rows, r, CH_COMMENT_COL_DELETED);
        rec->author_id = (uint64_t)ch_db_rows_int(rows, r, CH_COMMENT_COL_AUTHOR);
        rec->created_at_ms = ch_db_rows_int(rows, r, CH_COMMENT_COL_CREATED);
        rec->parent = (ch_item_key_t){(uint8_t)on, (uint64_t)ch_db_rows_int(rows, r, CH_COMMENT_COL_TARGET_ID)};
        rec->followers_only = !ch_db_rows_isnull(rows, r, CH__COL_ITEM_VISIBILITY) &&
                              strcmp(ch_db_rows_text(rows, r, CH__COL_ITEM_VISIBILITY), "followers") == 0;
        for (size_t c = 0; c < 6; c++)
            rec->reactions += ch_db_rows_int(rows, r, CH_COMMENT_COL_REACTIONS + c);
        rec->comments = ch_db_rows_int(rows, r, CH_COMMENT_COL_REPLIES);
    }
    ch_db_rows_free(rows);
    return CH_OK;
}

static ch_err_t ch__resolve_comment(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type,
                                    uint64_t id, ch_target_t *out, ch_fault_t *f)
{
    (void)type;
    return ch_comment_resolve(svc, conn, viewer, id, out, f);
}

static const ch_item_type_ops_t ch__comment_ops = {.resolve = ch__resolve_comment, .load_many = ch__load_comments};

void ch_comments_register_types(void)
{
    ch_items_register(CH_TARGET_COMMENT, &ch__comment_ops);
}
