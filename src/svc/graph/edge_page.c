/* A list's first edges, cached: see edge_page.h. An entry is binary: 'E', version 1, a flag
 * byte (1: full), then (edge id, user id) pairs, 16 bytes each, little-endian; a value that
 * does not decode exactly is a miss. */
#include "svc/graph/edge_page.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/hcache.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/sql.h"

#define CH__HEAD 3

static uint64_t ch__get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--)
        v = v << 8 | p[b];
    return v;
}

static void ch__put64(char *p, uint64_t v)
{
    for (int b = 0; b < 8; b++)
        p[b] = (char)(v >> (8 * b) & 0xff);
}

static int ch__decode(const char *v, size_t len, ch_graph_edges_t *out)
{
    if (len < CH__HEAD || v[0] != 'E' || v[1] != 1 || (v[2] != 0 && v[2] != 1) || (len - CH__HEAD) % 16 ||
        (len - CH__HEAD) / 16 > CH_GRAPH_EDGES_CACHED)
        return 0;
    out->full = v[2];
    out->n = (len - CH__HEAD) / 16;
    const unsigned char *p = (const unsigned char *)v + CH__HEAD;
    for (size_t i = 0; i < out->n; i++, p += 16) {
        out->edge[i] = ch__get64(p);
        out->user[i] = ch__get64(p + 8);
    }
    return 1;
}

static const char ch__sql_followers[] =
    "SELECT e.id, e.follower_id FROM follows e WHERE e.followee_id = $1 ORDER BY e.id DESC LIMIT $2";
static const char ch__sql_following[] =
    "SELECT e.id, e.followee_id FROM follows e WHERE e.follower_id = $1 ORDER BY e.id DESC LIMIT $2";

int ch_graph_edges_read(ch_svc_t *svc, uint64_t user, int following, ch_graph_edges_t *out, ch_err_t *err)
{
    *err = CH_OK;
    out->n = 0;
    out->full = 0;
    ch_hkey_t key;
    const char *kp[1] = {ch_hkey_edges(key, following, user)};
    ch_hcache_got_t got = {0};
    if (!svc->hcache || ch_hcache_get_many(svc->hcache, kp, 1, &got) != CH_OK)
        return 0; /* down (or refused on the loop): the caller's statement reads the page */
    int hit = got.val && ch__decode(got.val, got.len, out);
    free(got.val);
    if (hit)
        return 1;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT(CH_GRAPH_EDGES_CACHED + 1)};
    if ((*err = ch_sql_run(svc, following ? ch__sql_following : ch__sql_followers, p, CH_NPARAMS(p), &rows, NULL)) !=
        CH_OK)
        return -1;
    size_t nr = ch_db_rows_count(rows);
    out->full = nr > CH_GRAPH_EDGES_CACHED;
    out->n = out->full ? CH_GRAPH_EDGES_CACHED : nr;
    size_t len = CH__HEAD + out->n * 16;
    char *val = ch_malloc(len);
    val[0] = 'E';
    val[1] = 1;
    val[2] = (char)out->full;
    for (size_t r = 0; r < out->n; r++) {
        out->edge[r] = (uint64_t)ch_db_rows_int(rows, r, 0);
        out->user[r] = (uint64_t)ch_db_rows_int(rows, r, 1);
        ch__put64(val + CH__HEAD + r * 16, out->edge[r]);
        ch__put64(val + CH__HEAD + r * 16 + 8, out->user[r]);
    }
    ch_db_rows_free(rows);
    if (got.lease) {
        const char *pv[1] = {val};
        ch_hcache_put_many(svc->hcache, kp, pv, &len, &got.lease, 1);
    }
    free(val);
    return 1;
}
