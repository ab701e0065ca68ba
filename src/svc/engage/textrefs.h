/* Mentions and hashtags in user text: the one parser every text field goes through (post
 * text, reel caption, comment text), so that "@Alice" and "#Café" mean the same thing
 * everywhere. Pure functions, no I/O: svc/engage/refs.h resolves and stores the result.
 *
 * Rules (docs/design.md, "Mentions and hashtags"):
 *  - A word character is an ASCII letter, digit or '_', or any code point >= U+0080 that is
 *    not in a table of punctuation, symbol, space, emoji and private-use ranges
 *    (ch_textrefs_is_word). So letters of every script, their combining marks and their
 *    digits count, without shipping the Unicode character database.
 *  - '@' or '#' (or their fullwidth forms U+FF20, U+FF03) starts a reference only when the
 *    character before it is not a word character: "mail@example.com" and "abc#tag" are no
 *    references. The reference is the whole run of word characters after it.
 *  - @handle: the run is 3-30 characters of [A-Za-z0-9_] (the handle rule of accounts);
 *    any other run ("@al", "@aliceé") is no mention.
 *  - #tag: the run, case-folded and NFC-normalised by utf8proc (core/unicode.h,
 *    ch_uni_fold), is 1-64 code points (an over-long run is no hashtag). That folded form is
 *    the tag's identity: "#Café", "#CAFÉ" and a decomposed "#café" are one tag, "ß" folds to
 *    "ss", final sigma to sigma; "İ" (U+0130) folds to "i" + U+0307 (Unicode's default, not
 *    the Turkish, folding), so "#İstanbul" and "#istanbul" are two tags. Not NFKC:
 *    fullwidth "ＴＡＧ" folds to "ｔａｇ", not "tag" (see docs/design.md).
 *  - URLs (from http:// or https://, wherever they start, up to the next space) are skipped, so "#fragment" in a link
 *    is no hashtag.
 *  - Duplicates (after folding) count once; order of first appearance is kept. */
#ifndef CH_SVC_ENGAGE_TEXTREFS_H
#define CH_SVC_ENGAGE_TEXTREFS_H

#include <stddef.h>
#include <stdint.h>

#define CH_MENTION_HANDLE_MIN 3
#define CH_MENTION_HANDLE_MAX 30
#define CH_HASHTAG_MAX_CHARS 64
/* The limit counts code points of the folded form, at most 4 bytes each. */
#define CH_HASHTAG_MAX_BYTES (CH_HASHTAG_MAX_CHARS * 4)
/* A run of more code points than this is refused before folding: NFC composes at most 4
 * code points (the longest canonical decomposition) into one, so it could not fold to 64. */
#define CH_TEXTREFS_RUN_MAX_CHARS (CH_HASHTAG_MAX_CHARS * 4)
/* Distinct mentions / hashtags one text may carry; more is refused (422), not truncated. */
#define CH_TEXTREFS_MENTIONS_MAX 30
#define CH_TEXTREFS_HASHTAGS_MAX 30

/** The references found in one text: folded (ch_uni_fold), distinct, in order of first appearance. */
typedef struct {
    size_t nmentions;
    char mentions[CH_TEXTREFS_MENTIONS_MAX][CH_MENTION_HANDLE_MAX + 1];
    size_t nhashtags;
    char hashtags[CH_TEXTREFS_HASHTAGS_MAX][CH_HASHTAG_MAX_BYTES + 1];
} ch_textrefs_t;

/** Outcome of ch_textrefs_parse. */
typedef enum {
    CH_TEXTREFS_OK = 0,
    CH_TEXTREFS_TOO_MANY_MENTIONS, /* more than CH_TEXTREFS_MENTIONS_MAX distinct handles */
    CH_TEXTREFS_TOO_MANY_HASHTAGS, /* more than CH_TEXTREFS_HASHTAGS_MAX distinct tags */
} ch_textrefs_result_t;

/** Finds the mentions and hashtags of text[0..len) (UTF-8; invalid bytes act as
 * separators) into out, which is zeroed first. text may be NULL when len is 0. On a
 * TOO_MANY result out holds what was found up to the limit. */
ch_textrefs_result_t ch_textrefs_parse(const char *text, size_t len, ch_textrefs_t *out);
/** Normalises one hashtag given on its own (a path parameter): an optional leading '#',
 * then a run of word characters folding to 1-64 code points, nothing else. Writes the
 * folded tag (ch_uni_fold) into out and returns
 * 0, or -1 when s is no valid tag. */
int ch_hashtag_normalize(const char *s, char out[CH_HASHTAG_MAX_BYTES + 1]);
/** Whether code point cp may be part of a handle or hashtag (see the rules above). */
int ch_textrefs_is_word(uint32_t cp);

#endif
