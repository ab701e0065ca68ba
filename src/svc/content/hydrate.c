/* Posts, reels and stories in the item-type registry (svc/common/items.h): resolved one at
 * a time by ch_content_find (items.c); the three share the items table, so one load function
 * serves them, one statement per chunk of ids, reading each item's record as anyone sees it
 * (the hydration layer, svc/common/hydrate.h, decides visibility and expiry). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/common/hydrate_codec.h"
#include "svc/common/items.h"
#include "svc/common/sql.h"
#include "svc/content/render.h"

/* $1 the viewer nobody is (0: CH_ITEM_FROM joins a viewer), $2.. the ids (CH_ITEMS_IN_MAX). */
static char ch__sql_load[4096];
static pthread_once_t ch__sql_once = PTHREAD_ONCE_INIT;

static void ch__sql_build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN];
    ch_items_sql_in(in, sizeof(in), 2);
    snprintf(ch__sql_load, sizeof(ch__sql_load),
             "SELECT " CH_ITEM_COLUMNS CH_ITEM_FROM " WHERE i.id IN %s AND i.deleted_at IS NULL", in);
}

/* The target type of an item type. */
static ch_target_type_t ch__target_of(ch_item_type_t type)
{
    return type == CH_ITEM_REEL ? CH_TARGET_REEL : type == CH_ITEM_STORY ? CH_TARGET_STORY : CH_TARGET_POST;
}

static ch_err_t ch__load_items(ch_svc_t *svc, const ch_item_key_t *keys, size_t n, ch_item_record_t *out,
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
        ch_item_type_t type = ch_item_row_type(rows, r);
        int k = ch_items_find_key(keys, n, ch__target_of(type), (uint64_t)ch_db_rows_int(rows, r, CH_ITEM_COL_ID));
        if (k < 0 || out[k].found)
            continue; /* asked only as another type: not this item */
        ch_item_record_t *rec = &out[k];
        rec->body = ch_hcodec_members(ch_item_render_body(rows, r), &rec->body_len);
        if (!rec->body)
        {
            ch_db_rows_free(rows);
            return ch_fault(f, CH_EINTERNAL, NULL, "cannot render an item");
        }
        rec->found = 1;
        rec->author_id = (uint64_t)ch_db_rows_int(rows, r, CH_ITEM_COL_AUTHOR);
        rec->created_at_ms = ch_db_rows_int(rows, r, CH_ITEM_COL_CREATED);
        rec->expires_at_ms =
            ch_db_rows_isnull(rows, r, CH_ITEM_COL_EXPIRES) ? 0 : ch_db_rows_int(rows, r, CH_ITEM_COL_EXPIRES);
        rec->followers_only = strcmp(ch_db_rows_text(rows, r, CH_ITEM_COL_VISIBILITY), "followers") == 0;
        rec->parent = (ch_item_key_t){CH_ITEM_NO_PARENT, 0};
        for (size_t c = 0; c < 6; c++)
            rec->reactions += ch_db_rows_int(rows, r, CH_ITEM_COL_REACTIONS + c);
        rec->comments = ch_db_rows_int(rows, r, CH_ITEM_COL_COMMENTS);
        rec->views = ch_db_rows_int(rows, r, CH_ITEM_COL_VIEWS);
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

static const ch_item_type_ops_t ch__item_ops = {.resolve = ch__resolve_item, .load_many = ch__load_items};

void ch_content_register_types(void)
{
    ch_items_register(CH_TARGET_POST, &ch__item_ops);
    ch_items_register(CH_TARGET_REEL, &ch__item_ops);
    ch_items_register(CH_TARGET_STORY, &ch__item_ops);
}
