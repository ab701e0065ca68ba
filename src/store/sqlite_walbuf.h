/* A SQLite VFS that writes the WAL frames of one commit with few write calls.
 *
 * SQLite appends each frame of a commit to the WAL with two writes (its 24-byte header,
 * then the page), so a commit that dirtied 100 pages costs 200 system calls before its
 * fsync. This VFS wraps the default one and, for WAL files only, gathers writes that
 * continue one another in a per-file buffer (written in pieces of 124 KiB). Everything
 * gathered reaches the file within the write of the commit frame's page, and later writes
 * of that commit (checksum rewrites, padding) go straight through until the write lock is
 * given up — so a commit's WAL writes are in the file before SQLite syncs or publishes
 * it, and a write error fails that commit as it would have without us. Gathered bytes
 * also reach the file before any read, size query, truncation, sync or file control of
 * the WAL, before a write that does not continue them, at close, and before the
 * connection gives up the WAL's write lock (frames of a transaction that spilled and then
 * rolled back must not land later over frames another connection committed). Every other
 * file (the database, temporary files) passes straight through. */
#ifndef CH_STORE_SQLITE_WALBUF_H
#define CH_STORE_SQLITE_WALBUF_H

#include <stdint.h>

/** Registers the VFS (once per process, thread-safe; not the default VFS) and returns its
 * name for sqlite3_open_v2, or NULL when it could not be registered (open with the
 * default VFS then: slower, not wrong). The name is a static string. */
const char *ch_sqlite_walbuf_vfs(void);

/** Counts since start: WAL writes SQLite asked for, and writes that reached the file. */
void ch_sqlite_walbuf_stats(uint64_t *asked, uint64_t *written);

#endif
