/* The feed lab's follow graph: the celebrities (the first opts->celebrities users), each
 * followed by opts->celebrity_followers distinct users (a run of consecutive users from a
 * random start: user indexes mean nothing else in the lab), then every user follows about
 * opts->follows others drawn by the seed's power law among the ordinary users. */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/id.h"
#include "svc/seed/world.h"

ch_err_t ch_seed_lab_follows(ch_seed_world_t *w)
{
    const ch_seed_opts_t *o = w->opts;
    size_t n = w->n, celebs = o->celebrities, per_celeb = o->celebrity_followers, avg = o->follows;
    size_t ordinary = n - celebs;
    size_t total = celebs * per_celeb + n * (avg * 7 / 4 + 1); /* degrees are at most avg * 7 / 4 */
    w->edges = ch_malloc(total * sizeof(*w->edges));
    if (!w->edges)
        return CH_EINTERNAL;
    ch_batch_t b;
    ch_batch_init(&b, w->svc, w->conn, "follows(follower_id, followee_id, id, created_at)", 4,
                  " ON CONFLICT DO NOTHING");
    /* Every edge its own millisecond in the last 60 days: (ms, seq) makes ids unique. */
    int64_t span = 60 * CH_SEED_DAY_MS, start = w->now - span, step = span / (int64_t)(total + 1);
    step = step ? step : 1;
    size_t k = 0;
    for (size_t c = 0; c < celebs; c++) {
        size_t from = ch_seed_pick(&w->rng, n);
        for (size_t i = 0, f = from; i < per_celeb; f = (f + 1) % n) {
            if (f == c)
                continue;
            int64_t at = start + (int64_t)k++ * step;
            ch_db_param_t row[] = {CH_DB_P_INT(w->ids[f]), CH_DB_P_INT(w->ids[c]), CH_DB_P_INT(ch_id_at(at, 1)),
                                   CH_DB_P_INT(at)};
            ch_batch_add(&b, row);
            w->edges[w->nedges++] = (uint64_t)f << 32 | c;
            i++;
        }
    }
    for (size_t i = 0; i < n && avg && ordinary > 1; i++) {
        size_t degree = avg / 4 + ch_seed_pick(&w->rng, avg * 3 / 2 + 1); /* mean ~ avg */
        for (size_t d = 0; d < degree; d++) {
            size_t j = celebs + ch_seed_popular(&w->rng, ordinary);
            if (j == i)
                continue;
            int64_t at = start + (int64_t)k++ * step;
            ch_db_param_t row[] = {CH_DB_P_INT(w->ids[i]), CH_DB_P_INT(w->ids[j]), CH_DB_P_INT(ch_id_at(at, 1)),
                                   CH_DB_P_INT(at)};
            ch_batch_add(&b, row);
            w->edges[w->nedges++] = (uint64_t)i << 32 | j;
        }
    }
    ch_err_t err = ch_batch_finish(&b);
    return err ? err : ch_seed_index_fans(w);
}
