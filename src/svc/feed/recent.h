/* The pulled side of the in-network feed from authors' recent items (docs/design.md,
 * "### feedwarm"): a k-way merge of the lists read by ch_recent_items_read
 * (svc/content/recent.h, the facts "a:<author>"). */
#ifndef CH_SVC_FEED_RECENT_H
#define CH_SVC_FEED_RECENT_H

#include <stddef.h>
#include <stdint.h>

#include "store/timeline.h"
#include "svc/common/author_index.h"

/** Merges the recent items of r (from ch_recent_items_read, nauthors lists) with
 * floor_id < id < before (before 0 = no bound) newest first into out[0..max), *n_out of them.
 * *deep gets the id below which the lists say nothing (the newest last entry, among the full
 * lists, that is still above floor_id; 0 = none): the merge stops there, entries below it are
 * not listed. Returns 0 when nothing below before is known for a full list (*deep >= before:
 * the caller reads the database instead), 1 otherwise. */
int ch_feed_recent_merge(const ch_author_index_t *r, size_t nauthors, uint64_t before, uint64_t floor_id,
                         ch_timeline_entry_t *out, size_t max, size_t *n_out, uint64_t *deep);

#endif
