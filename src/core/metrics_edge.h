/* Metrics of the HTTP edge, rendered with the others by ch_metrics_render: event-loop lag
 * (a histogram and a recent maximum per loop thread), calls moved off a loop, and refused
 * connections. */
#ifndef CH_CORE_METRICS_EDGE_H
#define CH_CORE_METRICS_EDGE_H

#include <stdint.h>

#include "core/buf.h"

#define CH_METRICS_MAX_LOOPS 256     /* = the CHORUS_THREADS maximum */
#define CH_LOOP_LAG_MAX_WINDOW_MS 60000 /* the max gauge covers the last one to two windows */

typedef enum { CH_REFUSED_PER_ADDR, CH_REFUSED_GLOBAL, CH__REFUSED_COUNT } ch_refused_reason_t;

/** Records one lag sample of loop `loop` (0-based; larger indexes fold into the last).
 * Thread-safe; now_ms is a monotonic clock reading for the max window. */
void ch_metrics_loop_lag(unsigned loop, uint64_t lag_ns, int64_t now_ms);
/** Marks loop `loop` as running, so its series are rendered even before a sample. */
void ch_metrics_loop_register(unsigned loop);
/** Counts a connection refused at accept. Thread-safe. */
void ch_metrics_conn_refused(ch_refused_reason_t reason);
/** Counts a call whose inline run on an event loop met a database lock and was moved to a
 * worker thread (chorus_loop_reads_moved_total). Thread-safe. */
void ch_metrics_loop_read_moved(void);
/** Counts a call run inline on an event loop whose handler asked to be run again on a worker
 * thread (statements to run; chorus_loop_reads_handed_total). Thread-safe. */
void ch_metrics_loop_read_handed(void);
/** Counts a call run inline on an event loop and answered there, not moved
 * (chorus_loop_reads_total). Thread-safe. */
void ch_metrics_loop_read_served(void);
/** Appends the edge metrics (exposition format 0.0.4) to out. */
void ch_metrics_edge_render(ch_buf_t *out, int64_t now_ms);

#endif
