/* The followees a reader pulls at read (svc/feed/policy.h, ch_feed_policy_pull): read in one
 * statement over the viewer's follows (their followers_count and feed_authors rate) and
 * cached per viewer for CH_FEED_PULL_CACHE_TTL_MS in this process's in-process kv (the kv
 * itself when CHORUS_REDIS is unset, its local store otherwise; bounded by
 * CHORUS_KV_MAX_MEMORY). A follow or unfollow applied by this process's fan-out worker
 * drops the entry; elsewhere it is at most that old (the pulled items' statement checks
 * the follow again, so an unfollowed author is never pulled). */
#ifndef CH_SVC_FEED_PULLSET_H
#define CH_SVC_FEED_PULLSET_H

#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

/* Follows one computation looks at (the newest); past it older follows are pushed only. */
#define CH_FEED_FOLLOWEES_MAX 5000
/* Authors one read pulls at most (the most recently followed). */
#define CH_FEED_PULL_AUTHORS_MAX 512
#define CH_FEED_PULL_CACHE_TTL_MS 30000

/** A viewer's pulled authors, ascending (owned: ch_feed_pullset_clear). */
typedef struct {
    uint64_t *ids;
    size_t n;
} ch_feed_pullset_t;

/** The authors viewer pulls when reading with read_rate (per hour, as of now): from the
 * cache, else computed and cached. Blocks (SQL, kv). */
ch_err_t ch_feed_pullset_get(ch_svc_t *svc, uint64_t viewer, double read_rate, ch_feed_pullset_t *out);
/** Whether author is in ps. */
int ch_feed_pullset_has(const ch_feed_pullset_t *ps, uint64_t author);
/** Frees what ch_feed_pullset_get filled in. */
void ch_feed_pullset_clear(ch_feed_pullset_t *ps);
/** Drops viewer's cached set (their follows changed). */
void ch_feed_pullset_forget(ch_svc_t *svc, uint64_t viewer);

#endif
