/* The social graph: follows (and follow requests to private accounts), blocks and mutes,
 * and the followers/following lists. Every change runs in one write transaction that also
 * keeps users.followers_count/following_count exact and writes its outbox events.
 *
 * Ids are user ids; `actor` is the signed-in user. Answers follow the API's rule that what
 * the actor may not see is CH_ENOTFOUND, never CH_EFORBIDDEN. */
#ifndef CH_SVC_GRAPH_H
#define CH_SVC_GRAPH_H

#include <jansson.h>
#include <stdint.h>

#include "svc/context.h"

/** What a follow led to. */
typedef enum {
    CH_FOLLOW_FOLLOWING, /* the edge exists (public account, or approved before) */
    CH_FOLLOW_REQUESTED, /* a request to a private account waits for its owner */
} ch_follow_state_t;

/** The API name of a follow state ("following", "requested"); static storage. */
const char *ch_follow_state_name(ch_follow_state_t state);

/** Follows target (a private account gets a request instead). Idempotent: following again
 * answers the current state. CH_EINVAL (field "id") for oneself; CH_ENOTFOUND for an
 * unknown user or one who blocks the actor; CH_ECONFLICT while the actor blocks target. */
ch_err_t ch_graph_follow(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_follow_state_t *state_out,
                         ch_fault_t *f);
/** Stops following target and cancels a pending request; idempotent. CH_EINVAL for
 * oneself, CH_ENOTFOUND for an unknown user. */
ch_err_t ch_graph_unfollow(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f);
/** The actor (owner of a private account) accepts requester's pending request: requester
 * now follows the actor. Approving again once it was approved is a no-op; CH_ENOTFOUND
 * when there is no such request. */
ch_err_t ch_graph_approve(ch_svc_t *svc, uint64_t actor, uint64_t requester, ch_fault_t *f);
/** The actor declines requester's pending request; CH_ENOTFOUND when there is none. */
ch_err_t ch_graph_reject(ch_svc_t *svc, uint64_t actor, uint64_t requester, ch_fault_t *f);
/** The actor blocks target: follows both ways and pending requests both ways are removed.
 * Idempotent. CH_EINVAL for oneself, CH_ENOTFOUND for an unknown user. */
ch_err_t ch_graph_block(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f);
/** Lifts the actor's block on target (follows are not restored). Idempotent; CH_EINVAL
 * for oneself, CH_ENOTFOUND for an unknown user. */
ch_err_t ch_graph_unblock(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f);
/** The actor mutes target: target's content leaves the actor's feeds; nothing else changes
 * and target is not told. Idempotent; CH_EINVAL for oneself, CH_ENOTFOUND for unknown. */
ch_err_t ch_graph_mute(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f);
/** Lifts a mute. Idempotent; CH_EINVAL for oneself, CH_ENOTFOUND for an unknown user. */
ch_err_t ch_graph_unmute(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f);

/** Which list of a user. */
typedef enum { CH_GRAPH_FOLLOWERS, CH_GRAPH_FOLLOWING } ch_graph_list_t;

/** One page of user's followers or followees as viewer sees it, newest edge first:
 * {items: [user summary], next_cursor}. before is the cursor (an edge id; 0 for the first
 * page). Users blocking the viewer or blocked by it are left out. CH_ENOTFOUND when the
 * viewer may not see the user, or the account is private and the viewer is neither its
 * owner nor an approved follower. *out is JSON text (malloc'd, caller frees). */
ch_err_t ch_graph_list(ch_svc_t *svc, uint64_t viewer, uint64_t user, ch_graph_list_t which, int limit,
                       uint64_t before, char **out, ch_fault_t *f);
/** One page of the pending follow requests to owner, newest first, as user summaries (same
 * shape and cursor as ch_graph_list). *out is JSON text (malloc'd, caller frees). */
ch_err_t ch_graph_list_requests(ch_svc_t *svc, uint64_t owner, int limit, uint64_t before, char **out, ch_fault_t *f);

#endif
