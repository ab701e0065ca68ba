/* The active-story index: see story_index.h. An entry is text, "<id>:<expires_ms>" per story
 * separated by ',' in id order; the empty text says "no live story" (cached too, so that
 * followees without stories cost no statement either). */
#include "svc/content/story_index.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/items.h"
#include "svc/common/sql.h"

/* $1 now, $2.. the authors (CH_ITEMS_IN_MAX of them, padded with 0). The literal type and
 * deleted_at terms let both engines use the items_live_stories partial index. */
static char ch__sql[2048];
static pthread_once_t ch__sql_once = PTHREAD_ONCE_INIT;

static void ch__sql_build(void)
{
    char in[CH_ITEMS_IN_SQL_LEN];
    ch_items_sql_in(in, sizeof(in), 2);
    snprintf(ch__sql, sizeof(ch__sql),
             "SELECT i.author_id, i.id, i.expires_at FROM items i WHERE i.type = 'story' AND i.deleted_at IS NULL"
             " AND i.expires_at > $1 AND i.author_id IN %s ORDER BY i.author_id, i.id",
             in);
}

/* Appends one story to author slot a (whose stories must be appended together). */
static void ch__push(ch__story_index_t *idx, size_t a, uint64_t id, int64_t expires)
{
    if (idx->span[a].n == CH_STORY_INDEX_PER_AUTHOR)
        return;
    if (idx->nents == idx->cap) {
        idx->cap = idx->cap ? idx->cap * 2 : 64;
        idx->ents = ch_realloc(idx->ents, idx->cap * sizeof(*idx->ents));
    }
    if (idx->span[a].n == 0)
        idx->span[a].first = idx->nents;
    idx->ents[idx->nents++] = (ch__story_ent_t){id, expires};
    idx->span[a].n++;
}

/* Parses an entry into author slot a, keeping what is live at now. */
static void ch__parse(const char *s, size_t len, int64_t now, ch__story_index_t *idx, size_t a)
{
    const char *p = s, *end = s + len;
    while (p < end) {
        char *q;
        uint64_t id = strtoull(p, &q, 10);
        if (q == p || q >= end || *q != ':')
            return;
        p = q + 1;
        long long exp = strtoll(p, &q, 10);
        if (q == p)
            return;
        if (exp > now)
            ch__push(idx, a, id, (int64_t)exp);
        p = q < end && *q == ',' ? q + 1 : end;
    }
}

/* Reads the stories of authors at slots[0..n) (n <= CH_ITEMS_IN_MAX) from the database into
 * idx, and their entry texts into vals[0..n). */
static ch_err_t ch__load(ch_svc_t *svc, const uint64_t *authors, const size_t *slots, size_t n, int64_t now,
                         ch__story_index_t *idx, ch_buf_t *vals)
{
    pthread_once(&ch__sql_once, ch__sql_build);
    ch_db_param_t p[1 + CH_ITEMS_IN_MAX];
    p[0] = CH_DB_P_INT(now);
    for (size_t i = 0; i < CH_ITEMS_IN_MAX; i++)
        p[1 + i] = CH_DB_P_INT(i < n ? authors[slots[i]] : 0);
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, ch__sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    /* Rows come grouped by author: each author's stories are appended together. */
    for (size_t k = 0; k < n; k++) {
        uint64_t author = authors[slots[k]];
        for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
            if ((uint64_t)ch_db_rows_int(rows, r, 0) != author)
                continue;
            uint64_t id = (uint64_t)ch_db_rows_int(rows, r, 1);
            int64_t exp = ch_db_rows_int(rows, r, 2);
            ch_buf_printf(&vals[k], "%s%" PRIu64 ":%" PRId64, vals[k].len ? "," : "", id, exp);
            ch__push(idx, slots[k], id, exp);
        }
    }
    ch_db_rows_free(rows);
    return CH_OK;
}

/* One batch: authors[first .. first + n), n <= CH_HCACHE_BATCH_MAX. */
static ch_err_t ch__batch(ch_svc_t *svc, const uint64_t *authors, size_t first, size_t n, int64_t now,
                          ch__story_index_t *idx)
{
    ch_hkey_t *keys = ch_malloc(n * sizeof(ch_hkey_t));
    const char **kp = ch_malloc(n * sizeof(char *));
    ch_hcache_got_t *got = ch_malloc(n * sizeof(*got));
    size_t *miss = ch_malloc(n * sizeof(size_t)), nmiss = 0;
    for (size_t i = 0; i < n; i++)
        kp[i] = ch_hkey_stories(keys[i], authors[first + i]);
    ch_hcache_get_many(svc->hcache, kp, n, got); /* cache down: all misses with lease 0 */
    for (size_t i = 0; i < n; i++) {
        if (got[i].val)
            ch__parse(got[i].val, got[i].len, now, idx, first + i);
        else
            miss[nmiss++] = first + i;
        free(got[i].val);
    }
    ch_err_t err = CH_OK;
    for (size_t at = 0; at < nmiss && err == CH_OK; at += CH_ITEMS_IN_MAX) {
        size_t m = nmiss - at < CH_ITEMS_IN_MAX ? nmiss - at : CH_ITEMS_IN_MAX;
        ch_buf_t vals[CH_ITEMS_IN_MAX];
        const char *pk[CH_ITEMS_IN_MAX], *pv[CH_ITEMS_IN_MAX];
        size_t lens[CH_ITEMS_IN_MAX];
        uint64_t leases[CH_ITEMS_IN_MAX];
        for (size_t k = 0; k < m; k++)
            vals[k] = (ch_buf_t)CH_BUF_INIT;
        err = ch__load(svc, authors, miss + at, m, now, idx, vals);
        for (size_t k = 0; k < m; k++) {
            size_t i = miss[at + k] - first;
            pk[k] = kp[i];
            pv[k] = vals[k].data ? vals[k].data : "";
            lens[k] = vals[k].len;
            leases[k] = got[i].lease;
        }
        if (err == CH_OK)
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

ch_err_t ch__story_index(ch_svc_t *svc, const uint64_t *authors, size_t n, int64_t now, ch__story_index_t *idx)
{
    memset(idx, 0, sizeof(*idx));
    idx->span = ch_calloc(n ? n : 1, sizeof(*idx->span));
    ch_err_t err = CH_OK;
    for (size_t at = 0; at < n && err == CH_OK; at += CH_HCACHE_BATCH_MAX)
        err = ch__batch(svc, authors, at, n - at < CH_HCACHE_BATCH_MAX ? n - at : CH_HCACHE_BATCH_MAX, now, idx);
    return err;
}

void ch__story_index_clear(ch__story_index_t *idx)
{
    free(idx->span);
    free(idx->ents);
    memset(idx, 0, sizeof(*idx));
}
