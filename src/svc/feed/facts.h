/* The following feed's per-read facts as hydration-cache facts (docs/design.md "### feedwarm",
 * "### l1 on the loop"), so that in cluster mode a warm page is answered from this node's L1
 * on the event loop: the viewer's and the celebrity set's generations ("g:<user>", "g:0") and
 * the newest CH_FEED_TL_CACHED entries of the viewer's home timeline ("H:<user>"); the home
 * feed's ranking head ("R:<feed>:<viewer>", snapshot.c) and the fan-out's notes ("n:<author>",
 * "n:0", nettop.c) are kept the same way by their own files. Each is
 * forgotten through the layer's forget path (Redis, then pub/sub to every node's L1) after
 * every write that changes it: a generation bump (viewer_gen.c, celeb_gen.c), a timeline push,
 * removal, replace (fanout.c, rebuild.c). Used only when the timelines and the kv store are
 * shared (Redis): with in-process backends the stores are memory already. */
#ifndef CH_SVC_FEED_FACTS_H
#define CH_SVC_FEED_FACTS_H

#include <stddef.h>
#include <stdint.h>

#include "store/timeline.h"
#include "svc/context.h"

/* Timeline entries a cached head holds (3 + 17 bytes each: at most 2,179 bytes a viewer). */
#define CH_FEED_TL_CACHED 128

/** Whether the facts are in use: timelines in Redis and a hydration cache. */
int ch_feed_facts_on(const ch_svc_t *svc);
/** viewer's generation (svc/common/viewer_gen.h) and the celebrity set's (celeb_gen.h) into
 * *vgen, *cgen (0 = none kept): from the cached facts when they are on, their misses read from
 * the kv and put back under the get's lease; otherwise from the kv. cgen may be NULL (only the
 * viewer's is read). Errors are the kv's (under the loop guard: a fact missing from the L1 is
 * refused and noted). */
ch_err_t ch_feed_gens_get(ch_svc_t *svc, uint64_t viewer, uint64_t *vgen, uint64_t *cgen);
/** Forgets the cached generation of user (0: the celebrity set's) after its bump. */
void ch_feed_gen_forget(ch_svc_t *svc, uint64_t user);
/** Up to max entries of viewer's timeline with item_id < before (0: from the newest), newest
 * first, into out[] (caller's, max slots), *n_out of them, from the cached head. *answered 1:
 * the head answered (the timeline exists; fewer than max entries means it ended there).
 * *answered 0: the caller reads the store (no head cached and none could be made now, no
 * timeline, a page past a full head, the cache down or refused under the loop guard). A miss
 * with a lease reads the store's newest entries and puts them back. Never an error. */
void ch_feed_tl_head_read(ch_svc_t *svc, uint64_t viewer, uint64_t before, size_t max, ch_timeline_entry_t *out,
                          size_t *n_out, int *answered);
/** The values of the kv keys kvkeys[0..n) (n <= CH_HCACHE_BATCH_MAX; through ch_kvl_get)
 * into vals[i] (malloc'd, NUL-terminated, caller frees; NULL when the kv has none), from their
 * cached copies hkeys[i] when the facts are on (a missing value cached too), misses read from
 * the kv and put back under the get's lease. Errors are the kv's (under the loop guard: a
 * copy missing from the L1 is refused and noted); then every vals[i] is NULL. */
ch_err_t ch_feed_facts_kv_get(ch_svc_t *svc, const char *const *hkeys, const char *const *kvkeys, size_t n,
                              char **vals);
/** Forgets the cached copy hkey after a write of its kv value. No-op when the facts are off. */
void ch_feed_fact_forget(ch_svc_t *svc, const char *hkey);
/** Forgets the cached heads of users[0..n) after a write to their timelines (any n; one
 * round trip per CH_HCACHE_BATCH_MAX users). No-op when the facts are off. */
void ch_feed_tl_forget(ch_svc_t *svc, const uint64_t *users, size_t n);

#endif
