/* The ranked feeds' read path (rank.h): gather, filter, score, mix, snapshot, serve. */
#include "svc/feed/rank.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/common/viewer_gen.h"
#include "svc/engage/target.h"
#include "svc/feed/candidates.h"
#include "svc/feed/facts.h"
#include "svc/feed/mix.h"
#include "svc/feed/nettop.h"
#include "svc/feed/rank_features.h"
#include "svc/feed/rank_model.h"
#include "svc/feed/rank_page.h"
#include "svc/feed/seen.h"
#include "svc/feed/rank_signals.h"
#include "svc/feed/snapshot.h"

/* One candidate while it is ranked. */
typedef struct {
    ch_feed_cand_t cand;
    ch_item_facts_t facts;
    double x[CH_FEED_F_COUNT];
    double score;
    size_t author; /* index into the distinct authors */
} ch__work_t;

static const char *ch__feed_name(ch_feed_kind_t kind)
{
    return kind == CH_FEED_REELS ? "reels" : "home";
}

static ch_err_t ch__bad_cursor(ch_fault_t *f)
{
    return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned, or it expired: start again");
}

/* ---- gathering ------------------------------------------------------------------------- */

static int ch__cand_cmp(const void *a, const void *b)
{
    const ch_feed_cand_t *x = a, *y = b;
    if (x->key.type != y->key.type)
        return x->key.type < y->key.type ? -1 : 1;
    if (x->key.id != y->key.id)
        return x->key.id < y->key.id ? -1 : 1;
    return (int)x->reason - (int)y->reason;
}

/* Every source's candidates for the feed, one per item (the reason of highest precedence). */
static ch_err_t ch__gather(ch_svc_t *svc, ch_feed_kind_t kind, uint64_t viewer, ch_feed_cand_t **out, size_t *n_out,
                           uint64_t *net_top, ch_fault_t *f)
{
    size_t cap = CH_FEED_RANK_IN_NETWORK + CH_FEED_RANK_ENGAGED + CH_FEED_RANK_HASHTAG + 2 * CH_FEED_RANK_POPULAR;
    ch_feed_cand_t *c = calloc(cap, sizeof(*c));
    size_t n = 0, got = 0;
    if (!c)
        return CH_EINTERNAL;
    ch_err_t err = ch_feed_in_network(svc, viewer, 0, CH_FEED_RANK_IN_NETWORK, c, &got, f);
    n += err ? 0 : got;
    *net_top = n ? c[0].key.id : 0; /* newest first: what a later request compares (ch__reusable) */
    if (err == CH_OK && (err = ch_feed_engaged_by_following(svc, viewer, CH_FEED_RANK_ENGAGED, c + n, &got, f)) == CH_OK)
        n += got;
    if (err == CH_OK && (err = ch_feed_hashtag_items(svc, viewer, CH_FEED_RANK_HASHTAG, c + n, &got, f)) == CH_OK)
        n += got;
    if (kind == CH_FEED_HOME) {
        if (err == CH_OK && (err = ch_feed_popular(svc, viewer, CH_TARGET_POST, CH_FEED_RANK_POPULAR, c + n, &got, f)) == CH_OK)
            n += got;
        if (err == CH_OK && (err = ch_feed_popular(svc, viewer, CH_TARGET_REEL, CH_FEED_RANK_POPULAR, c + n, &got, f)) == CH_OK)
            n += got;
    } else if (err == CH_OK &&
               (err = ch_feed_popular(svc, viewer, CH_TARGET_REEL, 2 * CH_FEED_RANK_POPULAR, c + n, &got, f)) == CH_OK) {
        n += got;
    }
    if (err) {
        free(c);
        return err;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) /* posts and reels only; the reels feed reels only */
        if ((c[i].key.type == CH_TARGET_REEL || (kind == CH_FEED_HOME && c[i].key.type == CH_TARGET_POST)) &&
            c[i].author_id != viewer)
            c[k++] = c[i];
    n = k;
    qsort(c, n, sizeof(*c), ch__cand_cmp);
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || c[k - 1].key.type != c[i].key.type || c[k - 1].key.id != c[i].key.id)
            c[k++] = c[i];
    *out = c;
    *n_out = k;
    return CH_OK;
}

static int ch__key_in(const ch_item_key_t *keys, size_t n, ch_item_key_t key)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i].type == key.type && keys[i].id == key.id)
            return 1;
    return 0;
}

static int ch__id_in(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static int ch__u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The distinct values of v[0..n) in sorted order into out (n slots); returns how many. */
static size_t ch__distinct(const uint64_t *v, size_t n, uint64_t *out)
{
    memcpy(out, v, sizeof(*v) * n);
    qsort(out, n, sizeof(*out), ch__u64_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || out[k - 1] != out[i])
            out[k++] = out[i];
    return k;
}

/* Drops, in place, the items the viewer hid, muted, or may not see (hydration), and fills
 * each survivor's facts. */
static ch_err_t ch__filter(ch_svc_t *svc, uint64_t viewer, const ch_feed_feedback_t *fb, ch__work_t *w, size_t *n_io,
                           ch_fault_t *f)
{
    size_t n = *n_io, k = 0;
    for (size_t i = 0; i < n; i++)
        if (!ch__key_in(fb->hidden, fb->n_hidden, w[i].cand.key))
            w[k++] = w[i];
    n = k;
    uint64_t *authors = ch_malloc(sizeof(uint64_t) * (n + 1)), *distinct = ch_malloc(sizeof(uint64_t) * (n + 1));
    int *muted = ch_malloc(sizeof(int) * (n + 1));
    for (size_t i = 0; i < n; i++)
        authors[i] = w[i].cand.author_id;
    size_t nd = ch__distinct(authors, n, distinct);
    ch_err_t err = ch_feed_muted_many(svc, viewer, distinct, nd, muted);
    ch_item_key_t *keys = ch_malloc(sizeof(*keys) * CH_ITEMS_HYDRATE_MAX);
    ch_item_facts_t *facts = ch_malloc(sizeof(*facts) * CH_ITEMS_HYDRATE_MAX);
    k = 0;
    for (size_t done = 0; err == CH_OK && done < n;) {
        size_t step = n - done > CH_ITEMS_HYDRATE_MAX ? CH_ITEMS_HYDRATE_MAX : n - done;
        for (size_t i = 0; i < step; i++)
            keys[i] = w[done + i].cand.key;
        /* facts only: the same statements and visibility, no JSON (only the page is rendered) */
        err = ch_items_hydrate(svc, viewer, keys, step, NULL, facts, f);
        for (size_t i = 0; err == CH_OK && i < step; i++) {
            ch__work_t *it = &w[done + i];
            uint64_t *m = bsearch(&it->cand.author_id, distinct, nd, sizeof(uint64_t), ch__u64_cmp);
            if (facts[i].author_id && !(m && muted[m - distinct])) {
                it->facts = facts[i];
                it->cand.author_id = facts[i].author_id ? facts[i].author_id : it->cand.author_id;
                w[k++] = *it;
            }
        }
        done += step;
    }
    free(authors);
    free(distinct);
    free(muted);
    free(keys);
    free(facts);
    *n_io = err ? 0 : k;
    return err;
}

/* ---- scoring --------------------------------------------------------------------------- */

static int ch__score_cmp(const void *a, const void *b)
{
    const ch__work_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->cand.key.id > y->cand.key.id ? -1 : x->cand.key.id < y->cand.key.id; /* newer first */
}

/* Features and score of every w[i] under model m. Signal reads that fail count as "no
 * signal" (logged): ranking degrades, the feed still answers. */
static void ch__score(ch_svc_t *svc, uint64_t viewer, const ch_feed_model_t *m, const ch_feed_feedback_t *fb,
                      ch__work_t *w, size_t n)
{
    int64_t now = ch_now_ms();
    uint64_t *authors = ch_malloc(sizeof(uint64_t) * (n + 1)), *ids = ch_malloc(sizeof(uint64_t) * (n + 1));
    double *aff = ch_malloc(sizeof(double) * (n + 1)), *vel = ch_malloc(sizeof(double) * (n + 1));
    double *qsum = calloc(n + 1, sizeof(double)), *qcnt = calloc(n + 1, sizeof(double));
    size_t *pos = ch_malloc(sizeof(size_t) * (n + 1));
    for (size_t i = 0; i < n; i++)
        ids[i] = w[i].cand.author_id;
    size_t na = ch__distinct(ids, n, authors);
    if (ch_feed_affinity_many(svc, viewer, authors, na, now, aff) != CH_OK) {
        ch_log_warn("feed: affinity unavailable, ranking without it");
        memset(aff, 0, sizeof(double) * (n + 1));
    }
    for (size_t i = 0; i < n; i++) {
        w[i].author = (size_t)((uint64_t *)bsearch(&w[i].cand.author_id, authors, na, sizeof(uint64_t), ch__u64_cmp) -
                               authors);
        qsum[w[i].author] += (double)(w[i].facts.reactions + 2 * w[i].facts.comments);
        qcnt[w[i].author] += 1;
        vel[i] = 0;
    }
    for (int t = CH_TARGET_POST; t <= CH_TARGET_REEL; t++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (w[i].cand.key.type == t) {
                pos[k] = i;
                ids[k++] = w[i].cand.key.id;
            }
        double *v = ch_malloc(sizeof(double) * (k + 1));
        if (ch_feed_velocity_many(svc, (uint8_t)t, ids, k, now, v) != CH_OK) {
            ch_log_warn("feed: velocity unavailable, ranking without it");
            memset(v, 0, sizeof(double) * (k + 1));
        }
        for (size_t i = 0; i < k; i++)
            vel[pos[i]] = v[i];
        free(v);
    }
    double post_share = 0.5, reel_share = 0.5;
    if (ch_feed_type_pref(svc, viewer, &post_share, &reel_share) != CH_OK)
        ch_log_warn("feed: content-type preference unavailable, ranking without it");
    ch_item_key_t *seen = NULL;
    size_t nseen = 0;
    if (ch_feed_seen_load(svc, viewer, &seen, &nseen) != CH_OK)
        ch_log_warn("feed: seen set unavailable, ranking without it");
    for (size_t i = 0; i < n; i++) {
        ch__work_t *it = &w[i];
        uint64_t a = it->cand.author_id;
        ch_feed_raw_t r = {
            .age_ms = now - it->facts.created_at_ms,
            .affinity = aff[it->author],
            .velocity = vel[i],
            .type_share = it->cand.key.type == CH_TARGET_REEL ? reel_share : post_share,
            .author_quality = qcnt[it->author] > 0 ? qsum[it->author] / qcnt[it->author] : 0,
            .feedback = ch__id_in(fb->more_authors, fb->n_more_authors, a)   ? 1
                        : ch__id_in(fb->less_authors, fb->n_less_authors, a) ? -1
                                                                             : 0,
            .seen = ch_feed_seen_has(seen, nseen, it->cand.key),
            .reactions = it->facts.reactions,
            .comments = it->facts.comments,
            .in_network = it->cand.reason == CH_FEED_REASON_FOLLOWING,
        };
        ch_feed_features(&r, it->x);
        it->score = ch_feed_model_score(m, it->x);
    }
    free(seen);
    free(authors);
    free(ids);
    free(aff);
    free(vel);
    free(qsum);
    free(qcnt);
    free(pos);
    qsort(w, n, sizeof(*w), ch__score_cmp);
}

/* Ranks the viewer's feed now into s (entries owned), mixed; keeps the features when asked. */
static ch_err_t ch__rank(ch_svc_t *svc, ch_feed_kind_t kind, uint64_t viewer, int explain,
                         const ch_feed_feedback_t *fb, uint64_t vgen, ch_feed_snap_t *s, ch_fault_t *f)
{
    ch_feed_cand_t *c = NULL;
    size_t n = 0;
    memset(s, 0, sizeof(*s));
    s->at_ms = ch_now_ms();
    s->has_features = explain != 0;
    s->vgen = vgen;
    ch_err_t err = ch__gather(svc, kind, viewer, &c, &n, &s->net_top, f);
    if (err)
        return err;
    ch__work_t *w = calloc(n + 1, sizeof(*w));
    if (!w) {
        free(c);
        return CH_EINTERNAL;
    }
    for (size_t i = 0; i < n; i++)
        w[i].cand = c[i];
    free(c);
    err = ch__filter(svc, viewer, fb, w, &n, f);
    const ch_feed_model_t *m = ch_feed_model_acquire();
    if (err == CH_OK)
        ch__score(svc, viewer, m, fb, w, n);
    ch_feed_model_release(m);
    if (n > CH_FEED_SNAP_MAX)
        n = CH_FEED_SNAP_MAX;
    ch_feed_mix_item_t *mi = calloc(n + 1, sizeof(*mi));
    size_t *order = calloc(n + 1, sizeof(*order));
    s->entries = calloc(n + 1, sizeof(*s->entries));
    if (err == CH_OK && (!mi || !order || !s->entries))
        err = CH_EINTERNAL;
    for (size_t i = 0; err == CH_OK && i < n; i++)
        mi[i] = (ch_feed_mix_item_t){.author_id = w[i].cand.author_id,
                                     .is_reel = w[i].cand.key.type == CH_TARGET_REEL,
                                     .in_network = w[i].cand.reason == CH_FEED_REASON_FOLLOWING};
    ch_feed_mix_params_t params = {
        /* the reels feed holds reels only, and is meant to reach out of network */
        .reel_every = kind == CH_FEED_HOME ? (int)svc->cfg->feed_reel_every : 0,
        .oon_share = kind == CH_FEED_HOME ? (int)svc->cfg->feed_oon_share : 100,
    };
    if (err == CH_OK && ch_feed_mix(mi, n, &params, order) != 0)
        err = CH_EINTERNAL;
    for (size_t i = 0; err == CH_OK && i < n; i++) {
        const ch__work_t *it = &w[order[i]];
        s->entries[i].cand = it->cand;
        s->entries[i].score = it->score;
        memcpy(s->entries[i].features, it->x, sizeof(it->x));
    }
    s->n = err == CH_OK ? n : 0;
    s->total = s->n;
    free(mi);
    free(order);
    free(w);
    if (err)
        ch_feed_snap_clear(s);
    return err;
}

/* ---- reuse ------------------------------------------------------------------------------- */

/* Entries of a reused head a first page of `limit` may parse (as it needs them, most often
 * the page's own): the page and 20 more for items hidden since the ranking (more of those:
 * the whole snapshot is loaded). */
#define CH__HEAD_WANT(limit) ((size_t)(limit) + 20)
/* A viewer generation no snapshot matches: the one recorded when it could not be read. */
#define CH__VGEN_UNKNOWN UINT64_MAX
/* How much younger than a generation's lifetime a snapshot must be for its generation to
 * still tell (a change after the ranking wrote a generation that has not expired yet). */
#define CH__VGEN_MARGIN_MS (60LL * 1000)

/* Whether s was ranked under the viewer's current generation vgen: no feedback, follow,
 * block or mute of the viewer since, so what the ranking left out as hidden or muted is
 * still all there is to leave out. */
static int ch__same_gen(const ch_feed_snap_t *s, uint64_t vgen)
{
    int64_t age = ch_now_ms() - s->at_ms;
    return vgen != CH__VGEN_UNKNOWN && s->vgen == vgen && age >= 0 && age < CH_VIEWER_GEN_TTL_MS - CH__VGEN_MARGIN_MS;
}

/* Loads into s the head of the viewer's latest ranking when a request without cursor may
 * serve it again (1): younger than CHORUS_FEED_REUSE_MS, made under the viewer's current
 * generation (no feedback, follow, block or mute since) and with the same newest in-network
 * item (nothing new arrived). Its entries are hydrated at serving as any page's, so deletes,
 * blocks and visibility changes since still apply. 0: rank anew (s empty). */
static int ch__reusable(ch_svc_t *svc, ch_feed_kind_t kind, uint64_t viewer, uint64_t vgen, int quick,
                        size_t want, ch_feed_snap_t *s)
{
    int found = 0;
    memset(s, 0, sizeof(*s));
    if (svc->cfg->feed_reuse_ms <= 0 || vgen == CH__VGEN_UNKNOWN ||
        ch_feed_snap_head(svc, ch__feed_name(kind), viewer, want, s, &found) != CH_OK || !found)
        return 0;
    int64_t age = ch_now_ms() - s->at_ms;
    ch_feed_cand_t top;
    size_t got = 0;
    ch_fault_t f;
    memset(&f, 0, sizeof(f));
    int ok = s->gen && age >= 0 && age < svc->cfg->feed_reuse_ms && s->vgen == vgen, newer = 0;
    /* nothing newer in network: from the timeline and the fan-out's notes, else by SQL */
    if (ok && ch_feed_net_newer(svc, viewer, s->net_top, &newer) == CH_OK)
        ok = !newer;
    else if (ok && quick)
        ok = 0; /* the SQL check is not for the loop: rank on a worker, which checks again */
    else if (ok)
        ok = ch_feed_in_network(svc, viewer, 0, 1, &top, &got, &f) == CH_OK && (got ? top.key.id : 0) == s->net_top;
    if (!ok)
        ch_feed_snap_clear(s);
    return ok;
}

/* Ranks viewer's feed into *s and keeps it for the cursor pages: a ranking longer than its
 * page is saved (a failure only costs the next cursor); one that fits drops the older head, or
 * a reuse could serve an older ranking after this newer one (the fan-out's notes that end a
 * reuse may lag behind the SQL that ranked: nettop.h). A short feed is cheap to rank again. */
static ch_err_t ch__rank_kept(ch_svc_t *svc, ch_feed_kind_t kind, uint64_t viewer, int explain,
                              const ch_feed_feedback_t *fb, uint64_t vgen, int limit, ch_feed_snap_t *s, ch_fault_t *f)
{
    ch_err_t err = ch__rank(svc, kind, viewer, explain, fb, vgen, s, f);
    if (err == CH_OK && s->n > (size_t)limit && ch_feed_snap_save(svc, ch__feed_name(kind), viewer, s) != CH_OK)
        ch_log_warn("feed: ranked snapshot not kept (kv store): the page is served without a next cursor");
    else if (err == CH_OK && s->n <= (size_t)limit && ch_feed_snap_drop_head(svc, ch__feed_name(kind), viewer) != CH_OK)
        ch_log_warn("feed: an older ranking's head not dropped (kv store)");
    return err;
}

ch_err_t ch_feed_ranked(ch_svc_t *svc, ch_feed_kind_t kind, uint64_t viewer, int limit, const char *cursor,
                        int explain, int quick, int *needs_worker, char **out, ch_fault_t *f)
{
    uint64_t gen = 0;
    size_t offset = 0;
    *out = NULL;
    *needs_worker = 0;
    if (limit < 1 || limit > CH_FEED_PAGE_MAX)
        return ch_fault(f, CH_EINVAL, "limit", "from 1 to %d", CH_FEED_PAGE_MAX);
    if (cursor && ch_feed_cursor_parse(cursor, &gen, &offset) != 0)
        return ch__bad_cursor(f);
    /* read before anything the ranking reads: a change racing with it makes the next request rank */
    uint64_t vgen = CH__VGEN_UNKNOWN;
    if (ch_feed_gens_get(svc, viewer, &vgen, NULL) != CH_OK) /* cluster: from the L1 (facts.h) */
        vgen = CH__VGEN_UNKNOWN;
    ch_feed_feedback_t fb;
    memset(&fb, 0, sizeof(fb));
    int have_fb = 0;
    ch_err_t err = CH_OK;
    ch_feed_snap_t s = {0}; /* cleared on every path, explain's included */
    if (cursor) {
        int found = 0;
        err = ch_feed_snap_load(svc, ch__feed_name(kind), viewer, gen, &s, &found);
        if (err == CH_OK && (!found || offset == 0 || offset >= s.n)) {
            ch_feed_snap_clear(&s);
            err = ch__bad_cursor(f);
        }
    } else if (explain || !ch__reusable(svc, kind, viewer, vgen, quick, CH__HEAD_WANT(limit), &s)) {
        if (quick) {
            *needs_worker = 1;
            return CH_EUNAVAILABLE;
        }
        if ((err = ch_feed_feedback_load(svc, viewer, &fb, f)) == CH_OK) {
            have_fb = 1;
            err = ch__rank_kept(svc, kind, viewer, explain, &fb, vgen, limit, &s, f);
        }
    }
    /* feedback and mutes are applied again only when they may have changed since the ranking */
    int same = err == CH_OK && ch__same_gen(&s, vgen);
    if (err == CH_OK && !same && !have_fb && quick) {
        ch_feed_snap_clear(&s);
        *needs_worker = 1;
        return CH_EUNAVAILABLE;
    }
    if (err == CH_OK && !same && !have_fb)
        err = ch_feed_feedback_load(svc, viewer, &fb, f);
    const ch_feed_feedback_t *fbp = same ? NULL : &fb;
    int need_all = 0;
    if (err == CH_OK)
        err = ch_feed_page_serve(svc, viewer, &s, offset, limit, explain, quick, fbp, out, &need_all, f);
    if (err == CH_OK && need_all) { /* the head ran out before the page was full */
        uint64_t g = s.gen;
        int found = 0;
        ch_feed_snap_clear(&s);
        err = ch_feed_snap_load(svc, ch__feed_name(kind), viewer, g, &s, &found);
        if (err == CH_OK && !found && cursor) {
            err = ch__bad_cursor(f);
        } else if (err == CH_OK && !found) { /* a reused head whose snapshot is gone: rank again */
            if (quick) {
                ch_feed_snap_clear(&s);
                ch_feed_feedback_clear(&fb);
                *needs_worker = 1;
                return CH_EUNAVAILABLE;
            }
            ch_feed_snap_clear(&s);
            if (!have_fb && (err = ch_feed_feedback_load(svc, viewer, &fb, f)) == CH_OK)
                have_fb = 1;
            if (err == CH_OK)
                err = ch__rank_kept(svc, kind, viewer, explain, &fb, vgen, limit, &s, f);
            fbp = err == CH_OK && ch__same_gen(&s, vgen) ? NULL : &fb; /* as a first ranking's */
        }
        if (err == CH_OK)
            err = ch_feed_page_serve(svc, viewer, &s, offset, limit, explain, quick, fbp, out, &need_all, f);
    }
    ch_feed_snap_clear(&s);
    ch_feed_feedback_clear(&fb);
    return err;
}
