/* Push-notification jobs for members with no live gateway connection (brd/chat.md: recorded
 * even before the push service exists). Coalesced: one chat_push_jobs row per (member,
 * conversation) holds the newest message and how many came since the push service last
 * took the row, so a busy group costs one row per offline member, not one per message. */
#include "svc/chat/push_jobs.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "svc/presence/presence.h"

size_t ch__chat_offline(ch_svc_t *svc, uint64_t sender, const uint64_t *ids, size_t n, uint64_t *out)
{
    size_t m = 0;
    int *online = n ? calloc(n, sizeof(*online)) : NULL;
    /* A presence store that cannot answer (or no memory): a job too many beats a
     * notification lost; every member counts as offline. */
    if (online && ch_presence_connected_many(svc, ids, n, online) != CH_OK)
        for (size_t i = 0; i < n; i++)
            online[i] = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != sender && !(online && online[i]))
            out[m++] = ids[i];
    free(online);
    return m;
}

ch_err_t ch__chat_push_jobs(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, const uint64_t *ids, size_t n,
                            uint64_t msg, int64_t seq)
{
    /* One multi-row upsert per CH__CHAT_PUSH_JOBS_CHUNK members: $1..$4 the message, then
     * the members' ids. */
    enum { CHUNK = CH__CHAT_PUSH_JOBS_CHUNK, FIXED = 4 };
    static const char head[] = "INSERT INTO chat_push_jobs(user_id, conversation_id, message_id, seq, pending,"
                               " created_at, updated_at) VALUES";
    static const char tail[] = " ON CONFLICT (user_id, conversation_id) DO UPDATE SET message_id = excluded.message_id,"
                               " seq = excluded.seq, pending = chat_push_jobs.pending + 1,"
                               " updated_at = excluded.updated_at";
    char sql[sizeof(head) + sizeof(tail) + CHUNK * 48];
    ch_db_param_t p[FIXED + CHUNK];
    int64_t now = ch_now_ms();
    p[0] = CH_DB_P_INT(conv);
    p[1] = CH_DB_P_INT(msg);
    p[2] = CH_DB_P_INT(seq);
    p[3] = CH_DB_P_INT(now);
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK, len = (size_t)snprintf(sql, sizeof(sql), "%s", head);
        for (size_t i = 0; i < k; i++) {
            p[FIXED + i] = CH_DB_P_INT(ids[at + i]);
            len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s($%zu, $1, $2, $3, 1, $4, $4)", i ? ", " : " ",
                                    FIXED + i + 1);
        }
        snprintf(sql + len, sizeof(sql) - len, "%s", tail);
        ch_err_t err = ch_sql_on(svc, conn, sql, p, FIXED + k, NULL, NULL);
        if (err)
            return err;
    }
    return CH_OK;
}
