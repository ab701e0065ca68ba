/* Unicode by a library (utf8proc): the identity of identifiers made from text (hashtags,
 * mentions) and the characters a name shown to other people may hold. No hand-kept tables:
 * categories, case folding and normalisation come from utf8proc's character database. */
#ifndef CH_CORE_UNICODE_H
#define CH_CORE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/** Folds s[0..len) (valid UTF-8) to its identifier form: full case folding, then NFC
 * (utf8proc UTF8PROC_CASEFOLD | UTF8PROC_COMPOSE | UTF8PROC_STABLE), so "Café", "CAFÉ" and
 * a decomposed "café" give the same bytes. Writes at most cap - 1 bytes and a NUL into out
 * and returns the number of code points, or -1 when s is not UTF-8 or the folded form does
 * not fit. */
long ch_uni_fold(const char *s, size_t len, char *out, size_t cap);

/** Verdict of ch_uni_check_name. */
typedef enum {
    CH_UNI_NAME_OK = 0,
    CH_UNI_NAME_BAD_UTF8,  /* not UTF-8 */
    CH_UNI_NAME_FORBIDDEN, /* a control, format (bidi, zero-width space…), separator,
                            * private-use, surrogate or unassigned code point: *bad tells which */
    CH_UNI_NAME_INVISIBLE, /* nothing that shows: only spaces, marks, fillers, joiners */
} ch_uni_name_t;

/** Checks a one-line name shown to others (a display name). Forbidden: categories Cc, Cf,
 * Cs, Co, Cn, Zl, Zp, except ZWNJ and ZWJ (U+200C/U+200D, needed inside Persian and Indic
 * words and emoji sequences). Invisible: no code point other than spaces (Z*), marks (M*),
 * the two joiners, default-ignorable code points (Hangul fillers, variation selectors…) and
 * the Braille blank U+2800. *bad (may be NULL) receives the first forbidden code point. */
ch_uni_name_t ch_uni_check_name(const char *s, size_t len, uint32_t *bad);

#endif
