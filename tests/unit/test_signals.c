/* Ranking-signal arithmetic (svc/engage/signals.h: weights, decay) and the ClickHouse URL
 * rules (store/clickhouse.h), without a database. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/clickhouse.h"
#include "svc/engage/signals.h"

#define CLOSE(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_weights(void **state)
{
    (void)state;
    CLOSE(ch_signals_weight("reaction", 1.0), 1.0);
    CLOSE(ch_signals_weight("reaction", 1.5), 1.5);
    CLOSE(ch_signals_weight("reaction", 0), 1.0);     /* no value: a like */
    CLOSE(ch_signals_weight("reaction", 1e9), 1.0);   /* absurd value: a like */
    CLOSE(ch_signals_weight("reaction", NAN), 1.0);
    CLOSE(ch_signals_weight("unreaction", 1.0), -1.0);
    CLOSE(ch_signals_weight("unreaction", 1.5), -1.5); /* takes back what a love gave */
    CLOSE(ch_signals_weight("unreaction", 0), -1.0);
    CLOSE(ch_signals_weight("unreaction", 1e9), -1.0);
    CLOSE(ch_signals_weight("comment", 1.0), 4.0);
    CLOSE(ch_signals_weight("reply", 1.0), 6.0);
    CLOSE(ch_signals_weight("mention", 1.0), 2.0);
    CLOSE(ch_signals_weight("view", 0), 0.2);
    CLOSE(ch_signals_weight("view", 10), 0.4);
    CLOSE(ch_signals_weight("view", 3600), 1.0);
    CLOSE(ch_signals_weight("view", -5), 0.2);
    CLOSE(ch_signals_weight("view", INFINITY), 0.2);
    CLOSE(ch_signals_weight("bogus", 1.0), 0.0);
    /* A reply is worth far more than a like. */
    assert_true(ch_signals_weight("reply", 1) >= 6 * ch_signals_weight("reaction", 1));
}

static void test_decay(void **state)
{
    (void)state;
    const int64_t h = CH_SIGNALS_AFFINITY_HALF_LIFE_MS;
    CLOSE(ch_signals_decay(8, 1000, 1000, h), 8);
    CLOSE(ch_signals_decay(8, 1000, 1000 + h, h), 4);
    CLOSE(ch_signals_decay(8, 1000, 1000 + 3 * h, h), 1);
    CLOSE(ch_signals_decay(8, 1000, 500, h), 8); /* never grows backwards */
    assert_int_equal(CH_SIGNALS_AFFINITY_HALF_LIFE_MS, 7LL * 24 * 3600 * 1000);
    assert_int_equal(CH_SIGNALS_VELOCITY_HALF_LIFE_MS, 3600LL * 1000);
}

static void test_clickhouse_urls(void **state)
{
    (void)state;
    char err[128];
    const char *good[] = {"http://127.0.0.1:8123", "http://127.0.0.1:8123/", "http://ch:8123/chorus",
                          "https://ch.example.com/analytics_1"};
    const char *bad[] = {"", "127.0.0.1:8123", "ftp://ch:21", "http://", "http:///db", "http://ch:8123/a/b",
                         "http://ch:8123/db-name", "http://u:p@ch:8123", "http://ch:8123/?x=1"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(ch_clickhouse_parse_url(good[i], err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ch_clickhouse_parse_url(bad[i], err, sizeof(err)), -1);
    ch_clickhouse_t *ch = ch_clickhouse_create("http://127.0.0.1:8123");
    assert_non_null(ch);
    assert_string_equal(ch_clickhouse_database(ch), "default");
    ch_clickhouse_destroy(ch);
    ch = ch_clickhouse_create("http://127.0.0.1:8123/chorus");
    assert_string_equal(ch_clickhouse_database(ch), "chorus");
    ch_clickhouse_destroy(ch);
    assert_null(ch_clickhouse_create("nonsense"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_decay),
        cmocka_unit_test(test_clickhouse_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
