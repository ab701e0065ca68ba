/* The chat send writer on the generic group-commit writer (svc/common/batch_writer.h): its
 * whole-batch run is send_batch.c's (the idempotency lookups of the batch first, then a
 * savepoint per send), message.new is published in commit order before any send of the batch
 * is answered (spec.finished), sends with less than CH_CHAT_SEND_MARGIN_MS left are answered
 * 503 unwritten, and a batch runs under the latest deadline of its sends. */
#include "svc/chat/send_writer.h"

#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/config.h"
#include "svc/common/batch_writer.h"

struct ch_chat_writer {
    ch_batch_writer_t *bw;
    ch__chat_send_op_t *ops[CH_CHAT_SEND_BATCH_MAX]; /* a batch's sends (writer thread only) */
};

static ch__chat_send_op_t *ch__op_of(ch_batch_item_t *item)
{
    return (ch__chat_send_op_t *)(void *)((char *)item - offsetof(ch__chat_send_op_t, item));
}

/* The ops of items[0..n) in w's scratch array. */
static ch__chat_send_op_t **ch__ops(ch_chat_writer_t *w, ch_batch_item_t **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w->ops[i] = ch__op_of(items[i]);
    return w->ops;
}

static ch_err_t ch__run(ch_svc_t *svc, ch_db_conn_t *conn, ch_batch_item_t **items, size_t n, void *ctx)
{
    return ch__chat_send_run(svc, conn, ch__ops(ctx, items, n), n);
}

static void ch__fail(ch_batch_item_t *item, ch_err_t err, const ch_fault_t *f, void *ctx)
{
    (void)ctx;
    ch__chat_send_op_t *op = ch__op_of(item);
    ch__chat_send_op_clear_outcome(op);
    op->err = err;
    op->fault = *f;
}

/* Committed or failed for good: publish in commit order, before any send is answered. */
static void ch__finished(ch_svc_t *svc, ch_batch_item_t **items, size_t n, void *ctx)
{
    ch_chat_frames_begin(); /* the acks below are made from the frames published */
    ch__chat_send_publish(svc, ch__ops(ctx, items, n), n);
}

static void ch__done(ch_batch_item_t *item)
{
    ch__chat_send_op_t *op = ch__op_of(item);
    const json_t *msg = op->msg; /* compared only: names its kept frame */
    op->done(op);                /* may free op; may take its frame (ch_chat_frames_take) */
    ch_chat_frames_drop(msg);    /* not taken (a REST send): freed */
}

ch_chat_writer_t *ch_chat_writer_start(ch_svc_t *svc)
{
    ch_chat_writer_t *w = ch_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    ch_batch_spec_t spec = {
        .name = "chat-send",
        .what = "message",
        .batch_max = CH_CHAT_SEND_BATCH_MAX,
        .queue_max = CH_CHAT_SEND_QUEUE_MAX,
        .queue_bytes_max = svc->cfg && svc->cfg->chat_writer_queue_bytes > 0
                               ? (size_t)svc->cfg->chat_writer_queue_bytes
                               : (size_t)CH_CONFIG_CHAT_WRITER_QUEUE_BYTES,
        .queue_bytes_strict = 1,
        .attempts = CH_CHAT_SEND_ATTEMPTS,
        .run = ch__run,
        .fail = ch__fail,
        .finished = ch__finished,
        .expiry_margin_ms = CH_CHAT_SEND_MARGIN_MS,
        .deadline_latest = 1,
        .ctx = w,
    };
    if (!(w->bw = ch_batch_writer_start(svc, &spec))) {
        free(w);
        return NULL;
    }
    return w;
}

void ch_chat_writer_stop(ch_chat_writer_t *w)
{
    if (!w)
        return;
    ch_batch_writer_stop(w->bw); /* after it applied everything queued */
    free(w);
}

void ch_chat_writer_submit(ch_chat_writer_t *w, ch__chat_send_op_t *op)
{
    op->item.bytes = ch__chat_send_op_bytes(op);
    op->item.done = ch__done;
    ch_batch_writer_submit(w->bw, &op->item);
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
