/* Listings in the item-type registry (svc/common/items.h): resolved one at a time for
 * engagement (reactions, comments), loaded many at once for the hydration layer, which
 * decides visibility (blocks, private sellers) and adds "seller" and "my_reaction". A
 * removed listing is not found, like a deleted post. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "svc/common/hydrate_codec.h"
#include "svc/common/items.h"
#include "svc/common/sql.h"
#include "svc/engage/counters.h"
#include "svc/graph/visibility.h"
#include "svc/market/listing_int.h"

/* Degrees from degrees * 10^7. */
static json_t *ch__deg(int64_t e7)
{
    return json_real((double)e7 / 1e7);
}

static json_t *ch__time(int64_t ms)
{
    char buf[CH_RFC3339_LEN];
    ch_format_rfc3339(ms, buf);
    return json_string(buf);
}

json_t *ch__listing_render_body(const ch_db_rows_t *rows, size_t r)
{
    char cur[4] = {0};
    const char *c = ch_db_rows_text(rows, r, CH__LCOL_CURRENCY);
    for (int i = 0; i < 3 && c[i]; i++)
        cur[i] = (char)(c[i] >= 'a' && c[i] <= 'z' ? c[i] - 'a' + 'A' : c[i]);
    json_t *photos = json_loads(ch_db_rows_text(rows, r, CH__LCOL_PHOTOS), 0, NULL);
    if (!json_is_array(photos)) {
        json_decref(photos);
        photos = json_array();
    }
    json_t *location = ch_db_rows_isnull(rows, r, CH__LCOL_LAT)
                           ? json_null()
                           : json_pack("{s:o, s:o}", "lat", ch__deg(ch_db_rows_int(rows, r, CH__LCOL_LAT)), "lon",
                                       ch__deg(ch_db_rows_int(rows, r, CH__LCOL_LON)));
    ch_counters_t counts = {.comments = ch_db_rows_int(rows, r, CH__LCOL_COMMENTS),
                            .views = ch_db_rows_int(rows, r, CH__LCOL_VIEWS)};
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        counts.reactions[k] = ch_db_rows_int(rows, r, CH__LCOL_REACTIONS + (size_t)k);
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:I, s:s}, s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:o, s:o}", "id",
                     ch_db_rows_text(rows, r, CH__LCOL_ID), "type", "listing", "title",
                     ch_db_rows_text(rows, r, CH__LCOL_TITLE), "description",
                     ch_db_rows_text(rows, r, CH__LCOL_DESCRIPTION), "price", "amount",
                     (json_int_t)ch_db_rows_int(rows, r, CH__LCOL_AMOUNT), "currency", cur, "category",
                     ch_db_rows_text(rows, r, CH__LCOL_CATEGORY), "condition",
                     ch_db_rows_text(rows, r, CH__LCOL_CONDITION), "photos", photos, "location", location, "state",
                     ch_db_rows_text(rows, r, CH__LCOL_STATE), "seller_id", ch_db_rows_text(rows, r, CH__LCOL_SELLER),
                     "created_at", ch__time(ch_db_rows_int(rows, r, CH__LCOL_CREATED)), "updated_at",
                     ch__time(ch_db_rows_int(rows, r, CH__LCOL_UPDATED)), "counts", ch_counters_json(&counts));
}

/* $1 .. the ids (CH_ITEMS_IN_MAX). */
static char ch__sql_load[4096];
static pthread_once_t ch__sql_once = PTHREAD_ONCE_INIT;

static void ch__sql_build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN];
    ch_items_sql_in(in, sizeof(in), 1);
    snprintf(ch__sql_load, sizeof(ch__sql_load),
             "SELECT " CH__LISTING_COLUMNS CH__LISTING_FROM " WHERE l.id IN %s AND l.state <> 'removed'", in);
}

static ch_err_t ch__load_listings(ch_svc_t *svc, const ch_item_key_t *keys, size_t n, ch_item_record_t *out,
                                  ch_fault_t *f)
{
    pthread_once(&ch__sql_once, ch__sql_build);
    ch_db_param_t p[CH_ITEMS_IN_MAX];
    for (size_t i = 0; i < CH_ITEMS_IN_MAX; i++)
        p[i] = CH_DB_P_INT(i < n ? keys[i].id : 0);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, ch__sql_load, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        int k = ch_items_find_key(keys, n, CH_TARGET_LISTING, (uint64_t)ch_db_rows_int(rows, r, CH__LCOL_ID));
        if (k < 0 || out[k].found)
            continue;
        ch_item_record_t *rec = &out[k];
        rec->body = ch_hcodec_members(ch__listing_render_body(rows, r), &rec->body_len);
        if (!rec->body) {
            ch_db_rows_free(rows);
            return ch_fault(f, CH_EINTERNAL, NULL, "cannot render a listing");
        }
        rec->found = 1;
        rec->author_id = (uint64_t)ch_db_rows_int(rows, r, CH__LCOL_SELLER);
        rec->created_at_ms = ch_db_rows_int(rows, r, CH__LCOL_CREATED);
        rec->parent = (ch_item_key_t){CH_ITEM_NO_PARENT, 0};
        for (size_t c = 0; c < 6; c++)
            rec->reactions += ch_db_rows_int(rows, r, CH__LCOL_REACTIONS + c);
        rec->comments = ch_db_rows_int(rows, r, CH__LCOL_COMMENTS);
        rec->views = ch_db_rows_int(rows, r, CH__LCOL_VIEWS);
    }
    ch_db_rows_free(rows);
    return CH_OK;
}

/* A listing that is not removed and whose seller the viewer may see (no block either way;
 * a private seller's listings only for approved followers, as their posts). */
static ch_err_t ch__resolve_listing(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type,
                                    uint64_t id, ch_target_t *out, ch_fault_t *f)
{
    (void)type;
    ch_db_conn_t *own = NULL;
    ch_db_rows_t *rows = NULL;
    ch_err_t err;
    if (id == 0 || id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "listing not found");
    if (!conn && (err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &own))) != CH_OK)
        return err;
    if (own)
        conn = own;
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    err = ch_sql_on(svc, conn, "SELECT seller_id FROM listings WHERE id = $1 AND state <> 'removed'", p,
                    CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "listing not found");
    if (err == CH_OK) {
        uint64_t seller = (uint64_t)ch_db_rows_int(rows, 0, 0);
        ch_graph_rel_t rel;
        err = ch_graph_relation(svc, conn, viewer, seller, &rel);
        if (err == CH_OK && !ch_graph_may_see_content(&rel, 0))
            err = ch_fault(f, CH_ENOTFOUND, NULL, "listing not found");
        if (err == CH_OK)
            *out = (ch_target_t){CH_TARGET_LISTING, id, seller, 0};
    }
    ch_db_rows_free(rows);
    if (own)
        ch_db_release(svc->db, own);
    return err;
}

static const ch_item_type_ops_t ch__listing_ops = {.resolve = ch__resolve_listing, .load_many = ch__load_listings};

void ch_listings_register_types(void)
{
    ch_items_register(CH_TARGET_LISTING, &ch__listing_ops);
}
