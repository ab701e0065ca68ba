/* Small conveniences over store/db.h for services: one statement on a pooled connection,
 * and backend-error accounting in one place. */
#ifndef CH_SVC_COMMON_SQL_H
#define CH_SVC_COMMON_SQL_H

#include "core/metrics.h"
#include "svc/context.h"

/** Runs one statement on a connection borrowed for the call. rows_out/changes_out as in
 * ch_db_exec (caller frees rows). */
ch_err_t ch_sql_run(ch_svc_t *svc, const char *sql, const ch_db_param_t *params, size_t nparams,
                    ch_db_rows_t **rows_out, int64_t *changes_out);
/** Runs one statement on a connection the caller holds (inside a transaction). */
ch_err_t ch_sql_on(ch_svc_t *svc, ch_db_conn_t *conn, const char *sql, const ch_db_param_t *params, size_t nparams,
                   ch_db_rows_t **rows_out, int64_t *changes_out);
/** Borrows a connection and begins a transaction (write: takes the write lock up front). */
ch_err_t ch_sql_begin(ch_svc_t *svc, int for_write, ch_db_conn_t **conn_out);
/** Commits (when err is CH_OK) or rolls back, then releases the connection. Returns the
 * error of the transaction or of the commit. */
ch_err_t ch_sql_end(ch_svc_t *svc, ch_db_conn_t *conn, ch_err_t err);
/** Like ch_sql_end for a transaction begun with ch_db_begin on a connection the caller holds
 * (a group-commit writer's): commits when err is CH_OK, else rolls back, runs or drops the
 * calls ch_sql_after_commit queued for conn; conn stays the caller's. */
ch_err_t ch_sql_end_on(ch_svc_t *svc, ch_db_conn_t *conn, ch_err_t err);
/** Most calls queued per thread by ch_sql_after_commit; past it a call runs at once. */
#define CH_SQL_AFTER_COMMIT_MAX 256
/** Runs fn(ctx, id) once conn's transaction (from ch_sql_begin, on this thread) commits in
 * ch_sql_end; dropped when it rolls back. conn NULL: after the thread's ambient transaction
 * (ch_db_after_commit), or at once. For cache invalidation that must not run before the
 * change is visible (a reader would re-cache the old row). ctx is borrowed until then. */
void ch_sql_after_commit(ch_svc_t *svc, ch_db_conn_t *conn, void (*fn)(void *ctx, uint64_t id), void *ctx,
                         uint64_t id);
/** Counts a backend error in metrics when err is one (unavailable or internal); returns err. */
ch_err_t ch_backend_err(ch_backend_t backend, ch_err_t err);

#define CH_NPARAMS(arr) (sizeof(arr) / sizeof((arr)[0]))

#endif
