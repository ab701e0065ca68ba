/* Chat's client ops on the gateway (ws_ops_chat.def): the same service calls as REST. */
#include "gateway/op_chat.h"

#include <stdlib.h>

#include "svc/chat/chat.h"
#include "svc/chat/chat_int.h"
#include "svc/chat/send_writer.h"
#include "svc/common/fields.h"

/* The chat writer's thread: the send committed and was published (or failed). The ack's "d"
 * is the message: taken already rendered from its message.new frame when the writer published
 * one (no second rendering on the loop). */
static void ch__send_done(void *arg, ch_err_t err, const ch_fault_t *f, json_t *msg, int created)
{
    ch_ws_call_t *call = arg;
    (void)created;
    size_t len = 0;
    char *frame = err ? NULL : ch_chat_frames_take(msg, &len);
    if (err) {
        call->fault = *f;
    } else if (frame && len > CH_CHAT_NEW_FRAME_PREFIX) {
        call->ack_text = frame;
        call->ack_off = CH_CHAT_NEW_FRAME_PREFIX;
        call->ack_len = len - CH_CHAT_NEW_FRAME_PREFIX - 1; /* the frame's closing brace */
        json_decref(msg);
    } else {
        free(frame);
        call->ack = msg;
    }
    ch_ws_call_resume(call, err);
}

ch_err_t ch_op_message_send(ch_ws_call_t *call)
{
    ch_chat_send_t in = {0};
    int created = 0;
    ch_err_t err = ch_chat_send_parse(call->d, 1, &in, &call->fault);
    if (err == CH_OK && ch_chat_send_queued(call->svc)) {
        /* group commit: the worker thread is free again at once; acked after the commit */
        ch_ws_call_defer(call);
        ch_chat_msg_send_enqueue(call->svc, call->user_id, &in, ch__send_done, call);
        return CH_OK;
    }
    if (err == CH_OK && call->on_loop) /* local backends without the writer: never on the loop */
        return ch_fault(&call->fault, CH_EUNAVAILABLE, NULL, "the chat writer is not running; retry");
    return err ? err : ch_chat_msg_send(call->svc, call->user_id, &in, &call->ack, &created, &call->fault);
}

/* Reads {conversation_id, seq} of a receipt op. */
static ch_err_t ch__receipt(ch_ws_call_t *call, int read)
{
    static const char *const allowed[] = {"conversation_id", "seq", NULL};
    uint64_t conv = 0;
    long long seq = 0;
    ch_err_t err = ch_field_only(call->d, allowed, &call->fault);
    if (err == CH_OK)
        err = ch__chat_id_field(call->d, "conversation_id", 1, &conv, &call->fault);
    if (err == CH_OK)
        err = ch_field_int(call->d, "seq", CH_FIELD_REQUIRED, 0, INT64_MAX, &seq, NULL, &call->fault);
    return err ? err : ch_chat_receipt(call->svc, call->user_id, conv, seq, read, &call->ack, &call->fault);
}

ch_err_t ch_op_receipt_delivered(ch_ws_call_t *call)
{
    return ch__receipt(call, 0);
}

ch_err_t ch_op_receipt_read(ch_ws_call_t *call)
{
    return ch__receipt(call, 1);
}

ch_err_t ch_op_typing(ch_ws_call_t *call)
{
    static const char *const allowed[] = {"conversation_id", NULL};
    uint64_t conv = 0;
    ch_err_t err = ch_field_only(call->d, allowed, &call->fault);
    if (err == CH_OK)
        err = ch__chat_id_field(call->d, "conversation_id", 1, &conv, &call->fault);
    return err ? err : ch_chat_typing(call->svc, call->user_id, conv, &call->fault);
}
