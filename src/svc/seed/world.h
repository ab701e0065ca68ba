/* The state the seeding steps share (internal to src/svc/seed/): the community in memory,
 * as much of it as later steps need to generate engagement consistent with the graph (who
 * follows whom, who may see what), and the open batches the steps write through. One
 * seeding run owns one world; nothing in it is thread-safe. */
#ifndef CH_SVC_SEED_WORLD_H
#define CH_SVC_SEED_WORLD_H

#include <stdint.h>

#include "svc/engage/reactions_kind.h"
#include "svc/engage/target.h"
#include "svc/engage/textrefs.h"
#include "svc/seed/batch.h"
#include "svc/seed/ids.h"
#include "svc/seed/rng.h"
#include "svc/seed/seed.h"

#define CH_SEED_HOUR_MS (3600LL * 1000)
#define CH_SEED_DAY_MS (24 * CH_SEED_HOUR_MS)
/* The hours of "the moment" before seeding: posts and comments take up w->burst_tag, so
 * that trending has a tag rising against its own baseline. */
#define CH_SEED_BURST_MS (3 * CH_SEED_HOUR_MS)

/** A seeded post, reel or story. */
typedef struct {
    uint64_t id;
    int64_t at;          /* created_at, unix ms */
    uint32_t author;     /* user index */
    uint8_t type;        /* CH_TARGET_POST, _REEL or _STORY */
    uint8_t restricted;  /* followers-only or by a private account: only followers and the author see it */
    int64_t until;       /* engagement may happen before this (now; a story's expiry) */
} ch_seed_item_t;

/** The rows every kind of text and engagement adds to, open from the first item to the
 * end of the engagement (svc/seed/sink.c). */
typedef struct {
    ch_batch_t events, mentions, hashtags, reactions, comments, counters;
    int open;
    /* Event values as bound text: the few distinct ones, formatted once. */
    size_t nvalues;
    double value[8];
    char value_text[8][32];
} ch_seed_sink_t;

/** What the feed lab profile keeps per user (lab.c): latent interests and rates. */
#define CH_SEED_LAB_TOPICS 3
typedef struct {
    double *post_rate, *read_rate;              /* per hour */
    uint8_t (*topic)[CH_SEED_LAB_TOPICS];       /* indexes into ch_seed_tags, strongest first */
    float (*weight)[CH_SEED_LAB_TOPICS];        /* their weights, summing to 1 */
} ch_seed_lab_t;

typedef struct {
    ch_svc_t *svc;
    const ch_seed_opts_t *opts;
    ch_seed_lab_t lab;       /* the feed lab profile only */
    ch_db_conn_t *conn;      /* the seeding transaction */
    ch_seed_rng_t rng;       /* users, follows, items */
    ch_seed_rng_t erng;      /* engagement: its own stream, so the community stays the same */
    size_t n;                /* users */
    uint64_t *ids;           /* user index -> id */
    char (*handles)[32];
    uint8_t *is_private;
    /* Followers of user u: fans[fan_start[u] .. fan_start[u + 1]), ascending (made from the
     * follow edges actually written, duplicates removed). */
    uint32_t *fan_start, *fans;
    uint64_t *edges;         /* follower << 32 | followee, while follows are generated */
    size_t nedges;
    ch_seed_item_t *items;   /* posts and reels in time order, then stories */
    size_t nitems;
    int64_t now;             /* every seeded moment is before it */
    const char *burst_tag;   /* the tag of the moment (CH_SEED_BURST_MS) */
    ch_seed_ids_t eids;      /* ids of reactions, comments, events */
    ch_textrefs_t *refs;     /* scratch for the parser */
    ch_seed_sink_t sink;
    /* Engagement scratch: mark[u] == gen when user u was already chosen for the current
     * target; pool holds who reacted to the current item (npool of them). */
    uint32_t *mark, gen, *pool;
    size_t npool;
    ch_seed_stats_t *stats;
} ch_seed_world_t;

/* ---- steps (each on w->conn, inside the seeding transaction) ---------------------------- */

/** Users (w->ids, handles, is_private). people.c */
ch_err_t ch_seed_users(ch_seed_world_t *w);
/** Power-law follows, then the followers index (fan_start, fans). people.c */
ch_err_t ch_seed_follows(ch_seed_world_t *w);
/** Posts, reels and stories (w->items) with the mentions and hashtags of their text. items.c */
ch_err_t ch_seed_items(ch_seed_world_t *w);
/** Reactions, comments and replies on every item, their counters and events. engage.c */
ch_err_t ch_seed_engagement(ch_seed_world_t *w);

/* ---- the feed lab profile (lab.c, lab_graph.c) ---------------------------------------- */

/** Lab users: latent interests (users.interests), posting and reading rates. */
ch_err_t ch_seed_lab_users(ch_seed_world_t *w);
/** Lab follows: the celebrities' followers, then power-law follows; the followers index. */
ch_err_t ch_seed_lab_follows(ch_seed_world_t *w);
/** Lab posts and reels of the last CH_SEED_LAB_HISTORY_HOURS at each author's rate, tagged
 * with the author's interests; feed_authors rows with the posting rates. */
ch_err_t ch_seed_lab_items(ch_seed_world_t *w);
/** Writes the per-user CSV for the lab driver to w->opts->rates_path (after the commit). */
ch_err_t ch_seed_lab_write_rates(ch_seed_world_t *w);
/** Frees the lab arrays. */
void ch_seed_lab_free(ch_seed_world_t *w);
/** Sorts w->edges into the followers index (fan_start, fans), duplicates dropped; frees
 * the edges. people.c */
ch_err_t ch_seed_index_fans(ch_seed_world_t *w);

/* ---- the graph in memory (people.c) ----------------------------------------------------- */

/** Whether user v follows user u. */
int ch_seed_follows_user(const ch_seed_world_t *w, uint32_t v, uint32_t u);
/** Whether user v may see item it (ch_graph_may_see_content without blocks: the seed makes
 * none). */
int ch_seed_may_see(const ch_seed_world_t *w, uint32_t v, const ch_seed_item_t *it);
/** The index of the seeded user with this handle, or -1. */
long ch_seed_user_by_handle(const ch_seed_world_t *w, const char *handle);

/* ---- rows (sink.c) ---------------------------------------------------------------------- */

/** Opens the sink's batches on w->conn. */
void ch_seed_sink_open(ch_seed_world_t *w);
/** Writes what the batches still hold (nothing when `failed` is an error: the transaction
 * is lost anyway) and frees them; returns the first error any of them had. Does nothing
 * on a closed sink. */
ch_err_t ch_seed_sink_close(ch_seed_world_t *w, ch_err_t failed);
/** Appends an engagement event (svc/engage/events.h: same kinds, fields and meaning as the
 * write path's) at ts. id: the id of the reaction or comment it is about (made at ts by
 * w->eids, so unique among events too), or 0 for a new one. */
void ch_seed_event(ch_seed_world_t *w, uint64_t id, int64_t ts, uint32_t user, const char *kind,
                   ch_target_type_t type, uint64_t target, uint64_t author_id, double value);
/** Appends the counters row of a target (reactions per kind, comments), unless all are
 * zero: a missing row means zero, as after ch_counters_repair. */
void ch_seed_counters(ch_seed_world_t *w, ch_target_type_t type, uint64_t id,
                      const int64_t reactions[CH_REACTION_KIND_COUNT], int64_t comments);

/* ---- engagement (reactions.c, comments.c) ----------------------------------------------- */

/** How people react to one target: weights of the six kinds (svc/engage/reactions_kind.h
 * order). */
typedef struct {
    double w[CH_REACTION_KIND_COUNT];
} ch_seed_mood_t;

/** The mood of a new target: most are liked and loved, some are funny, sad, surprising
 * or annoying. */
const ch_seed_mood_t *ch_seed_mood(ch_seed_world_t *w);
/** Appends user's reaction to target (type, id) owned by user `owner` at `at` (a kind drawn
 * from mood), its event, and counts it in counts[kind]. The caller keeps it to one per user
 * and target. */
ch_err_t ch_seed_reaction(ch_seed_world_t *w, ch_target_type_t type, uint64_t id, uint32_t owner, uint32_t user,
                          int64_t at, const ch_seed_mood_t *mood, int64_t counts[CH_REACTION_KIND_COUNT]);
/** A moment after `from` (item it or one of its comments) at which something answering it
 * happens: mostly within hours (mean_ms), sometimes days later, far sooner for an item of
 * the moment. May be past it->until: then it has not happened yet. */
int64_t ch_seed_later(ch_seed_world_t *w, const ch_seed_item_t *it, int64_t from, double mean_ms);
/** Comments and replies on post or reel `it` (w->pool: who reacted to it, quality q), with
 * their texts indexed, events, reactions and counters. *count receives how many were
 * written (comments and replies), for the item's counter. */
ch_err_t ch_seed_comments(ch_seed_world_t *w, const ch_seed_item_t *it, double q, int64_t *count);

/** Indexes one text as the write path does (svc/engage/refs.h): parses it with the write
 * path's parser, resolves its @handles to seeded users, appends its mentions and hashtags
 * rows (at `at`), and the "mention" event of each mentioned user who is told (not the
 * writer, not `quiet`, may see the item). *mentions_json and *hashtags_json receive the
 * arrays the API renders, or NULL both when the text has no references (caller frees). */
ch_err_t ch_seed_text(ch_seed_world_t *w, ch_target_type_t type, uint64_t id, uint32_t writer,
                      const ch_seed_item_t *item, int64_t at, long quiet, const char *text, char **mentions_json,
                      char **hashtags_json);

#endif
