/* The marketplace's double-entry ledger (issue 15). Every movement of money is one
 * transaction of entries (account, signed amount in minor units) whose amounts sum to zero
 * in its currency; the tables are append-only: nothing here updates or deletes a row.
 * Positive amounts are debits (the account holds more: an asset grows or a liability
 * shrinks), negative are credits.
 *
 * Accounts (CH_LEDGER_*): the platform's Stripe balance (an asset, mirrored by Stripe's
 * balance transactions: reconciliation compares them), escrow (owed to the order until it
 * settles), seller payable, platform fee revenue, Stripe fees (expense) and dispute
 * losses (expense). */
#ifndef CH_SVC_MARKET_LEDGER_H
#define CH_SVC_MARKET_LEDGER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

#define CH_LEDGER_STRIPE_BALANCE "platform:stripe_balance"
#define CH_LEDGER_ESCROW "liability:escrow"
#define CH_LEDGER_SELLER_PAYABLE "liability:seller_payable"
#define CH_LEDGER_FEE_REVENUE "revenue:platform_fees"
#define CH_LEDGER_STRIPE_FEES "expense:stripe_fees"
#define CH_LEDGER_DISPUTE_LOSSES "expense:dispute_losses"
/* Funds Stripe withdrew for an open dispute: back on the balance if it is won, a loss (or
 * the buyer's money out of escrow) if it is lost. */
#define CH_LEDGER_DISPUTED_FUNDS "asset:disputed_funds"

/** Most entries of one transaction. */
#define CH_LEDGER_MAX_ENTRIES 16

/** One entry; strings borrowed for the call. stripe_ref: the Stripe object an entry of
 * CH_LEDGER_STRIPE_BALANCE mirrors (NULL otherwise). */
typedef struct {
    const char *account;
    int64_t amount;
    const char *stripe_ref;
} ch_ledger_entry_t;

/** Whether n entries (1..CH_LEDGER_MAX_ENTRIES) are a valid transaction: each has an account,
 * no amount is zero or INT64_MIN, and they sum to zero without overflow. CH_OK or CH_EINVAL. */
ch_err_t ch_ledger_check(const ch_ledger_entry_t *e, size_t n);

/** Posts one balanced transaction in currency (ISO code, lower case) on conn, which is in
 * the caller's transaction. ref names the movement uniquely ("order:<id>:paid"): a post of
 * a ref already posted changes nothing and sets *posted 0 (may be NULL), so an effect
 * applied twice is counted once. kind is a short label; order_id 0 for none. CH_EINVAL for
 * an unbalanced transaction (nothing written). */
ch_err_t ch_ledger_post(ch_svc_t *svc, ch_db_conn_t *conn, const char *ref, const char *kind, uint64_t order_id,
                        const char *currency, const ch_ledger_entry_t *e, size_t n, int *posted);

/** The balance of every account per currency: {"currencies": {"usd": {"accounts":
 * {"name": amount, ...}, "total": 0}}, "balanced": true} (total is the sum over accounts,
 * zero when every transaction balanced). Caller owns *out. */
ch_err_t ch_ledger_balance(ch_svc_t *svc, json_t **out);

/** The sum of CH_LEDGER_STRIPE_BALANCE entries per stripe_ref and currency, as an object
 * {"<stripe_ref>|<currency>": amount}; for reconciliation. Caller owns *out. */
ch_err_t ch_ledger_stripe_sums(ch_svc_t *svc, json_t **out);

#endif
