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
#include "svc/common/hydrate_keys.h"
#include "svc/common/id_page.h"
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

/* The first edges of a user's followers or following list, cached (svc/common/id_page.h): a
 * fact "F:<user>" (followers) or "G:<user>" (following) holds the newest CH__EDGES_CACHED
 * edges as rows (edge id, other user), with no viewer's block terms: who the viewer may see
 * is decided by the layer's user facts. Forgotten with the pair's relation after every edge
 * change (ch_hydrate_forget_relation), so a warm first page needs no statement (and, in
 * cluster mode, is served on the loop from the L1). The limit is the first page of the
 * largest limit (100) with room for hidden users. */
#define CH__EDGES_CACHED 128
static const ch_id_page_spec_t ch__edges_followers = {
    .tag = 'E',
    .cols = 2,
    .cap = CH__EDGES_CACHED,
    .sql = "SELECT e.id, e.follower_id FROM follows e WHERE e.followee_id = $1 ORDER BY e.id DESC LIMIT $2"};
static const ch_id_page_spec_t ch__edges_following = {
    .tag = 'E',
    .cols = 2,
    .cap = CH__EDGES_CACHED,
    .sql = "SELECT e.id, e.followee_id FROM follows e WHERE e.follower_id = $1 ORDER BY e.id DESC LIMIT $2"};

/* Appends one user of a cached page. */
static void ch__append_edge(ch_buf_t *b, int first, const uint64_t *row, const ch_hydrated_user_t *u)
{
    (void)row;
    if (!first)
        ch_buf_append(b, ",", 1);
    ch_page_user_private(b, u);
}

/* A first page from the list's cached first edges. 1 when *out (or *err) is the answer; 0
 * when the cache cannot tell (down, or a full list that runs out first): the caller runs the
 * statement. */
static int ch__page_cached(ch_svc_t *svc, uint64_t user, int following, uint64_t viewer, int limit, char **out,
                           ch_err_t *err, ch_fault_t *f)
{
    const ch_id_page_spec_t *spec = following ? &ch__edges_following : &ch__edges_followers;
    uint64_t *v = ch_malloc(CH__EDGES_CACHED * 2 * sizeof(*v));
    ch_id_page_t pg = {.v = v};
    ch_hkey_t key;
    ch_db_param_t p[] = {CH_DB_P_INT(user)};
    int r = ch_id_page_read(svc, spec, ch_hkey_edges(key, following, user), p, CH_NPARAMS(p), &pg, err);
    if (r > 0)
        r = ch_id_page_render_users(svc, spec, &pg, 1, 0, viewer, limit, ch__append_edge, out, err, f);
    free(v);
    return r != 0;
}

ch_err_t ch_graph_list(ch_svc_t *svc, uint64_t viewer, uint64_t user, ch_graph_list_t which, int limit,
                       uint64_t before, char **out, ch_fault_t *f)
{
    /* A private account's lists are "content": its owner and approved followers only. */
    ch_err_t err = ch_page_check_author(svc, viewer, user, NULL, f);
    if (err)
        return err;
    if (!before && limit < CH__EDGES_CACHED &&
        ch__page_cached(svc, user, which == CH_GRAPH_FOLLOWING, viewer, limit, out, &err, f))
        return err;
    return ch__page(svc, which == CH_GRAPH_FOLLOWERS ? ch__sql_followers : ch__sql_following, user, viewer, limit,
                    before, out, f);
}

ch_err_t ch_graph_list_requests(ch_svc_t *svc, uint64_t owner, int limit, uint64_t before, char **out, ch_fault_t *f)
{
    return ch__page(svc, ch__sql_requests, owner, owner, limit, before, out, f);
}
