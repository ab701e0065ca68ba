/* Relational storage: the same suite against SQLite (a file in a fresh temporary directory)
 * and, when CHORUS_TEST_PG_URL is set, against PostgreSQL (a fresh database created on that
 * server and dropped afterwards). Without the variable the PostgreSQL cases are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/db.h"

typedef struct {
    const char *name;
    int available;
    char url[2048];
    ch_db_t *db; /* open during each test */
    /* sqlite: the temporary directory; postgres: the admin URL and the created database */
    char dir[256];
    char admin_url[1024];
    char dbname[64];
} backend_t;

static backend_t sqlite_backend = {.name = "sqlite"};
static backend_t pg_backend = {.name = "postgres"};
static ch_log_level_t log_level = CH_LOG_INFO; /* as chosen by main */

#define OK(expr) assert_int_equal((expr), CH_OK)

/* ---- helpers ------------------------------------------------------------------------ */

static ch_err_t run(ch_db_t *db, const char *sql, const ch_db_param_t *params, size_t n)
{
    ch_db_conn_t *conn;
    ch_err_t err = ch_db_acquire(db, &conn);
    if (err != CH_OK)
        return err;
    err = ch_db_exec(db, conn, sql, params, n, NULL, NULL);
    ch_db_release(db, conn);
    return err;
}

/* Runs a one-row, one-column query on conn and returns its integer. */
static int64_t scalar_on(ch_db_t *db, ch_db_conn_t *conn, const char *sql)
{
    ch_db_rows_t *rows = NULL;
    OK(ch_db_exec(db, conn, sql, NULL, 0, &rows, NULL));
    assert_int_equal(ch_db_rows_count(rows), 1);
    int64_t v = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    return v;
}

/* Runs a one-row, one-column query on a fresh connection and returns its integer. */
static int64_t scalar(ch_db_t *db, const char *sql)
{
    ch_db_conn_t *conn;
    OK(ch_db_acquire(db, &conn));
    ch_db_rows_t *rows = NULL;
    OK(ch_db_exec(db, conn, sql, NULL, 0, &rows, NULL));
    assert_int_equal(ch_db_rows_count(rows), 1);
    int64_t v = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    ch_db_release(db, conn);
    return v;
}

static int64_t count_t(ch_db_t *db)
{
    return scalar(db, "SELECT count(*) FROM t");
}

static ch_err_t insert_t(ch_db_t *db, ch_db_conn_t *conn, int64_t id, const char *name)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(name)};
    return ch_db_exec(db, conn, "INSERT INTO t(id, name) VALUES ($1, $2)", p, 2, NULL, NULL);
}

static backend_t *backend(void **state)
{
    backend_t *b = *state;
    if (!b->available)
        skip();
    return b;
}

/* ---- group and test fixtures --------------------------------------------------------- */

static int sqlite_group_setup(void **state)
{
    backend_t *b = &sqlite_backend;
    snprintf(b->dir, sizeof(b->dir), "%s/chorus-test-db-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(b->dir))
        return -1;
    snprintf(b->url, sizeof(b->url), "sqlite:%s/test.db", b->dir);
    b->available = 1;
    *state = b;
    return 0;
}

static int sqlite_group_teardown(void **state)
{
    backend_t *b = &sqlite_backend;
    const char *files[] = {"test.db", "test.db-wal", "test.db-shm", "garbage.db", "created.db",
                           "created.db-wal", "created.db-shm"};
    char path[2048];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", b->dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/subdir", b->dir);
    rmdir(path);
    return rmdir(b->dir) == 0 ? 0 : -1;
}

static int pg_group_setup(void **state)
{
    backend_t *b = &pg_backend;
    *state = b;
    const char *url = getenv("CHORUS_TEST_PG_URL");
    if (!url || !*url)
        return 0; /* every case skips */
    snprintf(b->admin_url, sizeof(b->admin_url), "%s", url);
    snprintf(b->dbname, sizeof(b->dbname), "chorus_unit_%ld_%ld", (long)getpid(), (long)time(NULL));
    /* libpq lets a query parameter name the database, overriding the URL's path. */
    snprintf(b->url, sizeof(b->url), "%s%cdbname=%s", url, strchr(url, '?') ? '&' : '?', b->dbname);
    ch_db_t *admin;
    char errbuf[256];
    if (ch_db_open(b->admin_url, &admin, errbuf, sizeof(errbuf)) != CH_OK) {
        fprintf(stderr, "cannot open %s: %s\n", b->admin_url, errbuf);
        return -1;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", b->dbname);
    ch_err_t err = run(admin, sql, NULL, 0);
    ch_db_close(admin);
    if (err != CH_OK) {
        fprintf(stderr, "cannot create database %s on %s\n", b->dbname, b->admin_url);
        return -1;
    }
    b->available = 1;
    return 0;
}

static int pg_group_teardown(void **state)
{
    backend_t *b = &pg_backend;
    if (!b->available)
        return 0;
    ch_db_t *admin;
    char errbuf[256];
    if (ch_db_open(b->admin_url, &admin, errbuf, sizeof(errbuf)) != CH_OK)
        return -1;
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", b->dbname);
    ch_err_t err = run(admin, sql, NULL, 0);
    ch_db_close(admin);
    return err == CH_OK ? 0 : -1;
}

/* Each case gets an open handle and an empty table t. */
static int test_setup(void **state)
{
    backend_t *b = *state;
    if (!b->available)
        return 0;
    char errbuf[256];
    if (ch_db_open(b->url, &b->db, errbuf, sizeof(errbuf)) != CH_OK) {
        fprintf(stderr, "cannot open %s: %s\n", b->url, errbuf);
        return -1;
    }
    if (run(b->db, "DROP TABLE IF EXISTS t", NULL, 0) != CH_OK ||
        run(b->db, "CREATE TABLE t(id BIGINT PRIMARY KEY, name TEXT UNIQUE, note TEXT, n BIGINT NOT NULL DEFAULT 0)",
            NULL, 0) != CH_OK)
        return -1;
    return 0;
}

static int test_teardown(void **state)
{
    backend_t *b = *state;
    ch_db_deadline_set(0); /* a case that failed halfway must not refuse the next ones */
    ch_db_deadline_set_all(0);
    if (!b->db)
        return 0;
    ch_err_t err = run(b->db, "DROP TABLE IF EXISTS t", NULL, 0);
    ch_db_close(b->db);
    b->db = NULL;
    return err == CH_OK ? 0 : -1;
}

/* ---- migrations --------------------------------------------------------------------- */

typedef struct {
    const char *url;
    ch_err_t err;
    int applied;
    pthread_barrier_t *barrier;
} migrate_arg_t;

static void *migrate_thread(void *p)
{
    migrate_arg_t *a = p;
    ch_db_t *db; /* its own handle, as another process would have */
    char errbuf[256];
    a->err = ch_db_open(a->url, &db, errbuf, sizeof(errbuf));
    pthread_barrier_wait(a->barrier);
    if (a->err == CH_OK) {
        a->err = ch_db_migrate(db, &a->applied);
        ch_db_close(db);
    }
    return NULL;
}

/* Runs first in each group, on a database nobody migrated yet. */
static void test_migrate_concurrent(void **state)
{
    backend_t *b = backend(state);
    enum { N = 4 };
    pthread_t th[N];
    migrate_arg_t args[N];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++) {
        args[i] = (migrate_arg_t){.url = b->url, .barrier = &barrier};
        assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) /* all of them before any assert jumps out of this frame */
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    int total = 0;
    for (int i = 0; i < N; i++) {
        OK(args[i].err);
        total += args[i].applied;
    }
    assert_true(ch_db_migrations_count >= 1);
    assert_int_equal(total, (int)ch_db_migrations_count);
    assert_int_equal(scalar(b->db, "SELECT count(*) FROM schema_migrations"), (int64_t)ch_db_migrations_count);
}

static void test_migrate_again_and_schema(void **state)
{
    backend_t *b = backend(state);
    int applied = -1;
    OK(ch_db_migrate(b->db, &applied));
    assert_int_equal(applied, 0);
    OK(ch_db_migrate(b->db, NULL));

    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    ch_db_rows_t *rows = NULL;
    OK(ch_db_exec(b->db, conn, "SELECT name, applied_at FROM schema_migrations WHERE version = 1", NULL, 0, &rows,
                  NULL));
    assert_int_equal(ch_db_rows_count(rows), 1);
    assert_string_equal(ch_db_rows_text(rows, 0, 0), "accounts");
    assert_true(ch_db_rows_int(rows, 0, 1) > 1600000000000LL);
    ch_db_rows_free(rows);

    /* The schema works as the services will use it: defaults, unique handle, foreign keys. */
    const char *ins_user = "INSERT INTO users(id, handle, password_hash, display_name, created_at, updated_at) "
                           "VALUES ($1, $2, 'h', 'D', 1, 1)";
    ch_db_param_t u1[] = {CH_DB_P_INT(1001), CH_DB_P_TEXT("alice")};
    ch_db_param_t u2[] = {CH_DB_P_INT(1002), CH_DB_P_TEXT("alice")};
    OK(ch_db_exec(b->db, conn, ins_user, u1, 2, NULL, NULL));
    assert_int_equal(ch_db_exec(b->db, conn, ins_user, u2, 2, NULL, NULL), CH_ECONFLICT);
    OK(ch_db_exec(b->db, conn, "SELECT bio, is_private, interests, avatar_url, followers_count FROM users", NULL, 0,
                  &rows, NULL));
    assert_int_equal(ch_db_rows_count(rows), 1);
    assert_string_equal(ch_db_rows_text(rows, 0, 0), "");
    assert_false(ch_db_rows_isnull(rows, 0, 0));
    assert_int_equal(ch_db_rows_int(rows, 0, 1), 0);
    assert_string_equal(ch_db_rows_text(rows, 0, 2), "[]");
    assert_true(ch_db_rows_isnull(rows, 0, 3));
    assert_int_equal(ch_db_rows_int(rows, 0, 4), 0);
    ch_db_rows_free(rows);

    const char *ins_session = "INSERT INTO sessions(id, user_id, created_at, last_seen_at, expires_at) "
                              "VALUES ($1, $2, 1, 1, 2)";
    ch_db_param_t s1[] = {CH_DB_P_INT(1), CH_DB_P_INT(1001)};
    ch_db_param_t s2[] = {CH_DB_P_INT(2), CH_DB_P_INT(999999)};
    OK(ch_db_exec(b->db, conn, ins_session, s1, 2, NULL, NULL));
    assert_int_equal(ch_db_exec(b->db, conn, ins_session, s2, 2, NULL, NULL), CH_EINTERNAL); /* no such user */
    OK(ch_db_exec(b->db, conn,
                  "INSERT INTO idempotency_keys(user_id, idem_key, route, fingerprint, status, response, "
                  "created_at) VALUES (1001, 'k', 'POST /x', 'h', 201, '{}', 1)",
                  NULL, 0, NULL, NULL));
    assert_int_equal(ch_db_exec(b->db, conn,
                                "INSERT INTO idempotency_keys(user_id, idem_key, route, fingerprint, status, "
                                "response, created_at) VALUES (1001, 'k', 'POST /y', 'h2', 201, '{}', 2)",
                                NULL, 0, NULL, NULL),
                     CH_ECONFLICT);
    for (const char *const *tbl = (const char *const[]){"refresh_tokens", "server_keys", "outbox", NULL}; *tbl;
         tbl++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", *tbl);
        OK(ch_db_exec(b->db, conn, sql, NULL, 0, NULL, NULL));
    }
    ch_db_release(b->db, conn);
}

/* ---- statements --------------------------------------------------------------------- */

static void test_params_roundtrip(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    const char *ins = "INSERT INTO t(id, name, note) VALUES ($1, $2, $3)";
    ch_db_param_t r1[] = {CH_DB_P_INT(INT64_MAX), CH_DB_P_TEXT("h\xc3\xa9llo \"q\" 'x'"), CH_DB_P_NULL};
    ch_db_param_t r2[] = {CH_DB_P_INT(INT64_MIN), CH_DB_P_TEXTN("abcdef", 3), CH_DB_P_TEXT("")};
    ch_db_param_t r3[] = {CH_DB_P_INT(0), CH_DB_P_TEXT(NULL), CH_DB_P_TEXTN("xyz", 0)};
    int64_t changes = -1;
    OK(ch_db_exec(b->db, conn, ins, r1, 3, NULL, &changes));
    assert_int_equal(changes, 1);
    OK(ch_db_exec(b->db, conn, ins, r2, 3, NULL, NULL));
    OK(ch_db_exec(b->db, conn, ins, r3, 3, NULL, NULL));

    ch_db_rows_t *rows = NULL;
    OK(ch_db_exec(b->db, conn, "SELECT id, name, note FROM t ORDER BY id", NULL, 0, &rows, NULL));
    assert_int_equal(ch_db_rows_count(rows), 3);
    assert_int_equal(ch_db_rows_ncols(rows), 3);
    assert_true(ch_db_rows_int(rows, 0, 0) == INT64_MIN);
    assert_string_equal(ch_db_rows_text(rows, 0, 1), "abc");
    assert_int_equal(ch_db_rows_len(rows, 0, 1), 3);
    assert_false(ch_db_rows_isnull(rows, 0, 2));
    assert_string_equal(ch_db_rows_text(rows, 0, 2), "");
    assert_int_equal(ch_db_rows_int(rows, 1, 0), 0);
    assert_true(ch_db_rows_isnull(rows, 1, 1));
    assert_false(ch_db_rows_isnull(rows, 1, 2));
    assert_true(ch_db_rows_int(rows, 2, 0) == INT64_MAX);
    assert_string_equal(ch_db_rows_text(rows, 2, 0), "9223372036854775807");
    assert_string_equal(ch_db_rows_text(rows, 2, 1), "h\xc3\xa9llo \"q\" 'x'");
    assert_true(ch_db_rows_isnull(rows, 2, 2));
    assert_string_equal(ch_db_rows_text(rows, 2, 2), "");
    ch_db_rows_free(rows);

    /* Parameters in WHERE, compared against both column types. */
    ch_db_param_t q[] = {CH_DB_P_INT(INT64_MAX)};
    OK(ch_db_exec(b->db, conn, "SELECT name FROM t WHERE id = $1", q, 1, &rows, NULL));
    assert_int_equal(ch_db_rows_count(rows), 1);
    assert_string_equal(ch_db_rows_text(rows, 0, 0), "h\xc3\xa9llo \"q\" 'x'");
    ch_db_rows_free(rows);
    ch_db_release(b->db, conn);
}

static void test_param_order(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    /* $2 appears first: SQLite would bind positionally by first appearance if we let it. */
    ch_db_param_t p[] = {CH_DB_P_INT(7), CH_DB_P_TEXT("seven"), CH_DB_P_TEXT("note")};
    OK(ch_db_exec(b->db, conn, "INSERT INTO t(note, name, id) VALUES ($3, $2, $1)", p, 3, NULL, NULL));
    ch_db_rows_t *rows = NULL;
    ch_db_param_t q[] = {CH_DB_P_INT(7), CH_DB_P_TEXT("seven")};
    OK(ch_db_exec(b->db, conn, "SELECT id, name, note FROM t WHERE name = $2 AND id = $1 AND name = $2", q, 2,
                  &rows, NULL));
    assert_int_equal(ch_db_rows_count(rows), 1);
    assert_int_equal(ch_db_rows_int(rows, 0, 0), 7);
    assert_string_equal(ch_db_rows_text(rows, 0, 1), "seven");
    assert_string_equal(ch_db_rows_text(rows, 0, 2), "note");
    ch_db_rows_free(rows);

    /* Swapped values must not match. */
    ch_db_param_t wrong[] = {CH_DB_P_INT(8), CH_DB_P_TEXT("seven")};
    OK(ch_db_exec(b->db, conn, "SELECT id FROM t WHERE name = $2 AND id = $1", wrong, 2, &rows, NULL));
    assert_int_equal(ch_db_rows_count(rows), 0);
    ch_db_rows_free(rows);
    ch_db_release(b->db, conn);
}

static void test_unique_conflict(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    OK(insert_t(b->db, conn, 1, "a"));
    assert_int_equal(insert_t(b->db, conn, 1, "b"), CH_ECONFLICT); /* primary key */
    assert_int_equal(insert_t(b->db, conn, 2, "a"), CH_ECONFLICT); /* unique column */
    int64_t changes = -1;
    ch_db_param_t p[] = {CH_DB_P_INT(1), CH_DB_P_TEXT("c")};
    OK(ch_db_exec(b->db, conn, "INSERT INTO t(id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", p, 2, NULL,
                  &changes));
    assert_int_equal(changes, 0);
    OK(ch_db_exec(b->db, conn,
                  "INSERT INTO t(id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name", p,
                  2, NULL, &changes));
    assert_int_equal(changes, 1);
    ch_db_release(b->db, conn);
    assert_int_equal(count_t(b->db), 1);
    assert_int_equal(scalar(b->db, "SELECT count(*) FROM t WHERE name = 'c'"), 1);
}

static void test_returning(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    ch_db_rows_t *rows = NULL;
    int64_t changes = -1;
    ch_db_param_t p[] = {CH_DB_P_INT(42), CH_DB_P_TEXT("x")};
    OK(ch_db_exec(b->db, conn, "INSERT INTO t(id, name) VALUES ($1, $2) RETURNING id, name, note, n", p, 2, &rows,
                  &changes));
    assert_int_equal(changes, 1);
    assert_int_equal(ch_db_rows_count(rows), 1);
    assert_int_equal(ch_db_rows_ncols(rows), 4);
    assert_int_equal(ch_db_rows_int(rows, 0, 0), 42);
    assert_string_equal(ch_db_rows_text(rows, 0, 1), "x");
    assert_true(ch_db_rows_isnull(rows, 0, 2));
    assert_int_equal(ch_db_rows_int(rows, 0, 3), 0);
    ch_db_rows_free(rows);

    OK(ch_db_exec(b->db, conn, "UPDATE t SET n = n + 5 WHERE id = 42 RETURNING n", NULL, 0, &rows, &changes));
    assert_int_equal(changes, 1);
    assert_int_equal(ch_db_rows_count(rows), 1);
    assert_int_equal(ch_db_rows_int(rows, 0, 0), 5);
    ch_db_rows_free(rows);

    OK(ch_db_exec(b->db, conn, "DELETE FROM t WHERE id = 43 RETURNING id", NULL, 0, &rows, &changes));
    assert_int_equal(changes, 0);
    assert_int_equal(ch_db_rows_count(rows), 0);
    ch_db_rows_free(rows);
    ch_db_release(b->db, conn);
}

static void test_changes(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    for (int i = 1; i <= 3; i++)
        OK(insert_t(b->db, conn, i, NULL));
    int64_t changes = -1;
    OK(ch_db_exec(b->db, conn, "UPDATE t SET n = n + 1 WHERE id <= 2", NULL, 0, NULL, &changes));
    assert_int_equal(changes, 2);
    OK(ch_db_exec(b->db, conn, "SELECT * FROM t", NULL, 0, NULL, &changes));
    assert_int_equal(changes, 0); /* a SELECT changes nothing, whatever came before */
    OK(ch_db_exec(b->db, conn, "DELETE FROM t WHERE id = 99", NULL, 0, NULL, &changes));
    assert_int_equal(changes, 0);
    OK(ch_db_exec(b->db, conn, "DELETE FROM t", NULL, 0, NULL, &changes));
    assert_int_equal(changes, 3);
    OK(ch_db_exec(b->db, conn, "CREATE TABLE IF NOT EXISTS t2(x BIGINT)", NULL, 0, NULL, &changes));
    assert_int_equal(changes, 0);
    OK(ch_db_exec(b->db, conn, "DROP TABLE t2", NULL, 0, NULL, &changes));
    assert_int_equal(changes, 0);
    ch_db_release(b->db, conn);
}

/* ---- transactions ------------------------------------------------------------------- */

static void test_rollback(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_begin(b->db, conn, 1));
    OK(insert_t(b->db, conn, 1, "a"));
    OK(insert_t(b->db, conn, 2, "b"));
    ch_db_rows_t *rows = NULL;
    OK(ch_db_exec(b->db, conn, "SELECT count(*) FROM t", NULL, 0, &rows, NULL));
    assert_int_equal(ch_db_rows_int(rows, 0, 0), 2); /* visible inside */
    ch_db_rows_free(rows);
    ch_db_rollback(b->db, conn);
    assert_int_equal(count_t(b->db), 0);

    /* Released with a transaction open: rolled back, and the connection comes back clean. */
    OK(ch_db_begin(b->db, conn, 1));
    OK(insert_t(b->db, conn, 3, "c"));
    ch_db_release(b->db, conn);
    assert_int_equal(count_t(b->db), 0);
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_begin(b->db, conn, 0)); /* would fail if a transaction were still open */
    ch_db_rollback(b->db, conn);
    ch_db_release(b->db, conn);
}

static void test_commit(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn, *other;
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_acquire(b->db, &other));
    assert_ptr_not_equal(conn, other);
    OK(ch_db_begin(b->db, conn, 1));
    OK(insert_t(b->db, conn, 1, "a"));
    OK(insert_t(b->db, conn, 2, "b"));
    ch_db_rows_t *rows = NULL;
    OK(ch_db_exec(b->db, other, "SELECT count(*) FROM t", NULL, 0, &rows, NULL));
    assert_int_equal(ch_db_rows_int(rows, 0, 0), 0); /* not visible before commit */
    ch_db_rows_free(rows);
    OK(ch_db_commit(b->db, conn));
    OK(ch_db_exec(b->db, other, "SELECT count(*) FROM t", NULL, 0, &rows, NULL));
    assert_int_equal(ch_db_rows_int(rows, 0, 0), 2);
    ch_db_rows_free(rows);
    ch_db_release(b->db, other);
    ch_db_release(b->db, conn);
    assert_int_equal(count_t(b->db), 2);
}

static void test_aborted_transaction(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_begin(b->db, conn, 1));
    OK(insert_t(b->db, conn, 1, "a"));
    assert_int_equal(insert_t(b->db, conn, 1, "a"), CH_ECONFLICT);
    assert_int_not_equal(insert_t(b->db, conn, 2, "b"), CH_OK); /* the transaction is dead */
    assert_int_equal(ch_db_commit(b->db, conn), CH_ECONFLICT);    /* the first error */
    assert_int_equal(count_t(b->db), 0);
    OK(insert_t(b->db, conn, 3, "c")); /* the connection itself is fine */
    ch_db_release(b->db, conn);
    assert_int_equal(count_t(b->db), 1);
}

/* A statement failing inside a savepoint: ROLLBACK TO SAVEPOINT undoes it alone and the
 * transaction goes on (the chat writer's batch: one send's error is that send's), on both
 * drivers (PostgreSQL accepts it in the aborted transaction). */
static void test_savepoint_rollback_recovers(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_begin(b->db, conn, 1));
    OK(insert_t(b->db, conn, 1, "a"));
    OK(ch_db_exec(b->db, conn, "SAVEPOINT sp", NULL, 0, NULL, NULL));
    OK(insert_t(b->db, conn, 2, "b"));
    assert_int_equal(insert_t(b->db, conn, 1, "c"), CH_ECONFLICT);
    OK(ch_db_exec(b->db, conn, "ROLLBACK TO SAVEPOINT sp", NULL, 0, NULL, NULL));
    OK(ch_db_exec(b->db, conn, "RELEASE SAVEPOINT sp", NULL, 0, NULL, NULL));
    OK(insert_t(b->db, conn, 3, "d"));
    OK(ch_db_commit(b->db, conn));
    ch_db_release(b->db, conn);
    assert_int_equal(count_t(b->db), 2); /* 1 and 3; 2 went with the savepoint */
}

/* ---- errors, cache, pool ------------------------------------------------------------ */

static void test_errors(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    ch_db_param_t one[] = {CH_DB_P_INT(1)};
    ch_db_param_t two[] = {CH_DB_P_INT(1), CH_DB_P_INT(2)};
    assert_int_equal(ch_db_exec(b->db, conn, "SELEC 1", NULL, 0, NULL, NULL), CH_EINTERNAL);
    assert_int_equal(ch_db_exec(b->db, conn, "SELECT * FROM no_such_table", NULL, 0, NULL, NULL), CH_EINTERNAL);
    assert_int_equal(ch_db_exec(b->db, conn, "SELECT id FROM t WHERE id = $1", two, 2, NULL, NULL), CH_EINTERNAL);
    assert_int_equal(ch_db_exec(b->db, conn, "SELECT id FROM t WHERE id = $2", one, 1, NULL, NULL), CH_EINTERNAL);
    assert_int_equal(ch_db_exec(b->db, conn, "SELECT id FROM t WHERE id = $2", two, 2, NULL, NULL), CH_EINTERNAL);
    assert_int_equal(ch_db_exec(b->db, conn, "SELECT id FROM t WHERE id = ?", one, 1, NULL, NULL), CH_EINTERNAL);
    assert_int_equal(ch_db_exec(b->db, conn, "SELECT 1; SELECT 2", NULL, 0, NULL, NULL), CH_EINTERNAL);
    assert_int_equal(ch_db_exec(b->db, conn, "INSERT INTO t(id, n) VALUES (1, NULL)", NULL, 0, NULL, NULL),
                     CH_EINTERNAL);
    ch_db_param_t nul[] = {CH_DB_P_INT(1), CH_DB_P_TEXTN("a\0b", 3)};
    assert_int_equal(ch_db_exec(b->db, conn, "INSERT INTO t(id, name) VALUES ($1, $2)", nul, 2, NULL, NULL),
                     CH_EINVAL);
    ch_db_rows_t *rows = (ch_db_rows_t *)1;
    assert_int_not_equal(ch_db_exec(b->db, conn, "SELECT * FROM no_such_table", NULL, 0, &rows, NULL), CH_OK);
    assert_null(rows); /* nothing to free after a failure */
    assert_int_equal(ch_db_commit(b->db, conn), CH_EINTERNAL); /* no transaction */
    /* After all that, the connection still works. */
    OK(insert_t(b->db, conn, 1, "a"));
    ch_db_release(b->db, conn);
    assert_int_equal(count_t(b->db), 1);
    OK(ch_db_ping(b->db));
}

/* More distinct statements than the per-connection cache holds, then the first again. */
static void test_statement_cache(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < CH__DB_CACHE_MAX + 50; i++) {
            char sql[64];
            snprintf(sql, sizeof(sql), "SELECT %d + $1", i);
            ch_db_param_t p[] = {CH_DB_P_INT(round)};
            ch_db_rows_t *rows = NULL;
            OK(ch_db_exec(b->db, conn, sql, p, 1, &rows, NULL));
            assert_int_equal(ch_db_rows_int(rows, 0, 0), i + round);
            ch_db_rows_free(rows);
        }
    }
    ch_db_release(b->db, conn);
}

static void test_pool_reuse(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *a, *c;
    OK(ch_db_acquire(b->db, &a));
    ch_db_release(b->db, a);
    OK(ch_db_acquire(b->db, &c));
    assert_ptr_equal(a, c); /* pooled, not reopened */
    ch_db_release(b->db, c);
    ch_db_release(b->db, NULL);
    assert_string_equal(ch_db_kind(b->db), b->name);
}

typedef struct {
    backend_t *b;
    int id;
    int failures;
    pthread_barrier_t *barrier;
} writer_arg_t;

enum { WRITERS = 4, WRITES = 50 };

static void *writer_thread(void *p)
{
    writer_arg_t *a = p;
    ch_db_t *db = a->b->db;
    ch_db_conn_t *conn;
    if (ch_db_acquire(db, &conn) != CH_OK) {
        a->failures = WRITES;
        pthread_barrier_wait(a->barrier);
        return NULL;
    }
    pthread_barrier_wait(a->barrier); /* all hold their own connection, then go */
    for (int i = 0; i < WRITES; i++) {
        ch_db_param_t p1[] = {CH_DB_P_INT(1000 + a->id * WRITES + i)};
        /* Read before writing, as services do: on SQLite a deferred transaction would fail
         * to upgrade its read lock (SQLITE_BUSY at once) while another writer commits. */
        if (ch_db_begin(db, conn, 1) != CH_OK ||
            ch_db_exec(db, conn, "SELECT n FROM t WHERE id = 1", NULL, 0, NULL, NULL) != CH_OK ||
            ch_db_exec(db, conn, "UPDATE t SET n = n + 1 WHERE id = 1", NULL, 0, NULL, NULL) != CH_OK ||
            ch_db_exec(db, conn, "INSERT INTO t(id) VALUES ($1)", p1, 1, NULL, NULL) != CH_OK ||
            ch_db_commit(db, conn) != CH_OK) {
            ch_db_rollback(db, conn);
            a->failures++;
        }
    }
    ch_db_release(db, conn);
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    backend_t *b = backend(state);
    OK(run(b->db, "INSERT INTO t(id, n) VALUES (1, 0)", NULL, 0));
    pthread_t th[WRITERS];
    writer_arg_t args[WRITERS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, WRITERS);
    for (int i = 0; i < WRITERS; i++) {
        args[i] = (writer_arg_t){.b = b, .id = i, .barrier = &barrier};
        assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &args[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) /* all of them before any assert jumps out of this frame */
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(args[i].failures, 0);
    assert_int_equal(scalar(b->db, "SELECT n FROM t WHERE id = 1"), WRITERS * WRITES);
    assert_int_equal(count_t(b->db), 1 + WRITERS * WRITES);
}

/* ---- capabilities ------------------------------------------------------------------- */

/* The optional slots answer on both engines, each as its driver documents. */
static void test_capabilities(void **state)
{
    backend_t *b = backend(state);
    int pg = strcmp(b->name, "postgres") == 0;
    ch_db_conn_t *conn, *other;
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_tune(b->db, conn, CH_DB_TUNE_WRITER));
    int64_t oldest = 0;
    OK(ch_db_oldest_open_xact_ms(b->db, conn, &oldest));
    assert_int_equal(oldest, -1); /* nobody else has a transaction open */
    OK(ch_db_acquire(b->db, &other));
    OK(ch_db_begin(b->db, other, 0));
    OK(ch_db_exec(b->db, other, "SELECT count(*) FROM t", NULL, 0, NULL, NULL));
    OK(ch_db_oldest_open_xact_ms(b->db, conn, &oldest));
    if (pg) /* the other transaction's start, by the server's clock */
        assert_true(oldest > 0 && oldest <= ch_now_ms() + 1000);
    else
        assert_int_equal(oldest, -1); /* no such horizon: the default */
    ch_db_rollback(b->db, other);
    ch_db_release(b->db, other);
    ch_db_release(b->db, conn);

    /* Bulk tuning lifts the statement deadline for that connection only. */
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_tune(b->db, conn, CH_DB_TUNE_BULK));
    if (pg) {
        assert_int_equal(scalar_on(b->db, conn, "SELECT CAST(current_setting('statement_timeout') = '0' AS INT)"), 1);
        ch_db_release(b->db, conn);
        OK(ch_db_acquire(b->db, &conn));
        assert_int_equal(scalar_on(b->db, conn, "SELECT CAST(current_setting('statement_timeout') = '5s' AS INT)"), 1);
    }
    ch_db_release(b->db, conn);

    ch_db_maintainer_t *m = ch_db_maintainer_start(b->db);
    if (pg)
        assert_null(m); /* the server keeps itself */
    else
        assert_non_null(m);
    ch_db_maintainer_stop(m);
    ch_db_maintainer_stop(NULL);

    OK(ch_db_probe_write(b->db)); /* db_probe was made by the migrations */
    OK(ch_db_probe_write(b->db)); /* the row exists: an update */
    assert_int_equal(scalar(b->db, "SELECT count(*) FROM db_probe"), 1);
}

/* ---- engine-specific ---------------------------------------------------------------- */

/* A statement over the deadline is cancelled by the server: CH_EUNAVAILABLE, and the
 * connection stays good. */
static void test_pg_statement_timeout(void **state)
{
    backend_t *b = backend(state);
    ch_db_options_t opts = CH_DB_OPTIONS_DEFAULT;
    opts.statement_timeout_ms = 200;
    ch_db_t *db;
    char errbuf[256];
    OK(ch_db_open_opts(b->url, &opts, &db, errbuf, sizeof(errbuf)));
    ch_db_conn_t *conn;
    OK(ch_db_acquire(db, &conn));
    assert_int_equal(ch_db_exec(db, conn, "SELECT pg_sleep(2)", NULL, 0, NULL, NULL), CH_EUNAVAILABLE);
    assert_int_equal(scalar_on(db, conn, "SELECT 7"), 7);
    ch_db_release(db, conn);
    ch_db_close(db);
}

typedef struct {
    ch_db_t *db;
    ch_db_conn_t *conn;
} release_arg_t;

static void *release_later(void *p)
{
    release_arg_t *a = p;
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    ch_db_release(a->db, a->conn);
    return NULL;
}

/* A full pool: an acquire waits for a release, and gives up with CH_EUNAVAILABLE after
 * pool_wait_ms when none comes. */
static void test_pg_pool_bound(void **state)
{
    backend_t *b = backend(state);
    ch_db_options_t opts = CH_DB_OPTIONS_DEFAULT;
    opts.pool_size = 1;
    opts.pool_wait_ms = 150;
    ch_db_t *db;
    char errbuf[256];
    OK(ch_db_open_opts(b->url, &opts, &db, errbuf, sizeof(errbuf)));
    ch_db_conn_t *a, *c = (ch_db_conn_t *)1;
    OK(ch_db_acquire(db, &a));
    assert_int_equal(ch_db_acquire(db, &c), CH_EUNAVAILABLE);
    assert_null(c);
    assert_int_equal(ch_db_ping(db), CH_EUNAVAILABLE);
    ch_db_release(db, a);
    ch_db_close(db);
    /* Released while another waits: the waiter gets it. */
    opts.pool_wait_ms = 10000;
    OK(ch_db_open_opts(b->url, &opts, &db, errbuf, sizeof(errbuf)));
    OK(ch_db_acquire(db, &a));
    release_arg_t arg = {db, a};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, release_later, &arg), 0);
    ch_err_t err = ch_db_acquire(db, &c);
    pthread_join(th, NULL);
    OK(err);
    assert_ptr_equal(c, a);
    ch_db_release(db, c);
    ch_db_close(db);
}


static void test_sqlite_settings(void **state)
{
    backend_t *b = backend(state);
    /* Two connections at once: both must be configured, not just the first. */
    ch_db_conn_t *conn[2];
    OK(ch_db_acquire(b->db, &conn[0]));
    OK(ch_db_acquire(b->db, &conn[1]));
    for (int i = 0; i < 2; i++) {
        const char *checks[][2] = {{"PRAGMA journal_mode", "wal"},
                                   {"PRAGMA foreign_keys", "1"},
                                   {"PRAGMA synchronous", "2"}}; /* FULL: a commit is on disk when it returns */
        /* The lock wait is the driver's busy handler (it honours deadlines): PRAGMA
         * busy_timeout does not show it; test_sqlite_loop_thread_never_waits tests it. */
        for (size_t k = 0; k < 3; k++) {
            ch_db_rows_t *rows = NULL;
            OK(ch_db_exec(b->db, conn[i], checks[k][0], NULL, 0, &rows, NULL));
            assert_int_equal(ch_db_rows_count(rows), 1);
            assert_string_equal(ch_db_rows_text(rows, 0, 0), checks[k][1]);
            ch_db_rows_free(rows);
        }
    }
    ch_db_release(b->db, conn[0]);
    ch_db_release(b->db, conn[1]);
}

/* A worker thread (not marked as a loop) that inserts row 2 while another connection
 * holds the write lock: it must wait for the lock, not fail. */
typedef struct {
    ch_db_t *db;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;
    ch_err_t err;
} waiter_t;

static void *waiter_main(void *arg)
{
    waiter_t *w = arg;
    ch_db_conn_t *conn;
    ch_err_t err = ch_db_acquire(w->db, &conn);
    pthread_mutex_lock(&w->mu);
    w->started = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (err == CH_OK) {
        err = insert_t(w->db, conn, 2, "worker");
        ch_db_release(w->db, conn);
    }
    w->err = err;
    return NULL;
}

/* On a thread marked as an event loop, a statement that meets a lock fails at once and
 * leaves the busy note; the same pooled connection waits again on a worker thread. */
static void test_sqlite_loop_thread_never_waits(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *holder, *loop_conn;
    OK(ch_db_acquire(b->db, &holder)); /* an ordinary thread: waits as usual */
    OK(ch_db_begin(b->db, holder, 1)); /* BEGIN IMMEDIATE: holds the write lock */
    OK(insert_t(b->db, holder, 1, "holder"));

    ch_db_mark_loop_thread(1);
    assert_true(ch_db_is_loop_thread());
    assert_false(ch_db_loop_busy_take());
    OK(ch_db_acquire(b->db, &loop_conn));
    /* WAL: a read passes the writer's lock, and leaves no note. */
    assert_int_equal(scalar_on(b->db, loop_conn, "SELECT count(*) FROM t"), 0);
    assert_false(ch_db_loop_busy_take());
    /* A write meets the lock: CH_EUNAVAILABLE at once (with the 5 s timeout it would only
     * come back after the holder's commit, below, and succeed), plus the note, once. */
    assert_int_equal(insert_t(b->db, loop_conn, 3, "loop"), CH_EUNAVAILABLE);
    assert_true(ch_db_loop_busy_take());
    assert_false(ch_db_loop_busy_take());
    ch_db_release(b->db, loop_conn);
    ch_db_mark_loop_thread(0);

    /* A worker gets the pooled connection back with the normal timeout, and waits. */
    waiter_t w = {.db = b->db};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
    pthread_mutex_lock(&w.mu);
    while (!w.started)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    usleep(200 * 1000); /* let it block on the lock (a shorter sleep only weakens the test) */
    OK(ch_db_commit(b->db, holder));
    ch_db_release(b->db, holder);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    OK(w.err);
    assert_int_equal(count_t(b->db), 2);
    assert_false(ch_db_loop_busy_take()); /* a worker's wait leaves no note */
}

/* On a loop thread with a budget (ch_db_loop_budget_set), a statement still running when
 * it is spent is interrupted with the busy note, and none starts afterwards; without the
 * budget (a worker) the same statement runs to its end. */
static void test_sqlite_loop_budget(void **state)
{
    backend_t *b = backend(state);
    static const char heavy[] = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
                                " SELECT count(*) FROM c";
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    ch_db_mark_loop_thread(1);
    OK(ch_db_acquire(b->db, &conn));
    ch_db_loop_budget_set(2);
    assert_int_equal(ch_db_exec(b->db, conn, heavy, NULL, 0, &rows, NULL), CH_EUNAVAILABLE);
    assert_null(rows);
    assert_true(ch_db_loop_busy_take());
    /* spent: a light statement is refused before it starts, with the note */
    assert_int_equal(ch_db_exec(b->db, conn, "SELECT 1", NULL, 0, &rows, NULL), CH_EUNAVAILABLE);
    assert_true(ch_db_loop_busy_take());
    ch_db_loop_budget_set(0);
    assert_int_equal(scalar_on(b->db, conn, "SELECT 1"), 1);
    assert_false(ch_db_loop_busy_take());
    ch_db_release(b->db, conn);
    ch_db_mark_loop_thread(0);
    /* a worker's statement is not bound by a loop budget */
    ch_db_loop_budget_set(2);
    OK(ch_db_acquire(b->db, &conn));
    assert_int_equal(scalar_on(b->db, conn, heavy), 3000000);
    assert_false(ch_db_loop_busy_take());
    ch_db_release(b->db, conn);
    ch_db_loop_budget_set(0);
}

static void test_sqlite_open_errors(void **state)
{
    backend_t *b = backend(state);
    char url[4200], path[2048], errbuf[256];
    ch_db_t *db = (ch_db_t *)1;

    snprintf(url, sizeof(url), "sqlite:%s/no/such/dir/x.db", b->dir);
    assert_int_not_equal(ch_db_open(url, &db, errbuf, sizeof(errbuf)), CH_OK);
    assert_null(db);
    assert_non_null(strstr(errbuf, "does not exist"));

    snprintf(path, sizeof(path), "%s/subdir", b->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    assert_int_not_equal(ch_db_open(url, &db, errbuf, sizeof(errbuf)), CH_OK);
    assert_non_null(strstr(errbuf, "directory"));

    snprintf(path, sizeof(path), "%s/garbage.db", b->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 64; i++)
        fputs("this is not an sqlite database file at all. ", f);
    fclose(f);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    assert_int_not_equal(ch_db_open(url, &db, errbuf, sizeof(errbuf)), CH_OK);
    assert_non_null(strstr(errbuf, path));

    assert_int_equal(ch_db_open("sqlite:", &db, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_int_equal(ch_db_open("sqlite::memory:", &db, errbuf, sizeof(errbuf)), CH_EINVAL);

    /* A missing file in an existing directory is created. */
    snprintf(path, sizeof(path), "%s/created.db", b->dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    assert_int_not_equal(access(path, F_OK), 0);
    OK(ch_db_open(url, &db, errbuf, sizeof(errbuf)));
    assert_int_equal(access(path, F_OK), 0);
    OK(ch_db_ping(db));
    ch_db_close(db);
}

/* ---- backend-independent ------------------------------------------------------------ */

static void test_open_errors(void **state)
{
    ch_db_t *db = (ch_db_t *)1;
    char errbuf[256];
    assert_int_equal(ch_db_open(NULL, &db, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_null(db);
    assert_true(strlen(errbuf) > 0);
    assert_int_equal(ch_db_open("", &db, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_int_equal(ch_db_open("mysql://localhost/x", &db, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_non_null(strstr(errbuf, "sqlite:"));
    assert_int_equal(ch_db_open("postgresfoo", &db, errbuf, sizeof(errbuf)), CH_EINVAL);
    assert_int_equal(ch_db_open("postgres://u@h:5432/db?nonsense_option=1", &db, errbuf, sizeof(errbuf)),
                     CH_EINVAL);
    assert_non_null(strstr(errbuf, "nonsense_option"));
    assert_int_equal(ch_db_open("mysql://localhost/x", &db, NULL, 0), CH_EINVAL); /* errbuf is optional */
    ch_db_close(NULL);
}

/* A PostgreSQL server that is not there: open succeeds (lazy), every use is unavailable. */
static void test_pg_down(void **state)
{
    ch_db_t *db;
    char errbuf[256];
    OK(ch_db_open("postgresql://chorus@127.0.0.1:1/none", &db, errbuf, sizeof(errbuf)));
    assert_string_equal(ch_db_kind(db), "postgres");
    ch_db_conn_t *conn = (ch_db_conn_t *)1;
    assert_int_equal(ch_db_acquire(db, &conn), CH_EUNAVAILABLE);
    assert_null(conn);
    assert_int_equal(ch_db_ping(db), CH_EUNAVAILABLE);
    int applied = -1;
    assert_int_equal(ch_db_migrate(db, &applied), CH_EUNAVAILABLE);
    assert_int_equal(applied, 0);
    ch_db_close(db);
}

static void test_rows_container(void **state)
{
    ch_db_rows_t *rows = ch__db_rows_new(3);
    assert_non_null(rows);
    assert_int_equal(ch_db_rows_count(rows), 0);
    assert_int_equal(ch_db_rows_ncols(rows), 3);
    /* Enough rows to make the buffers grow several times. */
    for (int r = 0; r < 1000; r++) {
        char num[16];
        snprintf(num, sizeof(num), "%d", r - 500);
        const char *vals[3] = {num, r % 2 ? NULL : "", "a\0b"};
        size_t lens[3] = {strlen(num), 0, 3};
        assert_int_equal(ch__db_rows_append(rows, vals, lens), 0);
    }
    assert_int_equal(ch_db_rows_count(rows), 1000);
    for (int r = 0; r < 1000; r++) {
        assert_int_equal(ch_db_rows_int(rows, (size_t)r, 0), r - 500);
        assert_int_equal(ch_db_rows_isnull(rows, (size_t)r, 1), r % 2);
        assert_string_equal(ch_db_rows_text(rows, (size_t)r, 1), "");
        assert_int_equal(ch_db_rows_len(rows, (size_t)r, 2), 3);
        assert_memory_equal(ch_db_rows_text(rows, (size_t)r, 2), "a\0b", 4);
    }
    /* Out of range is a caller bug: logged, answered as NULL rather than a crash. */
    ch_log_set_level(CH_LOG_ERROR + 1);
    assert_true(ch_db_rows_isnull(rows, 1000, 0));
    assert_true(ch_db_rows_isnull(rows, 0, 3));
    assert_string_equal(ch_db_rows_text(rows, 5000, 0), "");
    assert_int_equal(ch_db_rows_int(rows, 0, 9), 0);
    ch_log_set_level(log_level);
    ch_db_rows_free(rows);
    ch_db_rows_free(NULL);
    assert_int_equal(ch_db_rows_count(NULL), 0);

    rows = ch__db_rows_new(0);
    assert_int_equal(ch__db_rows_append(rows, NULL, NULL), 0);
    assert_int_equal(ch_db_rows_count(rows), 1);
    ch_db_rows_free(rows);
}

/* ---- deadlines ------------------------------------------------------------------------- */

/* Past the thread's deadline a statement is refused and aborts its transaction, and a
 * COMMIT not yet started is refused: nothing is written. The process-wide deadline holds
 * for threads without their own. */
static void test_deadline_refuses_and_aborts(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_begin(b->db, conn, 1));
    OK(insert_t(b->db, conn, 1, "before"));
    uint64_t hits = ch_db_deadline_hits();
    ch_db_deadline_set(ch_mono_ms() - 1);
    assert_int_equal(insert_t(b->db, conn, 2, "after"), CH_EUNAVAILABLE);
    assert_true(ch_db_deadline_hits() > hits);
    ch_db_deadline_set(0);
    assert_int_not_equal(ch_db_commit(b->db, conn), CH_OK);
    ch_db_release(b->db, conn);
    assert_int_equal(count_t(b->db), 0);

    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_begin(b->db, conn, 1));
    OK(insert_t(b->db, conn, 3, "healthy"));
    ch_db_deadline_set(ch_mono_ms() - 1);
    assert_int_equal(ch_db_commit(b->db, conn), CH_EUNAVAILABLE);
    ch_db_deadline_set(0);
    ch_db_release(b->db, conn);
    assert_int_equal(count_t(b->db), 0);

    ch_db_deadline_set_all(ch_mono_ms() - 1);
    assert_int_equal(run(b->db, "SELECT 1", NULL, 0), CH_EUNAVAILABLE);
    ch_db_deadline_set_all(0);
    OK(run(b->db, "SELECT 1", NULL, 0));
}

typedef struct {
    ch_db_t *db;
    ch_db_conn_t *conn;
    int ms;
} end_later_t;

/* Rolls back and releases a.conn after a.ms. */
static void *end_later(void *p)
{
    end_later_t *a = p;
    struct timespec ts = {a->ms / 1000, (a->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    ch_db_rollback(a->db, a->conn);
    ch_db_release(a->db, a->conn);
    return NULL;
}

/* SQLite: a lock wait ends at the deadline (the lock goes after 1.5 s: a wait up to the
 * 5 s busy timeout would get it and succeed), and a long statement is interrupted. */
static void test_sqlite_deadline(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *holder, *conn;
    OK(ch_db_acquire(b->db, &holder));
    OK(ch_db_begin(b->db, holder, 1));
    OK(insert_t(b->db, holder, 1, "holder"));
    end_later_t arg = {b->db, holder, 1500};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, end_later, &arg), 0);
    OK(ch_db_acquire(b->db, &conn));
    ch_db_deadline_set(ch_mono_ms() + 200);
    assert_int_equal(ch_db_begin(b->db, conn, 1), CH_EUNAVAILABLE);
    ch_db_deadline_set(0);
    pthread_join(th, NULL);
    OK(ch_db_begin(b->db, conn, 1)); /* the same connection, once the lock is free */
    ch_db_rollback(b->db, conn);

    ch_db_deadline_set(ch_mono_ms() + 200);
    assert_int_equal(ch_db_exec(b->db, conn,
                                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
                                "SELECT count(*) FROM c",
                                NULL, 0, NULL, NULL),
                     CH_EUNAVAILABLE);
    ch_db_deadline_set(0);
    assert_int_equal(scalar_on(b->db, conn, "SELECT 7"), 7);
    ch_db_release(b->db, conn);
}

/* PostgreSQL: a statement still waiting at the deadline is cancelled (the lock would go
 * after 1.5 s, the statement deadline is 5 s: without the cancel it would succeed), and
 * the connection stays usable. */
static void test_pg_deadline_cancels(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *holder, *conn;
    OK(ch_db_acquire(b->db, &holder));
    OK(ch_db_begin(b->db, holder, 1));
    OK(ch_db_exec(b->db, holder, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", NULL, 0, NULL, NULL));
    end_later_t arg = {b->db, holder, 1500};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, end_later, &arg), 0);
    OK(ch_db_acquire(b->db, &conn));
    uint64_t hits = ch_db_deadline_hits();
    ch_db_deadline_set(ch_mono_ms() + 300);
    assert_int_equal(ch_db_exec(b->db, conn, "SELECT count(*) FROM t", NULL, 0, NULL, NULL), CH_EUNAVAILABLE);
    ch_db_deadline_set(0);
    assert_true(ch_db_deadline_hits() > hits);
    pthread_join(th, NULL);
    assert_int_equal(scalar_on(b->db, conn, "SELECT 7"), 7); /* not dropped: the cancel was answered */
    ch_db_release(b->db, conn);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Room for a few statements on a loaded machine before the deadline passes. */
#define DEADLINE_ROOM_MS 600

/* Once a write of the request committed (a transaction, a write outside one, the ambient
 * transaction), the request's deadline no longer refuses what the handler does next (a
 * read of what it wrote): a 503 would deny a permanent change. The stop deadline still
 * holds, the next deadline set forgets it, and a read alone lifts nothing. */
static void test_deadline_lifted_after_commit(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *conn;
    ch_db_deadline_set(ch_mono_ms() + DEADLINE_ROOM_MS);
    OK(run(b->db, "SELECT 1", NULL, 0));
    assert_false(ch_db_request_committed());
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_begin(b->db, conn, 1));
    OK(insert_t(b->db, conn, 1, "one"));
    assert_false(ch_db_request_committed());
    OK(ch_db_commit(b->db, conn));
    ch_db_release(b->db, conn);
    assert_true(ch_db_request_committed());
    sleep_ms(DEADLINE_ROOM_MS + 50);
    assert_int_equal(count_t(b->db), 1);

    ch_db_deadline_set_all(ch_mono_ms() - 1);
    assert_int_equal(run(b->db, "SELECT 1", NULL, 0), CH_EUNAVAILABLE);
    ch_db_deadline_set_all(0);

    ch_db_deadline_set(ch_mono_ms() - 1);
    assert_false(ch_db_request_committed());
    assert_int_equal(run(b->db, "SELECT 1", NULL, 0), CH_EUNAVAILABLE);

    /* A write outside a transaction commits by itself. */
    ch_db_deadline_set(ch_mono_ms() + DEADLINE_ROOM_MS);
    ch_db_param_t p[] = {CH_DB_P_INT(2), CH_DB_P_TEXT("two")};
    OK(run(b->db, "INSERT INTO t(id, name) VALUES($1, $2)", p, 2));
    assert_true(ch_db_request_committed());
    sleep_ms(DEADLINE_ROOM_MS + 50);
    assert_int_equal(count_t(b->db), 2);

    /* The ambient transaction commits at its end, not at a nested commit. */
    ch_db_deadline_set(ch_mono_ms() + DEADLINE_ROOM_MS);
    OK(ch_db_ambient_begin(b->db));
    OK(ch_db_acquire(b->db, &conn));
    OK(ch_db_begin(b->db, conn, 1));
    OK(insert_t(b->db, conn, 3, "three"));
    OK(ch_db_commit(b->db, conn));
    ch_db_release(b->db, conn);
    assert_false(ch_db_request_committed());
    OK(ch_db_ambient_end(b->db, 1));
    assert_true(ch_db_request_committed());
    sleep_ms(DEADLINE_ROOM_MS + 50);
    assert_int_equal(count_t(b->db), 3);
    ch_db_deadline_set(0);
}

/* PostgreSQL: a write outside a transaction, once sent, is not cancelled at the request
 * deadline (a cancel that arrives while the server commits does nothing, and the answer
 * would be a 503 for a committed write): it waits for the row lock of another transaction
 * inserting the same key (rolled back after 1.5 s) and succeeds. A read in the same spot
 * is cancelled (test_pg_deadline_cancels). */
static void test_pg_autocommit_write_not_cancelled(void **state)
{
    backend_t *b = backend(state);
    ch_db_conn_t *holder;
    OK(ch_db_acquire(b->db, &holder));
    OK(ch_db_begin(b->db, holder, 1));
    OK(insert_t(b->db, holder, 1, "holder"));
    end_later_t arg = {b->db, holder, 1500};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, end_later, &arg), 0);
    sleep_ms(50);
    ch_db_deadline_set(ch_mono_ms() + 300);
    uint64_t hits = ch_db_deadline_hits();
    ch_db_param_t p[] = {CH_DB_P_INT(1), CH_DB_P_TEXT("late")};
    OK(run(b->db, "INSERT INTO t(id, name) VALUES($1, $2)", p, 2));
    assert_int_equal(ch_db_deadline_hits(), hits);
    assert_true(ch_db_request_committed());
    ch_db_deadline_set(0);
    pthread_join(th, NULL);
    assert_int_equal(count_t(b->db), 1);
}

/* PostgreSQL against a backend that stops answering (SIGSTOP): a ROLLBACK ends at the
 * request deadline, and a COMMIT at the stop deadline, by dropping the connection (counted
 * as deadline hits), rather than after the statement deadline + 2 s. */
static void test_pg_deadlines_end_rollback_and_commit(void **state)
{
    backend_t *b = backend(state);
    for (int commit = 0; commit <= 1; commit++) {
        ch_db_conn_t *conn;
        OK(ch_db_acquire(b->db, &conn));
        pid_t pid = (pid_t)scalar_on(b->db, conn, "SELECT pg_backend_pid()");
        assert_true(pid > 0);
        OK(ch_db_begin(b->db, conn, 1));
        OK(insert_t(b->db, conn, 10 + commit, "stopped"));
        assert_int_equal(kill(pid, SIGSTOP), 0);
        uint64_t hits = ch_db_deadline_hits();
        ch_err_t err = CH_EUNAVAILABLE;
        if (commit) {
            ch_db_deadline_set_all(ch_mono_ms() + 300);
            err = ch_db_commit(b->db, conn);
            ch_db_deadline_set_all(0);
        } else {
            ch_db_deadline_set(ch_mono_ms() + 300);
            ch_db_rollback(b->db, conn);
            ch_db_deadline_set(0);
        }
        uint64_t hits_after = ch_db_deadline_hits();
        ch_db_release(b->db, conn); /* broken: closed, not pooled */
        assert_int_equal(kill(pid, SIGCONT), 0); /* before any assertion can leave */
        assert_int_equal(err, CH_EUNAVAILABLE);
        assert_true(hits_after > hits);
    }
    /* The rolled-back row is not there; the COMMIT's outcome is unknown (the backend reads
     * it once it runs again): that is what an Idempotency-Key settles. */
    assert_int_equal(scalar(b->db, "SELECT count(*) FROM t WHERE id = 10"), 0);
}

/* ---- main --------------------------------------------------------------------------- */

#define CASE(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
#define SUITE                                                                                          \
    CASE(test_migrate_concurrent), CASE(test_migrate_again_and_schema), CASE(test_params_roundtrip),   \
        CASE(test_param_order), CASE(test_unique_conflict), CASE(test_returning), CASE(test_changes),  \
        CASE(test_rollback), CASE(test_commit), CASE(test_aborted_transaction), CASE(test_errors),     \
        CASE(test_statement_cache), CASE(test_pool_reuse), CASE(test_concurrent_writers),               \
        CASE(test_capabilities), CASE(test_deadline_refuses_and_aborts), CASE(test_deadline_lifted_after_commit), \
        CASE(test_savepoint_rollback_recovers)

int main(void)
{
    /* Expected failures (bad SQL on purpose) log at error level; keep the output readable
     * unless asked. */
    log_level = getenv("CHORUS_TEST_DB_VERBOSE") ? CH_LOG_DEBUG : CH_LOG_ERROR + 1;
    ch_log_set_level(log_level);
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_pg_down),
        cmocka_unit_test(test_rows_container),
    };
    const struct CMUnitTest sqlite[] = {SUITE, CASE(test_sqlite_settings), CASE(test_sqlite_open_errors),
                                        CASE(test_sqlite_loop_thread_never_waits), CASE(test_sqlite_loop_budget),
                                        CASE(test_sqlite_deadline)};
    const struct CMUnitTest pg[] = {SUITE, CASE(test_pg_statement_timeout), CASE(test_pg_pool_bound),
                                    CASE(test_pg_deadline_cancels), CASE(test_pg_autocommit_write_not_cancelled),
                                    CASE(test_pg_deadlines_end_rollback_and_commit)};
    int failed = cmocka_run_group_tests_name("db", common, NULL, NULL);
    failed += cmocka_run_group_tests_name("db_sqlite", sqlite, sqlite_group_setup, sqlite_group_teardown);
    failed += cmocka_run_group_tests_name("db_postgres", pg, pg_group_setup, pg_group_teardown);
    return failed ? 1 : 0;
}
