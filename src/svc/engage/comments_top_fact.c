/* An item's shared "top" ranking as a hydration-cache fact, "K:<type>:<id>" (docs/design.md,
 * "### l1 on the loop"): the generation the kv store names for the item (comments_top.c), its
 * time T and its ranked ids, so that a warm first page and the cursor pages of that generation
 * are read without the kv store, and in cluster mode on the event loop from the L1.
 *
 * - Put under the get's lease by the worker that ranked or read the kv snapshot; a ranking the
 *   kv store does not keep (the walk fit one page: generation 0) is put too, and serves the
 *   first pages it fits.
 * - Forgotten, with the item's cached threads, after the commit of every comment or reply
 *   written or deleted on the item (ch_hydrate_forget_thread), which runs after the write
 *   dropped the kv name: a reader's lease comes before its kv read, so a fact read before the
 *   drop is never put after the forget.
 * - Shared no longer than the kv name: it serves until T + CH_COMMENTS_TOP_SHARE_MS (the name
 *   was set after T, for that long), whatever the cache TTLs (Redis's is longer); past it a
 *   worker replaces it (ch__top_fact_renew). So a reaction alone shows in the order within the
 *   share window, as it does from the kv store.
 * - A generation's ids never change: a cursor page of the fact's generation read from it is the
 *   page its slot would give.
 *
 * Value: 'K', version 1, flags (bit 0: capped), generation and T (8 bytes each, little-endian),
 * then up to CH_COMMENTS_TOP_RANKED_MAX ids of 8 bytes; a value that does not decode is a miss. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/u64_bytes.h"
#include "core/clock.h"
#include "svc/common/hydrate_keys.h"
#include "svc/engage/comments_row.h"

#define CH__HEAD 19 /* tag, version, flags, generation, T */
#define CH__SKEW_MS 2000 /* how far ahead of this node's clock another node's T may be */
_Static_assert(CH__HEAD + 8 * CH_COMMENTS_TOP_RANKED_MAX <= CH_HCACHE_VALUE_MAX, "a ranking fits one cache value");

/* Decodes v[0..len) into s (s->ids malloc'd): 1 when it is a ranking exactly. */
static int ch__decode(const char *v, size_t len, const ch_target_t *item, ch__top_snapshot_t *s)
{
    const unsigned char *u = (const unsigned char *)v;
    if (len < CH__HEAD || v[0] != 'K' || v[1] != 1 || (u[2] & ~1u) || (len - CH__HEAD) % 8 ||
        (len - CH__HEAD) / 8 > CH_COMMENTS_TOP_RANKED_MAX)
        return 0;
    size_t n = (len - CH__HEAD) / 8;
    uint64_t at = ch_le64_get(u + 11);
    if (at == 0 || at > INT64_MAX)
        return 0;
    uint64_t *ids = ch_malloc(sizeof(uint64_t) * (n + 1));
    for (size_t i = 0; i < n; i++) {
        ids[i] = ch_le64_get(u + CH__HEAD + 8 * i);
        if (ids[i] == 0 || ids[i] > INT64_MAX) {
            free(ids);
            return 0;
        }
    }
    *s = (ch__top_snapshot_t){item->type, item->id, ch_le64_get(u + 3), (int64_t)at, u[2] & 1, ids, n};
    return 1;
}

int ch__top_fact_get(ch_svc_t *svc, const ch_target_t *item, ch__top_snapshot_t *s, uint64_t *lease, int *old)
{
    memset(s, 0, sizeof(*s));
    *lease = 0;
    *old = 0;
    if (!svc->hcache)
        return 0;
    ch_hkey_t key;
    const char *kp[1] = {ch_hkey_ranking(key, (unsigned)item->type, item->id)};
    ch_hcache_got_t got;
    if (ch_hcache_get_many(svc->hcache, kp, 1, &got) != CH_OK)
        return 0; /* down, or not in the L1 on the loop (noted) */
    if (!got.val) {
        *lease = got.lease;
        return 0;
    }
    int have = ch__decode(got.val, got.len, item, s);
    free(got.val);
    int64_t age = have ? ch_now_ms() - s->at : 0;
    /* A T ahead of this clock (another node's, a little off) is allowed CH__SKEW_MS only:
     * the fact must not serve longer than the share time. */
    if (have && age < CH_COMMENTS_TOP_SHARE_MS && age > -CH__SKEW_MS)
        return 1;
    free(s->ids);
    memset(s, 0, sizeof(*s));
    *old = 1; /* past its share window, or a value this build cannot read */
    return 0;
}

uint64_t ch__top_fact_renew(ch_svc_t *svc, const ch_target_t *item)
{
    if (!svc->hcache)
        return 0;
    ch_hkey_t key;
    const char *kp[1] = {ch_hkey_ranking(key, (unsigned)item->type, item->id)};
    /* The forget cancels older leases only: a write's later forget still voids ours. */
    ch_hcache_forget_many(svc->hcache, kp, 1);
    ch_hcache_got_t got;
    if (ch_hcache_get_many(svc->hcache, kp, 1, &got) != CH_OK)
        return 0;
    uint64_t lease = got.val ? 0 : got.lease;
    free(got.val);
    return lease;
}

void ch__top_fact_put(ch_svc_t *svc, const ch__top_snapshot_t *s, uint64_t lease)
{
    if (!lease || !svc->hcache || s->n > CH_COMMENTS_TOP_RANKED_MAX)
        return;
    ch_hkey_t key;
    const char *kp[1] = {ch_hkey_ranking(key, (unsigned)s->type, s->target_id)};
    size_t len = CH__HEAD + 8 * s->n;
    char *val = ch_malloc(len);
    val[0] = 'K';
    val[1] = 1;
    val[2] = (char)(s->capped ? 1 : 0);
    ch_le64_put(val + 3, s->gen);
    ch_le64_put(val + 11, (uint64_t)s->at);
    for (size_t i = 0; i < s->n; i++)
        ch_le64_put(val + CH__HEAD + 8 * i, s->ids[i]);
    const char *vp[1] = {val};
    ch_hcache_put_many(svc->hcache, kp, vp, &len, &lease, 1);
    free(val);
}
