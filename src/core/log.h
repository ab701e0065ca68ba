/* Structured logs: one JSON object per line on stderr. Until ch_log_start, and after
 * ch_log_stop, each line is written with a single write(2) as it is logged. In between (the
 * server), a thread only copies its line into its own bounded buffer and one writer thread
 * writes the buffers in batches (core/logq.h): a thread never waits for stderr; when stderr
 * does not keep up, lines are dropped and counted (chorus_log_dropped_total) rather than
 * block. Lines are never torn or interleaved and keep their order per thread. */
#ifndef CH_CORE_LOG_H
#define CH_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

#define CH_LOG_BUFFER_DEFAULT (256u << 10) /* CHORUS_LOG_BUFFER: bytes per logging thread */
#define CH_LOG_STOP_MS 2000                /* how long a stop waits for stderr to take the rest */
#define CH_LOG_FATAL_FLUSH_MS 500          /* likewise before a forced exit (best effort) */

typedef enum { CH_LOG_DEBUG, CH_LOG_INFO, CH_LOG_WARN, CH_LOG_ERROR } ch_log_level_t;

/** Sets the minimum level written (default INFO). */
void ch_log_set_level(ch_log_level_t level);
/** Parses "debug|info|warn|error"; returns -1 for anything else. */
int ch_log_parse_level(const char *s);
/** Whether a message at this level would be written. */
int ch_log_enabled(ch_log_level_t level);
/** Writes {"ts","level","msg"} with a printf-formatted message. */
void ch_log(ch_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Writes one access-log line for a finished HTTP request. Strings are borrowed. */
void ch_log_request(const char *request_id, const char *method, const char *route, int status,
                    double latency_ms, uint64_t user_id);

/** Starts the writer thread: from now on lines are buffered, at most buffer_bytes per
 * logging thread, and written by it in batches. Returns 0 (also when already started), or
 * -1 when the thread cannot start (lines stay direct). Call before the threads that log
 * are busy; signals stay blocked in the writer. */
int ch_log_start(size_t buffer_bytes);
/** Has everything buffered until now written, waiting at most timeout_ms. Returns 0 when it
 * was (or nothing is buffered), -1 on time-out (stderr blocked). Thread-safe; meant too for
 * fatal paths right before _exit/abort. */
int ch_log_flush(int64_t timeout_ms);
/** Stops the writer: lines are written directly again, after what was buffered, which it
 * waits for at most timeout_ms. Returns -1 when the writer did not finish in time (it is
 * left behind, blocked on stderr). */
int ch_log_stop(int64_t timeout_ms);
/** Lines dropped because stderr did not keep up (chorus_log_dropped_total). */
uint64_t ch_log_dropped(void);

#define ch_log_debug(...) ch_log(CH_LOG_DEBUG, __VA_ARGS__)
#define ch_log_info(...) ch_log(CH_LOG_INFO, __VA_ARGS__)
#define ch_log_warn(...) ch_log(CH_LOG_WARN, __VA_ARGS__)
#define ch_log_error(...) ch_log(CH_LOG_ERROR, __VA_ARGS__)

#endif
