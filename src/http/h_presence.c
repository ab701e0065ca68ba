/* Presence over HTTP: who may read it is decided in svc/presence. */
#include "core/id.h"
#include "http/h_presence.h"
#include "svc/common/fields.h"
#include "svc/presence/presence.h"

ch_err_t ch_h_presence_get(ch_call_t *call)
{
    uint64_t id = ch_id_parse(call->params[0]);
    if (!id || id > INT64_MAX)
        return ch_fault(&call->fault, CH_ENOTFOUND, NULL, "user not found");
    json_t *out = NULL;
    ch_err_t err = ch_presence_get(call->svc, call->user_id, id, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_me_presence_get(ch_call_t *call)
{
    int hidden = 0;
    if (ch_presence_hidden(call->svc, call->user_id, &hidden) != CH_OK)
        return ch_fault(&call->fault, CH_EUNAVAILABLE, NULL, "the database is unavailable");
    return ch_call_reply(call, 200, json_pack("{s:b}", "hidden", hidden));
}

static const char *const ch__presence_fields[] = {"hidden", NULL};

ch_err_t ch_h_me_presence_patch(ch_call_t *call)
{
    ch_err_t err = ch_field_only(call->json, ch__presence_fields, &call->fault);
    if (err)
        return err;
    json_t *h = json_object_get(call->json, "hidden");
    if (!json_is_boolean(h))
        return ch_fault(&call->fault, CH_EINVAL, "hidden", "hidden must be true or false");
    if ((err = ch_presence_set_hidden(call->svc, call->user_id, json_is_true(h), &call->fault)) != CH_OK)
        return err;
    return ch_call_reply(call, 200, json_pack("{s:b}", "hidden", json_is_true(h)));
}
