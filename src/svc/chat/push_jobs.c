/* Push-notification jobs for members with no live gateway connection (brd/chat.md: recorded
 * even before the push service exists). Coalesced: one chat_push_jobs row per (member,
 * conversation) holds the newest message and how many came since the push service last
 * took the row, so a busy group costs one row per offline member, not one per message. */
#include "svc/chat/push_jobs.h"

#include "core/clock.h"
#include "svc/presence/presence.h"

size_t ch__chat_offline(ch_svc_t *svc, uint64_t sender, const uint64_t *ids, size_t n, uint64_t *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int online = 0;
        if (ids[i] == sender)
            continue;
        /* A presence store that cannot answer: a job too many beats a notification lost. */
        if (ch_presence_connected(svc, ids[i], &online) != CH_OK)
            online = 0;
        if (!online)
            out[m++] = ids[i];
    }
    return m;
}

ch_err_t ch__chat_push_jobs(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, const uint64_t *ids, size_t n,
                            uint64_t msg, int64_t seq)
{
    int64_t now = ch_now_ms();
    for (size_t i = 0; i < n; i++) {
        ch_db_param_t p[] = {CH_DB_P_INT(ids[i]), CH_DB_P_INT(conv), CH_DB_P_INT(msg), CH_DB_P_INT(seq),
                             CH_DB_P_INT(now)};
        ch_err_t err = ch_sql_on(svc, conn,
                                 "INSERT INTO chat_push_jobs(user_id, conversation_id, message_id, seq, pending,"
                                 " created_at, updated_at) VALUES($1, $2, $3, $4, 1, $5, $5)"
                                 " ON CONFLICT (user_id, conversation_id) DO UPDATE SET message_id = excluded.message_id,"
                                 " seq = excluded.seq, pending = chat_push_jobs.pending + 1, updated_at = excluded.updated_at",
                                 p, CH_NPARAMS(p), NULL, NULL);
        if (err)
            return err;
    }
    return CH_OK;
}
