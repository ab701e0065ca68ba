/* The active-story index: see story_index.h. The spec of an author index: the statement that
 * reads the misses, and the read-time expiry check. */
#include "svc/content/story_index.h"

#include <pthread.h>
#include <stdio.h>

#include "svc/common/items.h"
#include "svc/common/sql.h"

/* $1 now, $2.. the authors (CH_ITEMS_IN_MAX of them, padded with 0). The literal type and
 * deleted_at terms let both engines use the items_live_stories partial index. */
static char ch__sql[2048];
static pthread_once_t ch__sql_once = PTHREAD_ONCE_INIT;

static void ch__sql_build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN];
    ch_items_sql_in(in, sizeof(in), 2);
    snprintf(ch__sql, sizeof(ch__sql),
             "SELECT i.author_id, i.id, i.expires_at FROM items i WHERE i.type = 'story' AND i.deleted_at IS NULL"
             " AND i.expires_at > $1 AND i.author_id IN %s",
             in);
}

static ch_err_t ch__load(ch_svc_t *svc, const uint64_t *authors, size_t n, int64_t now, ch_db_rows_t **rows)
{
    pthread_once(&ch__sql_once, ch__sql_build);
    ch_db_param_t p[1 + CH_ITEMS_IN_MAX];
    p[0] = CH_DB_P_INT(now);
    for (size_t i = 0; i < CH_ITEMS_IN_MAX; i++)
        p[1 + i] = CH_DB_P_INT(i < n ? authors[i] : 0);
    return ch_sql_run(svc, ch__sql, p, CH_NPARAMS(p), rows, NULL);
}

/* A story shows until its expiry, checked at every read. */
static int ch__live(const ch_author_ent_t *e, int64_t now)
{
    return (int64_t)e->aux > now;
}

const ch_author_index_spec_t ch__story_index_spec = {
    .page = {.tag = 'T', .cols = 2, .cap = CH_STORY_INDEX_PER_AUTHOR},
    .key = ch_hkey_stories,
    .sql_authors = CH_ITEMS_IN_MAX,
    .load = ch__load,
    .newest_first = 0,
    .live = ch__live};
