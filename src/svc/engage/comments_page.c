/* Comment pages through the hydration layer (svc/common/hydrate.h): the ids come from one
 * indexed statement, the layer decides what the viewer may see (blocks either way, the item's
 * visibility; placeholders of deleted comments with live replies in threads), and the page is
 * assembled as text. Threads carry their first CH_COMMENT_FIRST_REPLIES replies: their ids
 * for every parent of the page in one statement (comments_first.c: a few more per parent than
 * shown, so that hidden ones do not leave a thread short), hydrated in one call. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "svc/common/page.h"
#include "svc/engage/comments_row.h"

#define CH__FIRST_READ CH__COMMENT_FIRST_READ
_Static_assert(CH_ITEMS_IN_MAX * CH__FIRST_READ <= CH_ITEMS_HYDRATE_MAX, "one layer call for a page's replies");

/* Hydrates the reply rows keys[0..nr) (ordered by parent of[], then id) into h[0..*nh) (room
 * for nr, the caller's; every one of them the caller's to free, also on error), row k's text
 * at h[at[k]]: first the CH_COMMENT_FIRST_REPLIES first of each parent, then the others only
 * of the parents that still lack shown replies (some were hidden). Rows not hydrated have
 * at[k] = -1 (not shown): they come after a parent's shown ones, which the page stops at.
 * Nothing is zeroed up front: the layer fills (and zeroes) only what it is asked for. */
static ch_err_t ch__first_hydrate(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, const uint64_t *of,
                                  size_t nr, ch_hydrated_t *h, long *at, size_t *nh, ch_fault_t *f)
{
    ch_item_key_t *k2 = ch_malloc(sizeof(*k2) * nr);
    ch_err_t err = CH_OK;
    *nh = 0;
    for (size_t k = 0; k < nr; k++)
        at[k] = -1;
    for (int pass = 0; pass < 2 && err == CH_OK; pass++) {
        size_t m = 0, rank = 0, shown = 0;
        for (size_t k = 0; k < nr; k++) {
            if (k == 0 || of[k] != of[k - 1])
                rank = shown = 0;
            if (pass == 1 && at[k] >= 0 && h[at[k]].json)
                shown++;
            int want = pass == 0 ? rank < CH_COMMENT_FIRST_REPLIES
                                 : rank >= CH_COMMENT_FIRST_REPLIES && shown < CH_COMMENT_FIRST_REPLIES;
            if (want) {
                k2[m] = keys[k];
                at[k] = (long)(*nh + m++);
            }
            rank++;
        }
        if (m == 0)
            continue;
        /* *nh + m <= nr: each row is asked for once */
        err = ch_hydrate_items(svc, viewer, k2, m, 0, h + *nh, f);
        *nh += m;
    }
    free(k2);
    return err;
}

/* Room a page of threads needs in b: the texts of h[0..n) and of the replies r[0..nr), and a
 * few bytes of punctuation per thread. */
static size_t ch__threads_size(const ch_hydrated_t *h, size_t n, const ch_hydrated_t *r, size_t nr)
{
    size_t size = 2;
    for (size_t i = 0; i < n; i++)
        size += h[i].json ? h[i].len + sizeof(",\"replies\":[]},") : 0;
    for (size_t k = 0; k < nr; k++)
        size += r[k].json ? r[k].len + 1 : 0;
    return size;
}

/* The first reply ids of parents[0..np) from cached thread rows (comments_cached.c) into
 * out[0..*n), grouped by parent, oldest first: 1 when every parent has its row there, else 0
 * (the statement reads them). */
static int ch__first_from_cache(const ch_id_page_t *cached, const uint64_t *parents, size_t np, ch__reply_ref_t *out,
                                size_t *n)
{
    *n = 0;
    size_t at = 0;
    for (size_t i = 0; i < np; i++) {
        /* parents are in page order, as the rows are: the search goes on from the last find */
        size_t r = at;
        while (r < cached->n && cached->v[r * CH__THREAD_COLS] != parents[i])
            r++;
        if (r == cached->n)
            return 0;
        at = r + 1;
        const uint64_t *row = cached->v + r * CH__THREAD_COLS;
        for (unsigned k = 1; k < CH__THREAD_COLS && row[k]; k++)
            out[(*n)++] = (ch__reply_ref_t){row[k], parents[i]};
    }
    return 1;
}

/* ch__comments_threads_append, with the page's cached thread rows when it was read from them
 * (NULL: none). */
static ch_err_t ch__threads_append(ch_svc_t *svc, uint64_t viewer, const ch_hydrated_t *h, const uint64_t *ids,
                                   size_t n, const ch_id_page_t *cached, ch_buf_t *b, ch_fault_t *f)
{
    uint64_t parents[CH_ITEMS_IN_MAX];
    size_t np = 0;
    for (size_t i = 0; i < n && np < CH_ITEMS_IN_MAX; i++)
        if (h[i].json && h[i].facts.comments > 0)
            parents[np++] = ids[i];
    ch_item_key_t *keys = ch_malloc(sizeof(ch_item_key_t) * (np * CH__FIRST_READ + 1));
    uint64_t *of = ch_malloc(sizeof(uint64_t) * (np * CH__FIRST_READ + 1));
    ch_hydrated_t *r = ch_malloc(sizeof(ch_hydrated_t) * (np * CH__FIRST_READ + 1)); /* r[0..nh) hydrated */
    long *at = ch_malloc(sizeof(long) * (np * CH__FIRST_READ + 1)); /* row k's text: r[at[k]], -1 none */
    size_t nr = 0, nh = 0;
    ch_err_t err = CH_OK;
    if (np > 0) {
        ch__reply_ref_t *refs = ch_malloc(sizeof(*refs) * np * CH__FIRST_READ);
        /* the page's parents all in the cached threads; else those rows and the parents'
         * Y: facts; else (cache down, a miss on the loop) the statement */
        if ((!cached || !ch__first_from_cache(cached, parents, np, refs, &nr)) &&
            ch__comments_first_cached(svc, cached, parents, np, refs, &nr, &err) == 0)
            err = ch__comments_first_ids(svc, parents, np, refs, &nr);
        for (size_t k = 0; k < nr; k++) {
            keys[k] = (ch_item_key_t){CH_TARGET_COMMENT, refs[k].id};
            of[k] = refs[k].parent;
        }
        free(refs);
        if (err == CH_OK && nr > 0)
            err = ch__first_hydrate(svc, viewer, keys, of, nr, r, at, &nh, f);
    }
    if (err == CH_OK) {
        /* each thread spliced straight into b: the comment's text without its closing brace
         * (every text ends with it and has members: ch_hydrated_append_with), its replies */
        static const char replies[] = ",\"replies\":[";
        int first = 1;
        ch_buf_reserve(b, ch__threads_size(h, n, r, nh)); /* one allocation, no growth copies */
        ch_buf_append(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (!h[i].json || h[i].len < 2)
                continue;
            if (!first)
                ch_buf_append(b, ",", 1);
            first = 0;
            ch_buf_append(b, h[i].json, h[i].len - 1);
            ch_buf_append(b, replies, sizeof(replies) - 1);
            size_t shown = 0;
            for (size_t k = 0; k < nr && shown < CH_COMMENT_FIRST_REPLIES; k++) {
                if (of[k] != ids[i] || at[k] < 0 || !r[at[k]].json)
                    continue;
                if (shown++)
                    ch_buf_append(b, ",", 1);
                ch_buf_append(b, r[at[k]].json, r[at[k]].len);
            }
            ch_buf_append(b, "]}", 2);
        }
        ch_buf_append(b, "]", 1);
    }
    ch_hydrated_free(r, nh);
    free(r);
    free(at);
    free(of);
    free(keys);
    return err;
}

ch_err_t ch__comments_threads_append(ch_svc_t *svc, uint64_t viewer, const ch_hydrated_t *h, const uint64_t *ids,
                                     size_t n, ch_buf_t *b, ch_fault_t *f)
{
    return ch__threads_append(svc, viewer, h, ids, n, NULL, b, f);
}

/* Serves a round of ch_page_fill from cached ids (column 0 of spec's rows) when they answer
 * it: 1 with keys[0..*n), else 0. */
static int ch__ids_cached(const ch_id_page_spec_t *spec, const ch_id_page_t *cached, int desc, uint64_t cursor,
                          size_t want, ch_item_key_t *keys, size_t *n)
{
    size_t from, count;
    if (!cached || !ch_id_page_after(spec, cached, 0, desc, cursor, want, &from, &count))
        return 0;
    for (size_t i = 0; i < count; i++)
        keys[i] = (ch_item_key_t){CH_TARGET_COMMENT, cached->v[(from + i) * spec->cols]};
    *n = count;
    return 1;
}

/* ---- sort=new: top-level comments newest first ------------------------------------------- */

typedef struct {
    const ch_target_t *item;
    const ch_id_page_t *cached; /* the item's cached first comments, or NULL */
} ch__new_ctx_t;

static ch_err_t ch__new_ids(ch_svc_t *svc, void *ctx, uint64_t cursor, size_t want, ch_item_key_t *keys, size_t *n)
{
    const ch__new_ctx_t *c = ctx;
    if (ch__ids_cached(&ch__thread_spec, c->cached, 1, cursor, want, keys, n))
        return CH_OK;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(c->item->type)), CH_DB_P_INT(c->item->id),
                         CH_DB_P_INT(cursor && cursor <= INT64_MAX ? cursor : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(want)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT c.id FROM comments c WHERE c.target_type = $1 AND c.target_id = $2"
                              " AND c.parent_id IS NULL AND c.id < $3 AND" CH_COMMENT_LISTED
                              " ORDER BY c.id DESC LIMIT $4",
                              p, CH_NPARAMS(p), &rows, NULL);
    *n = 0;
    for (size_t r = 0; err == CH_OK && r < ch_db_rows_count(rows) && *n < want; r++)
        keys[(*n)++] = (ch_item_key_t){CH_TARGET_COMMENT, (uint64_t)ch_db_rows_int(rows, r, 0)};
    ch_db_rows_free(rows);
    return err;
}

/* Appends {"items":[threads],"next_cursor":...} of pg to b. */
static ch_err_t ch__threads_page(ch_svc_t *svc, uint64_t viewer, const ch_page_t *pg, const ch_id_page_t *cached,
                                 ch_buf_t *b, ch_fault_t *f)
{
    ch_buf_append(b, "{\"items\":", 9);
    ch_err_t err = ch__threads_append(svc, viewer, pg->h, pg->ids, pg->n, cached, b, f);
    ch_page_close(b, pg->next);
    return err;
}

ch_err_t ch__comments_new(ch_svc_t *svc, uint64_t viewer, const ch_target_t *item, int limit, uint64_t before,
                          char **out, ch_fault_t *f)
{
    ch_id_page_t cached = {.v = ch_malloc(sizeof(uint64_t) * CH__THREADS_CACHED * CH__THREAD_COLS)};
    ch_err_t err = CH_OK;
    int r = ch__comments_cached_threads(svc, item, &cached, &err);
    ch__new_ctx_t ctx = {item, r > 0 ? &cached : NULL};
    ch_page_t *pg = ch_malloc(sizeof(*pg)); /* ch_page_fill writes what is used */
    pg->n = 0;
    if (r >= 0)
        err = ch_page_fill(svc, viewer, CH_HYDRATE_PLACEHOLDERS, limit, SIZE_MAX, before, ch__new_ids, &ctx, pg, f);
    ch_buf_t b = CH_BUF_INIT;
    if (err == CH_OK)
        err = ch__threads_page(svc, viewer, pg, ctx.cached, &b, f);
    if (err == CH_OK)
        *out = b.data;
    else
        ch_buf_clear(&b);
    ch_hydrated_free(pg->h, pg->n);
    free(pg);
    free(cached.v);
    return err;
}

/* ---- replies: oldest first ---------------------------------------------------------------- */

typedef struct {
    uint64_t parent;
    const ch_id_page_t *cached; /* the parent's cached first replies, or NULL */
} ch__reply_ctx_t;

static ch_err_t ch__reply_ids(ch_svc_t *svc, void *ctx, uint64_t cursor, size_t want, ch_item_key_t *keys, size_t *n)
{
    const ch__reply_ctx_t *c = ctx;
    if (ch__ids_cached(&ch__replies_spec, c->cached, 0, cursor > INT64_MAX ? (uint64_t)INT64_MAX : cursor, want, keys,
                       n))
        return CH_OK;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(c->parent), CH_DB_P_INT(cursor > INT64_MAX ? (uint64_t)INT64_MAX : cursor),
                         CH_DB_P_INT(want)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT c.id FROM comments c WHERE c.parent_id = $1 AND c.parent_id IS NOT NULL"
                              " AND c.id > $2 AND c.deleted_at IS NULL ORDER BY c.id LIMIT $3",
                              p, CH_NPARAMS(p), &rows, NULL);
    *n = 0;
    for (size_t r = 0; err == CH_OK && r < ch_db_rows_count(rows) && *n < want; r++)
        keys[(*n)++] = (ch_item_key_t){CH_TARGET_COMMENT, (uint64_t)ch_db_rows_int(rows, r, 0)};
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch__comments_replies_page(ch_svc_t *svc, uint64_t viewer, uint64_t parent, int limit, uint64_t after,
                                   char **out, ch_fault_t *f)
{
    ch_id_page_t cached = {.v = ch_malloc(sizeof(uint64_t) * CH__REPLIES_CACHED)};
    ch_err_t err = CH_OK;
    int r = ch__comments_cached_replies(svc, parent, &cached, &err);
    ch__reply_ctx_t ctx = {parent, r > 0 ? &cached : NULL};
    ch_page_t *pg = ch_malloc(sizeof(*pg)); /* ch_page_fill writes what is used */
    pg->n = 0;
    if (r >= 0)
        err = ch_page_fill(svc, viewer, 0, limit, SIZE_MAX, after, ch__reply_ids, &ctx, pg, f);
    if (err == CH_OK) {
        ch_buf_t b = CH_BUF_INIT;
        ch_page_append(&b, pg);
        *out = b.data;
    }
    ch_hydrated_free(pg->h, pg->n);
    free(pg);
    free(cached.v);
    return err;
}
