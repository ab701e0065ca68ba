/* The write-gathering WAL VFS (store/sqlite_walbuf.h), through SQLite's own API: what a
 * connection commits is what every other connection, a reopened file, and a process that
 * died right after the commit see; and a commit's frames reach the file in few writes.
 *
 * Underneath it (registered as the default VFS before the first test, so the VFS under
 * test wraps it) runs a pass-through "probe" VFS that sees what really reaches the files:
 * it counts WAL writes made after a commit was published to other connections (the
 * barrier inside SQLite's wal-index header write) and before the write lock was given up,
 * and can fail chosen WAL writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/sqlite_walbuf.h"

/* ---- the probe VFS ------------------------------------------------------------------ */

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;
    int is_wal;
    sqlite3_int64 end; /* WAL: highest offset written so far */
} probe_file_t;

static sqlite3_vfs *probe_base;
static sqlite3_vfs probe_vfs;
static int probe_published;   /* a commit was published and its write lock is still held */
static int probe_late_writes; /* WAL writes seen while probe_published */
static int probe_fail_commit_rewrite; /* fail rewrites of a commit frame's header */

#define REAL(f) (((probe_file_t *)(f))->real)

static int p_close(sqlite3_file *f)
{
    int rc = REAL(f)->pMethods->xClose(REAL(f));
    free(REAL(f));
    return rc;
}
static int p_read(sqlite3_file *f, void *d, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), d, n, o); }
static int p_write(sqlite3_file *f, const void *d, int n, sqlite3_int64 o)
{
    probe_file_t *p = (probe_file_t *)f;
    if (p->is_wal) {
        const unsigned char *h = d;
        probe_late_writes += probe_published;
        if (probe_fail_commit_rewrite && n == 24 && o + n <= p->end && (h[4] | h[5] | h[6] | h[7]))
            return SQLITE_IOERR_WRITE;
        if (o + n > p->end)
            p->end = o + n;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), d, n, o);
}
static int p_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    if (((probe_file_t *)f)->is_wal)
        ((probe_file_t *)f)->end = size;
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int p_sync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }
static int p_size(sqlite3_file *f, sqlite3_int64 *s) { return REAL(f)->pMethods->xFileSize(REAL(f), s); }
static int p_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int p_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int p_reserved(sqlite3_file *f, int *o) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), o); }
static int p_control(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int p_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int p_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int p_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **o)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, o);
}
static int p_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    if ((flags & SQLITE_SHM_UNLOCK) && off == 0) /* lock 0: WAL_WRITE_LOCK */
        probe_published = 0;
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
/* SQLite publishes a commit by writing the second copy of the wal-index header, a barrier,
 * then the first: at a barrier where the copies differ and the second has frames, the
 * commit is visible to other connections from now on. */
static void p_shm_barrier(sqlite3_file *f)
{
    void volatile *m = NULL;
    if (REAL(f)->pMethods->xShmMap(REAL(f), 0, 32768, 0, &m) == SQLITE_OK && m) {
        const unsigned char *h = (const unsigned char *)m;
        uint32_t mx_frame;
        memcpy(&mx_frame, h + 48 + 16, sizeof(mx_frame));
        if (memcmp(h, h + 48, 48) != 0 && mx_frame != 0)
            probe_published = 1;
    }
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int p_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int p_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp); }
static int p_unfetch(sqlite3_file *f, sqlite3_int64 o, void *pg) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, pg); }

static const sqlite3_io_methods probe_methods = {
    3,         p_close,  p_read,     p_write,       p_truncate,   p_sync,      p_size,
    p_lock,    p_unlock, p_reserved, p_control,     p_sector,     p_device,    p_shm_map,
    p_shm_lock, p_shm_barrier, p_shm_unmap, p_fetch, p_unfetch,
};

static int p_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    probe_file_t *p = (probe_file_t *)f;
    memset(p, 0, sizeof(*p));
    p->real = calloc(1, (size_t)probe_base->szOsFile);
    if (!p->real)
        return SQLITE_NOMEM;
    int rc = probe_base->xOpen(probe_base, name, p->real, flags, out_flags);
    if (p->real->pMethods) {
        f->pMethods = &probe_methods;
    } else {
        free(p->real);
        f->pMethods = NULL;
    }
    p->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    return rc;
}

/* Makes the probe the default VFS: call before the VFS under test is first asked for. */
static void probe_register(void)
{
    probe_base = sqlite3_vfs_find(NULL);
    probe_vfs = *probe_base;
    probe_vfs.zName = "probe";
    probe_vfs.szOsFile = (int)sizeof(probe_file_t);
    probe_vfs.xOpen = p_open;
    probe_vfs.pNext = NULL;
    sqlite3_vfs_register(&probe_vfs, 1);
}

/* ---- fixture and helpers ------------------------------------------------------------- */

typedef struct {
    char dir[64];
    char path[96];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/chorus-walbuf-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    assert_int_equal(rc, SQLITE_OK);
}

/* A connection through the VFS (vfs NULL: SQLite's default) with the given synchronous. */
static sqlite3 *open_db(const fx_t *f, const char *vfs, const char *synchronous)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    exec_ok(db, "PRAGMA journal_mode=WAL");
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", synchronous);
    exec_ok(db, sql);
    return db;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* Inserts rows [from, from + n) of `size` random bytes each in one statement; returns
 * SQLite's result (for use in a forked child, where cmocka's asserts must not run). */
static int try_insert(sqlite3 *db, int from, int n, int size)
{
    char sql[160];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE k(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM k WHERE i < %d)"
             " INSERT INTO t(id, body) SELECT i, randomblob(%d) FROM k",
             from, from + n - 1, size);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void insert(sqlite3 *db, int from, int n, int size)
{
    assert_int_equal(try_insert(db, from, n, size), SQLITE_OK);
}

static void test_vfs_is_registered(void **state)
{
    (void)state;
    const char *name = ch_sqlite_walbuf_vfs();
    assert_non_null(name);
    assert_ptr_equal(ch_sqlite_walbuf_vfs(), name); /* once */
    assert_non_null(sqlite3_vfs_find(name));
    assert_ptr_not_equal(sqlite3_vfs_find(NULL), sqlite3_vfs_find(name)); /* not the default */
}

/* Small and large commits (past the gathering buffer and the default VFS's largest single
 * write) are seen at once by another connection, then by the file reopened without us. */
static void test_commits_are_seen_by_others_and_on_reopen(void **state)
{
    fx_t *f = *state;
    const char *vfs = ch_sqlite_walbuf_vfs();
    sqlite3 *w = open_db(f, vfs, "FULL"), *r = open_db(f, vfs, "FULL");
    exec_ok(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    uint64_t asked0, written0, asked1, written1;
    ch_sqlite_walbuf_stats(&asked0, &written0);
    int rows = 0;
    int64_t bytes = 0;
    for (int i = 0; i < 40; i++) {
        int n = i % 10 == 9 ? 600 : 20, size = i % 10 == 9 ? 3000 : 200; /* every 10th: ~2 MB */
        insert(w, rows + 1, n, size);
        rows += n;
        bytes += (int64_t)n * size;
        assert_int_equal(scalar(r, "SELECT COUNT(*) FROM t"), rows);
        assert_int_equal(scalar(r, "SELECT SUM(length(body)) FROM t"), bytes);
    }
    ch_sqlite_walbuf_stats(&asked1, &written1);
    /* SQLite asks for two writes per frame; far fewer reach the file. */
    assert_true(asked1 - asked0 > 1000);
    assert_true((written1 - written0) * 4 < asked1 - asked0);
    sqlite3_close(r);
    sqlite3_close(w);

    sqlite3 *plain = open_db(f, NULL, "FULL");
    integrity_ok(plain);
    assert_int_equal(scalar(plain, "SELECT COUNT(*) FROM t"), rows);
    assert_int_equal(scalar(plain, "SELECT SUM(length(body)) FROM t"), bytes);
    sqlite3_close(plain);
}

/* A transaction larger than the page cache spills frames to the WAL, reads them back and
 * rewrites them before its commit; a checkpoint then restarts the WAL from its start. */
static void test_spills_rewrites_and_wal_restart(void **state)
{
    fx_t *f = *state;
    const char *vfs = ch_sqlite_walbuf_vfs();
    sqlite3 *w = open_db(f, vfs, "FULL"), *r = open_db(f, vfs, "FULL");
    exec_ok(w, "PRAGMA cache_size=8");
    exec_ok(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    exec_ok(w, "BEGIN");
    insert(w, 1, 2000, 500);
    for (int pass = 0; pass < 3; pass++)
        exec_ok(w, "UPDATE t SET body = randomblob(400 + id % 200)");
    exec_ok(w, "COMMIT");
    int64_t expect = scalar(w, "SELECT SUM(length(body)) FROM t");
    assert_int_equal(scalar(r, "SELECT SUM(length(body)) FROM t"), expect);
    assert_int_equal(scalar(r, "SELECT COUNT(*) FROM t"), 2000);

    exec_ok(r, "PRAGMA wal_checkpoint(TRUNCATE)");
    for (int i = 0; i < 5; i++)
        insert(w, 3000 + i * 10, 10, 1000);
    assert_int_equal(scalar(r, "SELECT COUNT(*) FROM t"), 2050);
    integrity_ok(r);
    sqlite3_close(r);
    sqlite3_close(w);
    sqlite3 *plain = open_db(f, NULL, "FULL");
    integrity_ok(plain);
    assert_int_equal(scalar(plain, "SELECT COUNT(*) FROM t"), 2050);
    sqlite3_close(plain);
}

/* A process that dies right after its commits returned, without closing anything, has
 * lost none of them: with synchronous=FULL (each commit synced) and with NORMAL (no sync:
 * the frames reach the file when the commit is published to other connections). */
static void crash_after_commits(fx_t *f, const char *synchronous)
{
    const char *vfs = ch_sqlite_walbuf_vfs();
    sqlite3 *setup_db = open_db(f, vfs, "FULL");
    exec_ok(setup_db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    sqlite3_close(setup_db);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        sqlite3 *db = NULL;
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", synchronous);
        if (sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, vfs) != SQLITE_OK ||
            sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            _exit(2);
        for (int i = 0; i < 30; i++)
            if (try_insert(db, i * 50 + 1, 50, 700) != SQLITE_OK)
                _exit(3);
        _exit(0); /* no close, no flush: as if killed */
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sqlite3 *plain = open_db(f, NULL, "FULL");
    integrity_ok(plain);
    assert_int_equal(scalar(plain, "SELECT COUNT(*) FROM t"), 1500);
    assert_int_equal(scalar(plain, "SELECT SUM(length(body)) FROM t"), 1500 * 700);
    sqlite3_close(plain);
}

static void test_process_death_after_commit_full(void **state)
{
    crash_after_commits(*state, "FULL");
}

static void test_process_death_after_commit_normal(void **state)
{
    crash_after_commits(*state, "NORMAL");
}

/* A transaction that spilled frames into the WAL and rolled back, then another
 * connection's commit over the same part of the WAL, then the first connection used and
 * closed: the commit stays whole (the spilled frames went to the file before the write
 * lock was given up, not over the other connection's frames later). */
static void test_rolled_back_spill_never_lands_over_a_later_commit(void **state)
{
    fx_t *f = *state;
    const char *vfs = ch_sqlite_walbuf_vfs();
    sqlite3 *a = open_db(f, vfs, "FULL"), *b = open_db(f, vfs, "FULL");
    exec_ok(a, "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    insert(a, 1, 10, 100);
    exec_ok(a, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec_ok(a, "PRAGMA cache_size=5");
    exec_ok(a, "BEGIN");
    insert(a, 1001, 60, 3000); /* far more than 5 pages: spilled */
    exec_ok(a, "ROLLBACK");
    insert(b, 5001, 60, 3000);
    assert_int_equal(scalar(a, "SELECT COUNT(*) FROM t"), 70); /* a's next read transaction */
    sqlite3_close(a);
    assert_int_equal(scalar(b, "SELECT COUNT(*) FROM t WHERE id > 5000"), 60);
    sqlite3_close(b);
    sqlite3 *plain = open_db(f, NULL, "FULL");
    integrity_ok(plain);
    assert_int_equal(scalar(plain, "SELECT COUNT(*) FROM t"), 70);
    assert_int_equal(scalar(plain, "SELECT COUNT(*) FROM t WHERE id BETWEEN 1001 AND 1060"), 0);
    sqlite3_close(plain);
}

/* A write error reaches the commit that needed the write, whatever the synchronous level:
 * a child process limited to a small file size (RLIMIT_FSIZE, SIGXFSZ ignored) inserts
 * until SQLite refuses; every insert it was told succeeded is there afterwards and the
 * database is intact. */
static void test_write_errors_fail_the_commit(void **state)
{
    fx_t *f = *state;
    const char *vfs = ch_sqlite_walbuf_vfs();
    sqlite3 *setup_db = open_db(f, vfs, "FULL");
    exec_ok(setup_db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    sqlite3_close(setup_db);
    const char *levels[] = {"FULL", "NORMAL"};
    for (size_t l = 0; l < 2; l++) {
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            signal(SIGXFSZ, SIG_IGN);
            sqlite3 *db = NULL;
            char sql[64];
            snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", levels[l]);
            if (sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, vfs) != SQLITE_OK ||
                sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
                sqlite3_exec(db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL) != SQLITE_OK)
                _exit(100);
            struct rlimit limit = {400000, 400000};
            if (setrlimit(RLIMIT_FSIZE, &limit) != 0)
                _exit(101);
            int ok = 0;
            for (int i = 0; i < 20; i++)
                if (try_insert(db, (int)l * 10000 + i * 25 + 1, 25, 3000) == SQLITE_OK)
                    ok++;
            _exit(ok); /* how many inserts were acknowledged */
        }
        int status = 0;
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFEXITED(status));
        int acknowledged = WEXITSTATUS(status);
        assert_true(acknowledged < 20); /* the limit was hit */
        sqlite3 *plain = open_db(f, NULL, "FULL");
        integrity_ok(plain);
        char sql[96];
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM t WHERE id > %d AND id <= %d", (int)l * 10000,
                 (int)l * 10000 + 9999);
        assert_int_equal(scalar(plain, sql), acknowledged * 25);
        exec_ok(plain, "PRAGMA wal_checkpoint(TRUNCATE)"); /* room for the next level */
        sqlite3_close(plain);
    }
}

/* A transaction whose cache spills pages to the WAL and then changes them again (SQLite
 * rewrites the spilled frames' checksums after the commit frame): with synchronous=NORMAL
 * (no sync to flush at), every WAL write of the commit is in the file before the commit is
 * published, and a failed checksum rewrite fails the COMMIT instead of being lost. */
static void spill_and_rewrite(fx_t *f, const char *synchronous, int fail_rewrite)
{
    sqlite3 *db = open_db(f, ch_sqlite_walbuf_vfs(), synchronous);
    exec_ok(db, "PRAGMA wal_autocheckpoint=0");
    exec_ok(db, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    exec_ok(db, "DELETE FROM t");
    insert(db, 1, 10, 100);
    exec_ok(db, "PRAGMA cache_size=5");
    exec_ok(db, "BEGIN");
    insert(db, 100, 301, 500);
    exec_ok(db, "UPDATE t SET body = randomblob(450) WHERE id >= 100");
    probe_published = probe_late_writes = 0;
    probe_fail_commit_rewrite = fail_rewrite;
    int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    probe_fail_commit_rewrite = 0;
    assert_int_equal(probe_late_writes, 0);
    if (fail_rewrite) {
        assert_int_not_equal(rc, SQLITE_OK);
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        assert_int_equal(scalar(db, "SELECT COUNT(*) FROM t"), 10);
    } else {
        assert_int_equal(rc, SQLITE_OK);
        assert_int_equal(scalar(db, "SELECT COUNT(*) FROM t"), 311);
    }
    sqlite3_close(db);
    sqlite3 *plain = open_db(f, NULL, "FULL");
    integrity_ok(plain);
    assert_int_equal(scalar(plain, "SELECT COUNT(*) FROM t"), fail_rewrite ? 10 : 311);
    sqlite3_close(plain);
}

static void test_commit_writes_precede_publishing(void **state)
{
    spill_and_rewrite(*state, "FULL", 0);
    spill_and_rewrite(*state, "NORMAL", 0);
}

static void test_failed_checksum_rewrite_fails_the_commit(void **state)
{
    spill_and_rewrite(*state, "NORMAL", 1);
}

/* Frames written early (a cache flush inside the transaction) and then written again at
 * the same WAL offsets before the commit: the later content wins, as without us. */
static void test_frames_rewritten_in_place_keep_the_latest(void **state)
{
    fx_t *f = *state;
    const char *vfs = ch_sqlite_walbuf_vfs();
    sqlite3 *a = open_db(f, vfs, "FULL");
    exec_ok(a, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, body BLOB NOT NULL)");
    exec_ok(a, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 400)"
               " INSERT INTO t SELECT i, 0, randomblob(1500) FROM k");
    exec_ok(a, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec_ok(a, "BEGIN");
    exec_ok(a, "UPDATE t SET n = 1 WHERE id <= 40");
    assert_int_equal(sqlite3_db_cacheflush(a), SQLITE_OK);
    exec_ok(a, "UPDATE t SET n = 2 WHERE id <= 40");
    exec_ok(a, "UPDATE t SET n = 2 WHERE id > 40");
    exec_ok(a, "COMMIT");
    sqlite3 *r = open_db(f, vfs, "FULL");
    assert_int_equal(scalar(r, "SELECT SUM(n) FROM t"), 800);
    sqlite3_close(r);
    sqlite3_close(a);
    sqlite3 *plain = open_db(f, NULL, "FULL");
    integrity_ok(plain);
    assert_int_equal(scalar(plain, "SELECT SUM(n) FROM t"), 800);
    sqlite3_close(plain);
}

int main(void)
{
    probe_register();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vfs_is_registered),
        cmocka_unit_test_setup_teardown(test_commits_are_seen_by_others_and_on_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spills_rewrites_and_wal_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_process_death_after_commit_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_process_death_after_commit_normal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_spill_never_lands_over_a_later_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_errors_fail_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_writes_precede_publishing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_checksum_rewrite_fails_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frames_rewritten_in_place_keep_the_latest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
