/* The feed's deferred read signals (svc/feed/touch_queue.h) on the in-process stores: a
 * viewer's reads noted k times are applied as k bumps of the read rate at the last read's time,
 * the seen-set pages noted for a viewer all land in the set, notes after the stop are dropped,
 * and the stop drains what is pending. One test: the thread is one per process. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store/kv.h"
#include "store/timeline.h"
#include "svc/context.h"
#include "svc/feed/policy.h"
#include "svc/feed/seen.h"
#include "svc/feed/touch_queue.h"

static void test_notes_applied_then_dropped_after_stop(void **state)
{
    (void)state;
    char errbuf[128];
    ch_svc_t svc = {0};
    assert_int_equal(ch_timeline_open(NULL, &svc.timelines, errbuf, sizeof(errbuf)), CH_OK);
    assert_int_equal(ch_kv_open(NULL, &svc.kv, errbuf, sizeof(errbuf)), CH_OK);
    const uint64_t viewer = 7, idle = 8;
    ch_timeline_meta_t fresh = {.exists = 1};
    assert_int_equal(ch_timeline_replace(svc.timelines, viewer, NULL, 0, &fresh), CH_OK);

    const int64_t t0 = 1700000000000LL, t1 = t0 + 1000;
    assert_int_equal(ch_feed_touch_later(&svc, viewer, t0), 1);
    assert_int_equal(ch_feed_touch_later(&svc, viewer, t1), 1);
    assert_int_equal(ch_feed_touch_later(&svc, viewer, t0), 1); /* out of order: the last stays t1 */
    assert_int_equal(ch_feed_touch_later(&svc, idle, t1), 1);   /* no timeline: skipped, not made */
    ch_item_key_t page1[] = {{1, 101}, {1, 102}}, page2[] = {{1, 103}, {1, 101}};
    assert_int_equal(ch_feed_seen_later(&svc, viewer, page1, 2), 1);
    assert_int_equal(ch_feed_seen_later(&svc, viewer, page2, 2), 1);
    ch_feed_touch_stop(); /* drains */

    ch_timeline_meta_t meta[2];
    uint64_t users[2] = {viewer, idle};
    assert_int_equal(ch_timeline_meta_many(svc.timelines, users, 2, meta), CH_OK);
    assert_true(meta[0].exists);
    assert_int_equal(meta[0].last_read_ms, t1);
    /* three bumps (however the passes split them: each pass bumps from the stored rate) */
    double want = 0;
    int64_t at = 0;
    for (int i = 0; i < 3; i++, at = t1)
        want = ch_feed_rate_bump(want, at, t1, CH_FEED_READ_RATE_HALF_LIFE_MS);
    /* a pass that took the first note alone bumped at t0, decayed by 1 s to t1: a hair less */
    assert_true(meta[0].read_rate >= want * 0.999 && meta[0].read_rate <= want * 1.000001);
    assert_false(meta[1].exists);

    ch_item_key_t *seen = NULL;
    size_t n = 0;
    assert_int_equal(ch_feed_seen_load(&svc, viewer, &seen, &n), CH_OK);
    assert_int_equal(n, 3);
    for (uint64_t id = 101; id <= 103; id++)
        assert_true(ch_feed_seen_has(seen, n, (ch_item_key_t){1, id}));
    free(seen);

    assert_int_equal(ch_feed_touch_later(&svc, viewer, t1), 0); /* stopped: dropped */
    assert_int_equal(ch_feed_seen_later(&svc, viewer, page1, 2), 0);
    ch_kv_close(svc.kv);
    ch_timeline_close(svc.timelines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notes_applied_then_dropped_after_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
