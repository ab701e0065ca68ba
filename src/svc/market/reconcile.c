#include "svc/market/reconcile.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/common/sql.h"
#include "svc/market/ledger.h"
#include "svc/market/order_stripe.h"

/* Stripe's side: {"<source>|<currency>": net} over every page. */
static ch_err_t ch__stripe_sums(ch_svc_t *svc, json_t *sums, int64_t *count, char *why, size_t wl)
{
    char after[256] = "";
    for (int page = 0; page < CH_RECONCILE_MAX_PAGES; page++) {
        json_t *params = json_pack("{s:i}", "limit", CH_RECONCILE_PAGE);
        if (after[0])
            json_object_set_new(params, "starting_after", json_string(after));
        ch_stripe_result_t res;
        ch_err_t err = ch_market_stripe(svc, "GET", "/v1/balance_transactions", params, NULL, &res, why, wl);
        json_decref(params);
        if (err) {
            ch_stripe_result_clear(&res);
            return err;
        }
        size_t i;
        json_t *bt, *data = json_object_get(res.body, "data");
        after[0] = '\0';
        json_array_foreach(data, i, bt)
        {
            const json_t *src = json_object_get(bt, "source");
            const char *source = json_is_object(src) ? json_string_value(json_object_get(src, "id")) : json_string_value(src);
            const char *cur = json_string_value(json_object_get(bt, "currency"));
            char key[320];
            snprintf(key, sizeof(key), "%s|%s", source ? source : "", cur ? cur : "");
            json_int_t net = json_integer_value(json_object_get(bt, "net"));
            json_object_set_new(sums, key, json_integer(json_integer_value(json_object_get(sums, key)) + net));
            snprintf(after, sizeof(after), "%s", json_string_value(json_object_get(bt, "id")) ? json_string_value(json_object_get(bt, "id")) : "");
            (*count)++;
        }
        int more = json_is_true(json_object_get(res.body, "has_more")) && after[0] && json_array_size(data);
        ch_stripe_result_clear(&res);
        if (!more)
            return CH_OK;
    }
    snprintf(why, wl, "more than %d pages of balance transactions", CH_RECONCILE_MAX_PAGES);
    return CH_OK;
}

static ch_err_t ch__diff(ch_svc_t *svc, uint64_t run, const char *key, int64_t stripe, int64_t ledger, const char *detail)
{
    char source[320];
    snprintf(source, sizeof(source), "%s", key);
    char *bar = strrchr(source, '|');
    const char *cur = "";
    if (bar) {
        *bar = '\0';
        cur = bar + 1;
    }
    ch_db_param_t p[] = {CH_DB_P_INT(ch_id_next()), CH_DB_P_INT(run), CH_DB_P_TEXT(source), CH_DB_P_TEXT(cur),
                         CH_DB_P_INT(stripe), CH_DB_P_INT(ledger), CH_DB_P_TEXT(detail)};
    return ch_sql_run(svc,
                      "INSERT INTO ledger_recon_diffs(id, run_id, source, currency, stripe_amount, ledger_amount, detail)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      p, CH_NPARAMS(p), NULL, NULL);
}

ch_err_t ch_reconcile_run(ch_svc_t *svc, json_t **out, ch_fault_t *f)
{
    if (out)
        *out = NULL;
    uint64_t run = ch_id_next();
    ch_db_param_t p0[] = {CH_DB_P_INT(run), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_run(svc, "INSERT INTO ledger_recon_runs(id, started_at) VALUES ($1, $2)", p0, 2, NULL, NULL);
    if (err)
        return err;
    char why[256] = "";
    int64_t count = 0, ndiff = 0;
    json_t *stripe = json_object(), *ledger = NULL;
    err = ch__stripe_sums(svc, stripe, &count, why, sizeof(why));
    if (err == CH_OK)
        err = ch_ledger_stripe_sums(svc, &ledger);
    const char *k;
    json_t *v;
    if (err == CH_OK) {
        json_object_foreach(stripe, k, v)
        {
            json_t *l = json_object_get(ledger, k);
            int64_t s = json_integer_value(v), lv = json_integer_value(l);
            if (l && s == lv)
                continue;
            if (ndiff++ < CH_RECONCILE_MAX_DIFFS && err == CH_OK)
                err = ch__diff(svc, run, k, s, lv, l ? "amounts differ" : "in Stripe, not in the ledger");
        }
        json_object_foreach(ledger, k, v)
        {
            if (json_object_get(stripe, k))
                continue;
            if (ndiff++ < CH_RECONCILE_MAX_DIFFS && err == CH_OK)
                err = ch__diff(svc, run, k, 0, json_integer_value(v), "in the ledger, not in Stripe");
        }
    }
    json_decref(stripe);
    json_decref(ledger);
    if (err && !why[0])
        snprintf(why, sizeof(why), "%s", ch_err_code(err));
    ch_db_param_t p1[] = {CH_DB_P_INT(run), CH_DB_P_INT(ch_now_ms()), CH_DB_P_INT(count), CH_DB_P_INT(ndiff),
                          CH_DB_P_TEXT(err ? why : NULL)};
    ch_err_t err2 = ch_sql_run(svc,
                               "UPDATE ledger_recon_runs SET finished_at = $2, stripe_count = $3, differences = $4,"
                               " error = $5 WHERE id = $1",
                               p1, CH_NPARAMS(p1), NULL, NULL);
    if (ndiff)
        ch_log_warn("market: reconciliation found %lld differences between Stripe and the ledger", (long long)ndiff);
    if (err)
        return ch_fault(f, err == CH_EINTERNAL ? CH_EINTERNAL : CH_EUNAVAILABLE, NULL, "reconciliation failed: %s", why);
    if (err2)
        return err2;
    return out ? ch_reconcile_latest(svc, out) : CH_OK;
}

static json_t *ch__time(const ch_db_rows_t *rows, size_t col)
{
    char buf[CH_RFC3339_LEN];
    if (ch_db_rows_isnull(rows, 0, col))
        return json_null();
    ch_format_rfc3339(ch_db_rows_int(rows, 0, col), buf);
    return json_string(buf);
}

ch_err_t ch_reconcile_latest(ch_svc_t *svc, json_t **out)
{
    ch_db_rows_t *rows = NULL;
    *out = NULL;
    ch_err_t err = ch_sql_run(svc,
                              "SELECT id, started_at, finished_at, stripe_count, differences, error FROM ledger_recon_runs"
                              " WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
                              NULL, 0, &rows, NULL);
    if (err) {
        ch_db_rows_free(rows);
        return err;
    }
    if (!ch_db_rows_count(rows)) {
        ch_db_rows_free(rows);
        *out = json_pack("{s:n,s:[]}", "run", "differences");
        return CH_OK;
    }
    char id[CH_ID_STR_LEN];
    uint64_t run = (uint64_t)ch_db_rows_int(rows, 0, 0);
    json_t *r = json_pack("{s:s,s:o,s:o,s:I,s:I,s:o}", "id", ch_id_format(run, id), "started_at", ch__time(rows, 1),
                          "finished_at", ch__time(rows, 2), "stripe_count", (json_int_t)ch_db_rows_int(rows, 0, 3),
                          "differences", (json_int_t)ch_db_rows_int(rows, 0, 4), "error",
                          ch_db_rows_isnull(rows, 0, 5) ? json_null() : json_string(ch_db_rows_text(rows, 0, 5)));
    ch_db_rows_free(rows);
    rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(run), CH_DB_P_INT(CH_RECONCILE_MAX_DIFFS)};
    err = ch_sql_run(svc,
                     "SELECT source, currency, stripe_amount, ledger_amount, detail FROM ledger_recon_diffs"
                     " WHERE run_id = $1 ORDER BY id LIMIT $2",
                     p, 2, &rows, NULL);
    json_t *diffs = json_array();
    for (size_t i = 0; err == CH_OK && i < ch_db_rows_count(rows); i++)
        json_array_append_new(diffs, json_pack("{s:s,s:s,s:I,s:I,s:s}", "source", ch_db_rows_text(rows, i, 0), "currency",
                                               ch_db_rows_text(rows, i, 1), "stripe_amount",
                                               (json_int_t)ch_db_rows_int(rows, i, 2), "ledger_amount",
                                               (json_int_t)ch_db_rows_int(rows, i, 3), "detail",
                                               ch_db_rows_text(rows, i, 4)));
    ch_db_rows_free(rows);
    if (err) {
        json_decref(r);
        json_decref(diffs);
        return err;
    }
    *out = json_pack("{s:o,s:o}", "run", r, "differences", diffs);
    return CH_OK;
}

ch_err_t ch_reconcile_step(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t whylen)
{
    ch_fault_t f = {0};
    ch_err_t err = svc->stripe ? ch_reconcile_run(svc, NULL, &f) : CH_OK;
    if (err)
        snprintf(why, whylen, "%s", f.detail);
    /* The next run is due an interval later either way (a failure is retried then). */
    ch_db_conn_t *conn;
    ch_err_t e2 = ch_sql_begin(svc, 1, &conn);
    if (e2 == CH_OK)
        e2 = ch_sql_end(svc, conn,
                        ch_market_job_rearm(svc, conn, job->order_id, CH_RECONCILE_STEP,
                                            ch_now_ms() + svc->cfg->market_reconcile_interval_s * 1000));
    return e2;
}

ch_err_t ch_reconcile_schedule(ch_svc_t *svc)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    return ch_sql_end(svc, conn,
                      ch_market_job_enqueue(svc, conn, "reconcile", 0, CH_RECONCILE_STEP,
                                            ch_now_ms() + svc->cfg->market_reconcile_interval_s * 1000));
}
