/* Readiness and start-up state of a serving process (chorusd serve).
 *
 * One checker thread per backend (the database; the kv store; ClickHouse when configured)
 * runs its check every CH_HEALTH_INTERVAL_MS and keeps the last result; /readyz only reads
 * those results, so a probe never waits on a backend. A check still running after
 * CH_HEALTH_DEADLINE_MS counts as unavailable (timed out) until it finishes.
 *
 * The database thread also bootstraps a process started while the database (PostgreSQL)
 * did not answer: it retries (backoff CH_BOOTSTRAP_BACKOFF_MIN_MS .. _MAX_MS) the steps
 * that need it: connect, apply migrations, load the server keys (svc/health/bootstrap.h); main.c
 * then starts what needs the database and marks the process serving. */
#ifndef CH_SVC_HEALTH_HEALTH_H
#define CH_SVC_HEALTH_HEALTH_H

#include <stdint.h>

#include "svc/context.h"

#define CH_HEALTH_INTERVAL_MS 1000       /* pause between two runs of a check */
#define CH_HEALTH_DEADLINE_MS 2000       /* a check running longer counts as unavailable */
#define CH_HEALTH_STOP_WAIT_MS 2000      /* ch_health_stop waits this long for a check in flight */
#define CH_BOOTSTRAP_BACKOFF_MIN_MS 500  /* first pause after a failed start-up attempt */
#define CH_BOOTSTRAP_BACKOFF_MAX_MS 5000 /* the pause doubles up to this */

typedef enum {
    CH_CHECK_PENDING,     /* no result yet */
    CH_CHECK_OK,          /* answered (the database: and wrote) */
    CH_CHECK_UNAVAILABLE, /* did not answer, or not within CH_HEALTH_DEADLINE_MS */
    CH_CHECK_UNWRITABLE,  /* database only: answers but cannot write (disk full, read-only) */
    CH_CHECK_MIGRATING,   /* database only: start-up is applying migrations */
} ch_check_state_t;

typedef struct {
    ch_check_state_t state;
    int timed_out; /* in flight for longer than CH_HEALTH_DEADLINE_MS (state is UNAVAILABLE) */
} ch_check_result_t;

/** A snapshot of every check (ch_health_report). */
typedef struct {
    int serving; /* start-up is done: the database is migrated and /v1 is open */
    ch_check_result_t db, kv, clickhouse;
    int has_clickhouse; /* CHORUS_CLICKHOUSE is set */
} ch_health_report_t;

typedef struct ch_health ch_health_t;

/** Starts the checker threads for svc's backends (svc borrowed; it must outlive h, and
 * svc->db and svc->kv must be open). bootstrapped 0: the database thread first runs the
 * start-up steps (ch_bootstrap_once) until they succeed. Returns NULL when a thread
 * cannot be made (logged). Caller stops with ch_health_stop. */
ch_health_t *ch_health_start(ch_svc_t *svc, int bootstrapped);
/** 1 once start-up succeeded, 0 while it is retrying, -1 when it failed for a reason
 * retrying cannot cure (a broken migration): logged, the process should exit. */
int ch_health_bootstrapped(const ch_health_t *h);
/** Waits (at most timeout_ms) until every check has a first result. */
void ch_health_wait_first(ch_health_t *h, int64_t timeout_ms);
/** Marks the process serving (after ch_health_bootstrapped and the services that need the
 * database started); /v1 is open from then on. */
void ch_health_set_serving(ch_health_t *h);
/** Whether /v1 may be served; 1 for NULL (tools and tests that run no checks). Cheap: one
 * atomic load, for the event loop. */
int ch_health_serving(const ch_health_t *h);
/** Fills out with the last result of every check. Cheap and non-blocking (event loop);
 * h NULL reports nothing checked. */
void ch_health_report(const ch_health_t *h, ch_health_report_t *out);
/** Asks the threads to stop, waits up to CH_HEALTH_STOP_WAIT_MS for them and frees h.
 * Returns -1 (h not freed, its threads still using svc) when one is still stuck in a
 * backend call: the caller must then exit without closing the backends. NULL is fine. */
int ch_health_stop(ch_health_t *h);

#endif
