/* The mentions and hashtags of an item's text: found and stored by svc/engage/refs.h, their
 * rendered arrays kept in the item row (read with the item, no join). */
#include <stdlib.h>

#include "core/alloc.h"
#include "svc/content/store.h"
#include "svc/engage/refs.h"

ch_err_t ch__content_refs(ch_svc_t *svc, ch_db_conn_t *conn, ch_item_type_t type, uint64_t id, uint64_t author,
                          int followers_only, int is_new, const char *text, const char *field, ch_fault_t *f)
{
    ch_textrefs_t *refs = ch_malloc(sizeof(*refs));
    ch_target_type_t tt = type == CH_ITEM_REEL ? CH_TARGET_REEL : type == CH_ITEM_STORY ? CH_TARGET_STORY
                                                                                         : CH_TARGET_POST;
    ch_refs_target_t t = {tt, id, author, tt, id, author, followers_only, 0, 0, is_new};
    char *mentions = NULL, *tags = NULL;
    ch_err_t err = ch_refs_parse(text, field, refs, f);
    /* A new item without refs has nothing to store: NULL columns render as []. */
    if (err == CH_OK && is_new && refs->nmentions == 0 && refs->nhashtags == 0) {
        free(refs);
        return CH_OK;
    }
    if (err == CH_OK)
        err = ch_refs_store(svc, conn, &t, refs, &mentions, &tags);
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(mentions), CH_DB_P_TEXT(tags)};
        err = ch_sql_on(svc, conn, "UPDATE items SET mentions = $2, hashtags = $3 WHERE id = $1", p, CH_NPARAMS(p),
                        NULL, NULL);
    }
    free(mentions);
    free(tags);
    free(refs);
    return err;
}
