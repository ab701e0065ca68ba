/* New in-network items since a ranking, from memory and the kv store (nettop.h). */
#include "svc/feed/nettop.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop_guard.h"
#include "store/timeline.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/kv_local.h"
#include "svc/feed/facts.h"
#include "svc/feed/fanout.h"
#include "svc/feed/touch_queue.h"
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
    ch_hkey_t hk; /* its cached copy (svc/feed/facts.h), after the write */
    ch_feed_fact_forget(svc, ch_hkey_feed_note(hk, joined ? 0 : author));
}

/* *newer |= an item noted for the joined authors (when joined) or for authors[0..n) is above
 * net_top: the notes read in one batch (their cached copies, svc/feed/facts.h). */
static ch_err_t ch__noted_above(ch_svc_t *svc, int joined, const uint64_t *authors, size_t n, uint64_t net_top,
                                int *newer)
{
    size_t m = n + (joined ? 1 : 0);
    if (!m)
        return CH_OK;
    ch_hkey_t *hk = ch_malloc(m * sizeof(*hk));
    char (*kk)[48] = ch_malloc(m * sizeof(*kk));
    const char **hkeys = ch_malloc(m * sizeof(*hkeys)), **kvkeys = ch_malloc(m * sizeof(*kvkeys));
    char **vals = ch_calloc(m, sizeof(*vals));
    for (size_t i = 0; i < m; i++) {
        int j = joined && i == n; /* the joined note last */
        if (j)
            snprintf(kk[i], sizeof(kk[i]), "%s", CH__JOINED_KEY);
        else
            ch__key(authors[i], kk[i], sizeof(kk[i]));
        hkeys[i] = ch_hkey_feed_note(hk[i], j ? 0 : authors[i]);
        kvkeys[i] = kk[i];
    }
    ch_err_t err = ch_feed_facts_kv_get(svc, hkeys, kvkeys, m, vals);
    for (size_t i = 0; i < m; i++) {
        if (err == CH_OK && vals[i] && strtoull(vals[i], NULL, 10) > net_top)
            *newer = 1;
        free(vals[i]);
    }
    free(vals);
    free(hkeys);
    free(kvkeys);
    free(kk);
    free(hk);
    return err;
}

/* The newest entry of viewer's timeline into *top (*got 0: none), and its read-rate touch:
 * from the cached head when the facts are on (the touch queued), else from the store. Under
 * the loop guard a head that does not answer is refused (noted): the store is a network call. */
static ch_err_t ch__timeline_top(ch_svc_t *svc, uint64_t viewer, ch_timeline_entry_t *top, size_t *got)
{
    int64_t now = ch_now_ms();
    if (ch_feed_facts_on(svc)) {
        int answered = 0;
        ch_feed_tl_head_read(svc, viewer, 0, 1, top, got, &answered);
        if (answered) {
            (void)ch_feed_touch_later(svc, viewer, now); /* as a read: best effort */
            return CH_OK;
        }
        if (ch_loop_guard_refuse())
            return CH_EUNAVAILABLE;
    }
    ch_timeline_meta_t meta = {0};
    ch_err_t err = ch_timeline_read(svc->timelines, viewer, 0, 1, top, got, &meta);
    if (err == CH_OK && !meta.exists)
        err = CH_EUNAVAILABLE; /* rebuilt by ch_feed_in_network */
    if (err == CH_OK && ch_feed_timelines_in_process(svc)) {
        (void)ch_feed_touch_later(svc, viewer, now); /* as a read, off the request: best effort */
    } else if (err == CH_OK) {
        double bumped = ch_feed_rate_bump(meta.read_rate, meta.last_read_ms, now, CH_FEED_READ_RATE_HALF_LIFE_MS);
        (void)ch_timeline_touch(svc->timelines, viewer, now, bumped); /* as a read: best effort */
    }
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
    size_t got = 0;
    if (err == CH_OK && (err = ch__timeline_top(svc, viewer, &top, &got)) == CH_OK)
        *newer = got && top.item_id > net_top;
    ch_feed_policy_t policy = ch_feed_policy_config(svc->cfg);
    if (err == CH_OK && !*newer)
        err = ch__noted_above(svc, ch_feed_pull_join_followers(&policy) != INT64_MAX, ps.ids, ps.n, net_top, newer);
    ch_feed_pullset_clear(&ps);
    if (err)
        *newer = 0;
    return err;
}
