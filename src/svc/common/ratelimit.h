/* Fixed-window rate limits kept in the kv store (shared by every replica with Redis). */
#ifndef CH_SVC_COMMON_RATELIMIT_H
#define CH_SVC_COMMON_RATELIMIT_H

#include <stdint.h>

#include "svc/context.h"

/** Counts one event for `scope:who` in a window of window_ms. CH_ERATELIMIT (with
 * f->retry_after_s) once more than `limit` events fell in the current window. */
ch_err_t ch_ratelimit_hit(ch_svc_t *svc, const char *scope, const char *who, int64_t limit, int64_t window_ms,
                          ch_fault_t *f);

#endif
