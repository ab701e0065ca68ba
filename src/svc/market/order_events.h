/* The Stripe webhook events the orders part handles (webhook_events_orders.def): each a
 * ch_market_event_fn (webhook.h) that finds the order of the event's object and moves it
 * with ch_order_apply on the webhook's transaction. Idempotent and order-tolerant: an
 * event for an order already past it changes nothing; an event for an unknown object (not
 * one of our orders) is ignored. */
#ifndef CH_SVC_MARKET_ORDER_EVENTS_H
#define CH_SVC_MARKET_ORDER_EVENTS_H

#include "svc/market/webhook.h"

/** payment_intent.succeeded: pending_payment -> paid (escrow), or a refund when canceled. */
ch_err_t ch_order_on_pi_succeeded(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event);
/** payment_intent.payment_failed: pending_payment -> payment_failed (the buyer may pay again). */
ch_err_t ch_order_on_pi_failed(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event);
/** charge.dispute.created: -> disputed (a pending transfer held). */
ch_err_t ch_order_on_dispute_created(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event);
/** charge.dispute.closed: won -> the state before; lost -> dispute_lost (the loss booked,
 * a transfer made reversed). */
ch_err_t ch_order_on_dispute_closed(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event);

#endif
