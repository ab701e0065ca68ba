/* account.updated (webhook_handlers_sellers.h): the seller row follows the newest event, then
 * a refresh from Stripe (seller_refresh.h) settles events of the same second. */
#include <stdint.h>
#include <stdlib.h>

#include "core/clock.h"
#include "svc/common/sql.h"
#include "svc/market/seller_int.h"
#include "svc/market/seller_refresh.h"
#include "svc/market/webhook_handlers_sellers.h"

/* Enqueues the refresh of the seller that has account (none: nothing to refresh). */
static ch_err_t ch__refresh_after(ch_svc_t *svc, ch_db_conn_t *conn, const char *account)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(account)};
    ch_err_t err = ch_sql_on(svc, conn, "SELECT user_id FROM sellers WHERE stripe_account_id = $1", p, 1, &rows, NULL);
    uint64_t user_id = err == CH_OK && ch_db_rows_count(rows) == 1 ? (uint64_t)ch_db_rows_int(rows, 0, 0) : 0;
    ch_db_rows_free(rows);
    if (err == CH_OK && user_id)
        err = ch_seller_refresh_enqueue(svc, conn, user_id);
    return err;
}

ch_err_t ch_seller_on_account_updated(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event)
{
    const char *event_id = json_string_value(json_object_get(event, "id"));
    json_int_t created = json_integer_value(json_object_get(event, "created"));
    const json_t *account = json_object_get(json_object_get(event, "data"), "object");
    ch__seller_state_t st;
    if (!event_id || !ch__seller_state_from(account, &st))
        return CH_OK; /* not an account: nothing this handler can apply */
    /* The compare is in the statement: two deliveries racing on PostgreSQL serialise on the
     * row, and the later one finds the newer event already there. Events of the same second
     * apply in the order they arrive: Stripe's event ids are random, so ordering ties by id
     * would be arbitrary (and would ignore an in-order update half the time). */
    ch_db_param_t p[] = {CH_DB_P_TEXT(st.account_id),      CH_DB_P_INT(st.charges_enabled),
                         CH_DB_P_INT(st.payouts_enabled),  CH_DB_P_TEXT(st.requirements),
                         CH_DB_P_TEXT(st.disabled_reason), CH_DB_P_TEXT(st.payout_schedule),
                         CH_DB_P_INT(ch_now_ms()),         CH_DB_P_INT(created),
                         CH_DB_P_TEXT(event_id)};
    int64_t changed = 0;
    ch_err_t err = ch_sql_on(svc, conn,
                             "UPDATE sellers SET charges_enabled = $2, payouts_enabled = $3, requirements = $4,"
                             " disabled_reason = $5, payout_schedule = COALESCE($6, payout_schedule),"
                             " updated_at = $7, event_created = $8, event_id = $9"
                             " WHERE stripe_account_id = $1 AND event_created <= $8",
                             p, CH_NPARAMS(p), NULL, &changed);
    /* No row moved: a newer event is there, or no row knows the account yet (onboarding made
     * it at Stripe, then storing it failed). The account's metadata names its user (set at
     * onboarding): the row is made from the event unless one exists for the user or the
     * account (no target: either uniqueness), and only for a user that exists. */
    const char *uid = json_string_value(json_object_get(json_object_get(account, "metadata"), "user_id"));
    char *end = NULL;
    unsigned long long user_id = uid ? strtoull(uid, &end, 10) : 0;
    if (err == CH_OK && changed == 0 && user_id && end && *end == '\0' && user_id <= INT64_MAX) {
        ch_db_param_t q[] = {CH_DB_P_INT(user_id),
                             CH_DB_P_TEXT(st.account_id),      CH_DB_P_INT(st.charges_enabled),
                             CH_DB_P_INT(st.payouts_enabled),  CH_DB_P_TEXT(st.requirements),
                             CH_DB_P_TEXT(st.disabled_reason), CH_DB_P_TEXT(st.payout_schedule),
                             CH_DB_P_INT(ch_now_ms()),         CH_DB_P_INT(created),
                             CH_DB_P_TEXT(event_id)};
        err = ch_sql_on(svc, conn,
                        "INSERT INTO sellers(user_id, stripe_account_id, charges_enabled, payouts_enabled,"
                        " requirements, disabled_reason, payout_schedule, created_at, updated_at, event_created,"
                        " event_id) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10 FROM users WHERE id = $1"
                        " ON CONFLICT DO NOTHING",
                        q, CH_NPARAMS(q), NULL, NULL);
    }
    /* Whatever the order of delivery, the row ends as Stripe has it: a refresh from
     * GET /v1/accounts/{id} after this event (coalesced per seller, seller_refresh.h). */
    if (err == CH_OK && svc->stripe)
        err = ch__refresh_after(svc, conn, st.account_id);
    ch__seller_state_clear(&st);
    return err;
}
