/* Per-user generations of what ranked feeds depend on (viewer_gen.h). */
#include "svc/common/viewer_gen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/id.h"
#include "core/log.h"
#include "store/hcache.h"
#include "store/kv.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/kv_local.h"

static void ch__key(uint64_t user, char *key, size_t len)
{
    snprintf(key, len, "viewer:gen:%" PRIu64, user);
}

void ch_viewer_gen_bump(ch_svc_t *svc, uint64_t user)
{
    char key[48], val[24];
    ch__key(user, key, sizeof(key));
    int len = snprintf(val, sizeof(val), "%" PRIu64, ch_id_next());
    if (ch_kvl_set(svc, key, val, (size_t)len, CH_VIEWER_GEN_TTL_MS) != CH_OK)
        ch_log_warn("feed: viewer generation not written (kv store): a ranking may be reused until it is %s",
                    "older than CHORUS_FEED_REUSE_MS");
    /* Its cached copy in the hydration cache ("g:<user>", read by svc/feed/facts.c when the kv
     * is shared), after the write: every node's L1 drops it. */
    if (svc->hcache && svc->kv && ch_kv_local(svc->kv)) {
        ch_hkey_t kb;
        const char *k = ch_hkey_gen(kb, user);
        ch_hcache_forget_many(svc->hcache, &k, 1);
    }
}

static void ch__bump_cb(void *svc, uint64_t user)
{
    ch_viewer_gen_bump(svc, user);
}

void ch_viewer_gen_bump_after_commit(ch_svc_t *svc, uint64_t user)
{
    ch_db_after_commit(svc->db, ch__bump_cb, svc, user);
}

ch_err_t ch_viewer_gen_get(ch_svc_t *svc, uint64_t user, uint64_t *out)
{
    char key[48], *val = NULL;
    *out = 0;
    ch__key(user, key, sizeof(key));
    ch_err_t err = ch_kvl_get(svc, key, &val, NULL);
    if (err == CH_OK && val)
        *out = strtoull(val, NULL, 10);
    free(val);
    return err;
}
