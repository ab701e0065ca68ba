/* Reactions and views. Path ids that are not ids answer 404 like unknown ones. */
#include "http/h_engage.h"

#include <string.h>

#include "core/id.h"
#include "svc/engage/reactions.h"
#include "svc/engage/target.h"
#include "svc/engage/views.h"


static ch_err_t ch__no_route(ch_call_t *call)
{
    return ch_fault(&call->fault, CH_ENOTFOUND, NULL, "no such route");
}

/* Writer thread: the queued write committed (or failed); answer the deferred call. */
static void ch__reaction_done(void *arg, ch_reactions_outcome_t *o)
{
    ch_call_t *call = arg;
    if (o->err) {
        call->fault = o->fault;
        ch_call_resume(call, o->err);
        return;
    }
    ch_call_reply(call, o->kind >= 0 ? 200 : 204, o->answer);
    ch_call_resume(call, CH_OK);
}

/* A reaction write (kind -1 removes): with the group-commit writer the call is answered
 * after the commit, without holding a worker; otherwise in a transaction of its own. */
static ch_err_t ch__reaction_write(ch_call_t *call, int type, int kind)
{
    ch_svc_t *svc = call->svc;
    ch_err_t err;
    if (ch_reactions_queued(svc)) {
        ch_target_t t;
        /* The limit is charged after the target's read: a point read that meets a lock or
         * its time budget on the loop is run again from the start on a worker, and a charge
         * made before that would count this one write twice. */
        if ((err = ch_target_resolve(svc, NULL, call->user_id, (ch_target_type_t)type, ch_call_id_param(call, 0), &t,
                                     &call->fault)) ||
            (err = ch_reactions_admit(svc, call->user_id, (ch_target_type_t)type, ch_call_id_param(call, 0), &call->fault)))
            return err;
        ch_call_defer(call);
        ch_reactions_enqueue(svc, call->user_id, &t, kind, ch__reaction_done, call);
        return CH_OK;
    }
    if (kind < 0) {
        err = ch_reactions_delete(svc, call->user_id, (ch_target_type_t)type, ch_call_id_param(call, 0), &call->fault);
        return err ? err : ch_call_reply(call, 204, NULL);
    }
    json_t *out = NULL;
    err = ch_reactions_put(svc, call->user_id, (ch_target_type_t)type, ch_call_id_param(call, 0), call->json, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_reaction_put(ch_call_t *call)
{
    int type = ch_call_target_type(call), kind;
    if (type < 0)
        return ch__no_route(call);
    ch_err_t err = ch_reactions_parse(call->json, &kind, &call->fault);
    return err ? err : ch__reaction_write(call, type, kind);
}

ch_err_t ch_h_reaction_delete(ch_call_t *call)
{
    int type = ch_call_target_type(call);
    return type < 0 ? ch__no_route(call) : ch__reaction_write(call, type, -1);
}

ch_err_t ch_h_reactions_list(ch_call_t *call)
{
    int type = ch_call_target_type(call);
    if (type < 0)
        return ch__no_route(call);
    int limit;
    uint64_t before;
    char kind[16];
    ch_err_t err = ch_call_page(call, &limit, &before);
    if (err)
        return err;
    const char *k = ch_call_query(call, "kind", kind, sizeof(kind));
    return ch_reactions_list(call->svc, call->user_id, (ch_target_type_t)type, ch_call_id_param(call, 0), k, limit,
                             before, &call->raw_out, &call->fault);
}

ch_err_t ch_h_view(ch_call_t *call)
{
    int type = ch_call_target_type(call);
    if (type < 0)
        return ch__no_route(call);
    ch_err_t err = ch_views_record(call->svc, call->user_id, (ch_target_type_t)type, ch_call_id_param(call, 0), call->json,
                                   &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}
