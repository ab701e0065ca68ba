/* Calls on the kv store beyond the driver's single-key ones, for callers that would
 * otherwise pay a round trip per key or a read-then-write race: several GETs in one round
 * trip, and a counter that only moves up. Redis: one pipelined round trip through the kv
 * store's pool and breaker (kv_redis.h); in-process: the driver's calls (one lock for
 * ch_kv_set_max). */
#ifndef CH_STORE_KV_MULTI_H
#define CH_STORE_KV_MULTI_H

#include <stddef.h>
#include <stdint.h>

#include "store/kv.h"

/** Reads the n keys at once: vals[i] (room for n, caller frees each with free()) is NULL
 * when keys[i] is missing or expired, else a NUL-terminated copy. On an error every vals[i]
 * is NULL. */
ch_err_t ch_kv_get_many(ch_kv_t *kv, const char *const *keys, size_t n, char **vals);

/** Sets the integer at key to value when it is missing or smaller, atomically (Redis: a Lua
 * script; in-process: a compare under one process-wide lock, every ch_kv_set_max of the
 * process taking it), with a ttl_ms expiry refreshed either way. *now_out (may be NULL)
 * gets the value the key holds afterwards. */
ch_err_t ch_kv_set_max(ch_kv_t *kv, const char *key, int64_t value, int64_t ttl_ms, int64_t *now_out);

#endif
