/* Listings (svc/market/listings.h): create, read, edit, remove, a seller's page. Path ids
 * that are not ids answer 404 like unknown ones. Answers are the hydration layer's text. */
#include "http/h_market.h"
#include "svc/market/listings.h"

ch_err_t ch_h_listing_create(ch_call_t *call)
{
    ch_err_t err = ch_listing_create(call->svc, call->user_id, call->json, &call->raw_out, &call->fault);
    if (err == CH_OK)
        call->status = 201;
    return err;
}

ch_err_t ch_h_listing_get(ch_call_t *call)
{
    return ch_listing_get(call->svc, call->user_id, ch_call_id_param(call, 0), &call->raw_out, &call->fault);
}

ch_err_t ch_h_listing_patch(ch_call_t *call)
{
    return ch_listing_edit(call->svc, call->user_id, ch_call_id_param(call, 0), call->json, &call->raw_out,
                           &call->fault);
}

ch_err_t ch_h_listing_delete(ch_call_t *call)
{
    ch_err_t err = ch_listing_remove(call->svc, call->user_id, ch_call_id_param(call, 0), &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}

/* ?limit, ?cursor (a listing id from next_cursor). */
ch_err_t ch_h_user_listings(ch_call_t *call)
{
    int limit;
    uint64_t before;
    ch_err_t err = ch_call_page(call, &limit, &before);
    if (err == CH_OK)
        err = ch_listing_page(call->svc, call->user_id, ch_call_id_param(call, 0), limit, before, &call->raw_out,
                              &call->fault);
    return err;
}
