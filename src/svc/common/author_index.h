/* An author's recent items as cached facts, read for many authors at once (docs/design.md,
 * "### feedwarm", "### lists"): per author, the ids of their newest (or live) items of some
 * kind with one more 64-bit column each (an item type, an expiry time), kept as one
 * hydration-cache fact per author in the id_page codec (svc/common/id_page.h: a tag, a
 * version, the full flag, fixed rows), put back under the lookup's lease and forgotten by the
 * writes that change them (the owning domain). Nothing in it depends on a viewer. One
 * read-through for every such index: the authors' recent posts and reels
 * (svc/content/recent.h, "a:<author>") and their active stories (svc/content/story_index.h,
 * "s:<author>") are specs. */
#ifndef CH_SVC_COMMON_AUTHOR_INDEX_H
#define CH_SVC_COMMON_AUTHOR_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/id_page.h"
#include "svc/context.h"

/** One entry of an author's list. */
typedef struct {
    uint64_t id;
    uint64_t aux; /* the spec's second column (an item type, an expiry time) */
    uint64_t author;
} ch_author_ent_t;

/** One kind of author index; static, owned by the caller. */
typedef struct {
    ch_id_page_spec_t page; /* codec: tag, cols = 2 (id, aux), cap per author; sql/row unused */
    const char *(*key)(ch_hkey_t buf, uint64_t author);
    size_t sql_authors; /* authors per miss statement, at most CH_AUTHOR_INDEX_SQL_AUTHORS_MAX */
    /* Reads the lists of authors[0..n) (n <= sql_authors) at now: rows (author, id, aux), in
     * any order; aux is read by aux_of, or as an integer when it is NULL. */
    ch_err_t (*load)(ch_svc_t *svc, const uint64_t *authors, size_t n, int64_t now, ch_db_rows_t **rows);
    /* Optional: row r's aux; 0 when the row cannot be listed (skipped). */
    int (*aux_of)(const ch_db_rows_t *rows, size_t r, uint64_t *aux);
    int newest_first; /* 1: each list newest first, else oldest first; the cap keeps its head */
    /* Miss statements one read runs at most (0: no bound). Past them, or with the cache down
     * when cold_when_down, the read gives up (ch_author_index_t.cold): the caller has one
     * statement of its own over every author that is cheaper than many. */
    size_t sql_max;
    int cold_when_down;
    /* Optional: whether an entry is shown at now (a story's expiry, checked at every read:
     * an entry that expired since its put is dropped without a write). NULL: all. */
    int (*live)(const ch_author_ent_t *e, int64_t now);
} ch_author_index_spec_t;

/* The largest sql_authors a spec may ask for. */
#define CH_AUTHOR_INDEX_SQL_AUTHORS_MAX 128

/** The lists read for some authors: author i's are ents[span[i].first .. + span[i].n) in the
 * spec's order; span[i].full: the cached list was full (there may be more than these). */
typedef struct {
    struct {
        size_t first, n;
        int full;
    } *span;              /* one per author asked (owned) */
    ch_author_ent_t *ents; /* owned */
    size_t nents, cap;
    size_t nsql; /* miss statements run or planned */
    int cold;    /* 1: the read gave up (see sql_max): nothing is complete */
} ch_author_index_t;

/** Fills out (caller clears it: ch_author_index_clear, also after an error) with the lists of
 * authors[0..n) at now: one cache round trip per CH_HCACHE_BATCH_MAX authors, the misses read
 * by one statement (spec->load) per spec->sql_authors and put back under their leases. On an
 * event loop the cache answers from the L1 only; a miss there runs the statement, which the
 * loop guard refuses (the read moves to a worker). Errors: the database's. */
ch_err_t ch_author_index_read(ch_svc_t *svc, const ch_author_index_spec_t *spec, const uint64_t *authors, size_t n,
                              int64_t now, ch_author_index_t *out);
/** Frees what out holds. */
void ch_author_index_clear(ch_author_index_t *out);

#endif
