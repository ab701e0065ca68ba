/* The reply ids of a comment page's threads: each parent's first few live replies, read by
 * one statement that is a UNION ALL of one bounded range scan of index comments_parent per
 * parent (LIMIT per parent), so its cost follows the rows it returns, not every reply of the
 * page's parents (a ROW_NUMBER over all of them before). The statement's text exists for a
 * few member counts (CH__FIRST_BUCKETS); a page pads its parents with id 0 (no comment has
 * it: an empty index probe) up to the next one, so the database's statement caches hold a
 * handful of texts, not one per count. Two per-parent limits have texts: a page's first
 * replies, and the rows of a parent's cached first replies (comments_first_cached.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "core/alloc.h"
#include "svc/common/sql.h"
#include "svc/engage/comments_row.h"

/* Member counts a statement text exists for (ascending; the last is CH_ITEMS_IN_MAX). */
static const size_t ch__first_buckets[] = {1, 2, 3, 4, 6, 8, 12, 16, 20, 24, 32, 48, 64, CH_ITEMS_IN_MAX};
#define CH__FIRST_BUCKETS (sizeof(ch__first_buckets) / sizeof(ch__first_buckets[0]))
/* One member: "SELECT * FROM (... $k ... LIMIT n) AS tk UNION ALL " at its longest. */
#define CH__FIRST_MEMBER_MAX 240

/* The two per-parent limits a statement text exists for: a page's first replies, and a
 * parent's cached first replies (comments_first_cached.c: the Y: fact's rows + 1). */
static const size_t ch__first_pers[] = {CH__COMMENT_FIRST_READ, CH__REPLIES_CACHED + 1};
#define CH__FIRST_PERS (sizeof(ch__first_pers) / sizeof(ch__first_pers[0]))

static char *ch__first_sql[CH__FIRST_PERS][CH__FIRST_BUCKETS];
static pthread_once_t ch__first_once = PTHREAD_ONCE_INIT;

static void ch__first_build(void)
{
    for (size_t l = 0; l < CH__FIRST_PERS; l++)
        for (size_t b = 0; b < CH__FIRST_BUCKETS; b++) {
            size_t n = ch__first_buckets[b], cap = n * CH__FIRST_MEMBER_MAX + 1, len = 0;
            char *s = ch_malloc(cap);
            for (size_t k = 0; k < n; k++)
                len += (size_t)snprintf(s + len, cap - len,
                                        "%sSELECT * FROM (SELECT c.id, c.parent_id FROM comments c WHERE c.parent_id = $%zu"
                                        " AND c.parent_id IS NOT NULL AND c.deleted_at IS NULL ORDER BY c.id LIMIT %zu)"
                                        " AS t%zu",
                                        k ? " UNION ALL " : "", k + 1, ch__first_pers[l], k);
            ch__first_sql[l][b] = s;
        }
}

static int ch__first_cmp(const void *a, const void *b)
{
    const ch__reply_ref_t *x = a, *y = b;
    if (x->parent != y->parent)
        return x->parent < y->parent ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

ch_err_t ch__comments_first_ids_upto(ch_svc_t *svc, const uint64_t *parents, size_t np, size_t per,
                                     ch__reply_ref_t *out, size_t *n)
{
    *n = 0;
    if (np == 0)
        return CH_OK;
    if (np > CH_ITEMS_IN_MAX)
        np = CH_ITEMS_IN_MAX;
    size_t l = 0;
    while (l + 1 < CH__FIRST_PERS && ch__first_pers[l] != per)
        l++;
    if (ch__first_pers[l] != per)
        return CH_EINTERNAL;
    pthread_once(&ch__first_once, ch__first_build);
    size_t b = 0;
    while (ch__first_buckets[b] < np)
        b++;
    size_t members = ch__first_buckets[b];
    ch_db_param_t p[CH_ITEMS_IN_MAX];
    for (size_t i = 0; i < members; i++)
        p[i] = CH_DB_P_INT(i < np ? parents[i] : 0);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, ch__first_sql[l][b], p, members, &rows, NULL);
    size_t cap = np * per;
    for (size_t k = 0; err == CH_OK && k < ch_db_rows_count(rows) && *n < cap; k++)
        out[(*n)++] = (ch__reply_ref_t){(uint64_t)ch_db_rows_int(rows, k, 0), (uint64_t)ch_db_rows_int(rows, k, 1)};
    ch_db_rows_free(rows);
    /* grouped by parent, oldest first, whatever order the members' rows came in */
    qsort(out, *n, sizeof(*out), ch__first_cmp);
    return err;
}

ch_err_t ch__comments_first_ids(ch_svc_t *svc, const uint64_t *parents, size_t np, ch__reply_ref_t *out, size_t *n)
{
    return ch__comments_first_ids_upto(svc, parents, np, CH__COMMENT_FIRST_READ, out, n);
}
