/* Fixed-window rate limits and timed blocks kept in the kv store (shared by every replica
 * with Redis; while Redis is unavailable, in each replica's own memory: svc/common/kv_local.h). */
#ifndef CH_SVC_COMMON_RATELIMIT_H
#define CH_SVC_COMMON_RATELIMIT_H

#include <stdint.h>

#include "svc/context.h"

/** Counts one event for `scope:who` in a window of window_ms. CH_ERATELIMIT (with
 * f->retry_after_s) once more than `limit` events fell in the current window. */
ch_err_t ch_ratelimit_hit(ch_svc_t *svc, const char *scope, const char *who, int64_t limit, int64_t window_ms,
                          ch_fault_t *f);

/** Blocks `key` for ms milliseconds from now (a kv entry holding the end time, expiring
 * with it). A later call replaces the end time. */
ch_err_t ch_ratelimit_block(ch_svc_t *svc, const char *key, int64_t ms);
/** Whether `key` is blocked now: *retry_after_s is the seconds left (rounded up), 0 when
 * it is not blocked. */
ch_err_t ch_ratelimit_blocked(ch_svc_t *svc, const char *key, long long *retry_after_s);

#endif
