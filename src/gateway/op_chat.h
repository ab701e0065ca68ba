/* Chat's client ops (op_chat.c), rows of gateway/ws_ops_chat.def. Each reads call->d, calls
 * svc/chat and sets call->ack (owned by the call) or returns an error with call->fault. */
#ifndef CH_GATEWAY_OP_CHAT_H
#define CH_GATEWAY_OP_CHAT_H

#include "gateway/ws_op.h"

/** message.send {conversation_id, client_msg_id, text, reply_to?}: ack = the message (the
 * original for a retry of client_msg_id). */
ch_err_t ch_op_message_send(ch_ws_call_t *call);
/** receipt.delivered {conversation_id, seq}: ack = the caller's receipts. */
ch_err_t ch_op_receipt_delivered(ch_ws_call_t *call);
/** receipt.read {conversation_id, seq}: read implies delivered; ack = the caller's receipts. */
ch_err_t ch_op_receipt_read(ch_ws_call_t *call);
/** typing {conversation_id}: the other members get typing (rate-limited); ack {}. */
ch_err_t ch_op_typing(ch_ws_call_t *call);

#endif
