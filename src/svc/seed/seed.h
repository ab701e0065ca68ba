/* `chorusd seed`: a deterministic demo community, so that a newcomer's server shows a
 * living network and benchmarks have data. Same (users, seed) -> same handles, graph,
 * content and engagement (times are relative to the moment of seeding). Rows are written
 * in one transaction of multi-row INSERTs straight to the tables, as the write paths would
 * have left them: counters equal to their rows, texts indexed for mentions and hashtags,
 * an engagement event for every reaction, comment, reply and notified mention. No outbox
 * events: what is derived from the outbox is rebuilt from the tables. */
#ifndef CH_SVC_SEED_H
#define CH_SVC_SEED_H

#include <stdint.h>

#include "svc/context.h"

#define CH_SEED_PASSWORD "chorus-demo"
/* Notifications are made by the worker from the events of the last CH_SEED_NOTIFY_HOURS
 * only; older seeded events feed the ranking signals and nothing else (docs/design.md,
 * "Demo data"). */
#define CH_SEED_NOTIFY_HOURS 24

typedef struct {
    unsigned users;   /* accounts to create */
    uint64_t seed;    /* PRNG seed */
} ch_seed_opts_t;

typedef struct {
    uint64_t users, follows, posts, reels, stories;
    uint64_t reactions, comments, replies, mentions, hashtags, events;
    double seconds;
} ch_seed_stats_t;

/** Creates the community. CH_ECONFLICT when this database was already seeded. */
ch_err_t ch_seed_run(ch_svc_t *svc, const ch_seed_opts_t *opts, ch_seed_stats_t *stats);

#endif
