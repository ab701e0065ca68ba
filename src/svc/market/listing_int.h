/* Internal to the listings of svc/market: the parsed input of a create or edit, the
 * columns every listing read selects and the row renderer. */
#ifndef CH_SVC_MARKET_LISTING_INT_H
#define CH_SVC_MARKET_LISTING_INT_H

#include <jansson.h>
#include <stdint.h>

#include "svc/market/listings.h"

/* The fixed list of categories (api/openapi.yaml ListingCategory). */
#define CH_LISTING_CATEGORIES                                                                              \
    "electronics", "fashion", "home", "garden", "sports", "toys", "books", "music", "vehicles",         \
        "collectibles", "beauty", "other"

/** A listing body, validated. Texts are borrowed from the body; photos is malloc'd. */
typedef struct {
    const char *title, *description, *category, *condition;
    int has_price;
    int64_t price_amount;
    char currency[4];
    char *photos; /* JSON array text, NULL when absent */
    int has_location;
    int64_t lat_e7, lon_e7;
} ch__listing_input_t;

/** Validates body (create: every required member; partial: an edit, each member optional,
 * at least one). CH_EINVAL naming the field; nothing kept on error. */
ch_err_t ch__listing_parse(json_t *body, int partial, const char *currencies, ch__listing_input_t *in, ch_fault_t *f);
/** Frees what in holds. */
void ch__listing_input_clear(ch__listing_input_t *in);

/** Columns of a listing row with its counters, in the order of the CH__LCOL_ enum. */
#define CH__LISTING_COLUMNS                                                                                \
    "l.id, l.seller_id, l.title, l.description, l.price_amount, l.currency, l.category, l.condition, "  \
    "l.photos, l.lat_e7, l.lon_e7, l.state, l.created_at, l.updated_at, "                               \
    "tc.r_like, tc.r_love, tc.r_haha, tc.r_wow, tc.r_sad, tc.r_angry, tc.comments, COALESCE(tc.views, 0)"
#define CH__LISTING_FROM                                                                                   \
    " FROM listings l LEFT JOIN target_counters tc ON tc.target_type = 'listing' AND tc.target_id = l.id"
enum {
    CH__LCOL_ID, CH__LCOL_SELLER, CH__LCOL_TITLE, CH__LCOL_DESCRIPTION, CH__LCOL_AMOUNT, CH__LCOL_CURRENCY,
    CH__LCOL_CATEGORY, CH__LCOL_CONDITION, CH__LCOL_PHOTOS, CH__LCOL_LAT, CH__LCOL_LON, CH__LCOL_STATE,
    CH__LCOL_CREATED, CH__LCOL_UPDATED, CH__LCOL_REACTIONS, /* six reaction counts from here */
    CH__LCOL_COMMENTS = CH__LCOL_REACTIONS + 6, CH__LCOL_VIEWS,
};

/** The listing object of row r without "seller" and "my_reaction" (the hydration layer's
 * record body). Caller owns it. */
json_t *ch__listing_render_body(const ch_db_rows_t *rows, size_t r);

#endif
