/* Retention of the append-only logs: `outbox` and `engagement_events` grow with every
 * write, and the durable consumers (svc/worker/consumer.h) are done with a row once their
 * watermark passed it. The worker role's retention thread deletes, in bounded transactions
 * of CH_RETENTION_BATCH rows, the rows that
 *   - every consumer of the table has passed (id <= each consumer's watermark in
 *     consumer_offsets; a consumer without a row there has passed nothing), and
 *   - are older than the table's age (CHORUS_RETENTION_OUTBOX / CHORUS_RETENTION_EVENTS;
 *     0 keeps the table whole), read from the time in the time-sortable id, and
 *   - for engagement_events while ClickHouse shipping is on (CHORUS_CLICKHOUSE), have been
 *     shipped (shipped_at set).
 * consumer_seen needs no sweep: a consumer deletes its seen rows as its watermark passes
 * them (consumer.c), so it holds only rows of the last window.
 * Replicas may sweep at once: the deletes meet on row locks and delete each row once. */
#ifndef CH_SVC_WORKER_RETENTION_H
#define CH_SVC_WORKER_RETENTION_H

#include <stdatomic.h>
#include <stdint.h>

#include "svc/context.h"

/** Rows per delete statement (one transaction each: short write locks). */
#define CH_RETENTION_BATCH 1000
/** Batches per table per sweep; a sweep that reaches it asks to run again at once, so a
 * long backlog goes in steps that let stopping in between. */
#define CH_RETENTION_MAX_BATCHES 100

/** stripe_events (the webhook's deduplication, svc/market/webhook.c) rows are kept this long
 * after they arrived: far past Stripe's 3-day retry window, so a late redelivery is still
 * found a duplicate. Deleted by received_at (its index), no consumer involved. */
#define CH_RETENTION_STRIPE_EVENTS_MS (30LL * 24 * 3600 * 1000)

/** What one sweep deleted. */
typedef struct {
    uint64_t outbox;
    uint64_t events;
    uint64_t stripe_events;
    int more; /* a table hit CH_RETENTION_MAX_BATCHES: sweep again soon */
} ch_retention_stats_t;

/** The highest id of table that may be deleted now by the rules above (0: none), read from
 * consumer_offsets; table is "outbox" or "engagement_events". Blocks (SQL). */
ch_err_t ch_retention_bound(ch_svc_t *svc, const char *table, uint64_t *bound_out);
/** Runs one sweep over both tables (and stripe_events, CH_RETENTION_STRIPE_EVENTS_MS) with svc->cfg's ages; stops between batches when
 * *stopping (may be NULL) becomes true. Counts the purged rows in metrics
 * (chorus_retention_purged_rows_total) and in *out (may be NULL). Blocks (SQL). */
ch_err_t ch_retention_sweep(ch_svc_t *svc, const atomic_int *stopping, ch_retention_stats_t *out);

#endif
