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

/* The communities `chorusd seed --profile` makes. */
typedef enum {
    CH_SEED_PROFILE_DEMO = 0,    /* the demo community: graph, content and engagement */
    CH_SEED_PROFILE_FEEDLAB = 1, /* the feed lab's (bench/feedlab): svc/seed/lab.c */
} ch_seed_profile_t;

#define CH_SEED_MAX_USERS 1000000
/* The feed lab goes further: a celebrity with 1M followers needs more than 1M users. */
#define CH_SEED_LAB_MAX_USERS 2000000
#define CH_SEED_LAB_DEFAULT_CELEBRITIES 3
#define CH_SEED_LAB_DEFAULT_FOLLOWS 20

typedef struct {
    unsigned users;   /* accounts to create */
    uint64_t seed;    /* PRNG seed */
    ch_seed_profile_t profile;
    /* Feed lab only. */
    unsigned celebrities;         /* the first accounts, each followed by celebrity_followers */
    unsigned celebrity_followers; /* < users; 0: users - 1 */
    unsigned follows;             /* mean accounts an ordinary user follows (power law) */
    const char *rates_path;       /* borrowed; the per-user CSV the lab driver reads, or NULL */
} ch_seed_opts_t;

typedef struct {
    uint64_t users, follows, posts, reels, stories;
    uint64_t reactions, comments, replies, mentions, hashtags, events;
    double seconds;
} ch_seed_stats_t;

/** Creates the community of opts->profile. CH_ECONFLICT when this database was already
 * seeded; CH_EINVAL for options out of range. */
ch_err_t ch_seed_run(ch_svc_t *svc, const ch_seed_opts_t *opts, ch_seed_stats_t *stats);

#endif
