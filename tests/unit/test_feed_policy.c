/* The feed's push/pull rule (svc/feed/policy.h): decayed rates, the per-(author, follower)
 * cost rule, the celebrity cut-off, the modes, and the reader's margin: whenever the
 * writer might not have pushed (read rate up to `hysteresis` times lower at write time),
 * the reader pulls. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "svc/feed/policy.h"

#define HOUR (3600LL * 1000)

static void test_rate_steady_stream_reads_its_rate(void **state)
{
    (void)state;
    /* 3 events an hour for two weeks under a one-day half-life: reads about 3 per hour. */
    double rate = 0;
    int64_t t = 0;
    for (int i = 0; i < 3 * 24 * 14; i++) {
        rate = ch_feed_rate_bump(rate, t, t + HOUR / 3, CH_FEED_READ_RATE_HALF_LIFE_MS);
        t += HOUR / 3;
    }
    assert_true(fabs(rate - 3.0) < 0.1);
    /* A day later it has halved; an earlier moment changes nothing. */
    assert_true(fabs(ch_feed_rate_at(rate, t, t + 24 * HOUR, CH_FEED_READ_RATE_HALF_LIFE_MS) - rate / 2) < 1e-9);
    assert_true(ch_feed_rate_at(rate, t, t - HOUR, CH_FEED_READ_RATE_HALF_LIFE_MS) == rate);
    assert_true(ch_feed_rate_at(-1, 0, HOUR, CH_FEED_READ_RATE_HALF_LIFE_MS) == 0);
}

static void test_push_where_follower_reads_more_than_author_posts(void **state)
{
    (void)state;
    ch_feed_policy_t p = ch_feed_policy_default();
    p.push_cost = 1;
    p.pull_cost = 1;
    assert_int_equal(ch_feed_policy_push(&p, 100, 1.0, 2.0), 1);  /* reads twice as often */
    assert_int_equal(ch_feed_policy_push(&p, 100, 2.0, 1.0), 0);  /* posts more than read */
    assert_int_equal(ch_feed_policy_push(&p, 100, 1.0, 1.0), 1);  /* tie: push */
    /* Costs weigh the rates: pulls ten times dearer push up to ten posts per read. */
    p.pull_cost = 10;
    assert_int_equal(ch_feed_policy_push(&p, 100, 9.0, 1.0), 1);
    assert_int_equal(ch_feed_policy_push(&p, 100, 11.0, 1.0), 0);
    /* Unknown rates count as the floor, not zero. */
    assert_int_equal(ch_feed_policy_push(&p, 100, 0, 0), 1);
}

static void test_celebrities_and_modes(void **state)
{
    (void)state;
    ch_feed_policy_t p = ch_feed_policy_default();
    p.celebrity_followers = 1000;
    assert_int_equal(ch_feed_policy_push(&p, 999, 0.1, 100), 1);
    assert_int_equal(ch_feed_policy_push(&p, 1000, 0.1, 100), 0);
    assert_int_equal(ch_feed_policy_pull(&p, 1000, 0.1, 100), 1);
    p.celebrity_followers = 0; /* no cut-off */
    assert_int_equal(ch_feed_policy_push(&p, 10000000, 0.1, 100), 1);
    p.mode = CH_FEED_MODE_PUSH_ALL;
    assert_int_equal(ch_feed_policy_push(&p, 10000000, 1000, 0), 1);
    assert_int_equal(ch_feed_policy_pull(&p, 10000000, 1000, 0), 0);
    p.mode = CH_FEED_MODE_PULL_ALL;
    assert_int_equal(ch_feed_policy_push(&p, 1, 0, 1000), 0);
    assert_int_equal(ch_feed_policy_pull(&p, 1, 0, 1000), 1);
}

/* For any rates, if the writer did not push with read rate r_w and posting rate p_w, a
 * reader who now sees a read rate up to sqrt(hysteresis) times r_w and a posting rate down
 * to p_w / sqrt(hysteresis) pulls: also at and below the floors (the lab found a reader at
 * 0.2/h with no margin at all when the floor came after the division). */
static void test_reader_pulls_whatever_the_writer_may_not_have_pushed(void **state)
{
    (void)state;
    ch_feed_policy_t p = ch_feed_policy_default();
    double m = sqrt(p.hysteresis);
    double rates[] = {0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1, 1.05, 1.5, 2.1, 2.5, 3, 4, 10, 40, 100};
    size_t n = sizeof rates / sizeof rates[0];
    for (size_t a = 0; a < n; a++)
        for (size_t w = 0; w < n; w++)
            for (double k = 1.0; k <= m + 1e-9; k += 0.25)
                for (double j = 1.0; j <= m + 1e-9; j += 0.25) {
                    double post_w = rates[a], read_w = rates[w];
                    if (!ch_feed_policy_push(&p, 10, post_w, read_w))
                        assert_int_equal(ch_feed_policy_pull(&p, 10, post_w / j, read_w * k), 1);
                }
    /* The margin costs something, not everything: a reader who reads far more often than
     * the author posts does not pull them. */
    assert_int_equal(ch_feed_policy_pull(&p, 10, 0.1, 10), 0);
    assert_int_equal(ch_feed_policy_pull(&p, 10, 100, 0.1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_steady_stream_reads_its_rate),
        cmocka_unit_test(test_push_where_follower_reads_more_than_author_posts),
        cmocka_unit_test(test_celebrities_and_modes),
        cmocka_unit_test(test_reader_pulls_whatever_the_writer_may_not_have_pushed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
