/* History paging by seq: message_buckets says which (conversation, bucket) partitions hold
 * the seqs asked for; messages is read in (bucket, seq) order from there. */
#include <stdlib.h>

#include "svc/chat/chat_int.h"

/* (bucket, seq) sorts as seq (msg_send.c), so "seq > $2" is "(bucket, seq) > (the bucket of
 * seq $2 + 1, $2)" and "seq < $3" is "(bucket, seq) < (the bucket of seq $3 - 1, $3)": row
 * values the (conversation_id, bucket, seq) index range starts and stops at, on SQLite and
 * PostgreSQL alike, instead of scanning to the end of the conversation. */
#define CH__LOW_BUCKET                                                                                     \
    "COALESCE((SELECT MAX(b.bucket) FROM message_buckets b WHERE b.conversation_id = $1"                   \
    " AND b.first_seq <= $2 + 1), 0)"
#define CH__HIGH_BUCKET                                                                                    \
    "COALESCE((SELECT MAX(b.bucket) FROM message_buckets b WHERE b.conversation_id = $1"                   \
    " AND b.first_seq < $3), -1)"

ch_err_t ch_chat_msg_history(ch_svc_t *svc, uint64_t viewer, uint64_t conv, int64_t after_seq, int64_t before_seq,
                             int limit, json_t **out, ch_fault_t *f)
{
    ch__chat_conv_t c;
    ch_db_conn_t *conn = NULL;
    ch_db_rows_t *rows = NULL;
    int ascending = after_seq >= 0; /* else the newest page below before_seq */
    if (before_seq <= 0)
        before_seq = INT64_MAX;
    if (after_seq < 0)
        after_seq = 0;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    if (err)
        return err;
    err = ch__chat_load(svc, conn, viewer, conv, 0, &c, f);
    if (err == CH_OK && after_seq < c.joined_seq)
        after_seq = c.joined_seq; /* history from the viewer's join on */
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(after_seq), CH_DB_P_INT(before_seq),
                             CH_DB_P_INT(limit + 1)};
        err = ch_sql_on(
            svc, conn,
            ascending ? "SELECT " CH__CHAT_MSG_COLUMNS " FROM messages m WHERE m.conversation_id = $1"
                        " AND (m.bucket, m.seq) > (" CH__LOW_BUCKET ", $2)"
                        " AND (m.bucket, m.seq) < (" CH__HIGH_BUCKET ", $3)"
                        " AND m.seq > $2 AND m.seq < $3 ORDER BY m.bucket, m.seq LIMIT $4"
                      : "SELECT " CH__CHAT_MSG_COLUMNS " FROM messages m WHERE m.conversation_id = $1"
                        " AND (m.bucket, m.seq) > (" CH__LOW_BUCKET ", $2)"
                        " AND (m.bucket, m.seq) < (" CH__HIGH_BUCKET ", $3)"
                        " AND m.seq > $2 AND m.seq < $3 ORDER BY m.bucket DESC, m.seq DESC LIMIT $4",
            p, CH_NPARAMS(p), &rows, NULL);
    }
    ch_db_release(svc->db, conn);
    if (err) {
        ch_db_rows_free(rows);
        return err;
    }
    size_t n = ch_db_rows_count(rows), shown = n > (size_t)limit ? (size_t)limit : n;
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(items, ch__chat_msg_render(rows, ascending ? i : shown - 1 - i, 0));
    ch_db_rows_free(rows);
    *out = json_pack("{s:o, s:b, s:I}", "items", items, "has_more", n > (size_t)limit, "last_seq",
                     (json_int_t)c.last_seq);
    return CH_OK;
}
