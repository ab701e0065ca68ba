/* Unicode by utf8proc (core/unicode.h): identifier folding and the characters a display
 * name may hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/unicode.h"

static ch_uni_name_t check(const char *s, uint32_t *bad)
{
    return ch_uni_check_name(s, strlen(s), bad);
}

static void test_names_ok(void **state)
{
    assert_int_equal(check("Alice", NULL), CH_UNI_NAME_OK);
    assert_int_equal(check("Alice Liddell", NULL), CH_UNI_NAME_OK);
    assert_int_equal(check("caf\xC3\xA9", NULL), CH_UNI_NAME_OK);
    assert_int_equal(check("cafe\xCC\x81", NULL), CH_UNI_NAME_OK);               /* NFD mark after a letter */
    assert_int_equal(check("\xD9\x85\xDB\x8C\xE2\x80\x8C\xD8\xAE", NULL), CH_UNI_NAME_OK); /* ZWNJ in Persian */
    assert_int_equal(check("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9", NULL), CH_UNI_NAME_OK); /* 👨‍👩 (ZWJ) */
    assert_int_equal(check("\xE2\x9D\xA4\xEF\xB8\x8F", NULL), CH_UNI_NAME_OK);   /* ❤️ (VS16) */
    assert_int_equal(check("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", NULL), CH_UNI_NAME_OK); /* Hebrew, RTL letters */
}

static void test_names_forbidden(void **state)
{
    static const struct {
        const char *s;
        uint32_t cp;
    } cases[] = {
        {"a\xE2\x80\xAE" "b", 0x202E}, /* RLO */
        {"a\xE2\x80\xAA" "b", 0x202A}, /* LRE */
        {"a\xE2\x81\xA6" "b", 0x2066}, /* LRI */
        {"a\xE2\x81\xA9" "b", 0x2069}, /* PDI */
        {"a\xE2\x80\x8F" "b", 0x200F}, /* RLM */
        {"a\xE2\x80\x8B" "b", 0x200B}, /* ZWSP */
        {"a\xEF\xBB\xBF" "b", 0xFEFF}, /* BOM */
        {"a\xE2\x81\xA0" "b", 0x2060}, /* word joiner */
        {"a\xC2\xAD" "b", 0x00AD},     /* soft hyphen */
        {"a\xC2\x85" "b", 0x0085},     /* NEL (C1) */
        {"a\x07" "b", 0x0007},         /* BEL */
        {"a\xE2\x80\xA8" "b", 0x2028}, /* line separator */
        {"a\xEE\x80\x80" "b", 0xE000}, /* private use */
        {"a\xEF\xBF\xBF" "b", 0xFFFF}, /* noncharacter */
        {"a\xF3\xA0\x80\x81" "b", 0xE0001}, /* language tag */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t bad = 0;
        assert_int_equal(check(cases[i].s, &bad), CH_UNI_NAME_FORBIDDEN);
        assert_int_equal(bad, cases[i].cp);
    }
}

static void test_names_invisible(void **state)
{
    static const char *const cases[] = {
        " ",
        "   ",
        "\xE3\x80\x80",         /* ideographic space */
        "\xC2\xA0",             /* NBSP */
        "\xE2\x80\x8D",         /* ZWJ alone */
        "\xE2\x80\x8C\xE2\x80\x8D", /* joiners alone */
        "\xE3\x85\xA4",         /* Hangul filler U+3164 */
        "\xE1\x85\x9F\xE1\x85\xA0", /* Hangul choseong/jungseong fillers */
        "\xEF\xBE\xA0",         /* halfwidth Hangul filler */
        "\xCC\x81\xCC\x81",     /* combining marks alone */
        "\xEF\xB8\x8F",         /* VS16 alone */
        "\xE2\xA0\x80",         /* Braille blank */
        " \xE2\xA0\x80 \xCD\x8F", /* mixed, with CGJ */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(check(cases[i], NULL), CH_UNI_NAME_INVISIBLE);
    assert_int_equal(ch_uni_check_name("\xFF", 1, NULL), CH_UNI_NAME_BAD_UTF8);
}

static void test_fold(void **state)
{
    char out[64];
    assert_int_equal(ch_uni_fold("Caf\xC3\x89", 5, out, sizeof(out)), 4);
    assert_string_equal(out, "caf\xC3\xA9");
    assert_int_equal(ch_uni_fold("CAFE\xCC\x81", 6, out, sizeof(out)), 4);
    assert_string_equal(out, "caf\xC3\xA9");
    assert_int_equal(ch_uni_fold("Stra\xC3\x9F" "e", 7, out, sizeof(out)), 7);
    assert_string_equal(out, "strasse");
    assert_int_equal(ch_uni_fold("abcdef", 6, out, 6), -1); /* does not fit with its NUL */
    assert_int_equal(ch_uni_fold("ab\xFF", 3, out, sizeof(out)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_ok),
        cmocka_unit_test(test_names_forbidden),
        cmocka_unit_test(test_names_invisible),
        cmocka_unit_test(test_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
