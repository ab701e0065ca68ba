#include "svc/market/reconcile.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/common/sql.h"
#include "svc/market/ledger.h"
#include "svc/market/order_stripe.h"

/* One run: its id and lease holder, the window, and Stripe's side as
 * {"<source>|<currency>": net}. */
typedef struct {
    ch_svc_t *svc;
    uint64_t run;
    int64_t since_s; /* -1: the whole history */
    int64_t lease_ms;
    const atomic_int *stopping;
    json_t *stripe;
    int64_t count, booked;
    int incomplete;
    char why[256];
} ch__run_t;

/* The ledger account a balance transaction of this type moves the Stripe balance to when
 * no order made it (NULL: an order's movement, booked by its flow). */
static const char *ch__unowned_account(const char *type)
{
    static const char *const payouts[] = {"payout", "payout_cancel", "payout_failure"};
    static const char *const fees[] = {"stripe_fee", "stripe_fx_fee", "tax_fee"};
    for (size_t i = 0; type && i < sizeof(payouts) / sizeof(payouts[0]); i++)
        if (strcmp(type, payouts[i]) == 0)
            return CH_RECONCILE_BANK;
    for (size_t i = 0; type && i < sizeof(fees) / sizeof(fees[0]); i++)
        if (strcmp(type, fees[i]) == 0)
            return CH_LEDGER_STRIPE_FEES;
    return NULL;
}

/* The id a balance transaction is compared under: its source object, else its own id
 * (Stripe's fees have no source). NULL when it has neither. */
static const char *ch__source_of(const json_t *bt)
{
    const json_t *src = json_object_get(bt, "source");
    const char *s = json_is_object(src) ? json_string_value(json_object_get(src, "id")) : json_string_value(src);
    return s && s[0] ? s : json_string_value(json_object_get(bt, "id"));
}

/* Books a payout or a Stripe fee the first time it is seen (ref "stripe:<txn id>": a later
 * run posts nothing). */
static ch_err_t ch__book_unowned(ch__run_t *r, const json_t *bt, const char *account, const char *source)
{
    const char *id = json_string_value(json_object_get(bt, "id"));
    const char *cur = json_string_value(json_object_get(bt, "currency"));
    int64_t net = json_integer_value(json_object_get(bt, "net"));
    if (!id || !cur || net == 0 || net == INT64_MIN)
        return CH_OK;
    char ref[320];
    snprintf(ref, sizeof(ref), "stripe:%s", id);
    ch_ledger_entry_t e[] = {{CH_LEDGER_STRIPE_BALANCE, net, source}, {account, -net, NULL}};
    const char *kind = strcmp(account, CH_RECONCILE_BANK) == 0 ? "payout" : "stripe_fee";
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(r->svc, 1, &conn);
    if (err)
        return err;
    int posted = 0;
    err = ch_sql_end(r->svc, conn, ch_ledger_post(r->svc, conn, ref, kind, 0, cur, e, 2, &posted));
    if (err == CH_OK && posted)
        r->booked++;
    return err;
}

/* Adds one page's balance transactions to sums ({"<source>|<currency>": net}); *after
 * gets the last id (for the next page). book: payouts and fees are booked. */
static ch_err_t ch__add_page(ch__run_t *r, const json_t *data, json_t *sums, int book, char *after, size_t al)
{
    size_t i;
    json_t *bt;
    after[0] = '\0';
    json_array_foreach(data, i, bt)
    {
        const char *source = ch__source_of(bt);
        const char *cur = json_string_value(json_object_get(bt, "currency"));
        const char *account = ch__unowned_account(json_string_value(json_object_get(bt, "type")));
        if (book && account && source) {
            ch_err_t err = ch__book_unowned(r, bt, account, source);
            if (err) {
                snprintf(r->why, sizeof(r->why), "booking %s: %s", source, ch_err_code(err));
                return err;
            }
        }
        char key[320];
        snprintf(key, sizeof(key), "%s|%s", source ? source : "", cur ? cur : "");
        json_int_t net = json_integer_value(json_object_get(bt, "net"));
        json_object_set_new(sums, key, json_integer(json_integer_value(json_object_get(sums, key)) + net));
        const char *id = json_string_value(json_object_get(bt, "id"));
        snprintf(after, al, "%s", id ? id : "");
        if (book)
            r->count++;
    }
    return CH_OK;
}

/* Stripe's side of the window, every page up to the cap; a run cut short is marked
 * incomplete (r->why says why), a failed call is the error. */
static ch_err_t ch__stripe_window(ch__run_t *r)
{
    char after[256] = "";
    const ch_config_t *cfg = r->svc->cfg;
    for (int64_t page = 0;; page++) {
        if (page == cfg->market_reconcile_max_pages) {
            r->incomplete = 1;
            snprintf(r->why, sizeof(r->why), "incomplete: more than %lld pages of %lld balance transactions",
                     (long long)cfg->market_reconcile_max_pages, (long long)cfg->market_reconcile_page);
            return CH_OK;
        }
        int held = 0;
        ch_err_t err = page ? ch_reconcile_lease_renew(r->svc, r->run, r->lease_ms, &held) : CH_OK;
        if (err == CH_OK && page && !held) {
            r->incomplete = 1;
            snprintf(r->why, sizeof(r->why), "incomplete: the lease was lost after %lld pages", (long long)page);
            return CH_OK;
        }
        if (err == CH_OK && r->stopping && atomic_load(r->stopping)) {
            r->incomplete = 1;
            snprintf(r->why, sizeof(r->why), "incomplete: stopped after %lld pages", (long long)page);
            return CH_OK;
        }
        if (err)
            return err;
        json_t *params = json_pack("{s:I}", "limit", (json_int_t)cfg->market_reconcile_page);
        if (r->since_s >= 0)
            json_object_set_new(params, "created", json_pack("{s:I}", "gte", (json_int_t)r->since_s));
        if (after[0])
            json_object_set_new(params, "starting_after", json_string(after));
        ch_stripe_result_t res;
        err = ch_market_stripe(r->svc, "GET", "/v1/balance_transactions", params, NULL, &res, r->why, sizeof(r->why));
        json_decref(params);
        if (err == CH_OK) {
            const json_t *data = json_object_get(res.body, "data");
            err = ch__add_page(r, data, r->stripe, 1, after, sizeof(after));
            int more = err == CH_OK && json_is_true(json_object_get(res.body, "has_more")) && after[0] &&
                       json_array_size(data);
            ch_stripe_result_clear(&res);
            if (err == CH_OK && !more)
                return CH_OK;
        } else {
            ch_stripe_result_clear(&res);
        }
        if (err)
            return err;
    }
}

/* Every balance transaction of one source, summed per currency into *out (caller owns). */
static ch_err_t ch__stripe_source(ch__run_t *r, const char *source, json_t **out)
{
    char after[256] = "";
    *out = json_object();
    for (int page = 0; page < CH_RECONCILE_SOURCE_PAGES; page++) {
        json_t *params = json_pack("{s:i,s:s}", "limit", 100, "source", source);
        if (after[0])
            json_object_set_new(params, "starting_after", json_string(after));
        ch_stripe_result_t res;
        ch_err_t err = ch_market_stripe(r->svc, "GET", "/v1/balance_transactions", params, NULL, &res, r->why,
                                        sizeof(r->why));
        json_decref(params);
        if (err == CH_OK) {
            const json_t *data = json_object_get(res.body, "data");
            err = ch__add_page(r, data, *out, 0, after, sizeof(after));
            int more = json_is_true(json_object_get(res.body, "has_more")) && after[0] && json_array_size(data);
            ch_stripe_result_clear(&res);
            if (err == CH_OK && !more)
                return CH_OK;
        } else {
            ch_stripe_result_clear(&res);
        }
        if (err)
            return err;
    }
    return CH_OK;
}

/* The ledger's whole sum of one source in one currency (0 when it has none). */
static ch_err_t ch__ledger_source(ch_svc_t *svc, const char *source, const char *cur, int64_t *sum, int *found)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(CH_LEDGER_STRIPE_BALANCE), CH_DB_P_TEXT(source), CH_DB_P_TEXT(cur)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger_entries"
                              " WHERE account = $1 AND stripe_ref = $2 AND currency = $3",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK) {
        *found = ch_db_rows_int(rows, 0, 0) > 0;
        *sum = ch_db_rows_int(rows, 0, 1);
    }
    ch_db_rows_free(rows);
    return err;
}

/* The ledger's side: whole sums of every source with an entry in the window (all of them
 * for a run over the whole history), and in *at (windowed runs) each one's newest booking
 * (ms). Caller owns *out and *at. */
static ch_err_t ch__ledger_window(ch__run_t *r, json_t **out, json_t **at)
{
    *at = json_object();
    if (r->since_s < 0)
        return ch_ledger_stripe_sums(r->svc, out);
    ch_db_rows_t *rows = NULL;
    *out = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(CH_LEDGER_STRIPE_BALANCE), CH_DB_P_INT(r->since_s * 1000)};
    ch_err_t err = ch_sql_run(r->svc,
                              "SELECT e.stripe_ref, e.currency, SUM(e.amount), MAX(x.created_at) FROM ledger_entries e"
                              " JOIN ledger_transactions x ON x.id = e.txn_id"
                              " WHERE e.account = $1 AND e.stripe_ref IN (SELECT w.stripe_ref FROM ledger_entries w"
                              " JOIN ledger_transactions t ON t.id = w.txn_id"
                              " WHERE w.account = $1 AND t.created_at >= $2 AND w.stripe_ref IS NOT NULL)"
                              " GROUP BY e.stripe_ref, e.currency",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK) {
        *out = json_object();
        for (size_t i = 0; i < ch_db_rows_count(rows); i++) {
            char key[320];
            snprintf(key, sizeof(key), "%s|%s", ch_db_rows_text(rows, i, 0), ch_db_rows_text(rows, i, 1));
            json_object_set_new(*out, key, json_integer(ch_db_rows_int(rows, i, 2)));
            json_object_set_new(*at, key, json_integer(ch_db_rows_int(rows, i, 3)));
        }
    }
    ch_db_rows_free(rows);
    return err;
}

/* Splits "<source>|<currency>" into its parts. */
static void ch__split(const char *key, char *source, size_t sl, const char **cur)
{
    snprintf(source, sl, "%s", key);
    char *bar = strrchr(source, '|');
    *cur = "";
    if (bar) {
        *bar = '\0';
        *cur = key + (bar - source) + 1;
    }
}

static ch_err_t ch__diff(ch__run_t *r, const char *key, int64_t stripe, int64_t ledger, const char *detail)
{
    char source[320];
    const char *cur;
    ch__split(key, source, sizeof(source), &cur);
    ch_db_param_t p[] = {CH_DB_P_INT(ch_id_next()), CH_DB_P_INT(r->run), CH_DB_P_TEXT(source), CH_DB_P_TEXT(cur),
                         CH_DB_P_INT(stripe), CH_DB_P_INT(ledger), CH_DB_P_TEXT(detail)};
    return ch_sql_run(r->svc,
                      "INSERT INTO ledger_recon_diffs(id, run_id, source, currency, stripe_amount, ledger_amount, detail)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      p, CH_NPARAMS(p), NULL, NULL);
}

/* Whether a windowed run's apparent difference about key holds over the source's whole
 * history: *stripe and *ledger get the whole sums. */
static ch_err_t ch__confirm(ch__run_t *r, const char *key, int64_t *stripe, int64_t *ledger, int *in_stripe,
                           int *in_ledger)
{
    char source[320];
    const char *cur;
    ch__split(key, source, sizeof(source), &cur);
    json_t *whole = NULL;
    ch_err_t err = ch__stripe_source(r, source, &whole);
    if (err == CH_OK) {
        const json_t *v = json_object_get(whole, key);
        *in_stripe = v != NULL;
        *stripe = json_integer_value(v);
        err = ch__ledger_source(r->svc, source, cur, ledger, in_ledger);
    }
    json_decref(whole);
    return err;
}

/* Compares both sides and stores each difference; *ndiff counts them all. at: each ledger
 * source's newest booking (ms). */
static ch_err_t ch__compare(ch__run_t *r, const json_t *ledger, const json_t *at, int64_t *ndiff)
{
    const char *k;
    json_t *v;
    ch_err_t err = CH_OK;
    json_object_foreach(r->stripe, k, v)
    {
        const json_t *l = json_object_get(ledger, k);
        int64_t s = json_integer_value(v), lv = json_integer_value(l);
        int in_s = 1, in_l = l != NULL;
        if (err == CH_OK && !in_l && r->since_s >= 0) {
            char source[320];
            const char *cur;
            ch__split(k, source, sizeof(source), &cur);
            err = ch__ledger_source(r->svc, source, cur, &lv, &in_l);
        }
        if (err == CH_OK && (!in_l || s != lv) && r->since_s >= 0)
            err = ch__confirm(r, k, &s, &lv, &in_s, &in_l);
        if (err || (in_l && in_s && s == lv))
            continue;
        if ((*ndiff)++ < CH_RECONCILE_MAX_DIFFS)
            err = ch__diff(r, k, s, lv, !in_l ? "in Stripe, not in the ledger" : !in_s ? "in the ledger, not in Stripe"
                                                                                           : "amounts differ");
    }
    json_object_foreach((json_t *)ledger, k, v)
    {
        if (err || json_object_get(r->stripe, k))
            continue;
        int64_t s = 0, lv = json_integer_value(v);
        int in_s = 0, in_l = 1;
        /* A source booked at or after the last complete run's start has its balance
         * transactions inside the window (booking follows Stripe by less than the overlap):
         * only one booked in the overlap may have money before the window to look up. */
        int64_t deep = (r->since_s + r->svc->cfg->market_reconcile_overlap_s) * 1000;
        if (r->since_s >= 0 && json_integer_value(json_object_get(at, k)) < deep)
            err = ch__confirm(r, k, &s, &lv, &in_s, &in_l);
        if (err || (in_s && s == lv))
            continue;
        if ((*ndiff)++ < CH_RECONCILE_MAX_DIFFS)
            err = ch__diff(r, k, s, lv, in_s ? "amounts differ" : "in the ledger, not in Stripe");
    }
    return err;
}

/* The window's start: the last complete run's start minus the overlap (-1: none yet). */
static ch_err_t ch__since(ch_svc_t *svc, int64_t *since_s)
{
    ch_db_rows_t *rows = NULL;
    *since_s = -1;
    ch_err_t err = ch_sql_run(svc, "SELECT started_at FROM ledger_recon_runs WHERE complete = 1 ORDER BY id DESC LIMIT 1",
                              NULL, 0, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 1) {
        int64_t s = ch_db_rows_int(rows, 0, 0) / 1000 - svc->cfg->market_reconcile_overlap_s;
        *since_s = s > 0 ? s : 0;
    }
    ch_db_rows_free(rows);
    return err;
}

/* One run under the lease r->run holds. */
static ch_err_t ch__run(ch__run_t *r, ch_fault_t *f)
{
    ch_svc_t *svc = r->svc;
    ch_err_t err = ch__since(svc, &r->since_s);
    if (err)
        return err;
    ch_db_param_t p0[] = {CH_DB_P_INT(r->run), CH_DB_P_INT(ch_now_ms()),
                          r->since_s >= 0 ? CH_DB_P_INT(r->since_s) : CH_DB_P_NULL};
    err = ch_sql_run(svc, "INSERT INTO ledger_recon_runs(id, started_at, stripe_since) VALUES ($1, $2, $3)", p0,
                     CH_NPARAMS(p0), NULL, NULL);
    if (err)
        return err;
    int64_t ndiff = 0;
    json_t *ledger = NULL, *at = NULL;
    r->stripe = json_object();
    err = ch__stripe_window(r);
    if (err == CH_OK && !r->incomplete)
        err = ch__ledger_window(r, &ledger, &at);
    if (err == CH_OK && !r->incomplete)
        err = ch__compare(r, ledger, at, &ndiff);
    json_decref(r->stripe);
    json_decref(ledger);
    json_decref(at);
    r->stripe = NULL;
    if (err && !r->why[0])
        snprintf(r->why, sizeof(r->why), "%s", ch_err_code(err));
    int complete = err == CH_OK && !r->incomplete;
    ch_db_param_t p1[] = {CH_DB_P_INT(r->run),   CH_DB_P_INT(ch_now_ms()),         CH_DB_P_INT(r->count),
                          CH_DB_P_INT(ndiff),    CH_DB_P_TEXT(complete ? NULL : r->why), CH_DB_P_INT(complete)};
    ch_err_t err2 = ch_sql_run(svc,
                               "UPDATE ledger_recon_runs SET finished_at = $2, stripe_count = $3, differences = $4,"
                               " error = $5, complete = $6 WHERE id = $1",
                               p1, CH_NPARAMS(p1), NULL, NULL);
    ch_reconcile_count(complete ? "complete" : r->incomplete ? "incomplete" : "failed");
    if (ndiff)
        ch_log_warn("market: reconciliation found %lld differences between Stripe and the ledger", (long long)ndiff);
    if (r->booked)
        ch_log_info("market: reconciliation booked %lld payouts and Stripe fees", (long long)r->booked);
    if (!complete)
        ch_log_error("market: reconciliation run %llu did not complete: %s", (unsigned long long)r->run, r->why);
    if (err)
        return ch_fault(f, err == CH_EINTERNAL ? CH_EINTERNAL : CH_EUNAVAILABLE, NULL, "reconciliation failed: %s",
                        r->why);
    return err2;
}

/* Takes the lease, runs, releases. *got 0 (and CH_OK) when the lease was not free (or,
 * periodic, the run not due). */
static ch_err_t ch__reconcile(ch_svc_t *svc, const atomic_int *stopping, int periodic, int *got, ch_fault_t *f)
{
    ch__run_t r = {.svc = svc, .run = ch_id_next(), .stopping = stopping, .lease_ms = ch_market_job_lease_ms(svc)};
    ch_err_t err = ch_reconcile_lease_take(svc, r.run, periodic, r.lease_ms, got);
    if (err || !*got)
        return err;
    err = ch__run(&r, f);
    ch_err_t e2 = ch_reconcile_lease_release(svc, r.run, periodic);
    return err ? err : e2;
}

ch_err_t ch_reconcile_run(ch_svc_t *svc, json_t **out, const atomic_int *stopping, ch_fault_t *f)
{
    int got = 0;
    if (out)
        *out = NULL;
    ch_err_t err = ch__reconcile(svc, stopping, 0, &got, f);
    if (err == CH_OK && !got)
        return ch_fault(f, CH_ECONFLICT, NULL, "a reconciliation is running (on this node or another)");
    if (err)
        return err;
    return out ? ch_reconcile_latest(svc, out) : CH_OK;
}

int64_t ch_reconcile_tick(ch_svc_t *svc, const atomic_int *stopping)
{
    int got = 0;
    ch_fault_t f = {0};
    ch_reconcile_count(NULL); /* the counters show (at 0) before the first run */
    if (!svc->stripe)
        return CH_RECONCILE_TICK_MS;
    ch_err_t err = ch__reconcile(svc, stopping, 1, &got, &f);
    if (err) {
        ch_log_warn("market: periodic reconciliation: %s", f.detail[0] ? f.detail : ch_err_code(err));
        return CH_RECONCILE_RETRY_MS; /* the database or Stripe is down: not every second */
    }
    return CH_RECONCILE_TICK_MS;
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
                              "SELECT id, started_at, finished_at, stripe_count, differences, error, complete, stripe_since"
                              " FROM ledger_recon_runs"
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
    json_object_set_new(r, "complete", json_boolean(ch_db_rows_int(rows, 0, 6) != 0));
    if (ch_db_rows_isnull(rows, 0, 7)) {
        json_object_set_new(r, "since", json_null());
    } else {
        char buf[CH_RFC3339_LEN];
        ch_format_rfc3339(ch_db_rows_int(rows, 0, 7) * 1000, buf);
        json_object_set_new(r, "since", json_string(buf));
    }
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
    (void)why;
    (void)whylen;
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err == CH_OK)
        err = ch_sql_end(svc, conn, ch_market_job_done(svc, conn, job->id));
    return err;
}
