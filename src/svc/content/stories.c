/* Stories: a user's active stories and the viewers list (the tray: tray.c). A story lives
 * until its expires_at (posting time + CHORUS_STORY_TTL); every query here asks for
 * expires_at > now, so an expired story is gone from every read path at once, with no
 * sweeper to wait for. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "svc/common/page.h"
#include "svc/content/store.h"
#include "svc/content/story_index.h"
#include "svc/graph/visibility.h"

/* ---- a user's stories -------------------------------------------------------------------- */

ch_err_t ch_stories_of_user(ch_svc_t *svc, uint64_t viewer, uint64_t author, int limit, uint64_t after, char **out,
                            ch_fault_t *f)
{
    ch_err_t err = ch_page_check_author(svc, viewer, author, NULL, f);
    if (err)
        return err;
    /* From the author's active-story index: the page's ids without a statement when warm. */
    ch_author_index_t idx;
    if ((err = ch__story_index(svc, &author, 1, ch_now_ms(), &idx)) != CH_OK) {
        ch_author_index_clear(&idx);
        return err;
    }
    ch_item_key_t keys[CH_STORY_INDEX_PER_AUTHOR];
    size_t n = 0, more = 0;
    for (size_t k = 0; k < idx.span[0].n; k++) {
        uint64_t id = idx.ents[idx.span[0].first + k].id;
        if (id <= after)
            continue;
        if (n == (size_t)limit) {
            more = 1;
            break;
        }
        keys[n++] = (ch_item_key_t){CH_TARGET_STORY, id};
    }
    ch_author_index_clear(&idx);
    return ch_page_items(svc, viewer, keys, n, 0, more && n ? keys[n - 1].id : 0, out, f);
}

/* Parses a viewers cursor "<viewed_at>_<viewer_id>" (decimal digits only); 0 when it is
 * not one this API returned. */
static int ch__viewers_cursor_parse(const char *s, int64_t *at, uint64_t *who)
{
    const char *sep = strchr(s, '_');
    if (!sep || sep == s || sep - s > 18)
        return 0;
    char head[20];
    memcpy(head, s, (size_t)(sep - s));
    head[sep - s] = '\0';
    int64_t a = 0;
    for (const char *c = head; *c; c++) {
        if (*c < '0' || *c > '9')
            return 0;
        a = a * 10 + (*c - '0');
    }
    uint64_t w = ch_id_parse(sep + 1);
    if (!w || w > INT64_MAX)
        return 0;
    *at = a;
    *who = w;
    return 1;
}

ch_err_t ch_stories_viewers(ch_svc_t *svc, uint64_t viewer, uint64_t story_id, int limit, const char *cursor,
                            char **out, ch_fault_t *f)
{
    int64_t at = INT64_MAX;
    uint64_t who = 0;
    if (cursor && !ch__viewers_cursor_parse(cursor, &at, &who))
        return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned");
    /* The story as the viewer sees it, through the layer: 404 unless shown, 403 unless theirs. */
    ch_item_key_t key = {CH_TARGET_STORY, story_id};
    ch_hydrated_t h;
    if (story_id == 0 || story_id > INT64_MAX)
        return ch__content_not_found(CH_ITEM_STORY, f);
    ch_err_t err = ch_hydrate_items(svc, viewer, &key, 1, CH_HYDRATE_FACTS_ONLY, &h, f);
    if (err)
        return err;
    if (h.facts.author_id == 0)
        return ch__content_not_found(CH_ITEM_STORY, f);
    if (h.facts.author_id != viewer)
        return ch_fault(f, CH_EFORBIDDEN, NULL, "only the story's author may see its viewers");
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(story_id), CH_DB_P_INT(at), CH_DB_P_INT(who), CH_DB_P_INT(limit + 1),
                         CH_DB_P_INT(viewer)};
    /* Users on either side of a block since they watched are not shown (here, so that the
     * page is full, and by the layer). */
    err = ch_sql_run(svc,
                     "SELECT sv.viewer_id, sv.viewed_at FROM story_views sv"
                     " WHERE sv.story_id = $1 AND (sv.viewed_at < $2 OR (sv.viewed_at = $2 AND sv.viewer_id < $3))"
                     " AND" CH_GRAPH_SQL_NO_BLOCK("$5", "sv.viewer_id")
                     " ORDER BY sv.viewed_at DESC, sv.viewer_id DESC LIMIT $4",
                     p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows), shown = n > (size_t)limit ? (size_t)limit : n;
    uint64_t ids[CH_PAGE_LIMIT_MAX];
    ch_hydrated_user_t u[CH_PAGE_LIMIT_MAX];
    for (size_t r = 0; r < shown; r++)
        ids[r] = (uint64_t)ch_db_rows_int(rows, r, 0);
    if ((err = ch_hydrate_users(svc, viewer, ids, shown, u, f)) != CH_OK) {
        ch_db_rows_free(rows);
        return err;
    }
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "{\"items\":[", 10);
    int first = 1;
    for (size_t r = 0; r < shown; r++) {
        if (!u[r].json)
            continue;
        ch_buf_append(&b, first ? "{\"user\":" : ",{\"user\":", first ? 8 : 9);
        first = 0;
        ch_buf_append(&b, u[r].json, u[r].len);
        ch_buf_append(&b, ",\"viewed_at\":", 13);
        ch_page_time(&b, ch_db_rows_int(rows, r, 1));
        ch_buf_append(&b, "}", 1);
    }
    ch_buf_append(&b, "],\"next_cursor\":", 16);
    if (n > shown)
        ch_buf_printf(&b, "\"%" PRId64 "_%" PRId64 "\"}", ch_db_rows_int(rows, shown - 1, 1),
                      ch_db_rows_int(rows, shown - 1, 0));
    else
        ch_buf_append(&b, "null}", 5);
    ch_hydrated_users_free(u, shown);
    ch_db_rows_free(rows);
    *out = b.data;
    return CH_OK;
}
