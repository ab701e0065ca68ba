/* One page of a ranked snapshot, written as JSON text (rank_page.h): no JSON tree is built
 * for the page; items come as text from hydration and are spliced in. */
#include "svc/feed/rank_page.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "svc/common/hydrate.h"
#include "svc/feed/rank.h"
#include "svc/feed/rank_model.h"
#include "svc/feed/rank_signals.h"
#include "svc/feed/seen.h"
#include "svc/feed/touch_queue.h"

/* Entries hydrated per step of a page beyond what it still needs (items hidden since the
 * ranking are skipped without another round trip, most of the time), when the stores may be
 * remote; a page served on the loop (every store in-process) takes none: another step costs
 * no round trip there, and the slack's items were hydrated, spliced and thrown away (a third
 * of a warm home page's instructions). */
#define CH__PAGE_SLACK 10
/* Bytes an item's frame adds to its text at most, tag aside ({"item":…,"reason":"…","via":[]}
 * and a tag's key; the tag itself and explain's numbers are appended on top, rarely). */
#define CH__ITEM_FRAME (64 + CH_FEED_TAG_MAX)
/* What explain adds to an item: its score and features. */
#define CH__ITEM_EXPLAIN (64 + CH_FEED_F_COUNT * 48)
/* Followees named by one page's items at most (CH_FEED_VIA_MAX per item). */
#define CH__VIA_MAX (CH_FEED_VIA_MAX * CH_FEED_PAGE_MAX)

/* ---- hydration ------------------------------------------------------------------------------ */

/* keys[0..n) as viewer sees them into out[0..n) (zeroed by the layer; ch_hydrated_free):
 * from the hydration cache, the misses from the database (svc/common/hydrate.h). */
static ch_err_t ch__hydrate(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n, ch_hydrated_t *out,
                            ch_fault_t *f)
{
    return ch_hydrate_items(svc, viewer, keys, n, 0, out, f);
}

/* ---- text ------------------------------------------------------------------------------------ */

/* Appends v as JSON (a string, a number), or null when it cannot be written. Takes v. */
static void ch__append_json(ch_buf_t *b, json_t *v)
{
    char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (t)
        ch_buf_append(b, t, strlen(t));
    else
        ch_buf_append(b, "null", 4);
    free(t);
    json_decref(v);
}

/* Appends one feed item: {"item":<text>,"reason":...,"via"?,"tag"?,"rank_score"?,"features"?}. */
static void ch__append_item(ch_buf_t *b, const ch_feed_snap_t *s, const ch_feed_snap_entry_t *e, const ch_hydrated_t *h,
                            const uint64_t *via_ids, const ch_hydrated_user_t *via, size_t nvia, int explain)
{
    ch_buf_append(b, "{\"item\":", 8);
    ch_buf_append(b, h->json, h->len);
    /* ,"reason":"<name>" in one piece (a page of 20 items made seven appends each) */
    char frame[64];
    const char *reason = ch_feed_reason_name(e->cand.reason);
    size_t rl = strlen(reason);
    memcpy(frame, ",\"reason\":\"", 11);
    memcpy(frame + 11, reason, rl); /* the longest name is 18 bytes */
    frame[11 + rl] = '"';
    ch_buf_append(b, frame, 12 + rl);
    if (e->cand.reason == CH_FEED_REASON_LIKED_BY_FOLLOWING) {
        ch_buf_append(b, ",\"via\":[", 8);
        int first = 1;
        for (int v = 0; v < CH_FEED_VIA_MAX && e->cand.via[v]; v++)
            for (size_t k = 0; k < nvia; k++)
                if (via_ids[k] == e->cand.via[v]) {
                    if (via[k].json) {
                        if (!first)
                            ch_buf_append(b, ",", 1);
                        ch_buf_append(b, via[k].json, via[k].len);
                        first = 0;
                    }
                    break;
                }
        ch_buf_append(b, "]", 1);
    }
    if ((e->cand.reason == CH_FEED_REASON_TRENDING_HASHTAG || e->cand.reason == CH_FEED_REASON_INTEREST) &&
        e->cand.tag[0]) {
        ch_buf_append(b, ",\"tag\":", 7);
        ch__append_json(b, json_string(e->cand.tag));
    }
    if (explain) {
        ch_buf_append(b, ",\"rank_score\":", 14);
        ch__append_json(b, json_real(e->score));
        if (s->has_features) {
            ch_buf_append(b, ",\"features\":{", 13);
            for (int k = 0; k < CH_FEED_F_COUNT; k++) {
                ch_buf_printf(b, "%s\"%s\":", k ? "," : "", ch_feed_feature_name((ch_feed_feature_t)k));
                ch__append_json(b, json_real(e->features[k]));
            }
            ch_buf_append(b, "}", 1);
        }
    }
    ch_buf_append(b, "}", 1);
}

/* ---- the page -------------------------------------------------------------------------------- */

static int ch__key_in(const ch_item_key_t *keys, size_t n, ch_item_key_t key)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i].type == key.type && keys[i].id == key.id)
            return 1;
    return 0;
}

ch_err_t ch_feed_page_serve(ch_svc_t *svc, uint64_t viewer, ch_feed_snap_t *s, size_t offset, int limit,
                            int explain, int quick, const ch_feed_feedback_t *fb, char **out, int *need_all,
                            ch_fault_t *f)
{
    size_t slack = quick ? 0 : CH__PAGE_SLACK, cap = (size_t)limit + CH__PAGE_SLACK;
    ch_item_key_t *keys = ch_malloc(sizeof(*keys) * cap), *served = ch_malloc(sizeof(*served) * (size_t)limit);
    ch_hydrated_t *h = ch_calloc(cap, sizeof(*h)), *shown_h = ch_calloc((size_t)limit, sizeof(*h));
    uint64_t *authors = ch_malloc(sizeof(uint64_t) * cap);
    int *muted = ch_calloc(cap, sizeof(int));
    size_t *shown = ch_malloc(sizeof(size_t) * (size_t)limit), nshown = 0, pos = offset, scanned = 0;
    ch_err_t err = CH_OK;
    *out = NULL;
    *need_all = 0;
    while (err == CH_OK && nshown < (size_t)limit && (pos < s->n || s->rest) && scanned < CH_FEED_PAGE_SCAN_MAX) {
        size_t w = (size_t)limit - nshown + slack;
        if (pos + w > s->n && s->rest) /* a head: its entries parsed as the page needs them */
            (void)ch_feed_snap_more(s, pos + w - s->n);
        if (pos >= s->n)
            break;
        if (w > s->n - pos)
            w = s->n - pos;
        if (w > CH_FEED_PAGE_SCAN_MAX - scanned)
            w = CH_FEED_PAGE_SCAN_MAX - scanned;
        for (size_t i = 0; i < w; i++) {
            keys[i] = s->entries[pos + i].cand.key;
            authors[i] = s->entries[pos + i].cand.author_id;
        }
        err = ch__hydrate(svc, viewer, keys, w, h, f);
        if (err == CH_OK && fb)
            err = ch_feed_muted_many(svc, viewer, authors, w, muted);
        size_t i = 0;
        for (; err == CH_OK && i < w; i++) {
            if (nshown == (size_t)limit)
                break; /* the page is full: this entry starts the next one */
            if (!h[i].json || muted[i] || h[i].facts.muted || (fb && ch__key_in(fb->hidden, fb->n_hidden, keys[i])))
                continue; /* gone, hidden or not for this viewer any more: skipped where it was */
            shown[nshown] = pos + i;
            served[nshown] = keys[i];
            shown_h[nshown++] = h[i];
            memset(&h[i], 0, sizeof(h[i]));
        }
        ch_hydrated_free(h, w);
        pos += i;
        scanned += i;
    }
    if (err == CH_OK && nshown < (size_t)limit && pos >= s->n && pos < s->total && scanned < CH_FEED_PAGE_SCAN_MAX)
        *need_all = 1; /* a head that ran out: the caller serves the whole snapshot */
    uint64_t via_ids[CH__VIA_MAX];
    ch_hydrated_user_t via[CH__VIA_MAX];
    size_t nvia = 0;
    if (err == CH_OK && !*need_all) {
        for (size_t k = 0; k < nshown; k++) {
            const ch_feed_cand_t *c = &s->entries[shown[k]].cand;
            for (int v = 0; c->reason == CH_FEED_REASON_LIKED_BY_FOLLOWING && v < CH_FEED_VIA_MAX && c->via[v]; v++)
                if (nvia < CH__VIA_MAX)
                    via_ids[nvia++] = c->via[v];
        }
        err = nvia ? ch_hydrate_users(svc, viewer, via_ids, nvia, via, f) : CH_OK;
        if (err)
            nvia = 0;
    }
    if (err == CH_OK && !*need_all) {
        ch_buf_t b = CH_BUF_INIT;
        /* the page's size up front: one allocation, not a realloc and copy per doubling */
        size_t need = 96;
        for (size_t k = 0; k < nshown; k++)
            need += shown_h[k].len + CH__ITEM_FRAME + (explain ? CH__ITEM_EXPLAIN : 0);
        for (size_t k = 0; k < nvia; k++)
            need += via[k].len + 1;
        ch_buf_reserve(&b, need);
        ch_buf_append(&b, "{\"items\":[", 10);
        for (size_t k = 0; k < nshown; k++) {
            if (k)
                ch_buf_append(&b, ",", 1);
            ch__append_item(&b, s, &s->entries[shown[k]], &shown_h[k], via_ids, via, nvia, explain);
        }
        ch_buf_append(&b, "],\"next_cursor\":", 16);
        if (s->gen && pos < s->total) {
            char cursor[48];
            ch_feed_cursor_format(s->gen, pos, cursor, sizeof(cursor));
            ch_buf_append(&b, "\"", 1);
            ch_buf_append(&b, cursor, strlen(cursor));
            ch_buf_append(&b, "\"", 1);
        } else {
            ch_buf_append(&b, "null", 4);
        }
        if (explain) {
            const ch_feed_model_t *m = ch_feed_model_acquire();
            ch_buf_append(&b, ",\"model\":", 9);
            ch__append_json(&b, json_string(m->source));
            ch_feed_model_release(m);
        }
        ch_buf_append(&b, "}", 1);
        *out = b.data;
        /* on the loop (either backend set): the seen set is updated by the feed's thread
         * (touch_queue.h), a best-effort signal, not on the request (its read, merge and
         * rewrite were 3 % of a warm embedded home page) */
        if (quick)
            (void)ch_feed_seen_later(svc, viewer, served, nshown);
        else if (ch_feed_seen_add(svc, viewer, served, nshown) != CH_OK)
            ch_log_warn("feed: seen set not updated");
    }
    ch_hydrated_users_free(via, nvia);
    ch_hydrated_free(shown_h, nshown);
    free(keys);
    free(served);
    free(h);
    free(shown_h);
    free(authors);
    free(muted);
    free(shown);
    return err;
}
