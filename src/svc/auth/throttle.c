#include "svc/auth/throttle.h"

#include <stdio.h>
#include <stdlib.h>

#include "svc/common/ratelimit.h"
#include "svc/common/kv_local.h"
#include "svc/common/sql.h"

#define CH__KEY_LEN 192

/* kv keys: "login:<what>:<handle>|<ip>", "...:<ip>", "...:<handle>". Handles never hold '|'. */
static void ch__key(char *buf, const char *what, const char *a, const char *b)
{
    snprintf(buf, CH__KEY_LEN, "login:%s:%s%s%s", what, a, b ? "|" : "", b ? b : "");
}

static ch_err_t ch__refuse(ch_fault_t *f, long long retry_after_s, const char *why)
{
    f->retry_after_s = retry_after_s > 0 ? retry_after_s : 1;
    return ch_fault(f, CH_ERATELIMIT, NULL, "%s; retry in %lld s", why, f->retry_after_s);
}

ch_err_t ch_login_throttle_check(ch_svc_t *svc, const char *handle, const char *ip, ch_fault_t *f)
{
    char key[CH__KEY_LEN];
    long long wait = 0;
    ch_err_t err;
    ch__key(key, "wait", handle, ip);
    if ((err = ch_ratelimit_blocked(svc, key, &wait)) != CH_OK)
        return err;
    if (wait)
        return ch__refuse(f, wait, "too many failed logins for this account from this address");
    ch__key(key, "ipblock", ip, NULL);
    if ((err = ch_ratelimit_blocked(svc, key, &wait)) != CH_OK)
        return err;
    if (wait)
        return ch__refuse(f, wait, "too many failed logins from this address");

    ch__key(key, "hot", handle, NULL);
    if ((err = ch_ratelimit_blocked(svc, key, &wait)) != CH_OK || !wait)
        return err;
    /* The handle is under attack from many addresses: those that failed on it wait for the
     * window's end; the others are only slowed. */
    char *failures = NULL;
    ch__key(key, "fail", handle, ip);
    if ((err = ch_kvl_get(svc, key, &failures, NULL)) != CH_OK)
        return err;
    int failed_here = failures && atoll(failures) > 0;
    free(failures);
    if (failed_here)
        return ch__refuse(f, wait, "too many failed logins for this account");
    int64_t n = 0;
    ch__key(key, "slow", handle, NULL);
    if ((err = ch_kvl_incr(svc, key, 1000, &n, NULL)) != CH_OK)
        return err;
    return n > CH_LOGIN_HOT_PER_S ? ch__refuse(f, 1, "too many logins for this account") : CH_OK;
}

/* Counts one failure in a window; *count gets the new count, *ttl_left the window's rest. */
static ch_err_t ch__count(ch_svc_t *svc, const char *key, int64_t *count, int64_t *ttl_left)
{
    return ch_kvl_incr(svc, key, svc->cfg->login_window_s * 1000, count, ttl_left);
}

ch_err_t ch_login_throttle_failed(ch_svc_t *svc, const char *handle, const char *ip)
{
    const ch_config_t *cfg = svc->cfg;
    char key[CH__KEY_LEN];
    int64_t n = 0, ttl_left = 0, window_ms = cfg->login_window_s * 1000;
    ch_err_t err;

    ch__key(key, "fail", handle, ip);
    if ((err = ch__count(svc, key, &n, &ttl_left)) != CH_OK)
        return err;
    if (n >= cfg->login_max_failures) {
        int64_t over = n - cfg->login_max_failures, wait = CH_LOGIN_BACKOFF_BASE_MS;
        while (over-- > 0 && wait < window_ms)
            wait *= 2;
        ch__key(key, "wait", handle, ip);
        if ((err = ch_ratelimit_block(svc, key, wait < window_ms ? wait : window_ms)) != CH_OK)
            return err;
    }

    ch__key(key, "ipfail", ip, NULL);
    if ((err = ch__count(svc, key, &n, &ttl_left)) != CH_OK)
        return err;
    if (n >= cfg->login_ip_max_failures) {
        ch__key(key, "ipblock", ip, NULL);
        if ((err = ch_ratelimit_block(svc, key, ttl_left)) != CH_OK)
            return err;
    }

    ch__key(key, "hfail", handle, NULL);
    if ((err = ch__count(svc, key, &n, &ttl_left)) != CH_OK)
        return err;
    if (n >= cfg->login_handle_max_failures) {
        ch__key(key, "hot", handle, NULL);
        err = ch_ratelimit_block(svc, key, ttl_left);
    }
    return err;
}

ch_err_t ch_login_throttle_succeeded(ch_svc_t *svc, const char *handle, const char *ip)
{
    char key[CH__KEY_LEN];
    ch__key(key, "fail", handle, ip);
    ch_err_t err = ch_kvl_del(svc, key);
    if (err)
        return err;
    ch__key(key, "wait", handle, ip);
    return ch_kvl_del(svc, key);
}
