/* Stories: the tray, a user's active stories, views and the viewers list. A story lives
 * until its expires_at (posting time + CHORUS_STORY_TTL); every query here asks for
 * expires_at > now, so an expired story is gone from every read path at once, with no
 * sweeper to wait for. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "svc/common/page.h"
#include "svc/content/store.h"
#include "svc/content/story_active.h"
#include "svc/content/story_index.h"
#include "svc/graph/followees.h"
#include "svc/graph/visibility.h"

/* ---- tray -------------------------------------------------------------------------------- */

/* One tray entry being built. */
typedef struct {
    uint64_t author;
    size_t first, n;  /* its shown stories: h[first .. first + n) */
    uint64_t latest;  /* id of its newest shown story */
    int unseen;
} ch__tray_entry_t;

/* Unseen first, then the newest story first. */
static int ch__tray_cmp(const void *a, const void *b)
{
    const ch__tray_entry_t *x = a, *y = b;
    if (x->unseen != y->unseen)
        return x->unseen ? -1 : 1;
    return x->latest > y->latest ? -1 : x->latest < y->latest;
}

/* Renders the entries e[0..n) into *out: {"items":[{"user","stories","has_unseen"}]}. */
static ch_err_t ch__tray_render(ch_svc_t *svc, uint64_t viewer, const ch__tray_entry_t *e, size_t n,
                                const ch_hydrated_t *h, char **out, ch_fault_t *f)
{
    uint64_t authors[CH_STORY_TRAY_MAX] = {0};
    ch_hydrated_user_t users[CH_STORY_TRAY_MAX];
    for (size_t i = 0; i < n; i++)
        authors[i] = e[i].author;
    ch_err_t err = ch_hydrate_users(svc, viewer, authors, n, users, f);
    if (err)
        return err;
    /* One allocation for the whole answer: its exact size is known from the texts. */
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

/* Newest story first: which authors' stories are hydrated when there are more than fit. */
static int ch__span_cmp(const void *a, const void *b)
{
    const ch__tray_entry_t *x = a, *y = b;
    return x->latest > y->latest ? -1 : x->latest < y->latest;
}

ch_err_t ch_stories_tray(ch_svc_t *svc, uint64_t viewer, char **out, ch_fault_t *f)
{
    int64_t now = ch_now_ms();
    /* The viewer's followees considered, most recently followed first: cached, forgotten
     * at every change of the viewer's edges (svc/graph/followees.h). */
    uint64_t *followees = NULL;
    size_t nf = 0;
    ch_err_t err = ch_graph_followees_recent(svc, viewer, CH_STORY_TRAY_FOLLOWEES_MAX, &followees, &nf);
    if (err)
        return err;
    /* Embedded mode: only those who may have a live story (story_active.h), one probe of an
     * in-process table each. Else (cluster: stories posted on other nodes; the table over its
     * bound) every followee's entry is read, from the L1 or Redis. */
    size_t active = 0;
    if (ch_story_active_filter(svc, followees, nf, now, &active))
        nf = active;
    /* Their active-story index entries, in one batch. */
    ch_author_index_t idx;
    err = ch__story_index(svc, followees, nf, now, &idx);
    /* Authors with a live story, newest story first; their stories are hydrated up to
     * CH_STORY_TRAY_SCAN_MAX (the authors whose latest story is oldest are left out past it). */
    ch__tray_entry_t *e = ch_malloc((nf ? nf : 1) * sizeof(*e));
    size_t ne = 0, nkeys = 0;
    for (size_t i = 0; err == CH_OK && i < nf; i++)
        if (idx.span[i].n > 0)
            e[ne++] = (ch__tray_entry_t){followees[i], idx.span[i].first, idx.span[i].n,
                                         idx.ents[idx.span[i].first + idx.span[i].n - 1].id, 0};
    qsort(e, ne, sizeof(*e), ch__span_cmp);
    ch_item_key_t *keys = ch_malloc(CH_STORY_TRAY_SCAN_MAX * sizeof(*keys));
    size_t kept = 0;
    for (size_t i = 0; i < ne && nkeys + e[i].n <= CH_STORY_TRAY_SCAN_MAX; i++, kept++) {
        size_t from = e[i].first;
        e[i].first = nkeys;
        for (size_t k = 0; k < e[i].n; k++)
            keys[nkeys++] = (ch_item_key_t){CH_TARGET_STORY, idx.ents[from + k].id};
    }
    ne = kept;
    ch_author_index_clear(&idx);
    free(followees);
    /* The stories as the viewer sees them: one layer call per CH_ITEMS_HYDRATE_MAX. */
    ch_hydrated_t *h = ch_calloc(nkeys ? nkeys : 1, sizeof(*h));
    for (size_t at = 0; err == CH_OK && at < nkeys; at += CH_ITEMS_HYDRATE_MAX)
        err = ch_hydrate_items(svc, viewer, keys + at, nkeys - at < CH_ITEMS_HYDRATE_MAX ? nkeys - at
                                                                                       : CH_ITEMS_HYDRATE_MAX,
                               0, h + at, f);
    /* Per author: the shown stories (packed to the front of its span), unless muted. */
    size_t keep = 0;
    for (size_t i = 0; err == CH_OK && i < ne; i++) {
        ch__tray_entry_t t = e[i];
        size_t shown = 0;
        int muted = 0;
        t.unseen = 0;
        for (size_t k = 0; k < e[i].n; k++) {
            ch_hydrated_t *s = &h[e[i].first + k];
            if (!s->json)
                continue;
            muted |= s->facts.muted;
            t.unseen |= !s->facts.seen;
            t.latest = keys[e[i].first + k].id;
            if (k != shown) {
                h[e[i].first + shown] = *s;
                memset(s, 0, sizeof(*s));
            }
            shown++;
        }
        t.n = shown;
        if (shown > 0 && !muted)
            e[keep++] = t;
    }
    if (err == CH_OK) {
        qsort(e, keep, sizeof(*e), ch__tray_cmp);
        err = ch__tray_render(svc, viewer, e, keep < CH_STORY_TRAY_MAX ? keep : CH_STORY_TRAY_MAX, h, out, f);
    }
    ch_hydrated_free(h, nkeys);
    free(h);
    free(keys);
    free(e);
    return err;
}

/* ---- a user's stories -------------------------------------------------------------------- */

ch_err_t ch_stories_of_user(ch_svc_t *svc, uint64_t viewer, uint64_t author, int limit, uint64_t after, char **out,
                            ch_fault_t *f)
{
    ch_err_t err = ch_page_check_author(svc, viewer, author, NULL, f);
    if (err)
        return err;
    /* From the author's active-story index: the page's ids without a statement when warm. */
    ch_author_index_t idx;
    if ((err = ch__story_index(svc, &author, 1, ch_now_ms(), &idx)) != CH_OK) {
        ch_author_index_clear(&idx);
        return err;
    }
    ch_item_key_t keys[CH_STORY_INDEX_PER_AUTHOR];
    size_t n = 0, more = 0;
    for (size_t k = 0; k < idx.span[0].n; k++) {
        uint64_t id = idx.ents[idx.span[0].first + k].id;
        if (id <= after)
            continue;
        if (n == (size_t)limit) {
            more = 1;
            break;
        }
        keys[n++] = (ch_item_key_t){CH_TARGET_STORY, id};
    }
    ch_author_index_clear(&idx);
    return ch_page_items(svc, viewer, keys, n, 0, more && n ? keys[n - 1].id : 0, out, f);
}

/* Parses a viewers cursor "<viewed_at>_<viewer_id>" (decimal digits only); 0 when it is
 * not one this API returned. */
static int ch__viewers_cursor_parse(const char *s, int64_t *at, uint64_t *who)
{
    const char *sep = strchr(s, '_');
    if (!sep || sep == s || sep - s > 18)
        return 0;
    char head[20];
    memcpy(head, s, (size_t)(sep - s));
    head[sep - s] = '\0';
    int64_t a = 0;
    for (const char *c = head; *c; c++) {
        if (*c < '0' || *c > '9')
            return 0;
        a = a * 10 + (*c - '0');
    }
    uint64_t w = ch_id_parse(sep + 1);
    if (!w || w > INT64_MAX)
        return 0;
    *at = a;
    *who = w;
    return 1;
}

ch_err_t ch_stories_viewers(ch_svc_t *svc, uint64_t viewer, uint64_t story_id, int limit, const char *cursor,
                            char **out, ch_fault_t *f)
{
    int64_t at = INT64_MAX;
    uint64_t who = 0;
    if (cursor && !ch__viewers_cursor_parse(cursor, &at, &who))
        return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned");
    /* The story as the viewer sees it, through the layer: 404 unless shown, 403 unless theirs. */
    ch_item_key_t key = {CH_TARGET_STORY, story_id};
    ch_hydrated_t h;
    if (story_id == 0 || story_id > INT64_MAX)
        return ch__content_not_found(CH_ITEM_STORY, f);
    ch_err_t err = ch_hydrate_items(svc, viewer, &key, 1, CH_HYDRATE_FACTS_ONLY, &h, f);
    if (err)
        return err;
    if (h.facts.author_id == 0)
        return ch__content_not_found(CH_ITEM_STORY, f);
    if (h.facts.author_id != viewer)
        return ch_fault(f, CH_EFORBIDDEN, NULL, "only the story's author may see its viewers");
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(story_id), CH_DB_P_INT(at), CH_DB_P_INT(who), CH_DB_P_INT(limit + 1),
                         CH_DB_P_INT(viewer)};
    /* Users on either side of a block since they watched are not shown (here, so that the
     * page is full, and by the layer). */
    err = ch_sql_run(svc,
                     "SELECT sv.viewer_id, sv.viewed_at FROM story_views sv"
                     " WHERE sv.story_id = $1 AND (sv.viewed_at < $2 OR (sv.viewed_at = $2 AND sv.viewer_id < $3))"
                     " AND" CH_GRAPH_SQL_NO_BLOCK("$5", "sv.viewer_id")
                     " ORDER BY sv.viewed_at DESC, sv.viewer_id DESC LIMIT $4",
                     p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows), shown = n > (size_t)limit ? (size_t)limit : n;
    uint64_t ids[CH_PAGE_LIMIT_MAX];
    ch_hydrated_user_t u[CH_PAGE_LIMIT_MAX];
    for (size_t r = 0; r < shown; r++)
        ids[r] = (uint64_t)ch_db_rows_int(rows, r, 0);
    if ((err = ch_hydrate_users(svc, viewer, ids, shown, u, f)) != CH_OK) {
        ch_db_rows_free(rows);
        return err;
    }
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "{\"items\":[", 10);
    int first = 1;
    for (size_t r = 0; r < shown; r++) {
        if (!u[r].json)
            continue;
        ch_buf_append(&b, first ? "{\"user\":" : ",{\"user\":", first ? 8 : 9);
        first = 0;
        ch_buf_append(&b, u[r].json, u[r].len);
        ch_buf_append(&b, ",\"viewed_at\":", 13);
        ch_page_time(&b, ch_db_rows_int(rows, r, 1));
        ch_buf_append(&b, "}", 1);
    }
    ch_buf_append(&b, "],\"next_cursor\":", 16);
    if (n > shown)
        ch_buf_printf(&b, "\"%" PRId64 "_%" PRId64 "\"}", ch_db_rows_int(rows, shown - 1, 1),
                      ch_db_rows_int(rows, shown - 1, 0));
    else
        ch_buf_append(&b, "null}", 5);
    ch_hydrated_users_free(u, shown);
    ch_db_rows_free(rows);
    *out = b.data;
    return CH_OK;
}
