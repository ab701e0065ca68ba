/* ch_format_rfc3339 (core/clock.h) and the printf-free appends of core/buf.h: byte for byte
 * what the former gmtime_r + snprintf formatting wrote, on edge cases (epoch, leap days,
 * century rules, negative times, year 9999 and beyond, milliseconds) and on a sweep. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"

/* The formatting ch_format_rfc3339 replaced, kept here as the reference. */
static void ref_format(int64_t unix_ms, char *buf)
{
    time_t secs = (time_t)(unix_ms / 1000);
    int ms = (int)(unix_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, CH_RFC3339_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static void check(int64_t ms)
{
    char got[CH_RFC3339_LEN], want[CH_RFC3339_LEN];
    memset(got, 'x', sizeof(got));
    size_t n = ch_format_rfc3339(ms, got);
    ref_format(ms, want);
    if (strcmp(got, want) != 0)
        fail_msg("%" PRId64 ": got %s, want %s", ms, got, want);
    assert_int_equal(n, strlen(want));
}

/* Milliseconds of y-m-d h:mi:s.ms UTC, from timegm (independent of the formatter). */
static int64_t at(int y, int m, int d, int h, int mi, int s, int ms)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void test_known_values(void **state)
{
    (void)state;
    char b[CH_RFC3339_LEN];
    assert_int_equal(ch_format_rfc3339(0, b), 24);
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
    ch_format_rfc3339(-1, b);
    assert_string_equal(b, "1969-12-31T23:59:59.999Z");
    ch_format_rfc3339(1795510260123LL, b);
    assert_string_equal(b, "2026-11-24T08:51:00.123Z");
    ch_format_rfc3339(at(2024, 2, 29, 12, 0, 0, 7), b);
    assert_string_equal(b, "2024-02-29T12:00:00.007Z");
    ch_format_rfc3339(at(9999, 12, 31, 23, 59, 59, 999), b);
    assert_string_equal(b, "9999-12-31T23:59:59.999Z");
    ch_format_rfc3339(at(10000, 1, 1, 0, 0, 0, 0), b);
    assert_string_equal(b, "10000-01-01T00:00:00.000Z");
    ch_format_rfc3339(at(0, 1, 1, 0, 0, 0, 0), b);
    assert_string_equal(b, "0000-01-01T00:00:00.000Z");
    ch_format_rfc3339(at(0, 1, 1, 0, 0, 0, 0) - 1, b);
    assert_string_equal(b, "-001-12-31T23:59:59.999Z");
}

static void test_edges_match_reference(void **state)
{
    (void)state;
    static const int years[] = {1, 99, 100, 399, 400, 1600, 1700, 1899, 1900, 1969, 1970, 1971, 1999, 2000,
                                2001, 2038, 2100, 2400, 9998, 9999};
    for (size_t i = 0; i < sizeof(years) / sizeof(years[0]); i++) {
        int y = years[i];
        /* around new year, the leap day and the end of February (leap or not) */
        int64_t points[] = {at(y, 1, 1, 0, 0, 0, 0), at(y, 2, 28, 23, 59, 59, 999), at(y, 3, 1, 0, 0, 0, 0),
                            at(y, 12, 31, 23, 59, 59, 999)};
        for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++)
            for (int64_t d = -1001; d <= 1001; d += 77)
                check(points[k] + d);
        check(at(y, 2, 29, 0, 0, 0, 1)); /* the leap day, or 1 March where there is none */
    }
    for (int64_t ms = -3000; ms <= 3000; ms++)
        check(ms);
    check(INT64_MAX / 4);
    check(-(INT64_MAX / 4));
    check(at(10000, 1, 1, 0, 0, 0, 0) - 1);
    check(at(10000, 1, 1, 0, 0, 0, 0));
    check(at(-1, 6, 15, 3, 4, 5, 6));
    check(at(-2000, 2, 29, 0, 0, 0, 0));
}

static void test_sweep_matches_reference(void **state)
{
    (void)state;
    /* a deterministic walk over 1900..2300 with odd steps: every field takes many values */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t span = at(2300, 1, 1, 0, 0, 0, 0) - at(1900, 1, 1, 0, 0, 0, 0);
        check(at(1900, 1, 1, 0, 0, 0, 0) + (int64_t)(x % (uint64_t)span));
    }
}

static void test_buf_appends(void **state)
{
    (void)state;
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append_u64(&b, 0);
    ch_buf_append(&b, ",", 1);
    ch_buf_append_u64(&b, UINT64_MAX);
    ch_buf_append(&b, ",", 1);
    ch_buf_append_i64(&b, -1);
    ch_buf_append(&b, ",", 1);
    ch_buf_append_i64(&b, INT64_MIN);
    ch_buf_append(&b, ",", 1);
    ch_buf_append_i64(&b, INT64_MAX);
    ch_buf_append(&b, ",", 1);
    ch_buf_append_time(&b, 0);
    ch_buf_append_str(&b, "!");
    assert_string_equal(b.data, "0,18446744073709551615,-1,-9223372036854775808,9223372036854775807,"
                                "\"1970-01-01T00:00:00.000Z\"!");
    assert_int_equal(b.len, strlen(b.data));
    ch_buf_clear(&b);
    /* growth across many appends: the text stays whole and NUL-terminated */
    char want[32];
    for (uint64_t v = 0; v < 5000; v++)
        ch_buf_append_u64(&b, v * 7919);
    int n = snprintf(want, sizeof(want), "%" PRIu64, (uint64_t)4999 * 7919);
    assert_memory_equal(b.data + b.len - (size_t)n, want, (size_t)n);
    assert_int_equal(b.data[b.len], '\0');
    ch_buf_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_edges_match_reference),
        cmocka_unit_test(test_sweep_matches_reference),
        cmocka_unit_test(test_buf_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
