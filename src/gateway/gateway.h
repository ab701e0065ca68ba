/* The WebSocket gateway (gateway role; brd/chat.md "Connection", docs/design.md "## Gateway"):
 * GET /v1/ws upgrades after the access token is checked; each connection speaks the
 * {op, ref, d} protocol (ws_op.h's table); a registry per event loop and per user finds
 * every device of a user, and the bus (store/bus.h) brings frames published anywhere. */
#ifndef CH_GATEWAY_GATEWAY_H
#define CH_GATEWAY_GATEWAY_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

typedef struct ch_gateway ch_gateway_t;

/** Makes the gateway and sets itself as svc->bus's receiver. svc (and its bus) are borrowed
 * and must outlive it. NULL on allocation failure. */
ch_gateway_t *ch_gateway_create(ch_svc_t *svc);
/** Frees the gateway after the server stopped (every connection is closed by then). */
void ch_gateway_destroy(ch_gateway_t *gw);

/** Whether req is for the gateway's path (GET /v1/ws, any query). */
int ch_gateway_is_ws_request(h2o_req_t *req);
/** Answers req (from the dispatcher, on its loop): the upgrade, or a problem+json answer
 * (401 bad token, 429 too many devices, 503 full or no gateway role, 400 not a WebSocket
 * handshake). gw may be NULL (no gateway role). Returns 0 as an h2o handler does. */
int ch_gateway_on_req(ch_gateway_t *gw, ch_svc_t *svc, h2o_req_t *req);

/** Graceful stop, on ctx's loop thread: every connection of that loop gets a close frame
 * 1001 ("going away") and is dropped if the client does not answer it soon. */
void ch_gateway_loop_drain(h2o_context_t *ctx);
/** WebSocket connections still open on ctx's loop (the server waits for 0 before it stops). */
size_t ch_gateway_loop_open(h2o_context_t *ctx);

/** The loop thread is about to dispose of its h2o context: frees the thread's gateway state
 * (its libuv handles are closed; the loop must run once more for their callbacks). */
void ch_gateway_loop_end(void);

/** The status of user_id on this node from its devices here: 0 none, 1 online, 2 idle (every
 * device here said idle). Any thread. */
int ch_gateway_node_status(ch_gateway_t *gw, uint64_t user_id);
/** The instance id of this node's gateway (random per start; presence records name it). */
uint64_t ch_gateway_instance(const ch_gateway_t *gw);

/** Marks connection conn_id (of user_id) idle or online (presence.set), from its loop.
 * Returns 1 when the user's status on this node changed. */
int ch_gateway_set_idle(ch_gateway_t *gw, uint64_t user_id, uint64_t conn_id, int idle);

#endif
