/* Authors' recent items as cached facts, read for many authors at once: see author_index.h. */
#include "svc/common/author_index.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/hcache.h"

/* Appends an entry to author slot a (whose entries must be appended together), unless it is
 * not live at now. */
static void ch__push(const ch_author_index_spec_t *spec, ch_author_index_t *r, size_t a, ch_author_ent_t e,
                     int64_t now)
{
    if (spec->live && !spec->live(&e, now))
        return;
    if (r->nents == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->ents = ch_realloc(r->ents, r->cap * sizeof(*r->ents));
    }
    if (r->span[a].n == 0)
        r->span[a].first = r->nents;
    r->ents[r->nents++] = e;
    r->span[a].n++;
}

/* Decodes a cached value into author slot a: 0 when it is not one of spec's. */
static int ch__decode(const ch_author_index_spec_t *spec, const char *v, size_t len, ch_author_index_t *r, size_t a,
                      uint64_t author, int64_t now, uint64_t *scratch)
{
    ch_id_page_t pg = {.v = scratch};
    if (!ch_id_page_decode(&spec->page, v, len, &pg))
        return 0;
    r->span[a].full = pg.full;
    for (size_t i = 0; i < pg.n; i++)
        ch__push(spec, r, a, (ch_author_ent_t){scratch[2 * i], scratch[2 * i + 1], author}, now);
    return 1;
}

static int ch__newest_first(const void *a, const void *b)
{
    const ch_author_ent_t *x = a, *y = b;
    return x->id > y->id ? -1 : x->id < y->id;
}

static int ch__oldest_first(const void *a, const void *b)
{
    return ch__newest_first(b, a);
}

/* Reads the authors at slots[0..n) (n <= spec->sql_authors) from the database into r, and
 * their values into vals[0..n) / lens (caller frees the values). */
static ch_err_t ch__load(ch_svc_t *svc, const ch_author_index_spec_t *spec, const uint64_t *authors,
                         const size_t *slots, size_t n, int64_t now, ch_author_index_t *r, char **vals, size_t *lens,
                         uint64_t *scratch)
{
    uint64_t asked[CH_AUTHOR_INDEX_SQL_AUTHORS_MAX];
    for (size_t k = 0; k < n; k++)
        asked[k] = authors[slots[k]];
    ch_db_rows_t *rows = NULL;
    ch_err_t err = spec->load(svc, asked, n, now, &rows);
    if (err)
        return err;
    size_t nr = ch_db_rows_count(rows), nall = 0;
    ch_author_ent_t *all = ch_malloc((nr ? nr : 1) * sizeof(*all));
    for (size_t i = 0; i < nr; i++) {
        uint64_t aux = 0;
        if (spec->aux_of ? !spec->aux_of(rows, i, &aux) : (aux = (uint64_t)ch_db_rows_int(rows, i, 2), 0))
            continue;
        all[nall++] = (ch_author_ent_t){(uint64_t)ch_db_rows_int(rows, i, 1), aux, (uint64_t)ch_db_rows_int(rows, i, 0)};
    }
    ch_db_rows_free(rows);
    qsort(all, nall, sizeof(*all), spec->newest_first ? ch__newest_first : ch__oldest_first);
    for (size_t k = 0; k < n; k++) {
        ch_id_page_t pg = {.v = scratch};
        for (size_t i = 0; i < nall; i++) {
            if (all[i].author != asked[k])
                continue;
            if (pg.n == spec->page.cap) { /* there are more than the fact keeps */
                pg.full = 1;
                break;
            }
            scratch[2 * pg.n] = all[i].id;
            scratch[2 * pg.n + 1] = all[i].aux;
            pg.n++;
        }
        pg.full |= pg.n == spec->page.cap; /* a list that reached the cap may have more */
        vals[k] = ch_id_page_encode(&spec->page, &pg, &lens[k]);
        r->span[slots[k]].full = pg.full;
        for (size_t i = 0; i < pg.n; i++)
            ch__push(spec, r, slots[k], (ch_author_ent_t){scratch[2 * i], scratch[2 * i + 1], asked[k]}, now);
    }
    free(all);
    return CH_OK;
}

/* One batch: authors[first .. first + n), n <= CH_HCACHE_BATCH_MAX. */
static ch_err_t ch__batch(ch_svc_t *svc, const ch_author_index_spec_t *spec, const uint64_t *authors, size_t first,
                          size_t n, int64_t now, ch_author_index_t *r)
{
    ch_hkey_t *keys = ch_malloc(n * sizeof(ch_hkey_t));
    const char **kp = ch_malloc(n * sizeof(char *));
    ch_hcache_got_t *got = ch_calloc(n, sizeof(*got));
    size_t *miss = ch_malloc(n * sizeof(size_t)), nmiss = 0;
    uint64_t *scratch = ch_malloc(spec->page.cap * 2 * sizeof(uint64_t));
    for (size_t i = 0; i < n; i++)
        kp[i] = spec->key(keys[i], authors[first + i]);
    int down = 1; /* down (or refused on the loop): all misses, lease 0 */
    if (svc->hcache)
        down = ch_hcache_get_many(svc->hcache, kp, n, got) != CH_OK;
    for (size_t i = 0; i < n; i++) {
        if (!got[i].val || !ch__decode(spec, got[i].val, got[i].len, r, first + i, authors[first + i], now, scratch)) {
            r->span[first + i].n = 0;
            miss[nmiss++] = first + i;
        }
        free(got[i].val);
    }
    ch_err_t err = CH_OK;
    size_t per = spec->sql_authors < CH_AUTHOR_INDEX_SQL_AUTHORS_MAX ? spec->sql_authors
                                                                     : CH_AUTHOR_INDEX_SQL_AUTHORS_MAX;
    per = per ? per : 1;
    size_t nsql = (nmiss + per - 1) / per;
    if (nmiss && ((down && spec->cold_when_down) || (spec->sql_max && r->nsql + nsql > spec->sql_max))) {
        r->cold = 1;
        nmiss = 0;
    }
    r->nsql += nsql;
    for (size_t at = 0; at < nmiss && err == CH_OK; at += per) {
        size_t m = nmiss - at < per ? nmiss - at : per;
        char *vals[CH_AUTHOR_INDEX_SQL_AUTHORS_MAX] = {0};
        const char *pk[CH_AUTHOR_INDEX_SQL_AUTHORS_MAX], *pv[CH_AUTHOR_INDEX_SQL_AUTHORS_MAX];
        size_t lens[CH_AUTHOR_INDEX_SQL_AUTHORS_MAX];
        uint64_t leases[CH_AUTHOR_INDEX_SQL_AUTHORS_MAX];
        err = ch__load(svc, spec, authors, miss + at, m, now, r, vals, lens, scratch);
        for (size_t k = 0; k < m; k++) {
            size_t i = miss[at + k] - first;
            pk[k] = kp[i];
            pv[k] = vals[k];
            leases[k] = got[i].lease;
        }
        if (err == CH_OK && svc->hcache)
            ch_hcache_put_many(svc->hcache, pk, pv, lens, leases, m);
        for (size_t k = 0; k < m; k++)
            free(vals[k]);
    }
    free(scratch);
    free(keys);
    free(kp);
    free(got);
    free(miss);
    return err;
}

ch_err_t ch_author_index_read(ch_svc_t *svc, const ch_author_index_spec_t *spec, const uint64_t *authors, size_t n,
                              int64_t now, ch_author_index_t *out)
{
    memset(out, 0, sizeof(*out));
    out->span = ch_calloc(n ? n : 1, sizeof(*out->span));
    ch_err_t err = CH_OK;
    for (size_t at = 0; at < n && err == CH_OK && !out->cold; at += CH_HCACHE_BATCH_MAX)
        err = ch__batch(svc, spec, authors, at, n - at < CH_HCACHE_BATCH_MAX ? n - at : CH_HCACHE_BATCH_MAX, now, out);
    return err;
}

void ch_author_index_clear(ch_author_index_t *out)
{
    free(out->span);
    free(out->ents);
    memset(out, 0, sizeof(*out));
}
