/* The event bus: carries a server frame to every device of a user, on every node
 * (docs/design.md "## Gateway"; brd/chat.md "Many nodes"). Two drivers behind one handle:
 * in process for embedded mode, Redis pub/sub in cluster mode (one subscriber connection per
 * node, a channel per user with a device connected to this node, resubscribe after a
 * reconnect; nothing routes through the database). A frame is the complete text the gateway
 * writes to the socket ({"op","d"}, JSON). Publishing never waits for a receiver: the bus
 * hands frames to the receiver (the gateway), which queues them per connection under its own
 * bounds. Thread-safe: any thread may publish, subscribe or unsubscribe. */
#ifndef CH_STORE_BUS_H
#define CH_STORE_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct ch_bus ch_bus_t;

/** Receives each frame published to a user this node subscribed to: with Redis on the bus's
 * subscriber thread, in-process on the publisher's own thread (any thread, possibly a loop's,
 * holding none of the receiver's locks); frame is borrowed for the call (copy what you keep).
 * Must not block nor publish: hand the frame to the loop that owns the user's connections. */
typedef void (*ch_bus_receive_fn)(void *ctx, uint64_t user_id, const char *frame, size_t len);

/** Receives one frame for many users at once (a group's members): as ch_bus_receive_fn, ids
 * and frame borrowed for the call. The in-process bus hands a publish_many's subscribed users
 * in one call, so the receiver copies the frame once per message, not once per member. */
typedef void (*ch_bus_receive_many_fn)(void *ctx, const uint64_t *user_ids, size_t n, const char *frame, size_t len);

/** The in-process bus (embedded mode, and tests). NULL on allocation failure. */
ch_bus_t *ch_bus_mem_create(void);
/** The Redis pub/sub bus on url (redis://host:port[/db]): connects its publisher and its
 * subscriber connection; a Redis that is down is retried in the background (publish returns
 * CH_EUNAVAILABLE meanwhile). NULL with err filled on a bad url or allocation failure. */
ch_bus_t *ch_bus_redis_create(const char *url, char *err, size_t errlen);
/** The driver's name: "mem" or "redis". */
const char *ch_bus_kind(const ch_bus_t *bus);

/** Sets the one receiver of this node's frames (the gateway), before the first subscribe.
 * ctx is borrowed and must outlive the bus. */
void ch_bus_set_receiver(ch_bus_t *bus, ch_bus_receive_fn fn, void *ctx);
/** Optionally, the same receiver's batch entry (same ctx), set with it: drivers that have a
 * frame for many users at once hand them in one call. */
void ch_bus_set_receiver_many(ch_bus_t *bus, ch_bus_receive_many_fn fn);

/** This node wants user_id's frames (its first device connected here). Counted: each
 * subscribe needs one unsubscribe. CH_EUNAVAILABLE when the bus cannot subscribe now
 * (Redis down): the subscription is kept and made again on reconnect. */
ch_err_t ch_bus_subscribe(ch_bus_t *bus, uint64_t user_id);
/** Waits up to wait_ms (a worker thread) until the bus's server confirmed user_id's
 * subscription (Redis: the SUBSCRIBE's answer came; in process: at once), so that a frame
 * published after it returns reaches this node. 1 confirmed, 0 not (Redis down or slow,
 * or user_id not subscribed). */
int ch_bus_wait_subscribed(ch_bus_t *bus, uint64_t user_id, int64_t wait_ms);
/** Undoes one ch_bus_subscribe (the user's last device left this node). */
void ch_bus_unsubscribe(ch_bus_t *bus, uint64_t user_id);

/** Publishes frame (copied) to every node that subscribed user_id. CH_OK once the bus took
 * it (Redis: the PUBLISH was answered); CH_EUNAVAILABLE when Redis is down. A user with no
 * subscriber anywhere: CH_OK, nothing happens (offline devices read history on return). */
ch_err_t ch_bus_publish(ch_bus_t *bus, uint64_t user_id, const char *frame, size_t len);
/** The same frame to n users in one go (Redis: one pipeline), e.g. a group's members. */
ch_err_t ch_bus_publish_many(ch_bus_t *bus, const uint64_t *user_ids, size_t n, const char *frame, size_t len);

/** Tells every node that session_id of user_id was revoked (logout, DELETE
 * /v1/me/sessions/{id}): a control frame on the user's channel (it starts with
 * CH_BUS_CTL_REVOKE, which no JSON frame does) on which the gateway closes the session's
 * connections. CH_OK, or CH_EUNAVAILABLE when Redis is down. */
ch_err_t ch_bus_publish_revoke(ch_bus_t *bus, uint64_t user_id, uint64_t session_id);
/** The session a revoke control frame names (1), or 0 when frame is not one. */
int ch_bus_ctl_revoked(const char *frame, size_t len, uint64_t *session_id);
#define CH_BUS_CTL_REVOKE "\x01revoke "
/** The control frame a bus hands its receiver for each user whose subscription was confirmed
 * again after the connection to Redis broke: frames of the gap may be lost (a resync is due). */
#define CH_BUS_CTL_RESYNC "\x01resync"

/** Stops the bus's threads and frees it; no receive call runs after it returns (in-process:
 * once no publish is in progress, which is the caller's business). */
void ch_bus_destroy(ch_bus_t *bus);

#endif
