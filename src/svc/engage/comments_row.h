/* How comments are read and rendered, and how one is found for a viewer. Internal to the
 * comments service (svc/engage/comments_*.c). */
#ifndef CH_SVC_ENGAGE_COMMENTS_ROW_H
#define CH_SVC_ENGAGE_COMMENTS_ROW_H

#include <jansson.h>

#include "core/buf.h"
#include "svc/common/hydrate.h"
#include "svc/common/id_page.h"

#include "svc/engage/comments.h"

/** Columns of a comment row with its author, its reaction counters (svc/engage/counters.h)
 * and the viewer's reaction, in the order ch__comment_render expects. Queries use
 * CH_COMMENT_FROM, whose $1 is the viewer. */
#define CH_COMMENT_COLUMNS                                                                                \
    "c.id, c.target_type, c.target_id, c.parent_id, c.author_id, c.text, c.mentions, c.hashtags, "       \
    "c.replies_count, c.created_at, c.deleted_at, u.handle, u.display_name, u.avatar_url, "               \
    "tc.r_like, tc.r_love, tc.r_haha, tc.r_wow, tc.r_sad, tc.r_angry, mr.kind"
#define CH_COMMENT_FROM                                                                                   \
    " FROM comments c JOIN users u ON u.id = c.author_id"                                                 \
    " LEFT JOIN target_counters tc ON tc.target_type = 'comment' AND tc.target_id = c.id"                 \
    " LEFT JOIN reactions mr ON mr.target_type = 'comment' AND mr.target_id = c.id AND mr.user_id = $1"
/** A comment that lists show: live, or deleted with live replies (a thread placeholder). */
#define CH_COMMENT_LISTED " (c.deleted_at IS NULL OR c.replies_count > 0)"

enum {
    CH_COMMENT_COL_ID, CH_COMMENT_COL_TARGET_TYPE, CH_COMMENT_COL_TARGET_ID, CH_COMMENT_COL_PARENT,
    CH_COMMENT_COL_AUTHOR, CH_COMMENT_COL_TEXT, CH_COMMENT_COL_MENTIONS, CH_COMMENT_COL_HASHTAGS,
    CH_COMMENT_COL_REPLIES, CH_COMMENT_COL_CREATED, CH_COMMENT_COL_DELETED, CH_COMMENT_COL_HANDLE,
    CH_COMMENT_COL_NAME, CH_COMMENT_COL_AVATAR, CH_COMMENT_COL_REACTIONS, /* six counts from here */
    CH_COMMENT_COL_MY_REACTION = CH_COMMENT_COL_REACTIONS + 6,
};

/** Renders row r of a CH_COMMENT_COLUMNS result (caller owns it). A deleted comment has
 * author, text null, no mentions or hashtags, and deleted true. */
json_t *ch__comment_render(const ch_db_rows_t *rows, size_t r);
/** Row r without "author" and "my_reaction" (a deleted one keeps its "author": null): the
 * hydration layer's record body (svc/common/hydrate.h). Caller owns it. ch__comment_render
 * adds the two to it. */
json_t *ch__comment_render_body(const ch_db_rows_t *rows, size_t r);

/** A comment as found for a viewer. */
typedef struct {
    uint64_t id;
    uint64_t parent_id; /* 0 for a top-level comment */
    uint64_t author_id;
    int deleted;
    int blocked;      /* a block either way between the viewer and the comment's author */
    ch_target_t item; /* the commented item, which the viewer may see */
} ch__comment_ref_t;

/** Finds comment id and resolves its item for viewer on conn (NULL: one is borrowed).
 * CH_ENOTFOUND "comment not found" when there is no such comment or the viewer may not see
 * its item; a deleted comment or a blocked author is reported in out, not refused. */
ch_err_t ch__comment_find(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t id, ch__comment_ref_t *out,
                          ch_fault_t *f);
/** CH_ENOTFOUND "comment not found" in f; returns it. */
ch_err_t ch__comment_not_found(ch_fault_t *f);

/** Reply ids read per parent for a thread's first replies: a few more than shown, so that
 * hidden ones do not leave a thread short. */
#define CH__COMMENT_FIRST_READ (2 * CH_COMMENT_FIRST_REPLIES + 1)

/** A reply id and its parent's. */
typedef struct {
    uint64_t id;
    uint64_t parent;
} ch__reply_ref_t;

/** Reads the first CH__COMMENT_FIRST_READ live replies of each of parents[0..np) (np <=
 * CH_ITEMS_IN_MAX; more are ignored) in ONE statement, a bounded index range per parent,
 * into out[0..*n) (room for np * CH__COMMENT_FIRST_READ, caller's), grouped by parent in
 * ascending parent id, oldest reply first (comments_first.c). */
ch_err_t ch__comments_first_ids(ch_svc_t *svc, const uint64_t *parents, size_t np, ch__reply_ref_t *out, size_t *n);

/* ---- cached first ids (comments_cached.c) ---- */

/** Columns of a cached thread row: the comment id, then its first CH__COMMENT_FIRST_READ live
 * reply ids, oldest first (0: none). */
#define CH__THREAD_COLS (1 + CH__COMMENT_FIRST_READ)
_Static_assert(CH__THREAD_COLS <= CH_ID_PAGE_MAX_COLS, "a thread row fits an id page");
/** Top-level comments cached per item (a first page of 20 reads 41 ids in its first round). */
#define CH__THREADS_CACHED 64
/** Replies cached per comment, oldest first. */
#define CH__REPLIES_CACHED 64
/** The specs of the two facts (for ch_id_page_after). */
extern const ch_id_page_spec_t ch__thread_spec, ch__replies_spec;
/** Reads item's newest top-level comments, listed as threads are (live, or deleted with live
 * replies), each with its first replies, into pg (pg->v holds CH__THREADS_CACHED ×
 * CH__THREAD_COLS values, the caller's): ch_id_page_read's answer (1 filled, 0 the cache
 * cannot answer, -1 *err). */
int ch__comments_cached_threads(ch_svc_t *svc, const ch_target_t *item, ch_id_page_t *pg, ch_err_t *err);
/** Reads comment parent's oldest live replies into pg (pg->v holds CH__REPLIES_CACHED values):
 * as ch__comments_cached_threads. */
int ch__comments_cached_replies(ch_svc_t *svc, uint64_t parent, ch_id_page_t *pg, ch_err_t *err);

/** The first reply ids of parents[0..np) (np <= CH_ITEMS_IN_MAX; more are ignored) from
 * cached facts (comments_first_cached.c): a parent's row of the item's cached threads (cached,
 * may be NULL), else its first replies "Y:<parent>" (one cache get for all of them); the
 * parents whose Y: missed are read by one statement (their first CH__REPLIES_CACHED + 1 live
 * replies) and their Y: put back under the get's leases. out as ch__comments_first_ids
 * (grouped by parent, oldest first; room for np * CH__COMMENT_FIRST_READ). 1 when answered;
 * 0 when the cache cannot answer (down, or a miss on an event loop: refused and noted), and
 * the caller's statement reads them; -1 on a database error (*err). */
int ch__comments_first_cached(ch_svc_t *svc, const ch_id_page_t *cached, const uint64_t *parents, size_t np,
                              ch__reply_ref_t *out, size_t *n, ch_err_t *err);
/** ch__comments_first_ids reading up to per (CH__COMMENT_FIRST_READ or CH__REPLIES_CACHED + 1)
 * live replies of each parent; out has room for np * per. */
ch_err_t ch__comments_first_ids_upto(ch_svc_t *svc, const uint64_t *parents, size_t np, size_t per,
                                     ch__reply_ref_t *out, size_t *n);

/** Appends '[' the threads of h[0..n) (comments with ids ids[0..n), hydrated with
 * CH_HYDRATE_PLACEHOLDERS; those not shown are skipped) ']' to b: each comment with
 * "replies": its first CH_COMMENT_FIRST_REPLIES live replies the viewer may see, read for
 * every thread in one statement (ch__comments_first_ids) and hydrated in one call
 * (comments_page.c). */
ch_err_t ch__comments_threads_append(ch_svc_t *svc, uint64_t viewer, const ch_hydrated_t *h, const uint64_t *ids,
                                     size_t n, ch_buf_t *b, ch_fault_t *f);
/** One page of the item's top-level comments, newest first, ids below `before`, as threads:
 * *out is {items, next_cursor} as JSON text (caller frees). The layer hides what the viewer
 * may not see after the ids are read; the page reads more ids to stay full (ch_page_fill). */
ch_err_t ch__comments_new(ch_svc_t *svc, uint64_t viewer, const ch_target_t *item, int limit, uint64_t before,
                          char **out, ch_fault_t *f);
/** One page of the replies of parent, oldest first, ids above `after`: *out is {items,
 * next_cursor} as JSON text (caller frees). */
ch_err_t ch__comments_replies_page(ch_svc_t *svc, uint64_t viewer, uint64_t parent, int limit, uint64_t after,
                                   char **out, ch_fault_t *f);

/* ---- ranked ("top") pages (comments_top.c, comments_top_fact.c) ---- */

/** A frozen ordering of one item's top-level comments. */
typedef struct {
    ch_target_type_t type;
    uint64_t target_id;
    uint64_t gen;  /* generation: names the kv snapshot in cursors; 0 = not kept (the walk fit a page) */
    int64_t at;    /* T, unix ms */
    int capped;    /* more comments than were ranked */
    uint64_t *ids; /* ranked, in order (owned) */
    size_t n;
} ch__top_snapshot_t;

/** Looks up item's shared ranking in the hydration cache ("K:<type>:<id>", one get; under the
 * loop guard the L1's memory only, a miss refused and noted). 1 when it is there and still
 * shared (made less than CH_COMMENTS_TOP_SHARE_MS ago): *s holds it (s->ids owned, the
 * caller frees). 0 otherwise, s empty: *lease is the lease to put one (0: do not), *old is 1
 * when a fact was there but is past its share window (ch__top_fact_renew replaces it). */
int ch__top_fact_get(ch_svc_t *svc, const ch_target_t *item, ch__top_snapshot_t *s, uint64_t *lease, int *old);
/** Forgets item's ranking fact and takes a lease to put a new one (returned; 0: none): for a
 * fact that no longer serves (past its share window, or a ranking not kept that does not fit
 * the page). Never on an event loop (a forget there is refused). */
uint64_t ch__top_fact_renew(ch_svc_t *svc, const ch_target_t *item);
/** Puts s as its item's ranking fact under lease (0: nothing). s is borrowed. */
void ch__top_fact_put(ch_svc_t *svc, const ch__top_snapshot_t *s, uint64_t lease);

/** Drops the name of item (type, id)'s current "top" snapshot (comments_top.c), so the next
 * first page ranks again; called after a comment on the item is written or deleted.
 * Best effort: a kv failure leaves the name to expire on its own. */
void ch__comments_top_forget(ch_svc_t *svc, ch_target_type_t type, uint64_t id);
/** One page of ranked ("top") comments of item: see comments_top.c. *out is JSON text
 * (caller frees). */
ch_err_t ch__comments_top(ch_svc_t *svc, uint64_t viewer, const ch_target_t *item, int limit, const char *cursor,
                          char **out, ch_fault_t *f);

#endif
