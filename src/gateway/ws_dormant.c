/* Dormant WebSocket connections: an idle connection gives its wslay context back.
 *
 * Measured with heaptrack (docs/benchmarks.md, "Gateway"): of an idle connection's heap, about
 * 8.2 kB of 9 kB is libwslay's context (its event context with a 4 kB output buffer, its frame
 * reader with a 4 kB input buffer), allocated by h2o_upgrade_to_websocket for the connection's
 * whole life. When nothing is in flight — no frame half read, no fragmented message open, no
 * output queued or being written, no close begun — the context holds no state that matters,
 * so it is freed and the connection is "dormant"; the next frame in either direction makes a
 * fresh one (ch__ws_wake).
 *
 * Reads: h2o's WebSocket read callback (static in h2o's websocket.c) runs wslay on the
 * context, so a dormant socket's read callback is ours: it wakes the connection, puts h2o's
 * back and calls it. "No frame half read" is known by counting: the bytes h2o handed to
 * wslay (its recv callback, wrapped) against the bytes of the frames wslay finished (frame
 * start/end callbacks; a client frame is masked, so its header is 6, 8 or 14 bytes).
 * Everything here runs on the connection's loop thread. */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/metrics.h"
#include "gateway/gw_internal.h"

static _Atomic long ch__ws_dormant_count;
static atomic_int ch__ws_renderer_added;
/* h2o's own callbacks (static functions of libh2o: the same for every connection) */
static _Thread_local wslay_event_recv_callback ch__ws_h2o_recv;
static _Thread_local h2o_socket_cb ch__ws_h2o_on_read;

static void ch__ws_render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_gateway_dormant_connections WebSocket connections idle without their "
                  "wslay context (about 8 kB each saved).\n"
                  "# TYPE chorus_gateway_dormant_connections gauge\n"
                  "chorus_gateway_dormant_connections %ld\n",
                  atomic_load(&ch__ws_dormant_count));
}

static ssize_t ch__ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user_data)
{
    h2o_websocket_conn_t *ws = user_data;
    ssize_t n = ch__ws_h2o_recv(ctx, buf, len, flags, user_data);
    if (n > 0)
        ch__gw_conn_rx(ws->data)->fed += (uint64_t)n;
    return n;
}

static void ch__ws_frame_start(wslay_event_context_ptr ctx, const struct wslay_event_on_frame_recv_start_arg *arg,
                               void *user_data)
{
    (void)ctx;
    h2o_websocket_conn_t *ws = user_data;
    ch__ws_rx_t *rx = ch__gw_conn_rx(ws->data);
    uint64_t n = arg->payload_length;
    rx->frame_bytes = 2 + 4 + (n > 65535 ? 8 : n > 125 ? 2 : 0) + n;
    if (!(arg->opcode & 0x8)) /* a data frame (or continuation): a message is open until its fin */
        rx->frag_open = !arg->fin;
}

static void ch__ws_frame_end(wslay_event_context_ptr ctx, void *user_data)
{
    (void)ctx;
    h2o_websocket_conn_t *ws = user_data;
    ch__ws_rx_t *rx = ch__gw_conn_rx(ws->data);
    rx->framed += rx->frame_bytes;
    rx->frame_bytes = 0;
}

void ch__ws_dormant_setup(h2o_websocket_conn_t *ws, size_t max_msg)
{
    if (!atomic_exchange(&ch__ws_renderer_added, 1))
        ch_metrics_add_renderer(ch__ws_render, NULL);
    ch__ws_h2o_recv = ws->ws_callbacks.recv_callback;
    ws->ws_callbacks.recv_callback = ch__ws_recv;
    ws->ws_callbacks.on_frame_recv_start_callback = ch__ws_frame_start;
    ws->ws_callbacks.on_frame_recv_end_callback = ch__ws_frame_end;
    wslay_event_config_set_callbacks(ws->ws_ctx, &ws->ws_callbacks);
    wslay_event_config_set_max_recv_msg_length(ws->ws_ctx, max_msg);
}

static void ch__ws_on_dormant_read(h2o_socket_t *sock, const char *err)
{
    h2o_websocket_conn_t *ws = sock->data;
    h2o_socket_cb h2o_read = ch__ws_h2o_on_read;
    if (ch__ws_wake(ws, ch__gw_conn_rx(ws->data)->max_msg) != 0 && !err)
        err = "out of memory";
    sock->_cb.read = h2o_read;
    h2o_read(sock, err); /* err: h2o reports the close (a NULL message) */
}

int ch__ws_sleep(h2o_websocket_conn_t *ws)
{
    h2o_socket_t *sock = ws->sock;
    ch__ws_rx_t *rx = ch__gw_conn_rx(ws->data);
    wslay_event_context_ptr ctx = ws->ws_ctx;
    if (!ctx || !sock || rx->fed != rx->framed || rx->frame_bytes || rx->frag_open || sock->input->size ||
        !h2o_socket_is_reading(sock) || h2o_socket_is_writing(sock) || wslay_event_want_write(ctx) ||
        wslay_event_get_queued_msg_count(ctx) || !wslay_event_get_read_enabled(ctx) ||
        !wslay_event_get_write_enabled(ctx))
        return 0;
    ch__ws_h2o_on_read = sock->_cb.read;
    sock->_cb.read = ch__ws_on_dormant_read;
    wslay_event_context_free(ctx);
    ws->ws_ctx = NULL;
    free(ws->_write_buf); /* the last frame written (h2o reallocates it per write) */
    ws->_write_buf = NULL;
    atomic_fetch_add(&ch__ws_dormant_count, 1);
    return 1;
}

int ch__ws_wake(h2o_websocket_conn_t *ws, size_t max_msg)
{
    if (ws->ws_ctx)
        return 0;
    if (wslay_event_context_server_init(&ws->ws_ctx, &ws->ws_callbacks, ws) != 0) {
        ws->ws_ctx = NULL;
        return -1;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ws_ctx, max_msg);
    if (ws->sock && ws->sock->_cb.read == ch__ws_on_dormant_read)
        ws->sock->_cb.read = ch__ws_h2o_on_read;
    atomic_fetch_sub(&ch__ws_dormant_count, 1);
    return 0;
}

void ch__ws_dormant_forget(h2o_websocket_conn_t *ws)
{
    if (ws && !ws->ws_ctx)
        atomic_fetch_sub(&ch__ws_dormant_count, 1);
}
