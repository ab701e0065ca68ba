/* Ships the engagement event log to ClickHouse (cluster mode, CHORUS_CLICKHOUSE set): rows
 * of engagement_events with shipped_at NULL go in id order, in batches, as one
 * `INSERT ... FORMAT JSONEachRow` each over the HTTP interface, and are marked shipped_at
 * once ClickHouse took them.
 *
 * Never twice: before inserting a batch the shipper asks ClickHouse which of its ids it
 * already has (a batch that went in just before a crash or a failed mark) and sends only
 * the others; shippers of several replicas take turns by a lease (consumer_offsets row
 * 'clickhouse.lease': holder token and expiry, taken and renewed in one short UPDATE, never
 * held as a lock across the ClickHouse call); and the table is
 * a ReplacingMergeTree ordered by id, so even a duplicate that slipped through would merge
 * away. (ClickHouse 18.16 has no insert_deduplication_token, and insert deduplication only
 * for replicated tables.) ClickHouse's table:
 *   engagement_events(id UInt64, ts Int64, event_time DateTime, user_id UInt64, kind String,
 *   target_type String, target_id UInt64, author_id UInt64, value Float64)
 *   ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(event_time) ORDER BY id */
#ifndef CH_SVC_ENGAGE_SHIPPER_H
#define CH_SVC_ENGAGE_SHIPPER_H

#include "svc/context.h"

#define CH_SHIPPER_BATCH 500

typedef struct ch_shipper ch_shipper_t;

/** A shipper for svc's CHORUS_CLICKHOUSE; NULL when none is configured. abort_flag: see
 * ch_clickhouse_set_abort (borrowed). Caller frees with ch_shipper_destroy. */
ch_shipper_t *ch_shipper_create(ch_svc_t *svc, const _Atomic int *abort_flag);
/** Frees a shipper. NULL is fine. */
void ch_shipper_destroy(ch_shipper_t *s);
/** One round: makes the database and table when not done yet, then ships at most one batch.
 * *shipped_out gets the number of rows marked shipped. CH_EUNAVAILABLE when ClickHouse or
 * the database does not answer (nothing is marked; try again later). Blocks. */
ch_err_t ch_shipper_step(ch_shipper_t *s, int *shipped_out);

#endif
