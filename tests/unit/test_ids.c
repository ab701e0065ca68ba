/* Ids (core/id.h): strictly increasing in one thread and unique across threads, time and
 * node bits where the layout says, decimal parse/format. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/id.h"

#define SEQ_MASK ((1u << CH_ID_SEQ_BITS) - 1)

static unsigned id_node(uint64_t id)
{
    return (unsigned)((id >> CH_ID_SEQ_BITS) & CH_ID_MAX_NODE);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- generation ------------------------------------------------------------------------ */

static void test_time_component_is_now(void **state)
{
    ch_id_set_node(0);
    int64_t before = ch_now_ms();
    uint64_t id = ch_id_next();
    int64_t after = ch_now_ms();
    int64_t t = ch_id_time_ms(id);
    /* An id may run a few ms ahead when a millisecond's 4096 sequence numbers are used up
     * (earlier tests in this process), never behind the clock. */
    assert_true(t >= before);
    assert_true(t <= after + 200);
    /* Sanity: the epoch is 2024-01-01, so a real id is well after it. */
    assert_true(t > CH_ID_EPOCH_MS);
}

static void test_time_ms_decodes_layout(void **state)
{
    int64_t ms = 1767225600123LL; /* 2026-01-01T00:00:00.123Z */
    uint64_t id = ((uint64_t)(ms - CH_ID_EPOCH_MS) << (CH_ID_NODE_BITS + CH_ID_SEQ_BITS)) |
                  ((uint64_t)CH_ID_MAX_NODE << CH_ID_SEQ_BITS) | SEQ_MASK;
    assert_int_equal(ch_id_time_ms(id), ms);
    assert_int_equal(ch_id_time_ms(0), CH_ID_EPOCH_MS);
}

static void test_strictly_increasing_100k(void **state)
{
    ch_id_set_node(0);
    uint64_t prev = ch_id_next();
    for (int i = 0; i < 100000; i++) {
        uint64_t id = ch_id_next();
        if (id <= prev)
            fail_msg("id %d: %llu after %llu", i, (unsigned long long)id, (unsigned long long)prev);
        prev = id;
    }
    /* Borrowing from later milliseconds stays bounded: 100k ids are ~25 ms worth. */
    assert_true(ch_id_time_ms(prev) <= ch_now_ms() + 200);
}

#define THREADS 4
#define PER_THREAD 25000

typedef struct {
    uint64_t *out;
    int increasing;
} gen_arg_t;

static void *gen_thread(void *p)
{
    gen_arg_t *a = p;
    a->increasing = 1;
    for (int i = 0; i < PER_THREAD; i++) {
        a->out[i] = ch_id_next();
        if (i && a->out[i] <= a->out[i - 1])
            a->increasing = 0;
    }
    return NULL;
}

static void test_unique_across_threads(void **state)
{
    ch_id_set_node(7);
    uint64_t *all = calloc(THREADS * PER_THREAD, sizeof(*all));
    assert_non_null(all);
    pthread_t th[THREADS];
    gen_arg_t args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t].out = all + t * PER_THREAD;
        assert_int_equal(pthread_create(&th[t], NULL, gen_thread, &args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_true(args[t].increasing);
    }
    qsort(all, THREADS * PER_THREAD, sizeof(*all), cmp_u64);
    for (size_t i = 1; i < THREADS * PER_THREAD; i++)
        if (all[i] == all[i - 1])
            fail_msg("duplicate id %llu", (unsigned long long)all[i]);
    for (size_t i = 0; i < THREADS * PER_THREAD; i++)
        assert_int_equal(id_node(all[i]), 7);
    free(all);
    ch_id_set_node(0);
}

static void test_node_bits(void **state)
{
    ch_id_set_node(5);
    uint64_t a = ch_id_next();
    assert_int_equal(id_node(a), 5);

    ch_id_set_node(CH_ID_MAX_NODE);
    uint64_t b = ch_id_next();
    assert_int_equal(id_node(b), CH_ID_MAX_NODE);
    /* Node bits sit between time and sequence: the time decodes the same whatever the node. */
    assert_true(ch_id_time_ms(b) >= ch_id_time_ms(a));
    assert_true(ch_id_time_ms(b) <= ch_now_ms() + 200);

    ch_id_set_node(0);
    uint64_t c = ch_id_next();
    assert_int_equal(id_node(c), 0);
    /* With node 0, only time and sequence bits are set. */
    uint64_t rebuilt = ((uint64_t)(ch_id_time_ms(c) - CH_ID_EPOCH_MS) << (CH_ID_NODE_BITS + CH_ID_SEQ_BITS)) |
                       (c & SEQ_MASK);
    assert_true(rebuilt == c);

    /* Out-of-range node ids are masked to the 10 bits, never spill into the time. */
    ch_id_set_node(CH_ID_MAX_NODE + 1 + 3);
    uint64_t d = ch_id_next();
    assert_int_equal(id_node(d), 3);
    assert_true(ch_id_time_ms(d) <= ch_now_ms() + 200);
    ch_id_set_node(0);
}

/* ---- parse / format --------------------------------------------------------------------- */

/* The floor of a moment is below every id made at it, by any node, and above every id of
 * the moment before. */
static void test_floor_bounds_the_ids_of_a_moment(void **state)
{
    (void)state;
    int64_t t = CH_ID_EPOCH_MS + 123456789;
    assert_int_equal(ch_id_floor(CH_ID_EPOCH_MS), 0);
    assert_int_equal(ch_id_floor(CH_ID_EPOCH_MS - 5), 0);
    assert_int_equal(ch_id_time_ms(ch_id_floor(t)), t);
    ch_id_set_node(CH_ID_MAX_NODE);
    assert_true(ch_id_at(t - 1, 4095) < ch_id_floor(t));
    ch_id_set_node(0);
    assert_true(ch_id_floor(t) <= ch_id_at(t, 0));
    assert_true(ch_id_floor(ch_now_ms()) <= ch_id_next());
}

static void test_parse_valid(void **state)
{
    assert_true(ch_id_parse("1") == 1);
    assert_true(ch_id_parse("123") == 123);
    assert_true(ch_id_parse("9007199254740993") == 9007199254740993ULL); /* > 2^53 */
    assert_true(ch_id_parse("18446744073709551615") == UINT64_MAX);   /* 20 digits */
    assert_true(ch_id_parse("00000000000000000042") == 42);           /* 20 digits */
}

static void test_parse_rejects(void **state)
{
    assert_true(ch_id_parse(NULL) == 0);
    assert_true(ch_id_parse("") == 0);
    assert_true(ch_id_parse("0") == 0);
    assert_true(ch_id_parse(" 1") == 0);
    assert_true(ch_id_parse("x1") == 0);
    assert_true(ch_id_parse("+1") == 0);
    assert_true(ch_id_parse("-1") == 0);
    assert_true(ch_id_parse("1x") == 0);
    assert_true(ch_id_parse("1 ") == 0);
    assert_true(ch_id_parse("12.5") == 0);
    assert_true(ch_id_parse("0x10") == 0);
    assert_true(ch_id_parse("100000000000000000000") == 0); /* 21 digits */
    assert_true(ch_id_parse("000000000000000000001") == 0); /* 21 digits, small value */
    assert_true(ch_id_parse("18446744073709551616") == 0);  /* UINT64_MAX + 1 */
    assert_true(ch_id_parse("18446744073709551620") == 0);
    assert_true(ch_id_parse("99999999999999999999") == 0);
}

static void test_format_parse_round_trip(void **state)
{
    char buf[CH_ID_STR_LEN];
    assert_string_equal(ch_id_format(1, buf), "1");
    assert_string_equal(ch_id_format(UINT64_MAX, buf), "18446744073709551615");
    assert_ptr_equal(ch_id_format(42, buf), buf);

    const uint64_t fixed[] = {1, 9, 10, 4095, 4096, 1ULL << 53, (1ULL << 63) - 1, 1ULL << 63, UINT64_MAX - 1,
                              UINT64_MAX};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        assert_true(ch_id_parse(ch_id_format(fixed[i], buf)) == fixed[i]);
    for (int i = 0; i < 1000; i++) {
        uint64_t id = ch_id_next();
        ch_id_format(id, buf);
        assert_true(strlen(buf) < CH_ID_STR_LEN);
        assert_true(ch_id_parse(buf) == id);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_component_is_now),
        cmocka_unit_test(test_time_ms_decodes_layout),
        cmocka_unit_test(test_strictly_increasing_100k),
        cmocka_unit_test(test_unique_across_threads),
        cmocka_unit_test(test_node_bits),
        cmocka_unit_test(test_floor_bounds_the_ids_of_a_moment),
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_format_parse_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
