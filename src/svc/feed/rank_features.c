/* Ranking features from raw facts (rank_features.h). Counts enter as ln(1 + x): the tenth
 * like means less than the first, and no feature runs away with the score. */
#include "svc/feed/rank_features.h"

#include <math.h>

static double ch__log1p_pos(double v)
{
    return v > 0 && isfinite(v) ? log1p(v) : 0;
}

void ch_feed_features(const ch_feed_raw_t *r, double *x)
{
    int64_t age = r->age_ms > 0 ? r->age_ms : 0;
    int64_t engagement = (r->reactions > 0 ? r->reactions : 0) + 2 * (r->comments > 0 ? r->comments : 0);
    x[CH_FEED_F_RECENCY] = exp2(-(double)age / (double)CH_FEED_RECENCY_HALF_LIFE_MS);
    x[CH_FEED_F_AFFINITY] = ch__log1p_pos(r->affinity);
    x[CH_FEED_F_VELOCITY] = ch__log1p_pos(r->velocity);
    x[CH_FEED_F_TYPE_PREF] = r->type_share > 0 ? (r->type_share < 1 ? r->type_share : 1) : 0;
    x[CH_FEED_F_QUALITY] = ch__log1p_pos(r->author_quality);
    x[CH_FEED_F_FEEDBACK] = r->feedback > 0 ? 1 : r->feedback < 0 ? -1 : 0;
    x[CH_FEED_F_SEEN] = r->seen ? 1 : 0;
    x[CH_FEED_F_EXPLORE] = age < CH_FEED_EXPLORE_AGE_MS && engagement < CH_FEED_EXPLORE_ENGAGEMENT ? 1 : 0;
    x[CH_FEED_F_IN_NETWORK] = r->in_network ? 1 : 0;
    x[CH_FEED_F_ENGAGEMENT] = ch__log1p_pos((double)engagement);
}
