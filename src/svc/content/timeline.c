/* Author timelines: a user's posts or reels, newest first, keyset-paginated on the id
 * (time-sortable), so a page never repeats or skips an item while new ones arrive. The
 * author is checked up front (404 for a blocked or private author), then one indexed
 * statement reads the page's ids and the hydration layer renders them. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "svc/common/page.h"
#include "svc/content/store.h"
#include "svc/content/recent.h"

/* The ids of a page: $1 author, $2 type, $3 now, $4 below this id, $5 the widest visibility
 * shown, $6 limit + 1. Index (author_id, type, id). */
static const char ch__sql_ids[] =
    "SELECT i.id FROM items i WHERE i.author_id = $1 AND i.type = CAST($2 AS TEXT) AND i.deleted_at IS NULL"
    " AND (i.expires_at IS NULL OR i.expires_at > $3) AND i.id < $4 AND i.visibility IN ('public', $5)"
    " ORDER BY i.id DESC LIMIT $6";

/* A first page from the author's recent items (svc/content/recent.h: the fact "a:<author>",
 * the newest CH_RECENT_ITEMS_PER_AUTHOR live posts and reels, forgotten after every post or
 * reel the author creates or deletes), so that a warm first page needs no statement and, in
 * cluster mode, is served on the event loop from the L1. The entries of the type are
 * hydrated in order (the layer hides what the viewer may not see: a followers-only item
 * when the viewer does not follow, as the statement's visibility term does) until limit + 1
 * are shown. 1 when *out (or *err) is the answer; 0 when the list cannot tell (the cache
 * is down, or the list is full and runs out first): the caller runs the statement. */
static int ch__timeline_recent(ch_svc_t *svc, uint64_t viewer, uint64_t author, ch_item_type_t type, int limit,
                               char **out, ch_err_t *err, ch_fault_t *f)
{
    ch_author_index_t r = {0};
    if ((*err = ch_recent_items_read(svc, &author, 1, &r)) != CH_OK || r.cold) {
        ch_author_index_clear(&r);
        return *err != CH_OK;
    }
    int full = r.span[0].full;
    ch_item_key_t keys[CH_RECENT_ITEMS_PER_AUTHOR];
    size_t nkeys = 0;
    uint8_t want = (uint8_t)ch__content_target(type);
    for (size_t i = 0; i < r.span[0].n && nkeys < CH_RECENT_ITEMS_PER_AUTHOR; i++) {
        const ch_author_ent_t *e = &r.ents[r.span[0].first + i];
        if (e->aux == want)
            keys[nkeys++] = (ch_item_key_t){want, e->id};
    }
    ch_author_index_clear(&r);
    ch_page_t *pg = ch_calloc(1, sizeof(*pg));
    ch_hydrated_t h[CH_RECENT_ITEMS_PER_AUTHOR];
    size_t at = 0, shown = 0; /* shown counts the (limit + 1)-th too: it only says there is more */
    int more = 0;
    while (at < nkeys && !more) {
        size_t need = (size_t)limit + 1 - shown, chunk = nkeys - at < need ? nkeys - at : need;
        if ((*err = ch_hydrate_items(svc, viewer, keys + at, chunk, 0, h, f)) != CH_OK)
            break;
        for (size_t k = 0; k < chunk; k++) {
            if (!h[k].json)
                continue;
            if (shown++ < (size_t)limit) {
                pg->ids[pg->n] = keys[at + k].id;
                pg->h[pg->n++] = h[k];
                memset(&h[k], 0, sizeof(h[k]));
            } else {
                more = 1;
            }
        }
        ch_hydrated_free(h, chunk);
        at += chunk;
    }
    int answered = *err != CH_OK || more || !full;
    if (*err == CH_OK && answered) {
        pg->next = more && pg->n ? pg->ids[pg->n - 1] : 0;
        ch_buf_t b = CH_BUF_INIT;
        ch_page_append(&b, pg);
        *out = b.data;
    }
    ch_hydrated_free(pg->h, pg->n);
    free(pg);
    return answered;
}

ch_err_t ch_content_timeline(ch_svc_t *svc, uint64_t viewer, uint64_t author, ch_item_type_t type, int limit,
                             uint64_t before, char **out, ch_fault_t *f)
{
    int followers = 0;
    ch_err_t err = ch_page_check_author(svc, viewer, author, &followers, f);
    if (err)
        return err;
    if (!before && limit < CH_RECENT_ITEMS_PER_AUTHOR && (type == CH_ITEM_POST || type == CH_ITEM_REEL) &&
        ch__timeline_recent(svc, viewer, author, type, limit, out, &err, f))
        return err;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(author),
                         CH_DB_P_TEXT(ch_item_type_name(type)),
                         CH_DB_P_INT(ch_now_ms()),
                         CH_DB_P_INT(before && before <= INT64_MAX ? before : (uint64_t)INT64_MAX),
                         CH_DB_P_TEXT(followers ? "followers" : "public"),
                         CH_DB_P_INT(limit + 1)};
    if ((err = ch_sql_run(svc, ch__sql_ids, p, CH_NPARAMS(p), &rows, NULL)) != CH_OK)
        return err;
    return ch__content_page(svc, viewer, type, rows, limit, f, out);
}
