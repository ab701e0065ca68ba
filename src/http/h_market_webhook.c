/* POST /v1/webhooks/stripe (svc/market/webhook.h): no access token, the raw body and its
 * Stripe-Signature; 200 {received, duplicate} once the event is stored. */
#include "http/h_market.h"
#include "svc/common/ratelimit.h"
#include "svc/market/webhook.h"

ch_err_t ch_h_stripe_webhook(ch_call_t *call)
{
    int duplicate = 0;
    ch_err_t err = ch_market_webhook_receive(call->svc, call->signature, call->body ? call->body : "", call->body_len,
                                             &duplicate, &call->fault);
    /* Only a failed signature counts against CHORUS_RATE_LIMIT_IP (the dispatcher skips this
     * route): signed deliveries are never throttled, forgers are once over the limit. */
    if (err == CH_EBADSIGNATURE) {
        ch_err_t rl = ch_ratelimit_hit(call->svc, "ip", call->client_ip, call->svc->cfg->rate_limit_ip,
                                       call->svc->cfg->rate_limit_window_ms, &call->fault);
        if (rl != CH_OK)
            err = rl;
    }
    return err ? err : ch_call_reply(call, 200, json_pack("{s:b, s:b}", "received", 1, "duplicate", duplicate));
}
