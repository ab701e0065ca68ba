/* Who reacted to a target: newest first, keyset on the reaction id, users blocked either
 * way with the viewer left out (two primary-key / index probes per row, so the page is full);
 * the users are rendered by the hydration layer, which checks blocks again (no join with
 * users: the layer has their summaries, and users are never deleted). */
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/page.h"
#include "svc/common/sql.h"
#include "svc/engage/reactions.h"
#include "svc/engage/reactions_kind.h"
#include "svc/engage/reactions_page.h"
#include "svc/engage/target.h"

#define CH__LIST_SELECT                                                                                      \
    "SELECT r.user_id, r.kind, r.id, r.created_at FROM reactions r"                                          \
    " WHERE r.target_type = $1 AND r.target_id = $2 AND r.id < $3"
#define CH__LIST_TAIL                                                                                        \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $4 AND b.blocked_id = r.user_id)"          \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = r.user_id AND b.blocked_id = $4)"          \
    " ORDER BY r.id DESC LIMIT $5"

static const char ch__sql_list[] = CH__LIST_SELECT CH__LIST_TAIL;
static const char ch__sql_list_kind[] = CH__LIST_SELECT " AND r.kind = $6" CH__LIST_TAIL;

/* Appends one reaction of the list: {"user":<u>,"kind":"<kind>","reacted_at":"<time>"}. */
static void ch__append_one(ch_buf_t *b, int *first, const ch_hydrated_user_t *u, const char *kind, int64_t at_ms)
{
    ch_buf_append(b, *first ? "{\"user\":" : ",{\"user\":", *first ? 8 : 9);
    *first = 0;
    ch_buf_append(b, u->json, u->len);
    ch_buf_printf(b, ",\"kind\":\"%s\",\"reacted_at\":", kind);
    ch_page_time(b, at_ms);
    ch_buf_append(b, "}", 1);
}

/* A first page (no kind filter) from the target's cached newest reactions
 * (reactions_page.h): users hydrated in order, those with a block either way hidden by the
 * layer (the statement's block terms), until limit + 1 are shown. 1 when *out (or *err) is
 * the answer; 0 when the cache cannot tell (down, or a full list that runs out first). */
static int ch__list_cached(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, int limit, char **out,
                           ch_err_t *err, ch_fault_t *f)
{
    ch__reactions_page_t *pg = ch_malloc(sizeof(*pg));
    int r = ch__reactions_page_read(svc, type, id, pg, err);
    if (r <= 0) {
        free(pg);
        return r < 0;
    }
    uint64_t users[CH_PAGE_LIMIT_MAX + 1];
    ch_hydrated_user_t u[CH_PAGE_LIMIT_MAX + 1];
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "{\"items\":[", 10);
    size_t at = 0, shown = 0;
    uint64_t last = 0;
    int first = 1, more = 0;
    while (at < pg->n && !more) {
        size_t need = (size_t)limit + 1 - shown, chunk = pg->n - at < need ? pg->n - at : need;
        for (size_t k = 0; k < chunk; k++)
            users[k] = pg->r[at + k].user;
        if ((*err = ch_hydrate_users(svc, viewer, users, chunk, u, f)) != CH_OK)
            break;
        for (size_t k = 0; k < chunk && !more; k++) {
            if (!u[k].json)
                continue;
            if (shown++ == (size_t)limit) { /* the (limit + 1)-th only says there is more */
                more = 1;
                break;
            }
            last = pg->r[at + k].id;
            ch__append_one(&b, &first, &u[k], ch_reaction_kind_name(pg->r[at + k].kind), pg->r[at + k].at_ms);
        }
        ch_hydrated_users_free(u, chunk);
        at += chunk;
    }
    int answered = *err != CH_OK || more || !pg->full;
    free(pg);
    if (*err != CH_OK || !answered) {
        ch_buf_clear(&b);
        return answered;
    }
    ch_buf_append(&b, "]", 1);
    ch_page_close(&b, more ? last : 0);
    *out = b.data;
    return 1;
}

ch_err_t ch_reactions_list(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, const char *kind,
                           int limit, uint64_t before, char **out, ch_fault_t *f)
{
    int k = -1;
    if (kind && (k = ch_reaction_kind_parse(kind)) < 0)
        return ch_fault(f, CH_EINVAL, "kind", "kind must be one of like, love, haha, wow, sad, angry");
    if (id == 0 || id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name(type));
    ch_target_t t;
    ch_err_t err = ch_target_resolve_read(svc, viewer, type, id, &t, f);
    if (err)
        return err;
    if (!kind && !before && limit < CH_REACTIONS_CACHED && ch__list_cached(svc, viewer, type, id, limit, out, &err, f))
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
