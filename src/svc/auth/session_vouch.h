/* A session vouched for in the hydration cache (cluster mode with the L1, docs/design.md
 * "### l1"): so that a read served on an event loop checks its session without a Redis
 * round trip. A fact "S:<session>:<minute>" holds the time the session was last found
 * active by the database (read there, or from the shared store's ok mark: auth.c); it
 * vouches for CH_SESSION_VOUCH_MS from that time, as the ok mark does. A revocation forgets
 * it on every node (the L1's pub/sub forget, ch_session_vouch_forget) after its kv marks are
 * written, and again when marks that waited for the store land (docs/design.md "### l1 on
 * the loop" gives the order argument). The minute in the
 * key lets a fact that stopped vouching be replaced without a forget: a new minute is a new
 * key, read with a lease. Nothing here is used unless the cache has a live L1. */
#ifndef CH_SVC_AUTH_SESSION_VOUCH_H
#define CH_SVC_AUTH_SESSION_VOUCH_H

#include <stdint.h>

#include "svc/context.h"

/* How long a session found active stays vouched for (= the shared store's ok mark). */
#define CH_SESSION_VOUCH_MS 60000

/** A lookup's state, kept by the caller between ch_session_vouch_get and _put. */
typedef struct {
    char key[44];
    uint64_t lease; /* 0: nothing to put */
} ch_session_vouch_t;

/** Looks the session up (on an event loop under the loop guard: the L1 only). 1 when it is
 * vouched for now (found active less than CH_SESSION_VOUCH_MS ago and after the kv store's
 * last recovery); else 0, with v ready for ch_session_vouch_put. Never fails. */
int ch_session_vouch_get(ch_svc_t *svc, uint64_t session_id, ch_session_vouch_t *v);
/** Stores that the session was found active at at_ms (ms since the epoch), under the lease
 * of v's lookup (lost when a revocation came since). A no-op without a lease. */
void ch_session_vouch_put(ch_svc_t *svc, const ch_session_vouch_t *v, int64_t at_ms);
/** Forgets every fact that may vouch for the session, on every node: call after the commit
 * of its revocation. */
void ch_session_vouch_forget(ch_svc_t *svc, uint64_t session_id);

#endif
