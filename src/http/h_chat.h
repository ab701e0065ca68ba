/* REST handlers: conversations and messages (svc/chat). */
#ifndef CH_HTTP_H_CHAT_H
#define CH_HTTP_H_CHAT_H

#include "http/call.h"

/** POST /v1/conversations {member_ids, title?}: 201, or 200 with the direct conversation
 * that existed. */
ch_err_t ch_h_conv_create(ch_call_t *call);
/** GET /v1/conversations?limit=&cursor=: the caller's conversations, latest activity first. */
ch_err_t ch_h_conv_list(ch_call_t *call);
/** GET /v1/conversations/{id}. */
ch_err_t ch_h_conv_get(ch_call_t *call);
/** POST /v1/conversations/{id}/members/{user_id} (admins): the conversation. */
ch_err_t ch_h_conv_member_add(ch_call_t *call);
/** DELETE /v1/conversations/{id}/members/{user_id} (admins): 204. */
ch_err_t ch_h_conv_member_remove(ch_call_t *call);
/** POST /v1/conversations/{id}/leave: 204. */
ch_err_t ch_h_conv_leave(ch_call_t *call);
/** POST /v1/conversations/{id}/messages {client_msg_id, text, reply_to?}: 201, or 200 with
 * the original of a retry. */
ch_err_t ch_h_msg_send(ch_call_t *call);
/** GET /v1/conversations/{id}/messages?after_seq=&before_seq=&limit=. */
ch_err_t ch_h_msg_history(ch_call_t *call);
/** PATCH /v1/conversations/{id}/messages/{msg_id} {text}: the message. */
ch_err_t ch_h_msg_edit(ch_call_t *call);
/** DELETE /v1/conversations/{id}/messages/{msg_id}: 204. */
ch_err_t ch_h_msg_delete(ch_call_t *call);
/** POST /v1/conversations/{id}/read {seq}: the caller's receipts. */
ch_err_t ch_h_conv_read(ch_call_t *call);

#endif
