#include "svc/common/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "svc/common/kv_local.h"
#include "svc/common/sql.h"

ch_err_t ch_ratelimit_hit(ch_svc_t *svc, const char *scope, const char *who, int64_t limit, int64_t window_ms,
                          ch_fault_t *f)
{
    char key[192];
    int64_t count = 0, ttl_left = 0;
    snprintf(key, sizeof(key), "rl:%s:%s", scope, who);
    ch_err_t err = ch_kvl_incr(svc, key, window_ms, &count, &ttl_left);
    if (err)
        return err;
    if (count > limit) {
        f->retry_after_s = ttl_left > 0 ? (ttl_left + 999) / 1000 : 1;
        return ch_fault(f, CH_ERATELIMIT, NULL, "too many requests; retry in %lld s", f->retry_after_s);
    }
    return CH_OK;
}

ch_err_t ch_ratelimit_block(ch_svc_t *svc, const char *key, int64_t ms)
{
    char until[24];
    int len = snprintf(until, sizeof(until), "%lld", (long long)(ch_now_ms() + ms));
    return ch_kvl_set(svc, key, until, (size_t)len, ms > 0 ? ms : 1);
}

ch_err_t ch_ratelimit_blocked(ch_svc_t *svc, const char *key, long long *retry_after_s)
{
    char *until = NULL;
    *retry_after_s = 0;
    ch_err_t err = ch_kvl_get(svc, key, &until, NULL);
    if (err || !until)
        return err;
    long long left_ms = atoll(until) - ch_now_ms();
    free(until);
    if (left_ms > 0)
        *retry_after_s = (left_ms + 999) / 1000;
    return CH_OK;
}
