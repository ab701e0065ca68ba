#include "svc/market/ledger.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/common/sql.h"

ch_err_t ch_ledger_check(const ch_ledger_entry_t *e, size_t n)
{
    if (n == 0 || n > CH_LEDGER_MAX_ENTRIES)
        return CH_EINVAL;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!e[i].account || !e[i].account[0] || e[i].amount == 0 || e[i].amount == INT64_MIN)
            return CH_EINVAL;
        if (__builtin_add_overflow(sum, e[i].amount, &sum))
            return CH_EINVAL;
    }
    return sum == 0 ? CH_OK : CH_EINVAL;
}

ch_err_t ch_ledger_post(ch_svc_t *svc, ch_db_conn_t *conn, const char *ref, const char *kind, uint64_t order_id,
                        const char *currency, const ch_ledger_entry_t *e, size_t n, int *posted)
{
    if (posted)
        *posted = 0;
    if (ch_ledger_check(e, n) != CH_OK || !ref || !currency || !currency[0])
        return CH_EINVAL;
    uint64_t txn = ch_id_next();
    int64_t changes = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(txn), CH_DB_P_TEXT(ref), CH_DB_P_TEXT(kind),
                         order_id ? CH_DB_P_INT(order_id) : CH_DB_P_NULL, CH_DB_P_TEXT(currency),
                         CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(svc, conn,
                             "INSERT INTO ledger_transactions(id, ref, kind, order_id, currency, created_at)"
                             " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ref) DO NOTHING",
                             p, CH_NPARAMS(p), NULL, &changes);
    if (err || changes == 0)
        return err; /* posted before */
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        ch_db_param_t q[] = {CH_DB_P_INT(ch_id_next()), CH_DB_P_INT(txn), CH_DB_P_TEXT(e[i].account),
                             CH_DB_P_INT(e[i].amount), CH_DB_P_TEXT(currency), CH_DB_P_TEXT(e[i].stripe_ref)};
        err = ch_sql_on(svc, conn,
                        "INSERT INTO ledger_entries(id, txn_id, account, amount, currency, stripe_ref)"
                        " VALUES ($1, $2, $3, $4, $5, $6)",
                        q, CH_NPARAMS(q), NULL, NULL);
    }
    if (err == CH_OK && posted)
        *posted = 1;
    return err;
}

ch_err_t ch_ledger_balance(ch_svc_t *svc, json_t **out)
{
    ch_db_rows_t *rows = NULL;
    *out = NULL;
    ch_err_t err = ch_sql_run(svc,
                              "SELECT currency, account, SUM(amount) FROM ledger_entries GROUP BY currency, account"
                              " ORDER BY currency, account",
                              NULL, 0, &rows, NULL);
    if (err) {
        ch_db_rows_free(rows);
        return err;
    }
    json_t *cur = json_object();
    int balanced = 1;
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        const char *c = ch_db_rows_text(rows, r, 0);
        json_t *per = json_object_get(cur, c);
        if (!per) {
            per = json_pack("{s:{},s:I}", "accounts", "total", (json_int_t)0);
            json_object_set_new(cur, c, per);
        }
        int64_t amount = ch_db_rows_int(rows, r, 2);
        json_object_set_new(json_object_get(per, "accounts"), ch_db_rows_text(rows, r, 1), json_integer(amount));
        json_object_set_new(per, "total",
                            json_integer(json_integer_value(json_object_get(per, "total")) + amount));
    }
    const char *k;
    json_t *v;
    json_object_foreach(cur, k, v)
    {
        if (json_integer_value(json_object_get(v, "total")) != 0)
            balanced = 0;
    }
    ch_db_rows_free(rows);
    *out = json_pack("{s:o,s:b}", "currencies", cur, "balanced", balanced);
    return CH_OK;
}

ch_err_t ch_ledger_stripe_sums(ch_svc_t *svc, json_t **out)
{
    ch_db_rows_t *rows = NULL;
    *out = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(CH_LEDGER_STRIPE_BALANCE)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT stripe_ref, currency, SUM(amount) FROM ledger_entries WHERE account = $1"
                              " GROUP BY stripe_ref, currency",
                              p, 1, &rows, NULL);
    if (err == CH_OK) {
        *out = json_object();
        for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
            char key[320];
            snprintf(key, sizeof(key), "%s|%s", ch_db_rows_text(rows, r, 0), ch_db_rows_text(rows, r, 1));
            json_object_set_new(*out, key, json_integer(ch_db_rows_int(rows, r, 2)));
        }
    }
    ch_db_rows_free(rows);
    return err;
}
