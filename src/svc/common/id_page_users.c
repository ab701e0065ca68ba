/* A first page of a users list rendered from a cached id page: see id_page.h. */
#include "svc/common/id_page.h"

#include "svc/common/page.h"

int ch_id_page_render_users(ch_svc_t *svc, const ch_id_page_spec_t *spec, const ch_id_page_t *pg, unsigned user_col,
                            unsigned cursor_col, uint64_t viewer, int limit, ch_id_page_user_row_fn append, char **out,
                            ch_err_t *err, ch_fault_t *f)
{
    *err = CH_OK;
    uint64_t users[CH_PAGE_LIMIT_MAX + 1];
    ch_hydrated_user_t u[CH_PAGE_LIMIT_MAX + 1];
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "{\"items\":[", 10);
    size_t at = 0, shown = 0;
    uint64_t last = 0;
    int first = 1, more = 0;
    while (at < pg->n && !more) {
        size_t need = (size_t)limit + 1 - shown, chunk = pg->n - at < need ? pg->n - at : need;
        for (size_t k = 0; k < chunk; k++)
            users[k] = pg->v[(at + k) * spec->cols + user_col];
        if ((*err = ch_hydrate_users(svc, viewer, users, chunk, u, f)) != CH_OK)
            break;
        for (size_t k = 0; k < chunk && !more; k++) {
            if (!u[k].json)
                continue;
            if (shown++ == (size_t)limit) { /* the (limit + 1)-th only says there is more */
                more = 1;
                break;
            }
            const uint64_t *row = pg->v + (at + k) * spec->cols;
            last = row[cursor_col];
            append(&b, first, row, &u[k]);
            first = 0;
        }
        ch_hydrated_users_free(u, chunk);
        at += chunk;
    }
    int answered = *err != CH_OK || more || !pg->full;
    if (*err != CH_OK || !answered) {
        ch_buf_clear(&b);
        return answered;
    }
    ch_buf_append(&b, "]", 1);
    ch_page_close(&b, more ? last : 0);
    *out = b.data;
    return 1;
}
