/* The reconciliation's lease (market_leases row "reconcile") and its run counter; see
 * reconcile.h. */
#include <stdatomic.h>
#include <string.h>

#include "core/clock.h"
#include "core/metrics.h"
#include "svc/common/sql.h"
#include "svc/market/reconcile.h"

ch_err_t ch_reconcile_lease_take(ch_svc_t *svc, uint64_t holder, int periodic, int64_t lease_ms, int *got)
{
    int64_t now = ch_now_ms(), changes = 0;
    *got = 0;
    ch_db_param_t p0[] = {CH_DB_P_TEXT(CH_RECONCILE_LEASE), CH_DB_P_INT(now + svc->cfg->market_reconcile_interval_s * 1000)};
    ch_err_t err = ch_sql_run(svc,
                              "INSERT INTO market_leases(name, holder, until_ms, next_at) VALUES ($1, 0, 0, $2)"
                              " ON CONFLICT (name) DO NOTHING",
                              p0, CH_NPARAMS(p0), NULL, NULL);
    if (err)
        return err;
    /* compare-and-set: of two takers (this node's or another's) one wins */
    ch_db_param_t p[] = {CH_DB_P_TEXT(CH_RECONCILE_LEASE), CH_DB_P_INT(holder), CH_DB_P_INT(now + lease_ms),
                         CH_DB_P_INT(now), CH_DB_P_INT(periodic ? now : INT64_MAX)};
    err = ch_sql_run(svc,
                     "UPDATE market_leases SET holder = $2, until_ms = $3"
                     " WHERE name = $1 AND until_ms <= $4 AND next_at <= $5",
                     p, CH_NPARAMS(p), NULL, &changes);
    *got = err == CH_OK && changes == 1;
    return err;
}

ch_err_t ch_reconcile_lease_renew(ch_svc_t *svc, uint64_t holder, int64_t lease_ms, int *held)
{
    int64_t changes = 0;
    ch_db_param_t p[] = {CH_DB_P_TEXT(CH_RECONCILE_LEASE), CH_DB_P_INT(holder), CH_DB_P_INT(ch_now_ms() + lease_ms)};
    ch_err_t err = ch_sql_run(svc, "UPDATE market_leases SET until_ms = $3 WHERE name = $1 AND holder = $2", p,
                              CH_NPARAMS(p), NULL, &changes);
    *held = err == CH_OK && changes == 1;
    return err;
}

ch_err_t ch_reconcile_lease_release(ch_svc_t *svc, uint64_t holder, int periodic)
{
    ch_db_param_t p[] = {CH_DB_P_TEXT(CH_RECONCILE_LEASE), CH_DB_P_INT(holder),
                         CH_DB_P_INT(ch_now_ms() + svc->cfg->market_reconcile_interval_s * 1000)};
    if (!periodic)
        return ch_sql_run(svc, "UPDATE market_leases SET until_ms = 0 WHERE name = $1 AND holder = $2", p, 2, NULL,
                          NULL);
    return ch_sql_run(svc, "UPDATE market_leases SET until_ms = 0, next_at = $3 WHERE name = $1 AND holder = $2", p,
                      CH_NPARAMS(p), NULL, NULL);
}

/* Runs since start by outcome: an incomplete or failed run is a number on /metrics, not
 * only a row nobody reads. */
static atomic_ullong ch__complete_n, ch__incomplete_n, ch__failed_n;
static atomic_int ch__renderer_added;

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_market_reconcile_runs_total Reconciliations of the ledger with Stripe, by outcome.\n"
                  "# TYPE chorus_market_reconcile_runs_total counter\n"
                  "chorus_market_reconcile_runs_total{outcome=\"complete\"} %llu\n"
                  "chorus_market_reconcile_runs_total{outcome=\"incomplete\"} %llu\n"
                  "chorus_market_reconcile_runs_total{outcome=\"failed\"} %llu\n",
                  (unsigned long long)atomic_load(&ch__complete_n), (unsigned long long)atomic_load(&ch__incomplete_n),
                  (unsigned long long)atomic_load(&ch__failed_n));
}

void ch_reconcile_count(const char *outcome)
{
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
    if (outcome == NULL)
        return;
    atomic_fetch_add(strcmp(outcome, "complete") == 0     ? &ch__complete_n
                     : strcmp(outcome, "incomplete") == 0 ? &ch__incomplete_n
                                                          : &ch__failed_n,
                     1);
}
