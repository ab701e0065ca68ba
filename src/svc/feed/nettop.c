/* New in-network items since a ranking, from memory and the kv store (nettop.h). */
#include "svc/feed/nettop.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/timeline.h"
#include "svc/common/kv_local.h"
#include "svc/feed/fanout.h"
#include "svc/feed/policy.h"
#include "svc/feed/pullset.h"

#define CH__JOINED_KEY "feed:anew:joined"

static void ch__key(uint64_t author, char *key, size_t len)
{
    snprintf(key, len, "feed:anew:%" PRIu64, author);
}

void ch_feed_anew_note(ch_svc_t *svc, uint64_t author, uint64_t item_id, int joined)
{
    char key[48], val[24];
    int n = snprintf(val, sizeof(val), "%" PRIu64, item_id);
    if (joined)
        snprintf(key, sizeof(key), "%s", CH__JOINED_KEY);
    else
        ch__key(author, key, sizeof(key));
    if (ch_kvl_set(svc, key, val, (size_t)n, CH_FEED_ANEW_TTL_MS) != CH_OK)
        ch_log_warn("feed: newest item of %" PRIu64 " not noted (kv store)", author);
}

/* *newer |= the item noted under key is above net_top. */
static ch_err_t ch__noted_above(ch_svc_t *svc, const char *key, uint64_t net_top, int *newer)
{
    char *val = NULL;
    ch_err_t err = ch_kvl_get(svc, key, &val, NULL);
    if (err == CH_OK && val && strtoull(val, NULL, 10) > net_top)
        *newer = 1;
    free(val);
    return err;
}

ch_err_t ch_feed_net_newer(ch_svc_t *svc, uint64_t viewer, uint64_t net_top, int *newer)
{
    *newer = 0;
    if (!ch_feed_store_fed(svc))
        return CH_EUNAVAILABLE;
    ch_feed_pullset_t ps = {0};
    if (!ch_feed_pullset_cached(svc, viewer, &ps))
        return CH_EUNAVAILABLE;
    ch_err_t err = ps.n > CH_FEED_ANEW_AUTHORS_MAX ? CH_EUNAVAILABLE : CH_OK;
    ch_timeline_entry_t top;
    ch_timeline_meta_t meta = {0};
    size_t got = 0;
    if (err == CH_OK)
        err = ch_timeline_read(svc->timelines, viewer, 0, 1, &top, &got, &meta);
    if (err == CH_OK && !meta.exists)
        err = CH_EUNAVAILABLE; /* rebuilt by ch_feed_in_network */
    if (err == CH_OK) {
        int64_t now = ch_now_ms();
        double bumped = ch_feed_rate_bump(meta.read_rate, meta.last_read_ms, now, CH_FEED_READ_RATE_HALF_LIFE_MS);
        (void)ch_timeline_touch(svc->timelines, viewer, now, bumped); /* as a read: best effort */
        *newer = got && top.item_id > net_top;
    }
    ch_feed_policy_t policy = ch_feed_policy_config(svc->cfg);
    if (err == CH_OK && !*newer && ch_feed_pull_join_followers(&policy) != INT64_MAX)
        err = ch__noted_above(svc, CH__JOINED_KEY, net_top, newer);
    for (size_t i = 0; err == CH_OK && !*newer && i < ps.n; i++) {
        char key[48];
        ch__key(ps.ids[i], key, sizeof(key));
        err = ch__noted_above(svc, key, net_top, newer);
    }
    ch_feed_pullset_clear(&ps);
    if (err)
        *newer = 0;
    return err;
}
