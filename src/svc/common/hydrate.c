/* The hydration layer's items (svc/common/hydrate.h): three rounds of facts — the records of
 * the keys, the records of the items the comments are on, then authors, relations and the
 * viewer's own state in one batch — then visibility per viewer and the splice. Whatever the
 * number of keys: three cache round trips (per CH_HCACHE_BATCH_MAX keys) and, for the misses,
 * one statement per kind of fact (and per group of types sharing a table, per
 * CH_ITEMS_IN_MAX ids). */
#include "svc/common/hydrate.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/hydrate_fetch.h"
#include "svc/common/hydrate_visible.h"

/* The index of key among keys[0..n), or -1. */
static long ch__find_key(const ch_item_key_t *keys, size_t n, ch_item_key_t key)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i].id == key.id && keys[i].type == key.type)
            return (long)i;
    return -1;
}

static long ch__find_id(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return (long)i;
    return -1;
}

/* Adds id to ids[0..*n) unless there; returns its index. */
static size_t ch__add_id(uint64_t *ids, size_t *n, uint64_t id)
{
    long at = ch__find_id(ids, *n, id);
    if (at >= 0)
        return (size_t)at;
    ids[*n] = id;
    return (*n)++;
}

/* The item's text: "{" body ',"author":' summary ',"my_reaction":' kind [',"seen":' bool] "}"
 * (a listing's author is its "seller"); a placeholder's body holds its "author": null, and it
 * has no reaction of the viewer. */
static char *ch__splice(const ch_item_record_t *rec, const char *author_member, const ch_huser_t *author,
                        const ch_hviewer_t *state, int story, int seen, size_t *len)
{
    ch_buf_t b = CH_BUF_INIT;
    /* One allocation of the right size and plain appends: this runs for every item shown
     * (printf and step-by-step growth were a fifth of a warm feed page's instructions). */
    size_t kind_len = !rec->placeholder && state && state->kind[0] ? strlen(state->kind) : 0;
    ch_buf_reserve(&b, rec->body_len + (rec->placeholder ? 0 : author->summary_len) + kind_len + 48);
    ch_buf_append(&b, "{", 1);
    ch_buf_append(&b, rec->body, rec->body_len);
    const char *sep = rec->body_len ? "," : "";
    size_t sep_len = rec->body_len ? 1 : 0;
    if (!rec->placeholder) {
        ch_buf_append(&b, sep, sep_len);
        ch_buf_append(&b, "\"", 1);
        ch_buf_append(&b, author_member, strlen(author_member));
        ch_buf_append(&b, "\":", 2);
        ch_buf_append(&b, author->summary, author->summary_len);
        sep = ",";
        sep_len = 1;
    }
    ch_buf_append(&b, sep, sep_len);
    if (kind_len) {
        ch_buf_append(&b, "\"my_reaction\":\"", 15);
        ch_buf_append(&b, state->kind, kind_len);
        ch_buf_append(&b, "\"", 1);
    } else {
        ch_buf_append(&b, "\"my_reaction\":null", 18);
    }
    if (story) {
        if (seen)
            ch_buf_append(&b, ",\"seen\":true", 12);
        else
            ch_buf_append(&b, ",\"seen\":false", 13);
    }
    ch_buf_append(&b, "}", 1);
    *len = b.len;
    return b.data; /* the buffer's text, now the caller's */
}

ch_err_t ch_hydrate_items(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n, unsigned flags,
                          ch_hydrated_t *out, ch_fault_t *f)
{
    if (n > CH_ITEMS_HYDRATE_MAX)
        return ch_fault(f, CH_EINVAL, NULL, "at most %d items at once", CH_ITEMS_HYDRATE_MAX);
    if (n == 0)
        return CH_OK;
    memset(out, 0, n * sizeof(*out));
    /* 1. the distinct loadable keys, then (2.) the items their comments are on after them */
    ch_item_key_t *ukeys = ch_malloc(sizeof(ch_item_key_t) * 2 * n);
    ch_item_record_t *recs = ch_malloc(sizeof(ch_item_record_t) * 2 * n); /* [0, nall) zeroed by the reads */
    /* per key: its record; per record (2n): the record it is on, the viewer-state fact, its
     * author's place among users[] and others[] (found once here, not per item shown) */
    long *slot = ch_malloc(sizeof(long) * 9 * n), *pslot = slot + n, *vslot = slot + 3 * n;
    long *uslot = slot + 5 * n, *rslot = slot + 7 * n;
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        slot[i] = -1;
        if (!ch__hydrate_loadable(&keys[i]))
            continue;
        slot[i] = ch__find_key(ukeys, nu, keys[i]);
        if (slot[i] < 0) {
            ukeys[nu] = keys[i];
            slot[i] = (long)nu++;
        }
    }
    size_t nall = nu;
    uint64_t *users = NULL, *others = NULL;
    ch_item_key_t *vkeys = NULL;
    ch_huser_t *uf = NULL;
    unsigned *rf = NULL;
    ch_hviewer_t *vf = NULL;
    size_t nusers = 0, nothers = 0, nv = 0;
    ch_err_t err = ch__hydrate_records(svc, ukeys, nu, recs, f);
    if (err)
        goto out;
    for (size_t j = 0; j < nu; j++) {
        pslot[j] = -1;
        const ch_item_key_t *pk = &recs[j].parent;
        if (!recs[j].found || pk->type == CH_ITEM_NO_PARENT || !ch__hydrate_loadable(pk))
            continue;
        pslot[j] = ch__find_key(ukeys, nall, *pk);
        if (pslot[j] < 0) {
            ukeys[nall] = *pk;
            pslot[j] = (long)nall++;
        }
    }
    if (nall > nu && (err = ch__hydrate_records(svc, ukeys + nu, nall - nu, recs + nu, f)) != CH_OK)
        goto out;
    /* 3. authors (of the items and of the items commented on), the viewer's relations with
     * them, the viewer's state on the items asked: one batch */
    users = ch_malloc(sizeof(uint64_t) * nall);
    others = ch_malloc(sizeof(uint64_t) * nall);
    vkeys = ch_malloc(sizeof(ch_item_key_t) * nu);
    for (size_t j = 0; j < nall; j++) {
        uslot[j] = rslot[j] = -1;
        if (!recs[j].found)
            continue;
        uslot[j] = (long)ch__add_id(users, &nusers, recs[j].author_id);
        if (viewer && recs[j].author_id != viewer)
            rslot[j] = (long)ch__add_id(others, &nothers, recs[j].author_id);
    }
    for (size_t j = 0; j < nu; j++) {
        vslot[j] = -1;
        /* facts only: the reaction is not shown, only a story's seen is a fact */
        if (!viewer || !recs[j].found || ((flags & CH_HYDRATE_FACTS_ONLY) && ukeys[j].type != CH_TARGET_STORY))
            continue;
        vslot[j] = (long)nv;
        vkeys[nv++] = ukeys[j];
    }
    /* zeroed by ch__hydrate_facts */
    uf = ch_malloc(sizeof(ch_huser_t) * (nusers ? nusers : 1));
    rf = ch_malloc(sizeof(unsigned) * (nothers ? nothers : 1));
    vf = ch_malloc(sizeof(ch_hviewer_t) * (nv ? nv : 1));
    ch__hfacts_t q = {.viewer = viewer, .users = users, .nusers = nusers, .user_out = uf, .others = others,
                      .nothers = nothers, .rel_out = rf, .items = vkeys, .nitems = nv, .viewer_out = vf};
    if ((err = ch__hydrate_facts(svc, &q, f)) != CH_OK)
        goto out;
    /* 4. visibility, 5. the splice */
    int64_t now = ch_now_ms();
    for (size_t i = 0; i < n; i++) {
        if (slot[i] < 0)
            continue;
        size_t j = (size_t)slot[i];
        const ch_item_record_t *rec = &recs[j];
        if (!rec->found)
            continue;
        long ua = uslot[j], ra = rslot[j];
        ch_hvis_t v = {.rec = rec, .author = ua >= 0 ? &uf[ua] : NULL, .rel = ra >= 0 ? rf[ra] : 0};
        if (pslot[j] >= 0) {
            const ch_item_record_t *parent = &recs[pslot[j]];
            long pu = uslot[pslot[j]], pr = rslot[pslot[j]];
            v.parent = parent->found ? parent : NULL;
            v.parent_author = pu >= 0 ? &uf[pu] : NULL;
            v.parent_rel = pr >= 0 ? rf[pr] : 0;
        }
        if (!ch_hydrate_visible(viewer, now, flags, &v))
            continue;
        const ch_hviewer_t *state = vslot[j] >= 0 ? &vf[vslot[j]] : NULL;
        int story = keys[i].type == CH_TARGET_STORY;
        int seen = story && ((state && state->seen) || rec->author_id == viewer);
        out[i].facts = (ch_item_facts_t){.author_id = rec->author_id, .created_at_ms = rec->created_at_ms,
                                         .reactions = rec->reactions, .comments = rec->comments,
                                         .views = rec->views, .followers_only = rec->followers_only,
                                         .seen = seen, .muted = (v.rel & CH_HREL_MUTING) != 0};
        if (!(flags & CH_HYDRATE_FACTS_ONLY))
            out[i].json = ch__splice(rec, keys[i].type == CH_TARGET_LISTING ? "seller" : "author", v.author, state,
                                     story, seen, &out[i].len);
    }
out:
    if (err != CH_OK)
        ch_hydrated_free(out, n);
    ch__hydrate_records_free(recs, nall);
    for (size_t i = 0; uf && i < nusers; i++)
        ch_huser_clear(&uf[i]);
    free(uf);
    free(rf);
    free(vf);
    free(users);
    free(others);
    free(vkeys);
    free(ukeys);
    free(recs);
    free(slot);
    return err;
}

void ch_hydrated_free(ch_hydrated_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(h[i].json);
    if (n)
        memset(h, 0, n * sizeof(*h));
}
