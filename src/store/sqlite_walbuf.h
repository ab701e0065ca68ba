/* A SQLite VFS that writes the WAL frames of one commit with one write call.
 *
 * SQLite appends each frame of a commit to the WAL with two writes (its 24-byte header,
 * then the page), so a commit that dirtied 100 pages costs 200 system calls before its
 * fsync. This VFS wraps the default one and, for WAL files only, gathers writes that
 * continue one another in a per-file buffer; the buffer goes to the file in one write
 * before anything that must see it: a sync of the WAL (every commit with
 * synchronous=FULL), any read, size query, truncation or file control of the WAL, its
 * close, and a shared-memory barrier of its database (the moment a commit becomes visible
 * to other connections), so that no reader and no acknowledged commit can miss a frame.
 * Every other file (the database, temporary files) passes straight through.
 *
 * A write error that surfaces while flushing is returned by the call that flushed (the
 * WAL sync for a commit, so the commit fails as it would have on the first write). */
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
