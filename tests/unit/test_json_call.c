/* Call helpers (http/call.h): query parameters and ?limit=. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/call.h"

/* ch_call_query on a query string; the result or NULL. */
static const char *q(const char *query, const char *name, char *buf, size_t buflen)
{
    ch_call_t call = {.query = (char *)query};
    return ch_call_query(&call, name, buf, buflen);
}

#define QUERY(query, name) q((query), (name), buf, sizeof(buf))

static void test_query_basic(void **state)
{
    char buf[64];
    assert_string_equal(QUERY("a=1", "a"), "1");
    assert_ptr_equal(QUERY("a=1", "a"), buf);
    assert_string_equal(QUERY("a=1&b=two&c=3", "b"), "two");
    assert_string_equal(QUERY("a=1&b=two&c=3", "c"), "3");
    assert_string_equal(QUERY("a=1&a=2", "a"), "1"); /* first occurrence wins */
    assert_string_equal(QUERY("&&a=1&", "a"), "1");
    assert_string_equal(QUERY("a=x=y", "a"), "x=y");
}

static void test_query_missing(void **state)
{
    char buf[64];
    assert_null(QUERY(NULL, "a"));
    assert_null(QUERY("", "a"));
    assert_null(QUERY("b=1", "a"));
    assert_null(QUERY("ab=1", "a"));
    assert_null(QUERY("ba=1", "a"));
    assert_null(QUERY("=1", "a"));
}

static void test_query_empty_value(void **state)
{
    char buf[64];
    assert_string_equal(QUERY("a=", "a"), "");
    assert_string_equal(QUERY("a=&b=1", "a"), "");
    assert_string_equal(QUERY("a", "a"), ""); /* present without '=' */
    assert_string_equal(QUERY("b=1&a", "a"), "");
    assert_string_equal(QUERY("a&b=1", "b"), "1");
}

static void test_query_name_prefix(void **state)
{
    char buf[64];
    assert_string_equal(QUERY("limit=7", "limit"), "7");
    assert_null(QUERY("limit=7", "lim"));
    assert_null(QUERY("lim=5", "limit"));
    assert_string_equal(QUERY("limit=7&lim=5", "lim"), "5");
    assert_string_equal(QUERY("lim=5&limit=7", "limit"), "7");
    assert_null(QUERY("limitx=3", "limit"));
    assert_null(QUERY("xlimit=3", "limit"));
    assert_null(QUERY("limit", "lim"));
}

static void test_query_decoding(void **state)
{
    char buf[64];
    assert_string_equal(QUERY("q=hello%20world", "q"), "hello world");
    assert_string_equal(QUERY("q=a+b+c", "q"), "a b c");
    assert_string_equal(QUERY("q=1%2B1", "q"), "1+1"); /* an encoded '+' stays a '+' */
    assert_string_equal(QUERY("q=%26%3D", "q"), "&=");
    assert_string_equal(QUERY("q=%41%42", "q"), "AB");
    assert_string_equal(QUERY("q=caf%c3%A9", "q"), "caf\xC3\xA9"); /* either case of hex */
    /* Malformed escapes are kept as they are. */
    assert_string_equal(QUERY("q=100%", "q"), "100%");
    assert_string_equal(QUERY("q=%4", "q"), "%4");
    assert_string_equal(QUERY("q=%zz", "q"), "%zz");
    assert_string_equal(QUERY("q=%4g", "q"), "%4g");
    /* An escape never reads into the next parameter. */
    assert_string_equal(QUERY("q=%4&x=1", "q"), "%4");
    assert_string_equal(QUERY("q=%&41", "q"), "%");
}

static void test_query_buffer_bound(void **state)
{
    char small[4];
    memset(small, 'Z', sizeof(small));
    assert_string_equal(q("q=abcdef", "q", small, sizeof(small)), "abc");
    assert_string_equal(q("q=%41%42%43%44", "q", small, sizeof(small)), "ABC");
    char one[1];
    assert_string_equal(q("q=abc", "q", one, sizeof(one)), "");
}

/* ---- ch_call_limit ------------------------------------------------------------------------ */

static void expect_limit(const char *query, int want)
{
    ch_call_t call = {.query = (char *)query};
    int limit = -1;
    ch_err_t err = ch_call_limit(&call, &limit);
    if (err != CH_OK)
        fail_msg("?%s: error %d", query ? query : "(none)", err);
    assert_int_equal(limit, want);
}

static void expect_bad_limit(const char *query)
{
    ch_call_t call = {.query = (char *)query};
    int limit = -1;
    ch_err_t err = ch_call_limit(&call, &limit);
    if (err != CH_EINVAL)
        fail_msg("?%s: got %d (limit %d), want CH_EINVAL", query, err, limit);
    assert_non_null(call.fault.field);
    assert_string_equal(call.fault.field, "limit");
    assert_true(call.fault.detail[0] != '\0');
}

static void test_limit_good(void **state)
{
    expect_limit(NULL, 20);
    expect_limit("", 20);
    expect_limit("cursor=abc", 20);
    expect_limit("lim=5", 20);
    expect_limit("limit=1", 1);
    expect_limit("limit=100", 100);
    expect_limit("limit=20", 20);
    expect_limit("cursor=x&limit=42", 42);
    expect_limit("limit=%35", 5);
}

static void test_limit_bad(void **state)
{
    expect_bad_limit("limit=0");
    expect_bad_limit("limit=101");
    expect_bad_limit("limit=-1");
    expect_bad_limit("limit=abc");
    expect_bad_limit("limit=5x");
    expect_bad_limit("limit=");
    expect_bad_limit("limit");
    expect_bad_limit("limit=1.5");
    expect_bad_limit("limit=99999999999999999999999");
    expect_bad_limit("limit=+5");
    expect_bad_limit("limit=%205"); /* " 5" */
    expect_bad_limit("limit=5%20");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_basic),
        cmocka_unit_test(test_query_missing),
        cmocka_unit_test(test_query_empty_value),
        cmocka_unit_test(test_query_name_prefix),
        cmocka_unit_test(test_query_decoding),
        cmocka_unit_test(test_query_buffer_bound),
        cmocka_unit_test(test_limit_good),
        cmocka_unit_test(test_limit_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
