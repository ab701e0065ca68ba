/* Engageable targets: the six content types addressed as (type, id). Reactions, comments,
 * mentions, hashtags, views, notifications and events all point at a target. Adding a
 * type's domain (livestreams, listings) means filling in its row of CH_TARGET_MAP and its
 * case in ch_target_resolve. */
#ifndef CH_SVC_ENGAGE_TARGET_H
#define CH_SVC_ENGAGE_TARGET_H

#include <stdint.h>

#include "svc/context.h"

/*  name         type name     path segment */
#define CH_TARGET_MAP(XX)                      \
    XX(POST,       "post",       "posts")       \
    XX(REEL,       "reel",       "reels")       \
    XX(STORY,      "story",      "stories")     \
    XX(COMMENT,    "comment",    "comments")    \
    XX(LIVESTREAM, "livestream", "livestreams") \
    XX(LISTING,    "listing",    "listings")

typedef enum {
#define XX(name, type, segment) CH_TARGET_##name,
    CH_TARGET_MAP(XX)
#undef XX
    CH__TARGET_COUNT
} ch_target_type_t;

/** A target the viewer may engage with. */
typedef struct {
    ch_target_type_t type;
    uint64_t id;
    uint64_t author_id;   /* who owns it (notified, affinity) */
    int followers_only;   /* its visibility (for mentions: who may see it) */
} ch_target_t;

/** The type name ("post"); static storage. */
const char *ch_target_type_name(ch_target_type_t type);
/** Parses a path segment ("posts") into a type; -1 when unknown. */
int ch_target_from_segment(const char *segment);
/** Parses a type name ("post") into a type; -1 when unknown. */
int ch_target_from_name(const char *name);
/** Resolves (type, id) for viewer: the item exists, is live (not deleted or expired) and
 * viewer may see it (blocks, private accounts, followers-only); else CH_ENOTFOUND. conn
 * may be NULL (one is borrowed) or the caller's, inside its transaction. */
ch_err_t ch_target_resolve(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type, uint64_t id,
                           ch_target_t *out, ch_fault_t *f);

/** Resolves a comment target (implemented by the comments service, svc/engage/comments*):
 * the comment is live and viewer may see the item it belongs to. */
ch_err_t ch_comment_resolve(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t comment_id, ch_target_t *out,
                            ch_fault_t *f);

#endif
