/* INTERIM (issue 13, until the chat package lands share.c, which deletes this file): nobody
 * shares a conversation. */
#include "svc/chat/share.h"

ch_err_t ch_chat_shares_conversation(ch_svc_t *svc, uint64_t a, uint64_t b, int *shared)
{
    (void)svc;
    (void)a;
    (void)b;
    *shared = 0;
    return CH_OK;
}
