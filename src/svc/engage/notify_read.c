/* Reading notifications: a page is one keyset scan of (user_id, id), a first page and the
 * unread count the viewer's cached facts when warm (notify_cache.h); the three newest actors
 * and the targets are hydrated (svc/common/hydrate.h), one call each for the page; read
 * marks and the unread count use the partial index on unread groups. */
#include "svc/engage/notify.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/page.h"
#include "svc/common/sql.h"
#include "svc/engage/notify_cache.h"
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
    size_t n;                 /* rows shown (<= limit) */
    ch__notify_row_t rows[CH_PAGE_LIMIT_MAX];
    size_t nactors;           /* filled entries of actors/users (distinct ids) */
    uint64_t actors[CH_PAGE_LIMIT_MAX * CH_NOTIFY_FIRST_ACTORS];
    ch_hydrated_user_t users[CH_PAGE_LIMIT_MAX * CH_NOTIFY_FIRST_ACTORS];
    int actor_at[CH_PAGE_LIMIT_MAX][CH_NOTIFY_FIRST_ACTORS]; /* index into users, -1 = empty slot */
    size_t ntargets;                                         /* filled entries of targets/items (distinct) */
    ch_item_key_t targets[CH_PAGE_LIMIT_MAX];
    ch_hydrated_t items[CH_PAGE_LIMIT_MAX];
    int target_at[CH_PAGE_LIMIT_MAX]; /* index into items, -1 = no target or an unknown type */
} ch__npage_t;

/* The index of id in ids[0..*n), added at the end when absent (the callers' arrays hold every
 * slot of a page: CH_NOTIFY_FIRST_ACTORS per row). */
static int ch__slot_of(uint64_t *ids, size_t *n, uint64_t id)
{
    for (size_t j = 0; j < *n; j++)
        if (ids[j] == id)
            return (int)j;
    ids[*n] = id;
    return (int)(*n)++;
}

/* ch__slot_of for the key (type, id) among keys[0..*n). */
static int ch__target_slot(ch_item_key_t *keys, size_t *n, uint8_t type, uint64_t id)
{
    for (size_t j = 0; j < *n; j++)
        if (keys[j].id == id && keys[j].type == type)
            return (int)j;
    keys[*n] = (ch_item_key_t){type, id};
    return (int)(*n)++;
}

/* Appends row i of the page to b. */
static void ch__render(ch_buf_t *b, const ch__npage_t *pg, size_t i)
{
    const ch__notify_row_t *row = &pg->rows[i];
    ch_buf_append(b, "{\"id\":", 6);
    ch_page_id(b, row->id);
    ch_buf_append(b, ",\"kind\":\"", 9);
    ch_buf_append_str(b, row->kind); /* a name of the program's (notify.h), nothing to escape */
    ch_buf_append(b, "\",\"actors\":[", 12);
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
    static const char count[] = "],\"actors_count\":", yes[] = ",\"read\":true,\"updated_at\":",
                      no[] = ",\"read\":false,\"updated_at\":";
    ch_buf_append(b, count, sizeof(count) - 1);
    ch_buf_append_i64(b, row->actors_count);
    if (row->read)
        ch_buf_append(b, yes, sizeof(yes) - 1);
    else
        ch_buf_append(b, no, sizeof(no) - 1);
    ch_buf_append_time(b, row->updated_at);
    if (row->target_type) {
        static const char target[] = ",\"target\":{\"type\":\"", id[] = "\",\"id\":";
        ch_buf_append(b, target, sizeof(target) - 1);
        ch_buf_append_str(b, row->target_type); /* a registry name, or the stored one (checked on write) */
        ch_buf_append(b, id, sizeof(id) - 1);
        ch_page_id(b, row->target_id);
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

/* Room the page's text needs: the spliced texts (an actor or a target may be shown in several
 * rows) and each row's own members (at most 250 bytes: ids, names, a time). */
static size_t ch__page_size(const ch__npage_t *pg)
{
    size_t size = 64;
    for (size_t i = 0; i < pg->n; i++) {
        size += 250 + CH_NOTIFY_FIRST_ACTORS * sizeof("\"is_private\":false,");
        for (size_t k = 0; k < CH_NOTIFY_FIRST_ACTORS; k++)
            size += pg->actor_at[i][k] >= 0 ? pg->users[pg->actor_at[i][k]].len : 0;
        size += pg->target_at[i] >= 0 ? pg->items[pg->target_at[i]].len : 0;
    }
    return size;
}

/* The statement's row r as a page row (its texts borrowed from rows). */
static void ch__from_statement(const ch_db_rows_t *rows, size_t r, ch__notify_row_t *o)
{
    o->id = (uint64_t)ch_db_rows_int(rows, r, 0);
    o->kind = ch_db_rows_text(rows, r, 1);
    o->target_type = !ch_db_rows_isnull(rows, r, 2) && ch_db_rows_text(rows, r, 2)[0] ? ch_db_rows_text(rows, r, 2)
                                                                                      : NULL;
    o->target_id = (uint64_t)ch_db_rows_int(rows, r, 3);
    o->actors_count = ch_db_rows_int(rows, r, 4);
    o->read = ch_db_rows_int(rows, r, 5) != 0;
    o->updated_at = ch_db_rows_int(rows, r, 6);
    for (size_t k = 0; k < CH_NOTIFY_FIRST_ACTORS; k++)
        o->actors[k] = ch_db_rows_isnull(rows, r, CH__COL_ACTOR1 + k)
                           ? 0
                           : (uint64_t)ch_db_rows_int(rows, r, CH__COL_ACTOR1 + k);
}

ch_err_t ch_notify_list(ch_svc_t *svc, uint64_t user, int limit, uint64_t before, char **out, ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL; /* the statement's, when it read the page: the rows' texts */
    /* ~35 KB for the largest page: not zeroed, every part is written before it is read (rows
     * and slots up to pg->n, the layer's outputs by the layer) */
    ch__npage_t *pg = ch_malloc(sizeof(*pg));
    pg->n = pg->nactors = pg->ntargets = 0;
    int more = 0;
    ch_err_t err = CH_OK;
    /* A first page from the viewer's cached newest groups (notify_cache.h), else the statement. */
    int cached = !before && limit <= CH_NOTIFY_CACHED ? ch__notify_cached_page(svc, user, limit, pg->rows, &pg->n,
                                                                                &more, &err)
                                                      : 0;
    if (cached == 0) {
        ch_db_param_t p[] = {CH_DB_P_INT(user), CH_DB_P_INT(before ? before : (uint64_t)INT64_MAX),
                             CH_DB_P_INT(limit + 1)};
        err = ch_sql_run(svc, ch__sql_page, p, CH_NPARAMS(p), &rows, NULL);
        size_t n = err == CH_OK ? ch_db_rows_count(rows) : 0;
        more = n > (size_t)limit;
        pg->n = more ? (size_t)limit : n;
        for (size_t i = 0; i < pg->n; i++)
            ch__from_statement(rows, i, &pg->rows[i]);
    }
    /* Each distinct actor and target once: the same people act on many of one's groups and
     * groups of several kinds share a target, so a page would render them again and again. */
    for (size_t i = 0; err == CH_OK && i < pg->n; i++) {
        const ch__notify_row_t *row = &pg->rows[i];
        for (size_t k = 0; k < CH_NOTIFY_FIRST_ACTORS; k++)
            pg->actor_at[i][k] = row->actors[k] ? ch__slot_of(pg->actors, &pg->nactors, row->actors[k]) : -1;
        int type = row->target_type ? ch_target_from_name(row->target_type) : -1;
        pg->target_at[i] = type >= 0 && ch_items_ops(type)
                               ? ch__target_slot(pg->targets, &pg->ntargets, (uint8_t)type, row->target_id)
                               : -1;
    }
    if (err == CH_OK && pg->nactors)
        err = ch_hydrate_users(svc, user, pg->actors, pg->nactors, pg->users, f);
    else
        pg->nactors = 0; /* nothing hydrated: nothing to free */
    if (err == CH_OK && pg->ntargets)
        err = ch_hydrate_items(svc, user, pg->targets, pg->ntargets, 0, pg->items, f);
    else if (err != CH_OK)
        pg->ntargets = 0;
    if (err == CH_OK) {
        ch_buf_t b = CH_BUF_INIT;
        ch_buf_reserve(&b, ch__page_size(pg)); /* one allocation, no growth copies */
        ch_buf_append(&b, "{\"items\":[", 10);
        for (size_t i = 0; i < pg->n; i++) {
            if (i)
                ch_buf_append(&b, ",", 1);
            ch__render(&b, pg, i);
        }
        ch_buf_append(&b, "]", 1);
        ch_page_close(&b, more && pg->n ? pg->rows[pg->n - 1].id : 0);
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
    int64_t changed = 0;
    ch_err_t err = ch_sql_run(svc, "UPDATE notifications SET is_read = 1 WHERE user_id = $1 AND is_read = 0 AND id <= $2",
                              p, CH_NPARAMS(p), NULL, &changed);
    if (err == CH_OK && changed) /* the cached list and count (after the commit when inside one) */
        ch_hydrate_forget_notifications(svc, user);
    return err;
}

ch_err_t ch_notify_unread_count(ch_svc_t *svc, uint64_t user, int64_t *out)
{
    ch_err_t err = CH_OK;
    int cached = ch__notify_cached_unread(svc, user, out, &err); /* the fact "U:<user>", read through */
    if (cached != 0)
        return err;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user)};
    err = ch_sql_run(svc, "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND is_read = 0", p, 1, &rows, NULL);
    *out = err == CH_OK && ch_db_rows_count(rows) ? ch_db_rows_int(rows, 0, 0) : 0;
    ch_db_rows_free(rows);
    return err;
}
