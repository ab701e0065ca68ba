#include "svc/engage/counters.h"

#include <stdio.h>
#include <string.h>

#include "svc/common/hydrate.h"

_Static_assert(CH_REACTION_KIND_COUNT == 6, "the SQL below names one r_<kind> column per kind");

#define CH__COUNTER_COLUMNS "r_like, r_love, r_haha, r_wow, r_sad, r_angry, comments, views, watch_ms"

static const char ch__sql_add[] =
    "INSERT INTO target_counters(target_type, target_id, " CH__COUNTER_COLUMNS ")"
    " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    " ON CONFLICT (target_type, target_id) DO UPDATE SET"
    " r_like = target_counters.r_like + excluded.r_like,"
    " r_love = target_counters.r_love + excluded.r_love,"
    " r_haha = target_counters.r_haha + excluded.r_haha,"
    " r_wow = target_counters.r_wow + excluded.r_wow,"
    " r_sad = target_counters.r_sad + excluded.r_sad,"
    " r_angry = target_counters.r_angry + excluded.r_angry,"
    " comments = target_counters.comments + excluded.comments,"
    " views = target_counters.views + excluded.views,"
    " watch_ms = target_counters.watch_ms + excluded.watch_ms"
    " RETURNING " CH__COUNTER_COLUMNS;

static const char ch__sql_read[] =
    "SELECT " CH__COUNTER_COLUMNS " FROM target_counters WHERE target_type = $1 AND target_id = $2";

int ch_counters_is_zero(const ch_counters_t *c)
{
    static const ch_counters_t zero;
    return memcmp(c, &zero, sizeof(zero)) == 0;
}

int64_t ch_counters_reactions_total(const ch_counters_t *c)
{
    int64_t total = 0;
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        total += c->reactions[k];
    return total;
}

/* Fills out from the 9 counter columns of row 0 starting at col (zero when no row). */
static void ch__counters_from_row(const ch_db_rows_t *rows, size_t col, ch_counters_t *out)
{
    memset(out, 0, sizeof(*out));
    if (ch_db_rows_count(rows) == 0)
        return;
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        out->reactions[k] = ch_db_rows_int(rows, 0, col + (size_t)k);
    out->comments = ch_db_rows_int(rows, 0, col + 6);
    out->views = ch_db_rows_int(rows, 0, col + 7);
    out->watch_ms = ch_db_rows_int(rows, 0, col + 8);
}

ch_err_t ch_counters_add(ch_svc_t *svc, ch_db_conn_t *conn, ch_target_type_t type, uint64_t id,
                         const ch_counters_t *d, ch_counters_t *after)
{
    if (ch_counters_is_zero(d))
        return after ? ch_counters_read(svc, conn, type, id, after) : CH_OK;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(type)),
                         CH_DB_P_INT(id),
                         CH_DB_P_INT(d->reactions[CH_REACTION_LIKE]),
                         CH_DB_P_INT(d->reactions[CH_REACTION_LOVE]),
                         CH_DB_P_INT(d->reactions[CH_REACTION_HAHA]),
                         CH_DB_P_INT(d->reactions[CH_REACTION_WOW]),
                         CH_DB_P_INT(d->reactions[CH_REACTION_SAD]),
                         CH_DB_P_INT(d->reactions[CH_REACTION_ANGRY]),
                         CH_DB_P_INT(d->comments),
                         CH_DB_P_INT(d->views),
                         CH_DB_P_INT(d->watch_ms)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn, ch__sql_add, p, CH_NPARAMS(p), after ? &rows : NULL, NULL);
    if (err == CH_OK && after)
        ch__counters_from_row(rows, 0, after);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_counters_read(ch_svc_t *svc, ch_db_conn_t *conn, ch_target_type_t type, uint64_t id,
                          ch_counters_t *out)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(type)), CH_DB_P_INT(id)};
    ch_err_t err = conn ? ch_sql_on(svc, conn, ch__sql_read, p, CH_NPARAMS(p), &rows, NULL)
                        : ch_sql_run(svc, ch__sql_read, p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK)
        ch__counters_from_row(rows, 0, out);
    ch_db_rows_free(rows);
    return err;
}

json_t *ch_counters_json(const ch_counters_t *c)
{
    json_t *kinds = json_object();
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        if (c->reactions[k] > 0)
            json_object_set_new(kinds, ch_reaction_kind_name((ch_reaction_kind_t)k),
                                json_integer((json_int_t)c->reactions[k]));
    return json_pack("{s:o, s:I, s:I, s:I}", "reactions", kinds, "reactions_total",
                     (json_int_t)ch_counters_reactions_total(c), "comments", (json_int_t)c->comments, "views",
                     (json_int_t)c->views);
}

/* ---- repair ------------------------------------------------------------------------------ */

/* Locks the counter row of a target (creating it), so that the counts read after it see
 * every writer that already moved it (PostgreSQL: each later statement of READ COMMITTED
 * takes a new snapshot; SQLite: BEGIN IMMEDIATE already excludes writers). */
static const char ch__sql_lock[] =
    "INSERT INTO target_counters(target_type, target_id) VALUES($1, $2)"
    " ON CONFLICT (target_type, target_id) DO UPDATE SET views = target_counters.views";

/* Recomputes one target on conn (in a write transaction). */
static ch_err_t ch__repair_on(ch_svc_t *svc, ch_db_conn_t *conn, ch_target_type_t type, uint64_t id,
                              ch_counters_t *before, ch_counters_t *after)
{
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(type)), CH_DB_P_INT(id)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_on(svc, conn, ch__sql_lock, p, CH_NPARAMS(p), NULL, NULL);
    if (err == CH_OK)
        err = ch_counters_read(svc, conn, type, id, before);
    if (err)
        return err;
    memset(after, 0, sizeof(*after));
    err = ch_sql_on(svc, conn,
                    "SELECT kind, COUNT(*) FROM reactions WHERE target_type = $1 AND target_id = $2 GROUP BY kind",
                    p, CH_NPARAMS(p), &rows, NULL);
    for (size_t r = 0; err == CH_OK && r < ch_db_rows_count(rows); r++) {
        int k = ch_reaction_kind_parse(ch_db_rows_text(rows, r, 0));
        if (k >= 0)
            after->reactions[k] = ch_db_rows_int(rows, r, 1);
    }
    ch_db_rows_free(rows);
    rows = NULL;
    if (err == CH_OK)
        err = ch_sql_on(svc, conn,
                        "SELECT COALESCE(SUM(counted), 0), COALESCE(SUM(watch_ms_total), 0) FROM views"
                        " WHERE target_type = $1 AND target_id = $2",
                        p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 1) {
        after->views = ch_db_rows_int(rows, 0, 0);
        after->watch_ms = ch_db_rows_int(rows, 0, 1);
    }
    ch_db_rows_free(rows);
    rows = NULL;
    /* Live comments and replies on the item (svc/engage/comments.h: both count, a deleted
     * one does not; replies hang under a top-level comment of the same item). */
    if (err == CH_OK)
        err = ch_sql_on(svc, conn,
                        "SELECT (SELECT COUNT(*) FROM comments WHERE target_type = $1 AND target_id = $2"
                        " AND parent_id IS NULL AND deleted_at IS NULL)"
                        " + (SELECT COUNT(*) FROM comments r WHERE r.deleted_at IS NULL AND r.parent_id IN"
                        " (SELECT id FROM comments WHERE target_type = $1 AND target_id = $2 AND parent_id IS NULL))",
                        p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 1)
        after->comments = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    if (err || memcmp(before, after, sizeof(*after)) == 0)
        return err;
    ch_db_param_t u[] = {CH_DB_P_TEXT(ch_target_type_name(type)),
                         CH_DB_P_INT(id),
                         CH_DB_P_INT(after->reactions[CH_REACTION_LIKE]),
                         CH_DB_P_INT(after->reactions[CH_REACTION_LOVE]),
                         CH_DB_P_INT(after->reactions[CH_REACTION_HAHA]),
                         CH_DB_P_INT(after->reactions[CH_REACTION_WOW]),
                         CH_DB_P_INT(after->reactions[CH_REACTION_SAD]),
                         CH_DB_P_INT(after->reactions[CH_REACTION_ANGRY]),
                         CH_DB_P_INT(after->views),
                         CH_DB_P_INT(after->watch_ms),
                         CH_DB_P_INT(after->comments)};
    return ch_sql_on(svc, conn,
                     "UPDATE target_counters SET r_like = $3, r_love = $4, r_haha = $5, r_wow = $6, r_sad = $7,"
                     " r_angry = $8, views = $9, watch_ms = $10, comments = $11"
                     " WHERE target_type = $1 AND target_id = $2",
                     u, CH_NPARAMS(u), NULL, NULL);
}

ch_err_t ch_counters_repair(ch_svc_t *svc, ch_target_type_t type, uint64_t id, ch_counters_t *before,
                            ch_counters_t *after)
{
    ch_counters_t b, a;
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    err = ch_sql_end(svc, conn, ch__repair_on(svc, conn, type, id, &b, &a));
    if (err == CH_OK && memcmp(&b, &a, sizeof(a)) != 0) /* the item's counts as cached */
        ch_hydrate_forget_item(svc, type, id);
    if (err == CH_OK && before)
        *before = b;
    if (err == CH_OK && after)
        *after = a;
    return err;
}

#define CH__REPAIR_PAGE 500

/* Every target with counters or engagement rows, in (type, id) order after ($1, $2). */
static const char ch__sql_targets[] =
    "SELECT target_type, target_id FROM ("
    " SELECT target_type, target_id FROM target_counters"
    " UNION SELECT target_type, target_id FROM reactions"
    " UNION SELECT target_type, target_id FROM views"
    " UNION SELECT target_type, target_id FROM comments) t"
    " WHERE target_type > $1 OR (target_type = $1 AND target_id > $2)"
    " ORDER BY target_type, target_id LIMIT $3";

ch_err_t ch_counters_repair_all(ch_svc_t *svc, uint64_t *checked, uint64_t *fixed)
{
    uint64_t n_checked = 0, n_fixed = 0;
    char last_type[32] = "";
    int64_t last_id = 0;
    ch_err_t err = CH_OK;
    for (;;) {
        ch_db_rows_t *rows = NULL;
        ch_db_param_t p[] = {CH_DB_P_TEXT(last_type), CH_DB_P_INT(last_id), CH_DB_P_INT(CH__REPAIR_PAGE)};
        if ((err = ch_sql_run(svc, ch__sql_targets, p, CH_NPARAMS(p), &rows, NULL)) != CH_OK)
            break;
        size_t n = ch_db_rows_count(rows);
        for (size_t r = 0; r < n && err == CH_OK; r++) {
            const char *tname = ch_db_rows_text(rows, r, 0);
            int64_t id = ch_db_rows_int(rows, r, 1);
            snprintf(last_type, sizeof(last_type), "%s", tname);
            last_id = id;
            int type = ch_target_from_name(tname);
            if (type < 0)
                continue; /* not a type this build knows: leave it alone */
            ch_counters_t before, after;
            err = ch_counters_repair(svc, (ch_target_type_t)type, (uint64_t)id, &before, &after);
            n_checked++;
            n_fixed += err == CH_OK && memcmp(&before, &after, sizeof(after)) != 0;
        }
        ch_db_rows_free(rows);
        if (err || n < CH__REPAIR_PAGE)
            break;
    }
    if (checked)
        *checked = n_checked;
    if (fixed)
        *fixed = n_fixed;
    return err;
}
