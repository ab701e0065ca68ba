/* Whether two users share a conversation (brd/chat.md: presence is visible to those who share
 * a conversation or follow each other). Implemented by the chat package (share.c); read by
 * presence. */
#ifndef CH_SVC_CHAT_SHARE_H
#define CH_SVC_CHAT_SHARE_H

#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

/** Sets *shared to 1 when a and b are both current members of some conversation, else 0. */
ch_err_t ch_chat_shares_conversation(ch_svc_t *svc, uint64_t a, uint64_t b, int *shared);

#endif
