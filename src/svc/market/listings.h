/* Marketplace listings (brd/market.md "Listings"): the seventh engageable content type
 * (CH_TARGET_LISTING), stored in the `listings` table (migration 15). A listing moves
 * active -> reserved (an order is paid) -> sold, or active -> removed (its seller deletes
 * it); reserved -> active again when the order is cancelled or refunded before it
 * completes. Prices are int64 minor units of an ISO 4217 currency (svc/market/currency.h;
 * zero-decimal currencies such as JPY count whole units).
 *
 * The HTTP layer calls the ch_listing_create/get/edit/remove/page functions; the orders
 * part (orders15) moves the state with ch_listing_reserve/release/mark_sold on ITS OWN
 * transaction (conn is borrowed, inside a write transaction the caller commits or rolls
 * back), so an order's state and its listing's state commit together. Every such move is a
 * compare-and-set on (state, order_id): repeating it is CH_OK and changes nothing, a move
 * the current state does not allow is CH_ECONFLICT and changes nothing.
 *
 * Read paths answer CH_ENOTFOUND (never 403) for a listing the viewer may not see (removed,
 * or its seller blocks the viewer or is blocked by them), so that existence does not leak.
 * JSON request bodies are borrowed; every json_t * or char * handed out is the caller's. */
#ifndef CH_SVC_MARKET_LISTINGS_H
#define CH_SVC_MARKET_LISTINGS_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

/* Limits of brd/market.md. Title and description count code points. */
#define CH_LISTING_TITLE_MAX 140
#define CH_LISTING_DESCRIPTION_MAX 5000
#define CH_LISTING_PHOTOS_MIN 1
#define CH_LISTING_PHOTOS_MAX 10
#define CH_LISTING_PHOTO_URL_MAX 2048
/* Largest price in minor units (10^12: ten billion of a two-decimal currency); above it the
 * fee arithmetic (amount * bps) stays far from int64 overflow, and Stripe refuses more anyway. */
#define CH_LISTING_PRICE_MAX 1000000000000LL
/* Bytes a title may take in UTF-8 (each code point at most 4 bytes), plus the NUL. */
#define CH_LISTING_TITLE_BYTES (CH_LISTING_TITLE_MAX * 4 + 1)
/* Page sizes of GET /v1/users/{id}/listings (?limit, as every page: 1..100). */
#define CH_LISTING_PAGE_DEFAULT 20
#define CH_LISTING_PAGE_MAX 100

/** The states of a listing; API names "active", "reserved", "sold", "removed". */
typedef enum {
    CH_LISTING_ACTIVE,
    CH_LISTING_RESERVED,
    CH_LISTING_SOLD,
    CH_LISTING_REMOVED,
} ch_listing_state_t;

/** The API name of a state ("active"); static storage. */
const char *ch_listing_state_name(ch_listing_state_t state);
/** Parses an API state name; -1 when unknown. */
int ch_listing_state_parse(const char *name);

/** What an order needs to know about a listing (ch_listing_load_for_order). */
typedef struct {
    uint64_t id;
    uint64_t seller_id;       /* the user who listed it (ch_seller_account_for_user gives the account) */
    int64_t price_amount;     /* minor units of currency (whole units for zero-decimal currencies) */
    char currency[4];         /* ISO 4217, lower case as Stripe writes it ("eur", "jpy") */
    ch_listing_state_t state;
    uint64_t order_id;        /* the order holding it (reserved, sold); 0 when none */
    char title[CH_LISTING_TITLE_BYTES]; /* for the PaymentIntent's description */
} ch_listing_order_view_t;

/* ---- for orders (orders15): on the caller's transaction ------------------------------ */

/** Reads listing id on conn (borrowed; may be inside the caller's transaction) into *out,
 * whatever its state (removed included: the caller decides). CH_ENOTFOUND when there is no
 * such listing; CH_EUNAVAILABLE when the database cannot answer. Visibility is not
 * checked here: the caller checks blocks with the graph when a buyer starts an order. */
ch_err_t ch_listing_load_for_order(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t id, ch_listing_order_view_t *out);

/** active -> reserved by order_id, on conn (the caller's write transaction). CH_OK when it
 * moved, or when it is already reserved by (or sold to) this same order (a repeat);
 * CH_ECONFLICT when it is reserved by or sold to another order, or removed (nothing
 * changed); CH_ENOTFOUND when there is no such listing. */
ch_err_t ch_listing_reserve(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t listing_id, uint64_t order_id);

/** reserved by order_id -> active (the order was cancelled or refunded before it
 * completed), on conn. CH_OK when it moved, and when there is nothing to release for this
 * order (already active, held by another order, removed: a repeat or a late event changes
 * nothing); CH_ECONFLICT when it is sold to this order (a sale is final: a refund after
 * the sale leaves the listing sold); CH_ENOTFOUND when there is no such listing. */
ch_err_t ch_listing_release(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t listing_id, uint64_t order_id);

/** reserved by order_id -> sold (the order completed), on conn. CH_OK when it moved or is
 * already sold to this order; CH_ECONFLICT in any other state (active, held by or sold to
 * another order, removed: nothing changed); CH_ENOTFOUND when there is no such listing. */
ch_err_t ch_listing_mark_sold(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t listing_id, uint64_t order_id);

/** Forgets the listing's cached record (the hydration cache, svc/common/hydrate.h). Not
 * needed after reserve, release or mark_sold: a move forgets the record itself once the
 * caller's transaction commits in ch_sql_end (ch_sql_after_commit); harmless to call. */
void ch_listing_forget(ch_svc_t *svc, uint64_t listing_id);

/* ---- the API (http/h_market_listings.c) ---------------------------------------------- */

/** Validates a create body (brd/market.md: title, description, price {amount, currency},
 * category, condition, photos, location) and stores an active listing of seller, with its
 * outbox event. Bad input is CH_EINVAL naming the field ("photos[2]", "price.currency") and
 * stores nothing; CH_ESELLERNOTENABLED when seller has no seller account with charges
 * enabled. *out receives the listing as its seller sees it, as JSON text (malloc'd, caller
 * frees). */
ch_err_t ch_listing_create(ch_svc_t *svc, uint64_t seller, json_t *body, char **out, ch_fault_t *f);
/** The listing as viewer sees it (seller summary, counts, my_reaction, state), through the
 * hydration layer: JSON text (malloc'd, caller frees). CH_ENOTFOUND when it does not exist,
 * was removed, or the viewer may not see its seller's content (a block either way, a
 * private seller not followed). */
ch_err_t ch_listing_get(ch_svc_t *svc, uint64_t viewer, uint64_t id, char **out, ch_fault_t *f);
/** Changes the given fields of viewer's own listing (the create fields, each optional, at
 * least one, none null). CH_ENOTFOUND as in ch_listing_get, CH_EFORBIDDEN when it is
 * someone else's, CH_ECONFLICT when it is reserved or sold, CH_EINVAL for a bad value
 * (nothing changed). *out receives the edited listing as in ch_listing_get. */
ch_err_t ch_listing_edit(ch_svc_t *svc, uint64_t viewer, uint64_t id, json_t *body, char **out, ch_fault_t *f);
/** Marks viewer's own listing removed: it leaves every read path, its seller's included
 * (a deletion; orders still read it with ch_listing_load_for_order). CH_ENOTFOUND /
 * CH_EFORBIDDEN as in ch_listing_edit, CH_ECONFLICT when it is reserved (an order holds
 * it); a sold listing may be removed. */
ch_err_t ch_listing_remove(ch_svc_t *svc, uint64_t viewer, uint64_t id, ch_fault_t *f);
/** One page of seller's listings as viewer sees them, newest first: ids below `before` (0 =
 * from the newest), at most limit: active, reserved and sold ones (removed ones are gone).
 * *out is {items, next_cursor} as JSON text (malloc'd, caller frees). CH_ENOTFOUND when
 * the viewer may not see the seller's content (no such user, a block, private). */
ch_err_t ch_listing_page(ch_svc_t *svc, uint64_t viewer, uint64_t seller, int limit, uint64_t before, char **out,
                         ch_fault_t *f);

/** Registers listings in the item-type registry (svc/common/items.h): resolve for
 * engagement, load_many for the hydration layer. Called once by ch_svc_register_item_types. */
void ch_listings_register_types(void);

#endif
