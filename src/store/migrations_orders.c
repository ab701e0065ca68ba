/* Migration 16 "orders": the marketplace's orders, its double-entry ledger and its durable
 * job queue (issue 15, svc/market/orders.h, ledger.h, jobs.h). Same SQL for SQLite and
 * PostgreSQL (see migrations.c).
 *
 * - orders: one purchase of a listing. Money is int64 minor units + currency. state moves
 *   by compare-and-set only (UPDATE ... WHERE state = <the state read>). prev_state is the
 *   state a dispute interrupted. idem_key is the buyer's Idempotency-Key of the creating
 *   POST: a retry finds the order it made (orders_buyer_key). The Stripe object ids are
 *   stored as each step completes. orders_open_listing: at most one order holds a listing
 *   (paid up to completed, or disputed); a second order paid for the same
 *   listing meets it and is refunded. orders_pending_buyer: one unpaid order per buyer and
 *   listing.
 * - ledger_transactions / ledger_entries: append-only (the code never updates or deletes
 *   them). Each transaction's entries sum to zero (checked before insert, ledger.c);
 *   ref is unique, so an effect applied twice (a webhook delivered twice) posts once.
 *   stripe_ref names the Stripe object an entry of the Stripe balance account mirrors
 *   (charge, transfer, refund, reversal, dispute), which reconciliation compares.
 * - market_jobs: durable steps (Stripe calls) of an order, one row per (order, step); a
 *   job is claimed by moving its run_at forward by a lease (compare-and-set on run_at), so
 *   a crashed worker's job runs again when the lease ends; a failure backs off. state
 *   'pending' (runs at run_at), 'held' (a transfer held by a dispute), 'done'.
 * - ledger_recon_runs / ledger_recon_diffs: each reconciliation run and the differences it
 *   found between Stripe's balance transactions and the ledger. */
#include "store/db.h"

extern const char ch_migration_orders[];
const char ch_migration_orders[] =
    "CREATE TABLE orders ("
    " id BIGINT PRIMARY KEY,"
    " buyer_id BIGINT NOT NULL REFERENCES users(id),"
    " seller_id BIGINT NOT NULL REFERENCES users(id),"
    " listing_id BIGINT NOT NULL,"
    " idem_key TEXT,"
    " amount BIGINT NOT NULL CHECK (amount > 0),"
    " fee BIGINT NOT NULL CHECK (fee >= 0 AND fee <= amount),"
    " currency TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " prev_state TEXT,"
    " seller_account TEXT NOT NULL,"
    " payment_intent_id TEXT,"
    " client_secret TEXT,"
    " charge_id TEXT,"
    " stripe_fee BIGINT,"
    " transfer_id TEXT,"
    " reversal_id TEXT,"
    " refund_id TEXT,"
    " dispute_id TEXT,"
    " shipped_at BIGINT,"
    " auto_confirm_at BIGINT,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL"
    ");\n"
    "CREATE UNIQUE INDEX orders_buyer_key ON orders(buyer_id, idem_key) WHERE idem_key IS NOT NULL;\n"
    "CREATE UNIQUE INDEX orders_open_listing ON orders(listing_id)"
    " WHERE state IN ('paid', 'shipped', 'transferring', 'completed', 'disputed');\n"
    "CREATE UNIQUE INDEX orders_pending_buyer ON orders(listing_id, buyer_id) WHERE state = 'pending_payment';\n"
    "CREATE INDEX orders_buyer ON orders(buyer_id, id);\n"
    "CREATE INDEX orders_seller ON orders(seller_id, id);\n"
    "CREATE UNIQUE INDEX orders_payment_intent ON orders(payment_intent_id);\n"
    "CREATE TABLE ledger_transactions ("
    " id BIGINT PRIMARY KEY,"
    " ref TEXT NOT NULL UNIQUE,"
    " kind TEXT NOT NULL,"
    " order_id BIGINT,"
    " currency TEXT NOT NULL,"
    " created_at BIGINT NOT NULL"
    ");\n"
    "CREATE INDEX ledger_transactions_order ON ledger_transactions(order_id);\n"
    "CREATE TABLE ledger_entries ("
    " id BIGINT PRIMARY KEY,"
    " txn_id BIGINT NOT NULL REFERENCES ledger_transactions(id),"
    " account TEXT NOT NULL,"
    " amount BIGINT NOT NULL,"
    " currency TEXT NOT NULL,"
    " stripe_ref TEXT"
    ");\n"
    "CREATE INDEX ledger_entries_txn ON ledger_entries(txn_id);\n"
    "CREATE INDEX ledger_entries_account ON ledger_entries(account, currency);\n"
    "CREATE INDEX ledger_entries_stripe ON ledger_entries(stripe_ref);\n"
    "CREATE TABLE market_jobs ("
    " id BIGINT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " order_id BIGINT NOT NULL,"
    " step TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " run_at BIGINT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " UNIQUE (order_id, step)"
    ");\n"
    "CREATE INDEX market_jobs_due ON market_jobs(state, run_at);\n"
    "CREATE TABLE ledger_recon_runs ("
    " id BIGINT PRIMARY KEY,"
    " started_at BIGINT NOT NULL,"
    " finished_at BIGINT,"
    " stripe_count BIGINT NOT NULL DEFAULT 0,"
    " differences BIGINT NOT NULL DEFAULT 0,"
    " error TEXT"
    ");\n"
    "CREATE TABLE ledger_recon_diffs ("
    " id BIGINT PRIMARY KEY,"
    " run_id BIGINT NOT NULL REFERENCES ledger_recon_runs(id),"
    " source TEXT NOT NULL,"
    " currency TEXT NOT NULL,"
    " stripe_amount BIGINT NOT NULL,"
    " ledger_amount BIGINT NOT NULL,"
    " detail TEXT NOT NULL"
    ");\n"
    "CREATE INDEX ledger_recon_diffs_run ON ledger_recon_diffs(run_id);\n";
