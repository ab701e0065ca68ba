/* The orders API of the service layer (orders.h): create, read, list and the user actions. */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/common/fields.h"
#include "svc/common/sql.h"
#include "svc/market/currency.h"
#include "svc/market/listings.h"
#include "svc/market/orders.h"
#include "svc/market/sellers.h"

/* listing_id of the body: a decimal string (ids are strings in JSON); nothing else. */
static ch_err_t ch__listing_id(const json_t *body, uint64_t *id, ch_fault_t *f)
{
    static const char *const allowed[] = {"listing_id", NULL};
    *id = 0;
    ch_err_t err = ch_field_only((json_t *)body, allowed, f);
    if (err)
        return err;
    const json_t *v = json_object_get(body, "listing_id");
    *id = json_is_string(v) ? ch_id_parse(json_string_value(v)) : 0;
    if (!*id || *id > INT64_MAX)
        return ch_fault(f, CH_EINVAL, "listing_id", "listing_id must be the id of a listing");
    return CH_OK;
}

/* The order buyer made with idem_key, if any: *id 0 when none. */
static ch_err_t ch__by_key(ch_svc_t *svc, uint64_t buyer, const char *key, uint64_t *id, uint64_t *listing)
{
    ch_db_rows_t *rows = NULL;
    *id = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(buyer), CH_DB_P_TEXT(key)};
    ch_err_t err = ch_sql_run(svc, "SELECT id, listing_id FROM orders WHERE buyer_id = $1 AND idem_key = $2", p, 2,
                              &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows)) {
        *id = (uint64_t)ch_db_rows_int(rows, 0, 0);
        *listing = (uint64_t)ch_db_rows_int(rows, 0, 1);
    }
    ch_db_rows_free(rows);
    return err;
}

/* Whether a block stands between a and b (either way). */
static ch_err_t ch__blocked(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t a, uint64_t b, int *blocked)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(a), CH_DB_P_INT(b)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2)"
                             " OR (blocker_id = $2 AND blocked_id = $1)",
                             p, 2, &rows, NULL);
    *blocked = err == CH_OK && ch_db_rows_count(rows) > 0;
    ch_db_rows_free(rows);
    return err;
}

/* Inserts the order of buyer for listing_id with its payment_intent job (leased to this
 * request: the worker takes it only if the request dies). *id gets the order's id. */
static ch_err_t ch__insert(ch_svc_t *svc, uint64_t buyer, uint64_t listing_id, const char *key, uint64_t *id,
                           ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch_listing_order_view_t l;
    char account[CH_SELLER_ACCOUNT_ID_MAX];
    int enabled = 0, blocked = 0;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    err = ch_listing_load_for_order(svc, conn, listing_id, &l);
    if (err == CH_OK && l.seller_id != buyer)
        err = ch__blocked(svc, conn, buyer, l.seller_id, &blocked);
    if (err == CH_ENOTFOUND || (err == CH_OK && (l.state == CH_LISTING_REMOVED || blocked)))
        err = ch_fault(f, CH_ENOTFOUND, "listing_id", "listing not found");
    else if (err == CH_OK && l.seller_id == buyer)
        err = ch_fault(f, CH_EFORBIDDEN, "listing_id", "you cannot buy your own listing");
    else if (err == CH_OK && l.state != CH_LISTING_ACTIVE)
        err = ch_fault(f, CH_ECONFLICT, "listing_id", "the listing is %s", ch_listing_state_name(l.state));
    else if (err == CH_OK && !ch_currency_accepted(svc->cfg->market_currencies, l.currency))
        err = ch_fault(f, CH_ECURRENCY, "listing_id", "the listing is priced in %s; the marketplace takes payments in %s only",
                       l.currency, svc->cfg->market_currencies);
    if (err == CH_OK) {
        err = ch_seller_account_for_user(svc, conn, l.seller_id, account, sizeof(account), &enabled);
        if (err == CH_ENOTFOUND || (err == CH_OK && !enabled))
            err = ch_fault(f, CH_ESELLERNOTENABLED, "listing_id", "the seller cannot take payments now");
    }
    if (err == CH_OK) {
        int64_t now = ch_now_ms();
        *id = ch_id_next();
        ch_db_param_t p[] = {CH_DB_P_INT(*id),
                             CH_DB_P_INT(buyer),
                             CH_DB_P_INT(l.seller_id),
                             CH_DB_P_INT(l.id),
                             CH_DB_P_TEXT(key),
                             CH_DB_P_INT(l.price_amount),
                             CH_DB_P_INT(ch_order_fee(l.price_amount, svc->cfg->market_fee_bps)),
                             CH_DB_P_TEXT(l.currency),
                             CH_DB_P_TEXT(account),
                             CH_DB_P_INT(now)};
        err = ch_sql_on(svc, conn,
                        "INSERT INTO orders(id, buyer_id, seller_id, listing_id, idem_key, amount, fee, currency, state,"
                        " seller_account, created_at, updated_at)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending_payment', $9, $10, $10)",
                        p, CH_NPARAMS(p), NULL, NULL);
        if (err == CH_OK)
            err = ch_market_job_enqueue(svc, conn, "order", *id, CH_ORDER_STEP_PAYMENT_INTENT,
                                        now + ch_market_job_lease_ms(svc));
        if (err == CH_OK) /* unpaid after CHORUS_MARKET_PAYMENT_TTL: canceled */
            err = ch_market_job_enqueue(svc, conn, "order", *id, CH_ORDER_STEP_EXPIRE,
                                        now + svc->cfg->market_payment_ttl_s * 1000);
    }
    return ch_sql_end(svc, conn, err);
}

ch_err_t ch_order_create(ch_svc_t *svc, uint64_t buyer, const json_t *body, const char *idem_key, json_t **out,
                         ch_fault_t *f)
{
    uint64_t listing_id, id = 0, key_listing = 0;
    *out = NULL;
    ch_err_t err = ch__listing_id(body, &listing_id, f);
    if (err)
        return err;
    if (!svc->stripe)
        return ch_fault(f, CH_EUNAVAILABLE, NULL, "payments are not configured");
    if (idem_key && (err = ch__by_key(svc, buyer, idem_key, &id, &key_listing)) != CH_OK)
        return err;
    if (id && key_listing != listing_id)
        return ch_fault(f, CH_EIDEMPOTENCYMISMATCH, "Idempotency-Key",
                        "this Idempotency-Key was used with a different request");
    if (!id) {
        err = ch__insert(svc, buyer, listing_id, idem_key, &id, f);
        if (err == CH_ECONFLICT && !f->field) { /* a unique index: a concurrent retry, or an unpaid order */
            if (idem_key && ch__by_key(svc, buyer, idem_key, &id, &key_listing) == CH_OK && id)
                err = key_listing == listing_id ? CH_OK
                                                : ch_fault(f, CH_EIDEMPOTENCYMISMATCH, "Idempotency-Key",
                                                           "this Idempotency-Key was used with a different request");
            else
                err = ch_fault(f, CH_ECONFLICT, "listing_id", "you have an unpaid order for this listing");
        }
        if (err)
            return err;
    }
    /* Create the PaymentIntent now unless a worker or another request has the job. */
    ch_market_job_t job;
    int got = 0;
    if (ch_market_job_claim_one(svc, id, CH_ORDER_STEP_PAYMENT_INTENT, ch_market_job_lease_ms(svc), &job, &got) ==
            CH_OK &&
        got)
        ch_market_job_run(svc, &job);
    ch_order_t o;
    if ((err = ch_order_load(svc, NULL, id, &o)) != CH_OK)
        return err;
    if (!o.payment_intent_id[0] && (o.state == CH_ORDER_PENDING_PAYMENT || o.state == CH_ORDER_PAYMENT_FAILED))
        return ch_fault(f, CH_EUNAVAILABLE, NULL,
                        idem_key ? "the payment could not be prepared yet; retry with the same Idempotency-Key"
                                 : "the payment could not be prepared yet; retry (an Idempotency-Key makes the"
                                   " retry answer this order instead of making another)");
    *out = ch_order_json(&o, buyer);
    return CH_OK;
}

ch_err_t ch_order_get(ch_svc_t *svc, uint64_t viewer, uint64_t id, json_t **out, ch_fault_t *f)
{
    ch_order_t o;
    *out = NULL;
    ch_err_t err = id && id <= INT64_MAX ? ch_order_load(svc, NULL, id, &o) : CH_ENOTFOUND;
    if (err == CH_OK && o.buyer_id != viewer && o.seller_id != viewer)
        err = CH_ENOTFOUND;
    if (err == CH_ENOTFOUND)
        return ch_fault(f, CH_ENOTFOUND, NULL, "order not found");
    if (err == CH_OK)
        *out = ch_order_json(&o, viewer);
    return err;
}

ch_err_t ch_order_list(ch_svc_t *svc, uint64_t viewer, int limit, uint64_t before, json_t **out, ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    *out = NULL;
    if (limit < 1 || limit > CH_ORDER_PAGE_MAX)
        limit = CH_ORDER_PAGE_DEFAULT;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(before ? before : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(limit + 1)};
    /* Two index ranges (orders_buyer, orders_seller) merged: a user is rarely both. */
    ch_err_t err = ch_sql_run(svc,
                              "SELECT id FROM (SELECT id FROM orders WHERE buyer_id = $1 AND id < $2"
                              " UNION SELECT id FROM orders WHERE seller_id = $1 AND id < $2) AS mine"
                              " ORDER BY id DESC LIMIT $3",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err) {
        ch_db_rows_free(rows);
        return err;
    }
    json_t *items = json_array();
    size_t n = ch_db_rows_count(rows);
    uint64_t last = 0;
    for (size_t r = 0; r < n && r < (size_t)limit && err == CH_OK; r++) {
        ch_order_t o;
        if ((err = ch_order_load(svc, NULL, (uint64_t)ch_db_rows_int(rows, r, 0), &o)) == CH_OK) {
            json_array_append_new(items, ch_order_json(&o, viewer));
            last = o.id;
        }
    }
    ch_db_rows_free(rows);
    if (err) {
        json_decref(items);
        return err;
    }
    char cursor[CH_ID_STR_LEN];
    *out = json_pack("{s:o,s:o}", "items", items, "next_cursor",
                     n > (size_t)limit ? json_string(ch_id_format(last, cursor)) : json_null());
    (void)f;
    return CH_OK;
}

ch_err_t ch_order_act(ch_svc_t *svc, uint64_t actor, uint64_t id, ch_order_event_t ev, int admin, json_t **out,
                      ch_fault_t *f)
{
    *out = NULL;
    for (int tries = 0; tries < CH_ORDER_CAS_TRIES; tries++) {
        ch_db_conn_t *conn;
        ch_order_t o;
        ch_order_verdict_t v = CH_ORDER_SAME;
        ch_err_t err = ch_sql_begin(svc, 1, &conn);
        if (err)
            return err;
        err = id && id <= INT64_MAX ? ch_order_load(svc, conn, id, &o) : CH_ENOTFOUND;
        if (err == CH_OK && !admin && o.buyer_id != actor && o.seller_id != actor)
            err = CH_ENOTFOUND;
        if (err == CH_ENOTFOUND)
            err = ch_fault(f, CH_ENOTFOUND, NULL, "order not found");
        else if (err == CH_OK && !admin && ev == CH_ORDER_EV_SHIP && o.seller_id != actor)
            err = ch_fault(f, CH_EFORBIDDEN, NULL, "only the seller ships an order");
        else if (err == CH_OK && !admin && ev == CH_ORDER_EV_CONFIRM && o.buyer_id != actor)
            err = ch_fault(f, CH_EFORBIDDEN, NULL, "only the buyer confirms an order");
        const char *from = err == CH_OK ? ch_order_state_name(o.state) : "";
        ch_order_state_t was = err == CH_OK ? o.state : CH_ORDER_PENDING_PAYMENT;
        int refund = ev == CH_ORDER_EV_REFUND || ev == CH_ORDER_EV_CANCEL;
        if (err == CH_OK && (err = ch_order_apply(svc, conn, &o, ev, &v)) == CH_ECONFLICT && v == CH_ORDER_REFUSE) {
            /* Stripe refuses to refund a charge under an open dispute (charge_disputed), and a
             * lost one's money already went back to the buyer: said as such. */
            if (refund && was == CH_ORDER_DISPUTED)
                err = ch_fault(f, CH_ECONFLICT, "state",
                               "a dispute is open on this order's payment: it cannot be refunded before the dispute"
                               " is settled");
            else if (refund && was == CH_ORDER_DISPUTE_LOST)
                err = ch_fault(f, CH_ECONFLICT, "state",
                               "the dispute on this order's payment was lost: the buyer got the money back through"
                               " it, nothing is left to refund");
            else
                err = ch_fault(f, CH_ECONFLICT, "state", "not allowed while the order is %s", from);
        }
        err = ch_sql_end(svc, conn, err);
        if (err == CH_ECONFLICT && v != CH_ORDER_REFUSE) {
            memset(f, 0, sizeof(*f));
            continue; /* moved meanwhile: read it again */
        }
        if (err == CH_OK)
            *out = ch_order_json(&o, actor);
        return err;
    }
    return ch_fault(f, CH_EUNAVAILABLE, NULL, "the order is changing; retry");
}
