/* User suggestions (suggest.h). Four bounded statements, each already filtered by the
 * viewer's exclusions (CH__SQL_CANDIDATE), merged in order of reason, then one statement
 * renders the chosen accounts:
 *   friends of friends   the accounts followed by the viewer's CH_SUGGEST_FOF_FOLLOWEES_MAX
 *                        newest followees (at most CH_SUGGEST_FOF_EDGES_MAX edges read),
 *                        by how many of them follow it, then most followed
 *   popular_in_interests authors of the live public posts and reels among the newest
 *                        CH_SUGGEST_TAG_SCAN_MAX rows of each of the viewer's interest tags,
 *                        most followed first
 *   popular_in_region    the most followed accounts of the viewer's region (users_region_popular)
 *   popular              the most followed accounts (users_popular): a user without follows,
 *                        interests or region still gets suggestions (cold start) */
#include "svc/feed/suggest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/sql.h"
#include "svc/feed/sources_int.h"
#include "svc/graph/visibility.h"

/* A user (column `u`) the viewer ($1) may be suggested. */
#define CH__SQL_CANDIDATE(u)                                                                          \
    " " u " <> $1 AND NOT EXISTS (SELECT 1 FROM follows sf WHERE sf.follower_id = $1 AND sf.followee_id = " u \
    ") AND NOT EXISTS (SELECT 1 FROM follow_requests sr WHERE sr.requester_id = $1 AND sr.target_id = " u   \
    ") AND NOT EXISTS (SELECT 1 FROM mutes sm WHERE sm.muter_id = $1 AND sm.muted_id = " u ") AND"          \
    CH_GRAPH_SQL_NO_BLOCK("$1", u)

/* $1 viewer, $2 followees walked, $3 edges read, $4 rows. Columns: id, mutual count. */
static const char ch__sql_fof[] =
    "SELECT w.uid, COUNT(*) AS m, MAX(u.followers_count) AS fc FROM"
    " (SELECT f2.followee_id AS uid FROM"
    "  (SELECT followee_id FROM follows WHERE follower_id = $1 ORDER BY id DESC LIMIT $2) f1"
    "  JOIN follows f2 ON f2.follower_id = f1.followee_id LIMIT $3) w"
    " JOIN users u ON u.id = w.uid"
    " WHERE" CH__SQL_CANDIDATE("w.uid")
    " GROUP BY w.uid ORDER BY m DESC, fc DESC, w.uid DESC LIMIT $4";

/* $1 viewer, $2 now, $3 rows per tag, $4 rows, $5.. the tags (NULL: unused). Columns: id. */
static char *ch__sql_interests(void)
{
    static const char tail[] =
        ") x JOIN items i ON i.id = x.target_id AND i.type = x.target_type"
        " JOIN users au ON au.id = i.author_id"
        " WHERE i.type IN ('post', 'reel') AND i.visibility = 'public' AND au.is_private = 0 AND"
        " i.deleted_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > $2) AND" CH__SQL_CANDIDATE("i.author_id")
        " GROUP BY i.author_id ORDER BY MAX(au.followers_count) DESC, COUNT(*) DESC, i.author_id DESC LIMIT $4";
    size_t cap = 64 + sizeof(tail) + CH_SUGGEST_INTEREST_TAGS_MAX * 200;
    char *sql = ch_malloc(cap);
    if (!sql)
        return NULL;
    size_t len = (size_t)snprintf(sql, cap, "SELECT i.author_id FROM (");
    for (size_t k = 0; k < CH_SUGGEST_INTEREST_TAGS_MAX; k++)
        len += (size_t)snprintf(sql + len, cap - len,
                                "%sSELECT target_type, target_id FROM (SELECT target_type, target_id FROM hashtags"
                                " WHERE tag = $%zu ORDER BY target_id DESC LIMIT $3) t%zu",
                                k ? " UNION ALL " : "", k + 5, k);
    snprintf(sql + len, cap - len, "%s", tail);
    return sql;
}

/* $1 viewer, $2 region, $3 accounts read, $4 rows. */
static const char ch__sql_region[] =
    "SELECT p.id FROM"
    " (SELECT id, followers_count FROM users WHERE region = $2 ORDER BY followers_count DESC, id DESC LIMIT $3) p"
    " WHERE" CH__SQL_CANDIDATE("p.id") " ORDER BY p.followers_count DESC, p.id DESC LIMIT $4";
/* $1 viewer, $2 accounts read, $3 rows. */
static const char ch__sql_popular[] =
    "SELECT p.id FROM"
    " (SELECT id, followers_count FROM users ORDER BY followers_count DESC, id DESC LIMIT $2) p"
    " WHERE" CH__SQL_CANDIDATE("p.id") " ORDER BY p.followers_count DESC, p.id DESC LIMIT $3";

typedef struct {
    uint64_t id;
    const char *reason; /* static */
    int64_t mutual;     /* friends_of_friends only */
} ch__pick_t;

typedef struct {
    ch__pick_t p[CH_SUGGEST_LIMIT_MAX];
    size_t n, limit;
} ch__picks_t;

/* Adds the first-column ids of rows under reason (mutual from column 1 when asked). */
static void ch__take(ch__picks_t *picks, ch_db_rows_t *rows, const char *reason, int with_mutual)
{
    for (size_t r = 0; r < ch_db_rows_count(rows) && picks->n < picks->limit; r++) {
        uint64_t id = (uint64_t)ch_db_rows_int(rows, r, 0);
        size_t k = 0;
        while (k < picks->n && picks->p[k].id != id)
            k++;
        if (k < picks->n)
            continue;
        picks->p[picks->n++] = (ch__pick_t){id, reason, with_mutual ? ch_db_rows_int(rows, r, 1) : 0};
    }
}

/* Runs one statement and takes its rows. */
static ch_err_t ch__run_take(ch_svc_t *svc, const char *sql, const ch_db_param_t *p, size_t np, ch__picks_t *picks,
                             const char *reason, int with_mutual)
{
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, sql, p, np, &rows, NULL);
    if (err == CH_OK)
        ch__take(picks, rows, reason, with_mutual);
    ch_db_rows_free(rows);
    return err;
}

static ch_err_t ch__by_interests(ch_svc_t *svc, uint64_t viewer, json_t *interests, ch__picks_t *picks)
{
    if (json_array_size(interests) == 0)
        return CH_OK;
    char *sql = ch__sql_interests();
    if (!sql)
        return CH_EINTERNAL;
    ch_db_param_t p[4 + CH_SUGGEST_INTEREST_TAGS_MAX];
    p[0] = CH_DB_P_INT(viewer);
    p[1] = CH_DB_P_INT(ch_now_ms());
    p[2] = CH_DB_P_INT(CH_SUGGEST_TAG_SCAN_MAX);
    p[3] = CH_DB_P_INT(picks->limit);
    for (size_t k = 0; k < CH_SUGGEST_INTEREST_TAGS_MAX; k++)
        p[4 + k] = CH_DB_P_TEXT(json_string_value(json_array_get(interests, k))); /* NULL past the end */
    ch_err_t err = ch__run_take(svc, sql, p, CH_NPARAMS(p), picks, "popular_in_interests", 0);
    free(sql);
    return err;
}

/* Renders the picks: one statement for every summary, padded to CH_SUGGEST_LIMIT_MAX ids
 * so that its text never changes. A pick whose account went meanwhile is left out. */
static ch_err_t ch__render(ch_svc_t *svc, const ch__picks_t *picks, json_t **out)
{
    char sql[64 + CH_SUGGEST_LIMIT_MAX * 6];
    size_t len = (size_t)snprintf(sql, sizeof(sql), "SELECT id, handle, display_name, avatar_url, is_private"
                                                    " FROM users WHERE id IN (");
    ch_db_param_t p[CH_SUGGEST_LIMIT_MAX];
    for (size_t i = 0; i < CH_SUGGEST_LIMIT_MAX; i++) {
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s$%zu", i ? "," : "", i + 1);
        p[i] = CH_DB_P_INT(i < picks->n ? picks->p[i].id : 0);
    }
    snprintf(sql + len, sizeof(sql) - len, ")");
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    json_t *items = json_array();
    for (size_t i = 0; i < picks->n; i++) {
        for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
            if ((uint64_t)ch_db_rows_int(rows, r, 0) != picks->p[i].id)
                continue;
            json_t *user = json_pack("{s:s, s:s, s:s, s:o, s:b}", "id", ch_db_rows_text(rows, r, 0), "handle",
                                     ch_db_rows_text(rows, r, 1), "display_name", ch_db_rows_text(rows, r, 2),
                                     "avatar_url",
                                     ch_db_rows_isnull(rows, r, 3) ? json_null()
                                                                   : json_string(ch_db_rows_text(rows, r, 3)),
                                     "is_private", (int)ch_db_rows_int(rows, r, 4));
            json_t *item = json_pack("{s:o, s:s}", "user", user, "reason", picks->p[i].reason);
            if (strcmp(picks->p[i].reason, "friends_of_friends") == 0)
                json_object_set_new(item, "mutual_count", json_integer(picks->p[i].mutual));
            json_array_append_new(items, item);
            break;
        }
    }
    ch_db_rows_free(rows);
    *out = json_pack("{s:o}", "items", items);
    return *out ? CH_OK : CH_EINTERNAL;
}

ch_err_t ch_feed_suggest_users(ch_svc_t *svc, uint64_t viewer, int limit, json_t **out, ch_fault_t *f)
{
    (void)f;
    ch__picks_t picks = {.n = 0, .limit = limit < 1 ? 1 : limit > CH_SUGGEST_LIMIT_MAX ? CH_SUGGEST_LIMIT_MAX
                                                                                       : (size_t)limit};
    ch_db_param_t fof[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(CH_SUGGEST_FOF_FOLLOWEES_MAX),
                           CH_DB_P_INT(CH_SUGGEST_FOF_EDGES_MAX), CH_DB_P_INT(picks.limit)};
    ch_err_t err = ch__run_take(svc, ch__sql_fof, fof, CH_NPARAMS(fof), &picks, "friends_of_friends", 1);
    if (err)
        return err;
    json_t *interests = NULL;
    char region[3] = "";
    if (picks.n < picks.limit) {
        if ((err = ch_feed__viewer_profile(svc, viewer, &interests, region)) == CH_OK)
            err = ch__by_interests(svc, viewer, interests, &picks);
        json_decref(interests);
    }
    if (err == CH_OK && picks.n < picks.limit && region[0]) {
        ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_TEXT(region), CH_DB_P_INT(CH_SUGGEST_POPULAR_SCAN_MAX),
                             CH_DB_P_INT(picks.limit)};
        err = ch__run_take(svc, ch__sql_region, p, CH_NPARAMS(p), &picks, "popular_in_region", 0);
    }
    if (err == CH_OK && picks.n < picks.limit) {
        ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(CH_SUGGEST_POPULAR_SCAN_MAX), CH_DB_P_INT(picks.limit)};
        err = ch__run_take(svc, ch__sql_popular, p, CH_NPARAMS(p), &picks, "popular", 0);
    }
    return err ? err : ch__render(svc, &picks, out);
}
