/* Prometheus metrics: request latency histograms by route, method and status, in-flight
 * requests, open connections, backend errors, queue depth, build info. Lock-free atomics on
 * the hot path; rendering walks the fixed tables. */
#ifndef CH_CORE_METRICS_H
#define CH_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define CH_METRICS_MAX_ROUTES 128
#define CH_METRICS_MAX_CONSUMERS 16
#define CH_METRICS_MAX_RENDERERS 32
#define CH_METRICS_MAX_TABLES 8

typedef enum { CH_BACKEND_DB, CH_BACKEND_KV, CH__BACKEND_COUNT } ch_backend_t;

/** Registers a route label pair; returns its index for ch_metrics_observe (the strings are
 * borrowed and must outlive the process). Call before serving; not thread-safe. */
size_t ch_metrics_register_route(const char *method, const char *route);
/** Records one finished request. Thread-safe. */
void ch_metrics_observe(size_t route_index, int status, uint64_t duration_ns);
/** Adjusts the in-flight request gauge. */
void ch_metrics_inflight_add(long delta);
/** Current in-flight requests (used for graceful drain). */
long ch_metrics_inflight(void);
/** Adjusts the open-connection gauge. */
void ch_metrics_connections_add(long delta);
/** Adjusts the blocking-work queue gauge (queued, not yet started). */
void ch_metrics_queue_add(long delta);
/** Counts a failed backend call (unavailable or internal). */
void ch_metrics_backend_error(ch_backend_t backend);
/** Counts one group commit of the reaction writer that carried `writes` writes. */
void ch_metrics_group_commit(size_t writes);
/** Adjusts the gauge of reaction writes queued for the group-commit writer and not yet
 * taken into a batch. Thread-safe. */
void ch_metrics_reaction_queue_add(long delta);
/** Records what durable consumer `name` (or the ClickHouse shipper) has not applied yet:
 * created_ms is the creation time (unix ms, the time in the row's id) of the oldest row it
 * has not applied, 0 when it has applied everything. /metrics shows the lag as now minus
 * that time (chorus_consumer_lag_seconds), computed when it renders: a consumer that cannot
 * read its source keeps its last known oldest row, and its lag keeps growing until the next
 * successful read replaces it. name must be a string literal (kept); at most
 * CH_METRICS_MAX_CONSUMERS names. Thread-safe. */
void ch_metrics_consumer_oldest(const char *name, int64_t created_ms);
/** Adds a function that appends more exposition text at the end of every rendering (a
 * module's own gauges and counters); arg is borrowed for the life of the process. At most
 * CH_METRICS_MAX_RENDERERS (thread-safe: modules add theirs at their first count). Returns -1,
 * and logs an error, when the table is full. */
int ch_metrics_add_renderer(void (*fn)(ch_buf_t *out, void *arg), void *arg);
/** Counts rows deleted by a retention sweep from table (chorus_retention_purged_rows_total);
 * rows 0 makes the series exist. table must be a string literal (kept); at most
 * CH_METRICS_MAX_TABLES names. Thread-safe. */
void ch_metrics_purged(const char *table, uint64_t rows);
/** Appends the exposition text (format 0.0.4) to out. */
void ch_metrics_render(ch_buf_t *out);

#endif
