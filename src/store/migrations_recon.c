/* Migration 18 "recon": the reconciliation's watermark and lease, and the sellers' refresh
 * (issue 15, svc/market/reconcile.h, seller_refresh.c). Same SQL for SQLite and PostgreSQL.
 *
 * - ledger_recon_runs.complete: 1 when the run read every balance transaction it asked for
 *   (a run cut short by CHORUS_MARKET_RECONCILE_MAX_PAGES, or failed, is 0 and keeps its
 *   error); stripe_since: the `created` (unix seconds) it asked from (NULL: the whole
 *   history). The next run starts at the last complete run's start minus the overlap.
 * - market_leases: one row per singleton task ("reconcile"): the holder's id and until
 *   when it holds it (compare-and-set, so two nodes never run it at once), and when the
 *   periodic run is next due. The periodic reconciliation was a market job before: its row
 *   goes (it runs on its own thread and lease now). */
#include "store/db.h"

extern const char ch_migration_recon[];
const char ch_migration_recon[] =
    "ALTER TABLE ledger_recon_runs ADD COLUMN complete INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE ledger_recon_runs ADD COLUMN stripe_since BIGINT;\n"
    "CREATE TABLE market_leases ("
    " name TEXT PRIMARY KEY,"
    " holder BIGINT NOT NULL DEFAULT 0,"
    " until_ms BIGINT NOT NULL DEFAULT 0,"
    " next_at BIGINT NOT NULL DEFAULT 0"
    ");\n"
    "DELETE FROM market_jobs WHERE kind = 'reconcile';\n";
