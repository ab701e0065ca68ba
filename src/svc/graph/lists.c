/* Followers, following and pending follow requests: keyset pages on the edge id, newest
 * first. An edge made while a client walks the pages has a larger id than every edge it
 * already saw, so it never shows up twice and nothing is skipped. Each page is one index
 * range scan (see migrations_graph.c) for the ids, and the users come from the hydration
 * layer (svc/common/hydrate.h). */
#include "svc/graph/graph.h"

#include <stdint.h>

#include <stdlib.h>

#include "core/alloc.h"
#include "core/id.h"
#include "svc/common/page.h"
#include "svc/graph/edge_page.h"
#include "svc/common/sql.h"

/* Columns: edge id, user id. $1 the listed user, $2 the cursor, $3 the viewer, $4 the page
 * size + 1. Users blocking the viewer, or blocked by it, are left out here (so that a page
 * is full) and again by the hydration layer, which renders them. */
#define CH__NOT_BLOCKED(col)                                                                            \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $3 AND b.blocked_id = " col ")"      \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = " col " AND b.blocked_id = $3)"

static const char ch__sql_followers[] =
    "SELECT e.id, e.follower_id FROM follows e"
    " WHERE e.followee_id = $1 AND e.id < $2" CH__NOT_BLOCKED("e.follower_id") " ORDER BY e.id DESC LIMIT $4";
static const char ch__sql_following[] =
    "SELECT e.id, e.followee_id FROM follows e"
    " WHERE e.follower_id = $1 AND e.id < $2" CH__NOT_BLOCKED("e.followee_id") " ORDER BY e.id DESC LIMIT $4";
static const char ch__sql_requests[] =
    "SELECT e.id, e.requester_id FROM follow_requests e"
    " WHERE e.target_id = $1 AND e.id < $2" CH__NOT_BLOCKED("e.requester_id") " ORDER BY e.id DESC LIMIT $4";

/* Runs a list query and renders {items, next_cursor} as text: the users through the
 * hydration layer, one call for the page. */
static ch_err_t ch__page(ch_svc_t *svc, const char *sql, uint64_t user, uint64_t viewer, int limit, uint64_t before,
                         char **out, ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT(before ? before : (uint64_t)INT64_MAX), CH_DB_P_INT(viewer),
                         CH_DB_P_INT(limit + 1)};
    ch_err_t err = ch_sql_run(svc, sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows), shown = n > (size_t)limit ? (size_t)limit : n;
    uint64_t ids[CH_PAGE_LIMIT_MAX];
    ch_hydrated_user_t u[CH_PAGE_LIMIT_MAX];
    for (size_t i = 0; i < shown; i++)
        ids[i] = (uint64_t)ch_db_rows_int(rows, i, 1);
    uint64_t next = n > shown ? (uint64_t)ch_db_rows_int(rows, shown - 1, 0) : 0;
    ch_db_rows_free(rows);
    if ((err = ch_hydrate_users(svc, viewer, ids, shown, u, f)) != CH_OK)
        return err;
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "{\"items\":[", 10);
    int first = 1;
    for (size_t i = 0; i < shown; i++) {
        if (!u[i].json)
            continue;
        if (!first)
            ch_buf_append(&b, ",", 1);
        first = 0;
        ch_page_user_private(&b, &u[i]);
    }
    ch_buf_append(&b, "]", 1);
    ch_page_close(&b, next);
    ch_hydrated_users_free(u, shown);
    *out = b.data;
    return CH_OK;
}

/* Appends the shown users of u[0..n) to b (after a comma unless *first). */
static void ch__append_users(ch_buf_t *b, const ch_hydrated_user_t *u, size_t n, int *first)
{
    for (size_t i = 0; i < n; i++) {
        if (!u[i].json)
            continue;
        if (!*first)
            ch_buf_append(b, ",", 1);
        *first = 0;
        ch_page_user_private(b, &u[i]);
    }
}

/* A first page from the list's cached first edges (svc/graph/edge_page.h): the users are
 * hydrated in order, the layer hiding those with a block either way (the statement's block
 * terms), until limit + 1 are shown. 1 when *out (or *err) is the answer; 0 when the cache
 * cannot tell (down, or a full list that runs out first): the caller runs the statement. */
static int ch__page_cached(ch_svc_t *svc, uint64_t user, int following, uint64_t viewer, int limit, char **out,
                           ch_err_t *err, ch_fault_t *f)
{
    ch_graph_edges_t *e = ch_malloc(sizeof(*e));
    int r = ch_graph_edges_read(svc, user, following, e, err);
    if (r <= 0) {
        free(e);
        return r < 0;
    }
    ch_hydrated_user_t u[CH_PAGE_LIMIT_MAX + 1];
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "{\"items\":[", 10);
    size_t at = 0, shown = 0;
    uint64_t last = 0;
    int first = 1, more = 0;
    while (at < e->n && !more) {
        size_t need = (size_t)limit + 1 - shown, chunk = e->n - at < need ? e->n - at : need;
        if ((*err = ch_hydrate_users(svc, viewer, e->user + at, chunk, u, f)) != CH_OK)
            break;
        size_t keep = chunk; /* the (limit + 1)-th shown only says there is more */
        for (size_t k = 0; k < chunk; k++) {
            if (!u[k].json)
                continue;
            if (shown++ == (size_t)limit) {
                more = 1;
                keep = k;
                break;
            }
            last = e->edge[at + k];
        }
        ch__append_users(&b, u, keep, &first);
        ch_hydrated_users_free(u, chunk);
        at += chunk;
    }
    int answered = *err != CH_OK || more || !e->full;
    free(e);
    if (*err != CH_OK || !answered) {
        ch_buf_clear(&b);
        return answered;
    }
    ch_buf_append(&b, "]", 1);
    ch_page_close(&b, more ? last : 0);
    *out = b.data;
    return 1;
}

ch_err_t ch_graph_list(ch_svc_t *svc, uint64_t viewer, uint64_t user, ch_graph_list_t which, int limit,
                       uint64_t before, char **out, ch_fault_t *f)
{
    /* A private account's lists are "content": its owner and approved followers only. */
    ch_err_t err = ch_page_check_author(svc, viewer, user, NULL, f);
    if (err)
        return err;
    if (!before && limit < CH_GRAPH_EDGES_CACHED &&
        ch__page_cached(svc, user, which == CH_GRAPH_FOLLOWING, viewer, limit, out, &err, f))
        return err;
    return ch__page(svc, which == CH_GRAPH_FOLLOWERS ? ch__sql_followers : ch__sql_following, user, viewer, limit,
                    before, out, f);
}

ch_err_t ch_graph_list_requests(ch_svc_t *svc, uint64_t owner, int limit, uint64_t before, char **out, ch_fault_t *f)
{
    return ch__page(svc, ch__sql_requests, owner, owner, limit, before, out, f);
}
