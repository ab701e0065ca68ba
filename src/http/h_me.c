/* The caller's own account: profile and sessions. */
#include "core/id.h"
#include "http/handlers.h"
#include "svc/auth/auth.h"
#include "svc/common/fields.h"
#include "svc/users/users.h"

ch_err_t ch_h_me_get(ch_call_t *call)
{
    return ch_users_get_me_text(call->svc, call->user_id, &call->raw_out, &call->fault);
}

/* The members of a profile patch (api/openapi.yaml MeUpdate: additionalProperties: false). */
static const char *const ch__me_fields[] = {"display_name", "bio", "avatar_url", "is_private", "interests", "region",
                                            NULL};

ch_err_t ch_h_me_patch(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_field_only(call->json, ch__me_fields, &call->fault);
    if (err)
        return err;
    err = ch_users_update_me(call->svc, call->user_id, call->json, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_sessions_list(ch_call_t *call)
{
    int limit;
    uint64_t before;
    ch_err_t err = ch_call_page(call, &limit, &before);
    if (err)
        return err;
    json_t *out = NULL;
    err = ch_auth_list_sessions(call->svc, call->user_id, call->session_id, limit, before, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_session_delete(ch_call_t *call)
{
    uint64_t id = ch_id_parse(call->params[0]);
    if (!id)
        return ch_fault(&call->fault, CH_ENOTFOUND, NULL, "session not found");
    ch_err_t err = ch_auth_revoke_session(call->svc, call->user_id, id, &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}
