#include "svc/market/order_stripe.h"

#include <stdio.h>
#include <string.h>

ch_err_t ch_market_stripe(ch_svc_t *svc, const char *method, const char *path, const json_t *params,
                          const char *key, ch_stripe_result_t *res, char *why, size_t whylen)
{
    memset(res, 0, sizeof(*res));
    if (!svc->stripe) {
        snprintf(why, whylen, "payments are not configured (CHORUS_STRIPE_SECRET_KEY)");
        return CH_EUNAVAILABLE;
    }
    ch_stripe_t *s = ch_stripe_pool_acquire(svc->stripe, CH_MARKET_STRIPE_WAIT_MS);
    if (!s) {
        snprintf(why, whylen, "no Stripe client free");
        return CH_EOVERLOADED;
    }
    ch_err_t err = ch_stripe_call(s, method, path, params, key, NULL, res);
    ch_stripe_pool_release(svc->stripe, s);
    if (err) {
        const char *msg = json_string_value(json_object_get(json_object_get(res->body, "error"), "message"));
        snprintf(why, whylen, "%s %s: %s %d %s", method, path, ch_err_code(err), res->status, msg ? msg : "");
    }
    return err;
}

ch_err_t ch_market_stripe_post(ch_svc_t *svc, const ch_market_job_t *job, const char *path, const json_t *params,
                               const char *key, ch_stripe_result_t *res, char *why, size_t whylen)
{
    memset(res, 0, sizeof(*res));
    ch_err_t err = job->first_post_at ? CH_OK : ch_market_job_mark_post(svc, job->id);
    if (err) {
        snprintf(why, whylen, "POST %s: its first POST could not be recorded (%s)", path, ch_err_code(err));
        return err;
    }
    return ch_market_stripe(svc, "POST", path, params, key, res, why, whylen);
}

static const char *ch__str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : "";
}

ch_err_t ch_market_find_made(ch_svc_t *svc, const char *path, json_t *params, const char *match, const char *want,
                             int live, char *id, size_t idlen, char *why, size_t wl)
{
    ch_stripe_result_t res;
    ch_err_t err = ch_market_stripe(svc, "GET", path, params, NULL, &res, why, wl);
    json_decref(params);
    size_t i;
    json_t *item;
    id[0] = '\0';
    if (err == CH_OK)
        json_array_foreach(json_object_get(res.body, "data"), i, item)
        {
            const char *status = ch__str(item, "status");
            if (strcmp(ch__str(item, match), want) != 0 || !ch__str(item, "id")[0] ||
                (live && (strcmp(status, "failed") == 0 || strcmp(status, "canceled") == 0)))
                continue;
            snprintf(id, idlen, "%s", ch__str(item, "id"));
            break;
        }
    ch_stripe_result_clear(&res);
    return err;
}
