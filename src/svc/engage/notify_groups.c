/* Writing notification groups: an actor joins (rules checked, group made, three newest
 * actors and count moved in the row) or leaves (newest three read back from
 * notification_actors). Runs inside the worker's batch transaction; every recipient whose
 * groups it changes is noted (notify_cache.h) and their cached list forgotten after the
 * commit. */
#include "svc/engage/notify.h"
#include "svc/engage/notify_cache.h"
#include "svc/engage/notify_push.h"

#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/common/sql.h"
#include "svc/graph/visibility.h"

static ch_db_param_t ch__actor_param(uint64_t id)
{
    return id ? CH_DB_P_INT(id) : CH_DB_P_NULL;
}

/* The group's gid and its two newest actors; *gid 0 when there is no such group. */
static ch_err_t ch__find(ch_svc_t *svc, ch_db_conn_t *conn, const ch_notify_group_t *g, uint64_t *gid,
                         uint64_t newest[2])
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(g->recipient), CH_DB_P_TEXT(g->kind), CH_DB_P_TEXT(g->target_type),
                         CH_DB_P_INT(g->target_id)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT gid, actor1_id, actor2_id FROM notifications "
                             "WHERE user_id = $1 AND kind = $2 AND target_type = $3 AND target_id = $4",
                             p, CH_NPARAMS(p), &rows, NULL);
    int found = err == CH_OK && ch_db_rows_count(rows) == 1;
    *gid = found ? (uint64_t)ch_db_rows_int(rows, 0, 0) : 0;
    newest[0] = found ? (uint64_t)ch_db_rows_int(rows, 0, 1) : 0;
    newest[1] = found ? (uint64_t)ch_db_rows_int(rows, 0, 2) : 0;
    ch_db_rows_free(rows);
    return err;
}

/* Whether the rules let actor notify recipient. */
static ch_err_t ch__allowed(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t recipient, uint64_t actor, int *ok)
{
    *ok = 0;
    if (!recipient || !actor || recipient == actor || recipient > INT64_MAX || actor > INT64_MAX)
        return CH_OK;
    ch_graph_rel_t rel;
    ch_err_t err = ch_graph_relation(svc, conn, recipient, actor, &rel);
    *ok = err == CH_OK && rel.exists && !rel.blocking && !rel.blocked_by && !rel.muting;
    return err;
}

ch_err_t ch_notify_add(ch_svc_t *svc, ch_db_conn_t *conn, const ch_notify_group_t *g, uint64_t actor)
{
    int ok;
    ch_err_t err = ch__allowed(svc, conn, g->recipient, actor, &ok);
    if (err || !ok)
        return err;
    int64_t now = ch_now_ms();
    ch_db_param_t p[] = {CH_DB_P_INT(ch_id_next()),     CH_DB_P_INT(g->recipient),  CH_DB_P_TEXT(g->kind),
                         CH_DB_P_TEXT(g->target_type),  CH_DB_P_INT(g->target_id), CH_DB_P_INT(ch_id_next()),
                         CH_DB_P_INT(now)};
    err = ch_sql_on(svc, conn,
                    "INSERT INTO notifications(gid, user_id, kind, target_type, target_id, id, actors_count, is_read, "
                    "created_at, updated_at) VALUES($1, $2, $3, $4, $5, $6, 0, 0, $7, $7) ON CONFLICT DO NOTHING",
                    p, CH_NPARAMS(p), NULL, NULL);
    uint64_t gid = 0, newest[2];
    if (err == CH_OK)
        err = ch__find(svc, conn, g, &gid, newest);
    if (err || !gid)
        return err;
    int64_t added = 0;
    ch_db_param_t a[] = {CH_DB_P_INT(gid), CH_DB_P_INT(actor), CH_DB_P_INT(g->recipient), CH_DB_P_INT(ch_id_next())};
    err = ch_sql_on(svc, conn,
                    "INSERT INTO notification_actors(gid, actor_id, user_id, seq) VALUES($1, $2, $3, $4) "
                    "ON CONFLICT DO NOTHING",
                    a, CH_NPARAMS(a), NULL, &added);
    if (err || !added)
        return err;
    /* A new actor is the newest: it leads, the two before it follow. */
    uint64_t id = ch_id_next();
    ch_db_param_t u[] = {CH_DB_P_INT(gid), CH_DB_P_INT(id), CH_DB_P_INT(actor),
                         ch__actor_param(newest[0]), ch__actor_param(newest[1]), CH_DB_P_INT(now)};
    err = ch_sql_on(svc, conn,
                    "UPDATE notifications SET id = $2, actor1_id = $3, actor2_id = $4, actor3_id = $5, "
                    "actors_count = actors_count + 1, is_read = 0, updated_at = $6 WHERE gid = $1",
                    u, CH_NPARAMS(u), NULL, NULL);
    if (err == CH_OK) { /* pushed to the recipient's devices once the batch commits */
        ch_notify_push_note(g->recipient, id, g->kind, g->target_type, g->target_id, actor);
        ch__notify_changed(g->recipient);
    }
    return err;
}

/* Takes actor out of group gid; reads back the newest three, or drops the empty group. */
static ch_err_t ch__remove_from(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t gid, uint64_t actor)
{
    int64_t removed = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(gid), CH_DB_P_INT(actor)};
    ch_err_t err = ch_sql_on(svc, conn, "DELETE FROM notification_actors WHERE gid = $1 AND actor_id = $2", p,
                             CH_NPARAMS(p), NULL, &removed);
    if (err || !removed)
        return err;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t q[] = {CH_DB_P_INT(gid), CH_DB_P_INT(CH_NOTIFY_FIRST_ACTORS)};
    err = ch_sql_on(svc, conn, "SELECT actor_id FROM notification_actors WHERE gid = $1 ORDER BY seq DESC LIMIT $2",
                    q, CH_NPARAMS(q), &rows, NULL);
    size_t n = err == CH_OK ? ch_db_rows_count(rows) : 0;
    uint64_t first[CH_NOTIFY_FIRST_ACTORS] = {0};
    for (size_t i = 0; i < n && i < CH_NOTIFY_FIRST_ACTORS; i++)
        first[i] = (uint64_t)ch_db_rows_int(rows, i, 0);
    ch_db_rows_free(rows);
    if (err)
        return err;
    if (n == 0) {
        ch_db_param_t d[] = {CH_DB_P_INT(gid)};
        return ch_sql_on(svc, conn, "DELETE FROM notifications WHERE gid = $1", d, 1, NULL, NULL);
    }
    ch_db_param_t u[] = {CH_DB_P_INT(gid), ch__actor_param(first[0]), ch__actor_param(first[1]),
                         ch__actor_param(first[2])};
    return ch_sql_on(svc, conn,
                     "UPDATE notifications SET actor1_id = $2, actor2_id = $3, actor3_id = $4, "
                     "actors_count = actors_count - 1 WHERE gid = $1",
                     u, CH_NPARAMS(u), NULL, NULL);
}

ch_err_t ch_notify_remove(ch_svc_t *svc, ch_db_conn_t *conn, const ch_notify_group_t *g, uint64_t actor)
{
    uint64_t gid = 0, newest[2];
    ch_err_t err = ch__find(svc, conn, g, &gid, newest);
    if (err || !gid)
        return err;
    ch__notify_changed(g->recipient);
    return ch__remove_from(svc, conn, gid, actor);
}

ch_err_t ch_notify_forget_actor(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t recipient, uint64_t actor)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(recipient), CH_DB_P_INT(actor)};
    ch_err_t err = ch_sql_on(svc, conn, "SELECT gid FROM notification_actors WHERE user_id = $1 AND actor_id = $2", p,
                             CH_NPARAMS(p), &rows, NULL);
    size_t n = err == CH_OK ? ch_db_rows_count(rows) : 0;
    if (n)
        ch__notify_changed(recipient);
    for (size_t i = 0; i < n && err == CH_OK; i++)
        err = ch__remove_from(svc, conn, (uint64_t)ch_db_rows_int(rows, i, 0), actor);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_notify_forget_target(ch_svc_t *svc, ch_db_conn_t *conn, const char *type, uint64_t id)
{
    ch_db_param_t p[] = {CH_DB_P_TEXT(type), CH_DB_P_INT(id)};
    ch_db_rows_t *rows = NULL; /* whose lists lose a group: forgotten after the commit */
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT DISTINCT user_id FROM notifications WHERE target_type = $1 AND target_id = $2", p,
                             CH_NPARAMS(p), &rows, NULL);
    for (size_t i = 0; err == CH_OK && i < ch_db_rows_count(rows); i++)
        ch__notify_changed((uint64_t)ch_db_rows_int(rows, i, 0));
    ch_db_rows_free(rows);
    if (err == CH_OK)
        err = ch_sql_on(svc, conn,
                        "DELETE FROM notification_actors WHERE gid IN (SELECT gid FROM notifications"
                        " WHERE target_type = $1 AND target_id = $2)",
                        p, CH_NPARAMS(p), NULL, NULL);
    if (err == CH_OK)
        err = ch_sql_on(svc, conn, "DELETE FROM notifications WHERE target_type = $1 AND target_id = $2", p,
                        CH_NPARAMS(p), NULL, NULL);
    return err;
}

ch_err_t ch_notify_target_gone(ch_svc_t *svc, ch_db_conn_t *conn, const char *type, uint64_t id, int *gone)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    *gone = 0;
    const char *sql = strcmp(type, "comment") == 0   ? "SELECT 1 FROM comments WHERE id = $1 AND deleted_at IS NOT NULL"
                      : strcmp(type, "listing") == 0 ? "SELECT 1 FROM listings WHERE id = $1 AND state = 'removed'"
                                                     : "SELECT 1 FROM items WHERE id = $1 AND deleted_at IS NOT NULL";
    ch_err_t err = ch_sql_on(svc, conn, sql, p, CH_NPARAMS(p), &rows, NULL);
    *gone = err == CH_OK && ch_db_rows_count(rows) > 0;
    ch_db_rows_free(rows);
    return err;
}
