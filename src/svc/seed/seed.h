/* `chorusd seed`: a deterministic demo community, so that a newcomer's server shows a
 * living network and benchmarks have data. Same (users, seed) -> same handles, graph and
 * content. Rows are written in large batched transactions straight to the tables (no
 * outbox events: derived state is rebuilt from the tables). */
#ifndef CH_SVC_SEED_H
#define CH_SVC_SEED_H

#include <stdint.h>

#include "svc/context.h"

#define CH_SEED_PASSWORD "chorus-demo"

typedef struct {
    unsigned users;   /* accounts to create */
    uint64_t seed;    /* PRNG seed */
} ch_seed_opts_t;

typedef struct {
    uint64_t users, follows, posts, reels, stories;
    double seconds;
} ch_seed_stats_t;

/** Creates the community. CH_ECONFLICT when this database was already seeded. */
ch_err_t ch_seed_run(ch_svc_t *svc, const ch_seed_opts_t *opts, ch_seed_stats_t *stats);

#endif
