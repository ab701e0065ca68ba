/* Admission of blocking work: the bound on requests waiting for a worker thread
 * (CHORUS_QUEUE_MAX), and the counts of work refused or dropped before it ran: queue full
 * (503 overloaded on the loop at once), dequeued past the request's deadline (503
 * unavailable without running the handler), dequeued for a client that had gone away
 * (dropped without running). Thread-safe counters; the metrics renderer is added once. */
#ifndef CH_HTTP_ADMISSION_H
#define CH_HTTP_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

/** Why queued work did not run. */
typedef enum {
    CH_ADMIT_REFUSED_FULL, /* the queue was at CHORUS_QUEUE_MAX */
    CH_ADMIT_EXPIRED,      /* dequeued after its deadline */
    CH_ADMIT_CLIENT_GONE,  /* dequeued after its client left */
    CH__ADMIT_COUNT
} ch_admit_outcome_t;

/** Adds the metrics renderer (once per process; later calls do nothing). */
void ch_admission_init(void);
/** Takes a place in the queue when fewer than max are taken (returns 1), else counts a
 * refusal and returns 0. force takes one whatever the count (work moved from the loop to a
 * worker after it was admitted). */
int ch_admission_enqueue(size_t max, int force);
/** Gives a place back (the work left the queue: a worker thread picked it up). */
void ch_admission_dequeue(void);
/** Counts work that did not run, for the reason given. */
void ch_admission_count(ch_admit_outcome_t why);
/** Requests waiting for a worker thread now. */
size_t ch_admission_queued(void);
/** How many did not run for reason why, since start. */
uint64_t ch_admission_total(ch_admit_outcome_t why);

#endif
