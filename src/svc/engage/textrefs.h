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
 *  - #tag: the run is 1-64 word characters (an over-long run is no hashtag); stored
 *    lower-case (ch_textrefs_lower: ASCII, Latin-1, Latin Extended-A and Additional,
 *    Greek, Cyrillic, Armenian, fullwidth Latin). No Unicode normalisation: a precomposed
 *    and a decomposed "é" are different tags.
 *  - URLs (from http:// or https://, wherever they start, up to the next space) are skipped, so "#fragment" in a link
 *    is no hashtag.
 *  - Duplicates (after lower-casing) count once; order of first appearance is kept. */
#ifndef CH_SVC_ENGAGE_TEXTREFS_H
#define CH_SVC_ENGAGE_TEXTREFS_H

#include <stddef.h>
#include <stdint.h>

#define CH_MENTION_HANDLE_MIN 3
#define CH_MENTION_HANDLE_MAX 30
#define CH_HASHTAG_MAX_CHARS 64
/* A lower-cased tag never grows in bytes (see ch_textrefs_lower), so 4 bytes a code point. */
#define CH_HASHTAG_MAX_BYTES (CH_HASHTAG_MAX_CHARS * 4)
/* Distinct mentions / hashtags one text may carry; more is refused (422), not truncated. */
#define CH_TEXTREFS_MENTIONS_MAX 30
#define CH_TEXTREFS_HASHTAGS_MAX 30

/** The references found in one text: lower-cased, distinct, in order of first appearance. */
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
 * then 1-64 word characters, nothing else. Writes the lower-cased tag into out and returns
 * 0, or -1 when s is no valid tag. */
int ch_hashtag_normalize(const char *s, char out[CH_HASHTAG_MAX_BYTES + 1]);
/** Whether code point cp may be part of a handle or hashtag (see the rules above). */
int ch_textrefs_is_word(uint32_t cp);
/** The lower-case form of cp for the scripts listed above; cp itself otherwise. */
uint32_t ch_textrefs_lower(uint32_t cp);

#endif
