/* The hydration cache's keys (svc/common/hydrate_keys.h), written digit by digit: the very
 * strings the printf formats they replaced made, for the extremes of every field (a key
 * written one way by a reader and another by a forget hook would never be forgotten). */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "svc/common/hydrate_keys.h"

static const uint64_t vals[] = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 4096, 9999, 10000, 12345, 99999999, 100000000, 387491057262133250ULL, (1ULL << 63) - 1, 1ULL << 63,
                                UINT64_MAX - 1, UINT64_MAX};
#define NVALS (sizeof(vals) / sizeof(vals[0]))

static void check_u64_put(uint64_t v)
{
    char got[32], want[32];
    memset(got, 'x', sizeof(got));
    char *end = ch_u64_put(got, v);
    int n = snprintf(want, sizeof(want), "%" PRIu64, v);
    assert_int_equal(end - got, n);
    assert_int_equal(got[n], 'x'); /* nothing written past the digits */
    *end = '\0';
    assert_string_equal(got, want);
}

static void test_u64_put(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVALS; i++)
        check_u64_put(vals[i]);
    /* every power of ten and its neighbours: where the digit count and the 8-digit groups
     * (10^8, 10^16) change */
    uint64_t p10 = 1;
    for (int d = 0; d < 20; d++, p10 *= 10) {
        check_u64_put(p10 - 1);
        check_u64_put(p10);
        check_u64_put(p10 + 1);
        check_u64_put(p10 * 2 - 1);
    }
    check_u64_put(UINT64_MAX - 1);
    check_u64_put(10000000000000000000ULL);
    /* random values of every length (a fixed xorshift: the same run every time), and groups
     * with inner zeros */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_u64_put(x);
        check_u64_put(x >> (x % 64));
        check_u64_put((x / 100000000u) * 100000000u + (x % 1000));
    }
}

static void test_keys_match_their_formats(void **state)
{
    (void)state;
    const unsigned types[] = {0, 1, 5, 255, UINT32_MAX};
    ch_hkey_t k;
    char want[128];
    for (size_t i = 0; i < NVALS; i++) {
        snprintf(want, sizeof(want), "u:%" PRIu64, vals[i]);
        assert_string_equal(ch_hkey_user(k, vals[i]), want);
        snprintf(want, sizeof(want), "s:%" PRIu64, vals[i]);
        assert_string_equal(ch_hkey_stories(k, vals[i]), want);
        for (size_t j = 0; j < NVALS; j++) {
            snprintf(want, sizeof(want), "r:%" PRIu64 ":%" PRIu64, vals[i], vals[j]);
            assert_string_equal(ch_hkey_rel(k, vals[i], vals[j]), want);
            for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
                snprintf(want, sizeof(want), "v:%" PRIu64 ":%u:%" PRIu64, vals[i], types[t], vals[j]);
                assert_string_equal(ch_hkey_viewer_item(k, vals[i], types[t], vals[j]), want);
            }
        }
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            snprintf(want, sizeof(want), "i:%u:%" PRIu64, types[t], vals[i]);
            assert_string_equal(ch_hkey_item(k, types[t], vals[i]), want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64_put),
        cmocka_unit_test(test_keys_match_their_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
