/* A viewer's notifications as cached facts: see notify_cache.h. A row is eight 64-bit
 * columns: id, (kind | (target type + 1) << 8 | is_read << 16), target id, actors count,
 * updated_at, the three newest actors (0 = none). */
#include "svc/engage/notify_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "store/kv.h"
#include "svc/common/hydrate.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/id_page.h"
#include "svc/common/sql.h"
#include "svc/engage/target.h"

#define CH__COLS 8

/* The kinds a cached row can hold (notify.h); a group of another kind is not cached. */
static const char *const ch__kinds[] = {"reaction", "comment", "reply", "mention", "follow", "follow_request"};
#define CH__NKINDS (sizeof(ch__kinds) / sizeof(ch__kinds[0]))

static int ch__kind_code(const char *kind)
{
    for (size_t k = 0; k < CH__NKINDS; k++)
        if (strcmp(kind, ch__kinds[k]) == 0)
            return (int)k;
    return -1;
}

/* Result row r of the page statement as a cached row; 0 when it cannot be one. */
static int ch__row(const ch_db_rows_t *rows, size_t r, uint64_t *v)
{
    int kind = ch__kind_code(ch_db_rows_text(rows, r, 1));
    int type = -1;
    if (!ch_db_rows_isnull(rows, r, 2) && ch_db_rows_text(rows, r, 2)[0] &&
        (type = ch_target_from_name(ch_db_rows_text(rows, r, 2))) < 0)
        return 0;
    if (kind < 0)
        return 0;
    v[0] = (uint64_t)ch_db_rows_int(rows, r, 0);
    v[1] = (uint64_t)kind | (uint64_t)(type + 1) << 8 | (uint64_t)(ch_db_rows_int(rows, r, 5) != 0) << 16;
    v[2] = (uint64_t)ch_db_rows_int(rows, r, 3);
    v[3] = (uint64_t)ch_db_rows_int(rows, r, 4);
    v[4] = (uint64_t)ch_db_rows_int(rows, r, 6);
    for (int k = 0; k < CH_NOTIFY_FIRST_ACTORS; k++)
        v[5 + k] = ch_db_rows_isnull(rows, r, 7 + k) ? 0 : (uint64_t)ch_db_rows_int(rows, r, 7 + k);
    return 1;
}

static int ch__valid(const uint64_t *v)
{
    uint64_t kind = v[1] & 0xff, type = v[1] >> 8 & 0xff;
    return kind < CH__NKINDS && type <= CH__TARGET_COUNT && v[1] >> 17 == 0;
}

static const ch_id_page_spec_t ch__page_spec = {
    .tag = 'N',
    .cols = CH__COLS,
    .cap = CH_NOTIFY_CACHED,
    .sql = "SELECT n.id, n.kind, n.target_type, n.target_id, n.actors_count, n.is_read, n.updated_at,"
           " n.actor1_id, n.actor2_id, n.actor3_id"
           " FROM notifications n WHERE n.user_id = $1 ORDER BY n.id DESC LIMIT $2",
    .row = ch__row,
    .valid = ch__valid};

/* One row, the count (COUNT(*) is one row: never "full"). */
static const ch_id_page_spec_t ch__unread_spec = {
    .tag = 'U',
    .cols = 1,
    .cap = 1,
    .sql = "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND is_read = 0 LIMIT $2"};

/* Whether this process may keep notification facts: the worker role writes notifications and
 * forgets the facts in its own process's cache (and, through Redis, every replica's). An
 * in-process cache in a process without the worker role (api and worker as two processes on
 * one SQLite file) would never hear of them: such a process reads the statements. */
static int ch__facts_heard(const ch_svc_t *svc)
{
    return (svc->cfg->roles & CH_ROLE_WORKER) || strcmp(ch_kv_kind(svc->kv), "redis") == 0;
}

int ch__notify_cached_page(ch_svc_t *svc, uint64_t user, int limit, ch__notify_row_t *rows, size_t *n, int *more,
                           ch_err_t *err)
{
    *n = 0;
    *more = 0;
    *err = CH_OK;
    if (!ch__facts_heard(svc))
        return 0;
    uint64_t *v = ch_malloc(CH_NOTIFY_CACHED * CH__COLS * sizeof(*v));
    ch_id_page_t pg = {.v = v};
    ch_hkey_t key;
    ch_db_param_t p[] = {CH_DB_P_INT(user)};
    int r = ch_id_page_read(svc, &ch__page_spec, ch_hkey_notifications(key, user), p, CH_NPARAMS(p), &pg, err);
    if (r > 0) {
        /* All rows of the list when not full; when full there are older ones past the cap. */
        *n = pg.n < (size_t)limit ? pg.n : (size_t)limit;
        *more = pg.n > (size_t)limit || pg.full;
        for (size_t i = 0; i < *n; i++) {
            const uint64_t *c = v + i * CH__COLS;
            unsigned type = (unsigned)(c[1] >> 8 & 0xff);
            ch__notify_row_t *o = &rows[i];
            o->id = c[0];
            o->kind = ch__kinds[c[1] & 0xff];
            o->target_type = type ? ch_target_type_name((ch_target_type_t)(type - 1)) : NULL;
            o->target_id = c[2];
            o->actors_count = (int64_t)c[3];
            o->read = (int)(c[1] >> 16 & 1);
            o->updated_at = (int64_t)c[4];
            for (int k = 0; k < CH_NOTIFY_FIRST_ACTORS; k++)
                o->actors[k] = c[5 + k];
        }
    }
    free(v);
    return r;
}

int ch__notify_cached_unread(ch_svc_t *svc, uint64_t user, int64_t *count, ch_err_t *err)
{
    *count = 0;
    *err = CH_OK;
    if (!ch__facts_heard(svc))
        return 0;
    uint64_t v[1] = {0};
    ch_id_page_t pg = {.v = v};
    ch_hkey_t key;
    ch_db_param_t p[] = {CH_DB_P_INT(user)};
    int r = ch_id_page_read(svc, &ch__unread_spec, ch_hkey_unread(key, user), p, CH_NPARAMS(p), &pg, err);
    if (r > 0 && pg.n != 1)
        r = 0; /* not a count: the statement answers */
    *count = r > 0 ? (int64_t)v[0] : 0;
    return r;
}

/* ---- the worker batch's forgets ------------------------------------------------------------ */

static _Thread_local uint64_t *ch__changed;
static _Thread_local size_t ch__nchanged, ch__cap;

void ch__notify_changed(uint64_t recipient)
{
    for (size_t i = 0; i < ch__nchanged; i++)
        if (ch__changed[i] == recipient)
            return;
    if (ch__nchanged == ch__cap) {
        ch__cap = ch__cap ? ch__cap * 2 : 64;
        ch__changed = ch_realloc(ch__changed, ch__cap * sizeof(*ch__changed));
    }
    ch__changed[ch__nchanged++] = recipient;
}

void ch_notify_changed_flush(ch_svc_t *svc)
{
    if (ch__nchanged) {
        ch_hydrate_forget_hold();
        for (size_t i = 0; i < ch__nchanged; i++)
            ch_hydrate_forget_notifications(svc, ch__changed[i]);
        ch_hydrate_forget_flush(svc);
    }
    free(ch__changed);
    ch__changed = NULL;
    ch__nchanged = ch__cap = 0;
}
