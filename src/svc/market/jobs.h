/* The marketplace's durable job queue (table market_jobs, migration 16): the steps of an
 * order that call Stripe (create the PaymentIntent, transfer, refund, reverse a transfer,
 * read a charge's fee), the auto-confirmation of a shipped order, and reconciliation. One
 * row per (order, step): enqueueing a step twice is a no-op, so a step runs once per order
 * and its Stripe Idempotency-Key "order:<id>:<step>" makes a repeated run (after a crash)
 * get Stripe's first answer instead of a second charge or transfer.
 *
 * A worker claims a due job by moving its run_at forward by the lease (compare-and-set on
 * the old run_at: one claimer wins); if the process dies, the job is due again when the
 * lease ends. A step marks its job done in the transaction that stores its effect
 * (ch_market_job_done); a failed step is put back with exponential backoff
 * (CH_MARKET_JOB_BACKOFF_MS doubling up to CH_MARKET_JOB_BACKOFF_MAX_MS) and never given
 * up: money owed is retried until it moves, unless its Idempotency-Key nears Stripe's
 * expiry (CH_MARKET_JOB_KEY_MAX_AGE_MS): then it is parked for an operator. Run by the worker role's market thread
 * (svc/worker/worker.c). */
#ifndef CH_SVC_MARKET_JOBS_H
#define CH_SVC_MARKET_JOBS_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

#define CH_MARKET_JOB_BACKOFF_MS 1000
#define CH_MARKET_JOB_BACKOFF_MAX_MS (5 * 60 * 1000)
/** Least lease; the lease also covers one Stripe call with every retry (market_jobs.c). */
#define CH_MARKET_JOB_LEASE_MIN_MS 5000
/** Jobs one round runs at most before it lets the worker loop check for a stop. */
#define CH_MARKET_JOBS_PER_ROUND 32
#define CH_MARKET_JOB_STEP_MAX 32
#define CH_MARKET_JOB_ERROR_MAX 200
/** A step that POSTs with its Idempotency-Key and whose first POST (market_jobs.first_post_at,
 * kept by a rearm; a job that never POSTed is never parked) is older than this is parked
 * for an operator (state 'parked', metric
 * chorus_market_jobs_total{outcome="parked"}, an error logged): Stripe forgets a key after
 * 24 h, and a retry with a forgotten key could move the money twice. */
#define CH_MARKET_JOB_KEY_MAX_AGE_MS (23LL * 3600 * 1000)

/** A claimed job (copied out of its row). */
typedef struct {
    uint64_t id;
    uint64_t order_id;
    char kind[16];
    char step[CH_MARKET_JOB_STEP_MAX];
    int64_t lease_until; /* the run_at the claim set */
    int64_t created_at;  /* when the job was enqueued (or last rearmed) */
    int64_t first_post_at; /* when it first sent its POST with its key (0: never) */
    int attempts;        /* including this run */
} ch_market_job_t;

/** Runs one claimed job; CH_OK when its effect is stored and the job marked done
 * (ch_market_job_done in that transaction), or when it found nothing to do (then it marks
 * it done too). Any error puts the job back with backoff; *detail (static or in buf) may
 * say why. */
typedef ch_err_t (*ch_market_step_fn)(ch_svc_t *svc, const ch_market_job_t *job, char *buf, size_t buflen);

/** Adds the job (kind "order"/"reconcile", order_id, step) due at run_at on conn (in the
 * caller's transaction); nothing when the pair exists already (done or not). */
ch_err_t ch_market_job_enqueue(ch_svc_t *svc, ch_db_conn_t *conn, const char *kind, uint64_t order_id,
                               const char *step, int64_t run_at);
/** Makes a done or held job of (order_id, step) pending again, due at run_at, created_at now
 * (a new round: its age counts from here) (for the periodic reconciliation and the jobs a
 * dispute held). An order job keeps its attempts: a step claimed before (its answer maybe
 * lost) looks up what it made before it POSTs again (a key Stripe may have forgotten); a
 * reconciliation job starts again at attempts 0. */
ch_err_t ch_market_job_rearm(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const char *step, int64_t run_at);
/** Enqueues the order job (order_id, step) due at run_at, or rearms it when it exists
 * (ch_market_job_rearm: pending again, whatever its state). On conn. */
ch_err_t ch_market_job_ensure(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const char *step, int64_t run_at);
/** Makes a held job of (order_id, step) pending again, due at run_at (its created_at now), keeping its attempts
 * (a job that is pending, done or absent is left as it is). */
ch_err_t ch_market_job_rearm_held(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const char *step,
                                  int64_t run_at);
/** Holds a pending job of (order_id, step): it does not run until rearmed. *held (may be
 * NULL) tells whether one was pending. */
ch_err_t ch_market_job_hold(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const char *step, int *held);
/** Holds the claimed job (state held, as ch_market_job_hold) if it is still under this
 * claim (run_at = job->lease_until): a rearm since then wins. *held (may be NULL) tells. */
ch_err_t ch_market_job_hold_claimed(ch_svc_t *svc, ch_db_conn_t *conn, const ch_market_job_t *job, int *held);
/** Records that the job is about to send its first POST with its Idempotency-Key
 * (first_post_at = now unless set): the age the park rule reads. On its own connection,
 * committed before the POST leaves. */
ch_err_t ch_market_job_mark_post(ch_svc_t *svc, uint64_t job_id);
/** Marks the job done on conn (in the transaction that stores the step's effect). */
ch_err_t ch_market_job_done(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t job_id);
/** Claims one due job (state pending, run_at <= now): its run_at becomes now + lease_ms.
 * CH_OK with *got 0 when none is due. */
ch_err_t ch_market_job_claim(ch_svc_t *svc, int64_t now, int64_t lease_ms, ch_market_job_t *job, int *got);
/** Claims the job of (order_id, step) if it is pending (due or not), for a request that
 * runs the step itself at once (creating an order). CH_OK with *got 0 when it is done,
 * held or claimed by another. */
ch_err_t ch_market_job_claim_one(ch_svc_t *svc, uint64_t order_id, const char *step, int64_t lease_ms,
                                 ch_market_job_t *job, int *got);
/** Puts a claimed job back: due after the backoff of its attempts, last_error = why. */
ch_err_t ch_market_job_retry(ch_svc_t *svc, const ch_market_job_t *job, const char *why);
/** The backoff before attempt attempts + 1 (pure: 1 s doubling, capped). */
int64_t ch_market_job_backoff_ms(int attempts);
/** The lease of a claim under svc's Stripe settings (one call with all its retries). */
int64_t ch_market_job_lease_ms(const ch_svc_t *svc);
/** Runs one claimed job with its step function and records the outcome; a job past
 * CH_MARKET_JOB_KEY_MAX_AGE_MS whose step uses an Idempotency-Key is parked instead. */
ch_err_t ch_market_job_run(ch_svc_t *svc, const ch_market_job_t *job);
/** One round of the worker's market thread: runs due jobs until none is due,
 * CH_MARKET_JOBS_PER_ROUND ran, or *stopping. *ran (may be NULL) gets how many. */
ch_err_t ch_market_jobs_round(ch_svc_t *svc, const atomic_int *stopping, int *ran);

#endif
