/* Conversations and messages: parse the call, ask svc/chat, answer. */
#include "http/h_chat.h"

#include <stdlib.h>
#include <string.h>

#include "svc/chat/chat.h"
#include "svc/common/fields.h"

/* ?name= as an integer in [0, INT64_MAX]; *out is -1 when absent. */
static ch_err_t ch__query_int(ch_call_t *call, const char *name, long long max, long long *out)
{
    char buf[24];
    const char *v = ch_call_query(call, name, buf, sizeof(buf));
    *out = -1;
    if (!v)
        return CH_OK;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || strlen(v) >= sizeof(buf) - 1 || n < 0 || n > max)
        return ch_fault(&call->fault, CH_EINVAL, name, "%s must be an integer from 0 to %lld", name, max);
    *out = n;
    return CH_OK;
}

/* ?limit= in [1, max], default dflt. */
static ch_err_t ch__limit(ch_call_t *call, int dflt, int max, int *limit)
{
    long long v;
    ch_err_t err = ch__query_int(call, "limit", max, &v);
    if (err == CH_OK && v == 0)
        err = ch_fault(&call->fault, CH_EINVAL, "limit", "limit must be an integer from 1 to %d", max);
    *limit = v > 0 ? (int)v : dflt;
    return err;
}

ch_err_t ch_h_conv_create(ch_call_t *call)
{
    json_t *out = NULL;
    int created = 0;
    ch_err_t err = ch_chat_conv_create(call->svc, call->user_id, call->json, &out, &created, &call->fault);
    return err ? err : ch_call_reply(call, created ? 201 : 200, out);
}

ch_err_t ch_h_conv_list(ch_call_t *call)
{
    int limit;
    char cursor[64];
    json_t *out = NULL;
    ch_err_t err = ch__limit(call, CH_CHAT_LIST_LIMIT_DEFAULT, CH_CHAT_LIST_LIMIT_MAX, &limit);
    if (err)
        return err;
    const char *c = ch_call_query(call, "cursor", cursor, sizeof(cursor));
    if (c && strlen(c) >= sizeof(cursor) - 1)
        return ch_fault(&call->fault, CH_EINVAL, "cursor", "cursor is not one this API returned");
    err = ch_chat_conv_list(call->svc, call->user_id, limit, c, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_conv_get(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_chat_conv_get(call->svc, call->user_id, ch_call_id_param(call, 0), &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_conv_member_add(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_chat_member_add(call->svc, call->user_id, ch_call_id_param(call, 0), ch_call_id_param(call, 1),
                                      &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_conv_member_remove(ch_call_t *call)
{
    ch_err_t err = ch_chat_member_remove(call->svc, call->user_id, ch_call_id_param(call, 0),
                                         ch_call_id_param(call, 1), &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}

ch_err_t ch_h_conv_leave(ch_call_t *call)
{
    ch_err_t err = ch_chat_leave(call->svc, call->user_id, ch_call_id_param(call, 0), &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}

ch_err_t ch_h_msg_send(ch_call_t *call)
{
    ch_chat_send_t in = {.conversation_id = ch_call_id_param(call, 0)};
    json_t *out = NULL;
    int created = 0;
    ch_err_t err = ch_chat_send_parse(call->json, 0, &in, &call->fault);
    if (err == CH_OK)
        err = ch_chat_msg_send(call->svc, call->user_id, &in, &out, &created, &call->fault);
    return err ? err : ch_call_reply(call, created ? 201 : 200, out);
}

ch_err_t ch_h_msg_history(ch_call_t *call)
{
    long long after, before;
    int limit;
    json_t *out = NULL;
    ch_err_t err = ch__query_int(call, "after_seq", INT64_MAX - 1, &after);
    if (err == CH_OK)
        err = ch__query_int(call, "before_seq", INT64_MAX, &before);
    if (err == CH_OK)
        err = ch__limit(call, CH_CHAT_HISTORY_LIMIT_DEFAULT, CH_CHAT_HISTORY_LIMIT_MAX, &limit);
    if (err == CH_OK)
        err = ch_chat_msg_history(call->svc, call->user_id, ch_call_id_param(call, 0), after, before, limit, &out,
                                  &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_msg_edit(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_chat_msg_edit(call->svc, call->user_id, ch_call_id_param(call, 0), ch_call_id_param(call, 1),
                                    call->json, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_msg_delete(ch_call_t *call)
{
    ch_err_t err = ch_chat_msg_delete(call->svc, call->user_id, ch_call_id_param(call, 0), ch_call_id_param(call, 1),
                                      &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}

ch_err_t ch_h_conv_read(ch_call_t *call)
{
    static const char *const allowed[] = {"seq", NULL};
    long long seq = 0;
    json_t *out = NULL;
    ch_err_t err = ch_field_only(call->json, allowed, &call->fault);
    if (err == CH_OK)
        err = ch_field_int(call->json, "seq", CH_FIELD_REQUIRED, 0, INT64_MAX, &seq, NULL, &call->fault);
    if (err == CH_OK)
        err = ch_chat_receipt(call->svc, call->user_id, ch_call_id_param(call, 0), seq, 1, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}
