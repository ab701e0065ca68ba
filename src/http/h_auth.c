/* Register, login, refresh, logout. */
#include "http/handlers.h"
#include "svc/auth/auth.h"

ch_err_t ch_h_register(ch_call_t *call)
{
    json_t *out = NULL;
    ch_auth_origin_t origin = {call->client_ip, &call->client_gone};
    ch_err_t err = ch_auth_register_from(call->svc, call->json, &origin, &out, &call->fault);
    return err ? err : ch_call_reply(call, 201, out);
}

ch_err_t ch_h_login(ch_call_t *call)
{
    json_t *out = NULL;
    ch_auth_origin_t origin = {call->client_ip, &call->client_gone};
    ch_err_t err = ch_auth_login_from(call->svc, call->json, &origin, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_refresh(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_auth_refresh(call->svc, call->json, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_logout(ch_call_t *call)
{
    ch_err_t err = ch_auth_revoke_session(call->svc, call->user_id, call->session_id, &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}
