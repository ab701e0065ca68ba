#include "svc/feed/policy.h"

#include <math.h>

ch_feed_policy_t ch_feed_policy_default(void)
{
    return (ch_feed_policy_t){.celebrity_followers = CH_FEED_DEFAULT_CELEBRITY_FOLLOWERS,
                              .push_cost = CH_FEED_DEFAULT_PUSH_COST,
                              .pull_cost = CH_FEED_DEFAULT_PULL_COST,
                              .hysteresis = CH_FEED_DEFAULT_HYSTERESIS,
                              .mode = CH_FEED_MODE_HYBRID};
}

double ch_feed_rate_at(double rate, int64_t rate_ms, int64_t now_ms, int64_t half_life_ms)
{
    if (rate <= 0 || now_ms <= rate_ms || half_life_ms <= 0) return rate > 0 ? rate : 0;
    return rate * exp2(-(double)(now_ms - rate_ms) / (double)half_life_ms);
}

double ch_feed_rate_bump(double rate, int64_t rate_ms, int64_t now_ms, int64_t half_life_ms)
{
    double hours = (double)half_life_ms / 3600000.0;
    return ch_feed_rate_at(rate, rate_ms, now_ms, half_life_ms) + (hours > 0 ? M_LN2 / hours : 0);
}

/* push iff post_rate * H <= read_rate * L, on rates already floored. */
static int ch__push_rule(const ch_feed_policy_t *p, int64_t followers, double post_rate, double read_rate)
{
    if (p->mode == CH_FEED_MODE_PUSH_ALL) return 1;
    if (p->mode == CH_FEED_MODE_PULL_ALL) return 0;
    if (p->celebrity_followers > 0 && followers >= p->celebrity_followers) return 0;
    return post_rate * p->push_cost <= read_rate * p->pull_cost;
}

static double ch__floor_rate(double rate)
{
    return rate < CH_FEED_NEW_RATE_PER_HOUR ? CH_FEED_NEW_RATE_PER_HOUR : rate;
}

int ch_feed_policy_push(const ch_feed_policy_t *p, int64_t author_followers, double post_rate, double read_rate)
{
    return ch__push_rule(p, author_followers, ch__floor_rate(post_rate), ch__floor_rate(read_rate));
}

int ch_feed_policy_pull(const ch_feed_policy_t *p, int64_t author_followers, double post_rate, double read_rate)
{
    double m = sqrt(p->hysteresis >= 1.0 ? p->hysteresis : 1.0);
    /* The writer pushed for sure only if it would have pushed even with a read rate sqrt(h)
     * times lower and a posting rate sqrt(h) times higher than what the reader sees now (h
     * in all on their ratio). The floors come first: a reader at or below the floor keeps
     * the whole margin (dividing first and flooring after gave such readers none). */
    return !ch__push_rule(p, author_followers, ch__floor_rate(post_rate) * m, ch__floor_rate(read_rate) / m);
}
