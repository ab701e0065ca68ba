/* The hydration layer's reads of facts (svc/common/hydrate_fetch.h). Every value read from
 * the cache is decoded and checked; one that does not decode is a miss (read again from the
 * database, not put: its lease is 0). The cache down (or none), or an ambient transaction
 * active on the thread: every get is a miss with lease 0, so everything is read from the
 * database and nothing is put. */
#include "svc/common/hydrate_fetch.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/hcache.h"
#include "svc/common/hydrate_codec.h"
#include "svc/common/hydrate_keys.h"
#include "svc/engage/viewer_state_load.h"
#include "svc/graph/rel_load.h"
#include "svc/users/summary_load.h"

/* ---- cache batches ----------------------------------------------------------------------- */

/* Keys to get, then values to put back (only those with a lease). The arrays are carved out
 * of one allocation (mem): a page makes three batches, and seven allocations each were a
 * measurable part of a warm list. */
typedef struct {
    size_t n, cap;
    void *mem;
    const char **ptrs;
    uint64_t *leases;       /* of each miss, from the get */
    unsigned char *hit;     /* a value was read from the cache and decoded */
    size_t nput;
    const char **put_keys;
    const char **put_vals;  /* malloc'd, owned until ch__batch_free */
    size_t *put_lens;
    uint64_t *put_leases;
    ch_hkey_t *keys;
} ch__batch_t;

static void ch__batch_init(ch__batch_t *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap ? cap : 1;
    /* 8-byte members first, then the keys and the flags (byte arrays) */
    size_t words = sizeof(char *) * 3 + sizeof(uint64_t) * 2 + sizeof(size_t);
    char *p = b->mem = ch_malloc(b->cap * (words + sizeof(ch_hkey_t) + 1));
    b->ptrs = (const char **)(void *)p;
    p += sizeof(char *) * b->cap;
    b->put_keys = (const char **)(void *)p;
    p += sizeof(char *) * b->cap;
    b->put_vals = (const char **)(void *)p;
    p += sizeof(char *) * b->cap;
    b->leases = (uint64_t *)(void *)p;
    p += sizeof(uint64_t) * b->cap;
    b->put_leases = (uint64_t *)(void *)p;
    p += sizeof(uint64_t) * b->cap;
    b->put_lens = (size_t *)(void *)p;
    p += sizeof(size_t) * b->cap;
    b->keys = (ch_hkey_t *)(void *)p;
    p += sizeof(ch_hkey_t) * b->cap;
    b->hit = (unsigned char *)p;
    memset(b->leases, 0, sizeof(uint64_t) * b->cap);
    memset(b->hit, 0, b->cap);
}

/* What a batch's get hands each value to: decode, at index at + i of the batch. */
typedef struct {
    ch__batch_t *b;
    size_t at;
    int (*decode)(void *arg, size_t k, const char *val, size_t len); /* 0: decoded */
    void *arg;
} ch__visit_t;

static int ch__batch_visit(void *arg, size_t i, const char *val, size_t len)
{
    ch__visit_t *v = arg;
    size_t k = v->at + i;
    if (v->decode(v->arg, k, val, len) != 0)
        return -1;
    v->b->hit[k] = 1;
    return 0;
}

/* Reads the batch's keys from the cache, each value decoded in place by decode(arg, k, ...)
 * (hit[k] set when it decoded; leases[k] the lease of a miss). Inside the thread's ambient
 * transaction the cache is not used (all misses, lease 0): what the transaction reads may be
 * its own uncommitted writes (a rollback would leave them cached), its forgets wait for its
 * commit, and a Redis lease it never used would keep other readers from putting the key for
 * the lease's 10 s. */
static void ch__batch_get(ch_svc_t *svc, ch__batch_t *b, int (*decode)(void *, size_t, const char *, size_t),
                          void *arg)
{
    if (ch_db_ambient_active(svc->db))
        return;
    for (size_t i = 0; i < b->n; i++)
        b->ptrs[i] = b->keys[i];
    ch__visit_t v = {.b = b, .decode = decode, .arg = arg};
    for (v.at = 0; v.at < b->n; v.at += CH_HCACHE_BATCH_MAX) {
        size_t m = b->n - v.at < CH_HCACHE_BATCH_MAX ? b->n - v.at : CH_HCACHE_BATCH_MAX;
        /* down: all misses, lease 0 */
        (void)ch_hcache_get_visit(svc->hcache, b->ptrs + v.at, m, ch__batch_visit, &v, b->leases + v.at);
    }
}

/* Queues val (malloc'd, taken) for key i when its get gave a lease; else frees val. */
static void ch__batch_put(ch__batch_t *b, size_t i, char *val, size_t len)
{
    if (!b->leases[i]) {
        free(val);
        return;
    }
    b->put_keys[b->nput] = b->keys[i];
    b->put_vals[b->nput] = val;
    b->put_lens[b->nput] = len;
    b->put_leases[b->nput] = b->leases[i];
    b->nput++;
}

static void ch__batch_flush(ch_svc_t *svc, ch__batch_t *b)
{
    for (size_t at = 0; at < b->nput; at += CH_HCACHE_BATCH_MAX) {
        size_t m = b->nput - at < CH_HCACHE_BATCH_MAX ? b->nput - at : CH_HCACHE_BATCH_MAX;
        ch_hcache_put_many(svc->hcache, b->put_keys + at, b->put_vals + at, b->put_lens + at, b->put_leases + at, m);
    }
}

static void ch__batch_free(ch__batch_t *b)
{
    for (size_t i = 0; i < b->nput; i++)
        free((char *)b->put_vals[i]);
    free(b->mem);
}

/* ---- item records ------------------------------------------------------------------------ */

typedef ch_err_t (*ch__load_fn)(ch_svc_t *, const ch_item_key_t *, size_t, ch_item_record_t *, ch_fault_t *);

int ch__hydrate_loadable(const ch_item_key_t *key)
{
    const ch_item_type_ops_t *ops = ch_items_ops(key->type);
    return ops && ops->load_many && key->id != 0 && key->id <= INT64_MAX;
}

void ch__hydrate_records_free(ch_item_record_t *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(recs[i].body);
        recs[i].body = NULL;
    }
}

/* Decodes a cached record into ((ch_item_record_t *)arg)[k]; one that does not decode is
 * left zeroed (with no parent). */
static int ch__record_decode(void *arg, size_t k, const char *val, size_t len)
{
    ch_item_record_t *rec = (ch_item_record_t *)arg + k;
    if (ch_hcodec_record_decode(val, len, rec) == 0)
        return 0;
    free(rec->body);
    memset(rec, 0, sizeof(*rec));
    rec->parent.type = CH_ITEM_NO_PARENT;
    return -1;
}

ch_err_t ch__hydrate_records(ch_svc_t *svc, const ch_item_key_t *keys, size_t n, ch_item_record_t *recs,
                             ch_fault_t *f)
{
    memset(recs, 0, n * sizeof(*recs));
    ch__hydrate_metric(CH_HKIND_ITEM, 0, 0);
    if (n == 0)
        return CH_OK;
    ch__batch_t b;
    ch__batch_init(&b, n);
    for (size_t i = 0; i < n; i++)
        ch_hkey_item(b.keys[b.n++], keys[i].type, keys[i].id);
    ch__batch_get(svc, &b, ch__record_decode, recs);
    unsigned char *miss = b.hit; /* from here on: 1 = still to load */
    size_t hits = 0, loaded = 0;
    for (size_t i = 0; i < n; i++) {
        hits += miss[i];
        miss[i] = !miss[i];
    }
    /* the misses, grouped by load function, CH_ITEMS_IN_MAX per statement */
    ch_item_key_t chunk[CH_ITEMS_IN_MAX];
    ch_item_record_t crecs[CH_ITEMS_IN_MAX];
    size_t idx[CH_ITEMS_IN_MAX];
    ch_err_t err = CH_OK;
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        if (!miss[i])
            continue;
        ch__load_fn fn = ch_items_ops(keys[i].type)->load_many;
        size_t m = 0;
        for (size_t j = i; j < n && m < CH_ITEMS_IN_MAX; j++)
            if (miss[j] && ch_items_ops(keys[j].type)->load_many == fn) {
                miss[j] = 0;
                idx[m] = j;
                chunk[m++] = keys[j];
            }
        memset(crecs, 0, sizeof(crecs));
        for (size_t k = 0; k < m; k++)
            crecs[k].parent.type = CH_ITEM_NO_PARENT;
        err = fn(svc, chunk, m, crecs, f);
        for (size_t k = 0; k < m; k++) {
            if (err != CH_OK) {
                free(crecs[k].body);
                continue;
            }
            if (!crecs[k].found) { /* nothing of a not-found record is kept */
                free(crecs[k].body);
                memset(&crecs[k], 0, sizeof(crecs[k]));
                crecs[k].parent.type = CH_ITEM_NO_PARENT;
            }
            recs[idx[k]] = crecs[k];
            size_t len;
            char *val = ch_hcodec_record_encode(&crecs[k], &len);
            ch__batch_put(&b, idx[k], val, len);
            loaded++;
        }
    }
    if (err == CH_OK)
        ch__batch_flush(svc, &b);
    else {
        ch__hydrate_records_free(recs, n);
        memset(recs, 0, n * sizeof(*recs));
    }
    ch__hydrate_metric(CH_HKIND_ITEM, 0, hits);
    ch__hydrate_metric(CH_HKIND_ITEM, 1, loaded);
    ch__batch_free(&b);
    return err;
}

/* ---- users, relations, viewer states ------------------------------------------------------- */

/* Decodes the batch's k-th value: a user summary, a relation or a viewer's state, as
 * ch__hydrate_facts lays the keys out. */
static int ch__fact_decode(void *arg, size_t k, const char *val, size_t len)
{
    const ch__hfacts_t *q = arg;
    size_t nu = q->nusers, nr = q->viewer ? q->nothers : 0;
    if (k < nu)
        return ch_hcodec_user_decode(val, len, &q->user_out[k]);
    if (k < nu + nr)
        return ch_hcodec_rel_decode(val, len, &q->rel_out[k - nu]);
    return ch_hcodec_viewer_decode(val, len, &q->viewer_out[k - nu - nr]);
}

ch_err_t ch__hydrate_facts(ch_svc_t *svc, const ch__hfacts_t *q, ch_fault_t *f)
{
    size_t nu = q->nusers, nr = q->viewer ? q->nothers : 0, nv = q->viewer ? q->nitems : 0;
    size_t total = nu + nr + nv;
    memset(q->user_out, 0, nu * sizeof(*q->user_out));
    if (q->nothers)
        memset(q->rel_out, 0, q->nothers * sizeof(*q->rel_out));
    if (q->nitems)
        memset(q->viewer_out, 0, q->nitems * sizeof(*q->viewer_out));
    ch__hydrate_metric(CH_HKIND_USER, 0, 0);
    if (total == 0)
        return CH_OK;
    ch__batch_t b;
    ch__batch_init(&b, total);
    for (size_t i = 0; i < nu; i++)
        ch_hkey_user(b.keys[b.n++], q->users[i]);
    for (size_t i = 0; i < nr; i++)
        ch_hkey_rel(b.keys[b.n++], q->viewer, q->others[i]);
    for (size_t i = 0; i < nv; i++)
        ch_hkey_viewer_item(b.keys[b.n++], q->viewer, q->items[i].type, q->items[i].id);
    ch__batch_get(svc, &b, ch__fact_decode, (void *)q);
    /* the misses of each kind: indices into its own array */
    size_t *miss = ch_malloc(sizeof(size_t) * total), nmu = 0, nmr = 0, nmv = 0;
    size_t *mu = miss, *mr = miss + nu, *mv = miss + nu + nr;
    for (size_t i = 0; i < nu; i++)
        if (!b.hit[i])
            mu[nmu++] = i;
    for (size_t i = 0; i < nr; i++)
        if (!b.hit[nu + i])
            mr[nmr++] = i;
    for (size_t i = 0; i < nv; i++)
        if (!b.hit[nu + nr + i])
            mv[nmv++] = i;
    ch__hydrate_metric(CH_HKIND_USER, 0, nu - nmu);
    ch__hydrate_metric(CH_HKIND_REL, 0, nr - nmr);
    ch__hydrate_metric(CH_HKIND_VIEWER, 0, nv - nmv);
    ch_err_t err = CH_OK;
    uint64_t ids[CH_ITEMS_IN_MAX];
    ch_item_key_t ikeys[CH_ITEMS_IN_MAX];
    ch_huser_t users[CH_ITEMS_IN_MAX];
    unsigned bits[CH_ITEMS_IN_MAX];
    ch_hviewer_t states[CH_ITEMS_IN_MAX];
    for (size_t at = 0; at < nmu && err == CH_OK; at += CH_ITEMS_IN_MAX) {
        size_t m = nmu - at < CH_ITEMS_IN_MAX ? nmu - at : CH_ITEMS_IN_MAX;
        for (size_t k = 0; k < m; k++)
            ids[k] = q->users[mu[at + k]];
        if ((err = ch_users_summary_load(svc, ids, m, users, f)) != CH_OK)
            break;
        for (size_t k = 0; k < m; k++) {
            size_t i = mu[at + k], len;
            ch_huser_clear(&q->user_out[i]);
            q->user_out[i] = users[k];
            char *val = ch_hcodec_user_encode(&users[k], &len);
            ch__batch_put(&b, i, val, len);
        }
    }
    for (size_t at = 0; at < nmr && err == CH_OK; at += CH_ITEMS_IN_MAX) {
        size_t m = nmr - at < CH_ITEMS_IN_MAX ? nmr - at : CH_ITEMS_IN_MAX;
        for (size_t k = 0; k < m; k++)
            ids[k] = q->others[mr[at + k]];
        if ((err = ch_graph_rel_load(svc, q->viewer, ids, m, bits, f)) != CH_OK)
            break;
        for (size_t k = 0; k < m; k++) {
            size_t i = mr[at + k], len;
            q->rel_out[i] = bits[k];
            char *val = ch_hcodec_rel_encode(bits[k], &len);
            ch__batch_put(&b, nu + i, val, len);
        }
    }
    for (size_t at = 0; at < nmv && err == CH_OK; at += CH_ITEMS_IN_MAX) {
        size_t m = nmv - at < CH_ITEMS_IN_MAX ? nmv - at : CH_ITEMS_IN_MAX;
        for (size_t k = 0; k < m; k++)
            ikeys[k] = q->items[mv[at + k]];
        if ((err = ch_engage_viewer_state_load(svc, q->viewer, ikeys, m, states, f)) != CH_OK)
            break;
        for (size_t k = 0; k < m; k++) {
            size_t i = mv[at + k], len;
            q->viewer_out[i] = states[k];
            char *val = ch_hcodec_viewer_encode(&states[k], &len);
            ch__batch_put(&b, nu + nr + i, val, len);
        }
    }
    if (err == CH_OK) {
        ch__batch_flush(svc, &b);
        ch__hydrate_metric(CH_HKIND_USER, 1, nmu);
        ch__hydrate_metric(CH_HKIND_REL, 1, nmr);
        ch__hydrate_metric(CH_HKIND_VIEWER, 1, nmv);
    } else {
        for (size_t i = 0; i < nu; i++)
            ch_huser_clear(&q->user_out[i]);
    }
    free(miss);
    ch__batch_free(&b);
    return err;
}
