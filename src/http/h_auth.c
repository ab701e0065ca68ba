/* Register, login, refresh, logout. */
#include "http/handlers.h"
#include "svc/auth/auth.h"
#include "svc/common/fields.h"

/* The members each body may have (api/openapi.yaml: additionalProperties: false). */
static const char *const ch__register_fields[] = {"handle", "password", "display_name", "device_name", NULL};
static const char *const ch__login_fields[] = {"handle", "password", "device_name", NULL};
static const char *const ch__refresh_fields[] = {"refresh_token", NULL};

ch_err_t ch_h_register(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_field_only(call->json, ch__register_fields, &call->fault);
    if (err)
        return err;
    ch_auth_origin_t origin = {call->client_ip, {&call->client_gone, call->client_fd, 0}};
    err = ch_auth_register_from(call->svc, call->json, &origin, &out, &call->fault);
    return err ? err : ch_call_reply(call, 201, out);
}

ch_err_t ch_h_login(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_field_only(call->json, ch__login_fields, &call->fault);
    if (err)
        return err;
    ch_auth_origin_t origin = {call->client_ip, {&call->client_gone, call->client_fd, 0}};
    err = ch_auth_login_from(call->svc, call->json, &origin, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_refresh(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_field_only(call->json, ch__refresh_fields, &call->fault);
    if (err)
        return err;
    err = ch_auth_refresh(call->svc, call->json, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_logout(ch_call_t *call)
{
    ch_err_t err = ch_auth_revoke_session(call->svc, call->user_id, call->session_id, &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}
