/* Reading notifications: a page is one keyset scan of (user_id, id); the three newest
 * actors and the targets are hydrated (svc/common/hydrate.h), one call each for the page;
 * read marks and the unread count use the partial index on unread groups. */
#include "svc/engage/notify.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/page.h"
#include "svc/common/sql.h"
#include "svc/engage/target.h"

/* The page's rows: the groups, their actors' ids and their targets; actors and targets come
 * from the hydration layer, one call each for the whole page, with the reader's visibility.
 * A target keeps {type, id} as stored and gains "available": true with the item rendered as
 * any list renders it ("item"), or "available": false when the reader may no longer see it
 * (deleted, expired, blocked, gone private or followers-only); a target whose type has no
 * renderer in the item registry (livestreams) has no "available" at all (not known hidden). */
static const char ch__sql_page[] =
    "SELECT n.id, n.kind, n.target_type, n.target_id, n.actors_count, n.is_read, n.updated_at,"
    " n.actor1_id, n.actor2_id, n.actor3_id"
    " FROM notifications n WHERE n.user_id = $1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3";
enum { CH__COL_ACTOR1 = 7 };

/* What the layer said about one page. */
typedef struct {
    size_t n;                 /* rows shown at most (<= limit) */
    size_t nactors;           /* filled entries of actors/users */
    uint64_t actors[CH_PAGE_LIMIT_MAX * CH_NOTIFY_FIRST_ACTORS];
    ch_hydrated_user_t users[CH_PAGE_LIMIT_MAX * CH_NOTIFY_FIRST_ACTORS];
    int actor_at[CH_PAGE_LIMIT_MAX][CH_NOTIFY_FIRST_ACTORS]; /* index into users, -1 = empty slot */
    size_t ntargets;                                         /* filled entries of targets/items */
    ch_item_key_t targets[CH_PAGE_LIMIT_MAX];
    ch_hydrated_t items[CH_PAGE_LIMIT_MAX];
    int target_at[CH_PAGE_LIMIT_MAX]; /* index into items, -1 = no target or an unknown type */
} ch__npage_t;

/* Appends notification row i to b. */
static void ch__render(ch_buf_t *b, const ch_db_rows_t *rows, size_t i, const ch__npage_t *pg)
{
    ch_buf_append(b, "{\"id\":", 6);
    ch_page_id(b, (uint64_t)ch_db_rows_int(rows, i, 0));
    ch_buf_printf(b, ",\"kind\":\"%s\",\"actors\":[", ch_db_rows_text(rows, i, 1));
    int first = 1;
    for (size_t k = 0; k < CH_NOTIFY_FIRST_ACTORS; k++) {
        int a = pg->actor_at[i][k];
        const ch_hydrated_user_t *u = a >= 0 ? &pg->users[a] : NULL;
        if (!u || !u->json)
            continue;
        if (!first)
            ch_buf_append(b, ",", 1);
        first = 0;
        ch_page_user_private(b, u);
    }
    ch_buf_printf(b, "],\"actors_count\":%" PRId64 ",\"read\":%s,\"updated_at\":", ch_db_rows_int(rows, i, 4),
                  ch_db_rows_int(rows, i, 5) ? "true" : "false");
    ch_page_time(b, ch_db_rows_int(rows, i, 6));
    if (!ch_db_rows_isnull(rows, i, 2) && ch_db_rows_text(rows, i, 2)[0]) {
        ch_buf_printf(b, ",\"target\":{\"type\":\"%s\",\"id\":", ch_db_rows_text(rows, i, 2));
        ch_page_id(b, (uint64_t)ch_db_rows_int(rows, i, 3));
        const ch_hydrated_t *it = pg->target_at[i] >= 0 ? &pg->items[pg->target_at[i]] : NULL;
        if (!it) { /* a type with no renderer (livestreams): neither shown nor hidden */
            ch_buf_append(b, "}", 1);
        } else if (it->json) {
            static const char avail[] = ",\"available\":true,\"item\":";
            ch_buf_append(b, avail, sizeof(avail) - 1);
            ch_buf_append(b, it->json, it->len);
            ch_buf_append(b, "}", 1);
        } else {
            static const char gone[] = ",\"available\":false}";
            ch_buf_append(b, gone, sizeof(gone) - 1);
        }
    }
    ch_buf_append(b, "}", 1);
}

ch_err_t ch_notify_list(ch_svc_t *svc, uint64_t user, int limit, uint64_t before, char **out, ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT(before ? before : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(limit + 1)};
    ch_err_t err = ch_sql_run(svc, ch__sql_page, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    ch__npage_t *pg = ch_calloc(1, sizeof(*pg));
    pg->n = n > (size_t)limit ? (size_t)limit : n;
    for (size_t i = 0; i < pg->n; i++) {
        for (size_t k = 0; k < CH_NOTIFY_FIRST_ACTORS; k++) {
            int empty = ch_db_rows_isnull(rows, i, CH__COL_ACTOR1 + k);
            pg->actor_at[i][k] = empty ? -1 : (int)pg->nactors;
            if (!empty)
                pg->actors[pg->nactors++] = (uint64_t)ch_db_rows_int(rows, i, CH__COL_ACTOR1 + k);
        }
        int type = ch_db_rows_isnull(rows, i, 2) ? -1 : ch_target_from_name(ch_db_rows_text(rows, i, 2));
        pg->target_at[i] = type >= 0 && ch_items_ops(type) ? (int)pg->ntargets : -1;
        if (pg->target_at[i] >= 0)
            pg->targets[pg->ntargets++] = (ch_item_key_t){(uint8_t)type, (uint64_t)ch_db_rows_int(rows, i, 3)};
    }
    err = pg->nactors ? ch_hydrate_users(svc, user, pg->actors, pg->nactors, pg->users, f) : CH_OK;
    if (err == CH_OK && pg->ntargets)
        err = ch_hydrate_items(svc, user, pg->targets, pg->ntargets, 0, pg->items, f);
    if (err == CH_OK) {
        ch_buf_t b = CH_BUF_INIT;
        ch_buf_append(&b, "{\"items\":[", 10);
        int first = 1;
        for (size_t i = 0; i < pg->n; i++) {
            if (!first)
                ch_buf_append(&b, ",", 1);
            first = 0;
            ch__render(&b, rows, i, pg);
        }
        ch_buf_append(&b, "]", 1);
        ch_page_close(&b, n > pg->n ? (uint64_t)ch_db_rows_int(rows, pg->n - 1, 0) : 0);
        *out = b.data;
    }
    ch_hydrated_users_free(pg->users, pg->nactors);
    ch_hydrated_free(pg->items, pg->ntargets);
    free(pg);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_notify_mark_read(ch_svc_t *svc, uint64_t user, uint64_t up_to)
{
    ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT(up_to ? up_to : (uint64_t)INT64_MAX)};
    return ch_sql_run(svc, "UPDATE notifications SET is_read = 1 WHERE user_id = $1 AND is_read = 0 AND id <= $2", p,
                      CH_NPARAMS(p), NULL, NULL);
}

ch_err_t ch_notify_unread_count(ch_svc_t *svc, uint64_t user, int64_t *out)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user)};
    ch_err_t err = ch_sql_run(svc, "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND is_read = 0", p, 1,
                              &rows, NULL);
    *out = err == CH_OK && ch_db_rows_count(rows) ? ch_db_rows_int(rows, 0, 0) : 0;
    ch_db_rows_free(rows);
    return err;
}
