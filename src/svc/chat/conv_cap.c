/* Limits on making conversations: how many a user may be a member of, and creations and
 * adds counted against the user's chat rate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "svc/chat/chat_int.h"
#include "svc/common/ratelimit.h"

static int ch__id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* PostgreSQL: takes a transaction-scoped advisory lock per user (two-key form: namespace
 * CH__CHAT_CAP_LOCK_NS and the user id folded to 31 bits, in key order across all chunks:
 * two joins cannot wait for each other), so that concurrent joins of one user to two
 * conversations count one after the other (READ COMMITTED: the count after the lock sees the
 * other's committed row). SQLite serialises writers already. */
static ch_err_t ch__lock_users(ch_svc_t *svc, ch_db_conn_t *conn, const uint64_t *ids, size_t n)
{
    if (n == 0 || strcmp(ch_db_kind(svc->db), "postgres") != 0)
        return CH_OK;
    uint64_t *sorted = malloc(n * sizeof(*sorted));
    if (!sorted)
        return CH_EINTERNAL;
    for (size_t i = 0; i < n; i++) /* the lock key of each user, sorted, once each */
        sorted[i] = (ids[i] ^ (ids[i] >> 32)) & 0x7fffffffu;
    qsort(sorted, n, sizeof(*sorted), ch__id_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!m || sorted[m - 1] != sorted[i])
            sorted[m++] = sorted[i];
    n = m;
    enum { CHUNK = CH__CHAT_CAP_CHUNK };
    char sql[256 + CHUNK * 16];
    ch_db_param_t p[CHUNK];
    ch_err_t err = CH_OK;
    for (size_t at = 0; err == CH_OK && at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        size_t len = (size_t)snprintf(sql, sizeof(sql),
                                      "SELECT pg_advisory_xact_lock(%d, v) FROM (SELECT v FROM (VALUES ",
                                      CH__CHAT_CAP_LOCK_NS);
        for (size_t i = 0; i < k; i++) {
            p[i] = CH_DB_P_INT(sorted[at + i]);
            len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s($%zu::int)", i ? ", " : "", i + 1);
        }
        snprintf(sql + len, sizeof(sql) - len, ") t(v) ORDER BY v) s");
        err = ch_sql_on(svc, conn, sql, p, k, NULL, NULL);
    }
    free(sorted);
    return err;
}

ch_err_t ch__chat_conv_cap(ch_svc_t *svc, ch_db_conn_t *conn, const uint64_t *ids, size_t n, ch_fault_t *f)
{
    int64_t cap = svc->cfg && svc->cfg->chat_max_conversations > 0 ? svc->cfg->chat_max_conversations
                                                                    : CH_CHAT_MAX_CONVERSATIONS;
    ch_err_t err = ch__lock_users(svc, conn, ids, n);
    /* $1 the cap, then up to CH__CHAT_CAP_CHUNK ids a statement. */
    enum { CHUNK = CH__CHAT_CAP_CHUNK };
    char sql[256 + CHUNK * 8];
    ch_db_param_t p[1 + CHUNK];
    p[0] = CH_DB_P_INT(cap);
    for (size_t at = 0; err == CH_OK && at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        size_t len = (size_t)snprintf(sql, sizeof(sql), "SELECT user_id FROM conversation_members WHERE user_id IN (");
        for (size_t i = 0; i < k; i++) {
            p[1 + i] = CH_DB_P_INT(ids[at + i]);
            len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s$%zu", i ? ", " : "", i + 2);
        }
        snprintf(sql + len, sizeof(sql) - len, ") GROUP BY user_id HAVING COUNT(*) >= $1 LIMIT 1");
        ch_db_rows_t *rows = NULL;
        err = ch_sql_on(svc, conn, sql, p, 1 + k, &rows, NULL);
        if (err == CH_OK && ch_db_rows_count(rows) > 0)
            err = ch_fault(f, CH_ECONFLICT, NULL, "user %s is a member of the most conversations allowed (%lld)",
                           ch_db_rows_text(rows, 0, 0), (long long)cap);
        ch_db_rows_free(rows);
    }
    return err;
}

ch_err_t ch__chat_rate_hit(ch_svc_t *svc, uint64_t viewer, ch_fault_t *f)
{
    if (!svc->cfg || svc->cfg->rate_limit_messages <= 0)
        return CH_OK;
    char who[CH_ID_STR_LEN];
    return ch_ratelimit_hit(svc, "message", ch_id_format(viewer, who), svc->cfg->rate_limit_messages,
                               svc->cfg->rate_limit_window_ms, f);
}
