/* The story tray (content.h, docs/design.md "### tray19"). The followees who may have a live
 * story are the candidates, each with a bound: no live story of theirs is newer. They are
 * taken newest bound first, a chunk at a time: their active-story index entries, then their
 * stories through the hydration layer (visibility, mute, seen, per viewer). The tray is
 * unseen authors first, then the newest shown story first; once CH_STORY_TRAY_MAX unseen
 * authors are shown with a story newer than the next candidate's bound, no candidate left can
 * enter it, and they are not read. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/hydrate.h"
#include "svc/content/content.h"
#include "svc/content/story_active.h"
#include "svc/content/story_index.h"
#include "svc/graph/followees.h"

/* Candidates read in the first chunk: the tray's authors and a margin for hidden ones. Each
 * later chunk is twice the one before, so that a viewer who has seen most stories gets
 * through CH_STORY_TRAY_FOLLOWEES_MAX candidates in at most five chunks (a constant number
 * of cache round trips). */
#define CH__TRAY_FIRST_CHUNK (CH_STORY_TRAY_MAX + CH_STORY_TRAY_MAX / 4)

/* One candidate: a followee who may have a live story. */
typedef struct {
    uint64_t author;
    uint64_t bound; /* no live story of theirs is newer */
    size_t span;    /* their entry in the index read up front (cluster), else unused */
} ch__cand_t;

/* One author whose stories were hydrated. */
typedef struct {
    uint64_t author;
    size_t first, n; /* its shown stories: h[first .. first + n) */
    uint64_t latest; /* id of its newest shown story */
    int unseen, shown;
} ch__entry_t;

/* ---- the candidates: a max-heap by bound ------------------------------------------------- */

static void ch__sift_down(ch__cand_t *c, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, big = i;
        if (l < n && c[l].bound > c[big].bound)
            big = l;
        if (l + 1 < n && c[l + 1].bound > c[big].bound)
            big = l + 1;
        if (big == i)
            return;
        ch__cand_t t = c[i];
        c[i] = c[big];
        c[big] = t;
        i = big;
    }
}

static void ch__heapify(ch__cand_t *c, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        ch__sift_down(c, n, i);
}

/* Removes the candidate with the largest bound into *out; *n shrinks. */
static void ch__pop(ch__cand_t *c, size_t *n, ch__cand_t *out)
{
    *out = c[0];
    c[0] = c[--*n];
    ch__sift_down(c, *n, 0);
}

/* ---- the read ------------------------------------------------------------------------------ */

/* Everything one tray read holds (freed by ch__tray_clear). */
typedef struct {
    uint64_t *followees;
    ch__cand_t *cand;
    size_t ncand;
    ch__cand_t *chunk; /* the chunk being read (as many slots as candidates) */
    uint64_t *chunk_authors;
    ch_author_index_t all; /* cluster: every followee's entry, read up front */
    ch__entry_t *e;
    size_t ne;
    ch_item_key_t *keys; /* CH_STORY_TRAY_SCAN_MAX */
    ch_hydrated_t *h;    /* h[i] the story keys[i]; h[0..nh) written by the layer */
    size_t nkeys, nh;
} ch__tray_t;

static void ch__tray_clear(ch__tray_t *t)
{
    ch_hydrated_free(t->h, t->nh);
    free(t->h);
    free(t->keys);
    free(t->e);
    free(t->cand);
    free(t->chunk);
    free(t->chunk_authors);
    free(t->followees);
    ch_author_index_clear(&t->all);
}

/* The candidates, from the in-process set (embedded mode) or from every followee's index
 * entry (cluster mode: stories posted on other nodes; the set over its bound). */
static ch_err_t ch__candidates(ch_svc_t *svc, ch__tray_t *t, size_t nf, int64_t now)
{
    uint64_t *latest = ch_malloc((nf ? nf : 1) * sizeof(*latest));
    size_t kept = 0;
    ch_err_t err = CH_OK;
    t->cand = ch_malloc((nf ? nf : 1) * sizeof(*t->cand));
    if (ch_story_active_filter(svc, t->followees, latest, nf, now, &kept)) {
        for (size_t i = 0; i < kept; i++)
            t->cand[t->ncand++] = (ch__cand_t){t->followees[i], latest[i], 0};
    } else {
        err = ch__story_index(svc, t->followees, nf, now, &t->all);
        for (size_t i = 0; err == CH_OK && i < nf; i++)
            if (t->all.span[i].n > 0)
                t->cand[t->ncand++] = (ch__cand_t){
                    t->followees[i], t->all.ents[t->all.span[i].first + t->all.span[i].n - 1].id, i};
    }
    free(latest);
    ch__heapify(t->cand, t->ncand);
    return err;
}

/* Appends the live stories of chunk c[0..n) to the keys (oldest first per author) and an
 * entry per author with any; stops before an author whose stories would pass
 * CH_STORY_TRAY_SCAN_MAX (*full then set: the older candidates are left out). */
static ch_err_t ch__chunk_keys(ch_svc_t *svc, ch__tray_t *t, const ch__cand_t *c, size_t n, int64_t now, int *full)
{
    ch_author_index_t idx = {0};
    const ch_author_index_t *from = &t->all;
    if (!t->all.span) { /* embedded: this chunk's entries now */
        for (size_t i = 0; i < n; i++)
            t->chunk_authors[i] = c[i].author;
        ch_err_t err = ch__story_index(svc, t->chunk_authors, n, now, &idx);
        if (err) {
            ch_author_index_clear(&idx);
            return err;
        }
        from = &idx;
    }
    for (size_t i = 0; i < n && !*full; i++) {
        size_t s = t->all.span ? c[i].span : i, first = from->span[s].first, m = from->span[s].n;
        if (m == 0)
            continue;
        if (t->nkeys + m > CH_STORY_TRAY_SCAN_MAX) {
            *full = 1;
            break;
        }
        t->e[t->ne++] = (ch__entry_t){c[i].author, t->nkeys, m, 0, 0, 0};
        for (size_t k = 0; k < m; k++)
            t->keys[t->nkeys++] = (ch_item_key_t){CH_TARGET_STORY, from->ents[first + k].id};
    }
    ch_author_index_clear(&idx);
    return CH_OK;
}

/* Per entry of e[from..t->ne): its shown stories packed to the front of its span, whether
 * any is unseen, its newest shown story; shown unless none is or the viewer mutes the author. */
static void ch__classify(ch__tray_t *t, size_t from)
{
    for (size_t i = from; i < t->ne; i++) {
        ch__entry_t *x = &t->e[i];
        size_t shown = 0;
        int muted = 0;
        for (size_t k = 0; k < x->n; k++) {
            ch_hydrated_t *s = &t->h[x->first + k];
            if (!s->json)
                continue;
            muted |= s->facts.muted;
            x->unseen |= !s->facts.seen;
            x->latest = t->keys[x->first + k].id;
            if (k != shown) {
                t->h[x->first + shown] = *s;
                memset(s, 0, sizeof(*s));
            }
            shown++;
        }
        x->n = shown;
        x->shown = shown > 0 && !muted;
    }
}

/* 1 when no candidate left (all bounds <= bound) can enter the tray: CH_STORY_TRAY_MAX shown
 * unseen authors have a story newer than bound. */
static int ch__settled(const ch__tray_t *t, uint64_t bound)
{
    size_t ahead = 0;
    for (size_t i = 0; i < t->ne; i++)
        ahead += t->e[i].shown && t->e[i].unseen && t->e[i].latest > bound;
    return ahead >= CH_STORY_TRAY_MAX;
}

/* Unseen first, then the newest story first. */
static int ch__tray_cmp(const void *a, const void *b)
{
    const ch__entry_t *x = a, *y = b;
    if (x->unseen != y->unseen)
        return x->unseen ? -1 : 1;
    return x->latest > y->latest ? -1 : x->latest < y->latest;
}

/* Renders the entries e[0..n) into *out: {"items":[{"user","stories","has_unseen"}]}. */
static ch_err_t ch__tray_render(ch_svc_t *svc, uint64_t viewer, const ch__entry_t *e, size_t n, const ch_hydrated_t *h,
                                char **out, ch_fault_t *f)
{
    uint64_t authors[CH_STORY_TRAY_MAX] = {0};
    ch_hydrated_user_t users[CH_STORY_TRAY_MAX];
    for (size_t i = 0; i < n; i++)
        authors[i] = e[i].author;
    ch_err_t err = ch_hydrate_users(svc, viewer, authors, n, users, f);
    if (err)
        return err;
    /* One allocation for the whole answer: its size is known from the texts. */
    size_t size = 12;
    for (size_t i = 0; i < n; i++) {
        if (!users[i].json)
            continue;
        size += users[i].len + 48 + e[i].n; /* members, brackets, commas */
        for (size_t k = 0; k < e[i].n; k++)
            size += h[e[i].first + k].len;
    }
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_reserve(&b, size);
    ch_buf_append(&b, "{\"items\":[", 10);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (!users[i].json)
            continue;
        ch_buf_append(&b, first ? "{\"user\":" : ",{\"user\":", first ? 8 : 9);
        first = 0;
        ch_buf_append(&b, users[i].json, users[i].len);
        ch_buf_append(&b, ",\"stories\":", 11);
        ch_hydrated_append_array(&b, h + e[i].first, e[i].n);
        if (e[i].unseen)
            ch_buf_append(&b, ",\"has_unseen\":true}", 19);
        else
            ch_buf_append(&b, ",\"has_unseen\":false}", 20);
    }
    ch_buf_append(&b, "]}", 2);
    ch_hydrated_users_free(users, n);
    *out = b.data;
    return CH_OK;
}

ch_err_t ch_stories_tray(ch_svc_t *svc, uint64_t viewer, char **out, ch_fault_t *f)
{
    int64_t now = ch_now_ms();
    ch__tray_t t = {0};
    /* The viewer's followees considered, most recently followed first: cached, forgotten at
     * every change of the viewer's edges (svc/graph/followees.h). */
    size_t nf = 0;
    ch_err_t err = ch_graph_followees_recent(svc, viewer, CH_STORY_TRAY_FOLLOWEES_MAX, &t.followees, &nf);
    if (err)
        return err;
    err = ch__candidates(svc, &t, nf, now);
    t.e = ch_malloc((t.ncand ? t.ncand : 1) * sizeof(*t.e));
    t.keys = ch_malloc(CH_STORY_TRAY_SCAN_MAX * sizeof(*t.keys));
    t.h = ch_malloc(CH_STORY_TRAY_SCAN_MAX * sizeof(*t.h));
    t.chunk = ch_malloc((t.ncand ? t.ncand : 1) * sizeof(*t.chunk));
    t.chunk_authors = ch_malloc((t.ncand ? t.ncand : 1) * sizeof(*t.chunk_authors));
    int full = 0;
    for (size_t want = CH__TRAY_FIRST_CHUNK; err == CH_OK && t.ncand > 0 && !full; want *= 2) {
        /* A chunk of the newest bounds. */
        size_t n = 0;
        while (n < want && t.ncand > 0)
            ch__pop(t.cand, &t.ncand, &t.chunk[n++]);
        size_t from_e = t.ne, from_k = t.nkeys;
        err = ch__chunk_keys(svc, &t, t.chunk, n, now, &full);
        /* Their stories as the viewer sees them: one layer call per CH_ITEMS_HYDRATE_MAX. */
        for (size_t at = from_k; err == CH_OK && at < t.nkeys; at = t.nh) {
            size_t m = t.nkeys - at < CH_ITEMS_HYDRATE_MAX ? t.nkeys - at : CH_ITEMS_HYDRATE_MAX;
            err = ch_hydrate_items(svc, viewer, t.keys + at, m, 0, t.h + at, f); /* NULLs on an error */
            t.nh = at + m;
        }
        if (err == CH_OK)
            ch__classify(&t, from_e);
        if (err == CH_OK && t.ncand > 0 && ch__settled(&t, t.cand[0].bound))
            break;
    }
    if (err == CH_OK) {
        size_t keep = 0;
        for (size_t i = 0; i < t.ne; i++)
            if (t.e[i].shown)
                t.e[keep++] = t.e[i];
        qsort(t.e, keep, sizeof(*t.e), ch__tray_cmp);
        err = ch__tray_render(svc, viewer, t.e, keep < CH_STORY_TRAY_MAX ? keep : CH_STORY_TRAY_MAX, t.h, out, f);
    }
    ch__tray_clear(&t);
    return err;
}
