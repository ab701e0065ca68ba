#include "core/unicode.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

long ch_uni_fold(const char *s, size_t len, char *out, size_t cap)
{
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &folded,
                                      UTF8PROC_CASEFOLD | UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    if (n < 0 || (size_t)n >= cap) {
        free(folded); /* utf8proc allocates with malloc; NULL on error */
        return -1;
    }
    memcpy(out, folded, (size_t)n + 1);
    free(folded);
    long chars = 0;
    for (utf8proc_ssize_t i = 0; i < n; i++)
        chars += ((unsigned char)out[i] & 0xC0) != 0x80;
    return chars;
}

#define CH__ZWNJ 0x200C
#define CH__ZWJ 0x200D
#define CH__BRAILLE_BLANK 0x2800 /* So, not whitespace to Unicode, blank on every screen */

ch_uni_name_t ch_uni_check_name(const char *s, size_t len, uint32_t *bad)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    int visible = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0)
            return CH_UNI_NAME_BAD_UTF8;
        i += (size_t)n;
        utf8proc_category_t cat = utf8proc_category(cp);
        int joiner = cp == CH__ZWNJ || cp == CH__ZWJ;
        switch (cat) {
        case UTF8PROC_CATEGORY_CC:
        case UTF8PROC_CATEGORY_CS:
        case UTF8PROC_CATEGORY_CO:
        case UTF8PROC_CATEGORY_CN:
        case UTF8PROC_CATEGORY_ZL:
        case UTF8PROC_CATEGORY_ZP:
            if (bad)
                *bad = (uint32_t)cp;
            return CH_UNI_NAME_FORBIDDEN;
        case UTF8PROC_CATEGORY_CF:
            if (!joiner) {
                if (bad)
                    *bad = (uint32_t)cp;
                return CH_UNI_NAME_FORBIDDEN;
            }
            break;
        case UTF8PROC_CATEGORY_ZS:
        case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC:
        case UTF8PROC_CATEGORY_ME:
            break;
        default:
            if (!utf8proc_get_property(cp)->ignorable && cp != CH__BRAILLE_BLANK)
                visible = 1;
            break;
        }
    }
    return visible ? CH_UNI_NAME_OK : CH_UNI_NAME_INVISIBLE;
}
