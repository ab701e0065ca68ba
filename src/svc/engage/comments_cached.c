/* A comment list's first ids as cached facts (svc/common/id_page.h; docs/design.md, "### l1 on
 * the loop"): an item's newest top-level comments, each with its first replies, under
 * "C:<type>:<id>", and a comment's oldest replies under "Y:<comment>". Neither holds a
 * viewer's terms: the statements they replace have none either (the layer decides what a
 * viewer sees). Both are forgotten after the commit of every comment or reply written or
 * deleted on the item (comments_write.c, ch_hydrate_forget_thread), which is every write that
 * changes which comments are listed (a deleted one stays while it has live replies) or
 * which replies are live. So a warm first page of a thread or of replies needs no statement
 * and, in cluster mode, is served on the loop from the L1. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "svc/common/hydrate_keys.h"
#include "svc/engage/comments_row.h"

/* A thread row from the statement: the comment id; its replies are filled by the spec's
 * complete (0 until then). */
static int ch__thread_row(const ch_db_rows_t *rows, size_t r, uint64_t *vals)
{
    memset(vals, 0, sizeof(*vals) * CH__THREAD_COLS);
    vals[0] = (uint64_t)ch_db_rows_int(rows, r, 0);
    return 1;
}

static int ch__id_valid(const uint64_t *vals)
{
    return vals[0] != 0 && vals[0] <= INT64_MAX;
}

/* Fills each thread row's first replies, oldest first (the statement of comments_first.c, one
 * per CH_ITEMS_IN_MAX parents). */
static ch_err_t ch__thread_complete(ch_svc_t *svc, uint64_t *v, size_t n)
{
    uint64_t parents[CH_ITEMS_IN_MAX];
    ch__reply_ref_t *refs = ch_malloc(sizeof(*refs) * CH_ITEMS_IN_MAX * CH__COMMENT_FIRST_READ);
    ch_err_t err = CH_OK;
    for (size_t at = 0; at < n && err == CH_OK; at += CH_ITEMS_IN_MAX) {
        size_t np = n - at < CH_ITEMS_IN_MAX ? n - at : CH_ITEMS_IN_MAX, nr = 0;
        for (size_t i = 0; i < np; i++)
            parents[i] = v[(at + i) * CH__THREAD_COLS];
        if ((err = ch__comments_first_ids(svc, parents, np, refs, &nr)) != CH_OK)
            break;
        for (size_t i = 0; i < np; i++) {
            uint64_t *row = v + (at + i) * CH__THREAD_COLS;
            unsigned k = 1;
            for (size_t j = 0; j < nr && k < CH__THREAD_COLS; j++)
                if (refs[j].parent == row[0])
                    row[k++] = refs[j].id;
        }
    }
    free(refs);
    return err;
}

const ch_id_page_spec_t ch__thread_spec = {
    .tag = 'C',
    .cols = CH__THREAD_COLS,
    .cap = CH__THREADS_CACHED,
    .sql = "SELECT c.id FROM comments c WHERE c.target_type = $1 AND c.target_id = $2 AND c.parent_id IS NULL"
           " AND" CH_COMMENT_LISTED " ORDER BY c.id DESC LIMIT $3",
    .row = ch__thread_row,
    .valid = ch__id_valid,
    .complete = ch__thread_complete};

const ch_id_page_spec_t ch__replies_spec = {
    .tag = 'Y',
    .cols = 1,
    .cap = CH__REPLIES_CACHED,
    .sql = "SELECT c.id FROM comments c WHERE c.parent_id = $1 AND c.parent_id IS NOT NULL"
           " AND c.deleted_at IS NULL ORDER BY c.id LIMIT $2",
    .valid = ch__id_valid};

int ch__comments_cached_threads(ch_svc_t *svc, const ch_target_t *item, ch_id_page_t *pg, ch_err_t *err)
{
    ch_hkey_t key;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(item->type)), CH_DB_P_INT(item->id)};
    return ch_id_page_read(svc, &ch__thread_spec, ch_hkey_thread(key, (unsigned)item->type, item->id), p,
                           CH_NPARAMS(p), pg, err);
}

int ch__comments_cached_replies(ch_svc_t *svc, uint64_t parent, ch_id_page_t *pg, ch_err_t *err)
{
    ch_hkey_t key;
    ch_db_param_t p[] = {CH_DB_P_INT(parent)};
    return ch_id_page_read(svc, &ch__replies_spec, ch_hkey_replies(key, parent), p, CH_NPARAMS(p), pg, err);
}
