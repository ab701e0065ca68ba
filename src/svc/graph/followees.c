/* A user's followees, cached: see followees.h. An entry is binary: 'F', version 1, then the
 * ids (8 bytes each, little-endian), most recently followed first; a value that does not
 * decode exactly is a miss. The entry always holds the first CH_GRAPH_FOLLOWEES_CACHED_MAX
 * (or all), whatever the caller's max, so that callers with different bounds share it. */
#include "svc/graph/followees.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/hcache.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/sql.h"

#define CH__HEAD 2

static int ch__decode(const char *v, size_t len, size_t max, uint64_t **out, size_t *n)
{
    if (len < CH__HEAD || v[0] != 'F' || v[1] != 1 || (len - CH__HEAD) % 8 ||
        (len - CH__HEAD) / 8 > CH_GRAPH_FOLLOWEES_CACHED_MAX)
        return 0;
    size_t m = (len - CH__HEAD) / 8;
    if (m > max)
        m = max;
    *out = ch_malloc((m ? m : 1) * sizeof(uint64_t));
    const unsigned char *p = (const unsigned char *)v + CH__HEAD;
    for (size_t i = 0; i < m; i++, p += 8) {
        uint64_t id = 0;
        for (int b = 7; b >= 0; b--)
            id = id << 8 | p[b];
        (*out)[i] = id;
    }
    *n = m;
    return 1;
}

ch_err_t ch_graph_followees_recent(ch_svc_t *svc, uint64_t user, size_t max, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    ch_hkey_t key;
    const char *kp[1] = {ch_hkey_followees(key, user)};
    ch_hcache_got_t got = {0};
    if (svc->hcache)
        ch_hcache_get_many(svc->hcache, kp, 1, &got); /* cache down: a miss with lease 0 */
    int hit = got.val && ch__decode(got.val, got.len, max, out, n);
    free(got.val);
    if (hit)
        return CH_OK;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT(CH_GRAPH_FOLLOWEES_CACHED_MAX)};
    ch_err_t err = ch_sql_run(svc, "SELECT f.followee_id FROM follows f WHERE f.follower_id = $1 ORDER BY f.id DESC LIMIT $2",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t nr = ch_db_rows_count(rows);
    char *val = ch_malloc(CH__HEAD + nr * 8);
    val[0] = 'F';
    val[1] = 1;
    *out = ch_malloc((nr ? nr : 1) * sizeof(uint64_t));
    for (size_t r = 0; r < nr; r++) {
        uint64_t id = (uint64_t)ch_db_rows_int(rows, r, 0);
        for (int b = 0; b < 8; b++)
            val[CH__HEAD + r * 8 + (size_t)b] = (char)(id >> (8 * b) & 0xff);
        if (r < max)
            (*out)[(*n)++] = id;
    }
    ch_db_rows_free(rows);
    if (svc->hcache && got.lease) {
        size_t len = CH__HEAD + nr * 8;
        const char *pv[1] = {val};
        ch_hcache_put_many(svc->hcache, kp, pv, &len, &got.lease, 1);
    }
    free(val);
    return CH_OK;
}
