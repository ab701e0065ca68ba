#include "svc/feed/policy.h"

#include <math.h>

ch_feed_policy_t ch_feed_policy_default(void) {
    return (ch_feed_policy_t){.celebrity_followers = CH_FEED_DEFAULT_CELEBRITY_FOLLOWERS,
                              .push_cost = CH_FEED_DEFAULT_PUSH_COST,
                              .pull_cost = CH_FEED_DEFAULT_PULL_COST,
                              .hysteresis = CH_FEED_DEFAULT_HYSTERESIS,
                              .mode = CH_FEED_MODE_HYBRID};
}

double ch_feed_rate_at(double rate, int64_t rate_ms, int64_t now_ms, int64_t half_life_ms) {
    if (rate <= 0 || now_ms <= rate_ms || half_life_ms <= 0) return rate > 0 ? rate : 0;
    return rate * exp2(-(double)(now_ms - rate_ms) / (double)half_life_ms);
}

double ch_feed_rate_bump(double rate, int64_t rate_ms, int64_t now_ms, int64_t half_life_ms) {
    double hours = (double)half_life_ms / 3600000.0;
    return ch_feed_rate_at(rate, rate_ms, now_ms, half_life_ms) + (hours > 0 ? M_LN2 / hours : 0);
}

/* push iff post_rate * H <= read_rate * L, with the reader's margin m scaling read_rate. */
static int ch__push_with_margin(const ch_feed_policy_t *p, int64_t followers, double post_rate, double read_rate,
                                double margin) {
    if (p->mode == CH_FEED_MODE_PUSH_ALL) return 1;
    if (p->mode == CH_FEED_MODE_PULL_ALL) return 0;
    if (p->celebrity_followers > 0 && followers >= p->celebrity_followers) return 0;
    if (post_rate < CH_FEED_NEW_RATE_PER_HOUR) post_rate = CH_FEED_NEW_RATE_PER_HOUR;
    if (read_rate < CH_FEED_NEW_RATE_PER_HOUR) read_rate = CH_FEED_NEW_RATE_PER_HOUR;
    return post_rate * p->push_cost <= read_rate * margin * p->pull_cost;
}

int ch_feed_policy_push(const ch_feed_policy_t *p, int64_t author_followers, double post_rate, double read_rate) {
    return ch__push_with_margin(p, author_followers, post_rate, read_rate, 1.0);
}

int ch_feed_policy_pull(const ch_feed_policy_t *p, int64_t author_followers, double post_rate, double read_rate) {
    double m = p->hysteresis >= 1.0 ? p->hysteresis : 1.0;
    /* The writer pushed for sure only if it would have pushed even with the read rate m
     * times lower than what the reader sees now. */
    return !ch__push_with_margin(p, author_followers, post_rate, read_rate / m, 1.0);
}
