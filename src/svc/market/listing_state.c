/* State moves of listings made by orders (listings.h), on the caller's transaction: each a
 * compare-and-set UPDATE on (state, order_id); when it changes no row, the row as it is
 * tells a repeat (CH_OK) from a move the state does not allow (CH_ECONFLICT). */
#include <string.h>

#include "core/clock.h"
#include "svc/common/hydrate.h"
#include "svc/common/sql.h"
#include "svc/market/listing_int.h"

static const char *const ch__state_names[] = {[CH_LISTING_ACTIVE] = "active", [CH_LISTING_RESERVED] = "reserved",
                                              [CH_LISTING_SOLD] = "sold", [CH_LISTING_REMOVED] = "removed"};

const char *ch_listing_state_name(ch_listing_state_t state)
{
    return (unsigned)state <= CH_LISTING_REMOVED ? ch__state_names[state] : "active";
}

int ch_listing_state_parse(const char *name)
{
    for (int i = 0; name && i <= CH_LISTING_REMOVED; i++)
        if (strcmp(name, ch__state_names[i]) == 0)
            return i;
    return -1;
}

ch_err_t ch_listing_load_for_order(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t id, ch_listing_order_view_t *out)
{
    memset(out, 0, sizeof(*out));
    if (id == 0 || id > INT64_MAX)
        return CH_ENOTFOUND;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT seller_id, price_amount, currency, state, order_id, title FROM listings"
                             " WHERE id = $1",
                             p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = CH_ENOTFOUND;
    if (err == CH_OK) {
        out->id = id;
        out->seller_id = (uint64_t)ch_db_rows_int(rows, 0, 0);
        out->price_amount = ch_db_rows_int(rows, 0, 1);
        snprintf(out->currency, sizeof(out->currency), "%s", ch_db_rows_text(rows, 0, 2));
        int st = ch_listing_state_parse(ch_db_rows_text(rows, 0, 3));
        out->state = st < 0 ? CH_LISTING_REMOVED : (ch_listing_state_t)st;
        out->order_id = (uint64_t)ch_db_rows_int(rows, 0, 4);
        snprintf(out->title, sizeof(out->title), "%s", ch_db_rows_text(rows, 0, 5));
    }
    ch_db_rows_free(rows);
    return err;
}

/* ch_sql_after_commit's call: ctx is the svc. */
static void ch__forget_cb(void *ctx, uint64_t id)
{
    ch_hydrate_forget_item(ctx, CH_TARGET_LISTING, id);
}

/* One compare-and-set: to_state (order_id set or kept) where the row is in from_state held
 * by from_order (0: any, the column is not compared). *changed is whether a row moved. */
static ch_err_t ch__cas(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t id, const char *from_state, uint64_t from_order,
                        const char *to_state, uint64_t to_order, int *changed)
{
    int64_t n = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(from_state), CH_DB_P_INT(from_order), CH_DB_P_TEXT(to_state),
                         to_order ? CH_DB_P_INT(to_order) : CH_DB_P_NULL, CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(svc, conn,
                             "UPDATE listings SET state = $4, order_id = $5, updated_at = $6 WHERE id = $1 AND"
                             " state = $2 AND (CAST($3 AS BIGINT) = 0 OR order_id = CAST($3 AS BIGINT))",
                             p, CH_NPARAMS(p), NULL, &n);
    *changed = err == CH_OK && n > 0;
    /* Forgotten once the caller's transaction commits: forgetting now would let a reader
     * re-cache the old row before the commit. */
    if (*changed)
        ch_sql_after_commit(svc, conn, ch__forget_cb, svc, id);
    return err;
}

void ch_listing_forget(ch_svc_t *svc, uint64_t listing_id)
{
    ch_hydrate_forget_item(svc, CH_TARGET_LISTING, listing_id);
}

ch_err_t ch_listing_reserve(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t listing_id, uint64_t order_id)
{
    int changed;
    ch_err_t err = ch__cas(svc, conn, listing_id, "active", 0, "reserved", order_id, &changed);
    if (err || changed)
        return err;
    ch_listing_order_view_t v;
    if ((err = ch_listing_load_for_order(svc, conn, listing_id, &v)) != CH_OK)
        return err;
    if ((v.state == CH_LISTING_RESERVED || v.state == CH_LISTING_SOLD) && v.order_id == order_id)
        return CH_OK; /* a repeat */
    return CH_ECONFLICT;
}

ch_err_t ch_listing_release(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t listing_id, uint64_t order_id)
{
    int changed;
    ch_err_t err = ch__cas(svc, conn, listing_id, "reserved", order_id, "active", 0, &changed);
    if (err || changed)
        return err;
    ch_listing_order_view_t v;
    if ((err = ch_listing_load_for_order(svc, conn, listing_id, &v)) != CH_OK)
        return err;
    return v.state == CH_LISTING_SOLD && v.order_id == order_id ? CH_ECONFLICT : CH_OK;
}

ch_err_t ch_listing_mark_sold(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t listing_id, uint64_t order_id)
{
    int changed;
    ch_err_t err = ch__cas(svc, conn, listing_id, "reserved", order_id, "sold", order_id, &changed);
    if (err || changed)
        return err;
    ch_listing_order_view_t v;
    if ((err = ch_listing_load_for_order(svc, conn, listing_id, &v)) != CH_OK)
        return err;
    return v.state == CH_LISTING_SOLD && v.order_id == order_id ? CH_OK : CH_ECONFLICT;
}
