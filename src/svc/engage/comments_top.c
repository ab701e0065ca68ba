/* "top" comments: ranked by engagement with a time decay, paged over a frozen ordering.
 *
 * Score of a top-level comment at the moment T the walk starts:
 *     score = (1 + 3 * replies + reactions) / (age_hours(T) + 2)
 * replies = its live replies, reactions = its reactions_total. A reply weighs three
 * reactions; the decay (gravity 1, two hours of head start) lets a fresh comment compete
 * with an old one that has a few more reactions. Ties: newest first.
 *
 * Scores move while a client pages (reactions, replies, time itself), so a keyset on the
 * score could repeat or skip comments. The first page therefore ranks up to
 * CH_COMMENTS_TOP_RANKED_MAX comments once and keeps that order (their ids) in the kv store
 * for CH_COMMENTS_TOP_TTL_MS under a random snapshot id; later pages read it at an offset.
 * Comments past the ranked ones (older threads with more comments than that) follow
 * newest first, by keyset on the id, leaving out the ranked ones and any posted after T.
 * Comments posted after T appear in a new walk. A comment deleted during the walk is
 * skipped where it was (a page may be shorter than limit, never repeated or skipped).
 *
 * Cursor: "<snapshot>.<offset>" in the ranked part, "<snapshot>.r<id>" after it. An
 * expired or foreign snapshot is CH_EINVAL on "cursor" (the client starts again). A walk
 * that fits one page writes nothing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/engage/comments_row.h"
#include "svc/graph/visibility.h"
#include "store/kv.h"

#define CH__SNAPSHOT_HEAD_MAX 160

static const char ch__sql_rank[] =
    "SELECT c.id FROM comments c"
    " LEFT JOIN target_counters tc ON tc.target_type = 'comment' AND tc.target_id = c.id"
    " WHERE c.target_type = $2 AND c.target_id = $3 AND c.parent_id IS NULL AND c.created_at <= $4 AND"
    CH_COMMENT_LISTED " AND" CH_GRAPH_SQL_NO_BLOCK("$1", "c.author_id")
    " ORDER BY CAST(1 + 3 * c.replies_count"
    " + COALESCE(tc.r_like + tc.r_love + tc.r_haha + tc.r_wow + tc.r_sad + tc.r_angry, 0) AS DOUBLE PRECISION)"
    " / CAST($4 - c.created_at + 7200000 AS DOUBLE PRECISION) DESC, c.id DESC"
    " LIMIT $5";

static const char ch__sql_rest[] =
    "SELECT " CH_COMMENT_COLUMNS CH_COMMENT_FROM
    " WHERE c.target_type = $2 AND c.target_id = $3 AND c.parent_id IS NULL AND c.created_at <= $4 AND c.id < $5 AND"
    CH_COMMENT_LISTED " AND" CH_GRAPH_SQL_NO_BLOCK("$1", "c.author_id") " ORDER BY c.id DESC LIMIT $6";

/* A frozen walk. */
typedef struct {
    ch_target_type_t type;
    uint64_t target_id, viewer;
    int64_t at;     /* T, unix ms */
    int capped;     /* more comments than were ranked */
    uint64_t *ids;  /* ranked, in order (owned) */
    size_t n;
} ch__snapshot_t;

static ch_err_t ch__bad_cursor(ch_fault_t *f)
{
    return ch_fault(f, CH_EINVAL, "cursor", "cursor is not one this API returned, or it expired: start again");
}

static void ch__key(uint64_t snap, char *key, size_t len)
{
    snprintf(key, len, "cmt:top:%" PRIu64, snap);
}

/* Stores s under a new snapshot id (*snap_out). */
static ch_err_t ch__save(ch_svc_t *svc, const ch__snapshot_t *s, uint64_t *snap_out)
{
    size_t cap = CH__SNAPSHOT_HEAD_MAX + s->n * CH_ID_STR_LEN, len;
    char *val = malloc(cap), key[64];
    if (!val)
        return CH_EINTERNAL;
    len = (size_t)snprintf(val, cap, "%s:%" PRIu64 ":%" PRIu64 ":%" PRId64 ":%d:", ch_target_type_name(s->type),
                           s->target_id, s->viewer, s->at, s->capped);
    for (size_t i = 0; i < s->n; i++)
        len += (size_t)snprintf(val + len, cap - len, "%s%" PRIu64, i ? "," : "", s->ids[i]);
    uint64_t snap = ch_id_next();
    ch__key(snap, key, sizeof(key));
    ch_err_t err = ch_backend_err(CH_BACKEND_KV, ch_kv_set(svc->kv, key, val, len, CH_COMMENTS_TOP_TTL_MS));
    free(val);
    *snap_out = snap;
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

/* Loads snapshot snap for (viewer, item) into s (s->ids owned). CH_EINVAL when it is gone
 * or belongs to another walk. */
static ch_err_t ch__load(ch_svc_t *svc, uint64_t snap, uint64_t viewer, const ch_target_t *item, ch__snapshot_t *s,
                         ch_fault_t *f)
{
    char key[64], *val = NULL;
    size_t len = 0;
    memset(s, 0, sizeof(*s));
    ch__key(snap, key, sizeof(key));
    ch_err_t err = ch_backend_err(CH_BACKEND_KV, ch_kv_get(svc->kv, key, &val, &len));
    if (err)
        return err;
    if (!val)
        return ch__bad_cursor(f);
    const char *type = ch_target_type_name(item->type), *p = val;
    size_t tlen = strlen(type);
    uint64_t target, who, at, capped;
    int ok = strncmp(p, type, tlen) == 0 && p[tlen] == ':';
    p += ok ? tlen + 1 : 0;
    ok = ok && ch__num(&p, &target) == 0 && *p++ == ':' && ch__num(&p, &who) == 0 && *p++ == ':' &&
         ch__num(&p, &at) == 0 && *p++ == ':' && ch__num(&p, &capped) == 0 && *p++ == ':' && target == item->id &&
         who == viewer;
    size_t n = 0;
    for (const char *q = p; ok && *q; q++)
        n += *q == ',';
    s->ids = ok ? malloc(sizeof(uint64_t) * (n + 1)) : NULL;
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
        return ch__bad_cursor(f);
    }
    s->type = item->type;
    s->target_id = target;
    s->viewer = viewer;
    s->at = (int64_t)at;
    s->capped = capped != 0;
    return CH_OK;
}

/* {items, next_cursor} */
static json_t *ch__page(json_t *items, uint64_t snap, int rest, uint64_t pos)
{
    char buf[64];
    if (!snap)
        return json_pack("{s:o, s:n}", "items", items, "next_cursor");
    snprintf(buf, sizeof(buf), "%" PRIu64 ".%s%" PRIu64, snap, rest ? "r" : "", pos);
    return json_pack("{s:o, s:s}", "items", items, "next_cursor", buf);
}

/* A page of ranked comments: ids[from .. from+count) in that order. */
static ch_err_t ch__ranked_page(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const uint64_t *ids, size_t count,
                                json_t **items)
{
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch__comments_by_ids(svc, conn, viewer, ids, count, &rows);
    if (err == CH_OK)
        err = ch__comments_threads(svc, conn, viewer, rows, ch_db_rows_count(rows), ids, count, items);
    ch_db_rows_free(rows);
    return err;
}

static int ch__cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A page after the ranked part: comments of the walk not ranked, newest first, below `before`. */
static ch_err_t ch__rest_page(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const ch__snapshot_t *s,
                              uint64_t snap, int limit, uint64_t before, json_t **out)
{
    uint64_t *sorted = malloc(sizeof(uint64_t) * (s->n + 1)), order[CH__COMMENTS_IN_MAX + 1];
    if (!sorted)
        return CH_EINTERNAL;
    memcpy(sorted, s->ids, sizeof(uint64_t) * s->n);
    qsort(sorted, s->n, sizeof(uint64_t), ch__cmp_id);
    /* At most s->n rows are left out, so limit + 1 + s->n rows always fill the page. */
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer),    CH_DB_P_TEXT(ch_target_type_name(s->type)),
                         CH_DB_P_INT(s->target_id), CH_DB_P_INT(s->at),
                         CH_DB_P_INT(before > INT64_MAX ? (uint64_t)INT64_MAX : before),
                         CH_DB_P_INT((size_t)limit + 1 + s->n)};
    ch_err_t err = ch_sql_on(svc, conn, ch__sql_rest, p, CH_NPARAMS(p), &rows, NULL);
    size_t norder = 0, n = ch_db_rows_count(rows);
    for (size_t r = 0; err == CH_OK && r < n && norder <= (size_t)limit; r++) {
        uint64_t id = (uint64_t)ch_db_rows_int(rows, r, CH_COMMENT_COL_ID);
        if (!bsearch(&id, sorted, s->n, sizeof(uint64_t), ch__cmp_id))
            order[norder++] = id;
    }
    json_t *items = NULL;
    size_t shown = norder > (size_t)limit ? (size_t)limit : norder;
    if (err == CH_OK)
        err = ch__comments_threads(svc, conn, viewer, rows, n, order, shown, &items);
    if (err == CH_OK)
        *out = ch__page(items, norder > (size_t)limit ? snap : 0, 1, order[limit > 0 ? limit - 1 : 0]);
    ch_db_rows_free(rows);
    free(sorted);
    return err;
}

/* The first page: ranks the comments, keeps the order when there is more than a page. */
static ch_err_t ch__first_page(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const ch_target_t *item,
                               int limit, json_t **out)
{
    ch__snapshot_t s = {item->type, item->id, viewer, ch_now_ms(), 0, NULL, 0};
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_TEXT(ch_target_type_name(item->type)), CH_DB_P_INT(item->id),
                         CH_DB_P_INT(s.at), CH_DB_P_INT(CH_COMMENTS_TOP_RANKED_MAX + 1)};
    ch_err_t err = ch_sql_on(svc, conn, ch__sql_rank, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    s.capped = n > CH_COMMENTS_TOP_RANKED_MAX;
    s.n = s.capped ? CH_COMMENTS_TOP_RANKED_MAX : n;
    s.ids = malloc(sizeof(uint64_t) * (s.n + 1));
    if (!s.ids) {
        ch_db_rows_free(rows);
        return CH_EINTERNAL;
    }
    for (size_t i = 0; i < s.n; i++)
        s.ids[i] = (uint64_t)ch_db_rows_int(rows, i, 0);
    ch_db_rows_free(rows);
    uint64_t snap = 0;
    size_t shown = s.n > (size_t)limit ? (size_t)limit : s.n;
    if (s.n > (size_t)limit || s.capped)
        err = ch__save(svc, &s, &snap);
    json_t *items = NULL;
    if (err == CH_OK)
        err = ch__ranked_page(svc, conn, viewer, s.ids, shown, &items);
    if (err == CH_OK)
        *out = ch__page(items, snap, 0, shown);
    free(s.ids);
    return err;
}

ch_err_t ch__comments_top(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const ch_target_t *item, int limit,
                          const char *cursor, json_t **out, ch_fault_t *f)
{
    if (!cursor)
        return ch__first_page(svc, conn, viewer, item, limit, out);
    const char *p = cursor;
    uint64_t snap, pos;
    int rest = 0;
    if (ch__num(&p, &snap) != 0 || *p++ != '.')
        return ch__bad_cursor(f);
    if (*p == 'r') {
        rest = 1;
        p++;
    }
    if (ch__num(&p, &pos) != 0 || *p)
        return ch__bad_cursor(f);
    ch__snapshot_t s;
    ch_err_t err = ch__load(svc, snap, viewer, item, &s, f);
    if (err)
        return err;
    if (rest && !s.capped)
        err = ch__bad_cursor(f);
    else if (!rest && (pos == 0 || pos >= s.n))
        err = ch__bad_cursor(f);
    else if (rest)
        err = ch__rest_page(svc, conn, viewer, &s, snap, limit, pos, out);
    else {
        size_t count = s.n - pos > (size_t)limit ? (size_t)limit : s.n - pos;
        json_t *items = NULL;
        err = ch__ranked_page(svc, conn, viewer, s.ids + pos, count, &items);
        if (err == CH_OK) {
            if (pos + count < s.n)
                *out = ch__page(items, snap, 0, pos + count);
            else /* end of the ranked part: what follows it, if anything */
                *out = ch__page(items, s.capped ? snap : 0, 1, (uint64_t)INT64_MAX);
        }
    }
    free(s.ids);
    return err;
}
