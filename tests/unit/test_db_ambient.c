/* The ambient transaction of store/db.h: one transaction per thread that every acquire
 * joins, nested begin/commit/rollback as savepoints, statements failing outside a nested
 * begin, lazy BEGIN, after-commit calls. Runs against SQLite (a fresh temporary file) and,
 * when CHORUS_TEST_PG_URL is set, PostgreSQL (a fresh database, dropped afterwards). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/log.h"
#include "store/db.h"

typedef struct {
    int available;
    char url[2048];
    char dir[256];
    char admin_url[1024];
    char dbname[64];
    ch_db_t *db;
} backend_t;

static backend_t sqlite_backend, pg_backend;

#define OK(expr) assert_int_equal((expr), CH_OK)

static ch_err_t run(ch_db_t *db, const char *sql)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_db_acquire(db, &conn);
    if (err == CH_OK)
        err = ch_db_exec(db, conn, sql, NULL, 0, NULL, NULL);
    ch_db_release(db, conn);
    return err;
}

static ch_err_t insert(ch_db_t *db, int64_t id, const char *name)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_db_acquire(db, &conn);
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(name)};
    if (err == CH_OK)
        err = ch_db_exec(db, conn, "INSERT INTO t(id, name) VALUES ($1, $2)", p, 2, NULL, NULL);
    ch_db_release(db, conn);
    return err;
}

/* The ids in t, in order, as "1,2,3" (read outside any ambient transaction). */
static const char *ids(ch_db_t *db)
{
    static char out[256];
    out[0] = '\0';
    assert_false(ch_db_ambient_active(db));
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    OK(ch_db_acquire(db, &conn));
    OK(ch_db_exec(db, conn, "SELECT id FROM t ORDER BY id", NULL, 0, &rows, NULL));
    for (size_t i = 0; i < ch_db_rows_count(rows); i++)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? "," : "", ch_db_rows_text(rows, i, 0));
    ch_db_rows_free(rows);
    ch_db_release(db, conn);
    return out;
}

static ch_db_t *db_of(void **state)
{
    backend_t *b = *state;
    if (!b->available)
        skip();
    return b->db;
}

/* ---- fixtures ----------------------------------------------------------------------- */

static int sqlite_group_setup(void **state)
{
    backend_t *b = &sqlite_backend;
    snprintf(b->dir, sizeof(b->dir), "%s/chorus-test-amb-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(b->dir))
        return -1;
    snprintf(b->url, sizeof(b->url), "sqlite:%s/test.db", b->dir);
    b->available = 1;
    *state = b;
    return 0;
}

static int sqlite_group_teardown(void **state)
{
    (void)state;
    char path[2048];
    for (const char *const *f = (const char *const[]){"test.db", "test.db-wal", "test.db-shm", NULL}; *f; f++) {
        snprintf(path, sizeof(path), "%s/%s", sqlite_backend.dir, *f);
        unlink(path);
    }
    return rmdir(sqlite_backend.dir) == 0 ? 0 : -1;
}

static int pg_group_setup(void **state)
{
    backend_t *b = &pg_backend;
    *state = b;
    const char *url = getenv("CHORUS_TEST_PG_URL");
    if (!url || !*url)
        return 0; /* every case skips */
    snprintf(b->admin_url, sizeof(b->admin_url), "%s", url);
    snprintf(b->dbname, sizeof(b->dbname), "chorus_amb_%ld_%ld", (long)getpid(), (long)time(NULL));
    snprintf(b->url, sizeof(b->url), "%s%cdbname=%s", url, strchr(url, '?') ? '&' : '?', b->dbname);
    ch_db_t *admin;
    char errbuf[256], sql[128];
    if (ch_db_open(b->admin_url, &admin, errbuf, sizeof(errbuf)) != CH_OK)
        return -1;
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", b->dbname);
    ch_err_t err = run(admin, sql);
    ch_db_close(admin);
    b->available = err == CH_OK;
    return err == CH_OK ? 0 : -1;
}

static int pg_group_teardown(void **state)
{
    (void)state;
    if (!pg_backend.available)
        return 0;
    ch_db_t *admin;
    char errbuf[256], sql[128];
    if (ch_db_open(pg_backend.admin_url, &admin, errbuf, sizeof(errbuf)) != CH_OK)
        return -1;
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", pg_backend.dbname);
    ch_err_t err = run(admin, sql);
    ch_db_close(admin);
    return err == CH_OK ? 0 : -1;
}

static int test_setup(void **state)
{
    backend_t *b = *state;
    char errbuf[256];
    if (!b->available)
        return 0;
    if (ch_db_open(b->url, &b->db, errbuf, sizeof(errbuf)) != CH_OK)
        return -1;
    if (run(b->db, "DROP TABLE IF EXISTS t") != CH_OK ||
        run(b->db, "CREATE TABLE t(id BIGINT PRIMARY KEY, name TEXT UNIQUE)") != CH_OK)
        return -1;
    return 0;
}

static int test_teardown(void **state)
{
    backend_t *b = *state;
    if (!b->db)
        return 0;
    ch_err_t err = run(b->db, "DROP TABLE IF EXISTS t");
    ch_db_close(b->db);
    b->db = NULL;
    return err == CH_OK ? 0 : -1;
}

/* ---- cases -------------------------------------------------------------------------- */

static char hook_log[64];

static void hook(void *ctx, uint64_t id)
{
    snprintf(hook_log + strlen(hook_log), sizeof(hook_log) - strlen(hook_log), "%s%llu", (const char *)ctx,
             (unsigned long long)id);
}

/* Every acquire joins one transaction; a service's own transaction nests; after-commit
 * calls wait for the real commit and run in order. */
static void test_commit_joins_and_nests(void **state)
{
    ch_db_t *db = db_of(state);
    hook_log[0] = '\0';
    OK(ch_db_ambient_begin(db));
    assert_true(ch_db_ambient_active(db));
    assert_int_equal(ch_db_ambient_begin(db), CH_EINTERNAL); /* one at a time */
    ch_db_conn_t *a, *b;
    OK(ch_db_acquire(db, &a));
    OK(ch_db_acquire(db, &b));
    assert_ptr_equal(a, b);
    OK(ch_db_begin(db, a, 1));
    ch_db_param_t p[] = {CH_DB_P_INT(1), CH_DB_P_TEXT("one")};
    OK(ch_db_exec(db, a, "INSERT INTO t(id, name) VALUES ($1, $2)", p, 2, NULL, NULL));
    OK(ch_db_commit(db, a)); /* a RELEASE: nothing is durable yet */
    ch_db_after_commit(db, hook, "x", 1);
    ch_db_release(db, a);
    OK(insert(db, 2, "two"));
    ch_db_after_commit(db, hook, "y", 2);
    ch_db_release(db, b);
    assert_string_equal(hook_log, "");
    OK(ch_db_ambient_end(db, 1));
    assert_false(ch_db_ambient_active(db));
    assert_string_equal(hook_log, "x1y2");
    assert_string_equal(ids(db), "1,2");
    /* Without an ambient transaction, an after-commit call runs at once. */
    ch_db_after_commit(db, hook, "z", 3);
    assert_string_equal(hook_log, "x1y2z3");
}

/* Rolling back the ambient transaction undoes committed nested ones; hooks are dropped. */
static void test_rollback_undoes_everything(void **state)
{
    ch_db_t *db = db_of(state);
    hook_log[0] = '\0';
    OK(ch_db_ambient_begin(db));
    ch_db_conn_t *c;
    OK(ch_db_acquire(db, &c));
    OK(ch_db_begin(db, c, 1));
    OK(insert(db, 1, "one"));
    OK(ch_db_commit(db, c));
    ch_db_release(db, c);
    ch_db_after_commit(db, hook, "x", 1);
    OK(ch_db_ambient_end(db, 0));
    assert_string_equal(hook_log, "");
    assert_string_equal(ids(db), "");
}

/* A nested rollback undoes only its level; a failed statement inside a level makes its
 * commit fail (and roll that level back) while the ambient transaction goes on. */
static void test_nested_rollback_and_failure(void **state)
{
    ch_db_t *db = db_of(state);
    OK(ch_db_ambient_begin(db));
    ch_db_conn_t *c;
    OK(ch_db_acquire(db, &c));
    OK(insert(db, 1, "one"));
    OK(ch_db_begin(db, c, 1));
    OK(insert(db, 2, "two"));
    ch_db_rollback(db, c);
    OK(ch_db_begin(db, c, 1));
    OK(insert(db, 3, "three"));
    OK(ch_db_begin(db, c, 1)); /* two levels deep */
    OK(insert(db, 4, "four"));
    OK(ch_db_commit(db, c));
    assert_int_equal(insert(db, 5, "one"), CH_ECONFLICT);
    assert_int_not_equal(insert(db, 6, "six"), CH_OK); /* the level is aborted */
    assert_int_equal(ch_db_commit(db, c), CH_ECONFLICT);
    OK(insert(db, 7, "seven"));
    OK(ch_db_begin(db, c, 1)); /* a level left open is rolled back by release */
    OK(insert(db, 8, "eight"));
    ch_db_release(db, c);
    OK(ch_db_ambient_end(db, 1));
    assert_string_equal(ids(db), "1,7");
}

/* A unique violation outside any nested begin is the statement's own failure (the service
 * expects and handles it), also on PostgreSQL. */
static void test_conflict_outside_nested(void **state)
{
    ch_db_t *db = db_of(state);
    OK(ch_db_ambient_begin(db));
    OK(insert(db, 1, "one"));
    assert_int_equal(insert(db, 2, "one"), CH_ECONFLICT);
    OK(insert(db, 3, "three"));
    ch_db_conn_t *c;
    OK(ch_db_acquire(db, &c));
    ch_db_rows_t *rows = NULL;
    OK(ch_db_exec(db, c, "SELECT count(*) FROM t", NULL, 0, &rows, NULL));
    assert_int_equal(ch_db_rows_int(rows, 0, 0), 2);
    ch_db_rows_free(rows);
    ch_db_release(db, c);
    OK(ch_db_ambient_end(db, 1));
    assert_string_equal(ids(db), "1,3");
}

/* Any other failure outside a nested begin aborts the ambient transaction: later
 * statements and nested begins fail, and the end rolls back and reports it. */
static void test_other_failure_aborts(void **state)
{
    ch_db_t *db = db_of(state);
    OK(ch_db_ambient_begin(db));
    OK(insert(db, 1, "one"));
    ch_err_t err = run(db, "SELECT no_such_column FROM t");
    assert_int_equal(err, CH_EINTERNAL);
    assert_int_equal(insert(db, 2, "two"), err);
    ch_db_conn_t *c;
    OK(ch_db_acquire(db, &c));
    assert_int_equal(ch_db_begin(db, c, 1), err);
    ch_db_release(db, c);
    assert_int_equal(ch_db_ambient_end(db, 1), err);
    assert_string_equal(ids(db), "");
}

typedef struct {
    const char *url;
    ch_err_t err;
} writer_arg_t;

static void *writer(void *p)
{
    writer_arg_t *a = p;
    ch_db_t *db;
    char errbuf[256];
    if ((a->err = ch_db_open(a->url, &db, errbuf, sizeof(errbuf))) != CH_OK)
        return NULL;
    ch_db_conn_t *c;
    if ((a->err = ch_db_acquire(db, &c)) == CH_OK) {
        if ((a->err = ch_db_begin(db, c, 1)) == CH_OK) {
            ch_db_param_t p1[] = {CH_DB_P_INT(9), CH_DB_P_TEXT("nine")};
            a->err = ch_db_exec(db, c, "INSERT INTO t(id, name) VALUES ($1, $2)", p1, 2, NULL, NULL);
            a->err = a->err == CH_OK ? ch_db_commit(db, c) : a->err;
        }
        ch_db_release(db, c);
    }
    ch_db_close(db);
    return NULL;
}

/* Nothing is sent before the first statement: holding the ambient connection takes no
 * lock (SQLite's BEGIN IMMEDIATE would make this writer wait out its busy timeout). An
 * ambient transaction that never ran a statement ends cleanly either way. */
static void test_lazy_begin(void **state)
{
    ch_db_t *db = db_of(state);
    backend_t *b = *state;
    OK(ch_db_ambient_begin(db));
    ch_db_conn_t *c;
    OK(ch_db_acquire(db, &c));
    writer_arg_t arg = {b->url, CH_EINTERNAL};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer, &arg), 0);
    pthread_join(th, NULL);
    OK(arg.err);
    ch_db_release(db, c);
    OK(ch_db_ambient_end(db, 1));
    OK(ch_db_ambient_begin(db));
    OK(ch_db_ambient_end(db, 0));
    assert_string_equal(ids(db), "9");
}

#define CASE(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
#define SUITE                                                                                            \
    CASE(test_commit_joins_and_nests), CASE(test_rollback_undoes_everything),                           \
        CASE(test_nested_rollback_and_failure), CASE(test_conflict_outside_nested),                     \
        CASE(test_other_failure_aborts), CASE(test_lazy_begin)

int main(void)
{
    ch_log_set_level(getenv("CHORUS_TEST_DB_VERBOSE") ? CH_LOG_DEBUG : CH_LOG_ERROR + 1);
    const struct CMUnitTest sqlite[] = {SUITE};
    const struct CMUnitTest pg[] = {SUITE};
    int failed = cmocka_run_group_tests_name("db_ambient_sqlite", sqlite, sqlite_group_setup, sqlite_group_teardown);
    failed += cmocka_run_group_tests_name("db_ambient_postgres", pg, pg_group_setup, pg_group_teardown);
    return failed ? 1 : 0;
}
