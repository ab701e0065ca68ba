/* Posts, reels and stories as items, and author timelines. Path ids that are not ids
 * answer 404 like unknown ones. */
#include "core/id.h"
#include "http/h_content.h"
#include "svc/common/page.h"
#include "svc/content/content.h"

/* The registry's type of an authored type. */
static ch_target_type_t ch__target(ch_item_type_t type)
{
    return type == CH_ITEM_POST ? CH_TARGET_POST : type == CH_ITEM_REEL ? CH_TARGET_REEL : CH_TARGET_STORY;
}

static ch_err_t ch__create(ch_call_t *call, ch_item_type_t type)
{
    json_t *out = NULL;
    ch_err_t err = ch_content_create(call->svc, call->user_id, type, call->json, &out, &call->fault);
    return err ? err : ch_call_reply(call, 201, out);
}

/* Through the hydration layer: a point read served from the cache when warm. */
static ch_err_t ch__get(ch_call_t *call, ch_item_type_t type)
{
    return ch_page_item_get(call->svc, call->user_id, ch__target(type), ch_call_id_param(call, 0), &call->raw_out,
                            &call->fault);
}

static ch_err_t ch__patch(ch_call_t *call, ch_item_type_t type)
{
    json_t *out = NULL;
    ch_err_t err = ch_content_edit(call->svc, call->user_id, type, ch_call_id_param(call, 0), call->json, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}

static ch_err_t ch__delete(ch_call_t *call, ch_item_type_t type)
{
    ch_err_t err = ch_content_delete(call->svc, call->user_id, type, ch_call_id_param(call, 0), &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}

/* An author timeline: ?limit, ?cursor (an item id from next_cursor). */
static ch_err_t ch__timeline(ch_call_t *call, ch_item_type_t type)
{
    int limit;
    uint64_t before;
    ch_err_t err = ch_call_page(call, &limit, &before);
    if (err == CH_OK)
        err = ch_content_timeline(call->svc, call->user_id, ch_call_id_param(call, 0), type, limit, before,
                                  &call->raw_out, &call->fault);
    return err;
}

ch_err_t ch_h_post_create(ch_call_t *call) { return ch__create(call, CH_ITEM_POST); }
ch_err_t ch_h_reel_create(ch_call_t *call) { return ch__create(call, CH_ITEM_REEL); }
ch_err_t ch_h_story_create(ch_call_t *call) { return ch__create(call, CH_ITEM_STORY); }
ch_err_t ch_h_post_get(ch_call_t *call) { return ch__get(call, CH_ITEM_POST); }
ch_err_t ch_h_reel_get(ch_call_t *call) { return ch__get(call, CH_ITEM_REEL); }
ch_err_t ch_h_story_get(ch_call_t *call) { return ch__get(call, CH_ITEM_STORY); }
ch_err_t ch_h_post_patch(ch_call_t *call) { return ch__patch(call, CH_ITEM_POST); }
ch_err_t ch_h_reel_patch(ch_call_t *call) { return ch__patch(call, CH_ITEM_REEL); }
ch_err_t ch_h_post_delete(ch_call_t *call) { return ch__delete(call, CH_ITEM_POST); }
ch_err_t ch_h_reel_delete(ch_call_t *call) { return ch__delete(call, CH_ITEM_REEL); }
ch_err_t ch_h_story_delete(ch_call_t *call) { return ch__delete(call, CH_ITEM_STORY); }
ch_err_t ch_h_user_posts(ch_call_t *call) { return ch__timeline(call, CH_ITEM_POST); }
ch_err_t ch_h_user_reels(ch_call_t *call) { return ch__timeline(call, CH_ITEM_REEL); }
