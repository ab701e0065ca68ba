/* Listings through the API (listings.h): create, read, edit, remove, a seller's page. Each
 * write is one transaction with its outbox event; reads go through the hydration layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/common/hydrate.h"
#include "svc/common/outbox.h"
#include "svc/common/page.h"
#include "svc/common/sql.h"
#include "svc/market/listing_int.h"

/* CH_OK when seller may list: a seller account whose charges Stripe enabled. */
static ch_err_t ch__seller_enabled(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t seller, ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(seller)};
    ch_err_t err =
        ch_sql_on(svc, conn, "SELECT charges_enabled FROM sellers WHERE user_id = $1", p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch_fault(f, CH_ESELLERNOTENABLED, NULL,
                       "only sellers may list: start onboarding with POST /v1/me/seller");
    else if (err == CH_OK && !ch_db_rows_int(rows, 0, 0))
        err = ch_fault(f, CH_ESELLERNOTENABLED, NULL,
                       "charges are not enabled on your seller account yet: finish onboarding (GET /v1/me/seller "
                       "lists what Stripe still needs)");
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_listing_create(ch_svc_t *svc, uint64_t seller, json_t *body, char **out, ch_fault_t *f)
{
    ch__listing_input_t in;
    ch_err_t err = ch__listing_parse(body, 0, svc->cfg->market_currencies, &in, f);
    if (err)
        return err;
    uint64_t id = ch_id_next();
    int64_t now = ch_now_ms();
    ch_db_param_t p[] = {CH_DB_P_INT(id),
                         CH_DB_P_INT(seller),
                         CH_DB_P_TEXT(in.title),
                         CH_DB_P_TEXT(in.description ? in.description : ""),
                         CH_DB_P_INT(in.price_amount),
                         CH_DB_P_TEXT(in.currency),
                         CH_DB_P_TEXT(in.category),
                         CH_DB_P_TEXT(in.condition),
                         CH_DB_P_TEXT(in.photos),
                         CH_DB_P_INT(in.lat_e7),
                         CH_DB_P_INT(in.lon_e7),
                         CH_DB_P_INT(now)};
    ch_db_conn_t *conn;
    if ((err = ch_sql_begin(svc, 1, &conn)) != CH_OK) {
        ch__listing_input_clear(&in);
        return err;
    }
    err = ch__seller_enabled(svc, conn, seller, f);
    if (err == CH_OK)
        err = ch_sql_on(svc, conn,
                        "INSERT INTO listings(id, seller_id, title, description, price_amount, currency, category,"
                        " condition, photos, lat_e7, lon_e7, state, created_at, updated_at)"
                        " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $12, $12)",
                        p, CH_NPARAMS(p), NULL, NULL);
    if (err == CH_OK)
        err = ch_outbox_add(svc, conn, "listing.created", "listing_id", id);
    ch__listing_input_clear(&in);
    if ((err = ch_sql_end(svc, conn, err)) != CH_OK)
        return err;
    return ch_listing_get(svc, seller, id, out, f);
}

ch_err_t ch_listing_get(ch_svc_t *svc, uint64_t viewer, uint64_t id, char **out, ch_fault_t *f)
{
    return ch_page_item_get(svc, viewer, CH_TARGET_LISTING, id, out, f);
}

/* Loads listing id for a change by viewer on conn (in its transaction): CH_ENOTFOUND when
 * the viewer may not see it (removed included), CH_EFORBIDDEN when it is someone else's;
 * *state is its state. */
static ch_err_t ch__load_own(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t id,
                             ch_listing_state_t *state, ch_fault_t *f)
{
    ch_target_t t;
    const ch_item_type_ops_t *ops = ch_items_ops(CH_TARGET_LISTING);
    ch_err_t err = ops->resolve(svc, conn, viewer, CH_TARGET_LISTING, id, &t, f);
    if (err)
        return err;
    if (t.author_id != viewer)
        return ch_fault(f, CH_EFORBIDDEN, NULL, "only its seller may change this listing");
    ch_listing_order_view_t v;
    if ((err = ch_listing_load_for_order(svc, conn, id, &v)) != CH_OK)
        return err == CH_ENOTFOUND ? ch_fault(f, err, NULL, "listing not found") : err;
    *state = v.state;
    return CH_OK;
}

ch_err_t ch_listing_edit(ch_svc_t *svc, uint64_t viewer, uint64_t id, json_t *body, char **out, ch_fault_t *f)
{
    ch__listing_input_t in;
    ch_err_t err = ch__listing_parse(body, 1, svc->cfg->market_currencies, &in, f);
    if (err)
        return err;
    ch_db_conn_t *conn;
    if ((err = ch_sql_begin(svc, 1, &conn)) != CH_OK) {
        ch__listing_input_clear(&in);
        return err;
    }
    ch_listing_state_t state = CH_LISTING_ACTIVE;
    err = ch__load_own(svc, conn, viewer, id, &state, f);
    if (err == CH_OK && state != CH_LISTING_ACTIVE)
        err = ch_fault(f, CH_ECONFLICT, "state", "a %s listing cannot be changed", ch_listing_state_name(state));
    if (err == CH_OK) {
        int64_t changed = 0;
        ch_db_param_t p[] = {CH_DB_P_INT(id),
                             CH_DB_P_TEXT(in.title),
                             CH_DB_P_TEXT(in.description),
                             in.has_price ? CH_DB_P_INT(in.price_amount) : CH_DB_P_NULL,
                             in.has_price ? CH_DB_P_TEXT(in.currency) : CH_DB_P_NULL,
                             CH_DB_P_TEXT(in.category),
                             CH_DB_P_TEXT(in.condition),
                             CH_DB_P_TEXT(in.photos),
                             in.has_location ? CH_DB_P_INT(in.lat_e7) : CH_DB_P_NULL,
                             in.has_location ? CH_DB_P_INT(in.lon_e7) : CH_DB_P_NULL,
                             CH_DB_P_INT(ch_now_ms())};
        err = ch_sql_on(svc, conn,
                        "UPDATE listings SET title = COALESCE($2, title), description = COALESCE($3, description),"
                        " price_amount = COALESCE($4, price_amount), currency = COALESCE($5, currency),"
                        " category = COALESCE($6, category), condition = COALESCE($7, condition),"
                        " photos = COALESCE($8, photos), lat_e7 = COALESCE($9, lat_e7),"
                        " lon_e7 = COALESCE($10, lon_e7), updated_at = $11 WHERE id = $1 AND state = 'active'",
                        p, CH_NPARAMS(p), NULL, &changed);
        if (err == CH_OK && changed == 0) /* an order reserved it meanwhile */
            err = ch_fault(f, CH_ECONFLICT, "state", "the listing is no longer active");
    }
    if (err == CH_OK)
        err = ch_outbox_add(svc, conn, "listing.updated", "listing_id", id);
    ch__listing_input_clear(&in);
    if ((err = ch_sql_end(svc, conn, err)) != CH_OK)
        return err;
    ch_hydrate_forget_item(svc, CH_TARGET_LISTING, id);
    return ch_listing_get(svc, viewer, id, out, f);
}

ch_err_t ch_listing_remove(ch_svc_t *svc, uint64_t viewer, uint64_t id, ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    ch_listing_state_t state = CH_LISTING_ACTIVE;
    err = ch__load_own(svc, conn, viewer, id, &state, f);
    if (err == CH_OK && state == CH_LISTING_RESERVED)
        err = ch_fault(f, CH_ECONFLICT, "state", "a reserved listing cannot be removed: an order holds it");
    if (err == CH_OK) {
        int64_t changed = 0;
        ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_INT(ch_now_ms())};
        err = ch_sql_on(svc, conn,
                        "UPDATE listings SET state = 'removed', updated_at = $2 WHERE id = $1"
                        " AND state IN ('active', 'sold')",
                        p, CH_NPARAMS(p), NULL, &changed);
        if (err == CH_OK && changed == 0)
            err = ch_fault(f, CH_ECONFLICT, "state", "the listing is no longer active");
    }
    if (err == CH_OK)
        err = ch_outbox_add(svc, conn, "listing.removed", "listing_id", id);
    if ((err = ch_sql_end(svc, conn, err)) != CH_OK)
        return err;
    ch_hydrate_forget_item(svc, CH_TARGET_LISTING, id);
    return CH_OK;
}

/* Ids of a seller's page: $1 seller, $2 below this id, $3 limit + 1. Index (seller_id, id). */
static const char ch__sql_page[] = "SELECT id FROM listings WHERE seller_id = $1 AND id < $2 AND state <> 'removed'"
                                   " ORDER BY id DESC LIMIT $3";

ch_err_t ch_listing_page(ch_svc_t *svc, uint64_t viewer, uint64_t seller, int limit, uint64_t before, char **out,
                         ch_fault_t *f)
{
    ch_err_t err = ch_page_check_author(svc, viewer, seller, NULL, f);
    if (err)
        return err;
    if (limit < 1 || limit > CH_LISTING_PAGE_MAX)
        limit = limit < 1 ? CH_LISTING_PAGE_DEFAULT : CH_LISTING_PAGE_MAX;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(seller), CH_DB_P_INT(before && before <= INT64_MAX ? before : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(limit + 1)};
    if ((err = ch_sql_run(svc, ch__sql_page, p, CH_NPARAMS(p), &rows, NULL)) != CH_OK)
        return err;
    size_t n = ch_db_rows_count(rows), shown = n > (size_t)limit ? (size_t)limit : n;
    ch_item_key_t keys[CH_LISTING_PAGE_MAX];
    for (size_t i = 0; i < shown; i++)
        keys[i] = (ch_item_key_t){CH_TARGET_LISTING, (uint64_t)ch_db_rows_int(rows, i, 0)};
    uint64_t next = n > shown && shown > 0 ? keys[shown - 1].id : 0;
    ch_db_rows_free(rows);
    return ch_page_items(svc, viewer, keys, shown, 0, next, out, f);
}
