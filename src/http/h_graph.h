/* REST handlers of the social graph: follow, follow requests, followers/following lists,
 * block, mute. Each parses the path (a non-numeric or out-of-range user id is 404, as an
 * unknown one), calls svc/graph/graph.h and sets the answer. */
#ifndef CH_HTTP_H_GRAPH_H
#define CH_HTTP_H_GRAPH_H

#include "http/call.h"

/** POST /v1/users/{id}/follow -> 200 {state: "following" | "requested"}. */
ch_err_t ch_h_follow(ch_call_t *call);
/** DELETE /v1/users/{id}/follow -> 204 (also cancels a pending request). */
ch_err_t ch_h_unfollow(ch_call_t *call);
/** GET /v1/users/{id}/followers -> 200 page of user summaries. */
ch_err_t ch_h_followers(ch_call_t *call);
/** GET /v1/users/{id}/following -> 200 page of user summaries. */
ch_err_t ch_h_following(ch_call_t *call);
/** GET /v1/me/follow-requests -> 200 page of the requesters' summaries. */
ch_err_t ch_h_follow_requests(ch_call_t *call);
/** POST /v1/me/follow-requests/{user_id}/approve -> 204. */
ch_err_t ch_h_follow_request_approve(ch_call_t *call);
/** POST /v1/me/follow-requests/{user_id}/reject -> 204. */
ch_err_t ch_h_follow_request_reject(ch_call_t *call);
/** POST /v1/users/{id}/block -> 204. */
ch_err_t ch_h_block(ch_call_t *call);
/** DELETE /v1/users/{id}/block -> 204. */
ch_err_t ch_h_unblock(ch_call_t *call);
/** POST /v1/users/{id}/mute -> 204. */
ch_err_t ch_h_mute(ch_call_t *call);
/** DELETE /v1/users/{id}/mute -> 204. */
ch_err_t ch_h_unmute(ch_call_t *call);

#endif
