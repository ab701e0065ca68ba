#include "svc/market/jobs.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "svc/common/sql.h"
#include "svc/market/orders.h"
#include "svc/market/reconcile.h"
#include "svc/market/strays.h"
#include "svc/market/seller_refresh.h"

ch_err_t ch_market_job_enqueue(ch_svc_t *svc, ch_db_conn_t *conn, const char *kind, uint64_t order_id,
                               const char *step, int64_t run_at)
{
    int64_t now = ch_now_ms();
    ch_db_param_t p[] = {CH_DB_P_INT(ch_id_next()), CH_DB_P_TEXT(kind), CH_DB_P_INT(order_id), CH_DB_P_TEXT(step),
                         CH_DB_P_INT(run_at), CH_DB_P_INT(now)};
    return ch_sql_on(svc, conn,
                     "INSERT INTO market_jobs(id, kind, order_id, step, state, run_at, attempts, created_at, updated_at)"
                     " VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6, $6) ON CONFLICT (order_id, step) DO NOTHING",
                     p, CH_NPARAMS(p), NULL, NULL);
}

ch_err_t ch_market_job_rearm(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const char *step, int64_t run_at)
{
    ch_db_param_t p[] = {CH_DB_P_INT(order_id), CH_DB_P_TEXT(step), CH_DB_P_INT(run_at), CH_DB_P_INT(ch_now_ms())};
    return ch_sql_on(svc, conn,
                     "UPDATE market_jobs SET state = 'pending', run_at = $3,"
                     " attempts = CASE WHEN kind = 'order' THEN attempts ELSE 0 END, created_at = $4,"
                     " updated_at = $4 WHERE order_id = $1 AND step = $2",
                     p, CH_NPARAMS(p), NULL, NULL);
}

ch_err_t ch_market_job_ensure(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const char *step, int64_t run_at)
{
    ch_err_t err = ch_market_job_enqueue(svc, conn, "order", order_id, step, run_at);
    return err ? err : ch_market_job_rearm(svc, conn, order_id, step, run_at);
}

ch_err_t ch_market_job_rearm_held(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const char *step,
                                  int64_t run_at)
{
    ch_db_param_t p[] = {CH_DB_P_INT(order_id), CH_DB_P_TEXT(step), CH_DB_P_INT(run_at), CH_DB_P_INT(ch_now_ms())};
    return ch_sql_on(svc, conn,
                     "UPDATE market_jobs SET state = 'pending', run_at = $3, created_at = $4, updated_at = $4"
                     " WHERE order_id = $1 AND step = $2 AND state = 'held'",
                     p, CH_NPARAMS(p), NULL, NULL);
}

ch_err_t ch_market_job_hold(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const char *step, int *held)
{
    int64_t changes = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(order_id), CH_DB_P_TEXT(step), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(svc, conn,
                             "UPDATE market_jobs SET state = 'held', updated_at = $3"
                             " WHERE order_id = $1 AND step = $2 AND state = 'pending'",
                             p, CH_NPARAMS(p), NULL, &changes);
    if (held)
        *held = changes > 0;
    return err;
}

ch_err_t ch_market_job_hold_claimed(ch_svc_t *svc, ch_db_conn_t *conn, const ch_market_job_t *job, int *held)
{
    int64_t changes = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(job->id), CH_DB_P_INT(job->lease_until), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(svc, conn,
                             "UPDATE market_jobs SET state = 'held', updated_at = $3"
                             " WHERE id = $1 AND run_at = $2 AND state = 'pending'",
                             p, CH_NPARAMS(p), NULL, &changes);
    if (held)
        *held = changes > 0;
    return err;
}

ch_err_t ch_market_job_mark_post(ch_svc_t *svc, uint64_t job_id)
{
    ch_db_param_t p[] = {CH_DB_P_INT(job_id), CH_DB_P_INT(ch_now_ms())};
    return ch_sql_run(svc, "UPDATE market_jobs SET first_post_at = $2 WHERE id = $1 AND first_post_at IS NULL", p,
                      CH_NPARAMS(p), NULL, NULL);
}

ch_err_t ch_market_job_done(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t job_id)
{
    ch_db_param_t p[] = {CH_DB_P_INT(job_id), CH_DB_P_INT(ch_now_ms())};
    return ch_sql_on(svc, conn, "UPDATE market_jobs SET state = 'done', last_error = NULL, updated_at = $2 WHERE id = $1",
                     p, CH_NPARAMS(p), NULL, NULL);
}

/* Takes the job in row r of rows (id, order_id, kind, step, run_at, attempts, created_at,
 * first_post_at) if its run_at
 * is still the one read: compare-and-set, so of two claimers one wins. */
static ch_err_t ch__take(ch_svc_t *svc, ch_db_rows_t *rows, size_t r, int64_t lease_until, ch_market_job_t *job,
                         int *got)
{
    int64_t changes = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(ch_db_rows_int(rows, r, 0)), CH_DB_P_INT(ch_db_rows_int(rows, r, 4)),
                         CH_DB_P_INT(lease_until), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_run(svc,
                              "UPDATE market_jobs SET run_at = $3, attempts = attempts + 1, updated_at = $4"
                              " WHERE id = $1 AND run_at = $2 AND state = 'pending'",
                              p, CH_NPARAMS(p), NULL, &changes);
    if (err || changes != 1)
        return err;
    memset(job, 0, sizeof(*job));
    job->id = (uint64_t)ch_db_rows_int(rows, r, 0);
    job->order_id = (uint64_t)ch_db_rows_int(rows, r, 1);
    snprintf(job->kind, sizeof(job->kind), "%s", ch_db_rows_text(rows, r, 2));
    snprintf(job->step, sizeof(job->step), "%s", ch_db_rows_text(rows, r, 3));
    job->lease_until = lease_until;
    job->attempts = (int)ch_db_rows_int(rows, r, 5) + 1;
    job->created_at = ch_db_rows_int(rows, r, 6);
    job->first_post_at = ch_db_rows_isnull(rows, r, 7) ? 0 : ch_db_rows_int(rows, r, 7);
    *got = 1;
    return CH_OK;
}

ch_err_t ch_market_job_claim(ch_svc_t *svc, int64_t now, int64_t lease_ms, ch_market_job_t *job, int *got)
{
    ch_db_rows_t *rows = NULL;
    *got = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(now)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT id, order_id, kind, step, run_at, attempts, created_at, first_post_at FROM market_jobs"
                              " WHERE state = 'pending' AND run_at <= $1 ORDER BY run_at LIMIT 8",
                              p, 1, &rows, NULL);
    for (size_t r = 0; err == CH_OK && !*got && r < ch_db_rows_count(rows); r++)
        err = ch__take(svc, rows, r, now + lease_ms, job, got);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_market_job_claim_one(ch_svc_t *svc, uint64_t order_id, const char *step, int64_t lease_ms,
                                 ch_market_job_t *job, int *got)
{
    ch_db_rows_t *rows = NULL;
    *got = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(order_id), CH_DB_P_TEXT(step), CH_DB_P_INT(ch_now_ms())};
    /* A job another process leased (run_at in the future after a claim) is its: attempts
     * counts claims, and a job never claimed has attempts 0. */
    ch_err_t err = ch_sql_run(svc,
                              "SELECT id, order_id, kind, step, run_at, attempts, created_at, first_post_at FROM market_jobs"
                              " WHERE order_id = $1 AND step = $2 AND state = 'pending'"
                              " AND (attempts = 0 OR run_at <= $3)",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 1)
        err = ch__take(svc, rows, 0, ch_now_ms() + lease_ms, job, got);
    ch_db_rows_free(rows);
    return err;
}

int64_t ch_market_job_backoff_ms(int attempts)
{
    int64_t ms = CH_MARKET_JOB_BACKOFF_MS;
    for (int i = 1; i < attempts && ms < CH_MARKET_JOB_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < CH_MARKET_JOB_BACKOFF_MAX_MS ? ms : CH_MARKET_JOB_BACKOFF_MAX_MS;
}

int64_t ch_market_job_lease_ms(const ch_svc_t *svc)
{
    /* One attempt's deadline per try, plus the client's backoff (at most 8 s each). */
    int64_t tries = svc->cfg->stripe_max_retries + 1;
    int64_t ms = svc->cfg->stripe_timeout_ms * tries + 8000 * (tries - 1) + 2000;
    return ms > CH_MARKET_JOB_LEASE_MIN_MS ? ms : CH_MARKET_JOB_LEASE_MIN_MS;
}

ch_err_t ch_market_job_retry(ch_svc_t *svc, const ch_market_job_t *job, const char *why)
{
    char msg[CH_MARKET_JOB_ERROR_MAX + 1];
    snprintf(msg, sizeof(msg), "%s", why ? why : "");
    ch_db_param_t p[] = {CH_DB_P_INT(job->id), CH_DB_P_INT(job->lease_until),
                         CH_DB_P_INT(ch_now_ms() + ch_market_job_backoff_ms(job->attempts)), CH_DB_P_TEXT(msg),
                         CH_DB_P_INT(ch_now_ms())};
    /* Only while our lease holds (run_at unchanged): a job claimed again meanwhile is not ours. */
    return ch_sql_run(svc,
                      "UPDATE market_jobs SET run_at = $3, last_error = $4, updated_at = $5"
                      " WHERE id = $1 AND run_at = $2 AND state = 'pending'",
                      p, CH_NPARAMS(p), NULL, NULL);
}

/* Runs of jobs since start, by outcome (chorus_market_jobs_total): a failing step shows as a
 * growing "retried" count while its money waits. */
static atomic_ullong ch__done_n, ch__retried_n, ch__parked_n;
static atomic_int ch__renderer_added;

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_market_jobs_total Runs of the marketplace's durable jobs, by outcome.\n"
                  "# TYPE chorus_market_jobs_total counter\n"
                  "chorus_market_jobs_total{outcome=\"done\"} %llu\nchorus_market_jobs_total{outcome=\"retried\"} %llu\n"
                  "chorus_market_jobs_total{outcome=\"parked\"} %llu\n",
                  (unsigned long long)atomic_load(&ch__done_n), (unsigned long long)atomic_load(&ch__retried_n),
                  (unsigned long long)atomic_load(&ch__parked_n));
}

/* Parks a claimed job (state 'parked': nothing runs it) while the claim is still ours. */
static ch_err_t ch__park(ch_svc_t *svc, const ch_market_job_t *job, const char *why)
{
    ch_db_param_t p[] = {CH_DB_P_INT(job->id), CH_DB_P_INT(job->lease_until), CH_DB_P_TEXT(why),
                         CH_DB_P_INT(ch_now_ms())};
    return ch_sql_run(svc,
                      "UPDATE market_jobs SET state = 'parked', last_error = $3, updated_at = $4"
                      " WHERE id = $1 AND run_at = $2 AND state = 'pending'",
                      p, CH_NPARAMS(p), NULL, NULL);
}

ch_err_t ch_market_job_run(ch_svc_t *svc, const ch_market_job_t *job)
{
    char why[CH_MARKET_JOB_ERROR_MAX] = "";
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
    int uses_key = strcmp(job->kind, CH_STRAY_KIND) == 0 ||
                   (strcmp(job->kind, "order") == 0 && ch_order_step_uses_key(job->step));
    if (uses_key && job->first_post_at && ch_now_ms() - job->first_post_at > CH_MARKET_JOB_KEY_MAX_AGE_MS) {
        snprintf(why, sizeof(why), "parked: first POST over %lld h ago, Stripe may have forgotten its key",
                 (long long)(CH_MARKET_JOB_KEY_MAX_AGE_MS / 3600000));
        atomic_fetch_add(&ch__parked_n, 1);
        ch_log_error("market: job %s of order %llu %s; an operator decides (market_jobs.state = 'parked')",
                     job->step, (unsigned long long)job->order_id, why);
        return ch__park(svc, job, why);
    }
    ch_err_t err = strcmp(job->kind, "reconcile") == 0        ? ch_reconcile_step(svc, job, why, sizeof(why))
                   : strcmp(job->kind, CH_SELLER_REFRESH_KIND) == 0 ? ch_seller_refresh_step(svc, job, why, sizeof(why))
                   : strcmp(job->kind, CH_STRAY_KIND) == 0          ? ch_market_stray_step(svc, job, why, sizeof(why))
                                                                   : ch_order_step(svc, job, why, sizeof(why));
    if (err == CH_OK) {
        atomic_fetch_add(&ch__done_n, 1);
        return CH_OK;
    }
    atomic_fetch_add(&ch__retried_n, 1);
    if (!why[0])
        snprintf(why, sizeof(why), "%s", ch_err_code(err));
    ch_log_warn("market: job %s of order %llu failed (attempt %d): %s", job->step, (unsigned long long)job->order_id,
                job->attempts, why);
    ch_market_job_retry(svc, job, why);
    return err;
}

ch_err_t ch_market_jobs_round(ch_svc_t *svc, const atomic_int *stopping, int *ran)
{
    int n = 0;
    ch_err_t err = CH_OK;
    int64_t lease = ch_market_job_lease_ms(svc);
    while (n < CH_MARKET_JOBS_PER_ROUND && !(stopping && atomic_load(stopping))) {
        ch_market_job_t job;
        int got = 0;
        if ((err = ch_market_job_claim(svc, ch_now_ms(), lease, &job, &got)) != CH_OK || !got)
            break;
        ch_market_job_run(svc, &job); /* a failed job is retried later; go on with the others */
        n++;
    }
    if (ran)
        *ran = n;
    return err;
}
