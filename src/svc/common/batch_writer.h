/* A generic group-commit writer: requests queue items, one writer thread per instance takes
 * every item queued since its last commit (at most batch_max), applies them in one write
 * transaction, commits, and only then completes each item. One commit (one fsync on SQLite,
 * one round of row locks on PostgreSQL) serves many requests; nothing is acknowledged before
 * the transaction holding it committed.
 *
 * - The queue is bounded by count and bytes: past either bound an item is refused at once
 *   (CH_EOVERLOADED, nothing written).
 * - Default mode: each item runs under a savepoint of its own (spec.apply); an item that
 *   apply refuses (any error but CH_EUNAVAILABLE) rolls back alone, the others commit.
 *   A writer may instead run the whole batch itself (spec.run: reactions sum their counter
 *   deltas per target and write them last).
 * - A batch whose database did not answer (CH_EUNAVAILABLE) is run again whole, on a fresh
 *   connection, without the items whose deadline passed, at most spec.attempts times; a
 *   batch that failed otherwise, or ran out of attempts, is run again one transaction per
 *   item (one item cannot sink the others), each under its own deadline.
 * - Items whose request deadline passed before their batch ran are completed with
 *   CH_EUNAVAILABLE (nothing written); a batch runs under the earliest deadline of its items.
 * - Stopping applies everything still queued first. */
#ifndef CH_SVC_COMMON_BATCH_WRITER_H
#define CH_SVC_COMMON_BATCH_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

/** One queued unit of work; embed it in the caller's own struct. The writer owns the
 * plumbing fields between submit and done. */
typedef struct ch_batch_item {
    size_t bytes; /* set by the caller before submit: counted against spec.queue_bytes_max */
    /* ---- plumbing (batch_writer.c) ---- */
    int64_t deadline_ms; /* the submitting thread's ch_db_deadline() at submit; 0: none */
    struct ch_batch_item *next;
    /* Called on the writer thread (or the submitting one, when refused at submit) once the
     * item's outcome is set; the item may be freed in it. */
    void (*done)(struct ch_batch_item *item);
    void *arg;
} ch_batch_item_t;

/** What a writer does with its items. Every pointer is borrowed for the writer's life. */
typedef struct {
    const char *name;       /* thread name ("ch-<name>", at most 12 characters) and logs */
    const char *what;       /* one item in an answer: "reaction", "event" */
    size_t batch_max;       /* most items in one transaction (> 0) */
    size_t queue_max;       /* most items queued; 0: no bound */
    size_t queue_bytes_max; /* most item bytes queued; 0: no bound */
    int attempts;           /* runs of a whole batch whose database does not answer (>= 1) */
    /* Default mode (run NULL): applies one item on conn, inside the batch's transaction and
     * under the item's savepoint; sets the item's outcome. CH_OK keeps it; another error
     * rolls the item back alone (its outcome says why); CH_EUNAVAILABLE fails the batch. */
    ch_err_t (*apply)(ch_svc_t *svc, ch_db_conn_t *conn, ch_batch_item_t *item, void *ctx);
    /* Whole-batch mode: runs items[0..n) in one transaction on conn (held by the writer,
     * outside a transaction), setting each item's outcome; CH_OK once committed, else the
     * transaction's error (nothing of it kept). */
    ch_err_t (*run)(ch_svc_t *svc, ch_db_conn_t *conn, ch_batch_item_t **items, size_t n, void *ctx);
    /* Sets the outcome of an item that was not written: err (CH_EUNAVAILABLE: deadline, the
     * database not answering; CH_EOVERLOADED: the queue is full; another: its own
     * transaction failed) with the fault f the writer made for it. Required. */
    void (*fail)(ch_batch_item_t *item, ch_err_t err, const ch_fault_t *f, void *ctx);
    /* Optional: counts items entering (> 0) or leaving (< 0) the queue. */
    void (*queued)(long delta);
    /* Optional: called after each committed batch of n items (before they complete). */
    void (*committed)(size_t n);
    /* Optional: called on the writer thread with every item of a batch once their outcomes
     * are set (committed or failed for good), before any of them completes: the chat writer
     * publishes message.new there, in commit order, so that no ack precedes it. */
    void (*finished)(ch_svc_t *svc, ch_batch_item_t **items, size_t n, void *ctx);
    /* An item with less than this left before its deadline is completed unwritten
     * (CH_EUNAVAILABLE) instead of run (0: only once the deadline passed). */
    int64_t expiry_margin_ms;
    /* 1: a batch runs under the latest deadline of its items (none when one has none), so an
     * item committed after its own deadline is still answered with its outcome; 0: the
     * earliest. */
    int deadline_latest;
    /* 1: an item whose bytes would take the queue past queue_bytes_max is refused even when
     * the queue is empty (0: an item alone always gets in). */
    int queue_bytes_strict;
    void *ctx;
} ch_batch_spec_t;

typedef struct ch_batch_writer ch_batch_writer_t;

/** Counters of one writer (ch_batch_writer_stats). */
typedef struct {
    uint64_t batches;  /* transactions committed */
    uint64_t items;    /* items in them */
    uint64_t refused;  /* items refused at submit (queue full) */
    size_t queued;     /* items waiting now */
    size_t queued_bytes;
} ch_batch_stats_t;

/** Starts a writer thread for spec (copied; what it points to is borrowed). svc is borrowed
 * and must outlive the writer. NULL when the thread cannot be started or spec is wrong. */
ch_batch_writer_t *ch_batch_writer_start(ch_svc_t *svc, const ch_batch_spec_t *spec);
/** Applies every item still queued, then stops and frees the writer. NULL is fine. Call
 * only when nothing can submit any more. */
void ch_batch_writer_stop(ch_batch_writer_t *w);
/** Queues item (borrowed until item->done is called; set done, arg and bytes first): once
 * the transaction holding it committed, or it failed for good, its outcome is set and
 * item->done(item) is called. Refused at once (spec.fail with CH_EOVERLOADED, then done, on
 * the calling thread) when the queue is full. Thread-safe; never blocks on the database. */
void ch_batch_writer_submit(ch_batch_writer_t *w, ch_batch_item_t *item);
/** Like ch_batch_writer_submit, but blocks until the item is done (item->done and arg are
 * used for that). */
void ch_batch_writer_submit_wait(ch_batch_writer_t *w, ch_batch_item_t *item);
/** Copies w's counters into *out. */
void ch_batch_writer_stats(ch_batch_writer_t *w, ch_batch_stats_t *out);

#endif
