/* Mentions and hashtags parser (svc/engage/textrefs.h): word characters across scripts,
 * boundaries, lower-casing, limits, URLs, invalid UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "svc/engage/textrefs.h"

static ch_textrefs_t refs;

/* Parses a literal (byte-exact length) and checks the result code. */
#define PARSE(lit) assert_int_equal(ch_textrefs_parse((lit), sizeof(lit) - 1, &refs), CH_TEXTREFS_OK)

/* Checks the found hashtags against a NULL-terminated list. */
static void expect_tags(const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    assert_int_equal(refs.nhashtags, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(refs.hashtags[i], want[i]);
}

static void expect_mentions(const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    assert_int_equal(refs.nmentions, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(refs.mentions[i], want[i]);
}

#define TAGS(...) expect_tags((const char *const[]){__VA_ARGS__, NULL})
#define NO_TAGS() expect_tags((const char *const[]){NULL})
#define MENTIONS(...) expect_mentions((const char *const[]){__VA_ARGS__, NULL})
#define NO_MENTIONS() expect_mentions((const char *const[]){NULL})

/* ---- hashtags ---------------------------------------------------------------------------- */

static void test_ascii_hashtags(void **state)
{
    PARSE("#Hello world #tag_1, #2024! (#x) #a-b");
    TAGS("hello", "tag_1", "2024", "x", "a");
    PARSE("no tags here");
    NO_TAGS();
    PARSE("#");
    NO_TAGS();
    PARSE("# space");
    NO_TAGS();
    PARSE("#_");
    TAGS("_");
}

static void test_hashtag_boundaries(void **state)
{
    PARSE("abc#tag x_#tag 9#tag");
    NO_TAGS();
    PARSE("##tag");
    TAGS("tag");
    PARSE("#tag#other");
    TAGS("tag");
    PARSE("#party\xF0\x9F\x8E\x89 #\xF0\x9F\x8E\x89party"); /* #party🎉 #🎉party */
    TAGS("party");
    PARSE("\"#quoted\" [#br] {#cu} #end.");
    TAGS("quoted", "br", "cu", "end");
}

static void test_hashtag_case_and_duplicates(void **state)
{
    PARSE("#Sunset #SUNSET #sunset #Sunrise");
    TAGS("sunset", "sunrise");
}

static void test_unicode_hashtags(void **state)
{
    PARSE("#Caf\xC3\xA9 #CAF\xC3\x89");                               /* #Café #CAFÉ */
    TAGS("caf\xC3\xA9");
    PARSE("#\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0");       /* #Москва */
    TAGS("\xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0");         /* москва */
    PARSE("#\xCE\x95\xCE\xBB\xCE\xBB\xCE\xAC\xCE\xB4\xCE\xB1");       /* #Ελλάδα */
    TAGS("\xCE\xB5\xCE\xBB\xCE\xBB\xCE\xAC\xCE\xB4\xCE\xB1");         /* ελλάδα */
    PARSE("#\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x80\x82");       /* #日本語。 */
    TAGS("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
    PARSE("#\xE4\xBA\xBA\xE3\x80\x85");                               /* #人々 (iteration mark) */
    TAGS("\xE4\xBA\xBA\xE3\x80\x85");
    PARSE("#\xC5\x81\xC3\xB3\xC5\xBA\xC3\xB3\xC5\xBA");               /* #Łóźóź */
    TAGS("\xC5\x82\xC3\xB3\xC5\xBA\xC3\xB3\xC5\xBA");
    PARSE("#\xC4\xB0stanbul");                                        /* #İstanbul */
    TAGS("istanbul");
    PARSE("#\xE1\xBA\x9E");                                           /* #ẞ */
    TAGS("\xC3\x9F");
    PARSE("#Vi\xE1\xBB\x86t");                                        /* #ViỆt */
    TAGS("vi\xE1\xBB\x87t");
    PARSE("#\xD5\x80\xD5\xA1\xD5\xB5");                               /* #Հայ */
    TAGS("\xD5\xB0\xD5\xA1\xD5\xB5");
    PARSE("#\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7\xD8\x8C x");     /* #مرحبا، (Arabic comma) */
    TAGS("\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7");
    PARSE("#\xD9\xA1\xD9\xA2");                                       /* Arabic-Indic digits */
    TAGS("\xD9\xA1\xD9\xA2");
    PARSE("#\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\x82\xE0\xA4\xA6\xE0\xA5\x80"); /* #हिंदी (with marks) */
    TAGS("\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\x82\xE0\xA4\xA6\xE0\xA5\x80");
    PARSE("#cafe\xCC\x81");                                           /* decomposed é: mark kept */
    TAGS("cafe\xCC\x81");
    PARSE("\xEF\xBC\x83\xEF\xBC\xB4\xEF\xBD\x81\xEF\xBD\x87");        /* ＃Ｔａｇ (fullwidth) */
    TAGS("\xEF\xBD\x94\xEF\xBD\x81\xEF\xBD\x87");
    PARSE("#a\xE2\x80\x94" "b #c\xC2\xA0" "d #e\xE2\x80\x9C");        /* em dash, NBSP, quote end tags */
    TAGS("a", "c", "e");
}

static void test_hashtag_length(void **state)
{
    char text[200], want[80];
    memset(want, 'a', 64);
    want[64] = '\0';
    snprintf(text, sizeof(text), "#%s", want);
    assert_int_equal(ch_textrefs_parse(text, strlen(text), &refs), CH_TEXTREFS_OK);
    TAGS(want);
    snprintf(text, sizeof(text), "#%sa #ok", want); /* 65 characters: no tag at all */
    assert_int_equal(ch_textrefs_parse(text, strlen(text), &refs), CH_TEXTREFS_OK);
    TAGS("ok");
    /* 64 two-byte characters are fine too: the limit is in characters. */
    char wide[200] = "#";
    for (int i = 0; i < 64; i++)
        strcat(wide, "\xC3\xA9");
    assert_int_equal(ch_textrefs_parse(wide, strlen(wide), &refs), CH_TEXTREFS_OK);
    assert_int_equal(refs.nhashtags, 1);
    assert_int_equal(strlen(refs.hashtags[0]), 128);
}

static void test_hashtag_limit(void **state)
{
    char text[1024] = "";
    for (int i = 0; i < CH_TEXTREFS_HASHTAGS_MAX; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "#t%d #T%d ", i, i);
    assert_int_equal(ch_textrefs_parse(text, strlen(text), &refs), CH_TEXTREFS_OK);
    assert_int_equal(refs.nhashtags, CH_TEXTREFS_HASHTAGS_MAX);
    strcat(text, "#onemore");
    assert_int_equal(ch_textrefs_parse(text, strlen(text), &refs), CH_TEXTREFS_TOO_MANY_HASHTAGS);
}

/* ---- mentions ---------------------------------------------------------------------------- */

static void test_mentions(void **state)
{
    PARSE("hi @Alice and @bob_1, @ALICE again; @al is short @x");
    MENTIONS("alice", "bob_1");
    PARSE("mail me: alice@example.com");
    NO_MENTIONS();
    PARSE("@alice's @bob. (@carol) @dave!");
    MENTIONS("alice", "bob", "carol", "dave");
    PARSE("@alice@bob");
    MENTIONS("alice");
    PARSE("@alice\xC3\xA9 @\xC3\xA9ve"); /* a run with non-ASCII letters is no handle */
    NO_MENTIONS();
    PARSE("@abcdefghijklmnopqrstuvwxyz0123 @abcdefghijklmnopqrstuvwxyz01234"); /* 30 and 31 */
    MENTIONS("abcdefghijklmnopqrstuvwxyz0123");
    PARSE("\xEF\xBC\xA0" "alice"); /* fullwidth ＠ */
    MENTIONS("alice");
    PARSE("@@alice");
    MENTIONS("alice");
}

static void test_mention_limit(void **state)
{
    char text[1024] = "";
    for (int i = 0; i < CH_TEXTREFS_MENTIONS_MAX; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "@user%02d @USER%02d ", i, i);
    assert_int_equal(ch_textrefs_parse(text, strlen(text), &refs), CH_TEXTREFS_OK);
    assert_int_equal(refs.nmentions, CH_TEXTREFS_MENTIONS_MAX);
    strcat(text, "@user99");
    assert_int_equal(ch_textrefs_parse(text, strlen(text), &refs), CH_TEXTREFS_TOO_MANY_MENTIONS);
}

/* ---- mixed input ------------------------------------------------------------------------- */

static void test_urls_are_skipped(void **state)
{
    PARSE("see https://example.com/page#frag and HTTP://x.org/@bob #real @carol");
    TAGS("real");
    MENTIONS("carol");
    PARSE("xhttps://example.com/#frag @bob"); /* a URL inside a word is still skipped */
    NO_TAGS();
    MENTIONS("bob");
}

static void test_invalid_utf8_separates(void **state)
{
    PARSE("#ab\xFF" "cd @alice\xC3");
    TAGS("ab");
    MENTIONS("alice");
    PARSE("\xE2\x82#tag"); /* truncated sequence before '#' */
    TAGS("tag");
    assert_int_equal(ch_textrefs_parse(NULL, 0, &refs), CH_TEXTREFS_OK);
    NO_TAGS();
    NO_MENTIONS();
}

static void test_zwnj(void **state)
{
    /* ZWNJ joins inside a Persian word but is not kept at the end of a tag. */
    PARSE("#\xD9\x85\xDB\x8C\xE2\x80\x8C\xD8\xAE\xD9\x88\xD8\xA7\xD9\x85 #ab\xE2\x80\x8C");
    TAGS("\xD9\x85\xDB\x8C\xE2\x80\x8C\xD8\xAE\xD9\x88\xD8\xA7\xD9\x85", "ab");
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void test_normalize(void **state)
{
    char out[CH_HASHTAG_MAX_BYTES + 1];
    assert_int_equal(ch_hashtag_normalize("Sunset", out), 0);
    assert_string_equal(out, "sunset");
    assert_int_equal(ch_hashtag_normalize("#Caf\xC3\x89", out), 0);
    assert_string_equal(out, "caf\xC3\xA9");
    assert_int_equal(ch_hashtag_normalize("", out), -1);
    assert_int_equal(ch_hashtag_normalize("#", out), -1);
    assert_int_equal(ch_hashtag_normalize("two words", out), -1);
    assert_int_equal(ch_hashtag_normalize("a-b", out), -1);
    assert_int_equal(ch_hashtag_normalize("##a", out), -1);
    assert_int_equal(ch_hashtag_normalize("bad\xFF", out), -1);
    char longtag[80];
    memset(longtag, 'z', 65);
    longtag[65] = '\0';
    assert_int_equal(ch_hashtag_normalize(longtag, out), -1);
    longtag[64] = '\0';
    assert_int_equal(ch_hashtag_normalize(longtag, out), 0);
}

static void test_word_classes(void **state)
{
    assert_true(ch_textrefs_is_word('a'));
    assert_true(ch_textrefs_is_word('_'));
    assert_false(ch_textrefs_is_word('-'));
    assert_false(ch_textrefs_is_word(' '));
    assert_true(ch_textrefs_is_word(0x00E9));   /* é */
    assert_true(ch_textrefs_is_word(0x00AA));   /* ª */
    assert_true(ch_textrefs_is_word(0x00B5));   /* µ */
    assert_false(ch_textrefs_is_word(0x00A0));  /* NBSP */
    assert_false(ch_textrefs_is_word(0x00BF));  /* ¿ */
    assert_false(ch_textrefs_is_word(0x00D7));  /* × */
    assert_true(ch_textrefs_is_word(0x0301));   /* combining acute */
    assert_true(ch_textrefs_is_word(0x4E2D));   /* 中 */
    assert_true(ch_textrefs_is_word(0x30FC));   /* ー */
    assert_false(ch_textrefs_is_word(0x30FB));  /* ・ */
    assert_false(ch_textrefs_is_word(0x3001));  /* 、 */
    assert_false(ch_textrefs_is_word(0x20AC));  /* € */
    assert_false(ch_textrefs_is_word(0x2764));  /* ❤ */
    assert_false(ch_textrefs_is_word(0x1F600)); /* 😀 */
    assert_false(ch_textrefs_is_word(0xFE0F));  /* VS16 */
    assert_false(ch_textrefs_is_word(0x200D));  /* ZWJ */
    assert_true(ch_textrefs_is_word(0x200C));   /* ZWNJ */
    assert_false(ch_textrefs_is_word(0xE000));  /* private use */
    assert_false(ch_textrefs_is_word(0x110000));
    assert_true(ch_textrefs_is_word(0x10FFFF - 0x10000 * 2)); /* U+EFFFF: unassigned, not excluded */
}

static void test_lower(void **state)
{
    assert_int_equal(ch_textrefs_lower('A'), 'a');
    assert_int_equal(ch_textrefs_lower('a'), 'a');
    assert_int_equal(ch_textrefs_lower('_'), '_');
    assert_int_equal(ch_textrefs_lower(0x00C9), 0x00E9); /* É */
    assert_int_equal(ch_textrefs_lower(0x00D7), 0x00D7); /* × unchanged */
    assert_int_equal(ch_textrefs_lower(0x00DF), 0x00DF); /* ß */
    assert_int_equal(ch_textrefs_lower(0x0141), 0x0142); /* Ł */
    assert_int_equal(ch_textrefs_lower(0x0142), 0x0142);
    assert_int_equal(ch_textrefs_lower(0x0100), 0x0101); /* Ā */
    assert_int_equal(ch_textrefs_lower(0x0178), 0x00FF); /* Ÿ */
    assert_int_equal(ch_textrefs_lower(0x017D), 0x017E); /* Ž */
    assert_int_equal(ch_textrefs_lower(0x0391), 0x03B1); /* Α */
    assert_int_equal(ch_textrefs_lower(0x03A3), 0x03C3); /* Σ */
    assert_int_equal(ch_textrefs_lower(0x0388), 0x03AD); /* Έ */
    assert_int_equal(ch_textrefs_lower(0x038F), 0x03CE); /* Ώ */
    assert_int_equal(ch_textrefs_lower(0x0401), 0x0451); /* Ё */
    assert_int_equal(ch_textrefs_lower(0x042F), 0x044F); /* Я */
    assert_int_equal(ch_textrefs_lower(0x0490), 0x0491); /* Ґ */
    assert_int_equal(ch_textrefs_lower(0x04C1), 0x04C2); /* Ӂ */
    assert_int_equal(ch_textrefs_lower(0x0531), 0x0561); /* Ա */
    assert_int_equal(ch_textrefs_lower(0x1EA0), 0x1EA1); /* Ạ */
    assert_int_equal(ch_textrefs_lower(0xFF21), 0xFF41); /* Ａ */
    assert_int_equal(ch_textrefs_lower(0x4E2D), 0x4E2D);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_hashtags),   cmocka_unit_test(test_hashtag_boundaries),
        cmocka_unit_test(test_hashtag_case_and_duplicates), cmocka_unit_test(test_unicode_hashtags),
        cmocka_unit_test(test_hashtag_length),   cmocka_unit_test(test_hashtag_limit),
        cmocka_unit_test(test_mentions),         cmocka_unit_test(test_mention_limit),
        cmocka_unit_test(test_urls_are_skipped), cmocka_unit_test(test_invalid_utf8_separates),
        cmocka_unit_test(test_zwnj),             cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_word_classes),     cmocka_unit_test(test_lower),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
