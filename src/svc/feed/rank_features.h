/* Ranking features per (viewer, item) from raw facts (rank_model.h names them). Pure. */
#ifndef CH_SVC_FEED_RANK_FEATURES_H
#define CH_SVC_FEED_RANK_FEATURES_H

#include <stdint.h>

#include "svc/feed/rank_model.h"

#define CH_FEED_RECENCY_HALF_LIFE_MS (12LL * 3600 * 1000)
/* Exploration: an item younger than this with fewer engagements than that gets a boost. */
#define CH_FEED_EXPLORE_AGE_MS (6LL * 3600 * 1000)
#define CH_FEED_EXPLORE_ENGAGEMENT 3

/** What the ranker knows about one (viewer, item). */
typedef struct {
    int64_t age_ms;        /* now - created_at (negative counts 0) */
    double affinity;       /* viewer -> author (signals.h) */
    double velocity;       /* weighted engagements per hour (signals.h) */
    double type_share;     /* viewer's share of recent engagement on this item's type, 0..1 */
    double author_quality; /* author's engagement per item */
    int feedback;          /* +1 see_more, -1 see_less_author, 0 */
    int seen;              /* served to the viewer before */
    int64_t reactions;
    int64_t comments;
    int in_network;
} ch_feed_raw_t;

/** Fills x[CH_FEED_F_COUNT] from r. */
void ch_feed_features(const ch_feed_raw_t *r, double *x);

#endif
