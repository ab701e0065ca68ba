/* Structured logs: one JSON object per line on stderr, written with a single write(2) so
 * lines from different threads never interleave. */
#ifndef CH_CORE_LOG_H
#define CH_CORE_LOG_H

#include <stdint.h>

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

#define ch_log_debug(...) ch_log(CH_LOG_DEBUG, __VA_ARGS__)
#define ch_log_info(...) ch_log(CH_LOG_INFO, __VA_ARGS__)
#define ch_log_warn(...) ch_log(CH_LOG_WARN, __VA_ARGS__)
#define ch_log_error(...) ch_log(CH_LOG_ERROR, __VA_ARGS__)

#endif
