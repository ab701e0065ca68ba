/* Power-loss safety of chorusd's SQLite storage, for the default VFS and for the
 * write-gathering WAL VFS (store/sqlite_walbuf.h), in the manner of ALICE / CrashMonkey.
 *
 * A recording VFS ("rec", registered as the default VFS before walbuf is first asked
 * for, so walbuf wraps it) passes everything through to the unix VFS and logs, in order,
 * every write (offset, bytes), truncation (and deletion, as a truncation to 0) and sync of
 * the main database and its WAL while a workload runs as chorusd runs it (journal_mode=WAL,
 * synchronous=FULL): inserts of varying sizes, a transaction that spills the (small) page
 * cache, an update rewriting pages, rolled-back spills (one followed by a second
 * connection's commit over its frames), deletes, PASSIVE, TRUNCATE and RESTART checkpoints,
 * and the close. The log also marks where each COMMIT was issued and where it returned
 * (acknowledged). The -shm is not recorded: it is not durable, recovery
 * rebuilds it (each crash state is opened without one).
 *
 * Crash states: at every sync, just before every sync, and at points between syncs, the
 * files are rebuilt as a power cut could leave them (POSIX/ext4 model): for each file,
 * everything up to its last sync is there; of the writes and truncations after it, any
 * subset may have reached the disk — none, all, prefixes, per-file all/none, random subsets
 * (fixed seed), and writes torn at 512-byte sector boundaries (a random subset of the
 * write's sectors, after a prefix). Each state is opened with the unix VFS, as a restart
 * would (WAL recovery included): PRAGMA integrity_check must say ok, and the table's
 * content must be exactly the content after some committed transaction j, where j is the
 * number acknowledged at the crash point, or one more when that one's COMMIT had been
 * issued. So every acknowledged transaction is there, entirely, and no partial or
 * rolled-back transaction is ever visible.
 *
 * Negative tests show the checker can fail: the recorder drops the WAL's syncs from the
 * log, or logs WAL writes after the sync that followed them (a layer that buffers past a
 * sync); both must be caught. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/sqlite_walbuf.h"

/* Bounds that keep the test under a minute in the ASan build. */
#define PL_SECTOR 512
#define PL_POINT_STRIDE 16 /* a crash point every this many logged ops, besides syncs */
#define PL_MAX_PREFIXES 10 /* prefix states per crash point */
#define PL_RANDOM_STATES 4 /* random-subset states per crash point */
#define PL_TORN_STATES 4   /* torn-write states per crash point */
#define PL_SEED 0x5eed1234abcdULL

/* ---- the log -------------------------------------------------------------------------- */

enum { OP_WRITE, OP_TRUNC, OP_SYNC, OP_COMMIT_START, OP_ACK };
enum { F_DB, F_WAL, F_COUNT };
/* Faults the recorder can inject into the log (the negative tests). */
enum { FAULT_NONE, FAULT_DROP_WAL_SYNC, FAULT_WAL_WRITES_AFTER_SYNC };

typedef struct {
    int kind, file;
    sqlite3_int64 off; /* write: offset; truncate: the new size */
    size_t len;
    unsigned char *data; /* write: a copy of the bytes (owned by the log) */
} op_t;

typedef struct {
    op_t *ops;
    size_t n, cap;
} oplog_t;

static oplog_t rec_log;
static int rec_on;    /* record the files opened (and deleted) while set */
static int rec_fault; /* FAULT_* */
static oplog_t rec_deferred; /* FAULT_WAL_WRITES_AFTER_SYNC: WAL writes not yet logged */

static void log_push(oplog_t *l, op_t op)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->ops = realloc(l->ops, l->cap * sizeof(*l->ops));
        assert_non_null(l->ops);
    }
    l->ops[l->n++] = op;
}

static void log_clear(oplog_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->ops[i].data);
    free(l->ops);
    memset(l, 0, sizeof(*l));
}

static void log_deferred_out(void)
{
    for (size_t i = 0; i < rec_deferred.n; i++)
        log_push(&rec_log, rec_deferred.ops[i]);
    rec_deferred.n = 0; /* the data now belongs to rec_log */
}

static void log_op(int kind, int file, sqlite3_int64 off, const void *data, size_t len)
{
    op_t op = {kind, file, off, len, NULL};
    if (data) {
        op.data = malloc(len ? len : 1);
        assert_non_null(op.data);
        memcpy(op.data, data, len);
    }
    if (rec_fault == FAULT_WAL_WRITES_AFTER_SYNC && file == F_WAL) {
        if (kind == OP_WRITE) {
            log_push(&rec_deferred, op);
            return;
        }
        if (kind == OP_SYNC) {
            log_push(&rec_log, op);
            log_deferred_out();
            return;
        }
        log_deferred_out();
    }
    if (rec_fault == FAULT_DROP_WAL_SYNC && file == F_WAL && kind == OP_SYNC)
        return;
    log_push(&rec_log, op);
}

static void log_mark(int kind)
{
    op_t op = {kind, -1, 0, 0, NULL};
    log_push(&rec_log, op);
}

/* ---- the recording VFS ---------------------------------------------------------------- */

typedef struct {
    sqlite3_file base;
    sqlite3_file *real; /* the unix VFS's file object, after this struct */
    int fid;            /* F_DB, F_WAL, or -1: not recorded */
} rec_file_t;

#define REC_REAL_OFFSET ((sizeof(rec_file_t) + 15) & ~(size_t)15)
#define REAL(f) (((rec_file_t *)(f))->real)
#define FID(f) (((rec_file_t *)(f))->fid)

static sqlite3_vfs *rec_base;
static sqlite3_vfs rec_vfs;

static int r_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int r_read(sqlite3_file *f, void *d, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), d, n, o); }
static int r_write(sqlite3_file *f, const void *d, int n, sqlite3_int64 o)
{
    int rc = REAL(f)->pMethods->xWrite(REAL(f), d, n, o);
    if (rc == SQLITE_OK && FID(f) >= 0)
        log_op(OP_WRITE, FID(f), o, d, (size_t)n);
    return rc;
}
static int r_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = REAL(f)->pMethods->xTruncate(REAL(f), size);
    if (rc == SQLITE_OK && FID(f) >= 0)
        log_op(OP_TRUNC, FID(f), size, NULL, 0);
    return rc;
}
static int r_sync(sqlite3_file *f, int flags)
{
    int rc = REAL(f)->pMethods->xSync(REAL(f), flags);
    if (rc == SQLITE_OK && FID(f) >= 0)
        log_op(OP_SYNC, FID(f), 0, NULL, 0);
    return rc;
}
static int r_size(sqlite3_file *f, sqlite3_int64 *s) { return REAL(f)->pMethods->xFileSize(REAL(f), s); }
static int r_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int r_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int r_reserved(sqlite3_file *f, int *o) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), o); }
static int r_control(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int r_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int r_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int r_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **o)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, o);
}
static int r_shm_lock(sqlite3_file *f, int off, int n, int flags) { return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags); }
static void r_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int r_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int r_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp); }
static int r_unfetch(sqlite3_file *f, sqlite3_int64 o, void *pg) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, pg); }

static const sqlite3_io_methods rec_methods = {
    3,          r_close,       r_read,      r_write,   r_truncate, r_sync,    r_size,
    r_lock,     r_unlock,      r_reserved,  r_control, r_sector,   r_device,  r_shm_map,
    r_shm_lock, r_shm_barrier, r_shm_unmap, r_fetch,   r_unfetch,
};

static int r_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    rec_file_t *p = (rec_file_t *)f;
    memset(p, 0, sizeof(*p));
    p->real = (sqlite3_file *)((char *)f + REC_REAL_OFFSET);
    p->fid = !rec_on ? -1 : (flags & SQLITE_OPEN_MAIN_DB) ? F_DB : (flags & SQLITE_OPEN_WAL) ? F_WAL : -1;
    int rc = rec_base->xOpen(rec_base, name, p->real, flags, out_flags);
    f->pMethods = p->real->pMethods ? &rec_methods : NULL;
    return rc;
}

/* Deleting the WAL (at the last close) is, until a directory sync, a change that may or
 * may not survive: logged as a truncation to 0 (an empty WAL is as good as none). */
static int r_delete(sqlite3_vfs *vfs, const char *name, int dir_sync)
{
    (void)vfs;
    int rc = rec_base->xDelete(rec_base, name, dir_sync);
    size_t n = strlen(name);
    if (rc == SQLITE_OK && rec_on && n > 4 && strcmp(name + n - 4, "-wal") == 0)
        log_op(OP_TRUNC, F_WAL, 0, NULL, 0);
    return rc;
}

/* Makes rec the default VFS, over the unix VFS: before walbuf is first asked for. */
static void rec_register(void)
{
    rec_base = sqlite3_vfs_find("unix");
    assert_non_null(rec_base);
    rec_vfs = *rec_base;
    rec_vfs.zName = "rec";
    rec_vfs.szOsFile = (int)(REC_REAL_OFFSET + (size_t)rec_base->szOsFile);
    rec_vfs.xOpen = r_open;
    rec_vfs.xDelete = r_delete;
    rec_vfs.pNext = NULL;
    assert_int_equal(sqlite3_vfs_register(&rec_vfs, 1), SQLITE_OK);
}

/* ---- helpers -------------------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
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

/* FNV-1a over every row of t (id, k, v), in id order; sets *ok to 0 on an SQL error. */
static uint64_t digest(sqlite3 *db, int *ok)
{
    uint64_t h = 1469598103934665603ULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, k, v FROM t ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
        *ok = 0;
        return 0;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t nums[3] = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_bytes(st, 2)};
        const unsigned char *v = sqlite3_column_blob(st, 2);
        const unsigned char *p = (const unsigned char *)nums;
        for (size_t i = 0; i < sizeof(nums); i++)
            h = (h ^ p[i]) * 1099511628211ULL;
        for (int64_t i = 0; i < nums[2]; i++)
            h = (h ^ v[i]) * 1099511628211ULL;
    }
    if (rc != SQLITE_DONE)
        *ok = 0;
    sqlite3_finalize(st);
    return h;
}

static void put_file(const char *path, const unsigned char *data, size_t len)
{
    /* Overwritten in place, then cut: no O_TRUNC, whose truncate-then-write pattern makes
     * ext4 flush the file at close (auto_da_alloc). */
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(fd, data + done, len - done, (off_t)done);
        assert_true(w > 0);
        done += (size_t)w;
    }
    assert_int_equal(ftruncate(fd, (off_t)len), 0);
    close(fd);
}

static unsigned char *get_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

/* ---- the workload ----------------------------------------------------------------------- */

typedef struct {
    char dir[64];
    char path[96];    /* the recorded database */
    char chk[96];     /* where crash states are rebuilt */
    unsigned char *base; /* the database file before the workload (synced, WAL empty) */
    size_t base_len;
    uint64_t *digests; /* digests[j]: content after j committed transactions */
    size_t ndigests;
} run_t;

static void insert_rows(sqlite3 *db, int count, int size_min, int size_max)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(k, v) VALUES (?, ?)", -1, &st, NULL), SQLITE_OK);
    unsigned char *buf = malloc((size_t)size_max);
    assert_non_null(buf);
    for (int i = 0; i < count; i++) {
        int size = size_min + (int)(rng() % (uint64_t)(size_max - size_min + 1));
        for (int b = 0; b < size; b++)
            buf[b] = (unsigned char)rng();
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(rng() % 1000));
        sqlite3_bind_blob(st, 2, buf, size, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    free(buf);
}

static void begin(sqlite3 *db) { exec_ok(db, "BEGIN IMMEDIATE"); }

/* COMMIT, marked in the log where it is issued and where it returns. */
static void commit(run_t *r, sqlite3 *db)
{
    log_mark(OP_COMMIT_START);
    exec_ok(db, "COMMIT");
    log_mark(OP_ACK);
    int ok = 1;
    r->digests = realloc(r->digests, (r->ndigests + 1) * sizeof(*r->digests));
    assert_non_null(r->digests);
    r->digests[r->ndigests++] = digest(db, &ok);
    assert_true(ok);
}

static void checkpoint(sqlite3 *db, int mode)
{
    int frames = 0, done = 0;
    assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, mode, &frames, &done), SQLITE_OK);
}

/* Runs the workload through vfs (its writes recorded below it) in a fresh directory. */
static void run_workload(run_t *r, const char *vfs, int fault)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/chorus-powerloss-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->path, sizeof(r->path), "%s/w.db", r->dir);
    snprintf(r->chk, sizeof(r->chk), "%s/c.db", r->dir);
    rng_state = PL_SEED;

    /* The starting point, unrecorded: schema in a WAL database, closed (checkpointed). */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(r->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL");
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v BLOB NOT NULL);"
                "CREATE INDEX t_k ON t(k, id)");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    r->base = get_file(r->path, &r->base_len);

    log_clear(&rec_log);
    rec_fault = fault;
    rec_on = 1;
    db = NULL;
    /* As db_sqlite.c opens a connection; the small cache makes transactions spill. */
    assert_int_equal(sqlite3_open_v2(r->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, vfs),
                     SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL");
    exec_ok(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=24");
    int ok = 1;
    r->digests = malloc(sizeof(*r->digests));
    assert_non_null(r->digests);
    r->digests[r->ndigests++] = digest(db, &ok);

    begin(db); /* small rows */
    insert_rows(db, 30, 20, 200);
    commit(r, db);
    begin(db); /* overflow pages */
    insert_rows(db, 8, 3000, 9000);
    commit(r, db);
    begin(db); /* spills the cache: frames written before the commit, rewritten at it */
    insert_rows(db, 120, 400, 1500);
    exec_ok(db, "UPDATE t SET k = k + 1 WHERE id % 3 = 0");
    commit(r, db);
    checkpoint(db, SQLITE_CHECKPOINT_PASSIVE);
    begin(db); /* rewrites pages spread over the table */
    exec_ok(db, "UPDATE t SET v = substr(v, 2) || x'5a', k = k * 7 % 1000 WHERE id % 2 = 1");
    commit(r, db);
    begin(db); /* a spill rolled back: its frames must never count */
    exec_ok(db, "DELETE FROM t WHERE id % 5 = 0");
    insert_rows(db, 100, 500, 1200);
    exec_ok(db, "ROLLBACK");
    checkpoint(db, SQLITE_CHECKPOINT_TRUNCATE);
    /* Another, of inserts only into an empty WAL (nothing read back from it: with walbuf,
     * frames are still gathered when the lock goes) ... */
    begin(db);
    insert_rows(db, 60, 2000, 3000);
    exec_ok(db, "ROLLBACK");
    /* ... then a second connection (chorusd pools them) commits over those frames. */
    sqlite3 *db2 = NULL;
    assert_int_equal(sqlite3_open_v2(r->path, &db2, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs), SQLITE_OK);
    exec_ok(db2, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=24");
    begin(db2);
    insert_rows(db2, 5, 100, 3000);
    commit(r, db2);
    begin(db); /* and the first one after it */
    insert_rows(db, 4, 1000, 2000);
    commit(r, db);
    assert_int_equal(sqlite3_close(db2), SQLITE_OK); /* not the last: no checkpoint */
    begin(db);
    insert_rows(db, 40, 50, 2500);
    commit(r, db);
    begin(db);
    exec_ok(db, "DELETE FROM t WHERE id % 4 = 1");
    commit(r, db);
    checkpoint(db, SQLITE_CHECKPOINT_RESTART);
    begin(db); /* the WAL starts over: new salts, frames over old ones */
    insert_rows(db, 3, 10, 100);
    commit(r, db);
    begin(db);
    insert_rows(db, 60, 300, 1800);
    exec_ok(db, "UPDATE t SET k = k + 1000 WHERE id % 6 = 0");
    commit(r, db);
    checkpoint(db, SQLITE_CHECKPOINT_PASSIVE);
    begin(db);
    exec_ok(db, "UPDATE t SET v = x'00' || v WHERE id % 3 = 2");
    commit(r, db);
    assert_int_equal(sqlite3_close(db), SQLITE_OK); /* checkpoints and deletes the WAL */
    rec_on = 0;
    log_deferred_out();
    rec_fault = FAULT_NONE;
}

static void run_clear(run_t *r)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", r->dir);
    free(r->base);
    free(r->digests);
    log_clear(&rec_log);
}

/* ---- crash states ----------------------------------------------------------------------- */

typedef struct {
    unsigned char *data;
    size_t len, cap;
} image_t;

static void image_size(image_t *im, size_t len)
{
    if (len > im->cap || !im->data) {
        size_t cap = im->cap ? im->cap : 65536;
        while (cap < len)
            cap *= 2;
        im->data = realloc(im->data, cap);
        assert_non_null(im->data);
        im->cap = cap;
    }
    if (len > im->len)
        memset(im->data + im->len, 0, len - im->len); /* a hole reads as zeros */
    im->len = len;
}

static void image_copy(image_t *dst, const image_t *src)
{
    dst->len = 0;
    image_size(dst, src->len);
    memcpy(dst->data, src->data, src->len);
}

/* Applies op; torn: only the 512-byte sectors of the write whose bit in sectors is set. */
static void image_apply(image_t *im, const op_t *op, int torn, uint64_t sectors)
{
    if (op->kind == OP_TRUNC) {
        if ((size_t)op->off < im->len)
            im->len = (size_t)op->off;
        else
            image_size(im, (size_t)op->off);
        return;
    }
    size_t off = (size_t)op->off, end = off + op->len;
    for (size_t at = off; at < end;) {
        size_t next = (at / PL_SECTOR + 1) * PL_SECTOR;
        if (next > end)
            next = end;
        size_t sector = (at - off / PL_SECTOR * PL_SECTOR) / PL_SECTOR;
        if (!torn || (sectors >> (sector % 64)) & 1) {
            if (next > im->len)
                image_size(im, next);
            memcpy(im->data + at, op->data + (at - off), next - at);
        }
        at = next;
    }
}

/* Actions on the pending ops of a crash state. */
enum { A_SKIP, A_APPLY, A_TORN };

typedef struct {
    const run_t *run;
    const oplog_t *log;
    image_t durable[F_COUNT];
    image_t work[F_COUNT];
    size_t *pending; /* indices of the writes and truncations after each file's last sync */
    size_t npending;
    unsigned char *act;
    uint64_t *sectors;
    size_t acked;     /* transactions acknowledged at the crash point */
    int committing;   /* a COMMIT was issued and has not returned */
    /* results */
    size_t points, states, failures;
    int stop_at_first;
} checker_t;

/* Rebuilds the files of one crash state, opens them as a restart would, checks them. */
static void check_state(checker_t *c, size_t point, const char *what)
{
    for (int f = 0; f < F_COUNT; f++)
        image_copy(&c->work[f], &c->durable[f]);
    for (size_t i = 0; i < c->npending; i++) {
        const op_t *op = &c->log->ops[c->pending[i]];
        if (c->act[i] != A_SKIP)
            image_apply(&c->work[op->file], op, c->act[i] == A_TORN, c->sectors[i]);
    }
    char wal[128], shm[128];
    snprintf(wal, sizeof(wal), "%s-wal", c->run->chk);
    snprintf(shm, sizeof(shm), "%s-shm", c->run->chk);
    put_file(c->run->chk, c->work[F_DB].data, c->work[F_DB].len);
    put_file(wal, c->work[F_WAL].data, c->work[F_WAL].len);
    unlink(shm); /* not durable: recovery rebuilds it */

    c->states++;
    sqlite3 *db = NULL;
    char problem[256] = "";
    int rc = sqlite3_open_v2(c->run->chk, &db, SQLITE_OPEN_READWRITE, "unix");
    /* The copy is scratch: no checkpoint at its close, nothing synced. */
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(st, 0);
        if (!res || strcmp(res, "ok") != 0)
            snprintf(problem, sizeof(problem), "integrity_check: %s", res ? res : "(null)");
    } else {
        snprintf(problem, sizeof(problem), "cannot open or check: %s", db ? sqlite3_errmsg(db) : "?");
    }
    sqlite3_finalize(st);
    if (!problem[0]) {
        int ok = 1;
        uint64_t h = digest(db, &ok);
        int allowed = 0, match = 0;
        size_t found = 0;
        for (size_t j = 0; j < c->run->ndigests; j++) {
            if (c->run->digests[j] != h)
                continue;
            match = 1;
            found = j;
            allowed |= j >= c->acked && j <= c->acked + (size_t)c->committing;
        }
        if (!ok)
            snprintf(problem, sizeof(problem), "cannot read t: %s", sqlite3_errmsg(db));
        else if (!match)
            snprintf(problem, sizeof(problem), "content is no committed state (%zu acknowledged)", c->acked);
        else if (!allowed)
            snprintf(problem, sizeof(problem), "content is that after %zu transactions, %zu acknowledged%s", found,
                     c->acked, c->committing ? " (+1 committing)" : "");
    }
    sqlite3_close(db);
    if (problem[0]) {
        if (c->failures < 5)
            print_message("crash point %zu/%zu (%s, %zu pending): %s\n", point, c->log->n, what, c->npending,
                          problem);
        c->failures++;
    }
}

static void set_all(checker_t *c, unsigned char a)
{
    memset(c->act, a, c->npending);
}

/* The states checked at one crash point. */
static void check_point(checker_t *c, size_t point)
{
    c->points++;
    size_t n = c->npending;
    set_all(c, A_SKIP);
    check_state(c, point, "none");
    if (n == 0)
        return;
    set_all(c, A_APPLY);
    check_state(c, point, "all");
    /* Prefixes in log order (across files). */
    size_t steps = n - 1 < PL_MAX_PREFIXES ? n - 1 : PL_MAX_PREFIXES;
    for (size_t s = 1; s <= steps; s++) {
        size_t k = s * n / (steps + 1);
        if (k == 0)
            continue;
        set_all(c, A_SKIP);
        memset(c->act, A_APPLY, k);
        check_state(c, point, "prefix");
    }
    /* One file's pending ops all there, the other's none. */
    for (int f = 0; f < F_COUNT; f++) {
        int mixed = 0;
        for (size_t i = 0; i < n; i++) {
            c->act[i] = c->log->ops[c->pending[i]].file == f ? A_APPLY : A_SKIP;
            mixed |= c->act[i] != c->act[0];
        }
        if (mixed)
            check_state(c, point, "one file");
    }
    for (int s = 0; s < PL_RANDOM_STATES && n > 1; s++) {
        for (size_t i = 0; i < n; i++)
            c->act[i] = rng() & 1 ? A_APPLY : A_SKIP;
        check_state(c, point, "random subset");
    }
    /* Torn: a prefix, then one write of which only some sectors reached the disk. */
    for (int s = 0; s < PL_TORN_STATES; s++) {
        size_t w = (size_t)(rng() % n);
        const op_t *op = &c->log->ops[c->pending[w]];
        if (op->kind != OP_WRITE || op->len <= PL_SECTOR)
            continue;
        set_all(c, A_SKIP);
        memset(c->act, A_APPLY, w);
        c->act[w] = A_TORN;
        c->sectors[w] = rng();
        check_state(c, point, "torn write");
    }
}

/* Walks the log, keeping each file's durable image, and checks the crash states. */
static void check_log(const run_t *r, checker_t *c, int stop_at_first)
{
    const oplog_t *log = &rec_log;
    memset(c, 0, sizeof(*c));
    c->stop_at_first = stop_at_first;
    c->run = r;
    c->log = log;
    c->pending = calloc(log->n + 1, sizeof(*c->pending));
    c->act = calloc(log->n + 1, 1);
    c->sectors = calloc(log->n + 1, sizeof(*c->sectors));
    assert_true(c->pending && c->act && c->sectors);
    image_size(&c->durable[F_DB], r->base_len);
    memcpy(c->durable[F_DB].data, r->base, r->base_len);
    image_size(&c->durable[F_WAL], 0);
    image_size(&c->work[F_DB], 0);
    image_size(&c->work[F_WAL], 0);
    rng_state = PL_SEED ^ 0x9e3779b97f4a7c15ULL;

    for (size_t p = 0; p <= log->n && !(c->stop_at_first && c->failures); p++) {
        /* Crash point p: ops [0, p) were issued. */
        int after_sync = p > 0 && log->ops[p - 1].kind == OP_SYNC;
        int before_sync = p < log->n && log->ops[p].kind == OP_SYNC;
        if (after_sync || before_sync || p == log->n || p % PL_POINT_STRIDE == 0)
            check_point(c, p);
        if (p == log->n)
            break;
        const op_t *op = &log->ops[p];
        switch (op->kind) {
        case OP_WRITE:
        case OP_TRUNC:
            c->pending[c->npending++] = p;
            break;
        case OP_SYNC: { /* the file's pending ops are durable now, in order */
            size_t keep = 0;
            for (size_t i = 0; i < c->npending; i++) {
                const op_t *q = &log->ops[c->pending[i]];
                if (q->file == op->file)
                    image_apply(&c->durable[q->file], q, 0, 0);
                else
                    c->pending[keep++] = c->pending[i];
            }
            c->npending = keep;
            break;
        }
        case OP_COMMIT_START:
            c->committing = 1;
            break;
        case OP_ACK:
            c->committing = 0;
            c->acked++;
            break;
        }
    }
    for (int f = 0; f < F_COUNT; f++) {
        free(c->durable[f].data);
        free(c->work[f].data);
    }
    free(c->pending);
    free(c->act);
    free(c->sectors);
}

/* WAL writes made outside any COMMIT: frames a transaction spilled from the cache. */
static size_t count_spill_writes(void)
{
    size_t n = 0;
    int committing = 0;
    for (size_t i = 0; i < rec_log.n; i++) {
        const op_t *op = &rec_log.ops[i];
        committing = op->kind == OP_COMMIT_START ? 1 : op->kind == OP_ACK ? 0 : committing;
        n += op->kind == OP_WRITE && op->file == F_WAL && !committing;
    }
    return n;
}

static size_t count_kind(int kind, int file)
{
    size_t n = 0;
    for (size_t i = 0; i < rec_log.n; i++)
        n += rec_log.ops[i].kind == kind && (file < 0 || rec_log.ops[i].file == file);
    return n;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void power_loss(const char *vfs, const char *label)
{
    run_t r;
    run_workload(&r, vfs, FAULT_NONE);
    assert_int_equal(r.ndigests, 12); /* the empty table and eleven commits */
    assert_true(count_kind(OP_SYNC, F_WAL) >= 10);
    assert_true(count_kind(OP_SYNC, F_DB) >= 3);
    assert_true(count_kind(OP_TRUNC, F_WAL) >= 1);
    assert_true(count_spill_writes() > 0);
    for (size_t i = 0; i < r.ndigests; i++) /* each commit changed the content */
        for (size_t j = i + 1; j < r.ndigests; j++)
            assert_true(r.digests[i] != r.digests[j]);
    checker_t c;
    check_log(&r, &c, 0);
    print_message("%s: %zu ops (%zu WAL writes, %zu of them spills; %zu syncs), %zu crash points, %zu states, "
                  "%zu failures\n",
                  label, rec_log.n, count_kind(OP_WRITE, F_WAL), count_spill_writes(), count_kind(OP_SYNC, -1), c.points,
                  c.states, c.failures);
    run_clear(&r);
    assert_int_equal(c.failures, 0);
}

static void test_default_vfs_survives_power_loss(void **state)
{
    (void)state;
    power_loss("rec", "default VFS");
}

static void test_walbuf_survives_power_loss(void **state)
{
    (void)state;
    const char *vfs = ch_sqlite_walbuf_vfs();
    assert_non_null(vfs);
    uint64_t asked0, written0, asked1, written1;
    ch_sqlite_walbuf_stats(&asked0, &written0);
    power_loss(vfs, "walbuf");
    ch_sqlite_walbuf_stats(&asked1, &written1);
    assert_true(written1 - written0 < asked1 - asked0); /* it did gather */
}

/* The checker catches a log that lost durability; stops at the first failure. */
static void caught(const char *vfs, int fault)
{
    run_t r;
    run_workload(&r, vfs, fault);
    checker_t c;
    check_log(&r, &c, 1);
    run_clear(&r);
    assert_true(c.failures > 0);
}

static void test_checker_catches_a_dropped_wal_sync(void **state)
{
    (void)state;
    caught("rec", FAULT_DROP_WAL_SYNC);
    caught(ch_sqlite_walbuf_vfs(), FAULT_DROP_WAL_SYNC);
}

static void test_checker_catches_wal_writes_after_the_sync(void **state)
{
    (void)state;
    caught("rec", FAULT_WAL_WRITES_AFTER_SYNC);
    caught(ch_sqlite_walbuf_vfs(), FAULT_WAL_WRITES_AFTER_SYNC);
}

/* A torn write leaves exactly the chosen 512-byte sectors (file-aligned) of the write. */
static void test_torn_write_keeps_only_its_chosen_sectors(void **state)
{
    (void)state;
    unsigned char bytes[1536];
    memset(bytes, 0xab, sizeof(bytes));
    op_t op = {OP_WRITE, F_WAL, 256, sizeof(bytes), bytes};
    image_t im = {0};
    image_size(&im, 0);
    image_apply(&im, &op, 1, 0x5); /* sectors [0, 512) and [1024, 1536) of the file */
    assert_int_equal(im.len, 1536);
    for (size_t i = 0; i < im.len; i++)
        assert_int_equal(im.data[i], i >= 256 && (i < 512 || i >= 1024) ? 0xab : 0);
    image_apply(&im, &op, 1, 0x8); /* the write's last sector: [1536, 1792) */
    assert_int_equal(im.len, 1792);
    assert_int_equal(im.data[1600], 0xab);
    assert_int_equal(im.data[700], 0);
    free(im.data);
}

int main(void)
{
    rec_register(); /* before walbuf is first asked for: walbuf wraps it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torn_write_keeps_only_its_chosen_sectors),
        cmocka_unit_test(test_default_vfs_survives_power_loss),
        cmocka_unit_test(test_walbuf_survives_power_loss),
        cmocka_unit_test(test_checker_catches_a_dropped_wal_sync),
        cmocka_unit_test(test_checker_catches_wal_writes_after_the_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
