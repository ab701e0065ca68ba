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
    PARSE("#\xC4\xB0stanbul #ISTANBUL");                              /* #İstanbul: see test_turkish_i */
    TAGS("i\xCC\x87stanbul", "istanbul");
    PARSE("#\xE1\xBA\x9E #\xC3\x9F #SS");                                /* #ẞ #ß #SS: full folding */
    TAGS("ss");
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
    PARSE("#cafe\xCC\x81");                                           /* decomposed é: composed */
    TAGS("caf\xC3\xA9");
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

/* ---- Unicode by utf8proc ------------------------------------------------------------------ */

/* The single hashtag of a text; "" when none. */
static const char *tag_of(const char *text)
{
    assert_int_equal(ch_textrefs_parse(text, strlen(text), &refs), CH_TEXTREFS_OK);
    return refs.nhashtags == 1 ? refs.hashtags[0] : "";
}

static void test_nfc_nfd_one_tag(void **state)
{
    /* NFC "café" (U+00E9) and NFD "café" (e + U+0301) are one tag, in any case. */
    PARSE("#caf\xC3\xA9 #cafe\xCC\x81 #CAF\xC3\x89 #CAFE\xCC\x81");
    TAGS("caf\xC3\xA9");
    char a[CH_HASHTAG_MAX_BYTES + 1], b[CH_HASHTAG_MAX_BYTES + 1];
    assert_int_equal(ch_hashtag_normalize("cafe\xCC\x81", a), 0);
    assert_int_equal(ch_hashtag_normalize("#CAF\xC3\x89", b), 0);
    assert_string_equal(a, "caf\xC3\xA9");
    assert_string_equal(b, "caf\xC3\xA9");
    /* Hangul: conjoining jamo compose into the syllable. */
    assert_string_equal(tag_of("#\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), "\xED\x95\x9C"); /* 한 */
}

static void test_latin_extended_b_fold(void **state)
{
    /* Ǆ (U+01C4), ǅ (U+01C5, title case) and ǆ (U+01C6) are one letter in three cases. */
    PARSE("#\xC7\x84" "a #\xC7\x85" "a #\xC7\x86" "a");
    TAGS("\xC7\x86" "a");
    assert_string_equal(tag_of("#\xC6\x8F"), "\xC9\x99"); /* Ə -> ə (Azerbaijani) */
}

static void test_greek_sigma_fold(void **state)
{
    /* ΣΑΣ and σας: capital, medial and final sigma fold to one σ. */
    const char *upper = tag_of("#\xCE\xA3\xCE\x91\xCE\xA3");
    char copy[CH_HASHTAG_MAX_BYTES + 1];
    strcpy(copy, upper);
    assert_string_equal(tag_of("#\xCF\x83\xCE\xB1\xCF\x82"), copy);
    assert_string_equal(copy, "\xCF\x83\xCE\xB1\xCF\x83");
}

static void test_turkish_i(void **state)
{
    /* Unicode's default (not Turkish) folding: İ (U+0130) becomes i + U+0307 COMBINING DOT
     * ABOVE, I becomes i, and dotless ı (U+0131) stays itself: three different tags. */
    PARSE("#\xC4\xB0 #I #\xC4\xB1 #i\xCC\x87");
    TAGS("i\xCC\x87", "i", "\xC4\xB1");
}

static void test_fold_limits(void **state)
{
    /* The limit counts the folded form: 64 × ß folds to 128 letters, no tag; 32 × ß is one. */
    char text[400] = "#";
    for (int i = 0; i < 64; i++)
        strcat(text, "\xC3\x9F");
    assert_string_equal(tag_of(text), "");
    text[1 + 64] = '\0';
    assert_int_equal(strlen(tag_of(text)), 64);
    /* 64 NFD letters (128 code points) compose into 64: one tag. */
    char nfd[400] = "#";
    for (int i = 0; i < 64; i++)
        strcat(nfd, "e\xCC\x81");
    assert_int_equal(strlen(tag_of(nfd)), 128);
    /* 64 × ΐ (U+0390, whose full folding is three code points) is composed back: 64. */
    char iota[400] = "#";
    for (int i = 0; i < 64; i++)
        strcat(iota, "\xCE\x90");
    assert_int_equal(strlen(tag_of(iota)), 128);
    /* A run past CH_TEXTREFS_RUN_MAX_CHARS is refused before folding. */
    char marks[1200] = "#a";
    for (int i = 0; i < CH_TEXTREFS_RUN_MAX_CHARS; i++)
        strcat(marks, "\xCC\x81");
    assert_string_equal(tag_of(marks), "");
}

static void test_fold_is_idempotent(void **state)
{
    /* A stored tag given back as a path is itself: the hashtag page of every rendered tag. */
    static const char *const samples[] = {"Stra\xC3\x9F" "e", "\xCE\xA3\xCE\x91\xCE\xA3", "\xC4\xB0stanbul",
                                          "\xC7\x85", "cafe\xCC\x81", "\xCE\x90", "\xE1\xBE\x88", /* ᾈ */
                                          "\xEF\xAC\x81", /* ﬁ */ "\xE1\x8E\xA0" /* Ꭰ Cherokee */, NULL};
    for (size_t i = 0; samples[i]; i++) {
        char once[CH_HASHTAG_MAX_BYTES + 1], twice[CH_HASHTAG_MAX_BYTES + 1];
        assert_int_equal(ch_hashtag_normalize(samples[i], once), 0);
        assert_int_equal(ch_hashtag_normalize(once, twice), 0);
        assert_string_equal(once, twice);
    }
}

/* ---- rows stored before utf8proc ---------------------------------------------------------- */

/* The hand-kept lower-casing that tags were stored with before (kept here as a reference
 * only): an old row stays reachable when its tag is its own folded form. */
/* Upper-case letters in [lo, hi] whose lower case is the next code point, for blocks that
 * alternate upper/lower: `parity` is the parity of the upper-case members. */
static const struct {
    uint32_t lo, hi;
    uint32_t parity;
} legacy_pairs[] = {
    {0x0100, 0x012F, 0}, {0x0132, 0x0137, 0}, {0x0139, 0x0148, 1}, {0x014A, 0x0177, 0}, {0x0179, 0x017E, 1},
    {0x0460, 0x0481, 0}, {0x048A, 0x04BF, 0}, {0x04C1, 0x04CE, 1}, {0x04D0, 0x052F, 0},
    {0x1E00, 0x1E95, 0}, {0x1EA0, 0x1EFF, 0},
};

static uint32_t legacy_lower(uint32_t cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 0x20;
    if (cp < 0xC0)
        return cp;
    if (cp <= 0xDE)
        return cp == 0xD7 ? cp : cp + 0x20;
    switch (cp) {
    case 0x0130: return 'i';    /* İ */
    case 0x0178: return 0x00FF; /* Ÿ */
    case 0x0386: return 0x03AC; /* Ά */
    case 0x038C: return 0x03CC; /* Ό */
    case 0x04C0: return 0x04CF; /* Ӏ */
    case 0x1E9E: return 0x00DF; /* ẞ */
    default: break;
    }
    if (cp >= 0x0388 && cp <= 0x038A)
        return cp + 0x25;
    if (cp >= 0x038E && cp <= 0x038F)
        return cp + 0x3F;
    if ((cp >= 0x0391 && cp <= 0x03A1) || (cp >= 0x03A3 && cp <= 0x03AB))
        return cp + 0x20;
    if (cp >= 0x0400 && cp <= 0x040F)
        return cp + 0x50;
    if (cp >= 0x0410 && cp <= 0x042F)
        return cp + 0x20;
    if (cp >= 0x0531 && cp <= 0x0556)
        return cp + 0x30;
    if (cp >= 0xFF21 && cp <= 0xFF3A)
        return cp + 0x20;
    for (size_t i = 0; i < sizeof(legacy_pairs) / sizeof(legacy_pairs[0]); i++)
        if (cp >= legacy_pairs[i].lo && cp <= legacy_pairs[i].hi)
            return (cp & 1u) == legacy_pairs[i].parity ? cp + 1 : cp;
    return cp;
}


/* UTF-8 of cp into out (room for 5). */
static void put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)), out[3] = 0;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18)), out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F)), out[4] = 0;
    }
}

/* The alphabets the old tables lower-cased: ASCII, Latin-1, Latin Extended-A, the modern
 * Greek alphabet, Cyrillic, Armenian, Latin Extended Additional, fullwidth Latin. */
static int old_block(uint32_t cp)
{
    return cp < 0x0180 || (cp >= 0x0386 && cp <= 0x03CE) || (cp >= 0x0400 && cp < 0x0590) ||
           (cp >= 0x1E00 && cp <= 0x1E95) || (cp >= 0x1EA0 && cp <= 0x1EFF) || (cp >= 0xFF21 && cp <= 0xFF5A);
}

static void test_old_rows_reachable(void **state)
{
    /* A tag stored before was the old lower case of what was typed. It stays reachable when
     * it is its own fold. In the blocks the old tables covered, every character an old tag
     * could hold is, except these (their tags now fold elsewhere; docs/design.md). */
    static const uint32_t changed[] = {0x00B5 /* µ -> μ */, 0x00DF /* ß -> ss */, 0x0149 /* ŉ -> ʼn */,
                                       0x017F /* ſ -> s */,  0x03C2 /* ς -> σ */,  0x0587 /* և -> եւ */};
    size_t n_changed = sizeof(changed) / sizeof(changed[0]), seen = 0, outside = 0;
    for (uint32_t cp = 0x21; cp < 0x30000; cp++) {
        if (!ch_textrefs_is_word(cp) || (cp >= 0xD800 && cp < 0xE000))
            continue;
        uint32_t old = legacy_lower(cp);
        char in[8], out[CH_HASHTAG_MAX_BYTES + 1];
        put_utf8(old, in);
        if (ch_hashtag_normalize(in, out) != 0 || strcmp(in, out) == 0)
            continue;
        if (!old_block(old)) {
            outside++; /* a capital the old tables did not know, stored as typed */
            continue;
        }
        int listed = 0;
        for (size_t k = 0; k < n_changed; k++)
            if (changed[k] == old) {
                listed = 1;
                seen |= (size_t)1 << k;
            }
        if (!listed)
            print_message("U+%04X (old form of U+%04X) now folds to %s\n", (unsigned)old, (unsigned)cp, out);
        assert_true(listed);
    }
    assert_int_equal(seen, ((size_t)1 << n_changed) - 1); /* and each listed one does change */
    print_message("%zu code points outside the old blocks fold now (capitals the old tables did not know, compatibility variants)\n", outside);
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
        cmocka_unit_test(test_word_classes),     cmocka_unit_test(test_nfc_nfd_one_tag),
        cmocka_unit_test(test_latin_extended_b_fold), cmocka_unit_test(test_greek_sigma_fold),
        cmocka_unit_test(test_turkish_i), cmocka_unit_test(test_fold_limits), cmocka_unit_test(test_fold_is_idempotent),
        cmocka_unit_test(test_old_rows_reachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
