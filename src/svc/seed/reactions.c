/* Seeded reactions: the kind a user picks (by the target's mood), when it happens, and the
 * row with its event, as the reaction writer would have written them (svc/engage/
 * reactions_apply.c: row, "reaction" event for the target's owner weighted by its kind). */
#include "svc/seed/world.h"

/* Kind weights, in reactions_kind.h order: like, love, haha, wow, sad, angry. */
static const ch_seed_mood_t ch__moods[] = {
    {{62, 20, 7, 5, 4, 2}},   /* most things */
    {{35, 15, 45, 3, 1, 1}},  /* funny */
    {{30, 25, 2, 8, 30, 5}},  /* sad */
    {{35, 20, 5, 35, 3, 2}},  /* surprising */
    {{30, 5, 10, 10, 10, 35}}, /* annoying */
};
static const double ch__mood_odds[] = {78, 10, 5, 5, 2};
_Static_assert(sizeof(ch__moods) / sizeof(ch__moods[0]) == sizeof(ch__mood_odds) / sizeof(ch__mood_odds[0]),
               "one chance per mood");

const ch_seed_mood_t *ch_seed_mood(ch_seed_world_t *w)
{
    return &ch__moods[ch_seed_weighted(&w->erng, ch__mood_odds, sizeof(ch__mood_odds) / sizeof(ch__mood_odds[0]))];
}

int64_t ch_seed_later(ch_seed_world_t *w, const ch_seed_item_t *it, int64_t from, double mean_ms)
{
    /* One in seven comes back days later (a share, a search, a notification). Posts and
     * reels of the moment are answered six times as fast: everyone is online. */
    double mean = ch_seed_pick(&w->erng, 7) == 0 ? mean_ms * 12 : mean_ms;
    if (it->type != CH_TARGET_STORY && it->at > w->now - CH_SEED_BURST_MS)
        mean = mean_ms / 6;
    return from + 1000 + (int64_t)ch_seed_exp(&w->erng, mean);
}

ch_err_t ch_seed_reaction(ch_seed_world_t *w, ch_target_type_t type, uint64_t id, uint32_t owner, uint32_t user,
                          int64_t at, const ch_seed_mood_t *mood, int64_t counts[CH_REACTION_KIND_COUNT])
{
    size_t kind = ch_seed_weighted(&w->erng, mood->w, CH_REACTION_KIND_COUNT);
    uint64_t rid = ch_seed_ids_take(&w->eids, &at);
    if (!rid)
        return CH_EINTERNAL;
    ch_db_param_t row[] = {CH_DB_P_TEXT(ch_target_type_name(type)),
                           CH_DB_P_INT(id),
                           CH_DB_P_INT(w->ids[user]),
                           CH_DB_P_TEXT(ch_reaction_kind_name((ch_reaction_kind_t)kind)),
                           CH_DB_P_INT(rid),
                           CH_DB_P_INT(at)};
    ch_batch_add(&w->sink.reactions, row);
    ch_seed_event(w, rid, at, user, "reaction", type, id, w->ids[owner], ch_reaction_kind_weight((int)kind));
    counts[kind]++;
    w->stats->reactions++;
    return CH_OK;
}
