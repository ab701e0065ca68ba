/* Typing: never stored; at most one fanned out per (user, conversation) per
 * CH_CHAT_TYPING_INTERVAL_MS, counted in the kv store so that every node agrees, before any
 * SQL; those past it count against the user's CHORUS_RATE_LIMIT_TYPING per CHORUS_RATE_LIMIT_WINDOW. */
#include <stdio.h>
#include <stdlib.h>

#include "core/id.h"
#include "svc/chat/chat_int.h"
#include "svc/common/ratelimit.h"

ch_err_t ch_chat_typing(ch_svc_t *svc, uint64_t viewer, uint64_t conv, ch_fault_t *f)
{
    ch__chat_conv_t c;
    ch_db_conn_t *conn = NULL;
    uint64_t *ids = NULL;
    size_t n = 0;
    char key[64];
    int64_t count = 0;
    snprintf(key, sizeof(key), "chat:typing:%llu:%llu", (unsigned long long)conv, (unsigned long long)viewer);
    /* The throttle first, before any SQL. A kv store that cannot count: typing is dropped (it
     * is ephemeral), the op succeeds. */
    if (ch_kv_incr(svc->kv, key, CH_CHAT_TYPING_INTERVAL_MS, &count, NULL) != CH_OK || count != 1)
        return CH_OK;
    /* Then the viewer's budget of typing that costs SQL (distinct conversations, many devices). */
    char who[CH_ID_STR_LEN];
    ch_err_t err = CH_OK;
    if (svc->cfg && svc->cfg->rate_limit_typing > 0) /* 0 in unit tests' bare configs: no limit */
        err = ch_ratelimit_hit(svc, "typing", ch_id_format(viewer, who), svc->cfg->rate_limit_typing,
                               svc->cfg->rate_limit_window_ms, f);
    if (err == CH_ERATELIMIT)
        return err;
    if (err != CH_OK)
        return CH_OK; /* the counter's store failed: dropped, as above */
    if ((err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn))) != CH_OK)
        return err;
    err = ch__chat_load(svc, conn, viewer, conv, 0, &c, f);
    if (err == CH_OK)
        err = ch__chat_direct_blocked(svc, conn, viewer, &c, f);
    ch_db_release(svc->db, conn);
    if (err)
        return err;
    if (!svc->bus)
        return CH_OK;
    if ((err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn))) != CH_OK)
        return err;
    err = ch__chat_member_ids(svc, conn, conv, &ids, &n);
    ch_db_release(svc->db, conn);
    size_t m = 0;
    for (size_t i = 0; err == CH_OK && i < n; i++)
        if (ids[i] != viewer)
            ids[m++] = ids[i];
    if (err == CH_OK) {
        char b[2][CH_ID_STR_LEN];
        json_t *d = json_pack("{s:s, s:s, s:i}", "conversation_id", ch_id_format(conv, b[0]), "user_id",
                              ch_id_format(viewer, b[1]), "expires_in_ms", CH_CHAT_TYPING_EXPIRES_MS);
        ch__chat_publish(svc, ids, m, "typing", d);
        json_decref(d);
    }
    free(ids);
    return err;
}
