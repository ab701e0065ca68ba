/* Many message sends in one transaction (group commit, send_writer.c): each under a savepoint
 * of its own, so that one refused send leaves the others; the presence of every recipient
 * read in one call; published in commit order after the commit. */
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "store/kv_multi.h"
#include "svc/chat/push_jobs.h"
#include "svc/chat/send_op.h"
#include "svc/common/ratelimit.h"
#include "svc/presence/presence.h"

ch_err_t ch__chat_send_op_init(ch__chat_send_op_t *op, uint64_t sender, const ch_chat_send_t *in)
{
    memset(op, 0, sizeof(*op));
    op->sender = sender;
    op->conversation_id = in->conversation_id;
    op->reply_to = in->reply_to;
    op->client_msg_id = strdup(in->client_msg_id ? in->client_msg_id : "");
    op->text = strdup(in->text ? in->text : "");
    return op->client_msg_id && op->text ? CH_OK : CH_EINTERNAL;
}

size_t ch__chat_send_op_bytes(const ch__chat_send_op_t *op)
{
    return sizeof(*op) + (op->client_msg_id ? strlen(op->client_msg_id) + 1 : 0) +
           (op->text ? strlen(op->text) + 1 : 0);
}

void ch__chat_send_op_clear_outcome(ch__chat_send_op_t *op)
{
    json_decref(op->msg);
    free(op->ids);
    free(op->offline);
    op->msg = NULL;
    op->ids = op->offline = NULL;
    op->n = op->noff = 0;
    op->err = CH_OK;
    op->created = 0;
    op->seq = 0;
    memset(&op->fault, 0, sizeof(op->fault));
}

void ch__chat_send_op_clear(ch__chat_send_op_t *op)
{
    ch__chat_send_op_clear_outcome(op);
    free(op->client_msg_id);
    free(op->text);
    op->client_msg_id = op->text = NULL;
}

/* What a send may be refused for without its batch failing. */
static int ch__refusal(ch_err_t err)
{
    return err == CH_ENOTFOUND || err == CH_EINVAL || err == CH_ECONFLICT || err == CH_ERATELIMIT ||
           err == CH_EFORBIDDEN;
}

/* One send inside the batch's transaction (under its savepoint): a refusal goes to op->err
 * and CH_OK is returned; a failure of the transaction is returned. */
static ch_err_t ch__apply(ch_svc_t *svc, ch_db_conn_t *conn, ch__chat_send_op_t *op)
{
    ch_chat_send_t in = {.conversation_id = op->conversation_id, .client_msg_id = op->client_msg_id,
                         .text = op->text, .reply_to = op->reply_to};
    ch__chat_conv_t c;
    json_t *found = NULL;
    ch_err_t err = ch__chat_find_sent(svc, conn, op->sender, &in, &found, &op->fault);
    if (err == CH_OK) { /* a retry (or the same client_msg_id twice in the batch): the original */
        op->msg = found;
        op->seq = json_integer_value(json_object_get(found, "seq"));
        return CH_OK;
    }
    if (err == CH_ENOTFOUND) {
        memset(&op->fault, 0, sizeof(op->fault));
        err = CH_OK;
    }
    /* a retry is answered before the count, as on the direct path */
    if (err == CH_OK && op->charged == 2) { /* refused by the limit in an earlier run */
        op->err = CH_ERATELIMIT;
        op->fault = op->limit_fault;
        return CH_OK;
    }
    if (err == CH_OK && !op->charged && svc->cfg && svc->cfg->rate_limit_messages > 0) {
        char who[CH_ID_STR_LEN];
        err = ch_ratelimit_hit(svc, "message", ch_id_format(op->sender, who), svc->cfg->rate_limit_messages,
                               svc->cfg->rate_limit_window_ms,
                               &op->fault);
        if (err == CH_OK || err == CH_ERATELIMIT) { /* counted: a rerun of the batch does not count it again */
            op->charged = err == CH_OK ? 1 : 2;
            op->limit_fault = op->fault;
        }
        if (err) { /* refused (or the counter's store failed): this op alone, nothing written */
            op->err = err;
            return CH_OK;
        }
    }
    if (err == CH_OK)
        err = ch__chat_load(svc, conn, op->sender, op->conversation_id, 1, &c, &op->fault);
    if (err == CH_OK)
        err = ch__chat_direct_blocked(svc, conn, op->sender, &c, &op->fault);
    if (err == CH_OK)
        err = ch__chat_member_ids(svc, conn, op->conversation_id, &op->ids, &op->n);
    if (err == CH_OK)
        err = ch__chat_send_write(svc, conn, op->sender, &in, &c, &op->seq, &op->msg, &op->fault);
    if (err == CH_OK)
        op->created = 1;
    return err;
}

/* Runs one statement of savepoint control. */
static ch_err_t ch__ctl(ch_svc_t *svc, ch_db_conn_t *conn, const char *sql)
{
    return ch_sql_on(svc, conn, sql, NULL, 0, NULL, NULL);
}

/* Reads, in one call, which recipients of the created ops have no live connection, into each
 * op's offline list (a presence store that cannot answer: all of them, a job too many beats a
 * notification lost). */
static ch_err_t ch__offline(ch_svc_t *svc, ch__chat_send_op_t **ops, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i]->created)
            total += ops[i]->n;
    uint64_t *all = total ? malloc(total * sizeof(*all)) : NULL;
    int *online = total ? calloc(total, sizeof(*online)) : NULL;
    if (total && (!all || !online)) {
        free(all);
        free(online);
        return CH_EINTERNAL;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i]->created) {
            memcpy(all + at, ops[i]->ids, ops[i]->n * sizeof(*all));
            at += ops[i]->n;
        }
    if (total && ch_presence_connected_many(svc, all, total, online) != CH_OK)
        memset(online, 0, total * sizeof(*online));
    at = 0;
    ch_err_t err = CH_OK;
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        ch__chat_send_op_t *op = ops[i];
        if (!op->created)
            continue;
        if (op->n && !(op->offline = malloc(op->n * sizeof(*op->offline))))
            err = CH_EINTERNAL;
        for (size_t k = 0; err == CH_OK && k < op->n; k++)
            if (op->ids[k] != op->sender && !online[at + k])
                op->offline[op->noff++] = op->ids[k];
        at += op->n;
    }
    free(all);
    free(online);
    return err;
}

ch_err_t ch__chat_send_run(ch_svc_t *svc, ch_db_conn_t *own, ch__chat_send_op_t **ops, size_t n)
{
    ch_db_conn_t *conn = own;
    ch_err_t err = own ? ch_backend_err(CH_BACKEND_DB, ch_db_begin(svc->db, own, 1)) : ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        ch__chat_send_op_clear_outcome(ops[i]);
        if ((err = ch__ctl(svc, conn, "SAVEPOINT ch_send")) != CH_OK)
            break;
        err = ch__apply(svc, conn, ops[i]);
        if (ch__refusal(err)) {
            ch_fault_t f = ops[i]->fault;
            ch__chat_send_op_clear_outcome(ops[i]);
            ops[i]->err = err;
            ops[i]->fault = f;
            err = ch__ctl(svc, conn, "ROLLBACK TO SAVEPOINT ch_send");
        }
        if (err == CH_OK)
            err = ch__ctl(svc, conn, "RELEASE SAVEPOINT ch_send");
    }
    if (err == CH_OK)
        err = ch__offline(svc, ops, n);
    for (size_t i = 0; i < n && err == CH_OK; i++)
        if (ops[i]->created && ops[i]->noff)
            err = ch__chat_push_jobs(svc, conn, ops[i]->conversation_id, ops[i]->offline, ops[i]->noff,
                                     ch_id_parse(json_string_value(json_object_get(ops[i]->msg, "id"))),
                                     ops[i]->seq);
    if (own)
        err = err ? (ch_db_rollback(svc->db, own), err) : ch_backend_err(CH_BACKEND_DB, ch_db_commit(svc->db, own));
    else
        err = ch_sql_end(svc, conn, err);
    return err;
}

void ch__chat_send_run_each(ch_svc_t *svc, ch_db_conn_t *own, ch__chat_send_op_t **ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ch_err_t err = ch__chat_send_run(svc, own, &ops[i], 1);
        if (err) {
            ch__chat_send_op_clear_outcome(ops[i]);
            ops[i]->err = err;
            ch_fault(&ops[i]->fault, err, NULL, "%s",
                     err == CH_EUNAVAILABLE ? "the database is not answering; the message was not stored"
                                            : "the message could not be stored");
        }
    }
}

void ch__chat_send_publish(ch_svc_t *svc, ch__chat_send_op_t **ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ch__chat_send_op_t *op = ops[i];
        if (op->err != CH_OK || !op->msg)
            continue;
        if (op->created)
            ch__chat_publish_new_in_order(svc, op->ids, op->n, op->conversation_id, op->seq, op->msg);
        else
            ch__chat_republish(svc, op->conversation_id, op->seq, op->msg);
    }
}
