/* GET /v1/feed/home and /v1/feed/reels: the ranked feeds (svc/feed/rank.h). ?explain=1 is
 * for admins (the admin role, svc/auth/roles.h; CHORUS_ADMIN_USERS hold it): others get 403. */
#include <string.h>

#include "http/h_feed.h"
#include "svc/auth/roles.h"
#include "svc/feed/rank.h"

/* A cursor longer than this is not one the API returned. */
#define CH__FEED_CURSOR_MAX 64

static ch_err_t ch__feed(ch_call_t *call, ch_feed_kind_t kind)
{
    int limit, explain = 0;
    char cursor[CH__FEED_CURSOR_MAX + 2], ex[8];
    char *out = NULL;
    ch_err_t err = ch_call_limit(call, &limit);
    if (err)
        return err;
    const char *c = ch_call_query(call, "cursor", cursor, sizeof(cursor));
    if (c && (!c[0] || strlen(c) > CH__FEED_CURSOR_MAX))
        return ch_fault(&call->fault, CH_EINVAL, "cursor", "cursor is not one this API returned, or it expired: start again");
    const char *e = ch_call_query(call, "explain", ex, sizeof(ex));
    if (e && strcmp(e, "1") != 0 && strcmp(e, "0") != 0)
        return ch_fault(&call->fault, CH_EINVAL, "explain", "explain must be 0 or 1");
    if (e && strcmp(e, "1") == 0) {
        int admin = 0;
        if ((err = ch_roles_has(call->svc, call->user_id, CH_USER_ROLE_ADMIN, &admin)) != CH_OK)
            return ch_fault(&call->fault, err, NULL, "cannot read roles");
        if (!admin)
            return ch_fault(&call->fault, CH_EFORBIDDEN, "explain", "explain is for admins");
        explain = 1;
    }
    int needs_worker = 0;
    err = ch_feed_ranked(call->svc, kind, call->user_id, limit, c, explain, ch_call_on_loop(call), &needs_worker,
                         &out, &call->fault);
    if (needs_worker) /* a ranking to make: not on the event loop */
        return ch_call_move_to_worker(call);
    if (err)
        return err;
    call->status = 200;
    call->raw_out = out; /* the page is written as text (svc/feed/rank_page.h) */
    return CH_OK;
}

ch_err_t ch_h_feed_home(ch_call_t *call)
{
    return ch__feed(call, CH_FEED_HOME);
}

ch_err_t ch_h_feed_reels(ch_call_t *call)
{
    return ch__feed(call, CH_FEED_REELS);
}
