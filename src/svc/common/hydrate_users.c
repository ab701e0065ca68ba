/* The hydration layer's user summaries (svc/common/hydrate.h): the "u:" and "r:" facts of
 * ch_hydrate_items, in one cache round trip and one statement per kind for the misses. */
#include "svc/common/hydrate.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "svc/common/hydrate_fetch.h"

ch_err_t ch_hydrate_users(ch_svc_t *svc, uint64_t viewer, const uint64_t *ids, size_t n, ch_hydrated_user_t *out,
                          ch_fault_t *f)
{
    if (n > CH_ITEMS_HYDRATE_MAX)
        return ch_fault(f, CH_EINVAL, NULL, "at most %d users at once", CH_ITEMS_HYDRATE_MAX);
    if (n == 0)
        return CH_OK;
    memset(out, 0, n * sizeof(*out));
    uint64_t *users = ch_malloc(sizeof(uint64_t) * n), *others = ch_malloc(sizeof(uint64_t) * n);
    size_t nusers = 0, nothers = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nusers && users[k] != ids[i])
            k++;
        if (k < nusers || ids[i] == 0 || ids[i] > INT64_MAX)
            continue;
        users[nusers++] = ids[i];
        if (viewer && ids[i] != viewer)
            others[nothers++] = ids[i];
    }
    ch_huser_t *uf = ch_calloc(nusers ? nusers : 1, sizeof(ch_huser_t));
    unsigned *rf = ch_calloc(nothers ? nothers : 1, sizeof(unsigned));
    ch__hfacts_t q = {.viewer = viewer, .users = users, .nusers = nusers, .user_out = uf, .others = others,
                      .nothers = nothers, .rel_out = rf};
    ch_err_t err = ch__hydrate_facts(svc, &q, f);
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        size_t u = 0, r = 0;
        while (u < nusers && users[u] != ids[i])
            u++;
        while (r < nothers && others[r] != ids[i])
            r++;
        if (u == nusers || !uf[u].found)
            continue;
        unsigned rel = r < nothers ? rf[r] : 0;
        if (rel & (CH_HREL_BLOCKING | CH_HREL_BLOCKED_BY))
            continue;
        if (uf[u].summary) { /* the first (usually only) one asking takes the text itself */
            out[i].json = uf[u].summary;
            uf[u].summary = NULL;
        } else { /* a duplicate id: a copy of the text the first one took */
            size_t first = 0;
            while (first < i && (ids[first] != ids[i] || !out[first].json))
                first++;
            if (first == i) /* no text to copy (a found user always has one) */
                continue;
            out[i].json = ch_malloc(uf[u].summary_len + 1);
            memcpy(out[i].json, out[first].json, uf[u].summary_len + 1);
        }
        out[i].len = uf[u].summary_len;
        out[i].is_private = uf[u].is_private;
        out[i].following = (rel & CH_HREL_FOLLOWING) != 0;
        out[i].requested = (rel & CH_HREL_REQUESTED) != 0;
        out[i].followed_by = (rel & CH_HREL_FOLLOWED_BY) != 0;
        out[i].muting = (rel & CH_HREL_MUTING) != 0;
    }
    for (size_t i = 0; i < nusers; i++)
        ch_huser_clear(&uf[i]);
    free(uf);
    free(rf);
    free(users);
    free(others);
    return err;
}

void ch_hydrated_users_free(ch_hydrated_user_t *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(u[i].json);
    if (n)
        memset(u, 0, n * sizeof(*u));
}
