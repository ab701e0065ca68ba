/* The log queue: bounded per-thread buffers of whole log lines, handed to one writer.
 *
 * Each producer (one per logging thread) owns at most CH_LOGQ_CHUNKS chunks of
 * budget / CH_LOGQ_CHUNKS bytes. A line is copied into the producer's current chunk; a full
 * chunk is sealed into the queue's FIFO and the producer takes a free one of its own. When
 * all of its chunks wait in the queue (the writer is behind), the line is dropped and
 * counted: a producer never waits for the writer. The writer takes sealed chunks (and, on
 * its timer or a flush, the partly filled ones), writes them, and releases them back to
 * their producers. A chunk holds whole lines only, and chunks of one producer enter the
 * FIFO in the order they were filled, so lines are never torn and keep their order per
 * producer.
 *
 * Locks: one mutex per producer (taken by its thread per line, and briefly by the writer
 * to seal a partial chunk) and one for the FIFO; the writer never holds either while it
 * writes. */
#ifndef CH_CORE_LOGQ_H
#define CH_CORE_LOGQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define CH_LOGQ_CHUNKS 4           /* chunks per producer: budget / this is a chunk's size */
#define CH_LOGQ_MIN_BUDGET 16384   /* smallest per-producer budget (a chunk holds a 4 KiB line) */
#define CH_LOGQ_MAX_BUDGET (64u << 20)

typedef struct ch_logq ch_logq_t;
typedef struct ch_logq_producer ch_logq_producer_t;
typedef struct ch_logq_chunk ch_logq_chunk_t;

/** Creates a queue whose producers may each hold budget bytes (clamped to
 * CH_LOGQ_MIN_BUDGET..CH_LOGQ_MAX_BUDGET). Caller destroys it. */
ch_logq_t *ch_logq_create(size_t budget);
/** Frees the queue, its producers and chunks. No producer or writer may use it any more. */
void ch_logq_destroy(ch_logq_t *q);
/** The size of one chunk: the longest line that is kept whole (longer ones are cut). */
size_t ch_logq_chunk_size(const ch_logq_t *q);

/** A producer for the calling thread: an abandoned one (with whatever it still has
 * buffered) or a new one. Owned by the queue; the caller uses it until ch_logq_abandon. */
ch_logq_producer_t *ch_logq_acquire(ch_logq_t *q);
/** Gives the producer back (its thread ends); what it buffered is still written. */
void ch_logq_abandon(ch_logq_producer_t *p);

/** Copies one line (len bytes, its newline included) into p's buffer. Returns 0; -1 when
 * it was dropped (counted) because all of p's chunks wait for the writer; 1 when the queue
 * is closed (nothing done: the caller writes the line itself). A line
 * longer than a chunk is cut to the chunk's size with its last byte made a newline. Calls
 * wake(arg) (set by ch_logq_set_wake, if any) when it sealed a full chunk. Never blocks on
 * the writer. */
int ch_logq_append(ch_logq_producer_t *p, const char *line, size_t len, int64_t now_ms);

/** Sets the function ch_logq_append calls after sealing a chunk (the writer's wake-up);
 * arg is borrowed. Call before producers append. */
void ch_logq_set_wake(ch_logq_t *q, void (*wake)(void *arg), void *arg);

/** Closes (closed 1) or reopens (0) the queue to appends. When it returns, no append
 * that saw the queue open is still running: a seal and takes after it get every line. */
void ch_logq_close(ch_logq_t *q, int closed);

/** Seals every producer's partly filled chunk whose first line is at least older_ms old at
 * now_ms (0: every non-empty one), so that the next take gets it. */
void ch_logq_seal(ch_logq_t *q, int64_t now_ms, int64_t older_ms);
/** Takes at most max sealed chunks in FIFO order: chunks[i] and its bytes iov[i]. Returns
 * how many. The chunks stay the queue's; give them back with ch_logq_release once
 * written. */
size_t ch_logq_take(ch_logq_t *q, ch_logq_chunk_t **chunks, struct iovec *iov, size_t max);
/** Returns n taken chunks (written or given up) to their producers' free lists. */
void ch_logq_release(ch_logq_t *q, ch_logq_chunk_t **chunks, size_t n);

/** Lines dropped since the queue was created (all producers). */
uint64_t ch_logq_dropped(const ch_logq_t *q);
/** Bytes in chunks that are sealed or taken and not yet released, and in partly filled
 * ones: 0 means everything appended has been released. */
size_t ch_logq_pending_bytes(ch_logq_t *q);

#endif
