/* Creating and deleting comments: one write transaction each, with the counters, the
 * mentions and hashtags of the text, the engagement event and the outbox event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "svc/common/fields.h"
#include "svc/common/hydrate.h"
#include "svc/common/outbox.h"
#include "svc/common/ratelimit.h"
#include "svc/engage/comments_row.h"
#include "svc/engage/counters.h"
#include "svc/engage/events.h"
#include "svc/engage/refs.h"

/* ---- input ------------------------------------------------------------------------------- */

/* Whether s holds something other than white space (ASCII, NBSP, U+2000-U+200B, U+3000). */
static int ch__has_visible(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        if (*u == ' ' || *u == '\t' || *u == '\n' || *u == '\r') {
            u++;
        } else if (u[0] == 0xC2 && u[1] == 0xA0) {
            u += 2;
        } else if (u[0] == 0xE2 && u[1] == 0x80 && u[2] >= 0x80 && u[2] <= 0x8B) {
            u += 3;
        } else if (u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x80) {
            u += 3;
        } else {
            return 1;
        }
    }
    return 0;
}

/* Reads {text, parent_id?}: *parent is 0 when absent or null. */
static ch_err_t ch__parse_body(json_t *body, const char **text, uint64_t *parent, ch_fault_t *f)
{
    ch_err_t err = ch_field_text(body, "text", CH_FIELD_REQUIRED | CH_FIELD_MULTILINE | CH_FIELD_NONEMPTY,
                                 CH_COMMENT_TEXT_MAX, text, f);
    if (err)
        return err;
    if (!ch__has_visible(*text))
        return ch_fault(f, CH_EINVAL, "text", "text must not be blank");
    json_t *p = json_object_get(body, "parent_id");
    *parent = 0;
    if (!p || json_is_null(p))
        return CH_OK;
    uint64_t id = json_is_string(p) ? ch_id_parse(json_string_value(p)) : 0;
    if (id == 0 || id > INT64_MAX)
        return ch_fault(f, CH_EINVAL, "parent_id", "parent_id must be the id of a comment (a string of digits)");
    *parent = id;
    return CH_OK;
}

/* After the commit of a comment written or deleted: the hydration cache's records of the
 * comment (deleted; 0: a new one, which no reader knew), of the comment it replies to
 * (replies_count, a placeholder that may go) and of the item (counts.comments), and the
 * item's cached first comments with their first replies and the parent's first replies
 * (comments_page.c: a new or deleted reply changes both, a top-level one the first), in one
 * round trip. */
static void ch__forget_records(ch_svc_t *svc, uint64_t comment, uint64_t parent, const ch_target_t *item)
{
    ch_hydrate_forget_hold();
    if (comment)
        ch_hydrate_forget_item(svc, CH_TARGET_COMMENT, comment);
    if (parent)
        ch_hydrate_forget_item(svc, CH_TARGET_COMMENT, parent);
    ch_hydrate_forget_item(svc, item->type, item->id);
    ch_hydrate_forget_thread(svc, item->type, item->id, parent);
    ch_hydrate_forget_flush(svc);
}

/* ---- create ------------------------------------------------------------------------------ */

/* What a new comment hangs on, worked out inside the transaction. */
typedef struct {
    ch_target_t item;     /* the commented item */
    uint64_t parent;      /* top-level comment the reply attaches to; 0 for a top-level comment */
    uint64_t parent_author;
    uint64_t replied_to;  /* author of the reply replied to (reply to a reply), else 0 */
} ch__place_t;

static ch_err_t ch__bad_parent(ch_fault_t *f)
{
    return ch_fault(f, CH_EINVAL, "parent_id", "parent_id is not a comment on this item");
}

/* Resolves the target and the parent for viewer into place. A reply to a reply attaches to
 * its top-level comment, which may itself be deleted (the thread still shows). */
static ch_err_t ch__place(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type, uint64_t id,
                          uint64_t parent_id, ch__place_t *pl, ch_fault_t *f)
{
    ch__comment_ref_t parent;
    ch_err_t err;
    memset(pl, 0, sizeof(*pl));
    if (type == CH_TARGET_COMMENT) {
        /* POST /v1/comments/{id}/comments: a reply to that comment. */
        if ((err = ch__comment_find(svc, conn, viewer, id, &parent, f)) != CH_OK)
            return err;
        if (parent.deleted || parent.blocked)
            return ch__comment_not_found(f);
        if (parent_id && parent_id != id)
            return ch_fault(f, CH_EINVAL, "parent_id", "parent_id must be the comment in the path, or absent");
    } else {
        if ((err = ch_target_resolve(svc, conn, viewer, type, id, &pl->item, f)) != CH_OK)
            return err;
        if (!parent_id)
            return CH_OK;
        err = ch__comment_find(svc, conn, viewer, parent_id, &parent, f);
        if (err == CH_ENOTFOUND || (err == CH_OK && (parent.deleted || parent.blocked || parent.item.type != type ||
                                                     parent.item.id != id)))
            return ch__bad_parent(f);
        if (err)
            return err;
    }
    pl->item = parent.item;
    pl->parent = parent.id;
    pl->parent_author = parent.author_id;
    if (parent.parent_id) {
        ch__comment_ref_t top;
        if ((err = ch__comment_find(svc, conn, viewer, parent.parent_id, &top, f)) != CH_OK)
            return err == CH_ENOTFOUND ? ch__bad_parent(f) : err;
        if (top.blocked)
            return ch__bad_parent(f);
        pl->replied_to = parent.author_id;
        pl->parent = top.id;
        pl->parent_author = top.author_id;
    }
    return CH_OK;
}

/* Appends comment.<what> {comment_id, target_type, target_id, author_id, target_owner_id,
 * parent_id, parent_author_id[, deleted_by]} on conn. */
static ch_err_t ch__outbox(ch_svc_t *svc, ch_db_conn_t *conn, const char *what, uint64_t id, uint64_t author,
                           const ch__place_t *pl, uint64_t deleted_by)
{
    char b[7][CH_ID_STR_LEN], topic[32];
    json_t *payload = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "comment_id", ch_id_format(id, b[0]),
                                "target_type", ch_target_type_name(pl->item.type), "target_id",
                                ch_id_format(pl->item.id, b[1]), "author_id", ch_id_format(author, b[2]),
                                "target_owner_id", ch_id_format(pl->item.author_id, b[3]), "parent_id",
                                pl->parent ? json_string(ch_id_format(pl->parent, b[4])) : json_null(),
                                "parent_author_id",
                                pl->parent_author ? json_string(ch_id_format(pl->parent_author, b[5])) : json_null());
    if (deleted_by)
        json_object_set_new(payload, "deleted_by", json_string(ch_id_format(deleted_by, b[6])));
    snprintf(topic, sizeof(topic), "comment.%s", what);
    char *text = json_dumps(payload, JSON_COMPACT);
    ch_err_t err = ch_outbox_add_json(svc, conn, topic, id, text);
    free(text);
    json_decref(payload);
    return err;
}

/* Reads comment id back on conn and renders it. */
static ch_err_t ch__render_on(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t id, json_t **out)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(id)};
    ch_err_t err =
        ch_sql_on(svc, conn, "SELECT " CH_COMMENT_COLUMNS CH_COMMENT_FROM " WHERE c.id = $2", p, CH_NPARAMS(p), &rows,
                  NULL);
    if (err == CH_OK && ch_db_rows_count(rows) != 1)
        err = CH_EINTERNAL;
    if (err == CH_OK)
        *out = ch__comment_render(rows, 0);
    ch_db_rows_free(rows);
    return err;
}

/* The writes of a new comment, inside the transaction. */
static ch_err_t ch__insert(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t id, const char *text,
                           const ch_textrefs_t *refs, const ch__place_t *pl)
{
    int64_t now = ch_now_ms();
    ch_db_param_t p[] = {CH_DB_P_INT(id),
                         CH_DB_P_TEXT(ch_target_type_name(pl->item.type)),
                         CH_DB_P_INT(pl->item.id),
                         pl->parent ? CH_DB_P_INT(pl->parent) : CH_DB_P_NULL,
                         CH_DB_P_INT(viewer),
                         CH_DB_P_TEXT(text),
                         CH_DB_P_INT(now)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "INSERT INTO comments(id, target_type, target_id, parent_id, author_id, text, created_at)"
                             " VALUES($1, $2, $3, $4, $5, $6, $7)",
                             p, CH_NPARAMS(p), NULL, NULL);
    /* The author replied to is mentioned; the parent's author hears of the reply already. */
    ch_refs_target_t rt = {CH_TARGET_COMMENT,   id,
                           viewer,              pl->item.type,
                           pl->item.id,         pl->item.author_id,
                           pl->item.followers_only, pl->replied_to != viewer ? pl->replied_to : 0,
                           pl->parent_author,   1};
    char *mentions = NULL, *tags = NULL;
    int any = refs->nmentions > 0 || refs->nhashtags > 0 || rt.implicit_mention;
    if (err == CH_OK && any)
        err = ch_refs_store(svc, conn, &rt, refs, &mentions, &tags);
    if (err == CH_OK && any) {
        ch_db_param_t q[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(mentions), CH_DB_P_TEXT(tags)};
        err = ch_sql_on(svc, conn, "UPDATE comments SET mentions = $2, hashtags = $3 WHERE id = $1", q,
                        CH_NPARAMS(q), NULL, NULL);
    }
    free(mentions);
    free(tags);
    if (err == CH_OK && pl->parent) {
        ch_db_param_t q[] = {CH_DB_P_INT(pl->parent)};
        err = ch_sql_on(svc, conn, "UPDATE comments SET replies_count = replies_count + 1 WHERE id = $1", q, 1, NULL,
                        NULL);
    }
    if (err == CH_OK) {
        ch_event_t ev = {now, viewer, pl->parent ? "reply" : "comment", pl->item.type, pl->item.id,
                         pl->parent ? pl->parent_author : pl->item.author_id, 1.0};
        err = ch_events_emit(svc, conn, &ev);
    }
    if (err == CH_OK)
        err = ch__outbox(svc, conn, "created", id, viewer, pl, 0);
    if (err == CH_OK) { /* the counter row last (svc/engage/counters.h, lock order) */
        ch_counters_t delta = {.comments = 1};
        err = ch_counters_add(svc, conn, pl->item.type, pl->item.id, &delta, NULL);
    }
    return err;
}

ch_err_t ch_comments_create(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, json_t *body,
                            json_t **out, ch_fault_t *f)
{
    const char *text;
    uint64_t parent_id;
    ch_err_t err = ch__parse_body(body, &text, &parent_id, f);
    if (err)
        return err;
    ch_textrefs_t *refs = ch_malloc(sizeof(*refs));
    if ((err = ch_refs_parse(text, "text", refs, f)) != CH_OK) {
        free(refs);
        return err;
    }
    char who[CH_ID_STR_LEN];
    err = ch_ratelimit_hit(svc, "comment", ch_id_format(viewer, who), svc->cfg->rate_limit_comments, svc->cfg->rate_limit_window_ms, f);
    ch_db_conn_t *conn = NULL;
    if (err == CH_OK)
        err = ch_sql_begin(svc, 1, &conn);
    if (err) {
        free(refs);
        return err;
    }
    ch__place_t pl;
    uint64_t cid = ch_id_next();
    json_t *comment = NULL;
    err = ch__place(svc, conn, viewer, type, id, parent_id, &pl, f);
    if (err == CH_OK)
        err = ch__insert(svc, conn, viewer, cid, text, refs, &pl);
    if (err == CH_OK)
        err = ch__render_on(svc, conn, viewer, cid, &comment);
    free(refs);
    if ((err = ch_sql_end(svc, conn, err)) != CH_OK) {
        json_decref(comment);
        return err;
    }
    ch__comments_top_forget(svc, pl.item.type, pl.item.id);
    ch__forget_records(svc, 0, pl.parent, &pl.item);
    *out = comment;
    return CH_OK;
}

/* ---- delete ------------------------------------------------------------------------------ */

ch_err_t ch_comments_delete(ch_svc_t *svc, uint64_t viewer, uint64_t comment_id, ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch__comment_ref_t c;
    int64_t changed = 0;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    err = ch__comment_find(svc, conn, viewer, comment_id, &c, f);
    if (err == CH_OK && c.deleted)
        err = ch__comment_not_found(f);
    /* The item's owner moderates every comment on it, even one by a user they blocked. */
    if (err == CH_OK && viewer != c.author_id && viewer != c.item.author_id)
        err = c.blocked ? ch__comment_not_found(f)
                        : ch_fault(f, CH_EFORBIDDEN, NULL,
                                   "only its author or the owner of the %s may delete this comment",
                                   ch_target_type_name(c.item.type));
    if (err == CH_OK) {
        /* Of two concurrent deletes only one changes the row, so the counts move once. */
        ch_db_param_t p[] = {CH_DB_P_INT(comment_id), CH_DB_P_INT(ch_now_ms())};
        err = ch_sql_on(svc, conn,
                        "UPDATE comments SET deleted_at = $2, text = NULL, mentions = NULL, hashtags = NULL"
                        " WHERE id = $1 AND deleted_at IS NULL",
                        p, CH_NPARAMS(p), NULL, &changed);
        if (err == CH_OK && changed == 0)
            err = ch__comment_not_found(f);
    }
    if (err == CH_OK)
        err = ch_refs_clear(svc, conn, CH_TARGET_COMMENT, comment_id);
    ch__place_t pl = {c.item, c.parent_id, 0, 0};
    if (err == CH_OK && c.parent_id) {
        ch_db_rows_t *rows = NULL;
        ch_db_param_t p[] = {CH_DB_P_INT(c.parent_id)};
        err = ch_sql_on(svc, conn,
                        "UPDATE comments SET replies_count = replies_count - 1 WHERE id = $1 AND replies_count > 0"
                        " RETURNING author_id",
                        p, 1, &rows, NULL);
        if (err == CH_OK && ch_db_rows_count(rows) == 1)
            pl.parent_author = (uint64_t)ch_db_rows_int(rows, 0, 0);
        ch_db_rows_free(rows);
    }
    if (err == CH_OK)
        err = ch__outbox(svc, conn, "deleted", comment_id, c.author_id, &pl, viewer);
    if (err == CH_OK) {
        ch_counters_t delta = {.comments = -1};
        err = ch_counters_add(svc, conn, c.item.type, c.item.id, &delta, NULL);
    }
    if ((err = ch_sql_end(svc, conn, err)) == CH_OK) {
        ch__comments_top_forget(svc, c.item.type, c.item.id);
        ch__forget_records(svc, comment_id, c.parent_id, &c.item);
    }
    return err;
}
