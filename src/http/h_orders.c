/* The marketplace's orders and ledger over HTTP (h_orders.h). */
#include "http/h_orders.h"

#include "svc/auth/roles.h"
#include "svc/market/ledger.h"
#include "svc/market/orders.h"
#include "svc/market/reconcile.h"
#include "svc/market/strays.h"

static ch_err_t ch__reply(ch_call_t *call, ch_err_t err, int status, json_t *out)
{
    if (err) {
        json_decref(out);
        return err;
    }
    return ch_call_reply(call, status, out);
}

/* The admin role, or 403. */
static ch_err_t ch__admin(ch_call_t *call)
{
    int has = 0;
    ch_err_t err = ch_roles_has(call->svc, call->user_id, CH_USER_ROLE_ADMIN, &has);
    if (err)
        return ch_fault(&call->fault, err, NULL, "roles cannot be read now");
    return has ? CH_OK : ch_fault(&call->fault, CH_EFORBIDDEN, NULL, "this needs the admin role");
}

ch_err_t ch_h_order_create(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_order_create(call->svc, call->user_id, call->json, call->idempotency_key, &out, &call->fault);
    return ch__reply(call, err, 201, out);
}

ch_err_t ch_h_orders_list(ch_call_t *call)
{
    int limit;
    uint64_t before;
    json_t *out = NULL;
    ch_err_t err = ch_call_page(call, &limit, &before);
    if (err == CH_OK)
        err = ch_order_list(call->svc, call->user_id, limit, before, &out, &call->fault);
    return ch__reply(call, err, 200, out);
}

ch_err_t ch_h_order_get(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_order_get(call->svc, call->user_id, ch_call_id_param(call, 0), &out, &call->fault);
    return ch__reply(call, err, 200, out);
}

static ch_err_t ch__act(ch_call_t *call, ch_order_event_t ev, int admin)
{
    json_t *out = NULL;
    ch_err_t err = admin ? ch__admin(call) : CH_OK;
    if (err == CH_OK)
        err = ch_order_act(call->svc, call->user_id, ch_call_id_param(call, 0), ev, admin, &out, &call->fault);
    return ch__reply(call, err, 200, out);
}

ch_err_t ch_h_order_ship(ch_call_t *call)
{
    return ch__act(call, CH_ORDER_EV_SHIP, 0);
}

ch_err_t ch_h_order_confirm(ch_call_t *call)
{
    return ch__act(call, CH_ORDER_EV_CONFIRM, 0);
}

ch_err_t ch_h_order_cancel(ch_call_t *call)
{
    return ch__act(call, CH_ORDER_EV_CANCEL, 0);
}

ch_err_t ch_h_order_refund(ch_call_t *call)
{
    return ch__act(call, CH_ORDER_EV_REFUND, 1);
}

ch_err_t ch_h_order_strays(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch__admin(call);
    if (err == CH_OK)
        err = ch_market_strays_of_order(call->svc, ch_call_id_param(call, 0), &out);
    return ch__reply(call, err, 200, out);
}

ch_err_t ch_h_ledger_balance(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch__admin(call);
    if (err == CH_OK)
        err = ch_ledger_balance(call->svc, &out);
    return ch__reply(call, err, 200, out);
}

ch_err_t ch_h_ledger_reconcile(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch__admin(call);
    if (err == CH_OK && !call->svc->stripe)
        err = ch_fault(&call->fault, CH_EUNAVAILABLE, NULL, "payments are not configured");
    if (err == CH_OK)
        err = ch_reconcile_run(call->svc, &out, NULL, &call->fault);
    return ch__reply(call, err, 200, out);
}

ch_err_t ch_h_ledger_reconciliation(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch__admin(call);
    if (err == CH_OK)
        err = ch_reconcile_latest(call->svc, &out);
    return ch__reply(call, err, 200, out);
}
