/* Sending a message: idempotent on (sender, client_msg_id); seq from the conversation's
 * counter row, moved in the message's own transaction (store/migrations_chat.c). */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/chat/chat_int.h"
#include "svc/chat/push_jobs.h"
#include "svc/chat/send_op.h"
#include "svc/chat/send_writer.h"
#include "svc/common/fields.h"
#include "svc/common/ratelimit.h"

ch_err_t ch_chat_send_parse(json_t *d, int with_conversation, ch_chat_send_t *in, ch_fault_t *f)
{
    static const char *const rest[] = {"client_msg_id", "text", "reply_to", NULL};
    static const char *const ws[] = {"conversation_id", "client_msg_id", "text", "reply_to", NULL};
    uint64_t conv = in->conversation_id;
    memset(in, 0, sizeof(*in));
    in->conversation_id = conv;
    ch_err_t err = ch_field_only(d, with_conversation ? ws : rest, f);
    if (err == CH_OK && with_conversation)
        err = ch__chat_id_field(d, "conversation_id", 1, &in->conversation_id, f);
    if (err == CH_OK)
        err = ch_field_text(d, "client_msg_id", CH_FIELD_REQUIRED | CH_FIELD_NONEMPTY, CH_CHAT_CLIENT_MSG_ID_MAX,
                            &in->client_msg_id, f);
    if (err == CH_OK)
        err = ch_field_text(d, "text", CH_FIELD_REQUIRED | CH_FIELD_MULTILINE | CH_FIELD_NONEMPTY, CH_CHAT_TEXT_MAX,
                            &in->text, f);
    if (err == CH_OK)
        err = ch__chat_id_field(d, "reply_to", 0, &in->reply_to, f);
    return err;
}

ch_err_t ch__chat_find_sent(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t sender, const ch_chat_send_t *in,
                            json_t **out, ch_fault_t *f)
{
    ch_db_param_t p[] = {CH_DB_P_INT(sender), CH_DB_P_TEXT(in->client_msg_id)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT " CH__CHAT_MSG_COLUMNS " FROM messages m WHERE m.sender_id = $1"
                             " AND m.client_msg_id = $2",
                             p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) != 1)
        err = CH_ENOTFOUND;
    if (err == CH_OK && (uint64_t)ch_db_rows_int(rows, 0, 1) != in->conversation_id)
        err = ch_fault(f, CH_ECONFLICT, "client_msg_id", "client_msg_id was used for a message of another conversation");
    if (err == CH_OK)
        *out = ch__chat_msg_render(rows, 0, 0);
    ch_db_rows_free(rows);
    return err;
}

/* Reads the candidates for the message (the members now, those of them offline) before the
 * transaction: presence is not read under the lock. ch__write reads the members again. */
static ch_err_t ch__audience(ch_svc_t *svc, uint64_t sender, const ch_chat_send_t *in, uint64_t **ids, size_t *n,
                             uint64_t **offline, size_t *noff, json_t **found, ch_fault_t *f)
{
    ch_db_conn_t *conn = NULL;
    ch__chat_conv_t c;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    if (err)
        return err;
    err = ch__chat_find_sent(svc, conn, sender, in, found, f);
    if (err != CH_ENOTFOUND) {
        ch_db_release(svc->db, conn);
        return err == CH_OK ? CH_ECONFLICT : err; /* CH_ECONFLICT + *found: a retry */
    }
    err = ch__chat_load(svc, conn, sender, in->conversation_id, 0, &c, f);
    if (err == CH_OK)
        err = ch__chat_direct_blocked(svc, conn, sender, &c, f);
    if (err == CH_OK)
        err = ch__chat_member_ids(svc, conn, in->conversation_id, ids, n);
    ch_db_release(svc->db, conn);
    if (err == CH_OK && *n) {
        if (!(*offline = malloc(*n * sizeof(**offline))))
            return CH_EINTERNAL;
        *noff = ch__chat_offline(svc, sender, *ids, *n, *offline);
    }
    return err;
}

static int ch__has(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* The members of conv now (read under the conversation's lock) into *ids, *n, and into
 * offline (*noff) those of them without the sender who are offline: offline among the
 * candidates read before the lock, or not among them (added meanwhile: no presence read). */
static ch_err_t ch__recipients(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t sender, uint64_t conv,
                               const uint64_t *cand, size_t ncand, const uint64_t *cand_off, size_t ncand_off,
                               uint64_t **ids, size_t *n, uint64_t **offline, size_t *noff)
{
    free(*ids);
    free(*offline);
    *ids = *offline = NULL;
    *n = *noff = 0;
    ch_err_t err = ch__chat_member_ids(svc, conn, conv, ids, n);
    if (err || *n == 0)
        return err;
    if (!(*offline = malloc(*n * sizeof(**offline))))
        return CH_EINTERNAL;
    for (size_t i = 0; i < *n; i++) {
        uint64_t u = (*ids)[i];
        if (u != sender && (!ch__has(cand, ncand, u) || ch__has(cand_off, ncand_off, u)))
            (*offline)[(*noff)++] = u;
    }
    return CH_OK;
}

/* Renders a message just written (what ch__chat_msg_render makes of its row, without reading
 * it back). */
static json_t *ch__new_msg_json(uint64_t id, uint64_t conv, int64_t seq, uint64_t sender, const ch_chat_send_t *in,
                                int64_t now)
{
    char b[4][CH_ID_STR_LEN], at[CH_RFC3339_LEN];
    ch_format_rfc3339(now, at);
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:o, s:s, s:n, s:b, s:n}", "id", ch_id_format(id, b[0]),
                     "conversation_id", ch_id_format(conv, b[1]), "seq", (json_int_t)seq, "sender_id",
                     ch_id_format(sender, b[2]), "client_msg_id", in->client_msg_id, "text", in->text, "reply_to",
                     in->reply_to ? json_string(ch_id_format(in->reply_to, b[3])) : json_null(), "created_at", at,
                     "edited_at", "deleted", 0, "deleted_at");
}

ch_err_t ch__chat_send_write(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t sender, const ch_chat_send_t *in,
                             const ch__chat_conv_t *c, int64_t *seq_out, json_t **out, ch_fault_t *f)
{
    uint64_t conv = in->conversation_id, id = ch_id_next();
    ch_err_t err = CH_OK;
    if (in->reply_to) {
        ch_db_param_t p[] = {CH_DB_P_INT(in->reply_to), CH_DB_P_INT(conv)};
        ch_db_rows_t *rows = NULL;
        err = ch_sql_on(svc, conn, "SELECT 1 FROM messages WHERE id = $1 AND conversation_id = $2", p, CH_NPARAMS(p),
                        &rows, NULL);
        if (err == CH_OK && ch_db_rows_count(rows) != 1)
            err = ch_fault(f, CH_EINVAL, "reply_to", "reply_to is not a message of this conversation");
        ch_db_rows_free(rows);
    }
    if (err)
        return err;
    int64_t now = ch_now_ms(), bucket = now / CH_CHAT_BUCKET_MS, seq = c->last_seq + 1;
    if (bucket < c->last_bucket)
        bucket = c->last_bucket; /* a clock that went back: (bucket, seq) must sort as seq */
    int64_t changes = 0;
    /* c was loaded in this transaction under the conversation's lock (ch__chat_load with
     * for_update; SQLite: the write transaction), so c->last_seq is the counter now: the next
     * seq is known without UPDATE … RETURNING (which costs SQLite an ephemeral table per
     * send). The guard on the old value turns any doubt into a failure, never a gap or a
     * repeat. */
    ch_db_param_t pc[] = {CH_DB_P_INT(conv), CH_DB_P_INT(bucket), CH_DB_P_INT(now), CH_DB_P_INT(seq),
                          CH_DB_P_INT(c->last_seq)};
    err = ch_sql_on(svc, conn,
                    "UPDATE conversations SET last_seq = $4, last_bucket = $2, last_activity_at = $3"
                    " WHERE id = $1 AND last_seq = $5",
                    pc, CH_NPARAMS(pc), NULL, &changes);
    if (err == CH_OK && changes != 1)
        err = CH_EINTERNAL;
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(conv),      CH_DB_P_INT(bucket),           CH_DB_P_INT(seq),
                             CH_DB_P_INT(id),        CH_DB_P_INT(sender),           CH_DB_P_TEXT(in->client_msg_id),
                             CH_DB_P_TEXT(in->text), in->reply_to ? CH_DB_P_INT(in->reply_to) : CH_DB_P_NULL,
                             CH_DB_P_INT(now)};
        err = ch_sql_on(svc, conn,
                        "INSERT INTO messages(conversation_id, bucket, seq, id, sender_id, client_msg_id, text,"
                        " reply_to, created_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        p, CH_NPARAMS(p), NULL, NULL);
    }
    /* c->last_seq is the seq when c was loaded: a batch's later sends to the same
     * conversation find the bucket row there already (DO NOTHING) */
    if (err == CH_OK && (bucket != c->last_bucket || c->last_seq == 0)) {
        ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(bucket), CH_DB_P_INT(seq)};
        err = ch_sql_on(svc, conn,
                        "INSERT INTO message_buckets(conversation_id, bucket, first_seq) VALUES($1, $2, $3)"
                        " ON CONFLICT (conversation_id, bucket) DO NOTHING",
                        p, CH_NPARAMS(p), NULL, NULL);
    }
    if (err == CH_OK) {
        /* One's own message is delivered and read. */
        ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(sender), CH_DB_P_INT(seq)};
        err = ch_sql_on(svc, conn,
                        "UPDATE conversation_members SET delivered_seq = $3, read_seq = $3"
                        " WHERE conversation_id = $1 AND user_id = $2",
                        p, CH_NPARAMS(p), NULL, &changes);
        if (err == CH_OK && changes != 1)
            err = ch_fault(f, CH_ENOTFOUND, NULL, "conversation not found"); /* no longer a member */
    }
    if (err == CH_OK && !(*out = ch__new_msg_json(id, conv, seq, sender, in, now)))
        err = CH_EINTERNAL;
    if (err == CH_OK)
        *seq_out = seq;
    return err;
}

/* The writes of the message, inside the transaction (see ch__write). */
static ch_err_t ch__write_locked(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t sender, const ch_chat_send_t *in,
                                 const uint64_t *cand, size_t ncand, const uint64_t *cand_off, size_t ncand_off,
                                 uint64_t **ids, size_t *n, uint64_t **offline, size_t *noff, json_t **out, ch_fault_t *f)
{
    ch__chat_conv_t c;
    uint64_t conv = in->conversation_id;
    int64_t seq = 0;
    ch_err_t err = ch__chat_load(svc, conn, sender, conv, 1, &c, f);
    if (err == CH_OK)
        err = ch__chat_direct_blocked(svc, conn, sender, &c, f);
    if (err == CH_OK)
        err = ch__recipients(svc, conn, sender, conv, cand, ncand, cand_off, ncand_off, ids, n, offline, noff);
    if (err == CH_OK)
        err = ch__chat_send_write(svc, conn, sender, in, &c, &seq, out, f);
    if (err == CH_OK) {
        json_t *id = json_object_get(*out, "id");
        err = ch__chat_push_jobs(svc, conn, conv, *offline, *noff, ch_id_parse(json_string_value(id)), seq);
    }
    return err;
}

/* The writes of the message, inside the transaction; *out is the message; *ids, *n the
 * members it goes to (read after the lock; cand, ncand and offline, noff: the candidates read
 * before it, replaced). */
static ch_err_t ch__write(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t sender, const ch_chat_send_t *in,
                          uint64_t **ids, size_t *n, uint64_t **offline, size_t *noff, json_t **out, ch_fault_t *f)
{
    uint64_t *cand = *ids, *cand_off = *offline;
    size_t ncand = *n, ncand_off = *noff;
    *ids = *offline = NULL;
    *n = *noff = 0;
    ch_err_t err = ch__write_locked(svc, conn, sender, in, cand, ncand, cand_off, ncand_off, ids, n, offline, noff,
                                    out, f);
    free(cand);
    free(cand_off);
    return err;
}

int ch_chat_send_queued(const ch_svc_t *svc)
{
    return svc->chat_writer != NULL;
}

typedef struct {
    ch__chat_send_op_t op;
    ch_chat_send_done_fn done;
    void *arg;
} ch__queued_t;

/* Writer thread: hands the outcome to the caller's completion, frees the op. */
static void ch__queued_done(ch__chat_send_op_t *op)
{
    ch__queued_t *q = (ch__queued_t *)(void *)op;
    json_t *msg = op->err == CH_OK ? op->msg : NULL;
    op->msg = NULL;
    q->done(q->arg, op->err, &op->fault, msg, op->created);
    ch__chat_send_op_clear(op);
    free(q);
}

void ch_chat_msg_send_enqueue(ch_svc_t *svc, uint64_t viewer, const ch_chat_send_t *in, ch_chat_send_done_fn done,
                              void *arg)
{
    ch__queued_t *q = calloc(1, sizeof(*q));
    if (!q || ch__chat_send_op_init(&q->op, viewer, in) != CH_OK) {
        ch_fault_t f = {0};
        ch_fault(&f, CH_EINTERNAL, NULL, "out of memory");
        if (q)
            ch__chat_send_op_clear(&q->op);
        free(q);
        done(arg, CH_EINTERNAL, &f, NULL, 0);
        return;
    }
    q->op.done = ch__queued_done;
    q->done = done;
    q->arg = arg;
    ch_chat_writer_submit(svc->chat_writer, &q->op);
}

/* A send through the group-commit writer, waiting for its commit. */
static ch_err_t ch__send_queued_wait(ch_svc_t *svc, uint64_t viewer, const ch_chat_send_t *in, json_t **out,
                                     int *created, ch_fault_t *f)
{
    ch__chat_send_op_t op;
    ch_err_t err = ch__chat_send_op_init(&op, viewer, in);
    if (err == CH_OK) {
        ch_chat_writer_submit_wait(svc->chat_writer, &op);
        if ((err = op.err) != CH_OK) {
            if (f)
                *f = op.fault;
        } else {
            *out = op.msg;
            op.msg = NULL;
            *created = op.created;
        }
    }
    ch__chat_send_op_clear(&op);
    return err;
}

ch_err_t ch_chat_msg_send(ch_svc_t *svc, uint64_t viewer, const ch_chat_send_t *in, json_t **out, int *created,
                          ch_fault_t *f)
{
    if (svc->chat_writer) {
        *created = 0;
        return ch__send_queued_wait(svc, viewer, in, out, created, f);
    }
    uint64_t *ids = NULL, *offline = NULL;
    size_t n = 0, noff = 0;
    json_t *msg = NULL;
    *created = 0;
    ch_err_t err = ch__audience(svc, viewer, in, &ids, &n, &offline, &noff, &msg, f);
    if (err == CH_ECONFLICT && msg) {
        *out = msg; /* a retry: the original, published again when its publication was lost */
        ch__chat_republish(svc, in->conversation_id, json_integer_value(json_object_get(msg, "seq")), msg);
        return CH_OK;
    }
    ch_db_conn_t *conn = NULL;
    if (err == CH_OK && svc->cfg && svc->cfg->rate_limit_messages > 0) {
        char who[CH_ID_STR_LEN];
        err = ch_ratelimit_hit(svc, "message", ch_id_format(viewer, who), svc->cfg->rate_limit_messages,
                               svc->cfg->rate_limit_window_ms, f);
    }
    if (err == CH_OK && (err = ch_sql_begin(svc, 1, &conn)) == CH_OK) {
        err = ch__write(svc, conn, viewer, in, &ids, &n, &offline, &noff, &msg, f);
        err = ch_sql_end(svc, conn, err);
    }
    if (err != CH_OK) {
        json_decref(msg);
        msg = NULL;
    }
    if (err == CH_ECONFLICT) {
        /* The same (sender, client_msg_id) committed meanwhile (a concurrent retry). */
        ch_err_t e2 = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
        if (e2 == CH_OK) {
            e2 = ch__chat_find_sent(svc, conn, viewer, in, &msg, f);
            ch_db_release(svc->db, conn);
        }
        err = e2 == CH_ENOTFOUND ? CH_ECONFLICT : e2;
    } else if (err == CH_OK) {
        *created = 1;
        int64_t seq = json_integer_value(json_object_get(msg, "seq"));
        if (!svc->bus || ch__chat_publish_claim(svc, in->conversation_id, seq))
            ch__chat_publish_new(svc, ids, n, in->conversation_id, seq, msg);
    }
    free(ids);
    free(offline);
    if (err == CH_OK)
        *out = msg;
    return err;
}
