/* Whether two users share a conversation (share.h): one indexed probe, a's memberships
 * joined on b's row of the same conversation. */
#include "svc/chat/share.h"

#include "svc/common/sql.h"

ch_err_t ch_chat_shares_conversation(ch_svc_t *svc, uint64_t a, uint64_t b, int *shared)
{
    *shared = 0;
    if (a == 0 || b == 0 || a > INT64_MAX || b > INT64_MAX)
        return CH_OK;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(a), CH_DB_P_INT(b)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT 1 FROM conversation_members x JOIN conversation_members y"
                              " ON y.conversation_id = x.conversation_id AND y.user_id = $2"
                              " WHERE x.user_id = $1 LIMIT 1",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK)
        *shared = ch_db_rows_count(rows) > 0;
    ch_db_rows_free(rows);
    return err;
}
