/* Story-only endpoints: the tray, a user's active stories, views and viewers. */
#include "core/id.h"
#include "http/h_content.h"
#include "svc/content/content.h"

ch_err_t ch_h_stories_tray(ch_call_t *call)
{
    return ch_stories_tray(call->svc, call->user_id, &call->raw_out, &call->fault);
}

ch_err_t ch_h_user_stories(ch_call_t *call)
{
    int limit;
    uint64_t after;
    ch_err_t err = ch_call_page(call, &limit, &after); /* oldest first: the cursor is the last id seen */
    if (err == CH_OK)
        err = ch_stories_of_user(call->svc, call->user_id, ch_call_id_param(call, 0), limit, after, &call->raw_out,
                                 &call->fault);
    return err;
}

ch_err_t ch_h_story_viewers(ch_call_t *call)
{
    int limit;
    char buf[64];
    ch_err_t err = ch_call_limit(call, &limit);
    if (err)
        return err;
    const char *cursor = ch_call_query(call, "cursor", buf, sizeof(buf));
    return ch_stories_viewers(call->svc, call->user_id, ch_call_id_param(call, 0), limit, cursor, &call->raw_out,
                              &call->fault);
}
