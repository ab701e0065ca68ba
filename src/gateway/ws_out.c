/* A gateway connection's output, gathered per round (issue 13, docs/benchmarks.md "Gateway").
 * h2o 2.2.5's own wslay send callback writes every piece wslay hands it — a frame's header,
 * then its payload — as its own socket write, and refuses the next piece until that write's
 * callback ran in a later loop round: two write(2) calls and two loop rounds per frame. This
 * callback takes every piece while no write is in flight and writes them at once when wslay
 * hands the last piece it has (the end of a frame with no other message queued), when the
 * batch would pass CH_WS_WRITE_BATCH_BYTES, and from the loop's flush (ch__ws_out_flush) as a
 * backstop. While a write is in flight, wslay keeps its messages queued (WOULDBLOCK), so the
 * output bound (wslay's queue plus what is gathered here) still holds. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/metrics.h"
#include "gateway/gw_internal.h"

static atomic_int ch__ws_out_renderer_added;
static atomic_ullong ch__ws_out_frames, ch__ws_out_writes;

static void ch__ws_out_render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_gateway_ws_frames_sent_total WebSocket frames the gateway handed to its sockets.\n"
                  "# TYPE chorus_gateway_ws_frames_sent_total counter\n"
                  "chorus_gateway_ws_frames_sent_total %llu\n"
                  "# HELP chorus_gateway_ws_writes_total Socket writes that carried them (frames gathered per round).\n"
                  "# TYPE chorus_gateway_ws_writes_total counter\n"
                  "chorus_gateway_ws_writes_total %llu\n",
                  (unsigned long long)atomic_load(&ch__ws_out_frames),
                  (unsigned long long)atomic_load(&ch__ws_out_writes));
}

static void ch__ws_out_written(h2o_socket_t *sock, const char *err)
{
    h2o_websocket_conn_t *ws = sock->data;
    ch__ws_out_t *o = ch__gw_conn_out(ws->data);
    free(o->inflight);
    o->inflight = NULL;
    o->inflight_len = 0;
    if (err) {
        ws->cb(ws, NULL); /* what h2o's own write callback does on an error */
        return;
    }
    h2o_websocket_proceed(ws); /* wslay's queued messages, gathered, and written at their end */
}

int ch__ws_out_flush(h2o_websocket_conn_t *ws)
{
    ch__ws_out_t *o = ch__gw_conn_out(ws->data);
    if (!o->len || !ws->sock || h2o_socket_is_writing(ws->sock))
        return 0;
    o->inflight = o->buf;
    o->inflight_len = o->len;
    o->buf = NULL;
    o->len = o->cap = 0;
    atomic_fetch_add_explicit(&ch__ws_out_writes, 1, memory_order_relaxed);
    h2o_iovec_t v = h2o_iovec_init(o->inflight, o->inflight_len);
    h2o_socket_write(ws->sock, &v, 1, ch__ws_out_written);
    return 1;
}

static ssize_t ch__ws_out_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                               void *user_data)
{
    h2o_websocket_conn_t *ws = user_data;
    ch__ws_out_t *o = ch__gw_conn_out(ws->data);
    if (!h2o_socket_is_writing(ws->sock) && o->len && o->len + len > CH_WS_WRITE_BATCH_BYTES)
        ch__ws_out_flush(ws); /* a full batch: this piece waits for its end */
    if (h2o_socket_is_writing(ws->sock)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 512;
        while (cap < o->len + len)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            wslay_event_set_error(ctx, WSLAY_ERR_NOMEM);
            return -1;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, data, len);
    o->len += len;
    if (!o->in_frame) /* a frame's header (server frames: FIN and opcode first) */
        o->closing = (data[0] & 0x0f) == WSLAY_CONNECTION_CLOSE;
    o->in_frame = (flags & WSLAY_MSG_MORE) != 0;
    if (o->in_frame)
        return (ssize_t)len;
    atomic_fetch_add_explicit(&ch__ws_out_frames, 1, memory_order_relaxed);
    /* the end of a frame, and wslay counts it as its last message (the count drops after);
     * a close frame at once (wslay stops writing after it, and h2o may close the socket when
     * nothing is being written, even with data messages still queued behind it) */
    if (o->closing || wslay_event_get_queued_msg_count(ctx) <= 1)
        ch__ws_out_flush(ws);
    return (ssize_t)len;
}

void ch__ws_out_setup(h2o_websocket_conn_t *ws)
{
    if (!atomic_exchange(&ch__ws_out_renderer_added, 1))
        ch_metrics_add_renderer(ch__ws_out_render, NULL);
    ws->ws_callbacks.send_callback = ch__ws_out_send;
    if (ws->ws_ctx) /* a dormant ws (no context) gets it with its next context */
        wslay_event_config_set_callbacks(ws->ws_ctx, &ws->ws_callbacks);
}

size_t ch__ws_out_pending(const ch__ws_out_t *o)
{
    return o->len + o->inflight_len;
}

void ch__ws_out_clear(ch__ws_out_t *o)
{
    free(o->buf);
    free(o->inflight);
    *o = (ch__ws_out_t){0};
}
