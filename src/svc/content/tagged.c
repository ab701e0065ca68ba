/* The hashtag page: ids from the hashtags index (svc/engage/refs.h), newest first by keyset on
 * the item id, rendered by the hydration layer, which decides visibility per viewer.
 *
 * The statement no longer filters visibility, so a page reads more ids than it shows: rounds
 * of 2 * limit + 1 rows until limit items are shown (svc/common/page.h, ch_page_fill). A page
 * examines at most CHORUS_HASHTAG_SCAN_MAX rows of the tag: a tag flooded with items the
 * viewer may not see (private accounts, followers-only, blocks) must not cost more per request
 * the more it holds. When the rows examined hold fewer than limit visible items, the page
 * comes back short (even empty) with a cursor at the last id examined; the client continues
 * from it and never sees an item twice or misses one. */
#include "svc/content/tagged.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#include "svc/common/hydrate_keys.h"
#include "svc/common/id_page.h"
#include "svc/common/page.h"
#include "svc/content/render.h"

/* $1 tag, $2 below this id, $3 how many. One bounded range of the primary key (tag,
 * target_type, target_id) per listed type, which also covers the columns read; the two are
 * merged newest first here (an ORDER BY over the UNION ALL made SQLite sort each range in a
 * temporary b-tree). The tag's comment rows are never read (index hashtags_tag_recent has no
 * type, so a range of it read every comment row of the tag and looked each row up). */
#define CH__TAGGED_RANGE(type)                                                                                 \
    "SELECT * FROM (SELECT h.target_id, h.target_type FROM hashtags h WHERE h.tag = $1 AND h.target_type = '" \
    type "' AND h.target_id < $2 ORDER BY h.target_id DESC LIMIT $3) AS t_" type
static const char ch__sql_ids[] =
    CH__TAGGED_RANGE("post") " UNION ALL " CH__TAGGED_RANGE("reel");

/* Newest first (ids are unique across types). */
static int ch__key_cmp(const void *a, const void *b)
{
    const ch_item_key_t *x = a, *y = b;
    return x->id > y->id ? -1 : x->id < y->id;
}

/* The tag's newest posts and reels, cached (svc/common/id_page.h): a fact "T:<hash of the tag>"
 * holds its newest CH__TAGGED_CACHED rows (item id, type), with no viewer's terms (the
 * statement has none: the layer decides what a viewer sees). Forgotten after the commit of
 * every post or reel that gains or loses the tag (create, edit, delete: svc/engage/refs.c,
 * ch_hydrate_forget_tag), so a warm first page needs no statement. */
#define CH__TAGGED_CACHED 64

/* $1 tag, $2 how many: the ranges above without a cursor, merged by the database (a miss). */
#define CH__TAGGED_HEAD(type)                                                                                  \
    "SELECT * FROM (SELECT h.target_id, h.target_type FROM hashtags h WHERE h.tag = $1 AND h.target_type = '" \
    type "' ORDER BY h.target_id DESC LIMIT $2) AS t_" type

static int ch__tagged_row(const ch_db_rows_t *rows, size_t r, uint64_t *vals)
{
    vals[0] = (uint64_t)ch_db_rows_int(rows, r, 0);
    vals[1] = ch_db_rows_text(rows, r, 1)[0] == 'r' ? CH_TARGET_REEL : CH_TARGET_POST;
    return 1;
}

static int ch__tagged_valid(const uint64_t *vals)
{
    return vals[0] != 0 && vals[0] <= INT64_MAX && (vals[1] == CH_TARGET_POST || vals[1] == CH_TARGET_REEL);
}

static const ch_id_page_spec_t ch__tagged_spec = {
    .tag = 'T',
    .cols = 2,
    .cap = CH__TAGGED_CACHED,
    .sql = "SELECT target_id, target_type FROM (" CH__TAGGED_HEAD("post") " UNION ALL " CH__TAGGED_HEAD(
        "reel") ") AS t ORDER BY target_id DESC LIMIT $2",
    .row = ch__tagged_row,
    .valid = ch__tagged_valid};

typedef struct {
    const char *tag;
    const ch_id_page_t *cached; /* the tag's cached newest items, or NULL */
} ch__tagged_ctx_t;

static ch_err_t ch__ids(ch_svc_t *svc, void *ctx, uint64_t cursor, size_t want, ch_item_key_t *keys, size_t *n)
{
    const ch__tagged_ctx_t *c = ctx;
    const char *tag = c->tag;
    size_t from, count;
    if (c->cached && ch_id_page_after(&ch__tagged_spec, c->cached, 0, 1, cursor, want, &from, &count)) {
        for (size_t i = 0; i < count; i++) {
            const uint64_t *row = c->cached->v + (from + i) * ch__tagged_spec.cols;
            keys[i] = (ch_item_key_t){(uint8_t)row[1], row[0]};
        }
        *n = count;
        return CH_OK;
    }
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(tag), CH_DB_P_INT(cursor && cursor <= INT64_MAX ? cursor : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(want)};
    ch_err_t err = ch_sql_run(svc, ch__sql_ids, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t nr = ch_db_rows_count(rows);
    ch_item_key_t *all = ch_malloc((nr ? nr : 1) * sizeof(*all));
    for (size_t r = 0; r < nr; r++) {
        int reel = ch_db_rows_text(rows, r, 1)[0] == 'r';
        all[r] = (ch_item_key_t){(uint8_t)(reel ? CH_TARGET_REEL : CH_TARGET_POST), (uint64_t)ch_db_rows_int(rows, r, 0)};
    }
    qsort(all, nr, sizeof(*all), ch__key_cmp);
    *n = nr < want ? nr : want;
    memcpy(keys, all, *n * sizeof(*keys));
    free(all);
    ch_db_rows_free(rows);
    return CH_OK;
}

ch_err_t ch_content_tagged(ch_svc_t *svc, uint64_t viewer, const char *tag, int limit, uint64_t before, char **out,
                           ch_fault_t *f)
{
    ch_id_page_t cached = {.v = ch_malloc(sizeof(uint64_t) * CH__TAGGED_CACHED * 2)};
    ch_hkey_t key;
    ch_db_param_t p[] = {CH_DB_P_TEXT(tag)};
    ch_err_t err = CH_OK;
    int r = ch_id_page_read(svc, &ch__tagged_spec, ch_hkey_tag(key, tag), p, CH_NPARAMS(p), &cached, &err);
    ch__tagged_ctx_t ctx = {tag, r > 0 ? &cached : NULL};
    ch_page_t *pg = ch_calloc(1, sizeof(*pg));
    int64_t scan_max = svc->cfg->hashtag_scan_max;
    if (r >= 0)
        err = ch_page_fill(svc, viewer, 0, limit, scan_max > 0 ? (size_t)scan_max : 1, before, ch__ids, &ctx, pg, f);
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
