/* A viewer's own state on many items (svc/engage/viewer_state_load.h): the reactions primary
 * key (target_type, target_id, user_id) probed with every type name and every id, and the
 * story_views primary key (story_id, viewer_id). */
#include "svc/engage/viewer_state_load.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "svc/common/sql.h"
#include "svc/engage/target.h"

/* $1 viewer, $2.. the ids (CH_ITEMS_IN_MAX of them, unused slots 0). */
static char ch__sql[4096];
static pthread_once_t ch__once = PTHREAD_ONCE_INIT;

static void ch__build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN], types[256];
    size_t len = 0;
    ch_items_sql_in(in, sizeof(in), 2);
    for (int t = 0; t < CH__TARGET_COUNT; t++)
        len += (size_t)snprintf(types + len, sizeof(types) - len, "%s'%s'", t ? ", " : "",
                                ch_target_type_name((ch_target_type_t)t));
    snprintf(ch__sql, sizeof(ch__sql),
             "SELECT r.target_type, r.target_id, r.kind FROM reactions r"
             " WHERE r.target_type IN (%s) AND r.target_id IN %s AND r.user_id = $1"
             " UNION ALL SELECT 'seen', sv.story_id, NULL FROM story_views sv"
             " WHERE sv.story_id IN %s AND sv.viewer_id = $1",
             types, in, in);
}

ch_err_t ch_engage_viewer_state_load(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n,
                                     ch_hviewer_t *out, ch_fault_t *f)
{
    (void)f;
    memset(out, 0, n * sizeof(*out));
    if (n == 0)
        return CH_OK;
    pthread_once(&ch__once, ch__build);
    ch_db_param_t p[1 + CH_ITEMS_IN_MAX];
    p[0] = CH_DB_P_INT(viewer);
    for (size_t i = 0; i < CH_ITEMS_IN_MAX; i++)
        p[1 + i] = CH_DB_P_INT(i < n ? keys[i].id : 0);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, ch__sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        const char *what = ch_db_rows_text(rows, r, 0);
        uint64_t id = (uint64_t)ch_db_rows_int(rows, r, 1);
        int seen = strcmp(what, "seen") == 0, type = seen ? CH_TARGET_STORY : ch_target_from_name(what);
        for (size_t i = 0; i < n; i++) {
            if (keys[i].id != id || keys[i].type != type)
                continue;
            if (seen)
                out[i].seen = 1;
            else if (!ch_db_rows_isnull(rows, r, 2))
                snprintf(out[i].kind, sizeof(out[i].kind), "%s", ch_db_rows_text(rows, r, 2));
        }
    }
    ch_db_rows_free(rows);
    return CH_OK;
}
