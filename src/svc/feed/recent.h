/* Authors' recent posts and reels, for the pulled side of the in-network feed (docs/design.md,
 * "### feedwarm"): per author, the ids and types of their newest CH_FEED_RECENT_PER_AUTHOR
 * live posts and reels, kept as a fact "a:<author>" in the hydration cache (store/hcache.h:
 * in process in embedded mode, Redis in cluster mode; bounded by its memory setting) and
 * forgotten after the commit of every post or reel the author creates or deletes
 * (ch_hydrate_forget_author_items). Nothing in it depends on a viewer: who may see what is
 * decided at read from the viewer's relation facts and the item records. */
#ifndef CH_SVC_FEED_RECENT_H
#define CH_SVC_FEED_RECENT_H

#include <stddef.h>
#include <stdint.h>

#include "store/timeline.h"
#include "svc/context.h"

/* Posts and reels kept per author: a first page of the largest limit (50) from one author. */
#define CH_FEED_RECENT_PER_AUTHOR 50

/** The recent items read for some authors: author i's, newest first, are
 * ents[span[i].first .. span[i].first + span[i].n); span[i].n == CH_FEED_RECENT_PER_AUTHOR
 * means there may be older ones (the list is full), fewer means these are all there are. */
typedef struct {
    struct {
        size_t first, n;
    } *span;                   /* one per author asked (owned) */
    ch_timeline_entry_t *ents; /* owned; author_id filled */
    size_t nents, cap;
    size_t nsql; /* miss statements run or planned */
    /* 1: the cache was down, or its misses would take more than CH_FEED_RECENT_SQL_MAX
     * statements: the lists are incomplete, the caller reads the database in one statement. */
    int cold;
} ch_feed_recent_t;

/** Fills out (caller clears it: ch_feed_recent_clear, also after an error) with the recent
 * items of authors[0..n): one cache round trip per CH_HCACHE_BATCH_MAX authors, the misses
 * read by one statement per CH_FEED_RECENT_SQL_AUTHORS authors (two bounded ranges of index
 * items_author_type each) and put back under their leases; with the cache down or more
 * misses than CH_FEED_RECENT_SQL_MAX statements read, out->cold is set instead (nothing more
 * loaded). Errors: the database's. */
ch_err_t ch_feed_recent_read(ch_svc_t *svc, const uint64_t *authors, size_t n, ch_feed_recent_t *out);
/** Frees what out holds. */
void ch_feed_recent_clear(ch_feed_recent_t *out);

/** Merges the recent items of r (from ch_feed_recent_read) with floor_id < id < before
 * (before 0 = no bound) newest first into out[0..max), *n_out of them. *deep gets the id
 * below which the lists say nothing (the newest last entry, among the full lists, that is
 * still above floor_id; 0 = none): the merge stops there, entries below it are not listed.
 * Returns 0 when nothing below before is known for a full list (*deep >= before: the caller
 * reads the database instead), 1 otherwise. */
int ch_feed_recent_merge(const ch_feed_recent_t *r, size_t nauthors, uint64_t before, uint64_t floor_id,
                         ch_timeline_entry_t *out, size_t max, size_t *n_out, uint64_t *deep);

#endif
