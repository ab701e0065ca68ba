/* POST /v1/feed/feedback {type, id, signal} -> 204 (svc/feed/feedback.c). As the other
 * POST bodies of content and engagement, members the request does not define are ignored.
 * Checked in order: type (post | reel), id (a decimal id as a string), signal; then the
 * item must be one the caller may see (404). A repeat answers 204 and changes nothing. */
#include <stdint.h>

#include "core/id.h"
#include "http/h_feed.h"
#include "svc/common/fields.h"
#include "svc/engage/target.h"
#include "svc/feed/candidates.h"

static const char *const ch__types[] = {"post", "reel", NULL};
static const char *const ch__signals[] = {"not_interested", "see_less_author", "see_more", NULL};

ch_err_t ch_h_feed_feedback(ch_call_t *call)
{
    const char *type = NULL, *id_text = NULL, *signal = NULL;
    ch_err_t err = ch_field_enum(call->json, "type", CH_FIELD_REQUIRED, ch__types, &type, &call->fault);
    if (err)
        return err;
    json_t *id = json_object_get(call->json, "id");
    if (!json_is_string(id) || (id_text = json_string_value(id)) == NULL || ch_id_parse(id_text) == 0 ||
        ch_id_parse(id_text) > INT64_MAX)
        return ch_fault(&call->fault, CH_EINVAL, "id", "id must be the item's id, a string of digits");
    if ((err = ch_field_enum(call->json, "signal", CH_FIELD_REQUIRED, ch__signals, &signal, &call->fault)))
        return err;
    ch_item_key_t key = {(uint8_t)ch_target_from_name(type), ch_id_parse(id_text)};
    ch_feed_signal_t sig = signal == ch__signals[0]   ? CH_FEED_SIGNAL_NOT_INTERESTED
                           : signal == ch__signals[1] ? CH_FEED_SIGNAL_SEE_LESS_AUTHOR
                                                      : CH_FEED_SIGNAL_SEE_MORE;
    err = ch_feed_feedback_add(call->svc, call->user_id, key, sig, &call->fault);
    return err ? err : ch_call_reply(call, 204, NULL);
}
