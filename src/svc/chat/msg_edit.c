/* Editing and deleting one's own messages; the change goes to every member. */
#include <stdlib.h>

#include "core/clock.h"
#include "svc/chat/chat_int.h"
#include "svc/common/fields.h"

/* Changes message msg of conv (the viewer's own, not deleted) with sql ($1 id, $2 now,
 * $3 text when text is not NULL), then publishes op with the message. */
static ch_err_t ch__change(ch_svc_t *svc, uint64_t viewer, uint64_t conv, uint64_t msg, const char *text,
                           const char *op, json_t **out, ch_fault_t *f)
{
    ch__chat_conv_t c;
    ch_db_conn_t *conn = NULL;
    ch_db_rows_t *rows = NULL;
    uint64_t *ids = NULL;
    size_t n = 0;
    json_t *m = NULL;
    int deleted = 0;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    err = ch__chat_load(svc, conn, viewer, conv, 0, &c, f);
    if (err == CH_OK && text)
        err = ch__chat_direct_blocked(svc, conn, viewer, &c, f); /* as a send; a delete stays allowed */
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(msg), CH_DB_P_INT(conv)};
        err = ch_sql_on(svc, conn, "SELECT sender_id, deleted_at FROM messages WHERE id = $1 AND conversation_id = $2",
                        p, CH_NPARAMS(p), &rows, NULL);
        if (err == CH_OK && ch_db_rows_count(rows) != 1)
            err = ch_fault(f, CH_ENOTFOUND, NULL, "message not found");
        if (err == CH_OK && (uint64_t)ch_db_rows_int(rows, 0, 0) != viewer)
            err = ch_fault(f, CH_EFORBIDDEN, NULL, "only the author may change a message");
        if (err == CH_OK)
            deleted = !ch_db_rows_isnull(rows, 0, 1);
        ch_db_rows_free(rows);
    }
    if (err == CH_OK && deleted && text)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "message was deleted");
    int changed = err == CH_OK && !deleted;
    if (changed) {
        /* deleted_at IS NULL: a delete committed since the read above (PostgreSQL re-checks
         * the row) leaves a tombstone that an edit must not fill again. */
        int64_t now = ch_now_ms(), changes = 0;
        ch_db_param_t pe[] = {CH_DB_P_INT(msg), CH_DB_P_INT(now), CH_DB_P_TEXT(text)};
        err = ch_sql_on(svc, conn,
                        text ? "UPDATE messages SET text = $3, edited_at = $2 WHERE id = $1 AND deleted_at IS NULL"
                             : "UPDATE messages SET text = NULL, deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                        pe, text ? 3 : 2, NULL, &changes);
        if (err == CH_OK && changes != 1) {
            changed = 0;
            if (text)
                err = ch_fault(f, CH_ENOTFOUND, NULL, "message was deleted");
        }
    }
    if (err == CH_OK)
        err = ch__chat_msg_get(svc, conn, conv, msg, &m, f);
    if (err == CH_OK && changed) /* those who joined after it never saw it */
        err = ch__chat_member_ids_seeing(svc, conn, conv, json_integer_value(json_object_get(m, "seq")), &ids, &n);
    err = ch_sql_end(svc, conn, err);
    if (err == CH_OK && changed)
        ch__chat_publish(svc, ids, n, op, m);
    free(ids);
    if (err == CH_OK && out)
        *out = m;
    else
        json_decref(m);
    return err;
}

ch_err_t ch_chat_msg_edit(ch_svc_t *svc, uint64_t viewer, uint64_t conv, uint64_t msg, json_t *body, json_t **out,
                          ch_fault_t *f)
{
    static const char *const allowed[] = {"text", NULL};
    const char *text = NULL;
    ch_err_t err = ch_field_only(body, allowed, f);
    if (err == CH_OK)
        err = ch_field_text(body, "text", CH_FIELD_REQUIRED | CH_FIELD_MULTILINE | CH_FIELD_NONEMPTY, CH_CHAT_TEXT_MAX,
                            &text, f);
    if (err == CH_OK && (msg == 0 || msg > INT64_MAX))
        err = ch_fault(f, CH_ENOTFOUND, NULL, "message not found");
    return err ? err : ch__change(svc, viewer, conv, msg, text, "message.updated", out, f);
}

ch_err_t ch_chat_msg_delete(ch_svc_t *svc, uint64_t viewer, uint64_t conv, uint64_t msg, ch_fault_t *f)
{
    if (msg == 0 || msg > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "message not found");
    return ch__change(svc, viewer, conv, msg, NULL, "message.deleted", NULL, f);
}
