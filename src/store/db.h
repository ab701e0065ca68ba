/* Relational storage: one interface, two drivers (SQLite for embedded mode, PostgreSQL via
 * libpq for cluster mode), chosen by URL at start-up. SQL text is shared by both drivers:
 * parameters are written $1..$n, booleans are INTEGER 0/1, times are BIGINT unix ms, ids
 * are BIGINT; ON CONFLICT and RETURNING are used freely (SQLite >= 3.35). Both drivers
 * require exactly as many parameters as the highest $n, with no gaps in the numbering
 * (anything else is CH_EINTERNAL). PostgreSQL infers parameter types from context: cast
 * ($1::bigint) where the context fixes none.
 *
 * Transactions follow PostgreSQL on both engines: once a statement fails inside a
 * transaction, the transaction is aborted; later statements fail, commit rolls back and
 * returns the first error, so the caller's only sensible step is rollback.
 *
 * Threading: a ch_db_t is shared by all threads. A connection (ch_db_conn_t) is borrowed
 * from the pool by one thread at a time with ch_db_acquire() and given back with
 * ch_db_release(). Every call blocks: call them from worker threads; on an event-loop
 * thread (ch_db_mark_loop_thread) only short indexed reads, which never wait for a lock. */
#ifndef CH_STORE_DB_H
#define CH_STORE_DB_H

#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

typedef struct ch_db ch_db_t;
typedef struct ch_db_conn ch_db_conn_t;
typedef struct ch_db_rows ch_db_rows_t;

typedef enum { CH_DB_NULL, CH_DB_INT, CH_DB_TEXT } ch_db_type_t;

/** One bound parameter. Text is borrowed for the duration of the call; len is its length in
 * bytes or SIZE_MAX for a NUL-terminated string. Text must not contain NUL bytes
 * (PostgreSQL cannot store them): such a parameter fails with CH_EINVAL on both engines. */
typedef struct {
    ch_db_type_t type;
    int64_t i;
    const char *s;
    size_t len;
} ch_db_param_t;

#define CH_DB_P_INT(v) ((ch_db_param_t){.type = CH_DB_INT, .i = (int64_t)(v)})
/** A NUL-terminated text parameter; NULL binds SQL NULL. */
static inline ch_db_param_t ch_db_p_text(const char *v)
{
    return (ch_db_param_t){.type = v ? CH_DB_TEXT : CH_DB_NULL, .s = v, .len = SIZE_MAX};
}
#define CH_DB_P_TEXT(v) ch_db_p_text(v)
#define CH_DB_P_TEXTN(v, n) ((ch_db_param_t){.type = CH_DB_TEXT, .s = (v), .len = (n)})
#define CH_DB_P_NULL ((ch_db_param_t){.type = CH_DB_NULL})

/** A schema migration: applied once, in version order, inside one transaction. */
typedef struct {
    int version;
    const char *name;
    const char *sql; /* one or more statements, no parameters */
} ch_db_migration_t;

/* ---- drivers ------------------------------------------------------------------------ */

/** Limits of a connection pool, chosen at open (ch_db_open_opts). */
typedef struct {
    /* Longest a statement may run before the server cancels it (PostgreSQL
     * statement_timeout; the client also gives up on a server that stops answering a bit
     * later). 0 means none. Migrations and bulk loads (CH_DB_TUNE_BULK) run without it. */
    int64_t statement_timeout_ms;
    /* Most connections open at once (PostgreSQL); 0 means unbounded. */
    unsigned pool_size;
    /* How long ch_db_acquire waits for a free connection when pool_size are borrowed,
     * before it answers CH_EUNAVAILABLE. */
    int64_t pool_wait_ms;
} ch_db_options_t;

/** Defaults used by ch_db_open (and by CHORUS_DB_* settings left unset). */
#define CH_DB_STATEMENT_TIMEOUT_MS 5000
#define CH_DB_POOL_SIZE 64
#define CH_DB_POOL_WAIT_MS 2000
#define CH_DB_OPTIONS_DEFAULT                                                                    \
    ((ch_db_options_t){.statement_timeout_ms = CH_DB_STATEMENT_TIMEOUT_MS, .pool_size = CH_DB_POOL_SIZE, \
                       .pool_wait_ms = CH_DB_POOL_WAIT_MS})

/** What a connection is about to be used for (ch_db_tune). */
typedef enum {
    CH_DB_TUNE_WRITER, /* a long-lived connection that commits many small write batches */
    CH_DB_TUNE_BULK,   /* one huge transaction (seed, repair): big cache, no statement deadline */
} ch_db_tune_t;

/** Driver vtable. Every slot up to lock_schema is mandatory (checked by ch_db_open); the
 * capability slots after it are optional, each with the documented default when NULL, so
 * that services never ask which engine they run on. Error mapping:
 * unique/primary-key violation -> CH_ECONFLICT; lost connection, refused connection, busy
 * timeout, I/O error -> CH_EUNAVAILABLE; anything else (a bug in SQL) -> CH_EINTERNAL.
 * Drivers log details with ch_log_*; callers only see the ch_err_t. */
typedef struct ch_db_driver {
    const char *name;        /* "sqlite" or "postgres" */
    const char *url_prefix;  /* "sqlite:" or "postgres" (matches postgres:// and postgresql://) */
    /* Opens the pool. For sqlite, url is "sqlite:PATH" (directories must exist). Must not
     * fail for postgres when the server is down: connections are made lazily. errbuf gets a
     * human message on failure (bad URL, unwritable file). */
    ch_err_t (*open)(const char *url, const ch_db_options_t *opts, void **impl_out, char *errbuf, size_t errlen);
    void (*close)(void *impl); /* all connections must be released */
    ch_err_t (*acquire)(void *impl, ch_db_conn_t **conn_out);
    void (*release)(void *impl, ch_db_conn_t *conn); /* rolls back an open transaction */
    /* Runs one statement with parameters (prepared and cached per connection). rows_out may
     * be NULL; if not, receives every result row (caller frees with ch_db_rows_free).
     * changes_out (may be NULL) receives the number of rows inserted/updated/deleted. */
    ch_err_t (*exec)(ch_db_conn_t *conn, const char *sql, const ch_db_param_t *params, size_t nparams,
                     ch_db_rows_t **rows_out, int64_t *changes_out);
    ch_err_t (*exec_script)(ch_db_conn_t *conn, const char *sql); /* several statements, no params */
    ch_err_t (*begin)(ch_db_conn_t *conn, int for_write); /* sqlite: IMMEDIATE when for_write */
    ch_err_t (*commit)(ch_db_conn_t *conn);
    void (*rollback)(ch_db_conn_t *conn);
    /* Inside a write transaction, serialises schema migration between processes
     * (postgres: pg_advisory_xact_lock; sqlite: nothing, BEGIN IMMEDIATE already does). */
    ch_err_t (*lock_schema)(ch_db_conn_t *conn);

    /* -- optional capabilities -- */
    /* The start (unix ms, database clock) of the oldest transaction other clients have
     * open, or -1 when none, to bound how far a reader of id-ordered rows may trust that no
     * older id will still commit. NULL: transactions cannot overlap a reader's view that
     * way (SQLite: one writer, commits in id order within the process); -1. */
    ch_err_t (*oldest_open_xact_ms)(ch_db_conn_t *conn, int64_t *out_ms);
    /* Tunes a borrowed connection for a use (ch_db_tune_t); the tuning may last until the
     * connection is closed. NULL: nothing to tune. */
    ch_err_t (*tune)(ch_db_conn_t *conn, ch_db_tune_t how);
    /* Background upkeep run every maintain_interval_ms on a connection of its own by the
     * thread ch_db_maintainer_start makes (SQLite: passive WAL checkpoint). NULL: none. */
    ch_err_t (*maintain)(ch_db_conn_t *conn);
    int maintain_interval_ms;
    /* Whether the storage has room to write (SQLite: free space on the database's file
     * system); CH_EUNAVAILABLE when not. NULL: the write probe alone decides. */
    ch_err_t (*check_space)(void *impl);
} ch_db_driver_t;

extern const ch_db_driver_t ch_db_sqlite_driver;
extern const ch_db_driver_t ch_db_pg_driver;

/* ---- database handle ---------------------------------------------------------------- */

/** Opens a database by URL ("sqlite:PATH", "postgres://...") with CH_DB_OPTIONS_DEFAULT.
 * On failure returns an error and writes a message to errbuf. The caller owns *db_out
 * (ch_db_close). */
ch_err_t ch_db_open(const char *url, ch_db_t **db_out, char *errbuf, size_t errlen);
/** ch_db_open with explicit pool limits (opts borrowed, copied by the driver). */
ch_err_t ch_db_open_opts(const char *url, const ch_db_options_t *opts, ch_db_t **db_out, char *errbuf,
                         size_t errlen);
/** Closes the pool; every connection must have been released. NULL is fine. */
void ch_db_close(ch_db_t *db);
/** Driver name of an open database ("sqlite", "postgres"). */
const char *ch_db_kind(const ch_db_t *db);
/** Borrows a connection for the calling thread; CH_EUNAVAILABLE when none can be made. */
ch_err_t ch_db_acquire(ch_db_t *db, ch_db_conn_t **conn_out);
/* ---- event-loop threads ------------------------------------------------------------- */

/** Marks the calling thread as an event loop (on non-zero) or as an ordinary thread (0);
 * src/http/server.c marks each loop thread. A connection acquired on a loop thread never
 * waits for a lock (SQLite: busy timeout 0, set at acquire): a conflicting lock fails the
 * statement at once with CH_EUNAVAILABLE and leaves a note (ch_db_loop_busy_take) so that
 * the caller can move the work to a worker thread, where the normal wait applies. */
void ch_db_mark_loop_thread(int on);
/** Whether the calling thread is marked as an event loop. */
int ch_db_is_loop_thread(void);
/** Whether a statement of the calling thread failed on a lock without waiting (because the
 * thread is a loop) since the last call; clears the note. */
int ch_db_loop_busy_take(void);
/** Like ch_db_loop_busy_take, without clearing the note. */
int ch_db_loop_busy_peek(void);
/** For drivers: notes that a statement failed on a lock without waiting (loop thread). */
void ch__db_loop_busy_note(void);
/** On a loop thread: from now, the calling thread's statements may run for budget_ms in all
 * (monotonic clock); past it a running statement is interrupted and one not started is
 * refused, with CH_EUNAVAILABLE and the same note as a lock (ch_db_loop_busy_take), so that
 * a point read that turned out heavy (a viral thread, a flooded tag, a cold cache) is run
 * again on a worker instead of stalling every connection of the loop. 0 clears it. */
void ch_db_loop_budget_set(int64_t budget_ms);
/** For drivers: whether the loop budget set by ch_db_loop_budget_set is spent. */
int ch__db_loop_budget_spent(void);

/* ---- deadlines ---------------------------------------------------------------------- */

/* A request's deadline bounds every database wait of the thread serving it: the pool wait,
 * a PostgreSQL answer (past it the statement is cancelled), SQLite's lock wait and a long
 * SQLite statement (interrupted). A statement refused or cut off by the deadline fails with
 * CH_EUNAVAILABLE and aborts its transaction, so the request answers 503 with nothing
 * changed. A COMMIT already sent is not cut off by it (its outcome would be unknown), nor is
 * a PostgreSQL write sent outside a transaction (it commits by itself); one not yet sent
 * when the deadline has passed is refused (rolled back). Once a write of the thread
 * committed (a COMMIT, a write outside a transaction), the thread's own deadline no longer
 * applies until the next ch_db_deadline_set: the rest of the handler (reading what it
 * wrote) is bounded by the statement deadline alone, so that the request does not answer
 * 503 for a change that is permanent. Threads that serve no request (workers, the reactions
 * writer, migrations, seed) have none, except the process-wide stop deadline a graceful
 * stop sets, which every thread and every statement honours (a COMMIT or write cut off by
 * it is dropped with its connection: its outcome is unknown, as with a lost answer). A
 * ROLLBACK honours both deadlines (PostgreSQL: with CH_DB_ROLLBACK_GRACE_MS of room); one
 * cut off drops its connection, which rolls back just as well. */

/** Sets the calling thread's deadline: a time of ch_mono_ms(), or 0 for none; also forgets
 * that a write committed under the previous one (ch_db_request_committed). */
void ch_db_deadline_set(int64_t mono_ms);
/** Whether a write committed on the calling thread since the last ch_db_deadline_set (then
 * the thread's own deadline is lifted; the stop deadline still holds). */
int ch_db_request_committed(void);
/** For drivers: a write of the calling thread committed (see ch_db_request_committed). */
void ch__db_committed_note(void);
/** For drivers: ms left before the process-wide stop deadline alone; -1 when none, 0 when it
 * has passed. Bounds what the request deadline does not cut off (a COMMIT under way). */
int64_t ch__db_stop_deadline_left_ms(void);
/** What a statement does, as far as deadlines care (ch__db_sql_kind). */
typedef enum {
    CH_DB_SQL_READ,    /* SELECT, VALUES, SHOW, EXPLAIN: may be cancelled at any time */
    CH_DB_SQL_WRITE,   /* anything else not below: outside a transaction it commits by itself */
    CH_DB_SQL_COMMIT,  /* COMMIT or END sent as a statement (the ambient transaction's) */
    CH_DB_SQL_CONTROL, /* BEGIN, START, SAVEPOINT, RELEASE, ROLLBACK, SET, LOCK, PRAGMA */
} ch_db_sql_kind_t;
/** For drivers: the kind of sql, by its first keyword (borrowed, not kept). A SELECT that
 * writes through a function counts as a read: services write with INSERT/UPDATE/DELETE. */
ch_db_sql_kind_t ch__db_sql_kind(const char *sql);
/** For drivers: whether sql is a ROLLBACK TO [SAVEPOINT] (leading blanks and case ignored),
 * the one statement a transaction failed by a refused statement still takes. */
int ch__db_sql_is_rollback_to(const char *sql);
/** How long a PostgreSQL ROLLBACK may wait past a deadline that has passed before its
 * connection is dropped instead (a healthy server answers at once; dropping costs a
 * reconnect). */
#define CH_DB_ROLLBACK_GRACE_MS 500
/** Sets a deadline every thread honours besides its own (the earlier wins); 0 clears it.
 * Used by a graceful stop so that no database wait outlives the shutdown grace. */
void ch_db_deadline_set_all(int64_t mono_ms);
/** The calling thread's effective deadline (ch_mono_ms time), or 0 for none. */
int64_t ch_db_deadline(void);
/** The calling thread's own deadline even after a write of its request committed (the
 * earlier of it and the stop deadline; 0 for none). For calls to outside services (Stripe)
 * that are not part of the commit: the request still answers by then and leaves the rest
 * to durable jobs. */
int64_t ch_db_call_deadline(void);
/** For drivers: ms left before the effective deadline; -1 when there is none, 0 when it
 * has passed. */
int64_t ch__db_deadline_left_ms(void);
/** For drivers: counts and logs (at debug level) one wait or statement ended by the
 * deadline. */
void ch__db_deadline_hit(const char *driver, const char *what);
/** Database waits and statements ended by a deadline since start (for metrics). */
uint64_t ch_db_deadline_hits(void);

/** Gives a connection back (an open transaction is rolled back). NULL is fine. */
void ch_db_release(ch_db_t *db, ch_db_conn_t *conn);
/** See ch_db_driver_t.exec. */
ch_err_t ch_db_exec(ch_db_t *db, ch_db_conn_t *conn, const char *sql, const ch_db_param_t *params,
                    size_t nparams, ch_db_rows_t **rows_out, int64_t *changes_out);
/** Starts a transaction on conn; for_write takes the write lock up front on SQLite (so a
 * writer waits for another instead of failing when it upgrades). */
ch_err_t ch_db_begin(ch_db_t *db, ch_db_conn_t *conn, int for_write);
/** Commits; on failure (or when the transaction was aborted by an earlier error) the
 * transaction is rolled back and the error returned. */
ch_err_t ch_db_commit(ch_db_t *db, ch_db_conn_t *conn);
/** Rolls back the open transaction, if any. */
void ch_db_rollback(ch_db_t *db, ch_db_conn_t *conn);
/** Checks that the database answers (acquire + SELECT 1 + release). */
ch_err_t ch_db_ping(ch_db_t *db);
/** See ch_db_driver_t.oldest_open_xact_ms (-1 when the driver has no such horizon). */
ch_err_t ch_db_oldest_open_xact_ms(ch_db_t *db, ch_db_conn_t *conn, int64_t *out_ms);
/** See ch_db_driver_t.tune (CH_OK when the driver has nothing to tune). */
ch_err_t ch_db_tune(ch_db_t *db, ch_db_conn_t *conn, ch_db_tune_t how);

typedef struct ch_db_maintainer ch_db_maintainer_t;
/** Starts the driver's background upkeep thread (ch_db_driver_t.maintain); NULL when the
 * driver needs none or the thread cannot start (logged: degraded, not wrong). The caller
 * owns the result (ch_db_maintainer_stop). db must outlive it. */
ch_db_maintainer_t *ch_db_maintainer_start(ch_db_t *db);
/** Stops and frees the upkeep thread, waiting for its current run. NULL is fine. */
void ch_db_maintainer_stop(ch_db_maintainer_t *m);

/** Whether the database can write now: the driver's space check, then an upsert of one row
 * of db_probe on a pooled connection. Every call writes: its one caller, the readiness
 * check thread (svc/health), paces it. Thread-safe; blocks. */
ch_err_t ch_db_probe_write(ch_db_t *db);

/** Applies every migration of ch_db_migrations not yet recorded in schema_migrations, in
 * order, each in its own transaction. Safe to run concurrently from several processes.
 * *applied_out (may be NULL) receives how many were applied. */
ch_err_t ch_db_migrate(ch_db_t *db, int *applied_out);

/* ---- ambient transaction ------------------------------------------------------------ */

/* One transaction that a whole request runs in, so that an idempotency record commits
 * together with the request's effect (svc/common/idempotency.h). While it is active on a
 * thread, every ch_db_acquire of that database on that thread returns the same connection
 * (ch_db_release of it does nothing); it sends BEGIN (IMMEDIATE on SQLite) at its first
 * statement, not before, so work done before touching the database (hashing a password)
 * holds no lock. Inside it, ch_db_begin/commit/rollback become SAVEPOINT / RELEASE /
 * ROLLBACK TO + RELEASE, with the same outcome a real transaction would report (commit of a
 * level where a statement failed rolls that level back and returns the error). A statement
 * outside any nested begin that fails with CH_ECONFLICT (a unique violation the service
 * expects) leaves the ambient transaction usable: on PostgreSQL, where a failed statement
 * aborts the whole transaction, such statements run under a savepoint of their own. Any
 * other failure outside a nested begin aborts the ambient transaction: later statements
 * return that error and ch_db_ambient_end rolls back. Thread-local; one at a time. */

/** Largest nesting of ch_db_begin inside an ambient transaction. */
#define CH_DB_AMBIENT_DEPTH_MAX 8
/** Most after-commit calls one ambient transaction keeps (a list that grows as needed; more
 * are run at once, before the commit, logged as an error). */
#define CH_DB_AFTER_COMMIT_MAX 4096

/** Starts an ambient transaction on the calling thread (nothing is sent yet).
 * CH_EINTERNAL when one is already active on this thread. */
ch_err_t ch_db_ambient_begin(ch_db_t *db);
/** Ends the thread's ambient transaction: commit when commit is non-zero and no error
 * aborted it (then runs the after-commit calls in order), else rolls back (after-commit
 * calls dropped). Gives the connection back. Returns the error that aborted it, of the
 * COMMIT, or CH_OK (also when nothing was ever sent). A failed COMMIT may still have
 * committed (a lost acknowledgement): callers must make a retry find out. */
ch_err_t ch_db_ambient_end(ch_db_t *db, int commit);
/** Whether an ambient transaction of db is active on the calling thread. */
int ch_db_ambient_active(const ch_db_t *db);
/** A number that changes at every ch_db_ambient_begin on the calling thread: tells whether
 * state kept for "the current transaction" belongs to this one or an earlier (rolled back). */
uint64_t ch_db_ambient_serial(void);
/** Runs fn(ctx, id) after the thread's ambient transaction of db commits, or at once when
 * none is active (a service's own commit then is the real one). Use it for work that must
 * not see, or let others see, the effect before it is durable: cache invalidation. ctx is
 * borrowed and must outlive the transaction. */
void ch_db_after_commit(ch_db_t *db, void (*fn)(void *ctx, uint64_t id), void *ctx, uint64_t id);

/** The schema, in version order (src/store/migrations.c). */
extern const ch_db_migration_t ch_db_migrations[];
extern const size_t ch_db_migrations_count;

/* ---- result rows -------------------------------------------------------------------- */

/** Number of rows in a result. */
size_t ch_db_rows_count(const ch_db_rows_t *rows);
/** Whether cell (row, col) is SQL NULL. */
int ch_db_rows_isnull(const ch_db_rows_t *rows, size_t row, size_t col);
/** Integer value of a cell, parsed from its text (0 for NULL or non-numeric text). */
int64_t ch_db_rows_int(const ch_db_rows_t *rows, size_t row, size_t col);
/** Text of a cell, borrowed until ch_db_rows_free ("" for NULL). */
const char *ch_db_rows_text(const ch_db_rows_t *rows, size_t row, size_t col);
/** Number of columns in a result (0 for NULL or a statement that returns none). */
size_t ch_db_rows_ncols(const ch_db_rows_t *rows);
/** Byte length of a cell's text (0 for NULL). */
size_t ch_db_rows_len(const ch_db_rows_t *rows, size_t row, size_t col);
/** Frees a result. NULL is fine. */
void ch_db_rows_free(ch_db_rows_t *rows);

/** For the store's own helpers (db_maintain.c): the driver of an open database. */
const ch_db_driver_t *ch__db_driver(const ch_db_t *db);

/** For drivers: an empty result of ncols columns, filled with ch__db_rows_append (values
 * are copied). NULL when out of memory; the caller owns it (ch_db_rows_free). */
ch_db_rows_t *ch__db_rows_new(size_t ncols);
/** Appends a row of ncols cells; vals[i] NULL means SQL NULL; lens[i] is the byte length.
 * Returns 0, or -1 when out of memory (rows unchanged). */
int ch__db_rows_append(ch_db_rows_t *rows, const char *const *vals, const size_t *lens);

/* For drivers: a per-connection cache of prepared statements keyed by SQL text. Values are
 * the driver's own objects; the cache never looks inside them. Not thread-safe (a
 * connection is used by one thread at a time). */
typedef struct ch__db_cache ch__db_cache_t;
/** Upper bound on entries; a driver clears its cache before putting one more. */
#define CH__DB_CACHE_MAX 256
/** Creates an empty cache (NULL when out of memory); free with ch__db_cache_free. */
ch__db_cache_t *ch__db_cache_new(void);
/** The value cached for sql (borrowed), or NULL. */
void *ch__db_cache_get(const ch__db_cache_t *cache, const char *sql);
/** Number of entries. */
size_t ch__db_cache_count(const ch__db_cache_t *cache);
/** Adds sql (copied) -> value (the cache takes ownership of value: it is handed to free_value
 * on clear). sql must not be present yet. Returns 0, or -1 when out of memory (value not
 * taken). */
int ch__db_cache_put(ch__db_cache_t *cache, const char *sql, void *value);
/** Removes every entry, handing each value to free_value(value, ctx). */
void ch__db_cache_clear(ch__db_cache_t *cache, void (*free_value)(void *value, void *ctx), void *ctx);
/** Clears (see ch__db_cache_clear) and frees the cache. NULL is fine. */
void ch__db_cache_free(ch__db_cache_t *cache, void (*free_value)(void *value, void *ctx), void *ctx);

#endif
