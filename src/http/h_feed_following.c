/* GET /v1/feed/following: the in-network feed, newest first, without ranking (brd/feed.md:
 * "the escape hatch people ask for"). Candidates come from ch_feed_in_network; hydration
 * (svc/common/items.h) drops what the viewer may not see, so a page is read in a few
 * rounds until it is full or the source ends. The cursor is the id of the last item shown
 * (or, when the rounds run out, the position the source reached): ids are time-sortable, so
 * pages never repeat or skip an item while new ones arrive on top. next_cursor is null only
 * when the source said it ended. */
#include <stdio.h>

#include "core/alloc.h"
#include "core/id.h"
#include "http/h_feed.h"
#include "svc/common/items.h"
#include "svc/feed/candidates.h"

#define CH_FEED_FOLLOWING_LIMIT_MAX 50
/* Candidate reads one page makes at most. */
#define CH_FEED_FOLLOWING_ROUNDS 4

ch_err_t ch_h_feed_following(ch_call_t *call)
{
    int limit = 20;
    uint64_t before = 0;
    ch_err_t err = ch_call_limit(call, &limit);
    if (err || limit > CH_FEED_FOLLOWING_LIMIT_MAX)
        return ch_fault(&call->fault, CH_EINVAL, "limit", "limit must be an integer from 1 to %d",
                        CH_FEED_FOLLOWING_LIMIT_MAX);
    if ((err = ch_call_cursor(call, &before)) != CH_OK)
        return err;
    ch_feed_cand_t cands[CH_FEED_FOLLOWING_LIMIT_MAX];
    ch_item_key_t keys[CH_FEED_FOLLOWING_LIMIT_MAX];
    json_t *rendered[CH_FEED_FOLLOWING_LIMIT_MAX];
    json_t *items = json_array();
    size_t shown = 0;
    uint64_t last_shown = 0;
    int ended = 0;
    for (int round = 0; round < CH_FEED_FOLLOWING_ROUNDS && shown < (size_t)limit && !ended; round++) {
        size_t want = (size_t)limit - shown, n = 0;
        uint64_t next = 0;
        err = ch_feed_in_network_page(call->svc, call->user_id, before, want, cands, &n, &next, &call->fault);
        if (err == CH_OK && n)
            for (size_t i = 0; i < n; i++)
                keys[i] = cands[i].key;
        if (err == CH_OK && n)
            err = ch_items_hydrate(call->svc, call->user_id, keys, n, rendered, NULL, &call->fault);
        if (err)
            break;
        ended = next == 0; /* the source gave what it had */
        for (size_t i = 0; i < n; i++) {
            if (!rendered[i])
                continue;
            if (shown < (size_t)limit) {
                json_array_append_new(items, json_pack("{s:o, s:s}", "item", rendered[i], "reason", "following"));
                last_shown = cands[i].key.id;
                shown++;
            } else {
                json_decref(rendered[i]);
            }
        }
        before = next;
    }
    if (err) {
        json_decref(items);
        return err;
    }
    json_t *cursor = json_null();
    if (shown == (size_t)limit || (!ended && before)) {
        char id[CH_ID_STR_LEN];
        cursor = json_string(ch_id_format(shown == (size_t)limit ? last_shown : before, id));
    }
    return ch_call_reply(call, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor", cursor));
}
