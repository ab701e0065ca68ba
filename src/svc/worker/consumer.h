/* Durable consumers of an append-only table (the outbox, the engagement event log), in id
 * order, with an exactly-once effect: each batch is applied in one write transaction that
 * also moves the consumer's cursor, so a crash either keeps the whole batch and its cursor
 * or neither.
 *
 * Ids are time-sortable but given when a row is inserted, not when its transaction commits:
 * with PostgreSQL a row with a smaller id can become visible after a larger one was
 * consumed (two writers, or two replicas' clocks). A plain "last id" cursor would skip it
 * for ever. So the cursor is a watermark plus a window:
 *   - consumer_offsets.last_id: every row with id <= last_id is done;
 *   - consumer_seen: rows above last_id that are done already.
 * A batch takes the rows above the watermark that are not in consumer_seen, applies them,
 * records the ones above the new watermark as seen, and moves the watermark up to at most
 * "now - CH_CONSUMER_WINDOW_MS" (never past a row it did not see). On PostgreSQL the
 * watermark also stays a window behind the start of the oldest client transaction still
 * open in the database, so a transaction that takes long to commit holds it back instead
 * of being skipped; the window is then a margin for the nodes' clocks. On SQLite (one
 * process, short transactions) a row whose transaction commits more than the window after
 * it took its id would be missed.
 *
 * Replicas: the batch transaction first locks the consumer's row in consumer_offsets (a
 * no-op UPDATE: a row lock on PostgreSQL, the write lock on SQLite's BEGIN IMMEDIATE), so
 * one replica at a time applies a batch; the next one then reads the moved cursor and the
 * new seen rows and cannot apply a row twice.
 *
 * Idempotent mode (ch_consumer_step_idempotent): for effects outside the database that are
 * harmless to repeat (pushes into home timelines, svc/feed/fanout.h) and too long to run
 * while holding the write lock. The batch is read and applied without a transaction, then
 * the cursor and the seen rows move in a short locked transaction: a crash or an error in
 * between applies the batch again (at least once). Two replicas may then both apply a
 * batch; the second one's cursor move finds the work recorded and changes nothing. */
#ifndef CH_SVC_WORKER_CONSUMER_H
#define CH_SVC_WORKER_CONSUMER_H

#include "svc/context.h"

/* The window's default (CHORUS_CONSUMER_WINDOW sets it: ch_consumer_window_ms). */
#define CH_CONSUMER_WINDOW_MS CH_CONFIG_CONSUMER_WINDOW_MS
#define CH_CONSUMER_BATCH 200

/** The watermark's window in ms: CHORUS_CONSUMER_WINDOW, or CH_CONSUMER_WINDOW_MS when
 * svc has no configuration (unit tests). */
int64_t ch_consumer_window_ms(const ch_svc_t *svc);

/** Applies one source row inside the batch transaction (conn; in idempotent mode conn is
 * outside any transaction: autocommit statements). Return CH_OK when the row is
 * done (also for a row that is skipped, e.g. one that cannot be parsed: log it); any error
 * rolls the whole batch back, to be tried again later. */
typedef ch_err_t (*ch_consumer_apply_fn)(ch_svc_t *svc, ch_db_conn_t *conn, const ch_db_rows_t *rows, size_t row);

/** A consumer: its cursor name and how to read and apply its source. */
typedef struct {
    const char *name; /* key in consumer_offsets / consumer_seen */
    /* Selects the next rows, the row id in column 0, with $1 = watermark, $2 = name,
     * $3 = limit; must leave out rows in consumer_seen for $2 and order by id (the lag
     * read puts a subquery of the watermark in place of each $1 and reads one row), e.g.
     * "SELECT o.id, ... FROM outbox o WHERE o.id > $1 AND NOT EXISTS (SELECT 1 FROM
     * consumer_seen s WHERE s.name = $2 AND s.event_id = o.id) ORDER BY o.id LIMIT $3". */
    const char *select_sql;
    ch_consumer_apply_fn apply;
} ch_consumer_t;

/** Runs one batch of consumer c: a cheap read without a transaction first, then, when
 * there is something to do, the locked batch transaction. *applied_out gets the number of
 * rows applied (CH_CONSUMER_BATCH means there may be more). Blocks (SQL). */
ch_err_t ch_consumer_step(ch_svc_t *svc, const ch_consumer_t *c, int *applied_out);
/** ch_consumer_step in idempotent mode (above): the batch is applied outside a transaction,
 * at least once, and only the cursor's move takes the lock. Blocks (SQL). */
ch_err_t ch_consumer_step_idempotent(ch_svc_t *svc, const ch_consumer_t *c, int *applied_out);

#endif
