/* Reconciliation of the ledger with Stripe (issue 15): lists Stripe's balance transactions
 * (GET /v1/balance_transactions, CH_RECONCILE_PAGE a page, at most CH_RECONCILE_MAX_PAGES
 * pages), sums their net amounts per source object (charge, transfer, refund, reversal,
 * dispute) and currency, and compares each sum with the ledger's entries of the platform's
 * Stripe balance account that mirror that object (ledger_entries.stripe_ref). Every
 * difference (an object one side has and the other lacks, or different sums) is stored
 * in ledger_recon_diffs under the run (ledger_recon_runs). Runs periodically as the
 * market job "reconcile" (every CHORUS_MARKET_RECONCILE_INTERVAL seconds) and on
 * POST /v1/admin/ledger/reconcile. */
#ifndef CH_SVC_MARKET_RECONCILE_H
#define CH_SVC_MARKET_RECONCILE_H

#include <jansson.h>

#include "core/err.h"
#include "svc/context.h"
#include "svc/market/jobs.h"

#define CH_RECONCILE_PAGE 100
#define CH_RECONCILE_MAX_PAGES 1000
/** Differences one run stores at most (the count is kept whole). */
#define CH_RECONCILE_MAX_DIFFS 1000
/** The periodic job's step name (market_jobs: order_id 0). */
#define CH_RECONCILE_STEP "reconcile"

/** Runs one reconciliation now; *out (may be NULL; caller owns it) is the run as
 * ch_reconcile_latest renders it. CH_EUNAVAILABLE when Stripe cannot be read (the run is
 * stored with its error). */
ch_err_t ch_reconcile_run(ch_svc_t *svc, json_t **out, ch_fault_t *f);
/** The latest run: {run: {id, started_at, finished_at, stripe_count, differences, error} or
 * null, differences: [{source, currency, stripe_amount, ledger_amount, detail}]}. */
ch_err_t ch_reconcile_latest(ch_svc_t *svc, json_t **out);
/** The periodic job (jobs.h): runs, then schedules the next run. */
ch_err_t ch_reconcile_step(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t whylen);
/** Makes sure the periodic job exists (called when the worker starts). */
ch_err_t ch_reconcile_schedule(ch_svc_t *svc);

#endif
