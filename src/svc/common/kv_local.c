#include "svc/common/kv_local.h"

#include "svc/common/sql.h"

/* The local store when err is an outage of the shared one (counted), NULL otherwise. */
static ch_kv_t *ch__fallback(ch_svc_t *svc, ch_err_t err)
{
    if (!ch_kv_outage(svc->kv, err))
        return NULL;
    ch_backend_err(CH_BACKEND_KV, err);
    return ch_kv_local(svc->kv);
}

ch_err_t ch_kvl_get(ch_svc_t *svc, const char *key, char **val_out, size_t *len_out)
{
    ch_err_t err = ch_kv_get(svc->kv, key, val_out, len_out);
    ch_kv_t *local = ch__fallback(svc, err);
    return ch_backend_err(CH_BACKEND_KV, local ? ch_kv_get(local, key, val_out, len_out) : err);
}

ch_err_t ch_kvl_set(ch_svc_t *svc, const char *key, const char *val, size_t len, int64_t ttl_ms)
{
    ch_err_t err = ch_kv_set(svc->kv, key, val, len, ttl_ms);
    ch_kv_t *local = ch__fallback(svc, err);
    return ch_backend_err(CH_BACKEND_KV, local ? ch_kv_set(local, key, val, len, ttl_ms) : err);
}

ch_err_t ch_kvl_del(ch_svc_t *svc, const char *key)
{
    ch_err_t err = ch_kv_del(svc->kv, key);
    ch_kv_t *local = ch__fallback(svc, err);
    return ch_backend_err(CH_BACKEND_KV, local ? ch_kv_del(local, key) : err);
}

ch_err_t ch_kvl_incr(ch_svc_t *svc, const char *key, int64_t ttl_ms, int64_t *value_out, int64_t *ttl_left_ms_out)
{
    ch_err_t err = ch_kv_incr(svc->kv, key, ttl_ms, value_out, ttl_left_ms_out);
    ch_kv_t *local = ch__fallback(svc, err);
    return ch_backend_err(CH_BACKEND_KV, local ? ch_kv_incr(local, key, ttl_ms, value_out, ttl_left_ms_out) : err);
}
