/* Engagement on every seeded item: who reacts (the author's followers, in proportion to
 * how many there are, and for public items a few others), comments and replies on posts
 * and reels, and the item's counters, equal to its rows. Only what has happened by now is
 * written: a young item has had less time to collect reactions. */
#include <stdlib.h>

#include "core/alloc.h"
#include "svc/seed/vocab.h"
#include "svc/seed/world.h"

/* Picks of a user already chosen for a target are retried at most this often. */
#define CH__TRIES 16

/* Share of an author's followers who react to an item of average quality. */
static double ch__rate(ch_target_type_t type)
{
    return type == CH_TARGET_REEL ? 0.08 : type == CH_TARGET_STORY ? 0.03 : 0.05;
}

/* Reactions on item it by user u, unless u already reacted or it has not happened yet. */
static ch_err_t ch__react(ch_seed_world_t *w, const ch_seed_item_t *it, uint32_t u, const ch_seed_mood_t *mood,
                          int64_t counts[CH_REACTION_KIND_COUNT])
{
    if (w->mark[u] == w->gen)
        return CH_OK;
    w->mark[u] = w->gen;
    int64_t at = ch_seed_later(w, it, it->at, (it->type == CH_TARGET_STORY ? 1.5 : 3.0) * CH_SEED_HOUR_MS);
    if (at >= it->until)
        return CH_OK;
    w->pool[w->npool++] = u;
    return ch_seed_reaction(w, (ch_target_type_t)it->type, it->id, it->author, u, at, mood, counts);
}

static ch_err_t ch__item(ch_seed_world_t *w, const ch_seed_item_t *it)
{
    int64_t counts[CH_REACTION_KIND_COUNT] = {0}, comments = 0;
    const ch_seed_mood_t *mood = ch_seed_mood(w);
    double q = ch_seed_exp(&w->erng, 1.0); /* how much this item draws, mean 1 */
    size_t first = w->fan_start[it->author], fans = w->fan_start[it->author + 1] - first;
    double want = (double)fans * ch__rate((ch_target_type_t)it->type) * q;
    size_t from_fans = ch_seed_round(&w->erng, want < 0.7 * (double)fans ? want : 0.7 * (double)fans);
    size_t from_others = it->restricted ? 0
                                        : ch_seed_round(&w->erng, q * (it->type == CH_TARGET_REEL    ? 1.5
                                                                       : it->type == CH_TARGET_STORY ? 0.2
                                                                                                      : 0.4));
    ch_err_t err = CH_OK;
    w->npool = 0;
    w->mark[it->author] = ++w->gen; /* nobody reacts to their own item here */
    for (size_t j = 0; j < from_fans && err == CH_OK; j++) {
        uint32_t u = w->fans[first + ch_seed_pick(&w->erng, fans)];
        for (int t = 0; t < CH__TRIES && w->mark[u] == w->gen; t++)
            u = w->fans[first + ch_seed_pick(&w->erng, fans)];
        err = ch__react(w, it, u, mood, counts);
    }
    for (size_t j = 0; j < from_others && err == CH_OK; j++)
        err = ch__react(w, it, (uint32_t)ch_seed_pick(&w->erng, w->n), mood, counts);
    if (err == CH_OK && it->type != CH_TARGET_STORY)
        err = ch_seed_comments(w, it, q, &comments);
    /* The counter row last, as every writer does (svc/engage/counters.h). */
    ch_seed_counters(w, (ch_target_type_t)it->type, it->id, counts, comments);
    return err;
}

ch_err_t ch_seed_engagement(ch_seed_world_t *w)
{
    w->mark = ch_calloc(w->n, sizeof(*w->mark));
    w->pool = ch_calloc(w->n, sizeof(*w->pool));
    ch_err_t err = CH_OK;
    for (size_t i = 0; i < w->nitems && err == CH_OK; i++)
        err = ch__item(w, &w->items[i]);
    return err;
}
