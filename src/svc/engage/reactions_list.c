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
#include "svc/common/hydrate_keys.h"
#include "svc/common/id_page.h"
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
static void ch__append_one(ch_buf_t *b, int first, const ch_hydrated_user_t *u, const char *kind, int64_t at_ms)
{
    ch_buf_append(b, first ? "{\"user\":" : ",{\"user\":", first ? 8 : 9);
    ch_buf_append(b, u->json, u->len);
    ch_buf_printf(b, ",\"kind\":\"%s\",\"reacted_at\":", kind);
    ch_page_time(b, at_ms);
    ch_buf_append(b, "}", 1);
}

/* A target's newest reactions, cached (svc/common/id_page.h): a fact "X:<type>:<id>" holds its
 * newest CH__REACTIONS_CACHED reactions as rows (reaction id, user, time, kind), with no
 * viewer's block terms (the layer's user facts decide who the viewer sees). Forgotten after
 * the commit of every reaction set, changed or removed on the target (reactions_apply.c,
 * ch_hydrate_forget_reactions), so a warm first page of the list needs no statement. The
 * limit is the largest page (100) with room for hidden users. */
#define CH__REACTIONS_CACHED 128

/* A stored kind this build does not know: the list is not cached (the statement's page shows
 * it as stored). */
static int ch__reaction_row(const ch_db_rows_t *rows, size_t r, uint64_t *vals)
{
    int kind = ch_reaction_kind_parse(ch_db_rows_text(rows, r, 3));
    if (kind < 0)
        return 0;
    vals[0] = (uint64_t)ch_db_rows_int(rows, r, 0);
    vals[1] = (uint64_t)ch_db_rows_int(rows, r, 1);
    vals[2] = (uint64_t)ch_db_rows_int(rows, r, 2);
    vals[3] = (uint64_t)kind;
    return 1;
}

static int ch__reaction_valid(const uint64_t *vals)
{
    return vals[3] < CH_REACTION_KIND_COUNT;
}

static const ch_id_page_spec_t ch__reactions_spec = {
    .tag = 'X',
    .cols = 4,
    .cap = CH__REACTIONS_CACHED,
    .sql = "SELECT r.id, r.user_id, r.created_at, r.kind FROM reactions r"
           " WHERE r.target_type = $1 AND r.target_id = $2 ORDER BY r.id DESC LIMIT $3",
    .row = ch__reaction_row,
    .valid = ch__reaction_valid};

static void ch__append_cached(ch_buf_t *b, int first, const uint64_t *row, const ch_hydrated_user_t *u)
{
    ch__append_one(b, first, u, ch_reaction_kind_name((ch_reaction_kind_t)row[3]), (int64_t)row[2]);
}

/* A first page (no kind filter) from the target's cached newest reactions. 1 when *out (or
 * *err) is the answer; 0 when the cache cannot tell (down, or a full list that runs out
 * first). */
static int ch__list_cached(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, int limit, char **out,
                           ch_err_t *err, ch_fault_t *f)
{
    uint64_t *v = ch_malloc(CH__REACTIONS_CACHED * 4 * sizeof(*v));
    ch_id_page_t pg = {.v = v};
    ch_hkey_t key;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(type)), CH_DB_P_INT(id)};
    int r = ch_id_page_read(svc, &ch__reactions_spec, ch_hkey_reactions(key, (unsigned)type, id), p, CH_NPARAMS(p),
                            &pg, err);
    if (r > 0)
        r = ch_id_page_render_users(svc, &ch__reactions_spec, &pg, 1, 0, viewer, limit, ch__append_cached, out, err, f);
    free(v);
    return r != 0;
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
    if (!kind && !before && limit < CH__REACTIONS_CACHED && ch__list_cached(svc, viewer, type, id, limit, out, &err, f))
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
        ch__append_one(&b, first, &u[r], ch_db_rows_text(rows, r, 1), ch_db_rows_int(rows, r, 3));
        first = 0;
    }
    ch_buf_append(&b, "]", 1);
    ch_page_close(&b, n > shown ? (uint64_t)ch_db_rows_int(rows, shown - 1, 2) : 0);
    ch_hydrated_users_free(u, shown);
    ch_db_rows_free(rows);
    *out = b.data;
    return CH_OK;
}
