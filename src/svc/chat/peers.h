/* The users who share a conversation with a user (brd/chat.md: presence events go to them):
 * for presence's bounded fan-out (svc/presence). */
#ifndef CH_SVC_CHAT_PEERS_H
#define CH_SVC_CHAT_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

/** Appends to ids (capacity cap, *n in/out) the distinct current members of user's
 * conversations other than user, at most cap - *n of them. */
ch_err_t ch_chat_conversation_peers(ch_svc_t *svc, uint64_t user, uint64_t *ids, size_t cap, size_t *n);

#endif
