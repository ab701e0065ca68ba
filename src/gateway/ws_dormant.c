/* Dormant WebSocket connections: an idle connection holds no wslay context.
 *
 * Measured with heaptrack (docs/benchmarks.md, "Gateway"): libwslay's context is about 8.2 kB
 * (its event context with a 4 kB output buffer, its frame reader with a 4 kB input buffer).
 * When nothing is in flight — no frame half read, no fragmented message open, no output
 * queued or being written, no close begun — the context holds no state that matters, so it
 * is freed and the connection is "dormant"; the next frame in either direction makes a fresh
 * one (ch__ws_wake). A connection is born dormant (ws_upgrade.c writes the 101 and the hello
 * itself), and neither heartbeats nor events to it wake it: the server's ping (a constant
 * two-byte frame) and a text frame (its header built here, the payload copied once) are
 * written as they are when nothing else is queued or being written, and the client's pongs
 * are read here (complete masked pong frames only; anything else wakes the connection and
 * goes to wslay). A frame that finds a write in flight wakes the connection: wslay queues it
 * behind (its send callback answers WOULDBLOCK until the write's end), so order holds.
 *
 * Reads: the socket's read callback is ours while dormant (h2o_websocket_proceed installs
 * h2o's own whenever it runs, which needs a context). "No frame half read" is known by
 * counting: the bytes handed to wslay (our recv callback) against the bytes of the frames
 * wslay finished (frame start/end callbacks; a client frame is masked, so its header is 6, 8
 * or 14 bytes). Everything here runs on the connection's loop thread. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/metrics.h"
#include "gateway/gw_internal.h"

static _Atomic long ch__ws_dormant_count;
static atomic_ullong ch__ws_contexts_made, ch__ws_dormant_pings, ch__ws_dormant_pongs, ch__ws_dormant_frames;
static atomic_int ch__ws_renderer_added;

static void ch__ws_render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_gateway_dormant_connections WebSocket connections idle without their "
                  "wslay context (about 8 kB each saved).\n"
                  "# TYPE chorus_gateway_dormant_connections gauge\n"
                  "chorus_gateway_dormant_connections %ld\n"
                  "# HELP chorus_gateway_ws_contexts_total wslay contexts made for WebSocket connections "
                  "(one per wake of a dormant connection).\n"
                  "# TYPE chorus_gateway_ws_contexts_total counter\n"
                  "chorus_gateway_ws_contexts_total %llu\n"
                  "# HELP chorus_gateway_ws_dormant_frames_total Frames written (pings, text) and read "
                  "(pongs) while dormant: no wslay context made for them.\n"
                  "# TYPE chorus_gateway_ws_dormant_frames_total counter\n"
                  "chorus_gateway_ws_dormant_frames_total{frame=\"ping\"} %llu\n"
                  "chorus_gateway_ws_dormant_frames_total{frame=\"pong\"} %llu\n"
                  "chorus_gateway_ws_dormant_frames_total{frame=\"text\"} %llu\n",
                  atomic_load(&ch__ws_dormant_count), (unsigned long long)atomic_load(&ch__ws_contexts_made),
                  (unsigned long long)atomic_load(&ch__ws_dormant_pings),
                  (unsigned long long)atomic_load(&ch__ws_dormant_pongs),
                  (unsigned long long)atomic_load(&ch__ws_dormant_frames));
}

/* wslay's recv callback: the socket's input, as h2o's own does, counted. */
static ssize_t ch__ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user_data)
{
    (void)flags;
    h2o_websocket_conn_t *ws = user_data;
    h2o_buffer_t *in = ws->sock->input;
    if (in->size == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > in->size)
        len = in->size;
    memcpy(buf, in->bytes, len);
    h2o_buffer_consume(&ws->sock->input, len);
    ch__gw_conn_rx(ws->data)->fed += (uint64_t)len;
    return (ssize_t)len;
}

/* wslay's message callback: the connection's (h2o's contract: ws->cb). */
static void ch__ws_on_msg_recv(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                               void *user_data)
{
    (void)ctx;
    h2o_websocket_conn_t *ws = user_data;
    ws->cb(ws, arg);
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

void ch__ws_dormant_init(h2o_websocket_conn_t *ws)
{
    if (!atomic_exchange(&ch__ws_renderer_added, 1))
        ch_metrics_add_renderer(ch__ws_render, NULL);
    ws->ws_ctx = NULL;
    ws->ws_callbacks.recv_callback = ch__ws_recv;
    ws->ws_callbacks.on_msg_recv_callback = ch__ws_on_msg_recv;
    ws->ws_callbacks.on_frame_recv_start_callback = ch__ws_frame_start;
    ws->ws_callbacks.on_frame_recv_end_callback = ch__ws_frame_end;
    ch__ws_out_setup(ws);
    atomic_fetch_add(&ch__ws_dormant_count, 1);
}

/* Reads the complete masked pong frames at the start of a dormant socket's input (a client's
 * answers to our pings): consumed, and the connection heard. Returns 1 when nothing else is
 * left (the connection stays dormant), 0 when something else is (a frame for wslay, or part
 * of one). */
static int ch__ws_read_pongs(h2o_websocket_conn_t *ws)
{
    h2o_buffer_t *in = ws->sock->input;
    int heard = 0;
    while (in->size >= 2) {
        const uint8_t *b = (const uint8_t *)in->bytes;
        size_t len = b[1] & 0x7f;
        /* FIN, no RSV bits, opcode pong; masked (a client's frame); a control frame's payload
         * is at most 125 bytes (RFC 6455 5.5) */
        if (b[0] != (0x80 | WSLAY_PONG) || !(b[1] & 0x80) || len > 125 || in->size < 2 + 4 + len)
            break;
        h2o_buffer_consume(&ws->sock->input, 2 + 4 + len);
        in = ws->sock->input;
        heard = 1;
        atomic_fetch_add_explicit(&ch__ws_dormant_pongs, 1, memory_order_relaxed);
    }
    if (heard)
        ch__gw_conn_heard(ws->data);
    return in->size == 0;
}

/* The socket's read callback while the connection is dormant. */
static void ch__ws_on_dormant_read(h2o_socket_t *sock, const char *err)
{
    h2o_websocket_conn_t *ws = sock->data;
    if (err) {
        ws->cb(ws, NULL); /* the end (as h2o's own read callback) */
        return;
    }
    if (!ws->ws_ctx && ch__ws_read_pongs(ws))
        return; /* heartbeats only: still dormant, still reading */
    if (ch__ws_wake(ws, ch__gw_conn_rx(ws->data)->max_msg) != 0) {
        ws->cb(ws, NULL);
        return;
    }
    h2o_websocket_proceed(ws); /* installs h2o's read callback while the context lives */
}

static void ch__ws_dormant_written(h2o_socket_t *sock, const char *err);

void ch__ws_dormant_start(h2o_websocket_conn_t *ws)
{
    ch__ws_out_t *o = ch__gw_conn_out(ws->data);
    if (o->len) { /* frames held while the upgrade was being written (ch__ws_dormant_hold): first */
        o->inflight = o->buf;
        o->inflight_len = o->len;
        o->buf = NULL;
        o->len = o->cap = 0;
        h2o_iovec_t v = h2o_iovec_init(o->inflight, o->inflight_len);
        h2o_socket_write(ws->sock, &v, 1, ch__ws_dormant_written);
    }
    if (ws->ws_ctx || ws->sock->input->size) {
        /* woken by a send meanwhile (wslay's frames go once that write ended), or the client
         * spoke already */
        ch__ws_on_dormant_read(ws->sock, NULL);
        return;
    }
    h2o_socket_read_start(ws->sock, ch__ws_on_dormant_read);
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
    sock->_cb.read = ch__ws_on_dormant_read; /* it is reading: only the callback changes */
    wslay_event_context_free(ctx);
    ws->ws_ctx = NULL;
    free(ws->_write_buf); /* h2o's send callback's buffer (never used with ours; NULL) */
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
    atomic_fetch_sub(&ch__ws_dormant_count, 1);
    atomic_fetch_add_explicit(&ch__ws_contexts_made, 1, memory_order_relaxed);
    return 0;
}

size_t ch__ws_frame_header(uint8_t *h, unsigned opcode, size_t len)
{
    h[0] = (uint8_t)(0x80 | opcode); /* FIN */
    if (len < 126) {
        h[1] = (uint8_t)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* The end of a frame written while dormant (a ping, or a text frame in the output's in-flight
 * buffer, counted in the output bound until now). */
static void ch__ws_dormant_written(h2o_socket_t *sock, const char *err)
{
    h2o_websocket_conn_t *ws = sock->data;
    ch__ws_out_t *o = ch__gw_conn_out(ws->data);
    free(o->inflight);
    o->inflight = NULL;
    o->inflight_len = 0;
    if (err) {
        ws->cb(ws, NULL);
        return;
    }
    if (ws->ws_ctx) /* woken meanwhile: wslay kept its frames queued (WOULDBLOCK) until now */
        h2o_websocket_proceed(ws);
}

int ch__ws_dormant_ping(h2o_websocket_conn_t *ws)
{
    static const uint8_t ping[2] = {0x80 | WSLAY_PING, 0}; /* FIN, ping, unmasked, no payload */
    if (ws->ws_ctx || !ws->sock || h2o_socket_is_writing(ws->sock) || ch__ws_out_pending(ch__gw_conn_out(ws->data)))
        return 0;
    h2o_iovec_t v = h2o_iovec_init(ping, sizeof(ping));
    h2o_socket_write(ws->sock, &v, 1, ch__ws_dormant_written);
    atomic_fetch_add_explicit(&ch__ws_dormant_pings, 1, memory_order_relaxed);
    return 1;
}

/* Before the upgrade's write ended (ws->sock NULL): the frame waits in the output's gather
 * buffer, written at the upgrade's end (ch__ws_dormant_start); 1, or 0 when it does not fit
 * the output bound (the caller wakes ws and wslay queues it behind). */
static int ch__ws_dormant_hold(h2o_websocket_conn_t *ws, const char *data, size_t len, size_t bound)
{
    ch__ws_out_t *o = ch__gw_conn_out(ws->data);
    if (o->len + len + 10 > bound)
        return 0;
    if (o->len + len + 10 > o->cap) {
        size_t cap = o->len + len + 10;
        o->buf = ch_realloc(o->buf, cap);
        o->cap = cap;
    }
    o->len += ch__ws_frame_header((uint8_t *)o->buf + o->len, WSLAY_TEXT_FRAME, len);
    memcpy(o->buf + o->len, data, len);
    o->len += len;
    atomic_fetch_add_explicit(&ch__ws_dormant_frames, 1, memory_order_relaxed);
    return 1;
}

int ch__ws_dormant_send(h2o_websocket_conn_t *ws, const char *data, size_t len, size_t bound)
{
    ch__ws_out_t *o = ch__gw_conn_out(ws->data);
    if (ws->ws_ctx)
        return 0;
    if (!ws->sock)
        return ch__ws_dormant_hold(ws, data, len, bound);
    if (h2o_socket_is_writing(ws->sock) || ch__ws_out_pending(o) || len > bound)
        return 0;
    uint8_t *frame = ch_malloc(len + 10);
    size_t head = ch__ws_frame_header(frame, WSLAY_TEXT_FRAME, len);
    memcpy(frame + head, data, len);
    o->inflight = (char *)frame; /* freed when written, or with the connection (ch__ws_out_clear) */
    o->inflight_len = head + len;
    h2o_iovec_t v = h2o_iovec_init(frame, head + len);
    h2o_socket_write(ws->sock, &v, 1, ch__ws_dormant_written);
    atomic_fetch_add_explicit(&ch__ws_dormant_frames, 1, memory_order_relaxed);
    return 1;
}

void ch__ws_dormant_forget(h2o_websocket_conn_t *ws)
{
    if (ws && !ws->ws_ctx)
        atomic_fetch_sub(&ch__ws_dormant_count, 1);
}
