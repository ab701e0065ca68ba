/* Relational storage, driver-independent part: choosing a driver by URL, the thin wrappers
 * over the vtable, schema migration, and the result-row container every driver fills. */
#include "store/db.h"

#include "core/loop_guard.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

struct ch_db {
    const ch_db_driver_t *driver;
    void *impl;
};

static const ch_db_driver_t *const ch__db_drivers[] = {&ch_db_sqlite_driver, &ch_db_pg_driver};

static void ch__db_errf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ch__db_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* ---- database handle ---------------------------------------------------------------- */

/* Names the first missing slot of a driver vtable, or NULL when it is complete. */
static const char *ch__db_driver_missing(const ch_db_driver_t *d)
{
#define CH__DB_SLOT(slot) \
    if (!d->slot)         \
        return #slot;
    CH__DB_SLOT(name)
    CH__DB_SLOT(url_prefix)
    CH__DB_SLOT(open)
    CH__DB_SLOT(close)
    CH__DB_SLOT(acquire)
    CH__DB_SLOT(release)
    CH__DB_SLOT(exec)
    CH__DB_SLOT(exec_script)
    CH__DB_SLOT(begin)
    CH__DB_SLOT(commit)
    CH__DB_SLOT(rollback)
    CH__DB_SLOT(lock_schema)
#undef CH__DB_SLOT
    if (d->maintain && d->maintain_interval_ms <= 0)
        return "maintain_interval_ms";
    return NULL;
}

ch_err_t ch_db_open(const char *url, ch_db_t **db_out, char *errbuf, size_t errlen)
{
    ch_db_options_t opts = CH_DB_OPTIONS_DEFAULT;
    return ch_db_open_opts(url, &opts, db_out, errbuf, errlen);
}

ch_err_t ch_db_open_opts(const char *url, const ch_db_options_t *opts, ch_db_t **db_out, char *errbuf,
                         size_t errlen)
{
    *db_out = NULL;
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!url || !*url) {
        ch__db_errf(errbuf, errlen, "no database URL (expected sqlite:PATH or postgres://...)");
        return CH_EINVAL;
    }
    const ch_db_driver_t *driver = NULL;
    for (size_t i = 0; i < sizeof(ch__db_drivers) / sizeof(ch__db_drivers[0]); i++) {
        const ch_db_driver_t *d = ch__db_drivers[i];
        if (d->url_prefix && strncmp(url, d->url_prefix, strlen(d->url_prefix)) == 0) {
            driver = d;
            break;
        }
    }
    if (!driver) {
        ch__db_errf(errbuf, errlen, "unsupported database URL (expected sqlite:PATH or postgres://...)");
        return CH_EINVAL;
    }
    const char *missing = ch__db_driver_missing(driver);
    if (missing) {
        ch__db_errf(errbuf, errlen, "database driver %s lacks slot %s", driver->name ? driver->name : "?",
                    missing);
        return CH_EINTERNAL;
    }
    ch_db_t *db = ch_calloc(1, sizeof(*db));
    if (!db) {
        ch__db_errf(errbuf, errlen, "out of memory");
        return CH_EINTERNAL;
    }
    db->driver = driver;
    ch_err_t err = driver->open(url, opts, &db->impl, errbuf, errlen);
    if (err != CH_OK) {
        if (errbuf && errlen && !errbuf[0])
            ch__db_errf(errbuf, errlen, "%s: cannot open database", driver->name);
        free(db);
        return err;
    }
    *db_out = db;
    return CH_OK;
}

void ch_db_close(ch_db_t *db)
{
    if (!db)
        return;
    db->driver->close(db->impl);
    free(db);
}

const ch_db_driver_t *ch__db_driver(const ch_db_t *db)
{
    return db->driver;
}

const char *ch_db_kind(const ch_db_t *db)
{
    return db->driver->name;
}

/* The ambient transaction (end of file) takes these over on its own connection. */
static int ch__db_amb_owns(const ch_db_t *db, const ch_db_conn_t *conn);
static ch_err_t ch__db_amb_acquire(ch_db_conn_t **conn_out);
static ch_err_t ch__db_amb_exec(const char *sql, const ch_db_param_t *params, size_t nparams, ch_db_rows_t **rows_out,
                                int64_t *changes_out);
static ch_err_t ch__db_amb_begin(void);
static ch_err_t ch__db_amb_commit(void);
static void ch__db_amb_rollback(void);
static void ch__db_amb_release(void);

/* ---- event-loop threads ------------------------------------------------------------- */

static _Thread_local int ch__db_loop_thread;
static _Thread_local int ch__db_loop_busy;

void ch_db_mark_loop_thread(int on)
{
    ch__db_loop_thread = on != 0;
}

int ch_db_is_loop_thread(void)
{
    return ch__db_loop_thread;
}

int ch_db_loop_busy_take(void)
{
    int busy = ch__db_loop_busy;
    ch__db_loop_busy = 0;
    return busy;
}

int ch_db_loop_busy_peek(void)
{
    return ch__db_loop_busy;
}

void ch__db_loop_busy_note(void)
{
    ch__db_loop_busy = 1;
}

static _Thread_local int64_t ch__db_loop_budget_end_ms; /* monotonic; 0 = none */

void ch_db_loop_budget_set(int64_t budget_ms)
{
    ch__db_loop_budget_end_ms = budget_ms > 0 ? ch_mono_ms() + budget_ms : 0;
}

int ch__db_loop_budget_spent(void)
{
    return ch__db_loop_budget_end_ms != 0 && ch__db_loop_thread && ch_mono_ms() >= ch__db_loop_budget_end_ms;
}

/* ---- deadlines ---------------------------------------------------------------------- */

static _Thread_local int64_t ch__db_deadline_ms;
/* A write of the thread's request committed: its own deadline no longer applies (a 503
 * now would deny a change that is permanent). Cleared by the next ch_db_deadline_set. */
static _Thread_local int ch__db_committed;
static _Atomic int64_t ch__db_deadline_all_ms;
static _Atomic uint64_t ch__db_deadline_hits;

void ch_db_deadline_set(int64_t mono_ms)
{
    ch__db_deadline_ms = mono_ms > 0 ? mono_ms : 0;
    ch__db_committed = 0;
}

void ch__db_committed_note(void)
{
    ch__db_committed = 1;
}

int ch_db_request_committed(void)
{
    return ch__db_committed;
}

void ch_db_deadline_set_all(int64_t mono_ms)
{
    atomic_store(&ch__db_deadline_all_ms, mono_ms > 0 ? mono_ms : 0);
}

int64_t ch_db_deadline(void)
{
    int64_t mine = ch__db_committed ? 0 : ch__db_deadline_ms, all = atomic_load(&ch__db_deadline_all_ms);
    if (!mine || (all && all < mine))
        return all;
    return mine;
}

int64_t ch_db_call_deadline(void)
{
    int64_t mine = ch__db_deadline_ms, all = atomic_load(&ch__db_deadline_all_ms);
    if (!mine || (all && all < mine))
        return all;
    return mine;
}

int64_t ch__db_deadline_left_ms(void)
{
    int64_t d = ch_db_deadline();
    if (!d)
        return -1;
    int64_t left = d - ch_mono_ms();
    return left > 0 ? left : 0;
}

int64_t ch__db_stop_deadline_left_ms(void)
{
    int64_t d = atomic_load(&ch__db_deadline_all_ms);
    if (!d)
        return -1;
    int64_t left = d - ch_mono_ms();
    return left > 0 ? left : 0;
}

ch_db_sql_kind_t ch__db_sql_kind(const char *sql)
{
    static const struct {
        const char *word;
        ch_db_sql_kind_t kind;
    } first[] = {
        {"SELECT", CH_DB_SQL_READ},       {"VALUES", CH_DB_SQL_READ},       {"SHOW", CH_DB_SQL_READ},
        {"EXPLAIN", CH_DB_SQL_READ},      {"COMMIT", CH_DB_SQL_COMMIT},     {"END", CH_DB_SQL_COMMIT},
        {"BEGIN", CH_DB_SQL_CONTROL},     {"START", CH_DB_SQL_CONTROL},     {"SAVEPOINT", CH_DB_SQL_CONTROL},
        {"RELEASE", CH_DB_SQL_CONTROL},   {"ROLLBACK", CH_DB_SQL_CONTROL},  {"SET", CH_DB_SQL_CONTROL},
        {"LOCK", CH_DB_SQL_CONTROL},      {"PRAGMA", CH_DB_SQL_CONTROL},
    };
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
        sql++;
    size_t n = 0;
    while (sql[n] && ((sql[n] >= 'A' && sql[n] <= 'Z') || (sql[n] >= 'a' && sql[n] <= 'z')))
        n++;
    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
        if (strlen(first[i].word) == n && strncasecmp(sql, first[i].word, n) == 0)
            return first[i].kind;
    return CH_DB_SQL_WRITE;
}

int ch__db_is_rollback_to(const char *sql)
{
    while (*sql == ' ' || *sql == '\t' || *sql == '\n')
        sql++;
    if (strncasecmp(sql, "ROLLBACK", 8) != 0)
        return 0;
    sql += 8;
    while (*sql == ' ' || *sql == '\t' || *sql == '\n')
        sql++;
    if (strncasecmp(sql, "TRANSACTION", 11) == 0)
        for (sql += 11; *sql == ' ' || *sql == '\t' || *sql == '\n';)
            sql++;
    return strncasecmp(sql, "TO", 2) == 0 && (sql[2] == ' ' || sql[2] == '\t' || sql[2] == '\n');
}

void ch__db_deadline_hit(const char *driver, const char *what)
{
    atomic_fetch_add(&ch__db_deadline_hits, 1);
    ch_log_debug("%s: %s ended by the request deadline", driver, what);
}

uint64_t ch_db_deadline_hits(void)
{
    return atomic_load(&ch__db_deadline_hits);
}

ch_err_t ch_db_acquire(ch_db_t *db, ch_db_conn_t **conn_out)
{
    *conn_out = NULL;
    if (ch_db_ambient_active(db))
        return ch__db_amb_acquire(conn_out);
    if (ch_loop_guard_refuse()) /* a cluster read on the loop: the dispatcher moves it */
        return CH_EUNAVAILABLE;
    return db->driver->acquire(db->impl, conn_out);
}

void ch_db_release(ch_db_t *db, ch_db_conn_t *conn)
{
    if (ch__db_amb_owns(db, conn)) {
        ch__db_amb_release();
        return;
    }
    if (conn)
        db->driver->release(db->impl, conn);
}

ch_err_t ch_db_exec(ch_db_t *db, ch_db_conn_t *conn, const char *sql, const ch_db_param_t *params,
                    size_t nparams, ch_db_rows_t **rows_out, int64_t *changes_out)
{
    if (rows_out)
        *rows_out = NULL;
    if (changes_out)
        *changes_out = 0;
    if (ch__db_amb_owns(db, conn))
        return ch__db_amb_exec(sql, params, nparams, rows_out, changes_out);
    return db->driver->exec(conn, sql, params, nparams, rows_out, changes_out);
}

ch_err_t ch_db_begin(ch_db_t *db, ch_db_conn_t *conn, int for_write)
{
    if (ch__db_amb_owns(db, conn))
        return ch__db_amb_begin();
    return db->driver->begin(conn, for_write);
}

ch_err_t ch_db_commit(ch_db_t *db, ch_db_conn_t *conn)
{
    if (ch__db_amb_owns(db, conn))
        return ch__db_amb_commit();
    return db->driver->commit(conn);
}

void ch_db_rollback(ch_db_t *db, ch_db_conn_t *conn)
{
    if (ch__db_amb_owns(db, conn)) {
        ch__db_amb_rollback();
        return;
    }
    db->driver->rollback(conn);
}

ch_err_t ch_db_ping(ch_db_t *db)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_db_acquire(db, &conn);
    if (err != CH_OK)
        return err;
    ch_db_rows_t *rows = NULL;
    err = ch_db_exec(db, conn, "SELECT 1", NULL, 0, &rows, NULL);
    if (err == CH_OK && (ch_db_rows_count(rows) != 1 || ch_db_rows_int(rows, 0, 0) != 1))
        err = CH_EINTERNAL;
    ch_db_rows_free(rows);
    ch_db_release(db, conn);
    return err;
}

/* ---- capabilities ------------------------------------------------------------------- */

static int64_t ch__db_now_ms(void);

ch_err_t ch_db_oldest_open_xact_ms(ch_db_t *db, ch_db_conn_t *conn, int64_t *out_ms)
{
    *out_ms = -1;
    return db->driver->oldest_open_xact_ms ? db->driver->oldest_open_xact_ms(conn, out_ms) : CH_OK;
}

ch_err_t ch_db_tune(ch_db_t *db, ch_db_conn_t *conn, ch_db_tune_t how)
{
    return db->driver->tune ? db->driver->tune(conn, how) : CH_OK;
}

/* The probe row is one per process-wide key; replicas overwrite each other's, which is
 * the point: the write is what is tested, not the value. */
ch_err_t ch_db_probe_write(ch_db_t *db)
{
    ch_err_t err = db->driver->check_space ? db->driver->check_space(db->impl) : CH_OK;
    ch_db_conn_t *conn = NULL;
    if (err == CH_OK)
        err = ch_db_acquire(db, &conn);
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(ch__db_now_ms())};
        err = ch_db_exec(db, conn,
                         "INSERT INTO db_probe(id, written_at) VALUES (1, $1) "
                         "ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at",
                         p, 1, NULL, NULL);
        ch_db_release(db, conn);
    }
    return err;
}

/* ---- migrations --------------------------------------------------------------------- */

static int64_t ch__db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether schema_migrations records version; -1 on error (*err set). */
static int ch__db_migration_applied(ch_db_t *db, ch_db_conn_t *conn, int version, ch_err_t *err)
{
    ch_db_param_t p[] = {CH_DB_P_INT(version)};
    ch_db_rows_t *rows = NULL;
    *err = ch_db_exec(db, conn, "SELECT version FROM schema_migrations WHERE version = $1", p, 1, &rows, NULL);
    if (*err != CH_OK)
        return -1;
    int applied = ch_db_rows_count(rows) > 0;
    ch_db_rows_free(rows);
    return applied;
}

/* Applies one migration in its own write transaction, unless another process got there
 * first. *applied_out is set to 1 when this call applied it. */
static ch_err_t ch__db_migrate_one(ch_db_t *db, ch_db_conn_t *conn, const ch_db_migration_t *m, int *applied_out)
{
    *applied_out = 0;
    ch_err_t err = ch_db_begin(db, conn, 1);
    if (err != CH_OK)
        return err;
    if ((err = db->driver->lock_schema(conn)) != CH_OK)
        goto fail;
    int applied = ch__db_migration_applied(db, conn, m->version, &err);
    if (applied < 0)
        goto fail;
    if (applied) {
        ch_db_rollback(db, conn);
        return CH_OK;
    }
    if ((err = db->driver->exec_script(conn, m->sql)) != CH_OK) {
        ch_log_error("db: migration %d (%s) failed", m->version, m->name);
        goto fail;
    }
    ch_db_param_t p[] = {CH_DB_P_INT(m->version), CH_DB_P_TEXT(m->name), CH_DB_P_INT(ch__db_now_ms())};
    err = ch_db_exec(db, conn, "INSERT INTO schema_migrations(version, name, applied_at) VALUES ($1, $2, $3)",
                     p, 3, NULL, NULL);
    if (err != CH_OK)
        goto fail;
    if ((err = ch_db_commit(db, conn)) != CH_OK)
        return err;
    ch_log_info("db: applied migration %d (%s)", m->version, m->name);
    *applied_out = 1;
    return CH_OK;
fail:
    ch_db_rollback(db, conn);
    return err;
}

static ch_err_t ch__db_migrate_conn(ch_db_t *db, ch_db_conn_t *conn, int *applied_out)
{
    for (size_t i = 1; i < ch_db_migrations_count; i++) {
        if (ch_db_migrations[i].version <= ch_db_migrations[i - 1].version) {
            ch_log_error("db: migrations out of order at version %d", ch_db_migrations[i].version);
            return CH_EINTERNAL;
        }
    }
    /* Concurrent CREATE TABLE IF NOT EXISTS races in PostgreSQL (duplicate pg_type row), so
     * even the bookkeeping table is created under the schema lock. */
    ch_err_t err = ch_db_begin(db, conn, 1);
    if (err != CH_OK)
        return err;
    if ((err = db->driver->lock_schema(conn)) == CH_OK)
        err = ch_db_exec(db, conn,
                         "CREATE TABLE IF NOT EXISTS schema_migrations(version BIGINT PRIMARY KEY, "
                         "name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                         NULL, 0, NULL, NULL);
    if (err != CH_OK) {
        ch_db_rollback(db, conn);
        return err;
    }
    if ((err = ch_db_commit(db, conn)) != CH_OK)
        return err;

    ch_db_rows_t *rows = NULL;
    err = ch_db_exec(db, conn, "SELECT version FROM schema_migrations ORDER BY version", NULL, 0, &rows, NULL);
    if (err != CH_OK)
        return err;
    size_t nknown = ch_db_rows_count(rows);
    for (size_t i = 0; i < ch_db_migrations_count && err == CH_OK; i++) {
        const ch_db_migration_t *m = &ch_db_migrations[i];
        int seen = 0;
        for (size_t r = 0; r < nknown && !seen; r++)
            seen = ch_db_rows_int(rows, r, 0) == m->version;
        if (seen)
            continue;
        int applied = 0;
        err = ch__db_migrate_one(db, conn, m, &applied);
        if (applied_out)
            *applied_out += applied;
    }
    if (err == CH_OK && nknown > 0 && ch_db_migrations_count > 0 &&
        ch_db_rows_int(rows, nknown - 1, 0) > ch_db_migrations[ch_db_migrations_count - 1].version)
        ch_log_warn("db: schema version %" PRId64 " is newer than this build knows (%d)",
                    ch_db_rows_int(rows, nknown - 1, 0), ch_db_migrations[ch_db_migrations_count - 1].version);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_db_migrate(ch_db_t *db, int *applied_out)
{
    if (applied_out)
        *applied_out = 0;
    ch_db_conn_t *conn;
    ch_err_t err = ch_db_acquire(db, &conn);
    if (err != CH_OK)
        return err;
    err = ch__db_migrate_conn(db, conn, applied_out);
    ch_db_release(db, conn);
    return err;
}

/* ---- result rows -------------------------------------------------------------------- */

#define CH__DB_CELL_NULL SIZE_MAX

/* Cells live in one growing text buffer, addressed by offset so that growth (realloc) does
 * not invalidate them; every value is NUL-terminated inside it. */
typedef struct {
    size_t off; /* CH__DB_CELL_NULL for SQL NULL */
    size_t len;
} ch__db_cell_t;

struct ch_db_rows {
    size_t ncols;
    size_t nrows;
    ch__db_cell_t *cells; /* nrows * ncols, row-major */
    size_t cells_cap;
    char *buf;
    size_t buf_len;
    size_t buf_cap;
};

ch_db_rows_t *ch__db_rows_new(size_t ncols)
{
    ch_db_rows_t *rows = ch_calloc(1, sizeof(*rows));
    if (rows)
        rows->ncols = ncols;
    return rows;
}

/* Grows *p (element size elem) to hold at least need elements; 0 or -1 on overflow/OOM. */
static int ch__db_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem)
        return -1;
    void *np = ch_realloc(*p, ncap * elem);
    *p = np;
    *cap = ncap;
    return 0;
}

int ch__db_rows_append(ch_db_rows_t *rows, const char *const *vals, const size_t *lens)
{
    size_t bytes = 0;
    for (size_t c = 0; c < rows->ncols; c++) {
        if (!vals[c])
            continue;
        if (lens[c] >= SIZE_MAX - bytes - 1)
            return -1;
        bytes += lens[c] + 1;
    }
    size_t ncells = (rows->nrows + 1) * rows->ncols;
    if (rows->ncols && ncells / rows->ncols != rows->nrows + 1)
        return -1;
    if (bytes > SIZE_MAX - rows->buf_len)
        return -1;
    if (ch__db_grow((void **)&rows->cells, &rows->cells_cap, ncells, sizeof(ch__db_cell_t)) != 0 ||
        ch__db_grow((void **)&rows->buf, &rows->buf_cap, rows->buf_len + bytes, 1) != 0)
        return -1;
    ch__db_cell_t *cell = rows->cells + rows->nrows * rows->ncols;
    for (size_t c = 0; c < rows->ncols; c++) {
        if (!vals[c]) {
            cell[c] = (ch__db_cell_t){CH__DB_CELL_NULL, 0};
            continue;
        }
        cell[c] = (ch__db_cell_t){rows->buf_len, lens[c]};
        if (lens[c])
            memcpy(rows->buf + rows->buf_len, vals[c], lens[c]);
        rows->buf[rows->buf_len + lens[c]] = '\0';
        rows->buf_len += lens[c] + 1;
    }
    rows->nrows++;
    return 0;
}

size_t ch_db_rows_count(const ch_db_rows_t *rows)
{
    return rows ? rows->nrows : 0;
}

size_t ch_db_rows_ncols(const ch_db_rows_t *rows)
{
    return rows ? rows->ncols : 0;
}

/* The cell at (row, col), or NULL when out of range (a caller bug, logged). */
static const ch__db_cell_t *ch__db_cell(const ch_db_rows_t *rows, size_t row, size_t col)
{
    if (!rows || row >= rows->nrows || col >= rows->ncols) {
        ch_log_error("db: cell (%zu, %zu) out of range (%zu x %zu)", row, col, ch_db_rows_count(rows),
                     ch_db_rows_ncols(rows));
        return NULL;
    }
    return &rows->cells[row * rows->ncols + col];
}

int ch_db_rows_isnull(const ch_db_rows_t *rows, size_t row, size_t col)
{
    const ch__db_cell_t *cell = ch__db_cell(rows, row, col);
    return !cell || cell->off == CH__DB_CELL_NULL;
}

int64_t ch_db_rows_int(const ch_db_rows_t *rows, size_t row, size_t col)
{
    const ch__db_cell_t *cell = ch__db_cell(rows, row, col);
    if (!cell || cell->off == CH__DB_CELL_NULL)
        return 0;
    long long v = strtoll(rows->buf + cell->off, NULL, 10);
    return (int64_t)v;
}

const char *ch_db_rows_text(const ch_db_rows_t *rows, size_t row, size_t col)
{
    const ch__db_cell_t *cell = ch__db_cell(rows, row, col);
    if (!cell || cell->off == CH__DB_CELL_NULL)
        return "";
    return rows->buf + cell->off;
}

size_t ch_db_rows_len(const ch_db_rows_t *rows, size_t row, size_t col)
{
    const ch__db_cell_t *cell = ch__db_cell(rows, row, col);
    return cell && cell->off != CH__DB_CELL_NULL ? cell->len : 0;
}

void ch_db_rows_free(ch_db_rows_t *rows)
{
    if (!rows)
        return;
    free(rows->cells);
    free(rows->buf);
    free(rows);
}

/* ---- prepared-statement cache ------------------------------------------------------- */

#define CH__DB_CACHE_BUCKETS 64 /* power of two; chains stay short at CH__DB_CACHE_MAX */

typedef struct ch__db_cache_entry {
    struct ch__db_cache_entry *next;
    uint64_t hash;
    void *value;
    char sql[]; /* NUL-terminated copy of the key */
} ch__db_cache_entry_t;

struct ch__db_cache {
    ch__db_cache_entry_t *buckets[CH__DB_CACHE_BUCKETS];
    size_t count;
};

/* FNV-1a: the keys are short SQL strings written by us, so no hash flooding concern. */
static uint64_t ch__db_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

ch__db_cache_t *ch__db_cache_new(void)
{
    return ch_calloc(1, sizeof(ch__db_cache_t));
}

void *ch__db_cache_get(const ch__db_cache_t *cache, const char *sql)
{
    uint64_t h = ch__db_hash(sql);
    for (const ch__db_cache_entry_t *e = cache->buckets[h & (CH__DB_CACHE_BUCKETS - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->sql, sql) == 0)
            return e->value;
    return NULL;
}

size_t ch__db_cache_count(const ch__db_cache_t *cache)
{
    return cache->count;
}

int ch__db_cache_put(ch__db_cache_t *cache, const char *sql, void *value)
{
    size_t len = strlen(sql);
    ch__db_cache_entry_t *e = ch_malloc(sizeof(*e) + len + 1);
    memcpy(e->sql, sql, len + 1);
    e->hash = ch__db_hash(sql);
    e->value = value;
    ch__db_cache_entry_t **bucket = &cache->buckets[e->hash & (CH__DB_CACHE_BUCKETS - 1)];
    e->next = *bucket;
    *bucket = e;
    cache->count++;
    return 0;
}

void ch__db_cache_clear(ch__db_cache_t *cache, void (*free_value)(void *value, void *ctx), void *ctx)
{
    for (size_t i = 0; i < CH__DB_CACHE_BUCKETS; i++) {
        ch__db_cache_entry_t *e = cache->buckets[i];
        while (e) {
            ch__db_cache_entry_t *next = e->next;
            free_value(e->value, ctx);
            free(e);
            e = next;
        }
        cache->buckets[i] = NULL;
    }
    cache->count = 0;
}

void ch__db_cache_free(ch__db_cache_t *cache, void (*free_value)(void *value, void *ctx), void *ctx)
{
    if (!cache)
        return;
    ch__db_cache_clear(cache, free_value, ctx);
    free(cache);
}

/* ---- ambient transaction ------------------------------------------------------------ */

typedef struct {
    void (*fn)(void *ctx, uint64_t id);
    void *ctx;
    uint64_t id;
} ch__db_hook_t;

typedef struct {
    ch_db_t *db;        /* non-NULL while active */
    ch_db_conn_t *conn; /* borrowed from the driver at the first acquire */
    int begun;          /* BEGIN sent */
    int holders;        /* acquires not yet released */
    int depth;          /* open nested transactions (savepoints ch_a1..ch_aN) */
    int level_holders[CH_DB_AMBIENT_DEPTH_MAX]; /* holders when each level began */
    ch_err_t err;       /* what aborted the ambient transaction; CH_OK while healthy */
    ch_err_t level_err[CH_DB_AMBIENT_DEPTH_MAX]; /* first failure inside each level */
    size_t nhooks, hooks_cap;
    ch__db_hook_t *hooks; /* malloc'd, grows to CH_DB_AFTER_COMMIT_MAX; freed at the end */
} ch__db_ambient_t;

static _Thread_local ch__db_ambient_t ch__amb;
static _Thread_local uint64_t ch__amb_serial;

/* Whether a failed statement aborts the whole transaction (PostgreSQL) rather than only
 * itself (SQLite, for constraint failures). */
static int ch__db_amb_strict(void)
{
    return strcmp(ch__amb.db->driver->name, "postgres") == 0;
}

static int ch__db_amb_owns(const ch_db_t *db, const ch_db_conn_t *conn)
{
    return conn && ch__amb.db == db && ch__amb.conn == conn;
}

int ch_db_ambient_active(const ch_db_t *db)
{
    return db && ch__amb.db == db;
}

/* A control statement on the ambient connection (not through the wrappers). */
static ch_err_t ch__db_amb_ctl(const char *sql)
{
    return ch__amb.db->driver->exec(ch__amb.conn, sql, NULL, 0, NULL, NULL);
}

/* Records what aborted the ambient transaction (the first error wins). */
static ch_err_t ch__db_amb_abort(ch_err_t err)
{
    if (ch__amb.err == CH_OK)
        ch__amb.err = err;
    return err;
}

/* Sends BEGIN at the first statement. */
static ch_err_t ch__db_amb_start(void)
{
    if (ch__amb.err != CH_OK)
        return ch__amb.err;
    if (ch__amb.begun)
        return CH_OK;
    ch_err_t err = ch__db_amb_ctl(ch__db_amb_strict() ? "BEGIN" : "BEGIN IMMEDIATE");
    if (err != CH_OK)
        return ch__db_amb_abort(err);
    ch__amb.begun = 1;
    return CH_OK;
}

ch_err_t ch_db_ambient_begin(ch_db_t *db)
{
    if (ch__amb.db) {
        ch_log_error("db: an ambient transaction is already active on this thread");
        return CH_EINTERNAL;
    }
    memset(&ch__amb, 0, sizeof(ch__amb));
    ch__amb.db = db;
    ch__amb_serial++;
    return CH_OK;
}

uint64_t ch_db_ambient_serial(void)
{
    return ch__amb_serial;
}

static ch_err_t ch__db_amb_acquire(ch_db_conn_t **conn_out)
{
    if (!ch__amb.conn) {
        ch_err_t err = ch__amb.db->driver->acquire(ch__amb.db->impl, &ch__amb.conn);
        if (err != CH_OK) {
            ch__amb.conn = NULL;
            return err;
        }
    }
    ch__amb.holders++;
    *conn_out = ch__amb.conn;
    return CH_OK;
}

static ch_err_t ch__db_amb_exec(const char *sql, const ch_db_param_t *params, size_t nparams, ch_db_rows_t **rows_out,
                                int64_t *changes_out)
{
    ch_err_t err = ch__db_amb_start();
    if (err != CH_OK)
        return err;
    const ch_db_driver_t *d = ch__amb.db->driver;
    if (ch__amb.depth > 0) {
        ch_err_t *level = &ch__amb.level_err[ch__amb.depth - 1];
        if (*level != CH_OK)
            return *level; /* as in an aborted transaction: only rollback helps */
        if ((err = d->exec(ch__amb.conn, sql, params, nparams, rows_out, changes_out)) != CH_OK)
            *level = err;
        return err;
    }
    /* Outside a nested transaction: a statement that may fail with a unique violation runs
     * under its own savepoint on PostgreSQL, so that failure is its own. Reads do not. */
    int guard = ch__db_amb_strict() && strncasecmp(sql, "SELECT", 6) != 0;
    if (guard && (err = ch__db_amb_ctl("SAVEPOINT ch_s")) != CH_OK)
        return ch__db_amb_abort(err);
    err = d->exec(ch__amb.conn, sql, params, nparams, rows_out, changes_out);
    if (guard) {
        ch_err_t e2 = err == CH_OK ? CH_OK : ch__db_amb_ctl("ROLLBACK TO SAVEPOINT ch_s");
        if (e2 == CH_OK)
            e2 = ch__db_amb_ctl("RELEASE SAVEPOINT ch_s");
        if (e2 != CH_OK)
            return ch__db_amb_abort(err != CH_OK ? err : e2);
    }
    if (err != CH_OK && err != CH_ECONFLICT && !guard)
        ch__db_amb_abort(err);
    return err;
}

static ch_err_t ch__db_amb_begin(void)
{
    ch_err_t err = ch__db_amb_start();
    if (err != CH_OK)
        return err;
    if (ch__amb.depth > 0 && ch__amb.level_err[ch__amb.depth - 1] != CH_OK)
        return ch__amb.level_err[ch__amb.depth - 1];
    if (ch__amb.depth == CH_DB_AMBIENT_DEPTH_MAX) {
        ch_log_error("db: transactions nested deeper than %d", CH_DB_AMBIENT_DEPTH_MAX);
        return CH_EINTERNAL;
    }
    char sql[32];
    snprintf(sql, sizeof(sql), "SAVEPOINT ch_a%d", ch__amb.depth + 1);
    if ((err = ch__db_amb_ctl(sql)) != CH_OK)
        return ch__db_amb_abort(err);
    ch__amb.level_holders[ch__amb.depth] = ch__amb.holders;
    ch__amb.level_err[ch__amb.depth++] = CH_OK;
    return CH_OK;
}

/* Closes the innermost level: RELEASE when keep, else ROLLBACK TO + RELEASE. */
static ch_err_t ch__db_amb_close_level(int keep)
{
    char sql[48];
    ch_err_t err = CH_OK;
    if (!keep) {
        snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT ch_a%d", ch__amb.depth);
        err = ch__db_amb_ctl(sql);
    }
    if (err == CH_OK) {
        snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT ch_a%d", ch__amb.depth);
        err = ch__db_amb_ctl(sql);
    }
    ch__amb.depth--;
    if (err != CH_OK)
        ch__db_amb_abort(err);
    return err;
}

static ch_err_t ch__db_amb_commit(void)
{
    if (ch__amb.depth == 0) {
        ch_log_error("db: commit outside a transaction");
        return CH_EINTERNAL;
    }
    ch_err_t err = ch__amb.err != CH_OK ? ch__amb.err : ch__amb.level_err[ch__amb.depth - 1];
    if (err != CH_OK) {
        if (ch__amb.err == CH_OK)
            ch__db_amb_close_level(0);
        else
            ch__amb.depth--;
        return err;
    }
    return ch__db_amb_close_level(1);
}

static void ch__db_amb_rollback(void)
{
    if (ch__amb.depth == 0)
        return;
    if (ch__amb.err == CH_OK)
        ch__db_amb_close_level(0);
    else
        ch__amb.depth--; /* the whole transaction rolls back at the end */
}

/* A holder gives the connection back: the nested transactions it began and left open are
 * rolled back, as ch_db_release does with a real one; those of outer holders stay. */
static void ch__db_amb_release(void)
{
    if (ch__amb.holders > 0)
        ch__amb.holders--;
    while (ch__amb.depth > 0 && ch__amb.level_holders[ch__amb.depth - 1] > ch__amb.holders)
        ch__db_amb_rollback();
}

ch_err_t ch_db_ambient_end(ch_db_t *db, int commit)
{
    if (!ch_db_ambient_active(db)) {
        ch_log_error("db: no ambient transaction to end");
        return CH_EINTERNAL;
    }
    ch_err_t err = ch__amb.err;
    if (ch__amb.depth > 0) {
        ch_log_error("db: %d nested transaction(s) left open in an ambient transaction", ch__amb.depth);
        if (err == CH_OK)
            err = CH_EINTERNAL;
    }
    if (ch__amb.conn && ch__amb.begun) {
        if (commit && err == CH_OK)
            err = ch__db_amb_ctl("COMMIT");
        if (!commit || err != CH_OK)
            db->driver->rollback(ch__amb.conn);
    }
    if (ch__amb.conn)
        db->driver->release(db->impl, ch__amb.conn);
    size_t nhooks = ch__amb.nhooks;
    ch__db_hook_t *hooks = ch__amb.hooks;
    int ran = commit && err == CH_OK;
    memset(&ch__amb, 0, sizeof(ch__amb));
    for (size_t i = 0; ran && i < nhooks; i++)
        hooks[i].fn(hooks[i].ctx, hooks[i].id);
    free(hooks);
    return err;
}

void ch_db_after_commit(ch_db_t *db, void (*fn)(void *ctx, uint64_t id), void *ctx, uint64_t id)
{
    if (!ch_db_ambient_active(db)) {
        fn(ctx, id);
        return;
    }
    if (ch__amb.nhooks == CH_DB_AFTER_COMMIT_MAX) {
        ch_log_error("db: more than %d after-commit calls in one transaction: running one now, before the commit",
                     CH_DB_AFTER_COMMIT_MAX);
        fn(ctx, id);
        return;
    }
    if (ch__amb.nhooks == ch__amb.hooks_cap) {
        size_t cap = ch__amb.hooks_cap ? ch__amb.hooks_cap * 2 : 16;
        ch__amb.hooks = ch_realloc(ch__amb.hooks, (cap < CH_DB_AFTER_COMMIT_MAX ? cap : CH_DB_AFTER_COMMIT_MAX) *
                                                      sizeof(ch__db_hook_t));
        ch__amb.hooks_cap = cap < CH_DB_AFTER_COMMIT_MAX ? cap : CH_DB_AFTER_COMMIT_MAX;
    }
    ch__amb.hooks[ch__amb.nhooks++] = (ch__db_hook_t){fn, ctx, id};
}
