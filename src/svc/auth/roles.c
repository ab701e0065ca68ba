/* User roles (roles.h): rows of user_roles, plus CHORUS_ADMIN_USERS as admins. */
#include "svc/auth/roles.h"

#include <string.h>

#include "core/clock.h"
#include "svc/common/sql.h"

static const char *const ch__role_names[] = {
#define XX(name, str) [CH_USER_ROLE_##name] = str,
    CH_USER_ROLE_MAP(XX)
#undef XX
};

const char *ch_roles_name(ch_user_role_t role)
{
    return (unsigned)role < CH__USER_ROLE_COUNT ? ch__role_names[role] : "unknown";
}

int ch_roles_parse(const char *name)
{
    for (int i = 0; name && i < CH__USER_ROLE_COUNT; i++)
        if (strcmp(name, ch__role_names[i]) == 0)
            return i;
    return -1;
}

/* The roles given by configuration: admin for CHORUS_ADMIN_USERS. */
static int ch__configured(ch_svc_t *svc, uint64_t user_id, ch_user_role_t role)
{
    return role == CH_USER_ROLE_ADMIN && svc->cfg && ch_config_is_admin(svc->cfg, user_id);
}

ch_err_t ch_roles_has(ch_svc_t *svc, uint64_t user_id, ch_user_role_t role, int *has)
{
    *has = 0;
    if (!user_id || (unsigned)role >= CH__USER_ROLE_COUNT)
        return CH_OK;
    if (ch__configured(svc, user_id, role)) { /* no database read: it may be down */
        *has = 1;
        return CH_OK;
    }
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user_id), CH_DB_P_TEXT(ch_roles_name(role))};
    ch_err_t err = ch_sql_run(svc, "SELECT 1 FROM user_roles WHERE user_id = $1 AND role = $2", p, CH_NPARAMS(p),
                              &rows, NULL);
    *has = err == CH_OK && ch_db_rows_count(rows) > 0;
    ch_db_rows_free(rows);
    return err;
}

/* CH_ENOTFOUND unless user_id is a user, on conn. */
static ch_err_t ch__user_exists(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t user_id, ch_fault_t *f)
{
    if (!user_id || user_id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user_id)};
    ch_err_t err = ch_sql_on(svc, conn, "SELECT 1 FROM users WHERE id = $1", p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_roles_grant(ch_svc_t *svc, uint64_t actor, uint64_t user_id, ch_user_role_t role, ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    err = ch__user_exists(svc, conn, user_id, f);
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(user_id), CH_DB_P_TEXT(ch_roles_name(role)), CH_DB_P_INT(actor),
                             CH_DB_P_INT(ch_now_ms())};
        err = ch_sql_on(svc, conn,
                        "INSERT INTO user_roles(user_id, role, granted_by, created_at) VALUES($1, $2, $3, $4)"
                        " ON CONFLICT (user_id, role) DO NOTHING",
                        p, CH_NPARAMS(p), NULL, NULL);
    }
    return ch_sql_end(svc, conn, err);
}

ch_err_t ch_roles_revoke(ch_svc_t *svc, uint64_t user_id, ch_user_role_t role, ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    err = ch__user_exists(svc, conn, user_id, f);
    int64_t changes = 0;
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(user_id), CH_DB_P_TEXT(ch_roles_name(role))};
        err = ch_sql_on(svc, conn, "DELETE FROM user_roles WHERE user_id = $1 AND role = $2", p, CH_NPARAMS(p), NULL,
                        &changes);
    }
    /* The last admin row goes only while CHORUS_ADMIN_USERS names someone: otherwise nobody
     * could ever grant a role again. Checked after the delete, inside the transaction, so
     * the rollback restores the row. */
    if (err == CH_OK && changes > 0 && role == CH_USER_ROLE_ADMIN && svc->cfg && svc->cfg->nadmin_users == 0) {
        ch_db_rows_t *rows = NULL;
        ch_db_param_t p[] = {CH_DB_P_TEXT(ch_roles_name(role))};
        err = ch_sql_on(svc, conn, "SELECT 1 FROM user_roles WHERE role = $1 LIMIT 1", p, CH_NPARAMS(p), &rows, NULL);
        if (err == CH_OK && ch_db_rows_count(rows) == 0)
            err = ch_fault(f, CH_ECONFLICT, "role",
                           "the last admin cannot be revoked while CHORUS_ADMIN_USERS is empty: grant another first");
        ch_db_rows_free(rows);
    }
    return ch_sql_end(svc, conn, err);
}

ch_err_t ch_roles_list(ch_svc_t *svc, uint64_t user_id, json_t **out, ch_fault_t *f)
{
    json_t *arr = json_array();
    for (int r = 0; r < CH__USER_ROLE_COUNT; r++) {
        int has = 0;
        ch_err_t err = ch_roles_has(svc, user_id, (ch_user_role_t)r, &has);
        if (err) {
            json_decref(arr);
            return err;
        }
        if (has)
            json_array_append_new(arr, json_string(ch_roles_name((ch_user_role_t)r)));
    }
    *out = arr;
    return CH_OK;
}
