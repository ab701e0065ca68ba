/* Comments and hashtag pages. */
#include "http/h_comments.h"

#include <string.h>

#include "core/id.h"
#include "svc/common/page.h"
#include "svc/content/tagged.h"
#include "svc/engage/comments.h"
#include "svc/engage/hashtags.h"


ch_err_t ch_h_comment_create(ch_call_t *call)
{
    int type = ch_call_target_type(call);
    json_t *out = NULL;
    if (type < 0)
        return ch_fault(&call->fault, CH_ENOTFOUND, NULL, "no such route");
    ch_err_t err = ch_comments_create(call->svc, call->user_id, (ch_target_type_t)type, ch_call_id_param(call, 0), call->json, &out,
                                      &call->fault);
    return err ? err : ch_call_reply(call, 201, out);
}

ch_err_t ch_h_comments_list(ch_call_t *call)
{
    int type = ch_call_target_type(call), limit;
    char sort[16], cursor[128];
    if (type < 0)
        return ch_fault(&call->fault, CH_ENOTFOUND, NULL, "no such route");
    ch_err_t err = ch_call_limit(call, &limit);
    if (err)
        return err;
    const char *s = ch_call_query(call, "sort", sort, sizeof(sort));
    ch_comments_sort_t by = CH_COMMENTS_SORT_TOP;
    if (s && strcmp(s, "new") == 0)
        by = CH_COMMENTS_SORT_NEW;
    else if (s && strcmp(s, "top") != 0)
        return ch_fault(&call->fault, CH_EINVAL, "sort", "sort must be top or new");
    const char *c = ch_call_query(call, "cursor", cursor, sizeof(cursor));
    if (c && (!c[0] || strlen(c) >= sizeof(cursor) - 1))
        return ch_fault(&call->fault, CH_EINVAL, "cursor", "cursor is not one this API returned");
    return ch_comments_list(call->svc, call->user_id, (ch_target_type_t)type, ch_call_id_param(call, 0), by, limit, c,
                            &call->raw_out, &call->fault);
}

ch_err_t ch_h_comment_get(ch_call_t *call)
{
    return ch_page_item_get(call->svc, call->user_id, CH_TARGET_COMMENT, ch_call_id_param(call, 0), &call->raw_out,
                            &call->fault);
}

ch_err_t ch_h_comment_replies(ch_call_t *call)
{
    int limit;
    uint64_t after;
    ch_err_t err = ch_call_page(call, &limit, &after);
    if (err == CH_OK)
        err = ch_comments_replies(call->svc, call->user_id, ch_call_id_param(call, 0), limit, after, &call->raw_out,
                                  &call->fault);
    return err;
}

ch_err_t ch_h_comment_delete(ch_call_t *call)
{
    ch_err_t err = ch_comments_delete(call->svc, call->user_id, ch_call_id_param(call, 0), &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}

ch_err_t ch_h_hashtag_get(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_hashtag_get(call->svc, call->params[0], &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

ch_err_t ch_h_hashtag_items(ch_call_t *call)
{
    char tag[CH_HASHTAG_MAX_BYTES + 1];
    int limit;
    uint64_t before;
    ch_err_t err = ch_hashtag_parse_path(call->params[0], tag, &call->fault);
    if (err == CH_OK)
        err = ch_call_page(call, &limit, &before);
    if (err == CH_OK)
        err = ch_content_tagged(call->svc, call->user_id, tag, limit, before, &call->raw_out, &call->fault);
    return err;
}

ch_err_t ch_h_hashtags_trending(ch_call_t *call)
{
    json_t *out = NULL;
    ch_err_t err = ch_hashtags_trending(call->svc, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}
