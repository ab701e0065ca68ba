/* Comment rows -> the API's comment objects, and threads (a top-level comment with its
 * first replies) for lists. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/rows_json.h"
#include "svc/engage/comments_row.h"
#include "svc/engage/counters.h"
#include "svc/graph/visibility.h"

json_t *ch__comment_render_body(const ch_db_rows_t *rows, size_t r)
{
    int deleted = !ch_db_rows_isnull(rows, r, CH_COMMENT_COL_DELETED);
    char created[CH_RFC3339_LEN];
    ch_format_rfc3339(ch_db_rows_int(rows, r, CH_COMMENT_COL_CREATED), created);
    /* A comment's counts are its reactions; comments and views do not apply to it. */
    ch_counters_t counts = {0};
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        counts.reactions[k] = ch_db_rows_int(rows, r, CH_COMMENT_COL_REACTIONS + (size_t)k);
    json_t *cj = ch_counters_json(&counts);
    json_object_del(cj, "comments");
    json_object_del(cj, "views");
    json_t *c = json_pack("{s:s, s:{s:s, s:s}, s:o, s:o, s:s, s:b, s:I, s:o, s:o, s:o}", "id",
                          ch_db_rows_text(rows, r, CH_COMMENT_COL_ID), "target", "type",
                          ch_db_rows_text(rows, r, CH_COMMENT_COL_TARGET_TYPE), "id",
                          ch_db_rows_text(rows, r, CH_COMMENT_COL_TARGET_ID), "parent_id",
                          ch_db_rows_isnull(rows, r, CH_COMMENT_COL_PARENT)
                              ? json_null()
                              : json_string(ch_db_rows_text(rows, r, CH_COMMENT_COL_PARENT)),
                          "text", deleted ? json_null() : json_string(ch_db_rows_text(rows, r, CH_COMMENT_COL_TEXT)),
                          "created_at", created, "deleted", deleted, "replies_count",
                          (json_int_t)ch_db_rows_int(rows, r, CH_COMMENT_COL_REPLIES), "counts", cj, "mentions",
                          deleted ? json_array() : ch_rows_json_array(rows, r, CH_COMMENT_COL_MENTIONS), "hashtags",
                          deleted ? json_array() : ch_rows_json_array(rows, r, CH_COMMENT_COL_HASHTAGS));
    if (deleted)
        json_object_set_new(c, "author", json_null());
    return c;
}

json_t *ch__comment_render(const ch_db_rows_t *rows, size_t r)
{
    int deleted = !ch_db_rows_isnull(rows, r, CH_COMMENT_COL_DELETED);
    json_t *c = ch__comment_render_body(rows, r);
    if (!deleted)
        json_object_set_new(c, "author",
                            json_pack("{s:s, s:s, s:s, s:o}", "id", ch_db_rows_text(rows, r, CH_COMMENT_COL_AUTHOR),
                                      "handle", ch_db_rows_text(rows, r, CH_COMMENT_COL_HANDLE), "display_name",
                                      ch_db_rows_text(rows, r, CH_COMMENT_COL_NAME), "avatar_url",
                                      ch_db_rows_isnull(rows, r, CH_COMMENT_COL_AVATAR)
                                          ? json_null()
                                          : json_string(ch_db_rows_text(rows, r, CH_COMMENT_COL_AVATAR))));
    json_object_set_new(c, "my_reaction",
                        deleted || ch_db_rows_isnull(rows, r, CH_COMMENT_COL_MY_REACTION)
                            ? json_null()
                            : json_string(ch_db_rows_text(rows, r, CH_COMMENT_COL_MY_REACTION)));
    return c;
}

/* ---- loading by ids ---------------------------------------------------------------------- */

/* "$2, $3, ..., $101": one statement text for any number of ids up to CH__COMMENTS_IN_MAX;
 * unused slots bind 0, which is no comment's id. */
#define CH__P10(t) "$" #t "0, $" #t "1, $" #t "2, $" #t "3, $" #t "4, $" #t "5, $" #t "6, $" #t "7, $" #t "8, $" #t "9"
#define CH__IDS_IN                                                                                          \
    "($2, $3, $4, $5, $6, $7, $8, $9, " CH__P10(1) ", " CH__P10(2) ", " CH__P10(3) ", " CH__P10(4) ", "     \
    CH__P10(5) ", " CH__P10(6) ", " CH__P10(7) ", " CH__P10(8) ", " CH__P10(9) ", $100, $101)"
_Static_assert(CH__COMMENTS_IN_MAX == 100, "CH__IDS_IN has one parameter per id");

/* Binds viewer as $1 and ids[0..n) padded with 0 as $2..$101 into p. */
static void ch__bind_ids(ch_db_param_t *p, uint64_t viewer, const uint64_t *ids, size_t n)
{
    p[0] = CH_DB_P_INT(viewer);
    for (size_t i = 0; i < CH__COMMENTS_IN_MAX; i++)
        p[i + 1] = CH_DB_P_INT(i < n ? ids[i] : 0);
}

ch_err_t ch__comments_by_ids(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const uint64_t *ids, size_t n,
                             ch_db_rows_t **rows)
{
    ch_db_param_t p[CH__COMMENTS_IN_MAX + 1];
    ch__bind_ids(p, viewer, ids, n);
    return ch_sql_on(svc, conn,
                     "SELECT " CH_COMMENT_COLUMNS CH_COMMENT_FROM " WHERE c.id IN " CH__IDS_IN
                     " AND" CH_COMMENT_LISTED " AND" CH_GRAPH_SQL_NO_BLOCK("$1", "c.author_id"),
                     p, CH_NPARAMS(p), rows, NULL);
}

/* The first CH_COMMENT_FIRST_REPLIES live replies, that viewer may see, of each parent. */
static const char ch__sql_first_replies[] =
    "SELECT x.* FROM (SELECT " CH_COMMENT_COLUMNS ", ROW_NUMBER() OVER (PARTITION BY c.parent_id ORDER BY c.id) AS rn"
    CH_COMMENT_FROM " WHERE c.parent_id IS NOT NULL AND c.parent_id IN " CH__IDS_IN
    " AND c.deleted_at IS NULL AND" CH_GRAPH_SQL_NO_BLOCK("$1", "c.author_id") ") x"
    " WHERE x.rn <= $102 ORDER BY x.parent_id, x.id";

ch_err_t ch__comments_threads(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const ch_db_rows_t *rows,
                              size_t n, const uint64_t *order, size_t norder, json_t **out)
{
    /* The rows shown, in order: row_of[i] for i < count. */
    size_t count = 0, *row_of = ch_malloc(sizeof(size_t) * (order ? norder : n) + 1);
    for (size_t i = 0; i < (order ? norder : n); i++) {
        size_t r = i;
        if (order) {
            for (r = 0; r < n && (uint64_t)ch_db_rows_int(rows, r, CH_COMMENT_COL_ID) != order[i]; r++)
                ;
            if (r == n)
                continue;
        }
        row_of[count++] = r;
    }
    uint64_t parents[CH__COMMENTS_IN_MAX];
    size_t np = 0;
    for (size_t i = 0; i < count && np < CH__COMMENTS_IN_MAX; i++)
        if (ch_db_rows_int(rows, row_of[i], CH_COMMENT_COL_REPLIES) > 0)
            parents[np++] = (uint64_t)ch_db_rows_int(rows, row_of[i], CH_COMMENT_COL_ID);
    ch_db_rows_t *replies = NULL;
    ch_err_t err = CH_OK;
    if (np > 0) {
        ch_db_param_t p[CH__COMMENTS_IN_MAX + 2];
        ch__bind_ids(p, viewer, parents, np);
        p[CH__COMMENTS_IN_MAX + 1] = CH_DB_P_INT(CH_COMMENT_FIRST_REPLIES);
        err = ch_sql_on(svc, conn, ch__sql_first_replies, p, CH_NPARAMS(p), &replies, NULL);
        if (err) {
            free(row_of);
            return err;
        }
    }
    json_t *list = json_array();
    size_t nrep = ch_db_rows_count(replies);
    for (size_t i = 0; i < count; i++) {
        size_t r = row_of[i];
        json_t *thread = ch__comment_render(rows, r), *first = json_array();
        int64_t id = ch_db_rows_int(rows, r, CH_COMMENT_COL_ID);
        for (size_t k = 0; k < nrep; k++)
            if (ch_db_rows_int(replies, k, CH_COMMENT_COL_PARENT) == id)
                json_array_append_new(first, ch__comment_render(replies, k));
        json_object_set_new(thread, "replies", first);
        json_array_append_new(list, thread);
    }
    ch_db_rows_free(replies);
    free(row_of);
    *out = list;
    return CH_OK;
}
