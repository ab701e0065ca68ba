/* Who reacted to a target: newest first, keyset on the reaction id, users blocked either
 * way with the viewer left out (two primary-key / index probes per row, so the page is full);
 * the users are rendered by the hydration layer, which checks blocks again (no join with
 * users: the layer has their summaries, and users are never deleted). */
#include <stdio.h>

#include "core/clock.h"
#include "svc/common/page.h"
#include "svc/common/sql.h"
#include "svc/engage/reactions.h"

#define CH__LIST_SELECT                                                                                      \
    "SELECT r.user_id, r.kind, r.id, r.created_at FROM reactions r"                                          \
    " WHERE r.target_type = $1 AND r.target_id = $2 AND r.id < $3"
#define CH__LIST_TAIL                                                                                        \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $4 AND b.blocked_id = r.user_id)"          \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = r.user_id AND b.blocked_id = $4)"          \
    " ORDER BY r.id DESC LIMIT $5"

static const char ch__sql_list[] = CH__LIST_SELECT CH__LIST_TAIL;
static const char ch__sql_list_kind[] = CH__LIST_SELECT " AND r.kind = $6" CH__LIST_TAIL;

ch_err_t ch_reactions_list(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, const char *kind,
                           int limit, uint64_t before, char **out, ch_fault_t *f)
{
    int k = -1;
    if (kind && (k = ch_reaction_kind_parse(kind)) < 0)
        return ch_fault(f, CH_EINVAL, "kind", "kind must be one of like, love, haha, wow, sad, angry");
    if (id == 0 || id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name(type));
    ch_target_t t;
    ch_err_t err = ch_target_resolve(svc, NULL, viewer, type, id, &t, f);
    if (err)
        return err;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(type)),
                         CH_DB_P_INT(id),
                         CH_DB_P_INT(before ? before : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(viewer),
                         CH_DB_P_INT(limit + 1),
                         CH_DB_P_TEXT(k >= 0 ? ch_reaction_kind_name(k) : NULL)};
    err = ch_sql_run(svc, k >= 0 ? ch__sql_list_kind : ch__sql_list, p, k >= 0 ? 6 : 5, &rows, NULL);
    if (err)
        return err;
    /* The users through the hydration layer, one call for the page. */
    size_t n = ch_db_rows_count(rows), shown = n > (size_t)limit ? (size_t)limit : n;
    uint64_t users[CH_PAGE_LIMIT_MAX];
    ch_hydrated_user_t u[CH_PAGE_LIMIT_MAX];
    for (size_t r = 0; r < shown; r++)
        users[r] = (uint64_t)ch_db_rows_int(rows, r, 0);
    if ((err = ch_hydrate_users(svc, viewer, users, shown, u, f)) != CH_OK) {
        ch_db_rows_free(rows);
        return err;
    }
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "{\"items\":[", 10);
    int first = 1;
    for (size_t r = 0; r < shown; r++) {
        if (!u[r].json) /* blocked since, or gone */
            continue;
        ch_buf_append(&b, first ? "{\"user\":" : ",{\"user\":", first ? 8 : 9);
        first = 0;
        ch_buf_append(&b, u[r].json, u[r].len);
        ch_buf_printf(&b, ",\"kind\":\"%s\",\"reacted_at\":", ch_db_rows_text(rows, r, 1));
        ch_page_time(&b, ch_db_rows_int(rows, r, 3));
        ch_buf_append(&b, "}", 1);
    }
    ch_buf_append(&b, "]", 1);
    ch_page_close(&b, n > shown ? (uint64_t)ch_db_rows_int(rows, shown - 1, 2) : 0);
    ch_hydrated_users_free(u, shown);
    ch_db_rows_free(rows);
    *out = b.data;
    return CH_OK;
}
