/* Orders: the row, its JSON, and the moves with their effects (orders.h). */
#include "svc/market/orders.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/common/sql.h"
#include "svc/market/ledger.h"
#include "svc/market/listings.h"

#define CH__ORDER_COLS                                                                                      \
    "id, buyer_id, seller_id, listing_id, amount, fee, stripe_fee, currency, state, prev_state, seller_account," \
    " payment_intent_id, client_secret, charge_id, transfer_id, reversal_id, refund_id, dispute_id, shipped_at," \
    " auto_confirm_at, created_at, updated_at"

int64_t ch_order_fee(int64_t amount, int64_t bps)
{
    if (amount <= 0 || bps <= 0)
        return 0;
    /* amount is at most CH_LISTING_PRICE_MAX (1e12) and bps at most 10^4: no overflow. */
    return amount * bps / CH_ORDER_BPS_ONE;
}

static void ch__copy(char *dst, size_t size, const ch_db_rows_t *rows, size_t col)
{
    snprintf(dst, size, "%s", ch_db_rows_text(rows, 0, col));
}

static ch_err_t ch__load_where(ch_svc_t *svc, ch_db_conn_t *conn, const char *where, const ch_db_param_t *p,
                               size_t n, ch_order_t *o)
{
    char sql[768];
    ch_db_rows_t *rows = NULL;
    snprintf(sql, sizeof(sql), "SELECT " CH__ORDER_COLS " FROM orders WHERE %s", where);
    ch_err_t err = conn ? ch_sql_on(svc, conn, sql, p, n, &rows, NULL) : ch_sql_run(svc, sql, p, n, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = CH_ENOTFOUND;
    if (err) {
        ch_db_rows_free(rows);
        return err;
    }
    memset(o, 0, sizeof(*o));
    o->id = (uint64_t)ch_db_rows_int(rows, 0, 0);
    o->buyer_id = (uint64_t)ch_db_rows_int(rows, 0, 1);
    o->seller_id = (uint64_t)ch_db_rows_int(rows, 0, 2);
    o->listing_id = (uint64_t)ch_db_rows_int(rows, 0, 3);
    o->amount = ch_db_rows_int(rows, 0, 4);
    o->fee = ch_db_rows_int(rows, 0, 5);
    o->stripe_fee = ch_db_rows_isnull(rows, 0, 6) ? -1 : ch_db_rows_int(rows, 0, 6);
    ch__copy(o->currency, sizeof(o->currency), rows, 7);
    int s = ch_order_state_parse(ch_db_rows_text(rows, 0, 8));
    o->state = s < 0 ? CH_ORDER_PENDING_PAYMENT : (ch_order_state_t)s;
    o->prev_state = ch_db_rows_isnull(rows, 0, 9) ? -1 : ch_order_state_parse(ch_db_rows_text(rows, 0, 9));
    ch__copy(o->seller_account, sizeof(o->seller_account), rows, 10);
    ch__copy(o->payment_intent_id, sizeof(o->payment_intent_id), rows, 11);
    ch__copy(o->client_secret, sizeof(o->client_secret), rows, 12);
    ch__copy(o->charge_id, sizeof(o->charge_id), rows, 13);
    ch__copy(o->transfer_id, sizeof(o->transfer_id), rows, 14);
    ch__copy(o->reversal_id, sizeof(o->reversal_id), rows, 15);
    ch__copy(o->refund_id, sizeof(o->refund_id), rows, 16);
    ch__copy(o->dispute_id, sizeof(o->dispute_id), rows, 17);
    o->shipped_at = ch_db_rows_int(rows, 0, 18);
    o->auto_confirm_at = ch_db_rows_int(rows, 0, 19);
    o->created_at = ch_db_rows_int(rows, 0, 20);
    o->updated_at = ch_db_rows_int(rows, 0, 21);
    ch_db_rows_free(rows);
    return CH_OK;
}

ch_err_t ch_order_load(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t id, ch_order_t *o)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    return ch__load_where(svc, conn, "id = $1", p, 1, o);
}

ch_err_t ch_order_find_stripe(ch_svc_t *svc, ch_db_conn_t *conn, const char *pi, const char *charge, ch_order_t *o)
{
    if (pi && pi[0]) {
        ch_db_param_t p[] = {CH_DB_P_TEXT(pi)};
        return ch__load_where(svc, conn, "payment_intent_id = $1", p, 1, o);
    }
    if (charge && charge[0]) {
        ch_db_param_t p[] = {CH_DB_P_TEXT(charge)};
        return ch__load_where(svc, conn, "charge_id = $1", p, 1, o);
    }
    return CH_ENOTFOUND;
}

static json_t *ch__time(int64_t ms)
{
    char buf[CH_RFC3339_LEN];
    if (!ms)
        return json_null();
    ch_format_rfc3339(ms, buf);
    return json_string(buf);
}

static json_t *ch__str_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

json_t *ch_order_json(const ch_order_t *o, uint64_t viewer)
{
    char id[CH_ID_STR_LEN], buyer[CH_ID_STR_LEN], seller[CH_ID_STR_LEN], listing[CH_ID_STR_LEN];
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "id", ch_id_format(o->id, id),
                     "state", ch_order_state_name(o->state), "listing_id", ch_id_format(o->listing_id, listing),
                     "buyer_id", ch_id_format(o->buyer_id, buyer), "seller_id", ch_id_format(o->seller_id, seller),
                     "amount", (json_int_t)o->amount, "fee", (json_int_t)o->fee, "currency", o->currency,
                     "client_secret", viewer == o->buyer_id ? ch__str_or_null(o->client_secret) : json_null(),
                     "payment_intent_id", ch__str_or_null(o->payment_intent_id), "shipped_at",
                     ch__time(o->shipped_at), "auto_confirm_at", ch__time(o->auto_confirm_at), "created_at",
                     ch__time(o->created_at), "updated_at", ch__time(o->updated_at));
}

/* ---- moves -------------------------------------------------------------------------- */

static ch_err_t ch__post(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o, const char *what,
                         const ch_ledger_entry_t *e, size_t n)
{
    char ref[96];
    snprintf(ref, sizeof(ref), "order:%llu:%s", (unsigned long long)o->id, what);
    return ch_ledger_post(svc, conn, ref, what, o->id, o->currency, e, n, NULL);
}

/* The ref of a dispute's movement: keyed by the dispute's id ("order:<id>:<what>:<dispute>"),
 * so a second dispute on one order is booked too. */
static void ch__dispute_ref(char *ref, size_t len, const ch_order_t *o, const char *what)
{
    snprintf(ref, len, "order:%llu:%s:%s", (unsigned long long)o->id, what, o->dispute_id);
}

static ch_err_t ch__post_dispute(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o, const char *what,
                                 const ch_ledger_entry_t *e, size_t n)
{
    char ref[CH_ORDER_STRIPE_ID_MAX + 64];
    ch__dispute_ref(ref, sizeof(ref), o, what);
    return ch_ledger_post(svc, conn, ref, what, o->id, o->currency, e, n, NULL);
}

/* The sum of the order's entries on account (e.g. what its escrow still holds, negative). */
ch_err_t ch_order_ledger_sum(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o, const char *account,
                             int64_t *sum)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(o->id), CH_DB_P_TEXT(account)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e JOIN ledger_transactions t"
                             " ON t.id = e.txn_id WHERE t.order_id = $1 AND e.account = $2",
                             p, 2, &rows, NULL);
    *sum = err == CH_OK && ch_db_rows_count(rows) ? ch_db_rows_int(rows, 0, 0) : 0;
    ch_db_rows_free(rows);
    return err;
}

/* The money of the charge arrived on the platform's balance, held for the order. */
static ch_err_t ch__post_paid(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o)
{
    ch_ledger_entry_t e[] = {{CH_LEDGER_STRIPE_BALANCE, o->amount, o->charge_id[0] ? o->charge_id : NULL},
                             {CH_LEDGER_ESCROW, -o->amount, NULL}};
    return ch__post(svc, conn, o, "paid", e, 2);
}

/* Escrow released: the seller is owed the price less the fee, the platform earns the fee;
 * then the transfer pays the seller out of the platform's balance. */
static ch_err_t ch__post_completed(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o)
{
    int64_t net = o->amount - o->fee;
    ch_ledger_entry_t rel[3] = {{CH_LEDGER_ESCROW, o->amount, NULL}};
    size_t n = 1;
    if (net)
        rel[n++] = (ch_ledger_entry_t){CH_LEDGER_SELLER_PAYABLE, -net, NULL};
    if (o->fee)
        rel[n++] = (ch_ledger_entry_t){CH_LEDGER_FEE_REVENUE, -o->fee, NULL};
    ch_err_t err = ch__post(svc, conn, o, "release", rel, n);
    if (err == CH_OK && net) {
        ch_ledger_entry_t tr[] = {{CH_LEDGER_SELLER_PAYABLE, net, NULL},
                                  {CH_LEDGER_STRIPE_BALANCE, -net, o->transfer_id}};
        err = ch__post(svc, conn, o, "transfer", tr, 2);
    }
    return err;
}

/* The buyer got the whole amount back from the platform's balance. */
static ch_err_t ch__post_refunded(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o)
{
    ch_ledger_entry_t e[] = {{CH_LEDGER_ESCROW, o->amount, NULL},
                             {CH_LEDGER_STRIPE_BALANCE, -o->amount, o->refund_id[0] ? o->refund_id : NULL}};
    return ch__post(svc, conn, o, "refund", e, 2);
}

/* Sums over the balance transactions of a dispute object (the webhook's; Stripe lists the
 * withdrawal, and the reinstatement once won): amounts below zero (withdrawn) or above. */
static void ch__dispute_sums(const ch_order_t *o, int withdrawn, int64_t *amount, int64_t *fee)
{
    size_t i;
    const json_t *bt, *bts = o->event_obj ? json_object_get(o->event_obj, "balance_transactions") : NULL;
    *amount = *fee = 0;
    json_array_foreach(bts, i, bt)
    {
        int64_t a = json_integer_value(json_object_get(bt, "amount"));
        if ((withdrawn && a < 0) || (!withdrawn && a > 0)) {
            *amount += a;
            *fee += json_integer_value(json_object_get(bt, "fee"));
        }
    }
    if (!bts) /* an object without them: the whole amount, no fee known */
        *amount = withdrawn ? -o->amount : o->amount;
}

/* Stripe withdrew the disputed amount and its dispute fee from the platform's balance. */
static ch_err_t ch__post_dispute_opened(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o)
{
    int64_t amount, fee;
    ch__dispute_sums(o, 1, &amount, &fee);
    if (!amount && !fee)
        return CH_OK;
    const char *ref = o->dispute_id[0] ? o->dispute_id : NULL;
    ch_ledger_entry_t e[3] = {{CH_LEDGER_STRIPE_BALANCE, amount - fee, ref}};
    size_t n = 1;
    if (amount)
        e[n++] = (ch_ledger_entry_t){CH_LEDGER_DISPUTED_FUNDS, -amount, NULL};
    if (fee)
        e[n++] = (ch_ledger_entry_t){CH_LEDGER_STRIPE_FEES, fee, NULL};
    return ch__post_dispute(svc, conn, o, "dispute_withdrawn", e, n);
}

/* A won dispute: Stripe put the amount back (the fee stays spent). */
static ch_err_t ch__post_dispute_won(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o)
{
    int64_t amount, fee;
    ch__dispute_sums(o, 0, &amount, &fee);
    if (!amount)
        return CH_OK;
    ch_ledger_entry_t e[] = {{CH_LEDGER_STRIPE_BALANCE, amount - fee, o->dispute_id[0] ? o->dispute_id : NULL},
                             {CH_LEDGER_DISPUTED_FUNDS, -(amount - fee), NULL}};
    return ch__post_dispute(svc, conn, o, "dispute_reinstated", e, 2);
}

/* A lost dispute: the withdrawn amount went to the buyer: out of escrow while the escrow
 * still holds the order's money (not released to the seller, not refunded), else a loss
 * (the transfer's reversal recovers part of it). */
static ch_err_t ch__post_dispute_lost(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o)
{
    ch_db_rows_t *rows = NULL;
    char ref[CH_ORDER_STRIPE_ID_MAX + 64], legacy[96];
    ch__dispute_ref(ref, sizeof(ref), o, "dispute_withdrawn");
    /* (before refs were keyed by the dispute: the order's one dispute) */
    snprintf(legacy, sizeof(legacy), "order:%llu:dispute_withdrawn", (unsigned long long)o->id);
    ch_db_param_t p[] = {CH_DB_P_TEXT(ref), CH_DB_P_TEXT(legacy), CH_DB_P_TEXT(CH_LEDGER_DISPUTED_FUNDS)};
    /* What the opening booked as held (nothing when Stripe told no amount). */
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e JOIN ledger_transactions t"
                             " ON t.id = e.txn_id WHERE t.ref IN ($1, $2) AND e.account = $3",
                             p, 3, &rows, NULL);
    int64_t held = err == CH_OK && ch_db_rows_count(rows) ? ch_db_rows_int(rows, 0, 0) : 0, escrow = 0;
    ch_db_rows_free(rows);
    if (err || !held)
        return err;
    if ((err = ch_order_ledger_sum(svc, conn, o, CH_LEDGER_ESCROW, &escrow)) != CH_OK)
        return err;
    ch_ledger_entry_t e[] = {{-escrow >= held ? CH_LEDGER_ESCROW : CH_LEDGER_DISPUTE_LOSSES, held, NULL},
                             {CH_LEDGER_DISPUTED_FUNDS, -held, NULL}};
    return ch__post_dispute(svc, conn, o, "dispute_lost", e, 2);
}

/* Compare-and-set of the state (and the columns a move stores) from o->state to next. */
static ch_err_t ch__cas(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, ch_order_state_t next)
{
    int64_t changes = 0, now = ch_now_ms();
    ch_db_param_t p[] = {CH_DB_P_INT(o->id),
                         CH_DB_P_TEXT(ch_order_state_name(o->state)),
                         CH_DB_P_TEXT(ch_order_state_name(next)),
                         o->prev_state >= 0 ? CH_DB_P_TEXT(ch_order_state_name((ch_order_state_t)o->prev_state))
                                            : CH_DB_P_NULL,
                         CH_DB_P_TEXT(o->charge_id[0] ? o->charge_id : NULL),
                         CH_DB_P_TEXT(o->transfer_id[0] ? o->transfer_id : NULL),
                         CH_DB_P_TEXT(o->refund_id[0] ? o->refund_id : NULL),
                         CH_DB_P_TEXT(o->dispute_id[0] ? o->dispute_id : NULL),
                         o->shipped_at ? CH_DB_P_INT(o->shipped_at) : CH_DB_P_NULL,
                         o->auto_confirm_at ? CH_DB_P_INT(o->auto_confirm_at) : CH_DB_P_NULL,
                         CH_DB_P_INT(now),
                         CH_DB_P_TEXT(o->payment_intent_id[0] ? o->payment_intent_id : NULL),
                         CH_DB_P_TEXT(o->client_secret[0] ? o->client_secret : NULL)};
    /* The PaymentIntent's id comes with its webhook too: a payment that arrives before the
     * request (or job) stored the id (a crash in between) stores it here. */
    ch_err_t err = ch_sql_on(svc, conn,
                             "UPDATE orders SET state = $3, prev_state = $4, charge_id = COALESCE(charge_id, $5),"
                             " transfer_id = COALESCE(transfer_id, $6), refund_id = COALESCE(refund_id, $7),"
                             " dispute_id = COALESCE($8, dispute_id), shipped_at = $9, auto_confirm_at = $10,"
                             " updated_at = $11, payment_intent_id = COALESCE(payment_intent_id, $12),"
                             " client_secret = COALESCE(client_secret, $13) WHERE id = $1 AND state = $2",
                             p, CH_NPARAMS(p), NULL, &changes);
    if (err)
        return err;
    if (changes != 1)
        return CH_ECONFLICT;
    o->state = next;
    o->updated_at = now;
    return CH_OK;
}

static ch_err_t ch__job(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o, const char *step, int64_t at)
{
    return ch_market_job_enqueue(svc, conn, "order", o->id, step, at);
}

/* The effects of arriving in state o->state from `from` (o already moved). */
static ch_err_t ch__effects(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, ch_order_state_t from)
{
    int64_t now = ch_now_ms();
    ch_err_t err = CH_OK;
    if (from == CH_ORDER_DISPUTED && o->state != CH_ORDER_DISPUTE_LOST) { /* won: back where it was */
        err = ch__post_dispute_won(svc, conn, o);
        if (err == CH_OK && o->state == CH_ORDER_TRANSFERRING)
            err = ch_market_job_rearm(svc, conn, o->id, CH_ORDER_STEP_TRANSFER, now);
        /* Refunding: the step it waits for (the transfer's reversal first, it queues the
         * refund), whatever became of its job meanwhile (held, or done while disputed). */
        if (err == CH_OK && o->state == CH_ORDER_REFUNDING)
            err = ch_market_job_ensure(svc, conn, o->id,
                                       o->transfer_id[0] && !o->reversal_id[0] ? CH_ORDER_STEP_REVERSAL
                                                                              : CH_ORDER_STEP_REFUND,
                                       now);
        /* Every job the dispute held runs again and decides by the state it finds (a held
         * transfer may have made one, its answer lost: found and reversed when unwanted). */
        static const char *const held[] = {CH_ORDER_STEP_TRANSFER, CH_ORDER_STEP_REFUND, CH_ORDER_STEP_REVERSAL};
        for (size_t i = 0; err == CH_OK && i < sizeof(held) / sizeof(held[0]); i++)
            err = ch_market_job_rearm_held(svc, conn, o->id, held[i], now);
        /* The auto-confirm job that fell due during the dispute found the order disputed and
         * ended: it is due again (at once when its time has passed). */
        if (err == CH_OK && o->state == CH_ORDER_SHIPPED)
            err = ch_market_job_rearm(svc, conn, o->id, CH_ORDER_STEP_AUTO_CONFIRM,
                                      o->auto_confirm_at > now ? o->auto_confirm_at : now);
        return err;
    }
    switch (o->state) {
    case CH_ORDER_PAID:
        err = ch__post_paid(svc, conn, o);
        if (err == CH_OK) /* its fee; and its charge when the webhook did not name it */
            err = ch__job(svc, conn, o, CH_ORDER_STEP_CHARGE_FEE, now);
        return err;
    case CH_ORDER_TRANSFERRING:
        return ch__job(svc, conn, o, CH_ORDER_STEP_TRANSFER, now);
    case CH_ORDER_SHIPPED:
        return ch__job(svc, conn, o, CH_ORDER_STEP_AUTO_CONFIRM, o->auto_confirm_at);
    case CH_ORDER_COMPLETED:
        err = ch_listing_mark_sold(svc, conn, o->listing_id, o->id);
        if (err == CH_ECONFLICT) { /* the listing moved under us (removed by an admin): the sale stands */
            ch_log_warn("market: listing %llu of completed order %llu was not reserved for it",
                        (unsigned long long)o->listing_id, (unsigned long long)o->id);
            err = CH_OK;
        }
        return err ? err : ch__post_completed(svc, conn, o);
    case CH_ORDER_REFUNDING:
        if (from == CH_ORDER_CANCELED) /* money came after a cancel: it goes back */
            err = ch__post_paid(svc, conn, o);
        if (err == CH_OK && from == CH_ORDER_CANCELED)
            err = ch__job(svc, conn, o, CH_ORDER_STEP_CHARGE_FEE, now);
        if (err)
            return err;
        return ch__job(svc, conn, o, o->transfer_id[0] ? CH_ORDER_STEP_REVERSAL : CH_ORDER_STEP_REFUND, now);
    case CH_ORDER_REFUNDED:
        err = ch_listing_release(svc, conn, o->listing_id, o->id);
        if (err == CH_ECONFLICT) /* sold: a sale is final, the listing stays sold */
            err = CH_OK;
        return err ? err : ch__post_refunded(svc, conn, o);
    case CH_ORDER_CANCELED:
        return o->payment_intent_id[0] ? ch__job(svc, conn, o, CH_ORDER_STEP_CANCEL_PI, now) : CH_OK;
    case CH_ORDER_DISPUTED:
        /* Stripe refuses a refund of a disputed charge: the refund waits for the outcome too. */
        err = ch__post_dispute_opened(svc, conn, o);
        if (err == CH_OK)
            err = ch_market_job_hold(svc, conn, o->id, CH_ORDER_STEP_REFUND, NULL);
        if (err == CH_OK) /* a reversal for a refund: decided by the outcome too */
            err = ch_market_job_hold(svc, conn, o->id, CH_ORDER_STEP_REVERSAL, NULL);
        return err ? err : ch_market_job_hold(svc, conn, o->id, CH_ORDER_STEP_TRANSFER, NULL);
    case CH_ORDER_DISPUTE_LOST:
        err = ch__post_dispute_lost(svc, conn, o);
        /* Recover what the seller was paid: a reversal job the dispute held (or one that
         * ended meanwhile without reversing) runs again. */
        if (err == CH_OK && o->transfer_id[0] && !o->reversal_id[0])
            err = ch_market_job_ensure(svc, conn, o->id, CH_ORDER_STEP_REVERSAL, now);
        /* A transfer job the dispute held may have made one (its answer lost): it runs again,
         * looks it up, and a transfer it finds is booked and reversed (order_steps.c). */
        if (err == CH_OK && !o->transfer_id[0])
            err = ch_market_job_rearm_held(svc, conn, o->id, CH_ORDER_STEP_TRANSFER, now);
        /* A refund job the dispute held may have made one (its answer lost): it runs again,
         * looks it up (never POSTs) and stores and books one it finds (order_steps.c). */
        if (err == CH_OK && o->prev_state == CH_ORDER_REFUNDING && !o->refund_id[0])
            err = ch_market_job_rearm_held(svc, conn, o->id, CH_ORDER_STEP_REFUND, now);
        /* The listing: sold when the goods were shipped (they are gone with the buyer), else
         * the seller still has them and it is for sale again. A listing already moved (sold
         * by this order's completion, removed by an admin) stays as it is. */
        if (err == CH_OK)
            err = o->shipped_at ? ch_listing_mark_sold(svc, conn, o->listing_id, o->id)
                                : ch_listing_release(svc, conn, o->listing_id, o->id);
        if (err == CH_ECONFLICT)
            err = CH_OK;
        return err;
    default:
        return CH_OK;
    }
}

ch_err_t ch_order_apply(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, ch_order_event_t ev,
                        ch_order_verdict_t *verdict)
{
    ch_order_state_t next, from = o->state;
    ch_order_verdict_t v =
        ch_order_next(o->state, ev, o->prev_state >= 0 ? (ch_order_state_t)o->prev_state : CH_ORDER_PAID, &next);
    if (verdict)
        *verdict = v;
    if (v == CH_ORDER_SAME)
        return CH_OK;
    if (v == CH_ORDER_REFUSE)
        return CH_ECONFLICT;
    /* Payment for a listing another order holds (or that was removed): the money goes back. */
    if (next == CH_ORDER_PAID && from != CH_ORDER_DISPUTED) {
        ch_err_t err = ch_listing_reserve(svc, conn, o->listing_id, o->id);
        if (err == CH_ECONFLICT || err == CH_ENOTFOUND) {
            ch_log_info("market: order %llu paid for a listing it cannot hold: refunding", (unsigned long long)o->id);
            o->prev_state = -1;
            if ((err = ch__cas(svc, conn, o, CH_ORDER_REFUNDING)) == CH_OK && (err = ch__post_paid(svc, conn, o)) == CH_OK &&
                (err = ch__job(svc, conn, o, CH_ORDER_STEP_CHARGE_FEE, ch_now_ms())) == CH_OK)
                err = ch__job(svc, conn, o, CH_ORDER_STEP_REFUND, ch_now_ms());
            return err;
        }
        if (err)
            return err;
    }
    if (next == CH_ORDER_SHIPPED && from == CH_ORDER_PAID) {
        o->shipped_at = ch_now_ms();
        o->auto_confirm_at = o->shipped_at + svc->cfg->market_auto_confirm_s * 1000;
    }
    if (next == CH_ORDER_DISPUTED)
        o->prev_state = (int)from; /* kept after the dispute: shows what it interrupted */
    ch_err_t err = ch__cas(svc, conn, o, next);
    if (err == CH_OK)
        err = ch__effects(svc, conn, o, from);
    return err;
}
