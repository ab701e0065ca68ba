/* Reconciliation of the ledger with Stripe (issue 15): lists Stripe's balance transactions
 * (GET /v1/balance_transactions, CHORUS_MARKET_RECONCILE_PAGE a page, at most
 * CHORUS_MARKET_RECONCILE_MAX_PAGES pages) created since the start of the last complete run
 * minus CHORUS_MARKET_RECONCILE_OVERLAP (the whole history before the first complete run),
 * sums their net amounts per source object (charge, transfer, refund, reversal, dispute)
 * and currency, and compares each sum with the ledger's entries of the platform's Stripe
 * balance account that mirror that object (ledger_entries.stripe_ref). A sum that differs
 * inside the window, or a ledger entry of the window Stripe's window lacks, is looked up
 * whole (GET /v1/balance_transactions?source=) before it counts: an object whose money
 * moved across the window's edge (a dispute won later) is no difference.
 *
 * Payouts (payout, payout_cancel, payout_failure) and Stripe's own fees (stripe_fee,
 * stripe_fx_fee, tax_fee) have no order: they are booked when first seen (ref
 * "stripe:<txn id>", balance against CH_RECONCILE_BANK or CH_LEDGER_STRIPE_FEES), so they
 * match instead of counting as differences.
 *
 * Every difference is stored in ledger_recon_diffs under the run (ledger_recon_runs). A run
 * cut short (the page cap, a lost lease, a stop) is stored incomplete with its error, is
 * counted (chorus_market_reconcile_runs_total{outcome="incomplete"}) and logged, and does
 * not move the watermark. Runs hold the "reconcile" lease (market_leases, compare-and-set,
 * renewed every page): two nodes never run at once. The periodic run (every
 * CHORUS_MARKET_RECONCILE_INTERVAL seconds) is on the worker's own "reconcile" thread, not
 * the market job thread; POST /v1/admin/ledger/reconcile runs one now (409 while another
 * runs). */
#ifndef CH_SVC_MARKET_RECONCILE_H
#define CH_SVC_MARKET_RECONCILE_H

#include <jansson.h>
#include <stdatomic.h>

#include "core/err.h"
#include "svc/context.h"
#include "svc/market/jobs.h"

/** Differences one run stores at most (the count is kept whole). */
#define CH_RECONCILE_MAX_DIFFS 1000
/** Pages of one source's balance transactions read to confirm a difference. */
#define CH_RECONCILE_SOURCE_PAGES 10
/** The step name periodic runs had as a market job (before migration 18). */
#define CH_RECONCILE_STEP "reconcile"
/** How often the reconcile thread looks whether the periodic run is due (ms). */
#define CH_RECONCILE_TICK_MS 1000
/** How long the reconcile thread waits after a failed attempt (database or Stripe down). */
#define CH_RECONCILE_RETRY_MS 30000
/** The ledger account payouts move the Stripe balance to. */
#define CH_RECONCILE_BANK "asset:bank"
/** The lease's name in market_leases. */
#define CH_RECONCILE_LEASE "reconcile"

/** Runs one reconciliation now; *out (may be NULL; caller owns it) is the run as
 * ch_reconcile_latest renders it (an incomplete run too: complete false, error set).
 * CH_ECONFLICT while another run holds the lease; CH_EUNAVAILABLE when Stripe cannot be
 * read at all (the run is stored with its error). stopping (may be NULL) cuts the run
 * short. */
ch_err_t ch_reconcile_run(ch_svc_t *svc, json_t **out, const atomic_int *stopping, ch_fault_t *f);
/** The latest run: {run: {id, started_at, finished_at, stripe_count, differences, error,
 * complete, since} or null, differences: [{source, currency, stripe_amount, ledger_amount,
 * detail}]}. */
ch_err_t ch_reconcile_latest(ch_svc_t *svc, json_t **out);
/** The periodic run (the worker's reconcile thread): runs when due and the lease is free;
 * returns the ms to wait before the next call. */
int64_t ch_reconcile_tick(ch_svc_t *svc, const atomic_int *stopping);
/** A market job left from before migration 18 (kind "reconcile"): marks it done. */
ch_err_t ch_reconcile_step(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t whylen);

/* ---- the lease (reconcile_lease.c) ---- */

/** Takes the lease for holder until now + lease_ms if it is free (and, when periodic, the
 * periodic run is due); *got says whether it did. Creates the row (next run an interval
 * from now) when missing. */
ch_err_t ch_reconcile_lease_take(ch_svc_t *svc, uint64_t holder, int periodic, int64_t lease_ms, int *got);
/** Extends holder's lease to now + lease_ms; *held 0 when another took it meanwhile. */
ch_err_t ch_reconcile_lease_renew(ch_svc_t *svc, uint64_t holder, int64_t lease_ms, int *held);
/** Releases holder's lease; periodic: the next periodic run is due an interval from now. */
ch_err_t ch_reconcile_lease_release(ch_svc_t *svc, uint64_t holder, int periodic);
/** Counts a finished run by outcome ("complete", "incomplete", "failed") for /metrics. */
void ch_reconcile_count(const char *outcome);

#endif
