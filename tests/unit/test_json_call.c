/* Call helpers (http/call.h): query parameters and ?limit=; naming the field of a body
 * Jansson refused (http/json_blame.h); allowed members (svc/common/fields.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/call.h"
#include "http/json_blame.h"
#include "svc/common/fields.h"

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

/* ---- json_blame ------------------------------------------------------------------------ */

/* Parses body like dispatch.c does and, when Jansson refuses it, asks ch_json_blame. */
static ch_json_blame_t blame(const char *body, char path[CH_JSON_BLAME_PATH_MAX])
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, strlen(body), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    assert_null(doc); /* every case below is one Jansson refuses */
    return ch_json_blame(body, strlen(body), json_error_code(&jerr), path);
}

static void test_blame_big_numbers(void **state)
{
    char path[CH_JSON_BLAME_PATH_MAX];
    assert_int_equal(blame("{\"watch_ms\": 99999999999999999999999}", path), CH_JSON_BLAME_NUMBER);
    assert_string_equal(path, "watch_ms");
    assert_int_equal(blame("{\"a\": 1, \"n\": -9223372036854775809}", path), CH_JSON_BLAME_NUMBER);
    assert_string_equal(path, "n");
    assert_int_equal(blame("{\"n\": 9223372036854775808}", path), CH_JSON_BLAME_NUMBER);
    assert_string_equal(path, "n");
    assert_int_equal(blame("{\"x\": 1e999}", path), CH_JSON_BLAME_NUMBER);
    assert_string_equal(path, "x");
    assert_int_equal(blame("{\"media\": [{\"url\": \"u\"}, {\"width\": 123456789012345678901234567890}]}", path),
                     CH_JSON_BLAME_NUMBER);
    assert_string_equal(path, "media[1].width");
    /* Digits inside strings (and escaped quotes) are no numbers. */
    assert_int_equal(blame("{\"t\": \"99999999999999999999999 \\\" 1e999\", \"n\": 1e400}", path),
                     CH_JSON_BLAME_NUMBER);
    assert_string_equal(path, "n");
}

static void test_blame_text(void **state)
{
    char path[CH_JSON_BLAME_PATH_MAX];
    assert_int_equal(blame("{\"text\": \"a\xFF" "b\"}", path), CH_JSON_BLAME_TEXT);
    assert_string_equal(path, "text");
    assert_int_equal(blame("{\"text\": \"a\\u0000b\"}", path), CH_JSON_BLAME_TEXT);
    assert_string_equal(path, "text");
    assert_int_equal(blame("{\"a\": {\"b\": [\"ok\", \"\xC3\"]}}", path), CH_JSON_BLAME_TEXT);
    assert_string_equal(path, "a.b[1]");
    /* The first in the document is named, whatever its kind. */
    assert_int_equal(blame("{\"s\": \"\xFF\", \"n\": 1e999}", path), CH_JSON_BLAME_TEXT);
    assert_string_equal(path, "s");
    assert_int_equal(blame("{\"n\": 1e999, \"s\": \"\xFF\"}", path), CH_JSON_BLAME_NUMBER);
    assert_string_equal(path, "n");
}

static void test_blame_none(void **state)
{
    char path[CH_JSON_BLAME_PATH_MAX];
    assert_int_equal(blame("{\"n\": 1e999,}", path), CH_JSON_BLAME_NONE);         /* malformed anyway */
    assert_int_equal(blame("{\"n\": 99999999999999999999 1}", path), CH_JSON_BLAME_NONE);
    assert_int_equal(blame("{\"\xFF\": 1}", path), CH_JSON_BLAME_NONE);           /* a key, not a value */
    assert_int_equal(blame("{\"a\": 1, \"a\": \"\xFF\"}", path), CH_JSON_BLAME_NONE); /* duplicate key */
    assert_int_equal(blame("99999999999999999999", path), CH_JSON_BLAME_NONE);    /* no field to name */
    assert_int_equal(blame("\"\xFF\"", path), CH_JSON_BLAME_NONE);
    assert_int_equal(blame("{\"a\": \xFF}", path), CH_JSON_BLAME_NONE);           /* outside a string */
}

static void test_blame_long_path(void **state)
{
    /* A long key is cut at a character boundary, never inside one. */
    char body[600] = "{\"", path[CH_JSON_BLAME_PATH_MAX];
    for (int i = 0; i < 100; i++)
        strcat(body, "\xC3\xA9");
    strcat(body, "\": 1e999}");
    assert_int_equal(blame(body, path), CH_JSON_BLAME_NUMBER);
    assert_true(strlen(path) <= CH_JSON_BLAME_PATH_MAX - 1);
    assert_int_equal(strlen(path) % 2, 0);
}

/* ---- allowed members ------------------------------------------------------------------- */

static void test_field_only(void **state)
{
    static const char *const allowed[] = {"handle", "password", NULL};
    ch_fault_t f = {0};
    json_t *ok = json_pack("{s:s, s:s}", "handle", "a", "password", "b");
    assert_int_equal(ch_field_only(ok, allowed, &f), CH_OK);
    json_t *empty = json_object();
    assert_int_equal(ch_field_only(empty, allowed, &f), CH_OK);
    json_t *bad = json_pack("{s:s, s:s}", "handle", "a", "is_admin", "yes");
    assert_int_equal(ch_field_only(bad, allowed, &f), CH_EINVAL);
    assert_string_equal(f.field, "is_admin");
    assert_non_null(strstr(f.detail, "is_admin"));
    assert_non_null(strstr(f.detail, "handle, password"));
    json_t *nameless = json_pack("{s:s}", "", "x");
    assert_int_equal(ch_field_only(nameless, allowed, &f), CH_EINVAL);
    assert_string_equal(f.field, "\"\"");
    json_decref(nameless);
    json_decref(ok);
    json_decref(empty);
    json_decref(bad);
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
        cmocka_unit_test(test_blame_big_numbers),
        cmocka_unit_test(test_blame_text),
        cmocka_unit_test(test_blame_none),
        cmocka_unit_test(test_blame_long_path),
        cmocka_unit_test(test_field_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
