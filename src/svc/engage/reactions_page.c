/* A target's newest reactions, cached: see reactions_page.h. An entry is binary: 'X',
 * version 1, a flag byte (1: full), then per reaction its id, user and time (8 bytes each,
 * little-endian) and kind (1 byte); a value that does not decode exactly is a miss. */
#include "svc/engage/reactions_page.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/hcache.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/sql.h"
#include "svc/engage/reactions_kind.h"
#include "svc/engage/target.h"

#define CH__HEAD 3
#define CH__ENTRY 25

static uint64_t ch__get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--)
        v = v << 8 | p[b];
    return v;
}

static void ch__put64(char *p, uint64_t v)
{
    for (int b = 0; b < 8; b++)
        p[b] = (char)(v >> (8 * b) & 0xff);
}

static int ch__decode(const char *v, size_t len, ch__reactions_page_t *out)
{
    if (len < CH__HEAD || v[0] != 'X' || v[1] != 1 || (v[2] != 0 && v[2] != 1) || (len - CH__HEAD) % CH__ENTRY ||
        (len - CH__HEAD) / CH__ENTRY > CH_REACTIONS_CACHED)
        return 0;
    out->full = v[2];
    out->n = (len - CH__HEAD) / CH__ENTRY;
    const unsigned char *p = (const unsigned char *)v + CH__HEAD;
    for (size_t i = 0; i < out->n; i++, p += CH__ENTRY) {
        out->r[i].id = ch__get64(p);
        out->r[i].user = ch__get64(p + 8);
        out->r[i].at_ms = (int64_t)ch__get64(p + 16);
        out->r[i].kind = p[24];
        if (out->r[i].kind >= CH_REACTION_KIND_COUNT)
            return 0;
    }
    return 1;
}

int ch__reactions_page_read(ch_svc_t *svc, ch_target_type_t type, uint64_t id, ch__reactions_page_t *out,
                            ch_err_t *err)
{
    *err = CH_OK;
    out->n = 0;
    out->full = 0;
    ch_hkey_t key;
    const char *kp[1] = {ch_hkey_reactions(key, (unsigned)type, id)};
    ch_hcache_got_t got = {0};
    if (!svc->hcache || ch_hcache_get_many(svc->hcache, kp, 1, &got) != CH_OK)
        return 0;
    int hit = got.val && ch__decode(got.val, got.len, out);
    free(got.val);
    if (hit)
        return 1;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(type)), CH_DB_P_INT(id), CH_DB_P_INT(CH_REACTIONS_CACHED + 1)};
    if ((*err = ch_sql_run(svc,
                           "SELECT r.id, r.user_id, r.created_at, r.kind FROM reactions r"
                           " WHERE r.target_type = $1 AND r.target_id = $2 ORDER BY r.id DESC LIMIT $3",
                           p, CH_NPARAMS(p), &rows, NULL)) != CH_OK)
        return -1;
    size_t nr = ch_db_rows_count(rows);
    out->full = nr > CH_REACTIONS_CACHED;
    out->n = 0;
    char *val = ch_malloc(CH__HEAD + CH_REACTIONS_CACHED * CH__ENTRY);
    val[0] = 'X';
    val[1] = 1;
    val[2] = (char)out->full;
    for (size_t r = 0; r < nr && out->n < CH_REACTIONS_CACHED; r++) {
        int kind = ch_reaction_kind_parse(ch_db_rows_text(rows, r, 3));
        if (kind < 0) { /* not a kind this build knows: the statement's page shows it as stored */
            ch_db_rows_free(rows);
            free(val);
            return 0;
        }
        size_t n = out->n++;
        out->r[n].id = (uint64_t)ch_db_rows_int(rows, r, 0);
        out->r[n].user = (uint64_t)ch_db_rows_int(rows, r, 1);
        out->r[n].at_ms = ch_db_rows_int(rows, r, 2);
        out->r[n].kind = (uint8_t)kind;
        char *e = val + CH__HEAD + n * CH__ENTRY;
        ch__put64(e, out->r[n].id);
        ch__put64(e + 8, out->r[n].user);
        ch__put64(e + 16, (uint64_t)out->r[n].at_ms);
        e[24] = (char)kind;
    }
    ch_db_rows_free(rows);
    if (got.lease) {
        size_t len = CH__HEAD + out->n * CH__ENTRY;
        const char *pv[1] = {val};
        ch_hcache_put_many(svc->hcache, kp, pv, &len, &got.lease, 1);
    }
    free(val);
    return 1;
}
