/* Delivery and read receipts: per member, monotonic, read implies delivered; unread counts
 * are last_seq - read_seq (conv_read.c), never a counting scan. */
#include <stdlib.h>

#include "core/id.h"
#include "svc/chat/chat_int.h"

/* {viewer, the sender of conv's message at seq when another} into *ids (malloc'd), *n. */
static ch_err_t ch__receipt_group_audience(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t conv,
                                           int64_t seq, uint64_t **ids, size_t *n)
{
    ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(seq)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT sender_id FROM messages WHERE conversation_id = $1 AND bucket ="
                             " (SELECT MAX(bucket) FROM message_buckets WHERE conversation_id = $1 AND first_seq <= $2)"
                             " AND seq = $2",
                             p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && !(*ids = malloc(2 * sizeof(**ids))))
        err = CH_EINTERNAL;
    if (err == CH_OK) {
        (*ids)[(*n)++] = viewer;
        if (ch_db_rows_count(rows) == 1 && (uint64_t)ch_db_rows_int(rows, 0, 0) != viewer)
            (*ids)[(*n)++] = (uint64_t)ch_db_rows_int(rows, 0, 0);
    }
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_chat_receipt(ch_svc_t *svc, uint64_t viewer, uint64_t conv, int64_t seq, int read, json_t **out,
                         ch_fault_t *f)
{
    ch__chat_conv_t c;
    ch_db_conn_t *conn = NULL;
    ch_db_rows_t *rows = NULL;
    uint64_t *ids = NULL;
    size_t n = 0;
    int64_t changes = 0;
    if (seq < 0)
        return ch_fault(f, CH_EINVAL, "seq", "seq must be a message's seq (an integer >= 0)");
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    if (err)
        return err;
    err = ch__chat_load(svc, conn, viewer, conv, 0, &c, f);
    if (err == CH_OK && seq > c.last_seq)
        err = ch_fault(f, CH_EINVAL, "seq", "seq %lld is past the conversation's last message (%lld)", (long long)seq,
                       (long long)c.last_seq);
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(viewer), CH_DB_P_INT(seq)};
        err = ch_sql_on(svc, conn,
                        read ? "UPDATE conversation_members SET"
                               " delivered_seq = CASE WHEN delivered_seq < $3 THEN $3 ELSE delivered_seq END,"
                               " read_seq = CASE WHEN read_seq < $3 THEN $3 ELSE read_seq END"
                               " WHERE conversation_id = $1 AND user_id = $2 AND (read_seq < $3 OR delivered_seq < $3)"
                               " RETURNING delivered_seq, read_seq"
                             : "UPDATE conversation_members SET delivered_seq = $3"
                               " WHERE conversation_id = $1 AND user_id = $2 AND delivered_seq < $3"
                               " RETURNING delivered_seq, read_seq",
                        p, CH_NPARAMS(p), &rows, &changes);
    }
    int64_t delivered = c.delivered_seq, rd = c.read_seq;
    if (err == CH_OK && ch_db_rows_count(rows) == 1) {
        delivered = ch_db_rows_int(rows, 0, 0);
        rd = ch_db_rows_int(rows, 0, 1);
    }
    ch_db_rows_free(rows);
    int changed = err == CH_OK && changes > 0, blocked = 0;
    if (changed && c.direct)
        err = ch__chat_blocked(svc, conn, viewer, c.other, &blocked);
    if (changed && err == CH_OK && blocked) {
        /* Across a block the receipt stays with the viewer's own devices. */
        if ((ids = malloc(sizeof(*ids))) != NULL)
            ids[n++] = viewer;
    } else if (changed && err == CH_OK && !c.direct) {
        /* A group: the reader's own devices and the author of the message at seq, not every
         * member (n readers telling n members is n² events). */
        err = ch__receipt_group_audience(svc, conn, viewer, conv, seq, &ids, &n);
    } else if (changed && err == CH_OK)
        err = ch__chat_member_ids(svc, conn, conv, &ids, &n);
    ch_db_release(svc->db, conn);
    json_t *d = NULL;
    if (err == CH_OK) {
        char b[2][CH_ID_STR_LEN];
        d = json_pack("{s:s, s:s, s:I, s:I}", "conversation_id", ch_id_format(conv, b[0]), "user_id",
                      ch_id_format(viewer, b[1]), "delivered_seq", (json_int_t)delivered, "read_seq", (json_int_t)rd);
    }
    if (changed && d)
        ch__chat_publish(svc, ids, n, "receipt", d);
    free(ids);
    if (out && err == CH_OK)
        *out = d;
    else
        json_decref(d);
    return err;
}
