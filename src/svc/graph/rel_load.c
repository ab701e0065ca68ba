/* Relations of one viewer with many users (svc/graph/rel_load.h): one row per other user,
 * each bit a primary-key or index probe (see migrations_graph.c), as ch_graph_relation reads
 * one. */
#include "svc/graph/rel_load.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "svc/common/items.h"
#include "svc/common/sql.h"

/* $1 viewer, $2.. the others (CH_ITEMS_IN_MAX of them, unused slots 0). */
static char ch__sql[4096];
static pthread_once_t ch__once = PTHREAD_ONCE_INIT;

#define CH__BIT(cond) " CASE WHEN EXISTS (SELECT 1 FROM " cond ") THEN 1 ELSE 0 END"

static void ch__build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN];
    ch_items_sql_in(in, sizeof(in), 2);
    snprintf(ch__sql, sizeof(ch__sql),
             "SELECT o.id," CH__BIT("follows WHERE follower_id = $1 AND followee_id = o.id") ","
             CH__BIT("follow_requests WHERE requester_id = $1 AND target_id = o.id") ","
             CH__BIT("follows WHERE follower_id = o.id AND followee_id = $1") ","
             CH__BIT("blocks WHERE blocker_id = $1 AND blocked_id = o.id") ","
             CH__BIT("blocks WHERE blocker_id = o.id AND blocked_id = $1") ","
             CH__BIT("mutes WHERE muter_id = $1 AND muted_id = o.id")
             " FROM users o WHERE o.id IN %s",
             in);
}

ch_err_t ch_graph_rel_load(ch_svc_t *svc, uint64_t viewer, const uint64_t *others, size_t n, unsigned *bits,
                           ch_fault_t *f)
{
    (void)f;
    memset(bits, 0, n * sizeof(*bits));
    if (n == 0)
        return CH_OK;
    pthread_once(&ch__once, ch__build);
    ch_db_param_t p[1 + CH_ITEMS_IN_MAX];
    p[0] = CH_DB_P_INT(viewer);
    for (size_t i = 0; i < CH_ITEMS_IN_MAX; i++)
        p[1 + i] = CH_DB_P_INT(i < n ? others[i] : 0);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, ch__sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    static const unsigned order[6] = {CH_HREL_FOLLOWING, CH_HREL_REQUESTED, CH_HREL_FOLLOWED_BY,
                                      CH_HREL_BLOCKING,  CH_HREL_BLOCKED_BY, CH_HREL_MUTING};
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        uint64_t id = (uint64_t)ch_db_rows_int(rows, r, 0);
        unsigned b = 0;
        for (size_t c = 0; c < 6; c++)
            if (ch_db_rows_int(rows, r, 1 + c))
                b |= order[c];
        for (size_t i = 0; i < n; i++)
            if (others[i] == id)
                bits[i] = b;
    }
    ch_db_rows_free(rows);
    return CH_OK;
}
