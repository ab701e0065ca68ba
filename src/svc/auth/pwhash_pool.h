/* The password hasher: a few threads of their own, at a lower CPU priority, that run the
 * Argon2id work (64 MiB and ~100 ms of CPU each) of login and register, so that hashing
 * neither takes the worker pool every SQL route shares nor the memory of one hash per
 * concurrent login. Admission is bounded: a caller finds a free place in a short FIFO
 * queue or is refused at once (the HTTP layer answers 503 `overloaded` + Retry-After).
 * A queued job whose client went away before its turn is dropped without running.
 * The caller (a worker thread running a handler) blocks until its job finished. */
#ifndef CH_SVC_AUTH_PWHASH_POOL_H
#define CH_SVC_AUTH_PWHASH_POOL_H

#include <stddef.h>

#include "core/client_watch.h"

#define CH_PWHASH_NICE 10 /* niceness of hashing threads: request work wins the CPU */

typedef struct ch_pwhash_pool ch_pwhash_pool_t;

/** What became of a submitted job. */
typedef enum {
    CH_PWHASH_RAN = 0, /* fn ran to completion */
    CH_PWHASH_FULL,    /* refused: the queue was full; fn did not run */
    CH_PWHASH_DROPPED, /* the client was gone before its turn; fn did not run */
    CH_PWHASH_STOPPED, /* the pool is shutting down; fn did not run */
} ch_pwhash_outcome_t;

/** Counters and gauges of a pool, read for /metrics and tests. */
typedef struct {
    size_t queued;           /* waiting for a thread now */
    size_t running;          /* being run now */
    unsigned long long ran;      /* total finished */
    unsigned long long rejected; /* total refused because the queue was full */
    unsigned long long dropped;  /* total skipped because the client was gone */
} ch_pwhash_stats_t;

/** Starts `threads` (>= 1) hashing threads with niceness `nice` (0 keeps the caller's)
 * and a queue of at most `queue_max` waiting jobs (0: a job is only admitted when a
 * thread is idle). NULL when a thread cannot be started. Caller owns the pool. */
ch_pwhash_pool_t *ch_pwhash_pool_create(unsigned threads, size_t queue_max, int nice);
/** Starts stopping (the first half of destroy): jobs queued or submitted from now on
 * answer CH_PWHASH_STOPPED at once; running ones finish. Thread-safe; NULL is fine. */
void ch_pwhash_pool_shutdown(ch_pwhash_pool_t *pool);
/** Stops the threads after their current job; jobs still queued answer
 * CH_PWHASH_STOPPED. Callers must be gone before the memory is freed: call it after the
 * HTTP server stopped. NULL is fine. */
void ch_pwhash_pool_destroy(ch_pwhash_pool_t *pool);
/** Runs fn(arg) on a pool thread and waits for it. watch (may be NULL, borrowed until the
 * call returns) is checked just before the job starts: when its client is gone
 * (ch_client_watch_gone) the job is dropped.
 * Jobs start in the order they were admitted. Thread-safe. */
ch_pwhash_outcome_t ch_pwhash_pool_run(ch_pwhash_pool_t *pool, void (*fn)(void *arg), void *arg,
                                       const ch_client_watch_t *watch);
/** Whether a job submitted now would be refused (queue full, after dropping the jobs of
 * departed clients); a refusal counts as rejected. Lets a caller answer an overload before
 * doing the work that precedes the hash (a database read); the later
 * ch_pwhash_pool_run may still refuse. Thread-safe. */
int ch_pwhash_pool_full(ch_pwhash_pool_t *pool);
/** The pool's counters now. Thread-safe. */
void ch_pwhash_pool_stats(ch_pwhash_pool_t *pool, ch_pwhash_stats_t *out);
/** How many jobs the pool runs at once: budget / per_job (memory), at most cores - 1 (a
 * core is left to request work: measured, two hashes on two cores made a post's p99 5x its
 * idle p99, one 3.6x), at least 1. cores <= 0: unknown, no cap. */
unsigned ch_pwhash_concurrency(size_t budget, size_t per_job, long cores);

#endif
