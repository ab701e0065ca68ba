/* The hydration cache's keys (svc/common/hydrate.h), written in one place so that the
 * readers (hydrate.c) and the forget hooks (hydrate_forget.c) can never disagree. Internal to
 * svc/common/hydrate*.c. Each writes a NUL-terminated key into buf (CH_HCACHE_KEY_MAX + 1
 * bytes) and returns it. Written digit by digit, not with snprintf: a page of 20 makes a
 * hundred keys, and snprintf was a tenth of a comment page's instructions. The longest,
 * "v:" 20 ":" 3 ":" 20, is 47 bytes. */
#ifndef CH_SVC_COMMON_HYDRATE_KEYS_H
#define CH_SVC_COMMON_HYDRATE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "core/id.h"
#include "store/hcache.h"

typedef char ch_hkey_t[CH_HCACHE_KEY_MAX + 1];
_Static_assert(CH_HCACHE_KEY_MAX >= 2 + 20 + 1 + 10 + 1 + 20, "the longest key fits");

/* Writes prefix c, ':' and v at p; returns the end. */
static inline char *ch__hkey_head(char *p, char c, uint64_t v)
{
    p[0] = c;
    p[1] = ':';
    return ch_u64_put(p + 2, v);
}
/* Writes ':' and v at p; returns the end. */
static inline char *ch__hkey_more(char *p, uint64_t v)
{
    *p = ':';
    return ch_u64_put(p + 1, v);
}

/** "i:<type>:<id>": an item's record (ch_item_record_t). */
static inline const char *ch_hkey_item(ch_hkey_t buf, unsigned type, uint64_t id)
{
    *ch__hkey_more(ch__hkey_head(buf, 'i', type), id) = '\0';
    return buf;
}
/** "u:<id>": a user's summary and privacy. */
static inline const char *ch_hkey_user(ch_hkey_t buf, uint64_t id)
{
    *ch__hkey_head(buf, 'u', id) = '\0';
    return buf;
}
/** "r:<viewer>:<other>": what is true between viewer and other (follow, request, block, mute). */
static inline const char *ch_hkey_rel(ch_hkey_t buf, uint64_t viewer, uint64_t other)
{
    *ch__hkey_more(ch__hkey_head(buf, 'r', viewer), other) = '\0';
    return buf;
}
/** "v:<viewer>:<type>:<id>": the viewer's own state on an item (reaction, story seen). */
static inline const char *ch_hkey_viewer_item(ch_hkey_t buf, uint64_t viewer, unsigned type, uint64_t id)
{
    *ch__hkey_more(ch__hkey_more(ch__hkey_head(buf, 'v', viewer), type), id) = '\0';
    return buf;
}
/** "s:<author>": the author's active-story index (svc/content/story_index.h, an author index). */
static inline const char *ch_hkey_stories(ch_hkey_t buf, uint64_t author)
{
    *ch__hkey_head(buf, 's', author) = '\0';
    return buf;
}

/** "a:<author>": the author's newest posts and reels (svc/content/recent.h, an author index). */
static inline const char *ch_hkey_author_items(ch_hkey_t buf, uint64_t author)
{
    *ch__hkey_head(buf, 'a', author) = '\0';
    return buf;
}
/** "f:<user>": the accounts user follows, most recently followed first (svc/graph/followees.h). */
static inline const char *ch_hkey_followees(ch_hkey_t buf, uint64_t user)
{
    *ch__hkey_head(buf, 'f', user) = '\0';
    return buf;
}

/** "F:<user>" / "G:<user>": the first edges of user's followers / following list
 * (svc/graph/lists.c). */
static inline const char *ch_hkey_edges(ch_hkey_t buf, int following, uint64_t user)
{
    *ch__hkey_head(buf, following ? 'G' : 'F', user) = '\0';
    return buf;
}

/** "N:<user>": user's newest notification groups, private to user (svc/engage/notify_cache.c). */
static inline const char *ch_hkey_notifications(ch_hkey_t buf, uint64_t user)
{
    *ch__hkey_head(buf, 'N', user) = '\0';
    return buf;
}
/** "U:<user>": the number of user's unread notification groups, private to user. */
static inline const char *ch_hkey_unread(ch_hkey_t buf, uint64_t user)
{
    *ch__hkey_head(buf, 'U', user) = '\0';
    return buf;
}

/** "X:<type>:<id>": the newest reactions on a target (svc/engage/reactions_list.c). */
static inline const char *ch_hkey_reactions(ch_hkey_t buf, unsigned type, uint64_t id)
{
    *ch__hkey_more(ch__hkey_head(buf, 'X', type), id) = '\0';
    return buf;
}

/** "C:<type>:<id>": the first top-level comments of an item, with each one's first replies
 * (svc/engage/comments_page.c). */
static inline const char *ch_hkey_thread(ch_hkey_t buf, unsigned type, uint64_t id)
{
    *ch__hkey_more(ch__hkey_head(buf, 'C', type), id) = '\0';
    return buf;
}
/** "Y:<comment>": the first replies of a comment, oldest first (svc/engage/comments_page.c). */
static inline const char *ch_hkey_replies(ch_hkey_t buf, uint64_t comment)
{
    *ch__hkey_head(buf, 'Y', comment) = '\0';
    return buf;
}

/** "K:<type>:<id>": an item's shared ranking of its comments, the "top" order (generation,
 * time T, ranked ids; svc/engage/comments_top_fact.c). */
static inline const char *ch_hkey_ranking(ch_hkey_t buf, unsigned type, uint64_t id)
{
    *ch__hkey_more(ch__hkey_head(buf, 'K', type), id) = '\0';
    return buf;
}
/** "p:<user>": a user's rendered profile, public text then the owner's extra members
 * (svc/users/profile_fact.h). */
static inline const char *ch_hkey_profile(ch_hkey_t buf, uint64_t user)
{
    *ch__hkey_head(buf, 'p', user) = '\0';
    return buf;
}
/** Longest handle a "h:" key holds (CH_HANDLE_MAX of svc/users/users.h is 30). */
#define CH_HKEY_HANDLE_MAX 40
/** "h:<handle>": the id of a handle, lower-cased and validated by the caller, at most
 * CH_HKEY_HANDLE_MAX bytes (longer ones are cut, so never call with one: it is no handle). */
static inline const char *ch_hkey_handle(ch_hkey_t buf, const char *handle)
{
    size_t i = 0;
    buf[0] = 'h';
    buf[1] = ':';
    for (; i < CH_HKEY_HANDLE_MAX && handle[i]; i++)
        buf[2 + i] = handle[i];
    buf[2 + i] = '\0';
    return buf;
}
_Static_assert(CH_HCACHE_KEY_MAX >= 2 + CH_HKEY_HANDLE_MAX, "a handle key fits");
/** "g:<user>": user's feed generation (svc/common/viewer_gen.h) as decimal text; "g:0" (no user
 * has id 0) the celebrity set's generation (svc/feed/celeb_gen.h). Forgotten after every bump
 * (svc/feed/facts.h reads them). */
static inline const char *ch_hkey_gen(ch_hkey_t buf, uint64_t user)
{
    *ch__hkey_head(buf, 'g', user) = '\0';
    return buf;
}
/** "H:<user>": the newest entries of user's home timeline (svc/feed/facts.h), forgotten
 * after every write to that timeline. */
static inline const char *ch_hkey_timeline_head(ch_hkey_t buf, uint64_t user)
{
    *ch__hkey_head(buf, 'H', user) = '\0';
    return buf;
}

/** "R:<feed>:<viewer>": the head of viewer's latest ranking of a feed (0 home, 1 reels;
 * svc/feed/snapshot.c); "n:<author>": the author's newest item noted by the fan-out, "n:0" the
 * joined note (svc/feed/nettop.c). Copies of kv values, forgotten after every write of them. */
static inline const char *ch_hkey_feed_head(ch_hkey_t buf, unsigned feed, uint64_t viewer)
{
    *ch__hkey_more(ch__hkey_head(buf, 'R', feed), viewer) = '\0';
    return buf;
}
/** "n:<author>", "n:0": see ch_hkey_feed_head. */
static inline const char *ch_hkey_feed_note(ch_hkey_t buf, uint64_t author)
{
    *ch__hkey_head(buf, 'n', author) = '\0';
    return buf;
}

/** Length of a tag key: "T:" and 32 hex digits. */
#define CH_HKEY_TAG_LEN (2 + 32)
/** "T:<hash>": the newest posts and reels of a hashtag (svc/content/tagged.c). A tag is up to
 * 256 bytes, longer than a key may be: the key holds a 128-bit BLAKE2b of it instead
 * (hydrate_keys_tag.c), so that two tags never share a key in practice. */
const char *ch_hkey_tag(ch_hkey_t buf, const char *tag);
_Static_assert(CH_HCACHE_KEY_MAX >= CH_HKEY_TAG_LEN, "a tag key fits");

#endif
