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

/* Calls queued for a transaction's commit: per thread (a transaction of ch_sql_begin lives
 * on one thread), tagged with the connection. */
typedef struct {
    ch_db_conn_t *conn;
    void (*fn)(void *ctx, uint64_t id);
    void *ctx;
    uint64_t id;
} ch__sql_hook_t;
static _Thread_local ch__sql_hook_t ch__hooks[CH_SQL_AFTER_COMMIT_MAX];
static _Thread_local size_t ch__nhooks;

/* Runs (run != 0) or drops conn's queued calls, in the order they were queued. */
static void ch__hooks_finish(ch_db_conn_t *conn, int run)
{
    size_t kept = 0;
    for (size_t i = 0; i < ch__nhooks; i++) {
        ch__sql_hook_t h = ch__hooks[i];
        if (h.conn != conn)
            ch__hooks[kept++] = h;
        else if (run)
            h.fn(h.ctx, h.id);
    }
    ch__nhooks = kept;
}

void ch_sql_after_commit(ch_svc_t *svc, ch_db_conn_t *conn, void (*fn)(void *ctx, uint64_t id), void *ctx,
                         uint64_t id)
{
    if (!conn) {
        ch_db_after_commit(svc->db, fn, ctx, id);
        return;
    }
    if (ch__nhooks == CH_SQL_AFTER_COMMIT_MAX) {
        fn(ctx, id); /* better early than never */
        return;
    }
    ch__hooks[ch__nhooks++] = (ch__sql_hook_t){conn, fn, ctx, id};
}

ch_err_t ch_sql_begin(ch_svc_t *svc, int for_write, ch_db_conn_t **conn_out)
{
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, conn_out));
    if (err)
        return err;
    ch__hooks_finish(*conn_out, 0); /* left by a transaction not ended by ch_sql_end */
    if ((err = ch_backend_err(CH_BACKEND_DB, ch_db_begin(svc->db, *conn_out, for_write))) != CH_OK) {
        ch_db_release(svc->db, *conn_out);
        *conn_out = NULL;
    }
    return err;
}

ch_err_t ch_sql_end_on(ch_svc_t *svc, ch_db_conn_t *conn, ch_err_t err)
{
    int tried = err == CH_OK;
    if (err == CH_OK)
        err = ch_backend_err(CH_BACKEND_DB, ch_db_commit(svc->db, conn));
    else
        ch_db_rollback(svc->db, conn);
    ch__hooks_finish(conn, tried); /* as in ch_sql_end */
    return err;
}

ch_err_t ch_sql_end(ch_svc_t *svc, ch_db_conn_t *conn, ch_err_t err)
{
    int tried = err == CH_OK;
    if (err == CH_OK)
        err = ch_backend_err(CH_BACKEND_DB, ch_db_commit(svc->db, conn));
    else
        ch_db_rollback(svc->db, conn);
    /* A failed COMMIT may still have committed: forgetting a cache entry then is harmless. */
    ch__hooks_finish(conn, tried);
    ch_db_release(svc->db, conn);
    return err;
}
