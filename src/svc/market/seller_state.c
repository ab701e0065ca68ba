/* A Stripe account object as the sellers table keeps it (seller_int.h). */
#include <stdlib.h>
#include <string.h>

#include "svc/market/seller_int.h"

/* A string array member of obj, copied; [] when absent or of another kind. */
static json_t *ch__strings(const json_t *obj, const char *name)
{
    json_t *out = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(obj, name), i, v)
    {
        if (json_is_string(v))
            json_array_append(out, v);
    }
    return out;
}

int ch__seller_state_from(const json_t *account, ch__seller_state_t *st)
{
    memset(st, 0, sizeof(*st));
    st->account_id = json_string_value(json_object_get(account, "id"));
    if (!st->account_id || strncmp(st->account_id, "acct_", 5) != 0 || strlen(st->account_id) >= CH_SELLER_ACCOUNT_ID_MAX)
        return 0;
    st->charges_enabled = json_is_true(json_object_get(account, "charges_enabled"));
    st->payouts_enabled = json_is_true(json_object_get(account, "payouts_enabled"));
    const json_t *req = json_object_get(account, "requirements");
    json_t *r = json_pack("{s:o, s:o}", "currently_due", ch__strings(req, "currently_due"), "past_due",
                          ch__strings(req, "past_due"));
    st->requirements = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    st->disabled_reason = json_string_value(json_object_get(req, "disabled_reason"));
    const json_t *sched = json_object_get(json_object_get(json_object_get(account, "settings"), "payouts"), "schedule");
    if (json_is_object(sched))
        st->payout_schedule = json_dumps(sched, JSON_COMPACT);
    return st->requirements != NULL;
}

void ch__seller_state_clear(ch__seller_state_t *st)
{
    free(st->requirements);
    free(st->payout_schedule);
    memset(st, 0, sizeof(*st));
}
