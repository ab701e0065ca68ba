/* Marketplace handlers of the sellers part (issue 15): listings (h_market_listings.c),
 * sellers (h_market_sellers.c), the Stripe webhook (h_market_webhook.c) and the admin
 * endpoints of user roles (h_market_roles.c). Routes: http/routes_market.def. */
#ifndef CH_HTTP_H_MARKET_H
#define CH_HTTP_H_MARKET_H

#include "http/call.h"

/* listings */
ch_err_t ch_h_listing_create(ch_call_t *call);
ch_err_t ch_h_listing_get(ch_call_t *call);
ch_err_t ch_h_listing_patch(ch_call_t *call);
ch_err_t ch_h_listing_delete(ch_call_t *call);
ch_err_t ch_h_user_listings(ch_call_t *call);
/* sellers */
ch_err_t ch_h_seller_create(ch_call_t *call);
ch_err_t ch_h_seller_get(ch_call_t *call);
ch_err_t ch_h_seller_patch(ch_call_t *call);
/* Stripe webhooks */
ch_err_t ch_h_stripe_webhook(ch_call_t *call);
/* roles (admin only) */
ch_err_t ch_h_admin_role_grant(ch_call_t *call);
ch_err_t ch_h_admin_role_revoke(ch_call_t *call);

#endif
