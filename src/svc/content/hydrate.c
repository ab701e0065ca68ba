/* Posts, reels and stories in the item-type registry (svc/common/items.h): resolved one at
 * a time by ch_content_find (items.c); the three share the items table, so one hydrating
 * function serves them, one statement per chunk of ids, with the live-item condition and
 * the visibility rule applied in SQL (CH_GRAPH_SQL_MAY_SEE_CONTENT), as the hashtag pages
 * do. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "svc/common/items.h"
#include "svc/content/render.h"
#include "svc/graph/visibility.h"

/* $1 viewer, $2 now, $3.. the ids (CH_ITEMS_IN_MAX of them). */
static char ch__sql_hydrate[4096];
static pthread_once_t ch__sql_once = PTHREAD_ONCE_INIT;

static void ch__sql_build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN];
    ch_items_sql_in(in, sizeof(in), 3);
    snprintf(ch__sql_hydrate, sizeof(ch__sql_hydrate),
             "SELECT " CH_ITEM_COLUMNS CH_ITEM_FROM " WHERE i.id IN %s AND" CH_ITEM_LIVE
             " AND" CH_GRAPH_SQL_MAY_SEE_CONTENT("$1", "i.author_id", "i.visibility = 'followers'", "u.is_private"),
             in);
}

/* The target type of an item type. */
static ch_target_type_t ch__target_of(ch_item_type_t type)
{
    return type == CH_ITEM_REEL ? CH_TARGET_REEL : type == CH_ITEM_STORY ? CH_TARGET_STORY : CH_TARGET_POST;
}

static ch_err_t ch__hydrate_items(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n, json_t **out,
                                  ch_item_facts_t *facts, ch_fault_t *f)
{
    (void)f;
    pthread_once(&ch__sql_once, ch__sql_build);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_items_run_in(svc, ch__sql_hydrate, viewer, keys, n, &rows);
    if (err)
        return err;
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        ch_item_type_t type = ch_item_row_type(rows, r);
        int k = ch_items_find(keys, n, (uint64_t)ch_db_rows_int(rows, r, CH_ITEM_COL_ID));
        if (k < 0 || keys[k].type != ch__target_of(type) || (out ? out[k] != NULL : facts[k].author_id != 0))
            continue; /* asked as another type: not this item */
        if (out) /* facts only: no JSON built (ranking reads hundreds of items) */
            out[k] = ch_item_render(rows, r);
        ch_item_facts_t *fa = &facts[k];
        fa->author_id = (uint64_t)ch_db_rows_int(rows, r, CH_ITEM_COL_AUTHOR);
        fa->created_at_ms = ch_db_rows_int(rows, r, CH_ITEM_COL_CREATED);
        for (size_t c = 0; c < 6; c++)
            fa->reactions += ch_db_rows_int(rows, r, CH_ITEM_COL_REACTIONS + c);
        fa->comments = ch_db_rows_int(rows, r, CH_ITEM_COL_COMMENTS);
        fa->views = ch_db_rows_int(rows, r, CH_ITEM_COL_VIEWS);
        fa->followers_only = strcmp(ch_db_rows_text(rows, r, CH_ITEM_COL_VISIBILITY), "followers") == 0;
        fa->seen = type == CH_ITEM_STORY && ch_db_rows_int(rows, r, CH_ITEM_COL_SEEN) != 0;
    }
    ch_db_rows_free(rows);
    return CH_OK;
}

static ch_err_t ch__resolve_item(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type,
                                 uint64_t id, ch_target_t *out, ch_fault_t *f)
{
    ch_item_type_t item = type == CH_TARGET_REEL ? CH_ITEM_REEL : type == CH_TARGET_STORY ? CH_ITEM_STORY : CH_ITEM_POST;
    ch_item_ref_t ref;
    ch_err_t err = ch_content_find(svc, conn, viewer, item, id, &ref, f);
    if (err == CH_OK)
        *out = (ch_target_t){type, ref.id, ref.author_id, ref.followers_only};
    return err;
}

static const ch_item_type_ops_t ch__item_ops = {.resolve = ch__resolve_item, .hydrate_many = ch__hydrate_items};

void ch_content_register_types(void)
{
    ch_items_register(CH_TARGET_POST, &ch__item_ops);
    ch_items_register(CH_TARGET_REEL, &ch__item_ops);
    ch_items_register(CH_TARGET_STORY, &ch__item_ops);
}
