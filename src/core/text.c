#include "core/text.h"

#include <string.h>

long ch_utf8_count(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    long count = 0;
    while (s < end) {
        unsigned c = *s;
        size_t need;
        unsigned cp, min;
        if (c < 0x80) {
            s++;
            count++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return -1;
        }
        if ((size_t)(end - s) <= need)
            return -1;
        for (size_t i = 1; i <= need; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        s += need + 1;
        count++;
    }
    return count;
}

int ch_text_has_control(const char *str, size_t len, int allow_newlines)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len; i++) {
        unsigned c = s[i];
        if (c < 0x20 || c == 0x7F) {
            if (allow_newlines && (c == '\n' || c == '\t' || c == '\r'))
                continue;
            return 1;
        }
        /* C1 controls U+0080..U+009F are encoded C2 80..C2 9F */
        if (c == 0xC2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F)
            return 1;
    }
    return 0;
}

int ch_text_is_https_url(const char *s, size_t max_len)
{
    size_t len = strlen(s);
    if (len > max_len || strncmp(s, "https://", 8) != 0)
        return 0;
    const char *host = s + 8;
    size_t host_len = strcspn(host, "/?#");
    /* No userinfo: "https://good.example@evil.example" shows one host and opens another. */
    if (host_len == 0 || host[0] == ':' || memchr(host, '@', host_len))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7F || c == '"' || c == '<' || c == '>' || c == '\\')
            return 0;
    }
    return 1;
}
