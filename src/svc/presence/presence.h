/* Presence (brd/chat.md "Typing and presence"): online while a user has at least one live
 * gateway connection on any node, idle when every device says so, offline otherwise, with
 * last_seen_at; a dead node's users go offline within CH_PRESENCE_TTL_MS. Implemented by the
 * gateway package (presence.c); read by chat (push jobs for members with no live device).
 *
 * Stored in the kv store (in process, or Redis shared by every node): per user and gateway
 * instance a key "presence:u:<user>:<instance>" (1 online, 2 idle; only that instance writes
 * it), "presence:seen:<user>" (last_seen_at) and "presence:said:<user>" (the status last
 * announced); and one list "presence:instances" of the gateway instances with the time of
 * their last heartbeat (CH_PRESENCE_HEARTBEAT_MS). Instances not heard of within
 * CH_PRESENCE_TTL_MS count for nothing:
 * a killed node's users read offline within the TTL, without anyone cleaning up. */
#ifndef CH_SVC_PRESENCE_PRESENCE_H
#define CH_SVC_PRESENCE_PRESENCE_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

#define CH_PRESENCE_TTL_MS 30000       /* a gateway instance not heard of for this long is dead */
#define CH_PRESENCE_HEARTBEAT_MS 10000 /* how often an instance says it is alive */
#define CH_PRESENCE_RECORD_TTL_MS (30LL * 86400 * 1000) /* last_seen_at is kept this long; a user's
                                                            record on an instance and the status last
                                                            announced: CHORUS_ACCESS_TTL + CH_PRESENCE_TTL_MS */
#define CH_PRESENCE_FANOUT_MAX 1000    /* presence events per change at most (mutual follows, conversation peers) */

typedef enum { CH_PRESENCE_OFFLINE = 0, CH_PRESENCE_ONLINE = 1, CH_PRESENCE_IDLE = 2 } ch_presence_status_t;

/** Sets *online to 1 when user_id has a live gateway connection on some node (online or idle),
 * else 0. CH_EUNAVAILABLE when the store that knows cannot be read. */
ch_err_t ch_presence_connected(ch_svc_t *svc, uint64_t user_id, int *online);

/** ch_presence_connected for the n users ids at once: online[i] (room for n) 1 when ids[i]
 * has a live gateway connection on some node. The instances list is read once and every
 * (user, live instance) record in one kv round trip. CH_EUNAVAILABLE when the store cannot
 * be read (every online[i] is then 0). */
ch_err_t ch_presence_connected_many(ch_svc_t *svc, const uint64_t *ids, size_t n, int *online);

/** Records user_id's status on gateway instance (node_status: a ch_presence_status_t, OFFLINE
 * when its last device there left) and, when the user's status across nodes changed, sends
 * a `presence` event to the connected users who may see it. Blocking (kv, SQL): worker
 * threads only. */
ch_err_t ch_presence_node_update(ch_svc_t *svc, uint64_t user_id, uint64_t instance, int node_status);

/* Users of one instance recorded for the sweep of a dead instance (more: they read offline at
 * the TTL, unannounced); and how many of a dead instance's users one heartbeat announces. */
#define CH_PRESENCE_NODE_USERS_MAX 200000
#define CH_PRESENCE_NODE_USERS_TTL_MS (10LL * 60 * 1000) /* rewritten by a live instance at least every 5 min */
#define CH_PRESENCE_DEAD_PER_BEAT 1000
/* One pass's sweep of a dead instance stops after this long (the rest goes to a later pass):
 * a pass on a node with many dead peers stays short (it runs on the sweep thread, never on
 * the heartbeat's). */
#define CH_PRESENCE_SWEEP_BUDGET_MS 2000
/* A node sweeping a dead instance claims it (kv counter presence:sweep:<inst>) for this long:
 * one node sweeps it per claim, not every live node (longer than the budget, shorter than a
 * heartbeat so that the next piece goes to whichever node beats next). */
#define CH_PRESENCE_SWEEP_CLAIM_MS 5000

/** Records the users connected to gateway instance (ids borrowed; at most
 * CH_PRESENCE_NODE_USERS_MAX kept): when the instance dies, a live one announces them offline
 * (ch_presence_sweep_dead sweeps dead instances). Written by the instance's heartbeat when its
 * users changed (and now and then to keep it). */
ch_err_t ch_presence_node_users(ch_svc_t *svc, uint64_t instance, const uint64_t *ids, size_t n);
/** Says that gateway instance is alive for CH_PRESENCE_TTL_MS more (its heartbeat): its liveness
 * key, and its entry in the instances list. Never sweeps (ch_presence_sweep_dead does, on
 * another thread), so that a long sweep cannot delay a heartbeat. */
ch_err_t ch_presence_node_alive(ch_svc_t *svc, uint64_t instance);
/** Run by live instance every CH_PRESENCE_HEARTBEAT_MS on a thread of its own (not the
 * heartbeat's): an instance found dead (its liveness key expired) has its recorded users
 * swept: each one now offline on every node gets its `presence` offline event and
 * presence:said corrected, at most CH_PRESENCE_DEAD_PER_BEAT per pass and within
 * CH_PRESENCE_SWEEP_BUDGET_MS; the dead instance leaves the list once swept. Blocking (kv,
 * SQL). */
ch_err_t ch_presence_sweep_dead(ch_svc_t *svc, uint64_t instance);
/** Forgets instance at a clean stop: its users read offline at once. */
ch_err_t ch_presence_node_gone(ch_svc_t *svc, uint64_t instance);

/** GET /v1/users/{id}/presence for viewer: {user_id, status, last_seen_at} in *out (caller
 * owns). CH_ENOTFOUND when the user does not exist or the viewer may not see their presence
 * (neither a shared conversation nor mutual follows, hidden, or a block). */
ch_err_t ch_presence_get(ch_svc_t *svc, uint64_t viewer, uint64_t user_id, json_t **out, ch_fault_t *f);

/** Whether viewer may see user_id's presence (the rules above; self always). */
ch_err_t ch_presence_may_see(ch_svc_t *svc, uint64_t viewer, uint64_t user_id, int *may);

/** Sets or reads whether user_id hides their presence from everyone (PATCH/GET /v1/me/presence). */
ch_err_t ch_presence_set_hidden(ch_svc_t *svc, uint64_t user_id, int hidden, ch_fault_t *f);
ch_err_t ch_presence_hidden(ch_svc_t *svc, uint64_t user_id, int *hidden);

#endif
