/* A list's first entries as one cached fact: see id_page.h. */
#include "svc/common/id_page.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/u64_bytes.h"
#include "store/hcache.h"
#include "svc/common/sql.h"

#define CH__HEAD 3

int ch_id_page_decode(const ch_id_page_spec_t *spec, const char *v, size_t len, ch_id_page_t *out)
{
    size_t row = 8 * spec->cols;
    if (len < CH__HEAD || v[0] != spec->tag || v[1] != 1 || (v[2] != 0 && v[2] != 1) || (len - CH__HEAD) % row ||
        (len - CH__HEAD) / row > spec->cap)
        return 0;
    out->full = v[2];
    out->n = (len - CH__HEAD) / row;
    const unsigned char *p = (const unsigned char *)v + CH__HEAD;
    for (size_t i = 0; i < out->n * spec->cols; i++, p += 8)
        out->v[i] = ch_le64_get(p);
    if (spec->valid)
        for (size_t i = 0; i < out->n; i++)
            if (!spec->valid(out->v + i * spec->cols))
                return 0;
    return 1;
}

char *ch_id_page_encode(const ch_id_page_spec_t *spec, const ch_id_page_t *pg, size_t *len)
{
    *len = CH__HEAD + pg->n * 8 * spec->cols;
    char *val = ch_malloc(*len);
    val[0] = spec->tag;
    val[1] = 1;
    val[2] = (char)(pg->full != 0);
    for (size_t i = 0; i < pg->n * spec->cols; i++)
        ch_le64_put(val + CH__HEAD + 8 * i, pg->v[i]);
    return val;
}

static int ch__from_rows(const ch_id_page_spec_t *spec, const ch_db_rows_t *rows, ch_id_page_t *out)
{
    size_t nr = ch_db_rows_count(rows);
    out->full = nr > spec->cap;
    out->n = out->full ? spec->cap : nr;
    for (size_t r = 0; r < out->n; r++) {
        uint64_t *vals = out->v + r * spec->cols;
        if (spec->row) {
            if (!spec->row(rows, r, vals))
                return 0;
        } else {
            for (unsigned c = 0; c < spec->cols; c++)
                vals[c] = (uint64_t)ch_db_rows_int(rows, r, (int)c);
        }
    }
    return 1;
}

int ch_id_page_read(ch_svc_t *svc, const ch_id_page_spec_t *spec, const char *key, const ch_db_param_t *p,
                    size_t np, ch_id_page_t *out, ch_err_t *err)
{
    *err = CH_OK;
    out->n = 0;
    out->full = 0;
    const char *kp[1] = {key};
    ch_hcache_got_t got = {0};
    if (!svc->hcache || ch_hcache_get_many(svc->hcache, kp, 1, &got) != CH_OK)
        return 0; /* down (or refused on the loop): the caller's statement reads the page */
    int hit = got.val && ch_id_page_decode(spec, got.val, got.len, out);
    free(got.val);
    if (hit)
        return 1;
    ch_db_param_t *all = ch_malloc((np + 1) * sizeof(*all));
    if (np)
        memcpy(all, p, np * sizeof(*all));
    all[np] = CH_DB_P_INT(spec->cap + 1);
    ch_db_rows_t *rows = NULL;
    *err = ch_sql_run(svc, spec->sql, all, np + 1, &rows, NULL);
    free(all);
    if (*err != CH_OK)
        return -1;
    int ok = ch__from_rows(spec, rows, out);
    ch_db_rows_free(rows);
    if (ok && spec->complete && (*err = spec->complete(svc, out->v, out->n)) != CH_OK) {
        out->n = 0;
        out->full = 0;
        return -1;
    }
    if (!ok) {
        out->n = 0;
        out->full = 0;
        return 0;
    }
    if (got.lease) {
        size_t len;
        char *val = ch_id_page_encode(spec, out, &len);
        const char *pv[1] = {val};
        ch_hcache_put_many(svc->hcache, kp, pv, &len, &got.lease, 1);
        free(val);
    }
    return 1;
}

int ch_id_page_after(const ch_id_page_spec_t *spec, const ch_id_page_t *pg, unsigned col, int desc, uint64_t cursor,
                     size_t want, size_t *from, size_t *n)
{
    if (desc && (cursor == 0 || cursor > INT64_MAX))
        cursor = UINT64_MAX;
    size_t i = 0;
    while (i < pg->n && (desc ? pg->v[i * spec->cols + col] >= cursor : pg->v[i * spec->cols + col] <= cursor))
        i++;
    size_t left = pg->n - i;
    if (left < want && pg->full)
        return 0;
    *from = i;
    *n = left < want ? left : want;
    return 1;
}
