/* Many message sends in one transaction (group commit, send_writer.c): each under a savepoint
 * of its own, so that one refused send leaves the others; the presence of every recipient
 * read in one call; published in commit order after the commit. On PostgreSQL, where writers
 * of several nodes run at once, a batch first locks its conversations in id order (no
 * deadlock between two batches), a send that loses the unique (sender, client_msg_id) race to
 * another node gets that node's message, and publication waits for and claims each seq as the
 * direct path does. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "store/kv_multi.h"
#include "svc/chat/push_jobs.h"
#include "svc/chat/send_op.h"
#include "svc/chat/send_writer.h"
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

/* Whether the database is shared by several nodes' writers (PostgreSQL): SQLite has one
 * writer, the process's own. */
static int ch__shared_db(ch_svc_t *svc)
{
    return strcmp(ch_db_kind(svc->db), "sqlite") != 0;
}

static int ch__cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The statement locking k conversations ($1..$k) in id order: PostgreSQL's LockRows runs
 * above the sort, so the rows are locked in the order they are returned. */
static void ch__lock_sql(char *buf, size_t cap, size_t k)
{
    size_t at = (size_t)snprintf(buf, cap, "SELECT id FROM conversations WHERE id IN (");
    for (size_t i = 0; i < k && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s$%zu", i ? ", " : "", i + 1);
    if (at < cap)
        snprintf(buf + at, cap - at, ") ORDER BY id FOR UPDATE");
}

static char ch__lock_small[256], ch__lock_full[1024];
static pthread_once_t ch__lock_once = PTHREAD_ONCE_INIT;

static void ch__lock_sql_init(void)
{
    ch__lock_sql(ch__lock_small, sizeof(ch__lock_small), 8);
    ch__lock_sql(ch__lock_full, sizeof(ch__lock_full), CH_CHAT_SEND_LOOKUP_KEYS);
}

/* PostgreSQL: locks the conversation rows of ops[0..n) in id order, before any send runs
 * (each send's own FOR UPDATE then finds its row locked by us). Two nodes' batches that both
 * write conversations 1 and 2 would otherwise lock them in their queue orders, deadlock, and
 * lose a second to the deadlock detector and a rerun. A statement per
 * CH_CHAT_SEND_LOOKUP_KEYS conversations, 8 or 64 parameters (the last repeated). */
static ch_err_t ch__lock_conversations(ch_svc_t *svc, ch_db_conn_t *conn, ch__chat_send_op_t **ops, size_t n)
{
    pthread_once(&ch__lock_once, ch__lock_sql_init);
    uint64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (!ids)
        return CH_EINTERNAL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i]->conversation_id && ops[i]->conversation_id <= INT64_MAX) /* others: 404 later */
            ids[k++] = ops[i]->conversation_id;
    qsort(ids, k, sizeof(*ids), ch__cmp_id);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || ids[u - 1] != ids[i])
            ids[u++] = ids[i];
    ch_err_t err = CH_OK;
    for (size_t at = 0; at < u && err == CH_OK; at += CH_CHAT_SEND_LOOKUP_KEYS) {
        size_t m = u - at < CH_CHAT_SEND_LOOKUP_KEYS ? u - at : CH_CHAT_SEND_LOOKUP_KEYS;
        size_t width = m <= 8 ? 8 : CH_CHAT_SEND_LOOKUP_KEYS;
        ch_db_param_t p[CH_CHAT_SEND_LOOKUP_KEYS];
        for (size_t r = 0; r < width; r++)
            p[r] = CH_DB_P_INT(ids[at + (r < m ? r : m - 1)]);
        err = ch_sql_on(svc, conn, width == 8 ? ch__lock_small : ch__lock_full, p, width, NULL, NULL);
    }
    free(ids);
    return err;
}

/* One send inside the batch's transaction (under its savepoint): a refusal goes to op->err
 * and CH_OK is returned; a failure of the transaction is returned. *raced is set when the
 * refusal is the unique (sender, client_msg_id) index: a send of another node with the same
 * key committed after this batch's lookup (PostgreSQL). */
static ch_err_t ch__apply(ch_svc_t *svc, ch_db_conn_t *conn, ch__chat_send_op_t *op, ch__sent_t *prior,
                          int *raced)
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
    if (err == CH_OK) {
        err = ch__chat_send_write(svc, conn, op->sender, &in, &c, &op->seq, &op->msg, &op->fault);
        *raced = err == CH_ECONFLICT;
    }
    if (err == CH_OK)
        op->created = 1;
    return err;
}

/* After a send lost the (sender, client_msg_id) race and its savepoint was rolled back: the
 * message that won, committed by another node (READ COMMITTED: this statement sees it), is the
 * send's answer, as for a retry; one in another conversation is a 409. A failure of the
 * transaction is returned. */
static ch_err_t ch__take_winner(ch_svc_t *svc, ch_db_conn_t *conn, ch__chat_send_op_t *op)
{
    ch_chat_send_t in = {.conversation_id = op->conversation_id, .client_msg_id = op->client_msg_id,
                         .text = op->text, .reply_to = op->reply_to};
    ch_fault_t f;
    memset(&f, 0, sizeof(f));
    json_t *found = NULL;
    ch_err_t err = ch__chat_find_sent(svc, conn, op->sender, &in, &found, &f);
    ch__chat_send_op_clear_outcome(op);
    if (err == CH_OK) {
        op->msg = found;
        op->seq = json_integer_value(json_object_get(found, "seq"));
        return CH_OK;
    }
    if (err == CH_ENOTFOUND) /* the winner rolled back after all: the client retries */
        err = ch_fault(&f, CH_ECONFLICT, "client_msg_id", "a send with this client_msg_id is in progress; retry");
    if (!ch__refusal(err))
        return err;
    op->err = err;
    op->fault = f;
    return CH_OK;
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
    if (err == CH_OK && ch__shared_db(svc))
        err = ch__lock_conversations(svc, conn, ops, n);
    if (err == CH_OK)
        err = ch__lookup(svc, conn, ops, n, prior);
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        ch__chat_send_op_clear_outcome(ops[i]);
        if ((err = ch__ctl(svc, conn, "SAVEPOINT ch_send")) != CH_OK)
            break;
        int raced = 0;
        err = ch__apply(svc, conn, ops[i], &prior[i], &raced);
        if (ch__refusal(err)) {
            ch_fault_t f = ops[i]->fault;
            ch__chat_send_op_clear_outcome(ops[i]);
            ops[i]->err = err;
            ops[i]->fault = f;
            err = ch__ctl(svc, conn, "ROLLBACK TO SAVEPOINT ch_send");
            if (err == CH_OK && raced)
                err = ch__take_winner(svc, conn, ops[i]);
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

/* Whether ops[0..i) holds the message just before ops[i]'s in its conversation, published by
 * this batch (published[j]): then ops[i] need not wait for it. */
static int ch__follows_own(ch__chat_send_op_t **ops, const unsigned char *published, size_t i)
{
    for (size_t j = i; j-- > 0;)
        if (ops[j]->created && ops[j]->err == CH_OK && ops[j]->conversation_id == ops[i]->conversation_id)
            return published[j] && ops[j]->seq == ops[i]->seq - 1;
    return 0;
}

void ch__chat_send_publish(ch_svc_t *svc, ch__chat_send_op_t **ops, size_t n)
{
    /* One writer (SQLite) publishes every message of a conversation itself, in commit order.
     * Several nodes' writers (PostgreSQL) do not: a batch's first message of a conversation
     * waits until the message before it (another node's, maybe) was published, and each
     * publication is claimed first, as on the direct path, so that a retry on another node
     * landing between this commit and this publish does not send message.new twice. */
    int shared = ch__shared_db(svc);
    unsigned char published[CH_CHAT_SEND_BATCH_MAX] = {0};
    for (size_t i = 0; i < n && i < CH_CHAT_SEND_BATCH_MAX; i++) {
        ch__chat_send_op_t *op = ops[i];
        if (op->err != CH_OK || !op->msg)
            continue;
        if (!op->created) {
            ch__chat_republish(svc, op->conversation_id, op->seq, op->msg);
        } else if (!shared) {
            ch__chat_publish_new_in_order(svc, op->ids, op->n, op->conversation_id, op->seq, op->msg);
        } else if (!svc->bus || ch__chat_publish_claim(svc, op->conversation_id, op->seq)) {
            if (ch__follows_own(ops, published, i))
                ch__chat_publish_new_in_order(svc, op->ids, op->n, op->conversation_id, op->seq, op->msg);
            else
                ch__chat_publish_new(svc, op->ids, op->n, op->conversation_id, op->seq, op->msg);
            published[i] = 1;
        }
    }
}
