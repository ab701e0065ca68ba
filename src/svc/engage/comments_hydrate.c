/* Comments in the item-type registry (svc/common/items.h): resolved one at a time by
 * ch_comment_resolve (comments_resolve.c), many rendered for a viewer in one statement per
 * chunk of ids. A comment shows when it is live, its author and the viewer do not block
 * each other, and the viewer may see the item it belongs to (live, and
 * CH_GRAPH_SQL_MAY_SEE_CONTENT for its author). Comments live on posts, reels and stories
 * (the items table); those on other types are not hydrated yet. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "svc/common/items.h"
#include "svc/engage/comments_row.h"
#include "svc/graph/visibility.h"

/* $1 viewer, $2 now, $3.. the ids (CH_ITEMS_IN_MAX of them). The item's visibility follows
 * the comment columns. */
static char ch__sql_hydrate[4096];
static pthread_once_t ch__sql_once = PTHREAD_ONCE_INIT;
enum { CH__COL_ITEM_VISIBILITY = CH_COMMENT_COL_MY_REACTION + 1 };

static void ch__sql_build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN];
    ch_items_sql_in(in, sizeof(in), 3);
    snprintf(ch__sql_hydrate, sizeof(ch__sql_hydrate),
             "SELECT " CH_COMMENT_COLUMNS ", i.visibility" CH_COMMENT_FROM
             " JOIN items i ON i.id = c.target_id AND i.type = c.target_type"
             " JOIN users iu ON iu.id = i.author_id"
             " WHERE c.id IN %s AND c.deleted_at IS NULL AND" CH_GRAPH_SQL_NO_BLOCK("$1", "c.author_id")
             " AND i.deleted_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > $2) AND"
             CH_GRAPH_SQL_MAY_SEE_CONTENT("$1", "i.author_id", "i.visibility = 'followers'", "iu.is_private"),
             in);
}

static ch_err_t ch__hydrate_comments(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n,
                                     json_t **out, ch_item_facts_t *facts, ch_fault_t *f)
{
    (void)f;
    pthread_once(&ch__sql_once, ch__sql_build);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_items_run_in(svc, ch__sql_hydrate, viewer, keys, n, &rows);
    if (err)
        return err;
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        int k = ch_items_find(keys, n, (uint64_t)ch_db_rows_int(rows, r, CH_COMMENT_COL_ID));
        if (k < 0 || (out ? out[k] != NULL : facts[k].author_id != 0))
            continue;
        if (out) /* facts only: no JSON built */
            out[k] = ch__comment_render(rows, r);
        ch_item_facts_t *fa = &facts[k];
        fa->author_id = (uint64_t)ch_db_rows_int(rows, r, CH_COMMENT_COL_AUTHOR);
        fa->created_at_ms = ch_db_rows_int(rows, r, CH_COMMENT_COL_CREATED);
        for (size_t c = 0; c < 6; c++)
            fa->reactions += ch_db_rows_int(rows, r, CH_COMMENT_COL_REACTIONS + c);
        fa->comments = ch_db_rows_int(rows, r, CH_COMMENT_COL_REPLIES);
        fa->followers_only = strcmp(ch_db_rows_text(rows, r, CH__COL_ITEM_VISIBILITY), "followers") == 0;
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

static const ch_item_type_ops_t ch__comment_ops = {.resolve = ch__resolve_comment,
                                                   .hydrate_many = ch__hydrate_comments};

void ch_comments_register_types(void)
{
    ch_items_register(CH_TARGET_COMMENT, &ch__comment_ops);
}
