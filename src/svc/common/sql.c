#include "svc/common/sql.h"

ch_err_t ch_backend_err(ch_backend_t backend, ch_err_t err)
{
    /* A lock met on an event loop is no failure: the call runs again on a worker. */
    if ((err == CH_EUNAVAILABLE && !ch_db_loop_busy_peek()) || err == CH_EINTERNAL)
        ch_metrics_backend_error(backend);
    return err;
}

ch_err_t ch_sql_on(ch_svc_t *svc, ch_db_conn_t *conn, const char *sql, const ch_db_param_t *params, size_t nparams,
                   ch_db_rows_t **rows_out, int64_t *changes_out)
{
    return ch_backend_err(CH_BACKEND_DB, ch_db_exec(svc->db, conn, sql, params, nparams, rows_out, changes_out));
}

ch_err_t ch_sql_run(ch_svc_t *svc, const char *sql, const ch_db_param_t *params, size_t nparams,
                    ch_db_rows_t **rows_out, int64_t *changes_out)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    if (err)
        return err;
    err = ch_sql_on(svc, conn, sql, params, nparams, rows_out, changes_out);
    ch_db_release(svc->db, conn);
    return err;
}

ch_err_t ch_sql_begin(ch_svc_t *svc, int for_write, ch_db_conn_t **conn_out)
{
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, conn_out));
    if (err)
        return err;
    if ((err = ch_backend_err(CH_BACKEND_DB, ch_db_begin(svc->db, *conn_out, for_write))) != CH_OK) {
        ch_db_release(svc->db, *conn_out);
        *conn_out = NULL;
    }
    return err;
}

ch_err_t ch_sql_end(ch_svc_t *svc, ch_db_conn_t *conn, ch_err_t err)
{
    if (err == CH_OK)
        err = ch_backend_err(CH_BACKEND_DB, ch_db_commit(svc->db, conn));
    else
        ch_db_rollback(svc->db, conn);
    ch_db_release(svc->db, conn);
    return err;
}
