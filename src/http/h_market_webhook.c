/* POST /v1/webhooks/stripe (svc/market/webhook.h): no access token, the raw body and its
 * Stripe-Signature; 200 {received, duplicate} once the event is stored. */
#include "http/h_market.h"
#include "svc/market/webhook.h"

ch_err_t ch_h_stripe_webhook(ch_call_t *call)
{
    int duplicate = 0;
    ch_err_t err = ch_market_webhook_receive(call->svc, call->signature, call->body ? call->body : "", call->body_len,
                                             &duplicate, &call->fault);
    return err ? err : ch_call_reply(call, 200, json_pack("{s:b, s:b}", "received", 1, "duplicate", duplicate));
}
