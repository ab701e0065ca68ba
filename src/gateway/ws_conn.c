/* One gateway connection: the {op, ref, d} protocol over h2o's WebSocket (libwslay) API.
 * h2o runs wslay inside h2o_websocket_proceed and calls ch__ws_on_msg from there; a
 * connection is therefore never freed from inside that callback: it queues a close frame
 * instead, and h2o reports the end with a NULL message, where everything is freed.
 * Frames for the client queue in wslay (copied); their bytes are the output bound.
 * Heartbeats are WebSocket pings (the per-loop ticker); any frame from the client, pongs
 * included, counts as life. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "gateway/gw_internal.h"
#include "gateway/ws_op.h"
#include "http/admission.h"
#include "store/db.h"
#include "svc/common/ratelimit.h"

#define CH_WS_FRAME_MAX (64 * 1024)      /* bigger client frames get an error, the connection stays */
#define CH_WS_FRAME_HARD_MAX (80 * 1024) /* bigger ones close it (1009, wslay): the frame limit and slack */
#define CH_WS_REF_MAX 128                /* characters of a client's ref */
#define CH_WS_ABUSE_MAX 10               /* bad frames in CH_WS_ABUSE_WINDOW_MS before a 1008 close */
#define CH_WS_ABUSE_WINDOW_MS 10000
#define CH_WS_OPS_QUEUED_MAX 32          /* ops of one connection waiting or running at once */

enum {
    CH_WS_CLOSE_GOING_AWAY = 1001,
    CH_WS_CLOSE_POLICY = 1008,
    CH_WS_CLOSE_HEARTBEAT = 4000,
    CH_WS_CLOSE_SLOW = 4008,
};

struct ch__gw_conn {
    ch__gw_loop_t *l;
    h2o_websocket_conn_t *ws; /* NULL once closed */
    uint64_t user_id, session_id, conn_id;
    ch__gw_link_t loop_link, user_link, flush_link, sleep_link; /* O(1) unlink (gw_internal.h) */
    int closing, idle, registered;
    ch__ws_rx_t rx; /* what wslay read (ws_dormant.c: when its context may go) */
    ch__ws_out_t out; /* frames gathered for one write (ws_out.c) */
    ch__ws_order_t *order; /* chat messages' seq order (ws_order.c); NULL until a message.new */
    int refs; /* the socket's, and one per op on a worker thread */
    unsigned queued, bad; /* queued: ops in the connection's FIFO, the running one included */
    int running;          /* an op of the FIFO is on a worker thread */
    unsigned inflight;    /* CH_WS_OP_LOCAL ops handed to another thread, not answered yet:
                             consecutive ones pipeline (their answers come back in order) */
    struct ch__ws_job *q_head, *q_tail; /* ops waiting for the running one, in arrival order */
    int64_t last_recv_ms, last_ping_ms, close_deadline_ms, bad_since_ms;
    int64_t expires_at_s; /* the access token's exp: closed with 4001 once it passes */
};

uint64_t ch__gw_conn_user(const ch__gw_conn_t *c)
{
    return c->user_id;
}

uint64_t ch__gw_conn_session(const ch__gw_conn_t *c)
{
    return c->session_id;
}

ch__ws_out_t *ch__gw_conn_out(ch__gw_conn_t *c)
{
    return &c->out;
}

ch__ws_order_t **ch__gw_conn_order(ch__gw_conn_t *c)
{
    return &c->order;
}

ch__ws_rx_t *ch__gw_conn_rx(ch__gw_conn_t *c)
{
    return &c->rx;
}

void ch__gw_conn_heard(ch__gw_conn_t *c)
{
    c->last_recv_ms = ch_mono_ms();
}

ch__gw_link_t *ch__gw_conn_loop_link(ch__gw_conn_t *c)
{
    return &c->loop_link;
}

ch__gw_link_t *ch__gw_conn_user_link(ch__gw_conn_t *c)
{
    return &c->user_link;
}

static ch__gw_link_t *ch__ws_flush_link(ch__gw_conn_t *c)
{
    return &c->flush_link;
}

static ch__gw_link_t *ch__ws_sleep_link(ch__gw_conn_t *c)
{
    return &c->sleep_link;
}

/* The connection running an inline op on this thread (ch_gateway_set_idle). */
static _Thread_local ch__gw_conn_t *ch__ws_current;

static void ch__ws_unref(ch__gw_conn_t *c)
{
    if (--c->refs == 0) {
        ch__ws_out_clear(&c->out);
        ch__ws_order_free(c->order);
        free(c);
    }
}

/* ---- output ------------------------------------------------------------------------------ */

/* ---- dormancy (ws_dormant.c) ----------------------------------------------------------------- */

/* Connections that had traffic since the loop's last check round, per loop: the round
 * (ch__gw_sleep_round, a uv_check after the loop's I/O callbacks) frees the wslay context
 * of those with nothing in flight. */
static _Thread_local ch__gw_conn_t *ch__ws_sleep_head;

static void ch__ws_want_sleep(ch__gw_conn_t *c)
{
    if (c->sleep_link.pprev || !c->ws)
        return;
    ch__gw_link_push(&ch__ws_sleep_head, c, ch__ws_sleep_link);
}

/* O(1): a closing connection leaves the round without a walk of it. */
static void ch__ws_sleep_forget(ch__gw_conn_t *c)
{
    ch__gw_link_remove(c, ch__ws_sleep_link);
}

/* A fresh wslay context for a dormant c before any wslay call; 0, or -1 (out of memory). */
static int ch__ws_awake(ch__gw_conn_t *c)
{
    return ch__ws_wake(c->ws, c->rx.max_msg);
}

/* h2o_websocket_close, counting a dormant connection out. */
static void ch__ws_close_socket(h2o_websocket_conn_t *ws)
{
    ch__ws_dormant_forget(ws);
    h2o_websocket_close(ws);
}

/** Loop thread, outside h2o's callbacks (a uv_check round): connections with traffic since
 * the last round give their wslay context back when nothing is in flight. Those whose
 * upgrade has not completed or whose output is still being written stay listed. */
void ch__gw_sleep_round(void);
void ch__gw_sleep_round(void)
{
    /* this round's list, taken whole: those still busy go back on the loop's list */
    ch__gw_conn_t *round = ch__ws_sleep_head;
    ch__ws_sleep_head = NULL;
    if (round)
        round->sleep_link.pprev = &round; /* the first one's slot is now the local head */
    while (round) {
        ch__gw_conn_t *c = round;
        ch__gw_link_remove(c, ch__ws_sleep_link);
        h2o_websocket_conn_t *ws = c->ws;
        int busy;
        if (ws && ws->sock)
            ch__ws_out_flush(ws); /* what a proceed of h2o's own gathered and did not write */
        if (!ws || c->closing)
            busy = 0;
        else if (!ws->sock || c->flush_link.pprev)
            busy = 1; /* the upgrade or a flush is still to come */
        else if (c->queued)
            busy = 1; /* answers are on their way (a sender's pipelined messages): a context freed
                         now would be made again (8 kB calloc) for them a moment later */
        else if (!ws->ws_ctx || ch__ws_sleep(ws))
            busy = 0;
        else /* being written: the round after the write's end tries again */
            busy = h2o_socket_is_writing(ws->sock) || wslay_event_want_write(ws->ws_ctx);
        if (busy && !c->sleep_link.pprev) /* (listed again meanwhile: once is enough) */
            ch__gw_link_push(&ch__ws_sleep_head, c, ch__ws_sleep_link);
    }
}

/* ---- output ------------------------------------------------------------------------------ */

/* Connections with frames queued since their last h2o_websocket_proceed, per loop. */
static _Thread_local ch__gw_conn_t *ch__ws_flush_head;

static void ch__ws_want_flush(ch__gw_conn_t *c)
{
    if (c->flush_link.pprev || !c->ws)
        return;
    ch__ws_want_sleep(c); /* once written */
    ch__gw_link_push(&ch__ws_flush_head, c, ch__ws_flush_link);
}

/* O(1), as ch__ws_sleep_forget. */
static void ch__ws_flush_forget(ch__gw_conn_t *c)
{
    ch__gw_link_remove(c, ch__ws_flush_link);
}

/** Writes what the connections queued (loop thread, outside any h2o callback of theirs). A
 * proceed may end a connection: it is taken off the list before. */
void ch__gw_flush(void);
void ch__gw_flush(void)
{
    while (ch__ws_flush_head) {
        ch__gw_conn_t *c = ch__ws_flush_head;
        ch__gw_link_remove(c, ch__ws_flush_link);
        if (c->ws && c->ws->sock && c->ws->ws_ctx) {
            c->refs++;
            h2o_websocket_proceed(c->ws); /* may free c's socket state (ch__ws_on_msg NULL) */
            if (c->ws && c->ws->sock)
                ch__ws_out_flush(c->ws);
            ch__ws_unref(c);
        }
    }
}

void ch__gw_conn_close(ch__gw_conn_t *c, uint16_t code, const char *reason)
{
    if (!c->ws || c->closing)
        return;
    if (ch__ws_awake(c) != 0)
        return;
    c->closing = 1;
    c->close_deadline_ms = ch_mono_ms() + c->l->gw->svc->cfg->ws_close_grace_ms;
    wslay_event_queue_close(c->ws->ws_ctx, code, (const uint8_t *)reason, strlen(reason));
    ch__ws_want_flush(c);
}

void ch__gw_conn_send(ch__gw_conn_t *c, const char *data, size_t len)
{
    if (!c->ws || c->closing)
        return;
    /* dormant with nothing queued: written as it is, no wslay context (ws_dormant.c) */
    if (ch__ws_dormant_send(c->ws, data, len, c->l->gw->svc->cfg->ws_output_max))
        return;
    if (ch__ws_awake(c) != 0)
        return;
    size_t queued = wslay_event_get_queued_msg_length(c->ws->ws_ctx) + ch__ws_out_pending(&c->out);
    if (queued + len > c->l->gw->svc->cfg->ws_output_max) {
        ch_log_warn("gateway: connection %llu of user %llu reads too slowly (%zu bytes queued); closing it with 4008",
                    (unsigned long long)c->conn_id, (unsigned long long)c->user_id, queued);
        ch__gw_conn_close(c, CH_WS_CLOSE_SLOW, "slow consumer: output bound passed");
        return;
    }
    struct wslay_event_msg m = {.opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)data, .msg_length = len};
    if (wslay_event_queue_msg(c->ws->ws_ctx, &m) != 0)
        return; /* closing (wslay refuses once a close was queued) */
    ch__ws_want_flush(c);
}

static void ch__ws_send_json(ch__gw_conn_t *c, json_t *frame)
{
    char *text = json_dumps(frame, JSON_COMPACT);
    json_decref(frame);
    if (text)
        ch__gw_conn_send(c, text, strlen(text));
    free(text);
}

/* {"op":"error","ref"?,"d":{"code","detail"}} */
static void ch__ws_send_error(ch__gw_conn_t *c, const char *ref, ch_err_t err, const char *detail)
{
    json_t *f = json_pack("{s:s, s:{s:s, s:s}}", "op", "error", "d", "code", ch_err_code(err), "detail",
                          detail && *detail ? detail : ch_err_title(err));
    if (ref)
        json_object_set_new(f, "ref", json_string(ref));
    ch__ws_send_json(c, f);
}

/* A bad frame: its error, and a 1008 close when they keep coming. */
static void ch__ws_bad(ch__gw_conn_t *c, const char *ref, ch_err_t err, const char *detail)
{
    int64_t now = ch_mono_ms();
    if (now - c->bad_since_ms > CH_WS_ABUSE_WINDOW_MS) {
        c->bad_since_ms = now;
        c->bad = 0;
    }
    ch__ws_send_error(c, ref, err, detail);
    if (++c->bad > CH_WS_ABUSE_MAX)
        ch__gw_conn_close(c, CH_WS_CLOSE_POLICY, "too many bad frames");
}

/* ---- ops ---------------------------------------------------------------------------------- */

typedef struct ch__ws_job {
    uv_work_t work;
    struct ch__ws_job *next; /* the connection's FIFO */
    ch__gw_conn_t *c;
    const ch_ws_op_t *op;
    char *ref;
    json_t *msg; /* the frame; call.d points into it */
    ch_ws_call_t call;
    ch_err_t err;
    int64_t deadline_ms; /* ch_mono_ms time (CHORUS_REQUEST_TIMEOUT from the frame's arrival) */
    /* a deferred op: 2 at ch_ws_call_defer; the worker's done callback and ch_ws_call_resume
     * each take one, the last one answers (on the loop) */
    atomic_int pending;
    int pipelined; /* a CH_WS_OP_LOCAL op counted in c->inflight */
    int ready;     /* answered on the loop while earlier pipelined ops were unanswered: kept at
                      the FIFO's head until their answers went (acks in order) */
} ch__ws_job_t;

/* 1 when ref is written as it is inside a JSON string (printable ASCII, no quote or
 * backslash; most refs are), 0 when it needs escaping. */
static int ch__ws_ref_plain(const char *ref)
{
    for (const unsigned char *p = (const unsigned char *)ref; *p; p++)
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
            return 0;
    return 1;
}

/* {"op":"ack","ref":ref,"d":<d>} with d already rendered (the message's text, shared with
 * its message.new): no JSON tree built or dumped. 0 when ref needs escaping (the caller
 * renders it the usual way). */
static int ch__ws_send_ack_text(ch__gw_conn_t *c, const char *ref, const char *d, size_t dlen)
{
    if (!ch__ws_ref_plain(ref))
        return 0;
    size_t rlen = strlen(ref), at = 0;
    char *f = ch_malloc(sizeof("{\"op\":\"ack\",\"ref\":\"\",\"d\":}") + rlen + dlen);
    memcpy(f + at, "{\"op\":\"ack\",\"ref\":\"", 19), at += 19;
    memcpy(f + at, ref, rlen), at += rlen;
    memcpy(f + at, "\",\"d\":", 6), at += 6;
    memcpy(f + at, d, dlen), at += dlen;
    f[at++] = '}';
    ch__gw_conn_send(c, f, at);
    free(f);
    return 1;
}

static void ch__ws_answer(ch__gw_conn_t *c, const char *ref, ch_ws_call_t *call, ch_err_t err)
{
    if (err != CH_OK) {
        if (err == CH_EINTERNAL)
            ch_log_error("gateway op %s: internal error: %s", call->op, call->fault.detail);
        ch__ws_send_error(c, ref, err, call->fault.detail);
    } else if (ref && call->ack_text &&
               ch__ws_send_ack_text(c, ref, call->ack_text + call->ack_off, call->ack_len)) {
        /* sent from the text */
    } else if (ref && call->ack_text) { /* a ref to escape: the tree again, from the text */
        json_t *d = json_loadb(call->ack_text + call->ack_off, call->ack_len, 0, NULL);
        json_t *f = json_pack("{s:s, s:s, s:o}", "op", "ack", "ref", ref, "d", d ? d : json_object());
        ch__ws_send_json(c, f);
    } else if (ref) {
        json_t *f = json_pack("{s:s, s:s, s:o}", "op", "ack", "ref", ref, "d",
                              call->ack ? json_incref(call->ack) : json_object());
        ch__ws_send_json(c, f);
    }
    json_decref(call->ack);
    call->ack = NULL;
    free(call->ack_text);
    call->ack_text = NULL;
}

/* Worker thread: as an HTTP write (http/dispatch.c), an op that waited past its deadline
 * does not run, the rest is charged to the user's write limit (CHORUS_RATE_LIMIT_USER) and
 * runs under the deadline. */
static void ch__ws_job_exec(ch__ws_job_t *j);

static void ch__ws_job_run(uv_work_t *w)
{
    ch__ws_job_t *j = w->data;
    ch_admission_dequeue();
    ch__ws_job_exec(j);
}

/* The op under its deadline and the user's write limit (a worker thread, or the loop for a
 * CH_WS_OP_LOCAL op with local backends). */
static void ch__ws_job_exec(ch__ws_job_t *j)
{
    if (ch_mono_ms() >= j->deadline_ms) {
        ch_admission_count(CH_ADMIT_EXPIRED);
        j->err = ch_fault(&j->call.fault, CH_EUNAVAILABLE, NULL,
                          "the op waited for a worker thread past its deadline (CHORUS_REQUEST_TIMEOUT); retry");
        return;
    }
    ch_svc_t *svc = j->call.svc;
    char who[CH_ID_STR_LEN];
    j->err = j->op->flags & CH_WS_OP_OWN_LIMIT
                 ? CH_OK
                 : ch_ratelimit_hit(svc, "u", ch_id_format(j->call.user_id, who), svc->cfg->rate_limit_user,
                                    svc->cfg->rate_limit_window_ms,
                                    &j->call.fault);
    if (j->err != CH_OK)
        return;
    ch_db_deadline_set(j->deadline_ms);
    ch_err_t err = j->op->handler(&j->call);
    if (!j->call.deferred) /* deferred: ch_ws_call_resume sets it, maybe already did */
        j->err = err;
    ch_db_deadline_set(0);
}

static void ch__ws_job_free(ch__ws_job_t *j)
{
    free(j->call.ack_text);
    json_decref(j->call.ack);
    json_decref(j->msg);
    free(j->ref);
    free(j);
}

static void ch__ws_job_done(uv_work_t *w, int status);
static void ch__ws_job_finish(ch__ws_job_t *j, int flush);
static void ch__ws_resumed_post(ch__ws_job_t *j);

/* Runs the connection's FIFO: one op at a time, in the order the frames came, so that m1
 * sent before m2 (without waiting for its ack) is stored and acked before it. Inline ops
 * behind a worker op wait their turn too (their acks stay in order); they run here on the
 * loop. Stops at the first op handed to a worker; ch__ws_job_done continues. */
static void ch__ws_next(ch__gw_conn_t *c)
{
    while (!c->running && c->q_head && c->ws) {
        ch__ws_job_t *j = c->q_head;
        int local = (j->op->flags & CH_WS_OP_LOCAL) && c->l->gw->svc->local_backends;
        if (j->ready) {
            if (c->inflight)
                return; /* its answer goes after theirs: ch__ws_job_finish comes back here */
            c->q_head = j->next;
            if (!c->q_head)
                c->q_tail = NULL;
            c->queued--;
            ch__ws_answer(c, j->ref, &j->call, j->err);
            ch__ws_job_free(j);
            continue;
        }
        if (c->inflight && !local)
            return; /* after the pipelined ops' answers: ch__ws_job_finish comes back here */
        c->q_head = j->next;
        if (!c->q_head)
            c->q_tail = NULL;
        if (j->op->flags & CH_WS_OP_INLINE) {
            c->queued--;
            ch__ws_current = c;
            ch_err_t err = j->op->handler(&j->call);
            ch__ws_current = NULL;
            ch__ws_answer(c, j->ref, &j->call, err);
            ch__ws_job_free(j);
            continue;
        }
        if (local) {
            j->deadline_ms = ch_mono_ms() + c->l->gw->svc->cfg->request_timeout_ms;
            j->call.on_loop = 1;
            ch__ws_job_exec(j);
            if (j->call.deferred) {
                /* handed over (the chat writer, a FIFO): the next op may go too, the answers
                 * come back in the order the ops went */
                j->pipelined = 1;
                c->inflight++;
                c->refs++;
                ch__gw_loop_job_add(c->l);
                if (atomic_fetch_sub(&j->pending, 1) == 1)
                    ch__ws_resumed_post(j); /* answered already: behind the earlier answers */
                continue;
            }
            if (c->inflight) { /* refused on the loop behind pipelined sends: after their acks */
                j->ready = 1;
                j->next = c->q_head;
                c->q_head = j;
                if (!c->q_tail)
                    c->q_tail = j;
                return;
            }
            c->queued--;
            ch__ws_answer(c, j->ref, &j->call, j->err);
            ch__ws_job_free(j);
            continue;
        }
        /* the bound on work waiting for a worker thread, shared with HTTP (CHORUS_QUEUE_MAX) */
        if (!ch_admission_enqueue(c->l->gw->svc->cfg->queue_max, 0)) {
            c->queued--;
            ch__ws_send_error(c, j->ref, CH_EOVERLOADED,
                              "too many requests are waiting for a worker thread (CHORUS_QUEUE_MAX); retry later");
            ch__ws_job_free(j);
            continue;
        }
        j->deadline_ms = ch_mono_ms() + c->l->gw->svc->cfg->request_timeout_ms;
        c->running = 1;
        c->refs++;
        ch__gw_loop_job_add(c->l);
        uv_queue_work(c->l->ctx->loop, &j->work, ch__ws_job_run, ch__ws_job_done);
    }
}

/* Frees the ops still waiting in c's FIFO (the socket is gone). */
static void ch__ws_queue_drop(ch__gw_conn_t *c)
{
    for (ch__ws_job_t *j = c->q_head, *next; j; j = next) {
        next = j->next;
        ch__ws_job_free(j);
        c->queued--;
    }
    c->q_head = c->q_tail = NULL;
}

void ch_ws_call_defer(ch_ws_call_t *call)
{
    ch__ws_job_t *j = call->priv;
    call->deferred = 1;
    atomic_store(&j->pending, 2);
}

void ch_ws_call_resume(ch_ws_call_t *call, ch_err_t err)
{
    ch__ws_job_t *j = call->priv;
    j->err = err;
    if (atomic_fetch_sub(&j->pending, 1) != 1)
        return; /* the worker's done callback has not run yet: it answers */
    ch__ws_resumed_post(j);
}

/* Queues the answer of a resumed op for its loop (any thread), behind those queued before. */
static void ch__ws_resumed_post(ch__ws_job_t *j)
{
    ch__gw_loop_t *l = j->c->l;
    ch_gateway_t *gw = l->gw;
    pthread_mutex_lock(&gw->loops_mu);
    int live = l->index < CH_GW_MAX_LOOPS && gw->loops[l->index] == l;
    if (live) {
        j->next = NULL;
        if (l->resumed_tail)
            l->resumed_tail->next = j;
        else
            l->resumed = j;
        l->resumed_tail = j;
        uv_async_send(&l->wake);
    }
    pthread_mutex_unlock(&gw->loops_mu);
    if (!live) /* the loop ended (a forced exit): nobody to answer; its connection is dead */
        ch__ws_job_free(j);
}

void ch__gw_resumed_run(ch__gw_loop_t *l)
{
    pthread_mutex_lock(&l->gw->loops_mu);
    ch__ws_job_t *j = l->resumed;
    l->resumed = l->resumed_tail = NULL;
    pthread_mutex_unlock(&l->gw->loops_mu);
    /* no flush per answer: the wake's caller flushes once, so that the answers and events of
     * one wake-up (a batch's acks, their message.new echoes) leave in one write per connection */
    while (j) {
        ch__ws_job_t *next = j->next;
        ch__ws_job_finish(j, 0);
        j = next;
    }
}

static void ch__ws_job_done(uv_work_t *w, int status)
{
    (void)status;
    ch__ws_job_t *j = w->data;
    if (j->call.deferred && atomic_fetch_sub(&j->pending, 1) != 1)
        return; /* answered by ch_ws_call_resume, through the loop's wake */
    ch__ws_job_finish(j, 1);
}

/* Loop thread: the op's answer, then the connection's next op; flush: write what is queued
 * now (a worker's done callback), else the caller does once for many answers. */
static void ch__ws_job_finish(ch__ws_job_t *j, int flush)
{
    ch__gw_conn_t *c = j->c;
    c->queued--;
    if (j->pipelined)
        c->inflight--;
    else
        c->running = 0;
    if (c->ws)
        ch__ws_answer(c, j->ref, &j->call, j->err);
    ch__ws_job_free(j);
    ch__ws_next(c);
    ch__gw_loop_t *l = c->l;
    ch__ws_unref(c);
    if (flush)
        ch__gw_flush();
    ch__gw_loop_job_done(l);
}

static void ch__ws_on_text(ch__gw_conn_t *c, const uint8_t *data, size_t len)
{
    if (len > CH_WS_FRAME_MAX) {
        ch__ws_bad(c, NULL, CH_ETOOLARGE, "frames are at most 65536 bytes");
        return;
    }
    json_error_t jerr;
    json_t *msg = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg) {
        char detail[200];
        snprintf(detail, sizeof(detail), "the frame is not valid JSON: %s", jerr.text);
        ch__ws_bad(c, NULL, CH_EMALFORMED, detail);
        return;
    }
    json_t *jref = json_object_get(msg, "ref"), *jop = json_object_get(msg, "op"), *d = json_object_get(msg, "d");
    const char *ref = json_is_string(jref) && json_string_length(jref) >= 1 &&
                              json_string_length(jref) <= CH_WS_REF_MAX ? json_string_value(jref) : NULL;
    if (!json_is_object(msg) || !json_is_string(jop) || (jref && !ref) || (d && !json_is_object(d))) {
        ch__ws_bad(c, ref, CH_EBADREQ,
                   "a frame is a JSON object {\"op\": string, \"ref\"?: string of 1-128 characters, \"d\"?: object}");
        json_decref(msg);
        return;
    }
    const ch_ws_op_t *op = ch_ws_op_find(json_string_value(jop));
    if (!op) {
        char detail[200];
        snprintf(detail, sizeof(detail), "unknown op '%.100s'", json_string_value(jop));
        ch__ws_bad(c, ref, CH_EUNKNOWNOP, detail);
        json_decref(msg);
        return;
    }
    if (!d) {
        d = json_object();
        json_object_set_new(msg, "d", d);
    }
    ch_ws_call_t call = {.svc = c->l->gw->svc, .user_id = c->user_id, .session_id = c->session_id,
                         .conn_id = c->conn_id, .op = op->op, .d = d};
    if ((op->flags & CH_WS_OP_INLINE) && !c->running && !c->inflight && !c->q_head) {
        ch__ws_current = c;
        ch_err_t err = op->handler(&call);
        ch__ws_current = NULL;
        ch__ws_answer(c, ref, &call, err);
        json_decref(msg);
        return;
    }
    if (c->queued >= CH_WS_OPS_QUEUED_MAX) {
        ch__ws_send_error(c, ref, CH_EOVERLOADED, "too many ops of this connection are waiting; wait for their acks");
        json_decref(msg);
        return;
    }
    ch__ws_job_t *j = ch_calloc(1, sizeof(*j));
    j->work.data = j;
    j->c = c;
    j->op = op;
    j->ref = ref ? ch_strdup(ref) : NULL;
    j->msg = msg;
    j->call = call;
    j->call.priv = j;
    c->queued++;
    if (c->q_tail)
        c->q_tail->next = j;
    else
        c->q_head = j;
    c->q_tail = j;
    ch__ws_next(c);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

/* The socket is gone (h2o said so, or we dropped it): unregister, free what is ours. */
static void ch__ws_finish(ch__gw_conn_t *c)
{
    ch__ws_flush_forget(c);
    ch__ws_sleep_forget(c);
    ch__ws_queue_drop(c);
    if (c->registered) {
        ch__gw_unregister(c->l, c, c->idle);
        c->registered = 0;
        ch__gw_presence_changed(c->l, c->user_id);
    }
    c->ws = NULL;
    ch__ws_unref(c);
}

void ch__gw_conn_abandon(ch__gw_conn_t *c)
{
    ch__ws_flush_forget(c);
    ch__ws_sleep_forget(c);
    ch__ws_queue_drop(c);
    if (c->registered) {
        ch__gw_unregister(c->l, c, c->idle);
        c->registered = 0;
    }
    c->closing = 1;
    if (c->ws)
        ch__ws_close_socket(c->ws); /* the socket closes when the loop runs its last round */
    c->ws = NULL;
    ch__ws_unref(c); /* the socket's reference */
}

static void ch__ws_on_msg(h2o_websocket_conn_t *ws, const struct wslay_event_on_msg_recv_arg *arg)
{
    ch__gw_conn_t *c = ws->data;
    if (!arg) { /* closed: by the peer, an I/O error, or after our close frame */
        ch__ws_close_socket(ws);
        ch__ws_finish(c);
        return;
    }
    c->last_recv_ms = ch_mono_ms();
    ch__ws_want_sleep(c);
    if (c->closing)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME)
        ch__ws_on_text(c, arg->msg, arg->msg_length);
    else if (arg->opcode == WSLAY_BINARY_FRAME)
        ch__ws_bad(c, NULL, CH_EBADREQ, "frames are JSON text, not binary");
    /* pings are answered by wslay; pongs and close frames need nothing more */
}

void ch__gw_conn_tick(ch__gw_conn_t *c, int64_t now)
{
    if (!c->ws || !c->ws->sock)
        return;
    if (c->closing) {
        if (now >= c->close_deadline_ms) { /* the client never answered our close frame */
            ch__ws_close_socket(c->ws);
            ch__ws_finish(c);
        }
        return;
    }
    ch__ws_order_tick(c, now);
    if (c->expires_at_s && ch_now_ms() / 1000 >= c->expires_at_s) {
        ch__gw_conn_close(c, CH_GW_CLOSE_EXPIRED, "access token expired: reconnect with a fresh one");
        return;
    }
    int64_t hb = c->l->gw->svc->cfg->ws_heartbeat_ms;
    if (now - c->last_recv_ms > 2 * hb) {
        ch__gw_conn_close(c, CH_WS_CLOSE_HEARTBEAT, "heartbeat timeout: nothing heard for 2 intervals");
        return;
    }
    if (now - c->last_ping_ms >= hb) {
        c->last_ping_ms = now;
        if (ch__ws_dormant_ping(c->ws))
            return; /* written as it is: no wslay context for a heartbeat */
        struct wslay_event_msg m = {.opcode = WSLAY_PING, .msg = NULL, .msg_length = 0};
        if (ch__ws_awake(c) == 0 && wslay_event_queue_msg(c->ws->ws_ctx, &m) == 0)
            ch__ws_want_flush(c);
    }
}

void ch__gw_conn_start(ch__gw_loop_t *l, h2o_req_t *req, const char *client_key, uint64_t user_id,
                       uint64_t session_id, int64_t expires_at_s)
{
    ch__gw_conn_t *c = ch_calloc(1, sizeof(*c));
    c->l = l;
    c->expires_at_s = expires_at_s;
    c->user_id = user_id;
    c->session_id = session_id;
    c->conn_id = ch_id_next();
    c->refs = 1;
    c->last_recv_ms = c->last_ping_ms = ch_mono_ms();
    c->rx.max_msg = CH_WS_FRAME_HARD_MAX;
    char hello[160];
    int n = snprintf(hello, sizeof(hello), "{\"op\":\"hello\",\"d\":{\"session_id\":\"%llu\",\"heartbeat_ms\":%lld}}",
                     (unsigned long long)c->conn_id, (long long)l->gw->svc->cfg->ws_heartbeat_ms);
    /* the hello goes out with the 101, and the connection starts dormant (no wslay context) */
    c->ws = ch__ws_upgrade(req, client_key, c, ch__ws_on_msg, hello, (size_t)n);
    ch__gw_register(l, c);
    c->registered = 1;
    ch__gw_presence_changed(l, user_id);
}

int ch_gateway_set_idle(ch_gateway_t *gw, uint64_t user_id, uint64_t conn_id, int idle)
{
    ch__gw_conn_t *c = ch__ws_current;
    if (!c || c->conn_id != conn_id || c->user_id != user_id || c->idle == !!idle)
        return 0;
    c->idle = !!idle;
    int changed = ch__gw_count_idle(gw, user_id, idle ? 1 : -1);
    if (changed)
        ch__gw_presence_changed(c->l, user_id);
    return changed;
}
