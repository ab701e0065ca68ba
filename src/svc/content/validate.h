/* Validation of content request bodies: every field is checked before anything is
 * written, and a bad one is CH_EINVAL naming it (members of arrays as "media[2].url"). */
#ifndef CH_SVC_CONTENT_VALIDATE_H
#define CH_SVC_CONTENT_VALIDATE_H

#include <jansson.h>

#include "svc/content/content.h"

/** A validated create body. Strings are borrowed from the body unless noted. */
typedef struct {
    const char *text;       /* post text or reel caption; NULL = none */
    char *media;            /* post: normalised JSON array text, owned (ch_content_input_clear) */
    const char *visibility; /* "public" | "followers" (static) */
    const char *video_url;  /* reel */
    const char *cover_url;  /* reel, optional */
    const char *media_url;  /* story */
    const char *kind;       /* story: "image" | "video" (static) */
    long long duration_ms;  /* reel, story; 0 = none */
} ch_content_input_t;

/** Validates a create body of `type` into in (zeroed first). On error nothing is owned. */
ch_err_t ch_content_parse_create(ch_item_type_t type, json_t *body, ch_content_input_t *in, ch_fault_t *f);
/** Frees what in owns. */
void ch_content_input_clear(ch_content_input_t *in);
/** Validates an edit body: {"text"} for posts (null or "" clears it, allowed only when the
 * post has media), {"caption"} for reels (null or "" clears it). *text_out is the new
 * value (borrowed from body) or NULL for none. Stories cannot be edited (CH_EINVAL). */
ch_err_t ch_content_parse_edit(ch_item_type_t type, json_t *body, int has_media, const char **text_out,
                               ch_fault_t *f);

#endif
