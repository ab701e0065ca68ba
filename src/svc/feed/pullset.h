/* The followees a reader pulls at read (svc/feed/policy.h, ch_feed_policy_pull). Celebrities
 * (followers_count >= ch_feed_pull_join_followers: every follower pulls them) are not listed:
 * the pulled items' statement joins follows, users and items for them, without a bound on
 * follows. The others are read in one statement over the viewer's follows (their
 * followers_count and feed_authors rate), the most recently posting first, and
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
#include "svc/feed/policy.h"

/* Non-celebrity follows one computation (and a rebuild) looks at: the followees who posted
 * most recently (feed_authors.rate_at); past it, followees who have not posted for longer
 * than all of these are left out (an item they post moves them in at the next computation). */
#define CH_FEED_FOLLOWEES_MAX 5000
/* Non-celebrity authors one read pulls at most (CHORUS_FEED_PULL_AUTHORS, at most this):
 * the most recently posting ones. */
#define CH_FEED_PULL_AUTHORS_MAX 512
#define CH_FEED_PULL_CACHE_TTL_MS 30000

/** A viewer's pulled authors, ascending (owned: ch_feed_pullset_clear). */
typedef struct {
    uint64_t *ids;
    size_t n;
    /* The followees every follower pulls (followers_count >= ch_feed_pull_join_followers),
     * ascending, as of the computation: the warm in-network read takes their items from
     * svc/feed/recent.h instead of the join. joined_known 0: not listed (more than
     * CH_FEED_PULL_AUTHORS_MAX of them): the join is used. */
    uint64_t *joined;
    size_t n_joined;
    int joined_known;
    uint64_t vgen; /* the viewer's generation (svc/common/viewer_gen.h) read before computing */
    uint64_t cgen; /* the celebrity set's generation (svc/feed/celeb_gen.h) read before computing */
} ch_feed_pullset_t;

/** The followers_count from which every follower pulls an author (the celebrity rule; 0 in
 * pull mode, INT64_MAX when no such rule): the pulled items' statement takes those by a join
 * and the set leaves them out. */
int64_t ch_feed_pull_join_followers(const ch_feed_policy_t *p);
/** The cached set of viewer into *out: 1 when there is one, 0 otherwise (*out empty). */
int ch_feed_pullset_cached(ch_svc_t *svc, uint64_t viewer, ch_feed_pullset_t *out);
/** The authors viewer pulls when reading with read_rate (per hour, as of now), computed
 * (one statement) and cached. Blocks (SQL, kv). */
ch_err_t ch_feed_pullset_compute(ch_svc_t *svc, uint64_t viewer, double read_rate, ch_feed_pullset_t *out);
/** Whether author is in ps. */
int ch_feed_pullset_has(const ch_feed_pullset_t *ps, uint64_t author);
/** Frees what ch_feed_pullset_get filled in. */
void ch_feed_pullset_clear(ch_feed_pullset_t *ps);
/** Drops viewer's cached set (their follows changed). */
void ch_feed_pullset_forget(ch_svc_t *svc, uint64_t viewer);

#endif
