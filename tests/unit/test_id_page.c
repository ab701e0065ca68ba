/* A cached list's rounds (svc/common/id_page.h, ch_id_page_after): which cached rows answer a
 * round of ch_page_fill after a cursor, newest-first and oldest-first lists, and when a full
 * list must leave the round to the statement (a wrong answer here shows a page that skips or
 * repeats ids, or one cut short while older rows exist). And the hashtag keys
 * (svc/common/hydrate_keys.h, ch_hkey_tag): fixed length, one per tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "svc/common/hydrate_keys.h"
#include "svc/common/id_page.h"

static const ch_id_page_spec_t two_cols = {.tag = 'Z', .cols = 2, .cap = 4, .sql = "unused"};

static void test_newest_first_rounds(void **state)
{
    (void)state;
    uint64_t v[] = {50, 1, 40, 2, 30, 3, 20, 4}; /* ids in column 0, newest first */
    ch_id_page_t pg = {.v = v, .n = 4, .full = 0};
    size_t from = 99, n = 99;
    assert_int_equal(ch_id_page_after(&two_cols, &pg, 0, 1, 0, 3, &from, &n), 1); /* no cursor */
    assert_int_equal(from, 0);
    assert_int_equal(n, 3);
    assert_int_equal(ch_id_page_after(&two_cols, &pg, 0, 1, UINT64_MAX, 9, &from, &n), 1);
    assert_int_equal(from, 0);
    assert_int_equal(n, 4); /* the whole list: it ends there */
    assert_int_equal(ch_id_page_after(&two_cols, &pg, 0, 1, 40, 9, &from, &n), 1); /* strictly below */
    assert_int_equal(from, 2);
    assert_int_equal(n, 2);
    assert_int_equal(ch_id_page_after(&two_cols, &pg, 0, 1, 35, 1, &from, &n), 1);
    assert_int_equal(from, 2);
    assert_int_equal(n, 1);
    assert_int_equal(ch_id_page_after(&two_cols, &pg, 0, 1, 20, 5, &from, &n), 1); /* past the end */
    assert_int_equal(n, 0);
    pg.full = 1; /* older rows exist: a round the rows cannot fill is the statement's */
    assert_int_equal(ch_id_page_after(&two_cols, &pg, 0, 1, 0, 3, &from, &n), 1);
    assert_int_equal(ch_id_page_after(&two_cols, &pg, 0, 1, 0, 5, &from, &n), 0);
    assert_int_equal(ch_id_page_after(&two_cols, &pg, 0, 1, 30, 1, &from, &n), 1);
    assert_int_equal(from, 3);
    assert_int_equal(ch_id_page_after(&two_cols, &pg, 0, 1, 20, 1, &from, &n), 0);
}

static void test_oldest_first_rounds(void **state)
{
    (void)state;
    static const ch_id_page_spec_t one_col = {.tag = 'Z', .cols = 1, .cap = 4, .sql = "unused"};
    uint64_t v[] = {10, 20, 30};
    ch_id_page_t pg = {.v = v, .n = 3, .full = 0};
    size_t from = 99, n = 99;
    assert_int_equal(ch_id_page_after(&one_col, &pg, 0, 0, 0, 2, &from, &n), 1);
    assert_int_equal(from, 0);
    assert_int_equal(n, 2);
    assert_int_equal(ch_id_page_after(&one_col, &pg, 0, 0, 20, 2, &from, &n), 1); /* strictly above */
    assert_int_equal(from, 2);
    assert_int_equal(n, 1);
    pg.full = 1;
    assert_int_equal(ch_id_page_after(&one_col, &pg, 0, 0, 20, 2, &from, &n), 0);
    assert_int_equal(ch_id_page_after(&one_col, &pg, 0, 0, 30, 1, &from, &n), 0);
}

static void test_tag_keys(void **state)
{
    (void)state;
    ch_hkey_t a, b;
    char longest[257];
    memset(longest, 'x', 256);
    longest[256] = '\0';
    assert_int_equal(strlen(ch_hkey_tag(a, longest)), CH_HKEY_TAG_LEN);
    assert_memory_equal(a, "T:", 2);
    ch_hkey_tag(b, "x");
    assert_string_not_equal(a, b);
    ch_hkey_tag(a, "x");
    assert_string_equal(a, b); /* the reader's key is the forget's */
    ch_hkey_tag(a, "X");
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newest_first_rounds),
        cmocka_unit_test(test_oldest_first_rounds),
        cmocka_unit_test(test_tag_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
