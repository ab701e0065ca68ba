/* Stray payments (strays.h). */
#include "svc/market/strays.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/common/sql.h"
#include "svc/market/ledger.h"
#include "svc/market/order_stripe.h"
#include "svc/market/orders.h"
#include "svc/market/refund_calls.h"

static const char *ch__str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : "";
}

/* A field that is an id, or an expanded object with an id. */
static const char *ch__ref(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_object(v) ? ch__str(v, "id") : ch__str(obj, name);
}

ch_err_t ch_market_stray_record(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const json_t *pi)
{
    const char *pi_id = ch__str(pi, "id"), *currency = ch__str(pi, "currency"), *charge = ch__ref(pi, "latest_charge");
    json_int_t amount = json_integer_value(json_object_get(pi, "amount_received"));
    if (amount <= 0)
        amount = json_integer_value(json_object_get(pi, "amount"));
    if (!pi_id[0] || !currency[0] || amount <= 0 || strlen(pi_id) >= CH_ORDER_STRIPE_ID_MAX ||
        strlen(charge) >= CH_ORDER_STRIPE_ID_MAX)
        return CH_EINVAL;
    uint64_t id = ch_id_next();
    int64_t now = ch_now_ms(), inserted = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(id),       CH_DB_P_TEXT(pi_id), CH_DB_P_INT(order_id), CH_DB_P_INT(amount),
                         CH_DB_P_TEXT(currency), charge[0] ? CH_DB_P_TEXT(charge) : CH_DB_P_NULL, CH_DB_P_INT(now)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "INSERT INTO market_stray_payments(id, payment_intent_id, order_id, amount, currency,"
                             " charge_id, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'refunding',"
                             " $7, $7) ON CONFLICT (payment_intent_id) DO NOTHING",
                             p, CH_NPARAMS(p), NULL, &inserted);
    if (err || !inserted)
        return err; /* recorded before: its booking and job too */
    char ref[CH_ORDER_STRIPE_ID_MAX + 32];
    snprintf(ref, sizeof(ref), "stray:%s:paid", pi_id);
    ch_ledger_entry_t e[] = {{CH_LEDGER_STRIPE_BALANCE, amount, charge[0] ? charge : NULL},
                             {CH_LEDGER_STRAY_PAYMENTS, -amount, NULL}};
    if ((err = ch_ledger_post(svc, conn, ref, "stray_paid", order_id, currency, e, 2, NULL)) != CH_OK)
        return err;
    ch_log_warn("market: PaymentIntent %s succeeded for order %llu, which holds another: refunding it", pi_id,
                (unsigned long long)order_id);
    return ch_market_job_enqueue(svc, conn, CH_STRAY_KIND, id, CH_STRAY_STEP, now);
}

/* ---- the refund job ------------------------------------------------------------------ */

typedef struct {
    uint64_t order_id;
    int64_t amount;
    char pi[CH_ORDER_STRIPE_ID_MAX], currency[8], refund[CH_ORDER_STRIPE_ID_MAX], state[16];
} ch__stray_t;

static ch_err_t ch__load(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t id, ch__stray_t *s)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    const char *q = "SELECT order_id, amount, payment_intent_id, currency, refund_id, state FROM market_stray_payments"
                    " WHERE id = $1";
    ch_err_t err = conn ? ch_sql_on(svc, conn, q, p, 1, &rows, NULL) : ch_sql_run(svc, q, p, 1, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) != 1)
        err = CH_ENOTFOUND;
    if (err == CH_OK) {
        memset(s, 0, sizeof(*s));
        s->order_id = (uint64_t)ch_db_rows_int(rows, 0, 0);
        s->amount = ch_db_rows_int(rows, 0, 1);
        snprintf(s->pi, sizeof(s->pi), "%s", ch_db_rows_text(rows, 0, 2));
        snprintf(s->currency, sizeof(s->currency), "%s", ch_db_rows_text(rows, 0, 3));
        snprintf(s->refund, sizeof(s->refund), "%s", ch_db_rows_isnull(rows, 0, 4) ? "" : ch_db_rows_text(rows, 0, 4));
        snprintf(s->state, sizeof(s->state), "%s", ch_db_rows_text(rows, 0, 5));
    }
    ch_db_rows_free(rows);
    return err;
}

/* Stores the refund, books it and marks the job done, in one transaction (nothing but the
 * done mark when the row was refunded already). */
static ch_err_t ch__store(ch_svc_t *svc, const ch_market_job_t *job, const char *refund)
{
    ch_db_conn_t *conn;
    ch__stray_t s;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    int64_t changes = 0;
    if ((err = ch__load(svc, conn, job->order_id, &s)) == CH_OK && refund[0]) {
        ch_db_param_t p[] = {CH_DB_P_INT(job->order_id), CH_DB_P_TEXT(refund), CH_DB_P_INT(ch_now_ms())};
        err = ch_sql_on(svc, conn,
                        "UPDATE market_stray_payments SET refund_id = $2, state = 'refunded', updated_at = $3"
                        " WHERE id = $1 AND state = 'refunding'",
                        p, CH_NPARAMS(p), NULL, &changes);
    }
    if (err == CH_OK && changes == 1) {
        char ref[CH_ORDER_STRIPE_ID_MAX + 32];
        snprintf(ref, sizeof(ref), "stray:%s:refund", s.pi);
        ch_ledger_entry_t e[] = {{CH_LEDGER_STRAY_PAYMENTS, s.amount, NULL},
                                 {CH_LEDGER_STRIPE_BALANCE, -s.amount, refund}};
        err = ch_ledger_post(svc, conn, ref, "stray_refund", s.order_id, s.currency, e, 2, NULL);
    }
    if (err == CH_OK || err == CH_ENOTFOUND)
        err = ch_market_job_done(svc, conn, job->id);
    return ch_sql_end(svc, conn, err);
}

ch_err_t ch_market_stray_step(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t wl)
{
    ch__stray_t s;
    ch_err_t err = ch__load(svc, NULL, job->order_id, &s);
    if (err == CH_ENOTFOUND || (err == CH_OK && strcmp(s.state, "refunding") != 0))
        return ch__store(svc, job, "");
    if (err)
        return err;
    char refund[CH_ORDER_STRIPE_ID_MAX] = "", key[CH_ORDER_STRIPE_ID_MAX + 32];
    if (job->attempts > 1 && (err = ch_market_refund_find(svc, s.pi, refund, sizeof(refund), why, wl)) != CH_OK)
        return err;
    if (!refund[0]) {
        char oid[CH_ID_STR_LEN];
        ch_id_format(s.order_id, oid);
        snprintf(key, sizeof(key), "stray:%s:refund", s.pi);
        json_t *params = json_pack("{s:s,s:s,s:{s:s,s:s}}", "payment_intent", s.pi, "reason", "duplicate", "metadata",
                                   "order_id", oid, "stray", "true");
        err = ch_market_refund_post(svc, job, params, key, refund, sizeof(refund), why, wl);
        json_decref(params);
    }
    return err ? err : ch__store(svc, job, refund);
}

ch_err_t ch_market_strays_of_order(ch_svc_t *svc, uint64_t order_id, json_t **out)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(order_id), CH_DB_P_INT(CH_STRAY_LIST_MAX)};
    *out = NULL;
    ch_err_t err = ch_sql_run(svc,
                              "SELECT payment_intent_id, amount, currency, charge_id, refund_id, state, created_at"
                              " FROM market_stray_payments WHERE order_id = $1 ORDER BY id DESC LIMIT $2",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    json_t *items = json_array();
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        json_t *charge = ch_db_rows_isnull(rows, r, 3) ? json_null() : json_string(ch_db_rows_text(rows, r, 3));
        json_t *refund = ch_db_rows_isnull(rows, r, 4) ? json_null() : json_string(ch_db_rows_text(rows, r, 4));
        json_array_append_new(items, json_pack("{s:s,s:I,s:s,s:o,s:o,s:s,s:I}", "payment_intent_id",
                                               ch_db_rows_text(rows, r, 0), "amount",
                                               (json_int_t)ch_db_rows_int(rows, r, 1), "currency",
                                               ch_db_rows_text(rows, r, 2), "charge_id", charge, "refund_id", refund,
                                               "state", ch_db_rows_text(rows, r, 5), "created_at",
                                               (json_int_t)ch_db_rows_int(rows, r, 6)));
    }
    ch_db_rows_free(rows);
    *out = json_pack("{s:o}", "items", items);
    return *out ? CH_OK : CH_EINTERNAL;
}
