/* Presence (brd/chat.md "Typing and presence"): online while a user has at least one live
 * gateway connection on any node, idle when every device says so, offline otherwise, with
 * last_seen_at; a dead node's users go offline within CH_PRESENCE_TTL_MS. Implemented by the
 * gateway package (presence.c); read by chat (push jobs for members with no live device). */
#ifndef CH_SVC_PRESENCE_PRESENCE_H
#define CH_SVC_PRESENCE_PRESENCE_H

#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

/** Sets *online to 1 when user_id has a live gateway connection on some node (online or idle),
 * else 0. CH_EUNAVAILABLE when the store that knows cannot be read. */
ch_err_t ch_presence_connected(ch_svc_t *svc, uint64_t user_id, int *online);

#endif
