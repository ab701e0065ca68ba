/* SQLite driver (embedded mode). A pool of connections to one WAL database file: each
 * connection is used by one thread at a time (SQLITE_OPEN_NOMUTEX), keeps its own cache of
 * prepared statements, and waits up to five seconds for a lock (not at all when borrowed by
 * an event-loop thread, see ch_db_mark_loop_thread). Transactions follow
 * PostgreSQL's rule (an error aborts the transaction) so that code tested in embedded mode
 * behaves the same in cluster mode. A request's deadline (ch_db_deadline_set) ends a lock
 * wait early (our busy handler checks it) and interrupts a statement still running at it
 * (progress handler); either fails the statement with CH_EUNAVAILABLE. */
#include "store/db.h"

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/sqlite_walbuf.h"

#define CH__SQ_BUSY_TIMEOUT_MS 5000
/* On an event-loop thread a lock wait would stall every connection of the loop: fail at
 * once instead, and let the dispatcher retry the call on a worker thread. */
#define CH__SQ_LOOP_BUSY_TIMEOUT_MS 0
#define CH__SQ_LOG_SQL_MAX 200 /* bytes of SQL quoted in error logs */
/* SQLite virtual-machine steps between two deadline checks of a running statement. */
#define CH__SQ_PROGRESS_STEPS 1000
#define CH__SQ_BUSY_SLEEP_MAX_MS 25 /* longest sleep between two tries for a lock */

typedef struct {
    sqlite3_stmt *stmt;
    size_t nparams; /* highest $n in the statement */
    int *index;     /* index[n - 1]: SQLite's parameter index of "$n", found once at prepare */
} ch__sq_stmt_t;

typedef struct ch__sq_conn {
    struct ch__sq_conn *next; /* free list */
    sqlite3 *db;
    ch__db_cache_t *cache;
    int busy_ms;      /* how long a statement waits for a lock (ch__sq_busy) */
    int64_t busy_since_ms; /* start of the current lock wait */
    int no_deadline;  /* COMMIT under way: only the stop deadline may cut it off */
    int deadline_hit; /* the last failure was the deadline's doing */
    int loop_budget_hit; /* the last failure was the loop budget's doing (ch_db_loop_budget_set) */
    int in_txn;       /* between our begin and commit/rollback */
    ch_err_t txn_err; /* first error inside the transaction; CH_OK while healthy */
} ch__sq_conn_t;

typedef struct {
    char *path;
    pthread_mutex_t mu;
    ch__sq_conn_t *free; /* idle connections */
    size_t nopen;        /* connections alive, idle or borrowed */
} ch__sq_pool_t;

static ch__sq_conn_t *ch__sq(ch_db_conn_t *conn)
{
    return (ch__sq_conn_t *)(void *)conn;
}

/* ---- errors ------------------------------------------------------------------------- */

static ch_err_t ch__sq_map(int rc)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return CH_ECONFLICT;
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_INTERRUPT: /* the request deadline (ch__sq_progress) */
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
        return CH_EUNAVAILABLE;
    default:
        return CH_EINTERNAL;
    }
}

/* Whether rc is a lock conflict that a connection without busy timeout reports at once. */
static int ch__sq_is_busy(int rc)
{
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Maps a failure of what on c, logs it, and records it as the transaction's error. */
static ch_err_t ch__sq_fail(ch__sq_conn_t *c, int rc, const char *what, const char *sql)
{
    ch_err_t err = ch__sq_map(rc);
    if (c->loop_budget_hit && (rc & 0xff) == SQLITE_INTERRUPT) {
        c->loop_budget_hit = 0;
        ch__db_loop_busy_note(); /* expected: the caller runs the call again on a worker */
        ch_log_debug("sqlite: %s interrupted on an event loop past its budget: moved to a worker", what);
        if (c->in_txn && c->txn_err == CH_OK)
            c->txn_err = CH_EUNAVAILABLE;
        return CH_EUNAVAILABLE;
    }
    if (c->deadline_hit && (ch__sq_is_busy(rc) || (rc & 0xff) == SQLITE_INTERRUPT)) {
        c->deadline_hit = 0;
        ch__db_deadline_hit("sqlite", what);
        if (c->in_txn && c->txn_err == CH_OK)
            c->txn_err = err;
        return err;
    }
    int loop_busy = c->busy_ms == CH__SQ_LOOP_BUSY_TIMEOUT_MS && ch__sq_is_busy(rc);
    if (loop_busy)
        ch__db_loop_busy_note(); /* expected: the caller retries on a worker thread */
    /* A unique violation is an expected answer (handle taken, replayed request). */
    ch_log_level_t level = err == CH_ECONFLICT || loop_busy ? CH_LOG_DEBUG : CH_LOG_ERROR;
    if (ch_log_enabled(level))
        ch_log(level, "sqlite: %s failed: %s (code %d) [sql: %.*s]", what, sqlite3_errmsg(c->db), rc,
               CH__SQ_LOG_SQL_MAX, sql);
    if (c->in_txn && c->txn_err == CH_OK)
        c->txn_err = err;
    return err;
}

/* A caller error detected before reaching SQLite (bad parameters, aborted transaction). */
static ch_err_t ch__sq_misuse(ch__sq_conn_t *c, ch_err_t err, const char *why, const char *sql)
{
    ch_log_error("sqlite: %s [sql: %.*s]", why, CH__SQ_LOG_SQL_MAX, sql);
    if (c->in_txn && c->txn_err == CH_OK)
        c->txn_err = err;
    return err;
}

/* ---- statements --------------------------------------------------------------------- */

static void ch__sq_stmt_free(void *value, void *ctx)
{
    ch__sq_stmt_t *st = value;
    sqlite3_finalize(st->stmt);
    free(st->index);
    free(st);
}

/* Highest $n among the statement's parameters, or -1 when one is not of that form or the
 * numbering has a gap (PostgreSQL cannot type a parameter the statement never uses). When
 * index is not NULL (count entries), index[n - 1] receives the SQLite index of "$n". */
static long ch__sq_max_param(sqlite3_stmt *stmt, int *index)
{
    long max = 0;
    int count = sqlite3_bind_parameter_count(stmt);
    for (int i = 1; i <= count; i++) {
        const char *name = sqlite3_bind_parameter_name(stmt, i);
        if (!name || name[0] != '$' || name[1] < '1' || name[1] > '9')
            return -1;
        char *end;
        long n = strtol(name + 1, &end, 10);
        if (*end || n > 65535)
            return -1;
        if (index && n <= count)
            index[n - 1] = i;
        if (n > max)
            max = n;
    }
    return max == count ? max : -1; /* names are distinct: count == max means no gap */
}

/* Finds or prepares the cached statement for sql. */
static ch_err_t ch__sq_stmt(ch__sq_conn_t *c, const char *sql, ch__sq_stmt_t **st_out)
{
    ch__sq_stmt_t *st = ch__db_cache_get(c->cache, sql);
    if (st) {
        *st_out = st;
        return CH_OK;
    }
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK)
        return ch__sq_fail(c, rc, "prepare", sql);
    if (!stmt)
        return ch__sq_misuse(c, CH_EINTERNAL, "empty statement", sql);
    while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == ';'))
        tail++;
    int *index = ch_calloc((size_t)sqlite3_bind_parameter_count(stmt) + 1, sizeof(int));
    long nparams = index ? ch__sq_max_param(stmt, index) : -1;
    const char *why = tail && *tail ? "exec takes one statement (use exec_script)"
                      : nparams < 0 ? "parameters must be written $1..$n, without gaps"
                                    : NULL;
    if (why) {
        sqlite3_finalize(stmt);
        free(index);
        return ch__sq_misuse(c, CH_EINTERNAL, why, sql);
    }
    st = ch_malloc(sizeof(*st));
    if (!st) {
        sqlite3_finalize(stmt);
        free(index);
        return ch__sq_misuse(c, CH_EINTERNAL, "out of memory", sql);
    }
    *st = (ch__sq_stmt_t){stmt, (size_t)nparams, index};
    if (ch__db_cache_count(c->cache) >= CH__DB_CACHE_MAX)
        ch__db_cache_clear(c->cache, ch__sq_stmt_free, NULL);
    if (ch__db_cache_put(c->cache, sql, st) != 0) {
        ch__sq_stmt_free(st, NULL);
        return ch__sq_misuse(c, CH_EINTERNAL, "out of memory", sql);
    }
    *st_out = st;
    return CH_OK;
}

/* Binds params by name ($1 is params[0]): SQLite numbers $NNN parameters in order of first
 * appearance, not by their digits. */
static ch_err_t ch__sq_bind(ch__sq_conn_t *c, ch__sq_stmt_t *st, const char *sql, const ch_db_param_t *params,
                            size_t nparams)
{
    if (nparams != st->nparams) {
        char why[96];
        snprintf(why, sizeof(why), "statement takes %zu parameters, %zu given", st->nparams, nparams);
        return ch__sq_misuse(c, CH_EINTERNAL, why, sql);
    }
    for (size_t i = 0; i < nparams; i++) {
        int idx = st->index[i];
        const ch_db_param_t *p = &params[i];
        int rc;
        switch (p->type) {
        case CH_DB_INT:
            rc = sqlite3_bind_int64(st->stmt, idx, p->i);
            break;
        case CH_DB_TEXT: {
            size_t len = p->len == SIZE_MAX ? strlen(p->s) : p->len;
            if (memchr(p->s, '\0', len)) {
                char why[64];
                snprintf(why, sizeof(why), "parameter $%zu contains a NUL byte", i + 1);
                return ch__sq_misuse(c, CH_EINVAL, why, sql);
            }
            /* Static: the text outlives the call, and bindings are cleared before return. */
            rc = sqlite3_bind_text64(st->stmt, idx, p->s, len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        }
        case CH_DB_NULL:
            rc = sqlite3_bind_null(st->stmt, idx);
            break;
        default:
            return ch__sq_misuse(c, CH_EINTERNAL, "unknown parameter type", sql);
        }
        if (rc != SQLITE_OK)
            return ch__sq_fail(c, rc, "bind", sql);
    }
    return CH_OK;
}

/* Steps stmt to completion, collecting rows into *rows_out when asked. */
static ch_err_t ch__sq_step_all(ch__sq_conn_t *c, sqlite3_stmt *stmt, const char *sql, ch_db_rows_t **rows_out)
{
    size_t ncols = (size_t)sqlite3_column_count(stmt);
    ch_db_rows_t *rows = NULL;
    const char **vals = NULL;
    size_t *lens = NULL;
    if (rows_out) {
        rows = ch__db_rows_new(ncols);
        vals = ch_calloc(ncols ? ncols : 1, sizeof(*vals));
        lens = ch_calloc(ncols ? ncols : 1, sizeof(*lens));
        if (!rows || !vals || !lens) {
            free(vals);
            free(lens);
            ch_db_rows_free(rows);
            return ch__sq_misuse(c, CH_EINTERNAL, "out of memory", sql);
        }
    }
    ch_err_t err = CH_OK;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!rows)
            continue;
        for (size_t i = 0; i < ncols && err == CH_OK; i++) {
            if (sqlite3_column_type(stmt, (int)i) == SQLITE_NULL) {
                vals[i] = NULL;
                lens[i] = 0;
                continue;
            }
            vals[i] = (const char *)sqlite3_column_text(stmt, (int)i);
            lens[i] = (size_t)sqlite3_column_bytes(stmt, (int)i);
            if (!vals[i])
                err = ch__sq_misuse(c, CH_EINTERNAL, "out of memory reading a column", sql);
        }
        if (err == CH_OK && ch__db_rows_append(rows, vals, lens) != 0)
            err = ch__sq_misuse(c, CH_EINTERNAL, "out of memory", sql);
        if (err != CH_OK)
            break;
    }
    if (err == CH_OK && rc != SQLITE_DONE)
        err = ch__sq_fail(c, rc, "step", sql);
    free(vals);
    free(lens);
    if (err != CH_OK)
        ch_db_rows_free(rows);
    else if (rows_out)
        *rows_out = rows;
    return err;
}

static ch_err_t ch__sq_run(ch__sq_conn_t *c, const char *sql, const ch_db_param_t *params, size_t nparams,
                           ch_db_rows_t **rows_out, int64_t *changes_out)
{
    ch__sq_stmt_t *st = NULL;
    c->deadline_hit = 0;
    c->loop_budget_hit = 0;
    if (c->busy_ms == CH__SQ_LOOP_BUSY_TIMEOUT_MS && ch__db_loop_budget_spent()) {
        ch__db_loop_busy_note(); /* the loop's budget is spent: not one more statement here */
        if (c->in_txn && c->txn_err == CH_OK)
            c->txn_err = CH_EUNAVAILABLE;
        return CH_EUNAVAILABLE;
    }
    ch_err_t err = ch__sq_stmt(c, sql, &st);
    if (err != CH_OK)
        return err;
    sqlite3_int64 before = sqlite3_total_changes64(c->db);
    err = ch__sq_bind(c, st, sql, params, nparams);
    if (err == CH_OK)
        err = ch__sq_step_all(c, st->stmt, sql, rows_out);
    /* changes64 keeps the count of the last INSERT/UPDATE/DELETE, even across a later SELECT
     * or DDL; the total only moves when this statement changed rows. */
    if (err == CH_OK && changes_out)
        *changes_out = sqlite3_total_changes64(c->db) != before ? (int64_t)sqlite3_changes64(c->db) : 0;
    sqlite3_reset(st->stmt);
    sqlite3_clear_bindings(st->stmt);
    return err;
}

/* ---- connections -------------------------------------------------------------------- */

static void ch__sq_conn_close(ch__sq_conn_t *c)
{
    ch__db_cache_free(c->cache, ch__sq_stmt_free, NULL);
    sqlite3_close(c->db);
    free(c);
}

static int ch__sq_journal_cb(void *arg, int ncols, char **vals, char **names)
{
    if (ncols > 0 && vals[0])
        snprintf(arg, 16, "%s", vals[0]);
    return 0;
}

/* Explains why path cannot be opened, better than SQLite's "unable to open database file". */
static void ch__sq_path_problem(const char *path, sqlite3 *db, char *errbuf, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        snprintf(errbuf, errlen, "sqlite: cannot open %s: directory %s does not exist", path, dir);
    else if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(errbuf, errlen, "sqlite: cannot open %s: it is a directory", path);
    else
        snprintf(errbuf, errlen, "sqlite: cannot open %s: %s (%s)", path, db ? sqlite3_errmsg(db) : "out of memory",
                 db ? strerror(sqlite3_system_errno(db)) : "");
}

/* ---- deadlines ---------------------------------------------------------------------- */

/* The busy handler: waits for a lock up to c->busy_ms (SQLite's busy timeout does the
 * same, without a way to stop early), and not past the thread's deadline. */
static int ch__sq_busy(void *arg, int count)
{
    ch__sq_conn_t *c = arg;
    if (c->busy_ms <= 0)
        return 0;
    int64_t now = ch_mono_ms();
    if (count == 0)
        c->busy_since_ms = now;
    int64_t left = c->busy_since_ms + c->busy_ms - now;
    int64_t dl = c->no_deadline ? ch__db_stop_deadline_left_ms() : ch__db_deadline_left_ms();
    if (dl == 0) {
        c->deadline_hit = 1;
        return 0;
    }
    if (left <= 0)
        return 0;
    int64_t nap = count < 4 ? 1 << count : CH__SQ_BUSY_SLEEP_MAX_MS; /* 1, 2, 4, 8, then 25 ms */
    if (nap > left)
        nap = left;
    if (dl > 0 && nap > dl)
        nap = dl;
    sqlite3_sleep((int)nap);
    return 1;
}

/* The progress handler: interrupts a statement still running at the thread's deadline. */
static int ch__sq_progress(void *arg)
{
    ch__sq_conn_t *c = arg;
    if (c->busy_ms == CH__SQ_LOOP_BUSY_TIMEOUT_MS && !c->no_deadline && ch__db_loop_budget_spent()) {
        c->loop_budget_hit = 1; /* a heavy statement on a loop: the call moves to a worker */
        return 1;
    }
    if ((c->no_deadline ? ch__db_stop_deadline_left_ms() : ch__db_deadline_left_ms()) != 0)
        return 0;
    c->deadline_hit = 1;
    return 1;
}

/* Refuses to start a statement once the deadline has passed (the transaction is aborted,
 * its commit fails: the request answers 503 with nothing changed). */
static ch_err_t ch__sq_past_deadline(ch__sq_conn_t *c)
{
    if (c->no_deadline || ch__db_deadline_left_ms() != 0)
        return CH_OK;
    ch__db_deadline_hit("sqlite", "a statement not started");
    if (c->in_txn && c->txn_err == CH_OK)
        c->txn_err = CH_EUNAVAILABLE;
    return CH_EUNAVAILABLE;
}

/* Opens and configures one connection that waits up to busy_ms for a lock. Returns an
 * SQLite result code; on failure errbuf (or the log, when errbuf is NULL) gets the reason. */
static int ch__sq_connect(const char *path, int busy_ms, ch__sq_conn_t **out, char *errbuf, size_t errlen)
{
    char local[512];
    if (!errbuf || errlen == 0) {
        errbuf = local;
        errlen = sizeof(local);
    }
    *out = NULL;
    sqlite3 *db = NULL;
    /* WAL frames of a commit are written with one call (store/sqlite_walbuf.h). */
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             ch_sqlite_walbuf_vfs());
    if (rc != SQLITE_OK) {
        ch__sq_path_problem(path, db, errbuf, errlen);
        goto fail;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_ms); /* while configuring; ch__sq_busy once c exists */
    if (sqlite3_db_readonly(db, "main") == 1) {
        snprintf(errbuf, errlen, "sqlite: %s is not writable", path);
        rc = SQLITE_READONLY;
        goto fail;
    }
    char mode[16] = "";
    rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", ch__sq_journal_cb, mode, NULL);
    if (rc == SQLITE_OK && strcmp(mode, "wal") != 0) {
        snprintf(errbuf, errlen, "sqlite: %s cannot use WAL (journal_mode is %s)", path, mode);
        rc = SQLITE_CANTOPEN;
        goto fail;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "sqlite: cannot use %s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    ch__sq_conn_t *c = ch_calloc(1, sizeof(*c));
    if (c)
        c->cache = ch__db_cache_new();
    if (!c || !c->cache) {
        free(c);
        snprintf(errbuf, errlen, "sqlite: out of memory");
        rc = SQLITE_NOMEM;
        goto fail;
    }
    c->db = db;
    c->busy_ms = busy_ms;
    sqlite3_busy_handler(db, ch__sq_busy, c);
    sqlite3_progress_handler(db, CH__SQ_PROGRESS_STEPS, ch__sq_progress, c);
    *out = c;
    return SQLITE_OK;
fail:
    if (errbuf == local && busy_ms == CH__SQ_LOOP_BUSY_TIMEOUT_MS && ch__sq_is_busy(rc))
        ch_log_debug("%s (event loop: retried on a worker)", local);
    else if (errbuf == local)
        ch_log_error("%s", local);
    sqlite3_close(db);
    return rc;
}

/* ---- driver ------------------------------------------------------------------------- */

static ch_err_t ch__sq_open(const char *url, const ch_db_options_t *opts, void **impl_out, char *errbuf,
                            size_t errlen)
{
    (void)opts; /* one file, no server: no deadlines or pool bound to apply */
    const char *path = url + strlen("sqlite:");
    if (!*path) {
        snprintf(errbuf, errlen, "sqlite: no path in URL (expected sqlite:PATH)");
        return CH_EINVAL;
    }
    if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0) {
        snprintf(errbuf, errlen, "sqlite: %s is not supported (expected a file path; each pooled connection "
                                 "would see its own in-memory database)", path);
        return CH_EINVAL;
    }
    /* Without memory statistics SQLite takes no global mutex around each allocation.
     * Refused (harmlessly) once the library is initialised, e.g. by a second open. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (!sqlite3_threadsafe()) {
        snprintf(errbuf, errlen, "sqlite: libsqlite3 was built without thread support");
        return CH_EINTERNAL;
    }
    ch__sq_pool_t *pool = ch_calloc(1, sizeof(*pool));
    if (!pool || !(pool->path = ch_strdup(path))) {
        free(pool);
        snprintf(errbuf, errlen, "sqlite: out of memory");
        return CH_EINTERNAL;
    }
    /* One connection up front: it creates the file and proves that the path is usable. */
    ch__sq_conn_t *c;
    int rc = ch__sq_connect(path, CH__SQ_BUSY_TIMEOUT_MS, &c, errbuf, errlen);
    if (rc != SQLITE_OK) {
        free(pool->path);
        free(pool);
        /* Transient trouble (locked, disk full) versus a path that can never work. */
        return ch__sq_map(rc) == CH_EUNAVAILABLE && (rc & 0xff) != SQLITE_CANTOPEN ? CH_EUNAVAILABLE
               : rc == SQLITE_NOMEM                                                 ? CH_EINTERNAL
                                                                                    : CH_EINVAL;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pool->free = c;
    pool->nopen = 1;
    *impl_out = pool;
    return CH_OK;
}

static void ch__sq_close(void *impl)
{
    ch__sq_pool_t *pool = impl;
    size_t nclosed = 0;
    while (pool->free) {
        ch__sq_conn_t *c = pool->free;
        pool->free = c->next;
        ch__sq_conn_close(c);
        nclosed++;
    }
    if (nclosed != pool->nopen)
        ch_log_error("sqlite: closing %s with %zu connection(s) still borrowed", pool->path, pool->nopen - nclosed);
    pthread_mutex_destroy(&pool->mu);
    free(pool->path);
    free(pool);
}

static ch_err_t ch__sq_acquire(void *impl, ch_db_conn_t **conn_out)
{
    ch__sq_pool_t *pool = impl;
    int busy_ms = ch_db_is_loop_thread() ? CH__SQ_LOOP_BUSY_TIMEOUT_MS : CH__SQ_BUSY_TIMEOUT_MS;
    pthread_mutex_lock(&pool->mu);
    ch__sq_conn_t *c = pool->free;
    if (c) {
        pool->free = c->next;
        c->next = NULL;
    } else {
        pool->nopen++; /* counted before connecting so that close() sees it as borrowed */
    }
    pthread_mutex_unlock(&pool->mu);
    if (!c) {
        int rc = ch__sq_connect(pool->path, busy_ms, &c, NULL, 0);
        if (rc != SQLITE_OK) {
            if (busy_ms == CH__SQ_LOOP_BUSY_TIMEOUT_MS && ch__sq_is_busy(rc))
                ch__db_loop_busy_note();
            pthread_mutex_lock(&pool->mu);
            pool->nopen--;
            pthread_mutex_unlock(&pool->mu);
            return CH_EUNAVAILABLE;
        }
    } else {
        c->busy_ms = busy_ms; /* read by ch__sq_busy */
    }
    *conn_out = (ch_db_conn_t *)(void *)c;
    return CH_OK;
}

static void ch__sq_rollback(ch_db_conn_t *conn)
{
    ch__sq_conn_t *c = ch__sq(conn);
    /* SQLite rolls back by itself after some errors (busy, full, I/O). */
    if (!sqlite3_get_autocommit(c->db)) {
        /* Under the deadlines (cutting a rollback short is always safe): one that did not
         * finish leaves the transaction open, and release closes the connection instead of
         * pooling it, which rolls back as well. */
        int rc = sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            ch_log_error("sqlite: rollback failed: %s", sqlite3_errmsg(c->db));
    }
    c->in_txn = 0;
    c->txn_err = CH_OK;
}

static void ch__sq_release(void *impl, ch_db_conn_t *conn)
{
    ch__sq_pool_t *pool = impl;
    ch__sq_conn_t *c = ch__sq(conn);
    if (c->in_txn || !sqlite3_get_autocommit(c->db))
        ch__sq_rollback(conn);
    pthread_mutex_lock(&pool->mu);
    if (sqlite3_get_autocommit(c->db)) {
        c->next = pool->free;
        pool->free = c;
        c = NULL;
    } else {
        pool->nopen--; /* stuck in a transaction: not reusable */
    }
    pthread_mutex_unlock(&pool->mu);
    if (c)
        ch__sq_conn_close(c);
}

static ch_err_t ch__sq_exec(ch_db_conn_t *conn, const char *sql, const ch_db_param_t *params, size_t nparams,
                            ch_db_rows_t **rows_out, int64_t *changes_out)
{
    ch__sq_conn_t *c = ch__sq(conn);
    /* ROLLBACK TO SAVEPOINT undoes a statement's failure (a refusal: a conflict, a constraint)
     * when SQLite kept the transaction open; the transaction goes on. Not the database's not
     * answering (a deadline, the loop's budget): that transaction stays failed. */
    int to_savepoint = c->in_txn && c->txn_err != CH_OK && c->txn_err != CH_EUNAVAILABLE &&
                       !sqlite3_get_autocommit(c->db) && ch__db_sql_is_rollback_to(sql);
    if (c->in_txn && c->txn_err != CH_OK && !to_savepoint)
        return ch__sq_misuse(c, CH_EINTERNAL, "statement in a transaction aborted by an earlier error", sql);
    if (ch__sq_past_deadline(c) != CH_OK)
        return CH_EUNAVAILABLE;
    if (to_savepoint) {
        ch_err_t was = c->txn_err;
        c->txn_err = CH_OK;
        ch_err_t err = ch__sq_run(c, sql, params, nparams, rows_out, changes_out);
        if (err != CH_OK)
            c->txn_err = was;
        return err;
    }
    /* A write outside a transaction, or a COMMIT sent as a statement (the ambient
     * transaction's), commits: its success lifts the request deadline. */
    ch_db_sql_kind_t kind = ch__db_sql_kind(sql);
    int commits = kind == CH_DB_SQL_COMMIT || (kind == CH_DB_SQL_WRITE && sqlite3_get_autocommit(c->db));
    c->no_deadline = kind == CH_DB_SQL_COMMIT;
    ch_err_t err = ch__sq_run(c, sql, params, nparams, rows_out, changes_out);
    c->no_deadline = 0;
    if (err == CH_OK && commits)
        ch__db_committed_note();
    return err;
}

static ch_err_t ch__sq_exec_script(ch_db_conn_t *conn, const char *sql)
{
    ch__sq_conn_t *c = ch__sq(conn);
    if (c->in_txn && c->txn_err != CH_OK)
        return ch__sq_misuse(c, CH_EINTERNAL, "script in a transaction aborted by an earlier error", sql);
    if (ch__sq_past_deadline(c) != CH_OK)
        return CH_EUNAVAILABLE;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? CH_OK : ch__sq_fail(c, rc, "script", sql);
}

static ch_err_t ch__sq_begin(ch_db_conn_t *conn, int for_write)
{
    ch__sq_conn_t *c = ch__sq(conn);
    if (c->in_txn || !sqlite3_get_autocommit(c->db)) {
        ch_log_error("sqlite: begin inside a transaction");
        return CH_EINTERNAL;
    }
    /* IMMEDIATE takes the write lock now (waiting up to the busy timeout); a deferred
     * transaction that upgrades later fails at once with SQLITE_BUSY instead of waiting. */
    const char *sql = for_write ? "BEGIN IMMEDIATE" : "BEGIN";
    if (ch__sq_past_deadline(c) != CH_OK)
        return CH_EUNAVAILABLE;
    ch_err_t err = ch__sq_run(c, sql, NULL, 0, NULL, NULL);
    if (err == CH_OK) {
        c->in_txn = 1;
        c->txn_err = CH_OK;
    }
    return err;
}

static ch_err_t ch__sq_commit(ch_db_conn_t *conn)
{
    ch__sq_conn_t *c = ch__sq(conn);
    if (!c->in_txn) {
        ch_log_error("sqlite: commit outside a transaction");
        return CH_EINTERNAL;
    }
    ch_err_t err = c->txn_err;
    if (err == CH_OK)
        err = ch__sq_past_deadline(c); /* not started: rolled back below */
    if (err == CH_OK) {
        /* Once started, COMMIT is not cut off by the request deadline; the stop deadline may
         * interrupt it (SQLite then rolls back: the outcome is known, unlike PostgreSQL). */
        c->no_deadline = 1;
        err = ch__sq_run(c, "COMMIT", NULL, 0, NULL, NULL);
        c->no_deadline = 0;
        if (err == CH_OK)
            ch__db_committed_note();
    }
    else
        ch_log_error("sqlite: commit of a transaction aborted by an earlier error: rolled back");
    if (err != CH_OK)
        ch__sq_rollback(conn);
    c->in_txn = 0;
    c->txn_err = CH_OK;
    return err;
}

static ch_err_t ch__sq_lock_schema(ch_db_conn_t *conn)
{
    /* BEGIN IMMEDIATE already holds the database's only write lock. */
    if (!ch__sq(conn)->in_txn) {
        ch_log_error("sqlite: lock_schema outside a transaction");
        return CH_EINTERNAL;
    }
    return CH_OK;
}

/* ---- capabilities ------------------------------------------------------------------- */

/* How often the upkeep thread copies the WAL back into the database file. */
#define CH__SQ_CHECKPOINT_INTERVAL_MS 250
/* WAL pages after which a commit of a writer connection checkpoints itself (SQLite's
 * default is 1,000): by then the upkeep thread has copied most frames, and this checkpoint
 * lets the next transaction restart the WAL from its beginning. Measured: +25 % writes/s. */
#define CH__SQ_WRITER_AUTOCHECKPOINT "PRAGMA wal_autocheckpoint=10000"
/* A writer's page cache (KiB when negative): the hot pages of every index it writes. */
#define CH__SQ_WRITER_CACHE "PRAGMA cache_size=-65536"
/* A bulk load's page cache (256 MiB): holds the indexes being built instead of spilling
 * pages to the WAL again and again. */
#define CH__SQ_BULK_CACHE "PRAGMA cache_size=-262144"
/* Below this much free space on the database's file system, the write probe fails: an
 * update in place may still succeed, but anything that grows a file will not. */
#define CH__SQ_MIN_FREE_BYTES (1024 * 1024)

static ch_err_t ch__sq_tune(ch_db_conn_t *conn, ch_db_tune_t how)
{
    ch__sq_conn_t *c = ch__sq(conn);
    const char *sql = how == CH_DB_TUNE_WRITER ? CH__SQ_WRITER_AUTOCHECKPOINT "; " CH__SQ_WRITER_CACHE
                                               : CH__SQ_BULK_CACHE;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? CH_OK : ch__sq_fail(c, rc, "tune", sql);
}

/* PASSIVE: never waits for readers or the writer. */
static ch_err_t ch__sq_maintain(ch_db_conn_t *conn)
{
    ch__sq_conn_t *c = ch__sq(conn);
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return rc == SQLITE_OK || rc == SQLITE_BUSY ? CH_OK : ch__sq_fail(c, rc, "checkpoint", "wal_checkpoint");
}

static ch_err_t ch__sq_check_space(void *impl)
{
    ch__sq_pool_t *pool = impl;
    struct statvfs st;
    if (statvfs(pool->path, &st) != 0) {
        ch_log_error("sqlite: cannot stat the file system of %s", pool->path);
        return CH_EUNAVAILABLE;
    }
    unsigned long long avail = (unsigned long long)st.f_bavail * st.f_frsize;
    if (avail < CH__SQ_MIN_FREE_BYTES) {
        ch_log_warn("sqlite: only %llu bytes free beside %s", avail, pool->path);
        return CH_EUNAVAILABLE;
    }
    return CH_OK;
}

const ch_db_driver_t ch_db_sqlite_driver = {
    .name = "sqlite",
    .url_prefix = "sqlite:",
    .open = ch__sq_open,
    .close = ch__sq_close,
    .acquire = ch__sq_acquire,
    .release = ch__sq_release,
    .exec = ch__sq_exec,
    .exec_script = ch__sq_exec_script,
    .begin = ch__sq_begin,
    .commit = ch__sq_commit,
    .rollback = ch__sq_rollback,
    .lock_schema = ch__sq_lock_schema,
    .oldest_open_xact_ms = NULL, /* one process; the consumer's time window suffices */
    .tune = ch__sq_tune,
    .maintain = ch__sq_maintain,
    .maintain_interval_ms = CH__SQ_CHECKPOINT_INTERVAL_MS,
    .check_space = ch__sq_check_space,
};
