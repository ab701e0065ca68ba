/* Authors' recent posts and reels: see recent.h. The spec of an author index: the statement
 * that reads the misses and the rows' types. */
#include "svc/content/recent.h"

#include <pthread.h>
#include <stdio.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/sql.h"
#include "svc/engage/target.h"

/* Authors per statement reading misses (two members each: posts, reels). */
#define CH__SQL_AUTHORS 16
/* Miss statements one read runs at most: past them (or with the cache down) the read gives up
 * (cold) and the caller runs its one statement over every pulled author. */
#define CH__SQL_MAX 2

static char *ch__sql;
static pthread_once_t ch__sql_once = PTHREAD_ONCE_INIT;

/* One bounded range of items_author_type per author and type, newest first. */
static void ch__sql_build(void)
{
    size_t cap = (size_t)CH__SQL_AUTHORS * 2 * 240 + 1, len = 0;
    ch__sql = ch_malloc(cap);
    static const char *const types[] = {"post", "reel"};
    for (size_t k = 0; k < CH__SQL_AUTHORS; k++)
        for (size_t t = 0; t < 2; t++)
            len += (size_t)snprintf(ch__sql + len, cap - len,
                                    "%sSELECT * FROM (SELECT i.author_id, i.id, i.type FROM items i WHERE i.author_id = $%zu"
                                    " AND i.type = '%s' AND i.deleted_at IS NULL ORDER BY i.id DESC LIMIT %d) AS t%zu",
                                    k || t ? " UNION ALL " : "", k + 1, types[t], CH_RECENT_ITEMS_PER_AUTHOR,
                                    k * 2 + t);
}

static ch_err_t ch__load(ch_svc_t *svc, const uint64_t *authors, size_t n, int64_t now, ch_db_rows_t **rows)
{
    (void)now;
    pthread_once(&ch__sql_once, ch__sql_build);
    ch_db_param_t p[CH__SQL_AUTHORS];
    for (size_t i = 0; i < CH__SQL_AUTHORS; i++)
        p[i] = CH_DB_P_INT(i < n ? authors[i] : 0);
    return ch_sql_run(svc, ch__sql, p, CH_NPARAMS(p), rows, NULL);
}

static int ch__aux_of(const ch_db_rows_t *rows, size_t r, uint64_t *aux)
{
    int type = ch_target_from_name(ch_db_rows_text(rows, r, 2));
    *aux = (uint64_t)type;
    return type == CH_TARGET_POST || type == CH_TARGET_REEL;
}

static int ch__valid(const uint64_t *row)
{
    return row[1] == CH_TARGET_POST || row[1] == CH_TARGET_REEL;
}

static const ch_author_index_spec_t ch__spec = {
    .page = {.tag = 'P', .cols = 2, .cap = CH_RECENT_ITEMS_PER_AUTHOR, .valid = ch__valid},
    .key = ch_hkey_author_items,
    .sql_authors = CH__SQL_AUTHORS,
    .load = ch__load,
    .aux_of = ch__aux_of,
    .newest_first = 1,
    .sql_max = CH__SQL_MAX,
    .cold_when_down = 1};

ch_err_t ch_recent_items_read(ch_svc_t *svc, const uint64_t *authors, size_t n, ch_author_index_t *out)
{
    return ch_author_index_read(svc, &ch__spec, authors, n, ch_now_ms(), out);
}
