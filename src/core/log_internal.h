/* Between core/log.c (formats lines) and core/log_async.c (where they go). */
#ifndef CH_CORE_LOG_INTERNAL_H
#define CH_CORE_LOG_INTERNAL_H

#include <stddef.h>

/** Hands one whole line (newline included; borrowed) to the writer thread when it runs,
 * else writes it to stderr now. urgent (warnings, errors): wakes the writer at once rather
 * than at its next tick. */
void ch__log_emit(const char *line, size_t len, int urgent);
/** Writes one line to stderr now, after whatever a stopping writer still drains. */
void ch__log_direct(const char *line, size_t len);

#endif
