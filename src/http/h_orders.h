/* REST handlers of the marketplace's orders and ledger (issue 15): parse the path and
 * body, call svc/market/orders.h, ledger.h, reconcile.h, set the answer. */
#ifndef CH_HTTP_H_ORDERS_H
#define CH_HTTP_H_ORDERS_H

#include "http/call.h"

/** POST /v1/orders {listing_id} (Idempotency-Key) -> 201 the order with its client_secret. */
ch_err_t ch_h_order_create(ch_call_t *call);
/** GET /v1/orders -> 200 {items, next_cursor}: the caller's orders as buyer or seller. */
ch_err_t ch_h_orders_list(ch_call_t *call);
/** GET /v1/orders/{id} -> 200 the order (its buyer or seller; anyone else 404). */
ch_err_t ch_h_order_get(ch_call_t *call);
/** POST /v1/orders/{id}/ship (the seller, paid) -> 200 the order. */
ch_err_t ch_h_order_ship(ch_call_t *call);
/** POST /v1/orders/{id}/confirm (the buyer, shipped) -> 200 the order (transferring). */
ch_err_t ch_h_order_confirm(ch_call_t *call);
/** POST /v1/orders/{id}/cancel (buyer or seller, before shipping) -> 200 the order. */
ch_err_t ch_h_order_cancel(ch_call_t *call);
/** POST /v1/admin/orders/{id}/refund (admin) -> 200 the order (refunding). */
ch_err_t ch_h_order_refund(ch_call_t *call);
/** GET /v1/admin/orders/{id}/stray_payments: payments on PaymentIntents the order does not hold, and their refunds (admin). */
ch_err_t ch_h_order_strays(ch_call_t *call);
/** GET /v1/admin/ledger/balance (admin) -> 200 balances per currency and account. */
ch_err_t ch_h_ledger_balance(ch_call_t *call);
/** POST /v1/admin/ledger/reconcile (admin) -> 200 the run it made. */
ch_err_t ch_h_ledger_reconcile(ch_call_t *call);
/** GET /v1/admin/ledger/reconciliation (admin) -> 200 the latest run and its differences. */
ch_err_t ch_h_ledger_reconciliation(ch_call_t *call);

#endif
