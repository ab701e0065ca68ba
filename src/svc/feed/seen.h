/* Items served to a viewer (the ranking's "seen" feature): a bounded per-viewer set in the
 * kv store, "feed:seen:<viewer>" = "<type>:<id>,..." newest first, at most
 * CH_FEED_SEEN_MAX keys, expiring CH_FEED_SEEN_TTL_MS after the last page served. Best
 * effort: two pages served at once may each drop the other's additions (a read-modify-write
 * without a lock); losing a seen mark only makes an item rank a little higher once. */
#ifndef CH_SVC_FEED_SEEN_H
#define CH_SVC_FEED_SEEN_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/items.h"

#define CH_FEED_SEEN_MAX 1000
#define CH_FEED_SEEN_TTL_MS (3LL * 24 * 3600 * 1000)

/** Parses a seen list into keys[0..max); returns how many (malformed entries end the list). */
size_t ch_feed_seen_parse(const char *text, ch_item_key_t *keys, size_t max);
/** Puts add[0..nadd) in front of the old list (text, may be NULL), without duplicates,
 * keeping at most CH_FEED_SEEN_MAX; returns the new text (caller frees), NULL when out of
 * memory. */
char *ch_feed_seen_merge(const char *old, const ch_item_key_t *add, size_t nadd, size_t *len_out);
/** Whether key is in sorted[0..n) (sorted by ch_feed_seen_sort). */
int ch_feed_seen_has(const ch_item_key_t *sorted, size_t n, ch_item_key_t key);
/** Sorts keys for ch_feed_seen_has. */
void ch_feed_seen_sort(ch_item_key_t *keys, size_t n);

/** Loads viewer's seen set into keys (caller frees *keys_out), sorted. */
ch_err_t ch_feed_seen_load(ch_svc_t *svc, uint64_t viewer, ch_item_key_t **keys_out, size_t *n_out);
/** Adds keys served to viewer. */
ch_err_t ch_feed_seen_add(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n);

#endif
