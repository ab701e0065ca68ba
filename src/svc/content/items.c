/* Items: create, read, edit, delete — one transaction each, with the outbox event. */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/common/hydrate.h"
#include "svc/common/outbox.h"
#include "svc/content/store.h"
#include "svc/content/story_active.h"
#include "svc/content/validate.h"
#include "svc/engage/refs.h"
#include "svc/graph/visibility.h"
#include "svc/users/profile_fact.h"

/* The type is compared as CAST($n AS TEXT), not $n: a bare parameter compared with the
 * column of a partial index (items_live_stories: WHERE type = 'story') makes SQLite
 * re-plan the statement each time the parameter is bound again, i.e. at every run (5x the
 * cost of this query, measured). */
static const char ch__sql_item_by_id[] =
    "SELECT " CH_ITEM_COLUMNS CH_ITEM_FROM " WHERE i.id = $3 AND i.type = CAST($4 AS TEXT) AND" CH_ITEM_LIVE;
/* Only what a visibility check needs (ch_content_find: every engagement write asks it),
 * without the joins of the rendered row. Its parameters are those of ch__sql_item_by_id
 * without the viewer: $1 the time, $2 the id, $3 the type. */
static const char ch__sql_item_ref[] =
    "SELECT i.author_id, i.visibility FROM items i WHERE i.id = $2 AND i.type = CAST($3 AS TEXT)"
    " AND i.deleted_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > $1)";

ch_err_t ch__content_not_found(ch_item_type_t type, ch_fault_t *f)
{
    return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_item_type_name(type));
}

ch_err_t ch__content_load(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_item_type_t type, uint64_t id,
                          ch_db_rows_t **rows_out, ch_item_ref_t *ref, ch_fault_t *f)
{
    ch_db_conn_t *own = NULL;
    ch_db_rows_t *rows = NULL;
    ch_err_t err = CH_OK;
    if (rows_out)
        *rows_out = NULL;
    if (id == 0 || id > INT64_MAX)
        return ch__content_not_found(type, f);
    if (!conn && (err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &own))) != CH_OK)
        return err;
    if (own)
        conn = own;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(ch_now_ms()), CH_DB_P_INT(id),
                         CH_DB_P_TEXT(ch_item_type_name(type))};
    err = rows_out ? ch_sql_on(svc, conn, ch__sql_item_by_id, p, CH_NPARAMS(p), &rows, NULL)
                   : ch_sql_on(svc, conn, ch__sql_item_ref, p + 1, CH_NPARAMS(p) - 1, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch__content_not_found(type, f);
    if (err == CH_OK) {
        ref->id = id;
        ref->type = type;
        ref->author_id = (uint64_t)ch_db_rows_int(rows, 0, rows_out ? CH_ITEM_COL_AUTHOR : 0);
        ref->followers_only =
            strcmp(ch_db_rows_text(rows, 0, rows_out ? CH_ITEM_COL_VISIBILITY : 1), "followers") == 0;
        ch_graph_rel_t rel;
        err = ch_graph_relation(svc, conn, viewer, ref->author_id, &rel);
        if (err == CH_OK && !ch_graph_may_see_content(&rel, ref->followers_only))
            err = ch__content_not_found(type, f);
    }
    if (own)
        ch_db_release(svc->db, own);
    if (err == CH_OK && rows_out)
        *rows_out = rows;
    else
        ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_content_find(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_item_type_t type, uint64_t id,
                         ch_item_ref_t *out, ch_fault_t *f)
{
    return ch__content_load(svc, conn, viewer, type, id, NULL, out, f);
}

ch_err_t ch_content_get(ch_svc_t *svc, uint64_t viewer, ch_item_type_t type, uint64_t id, json_t **out,
                        ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    ch_item_ref_t ref;
    ch_err_t err = ch__content_load(svc, NULL, viewer, type, id, &rows, &ref, f);
    if (err == CH_OK)
        *out = ch_item_render(rows, 0);
    ch_db_rows_free(rows);
    return err;
}

/* ---- writes ------------------------------------------------------------------------------ */

/* Appends the event "<type>.<what>" {"<type>_id": id} on conn. */
static ch_err_t ch__event(ch_svc_t *svc, ch_db_conn_t *conn, ch_item_type_t type, const char *what, uint64_t id)
{
    static const char *const id_fields[] = {[CH_ITEM_POST] = "post_id", [CH_ITEM_REEL] = "reel_id",
                                            [CH_ITEM_STORY] = "story_id"};
    char topic[32];
    snprintf(topic, sizeof(topic), "%s.%s", ch_item_type_name(type), what);
    return ch_outbox_add(svc, conn, topic, id_fields[type], id);
}

/* Adds delta to the author's posts_count on conn. */
static ch_err_t ch__posts_count(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t author, int delta)
{
    ch_db_param_t p[] = {CH_DB_P_INT(author), CH_DB_P_INT(delta)};
    return ch_sql_on(svc, conn, "UPDATE users SET posts_count = posts_count + $2 WHERE id = $1", p, CH_NPARAMS(p),
                     NULL, NULL);
}

/* After a commit that changed posts_count: the cached public profile is stale. Inside an
 * ambient transaction (Idempotency-Key) the real commit comes later: forgetting before it
 * would let a reader cache the old count again (ch_users_profile_forget waits for it). */
static void ch__forget_profile(ch_svc_t *svc, ch_item_type_t type, uint64_t author)
{
    if (type == CH_ITEM_POST)
        ch_users_profile_forget(svc, author);
}

/* After the commit of an edit or delete: the hydration cache's record of the item is stale
 * (inside an ambient transaction the hook waits for the real commit itself). */
static void ch__forget_item(ch_svc_t *svc, ch_item_type_t type, uint64_t id)
{
    ch_hydrate_forget_item(svc, (ch_target_type_t)ch_target_from_name(ch_item_type_name(type)), id);
}

/* Reads the item back on conn (inside the writer's transaction) and renders it. */
static ch_err_t ch__render_on(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_item_type_t type, uint64_t id,
                              json_t **out, ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(ch_now_ms()), CH_DB_P_INT(id),
                         CH_DB_P_TEXT(ch_item_type_name(type))};
    ch_err_t err = ch_sql_on(svc, conn, ch__sql_item_by_id, p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch__content_not_found(type, f);
    if (err == CH_OK)
        *out = ch_item_render(rows, 0);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_content_create(ch_svc_t *svc, uint64_t author, ch_item_type_t type, json_t *body, json_t **out,
                           ch_fault_t *f)
{
    ch_content_input_t in;
    ch_err_t err = ch_content_parse_create(type, body, &in, f);
    if (err)
        return err;
    uint64_t id = ch_id_next();
    int64_t now = ch_now_ms();
    ch_db_param_t p[] = {CH_DB_P_INT(id),
                         CH_DB_P_TEXT(ch_item_type_name(type)),
                         CH_DB_P_INT(author),
                         CH_DB_P_TEXT(in.text),
                         CH_DB_P_TEXT(in.media),
                         CH_DB_P_TEXT(in.visibility),
                         CH_DB_P_TEXT(in.video_url),
                         CH_DB_P_TEXT(in.cover_url),
                         CH_DB_P_TEXT(in.media_url),
                         CH_DB_P_TEXT(in.kind),
                         in.duration_ms ? CH_DB_P_INT(in.duration_ms) : CH_DB_P_NULL,
                         CH_DB_P_INT(now),
                         type == CH_ITEM_STORY ? CH_DB_P_INT(now + svc->cfg->story_ttl_s * 1000) : CH_DB_P_NULL};
    ch_db_conn_t *conn;
    json_t *item = NULL;
    if ((err = ch_sql_begin(svc, 1, &conn)) != CH_OK) {
        ch_content_input_clear(&in);
        return err;
    }
    ch_hydrate_forget_hold(); /* the hashtag pages its tags change, sent after the commit */
    err = ch_sql_on(svc, conn,
                    "INSERT INTO items(id, type, author_id, text, media, visibility, video_url, cover_url, "
                    "media_url, kind, duration_ms, created_at, expires_at) "
                    "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    p, CH_NPARAMS(p), NULL, NULL);
    if (err == CH_OK && type == CH_ITEM_POST)
        err = ch__posts_count(svc, conn, author, 1);
    if (err == CH_OK)
        err = ch__event(svc, conn, type, "created", id);
    if (err == CH_OK) /* mentions and hashtags of the text (422 naming it: nothing stored) */
        err = ch__content_refs(svc, conn, type, id, author, strcmp(in.visibility, "followers") == 0, 1, in.text,
                               type == CH_ITEM_REEL ? "caption" : "text", f);
    if (err == CH_OK)
        err = ch__render_on(svc, conn, author, type, id, &item, f);
    ch_content_input_clear(&in);
    err = ch_sql_end(svc, conn, err);
    ch_hydrate_forget_flush(svc);
    if (err != CH_OK) {
        json_decref(item);
        return err;
    }
    ch__forget_profile(svc, type, author);
    if (type == CH_ITEM_STORY) { /* the author's active-story index, and the tray's set */
        ch_hydrate_forget_stories(svc, author);
        ch_story_active_note(svc, author, id, now + svc->cfg->story_ttl_s * 1000);
    } else if (type == CH_ITEM_POST || type == CH_ITEM_REEL) /* the author's recent items (pulled feeds) */
        ch_hydrate_forget_author_items(svc, author);
    *out = item;
    return CH_OK;
}

/* Loads the item for a change by viewer inside conn's transaction: CH_ENOTFOUND when the
 * viewer may not see it, CH_EFORBIDDEN when it is not theirs. */
static ch_err_t ch__load_own(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_item_type_t type, uint64_t id,
                             ch_db_rows_t **rows, ch_fault_t *f)
{
    ch_item_ref_t ref;
    ch_err_t err = ch__content_load(svc, conn, viewer, type, id, rows, &ref, f);
    if (err == CH_OK && ref.author_id != viewer) {
        ch_db_rows_free(*rows);
        *rows = NULL;
        err = ch_fault(f, CH_EFORBIDDEN, NULL, "only its author may change this %s", ch_item_type_name(type));
    }
    return err;
}

/* Whether a post row has at least one media item. */
static int ch__has_media(const ch_db_rows_t *rows)
{
    json_t *media = json_loads(ch_db_rows_text(rows, 0, CH_ITEM_COL_MEDIA), 0, NULL);
    int has = json_is_array(media) && json_array_size(media) > 0;
    json_decref(media);
    return has;
}

ch_err_t ch_content_edit(ch_svc_t *svc, uint64_t viewer, ch_item_type_t type, uint64_t id, json_t *body,
                         json_t **out, ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    json_t *item = NULL;
    const char *text = NULL;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    ch_hydrate_forget_hold(); /* the hashtag pages its tags change, sent after the commit */
    err = ch__load_own(svc, conn, viewer, type, id, &rows, f);
    if (err == CH_OK)
        err = ch_content_parse_edit(type, body, type == CH_ITEM_POST && ch__has_media(rows), &text, f);
    if (err == CH_OK) {
        /* A delete that committed while we waited for the row: nothing to edit (nor to index). */
        int64_t changed = 0;
        ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(text), CH_DB_P_INT(ch_now_ms())};
        err = ch_sql_on(svc, conn, "UPDATE items SET text = $2, edited_at = $3 WHERE id = $1 AND deleted_at IS NULL",
                        p, CH_NPARAMS(p), NULL, &changed);
        if (err == CH_OK && changed == 0)
            err = ch__content_not_found(type, f);
    }
    if (err == CH_OK)
        err = ch__event(svc, conn, type, "updated", id);
    if (err == CH_OK) /* re-parsed: old mentions and hashtags replaced, new mentions notified */
        err = ch__content_refs(svc, conn, type, id, viewer,
                               strcmp(ch_db_rows_text(rows, 0, CH_ITEM_COL_VISIBILITY), "followers") == 0, 0, text,
                               type == CH_ITEM_REEL ? "caption" : "text", f);
    if (err == CH_OK)
        err = ch__render_on(svc, conn, viewer, type, id, &item, f);
    ch_db_rows_free(rows);
    err = ch_sql_end(svc, conn, err);
    ch_hydrate_forget_flush(svc);
    if (err != CH_OK) {
        json_decref(item);
        return err;
    }
    ch__forget_item(svc, type, id);
    *out = item;
    return CH_OK;
}

ch_err_t ch_content_delete(ch_svc_t *svc, uint64_t viewer, ch_item_type_t type, uint64_t id, ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    int64_t changed = 0;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    ch_hydrate_forget_hold(); /* the hashtag pages it leaves, sent after the commit */
    err = ch__load_own(svc, conn, viewer, type, id, &rows, f);
    ch_db_rows_free(rows);
    if (err == CH_OK) {
        /* Of two concurrent deletes only one changes the row, so posts_count stays exact. */
        ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_INT(ch_now_ms())};
        err = ch_sql_on(svc, conn, "UPDATE items SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL", p,
                        CH_NPARAMS(p), NULL, &changed);
        if (err == CH_OK && changed == 0)
            err = ch__content_not_found(type, f);
    }
    if (err == CH_OK && type == CH_ITEM_POST)
        err = ch__posts_count(svc, conn, viewer, -1);
    if (err == CH_OK) /* its hashtags leave pages and trending */
        err = ch_refs_clear(svc, conn, (ch_target_type_t)ch_target_from_name(ch_item_type_name(type)), id);
    if (err == CH_OK)
        err = ch__event(svc, conn, type, "deleted", id);
    err = ch_sql_end(svc, conn, err);
    ch_hydrate_forget_flush(svc);
    if (err != CH_OK)
        return err;
    ch__forget_item(svc, type, id);
    ch__forget_profile(svc, type, viewer);
    if (type == CH_ITEM_STORY)
        ch_hydrate_forget_stories(svc, viewer);
    else if (type == CH_ITEM_POST || type == CH_ITEM_REEL)
        ch_hydrate_forget_author_items(svc, viewer);
    return CH_OK;
}
