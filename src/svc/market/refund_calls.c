/* A refund job's Stripe calls: see refund_calls.h. */
#include "svc/market/refund_calls.h"

#include <stdio.h>
#include <string.h>

#include "svc/market/order_stripe.h"

static const char *ch__str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : "";
}

ch_err_t ch_market_refund_find(ch_svc_t *svc, const char *pi, char *out, size_t outlen, char *why, size_t wl)
{
    return ch_market_find_made(svc, "/v1/refunds", json_pack("{s:s,s:i}", "payment_intent", pi, "limit", 10),
                               "payment_intent", pi, 1, out, outlen, why, wl);
}

ch_err_t ch_market_refund_post(ch_svc_t *svc, const ch_market_job_t *job, const json_t *params, const char *key,
                               char *out, size_t outlen, char *why, size_t wl)
{
    ch_stripe_result_t res;
    ch_err_t err = ch_market_stripe_post(svc, job, "/v1/refunds", params, key, &res, why, wl);
    out[0] = '\0';
    if (err == CH_OK)
        snprintf(out, outlen, "%s", ch__str(res.body, "id"));
    ch_stripe_result_clear(&res);
    if (err == CH_OK && !out[0]) {
        snprintf(why, wl, "refund answer without an id");
        err = CH_EINTERNAL;
    }
    return err;
}
