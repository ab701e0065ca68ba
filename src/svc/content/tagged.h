/* Items carrying a hashtag (the hashtag page), rendered as every other item list. */
#ifndef CH_SVC_CONTENT_TAGGED_H
#define CH_SVC_CONTENT_TAGGED_H

#include "svc/content/content.h"

/** One page of the live posts and reels carrying `tag` (already normalised, see
 * svc/engage/hashtags.h) that viewer may see, newest first: ids below `before` (0 = from
 * the newest). At most CHORUS_HASHTAG_SCAN_MAX rows of the tag are examined, so a page may
 * hold fewer than limit items (even none) and still have a next_cursor (tagged.c).
 * *out is {items, next_cursor} as JSON text (malloc'd, caller frees). */
ch_err_t ch_content_tagged(ch_svc_t *svc, uint64_t viewer, const char *tag, int limit, uint64_t before, char **out,
                           ch_fault_t *f);

#endif
