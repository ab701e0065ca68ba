/* The social graph over HTTP: parse the path and page parameters, call svc/graph. */
#include "http/h_graph.h"

#include <stdint.h>

#include "core/id.h"
#include "svc/graph/graph.h"

/* The user id in path parameter 0; anything that cannot be a user is 404, like an
 * unknown one. */
static ch_err_t ch__path_user(ch_call_t *call, uint64_t *id)
{
    *id = ch_id_parse(call->params[0]);
    if (!*id || *id > INT64_MAX)
        return ch_fault(&call->fault, CH_ENOTFOUND, NULL, "user not found");
    return CH_OK;
}

/* Answers 204 after an operation that takes (actor, user). */
static ch_err_t ch__pair_op(ch_call_t *call, ch_err_t (*op)(ch_svc_t *, uint64_t, uint64_t, ch_fault_t *))
{
    uint64_t id;
    ch_err_t err = ch__path_user(call, &id);
    if (err == CH_OK)
        err = op(call->svc, call->user_id, id, &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}

ch_err_t ch_h_follow(ch_call_t *call)
{
    uint64_t id;
    ch_follow_state_t state;
    ch_err_t err = ch__path_user(call, &id);
    if (err == CH_OK)
        err = ch_graph_follow(call->svc, call->user_id, id, &state, &call->fault);
    return err ? err : ch_call_reply(call, 200, json_pack("{s:s}", "state", ch_follow_state_name(state)));
}

ch_err_t ch_h_unfollow(ch_call_t *call)
{
    return ch__pair_op(call, ch_graph_unfollow);
}

/* GET followers or following of the user in the path. */
static ch_err_t ch__list(ch_call_t *call, ch_graph_list_t which)
{
    uint64_t id, before;
    int limit;
    ch_err_t err = ch__path_user(call, &id);
    if (err == CH_OK)
        err = ch_call_page(call, &limit, &before);
    if (err == CH_OK)
        err = ch_graph_list(call->svc, call->user_id, id, which, limit, before, &call->raw_out, &call->fault);
    return err;
}

ch_err_t ch_h_followers(ch_call_t *call)
{
    return ch__list(call, CH_GRAPH_FOLLOWERS);
}

ch_err_t ch_h_following(ch_call_t *call)
{
    return ch__list(call, CH_GRAPH_FOLLOWING);
}

ch_err_t ch_h_follow_requests(ch_call_t *call)
{
    uint64_t before;
    int limit;
    ch_err_t err = ch_call_page(call, &limit, &before);
    if (err == CH_OK)
        err = ch_graph_list_requests(call->svc, call->user_id, limit, before, &call->raw_out, &call->fault);
    return err;
}

/* Approve/reject: an id that cannot be a user has no request either. */
static ch_err_t ch__request_op(ch_call_t *call, ch_err_t (*op)(ch_svc_t *, uint64_t, uint64_t, ch_fault_t *))
{
    uint64_t id = ch_id_parse(call->params[0]);
    if (!id || id > INT64_MAX)
        return ch_fault(&call->fault, CH_ENOTFOUND, NULL, "no follow request from this user");
    ch_err_t err = op(call->svc, call->user_id, id, &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}

ch_err_t ch_h_follow_request_approve(ch_call_t *call)
{
    return ch__request_op(call, ch_graph_approve);
}

ch_err_t ch_h_follow_request_reject(ch_call_t *call)
{
    return ch__request_op(call, ch_graph_reject);
}

ch_err_t ch_h_block(ch_call_t *call)
{
    return ch__pair_op(call, ch_graph_block);
}

ch_err_t ch_h_unblock(ch_call_t *call)
{
    return ch__pair_op(call, ch_graph_unblock);
}

ch_err_t ch_h_mute(ch_call_t *call)
{
    return ch__pair_op(call, ch_graph_mute);
}

ch_err_t ch_h_unmute(ch_call_t *call)
{
    return ch__pair_op(call, ch_graph_unmute);
}
