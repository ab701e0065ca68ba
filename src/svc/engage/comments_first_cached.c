/* A page's first replies per thread from cached facts (comments_row.h,
 * ch__comments_first_cached): the item's cached threads "C:<type>:<id>" when a parent is among
 * them, else the parent's first replies "Y:<comment>" (comments_cached.c: its oldest
 * CH__REPLIES_CACHED live replies, forgotten with C: after every reply written or deleted on
 * it). The first CH__COMMENT_FIRST_READ ids of a Y: fact are what comments_first.c's statement
 * reads for that parent (the same live replies, oldest first), so any page's threads (ranked
 * ones, whose parents are not the newest, and sort=new pages past the cached ones) are
 * answered without a statement once their facts are warm, and in cluster mode on the loop.
 * The Y: misses of a page are read by one statement (a bounded range per parent) and put back
 * under the get's leases. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "svc/common/hydrate_keys.h"
#include "svc/engage/comments_row.h"

/* The row of parent in the cached threads, or NULL. */
static const uint64_t *ch__thread_row_of(const ch_id_page_t *cached, uint64_t parent)
{
    for (size_t r = 0; cached && r < cached->n; r++)
        if (cached->v[r * CH__THREAD_COLS] == parent)
            return cached->v + r * CH__THREAD_COLS;
    return NULL;
}

/* Appends up to CH__COMMENT_FIRST_READ of ids[0..k) as parent's replies to out. */
static void ch__add(ch__reply_ref_t *out, size_t *n, uint64_t parent, const uint64_t *ids, size_t stride, size_t k)
{
    for (size_t j = 0; j < k && j < CH__COMMENT_FIRST_READ && ids[j * stride]; j++)
        out[(*n)++] = (ch__reply_ref_t){ids[j * stride], parent};
}

/* Reads the first replies of need[0..nn) (parents whose Y: missed) in one statement, appends
 * their first ones to out and puts each parent's Y: fact under its lease (leases[i], 0: not). */
static ch_err_t ch__fill(ch_svc_t *svc, const uint64_t *need, const uint64_t *leases, const char *const *keys,
                         size_t nn, ch__reply_ref_t *out, size_t *n)
{
    const size_t per = CH__REPLIES_CACHED + 1;
    ch__reply_ref_t *refs = ch_malloc(sizeof(*refs) * nn * per);
    uint64_t *v = ch_malloc(sizeof(uint64_t) * CH__REPLIES_CACHED);
    const char **pk = ch_malloc(sizeof(*pk) * nn), **pv = ch_malloc(sizeof(*pv) * nn);
    size_t *lens = ch_malloc(sizeof(*lens) * nn), nr = 0, np = 0;
    uint64_t *pl = ch_malloc(sizeof(*pl) * nn);
    ch_err_t err = ch__comments_first_ids_upto(svc, need, nn, per, refs, &nr);
    for (size_t i = 0; err == CH_OK && i < nn; i++) {
        /* refs are grouped by parent: this parent's run */
        size_t c = 0, from = 0;
        while (from < nr && refs[from].parent != need[i])
            from++;
        while (from + c < nr && refs[from + c].parent == need[i])
            c++;
        ch_id_page_t pg = {v, c > CH__REPLIES_CACHED ? CH__REPLIES_CACHED : c, c > CH__REPLIES_CACHED};
        for (size_t j = 0; j < pg.n; j++)
            v[j] = refs[from + j].id;
        ch__add(out, n, need[i], v, 1, pg.n);
        if (leases[i]) {
            pk[np] = keys[i];
            pl[np] = leases[i];
            pv[np] = ch_id_page_encode(&ch__replies_spec, &pg, &lens[np]);
            np++;
        }
    }
    if (np)
        ch_hcache_put_many(svc->hcache, pk, pv, lens, pl, np);
    for (size_t i = 0; i < np; i++)
        free((char *)pv[i]);
    free(pl);
    free(lens);
    free(pv);
    free(pk);
    free(v);
    free(refs);
    return err;
}

int ch__comments_first_cached(ch_svc_t *svc, const ch_id_page_t *cached, const uint64_t *parents, size_t np,
                              ch__reply_ref_t *out, size_t *n, ch_err_t *err)
{
    *n = 0;
    *err = CH_OK;
    if (!svc->hcache)
        return 0;
    if (np > CH_ITEMS_IN_MAX)
        np = CH_ITEMS_IN_MAX;
    ch_hkey_t *keys = ch_malloc(sizeof(ch_hkey_t) * (np + 1));
    const char **kp = ch_malloc(sizeof(*kp) * (np + 1));
    uint64_t *of = ch_malloc(sizeof(uint64_t) * (np + 1)), *v = ch_malloc(sizeof(uint64_t) * CH__REPLIES_CACHED);
    ch_hcache_got_t *got = ch_calloc(np + 1, sizeof(*got));
    size_t nk = 0;
    for (size_t i = 0; i < np; i++) {
        const uint64_t *row = ch__thread_row_of(cached, parents[i]);
        if (row) {
            ch__add(out, n, parents[i], row + 1, 1, CH__THREAD_COLS - 1);
        } else {
            kp[nk] = ch_hkey_replies(keys[nk], parents[i]);
            of[nk++] = parents[i];
        }
    }
    int r = 1;
    if (nk && ch_hcache_get_many(svc->hcache, kp, nk, got) != CH_OK) {
        r = 0; /* down, or a miss on the loop (noted): the caller's statement */
        *n = 0;
    }
    /* the misses, compacted to the front of of[], kp[] with their leases */
    uint64_t *leases = ch_malloc(sizeof(uint64_t) * (nk + 1));
    size_t nn = 0;
    for (size_t k = 0; r && k < nk; k++) {
        ch_id_page_t pg = {.v = v};
        if (got[k].val && ch_id_page_decode(&ch__replies_spec, got[k].val, got[k].len, &pg)) {
            ch__add(out, n, of[k], v, 1, pg.n);
        } else {
            of[nn] = of[k];
            kp[nn] = kp[k];
            leases[nn++] = got[k].val ? 0 : got[k].lease; /* a value that does not decode: no lease */
        }
    }
    if (r && nn && (*err = ch__fill(svc, of, leases, kp, nn, out, n)) != CH_OK) {
        r = -1;
        *n = 0;
    }
    for (size_t k = 0; k < nk; k++)
        free(got[k].val);
    free(leases);
    free(got);
    free(v);
    free(of);
    free(kp);
    free(keys);
    return r;
}
