/* The hydration cache's keys (svc/common/hydrate.h), written in one place so that the
 * readers (hydrate.c) and the forget hooks (hydrate_forget.c) can never disagree. Internal to
 * svc/common/hydrate*.c. Each writes a NUL-terminated key into buf (CH_HCACHE_KEY_MAX + 1
 * bytes) and returns it. */
#ifndef CH_SVC_COMMON_HYDRATE_KEYS_H
#define CH_SVC_COMMON_HYDRATE_KEYS_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "store/hcache.h"

typedef char ch_hkey_t[CH_HCACHE_KEY_MAX + 1];

/** "i:<type>:<id>": an item's record (ch_item_record_t). */
static inline const char *ch_hkey_item(ch_hkey_t buf, unsigned type, uint64_t id)
{
    snprintf(buf, sizeof(ch_hkey_t), "i:%u:%" PRIu64, type, id);
    return buf;
}
/** "u:<id>": a user's summary and privacy. */
static inline const char *ch_hkey_user(ch_hkey_t buf, uint64_t id)
{
    snprintf(buf, sizeof(ch_hkey_t), "u:%" PRIu64, id);
    return buf;
}
/** "r:<viewer>:<other>": what is true between viewer and other (follow, request, block, mute). */
static inline const char *ch_hkey_rel(ch_hkey_t buf, uint64_t viewer, uint64_t other)
{
    snprintf(buf, sizeof(ch_hkey_t), "r:%" PRIu64 ":%" PRIu64, viewer, other);
    return buf;
}
/** "v:<viewer>:<type>:<id>": the viewer's own state on an item (reaction, story seen). */
static inline const char *ch_hkey_viewer_item(ch_hkey_t buf, uint64_t viewer, unsigned type, uint64_t id)
{
    snprintf(buf, sizeof(ch_hkey_t), "v:%" PRIu64 ":%u:%" PRIu64, viewer, type, id);
    return buf;
}
/** "s:<author>": the author's active-story index (svc/content/story_index.h). */
static inline const char *ch_hkey_stories(ch_hkey_t buf, uint64_t author)
{
    snprintf(buf, sizeof(ch_hkey_t), "s:%" PRIu64, author);
    return buf;
}

#endif
