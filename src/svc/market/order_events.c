#include "svc/market/order_events.h"

#include <stdio.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "svc/market/orders.h"
#include "svc/market/strays.h"

static const json_t *ch__object(const json_t *event)
{
    return json_object_get(json_object_get(event, "data"), "object");
}

static const char *ch__str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : "";
}

/* A field that is an id, or an expanded object with an id. */
static const char *ch__ref(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_object(v) ? ch__str(v, "id") : json_string_value(v) ? json_string_value(v) : "";
}

/* The order of a PaymentIntent: by its stored id, else by metadata.order_id (an event that
 * arrives before the request stored the PaymentIntent's id). *stray (may be NULL) is set to
 * the id of an order the metadata names but that holds another PaymentIntent (then
 * CH_ENOTFOUND). */
static ch_err_t ch__order_of_pi(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *pi, ch_order_t *o, uint64_t *stray)
{
    if (stray)
        *stray = 0;
    ch_err_t err = ch_order_find_stripe(svc, conn, ch__str(pi, "id"), NULL, o);
    if (err != CH_ENOTFOUND)
        return err;
    uint64_t id = ch_id_parse(ch__str(json_object_get(pi, "metadata"), "order_id"));
    if (!id || id > INT64_MAX)
        return CH_ENOTFOUND;
    if ((err = ch_order_load(svc, conn, id, o)) != CH_OK)
        return err;
    /* metadata can be anything: the PaymentIntent must be this order's (or it has none yet). */
    if (o->payment_intent_id[0] && strcmp(o->payment_intent_id, ch__str(pi, "id")) != 0) {
        if (stray)
            *stray = o->id;
        return CH_ENOTFOUND;
    }
    return CH_OK;
}

/* Loads the order, sets what the event tells, applies ev; again when a concurrent move
 * changed the state it read. Unknown orders are ignored. */
static ch_err_t ch__apply(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *obj, int by_pi, ch_order_event_t ev)
{
    for (int tries = 0; tries < CH_ORDER_CAS_TRIES; tries++) {
        ch_order_t o;
        uint64_t stray = 0;
        ch_err_t err = by_pi ? ch__order_of_pi(svc, conn, obj, &o, &stray)
                             : ch_order_find_stripe(svc, conn, ch__ref(obj, "payment_intent"), ch__ref(obj, "charge"), &o);
        /* Money taken on a PaymentIntent no order holds (a second tab, a superseded attempt): back. */
        if (err == CH_ENOTFOUND && stray && ev == CH_ORDER_EV_PAID) {
            err = ch_market_stray_record(svc, conn, stray, obj);
            if (err == CH_EINVAL) /* no amount or currency to refund: stored, logged, left to an operator */
                ch_log_error("market: PaymentIntent %s paid order %llu's metadata without an amount: not refunded",
                             ch__str(obj, "id"), (unsigned long long)stray);
            return err == CH_EINVAL ? CH_OK : err;
        }
        if (err == CH_ENOTFOUND && !by_pi && ch__ref(obj, "payment_intent")[0])
            err = ch_order_find_stripe(svc, conn, NULL, ch__ref(obj, "charge"), &o);
        if (err == CH_ENOTFOUND) {
            ch_log_info("market: webhook for an object of no order (%s): ignored", ch__str(obj, "id"));
            return CH_OK;
        }
        if (err)
            return err;
        o.event_obj = obj;
        if (by_pi && !o.payment_intent_id[0]) { /* found by metadata: the id was not stored yet */
            snprintf(o.payment_intent_id, sizeof(o.payment_intent_id), "%s", ch__str(obj, "id"));
            snprintf(o.client_secret, sizeof(o.client_secret), "%s", ch__str(obj, "client_secret"));
        }
        if (ev == CH_ORDER_EV_PAID && !o.charge_id[0])
            snprintf(o.charge_id, sizeof(o.charge_id), "%s", ch__ref(obj, "latest_charge"));
        if (ev == CH_ORDER_EV_DISPUTE_OPENED || ev == CH_ORDER_EV_DISPUTE_WON || ev == CH_ORDER_EV_DISPUTE_LOST) {
            const char *dispute = ch__str(obj, "id");
            int settled = o.dispute_id[0] && strcmp(o.dispute_id, dispute) == 0 && o.state != CH_ORDER_DISPUTED;
            if (settled) /* this dispute was opened and closed before: a late or repeated event */
                return CH_OK;
            snprintf(o.dispute_id, sizeof(o.dispute_id), "%s", dispute);
            /* The outcome before the opening (out of order): open it first, then settle it. */
            if (ev != CH_ORDER_EV_DISPUTE_OPENED && o.state != CH_ORDER_DISPUTED &&
                (err = ch_order_apply(svc, conn, &o, CH_ORDER_EV_DISPUTE_OPENED, NULL)) != CH_OK) {
                if (err != CH_ECONFLICT)
                    return err;
                continue;
            }
        }
        err = ch_order_apply(svc, conn, &o, ev, NULL);
        if (err != CH_ECONFLICT)
            return err;
    }
    return CH_ECONFLICT; /* answered 5xx: Stripe sends it again */
}

ch_err_t ch_order_on_pi_succeeded(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event)
{
    return ch__apply(svc, conn, ch__object(event), 1, CH_ORDER_EV_PAID);
}

ch_err_t ch_order_on_pi_failed(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event)
{
    return ch__apply(svc, conn, ch__object(event), 1, CH_ORDER_EV_PAY_FAILED);
}

ch_err_t ch_order_on_dispute_created(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event)
{
    return ch__apply(svc, conn, ch__object(event), 0, CH_ORDER_EV_DISPUTE_OPENED);
}

ch_err_t ch_order_on_dispute_closed(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event)
{
    const json_t *d = ch__object(event);
    const char *status = ch__str(d, "status");
    if (strcmp(status, "won") == 0 || strcmp(status, "warning_closed") == 0)
        return ch__apply(svc, conn, d, 0, CH_ORDER_EV_DISPUTE_WON);
    if (strcmp(status, "lost") == 0)
        return ch__apply(svc, conn, d, 0, CH_ORDER_EV_DISPUTE_LOST);
    return CH_OK;
}
