#include "svc/feed/visible.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "svc/common/sql.h"

static int ch__cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sizes of the statement's IN list, padded with 0 (no user): only a few statement texts. */
static const size_t ch__slots[] = {8, 64, CH_TIMELINE_MAX_ENTRIES};

ch_err_t ch_feed_keep_visible(ch_svc_t *svc, uint64_t viewer, ch_timeline_entry_t *e, size_t *n)
{
    if (*n == 0)
        return CH_OK;
    size_t m = *n < CH_TIMELINE_MAX_ENTRIES ? *n : CH_TIMELINE_MAX_ENTRIES;
    uint64_t *authors = ch_calloc(m, sizeof(uint64_t));
    for (size_t i = 0; i < m; i++)
        authors[i] = e[i].author_id;
    qsort(authors, m, sizeof(uint64_t), ch__cmp);
    size_t d = 0;
    for (size_t i = 0; i < m; i++)
        if (d == 0 || authors[d - 1] != authors[i])
            authors[d++] = authors[i];
    size_t slots = ch__slots[0];
    for (size_t i = 0; i < sizeof(ch__slots) / sizeof(ch__slots[0]) && slots < d; i++)
        slots = ch__slots[i];
    ch_db_param_t *p = ch_calloc(1 + slots, sizeof(*p));
    p[0] = CH_DB_P_INT(viewer);
    ch_buf_t sql = CH_BUF_INIT;
    ch_buf_printf(&sql, "SELECT f.followee_id FROM follows f WHERE f.follower_id = $1 AND f.followee_id IN (");
    for (size_t i = 0; i < slots; i++) {
        p[1 + i] = CH_DB_P_INT(i < d ? authors[i] : 0);
        ch_buf_printf(&sql, i ? ", $%zu" : "$%zu", i + 2);
    }
    ch_buf_printf(&sql, ")" CH_FEED_SQL_NOT_HIDDEN("f.followee_id"));
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, sql.data, p, 1 + slots, &rows, NULL);
    if (err == CH_OK) {
        size_t nr = ch_db_rows_count(rows), keep = 0;
        for (size_t i = 0; i < nr; i++)
            authors[i] = (uint64_t)ch_db_rows_int(rows, i, 0); /* nr <= d: reuses the array */
        qsort(authors, nr, sizeof(uint64_t), ch__cmp);
        for (size_t i = 0; i < *n; i++)
            if (nr && bsearch(&e[i].author_id, authors, nr, sizeof(uint64_t), ch__cmp))
                e[keep++] = e[i];
        *n = keep;
    }
    ch_db_rows_free(rows);
    ch_buf_clear(&sql);
    free(p);
    free(authors);
    return err;
}
