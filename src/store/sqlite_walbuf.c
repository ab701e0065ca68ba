/* The write-gathering WAL VFS of sqlite_walbuf.h. Each file object is ours
 * (ch__wb_file_t) followed by the default VFS's own file object, which does the I/O; a
 * file object belongs to one connection, so no locking is needed here.
 *
 * SQLite writes a WAL frame as its 24-byte header, then the page. A header whose bytes
 * 4..7 (the database size after the commit) are not zero marks the commit frame: once its
 * page is gathered, everything goes to the file within that xWrite, whose result is the
 * write's; from then on until the write lock is given up, writes go straight through with
 * their own results (checksum rewrites of spilled frames, sector padding), so all of a
 * commit's WAL writes are in the file, or have failed it, before SQLite syncs or (with
 * synchronous below FULL) publishes it. */
#include "store/sqlite_walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define CH__WB_NAME "chorus-walbuf"
/* Bytes gathered at most before they are written anyway (a commit of ~250 pages). */
#define CH__WB_MAX ((size_t)1 << 20)
#define CH__WB_MIN ((size_t)64 << 10)
/* The most one write of the default VFS takes: its unixWrite masks the length with
 * 0x1ffff (and fails with SQLITE_FULL on what is left), so larger runs go in pieces. */
#define CH__WB_PIECE ((size_t)0x1ffff & ~(size_t)4095)
#define CH__WB_FRAME_HEADER 24

typedef struct ch__wb_file ch__wb_file_t;
struct ch__wb_file {
    sqlite3_file base;  /* pMethods: ch__methods */
    sqlite3_file *real; /* the default VFS's file object, after this struct */
    ch__wb_file_t *wal; /* database file: its WAL file while that is open */
    ch__wb_file_t *db;  /* WAL file: its database file */
    int is_wal;
    int commit_page_next; /* the last write was a commit frame's header */
    int through;          /* the commit's frames are out: write straight through */
    unsigned char *buf; /* gathered bytes, for file offsets [off, off + len) */
    size_t len, cap;
    sqlite3_int64 off;
};

/* Where the real file object starts: after ours, 16-byte aligned within the block (which
 * SQLite allocates 8-byte aligned: enough for the unix VFS's file object). */
#define CH__WB_REAL_OFFSET ((sizeof(ch__wb_file_t) + 15) & ~(size_t)15)

static sqlite3_vfs *ch__base;
static sqlite3_vfs ch__vfs;
static int ch__registered;
static pthread_once_t ch__once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t ch__asked, ch__written;

static const sqlite3_io_methods ch__methods;

/* Writes what f gathered; the buffer is empty afterwards, whatever the outcome. */
static int ch__flush(ch__wb_file_t *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; done < f->len && rc == SQLITE_OK;) {
        size_t n = f->len - done < CH__WB_PIECE ? f->len - done : CH__WB_PIECE;
        rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)n, f->off + (sqlite3_int64)done);
        atomic_fetch_add_explicit(&ch__written, 1, memory_order_relaxed);
        done += n;
    }
    f->len = 0;
    return rc;
}

/* Appends to f's buffer when data continues it and fits; *taken says whether it did. */
static int ch__gather(ch__wb_file_t *f, const void *data, int amt, sqlite3_int64 off, int *taken)
{
    *taken = 0;
    size_t n = (size_t)amt;
    if (n > CH__WB_PIECE)
        return ch__flush(f); /* SQLite never writes that much at once to a WAL */
    if (f->len && (off != f->off + (sqlite3_int64)f->len || f->len + n > CH__WB_MAX)) {
        int rc = ch__flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : CH__WB_MIN;
        while (cap < f->len + n)
            cap *= 2;
        unsigned char *buf = ch_realloc(f->buf, cap);
        if (!buf)
            return SQLITE_OK; /* not taken: written directly */
        f->buf = buf;
        f->cap = cap;
    }
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    *taken = 1;
    return SQLITE_OK;
}

/* ---- io methods ------------------------------------------------------------------------ */

static int ch__close(sqlite3_file *file)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    int rc = ch__flush(f);
    if (f->db && f->db->wal == f)
        f->db->wal = NULL;
    if (f->wal && f->wal->db == f)
        f->wal->db = NULL;
    free(f->buf);
    f->buf = NULL;
    int rc_close = f->real->pMethods->xClose(f->real);
    return rc != SQLITE_OK ? rc : rc_close;
}

static int ch__read(sqlite3_file *file, void *data, int amt, sqlite3_int64 off)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    int rc = ch__flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, data, amt, off);
}

/* Whether data is the header of a commit frame (big-endian database size at 4..7). */
static int ch__is_commit_header(const void *data, int amt)
{
    const unsigned char *h = data;
    return amt == CH__WB_FRAME_HEADER && (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int ch__write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    if (!f->is_wal)
        return f->real->pMethods->xWrite(f->real, data, amt, off);
    atomic_fetch_add_explicit(&ch__asked, 1, memory_order_relaxed);
    if (f->through) {
        atomic_fetch_add_explicit(&ch__written, 1, memory_order_relaxed);
        int rc = ch__flush(f);
        return rc != SQLITE_OK ? rc : f->real->pMethods->xWrite(f->real, data, amt, off);
    }
    int commit_page = f->commit_page_next && amt != CH__WB_FRAME_HEADER;
    f->commit_page_next = ch__is_commit_header(data, amt);
    int taken = 0;
    int rc = ch__gather(f, data, amt, off, &taken);
    if (rc == SQLITE_OK && !taken) {
        atomic_fetch_add_explicit(&ch__written, 1, memory_order_relaxed);
        rc = f->real->pMethods->xWrite(f->real, data, amt, off);
    }
    if (rc == SQLITE_OK && commit_page) {
        rc = ch__flush(f); /* the commit is whole in the file before SQLite goes on */
        f->through = 1;
    }
    return rc;
}

static int ch__truncate(sqlite3_file *file, sqlite3_int64 size)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    int rc = ch__flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int ch__sync(sqlite3_file *file, int flags)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    int rc = ch__flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int ch__file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    int rc = ch__flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int ch__lock(sqlite3_file *file, int level)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    return f->real->pMethods->xLock(f->real, level);
}

/* Frames a transaction spilled before it rolled back may still be gathered: they go to
 * the file before the lock that let them be written is given up (as they would have
 * without us), never later over frames another connection has committed meanwhile. Their
 * write error, if any, is of no consequence: nothing refers to those frames (a commit's
 * own writes are all through by then). The next transaction gathers again. */
static void ch__flush_abandoned(ch__wb_file_t *db)
{
    if (db->wal) {
        (void)ch__flush(db->wal);
        db->wal->through = 0;
    }
}

static int ch__unlock(sqlite3_file *file, int level)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    ch__flush_abandoned(f); /* locking_mode=EXCLUSIVE: the database lock is the WAL's */
    return f->real->pMethods->xUnlock(f->real, level);
}

static int ch__check_reserved(sqlite3_file *file, int *out)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int ch__file_control(sqlite3_file *file, int op, void *arg)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    if (op == SQLITE_FCNTL_VFSNAME) {
        /* Say that we are here, then what the real file says (SQLite's convention). */
        int rc = f->real->pMethods->xFileControl(f->real, op, arg);
        char **name = arg;
        char *ours = rc == SQLITE_OK && *name ? sqlite3_mprintf(CH__WB_NAME "/%z", *name)
                                              : sqlite3_mprintf(CH__WB_NAME);
        *name = ours;
        return ours ? SQLITE_OK : SQLITE_NOMEM;
    }
    int rc = ch__flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int ch__sector_size(sqlite3_file *file)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int ch__device_characteristics(sqlite3_file *file)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* Shared memory belongs to the database file; the real file must have it (version 2+). */
static int ch__shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    if (f->real->pMethods->iVersion < 2)
        return SQLITE_IOERR_SHMMAP;
    return f->real->pMethods->xShmMap(f->real, page, size, extend, out);
}

static int ch__shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    if (f->real->pMethods->iVersion < 2)
        return SQLITE_IOERR_SHMLOCK;
    if (flags & SQLITE_SHM_UNLOCK)
        ch__flush_abandoned(f);
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void ch__shm_barrier(sqlite3_file *file)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    if (f->real->pMethods->iVersion >= 2)
        f->real->pMethods->xShmBarrier(f->real);
}

static int ch__shm_unmap(sqlite3_file *file, int delete_flag)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    if (f->real->pMethods->iVersion < 2)
        return SQLITE_OK;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int ch__fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    *out = NULL;
    if (f->is_wal || f->real->pMethods->iVersion < 3)
        return SQLITE_OK; /* no memory map: SQLite reads instead */
    return f->real->pMethods->xFetch(f->real, off, amt, out);
}

static int ch__unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    if (f->real->pMethods->iVersion < 3)
        return SQLITE_OK;
    return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods ch__methods = {
    3,
    ch__close,
    ch__read,
    ch__write,
    ch__truncate,
    ch__sync,
    ch__file_size,
    ch__lock,
    ch__unlock,
    ch__check_reserved,
    ch__file_control,
    ch__sector_size,
    ch__device_characteristics,
    ch__shm_map,
    ch__shm_lock,
    ch__shm_barrier,
    ch__shm_unmap,
    ch__fetch,
    ch__unfetch,
};

/* ---- the VFS ------------------------------------------------------------------------------ */

static int ch__open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags)
{
    (void)vfs;
    ch__wb_file_t *f = (ch__wb_file_t *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((char *)file + CH__WB_REAL_OFFSET);
    int rc = ch__base->xOpen(ch__base, name, f->real, flags, out_flags);
    /* SQLite calls xClose whenever pMethods is set, even after a failed open. */
    file->pMethods = f->real->pMethods ? &ch__methods : NULL;
    if (rc == SQLITE_OK && name && (flags & SQLITE_OPEN_WAL)) {
        f->is_wal = 1;
        ch__wb_file_t *db = (ch__wb_file_t *)sqlite3_database_file_object(name);
        if (db && db->base.pMethods == &ch__methods) {
            f->db = db;
            db->wal = f;
        }
    }
    return rc;
}

static void ch__register(void)
{
    ch__base = sqlite3_vfs_find(NULL);
    if (!ch__base || ch__base->iVersion < 1)
        return;
    ch__vfs = *ch__base; /* every other method (and pAppData) stays the default VFS's */
    ch__vfs.pNext = NULL;
    ch__vfs.zName = CH__WB_NAME;
    ch__vfs.szOsFile = (int)CH__WB_REAL_OFFSET + ch__base->szOsFile;
    ch__vfs.xOpen = ch__open;
    ch__registered = sqlite3_vfs_register(&ch__vfs, 0) == SQLITE_OK;
}

const char *ch_sqlite_walbuf_vfs(void)
{
    pthread_once(&ch__once, ch__register);
    return ch__registered ? CH__WB_NAME : NULL;
}

void ch_sqlite_walbuf_stats(uint64_t *asked, uint64_t *written)
{
    *asked = atomic_load_explicit(&ch__asked, memory_order_relaxed);
    *written = atomic_load_explicit(&ch__written, memory_order_relaxed);
}
