/* Group commit for reaction writes, on both backends. SQLite lets one writer in at a time,
 * so one transaction per request caps throughput at the commit rate; on PostgreSQL a
 * transaction per request holds its target's counter row locked until its own commit
 * (fsync included), so popular targets serialise their writers. One writer thread
 * takes every write queued since its last commit (at most CH_REACTIONS_BATCH_MAX), applies
 * them in one transaction, commits, and only then answers each request: a request is never
 * acknowledged before the transaction holding it committed, and one commit serves many.
 *
 * It is the generic group-commit writer (svc/common/batch_writer.h) running
 * ch__reactions_run on whole batches. If a batch's transaction fails, its writes are
 * retried one transaction each, so that one write cannot sink the others. Stopping drains
 * the queue first. */
#ifndef CH_SVC_ENGAGE_REACTIONS_WRITER_H
#define CH_SVC_ENGAGE_REACTIONS_WRITER_H

#include "svc/engage/reactions_apply.h"

/** Most writes in one transaction. Every node runs its own writer; on PostgreSQL their
 * batches meet only on row locks (counters are updated in one order: no deadlock over two
 * targets; any other failure of a batch falls back to one transaction per write). */
#define CH_REACTIONS_BATCH_MAX 512

typedef struct ch_reactions_writer ch_reactions_writer_t;

/** Starts the writer thread. svc is borrowed and must outlive the writer. NULL when the
 * thread cannot be started. */
ch_reactions_writer_t *ch_reactions_writer_start(ch_svc_t *svc);
/** Applies every write still queued, then stops and frees the writer. NULL is fine. Call
 * only when no request can submit any more (after the server stopped). */
void ch_reactions_writer_stop(ch_reactions_writer_t *w);
/** Queues op (borrowed until op->done is called): once the transaction holding it
 * committed or failed, its outcome is set and op->done(op) is called on the writer thread.
 * Thread-safe; never blocks on the database. */
void ch_reactions_writer_submit(ch_reactions_writer_t *w, ch__reaction_op_t *op);
/** Like ch_reactions_writer_submit, but blocks until op's outcome is set (op->done is
 * used for that). */
void ch_reactions_writer_submit_wait(ch_reactions_writer_t *w, ch__reaction_op_t *op);

#endif
