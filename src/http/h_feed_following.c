/* GET /v1/feed/following: the in-network feed, newest first, without ranking (brd/feed.md:
 * "the escape hatch people ask for"). Candidates come from ch_feed_in_network; hydration
 * (svc/common/items.h) drops what the viewer may not see and says what the viewer mutes
 * (skipped here: the source leaves mutes and blocks to hydration), so a page is read in a few
 * rounds until it is full or the source ends. The cursor is the id of the last item shown
 * (or, when the rounds run out, the position the source reached): ids are time-sortable, so
 * pages never repeat or skip an item while new ones arrive on top. next_cursor is null only
 * when the source said it ended. A warm page (a current pull set, a timeline) runs on the event
 * loop with local backends; otherwise the call moves to a worker thread before anything. */
#include <stdio.h>

#include "core/alloc.h"
#include "core/id.h"
#include "http/h_feed.h"
#include "core/buf.h"
#include "svc/common/hydrate.h"
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
    ch_hydrated_t h[CH_FEED_FOLLOWING_LIMIT_MAX];
    /* The page as text: the layer's item texts spliced with the reason, no JSON tree. */
    static const char reason[] = "\"reason\":\"following\"";
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "{\"items\":[", 10);
    size_t shown = 0;
    uint64_t last_shown = 0;
    int ended = 0;
    for (int round = 0; round < CH_FEED_FOLLOWING_ROUNDS && shown < (size_t)limit && !ended; round++) {
        size_t want = (size_t)limit - shown, n = 0;
        uint64_t next = 0;
        int needs_worker = 0;
        err = ch_feed_in_network_page_on(call->svc, call->user_id, before, want, ch_call_on_loop(call), cands, &n,
                                         &next, &needs_worker, &call->fault);
        if (needs_worker) { /* statements to run first (pull set, rebuild): not on the event loop */
            ch_buf_clear(&b);
            return ch_call_move_to_worker(call);
        }
        if (err == CH_OK && n)
            for (size_t i = 0; i < n; i++)
                keys[i] = cands[i].key;
        if (err == CH_OK && n)
            err = ch_hydrate_items(call->svc, call->user_id, keys, n, 0, h, &call->fault);
        if (err)
            break;
        ended = next == 0; /* the source gave what it had */
        for (size_t i = 0; i < n && shown < (size_t)limit; i++) {
            if (!h[i].json || h[i].facts.muted)
                continue; /* gone, not for this viewer, or muted (the source leaves mutes to this) */
            ch_buf_append(&b, shown ? ",{\"item\":" : "{\"item\":", shown ? 9 : 8);
            ch_hydrated_append_with(&b, &h[i], NULL, 0);
            ch_buf_append(&b, ",", 1);
            ch_buf_append(&b, reason, sizeof(reason) - 1);
            ch_buf_append(&b, "}", 1);
            last_shown = cands[i].key.id;
            shown++;
        }
        ch_hydrated_free(h, n);
        before = next;
    }
    if (err) {
        ch_buf_clear(&b);
        return err;
    }
    ch_buf_append(&b, "],\"next_cursor\":", 16);
    if (shown == (size_t)limit || (!ended && before)) {
        char id[CH_ID_STR_LEN + 3], *q = id;
        *q++ = '"';
        q = ch_u64_put(q, shown == (size_t)limit ? last_shown : before); /* no printf on every page */
        *q++ = '"';
        *q++ = '}';
        ch_buf_append(&b, id, (size_t)(q - id));
    } else {
        ch_buf_append(&b, "null}", 5);
    }
    call->raw_out = b.data;
    return CH_OK;
}
