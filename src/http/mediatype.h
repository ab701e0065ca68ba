/* Content-Type checks of request bodies (RFC 9110 §8.3.1): the media type and its
 * parameters, so that `charset` is read as a parameter and not by a prefix match. */
#ifndef CH_HTTP_MEDIATYPE_H
#define CH_HTTP_MEDIATYPE_H

#include <stddef.h>

typedef enum {
    CH_MEDIA_JSON,        /* application/json, no charset or a UTF-8 one */
    CH_MEDIA_OTHER,       /* another media type, or an unparseable value */
    CH_MEDIA_BAD_CHARSET, /* application/json with a charset other than UTF-8 */
} ch_media_check_t;

/** Classifies a Content-Type value (borrowed, len bytes, may be NULL): application/json
 * (case-insensitive) with optional parameters; a `charset` parameter, token or quoted, must
 * be `utf-8` or `utf8` in any case. */
ch_media_check_t ch_media_check_json(const char *ct, size_t len);

#endif
