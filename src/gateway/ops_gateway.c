/* The gateway's own client ops: ping and presence.set (both inline: memory only). */
#include <string.h>

#include "core/clock.h"
#include "gateway/gateway.h"
#include "gateway/ops_gateway.h"

#define CH_WS_ECHO_MAX (60 * 1024) /* characters of ping's echo (a frame is at most 64 KiB) */

ch_err_t ch_ws_op_ping(ch_ws_call_t *call)
{
    json_t *echo = json_object_get(call->d, "echo");
    if (echo && (!json_is_string(echo) || json_string_length(echo) > CH_WS_ECHO_MAX))
        return ch_fault(&call->fault, CH_EINVAL, "echo", "echo must be a string of at most %d characters",
                        CH_WS_ECHO_MAX);
    call->ack = json_pack("{s:I}", "t", (json_int_t)ch_now_ms());
    if (echo)
        json_object_set(call->ack, "echo", echo);
    return CH_OK;
}

ch_err_t ch_ws_op_presence_set(ch_ws_call_t *call)
{
    const char *st = json_string_value(json_object_get(call->d, "status"));
    if (!st || (strcmp(st, "idle") != 0 && strcmp(st, "online") != 0))
        return ch_fault(&call->fault, CH_EINVAL, "status", "status must be \"online\" or \"idle\"");
    if (call->svc->gateway)
        ch_gateway_set_idle(call->svc->gateway, call->user_id, call->conn_id, strcmp(st, "idle") == 0);
    call->ack = json_pack("{s:s}", "status", st);
    return CH_OK;
}
