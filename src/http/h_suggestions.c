/* GET /v1/suggestions/users?limit (svc/feed/suggest.h): limit 1..50, default 20. */
#include <stdlib.h>
#include <string.h>

#include "http/h_feed.h"
#include "svc/feed/suggest.h"

ch_err_t ch_h_suggestions_users(ch_call_t *call)
{
    char buf[16];
    const char *v = ch_call_query(call, "limit", buf, sizeof(buf));
    long limit = CH_SUGGEST_LIMIT_DEFAULT;
    if (v) {
        char *end;
        limit = strtol(v, &end, 10);
        if (strlen(v) >= sizeof(buf) - 1 || *v < '0' || *v > '9' || *end || limit < 1 || limit > CH_SUGGEST_LIMIT_MAX)
            return ch_fault(&call->fault, CH_EINVAL, "limit", "limit must be an integer from 1 to %d",
                            CH_SUGGEST_LIMIT_MAX);
    }
    json_t *out = NULL;
    ch_err_t err = ch_feed_suggest_users(call->svc, call->user_id, (int)limit, &out, &call->fault);
    return err ? err : ch_call_reply(call, 200, out);
}
