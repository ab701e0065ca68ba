/* Many message sends in one transaction (group commit, send_writer.c): each under a savepoint
 * of its own, so that one refused send leaves the others; the presence of every recipient
 * read in one call; published in commit order after the commit. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "store/kv_multi.h"
#include "svc/chat/push_jobs.h"
#include "svc/chat/send_op.h"
#include "svc/common/ratelimit.h"
#include "svc/presence/presence.h"

/* Most sends whose earlier messages one statement of the batch's idempotency lookup reads. */
#define CH_CHAT_SEND_LOOKUP_KEYS 64

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

/* What the batch's idempotency lookup found for one send: the message already stored under
 * its (sender, client_msg_id) (msg, owned until taken, and its conversation), or again: the
 * same key came earlier in the batch, so it is looked up on its own after that one ran. */
typedef struct {
    json_t *msg;
    uint64_t conv;
    int again;
} ch__sent_t;

/* The statement of the batch's idempotency lookup for k keys ($1, $2: the first sender and
 * client_msg_id, ...) into buf. */
static void ch__lookup_sql(char *buf, size_t cap, size_t k)
{
    size_t at = (size_t)snprintf(buf, cap, "SELECT " CH__CHAT_MSG_COLUMNS " FROM messages m WHERE");
    for (size_t i = 0; i < k && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s (m.sender_id = $%zu AND m.client_msg_id = $%zu)",
                               i ? " OR" : "", 2 * i + 1, 2 * i + 2);
}

static char ch__lookup_small[1024], ch__lookup_full[8192];
static pthread_once_t ch__lookup_once = PTHREAD_ONCE_INIT;

static void ch__lookup_sql_init(void)
{
    ch__lookup_sql(ch__lookup_small, sizeof(ch__lookup_small), 8);
    ch__lookup_sql(ch__lookup_full, sizeof(ch__lookup_full), CH_CHAT_SEND_LOOKUP_KEYS);
}

/* Looks up, for every send of ops[0..n), the message already stored under its (sender,
 * client_msg_id) in one statement per CH_CHAT_SEND_LOOKUP_KEYS sends (a retry is answered
 * with the original), into prior[0..n) (zeroed by the caller). A chunk's statement has 8 or
 * CH_CHAT_SEND_LOOKUP_KEYS keys, the last one repeated, so that few statements are prepared. */
static ch_err_t ch__lookup(ch_svc_t *svc, ch_db_conn_t *conn, ch__chat_send_op_t **ops, size_t n,
                           ch__sent_t *prior)
{
    pthread_once(&ch__lookup_once, ch__lookup_sql_init);
    size_t keys[CH_CHAT_SEND_LOOKUP_KEYS], k = 0;
    ch_db_param_t p[2 * CH_CHAT_SEND_LOOKUP_KEYS];
    ch_err_t err = CH_OK;
    for (size_t i = 0; i <= n && err == CH_OK; i++) {
        if (i < n) {
            for (size_t j = 0; j < i && !prior[i].again; j++)
                prior[i].again = ops[j]->sender == ops[i]->sender &&
                                 strcmp(ops[j]->client_msg_id, ops[i]->client_msg_id) == 0;
            if (prior[i].again)
                continue;
            keys[k] = i;
            p[2 * k] = CH_DB_P_INT(ops[i]->sender);
            p[2 * k + 1] = CH_DB_P_TEXT(ops[i]->client_msg_id);
            k++;
        }
        if (!k || (k < CH_CHAT_SEND_LOOKUP_KEYS && i < n))
            continue;
        size_t width = k <= 8 ? 8 : CH_CHAT_SEND_LOOKUP_KEYS;
        for (size_t r = k; r < width; r++) {
            p[2 * r] = p[2 * k - 2];
            p[2 * r + 1] = p[2 * k - 1];
        }
        ch_db_rows_t *rows = NULL;
        err = ch_sql_on(svc, conn, width == 8 ? ch__lookup_small : ch__lookup_full, p, 2 * width, &rows, NULL);
        for (size_t r = 0; err == CH_OK && r < ch_db_rows_count(rows); r++) {
            uint64_t sender = (uint64_t)ch_db_rows_int(rows, r, 3);
            const char *cmid = ch_db_rows_text(rows, r, 4);
            for (size_t q = 0; q < k; q++) {
                ch__sent_t *s = &prior[keys[q]];
                if (!s->msg && ops[keys[q]]->sender == sender && strcmp(ops[keys[q]]->client_msg_id, cmid) == 0) {
                    s->conv = (uint64_t)ch_db_rows_int(rows, r, 1);
                    if (!(s->msg = ch__chat_msg_render(rows, r, 0)))
                        err = CH_EINTERNAL;
                    break;
                }
            }
        }
        ch_db_rows_free(rows);
        k = 0;
    }
    return err;
}

/* One send inside the batch's transaction (under its savepoint): a refusal goes to op->err
 * and CH_OK is returned; a failure of the transaction is returned. */
static ch_err_t ch__apply(ch_svc_t *svc, ch_db_conn_t *conn, ch__chat_send_op_t *op, ch__sent_t *prior)
{
    ch_chat_send_t in = {.conversation_id = op->conversation_id, .client_msg_id = op->client_msg_id,
                         .text = op->text, .reply_to = op->reply_to};
    ch__chat_conv_t c;
    json_t *found = NULL;
    ch_err_t err = CH_ENOTFOUND;
    if (prior->again) /* its client_msg_id came earlier in the batch: read after that one's write */
        err = ch__chat_find_sent(svc, conn, op->sender, &in, &found, &op->fault);
    else if (prior->msg && prior->conv != op->conversation_id)
        err = ch_fault(&op->fault, CH_ECONFLICT, "client_msg_id",
                       "client_msg_id was used for a message of another conversation");
    else if (prior->msg) {
        found = prior->msg;
        prior->msg = NULL;
        err = CH_OK;
    }
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
    ch__sent_t *prior = calloc(n ? n : 1, sizeof(*prior));
    if (!prior)
        err = CH_EINTERNAL;
    if (err == CH_OK)
        err = ch__lookup(svc, conn, ops, n, prior);
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        ch__chat_send_op_clear_outcome(ops[i]);
        if ((err = ch__ctl(svc, conn, "SAVEPOINT ch_send")) != CH_OK)
            break;
        err = ch__apply(svc, conn, ops[i], &prior[i]);
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
    for (size_t i = 0; prior && i < n; i++)
        json_decref(prior[i].msg); /* not taken: the batch failed before its send */
    free(prior);
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
