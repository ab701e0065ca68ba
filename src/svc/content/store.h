/* Loading one item with the visibility rule applied: shared by items.c and stories.c.
 * Internal to svc/content. */
#ifndef CH_SVC_CONTENT_STORE_H
#define CH_SVC_CONTENT_STORE_H

#include "svc/common/items.h"
#include "svc/content/render.h"

/** Loads the live item `id` of `type` as viewer sees it (a CH_ITEM_COLUMNS row in
 * *rows_out, caller frees; rows_out may be NULL) and fills ref. conn may be NULL (one is
 * borrowed for the call) or the caller's, inside its transaction. CH_ENOTFOUND ("<type>
 * not found") when it does not exist, is deleted or expired, or viewer may not see it. */
ch_err_t ch__content_load(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_item_type_t type, uint64_t id,
                          ch_db_rows_t **rows_out, ch_item_ref_t *ref, ch_fault_t *f);
/** Parses text (field names it in errors), stores the mentions and hashtags of item `id`
 * by author (svc/engage/refs.h) and writes their arrays into the item row, on conn (the
 * caller's write transaction). is_new: the item was created in this transaction. CH_EINVAL
 * as in ch_refs_parse. */
ch_err_t ch__content_refs(ch_svc_t *svc, ch_db_conn_t *conn, ch_item_type_t type, uint64_t id, uint64_t author,
                          int followers_only, int is_new, const char *text, const char *field, ch_fault_t *f);
/** A page of items of `type` from rows of ids (column 0, up to limit + 1; the extra row says
 * there is a next page, continued after the limit-th id), rendered through the hydration
 * layer into *out ({items, next_cursor} text, caller frees). Takes ownership of rows. */
ch_err_t ch__content_page(ch_svc_t *svc, uint64_t viewer, ch_item_type_t type, ch_db_rows_t *rows, int limit,
                          ch_fault_t *f, char **out);
/** The registry's type (svc/common/items.h) of an authored type. */
ch_target_type_t ch__content_target(ch_item_type_t type);
/** CH_ENOTFOUND "<type> not found" in f; returns it. */
ch_err_t ch__content_not_found(ch_item_type_t type, ch_fault_t *f);

#endif
