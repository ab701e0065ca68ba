/* "top" comments: ranked by engagement with a time decay, paged over a frozen ordering.
 *
 * Score of a top-level comment at the moment T the ranking is made:
 *     score = (1 + 3 * replies + reactions) / (age_hours(T) + 2)
 * replies = its live replies, reactions = its reactions_total. A reply weighs three
 * reactions; the decay (gravity 1, two hours of head start) lets a fresh comment compete
 * with an old one that has a few more reactions. Ties: newest first.
 *
 * Scores move while a client pages (reactions, replies, time itself), so a keyset on the
 * score could repeat or skip comments. The ordering is therefore frozen in a snapshot: up to
 * CH_COMMENTS_TOP_RANKED_MAX comment ids kept in the kv store. Snapshots are shared by every
 * viewer of an item and bounded per item:
 *   - "cmt:top:<type>:<id>" names the item's current snapshot (its generation, a fresh id)
 *     for CH_COMMENTS_TOP_SHARE_MS; a first page within that time reuses it, a later one (or
 *     one after a comment was written or deleted on the item, which drops the name) ranks
 *     again into a new generation;
 *   - the snapshot itself lives in slot "cmt:top:<type>:<id>:<gen % CH_COMMENTS_TOP_SLOTS>"
 *     for CH_COMMENTS_TOP_TTL_MS, slots taken round robin (counter "cmt:top:<type>:<id>:n"),
 *     so an item never has more than CH_COMMENTS_TOP_SLOTS snapshots however often it is
 *     read: a cursor names its generation, and a slot taken by a later generation answers
 *     422 on cursor (the client starts again).
 * The ranking leaves nobody out for a viewer (no per-viewer state); what the viewer may not
 * see (comments of users blocked either way) is filtered by the hydration layer when a page
 * is read: a page looks at up to CH_ITEMS_IN_MAX ranked ids and shows the first `limit`
 * visible ones, so it may
 * be shorter than limit, never repeats or skips one. Comments past the ranked ones (older
 * threads with more comments than that) follow newest first, by keyset on the id, leaving
 * out the ranked ones and any posted after T. A comment deleted during the walk is skipped
 * where it was.
 *
 * Cursor: "<gen>.<offset>" in the ranked part, "<gen>.r<id>" after it. A walk that fits
 * one page (for everyone: the ranked count, not the visible one) writes nothing to the kv store.
 *
 * The item's current ranking is also a hydration-cache fact (comments_top_fact.c), put by the
 * worker that ranked or read the kv snapshot: while it is shared, first pages and the cursor
 * pages of its generation are read from it, in cluster mode on the event loop from the L1;
 * everything else needs the kv store or a statement and runs on a worker. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/loop_guard.h"
#include "svc/common/kv_local.h"
#include "svc/common/page.h"
#include "svc/engage/comments_row.h"
#include "svc/graph/visibility.h"
#include "store/kv.h"

#define CH__SNAPSHOT_HEAD_MAX 160

/* Ranks every listed top-level comment of the item at T ($3): no viewer (the snapshot is
 * shared); blocks are applied when a page is read. */
static const char ch__sql_rank[] =
    "SELECT c.id FROM comments c"
    " LEFT JOIN target_counters tc ON tc.target_type = 'comment' AND tc.target_id = c.id"
    " WHERE c.target_type = $1 AND c.target_id = $2 AND c.parent_id IS NULL AND c.created_at <= $3 AND"
    CH_COMMENT_LISTED
    " ORDER BY CAST(1 + 3 * c.replies_count"
    " + COALESCE(tc.r_like + tc.r_love + tc.r_haha + tc.r_wow + tc.r_sad + tc.r_angry, 0) AS DOUBLE PRECISION)"
    " / CAST($3 - c.created_at + 7200000 AS DOUBLE PRECISION) DESC, c.id DESC"
    " LIMIT $4";

static const char ch__sql_rest[] =
    "SELECT c.id FROM comments c"
    " WHERE c.target_type = $1 AND c.target_id = $2 AND c.parent_id IS NULL AND c.created_at <= $3 AND c.id < $4 AND"
    CH_COMMENT_LISTED " ORDER BY c.id DESC LIMIT $5";

static ch_err_t ch__bad_cursor(ch_fault_t *f)
{
    return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned, or it expired: start again");
}

/* The item's current-generation key. */
static void ch__cur_key(ch_target_type_t type, uint64_t id, char *key, size_t len)
{
    snprintf(key, len, "cmt:top:%s:%" PRIu64, ch_target_type_name(type), id);
}

/* Generation ids are unique ids (ch_id_next) whose low bits name the slot: slots go round
 * robin by a per-item counter, so the last CH_COMMENTS_TOP_SLOTS generations are all kept
 * (id low bits are a per-millisecond sequence, mostly 0: they would not spread). Two
 * generations of one slot differ unless the counter went round within one millisecond. */
static ch_err_t ch__new_gen(ch_svc_t *svc, const ch_target_t *item, uint64_t *gen)
{
    char key[96];
    int64_t n = 0;
    snprintf(key, sizeof(key), "cmt:top:%s:%" PRIu64 ":n", ch_target_type_name(item->type), item->id);
    ch_err_t err = ch_kvl_incr(svc, key, CH_COMMENTS_TOP_TTL_MS, &n, NULL);
    *gen = (ch_id_next() & ~(uint64_t)(CH_COMMENTS_TOP_SLOTS - 1)) | ((uint64_t)n % CH_COMMENTS_TOP_SLOTS);
    return err;
}

/* The slot key of generation gen of the item. */
static void ch__slot_key(ch_target_type_t type, uint64_t id, uint64_t gen, char *key, size_t len)
{
    snprintf(key, len, "cmt:top:%s:%" PRIu64 ":%" PRIu64, ch_target_type_name(type), id,
             gen % CH_COMMENTS_TOP_SLOTS);
}

/* Drops the item's name (best effort: it expires on its own within the share time). */
static void ch__drop_name(ch_svc_t *svc, ch_target_type_t type, uint64_t id)
{
    char key[96];
    ch__cur_key(type, id, key, sizeof(key));
    ch_kvl_del(svc, key);
}

/* After-commit callbacks, one per target type (ch_db_after_commit passes one id). */
#define XX(name, type, segment) \
    static void ch__drop_name_##name(void *svc, uint64_t id) { ch__drop_name(svc, CH_TARGET_##name, id); }
CH_TARGET_MAP(XX)
#undef XX
static void (*const ch__drop_name_after[])(void *, uint64_t) = {
#define XX(name, type, segment) [CH_TARGET_##name] = ch__drop_name_##name,
    CH_TARGET_MAP(XX)
#undef XX
};

void ch__comments_top_forget(ch_svc_t *svc, ch_target_type_t type, uint64_t id)
{
    ch__drop_name(svc, type, id);
    /* Inside an ambient transaction (an Idempotency-Key) the real commit comes later: a
     * reader between the two would rank without the write and name that ranking for the
     * share time, and the K: fact forgotten at the commit would be refilled from it. So the
     * name is dropped once more after the real commit (at once when there is none). */
    if ((size_t)type < sizeof(ch__drop_name_after) / sizeof(ch__drop_name_after[0]) && ch__drop_name_after[type] &&
        ch_db_ambient_active(svc->db))
        ch_db_after_commit(svc->db, ch__drop_name_after[type], svc, id);
}

/* Stores s in its slot and names it the item's current snapshot. */
static ch_err_t ch__save(ch_svc_t *svc, const ch__top_snapshot_t *s)
{
    size_t cap = CH__SNAPSHOT_HEAD_MAX + s->n * CH_ID_STR_LEN, len;
    char *val = ch_malloc(cap), key[96], gen[CH_ID_STR_LEN];
    len = (size_t)snprintf(val, cap, "%" PRIu64 ":%" PRId64 ":%d:", s->gen, s->at, s->capped);
    for (size_t i = 0; i < s->n; i++)
        len += (size_t)snprintf(val + len, cap - len, "%s%" PRIu64, i ? "," : "", s->ids[i]);
    ch__slot_key(s->type, s->target_id, s->gen, key, sizeof(key));
    ch_err_t err = ch_kvl_set(svc, key, val, len, CH_COMMENTS_TOP_TTL_MS);
    free(val);
    if (err == CH_OK) {
        ch__cur_key(s->type, s->target_id, key, sizeof(key));
        int n = snprintf(gen, sizeof(gen), "%" PRIu64, s->gen);
        err = ch_kvl_set(svc, key, gen, (size_t)n, CH_COMMENTS_TOP_SHARE_MS);
    }
    return err;
}

/* Parses an unsigned decimal at *p up to a non-digit; -1 when there is none or it overflows. */
static int ch__num(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return 0;
}

/* Loads generation gen of item's snapshot into s (s->ids owned). *found is 0 when it is gone
 * or its slot holds another generation. */
static ch_err_t ch__load(ch_svc_t *svc, uint64_t gen, const ch_target_t *item, ch__top_snapshot_t *s, int *found)
{
    char key[96], *val = NULL;
    size_t len = 0;
    memset(s, 0, sizeof(*s));
    *found = 0;
    ch__slot_key(item->type, item->id, gen, key, sizeof(key));
    ch_err_t err = ch_kvl_get(svc, key, &val, &len);
    if (err || !val)
        return err;
    const char *p = val;
    uint64_t have, at, capped;
    int ok = ch__num(&p, &have) == 0 && *p++ == ':' && ch__num(&p, &at) == 0 && *p++ == ':' &&
             ch__num(&p, &capped) == 0 && *p++ == ':' && have == gen;
    size_t n = 0;
    for (const char *q = p; ok && *q; q++)
        n += *q == ',';
    s->ids = ok ? ch_malloc(sizeof(uint64_t) * (n + 1)) : NULL;
    while (ok && s->ids && *p) {
        if (s->n == n + 1 || ch__num(&p, &s->ids[s->n]) != 0 || (*p && *p++ != ',')) {
            ok = 0;
            break;
        }
        s->n++;
    }
    free(val);
    if (!ok || !s->ids) {
        free(s->ids);
        s->ids = NULL;
        s->n = 0;
        return ok ? CH_EINTERNAL : CH_OK;
    }
    s->type = item->type;
    s->target_id = item->id;
    s->gen = gen;
    s->at = (int64_t)at;
    s->capped = capped != 0;
    *found = 1;
    return CH_OK;
}

/* Appends ',"next_cursor":' the cursor (gen 0: null) '}' to b. */
static void ch__close(ch_buf_t *b, uint64_t gen, int rest, uint64_t pos)
{
    static const char none[] = ",\"next_cursor\":null}";
    if (!gen)
        ch_buf_append(b, none, sizeof(none) - 1);
    else {
        static const char head[] = ",\"next_cursor\":\"";
        ch_buf_append(b, head, sizeof(head) - 1);
        ch_buf_append_u64(b, gen);
        ch_buf_append(b, rest ? ".r" : ".", rest ? 2 : 1);
        ch_buf_append_u64(b, pos);
        ch_buf_append(b, "\"}", 2);
    }
}

/* A page of ranked comments from s->ids[pos]: looks at up to CH_ITEMS_IN_MAX ids, shows the
 * first `limit` the viewer may see (the hydration layer decides), in order, appending
 * '{"items":[threads]' to b. *next gets the offset after the last id looked at that the page
 * accounts for (s->n at the end of the ranked part). */
static ch_err_t ch__ranked_page(ch_svc_t *svc, uint64_t viewer, const ch__top_snapshot_t *s, size_t pos, int limit,
                                ch_buf_t *b, size_t *next, ch_fault_t *f)
{
    size_t window = s->n - pos > CH_ITEMS_IN_MAX ? CH_ITEMS_IN_MAX : s->n - pos, used = window, nshown = 0;
    ch_item_key_t keys[CH_ITEMS_IN_MAX];
    ch_hydrated_t h[CH_ITEMS_IN_MAX], shown[CH_PAGE_LIMIT_MAX];
    uint64_t ids[CH_PAGE_LIMIT_MAX];
    for (size_t i = 0; i < window; i++)
        keys[i] = (ch_item_key_t){CH_TARGET_COMMENT, s->ids[pos + i]};
    ch_err_t err = CH_OK;
    /* Hydrated in chunks of what the page still lacks (+1: the first visible one after the
     * page, where the next one starts), not the whole window. */
    for (size_t done = 0; done < window && used == window;) {
        size_t need = (size_t)limit + 1 - nshown, chunk = window - done < need ? window - done : need;
        if ((err = ch_hydrate_items(svc, viewer, keys + done, chunk, CH_HYDRATE_PLACEHOLDERS, h + done, f)))
            break;
        for (size_t i = done; i < done + chunk; i++) {
            if (!h[i].json)
                continue; /* hidden from this viewer, or gone since T */
            if (nshown == (size_t)limit) {
                used = i;
                break;
            }
            ids[nshown] = keys[i].id;
            shown[nshown++] = h[i];
            memset(&h[i], 0, sizeof(h[i]));
        }
        ch_hydrated_free(h + done, chunk);
        done += chunk;
    }
    if (err) {
        ch_hydrated_free(shown, nshown);
        return err;
    }
    ch_buf_append(b, "{\"items\":", 9);
    err = ch__comments_threads_append(svc, viewer, shown, ids, nshown, b, f);
    ch_hydrated_free(shown, nshown);
    *next = pos + used;
    return err;
}

/* Closes a ranked page that ended at offset next: more ranked ones, or what follows them (the
 * rest when capped), or the end. */
static void ch__ranked_close(const ch__top_snapshot_t *s, ch_buf_t *b, size_t next)
{
    if (next < s->n)
        ch__close(b, s->gen, 0, next);
    else
        ch__close(b, s->capped ? s->gen : 0, 1, (uint64_t)INT64_MAX);
}

static int ch__cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The walk after the ranked part: comments not ranked, newest first, posted up to T. */
typedef struct {
    const ch__top_snapshot_t *s;
    const uint64_t *sorted; /* the ranked ids, sorted */
} ch__rest_ctx_t;

static ch_err_t ch__rest_ids(ch_svc_t *svc, void *ctx, uint64_t cursor, size_t want, ch_item_key_t *keys, size_t *n)
{
    const ch__rest_ctx_t *c = ctx;
    const ch__top_snapshot_t *s = c->s;
    /* At most s->n rows are left out, so want + s->n rows hold want unless the walk ends. */
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(s->type)), CH_DB_P_INT(s->target_id), CH_DB_P_INT(s->at),
                         CH_DB_P_INT(cursor && cursor <= INT64_MAX ? cursor : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(want + s->n)};
    ch_err_t err = ch_sql_run(svc, ch__sql_rest, p, CH_NPARAMS(p), &rows, NULL);
    *n = 0;
    for (size_t r = 0; err == CH_OK && r < ch_db_rows_count(rows) && *n < want; r++) {
        uint64_t id = (uint64_t)ch_db_rows_int(rows, r, 0);
        if (!bsearch(&id, c->sorted, s->n, sizeof(uint64_t), ch__cmp_id))
            keys[(*n)++] = (ch_item_key_t){CH_TARGET_COMMENT, id};
    }
    ch_db_rows_free(rows);
    return err;
}

/* A page after the ranked part, below `before`. */
static ch_err_t ch__rest_page(ch_svc_t *svc, uint64_t viewer, const ch__top_snapshot_t *s, int limit, uint64_t before,
                              ch_buf_t *b, ch_fault_t *f)
{
    uint64_t *sorted = ch_malloc(sizeof(uint64_t) * (s->n + 1));
    memcpy(sorted, s->ids, sizeof(uint64_t) * s->n);
    qsort(sorted, s->n, sizeof(uint64_t), ch__cmp_id);
    ch__rest_ctx_t ctx = {s, sorted};
    ch_page_t *pg = ch_malloc(sizeof(*pg)); /* ch_page_fill writes what is used */
    pg->n = 0;
    ch_err_t err = ch_page_fill(svc, viewer, CH_HYDRATE_PLACEHOLDERS, limit, SIZE_MAX, before, ch__rest_ids, &ctx,
                                pg, f);
    if (err == CH_OK) {
        ch_buf_append(b, "{\"items\":", 9);
        err = ch__comments_threads_append(svc, viewer, pg->h, pg->ids, pg->n, b, f);
        ch__close(b, pg->next ? s->gen : 0, 1, pg->next);
    }
    ch_hydrated_free(pg->h, pg->n);
    free(pg);
    free(sorted);
    return err;
}

/* Ranks the item's comments now into s (s->ids owned). */
static ch_err_t ch__rank(ch_svc_t *svc, const ch_target_t *item, ch__top_snapshot_t *s)
{
    memset(s, 0, sizeof(*s));
    s->type = item->type;
    s->target_id = item->id;
    s->at = ch_now_ms();
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(item->type)), CH_DB_P_INT(item->id), CH_DB_P_INT(s->at),
                         CH_DB_P_INT(CH_COMMENTS_TOP_RANKED_MAX + 1)};
    ch_err_t err = ch_sql_run(svc, ch__sql_rank, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    s->capped = n > CH_COMMENTS_TOP_RANKED_MAX;
    s->n = s->capped ? CH_COMMENTS_TOP_RANKED_MAX : n;
    s->ids = ch_malloc(sizeof(uint64_t) * (s->n + 1));
    for (size_t i = 0; s->ids && i < s->n; i++)
        s->ids[i] = (uint64_t)ch_db_rows_int(rows, i, 0);
    ch_db_rows_free(rows);
    return s->ids ? CH_OK : CH_EINTERNAL;
}

/* The item's current snapshot when there is one (*found). */
static ch_err_t ch__current(ch_svc_t *svc, const ch_target_t *item, ch__top_snapshot_t *s, int *found)
{
    char key[96], *val = NULL;
    *found = 0;
    memset(s, 0, sizeof(*s));
    ch__cur_key(item->type, item->id, key, sizeof(key));
    ch_err_t err = ch_kvl_get(svc, key, &val, NULL);
    if (err || !val)
        return err;
    const char *p = val;
    uint64_t gen;
    int ok = ch__num(&p, &gen) == 0 && *p == '\0';
    free(val);
    return ok ? ch__load(svc, gen, item, s, found) : CH_OK;
}

/* The page ranked s gives a first page (the fact's or the kv store's); closes it. */
static ch_err_t ch__first_from(ch_svc_t *svc, uint64_t viewer, const ch__top_snapshot_t *s, int limit, ch_buf_t *b,
                               ch_fault_t *f)
{
    size_t next = 0;
    ch_err_t err = ch__ranked_page(svc, viewer, s, 0, limit, b, &next, f);
    if (err == CH_OK) {
        if (s->gen)
            ch__ranked_close(s, b, next);
        else
            ch__close(b, 0, 0, 0);
    }
    return err;
}

static ch_err_t ch__on_worker(ch_fault_t *f)
{
    return ch_fault(f, CH_EUNAVAILABLE, NULL, "ranked comments are read on a worker");
}

/* The first page: from the item's ranking fact (comments_top_fact.c) while it is shared and
 * fits the page (a ranking the kv store does not keep has no cursor: only pages it fits);
 * else, on a worker, from the item's current kv snapshot or a new ranking (kept when the walk
 * is longer than a page), put back as the fact. */
static ch_err_t ch__first_page(ch_svc_t *svc, uint64_t viewer, const ch_target_t *item, int limit, ch_buf_t *b,
                               ch_fault_t *f)
{
    ch__top_snapshot_t s;
    uint64_t lease = 0;
    int old = 0, found = 0;
    if (ch__top_fact_get(svc, item, &s, &lease, &old)) {
        if (s.gen || (s.n <= (size_t)limit && !s.capped)) {
            ch_err_t err = ch__first_from(svc, viewer, &s, limit, b, f);
            free(s.ids);
            return err;
        }
        free(s.ids);
        old = 1;
    }
    if (ch_loop_guard_refuse()) /* the kv store and the ranking statement are network calls */
        return ch__on_worker(f);
    if (old)
        lease = ch__top_fact_renew(svc, item);
    ch_err_t err = ch__current(svc, item, &s, &found);
    if (err == CH_OK && !found) {
        err = ch__rank(svc, item, &s);
        if (err == CH_OK && (s.n > (size_t)limit || s.capped) && (err = ch__new_gen(svc, item, &s.gen)) == CH_OK)
            err = ch__save(svc, &s);
    }
    if (err == CH_OK) {
        ch__top_fact_put(svc, &s, lease);
        err = ch__first_from(svc, viewer, &s, limit, b, f);
    }
    free(s.ids);
    return err;
}

/* A page after the first, at cursor "<gen>.<offset>" or "<gen>.r<id>". A ranked page of the
 * item's shared generation is read from its fact on the event loop (only there: on a worker
 * the get would take a lease a first page needs, and the kv store is at hand); the rest, or
 * another generation, from its kv slot on a worker. */
static ch_err_t ch__cursor_page(ch_svc_t *svc, uint64_t viewer, const ch_target_t *item, int limit,
                                const char *cursor, ch_buf_t *b, ch_fault_t *f)
{
    const char *p = cursor;
    uint64_t gen, pos, lease;
    int rest = 0, found = 0, old;
    if (ch__num(&p, &gen) != 0 || *p++ != '.')
        return ch__bad_cursor(f);
    if (*p == 'r') {
        rest = 1;
        p++;
    }
    if (ch__num(&p, &pos) != 0 || *p)
        return ch__bad_cursor(f);
    ch__top_snapshot_t s;
    ch_err_t err = CH_OK;
    if (!rest && ch_loop_guard_on()) {
        found = ch__top_fact_get(svc, item, &s, &lease, &old) && s.gen == gen;
        if (!found)
            free(s.ids);
    }
    if (!found && ch_loop_guard_refuse())
        return ch__on_worker(f);
    if (!found && (err = ch__load(svc, gen, item, &s, &found)) != CH_OK)
        return err;
    if (!found || (rest && !s.capped) || (!rest && (pos == 0 || pos >= s.n)))
        err = ch__bad_cursor(f);
    else if (rest)
        err = ch__rest_page(svc, viewer, &s, limit, pos, b, f);
    else {
        size_t next = 0;
        err = ch__ranked_page(svc, viewer, &s, (size_t)pos, limit, b, &next, f);
        if (err == CH_OK)
            ch__ranked_close(&s, b, next);
    }
    free(s.ids);
    return err;
}

ch_err_t ch__comments_top(ch_svc_t *svc, uint64_t viewer, const ch_target_t *item, int limit, const char *cursor,
                          char **out, ch_fault_t *f)
{
    ch_buf_t b = CH_BUF_INIT;
    ch_err_t err = cursor ? ch__cursor_page(svc, viewer, item, limit, cursor, &b, f)
                          : ch__first_page(svc, viewer, item, limit, &b, f);
    if (err == CH_OK)
        *out = b.data;
    else
        ch_buf_clear(&b);
    return err;
}
