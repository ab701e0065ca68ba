/* The durable steps of an order (jobs.h): each reads the order, makes its Stripe call with
 * the Idempotency-Key "order:<id>:<step>" (a step run again after a crash gets Stripe's
 * first answer: never a second PaymentIntent, transfer, reversal or refund), then stores
 * the result, moves the order and marks the job done in one transaction. A step that finds
 * the order past the point it was made for marks itself done and does nothing. */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/common/sql.h"
#include "svc/market/ledger.h"
#include "svc/market/listings.h"
#include "svc/market/order_stripe.h"
#include "svc/market/orders.h"
#include "svc/market/refund_calls.h"

static void ch__key(char *buf, size_t len, uint64_t order_id, const char *step)
{
    snprintf(buf, len, "order:%llu:%s", (unsigned long long)order_id, step);
}

/* Marks the job done with nothing else to do. */
static ch_err_t ch__done(ch_svc_t *svc, const ch_market_job_t *job)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    return ch_sql_end(svc, conn, ch_market_job_done(svc, conn, job->id));
}

static ch_err_t ch__post(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o, const char *what,
                         const ch_ledger_entry_t *e, size_t n)
{
    char ref[96];
    snprintf(ref, sizeof(ref), "order:%llu:%s", (unsigned long long)o->id, what);
    return ch_ledger_post(svc, conn, ref, what, o->id, o->currency, e, n, NULL);
}

static const char *ch__str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : "";
}

/* ---- payment_intent ---------------------------------------------------------------- */

static ch_err_t ch__payment_intent(ch_svc_t *svc, const ch_market_job_t *job, ch_order_t *o, char *why, size_t wl)
{
    if (o->payment_intent_id[0] || o->state == CH_ORDER_CANCELED)
        return ch__done(svc, job); /* stored already, or canceled before it was made */
    /* Otherwise make it, or (made before a crash, even paid since) get Stripe's first answer
     * again by the same key, and store its id. */
    char key[96], id[CH_ID_STR_LEN], query[64];
    ch__key(key, sizeof(key), o->id, job->step);
    ch_id_format(o->id, id);
    ch_stripe_result_t res;
    ch_err_t err = CH_OK;
    json_t *made = NULL;
    if (job->attempts > 1) { /* the PaymentIntent an earlier attempt made (its answer lost) */
        snprintf(query, sizeof(query), "metadata['order_id']:'%s'", id);
        json_t *q = json_pack("{s:s,s:i}", "query", query, "limit", 10);
        err = ch_market_stripe(svc, "GET", "/v1/payment_intents/search", q, NULL, &res, why, wl);
        json_decref(q);
        size_t i;
        json_t *item;
        if (err == CH_OK)
            json_array_foreach(json_object_get(res.body, "data"), i, item)
            {
                if (strcmp(ch__str(item, "transfer_group"), id) == 0 && ch__str(item, "id")[0]) {
                    made = json_incref(item);
                    break;
                }
            }
        ch_stripe_result_clear(&res);
        if (err)
            return err;
    }
    memset(&res, 0, sizeof(res));
    if (made) {
        res.body = made;
    } else {
        json_t *params = json_pack("{s:I,s:s,s:s,s:{s:s},s:{s:b}}", "amount", (json_int_t)o->amount, "currency",
                                   o->currency, "transfer_group", id, "metadata", "order_id", id,
                                   "automatic_payment_methods", "enabled", 1);
        err = ch_market_stripe_post(svc, job, "/v1/payment_intents", params, key, &res, why, wl);
        json_decref(params);
    }
    if (err == CH_OK) {
        const char *pi = ch__str(res.body, "id"), *secret = ch__str(res.body, "client_secret");
        ch_db_conn_t *conn;
        if (!pi[0]) {
            snprintf(why, wl, "PaymentIntent answer without an id");
            err = CH_EINTERNAL;
        } else if ((err = ch_sql_begin(svc, 1, &conn)) == CH_OK) {
            ch_db_param_t p[] = {CH_DB_P_INT(o->id), CH_DB_P_TEXT(pi), CH_DB_P_TEXT(secret),
                                 CH_DB_P_INT(ch_now_ms())};
            err = ch_sql_on(svc, conn,
                            "UPDATE orders SET payment_intent_id = $2, client_secret = $3, updated_at = $4"
                            " WHERE id = $1 AND payment_intent_id IS NULL",
                            p, CH_NPARAMS(p), NULL, NULL);
            if (err == CH_OK)
                err = ch_market_job_done(svc, conn, job->id);
            err = ch_sql_end(svc, conn, err);
        }
    }
    ch_stripe_result_clear(&res);
    return err;
}

/* ---- charge_fee: the Stripe fee of the charge, from its balance transaction ----------- */

/* The payment was booked (order:<id>:paid) before its charge was known, its Stripe balance
 * entry naming no charge, which reconciliation (comparing per charge) would report: once the
 * charge is known, order:<id>:paid_charge moves that amount onto the charge's reference
 * (the same account debited under the charge, credited under none: balances unchanged). On
 * conn; nothing when the payment named its charge or is not booked yet. */
static ch_err_t ch__book_paid_charge(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o)
{
    char ref[64];
    snprintf(ref, sizeof(ref), "order:%llu:paid", (unsigned long long)o->id);
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ref), CH_DB_P_TEXT(CH_LEDGER_STRIPE_BALANCE)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT e.amount FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.txn_id"
                             " WHERE t.ref = $1 AND e.account = $2 AND e.stripe_ref IS NULL",
                             p, CH_NPARAMS(p), &rows, NULL);
    int64_t amount = err == CH_OK && ch_db_rows_count(rows) == 1 ? ch_db_rows_int(rows, 0, 0) : 0;
    ch_db_rows_free(rows);
    if (err || amount <= 0)
        return err;
    ch_ledger_entry_t e[] = {{CH_LEDGER_STRIPE_BALANCE, amount, o->charge_id}, {CH_LEDGER_STRIPE_BALANCE, -amount, NULL}};
    return ch__post(svc, conn, o, "paid_charge", e, 2);
}

/* The latest_charge fallback: a payment whose webhook did not name its charge (Stripe sends
 * latest_charge as null at times): read the PaymentIntent and store its charge on the order
 * (disputes find the order by it; the fee is read from it). */
static ch_err_t ch__fetch_charge(ch_svc_t *svc, ch_order_t *o, char *why, size_t wl)
{
    char path[CH_ORDER_STRIPE_ID_MAX + 32];
    snprintf(path, sizeof(path), "/v1/payment_intents/%s", o->payment_intent_id);
    ch_stripe_result_t res;
    ch_err_t err = ch_market_stripe(svc, "GET", path, NULL, NULL, &res, why, wl);
    if (err == CH_OK) {
        const json_t *lc = json_object_get(res.body, "latest_charge");
        const char *charge = json_is_object(lc) ? ch__str(lc, "id") : json_string_value(lc);
        snprintf(o->charge_id, sizeof(o->charge_id), "%s", charge ? charge : "");
    }
    ch_stripe_result_clear(&res);
    if (err)
        return err;
    if (!o->charge_id[0]) {
        snprintf(why, wl, "PaymentIntent %s has no charge yet", o->payment_intent_id);
        return CH_EUNAVAILABLE;
    }
    ch_db_conn_t *conn;
    if ((err = ch_sql_begin(svc, 1, &conn)) != CH_OK)
        return err;
    int64_t changes = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(o->id), CH_DB_P_TEXT(o->charge_id)};
    err = ch_sql_on(svc, conn, "UPDATE orders SET charge_id = $2 WHERE id = $1 AND charge_id IS NULL", p, 2, NULL,
                    &changes);
    if (err == CH_OK && changes == 1)
        err = ch__book_paid_charge(svc, conn, o);
    return ch_sql_end(svc, conn, err);
}

static ch_err_t ch__charge_fee(ch_svc_t *svc, const ch_market_job_t *job, ch_order_t *o, char *why, size_t wl)
{
    if (o->stripe_fee >= 0 || (!o->charge_id[0] && !o->payment_intent_id[0]))
        return ch__done(svc, job);
    ch_err_t err0 = o->charge_id[0] ? CH_OK : ch__fetch_charge(svc, o, why, wl);
    if (err0)
        return err0;
    json_t *params = json_pack("{s:s}", "source", o->charge_id);
    ch_stripe_result_t res;
    ch_err_t err = ch_market_stripe(svc, "GET", "/v1/balance_transactions", params, NULL, &res, why, wl);
    json_decref(params);
    int64_t fee = 0;
    int found = 0;
    size_t i;
    json_t *bt;
    if (err == CH_OK) {
        json_array_foreach(json_object_get(res.body, "data"), i, bt)
        {
            const char *src = json_string_value(json_object_get(bt, "source"));
            if (src && strcmp(src, o->charge_id) != 0)
                continue;
            fee += json_integer_value(json_object_get(bt, "fee"));
            found = 1;
        }
        if (!found) {
            snprintf(why, wl, "no balance transaction for charge %s yet", o->charge_id);
            err = CH_EUNAVAILABLE;
        }
    }
    ch_stripe_result_clear(&res);
    ch_db_conn_t *conn;
    if (err == CH_OK && (err = ch_sql_begin(svc, 1, &conn)) == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(o->id), CH_DB_P_INT(fee)};
        err = ch_sql_on(svc, conn, "UPDATE orders SET stripe_fee = $2 WHERE id = $1", p, 2, NULL, NULL);
        if (err == CH_OK && fee) {
            ch_ledger_entry_t e[] = {{CH_LEDGER_STRIPE_FEES, fee, NULL},
                                     {CH_LEDGER_STRIPE_BALANCE, -fee, o->charge_id}};
            err = ch__post(svc, conn, o, "stripe_fee", e, 2);
        }
        if (err == CH_OK)
            err = ch_market_job_done(svc, conn, job->id);
        err = ch_sql_end(svc, conn, err);
    }
    return err;
}

/* ---- auto_confirm ------------------------------------------------------------------ */

static ch_err_t ch__auto_confirm(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t wl)
{
    for (int tries = 0; tries < CH_ORDER_CAS_TRIES; tries++) {
        ch_db_conn_t *conn;
        ch_order_t o;
        ch_err_t err = ch_sql_begin(svc, 1, &conn);
        if (err)
            return err;
        err = ch_order_load(svc, conn, job->order_id, &o);
        if (err == CH_OK && o.state == CH_ORDER_SHIPPED && o.auto_confirm_at > ch_now_ms()) {
            ch_sql_end(svc, conn, CH_EUNAVAILABLE); /* not due yet (the clock of another node): later */
            snprintf(why, wl, "not due yet");
            return CH_EUNAVAILABLE;
        }
        if (err == CH_OK && o.state == CH_ORDER_SHIPPED)
            err = ch_order_apply(svc, conn, &o, CH_ORDER_EV_CONFIRM, NULL);
        if (err == CH_OK || err == CH_ENOTFOUND)
            err = ch_market_job_done(svc, conn, job->id);
        err = ch_sql_end(svc, conn, err);
        if (err != CH_ECONFLICT)
            return err;
    }
    return CH_ECONFLICT;
}

/* ---- expire_payment: an order still unpaid CHORUS_MARKET_PAYMENT_TTL after it was made -- */

static ch_err_t ch__store_expired(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, const char *unused)
{
    (void)unused;
    if (o->state != CH_ORDER_PENDING_PAYMENT && o->state != CH_ORDER_PAYMENT_FAILED)
        return CH_OK;
    /* canceled: its PaymentIntent is canceled at Stripe by the cancel_payment_intent job (a
     * payment that lands meanwhile is refunded); the listing was never held. */
    ch_log_info("market: order %llu unpaid after %lld s: canceled", (unsigned long long)o->id,
                (long long)svc->cfg->market_payment_ttl_s);
    return ch_order_apply(svc, conn, o, CH_ORDER_EV_CANCEL, NULL);
}

/* ---- transfer ---------------------------------------------------------------------- */

/* The state a step decides by: a disputed order's is the state the dispute interrupted
 * (a refunding order stays one that no longer wants its transfer). */
static ch_order_state_t ch__deciding_state(const ch_order_t *o)
{
    return o->state == CH_ORDER_DISPUTED && o->prev_state >= 0 ? (ch_order_state_t)o->prev_state : o->state;
}

/* Stores a transfer made while a dispute held the order: it completed all the same. */
static ch_err_t ch__transfer_under_dispute(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o)
{
    ch_db_param_t p[] = {CH_DB_P_INT(o->id), CH_DB_P_TEXT(o->transfer_id), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(svc, conn,
                             "UPDATE orders SET transfer_id = $2, prev_state = 'completed', updated_at = $3"
                             " WHERE id = $1 AND transfer_id IS NULL",
                             p, CH_NPARAMS(p), NULL, NULL);
    if (err == CH_OK) {
        err = ch_listing_mark_sold(svc, conn, o->listing_id, o->id);
        if (err == CH_ECONFLICT)
            err = CH_OK;
    }
    int64_t net = o->amount - o->fee;
    if (err == CH_OK) {
        ch_ledger_entry_t rel[3] = {{CH_LEDGER_ESCROW, o->amount, NULL}};
        size_t n = 1;
        if (net)
            rel[n++] = (ch_ledger_entry_t){CH_LEDGER_SELLER_PAYABLE, -net, NULL};
        if (o->fee)
            rel[n++] = (ch_ledger_entry_t){CH_LEDGER_FEE_REVENUE, -o->fee, NULL};
        err = ch__post(svc, conn, o, "release", rel, n);
    }
    if (err == CH_OK && net) {
        ch_ledger_entry_t tr[] = {{CH_LEDGER_SELLER_PAYABLE, net, NULL}, {CH_LEDGER_STRIPE_BALANCE, -net, o->transfer_id}};
        err = ch__post(svc, conn, o, "transfer", tr, 2);
    }
    return err;
}

/* The late-transfer rule: a transfer that landed (made, or found by the lookup) while the
 * order is in a state that no longer wants it (ch_order_transfer_unwanted: refunding,
 * refunded, canceled, a lost dispute) is stored, booked as owed back by the seller (it left
 * the platform's balance) and reversed at once by the durable reversal step. On conn, in
 * the transaction that stores the transfer's id. */
static ch_err_t ch__transfer_late(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, const char *transfer)
{
    int64_t net = o->amount - o->fee, changes = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(o->id), CH_DB_P_TEXT(transfer)};
    ch_err_t err = ch_sql_on(svc, conn, "UPDATE orders SET transfer_id = $2 WHERE id = $1 AND transfer_id IS NULL", p,
                             2, NULL, &changes);
    if (err || changes != 1)
        return err;
    snprintf(o->transfer_id, sizeof(o->transfer_id), "%s", transfer);
    if (net > 0) {
        ch_ledger_entry_t tr[] = {{CH_LEDGER_SELLER_PAYABLE, net, NULL}, {CH_LEDGER_STRIPE_BALANCE, -net, transfer}};
        err = ch__post(svc, conn, o, CH_ORDER_LEDGER_LATE_TRANSFER, tr, 2);
    }
    if (err == CH_OK) /* a reversal job that ended (or was held) before runs again */
        err = ch_market_job_ensure(svc, conn, o->id, CH_ORDER_STEP_REVERSAL, ch_now_ms());
    ch_log_warn("market: transfer %s of order %llu landed in state %s: reversing it", transfer,
                (unsigned long long)o->id, ch_order_state_name(o->state));
    return err;
}

/* Stores what a step made: reloads the order on a new transaction, runs store (which moves
 * it and books, or does nothing when the order is past it) and marks the job done, all in
 * one transaction; again when a concurrent move changed the state it read. */
typedef ch_err_t (*ch__store_fn)(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, const char *made);

static ch_err_t ch__store(ch_svc_t *svc, const ch_market_job_t *job, ch_order_t *o, ch__store_fn store,
                          const char *made)
{
    for (int tries = 0; tries < CH_ORDER_CAS_TRIES; tries++) {
        ch_db_conn_t *conn;
        ch_err_t err = ch_sql_begin(svc, 1, &conn);
        if (err)
            return err;
        if ((err = ch_order_load(svc, conn, job->order_id, o)) == CH_OK)
            err = store(svc, conn, o, made);
        if (err == CH_OK || err == CH_ENOTFOUND)
            err = ch_market_job_done(svc, conn, job->id);
        err = ch_sql_end(svc, conn, err);
        if (err != CH_ECONFLICT)
            return err;
    }
    return CH_ECONFLICT;
}

static ch_err_t ch__store_transfer(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, const char *transfer)
{
    if (o->transfer_id[0])
        return CH_OK;
    if (o->state == CH_ORDER_TRANSFERRING) {
        snprintf(o->transfer_id, sizeof(o->transfer_id), "%s", transfer);
        return ch_order_apply(svc, conn, o, CH_ORDER_EV_TRANSFERRED, NULL);
    }
    if (!transfer[0])
        return CH_OK;
    if (o->state == CH_ORDER_DISPUTED && o->prev_state == CH_ORDER_TRANSFERRING) {
        snprintf(o->transfer_id, sizeof(o->transfer_id), "%s", transfer);
        return ch__transfer_under_dispute(svc, conn, o);
    }
    /* Any other state (one that no longer wants it, or a dispute that interrupted one):
     * booked as owed back by the seller and reversed. */
    if (!ch_order_transfer_unwanted(ch__deciding_state(o)))
        ch_log_error("market: transfer %s of order %llu made in state %s", transfer, (unsigned long long)o->id,
                     ch_order_state_name(o->state));
    return ch__transfer_late(svc, conn, o, transfer);
}

static ch_err_t ch__transfer(ch_svc_t *svc, const ch_market_job_t *job, ch_order_t *o, char *why, size_t wl)
{
    int under_dispute = o->state == CH_ORDER_DISPUTED && o->prev_state == CH_ORDER_TRANSFERRING;
    int unwanted = ch_order_transfer_unwanted(ch__deciding_state(o));
    if ((o->state != CH_ORDER_TRANSFERRING && !under_dispute && !unwanted) || o->transfer_id[0])
        return ch__done(svc, job);
    int64_t net = o->amount - o->fee;
    if (net <= 0 && unwanted)
        return ch__done(svc, job);
    char key[96], id[CH_ID_STR_LEN], transfer[CH_ORDER_STRIPE_ID_MAX] = "";
    ch_err_t err = CH_OK;
    ch_id_format(o->id, id);
    /* Under a dispute, or in a state that no longer wants it, only a transfer an earlier
     * attempt made is stored (and then reversed): none is made. */
    if (net > 0 && (job->attempts > 1 || under_dispute || unwanted) &&
        (err = ch_market_find_made(svc, "/v1/transfers", json_pack("{s:s,s:i}", "transfer_group", id, "limit", 10),
                             "transfer_group", id, 0, transfer, sizeof(transfer), why, wl)) != CH_OK)
        return err;
    if (unwanted && !transfer[0])
        return ch__done(svc, job);
    if (under_dispute && !transfer[0]) { /* claimed before the dispute held it: hold it now */
        ch_db_conn_t *conn;
        int held = 0;
        if ((err = ch_sql_begin(svc, 1, &conn)) != CH_OK)
            return err;
        err = ch_sql_end(svc, conn, ch_market_job_hold_claimed(svc, conn, job, &held));
        if (err == CH_OK && !held) { /* rearmed since (the dispute won): run again */
            snprintf(why, wl, "rearmed while held");
            err = CH_EUNAVAILABLE;
        }
        return err;
    }
    /* Its source_transaction: a payment whose webhook did not name its charge, not fetched
     * by charge_fee yet, gets it here (an empty one is refused by Stripe). */
    if (net > 0 && !transfer[0] && !o->charge_id[0] && (err = ch__fetch_charge(svc, o, why, wl)) != CH_OK)
        return err;
    if (net > 0 && !transfer[0]) {
        ch__key(key, sizeof(key), o->id, job->step);
        json_t *params = json_pack("{s:I,s:s,s:s,s:s,s:s,s:{s:s}}", "amount", (json_int_t)net, "currency", o->currency,
                                   "destination", o->seller_account, "transfer_group", id, "source_transaction",
                                   o->charge_id, "metadata", "order_id", id);
        ch_stripe_result_t res;
        err = ch_market_stripe_post(svc, job, "/v1/transfers", params, key, &res, why, wl);
        json_decref(params);
        if (err == CH_OK)
            snprintf(transfer, sizeof(transfer), "%s", ch__str(res.body, "id"));
        ch_stripe_result_clear(&res);
        if (err == CH_OK && !transfer[0]) {
            snprintf(why, wl, "transfer answer without an id");
            err = CH_EINTERNAL;
        }
        if (err)
            return err;
    }
    return ch__store(svc, job, o, ch__store_transfer, transfer);
}

/* ---- reversal of the transfer (a refund after it, or a lost dispute) ----------------- */

/* Whether the order's ledger holds the movement what (ref "order:<id>:<what>"). */
static ch_err_t ch__booked(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o, const char *what, int *yes)
{
    char ref[96];
    ch_db_rows_t *rows = NULL;
    snprintf(ref, sizeof(ref), "order:%llu:%s", (unsigned long long)o->id, what);
    ch_db_param_t p[] = {CH_DB_P_TEXT(ref)};
    ch_err_t err = ch_sql_on(svc, conn, "SELECT 1 FROM ledger_transactions WHERE ref = $1", p, 1, &rows, NULL);
    *yes = err == CH_OK && ch_db_rows_count(rows) > 0;
    ch_db_rows_free(rows);
    return err;
}

/* Stores the reversal rev and books it: a late transfer's (owed back by the seller), a lost
 * dispute's (recovers part of the loss), or a refund's after the transfer (the release
 * undone: escrow holds the amount for the refund again, queued here). */
static ch_err_t ch__store_reversal(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, const char *rev)
{
    int64_t changes = 0, net = o->amount - o->fee;
    ch_db_param_t p[] = {CH_DB_P_INT(o->id), CH_DB_P_TEXT(rev), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(svc, conn,
                             "UPDATE orders SET reversal_id = $2, updated_at = $3 WHERE id = $1 AND reversal_id IS NULL",
                             p, CH_NPARAMS(p), NULL, &changes);
    if (err || changes != 1)
        return err;
    int late = 0, lost = o->state == CH_ORDER_DISPUTE_LOST;
    if ((err = ch__booked(svc, conn, o, CH_ORDER_LEDGER_LATE_TRANSFER, &late)) != CH_OK)
        return err;
    ch_ledger_entry_t back[] = {{CH_LEDGER_STRIPE_BALANCE, net, rev},
                                {lost && !late ? CH_LEDGER_DISPUTE_LOSSES : CH_LEDGER_SELLER_PAYABLE, -net, NULL}};
    err = ch__post(svc, conn, o, "reversal", back, 2);
    if (err == CH_OK && !lost && !late) { /* undo the release: the amount is held for the refund again */
        ch_ledger_entry_t un[3] = {{CH_LEDGER_ESCROW, -o->amount, NULL}, {CH_LEDGER_SELLER_PAYABLE, net, NULL}};
        size_t n = 2;
        if (o->fee)
            un[n++] = (ch_ledger_entry_t){CH_LEDGER_FEE_REVENUE, o->fee, NULL};
        err = ch__post(svc, conn, o, "unrelease", un, n);
    }
    if (err == CH_OK && o->state == CH_ORDER_REFUNDING) /* the refund waited for it (its job maybe ended) */
        err = ch_market_job_ensure(svc, conn, o->id, CH_ORDER_STEP_REFUND, ch_now_ms());
    return err;
}

static ch_err_t ch__reversal(ch_svc_t *svc, const ch_market_job_t *job, ch_order_t *o, char *why, size_t wl)
{
    if (!o->transfer_id[0] || o->reversal_id[0] || !ch_order_transfer_unwanted(ch__deciding_state(o)))
        return ch__done(svc, job);
    int64_t net = o->amount - o->fee;
    char key[96], id[CH_ID_STR_LEN], path[CH_ORDER_STRIPE_ID_MAX + 32], rev[CH_ORDER_STRIPE_ID_MAX] = "";
    ch__key(key, sizeof(key), o->id, job->step);
    ch_id_format(o->id, id);
    snprintf(path, sizeof(path), "/v1/transfers/%s/reversals", o->transfer_id);
    ch_err_t err = CH_OK;
    /* On a retry: the reversal an earlier attempt made (its answer lost). */
    if (job->attempts > 1 && (err = ch_market_find_made(svc, path, json_pack("{s:i}", "limit", 10), "transfer",
                                                  o->transfer_id, 0, rev, sizeof(rev), why, wl)) != CH_OK)
        return err;
    if (!rev[0]) {
        json_t *params = json_pack("{s:I,s:{s:s}}", "amount", (json_int_t)net, "metadata", "order_id", id);
        ch_stripe_result_t res;
        err = ch_market_stripe_post(svc, job, path, params, key, &res, why, wl);
        json_decref(params);
        if (err == CH_OK)
            snprintf(rev, sizeof(rev), "%s", ch__str(res.body, "id"));
        ch_stripe_result_clear(&res);
    }
    if (err == CH_OK && !rev[0]) {
        snprintf(why, wl, "reversal answer without an id");
        err = CH_EINTERNAL;
    }
    return err ? err : ch__store(svc, job, o, ch__store_reversal, rev);
}

/* ---- refund ------------------------------------------------------------------------ */

/* Whether o is a refunding order a dispute interrupted (open, or lost since). */
static int ch__refund_interrupted(const ch_order_t *o)
{
    return (o->state == CH_ORDER_DISPUTED || o->state == CH_ORDER_DISPUTE_LOST) && o->prev_state == CH_ORDER_REFUNDING;
}

static ch_err_t ch__store_refund(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, const char *refund)
{
    if (ch__refund_interrupted(o) && refund[0] && !o->refund_id[0]) {
        /* Made before a dispute opened (its answer landing while the dispute is open, or once
         * it is lost): the money left all the same. Stored and booked once (refund_id is the
         * guard): out of what the escrow still holds, the rest a loss (a lost dispute already
         * paid the buyer from it: the buyer was paid twice). A won dispute then moves the
         * order to refunded. */
        int64_t changes = 0, escrow = 0;
        ch_db_param_t p[] = {CH_DB_P_INT(o->id), CH_DB_P_TEXT(refund)};
        ch_err_t err = ch_sql_on(svc, conn, "UPDATE orders SET refund_id = $2 WHERE id = $1 AND refund_id IS NULL", p,
                                 2, NULL, &changes);
        if (err || changes != 1)
            return err;
        if ((err = ch_order_ledger_sum(svc, conn, o, CH_LEDGER_ESCROW, &escrow)) != CH_OK)
            return err;
        int64_t held = -escrow < 0 ? 0 : -escrow < o->amount ? -escrow : o->amount;
        ch_ledger_entry_t e[3] = {{CH_LEDGER_STRIPE_BALANCE, -o->amount, refund}};
        size_t n = 1;
        if (held)
            e[n++] = (ch_ledger_entry_t){CH_LEDGER_ESCROW, held, NULL};
        if (o->amount - held)
            e[n++] = (ch_ledger_entry_t){CH_LEDGER_DISPUTE_LOSSES, o->amount - held, NULL};
        return ch__post(svc, conn, o, "refund", e, n);
    }
    if (o->state != CH_ORDER_REFUNDING)
        return CH_OK;
    snprintf(o->refund_id, sizeof(o->refund_id), "%s", refund);
    return ch_order_apply(svc, conn, o, CH_ORDER_EV_REFUNDED, NULL);
}

/* A step claimed before a dispute held it, run while the order is disputed: holds itself
 * (a compare-and-set on its claim: a rearm since then wins, and it runs again). */
static ch_err_t ch__hold_self(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t wl)
{
    ch_db_conn_t *conn;
    int held = 0;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    err = ch_sql_end(svc, conn, ch_market_job_hold_claimed(svc, conn, job, &held));
    if (err == CH_OK && !held) {
        snprintf(why, wl, "rearmed while held");
        err = CH_EUNAVAILABLE;
    }
    return err;
}

static ch_err_t ch__refund(ch_svc_t *svc, const ch_market_job_t *job, ch_order_t *o, char *why, size_t wl)
{
    /* Stripe refuses to refund a disputed charge: the refund waits for the outcome. */
    if (o->state == CH_ORDER_DISPUTED && o->prev_state == CH_ORDER_REFUNDING && !o->refund_id[0])
        return ch__hold_self(svc, job, why, wl);
    /* A lost dispute interrupted the refund: the buyer got the money through it and Stripe
     * refuses a refund now; only a refund an earlier attempt made (its answer lost) is
     * looked up, stored and booked. */
    int lost = ch__refund_interrupted(o) && o->state == CH_ORDER_DISPUTE_LOST && !o->refund_id[0];
    if ((o->state != CH_ORDER_REFUNDING && !lost) || !o->payment_intent_id[0])
        return ch__done(svc, job);
    if (!lost && o->transfer_id[0] && !o->reversal_id[0]) { /* the seller's part comes back first */
        snprintf(why, wl, "waiting for the transfer's reversal");
        return CH_EUNAVAILABLE;
    }
    char key[96], id[CH_ID_STR_LEN], refund[CH_ORDER_STRIPE_ID_MAX] = "";
    if (o->refund_id[0]) { /* made and booked while a dispute held the order */
        snprintf(refund, sizeof(refund), "%s", o->refund_id);
        return ch__store(svc, job, o, ch__store_refund, refund);
    }
    ch__key(key, sizeof(key), o->id, job->step);
    ch_id_format(o->id, id);
    ch_err_t err = CH_OK;
    if ((job->attempts > 1 || lost) &&
        (err = ch_market_refund_find(svc, o->payment_intent_id, refund, sizeof(refund), why, wl)) != CH_OK)
        return err;
    if (lost && !refund[0])
        return ch__done(svc, job);
    if (!refund[0]) {
        json_t *params = json_pack("{s:s,s:{s:s}}", "payment_intent", o->payment_intent_id, "metadata", "order_id", id);
        err = ch_market_refund_post(svc, job, params, key, refund, sizeof(refund), why, wl);
        json_decref(params);
    }
    return err ? err : ch__store(svc, job, o, ch__store_refund, refund);
}

/* ---- expire_payment (its store above) ------------------------------------------------ */

/* Looks at the PaymentIntent before an unpaid order is canceled: a buyer may have paid in the
 * last second (its webhook not here yet), or paid by an asynchronous method (`processing`).
 * Such an order is not canceled: the job is put back (CH_EUNAVAILABLE, why says so) and looks
 * again after its backoff, by when the webhook has normally paid the order (and the job then
 * ends). Only a PaymentIntent the buyer can still act on (requires_payment_method,
 * requires_confirmation, requires_action) or already canceled lets the order be canceled. */
static ch_err_t ch__expire(ch_svc_t *svc, const ch_market_job_t *job, ch_order_t *o, char *why, size_t wl)
{
    if ((o->state == CH_ORDER_PENDING_PAYMENT || o->state == CH_ORDER_PAYMENT_FAILED) && o->payment_intent_id[0]) {
        char path[CH_ORDER_STRIPE_ID_MAX + 32], status[32] = "";
        snprintf(path, sizeof(path), "/v1/payment_intents/%s", o->payment_intent_id);
        ch_stripe_result_t res;
        ch_err_t err = ch_market_stripe(svc, "GET", path, NULL, NULL, &res, why, wl);
        if (err == CH_OK)
            snprintf(status, sizeof(status), "%s", ch__str(res.body, "status"));
        ch_stripe_result_clear(&res);
        if (err)
            return err; /* Stripe unreachable: not canceled blind, tried again */
        static const char *const cancelable[] = {"requires_payment_method", "requires_confirmation", "requires_action",
                                                 "canceled"};
        int cancel = 0;
        for (size_t i = 0; i < sizeof(cancelable) / sizeof(cancelable[0]); i++)
            cancel |= strcmp(status, cancelable[i]) == 0;
        if (!cancel) {
            snprintf(why, wl, "PaymentIntent %s is %s: not canceled, waiting for its webhook", o->payment_intent_id,
                     status[0] ? status : "of no status");
            return CH_EUNAVAILABLE;
        }
    }
    return ch__store(svc, job, o, ch__store_expired, "");
}

/* ---- cancel_payment_intent --------------------------------------------------------- */

static ch_err_t ch__cancel_pi(ch_svc_t *svc, const ch_market_job_t *job, ch_order_t *o, char *why, size_t wl)
{
    if (o->state != CH_ORDER_CANCELED || !o->payment_intent_id[0])
        return ch__done(svc, job);
    char key[96], path[CH_ORDER_STRIPE_ID_MAX + 32];
    ch__key(key, sizeof(key), o->id, job->step);
    snprintf(path, sizeof(path), "/v1/payment_intents/%s/cancel", o->payment_intent_id);
    ch_stripe_result_t res;
    ch_err_t err = ch_market_stripe_post(svc, job, path, NULL, key, &res, why, wl);
    ch_stripe_result_clear(&res);
    /* Refused (it succeeded meanwhile: its webhook refunds it; or it was canceled): done. */
    return err == CH_OK || err == CH_EINVAL ? ch__done(svc, job) : err;
}

int ch_order_step_uses_key(const char *step)
{
    static const char *const posts[] = {CH_ORDER_STEP_PAYMENT_INTENT, CH_ORDER_STEP_TRANSFER, CH_ORDER_STEP_REVERSAL,
                                        CH_ORDER_STEP_REFUND, CH_ORDER_STEP_CANCEL_PI};
    for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++)
        if (strcmp(step, posts[i]) == 0)
            return 1;
    return 0;
}

ch_err_t ch_order_step(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t wl)
{
    ch_order_t o;
    ch_err_t err = ch_order_load(svc, NULL, job->order_id, &o);
    if (err == CH_ENOTFOUND)
        return ch__done(svc, job);
    if (err)
        return err;
    if (strcmp(job->step, CH_ORDER_STEP_PAYMENT_INTENT) == 0)
        return ch__payment_intent(svc, job, &o, why, wl);
    if (strcmp(job->step, CH_ORDER_STEP_CHARGE_FEE) == 0)
        return ch__charge_fee(svc, job, &o, why, wl);
    if (strcmp(job->step, CH_ORDER_STEP_AUTO_CONFIRM) == 0)
        return ch__auto_confirm(svc, job, why, wl);
    if (strcmp(job->step, CH_ORDER_STEP_TRANSFER) == 0)
        return ch__transfer(svc, job, &o, why, wl);
    if (strcmp(job->step, CH_ORDER_STEP_REVERSAL) == 0)
        return ch__reversal(svc, job, &o, why, wl);
    if (strcmp(job->step, CH_ORDER_STEP_REFUND) == 0)
        return ch__refund(svc, job, &o, why, wl);
    if (strcmp(job->step, CH_ORDER_STEP_CANCEL_PI) == 0)
        return ch__cancel_pi(svc, job, &o, why, wl);
    if (strcmp(job->step, CH_ORDER_STEP_EXPIRE) == 0)
        return ch__expire(svc, job, &o, why, wl);
    snprintf(why, wl, "unknown step %s", job->step);
    return CH_EINTERNAL;
}
