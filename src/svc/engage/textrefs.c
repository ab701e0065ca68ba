#include "svc/engage/textrefs.h"

#include <string.h>

#include "core/unicode.h"

/* ---- character classes ------------------------------------------------------------------- */

/* Code points >= U+0080 that are not word characters: punctuation, symbols, spaces, format
 * characters, emoji and private use, by block or by the well-known members of a block.
 * Sorted and not overlapping: the binary search in ch_textrefs_is_word relies on it. */
static const struct {
    uint32_t lo, hi;
} ch__not_word[] = {
    {0x0080, 0x00A9}, {0x00AB, 0x00B4}, {0x00B6, 0x00B9}, {0x00BB, 0x00BF}, /* C1, Latin-1 punctuation */
    {0x00D7, 0x00D7}, {0x00F7, 0x00F7},                                     /* × ÷ */
    {0x02C2, 0x02C5}, {0x02D2, 0x02DF}, {0x02E5, 0x02EB}, {0x02ED, 0x02ED}, {0x02EF, 0x02FF},
    {0x0375, 0x0375}, {0x037E, 0x037E}, {0x0384, 0x0385}, {0x0387, 0x0387}, {0x03F6, 0x03F6}, /* Greek */
    {0x0482, 0x0482},                                                                         /* Cyrillic */
    {0x055A, 0x055F}, {0x0589, 0x058A}, {0x058D, 0x058F},                                     /* Armenian */
    {0x05BE, 0x05BE}, {0x05C0, 0x05C0}, {0x05C3, 0x05C3}, {0x05C6, 0x05C6}, {0x05F3, 0x05F4}, /* Hebrew */
    {0x0600, 0x060F}, {0x061B, 0x061F}, {0x066A, 0x066D}, {0x06D4, 0x06D4}, {0x06DD, 0x06DE}, /* Arabic */
    {0x06E9, 0x06E9}, {0x06FD, 0x06FE}, {0x0700, 0x070F},                                     /* Syriac */
    {0x0964, 0x0965}, {0x0970, 0x0970},                                                       /* Devanagari */
    {0x0E3F, 0x0E3F}, {0x0E4F, 0x0E4F}, {0x0E5A, 0x0E5B},                                     /* Thai */
    {0x0F01, 0x0F17}, {0x0F1A, 0x0F1F}, {0x0F34, 0x0F34}, {0x0F36, 0x0F36}, {0x0F38, 0x0F38}, /* Tibetan */
    {0x0F3A, 0x0F3D}, {0x0F85, 0x0F85}, {0x0FBE, 0x0FC5}, {0x0FC7, 0x0FDA},
    {0x104A, 0x104F}, {0x10FB, 0x10FB}, {0x1360, 0x1368}, {0x166D, 0x166E}, {0x1680, 0x1680},
    {0x169B, 0x169C}, {0x16EB, 0x16ED}, {0x17D4, 0x17D6}, {0x17D8, 0x17DB}, {0x1800, 0x180A},
    {0x180E, 0x180E},
    {0x1FBD, 0x1FBD}, {0x1FBF, 0x1FC1}, {0x1FCD, 0x1FCF}, {0x1FDD, 0x1FDF}, {0x1FED, 0x1FEF}, /* Greek accents */
    {0x1FFD, 0x1FFE},
    /* General punctuation (spaces, dashes, quotes, ZWSP, ZWJ, bidi controls) up to the end of
     * Miscellaneous Symbols and Arrows: currency, letterlike, number forms, arrows, maths,
     * technical, box drawing, shapes, dingbats, Braille. Only ZWNJ (U+200C, inside Persian
     * words) stays a word character. */
    {0x2000, 0x200B}, {0x200D, 0x2BFF},
    {0x2E00, 0x2E7F}, {0x2FF0, 0x2FFF},                                     /* punctuation, IDCs */
    {0x3000, 0x3004}, {0x3008, 0x3020}, {0x3030, 0x3030}, {0x3036, 0x3037}, /* CJK punctuation */
    {0x303D, 0x303F}, {0x309B, 0x309C}, {0x30A0, 0x30A0}, {0x30FB, 0x30FB},
    {0x31C0, 0x31EF}, {0x3200, 0x33FF}, {0x4DC0, 0x4DFF}, {0xA490, 0xA4CF}, /* strokes, enclosed, hexagrams */
    {0xA4FE, 0xA4FF}, {0xA60D, 0xA60F}, {0xA673, 0xA673}, {0xA67E, 0xA67E}, {0xA6F2, 0xA6F7},
    {0xA700, 0xA716}, {0xA720, 0xA721}, {0xA789, 0xA78A}, {0xA828, 0xA82B}, {0xA830, 0xA839},
    {0xA874, 0xA877}, {0xA8CE, 0xA8CF}, {0xA8F8, 0xA8FA}, {0xA92E, 0xA92F}, {0xA95F, 0xA95F},
    {0xAA5C, 0xAA5F}, {0xAB5B, 0xAB5B}, {0xABEB, 0xABEB},
    {0xD800, 0xF8FF},                                     /* surrogates, private use */
    {0xFB29, 0xFB29}, {0xFD3E, 0xFD3F}, {0xFDFC, 0xFDFD}, /* Hebrew/Arabic presentation forms */
    {0xFE00, 0xFE6F},                                     /* variation selectors, vertical, small forms */
    {0xFEFF, 0xFEFF},                                     /* BOM / ZWNBSP */
    {0xFF01, 0xFF0F}, {0xFF1A, 0xFF20}, {0xFF3B, 0xFF3E}, {0xFF40, 0xFF40}, /* fullwidth punctuation */
    {0xFF5B, 0xFF65}, {0xFFE0, 0xFFFF},
    {0x1D000, 0x1D24F}, {0x1D300, 0x1D35F}, /* musical symbols, Tai Xuan Jing */
    {0x1F000, 0x1FBFF},                     /* emoji, pictographs, playing cards, legacy computing */
    {0xE0000, 0xE0FFF},                     /* tags (flag sequences), variation selectors supplement */
    {0xF0000, 0x10FFFF},                    /* supplementary private use */
};

int ch_textrefs_is_word(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
    if (cp > 0x10FFFF)
        return 0;
    size_t lo = 0, hi = sizeof(ch__not_word) / sizeof(ch__not_word[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < ch__not_word[mid].lo)
            hi = mid;
        else if (cp > ch__not_word[mid].hi)
            lo = mid + 1;
        else
            return 0;
    }
    return 1;
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

/* Decodes the code point at s[i] (i < len) into *cp and returns its length in bytes. A byte
 * that does not start a well-formed sequence decodes as U+FFFD (not a word character) of
 * length 1, so invalid input only separates words. */
static size_t ch__decode(const unsigned char *s, size_t len, size_t i, uint32_t *cp)
{
    unsigned char c = s[i];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, v = c & 0x1Fu, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, v = c & 0x0Fu, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, v = c & 0x07u, min = 0x10000;
    else
        goto bad;
    if (i + n > len)
        goto bad;
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            goto bad;
        v = (v << 6) | (s[i + k] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        goto bad;
    *cp = v;
    return n;
bad:
    *cp = 0xFFFD;
    return 1;
}

/* ---- scanning ---------------------------------------------------------------------------- */

#define CH__ZWNJ 0x200Cu

/* A run of word characters from s[i]: its end (byte offset), its length in code points,
 * and whether all of it is [A-Za-z0-9_]. A trailing ZWNJ is not part of it. */
typedef struct {
    size_t end;
    size_t chars;
    int ascii;
} ch__run_t;

static ch__run_t ch__scan_run(const unsigned char *s, size_t len, size_t i)
{
    ch__run_t r = {i, 0, 1};
    size_t last_end = i, last_chars = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = ch__decode(s, len, i, &cp);
        if (!ch_textrefs_is_word(cp))
            break;
        i += n;
        r.chars++;
        if (cp >= 0x80)
            r.ascii = 0;
        if (cp != CH__ZWNJ) {
            last_end = i;
            last_chars = r.chars;
        }
    }
    r.end = last_end;
    r.chars = last_chars;
    return r;
}

/* Writes the identifier form (ch_uni_fold: case-folded NFC) of the run s[from..to) of
 * `chars` code points into out[0..cap): 0, or -1 when the folded form is not 1..max_chars
 * code points. A run longer than CH_TEXTREFS_RUN_MAX_CHARS is refused unfolded. */
static int ch__fold_run(const unsigned char *s, size_t from, size_t to, size_t chars, size_t max_chars, char *out,
                        size_t cap)
{
    if (chars < 1 || chars > CH_TEXTREFS_RUN_MAX_CHARS)
        return -1;
    long n = ch_uni_fold((const char *)s + from, to - from, out, cap);
    return n >= 1 && (size_t)n <= max_chars ? 0 : -1;
}

/* Whether s[i..] starts with prefix, ASCII case-insensitively. */
static int ch__starts_with_ci(const unsigned char *s, size_t len, size_t i, const char *prefix)
{
    size_t n = strlen(prefix);
    if (i + n > len)
        return 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = s[i + k];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 0x20);
        if (c != (unsigned char)prefix[k])
            return 0;
    }
    return 1;
}

static int ch__is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xA0 || cp == 0x3000 ||
           (cp >= 0x2000 && cp <= 0x200B);
}

ch_textrefs_result_t ch_textrefs_parse(const char *text, size_t len, ch_textrefs_t *out)
{
    const unsigned char *s = (const unsigned char *)text;
    memset(out, 0, sizeof(*out));
    int prev_word = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = ch__decode(s, len, i, &cp);
        if (ch__starts_with_ci(s, len, i, "http://") || ch__starts_with_ci(s, len, i, "https://")) {
            while (i < len && (n = ch__decode(s, len, i, &cp), !ch__is_space(cp)))
                i += n;
            prev_word = 0;
            continue;
        }
        int at = cp == '@' || cp == 0xFF20, hash = cp == '#' || cp == 0xFF03;
        if (!(at || hash) || prev_word) {
            prev_word = ch_textrefs_is_word(cp);
            i += n;
            continue;
        }
        ch__run_t run = ch__scan_run(s, len, i + n);
        size_t from = i + n;
        char handle[CH_MENTION_HANDLE_MAX + 1], tag[CH_HASHTAG_MAX_BYTES + 1];
        if (at && run.ascii && run.chars >= CH_MENTION_HANDLE_MIN && run.chars <= CH_MENTION_HANDLE_MAX &&
            ch__fold_run(s, from, run.end, run.chars, CH_MENTION_HANDLE_MAX, handle, sizeof(handle)) == 0) {
            size_t k = 0;
            while (k < out->nmentions && strcmp(out->mentions[k], handle) != 0)
                k++;
            if (k == out->nmentions) {
                if (out->nmentions == CH_TEXTREFS_MENTIONS_MAX)
                    return CH_TEXTREFS_TOO_MANY_MENTIONS;
                memcpy(out->mentions[out->nmentions++], handle, sizeof(handle));
            }
        } else if (hash && ch__fold_run(s, from, run.end, run.chars, CH_HASHTAG_MAX_CHARS, tag, sizeof(tag)) == 0) {
            size_t k = 0;
            while (k < out->nhashtags && strcmp(out->hashtags[k], tag) != 0)
                k++;
            if (k == out->nhashtags) {
                if (out->nhashtags == CH_TEXTREFS_HASHTAGS_MAX)
                    return CH_TEXTREFS_TOO_MANY_HASHTAGS;
                memcpy(out->hashtags[out->nhashtags++], tag, sizeof(tag));
            }
        }
        /* Whatever the run was, it is consumed: "@alice@bob" mentions alice only. */
        if (run.end > from) {
            i = run.end;
            prev_word = 1;
        } else {
            i += n;
            prev_word = 0;
        }
    }
    return CH_TEXTREFS_OK;
}

int ch_hashtag_normalize(const char *s, char out[CH_HASHTAG_MAX_BYTES + 1])
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), from = 0;
    if (len > 0 && s[0] == '#')
        from = 1;
    ch__run_t run = ch__scan_run(u, len, from);
    if (run.end != len)
        return -1;
    return ch__fold_run(u, from, len, run.chars, CH_HASHTAG_MAX_CHARS, out, CH_HASHTAG_MAX_BYTES + 1);
}
