/* Group commit of chat sends (issue 13; on PostgreSQL too since chatpg17, send_batch.c). SQLite lets one writer in at a time and
 * commits with an fsync (synchronous=FULL): a transaction per message capped sends at the
 * commit rate. One writer thread takes every send queued since its last commit (at most
 * CH_CHAT_SEND_BATCH_MAX), runs them in one transaction (send_op.h: a savepoint each, so that
 * a refused send leaves the others), commits, publishes message.new in commit order, and only
 * then answers each send: a send is never acknowledged before the transaction holding it
 * committed, and one commit serves many.
 *
 * It is the generic writer (svc/common/batch_writer.h) in whole-batch mode: a batch whose
 * database does not answer runs again whole (CH_CHAT_SEND_ATTEMPTS), then, or after another
 * failure, one send per transaction; a send whose own transaction fails is answered with that
 * error (503 when the database does not answer).
 * Stopping drains the queue first. On PostgreSQL the writers of several nodes share the
 * database: send_batch.c locks a batch's conversations in id order and claims each
 * publication (docs/design.md "Chat"). */
#ifndef CH_SVC_CHAT_SEND_WRITER_H
#define CH_SVC_CHAT_SEND_WRITER_H

#include "svc/chat/send_op.h"

/** Most sends in one transaction. */
#define CH_CHAT_SEND_BATCH_MAX 512
/** Most sends queued for the writer: past it a send is answered 503 (overloaded) at once.
 * WebSocket sends reach the writer without the admission queue of the worker pool (each
 * connection has at most 32 ops in flight); this bounds them all. */
#define CH_CHAT_SEND_QUEUE_MAX 65536
/** A send with less time than this left before its request's deadline is answered 503 before
 * its batch runs (it could not commit in time and would hold the others up). */
#define CH_CHAT_SEND_MARGIN_MS 20
/** Most runs of one batch whose database did not answer in time (each after dropping the sends
 * whose deadline passed, on a fresh connection); then the rest is answered 503. */
#define CH_CHAT_SEND_ATTEMPTS 3

typedef struct ch_chat_writer ch_chat_writer_t;

/** Starts the writer thread. svc is borrowed and must outlive the writer. NULL when the
 * thread cannot be started. */
ch_chat_writer_t *ch_chat_writer_start(ch_svc_t *svc);
/** Applies every send still queued, then stops and frees the writer. NULL is fine. Call only
 * when nothing can submit any more (after the server stopped). */
void ch_chat_writer_stop(ch_chat_writer_t *w);
/** Queues op (borrowed until op->done is called): once the transaction holding it committed
 * (and its message was published) or failed, its outcome is set and op->done(op) is called on
 * the writer thread. With CH_CHAT_SEND_QUEUE_MAX queued, op is answered CH_EOVERLOADED at once
 * (op->done on the caller's thread), and so it is when its bytes (ch__chat_send_op_bytes)
 * would take the queue's past CHORUS_CHAT_WRITER_QUEUE_BYTES. Thread-safe; never blocks on the database. */
void ch_chat_writer_submit(ch_chat_writer_t *w, ch__chat_send_op_t *op);
/** Like ch_chat_writer_submit, but blocks until op's outcome is set (op->done is used for
 * that). */
void ch_chat_writer_submit_wait(ch_chat_writer_t *w, ch__chat_send_op_t *op);

/** The writer thread, before a batch's publications: keeps the message.new frame each
 * publication renders (events.c) so that the sender's ack is made from it
 * (ch_chat_frames_take), until ch_chat_frames_end, which frees those not taken. */
void ch_chat_frames_begin(void);
void ch_chat_frames_end(void);
/** Inside a send's done callback on the writer thread: the frame {"op":"message.new","d":msg}
 * published for msg (its "d" starts at CH_CHAT_NEW_FRAME_PREFIX bytes and ends one byte before
 * *len), malloc'd, the caller frees; NULL when this batch published none for it (a refusal, a
 * retry answered with the original, the REST path). */
char *ch_chat_frames_take(const json_t *msg, size_t *len);
/** After a send's done callback: frees msg's kept frame when it was not taken. */
void ch_chat_frames_drop(const json_t *msg);
#define CH_CHAT_NEW_FRAME_PREFIX (sizeof("{\"op\":\"message.new\",\"d\":") - 1)

#endif
