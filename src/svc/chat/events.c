/* Chat events to members' devices through the bus, after the commit. */
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "store/bus.h"
#include "svc/chat/chat_int.h"

void ch__chat_publish(ch_svc_t *svc, const uint64_t *ids, size_t n, const char *op, json_t *d)
{
    if (!svc->bus || n == 0)
        return;
    json_t *frame = json_pack("{s:s, s:O}", "op", op, "d", d);
    char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
    json_decref(frame);
    if (!text)
        return;
    ch_err_t err = ch_bus_publish_many(svc->bus, ids, n, text, strlen(text));
    if (err)
        ch_log(CH_LOG_WARN, "chat: %s to %zu users not published: %s", op, n, ch_err_code(err));
    free(text);
}

void ch__chat_publish_member(ch_svc_t *svc, const uint64_t *ids, size_t n, const char *op, uint64_t conv,
                             uint64_t user, uint64_t by)
{
    char b[3][CH_ID_STR_LEN];
    json_t *d = json_pack("{s:s, s:s, s:s}", "conversation_id", ch_id_format(conv, b[0]), "user_id",
                          ch_id_format(user, b[1]), "by", ch_id_format(by, b[2]));
    ch__chat_publish(svc, ids, n, op, d);
    json_decref(d);
}
