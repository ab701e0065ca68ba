/* Webhook event handlers of the sellers part (webhook_events_sellers.def), each a
 * ch_market_event_fn (svc/market/webhook.h). */
#ifndef CH_SVC_MARKET_WEBHOOK_HANDLERS_SELLERS_H
#define CH_SVC_MARKET_WEBHOOK_HANDLERS_SELLERS_H

#include "svc/market/webhook.h"

/** account.updated: copies the account's charges_enabled, payouts_enabled, requirements
 * and payout schedule to its seller row, unless the row already holds a later event
 * (created later, or the same second with a greater id): events apply in any order. An
 * account no seller row knows is ignored. */
ch_err_t ch_seller_on_account_updated(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event);

#endif
