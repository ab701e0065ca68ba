/* The gateway's client ops (brd/chat.md "Connection"): a client frame {"op","ref","d"} is
 * looked up by op in one table (ws_ops.c, each domain's rows in gateway/ws_ops_<domain>.def,
 * as http/routes.c), its handler is run, and the client gets {"op":"ack","ref","d"} or
 * {"op":"error","ref","d":{code,detail}}. Handlers never see h2o or WebSocket types, as HTTP
 * handlers never see h2o's: chat, call signalling and live chat plug in here. */
#ifndef CH_GATEWAY_WS_OP_H
#define CH_GATEWAY_WS_OP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

enum {
    /* answers from memory on the connection's event loop (typing, presence.set): no SQL,
     * no blocking kv call; without it the op runs on a worker thread */
    CH_WS_OP_INLINE = 1u << 0,
    /* runs on the loop when the backends are local (svc->local_backends: SQLite and the
     * in-process kv), charged to CHORUS_RATE_LIMIT_USER as on a worker: its handler then
     * only reads memory and hands the op to another thread (ch_ws_call_defer) — message.send
     * queued to the chat writer — saving the worker thread's round trip */
    CH_WS_OP_LOCAL = 1u << 1,
    /* not charged to CHORUS_RATE_LIMIT_USER: an ephemeral op with a throttle of its own
     * (typing: one event per user and conversation per 2 s), not a write */
    CH_WS_OP_OWN_LIMIT = 1u << 2,
};

/** One client op as its handler sees it; everything in it is safe to use on a worker thread. */
typedef struct {
    ch_svc_t *svc;
    uint64_t user_id;    /* the connection's authenticated user */
    uint64_t session_id; /* the access token's session (one per device login) */
    uint64_t conn_id;    /* this connection, unique in the process (hello's session_id) */
    const char *op;      /* borrowed */
    json_t *d;           /* the frame's "d" (an object, maybe empty); borrowed */
    /* ---- output ---- */
    json_t *ack; /* the ack's "d" (owned; NULL: {}); only when the op has a ref */
    char *ack_text; /* or the ack's "d" already rendered, used instead of ack: ack_len bytes at
                       ack_text + ack_off (a valid JSON object; ack_text malloc'd, owned) */
    size_t ack_off, ack_len;
    ch_fault_t fault; /* filled with the error returned */
    /* ---- plumbing (ws_conn.c) ---- */
    void *priv;
    int deferred; /* set by ch_ws_call_defer */
    int on_loop;  /* a CH_WS_OP_LOCAL op running on the loop */
} ch_ws_call_t;

/** Lets a worker-thread handler answer later, from another thread (the chat writer answers
 * message.send after its commit, without holding a worker thread). Call it right before
 * handing call to the thread that answers, then return CH_OK: nothing is sent, and the
 * connection's next op waits (acks stay in order), until ch_ws_call_resume. Not for
 * CH_WS_OP_INLINE ops. Implemented in ws_conn.c. */
void ch_ws_call_defer(ch_ws_call_t *call);
/** Answers a deferred op, from any thread, exactly once: err CH_OK with call->ack set (or
 * NULL), or an error with call->fault filled. call must not be touched afterwards: it is
 * answered on its connection's event loop. */
void ch_ws_call_resume(ch_ws_call_t *call, ch_err_t err);

/** An op handler: reads call, sets call->ack or returns an error with call->fault filled
 * (CH_EINVAL → code "invalid", CH_ENOTFOUND → "not_found", ... as err.h's problem codes). */
typedef ch_err_t (*ch_ws_op_fn)(ch_ws_call_t *call);

/** A client op: data, one table in ws_ops.c. */
typedef struct {
    const char *op; /* "message.send" */
    ch_ws_op_fn handler;
    unsigned flags; /* CH_WS_OP_* */
} ch_ws_op_t;

/** The op table and its size (ws_ops.c). */
extern const ch_ws_op_t ch_ws_ops[];
extern const size_t ch_ws_ops_count;

/** The row for op, or NULL when unknown. */
const ch_ws_op_t *ch_ws_op_find(const char *op);

#endif
