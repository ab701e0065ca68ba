/* kv calls that fall back to this replica's in-process store (ch_kv_local) while the shared
 * store (Redis) is unavailable, for the uses whose state may be per replica for the length of
 * an outage: rate-limit windows and blocks, login throttling, comment snapshots. What that
 * costs each use is in docs/design.md ("Storage", "Redis outage"). With the in-process store
 * they are the plain calls. Errors are counted (ch_backend_err), the shared store's too. */
#ifndef CH_SVC_COMMON_KV_LOCAL_H
#define CH_SVC_COMMON_KV_LOCAL_H

#include <stdint.h>

#include "svc/context.h"

/** ch_kv_get on the shared store, else on the local one. *val_out as ch_kv_get (caller frees). */
ch_err_t ch_kvl_get(ch_svc_t *svc, const char *key, char **val_out, size_t *len_out);
/** ch_kv_set on the shared store, else on the local one. */
ch_err_t ch_kvl_set(ch_svc_t *svc, const char *key, const char *val, size_t len, int64_t ttl_ms);
/** ch_kv_del on the shared store, else on the local one. */
ch_err_t ch_kvl_del(ch_svc_t *svc, const char *key);
/** ch_kv_incr on the shared store, else on the local one (the window is then this replica's). */
ch_err_t ch_kvl_incr(ch_svc_t *svc, const char *key, int64_t ttl_ms, int64_t *value_out, int64_t *ttl_left_ms_out);

#endif
