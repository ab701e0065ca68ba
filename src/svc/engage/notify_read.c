/* Reading notifications: a page is one keyset scan of (user_id, id) joined to the three
 * newest actors' rows; read marks and the unread count use the partial index on unread
 * groups. */
#include "svc/engage/notify.h"

#include <string.h>

#include "core/clock.h"
#include "svc/common/sql.h"

#define CH__ACTOR_COLUMNS(u) u ".id, " u ".handle, " u ".display_name, " u ".avatar_url, " u ".is_private"
#define CH__NCOLS_BASE 7
#define CH__NCOLS_ACTOR 5

static const char ch__sql_page[] =
    "SELECT n.id, n.kind, n.target_type, n.target_id, n.actors_count, n.is_read, n.updated_at, "
    CH__ACTOR_COLUMNS("u1") ", " CH__ACTOR_COLUMNS("u2") ", " CH__ACTOR_COLUMNS("u3")
    " FROM notifications n"
    " LEFT JOIN users u1 ON u1.id = n.actor1_id"
    " LEFT JOIN users u2 ON u2.id = n.actor2_id"
    " LEFT JOIN users u3 ON u3.id = n.actor3_id"
    " WHERE n.user_id = $1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3";

/* The user summary in columns col.. of row, or NULL when that actor slot is empty. */
static json_t *ch__actor(const ch_db_rows_t *rows, size_t row, size_t col)
{
    if (ch_db_rows_isnull(rows, row, col))
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:o, s:b}", "id", ch_db_rows_text(rows, row, col), "handle",
                     ch_db_rows_text(rows, row, col + 1), "display_name", ch_db_rows_text(rows, row, col + 2),
                     "avatar_url",
                     ch_db_rows_isnull(rows, row, col + 3) ? json_null()
                                                           : json_string(ch_db_rows_text(rows, row, col + 3)),
                     "is_private", (int)ch_db_rows_int(rows, row, col + 4));
}

static json_t *ch__render(const ch_db_rows_t *rows, size_t i)
{
    char updated[CH_RFC3339_LEN];
    ch_format_rfc3339(ch_db_rows_int(rows, i, 6), updated);
    json_t *actors = json_array();
    for (size_t k = 0; k < CH_NOTIFY_FIRST_ACTORS; k++) {
        json_t *a = ch__actor(rows, i, CH__NCOLS_BASE + k * CH__NCOLS_ACTOR);
        if (a)
            json_array_append_new(actors, a);
    }
    json_t *n = json_pack("{s:s, s:s, s:o, s:I, s:b, s:s}", "id", ch_db_rows_text(rows, i, 0), "kind",
                          ch_db_rows_text(rows, i, 1), "actors", actors, "actors_count",
                          (json_int_t)ch_db_rows_int(rows, i, 4), "read", (int)ch_db_rows_int(rows, i, 5),
                          "updated_at", updated);
    const char *type = ch_db_rows_text(rows, i, 2);
    if (type[0])
        json_object_set_new(n, "target", json_pack("{s:s, s:s}", "type", type, "id", ch_db_rows_text(rows, i, 3)));
    return n;
}

ch_err_t ch_notify_list(ch_svc_t *svc, uint64_t user, int limit, uint64_t before, json_t **out)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT(before ? before : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(limit + 1)};
    ch_err_t err = ch_sql_run(svc, ch__sql_page, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    json_t *items = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(items, ch__render(rows, i));
    json_t *next = n > (size_t)limit ? json_string(ch_db_rows_text(rows, (size_t)limit - 1, 0)) : json_null();
    ch_db_rows_free(rows);
    *out = json_pack("{s:o, s:o}", "items", items, "next_cursor", next);
    return CH_OK;
}

ch_err_t ch_notify_mark_read(ch_svc_t *svc, uint64_t user, uint64_t up_to)
{
    ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT(up_to ? up_to : (uint64_t)INT64_MAX)};
    return ch_sql_run(svc, "UPDATE notifications SET is_read = 1 WHERE user_id = $1 AND is_read = 0 AND id <= $2", p,
                      CH_NPARAMS(p), NULL, NULL);
}

ch_err_t ch_notify_unread_count(ch_svc_t *svc, uint64_t user, int64_t *out)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user)};
    ch_err_t err = ch_sql_run(svc, "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND is_read = 0", p, 1,
                              &rows, NULL);
    *out = err == CH_OK && ch_db_rows_count(rows) ? ch_db_rows_int(rows, 0, 0) : 0;
    ch_db_rows_free(rows);
    return err;
}
