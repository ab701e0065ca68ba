/* Mentions and hashtags of stored texts: resolved and indexed at write time, inside the
 * writer's transaction, for every text field (post text, reel caption, comment text).
 * svc/engage/textrefs.h finds them in the text; this module turns them into rows:
 *
 *  - A mention resolves to the user with that handle, unless there is no such user or a
 *    block either way between writer and user (the BRD: blocked users cannot mention each
 *    other). Resolved mentions are stored and shown ({id, handle}).
 *  - A resolved mention notifies — an engagement event "mention" (author_id = the mentioned
 *    user) and an outbox event mention.created — when it is new for that text (an edit
 *    notifies only users not mentioned there before, ever), is not the writer, and the
 *    mentioned user may see the item the text belongs to (ch_graph_may_see_content).
 *  - Hashtags are indexed per target (pages, items_count) and counted per hour
 *    (hashtag_hours, trending). An edit replaces them: tags that went lose their row and
 *    their use, new tags gain both; tags that stayed keep their row and time. */
#ifndef CH_SVC_ENGAGE_REFS_H
#define CH_SVC_ENGAGE_REFS_H

#include <stdint.h>

#include "svc/common/sql.h"
#include "svc/engage/target.h"
#include "svc/engage/textrefs.h"

/** Where a text lives and who decides who may see it. */
typedef struct {
    ch_target_type_t type; /* post, reel or comment */
    uint64_t id;
    uint64_t writer_id;      /* who wrote the text */
    ch_target_type_t item_type; /* the item the text belongs to (the target itself for items) */
    uint64_t item_id;
    uint64_t owner_id;       /* that item's author */
    int followers_only;      /* that item's visibility */
    uint64_t implicit_mention; /* mentioned without '@' (the author replied to), or 0 */
    uint64_t quiet_mention;    /* not notified of a mention (told of the reply already), or 0 */
    int is_new;                /* written in this transaction: it has no refs yet (fewer reads) */
} ch_refs_target_t;

/** Finds the mentions and hashtags of text (NULL = none) into out. CH_EINVAL naming `field`
 * (a static string) when it has more than CH_TEXTREFS_MENTIONS_MAX distinct mentions or
 * CH_TEXTREFS_HASHTAGS_MAX distinct hashtags. */
ch_err_t ch_refs_parse(const char *text, const char *field, ch_textrefs_t *out, ch_fault_t *f);
/** Stores refs as the mentions and hashtags of target t, replacing earlier ones, with the
 * events and outbox rows of new mentions, on conn (the caller's write transaction).
 * *mentions_json and *hashtags_json receive the API arrays as compact JSON text (caller
 * frees both). */
ch_err_t ch_refs_store(ch_svc_t *svc, ch_db_conn_t *conn, const ch_refs_target_t *t, const ch_textrefs_t *refs,
                       char **mentions_json, char **hashtags_json);
/** Forgets the refs of a deleted target on conn: its hashtags leave pages and trending
 * counts, its mentions are marked removed. */
ch_err_t ch_refs_clear(ch_svc_t *svc, ch_db_conn_t *conn, ch_target_type_t type, uint64_t id);

#endif
