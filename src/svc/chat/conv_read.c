/* Reading conversations: membership checks, rendering, one conversation, the listing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/chat/chat_int.h"

static ch_err_t ch__conv_not_found(ch_fault_t *f)
{
    return ch_fault(f, CH_ENOTFOUND, NULL, "conversation not found");
}

ch_err_t ch__chat_load(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t conv, int for_update,
                       ch__chat_conv_t *c, ch_fault_t *f)
{
    memset(c, 0, sizeof(*c));
    if (conv == 0 || conv > INT64_MAX)
        return ch__conv_not_found(f);
    int pg = strcmp(ch_db_kind(svc->db), "postgres") == 0;
    ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(viewer)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = CH_OK;
    if (for_update && pg) {
        /* The conversation's row first, alone: READ COMMITTED re-checks only the locked row
         * of a joined FOR UPDATE, so a member row deleted by the lock's previous holder
         * would still be seen. The member row is read by the next statement, whose snapshot
         * is taken after the lock is ours. */
        err = ch_sql_on(svc, conn, "SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", p, 1, &rows, NULL);
        if (err == CH_OK && ch_db_rows_count(rows) != 1)
            err = ch__conv_not_found(f);
        ch_db_rows_free(rows);
        rows = NULL;
    }
    if (err == CH_OK)
        err = ch_sql_on(svc, conn,
                        "SELECT c.kind, c.direct_key, c.last_seq, c.last_bucket, c.members_count, m.role,"
                        " m.delivered_seq, m.read_seq, c.last_activity_at, m.joined_seq FROM conversations c"
                        " JOIN conversation_members m"
                        " ON m.conversation_id = c.id AND m.user_id = $2 WHERE c.id = $1",
                        p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) != 1)
        err = ch__conv_not_found(f);
    if (err == CH_OK) {
        c->id = conv;
        c->direct = strcmp(ch_db_rows_text(rows, 0, 0), "direct") == 0;
        if (c->direct) {
            unsigned long long lo = 0, hi = 0;
            sscanf(ch_db_rows_text(rows, 0, 1), "%llu:%llu", &lo, &hi);
            c->other = lo == viewer ? hi : lo;
        }
        c->last_seq = ch_db_rows_int(rows, 0, 2);
        c->last_bucket = ch_db_rows_int(rows, 0, 3);
        c->members_count = ch_db_rows_int(rows, 0, 4);
        c->admin = strcmp(ch_db_rows_text(rows, 0, 5), "admin") == 0;
        c->delivered_seq = ch_db_rows_int(rows, 0, 6);
        c->read_seq = ch_db_rows_int(rows, 0, 7);
        c->last_activity_at = ch_db_rows_int(rows, 0, 8);
        c->joined_seq = ch_db_rows_int(rows, 0, 9);
    }
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch__chat_member_ids(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, uint64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(conv)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn, "SELECT user_id FROM conversation_members WHERE conversation_id = $1", p,
                             CH_NPARAMS(p), &rows, NULL);
    size_t count = err == CH_OK ? ch_db_rows_count(rows) : 0;
    if (count) {
        if (!(*ids = malloc(count * sizeof(**ids))))
            err = CH_EINTERNAL;
        for (size_t i = 0; err == CH_OK && i < count; i++)
            (*ids)[i] = (uint64_t)ch_db_rows_int(rows, i, 0);
        if (err == CH_OK)
            *n = count;
    }
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch__chat_member_ids_seeing(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, int64_t seq, uint64_t **ids,
                                    size_t *n)
{
    *ids = NULL;
    *n = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(seq)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT user_id FROM conversation_members WHERE conversation_id = $1 AND joined_seq < $2",
                             p, CH_NPARAMS(p), &rows, NULL);
    size_t count = err == CH_OK ? ch_db_rows_count(rows) : 0;
    if (count && !(*ids = malloc(count * sizeof(**ids))))
        err = CH_EINTERNAL;
    for (size_t i = 0; err == CH_OK && i < count; i++)
        (*ids)[(*n)++] = (uint64_t)ch_db_rows_int(rows, i, 0);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch__chat_blocked(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t a, uint64_t b, int *blocked)
{
    ch_db_param_t p[] = {CH_DB_P_INT(a), CH_DB_P_INT(b)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2)"
                             " OR (blocker_id = $2 AND blocked_id = $1) LIMIT 1",
                             p, CH_NPARAMS(p), &rows, NULL);
    *blocked = err == CH_OK && ch_db_rows_count(rows) > 0;
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch__chat_direct_blocked(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const ch__chat_conv_t *c,
                                 ch_fault_t *f)
{
    int blocked = 0;
    ch_err_t err = c->direct ? ch__chat_blocked(svc, conn, viewer, c->other, &blocked) : CH_OK;
    return err == CH_OK && blocked ? ch__conv_not_found(f) : err;
}

ch_err_t ch__chat_id_field(json_t *obj, const char *name, int required, uint64_t *out, ch_fault_t *f)
{
    json_t *v = json_object_get(obj, name);
    *out = 0;
    if (!v || json_is_null(v))
        return required ? ch_fault(f, CH_EINVAL, name, "%s is required", name) : CH_OK;
    uint64_t id = json_is_string(v) ? ch_id_parse(json_string_value(v)) : 0;
    if (id == 0 || id > INT64_MAX)
        return ch_fault(f, CH_EINVAL, name, "%s must be an id (a string of digits)", name);
    *out = id;
    return CH_OK;
}

/* ---- rendering ----------------------------------------------------------------------- */

static json_t *ch__time(int64_t ms)
{
    char b[CH_RFC3339_LEN];
    ch_format_rfc3339(ms, b);
    return json_string(b);
}

static json_t *ch__id_or_null(const ch_db_rows_t *rows, size_t r, size_t c)
{
    return ch_db_rows_isnull(rows, r, c) ? json_null() : json_string(ch_db_rows_text(rows, r, c));
}

json_t *ch__chat_msg_render(const ch_db_rows_t *rows, size_t r, size_t col)
{
    int deleted = !ch_db_rows_isnull(rows, r, col + 9);
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:o}", "id", ch_db_rows_text(rows, r, col),
                     "conversation_id", ch_db_rows_text(rows, r, col + 1), "seq",
                     (json_int_t)ch_db_rows_int(rows, r, col + 2), "sender_id", ch_db_rows_text(rows, r, col + 3),
                     "client_msg_id", ch_db_rows_text(rows, r, col + 4), "text",
                     deleted ? json_null() : json_string(ch_db_rows_text(rows, r, col + 5)), "reply_to",
                     ch__id_or_null(rows, r, col + 6), "created_at", ch__time(ch_db_rows_int(rows, r, col + 7)),
                     "edited_at",
                     ch_db_rows_isnull(rows, r, col + 8) ? json_null() : ch__time(ch_db_rows_int(rows, r, col + 8)),
                     "deleted", deleted, "deleted_at",
                     deleted ? ch__time(ch_db_rows_int(rows, r, col + 9)) : json_null());
}

ch_err_t ch__chat_msg_get(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, uint64_t msg, json_t **out,
                          ch_fault_t *f)
{
    ch_db_param_t p[] = {CH_DB_P_INT(msg), CH_DB_P_INT(conv)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT " CH__CHAT_MSG_COLUMNS " FROM messages m WHERE m.id = $1 AND m.conversation_id = $2",
                             p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) != 1)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "message not found");
    if (err == CH_OK)
        *out = ch__chat_msg_render(rows, 0, 0);
    ch_db_rows_free(rows);
    return err;
}

/* The conversation columns ch__conv_json reads, then the viewer's receipts, then the last
 * message (a primary-key probe of its partition). */
#define CH__CONV_SELECT                                                                                  \
    "SELECT c.id, c.kind, c.title, c.created_by, c.created_at, c.last_activity_at, c.last_seq,"          \
    " c.members_count, v.delivered_seq, v.read_seq, " CH__CHAT_MSG_COLUMNS                               \
    " FROM conversation_members v JOIN conversations c ON c.id = v.conversation_id"                    \
    " LEFT JOIN messages m ON m.conversation_id = c.id AND m.bucket = c.last_bucket AND m.seq = c.last_seq" \
    " AND m.seq > v.joined_seq"
#define CH__CONV_NCOLS 10

static json_t *ch__conv_json(const ch_db_rows_t *rows, size_t r)
{
    int64_t last = ch_db_rows_int(rows, r, 6), read = ch_db_rows_int(rows, r, 9);
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o}", "id", ch_db_rows_text(rows, r, 0),
                     "kind", ch_db_rows_text(rows, r, 1), "title", ch__id_or_null(rows, r, 2), "created_by",
                     ch_db_rows_text(rows, r, 3), "created_at", ch__time(ch_db_rows_int(rows, r, 4)),
                     "last_activity_at", ch__time(ch_db_rows_int(rows, r, 5)), "last_seq", (json_int_t)last,
                     "members_count", (json_int_t)ch_db_rows_int(rows, r, 7), "delivered_seq",
                     (json_int_t)ch_db_rows_int(rows, r, 8), "read_seq", (json_int_t)read, "unread_count",
                     (json_int_t)(last > read ? last - read : 0), "last_message",
                     ch_db_rows_isnull(rows, r, CH__CONV_NCOLS) ? json_null()
                                                                 : ch__chat_msg_render(rows, r, CH__CONV_NCOLS));
}

/* Adds "members" [{user_id, role, delivered_seq, read_seq}] (at most max) to c. */
static ch_err_t ch__members_json(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, int64_t max, json_t *c)
{
    ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(max)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT user_id, role, delivered_seq, read_seq FROM conversation_members"
                             " WHERE conversation_id = $1 ORDER BY joined_at, user_id LIMIT $2",
                             p, CH_NPARAMS(p), &rows, NULL);
    json_t *a = json_array();
    for (size_t i = 0; err == CH_OK && i < ch_db_rows_count(rows); i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I}", "user_id", ch_db_rows_text(rows, i, 0), "role",
                                           ch_db_rows_text(rows, i, 1), "delivered_seq",
                                           (json_int_t)ch_db_rows_int(rows, i, 2), "read_seq",
                                           (json_int_t)ch_db_rows_int(rows, i, 3)));
    json_object_set_new(c, "members", a);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch__chat_conv_render(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t conv, int all_members,
                              json_t **out)
{
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(conv)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn, CH__CONV_SELECT " WHERE v.user_id = $1 AND v.conversation_id = $2", p,
                             CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) != 1)
        err = CH_ENOTFOUND;
    json_t *c = err == CH_OK ? ch__conv_json(rows, 0) : NULL;
    ch_db_rows_free(rows);
    if (err == CH_OK)
        err = ch__members_json(svc, conn, conv, all_members ? CH_CHAT_GROUP_MEMBERS_MAX : CH_CHAT_LIST_MEMBERS_MAX, c);
    if (err) {
        json_decref(c);
        return err;
    }
    *out = c;
    return CH_OK;
}

/* ---- one conversation, the listing ------------------------------------------------------ */

ch_err_t ch_chat_conv_get(ch_svc_t *svc, uint64_t viewer, uint64_t conv, json_t **out, ch_fault_t *f)
{
    if (conv == 0 || conv > INT64_MAX)
        return ch__conv_not_found(f);
    ch_db_conn_t *conn = NULL;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    if (err == CH_OK)
        err = ch__chat_conv_render(svc, conn, viewer, conv, 1, out);
    ch_db_release(svc->db, conn);
    return err == CH_ENOTFOUND ? ch__conv_not_found(f) : err;
}

/* The listing's cursor: "<last_activity_at ms>_<conversation id>" of the page's last row. */
ch_err_t ch_chat_conv_list(ch_svc_t *svc, uint64_t viewer, int limit, const char *cursor, json_t **out,
                           ch_fault_t *f)
{
    long long at = INT64_MAX, after = INT64_MAX;
    if (cursor) {
        char tail;
        if (sscanf(cursor, "%lld_%lld%c", &at, &after, &tail) != 2 || at < 0 || after <= 0)
            return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned");
    }
    ch_db_conn_t *conn = NULL;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    ch_db_rows_t *rows = NULL;
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(at), CH_DB_P_INT(after), CH_DB_P_INT(limit + 1)};
        err = ch_sql_on(svc, conn,
                        CH__CONV_SELECT " WHERE v.user_id = $1 AND (c.last_activity_at < $2 OR"
                                        " (c.last_activity_at = $2 AND c.id < $3))"
                                        " ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $4",
                        p, CH_NPARAMS(p), &rows, NULL);
    }
    json_t *items = json_array(), *next = json_null();
    size_t n = rows ? ch_db_rows_count(rows) : 0;
    for (size_t i = 0; err == CH_OK && i < n && i < (size_t)limit; i++) {
        json_t *c = ch__conv_json(rows, i);
        json_array_append_new(items, c);
        err = ch__members_json(svc, conn, (uint64_t)ch_db_rows_int(rows, i, 0), CH_CHAT_LIST_MEMBERS_MAX, c);
    }
    if (err == CH_OK && n > (size_t)limit) {
        char b[64];
        snprintf(b, sizeof(b), "%lld_%lld", (long long)ch_db_rows_int(rows, (size_t)limit - 1, 5),
                 (long long)ch_db_rows_int(rows, (size_t)limit - 1, 0));
        next = json_string(b);
    }
    ch_db_rows_free(rows);
    ch_db_release(svc->db, conn);
    if (err) {
        json_decref(items);
        json_decref(next);
        return err;
    }
    *out = json_pack("{s:o, s:o}", "items", items, "next_cursor", next);
    return CH_OK;
}
