/* Marketplace orders (issue 15, brd/market.md "Orders and escrow"): separate charges and
 * transfers on Stripe Connect. The buyer pays a PaymentIntent on the platform
 * (transfer_group = order id); the platform holds the money (escrow) until the buyer
 * confirms delivery (or CHORUS_MARKET_AUTO_CONFIRM after shipping), then transfers the price
 * less the fee (CHORUS_MARKET_FEE_BPS) to the seller's account with source_transaction = the
 * charge. States and moves: svc/market/order_state.h; every move is a compare-and-set on the
 * stored state, in one transaction with its listing's state (svc/market/listings.h), its
 * ledger transaction (ledger.h) and the durable job of its next Stripe call (jobs.h).
 *
 * Creating an order commits the order row and its payment_intent job first, then creates
 * the PaymentIntent (Idempotency-Key order:<id>:payment_intent) in the request; when Stripe
 * fails the request answers 503 and the job keeps trying in the worker, and a retry with
 * the same Idempotency-Key finds the same order (its key is stored on the row), so one
 * order never has two PaymentIntents. Every char * / json_t * handed out is the caller's. */
#ifndef CH_SVC_MARKET_ORDERS_H
#define CH_SVC_MARKET_ORDERS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"
#include "svc/market/jobs.h"
#include "svc/market/order_state.h"

#define CH_ORDER_STRIPE_ID_MAX 256
/** Orders of one page of GET /v1/orders. */
#define CH_ORDER_PAGE_DEFAULT 20
#define CH_ORDER_PAGE_MAX 100
/** Basis points in one whole (the fee is amount * CHORUS_MARKET_FEE_BPS / 10000, rounded down). */
#define CH_ORDER_BPS_ONE 10000
/** Times a move is tried again when a concurrent move changed the state it read. */
#define CH_ORDER_CAS_TRIES 4

/* Steps of an order's durable jobs (market_jobs.step); the Stripe Idempotency-Key of a
 * step is "order:<id>:<step>". */
#define CH_ORDER_STEP_PAYMENT_INTENT "payment_intent"
#define CH_ORDER_STEP_CHARGE_FEE "charge_fee"
#define CH_ORDER_STEP_AUTO_CONFIRM "auto_confirm"
#define CH_ORDER_STEP_TRANSFER "transfer"
#define CH_ORDER_STEP_REVERSAL "reversal"
#define CH_ORDER_STEP_REFUND "refund"
#define CH_ORDER_STEP_CANCEL_PI "cancel_payment_intent"
/* Due CHORUS_MARKET_PAYMENT_TTL after the order: cancels it if still unpaid. */
#define CH_ORDER_STEP_EXPIRE "expire_payment"

/** The ledger movement (ref "order:<id>:late_transfer") of a transfer that landed in a
 * state that no longer wanted it: owed back by the seller until its reversal. */
#define CH_ORDER_LEDGER_LATE_TRANSFER "late_transfer"

/** An order row. */
typedef struct {
    uint64_t id, buyer_id, seller_id, listing_id;
    int64_t amount, fee, stripe_fee; /* stripe_fee -1 until known */
    char currency[8];
    ch_order_state_t state;
    int prev_state; /* the state a dispute interrupted; -1 when none */
    char seller_account[CH_ORDER_STRIPE_ID_MAX];
    char payment_intent_id[CH_ORDER_STRIPE_ID_MAX];
    char client_secret[CH_ORDER_STRIPE_ID_MAX];
    char charge_id[CH_ORDER_STRIPE_ID_MAX];
    char transfer_id[CH_ORDER_STRIPE_ID_MAX];
    char reversal_id[CH_ORDER_STRIPE_ID_MAX];
    char refund_id[CH_ORDER_STRIPE_ID_MAX];
    char dispute_id[CH_ORDER_STRIPE_ID_MAX];
    int64_t shipped_at, auto_confirm_at, created_at, updated_at; /* 0: not set */
    const json_t *event_obj; /* while a webhook is applied: its data.object (borrowed); else NULL */
} ch_order_t;

/** The fee of amount at bps basis points, rounded down (pure). */
int64_t ch_order_fee(int64_t amount, int64_t bps);

/** Reads order id on conn (NULL: a pooled connection). CH_ENOTFOUND when none. */
ch_err_t ch_order_load(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t id, ch_order_t *o);
/** The sum of order o's ledger entries on account, on conn (what its escrow still holds is
 * negative, zero once released, refunded or lost to a dispute). */
ch_err_t ch_order_ledger_sum(ch_svc_t *svc, ch_db_conn_t *conn, const ch_order_t *o, const char *account,
                             int64_t *sum);
/** Finds the order of a PaymentIntent, or of a charge when pi is NULL/"" (webhooks).
 * CH_ENOTFOUND when none. */
ch_err_t ch_order_find_stripe(ch_svc_t *svc, ch_db_conn_t *conn, const char *pi, const char *charge, ch_order_t *o);
/** The order as the API shows it to viewer (the client_secret only to its buyer). */
json_t *ch_order_json(const ch_order_t *o, uint64_t viewer);

/** Moves o (read on conn) by ev with every effect of the move (listing, ledger, jobs,
 * Stripe ids already set in o by the caller are stored), compare-and-set on o->state;
 * *verdict (may be NULL) says what happened. CH_ECONFLICT when the state changed meanwhile
 * (reload and try again) or when a user action is not allowed (verdict REFUSE). */
ch_err_t ch_order_apply(ch_svc_t *svc, ch_db_conn_t *conn, ch_order_t *o, ch_order_event_t ev,
                        ch_order_verdict_t *verdict);

/** POST /v1/orders {listing_id}: see the header comment. *status is 201; *out the order. */
ch_err_t ch_order_create(ch_svc_t *svc, uint64_t buyer, const json_t *body, const char *idem_key, json_t **out,
                         ch_fault_t *f);
/** GET /v1/orders/{id} for its buyer or seller (anyone else: CH_ENOTFOUND). */
ch_err_t ch_order_get(ch_svc_t *svc, uint64_t viewer, uint64_t id, json_t **out, ch_fault_t *f);
/** GET /v1/orders: viewer's orders as buyer or seller, newest first, ids below before (0:
 * from the newest), at most limit; {items, next_cursor}. */
ch_err_t ch_order_list(ch_svc_t *svc, uint64_t viewer, int limit, uint64_t before, json_t **out, ch_fault_t *f);
/** A user action on order id: CH_ORDER_EV_SHIP (its seller), CH_ORDER_EV_CONFIRM (its
 * buyer), CH_ORDER_EV_CANCEL (either), CH_ORDER_EV_REFUND (an admin: the caller checks the
 * role). *out is the order after it. CH_ECONFLICT (409) when the state does not allow it. */
ch_err_t ch_order_act(ch_svc_t *svc, uint64_t actor, uint64_t id, ch_order_event_t ev, int admin, json_t **out,
                      ch_fault_t *f);

/** Whether step POSTs to Stripe with its Idempotency-Key (its key's age matters). */
int ch_order_step_uses_key(const char *step);
/** Runs one job of an order (jobs.h ch_market_step_fn). */
ch_err_t ch_order_step(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t whylen);

#endif
