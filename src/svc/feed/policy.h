/* Who gets an item pushed into their home timeline and who pulls it at read: the
 * per-(author, follower) cost rule of "Feeding Frenzy" (Silberstein et al., SIGMOD 2010).
 *
 * For an edge author -> follower, pushing costs one timeline insert per item the author
 * posts (rate p, items per hour, times the push cost H), pulling costs one query of the
 * author's items per read of the follower (rate c, reads per hour, times the pull cost L).
 * The cheaper one wins: push iff p * H <= c * L. So followers who read more often than the
 * author posts get pushes, the rest pull. On top of it:
 *   - an author with at least celebrity_followers followers is never pushed (the write path
 *     of a celebrity's post is O(1)); every follower pulls them;
 *   - a follower without a timeline (inactive, CH_TIMELINE_IDLE_TTL_MS) gets no push: the
 *     read path rebuilds the timeline when they return (store/timeline.h).
 *
 * Writer (fan-out worker) and reader (home feed) decide with rates read at different
 * moments (the reader's read rate moves with each read, ~+0.03/h; the reader caches its
 * pull set for a while, so it may not yet know the post's bump of the author's rate), so
 * the reader pulls with a margin: it pulls an author whenever the writer might have chosen
 * pull with a read rate up to sqrt(hysteresis) times lower and a posting rate up to
 * sqrt(hysteresis) times higher than it sees (floors applied first); an item both pushed
 * and pulled is shown once. What the margin does not cover: a reader whose read rate grows
 * past sqrt(hysteresis) times the rate a past post was decided with stops pulling that
 * author, and the author's earlier unpushed items leave that reader's in-network source
 * (new ones are pushed from then on).
 *
 * The author's posting rate is used as of their latest post (feed_authors.post_rate at
 * rate_at, not decayed further): the writer bumps it with the post and decides, the reader
 * later sees the same figure until the next post. The reader's rate is decayed to now.
 *
 * Rates are exponentially decayed counts: rate(t) = rate(t0) * 2^-((t - t0) / half_life)
 * plus, per event, ln 2 / half_life_hours, so a steady r events per hour reads r. */
#ifndef CH_SVC_FEED_POLICY_H
#define CH_SVC_FEED_POLICY_H

#include <stdint.h>

#define CH_FEED_READ_RATE_HALF_LIFE_MS (24LL * 3600 * 1000)
#define CH_FEED_POST_RATE_HALF_LIFE_MS (7LL * 24 * 3600 * 1000)
/* Defaults of the policy (settings CHORUS_FEED_CELEBRITY_FOLLOWERS, CHORUS_FEED_PUSH_COST,
 * CHORUS_FEED_PULL_COST). The costs are relative: one timeline insert vs one pull query of
 * an author's recent items at read (an indexed range read plus merge, ~10 inserts). */
#define CH_FEED_DEFAULT_CELEBRITY_FOLLOWERS 10000
#define CH_FEED_DEFAULT_PUSH_COST 1.0
#define CH_FEED_DEFAULT_PULL_COST 10.0
#define CH_FEED_DEFAULT_HYSTERESIS 4.0
/* A new author (no posting history) and a new reader count as this rate per hour. */
#define CH_FEED_NEW_RATE_PER_HOUR 0.1

typedef struct {
    int64_t celebrity_followers; /* >= this many followers: pull only (0 = no such rule) */
    double push_cost;            /* H: cost of one timeline insert */
    double pull_cost;            /* L: cost of pulling one author at one read */
    double hysteresis;           /* reader's margin, >= 1 */
    int mode;                    /* CH_FEED_MODE_*: the lab compares push-all and pull-all */
} ch_feed_policy_t;

enum { CH_FEED_MODE_HYBRID = 0, CH_FEED_MODE_PUSH_ALL = 1, CH_FEED_MODE_PULL_ALL = 2 };

/** The default policy. */
ch_feed_policy_t ch_feed_policy_default(void);
/** rate (per hour, kept at rate_ms) decayed to now_ms with half_life_ms; unchanged when
 * now_ms <= rate_ms. */
double ch_feed_rate_at(double rate, int64_t rate_ms, int64_t now_ms, int64_t half_life_ms);
/** rate decayed to now_ms plus one event (ln 2 / half-life in hours). */
double ch_feed_rate_bump(double rate, int64_t rate_ms, int64_t now_ms, int64_t half_life_ms);
/** Writer's rule: 1 when an item of an author with author_followers followers and posting
 * rate post_rate (per hour) is pushed to a follower whose timeline exists and whose read
 * rate is read_rate (per hour); 0 when that follower pulls it. */
int ch_feed_policy_push(const ch_feed_policy_t *p, int64_t author_followers, double post_rate, double read_rate);
/** Reader's rule: 1 when a follower with read_rate must pull the author at read because the
 * writer may not have pushed its items (the writer's rule with the hysteresis margin). */
int ch_feed_policy_pull(const ch_feed_policy_t *p, int64_t author_followers, double post_rate, double read_rate);

#endif
