#include "http/mediatype.h"

#include <string.h>
#include <strings.h>

static int ch__ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 token characters. */
static int ch__tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

ch_media_check_t ch_media_check_json(const char *ct, size_t len)
{
    static const char want[] = "application/json";
    const size_t n = sizeof(want) - 1;
    if (!ct)
        return CH_MEDIA_OTHER;
    const char *p = ct, *end = ct + len;
    while (p < end && ch__ows(*p))
        p++;
    if ((size_t)(end - p) < n || strncasecmp(p, want, n) != 0)
        return CH_MEDIA_OTHER;
    p += n;
    if (p < end && ch__tchar(*p)) /* application/jsonx */
        return CH_MEDIA_OTHER;
    int bad_charset = 0;
    for (;;) {
        while (p < end && ch__ows(*p))
            p++;
        if (p == end)
            break;
        if (*p++ != ';')
            return CH_MEDIA_OTHER;
        while (p < end && ch__ows(*p))
            p++;
        if (p == end)
            break; /* a trailing ';' is tolerated */
        const char *name = p;
        while (p < end && ch__tchar(*p))
            p++;
        size_t name_len = (size_t)(p - name);
        if (name_len == 0 || p == end || *p++ != '=')
            return CH_MEDIA_OTHER;
        char value[32];
        size_t vlen = 0;
        int too_long = 0;
        if (p < end && *p == '"') {
            p++;
            while (p < end && *p != '"') {
                if (*p == '\\' && p + 1 < end)
                    p++;
                if (vlen < sizeof(value) - 1)
                    value[vlen++] = *p;
                else
                    too_long = 1;
                p++;
            }
            if (p == end)
                return CH_MEDIA_OTHER; /* unterminated quoted string */
            p++;
        } else {
            const char *v = p;
            while (p < end && ch__tchar(*p))
                p++;
            if (p == v)
                return CH_MEDIA_OTHER;
            too_long = (size_t)(p - v) >= sizeof(value);
            vlen = too_long ? 0 : (size_t)(p - v);
            memcpy(value, v, vlen);
        }
        value[vlen] = '\0';
        if (name_len == 7 && strncasecmp(name, "charset", 7) == 0 &&
            (too_long || (strcasecmp(value, "utf-8") != 0 && strcasecmp(value, "utf8") != 0)))
            bad_charset = 1;
    }
    return bad_charset ? CH_MEDIA_BAD_CHARSET : CH_MEDIA_JSON;
}
