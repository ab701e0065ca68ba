/* Webhook event handlers of the sellers part (webhook_events_sellers.def), each a
 * ch_market_event_fn (svc/market/webhook.h). */
#ifndef CH_SVC_MARKET_WEBHOOK_HANDLERS_SELLERS_H
#define CH_SVC_MARKET_WEBHOOK_HANDLERS_SELLERS_H

#include "svc/market/webhook.h"

/** account.updated: copies the account's charges_enabled, payouts_enabled, requirements
 * and payout schedule to its seller row, unless the row already holds an event created
 * in a later second (events of the same second apply in arrival order: Stripe's ids carry
 * no order), and enqueues the seller's refresh from GET /v1/accounts/{id}
 * (seller_refresh.h), which settles such ties to Stripe's state. An account no seller row
 * knows is made from the event's metadata when it names an existing user. */
ch_err_t ch_seller_on_account_updated(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event);

#endif
