/* The caller as a seller (svc/market/sellers.h): onboarding, the seller object, the payout
 * schedule. */
#include "http/h_market.h"
#include "svc/market/sellers.h"

ch_err_t ch_h_seller_create(ch_call_t *call)
{
    json_t *out = NULL;
    int created = 0;
    ch_err_t err = ch_seller_onboard(call->svc, call->user_id, call->json, &out, &created, &call->fault);
    return err ? err : ch_call_reply(call, created ? 201 : 200, out);
}

ch_err_t ch_h_seller_get(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_seller_get(call->svc, call->user_id, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_seller_patch(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_seller_update(call->svc, call->user_id, call->json, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}
