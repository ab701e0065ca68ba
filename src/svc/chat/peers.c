/* Conversation peers of a user (peers.h): one indexed join, bounded by the caller. */
#include "svc/chat/peers.h"

#include "svc/common/sql.h"

ch_err_t ch_chat_conversation_peers(ch_svc_t *svc, uint64_t user, uint64_t *ids, size_t cap, size_t *n)
{
    if (*n >= cap || user == 0 || user > INT64_MAX)
        return CH_OK;
    ch_db_rows_t *rows = NULL;
    int64_t group_max = svc->cfg && svc->cfg->presence_group_max > 0 ? svc->cfg->presence_group_max
                                                                        : CH_CHAT_PRESENCE_GROUP_MAX;
    ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT((int64_t)(cap - *n)), CH_DB_P_INT(group_max)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT DISTINCT y.user_id FROM conversation_members x"
                              " JOIN conversations c ON c.id = x.conversation_id AND c.members_count <= $3"
                              " JOIN conversation_members y"
                              " ON y.conversation_id = x.conversation_id AND y.user_id <> x.user_id"
                              " WHERE x.user_id = $1 LIMIT $2",
                              p, CH_NPARAMS(p), &rows, NULL);
    for (size_t r = 0; err == CH_OK && r < ch_db_rows_count(rows) && *n < cap; r++)
        ids[(*n)++] = (uint64_t)ch_db_rows_int(rows, r, 0);
    ch_db_rows_free(rows);
    return err;
}
