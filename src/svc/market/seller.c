/* Sellers (sellers.h): onboarding through Stripe (an Express account made once per user,
 * idempotently, then a fresh Account Link per call), the seller object, the payout
 * schedule. Stripe is called with no database transaction open; what Stripe answered is
 * stored afterwards in one statement, so a Stripe failure stores nothing. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "store/stripe.h"
#include "svc/common/fields.h"
#include "svc/common/ratelimit.h"
#include "svc/common/sql.h"
#include "svc/market/seller_int.h"

/* How long a request waits for a free Stripe client before answering 503. */
#define CH_SELLER_STRIPE_WAIT_MS 2000
/* Longest delay_days of a payout schedule Stripe takes. */
#define CH_SELLER_DELAY_DAYS_MAX 365
#define CH_SELLER_URL_MAX 2048
/* Stripe calls made from request handlers at once, per process, at most (and never more
 * than a quarter of CHORUS_WORKERS): a slow Stripe ties up these workers only; the next
 * call is answered 503 overloaded at once instead of waiting. */
#define CH_SELLER_STRIPE_INFLIGHT_MAX 4
/* POST and PATCH /v1/me/seller per user and window (each POST makes an Account Link). */
#define CH_SELLER_WRITES_PER_WINDOW 20
#define CH_SELLER_WRITES_WINDOW_MS (10 * 60 * 1000)

static atomic_int ch__stripe_inflight;

/* Counts one seller write of user against CH_SELLER_WRITES_PER_WINDOW (429 past it). */
static ch_err_t ch__seller_write_hit(ch_svc_t *svc, uint64_t user_id, ch_fault_t *f)
{
    char who[CH_ID_STR_LEN];
    return ch_ratelimit_hit(svc, "seller", ch_id_format(user_id, who), CH_SELLER_WRITES_PER_WINDOW,
                            CH_SELLER_WRITES_WINDOW_MS, f);
}

ch_err_t ch_seller_account_for_user(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t user_id, char *account_id_out,
                                    size_t size, int *charges_enabled)
{
    ch_db_conn_t *own = NULL;
    ch_db_rows_t *rows = NULL;
    ch_err_t err;
    if (!conn && (err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &own))) != CH_OK)
        return err;
    ch_db_param_t p[] = {CH_DB_P_INT(user_id)};
    err = ch_sql_on(svc, own ? own : conn, "SELECT stripe_account_id, charges_enabled FROM sellers WHERE user_id = $1",
                    p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = CH_ENOTFOUND;
    if (err == CH_OK) {
        snprintf(account_id_out, size, "%s", ch_db_rows_text(rows, 0, 0));
        if (charges_enabled)
            *charges_enabled = (int)ch_db_rows_int(rows, 0, 1);
    }
    ch_db_rows_free(rows);
    if (own)
        ch_db_release(svc->db, own);
    return err;
}

/* ---- Stripe -------------------------------------------------------------------------- */

static ch_err_t ch__no_stripe(ch_fault_t *f)
{
    return ch_fault(f, CH_EUNAVAILABLE, NULL, "payments are not configured on this server (CHORUS_STRIPE_SECRET_KEY)");
}

/* One Stripe POST with a client from the pool; *body receives the answer object (caller
 * decrefs). Stripe's refusals become field (may be NULL) faults; outages 503. */
static ch_err_t ch__stripe_post(ch_svc_t *svc, const char *path, json_t *params, const char *key, const char *field,
                                json_t **body, ch_fault_t *f)
{
    *body = NULL;
    if (!svc->stripe)
        return ch__no_stripe(f);
    int cap = svc->cfg && svc->cfg->workers / 4 < CH_SELLER_STRIPE_INFLIGHT_MAX ? (int)svc->cfg->workers / 4
                                                                                 : CH_SELLER_STRIPE_INFLIGHT_MAX;
    if (cap < 1)
        cap = 1;
    if (atomic_fetch_add(&ch__stripe_inflight, 1) >= cap) {
        atomic_fetch_sub(&ch__stripe_inflight, 1);
        return ch_fault(f, CH_EOVERLOADED, NULL, "too many Stripe calls in progress; retry later");
    }
    ch_stripe_t *s = ch_stripe_pool_acquire(svc->stripe, CH_SELLER_STRIPE_WAIT_MS);
    if (!s) {
        atomic_fetch_sub(&ch__stripe_inflight, 1);
        return ch_fault(f, CH_EOVERLOADED, NULL, "every Stripe client is busy; retry later");
    }
    ch_stripe_result_t res;
    memset(&res, 0, sizeof(res));
    ch_err_t err = ch_stripe_call(s, "POST", path, params, key, NULL, &res);
    ch_stripe_pool_release(svc->stripe, s);
    atomic_fetch_sub(&ch__stripe_inflight, 1);
    const char *msg = json_string_value(json_object_get(json_object_get(res.body, "error"), "message"));
    switch (err) {
    case CH_OK:
        *body = res.body;
        res.body = NULL;
        break;
    case CH_EINVAL:
        err = field ? ch_fault(f, CH_EINVAL, field, "Stripe refused it: %s", msg ? msg : "invalid request")
                    : ch_fault(f, CH_EINTERNAL, NULL, "Stripe refused the request: %s", msg ? msg : "invalid");
        break;
    case CH_ECONFLICT:
        err = ch_fault(f, CH_ECONFLICT, NULL, "the same change is in progress at Stripe; retry shortly");
        break;
    case CH_EINTERNAL:
        err = ch_fault(f, CH_EINTERNAL, NULL, "Stripe did not accept our request (status %d)", res.status);
        break;
    default:
        err = ch_fault(f, CH_EUNAVAILABLE, NULL, "Stripe is unavailable (status %d); retry later", res.status);
        break;
    }
    ch_stripe_result_clear(&res);
    return err;
}

/* ---- storing ------------------------------------------------------------------------- */

/* Stores the account Stripe made for user (the first time; an account already stored wins). */
static ch_err_t ch__store_new(ch_svc_t *svc, uint64_t user_id, const ch__seller_state_t *st)
{
    int64_t now = ch_now_ms();
    ch_db_param_t p[] = {CH_DB_P_INT(user_id),           CH_DB_P_TEXT(st->account_id),
                         CH_DB_P_INT(st->charges_enabled), CH_DB_P_INT(st->payouts_enabled),
                         CH_DB_P_TEXT(st->requirements),   CH_DB_P_TEXT(st->disabled_reason),
                         CH_DB_P_TEXT(st->payout_schedule), CH_DB_P_INT(now)};
    return ch_sql_run(svc,
                      "INSERT INTO sellers(user_id, stripe_account_id, charges_enabled, payouts_enabled,"
                      " requirements, disabled_reason, payout_schedule, created_at, updated_at)"
                      " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (user_id) DO NOTHING",
                      p, CH_NPARAMS(p), NULL, NULL);
}

/* ---- the API ------------------------------------------------------------------------- */

static const char *const ch__onboard_fields[] = {"refresh_url", "return_url", NULL};

ch_err_t ch_seller_onboard(ch_svc_t *svc, uint64_t user_id, const json_t *cbody, json_t **out, int *created,
                           ch_fault_t *f)
{
    json_t *body = (json_t *)cbody;
    const char *refresh = NULL, *ret = NULL;
    ch_err_t err;
    *created = 0;
    if (body && ((err = ch_field_only(body, ch__onboard_fields, f)) ||
                 (err = ch_field_https_url(body, "refresh_url", 0, CH_SELLER_URL_MAX, &refresh, f)) ||
                 (err = ch_field_https_url(body, "return_url", 0, CH_SELLER_URL_MAX, &ret, f))))
        return err;
    if (!svc->stripe)
        return ch__no_stripe(f);
    if ((err = ch__seller_write_hit(svc, user_id, f)) != CH_OK)
        return err;
    char account[CH_SELLER_ACCOUNT_ID_MAX];
    err = ch_seller_account_for_user(svc, NULL, user_id, account, sizeof(account), NULL);
    if (err == CH_ENOTFOUND) {
        char key[64], uid[CH_ID_STR_LEN];
        snprintf(key, sizeof(key), "seller:%llu:account", (unsigned long long)user_id);
        json_t *params = json_pack("{s:s, s:{s:{s:b}, s:{s:b}}, s:{s:s}}", "type", "express", "capabilities",
                                   "card_payments", "requested", 1, "transfers", "requested", 1, "metadata",
                                   "user_id", ch_id_format(user_id, uid));
        json_t *acct = NULL;
        err = ch__stripe_post(svc, "/v1/accounts", params, key, NULL, &acct, f);
        json_decref(params);
        ch__seller_state_t st;
        if (err == CH_OK && !ch__seller_state_from(acct, &st))
            err = ch_fault(f, CH_EINTERNAL, NULL, "Stripe answered an account without an id");
        else if (err == CH_OK) {
            err = ch__store_new(svc, user_id, &st);
            ch__seller_state_clear(&st);
        }
        json_decref(acct);
        if (err)
            return err;
        if ((err = ch_seller_account_for_user(svc, NULL, user_id, account, sizeof(account), NULL)) != CH_OK)
            return err;
        *created = 1;
    } else if (err) {
        return err;
    }
    /* A fresh link every call: a link is single-use and expires within minutes. */
    char refresh_buf[CH_SELLER_URL_MAX + 32], return_buf[CH_SELLER_URL_MAX + 32], key[96];
    const char *base = svc->cfg->market_onboarding_url, *sep = strchr(base, '?') ? "&" : "?";
    snprintf(refresh_buf, sizeof(refresh_buf), "%s%sstep=refresh", base, sep);
    snprintf(return_buf, sizeof(return_buf), "%s%sstep=return", base, sep);
    snprintf(key, sizeof(key), "seller:%llu:link:%llu", (unsigned long long)user_id, (unsigned long long)ch_id_next());
    json_t *params = json_pack("{s:s, s:s, s:s, s:s}", "account", account, "refresh_url", refresh ? refresh : refresh_buf,
                               "return_url", ret ? ret : return_buf, "type", "account_onboarding");
    json_t *link = NULL;
    err = ch__stripe_post(svc, "/v1/account_links", params, key, NULL, &link, f);
    json_decref(params);
    if (err)
        return err;
    const char *url = json_string_value(json_object_get(link, "url"));
    json_t *exp = json_object_get(link, "expires_at");
    char when[CH_RFC3339_LEN];
    ch_format_rfc3339(json_is_integer(exp) ? json_integer_value(exp) * 1000 : 0, when);
    if (!url) {
        json_decref(link);
        return ch_fault(f, CH_EINTERNAL, NULL, "Stripe answered an account link without a url");
    }
    *out = json_pack("{s:s, s:s, s:s}", "account_id", account, "onboarding_url", url, "expires_at", when);
    json_decref(link);
    return CH_OK;
}

/* The seller object from a row of (stripe_account_id, charges_enabled, payouts_enabled,
 * requirements, disabled_reason, payout_schedule, updated_at). */
static json_t *ch__render(const ch_db_rows_t *rows)
{
    json_t *req = json_loads(ch_db_rows_text(rows, 0, 3), 0, NULL);
    if (!json_is_object(req)) {
        json_decref(req);
        req = json_pack("{s:[], s:[]}", "currently_due", "past_due");
    }
    json_object_set_new(req, "disabled_reason",
                        ch_db_rows_isnull(rows, 0, 4) ? json_null() : json_string(ch_db_rows_text(rows, 0, 4)));
    json_t *sched = ch_db_rows_isnull(rows, 0, 5) ? json_null() : json_loads(ch_db_rows_text(rows, 0, 5), 0, NULL);
    char when[CH_RFC3339_LEN];
    ch_format_rfc3339(ch_db_rows_int(rows, 0, 6), when);
    return json_pack("{s:s, s:b, s:b, s:o, s:o, s:s}", "account_id", ch_db_rows_text(rows, 0, 0), "charges_enabled",
                     (int)ch_db_rows_int(rows, 0, 1), "payouts_enabled", (int)ch_db_rows_int(rows, 0, 2),
                     "requirements", req, "payout_schedule", sched ? sched : json_null(), "updated_at", when);
}

ch_err_t ch_seller_get(ch_svc_t *svc, uint64_t user_id, json_t **out, ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user_id)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT stripe_account_id, charges_enabled, payouts_enabled, requirements,"
                              " disabled_reason, payout_schedule, updated_at FROM sellers WHERE user_id = $1",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "you are not a seller yet: POST /v1/me/seller starts onboarding");
    if (err == CH_OK)
        *out = ch__render(rows);
    ch_db_rows_free(rows);
    return err;
}

/* ---- payout schedule ----------------------------------------------------------------- */

static const char *const ch__update_fields[] = {"payout_schedule", NULL};
static const char *const ch__schedule_fields[] = {"interval", "weekly_anchor", "monthly_anchor", "delay_days", NULL};
static const char *const ch__intervals[] = {"daily", "weekly", "monthly", "manual", NULL};
static const char *const ch__weekdays[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                           "sunday", NULL};

/* Validates {payout_schedule} into Stripe's settings[payouts][schedule] params (*params,
 * caller decrefs). Faults name "payout_schedule.<member>". */
static ch_err_t ch__schedule_params(json_t *body, json_t **params, ch_fault_t *f)
{
    ch_err_t err = ch_field_only(body, ch__update_fields, f);
    if (err)
        return err;
    json_t *s = json_object_get(body, "payout_schedule");
    if (!json_is_object(s))
        return ch_fault(f, CH_EINVAL, "payout_schedule",
                        "payout_schedule {interval, weekly_anchor?, monthly_anchor?, delay_days?} is required");
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v)
    {
        int known = 0;
        for (size_t i = 0; ch__schedule_fields[i]; i++)
            known |= strcmp(k, ch__schedule_fields[i]) == 0;
        if (!known)
            return ch_fault(f, CH_EINVAL, "payout_schedule", "payout_schedule has no member of that name");
    }
    const char *interval = NULL, *weekly = NULL;
    if (ch_field_enum(s, "interval", CH_FIELD_REQUIRED, ch__intervals, &interval, NULL))
        return ch_fault(f, CH_EINVAL, "payout_schedule.interval",
                        "payout_schedule.interval must be daily, weekly, monthly or manual");
    if (ch_field_enum(s, "weekly_anchor", 0, ch__weekdays, &weekly, NULL))
        return ch_fault(f, CH_EINVAL, "payout_schedule.weekly_anchor",
                        "payout_schedule.weekly_anchor must be a day of the week (monday ... sunday)");
    json_t *monthly = json_object_get(s, "monthly_anchor"), *delay = json_object_get(s, "delay_days");
    if (monthly && !json_is_null(monthly) &&
        (!json_is_integer(monthly) || json_integer_value(monthly) < 1 || json_integer_value(monthly) > 31))
        return ch_fault(f, CH_EINVAL, "payout_schedule.monthly_anchor",
                        "payout_schedule.monthly_anchor must be an integer from 1 to 31");
    int is_weekly = strcmp(interval, "weekly") == 0, is_monthly = strcmp(interval, "monthly") == 0;
    if (weekly && !is_weekly)
        return ch_fault(f, CH_EINVAL, "payout_schedule.weekly_anchor", "weekly_anchor goes only with interval weekly");
    if (is_weekly && !weekly)
        return ch_fault(f, CH_EINVAL, "payout_schedule.weekly_anchor", "interval weekly needs a weekly_anchor");
    if (monthly && !json_is_null(monthly) && !is_monthly)
        return ch_fault(f, CH_EINVAL, "payout_schedule.monthly_anchor", "monthly_anchor goes only with interval monthly");
    if (is_monthly && (!monthly || json_is_null(monthly)))
        return ch_fault(f, CH_EINVAL, "payout_schedule.monthly_anchor", "interval monthly needs a monthly_anchor");
    json_t *delay_param = NULL;
    if (delay && !json_is_null(delay)) {
        if (strcmp(interval, "manual") == 0)
            return ch_fault(f, CH_EINVAL, "payout_schedule.delay_days", "manual payouts have no delay_days");
        if (json_is_string(delay) && strcmp(json_string_value(delay), "minimum") == 0)
            delay_param = json_string("minimum");
        else if (json_is_integer(delay) && json_integer_value(delay) >= 2 &&
                 json_integer_value(delay) <= CH_SELLER_DELAY_DAYS_MAX)
            delay_param = json_integer(json_integer_value(delay));
        else
            return ch_fault(f, CH_EINVAL, "payout_schedule.delay_days",
                            "payout_schedule.delay_days must be \"minimum\" or an integer from 2 to %d",
                            CH_SELLER_DELAY_DAYS_MAX);
    }
    json_t *sched = json_pack("{s:s}", "interval", interval);
    if (weekly)
        json_object_set_new(sched, "weekly_anchor", json_string(weekly));
    if (is_monthly)
        json_object_set_new(sched, "monthly_anchor", json_integer(json_integer_value(monthly)));
    if (delay_param)
        json_object_set_new(sched, "delay_days", delay_param);
    *params = json_pack("{s:{s:{s:o}}}", "settings", "payouts", "schedule", sched);
    return CH_OK;
}

ch_err_t ch_seller_update(ch_svc_t *svc, uint64_t user_id, const json_t *cbody, json_t **out, ch_fault_t *f)
{
    json_t *params = NULL;
    ch_err_t err = ch__schedule_params((json_t *)cbody, &params, f);
    if (err == CH_OK && svc->stripe && (err = ch__seller_write_hit(svc, user_id, f)) != CH_OK)
        json_decref(params);
    if (err)
        return err;
    char account[CH_SELLER_ACCOUNT_ID_MAX], path[CH_SELLER_ACCOUNT_ID_MAX + 16], key[96];
    err = ch_seller_account_for_user(svc, NULL, user_id, account, sizeof(account), NULL);
    if (err == CH_ENOTFOUND)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "you are not a seller yet: POST /v1/me/seller starts onboarding");
    if (err == CH_OK && !svc->stripe)
        err = ch__no_stripe(f);
    json_t *acct = NULL;
    if (err == CH_OK) {
        snprintf(path, sizeof(path), "/v1/accounts/%s", account);
        snprintf(key, sizeof(key), "seller:%llu:schedule:%llu", (unsigned long long)user_id,
                 (unsigned long long)ch_id_next());
        err = ch__stripe_post(svc, path, params, key, "payout_schedule", &acct, f);
    }
    json_decref(params);
    if (err)
        return err;
    ch__seller_state_t st;
    if (!ch__seller_state_from(acct, &st)) {
        json_decref(acct);
        return ch_fault(f, CH_EINTERNAL, NULL, "Stripe answered an account without an id");
    }
    /* Only the schedule: the rest of the account moves with account.updated events, in
     * their order (an account.updated for this change follows and carries it too). */
    ch_db_param_t p[] = {CH_DB_P_INT(user_id), CH_DB_P_TEXT(st.payout_schedule), CH_DB_P_INT(ch_now_ms())};
    err = ch_sql_run(svc, "UPDATE sellers SET payout_schedule = COALESCE($2, payout_schedule), updated_at = $3"
                     " WHERE user_id = $1", p,
                     CH_NPARAMS(p), NULL, NULL);
    ch__seller_state_clear(&st);
    json_decref(acct);
    return err ? err : ch_seller_get(svc, user_id, out, f);
}
