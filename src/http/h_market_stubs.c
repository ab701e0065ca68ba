/* Placeholders until the sellers and webhook handlers land (answer 503). */
#include "http/h_market.h"
ch_err_t ch_h_seller_create(ch_call_t *call) { return ch_fault(&call->fault, CH_EUNAVAILABLE, NULL, "not yet"); }
ch_err_t ch_h_seller_get(ch_call_t *call) { return ch_fault(&call->fault, CH_EUNAVAILABLE, NULL, "not yet"); }
ch_err_t ch_h_seller_patch(ch_call_t *call) { return ch_fault(&call->fault, CH_EUNAVAILABLE, NULL, "not yet"); }
ch_err_t ch_h_stripe_webhook(ch_call_t *call) { return ch_fault(&call->fault, CH_EUNAVAILABLE, NULL, "not yet"); }
