/* Which in-network entries still come from a followee (visible.h). */
#include "svc/feed/visible.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "svc/common/hydrate.h"
#include "svc/graph/followees.h"

/* Distinct authors up to this many are sorted by insertion (a page's 20 or so: qsort's
 * calls cost more than the compares); more by qsort. */
#define CH__INSERTION_MAX 32

static int ch__cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v[0..n) ascending and drops duplicates; returns how many are left. */
static size_t ch__sort_distinct(uint64_t *v, size_t n)
{
    if (n <= CH__INSERTION_MAX) {
        for (size_t i = 1; i < n; i++) {
            uint64_t x = v[i];
            size_t j = i;
            for (; j > 0 && v[j - 1] > x; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
    } else {
        qsort(v, n, sizeof(uint64_t), ch__cmp);
    }
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (d == 0 || v[d - 1] != v[i])
            v[d++] = v[i];
    return d;
}

/* The index of id in sorted[0..n), or -1. */
static long ch__find(const uint64_t *sorted, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < id)
            lo = mid + 1;
        else if (sorted[mid] > id)
            hi = mid;
        else
            return (long)mid;
    }
    return -1;
}

/* Marks in followed[] the authors[0..d) that the relation facts say viewer follows (the
 * followee list was cut at its bound: those not on it may still be followed). */
static ch_err_t ch__followed_by_relations(ch_svc_t *svc, uint64_t viewer, const uint64_t *authors, size_t d,
                                          unsigned char *followed)
{
    uint64_t *ask = ch_malloc((d ? d : 1) * sizeof(uint64_t));
    size_t *at = ch_malloc((d ? d : 1) * sizeof(size_t)), na = 0;
    for (size_t i = 0; i < d; i++)
        if (!followed[i]) {
            at[na] = i;
            ask[na++] = authors[i];
        }
    ch_hydrated_user_t *u = ch_malloc(CH_ITEMS_HYDRATE_MAX * sizeof(*u));
    ch_err_t err = CH_OK;
    for (size_t from = 0; from < na && err == CH_OK; from += CH_ITEMS_HYDRATE_MAX) {
        size_t k = na - from < CH_ITEMS_HYDRATE_MAX ? na - from : CH_ITEMS_HYDRATE_MAX;
        ch_fault_t f = {0};
        err = ch_hydrate_users(svc, viewer, ask + from, k, u, &f);
        for (size_t i = 0; err == CH_OK && i < k; i++)
            followed[at[from + i]] = u[i].json && u[i].following;
        if (err == CH_OK)
            ch_hydrated_users_free(u, k);
    }
    free(u);
    free(at);
    free(ask);
    return err;
}

/* Keeps in e[0..*n) the entries whose author is marked in followed[] (authors sorted[0..d)). */
static void ch__keep(const uint64_t *authors, size_t d, const unsigned char *followed, ch_timeline_entry_t *e,
                     size_t *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        long k = ch__find(authors, d, e[i].author_id);
        if (k >= 0 && followed[k])
            e[kept++] = e[i];
    }
    *n = kept;
}

ch_err_t ch_feed_keep_followed(ch_svc_t *svc, uint64_t viewer, ch_timeline_entry_t *a, size_t *na,
                               ch_timeline_entry_t *b, size_t *nb)
{
    size_t m = (na ? *na : 0) + (nb ? *nb : 0);
    if (m == 0)
        return CH_OK;
    uint64_t *authors = ch_malloc(m * sizeof(uint64_t));
    size_t at = 0;
    for (size_t i = 0; na && i < *na; i++)
        authors[at++] = a[i].author_id;
    for (size_t i = 0; nb && i < *nb; i++)
        authors[at++] = b[i].author_id;
    size_t d = ch__sort_distinct(authors, m);
    unsigned char *followed = ch_calloc(d, 1);
    /* The viewer's followee list (one fact, forgotten after every change of the viewer's edges:
     * follow, unfollow, block either way, svc/graph/followees.h), looked up by the few authors. */
    uint64_t *fl = NULL;
    size_t nf = 0;
    ch_err_t err = ch_graph_followees_recent(svc, viewer, CH_GRAPH_FOLLOWEES_CACHED_MAX, &fl, &nf);
    for (size_t i = 0; err == CH_OK && i < nf; i++) {
        long k = ch__find(authors, d, fl[i]);
        if (k >= 0)
            followed[k] = 1;
    }
    free(fl);
    if (err == CH_OK && nf >= CH_GRAPH_FOLLOWEES_CACHED_MAX)
        err = ch__followed_by_relations(svc, viewer, authors, d, followed);
    if (err == CH_OK && na)
        ch__keep(authors, d, followed, a, na);
    if (err == CH_OK && nb)
        ch__keep(authors, d, followed, b, nb);
    free(followed);
    free(authors);
    return err;
}
