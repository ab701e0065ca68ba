/* One message send as the group-commit writer (send_writer.c) and the direct path
 * (msg_send.c) both run it. Internal to svc/chat. */
#ifndef CH_SVC_CHAT_SEND_OP_H
#define CH_SVC_CHAT_SEND_OP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "svc/chat/chat_int.h"
#include "svc/common/batch_writer.h"

/** A message send and its outcome. */
typedef struct ch__chat_send_op {
    /* ---- input (strings owned by the op: ch__chat_send_op_init copies them) ---- */
    uint64_t sender;
    uint64_t conversation_id;
    char *client_msg_id;
    char *text;
    uint64_t reply_to; /* 0: none */
    /* ---- the message rate limit's verdict, kept across reruns of a failed batch so that a
     * send is charged to CHORUS_RATE_LIMIT_MESSAGES once (0: not charged yet; 1: charged and
     * allowed; 2: refused, limit_fault says why) ---- */
    int charged;
    ch_fault_t limit_fault;
    /* ---- outcome, valid once the op is done ---- */
    ch_err_t err;    /* CH_OK, a refusal (not a member, blocked, client_msg_id of another
                        conversation, rate limited, bad reply_to) or the transaction's error */
    ch_fault_t fault;
    json_t *msg;     /* the message (owned by the op until taken) */
    int created;     /* 1: stored now; 0: a retry answered with the original */
    int64_t seq;
    /* ---- between the transaction and the publication (send_batch.c) ---- */
    uint64_t *ids;      /* the members it goes to, read under the write lock (malloc'd) */
    size_t n;
    uint64_t *offline;  /* those of them without a live connection, sender left out */
    size_t noff;
    /* ---- plumbing (send_writer.c on the generic writer, svc/common/batch_writer.h) ---- */
    ch_batch_item_t item;
    /* Called on the writer thread once the outcome is set and the message published; the op
     * may be freed in it. */
    void (*done)(struct ch__chat_send_op *op);
    void *arg;
} ch__chat_send_op_t;

/** Fills op for sender and in (copies in's strings); CH_EINTERNAL when out of memory. */
ch_err_t ch__chat_send_op_init(ch__chat_send_op_t *op, uint64_t sender, const ch_chat_send_t *in);
/** Forgets the outcome of a run (message, recipients, err, fault), not the rate limit's
 * verdict (a failed batch's ops run again). */
void ch__chat_send_op_clear_outcome(ch__chat_send_op_t *op);
/** The bytes op holds while it waits for the writer (itself, its text and client_msg_id),
 * as the writer's queue counts them against CHORUS_CHAT_WRITER_QUEUE_BYTES. */
size_t ch__chat_send_op_bytes(const ch__chat_send_op_t *op);
/** Frees what op owns (not op itself). */
void ch__chat_send_op_clear(ch__chat_send_op_t *op);

/** Runs ops[0..n) in one write transaction on own (a connection the caller holds, outside a
 * transaction) or, when own is NULL, on one borrowed for the call. Each op runs under a
 * savepoint of its own, in order (later ones see earlier ones: seq, client_msg_id): a refusal
 * (not a member, blocked, bad reply_to, client_msg_id used elsewhere, rate limited) rolls back
 * that op alone and goes to op->err. The presence of every op's recipients is read in one call
 * under the lock (the in-process store of the embedded mode answers from memory), then the
 * push jobs are written. Returns CH_OK when the transaction committed (each op's err says
 * whether it was refused); otherwise the transaction's error, nothing was kept and the ops'
 * outcomes are meaningless (run them again). */
ch_err_t ch__chat_send_run(ch_svc_t *svc, ch_db_conn_t *own, ch__chat_send_op_t **ops, size_t n);
/** After ch__chat_send_run failed: runs each op in a transaction of its own so that one op
 * cannot sink the others; an op whose own transaction fails gets that error. */
void ch__chat_send_run_each(ch_svc_t *svc, ch_db_conn_t *own, ch__chat_send_op_t **ops, size_t n);
/** After the commit, in commit order: publishes message.new of each op created (to its
 * recipients, recording the conversation's published seq), and for each retry publishes the
 * original again when its publication was lost (ch__chat_republish). */
void ch__chat_send_publish(ch_svc_t *svc, ch__chat_send_op_t **ops, size_t n);

/** The writes of a new message in its transaction, after c (sender's conversation, loaded
 * under the write lock) was checked: reply_to, the seq, the message row, its bucket, the
 * sender's own receipts. *out is the message rendered (owned), *seq its seq. Refusals:
 * CH_EINVAL (reply_to), CH_ENOTFOUND (sender no longer a member). */
ch_err_t ch__chat_send_write(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t sender, const ch_chat_send_t *in,
                             const ch__chat_conv_t *c, int64_t *seq, json_t **out, ch_fault_t *f);
/** The message (sender, in->client_msg_id) sent before, rendered into *out: CH_ENOTFOUND
 * when none; CH_ECONFLICT when it went to another conversation. */
ch_err_t ch__chat_find_sent(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t sender, const ch_chat_send_t *in,
                            json_t **out, ch_fault_t *f);

#endif
