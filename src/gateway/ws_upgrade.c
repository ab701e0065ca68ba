/* The WebSocket upgrade without a wslay context (issue 13, memory per idle connection;
 * docs/benchmarks.md "Gateway", docs/design.md "Gateway").
 *
 * h2o_upgrade_to_websocket makes libwslay's context (about 8 kB: a 4 kB output buffer and a
 * 4 kB frame reader) for every connection at once, and the hello then goes out through it:
 * a connection held it at least until its hello was written, and during a ramp of
 * connections those 8 kB blocks were freed between live small objects that came after them
 * (holes the heap never gave back). Here the gateway answers the upgrade itself through
 * h2o's public h2o_http1_upgrade (RFC 6455's accept key computed here: libh2o 2.2.5 declares
 * h2o_websocket_create_accept_key but does not export it): the 101 response
 * and the hello frame (an unmasked server text frame, built here) go out in one socket write,
 * and the connection starts dormant (ws->ws_ctx NULL, ws_dormant.c): its first wslay context
 * is made only when the client sends something other than a pong, or when a frame for it
 * finds another one being written. */
#include <openssl/sha.h>
#include <string.h>

#include "core/alloc.h"
#include "gateway/gw_internal.h"

/* h2o_http1_upgrade's end: the 101 and the hello are written (sock NULL: they were not, the
 * client left). */
static void ch__ws_upgraded(void *user_data, h2o_socket_t *sock, size_t reqsize)
{
    h2o_websocket_conn_t *ws = user_data;
    if (!sock) {
        ws->cb(ws, NULL); /* h2o's contract: a NULL message is the end */
        return;
    }
    ws->sock = sock;
    sock->data = ws;
    h2o_buffer_consume(&sock->input, reqsize);
    ch__ws_dormant_start(ws);
}

/* RFC 6455, 4.2.2: base64(SHA-1(the client's 24-character key + the protocol's GUID)); dst
 * holds 29 bytes (28 and a NUL). */
static void ch__ws_accept_key(char *dst, const char *client_key)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t src[24 + sizeof(guid) - 1], digest[SHA_DIGEST_LENGTH];
    memcpy(src, client_key, 24); /* h2o_is_websocket_handshake checked its length */
    memcpy(src + 24, guid, sizeof(guid) - 1);
    SHA1(src, sizeof(src), digest);
    h2o_base64_encode(dst, digest, sizeof(digest), 0);
    dst[28] = '\0';
}

h2o_websocket_conn_t *ch__ws_upgrade(h2o_req_t *req, const char *client_key, void *data, h2o_websocket_msg_callback cb,
                                     const char *hello, size_t hello_len)
{
    /* h2o_websocket_close frees it with free() */
    h2o_websocket_conn_t *ws = ch_calloc(1, sizeof(*ws));
    ws->data = data;
    ws->cb = cb;
    ch__ws_dormant_init(ws);

    char accept_key[29];
    ch__ws_accept_key(accept_key, client_key);
    req->res.status = 101;
    req->res.reason = "Switching Protocols";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-accept"), 0, NULL, accept_key,
                          strlen(accept_key));
    /* the frame lives in the request's pool: h2o frees it after the write (the upgrade's end) */
    uint8_t *frame = h2o_mem_alloc_pool(&req->pool, hello_len + 10);
    size_t head = ch__ws_frame_header(frame, WSLAY_TEXT_FRAME, hello_len);
    memcpy(frame + head, hello, hello_len);
    h2o_iovec_t v = h2o_iovec_init(frame, head + hello_len);
    h2o_http1_upgrade(req, &v, 1, ch__ws_upgraded, ws);
    return ws;
}
