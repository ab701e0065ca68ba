/* Other users' profiles. */
#include "core/id.h"
#include "http/handlers.h"
#include "svc/users/users.h"

ch_err_t ch_h_user_get(ch_call_t *call)
{
    uint64_t id = ch_id_parse(call->params[0]);
    if (!id || id > INT64_MAX)
        return ch_fault(&call->fault, CH_ENOTFOUND, NULL, "user not found");
    return ch_users_get_profile(call->svc, call->user_id, id, NULL, &call->raw_out, &call->fault);
}

ch_err_t ch_h_user_by_handle(ch_call_t *call)
{
    return ch_users_get_profile(call->svc, call->user_id, 0, call->params[0], &call->raw_out, &call->fault);
}
