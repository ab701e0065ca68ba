#include "svc/worker/consumer.h"
#include "svc/engage/notify_cache.h"
#include "svc/engage/notify_push.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "svc/common/sql.h"

static uint64_t ch__first_int(const ch_db_rows_t *rows)
{
    return ch_db_rows_count(rows) ? (uint64_t)ch_db_rows_int(rows, 0, 0) : 0;
}

/* Locks the consumer's row for the rest of the transaction and reads its watermark; the
 * row is made on the first run (two replicas doing so at once: one insert waits for the
 * other's and does nothing). */
static ch_err_t ch__lock(ch_svc_t *svc, ch_db_conn_t *conn, const char *name, uint64_t *wm)
{
    static const char lock_sql[] = "UPDATE consumer_offsets SET updated_at = $2 WHERE name = $1 RETURNING last_id";
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(name), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(svc, conn, lock_sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0) {
        ch_db_rows_free(rows);
        rows = NULL;
        err = ch_sql_on(svc, conn,
                        "INSERT INTO consumer_offsets(name, last_id, updated_at) VALUES($1, 0, $2) "
                        "ON CONFLICT DO NOTHING",
                        p, CH_NPARAMS(p), NULL, NULL);
        if (err == CH_OK)
            err = ch_sql_on(svc, conn, lock_sql, p, CH_NPARAMS(p), &rows, NULL);
    }
    *wm = ch__first_int(rows);
    ch_db_rows_free(rows);
    return err;
}

/* c->select_sql with each $1 (the watermark) replaced by a read of the consumer's watermark,
 * so that one statement reads the watermark, the seen rows and the source together (one
 * snapshot); $1 stays as the watermark of a consumer without a cursor yet. Caller frees. */
static char *ch__peek_sql(const ch_consumer_t *c)
{
    static const char wm_sql[] = "COALESCE((SELECT w.last_id FROM consumer_offsets w WHERE w.name = $2), $1)";
    ch_buf_t b = CH_BUF_INIT;
    const char *s = c->select_sql, *at;
    while ((at = strstr(s, "$1")) != NULL) {
        ch_buf_printf(&b, "%.*s", (int)(at - s), s);
        if (at[2] >= '0' && at[2] <= '9')
            ch_buf_printf(&b, "$1"); /* $10 and up are other parameters */
        else
            ch_buf_printf(&b, "%s", wm_sql);
        s = at + 2;
    }
    ch_buf_printf(&b, "%s", s);
    return b.data;
}

/* Whether there is anything to do, read outside a transaction (no lock taken when idle),
 * and how far behind the consumer is (the metric). One statement: read as two (the
 * watermark, then the rows above it), a replica's batch committing in between would make
 * the rows it has just applied below its new watermark look unapplied, and the lag jump to
 * the window (30 s). */
static ch_err_t ch__peek(ch_svc_t *svc, ch_db_conn_t *conn, const ch_consumer_t *c, int *pending)
{
    ch_db_rows_t *rows = NULL;
    char *sql = ch__peek_sql(c);
    ch_db_param_t p[] = {CH_DB_P_INT(0), CH_DB_P_TEXT(c->name), CH_DB_P_INT(1)};
    ch_err_t err = ch_sql_on(svc, conn, sql, p, CH_NPARAMS(p), &rows, NULL);
    free(sql);
    *pending = err == CH_OK && ch_db_rows_count(rows) > 0;
    if (err == CH_OK) /* on failure the last known oldest row stays, and its age grows */
        ch_metrics_consumer_oldest(c->name, *pending ? ch_id_time_ms((uint64_t)ch_db_rows_int(rows, 0, 0)) : 0);
    ch_db_rows_free(rows);
    return err;
}

/* The horizon the watermark may move up to: the window before now and, where the database
 * reports one (ch_db_oldest_open_xact_ms), the window before the oldest transaction still
 * open (it may yet commit a row with an older id, however long it takes): the window is
 * then only a margin for clocks. Taken before the batch is read, so that a row committed
 * while the batch is applied is never passed over by the horizon. */
int64_t ch_consumer_window_ms(const ch_svc_t *svc)
{
    return svc->cfg && svc->cfg->consumer_window_ms > 0 ? svc->cfg->consumer_window_ms : CH_CONSUMER_WINDOW_MS;
}

static ch_err_t ch__horizon(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t *horizon_out)
{
    int64_t window = ch_consumer_window_ms(svc);
    int64_t horizon_ms = ch_now_ms() - window, oldest_ms = -1;
    ch_err_t e = ch_backend_err(CH_BACKEND_DB, ch_db_oldest_open_xact_ms(svc->db, conn, &oldest_ms));
    if (oldest_ms >= 0 && oldest_ms - window < horizon_ms)
        horizon_ms = oldest_ms - window;
    *horizon_out = ch_id_floor(horizon_ms);
    return e;
}

/* Records the batch: rows above the new watermark go to consumer_seen (a row recorded
 * already, by a replica that applied the same batch in idempotent mode, stays as it is);
 * the watermark moves to the horizon (ch__horizon), but never past a row this batch did
 * not reach. wm is the watermark read under the lock. */
static ch_err_t ch__advance(ch_svc_t *svc, ch_db_conn_t *conn, const ch_consumer_t *c, uint64_t wm,
                            uint64_t horizon, const ch_db_rows_t *rows)
{
    size_t n = ch_db_rows_count(rows);
    uint64_t new_wm = wm;
    uint64_t last = n ? (uint64_t)ch_db_rows_int(rows, n - 1, 0) : 0;
    uint64_t cap = n < CH_CONSUMER_BATCH || last > horizon ? horizon : last;
    if (cap > new_wm)
        new_wm = cap;
    ch_err_t err = CH_OK;
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        uint64_t id = (uint64_t)ch_db_rows_int(rows, i, 0);
        if (id <= new_wm)
            continue;
        ch_db_param_t p[] = {CH_DB_P_TEXT(c->name), CH_DB_P_INT(id)};
        err = ch_sql_on(svc, conn, "INSERT INTO consumer_seen(name, event_id) VALUES($1, $2) ON CONFLICT DO NOTHING", p, CH_NPARAMS(p), NULL,
                        NULL);
    }
    if (err || new_wm == wm)
        return err;
    ch_db_param_t p[] = {CH_DB_P_TEXT(c->name), CH_DB_P_INT(new_wm)};
    err = ch_sql_on(svc, conn, "DELETE FROM consumer_seen WHERE name = $1 AND event_id <= $2", p, CH_NPARAMS(p), NULL,
                    NULL);
    if (err == CH_OK)
        err = ch_sql_on(svc, conn, "UPDATE consumer_offsets SET last_id = $2 WHERE name = $1", p, CH_NPARAMS(p), NULL,
                        NULL);
    return err;
}

/* Idempotent mode: reads the batch (watermark, seen rows and source in one statement, as
 * the peek) and applies it on conn outside a transaction, then moves the cursor in a short
 * locked transaction. */
static ch_err_t ch__step_idempotent(ch_svc_t *svc, ch_db_conn_t *conn, const ch_consumer_t *c, int *applied_out)
{
    uint64_t horizon = 0, wm = 0;
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch__horizon(svc, conn, &horizon);
    if (err == CH_OK) {
        char *sql = ch__peek_sql(c);
        ch_db_param_t p[] = {CH_DB_P_INT(0), CH_DB_P_TEXT(c->name), CH_DB_P_INT(CH_CONSUMER_BATCH)};
        err = ch_sql_on(svc, conn, sql, p, CH_NPARAMS(p), &rows, NULL);
        free(sql);
    }
    size_t n = err == CH_OK ? ch_db_rows_count(rows) : 0;
    for (size_t i = 0; i < n && err == CH_OK; i++)
        err = c->apply(svc, conn, rows, i);
    if (err == CH_OK && (err = ch_backend_err(CH_BACKEND_DB, ch_db_begin(svc->db, conn, 1))) == CH_OK) {
        err = ch__lock(svc, conn, c->name, &wm);
        if (err == CH_OK)
            err = ch__advance(svc, conn, c, wm, horizon, rows);
        if (err == CH_OK)
            err = ch_backend_err(CH_BACKEND_DB, ch_db_commit(svc->db, conn));
        else
            ch_db_rollback(svc->db, conn);
    }
    ch_db_rows_free(rows);
    if (err == CH_OK)
        *applied_out = (int)n;
    return err;
}

ch_err_t ch_consumer_step_idempotent(ch_svc_t *svc, const ch_consumer_t *c, int *applied_out)
{
    *applied_out = 0;
    ch_db_conn_t *conn = NULL;
    int pending = 0;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    if (err)
        return err;
    if ((err = ch__peek(svc, conn, c, &pending)) == CH_OK && pending)
        err = ch__step_idempotent(svc, conn, c, applied_out);
    ch_db_release(svc->db, conn);
    if (err)
        ch_log_warn("consumer %s: batch failed (%s); it will be applied again", c->name, ch_err_code(err));
    return err;
}

ch_err_t ch_consumer_step(ch_svc_t *svc, const ch_consumer_t *c, int *applied_out)
{
    *applied_out = 0;
    ch_db_conn_t *conn = NULL;
    int pending = 0;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn));
    if (err)
        return err;
    if ((err = ch__peek(svc, conn, c, &pending)) != CH_OK || !pending) {
        ch_db_release(svc->db, conn);
        return err;
    }
    if ((err = ch_backend_err(CH_BACKEND_DB, ch_db_begin(svc->db, conn, 1))) != CH_OK) {
        ch_db_release(svc->db, conn);
        return err;
    }
    uint64_t wm = 0, horizon = 0;
    ch_db_rows_t *rows = NULL;
    err = ch__lock(svc, conn, c->name, &wm);
    if (err == CH_OK)
        err = ch__horizon(svc, conn, &horizon);
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(wm), CH_DB_P_TEXT(c->name), CH_DB_P_INT(CH_CONSUMER_BATCH)};
        err = ch_sql_on(svc, conn, c->select_sql, p, CH_NPARAMS(p), &rows, NULL);
    }
    size_t n = err == CH_OK ? ch_db_rows_count(rows) : 0;
    for (size_t i = 0; i < n && err == CH_OK; i++)
        err = c->apply(svc, conn, rows, i);
    if (err == CH_OK)
        err = ch__advance(svc, conn, c, wm, horizon, rows);
    ch_db_rows_free(rows);
    err = ch_sql_end(svc, conn, err);
    ch_notify_push_flush(svc, err == CH_OK); /* in-app notifications of the batch, after its commit */
    ch_notify_changed_flush(svc);            /* and the cached lists it changed (notify_cache.h) */
    if (err == CH_OK)
        *applied_out = (int)n;
    else
        ch_log_warn("consumer %s: batch rolled back (%s); it will be tried again", c->name, ch_err_code(err));
    return err;
}
