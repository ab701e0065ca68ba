/* Authors' recent posts and reels: see recent.h. An entry is binary: 'A', version 1, then per
 * item, newest first, its id (8 bytes, little-endian) and its target type (1 byte); the
 * header alone says "no live post or reel" (cached too). A value that does not decode exactly
 * is a miss. */
#include "svc/feed/recent.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "store/hcache.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/sql.h"
#include "svc/engage/target.h"

/* Authors per statement reading misses (two members each: posts, reels). */
#define CH_FEED_RECENT_SQL_AUTHORS 16
/* Miss statements one read runs at most: past them (or with the cache down) the read gives up
 * (ch_feed_recent_t.cold) and the caller runs its one statement over every pulled author. */
#define CH_FEED_RECENT_SQL_MAX 2
#define CH__ENT_BYTES 9
#define CH__HEAD_BYTES 2

static char *ch__sql;
static pthread_once_t ch__sql_once = PTHREAD_ONCE_INIT;

/* One bounded range of items_author_type per author and type, newest first. */
static void ch__sql_build(void)
{
    size_t cap = (size_t)CH_FEED_RECENT_SQL_AUTHORS * 2 * 240 + 1, len = 0;
    ch__sql = ch_malloc(cap);
    static const char *const types[] = {"post", "reel"};
    for (size_t k = 0; k < CH_FEED_RECENT_SQL_AUTHORS; k++)
        for (size_t t = 0; t < 2; t++)
            len += (size_t)snprintf(ch__sql + len, cap - len,
                                    "%sSELECT * FROM (SELECT i.author_id, i.id, i.type FROM items i WHERE i.author_id = $%zu"
                                    " AND i.type = '%s' AND i.deleted_at IS NULL ORDER BY i.id DESC LIMIT %d) AS t%zu",
                                    k || t ? " UNION ALL " : "", k + 1, types[t], CH_FEED_RECENT_PER_AUTHOR,
                                    k * 2 + t);
}

static void ch__push(ch_feed_recent_t *r, size_t a, uint64_t id, uint8_t type, uint64_t author)
{
    if (r->nents == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->ents = ch_realloc(r->ents, r->cap * sizeof(*r->ents));
    }
    if (r->span[a].n == 0)
        r->span[a].first = r->nents;
    r->ents[r->nents++] = (ch_timeline_entry_t){id, author, type};
    r->span[a].n++;
}

/* Decodes an entry into author slot a: 0 when it is not one this file wrote. */
static int ch__decode(const char *v, size_t len, ch_feed_recent_t *r, size_t a, uint64_t author)
{
    if (len < CH__HEAD_BYTES || v[0] != 'A' || v[1] != 1 || (len - CH__HEAD_BYTES) % CH__ENT_BYTES ||
        (len - CH__HEAD_BYTES) / CH__ENT_BYTES > CH_FEED_RECENT_PER_AUTHOR)
        return 0;
    const unsigned char *p = (const unsigned char *)v + CH__HEAD_BYTES;
    size_t n = (len - CH__HEAD_BYTES) / CH__ENT_BYTES;
    for (size_t i = 0; i < n; i++, p += CH__ENT_BYTES)
        if (p[8] != CH_TARGET_POST && p[8] != CH_TARGET_REEL)
            return 0;
    p = (const unsigned char *)v + CH__HEAD_BYTES;
    for (size_t i = 0; i < n; i++, p += CH__ENT_BYTES) {
        uint64_t id = 0;
        for (int b = 7; b >= 0; b--)
            id = id << 8 | p[b];
        ch__push(r, a, id, p[8], author);
    }
    return 1;
}

static void ch__encode(ch_buf_t *b, const ch_timeline_entry_t *e, size_t n)
{
    char head[CH__HEAD_BYTES] = {'A', 1};
    ch_buf_append(b, head, sizeof(head));
    for (size_t i = 0; i < n; i++) {
        char ent[CH__ENT_BYTES];
        for (int k = 0; k < 8; k++)
            ent[k] = (char)(e[i].item_id >> (8 * k) & 0xff);
        ent[8] = (char)e[i].type;
        ch_buf_append(b, ent, sizeof(ent));
    }
}

static int ch__desc(const void *a, const void *b)
{
    const ch_timeline_entry_t *x = a, *y = b;
    return x->item_id > y->item_id ? -1 : x->item_id < y->item_id;
}

/* Reads authors at slots[0..n) (n <= CH_FEED_RECENT_SQL_AUTHORS) from the database into r,
 * and their encoded entries into vals[0..n). */
static ch_err_t ch__load(ch_svc_t *svc, const uint64_t *authors, const size_t *slots, size_t n, ch_feed_recent_t *r,
                         ch_buf_t *vals)
{
    pthread_once(&ch__sql_once, ch__sql_build);
    ch_db_param_t p[CH_FEED_RECENT_SQL_AUTHORS];
    for (size_t i = 0; i < CH_FEED_RECENT_SQL_AUTHORS; i++)
        p[i] = CH_DB_P_INT(i < n ? authors[slots[i]] : 0);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, ch__sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t nr = ch_db_rows_count(rows);
    ch_timeline_entry_t *all = ch_malloc((nr ? nr : 1) * sizeof(*all));
    for (size_t i = 0; i < nr; i++)
        all[i] = (ch_timeline_entry_t){(uint64_t)ch_db_rows_int(rows, i, 1), (uint64_t)ch_db_rows_int(rows, i, 0),
                                       (uint8_t)ch_target_from_name(ch_db_rows_text(rows, i, 2))};
    ch_db_rows_free(rows);
    qsort(all, nr, sizeof(*all), ch__desc);
    ch_timeline_entry_t mine[CH_FEED_RECENT_PER_AUTHOR];
    for (size_t k = 0; k < n; k++) {
        uint64_t author = authors[slots[k]];
        size_t m = 0;
        for (size_t i = 0; i < nr && m < CH_FEED_RECENT_PER_AUTHOR; i++)
            if (all[i].author_id == author)
                mine[m++] = all[i];
        ch__encode(&vals[k], mine, m);
        for (size_t i = 0; i < m; i++)
            ch__push(r, slots[k], mine[i].item_id, mine[i].type, author);
    }
    free(all);
    return CH_OK;
}

/* One batch: authors[first .. first + n), n <= CH_HCACHE_BATCH_MAX. */
static ch_err_t ch__batch(ch_svc_t *svc, const uint64_t *authors, size_t first, size_t n, ch_feed_recent_t *r)
{
    ch_hkey_t *keys = ch_malloc(n * sizeof(ch_hkey_t));
    const char **kp = ch_malloc(n * sizeof(char *));
    ch_hcache_got_t *got = ch_malloc(n * sizeof(*got));
    size_t *miss = ch_malloc(n * sizeof(size_t)), nmiss = 0;
    for (size_t i = 0; i < n; i++)
        kp[i] = ch_hkey_author_items(keys[i], authors[first + i]);
    int down = 1;
    if (svc->hcache)
        down = ch_hcache_get_many(svc->hcache, kp, n, got) == CH_EUNAVAILABLE; /* down: all misses, lease 0 */
    else
        memset(got, 0, n * sizeof(*got));
    for (size_t i = 0; i < n; i++) {
        if (!got[i].val || !ch__decode(got[i].val, got[i].len, r, first + i, authors[first + i])) {
            r->span[first + i].n = 0;
            miss[nmiss++] = first + i;
        }
        free(got[i].val);
    }
    ch_err_t err = CH_OK;
    /* Cache down or cold: one statement per CH_FEED_RECENT_SQL_AUTHORS misses would be many;
     * the caller's one statement is cheaper. */
    size_t nsql = (nmiss + CH_FEED_RECENT_SQL_AUTHORS - 1) / CH_FEED_RECENT_SQL_AUTHORS;
    if (nmiss && (down || r->nsql + nsql > CH_FEED_RECENT_SQL_MAX)) {
        r->cold = 1;
        nmiss = 0;
    }
    r->nsql += nsql;
    for (size_t at = 0; at < nmiss && err == CH_OK; at += CH_FEED_RECENT_SQL_AUTHORS) {
        size_t m = nmiss - at < CH_FEED_RECENT_SQL_AUTHORS ? nmiss - at : CH_FEED_RECENT_SQL_AUTHORS;
        ch_buf_t vals[CH_FEED_RECENT_SQL_AUTHORS];
        const char *pk[CH_FEED_RECENT_SQL_AUTHORS], *pv[CH_FEED_RECENT_SQL_AUTHORS];
        size_t lens[CH_FEED_RECENT_SQL_AUTHORS];
        uint64_t leases[CH_FEED_RECENT_SQL_AUTHORS];
        for (size_t k = 0; k < m; k++)
            vals[k] = (ch_buf_t)CH_BUF_INIT;
        err = ch__load(svc, authors, miss + at, m, r, vals);
        for (size_t k = 0; k < m; k++) {
            size_t i = miss[at + k] - first;
            pk[k] = kp[i];
            pv[k] = vals[k].data;
            lens[k] = vals[k].len;
            leases[k] = got[i].lease;
        }
        if (err == CH_OK && svc->hcache)
            ch_hcache_put_many(svc->hcache, pk, pv, lens, leases, m);
        for (size_t k = 0; k < m; k++)
            ch_buf_clear(&vals[k]);
    }
    free(keys);
    free(kp);
    free(got);
    free(miss);
    return err;
}

ch_err_t ch_feed_recent_read(ch_svc_t *svc, const uint64_t *authors, size_t n, ch_feed_recent_t *out)
{
    memset(out, 0, sizeof(*out));
    out->span = ch_calloc(n ? n : 1, sizeof(*out->span));
    ch_err_t err = CH_OK;
    for (size_t at = 0; at < n && err == CH_OK && !out->cold; at += CH_HCACHE_BATCH_MAX)
        err = ch__batch(svc, authors, at, n - at < CH_HCACHE_BATCH_MAX ? n - at : CH_HCACHE_BATCH_MAX, out);
    return err;
}

void ch_feed_recent_clear(ch_feed_recent_t *out)
{
    free(out->span);
    free(out->ents);
    memset(out, 0, sizeof(*out));
}

int ch_feed_recent_merge(const ch_feed_recent_t *r, size_t nauthors, uint64_t before, uint64_t floor_id,
                         ch_timeline_entry_t *out, size_t max, size_t *n_out, uint64_t *deep)
{
    *n_out = 0;
    *deep = 0;
    if (before == 0)
        before = UINT64_MAX;
    /* Where each list starts below before; the deepest point every full list still covers. */
    size_t *at = ch_malloc((nauthors ? nauthors : 1) * sizeof(size_t));
    for (size_t a = 0; a < nauthors; a++) {
        size_t first = r->span[a].first, n = r->span[a].n, i = 0;
        while (i < n && r->ents[first + i].item_id >= before)
            i++;
        at[a] = i;
        if (n < CH_FEED_RECENT_PER_AUTHOR)
            continue;
        uint64_t last = r->ents[first + n - 1].item_id;
        if (last >= before) { /* nothing of this author below before is known */
            free(at);
            return 0;
        }
        if (last > floor_id && last > *deep)
            *deep = last;
    }
    /* k-way merge by scanning the heads: pages are small. */
    while (*n_out < max) {
        size_t best = SIZE_MAX;
        uint64_t best_id = 0;
        for (size_t a = 0; a < nauthors; a++) {
            if (at[a] >= r->span[a].n)
                continue;
            uint64_t id = r->ents[r->span[a].first + at[a]].item_id;
            if (id > best_id) {
                best_id = id;
                best = a;
            }
        }
        if (best == SIZE_MAX || best_id <= floor_id || best_id < *deep)
            break;
        out[(*n_out)++] = r->ents[r->span[best].first + at[best]];
        at[best]++;
    }
    free(at);
    return 1;
}
