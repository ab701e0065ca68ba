/* Users and the follow graph of the demo community, and the graph kept in memory for the
 * engagement that follows (who follows whom, who may see what, handle lookup). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/id.h"
#include "svc/seed/vocab.h"
#include "svc/seed/world.h"

ch_err_t ch_seed_users(ch_seed_world_t *w)
{
    char hash[CH_PWHASH_LEN];
    if (ch_password_hash(CH_SEED_PASSWORD, strlen(CH_SEED_PASSWORD), w->svc->cfg->pwhash_opslimit,
                         w->svc->cfg->pwhash_memlimit, hash) != 0)
        return CH_EINTERNAL;
    ch_batch_t b;
    ch_batch_init(&b, w->svc, w->conn,
                  "users(id, handle, password_hash, display_name, bio, is_private, interests, region, created_at, "
                  "updated_at)",
                  10, "");
    int64_t start = w->now - 365 * CH_SEED_DAY_MS;
    for (size_t i = 0; i < w->n; i++) {
        const char *name = ch_seed_names.s[i % ch_seed_names.n];
        int64_t created = start + (int64_t)i * (300 * CH_SEED_DAY_MS / (int64_t)w->n) + 1;
        w->ids[i] = ch_id_at(created, 0);
        snprintf(w->handles[i], sizeof(w->handles[i]), "%s_%zu", name, i + 1);
        char *display = ch_batch_own(&b, ch_malloc(48)), *interests = ch_batch_own(&b, ch_malloc(96));
        snprintf(display, 48, "%c%s %c.", name[0] - 'a' + 'A', name + 1, (int)('A' + ch_seed_pick(&w->rng, 26)));
        const char *tags[3];
        for (int t = 0; t < 3; t++)
            tags[t] = ch_seed_tags.s[ch_seed_pick(&w->rng, ch_seed_tags.n)];
        snprintf(interests, 96, "[\"%s\",\"%s\",\"%s\"]", tags[0], tags[1], tags[2]);
        const char *bio = ch_seed_bios.s[ch_seed_pick(&w->rng, ch_seed_bios.n)];
        w->is_private[i] = ch_seed_pick(&w->rng, 20) == 0;
        const char *region = ch_seed_regions.s[ch_seed_pick(&w->rng, ch_seed_regions.n)];
        ch_db_param_t row[] = {CH_DB_P_INT(w->ids[i]), CH_DB_P_TEXT(w->handles[i]), CH_DB_P_TEXT(hash),
                               CH_DB_P_TEXT(display),   CH_DB_P_TEXT(bio),          CH_DB_P_INT(w->is_private[i]),
                               CH_DB_P_TEXT(interests), CH_DB_P_TEXT(region),       CH_DB_P_INT(created),
                               CH_DB_P_INT(created)};
        ch_batch_add(&b, row);
    }
    w->stats->users = w->n;
    return ch_batch_finish(&b);
}

static int ch__cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The followers index from the generated edges: sorted by (followee, follower), the
 * duplicates the database ignored dropped too. Frees the edges. */
ch_err_t ch_seed_index_fans(ch_seed_world_t *w)
{
    for (size_t e = 0; e < w->nedges; e++) /* follower << 32 | followee  ->  followee << 32 | follower */
        w->edges[e] = w->edges[e] << 32 | w->edges[e] >> 32;
    qsort(w->edges, w->nedges, sizeof(*w->edges), ch__cmp_u64);
    w->fan_start = ch_calloc(w->n + 1, sizeof(*w->fan_start));
    w->fans = ch_malloc((w->nedges ? w->nedges : 1) * sizeof(*w->fans));
    size_t k = 0;
    for (size_t e = 0; e < w->nedges; e++) {
        if (e && w->edges[e] == w->edges[e - 1])
            continue;
        w->fan_start[(w->edges[e] >> 32) + 1]++;
        w->fans[k++] = (uint32_t)w->edges[e];
    }
    for (size_t u = 0; u < w->n; u++)
        w->fan_start[u + 1] += w->fan_start[u];
    free(w->edges);
    w->edges = NULL;
    w->stats->follows = k;
    return CH_OK;
}

ch_err_t ch_seed_follows(ch_seed_world_t *w)
{
    ch_batch_t b;
    ch_batch_init(&b, w->svc, w->conn, "follows(follower_id, followee_id, id, created_at)", 4,
                  " ON CONFLICT DO NOTHING");
    size_t avg = w->n / 4 < 100 ? w->n / 4 : 100;
    size_t total = avg * w->n, k = 0;
    int64_t start = w->now - 60 * CH_SEED_DAY_MS, step = 60 * CH_SEED_DAY_MS / (int64_t)(total ? total : 1);
    w->edges = ch_malloc((total * 7 / 4 + 1) * sizeof(*w->edges)); /* degrees are at most avg * 7 / 4 */
    if (!w->edges) {
        ch_batch_finish(&b);
        return CH_EINTERNAL;
    }
    for (size_t i = 0; i < w->n && avg; i++) {
        size_t degree = avg / 4 + ch_seed_pick(&w->rng, avg * 3 / 2 + 1); /* mean ~ avg */
        for (size_t d = 0; d < degree; d++, k++) {
            size_t j = ch_seed_popular(&w->rng, w->n);
            if (j == i)
                continue;
            int64_t at = start + (int64_t)k * (step ? step : 1);
            ch_db_param_t row[] = {CH_DB_P_INT(w->ids[i]), CH_DB_P_INT(w->ids[j]), CH_DB_P_INT(ch_id_at(at, 1)),
                                   CH_DB_P_INT(at)};
            ch_batch_add(&b, row);
            w->edges[w->nedges++] = (uint64_t)i << 32 | j;
        }
    }
    ch_err_t err = ch_batch_finish(&b);
    return err ? err : ch_seed_index_fans(w);
}

int ch_seed_follows_user(const ch_seed_world_t *w, uint32_t v, uint32_t u)
{
    size_t lo = w->fan_start[u], hi = w->fan_start[u + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->fans[mid] == v)
            return 1;
        if (w->fans[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int ch_seed_may_see(const ch_seed_world_t *w, uint32_t v, const ch_seed_item_t *it)
{
    return v == it->author || !it->restricted || ch_seed_follows_user(w, v, it->author);
}

long ch_seed_user_by_handle(const ch_seed_world_t *w, const char *handle)
{
    const char *us = strrchr(handle, '_');
    if (!us || us[1] < '1' || us[1] > '9')
        return -1;
    char *end;
    unsigned long number = strtoul(us + 1, &end, 10);
    if (*end || number == 0 || number > w->n || strcmp(w->handles[number - 1], handle) != 0)
        return -1;
    return (long)(number - 1);
}
