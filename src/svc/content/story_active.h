/* The authors who may have a live story now, in process, for the story tray in embedded mode
 * (docs/design.md, "### tray19"): author -> the latest expiry and the newest id of their
 * stories known here (the tray orders authors by that id before it reads any of them).
 * The tray keeps only the viewer's followees found in it before it reads their active-story
 * index entries (story_index.h), so a followee with no story costs one probe of this table
 * and no cache lookup. It may hold more than the truth (a deleted story keeps its author in
 * it until that story would have expired: the index entry, read next, is what decides), never
 * less: every story created by this process is noted after its commit, before the create
 * answers; the stories already in the database are read once (one statement on
 * items_live_stories) at the first tray read, and again every CHORUS_HYDRATE_TTL_MS, which
 * bounds what another process writing the same SQLite file is missed for, as it bounds the
 * in-process hydration cache. Expired entries are dropped when the table grows.
 *
 * Used only with local backends (SQLite + in-process kv: one process serves the database)
 * and for one database per process (the first it is used with). Bounded by
 * CH_STORY_ACTIVE_AUTHORS_MAX: past it the table stops answering until a reload fits, and
 * the tray reads every followee's entry as the cluster set does. Internal to svc/content. */
#ifndef CH_SVC_CONTENT_STORY_ACTIVE_H
#define CH_SVC_CONTENT_STORY_ACTIVE_H

#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

/* Authors with a live story the table holds at most (24 bytes each, at most a third of its
 * slots used: 12 MiB at most). */
#define CH_STORY_ACTIVE_AUTHORS_MAX 131072

/** Notes that author has a story (id story) live until expires_at (unix ms). Call after the
 * story's commit and before the create answers; a no-op unless svc has local backends. */
void ch_story_active_note(ch_svc_t *svc, uint64_t author, uint64_t story, int64_t expires_at);

/** Keeps, in place and in order, the authors of authors[0..n) who may have a story live at
 * now, and in latest[0..*kept) (caller's, n slots) the newest story id known of each: none of
 * their live stories is newer (a deleted one may be). *kept receives their number. Returns 1
 * when it answered, 0 when it cannot (not local backends, another database, over its bound,
 * or its load failed: nothing is then written) and the caller must read every author's index
 * entry. May run one statement (the load) on the calling thread. */
int ch_story_active_filter(ch_svc_t *svc, uint64_t *authors, uint64_t *latest, size_t n, int64_t now,
                           size_t *kept);

/** Forgets everything (the next filter loads again): for unit tests that use several
 * databases one after another. */
void ch_story_active_reset(void);

#endif
