#include "http/json_blame.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/text.h"

/* Whether the number token s[0..n) is one Jansson refuses as out of range: an integer
 * outside int64 (json_int_t), or a real that overflows a double. Same tests as Jansson's
 * lexer (strtoll / strtod and ERANGE). */
static int ch__number_out_of_range(const char *s, size_t n)
{
    char *tok = ch_strndup(s, n), *end;
    int out = 0;
    errno = 0;
    if (strcspn(tok, ".eE") == n) {
        (void)strtoll(tok, &end, 10);
        out = errno == ERANGE && *end == '\0';
    } else {
        double d = strtod(tok, &end);
        out = errno == ERANGE && isinf(d) && *end == '\0';
    }
    free(tok);
    return out;
}

/* Copies body with every value Jansson refuses marked by a U+0000 inside a string:
 * a byte sequence that is not UTF-8 becomes the escape \u0000 (inside a string that keeps
 * the document parseable, anywhere else it stays malformed), and an out-of-range number
 * token becomes the string "\u0000". Caller frees. */
static char *ch__mark(const char *body, size_t len, size_t *out_len)
{
    char *out = ch_malloc(len * 6 + 1);
    size_t o = 0;
    int in_string = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)body[i];
        if (!in_string && (c == '-' || (c >= '0' && c <= '9'))) {
            size_t n = 1;
            while (i + n < len && body[i + n] && strchr("0123456789+-.eE", body[i + n]))
                n++;
            if (ch__number_out_of_range(body + i, n)) {
                memcpy(out + o, "\"\\u0000\"", 8);
                o += 8;
            } else {
                memcpy(out + o, body + i, n);
                o += n;
            }
            i += n;
            continue;
        }
        size_t n = 1;
        if (c >= 0x80)
            n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + n <= len && ch_utf8_count(body + i, n) == 1 && !(c >= 0x80 && c < 0xC0)) {
            if (in_string && c == '\\' && i + 1 < len) {
                n = 2; /* an escape: the next byte cannot end the string */
                if ((unsigned char)body[i + 1] >= 0x80) {
                    memcpy(out + o, "\\", 1);
                    o += 1;
                    i += 1;
                    continue;
                }
            } else if (c == '"') {
                in_string = !in_string;
            }
            memcpy(out + o, body + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\\u0000", 6);
            o += 6;
            i += 1;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* Finds the first string holding U+0000 (a mark, or a literal \u0000) and writes its path
 * ("text", "media[2].url") into path. 1 when found. */
static int ch__find_nul_string(json_t *v, char *path, size_t cap)
{
    size_t used = strlen(path);
    if (json_is_string(v))
        return strlen(json_string_value(v)) != json_string_length(v);
    if (json_is_object(v)) {
        const char *key;
        json_t *member;
        json_object_foreach(v, key, member)
        {
            snprintf(path + used, cap - used, "%s%s", used ? "." : "", key);
            if (ch__find_nul_string(member, path, cap))
                return 1;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            snprintf(path + used, cap - used, "[%zu]", i);
            if (ch__find_nul_string(item, path, cap))
                return 1;
        }
    }
    path[used] = '\0';
    return 0;
}

ch_json_blame_t ch_json_blame(const char *body, size_t len, int jerr_code, char path[CH_JSON_BLAME_PATH_MAX])
{
    size_t marked_len;
    char *marked = ch__mark(body, len, &marked_len);
    json_t *doc = json_loadb(marked, marked_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    path[0] = '\0';
    int found = doc && ch__find_nul_string(doc, path, CH_JSON_BLAME_PATH_MAX);
    json_decref(doc);
    free(marked);
    if (!found || !path[0])
        return CH_JSON_BLAME_NONE;
    /* A path cut by snprintf may end inside a character: drop the partial one. */
    size_t plen = strlen(path);
    while (plen > 0 && ch_utf8_count(path, plen) < 0)
        path[--plen] = '\0';
    return jerr_code == json_error_numeric_overflow ? CH_JSON_BLAME_NUMBER : CH_JSON_BLAME_TEXT;
}
