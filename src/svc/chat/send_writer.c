#include "svc/chat/send_writer.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "svc/common/sql.h"

struct ch_chat_writer {
    ch_svc_t *svc;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the queue got a send, or stop was asked */
    ch__chat_send_op_t *head, *tail;
    size_t queued; /* ops in head..tail, bounded by CH_CHAT_SEND_QUEUE_MAX */
    size_t queued_bytes; /* their ch__chat_send_op_bytes, bounded by max_bytes */
    size_t max_bytes;    /* CHORUS_CHAT_WRITER_QUEUE_BYTES */
    ch_db_conn_t *conn; /* the writer's own connection (writer thread only) */
    int stopping;
    ch__chat_send_op_t *batch[CH_CHAT_SEND_BATCH_MAX];
};

/* The writer's own connection, kept between batches (warm page and statement caches), tuned
 * by the driver for a writer. */
static ch_err_t ch__writer_conn(ch_chat_writer_t *w)
{
    if (w->conn)
        return CH_OK;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(w->svc->db, &w->conn));
    if (err == CH_OK)
        err = ch_backend_err(CH_BACKEND_DB, ch_db_tune(w->svc->db, w->conn, CH_DB_TUNE_WRITER));
    if (err) {
        ch_db_release(w->svc->db, w->conn);
        w->conn = NULL;
    }
    return err;
}

/* Takes up to CH_CHAT_SEND_BATCH_MAX sends off the queue (w->mu held); returns how many. */
static size_t ch__take(ch_chat_writer_t *w)
{
    size_t n = 0;
    while (w->head && n < CH_CHAT_SEND_BATCH_MAX) {
        w->queued_bytes -= ch__chat_send_op_bytes(w->head);
        w->batch[n++] = w->head;
        w->head = w->head->next;
    }
    if (!w->head)
        w->tail = NULL;
    w->queued -= n;
    return n;
}

/* Answers the sends of batch[0..n) with less than CH_CHAT_SEND_MARGIN_MS left before their
 * deadline (503, nothing written) and returns how many are left, kept in order at the front. */
static size_t ch__drop_expired(ch__chat_send_op_t **batch, size_t n)
{
    int64_t now = ch_mono_ms();
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        ch__chat_send_op_t *op = batch[i];
        if (op->deadline_ms && now + CH_CHAT_SEND_MARGIN_MS >= op->deadline_ms) {
            ch__chat_send_op_clear_outcome(op);
            op->err = ch_fault(&op->fault, CH_EUNAVAILABLE, NULL,
                               "the request's deadline passed before its message was written; nothing was stored");
            op->done(op); /* op may be freed */
        } else {
            batch[kept++] = op;
        }
    }
    return kept;
}

/* The deadline a batch runs under: the latest of its sends' (a send committed after its own
 * deadline is still answered with its message), none when one of them has none; the stop
 * deadline of a graceful stop bounds it anyway. */
static int64_t ch__batch_deadline(ch__chat_send_op_t **batch, size_t n)
{
    int64_t deadline = 0;
    for (size_t i = 0; i < n; i++) {
        if (!batch[i]->deadline_ms)
            return 0;
        if (batch[i]->deadline_ms > deadline)
            deadline = batch[i]->deadline_ms;
    }
    return deadline;
}

/* One batch: in one transaction, run again (without the sends whose deadline passed, on a
 * fresh connection) while the database does not answer, at most CH_CHAT_SEND_ATTEMPTS times;
 * on any other failure one transaction per send (one send cannot sink the others); then
 * published and answered. */
static void ch__writer_batch(ch_chat_writer_t *w, size_t n)
{
    ch_err_t err = CH_EUNAVAILABLE;
    for (int attempt = 0; attempt < CH_CHAT_SEND_ATTEMPTS && n; attempt++) {
        if (attempt) {
            /* The connection may have died (with its file, a restart of the server): a fresh
             * one; the sends that can no longer be answered in time are answered now. */
            ch_db_release(w->svc->db, w->conn);
            w->conn = NULL;
            n = ch__drop_expired(w->batch, n);
            if (!n)
                break;
            ch_log_warn("chat: a batch of %zu sends failed (%s); running it again", n, ch_err_code(err));
        }
        ch_db_deadline_set(ch__batch_deadline(w->batch, n));
        err = ch__writer_conn(w);
        if (err == CH_OK)
            err = ch__chat_send_run(w->svc, w->conn, w->batch, n);
        if (err != CH_EUNAVAILABLE)
            break;
    }
    if (err == CH_EUNAVAILABLE) {
        for (size_t i = 0; i < n; i++) {
            ch__chat_send_op_clear_outcome(w->batch[i]);
            w->batch[i]->err = ch_fault(&w->batch[i]->fault, CH_EUNAVAILABLE, NULL,
                                        "the database is not answering; the message was not stored");
        }
    } else if (err) {
        ch_log_warn("chat: a batch of %zu sends failed (%s); running them one by one", n, ch_err_code(err));
        ch_db_release(w->svc->db, w->conn);
        w->conn = NULL;
        for (size_t i = 0; i < n; i++) {
            ch_db_deadline_set(w->batch[i]->deadline_ms);
            ch__chat_send_run_each(w->svc, NULL, &w->batch[i], 1);
        }
    }
    ch_db_deadline_set(0);
    /* Committed (or failed for good): publish in commit order, then answer. */
    ch__chat_send_publish(w->svc, w->batch, n);
    for (size_t i = 0; i < n; i++)
        w->batch[i]->done(w->batch[i]); /* may free it */
}

static void *ch__writer_main(void *arg)
{
    ch_chat_writer_t *w = arg;
    pthread_setname_np(pthread_self(), "ch-chat-send");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->wake, &w->mu);
        if (!w->head)
            break; /* stopping and drained */
        size_t n = ch__take(w);
        pthread_mutex_unlock(&w->mu);
        n = ch__drop_expired(w->batch, n);
        if (n)
            ch__writer_batch(w, n);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    ch_db_release(w->svc->db, w->conn);
    w->conn = NULL;
    return NULL;
}

ch_chat_writer_t *ch_chat_writer_start(ch_svc_t *svc)
{
    ch_chat_writer_t *w = ch_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->svc = svc;
    w->max_bytes = svc->cfg && svc->cfg->chat_writer_queue_bytes > 0 ? (size_t)svc->cfg->chat_writer_queue_bytes
                                                                      : (size_t)CH_CONFIG_CHAT_WRITER_QUEUE_BYTES;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, ch__writer_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void ch_chat_writer_stop(ch_chat_writer_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* after it applied everything queued */
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void ch_chat_writer_submit(ch_chat_writer_t *w, ch__chat_send_op_t *op)
{
    op->next = NULL;
    op->deadline_ms = ch_db_deadline();
    size_t bytes = ch__chat_send_op_bytes(op);
    pthread_mutex_lock(&w->mu);
    if (w->queued >= CH_CHAT_SEND_QUEUE_MAX || w->queued_bytes + bytes > w->max_bytes) {
        pthread_mutex_unlock(&w->mu);
        op->err = ch_fault(&op->fault, CH_EOVERLOADED, NULL,
                           "too many messages are waiting to be stored; nothing was stored, retry later");
        op->done(op);
        return;
    }
    w->queued++;
    w->queued_bytes += bytes;
    if (w->tail)
        w->tail->next = op;
    else
        w->head = op;
    w->tail = op;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

static void ch__post(ch__chat_send_op_t *op)
{
    sem_post(op->arg);
}

void ch_chat_writer_submit_wait(ch_chat_writer_t *w, ch__chat_send_op_t *op)
{
    sem_t done;
    sem_init(&done, 0, 0);
    op->done = ch__post;
    op->arg = &done;
    ch_chat_writer_submit(w, op);
    while (sem_wait(&done) != 0)
        ; /* EINTR: keep waiting, the writer always posts */
    sem_destroy(&done);
}
