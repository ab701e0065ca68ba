/* Sessions vouched for in the hydration cache (svc/auth/session_vouch.h). */
#include "svc/auth/session_vouch.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/loop_guard.h"
#include "store/hcache.h"
#include "store/kv.h"

#define CH__MINUTE_MS 60000

/* Writes "S:<session>:<minute>" into buf (at least 2 + 20 + 1 + 20 + 1 bytes). */
static void ch__key(char *buf, uint64_t session_id, int64_t minute)
{
    buf[0] = 'S';
    buf[1] = ':';
    char *p = ch_u64_put(buf + 2, session_id);
    *p++ = ':';
    *ch_u64_put(p, (uint64_t)minute) = '\0';
}

int ch_session_vouch_get(ch_svc_t *svc, uint64_t session_id, ch_session_vouch_t *v)
{
    v->lease = 0;
    v->key[0] = '\0';
    if (!svc->hcache || !ch_hcache_l1_live(svc->hcache))
        return 0;
    int64_t now = ch_now_ms();
    ch__key(v->key, session_id, now / CH__MINUTE_MS);
    const char *keys[1] = {v->key};
    ch_hcache_got_t got;
    if (ch_hcache_get_many(svc->hcache, keys, 1, &got) != CH_OK)
        return 0;
    if (!got.val) {
        v->lease = got.lease;
        return 0;
    }
    int64_t at = 0;
    if (got.len == sizeof(at))
        memcpy(&at, got.val, sizeof(at));
    free(got.val);
    int vouched = at > ch_kv_recovered_at(svc->kv) && now - at >= 0 && now - at < CH_SESSION_VOUCH_MS;
    if (!vouched && !ch_loop_guard_on()) {
        /* A fact of this minute that stopped vouching (made from an ok mark written up to a
         * minute before it, or before the kv store's last recovery): replaced by this check,
         * else every read of the session would move to a worker until the minute ends. The
         * forget cancels older leases only; a revocation's later forget still voids ours. */
        ch_hcache_forget_many(svc->hcache, keys, 1);
        if (ch_hcache_get_many(svc->hcache, keys, 1, &got) == CH_OK) {
            if (!got.val)
                v->lease = got.lease;
            free(got.val);
        }
    }
    return vouched;
}

void ch_session_vouch_put(ch_svc_t *svc, const ch_session_vouch_t *v, int64_t at_ms)
{
    if (!v->lease || at_ms <= 0)
        return;
    const char *keys[1] = {v->key}, *vals[1] = {(const char *)&at_ms};
    size_t lens[1] = {sizeof(at_ms)};
    uint64_t leases[1] = {v->lease};
    ch_hcache_put_many(svc->hcache, keys, vals, lens, leases, 1);
}

void ch_session_vouch_forget(ch_svc_t *svc, uint64_t session_id)
{
    if (!svc->hcache)
        return;
    /* the minute now and its neighbours: a replica whose clock is a little off reads those */
    int64_t minute = ch_now_ms() / CH__MINUTE_MS;
    char k[3][44];
    const char *keys[3];
    for (int i = 0; i < 3; i++) {
        ch__key(k[i], session_id, minute - 1 + i);
        keys[i] = k[i];
    }
    ch_hcache_forget_many(svc->hcache, keys, 3);
}
