/* Stories: the tray, a user's active stories, views and the viewers list. A story lives
 * until its expires_at (posting time + CHORUS_STORY_TTL); every query here asks for
 * expires_at > now, so an expired story is gone from every read path at once, with no
 * sweeper to wait for. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/common/outbox.h"
#include "svc/content/store.h"
#include "svc/graph/visibility.h"

/* Active stories of one author ($3), oldest first, from id $4 up; the literal type and
 * deleted_at terms let both engines use the items_live_stories partial index. */
static const char ch__sql_author_stories[] =
    "SELECT " CH_ITEM_COLUMNS CH_ITEM_FROM
    " WHERE i.author_id = $3 AND i.type = 'story' AND i.deleted_at IS NULL AND i.expires_at > $2"
    " AND i.id > $4 ORDER BY i.id LIMIT $5";

/* Reads up to limit + 1 active stories of author with id above `after`. */
static ch_err_t ch__author_stories(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t author,
                                   uint64_t after, int limit, ch_db_rows_t **rows)
{
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(ch_now_ms()), CH_DB_P_INT(author), CH_DB_P_INT(after),
                         CH_DB_P_INT(limit + 1)};
    return ch_sql_on(svc, conn, ch__sql_author_stories, p, CH_NPARAMS(p), rows, NULL);
}

/* ---- tray -------------------------------------------------------------------------------- */

/* Followees with active stories, not muted by the viewer: those with an unseen story
 * first, then by their latest story, newest first. A block removes follows both ways,
 * so a blocked author is never a followee; each entry is still checked below. */
static const char ch__sql_tray_authors[] =
    "SELECT i.author_id FROM follows f"
    " JOIN items i ON i.author_id = f.followee_id AND i.type = 'story' AND i.deleted_at IS NULL"
    " AND i.expires_at > $2"
    " LEFT JOIN story_views sv ON sv.story_id = i.id AND sv.viewer_id = $1"
    " WHERE f.follower_id = $1"
    " AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.muter_id = $1 AND m.muted_id = f.followee_id)"
    " GROUP BY i.author_id"
    " ORDER BY CASE WHEN SUM(CASE WHEN sv.viewer_id IS NULL THEN 1 ELSE 0 END) > 0 THEN 0 ELSE 1 END,"
    " MAX(i.id) DESC"
    " LIMIT $3";

/* Builds the tray entry of one author, or sets *entry NULL when the viewer may not see
 * the author's stories (any more). */
static ch_err_t ch__tray_entry(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t author, json_t **entry)
{
    ch_graph_rel_t rel;
    ch_db_rows_t *rows = NULL;
    *entry = NULL;
    ch_err_t err = ch_graph_relation(svc, conn, viewer, author, &rel);
    if (err || !ch_graph_may_see_content(&rel, 0) || rel.muting)
        return err;
    if ((err = ch__author_stories(svc, conn, viewer, author, 0, CH_STORY_TRAY_STORIES_MAX - 1, &rows)) != CH_OK)
        return err;
    size_t n = ch_db_rows_count(rows);
    if (n > 0) {
        json_t *stories = json_array();
        int unseen = 0;
        for (size_t r = 0; r < n; r++) {
            unseen |= ch_db_rows_int(rows, r, CH_ITEM_COL_SEEN) == 0;
            json_array_append_new(stories, ch_item_render(rows, r));
        }
        *entry = json_pack("{s:o, s:o, s:b}", "user", ch_user_summary_render(rows, 0, CH_ITEM_COL_AUTHOR,
                                                                             CH_ITEM_COL_HANDLE),
                           "stories", stories, "has_unseen", unseen);
    }
    ch_db_rows_free(rows);
    return CH_OK;
}

ch_err_t ch_stories_tray(ch_svc_t *svc, uint64_t viewer, json_t **out, ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *authors = NULL;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    if (err)
        return err;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(ch_now_ms()), CH_DB_P_INT(CH_STORY_TRAY_MAX)};
    err = ch_sql_on(svc, conn, ch__sql_tray_authors, p, CH_NPARAMS(p), &authors, NULL);
    json_t *items = json_array();
    size_t n = ch_db_rows_count(authors);
    for (size_t r = 0; r < n && err == CH_OK; r++) {
        json_t *entry;
        err = ch__tray_entry(svc, conn, viewer, (uint64_t)ch_db_rows_int(authors, r, 0), &entry);
        if (entry)
            json_array_append_new(items, entry);
    }
    ch_db_rows_free(authors);
    ch_db_release(svc->db, conn);
    if (err) {
        json_decref(items);
        return err;
    }
    (void)f;
    *out = json_pack("{s:o}", "items", items);
    return CH_OK;
}

/* ---- a user's stories -------------------------------------------------------------------- */

ch_err_t ch_stories_of_user(ch_svc_t *svc, uint64_t viewer, uint64_t author, int limit, uint64_t after,
                            json_t **out, ch_fault_t *f)
{
    ch_graph_rel_t rel;
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_graph_check_author(svc, viewer, author, &rel, f);
    if (err)
        return err;
    ch_db_conn_t *conn;
    if ((err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn))) != CH_OK)
        return err;
    err = ch__author_stories(svc, conn, viewer, author, after > INT64_MAX ? (uint64_t)INT64_MAX : after, limit,
                             &rows);
    ch_db_release(svc->db, conn);
    if (err)
        return err;
    *out = ch_item_page(rows, limit);
    return CH_OK;
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
                            json_t **out, ch_fault_t *f)
{
    ch_item_ref_t ref;
    int64_t at = INT64_MAX;
    uint64_t who = 0;
    if (cursor && !ch__viewers_cursor_parse(cursor, &at, &who))
        return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned");
    ch_err_t err = ch__content_load(svc, NULL, viewer, CH_ITEM_STORY, story_id, NULL, &ref, f);
    if (err)
        return err;
    if (ref.author_id != viewer)
        return ch_fault(f, CH_EFORBIDDEN, NULL, "only the story's author may see its viewers");
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(story_id), CH_DB_P_INT(at), CH_DB_P_INT(who), CH_DB_P_INT(limit + 1),
                         CH_DB_P_INT(viewer)};
    /* Users on either side of a block since they watched are not shown. */
    err = ch_sql_run(svc,
                     "SELECT sv.viewer_id, sv.viewed_at, u.handle, u.display_name, u.avatar_url"
                     " FROM story_views sv JOIN users u ON u.id = sv.viewer_id"
                     " WHERE sv.story_id = $1 AND (sv.viewed_at < $2 OR (sv.viewed_at = $2 AND sv.viewer_id < $3))"
                     " AND" CH_GRAPH_SQL_NO_BLOCK("$5", "sv.viewer_id")
                     " ORDER BY sv.viewed_at DESC, sv.viewer_id DESC LIMIT $4",
                     p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    json_t *items = json_array();
    size_t n = ch_db_rows_count(rows);
    for (size_t r = 0; r < n && r < (size_t)limit; r++) {
        char when[CH_RFC3339_LEN];
        ch_format_rfc3339(ch_db_rows_int(rows, r, 1), when);
        json_array_append_new(items, json_pack("{s:o, s:s}", "user", ch_user_summary_render(rows, r, 0, 2),
                                               "viewed_at", when));
    }
    json_t *next = json_null();
    if (n > (size_t)limit) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%" PRId64 "_%" PRId64, ch_db_rows_int(rows, (size_t)limit - 1, 1),
                 ch_db_rows_int(rows, (size_t)limit - 1, 0));
        next = json_string(buf);
    }
    ch_db_rows_free(rows);
    *out = json_pack("{s:o, s:o}", "items", items, "next_cursor", next);
    return CH_OK;
}
