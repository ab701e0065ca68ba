/* The sellers' refresh job (seller_refresh.h). */
#include "svc/market/seller_refresh.h"

#include <stdio.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/common/sql.h"
#include "svc/market/order_stripe.h"
#include "svc/market/seller_int.h"

ch_err_t ch_seller_refresh_enqueue(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t user_id)
{
    int64_t now = ch_now_ms();
    ch_db_param_t p[] = {CH_DB_P_INT(ch_id_next()), CH_DB_P_TEXT(CH_SELLER_REFRESH_KIND), CH_DB_P_INT(user_id),
                         CH_DB_P_TEXT(CH_SELLER_REFRESH_STEP), CH_DB_P_INT(now)};
    /* run_at moves to now even under a lease: the running refresh may have read Stripe
     * before this event's change; its done (compare-and-set on run_at) then fails and the
     * job runs again. */
    return ch_sql_on(svc, conn,
                     "INSERT INTO market_jobs(id, kind, order_id, step, state, run_at, attempts, created_at, updated_at)"
                     " VALUES ($1, $2, $3, $4, 'pending', $5, 0, $5, $5) ON CONFLICT (order_id, step) DO UPDATE"
                     " SET state = 'pending', run_at = excluded.run_at, attempts = 0, last_error = NULL,"
                     " updated_at = excluded.updated_at",
                     p, CH_NPARAMS(p), NULL, NULL);
}

/* The seller's account id; "" when the user has no seller row (nothing to refresh). */
static ch_err_t ch__account_of(ch_svc_t *svc, uint64_t user_id, char *out, size_t n)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user_id)};
    out[0] = '\0';
    ch_err_t err = ch_sql_run(svc, "SELECT stripe_account_id FROM sellers WHERE user_id = $1", p, 1, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 1)
        snprintf(out, n, "%s", ch_db_rows_text(rows, 0, 0));
    ch_db_rows_free(rows);
    return err;
}

/* Stores what Stripe says of the account, and marks the job done if it is still ours. */
static ch_err_t ch__store(ch_svc_t *svc, const ch_market_job_t *job, const json_t *account)
{
    ch__seller_state_t st = {0};
    int have = account && ch__seller_state_from(account, &st);
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err) {
        ch__seller_state_clear(&st);
        return err;
    }
    int64_t now = ch_now_ms();
    if (have) {
        ch_db_param_t p[] = {CH_DB_P_TEXT(st.account_id),      CH_DB_P_INT(st.charges_enabled),
                             CH_DB_P_INT(st.payouts_enabled),  CH_DB_P_TEXT(st.requirements),
                             CH_DB_P_TEXT(st.disabled_reason), CH_DB_P_TEXT(st.payout_schedule),
                             CH_DB_P_INT(now),                 CH_DB_P_INT(now / 1000),
                             CH_DB_P_INT(job->order_id)};
        /* Stripe's state now: newer than any event created before this second. */
        err = ch_sql_on(svc, conn,
                        "UPDATE sellers SET charges_enabled = $2, payouts_enabled = $3, requirements = $4,"
                        " disabled_reason = $5, payout_schedule = COALESCE($6, payout_schedule), updated_at = $7,"
                        " event_created = CASE WHEN event_created > $8 THEN event_created ELSE $8 END"
                        " WHERE stripe_account_id = $1 AND user_id = $9",
                        p, CH_NPARAMS(p), NULL, NULL);
    }
    ch__seller_state_clear(&st);
    if (err == CH_OK) {
        ch_db_param_t q[] = {CH_DB_P_INT(job->id), CH_DB_P_INT(job->lease_until), CH_DB_P_INT(now)};
        err = ch_sql_on(svc, conn,
                        "UPDATE market_jobs SET state = 'done', last_error = NULL, updated_at = $3"
                        " WHERE id = $1 AND run_at = $2 AND state = 'pending'",
                        q, CH_NPARAMS(q), NULL, NULL);
    }
    return ch_sql_end(svc, conn, err);
}

ch_err_t ch_seller_refresh_step(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t whylen)
{
    char account[CH_SELLER_ACCOUNT_ID_MAX], path[CH_SELLER_ACCOUNT_ID_MAX + 16];
    ch_err_t err = ch__account_of(svc, job->order_id, account, sizeof(account));
    if (err)
        return err;
    if (!account[0])
        return ch__store(svc, job, NULL); /* no seller (any more): done */
    snprintf(path, sizeof(path), "/v1/accounts/%s", account);
    ch_stripe_result_t res;
    err = ch_market_stripe(svc, "GET", path, NULL, NULL, &res, why, whylen);
    if (err == CH_OK)
        err = ch__store(svc, job, res.body);
    ch_stripe_result_clear(&res);
    return err;
}
