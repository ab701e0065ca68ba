/* The one place where "who may see what" is decided. Every read path of every domain
 * (profiles, lists, items, timelines, feeds, search, engagement) asks these functions, so
 * that no feature can forget a block or a private account. */
#ifndef CH_SVC_GRAPH_VISIBILITY_H
#define CH_SVC_GRAPH_VISIBILITY_H

#include <stdint.h>

#include "svc/context.h"

/** What is true between a viewer and another user, read in one round trip. */
typedef struct {
    int exists;         /* the other user exists */
    int self;           /* viewer is that user */
    int following;      /* viewer follows them (approved) */
    int followed_by;    /* they follow viewer */
    int requested;      /* viewer has a pending follow request to them */
    int blocking;       /* viewer blocks them */
    int blocked_by;     /* they block viewer */
    int muting;         /* viewer mutes them */
    int other_private;  /* their account is private */
} ch_graph_rel_t;

/** Reads the relation between viewer and other. conn may be NULL (a connection is borrowed
 * for the call) or the caller's, inside its transaction. */
ch_err_t ch_graph_relation(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t other, ch_graph_rel_t *out);
/** Whether the viewer may see the other user at all (profile, lists' existence): the user
 * exists and there is no block either way. Otherwise answer 404. */
int ch_graph_may_see_user(const ch_graph_rel_t *rel);
/** Whether the viewer may see content authored by the other user: may_see_user, and for
 * followers-only items or private accounts, the viewer is the author or an approved
 * follower. Otherwise answer 404. */
int ch_graph_may_see_content(const ch_graph_rel_t *rel, int followers_only);
/** For reads of one author's content (timelines, stories, follower lists): reads the
 * relation into *rel and checks ch_graph_may_see_content(rel, 0). CH_ENOTFOUND "user not
 * found" in f when the viewer may not, or when author cannot be an id. */
ch_err_t ch_graph_check_author(ch_svc_t *svc, uint64_t viewer, uint64_t author, ch_graph_rel_t *rel, ch_fault_t *f);

/* The same rules as SQL conditions, for list queries that filter many rows in one statement
 * (comment threads, hashtag pages) where a relation read per row would cost a round trip
 * each. Arguments are SQL text: `viewer` a bound parameter ("$1"), the others columns or
 * expressions of the query. Keep them in step with the functions above. */

/** No block either way between viewer and the user in column `user` (ch_graph_may_see_user
 * for a user known to exist). */
#define CH_GRAPH_SQL_NO_BLOCK(viewer, user)                                                        \
    " NOT EXISTS (SELECT 1 FROM blocks bv WHERE (bv.blocker_id = " viewer " AND bv.blocked_id = " user \
    ") OR (bv.blocker_id = " user " AND bv.blocked_id = " viewer "))"
/** ch_graph_may_see_content for content by `author`: `followers_only` is an SQL condition
 * true for followers-only content, `is_private` the author's users.is_private column. */
#define CH_GRAPH_SQL_MAY_SEE_CONTENT(viewer, author, followers_only, is_private)                    \
    " (" author " = " viewer " OR (" CH_GRAPH_SQL_NO_BLOCK(viewer, author) " AND ((NOT (" followers_only \
    ") AND " is_private " = 0) OR EXISTS (SELECT 1 FROM follows fv WHERE fv.follower_id = " viewer       \
    " AND fv.followee_id = " author "))))"

#endif
