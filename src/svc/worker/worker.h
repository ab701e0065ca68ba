/* The `worker` role's background threads, started by main.c after the server:
 *   - the consumer thread runs the durable consumers in turn (notifications from the
 *     outbox, notifications from the event log, ranking signals; svc/worker/consumer.h):
 *     a full batch runs the next one at once, an idle round waits CH_WORKER_POLL_MS, a
 *     failed one (database down) backs off from 0.5 s up to 10 s;
 *   - the fanout thread runs the feed's fan-out consumer (svc/feed/fanout.h) in the same
 *     way, in idempotent mode; it backs off alone while the timeline store is down;
 *   - the market thread runs the marketplace's durable jobs (svc/market/jobs.h: the Stripe
 *     steps of orders, auto-confirm, the periodic reconciliation) every CH_WORKER_POLL_MS;
 *   - the shipper thread, only when CHORUS_CLICKHOUSE is set, ships the event log to
 *     ClickHouse (svc/engage/shipper.h), backing off from 1 s up to 10 s while it fails.
 * Stopping lets the current batch finish (a ClickHouse transfer in flight is aborted and
 * retried by the next start), then joins both threads. */
#ifndef CH_SVC_WORKER_WORKER_H
#define CH_SVC_WORKER_WORKER_H

#include "svc/context.h"

#define CH_WORKER_POLL_MS 200
#define CH_SHIPPER_POLL_MS 500

typedef struct ch_workers ch_workers_t;

/** Starts the threads of the worker role when svc->cfg->roles has it; NULL when it does
 * not (or a thread cannot be made: logged). svc is borrowed and must outlive the workers.
 * Caller stops them with ch_workers_stop. */
ch_workers_t *ch_workers_start(ch_svc_t *svc);
/** Asks the threads to stop after their current batch, joins them and frees w. NULL is
 * fine. */
void ch_workers_stop(ch_workers_t *w);

#endif
