/* User text validation (core/text.h): UTF-8 well-formedness and length, control
 * characters, https URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/text.h"

/* Byte-exact literals: the length excludes only the terminating NUL. */
#define COUNT(lit) ch_utf8_count((lit), sizeof(lit) - 1)
#define CTRL(lit, nl) ch_text_has_control((lit), sizeof(lit) - 1, (nl))

/* ---- ch_utf8_count ---------------------------------------------------------------------- */

static void test_utf8_ascii(void **state)
{
    assert_int_equal(COUNT(""), 0);
    assert_int_equal(COUNT("a"), 1);
    assert_int_equal(COUNT("hello, world"), 12);
    assert_int_equal(COUNT("\x7F"), 1);
    assert_int_equal(COUNT("a\0b"), 3); /* NUL is a code point; len, not strlen, counts */
    assert_int_equal(ch_utf8_count("hello", 3), 3);
}

static void test_utf8_multibyte(void **state)
{
    assert_int_equal(COUNT("\xC3\xA9"), 1);                 /* é U+00E9 */
    assert_int_equal(COUNT("caf\xC3\xA9"), 4);
    assert_int_equal(COUNT("\xE2\x82\xAC"), 1);             /* € U+20AC */
    assert_int_equal(COUNT("\xF0\x9F\x98\x80"), 1);         /* 😀 U+1F600 */
    assert_int_equal(COUNT("a\xC3\xA9" "b\xE2\x82\xAC" "c\xF0\x9F\x98\x80" "d"), 7);
    /* Boundaries of each length. */
    assert_int_equal(COUNT("\xC2\x80"), 1);         /* U+0080 */
    assert_int_equal(COUNT("\xDF\xBF"), 1);         /* U+07FF */
    assert_int_equal(COUNT("\xE0\xA0\x80"), 1);     /* U+0800 */
    assert_int_equal(COUNT("\xED\x9F\xBF"), 1);     /* U+D7FF, last before surrogates */
    assert_int_equal(COUNT("\xEE\x80\x80"), 1);     /* U+E000, first after surrogates */
    assert_int_equal(COUNT("\xEF\xBF\xBF"), 1);     /* U+FFFF */
    assert_int_equal(COUNT("\xF0\x90\x80\x80"), 1); /* U+10000 */
    assert_int_equal(COUNT("\xF4\x8F\xBF\xBF"), 1); /* U+10FFFF */
}

static void test_utf8_overlong(void **state)
{
    assert_int_equal(COUNT("\xC0\x80"), -1);         /* U+0000 in two bytes */
    assert_int_equal(COUNT("\xC1\xBF"), -1);         /* U+007F in two bytes */
    assert_int_equal(COUNT("\xE0\x80\x80"), -1);     /* U+0000 in three */
    assert_int_equal(COUNT("\xE0\x9F\xBF"), -1);     /* U+07FF in three */
    assert_int_equal(COUNT("\xF0\x80\x80\x80"), -1); /* U+0000 in four */
    assert_int_equal(COUNT("\xF0\x8F\xBF\xBF"), -1); /* U+FFFF in four */
    assert_int_equal(COUNT("ok\xC0\xAF"), -1);       /* overlong '/' after valid text */
}

static void test_utf8_surrogates_and_range(void **state)
{
    assert_int_equal(COUNT("\xED\xA0\x80"), -1);           /* U+D800 */
    assert_int_equal(COUNT("\xED\xBF\xBF"), -1);           /* U+DFFF */
    assert_int_equal(COUNT("\xED\xA0\xBD\xED\xB8\x80"), -1); /* CESU-8 surrogate pair */
    assert_int_equal(COUNT("\xF4\x90\x80\x80"), -1);       /* U+110000 */
    assert_int_equal(COUNT("\xF5\x80\x80\x80"), -1);
    assert_int_equal(COUNT("\xF7\xBF\xBF\xBF"), -1);
    assert_int_equal(COUNT("\xF8\x88\x80\x80\x80"), -1);   /* old 5-byte form */
    assert_int_equal(COUNT("\xFC\x84\x80\x80\x80\x80"), -1);
    assert_int_equal(COUNT("\xFE"), -1);
    assert_int_equal(COUNT("\xFF"), -1);
}

static void test_utf8_truncated(void **state)
{
    assert_int_equal(COUNT("\xC3"), -1);
    assert_int_equal(COUNT("\xE2\x82"), -1);
    assert_int_equal(COUNT("\xF0\x9F\x98"), -1);
    assert_int_equal(COUNT("abc\xF0\x9F"), -1);
    /* A lead byte followed by something that is not a continuation. */
    assert_int_equal(COUNT("\xC3" "a"), -1);
    assert_int_equal(COUNT("\xE2\x82" "a"), -1);
    assert_int_equal(COUNT("\xF0\x9F\x98" "a"), -1);
    assert_int_equal(COUNT("\xE2\xC3\xA9"), -1);
    /* len cuts a valid character short: nothing past len may be read as its tail. */
    assert_int_equal(ch_utf8_count("\xC3\xA9", 1), -1);
    assert_int_equal(ch_utf8_count("\xF0\x9F\x98\x80", 3), -1);
    assert_int_equal(ch_utf8_count("a\xE2\x82\xAC", 3), -1);
}

static void test_utf8_stray_continuation(void **state)
{
    assert_int_equal(COUNT("\x80"), -1);
    assert_int_equal(COUNT("\xBF"), -1);
    assert_int_equal(COUNT("a\x80" "b"), -1);
    assert_int_equal(COUNT("\xC3\xA9\xA9"), -1); /* one continuation too many */
    assert_int_equal(COUNT("\xE2\x82\xAC\x80"), -1);
}

/* ---- ch_text_has_control ----------------------------------------------------------------- */

static void test_control_c0_and_del(void **state)
{
    assert_int_equal(CTRL("plain text", 0), 0);
    assert_int_equal(CTRL("", 0), 0);
    assert_int_equal(CTRL(" ~", 0), 0); /* 0x20 and 0x7E are printable */
    assert_int_equal(CTRL("a\x01" "b", 0), 1);
    assert_int_equal(CTRL("\x1F", 1), 1);
    assert_int_equal(CTRL("\x1B[31m", 1), 1); /* ESC */
    assert_int_equal(CTRL("a\0b", 1), 1);     /* NUL inside the length */
    assert_int_equal(CTRL("\x7F", 0), 1);
    assert_int_equal(CTRL("end\x7F", 1), 1);
    /* Only bytes within len count. */
    assert_int_equal(ch_text_has_control("ab\x01", 2, 0), 0);
}

static void test_control_c1(void **state)
{
    assert_int_equal(CTRL("\xC2\x85", 0), 1); /* U+0085 NEL */
    assert_int_equal(CTRL("x\xC2\x80", 1), 1); /* U+0080 */
    assert_int_equal(CTRL("\xC2\x9F", 1), 1);  /* U+009F */
    assert_int_equal(CTRL("\xC2\xA0", 0), 0);  /* U+00A0 NBSP is not a control */
    assert_int_equal(CTRL("\xC2\xA9", 0), 0);  /* © */
    assert_int_equal(CTRL("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 0), 0);
    /* 0x85 as the continuation of another character is not U+0085. */
    assert_int_equal(CTRL("\xE2\x80\x85", 0), 0); /* U+2005 */
    assert_int_equal(CTRL("\xC3\x85", 0), 0);     /* Å U+00C5 */
}

static void test_control_newlines(void **state)
{
    assert_int_equal(CTRL("line one\nline two", 1), 0);
    assert_int_equal(CTRL("line one\nline two", 0), 1);
    assert_int_equal(CTRL("a\tb", 1), 0);
    assert_int_equal(CTRL("a\tb", 0), 1);
    assert_int_equal(CTRL("a\r\nb", 1), 0);
    assert_int_equal(CTRL("a\r\nb", 0), 1);
    /* Allowing newlines allows only those three. */
    assert_int_equal(CTRL("a\n\x0B", 1), 1); /* vertical tab */
    assert_int_equal(CTRL("a\n\x0C", 1), 1); /* form feed */
    assert_int_equal(CTRL("a\n\xC2\x85", 1), 1);
}

/* ---- ch_text_is_https_url ---------------------------------------------------------------- */

static void test_url_valid(void **state)
{
    assert_true(ch_text_is_https_url("https://example.com", 2048));
    assert_true(ch_text_is_https_url("https://example.com/", 2048));
    assert_true(ch_text_is_https_url("https://example.com/a/b?q=1&r=2#frag", 2048));
    assert_true(ch_text_is_https_url("https://example.com:8443/path", 2048));
    assert_true(ch_text_is_https_url("https://a.b", 2048));
}

static void test_url_rejected(void **state)
{
    assert_false(ch_text_is_https_url("", 2048));
    assert_false(ch_text_is_https_url("http://example.com", 2048));
    assert_false(ch_text_is_https_url("ftp://example.com", 2048));
    assert_false(ch_text_is_https_url("javascript:alert(1)", 2048));
    assert_false(ch_text_is_https_url("https:/example.com", 2048));
    assert_false(ch_text_is_https_url("example.com", 2048));
    /* no host */
    assert_false(ch_text_is_https_url("https://", 2048));
    assert_false(ch_text_is_https_url("https:///path", 2048));
    assert_false(ch_text_is_https_url("https://?q=1", 2048));
    assert_false(ch_text_is_https_url("https://#x", 2048));
    assert_false(ch_text_is_https_url("https://:443/", 2048));
    assert_false(ch_text_is_https_url("https://@evil", 2048));
    /* spaces and control characters anywhere */
    assert_false(ch_text_is_https_url("https://exa mple.com", 2048));
    assert_false(ch_text_is_https_url("https://example.com/a b", 2048));
    assert_false(ch_text_is_https_url("https://example.com/ ", 2048));
    assert_false(ch_text_is_https_url(" https://example.com", 2048));
    assert_false(ch_text_is_https_url("https://example.com/\t", 2048));
    assert_false(ch_text_is_https_url("https://example.com/\n", 2048));
    assert_false(ch_text_is_https_url("https://example.com/\x7F", 2048));
    /* characters that break out of HTML attributes */
    assert_false(ch_text_is_https_url("https://example.com/\"onload=x", 2048));
    assert_false(ch_text_is_https_url("https://example.com/<script>", 2048));
}

static void test_url_length_limit(void **state)
{
    const char *url = "https://example.com/abc"; /* 23 bytes */
    assert_int_equal(strlen(url), 23);
    assert_true(ch_text_is_https_url(url, 23));
    assert_false(ch_text_is_https_url(url, 22));
    assert_false(ch_text_is_https_url(url, 0));

    char long_url[3000];
    memcpy(long_url, "https://example.com/", 20);
    memset(long_url + 20, 'a', sizeof(long_url) - 21);
    long_url[sizeof(long_url) - 1] = '\0';
    assert_true(ch_text_is_https_url(long_url, sizeof(long_url) - 1));
    assert_false(ch_text_is_https_url(long_url, 2048));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_ascii),
        cmocka_unit_test(test_utf8_multibyte),
        cmocka_unit_test(test_utf8_overlong),
        cmocka_unit_test(test_utf8_surrogates_and_range),
        cmocka_unit_test(test_utf8_truncated),
        cmocka_unit_test(test_utf8_stray_continuation),
        cmocka_unit_test(test_control_c0_and_del),
        cmocka_unit_test(test_control_c1),
        cmocka_unit_test(test_control_newlines),
        cmocka_unit_test(test_url_valid),
        cmocka_unit_test(test_url_rejected),
        cmocka_unit_test(test_url_length_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
