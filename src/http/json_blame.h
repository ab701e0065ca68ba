/* Naming the field when a JSON body fails to parse because of one value while the rest of
 * the document is sound: a string holding bytes that are not UTF-8 (or a \u0000 escape),
 * or a number beyond what the API can hold (an integer beyond 64 bits, a real beyond a
 * double). Jansson refuses the whole document for these; the API answers 422 naming the
 * field instead of 400 malformed_json. Used by http/dispatch.c; pure, no h2o types. */
#ifndef CH_HTTP_JSON_BLAME_H
#define CH_HTTP_JSON_BLAME_H

#include <stddef.h>

/* Room for a blamed field's path ("media[2].url"); longer paths are cut at a character. */
#define CH_JSON_BLAME_PATH_MAX 128

/** What ch_json_blame found. */
typedef enum {
    CH_JSON_BLAME_NONE = 0, /* the document is malformed anyway: answer 400 */
    CH_JSON_BLAME_TEXT,     /* a string with bytes that are not UTF-8, or a NUL */
    CH_JSON_BLAME_NUMBER,   /* a number out of range */
} ch_json_blame_t;

/** After json_loadb failed on body[0..len) with Jansson error code jerr_code
 * (json_error_code()): writes the path of the field to blame into path (at most
 * CH_JSON_BLAME_PATH_MAX bytes with its NUL) and returns what is wrong with it, or NONE when
 * the document would be malformed even with that value fixed, or the value is the whole
 * document (no field to name). Allocates and frees its own scratch copy. */
ch_json_blame_t ch_json_blame(const char *body, size_t len, int jerr_code, char path[CH_JSON_BLAME_PATH_MAX]);

#endif
