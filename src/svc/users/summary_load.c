/* User summaries for the hydration layer (svc/users/summary_load.h). */
#include "svc/users/summary_load.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/common/items.h"
#include "svc/common/rows_json.h"
#include "svc/common/sql.h"

/* $1.. the ids (CH_ITEMS_IN_MAX of them, unused slots 0). Columns in the order of
 * ch_user_summary_render(rows, r, 0, 1). */
static char ch__sql[2048];
static pthread_once_t ch__once = PTHREAD_ONCE_INIT;

static void ch__build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN];
    ch_items_sql_in(in, sizeof(in), 1);
    snprintf(ch__sql, sizeof(ch__sql),
             "SELECT id, handle, display_name, avatar_url, is_private FROM users WHERE id IN %s", in);
}

ch_err_t ch_users_summary_load(ch_svc_t *svc, const uint64_t *ids, size_t n, ch_huser_t *out, ch_fault_t *f)
{
    (void)f;
    memset(out, 0, n * sizeof(*out));
    if (n == 0)
        return CH_OK;
    pthread_once(&ch__once, ch__build);
    ch_db_param_t p[CH_ITEMS_IN_MAX];
    for (size_t i = 0; i < CH_ITEMS_IN_MAX; i++)
        p[i] = CH_DB_P_INT(i < n ? ids[i] : 0);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, ch__sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        uint64_t id = (uint64_t)ch_db_rows_int(rows, r, 0);
        for (size_t i = 0; i < n; i++) {
            if (ids[i] != id || out[i].found)
                continue;
            json_t *s = ch_user_summary_render(rows, r, 0, 1);
            out[i].summary = json_dumps(s, JSON_COMPACT);
            json_decref(s);
            if (!out[i].summary)
                continue;
            out[i].summary_len = strlen(out[i].summary);
            out[i].found = 1;
            out[i].is_private = ch_db_rows_int(rows, r, 4) != 0;
        }
    }
    ch_db_rows_free(rows);
    return CH_OK;
}
