/* The users who share a conversation with a user (brd/chat.md: presence events go to them):
 * for presence's bounded fan-out (svc/presence). */
#ifndef CH_SVC_CHAT_PEERS_H
#define CH_SVC_CHAT_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

/* CHORUS_PRESENCE_GROUP_MAX's default. */
#define CH_CHAT_PRESENCE_GROUP_MAX 100

/** Appends to ids (capacity cap, *n in/out) the distinct current members of user's
 * conversations other than user, at most cap - *n of them. Only conversations of at most
 * CHORUS_PRESENCE_GROUP_MAX members count (direct ones always): as large chat apps do, a big
 * group's members are not told of each other's every connect (n members would cost n^2
 * events); they read presence on demand. */
ch_err_t ch_chat_conversation_peers(ch_svc_t *svc, uint64_t user, uint64_t *ids, size_t cap, size_t *n);

#endif
