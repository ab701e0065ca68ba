/* The following feed's per-read facts in the hydration cache (facts.h). */
#include "svc/feed/facts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/u64_bytes.h"
#include "store/hcache.h"
#include "store/kv.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/kv_local.h"
#include "svc/common/viewer_gen.h"
#include "svc/feed/celeb_gen.h"

/* The head's encoding: 'H', version 1, the full flag (the timeline had more entries than the
 * head holds), then entries of 17 bytes (item id, author id big-endian; type). */
#define CH__HEAD_TAG 'H'
#define CH__HEAD_VERSION 1
#define CH__HEAD_HDR 3
#define CH__HEAD_ENTRY 17

int ch_feed_facts_on(const ch_svc_t *svc)
{
    return svc->hcache && svc->kv && ch_kv_local(svc->kv) && svc->timelines &&
           strcmp(ch_timeline_kind(svc->timelines), "redis") == 0;
}

/* ---- generations ----------------------------------------------------------------------- */

/* A generation's text (at most 20 digits) as a number; 0 when it is not one. */
static uint64_t ch__gen_parse(const char *val, size_t len)
{
    char txt[24];
    if (len >= sizeof(txt))
        return 0;
    memcpy(txt, val, len);
    txt[len] = '\0';
    return strtoull(txt, NULL, 10);
}

ch_err_t ch_feed_gens_get(ch_svc_t *svc, uint64_t viewer, uint64_t *vgen, uint64_t *cgen)
{
    uint64_t unused = 0;
    if (!cgen)
        cgen = &unused;
    *vgen = *cgen = 0;
    int n = cgen == &unused ? 1 : 2;
    if (!ch_feed_facts_on(svc)) {
        ch_err_t err = ch_viewer_gen_get(svc, viewer, vgen);
        return err != CH_OK || n == 1 ? err : ch_celeb_gen_get(svc, cgen);
    }
    ch_hkey_t kb[2];
    const char *keys[2] = {ch_hkey_gen(kb[0], viewer), ch_hkey_gen(kb[1], 0)};
    ch_hcache_got_t got[2];
    memset(got, 0, sizeof(got));
    ch_err_t cerr = ch_hcache_get_many(svc->hcache, keys, (size_t)n, got);
    uint64_t *outs[2] = {vgen, cgen};
    char txt[2][24];
    const char *pk[2], *pv[2];
    size_t lens[2], m = 0;
    uint64_t leases[2];
    ch_err_t err = CH_OK;
    for (int i = 0; i < n; i++) {
        if (cerr == CH_OK && got[i].val) {
            *outs[i] = ch__gen_parse(got[i].val, got[i].len);
            continue;
        }
        if (err != CH_OK)
            continue;
        /* a miss, or the cache down: the kv (refused under the loop guard, noted) */
        err = i == 0 ? ch_viewer_gen_get(svc, viewer, outs[i]) : ch_celeb_gen_get(svc, outs[i]);
        if (err == CH_OK && got[i].lease) {
            int len = snprintf(txt[m], sizeof(txt[m]), "%llu", (unsigned long long)*outs[i]);
            pk[m] = keys[i];
            pv[m] = txt[m];
            lens[m] = (size_t)len;
            leases[m++] = got[i].lease;
        }
    }
    free(got[0].val);
    free(got[1].val);
    if (err == CH_OK && m)
        ch_hcache_put_many(svc->hcache, pk, pv, lens, leases, m);
    return err;
}

void ch_feed_gen_forget(ch_svc_t *svc, uint64_t user)
{
    if (!ch_feed_facts_on(svc))
        return;
    ch_hkey_t kb;
    const char *key = ch_hkey_gen(kb, user);
    ch_hcache_forget_many(svc->hcache, &key, 1);
}

/* ---- copies of kv values --------------------------------------------------------------- */

/* A copy is "+" and the value, or "-" when the kv had none. */
ch_err_t ch_feed_facts_kv_get(ch_svc_t *svc, const char *const *hkeys, const char *const *kvkeys, size_t n,
                              char **vals)
{
    memset(vals, 0, n * sizeof(*vals));
    ch_err_t err = CH_OK;
    if (!ch_feed_facts_on(svc) || n > CH_HCACHE_BATCH_MAX) {
        for (size_t i = 0; i < n && err == CH_OK; i++)
            err = ch_kvl_get(svc, kvkeys[i], &vals[i], NULL);
    } else {
        ch_hcache_got_t *got = ch_calloc(n, sizeof(*got));
        ch_err_t cerr = ch_hcache_get_many(svc->hcache, hkeys, n, got);
        const char **pk = ch_malloc(n * sizeof(*pk)), **pv = ch_malloc(n * sizeof(*pv));
        char **owned = ch_calloc(n, sizeof(*owned));
        size_t *lens = ch_malloc(n * sizeof(*lens)), m = 0;
        uint64_t *leases = ch_malloc(n * sizeof(*leases));
        for (size_t i = 0; i < n; i++) {
            if (cerr == CH_OK && got[i].val && got[i].len >= 1 && got[i].val[0] == '+') {
                vals[i] = ch_malloc(got[i].len);
                memcpy(vals[i], got[i].val + 1, got[i].len - 1);
                vals[i][got[i].len - 1] = '\0';
                continue;
            }
            if (cerr == CH_OK && got[i].val && got[i].len == 1 && got[i].val[0] == '-')
                continue;
            if (err != CH_OK)
                continue;
            /* a miss (or the cache down, or a copy that is not one): the kv */
            size_t len = 0;
            err = ch_kvl_get(svc, kvkeys[i], &vals[i], &len);
            if (err == CH_OK && got[i].lease) {
                owned[m] = ch_malloc(len + 2);
                owned[m][0] = vals[i] ? '+' : '-';
                if (vals[i])
                    memcpy(owned[m] + 1, vals[i], len);
                pk[m] = hkeys[i];
                pv[m] = owned[m];
                lens[m] = vals[i] ? len + 1 : 1;
                leases[m++] = got[i].lease;
            }
        }
        if (err == CH_OK && m)
            ch_hcache_put_many(svc->hcache, pk, pv, lens, leases, m);
        for (size_t i = 0; i < n; i++)
            free(got[i].val);
        for (size_t i = 0; i < m; i++)
            free(owned[i]);
        free(got);
        free(pk);
        free(pv);
        free(owned);
        free(lens);
        free(leases);
    }
    if (err != CH_OK)
        for (size_t i = 0; i < n; i++) {
            free(vals[i]);
            vals[i] = NULL;
        }
    return err;
}

void ch_feed_fact_forget(ch_svc_t *svc, const char *hkey)
{
    if (ch_feed_facts_on(svc))
        ch_hcache_forget_many(svc->hcache, &hkey, 1);
}

/* ---- the timeline's head --------------------------------------------------------------- */

/* The head's text of e[0..n) (newest first) into buf (CH__HEAD_HDR + n * CH__HEAD_ENTRY
 * bytes); returns its length. */
static size_t ch__head_encode(unsigned char *buf, const ch_timeline_entry_t *e, size_t n, int full)
{
    buf[0] = CH__HEAD_TAG;
    buf[1] = CH__HEAD_VERSION;
    buf[2] = full ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = buf + CH__HEAD_HDR + i * CH__HEAD_ENTRY;
        ch_be64_put(p, e[i].item_id);
        ch_be64_put(p + 8, e[i].author_id);
        p[16] = e[i].type;
    }
    return CH__HEAD_HDR + n * CH__HEAD_ENTRY;
}

/* Answers from a head's text (val, len): entries below before, up to max, into out. 1 when
 * it answers (the page filled, or the head holds the whole timeline), 0 when it does not, -1
 * when the text is not a head. */
static int ch__head_answer(const unsigned char *val, size_t len, uint64_t before, size_t max,
                           ch_timeline_entry_t *out, size_t *n_out)
{
    *n_out = 0;
    if (len < CH__HEAD_HDR || val[0] != CH__HEAD_TAG || val[1] != CH__HEAD_VERSION ||
        (len - CH__HEAD_HDR) % CH__HEAD_ENTRY != 0 || (len - CH__HEAD_HDR) / CH__HEAD_ENTRY > CH_FEED_TL_CACHED)
        return -1;
    size_t n = (len - CH__HEAD_HDR) / CH__HEAD_ENTRY, k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        const unsigned char *p = val + CH__HEAD_HDR + i * CH__HEAD_ENTRY;
        uint64_t item = ch_be64_get(p);
        if (before && item >= before)
            continue;
        out[k++] = (ch_timeline_entry_t){item, ch_be64_get(p + 8), p[16]};
    }
    *n_out = k;
    return k == max || !val[2];
}

void ch_feed_tl_head_read(ch_svc_t *svc, uint64_t viewer, uint64_t before, size_t max, ch_timeline_entry_t *out,
                          size_t *n_out, int *answered)
{
    *n_out = 0;
    *answered = 0;
    if (!ch_feed_facts_on(svc) || max == 0)
        return;
    ch_hkey_t kb;
    const char *key = ch_hkey_timeline_head(kb, viewer);
    ch_hcache_got_t got = {0};
    if (ch_hcache_get_many(svc->hcache, &key, 1, &got) != CH_OK)
        return; /* down, or refused on the loop (noted): the store */
    if (got.val) {
        int a = ch__head_answer((const unsigned char *)got.val, got.len, before, max, out, n_out);
        free(got.val);
        if (a < 0) { /* not a head (an older format): dropped, the store answers */
            *n_out = 0;
            ch_hcache_forget_many(svc->hcache, &key, 1);
            return;
        }
        *answered = a;
        if (!a)
            *n_out = 0;
        return;
    }
    if (!got.lease) /* another reader fills it */
        return;
    /* A miss: the newest entries (one more than the head holds tells whether it is full). */
    ch_timeline_entry_t *e = ch_calloc(CH_FEED_TL_CACHED + 1, sizeof(*e));
    ch_timeline_meta_t meta = {0};
    size_t n = 0;
    if (ch_timeline_read(svc->timelines, viewer, 0, CH_FEED_TL_CACHED + 1, e, &n, &meta) == CH_OK && meta.exists) {
        int full = n > CH_FEED_TL_CACHED;
        if (full)
            n = CH_FEED_TL_CACHED;
        unsigned char *buf = ch_malloc(CH__HEAD_HDR + n * CH__HEAD_ENTRY);
        size_t len = ch__head_encode(buf, e, n, full);
        const char *val = (const char *)buf;
        ch_hcache_put_many(svc->hcache, &key, &val, &len, &got.lease, 1);
        int a = ch__head_answer(buf, len, before, max, out, n_out);
        *answered = a > 0;
        if (a <= 0)
            *n_out = 0;
        free(buf);
    }
    free(e);
}

void ch_feed_tl_forget(ch_svc_t *svc, const uint64_t *users, size_t n)
{
    if (!n || !ch_feed_facts_on(svc))
        return;
    size_t chunk = n < CH_HCACHE_BATCH_MAX ? n : CH_HCACHE_BATCH_MAX;
    ch_hkey_t *kb = ch_malloc(chunk * sizeof(*kb));
    const char **keys = ch_malloc(chunk * sizeof(*keys));
    for (size_t at = 0; at < n; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        for (size_t i = 0; i < m; i++)
            keys[i] = ch_hkey_timeline_head(kb[i], users[at + i]);
        ch_hcache_forget_many(svc->hcache, keys, m);
    }
    free(keys);
    free(kb);
}
