/* Pages of authored items from a statement's ids, rendered by the hydration layer. */
#include "svc/common/page.h"
#include "svc/content/store.h"

ch_target_type_t ch__content_target(ch_item_type_t type)
{
    return type == CH_ITEM_POST ? CH_TARGET_POST : type == CH_ITEM_REEL ? CH_TARGET_REEL : CH_TARGET_STORY;
}

ch_err_t ch__content_page(ch_svc_t *svc, uint64_t viewer, ch_item_type_t type, ch_db_rows_t *rows, int limit,
                          ch_fault_t *f, char **out)
{
    size_t n = ch_db_rows_count(rows), shown = n > (size_t)limit ? (size_t)limit : n;
    ch_item_key_t keys[CH_ITEMS_HYDRATE_MAX];
    if (shown > CH_ITEMS_HYDRATE_MAX)
        shown = CH_ITEMS_HYDRATE_MAX;
    for (size_t i = 0; i < shown; i++)
        keys[i] = (ch_item_key_t){(uint8_t)ch__content_target(type), (uint64_t)ch_db_rows_int(rows, i, 0)};
    uint64_t next = n > shown && shown > 0 ? keys[shown - 1].id : 0;
    ch_db_rows_free(rows);
    return ch_page_items(svc, viewer, keys, shown, 0, next, out, f);
}
