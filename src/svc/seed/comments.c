/* Seeded comments and replies (one level) on a post or reel, as the comments writer would
 * have written them (svc/engage/comments_write.c): the row with its replies_count, the
 * mentions and hashtags of its text, the event "comment" (to the item's author) or "reply"
 * (to the parent comment's author), and reactions on the comments themselves. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "svc/seed/vocab.h"
#include "svc/seed/world.h"

#define CH__TEXT_MAX 160
#define CH__REPLIES_MAX 8

typedef struct {
    uint64_t id;
    int64_t at;
    uint32_t author;
    char *text;
} ch__planned_t;

/* Someone who may see item it and engages with it: mostly those who reacted (w->pool),
 * else a follower of its author, else (public items only) anyone. */
static uint32_t ch__someone(ch_seed_world_t *w, const ch_seed_item_t *it)
{
    size_t fans = w->fan_start[it->author + 1] - w->fan_start[it->author];
    double u = ch_seed_unit(&w->erng);
    if (w->npool && u < 0.6)
        return w->pool[ch_seed_pick(&w->erng, w->npool)];
    if (fans && (it->restricted || u < 0.9))
        return w->fans[w->fan_start[it->author] + ch_seed_pick(&w->erng, fans)];
    return it->restricted ? it->author : (uint32_t)ch_seed_pick(&w->erng, w->n);
}

static const char *ch__tag(ch_seed_world_t *w, int recent)
{
    if (recent && ch_seed_pick(&w->erng, 10) < 7)
        return w->burst_tag;
    return ch_seed_tags.s[ch_seed_pick(&w->erng, ch_seed_tags.n)];
}

static const char *ch__word(ch_seed_world_t *w, const ch_seed_words_t *words)
{
    return words->s[ch_seed_pick(&w->erng, words->n)];
}

/* A top-level comment's text: sometimes tagging a friend (someone who follows the writer),
 * sometimes with a hashtag (often, and mostly the burst tag, in the hours of the moment),
 * mostly plain. */
static char *ch__top_text(ch_seed_world_t *w, uint32_t writer, int64_t at)
{
    char *text = ch_malloc(CH__TEXT_MAX);
    int recent = at > w->now - CH_SEED_BURST_MS;
    double u = ch_seed_unit(&w->erng);
    size_t fans = w->fan_start[writer + 1] - w->fan_start[writer];
    if (!text)
        return NULL;
    if (u < 0.10) {
        uint32_t friend = fans ? w->fans[w->fan_start[writer] + ch_seed_pick(&w->erng, fans)]
                               : (uint32_t)ch_seed_popular(&w->erng, w->n);
        if (friend != writer) {
            snprintf(text, CH__TEXT_MAX, ch__word(w, &ch_seed_comment_mention), w->handles[friend]);
            return text;
        }
    }
    if (u < (recent ? 0.6 : 0.25)) {
        const char *tpl = ch__word(w, &ch_seed_comment_tagged); /* drawn first, then the tag */
        snprintf(text, CH__TEXT_MAX, tpl, ch__tag(w, recent));
    } else
        snprintf(text, CH__TEXT_MAX, "%s", ch__word(w, &ch_seed_comment_plain));
    return text;
}

/* A reply's text: often naming the author replied to, sometimes with a hashtag. */
static char *ch__reply_text(ch_seed_world_t *w, uint32_t writer, uint32_t parent_author, int64_t at)
{
    char *text = ch_malloc(CH__TEXT_MAX);
    double u = ch_seed_unit(&w->erng);
    if (u < 0.35 && parent_author != writer)
        snprintf(text, CH__TEXT_MAX, ch__word(w, &ch_seed_reply_mention), w->handles[parent_author]);
    else if (u < 0.5) {
        const char *tpl = ch__word(w, &ch_seed_reply_tagged); /* drawn first, then the tag */
        snprintf(text, CH__TEXT_MAX, tpl, ch__tag(w, at > w->now - CH_SEED_BURST_MS));
    } else
        snprintf(text, CH__TEXT_MAX, "%s", ch__word(w, &ch_seed_reply_plain));
    return text;
}

/* Reactions on comment c (by those who reacted to the item, and now and then its author). */
static ch_err_t ch__reactions(ch_seed_world_t *w, const ch_seed_item_t *it, const ch__planned_t *c, double weight)
{
    int64_t counts[CH_REACTION_KIND_COUNT] = {0};
    const ch_seed_mood_t *mood = ch_seed_mood(w);
    ch_err_t err = CH_OK;
    w->mark[c->author] = ++w->gen;
    if (it->author != c->author && ch_seed_unit(&w->erng) < 0.3) {
        int64_t at = ch_seed_later(w, it, c->at, 2 * CH_SEED_HOUR_MS);
        w->mark[it->author] = w->gen;
        if (at < it->until)
            err = ch_seed_reaction(w, CH_TARGET_COMMENT, c->id, c->author, it->author, at, mood, counts);
    }
    double q = ch_seed_exp(&w->erng, 1.0);
    size_t k = w->npool ? ch_seed_round(&w->erng, q * weight * (0.15 + 0.04 * sqrt((double)w->npool))) : 0;
    for (size_t j = 0; j < k && err == CH_OK; j++) {
        uint32_t u = w->pool[ch_seed_pick(&w->erng, w->npool)];
        if (w->mark[u] == w->gen)
            continue; /* one reaction per user and target */
        w->mark[u] = w->gen;
        int64_t at = ch_seed_later(w, it, c->at, 3 * CH_SEED_HOUR_MS);
        if (at < it->until)
            err = ch_seed_reaction(w, CH_TARGET_COMMENT, c->id, c->author, u, at, mood, counts);
    }
    ch_seed_counters(w, CH_TARGET_COMMENT, c->id, counts, 0);
    return err;
}

/* Writes comment c (a reply when parent is given) with its text's refs and its event;
 * takes c->text. */
static ch_err_t ch__write(ch_seed_world_t *w, const ch_seed_item_t *it, const ch__planned_t *c,
                          const ch__planned_t *parent, int64_t replies)
{
    ch_batch_t *b = &w->sink.comments;
    char *text = ch_batch_own(b, c->text), *mentions = NULL, *hashtags = NULL;
    /* A reply's parent author hears of the reply already: mentioned, not told twice. */
    ch_err_t err = ch_seed_text(w, CH_TARGET_COMMENT, c->id, c->author, it, c->at, parent ? (long)parent->author : -1,
                                text, &mentions, &hashtags);
    ch_db_param_t row[] = {CH_DB_P_INT(c->id),
                           CH_DB_P_TEXT(ch_target_type_name((ch_target_type_t)it->type)),
                           CH_DB_P_INT(it->id),
                           parent ? CH_DB_P_INT(parent->id) : CH_DB_P_NULL,
                           CH_DB_P_INT(w->ids[c->author]),
                           CH_DB_P_TEXT(text),
                           CH_DB_P_TEXT(ch_batch_own(b, mentions)),
                           CH_DB_P_TEXT(ch_batch_own(b, hashtags)),
                           CH_DB_P_INT(replies),
                           CH_DB_P_INT(c->at)};
    ch_batch_add(b, row);
    ch_seed_event(w, c->id, c->at, c->author, parent ? "reply" : "comment", (ch_target_type_t)it->type, it->id,
                  w->ids[parent ? parent->author : it->author], 1.0);
    if (parent)
        w->stats->replies++;
    else
        w->stats->comments++;
    return err;
}

/* The replies of top-level comment top: often the item's author first, then anyone around,
 * the commenter answering back. Returns how many happened (by now). */
static size_t ch__plan_replies(ch_seed_world_t *w, const ch_seed_item_t *it, const ch__planned_t *top,
                               ch__planned_t *out)
{
    if (ch_seed_unit(&w->erng) >= 0.4)
        return 0;
    size_t want = 1 + ch_seed_round(&w->erng, ch_seed_exp(&w->erng, 0.8)), n = 0;
    want = want < CH__REPLIES_MAX ? want : CH__REPLIES_MAX;
    for (size_t r = 0; r < want; r++) {
        double u = ch_seed_unit(&w->erng);
        uint32_t who = r == 0 && it->author != top->author && u < 0.6 ? it->author
                       : r > 0 && u < 0.3                             ? top->author
                                                                      : ch__someone(w, it);
        int64_t at = ch_seed_later(w, it, top->at, 2 * CH_SEED_HOUR_MS);
        if (at >= it->until)
            continue;
        uint64_t id = ch_seed_ids_take(&w->eids, &at);
        out[n] = (ch__planned_t){id, at, who, ch__reply_text(w, who, top->author, at)};
        if (!id || !out[n].text) {
            free(out[n].text);
            break;
        }
        n++;
    }
    return n;
}

ch_err_t ch_seed_comments(ch_seed_world_t *w, const ch_seed_item_t *it, double q, int64_t *count)
{
    /* Items of the moment draw three times the talk. */
    double moment = it->at > w->now - CH_SEED_BURST_MS ? 3.0 : 1.0;
    size_t want = ch_seed_round(&w->erng, (0.12 * (double)w->npool + 0.2 * q) * moment);
    ch_err_t err = CH_OK;
    *count = 0;
    for (size_t i = 0; i < want && err == CH_OK; i++) {
        uint32_t who = ch_seed_unit(&w->erng) < 0.05 ? it->author : ch__someone(w, it);
        int64_t at = ch_seed_later(w, it, it->at, 4 * CH_SEED_HOUR_MS);
        if (at >= it->until)
            continue;
        ch__planned_t replies[CH__REPLIES_MAX];
        uint64_t id = ch_seed_ids_take(&w->eids, &at); /* may move at: taken before it is read */
        ch__planned_t top = {id, at, who, ch__top_text(w, who, at)};
        if (!top.id || !top.text) {
            free(top.text);
            return CH_EINTERNAL;
        }
        size_t n = ch__plan_replies(w, it, &top, replies);
        err = ch__write(w, it, &top, NULL, (int64_t)n);
        for (size_t r = 0; r < n; r++)
            err = err ? (free(replies[r].text), err) : ch__write(w, it, &replies[r], &top, 0);
        *count += 1 + (int64_t)n;
        if (err == CH_OK)
            err = ch__reactions(w, it, &top, 1.0);
        for (size_t r = 0; r < n && err == CH_OK; r++)
            err = ch__reactions(w, it, &replies[r], 0.5);
    }
    return err;
}
