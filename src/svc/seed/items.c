/* Posts, reels and stories of the demo community, in time order (their ids are
 * time-sortable), with the mentions and hashtags of their captions indexed as the write
 * path indexes them. Also keeps each item in w->items for the engagement step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/id.h"
#include "svc/seed/vocab.h"
#include "svc/seed/world.h"

#define CH__TEXT_MAX 400
#define CH__URL_MAX 96

/* A caption from a template: a noun, then a tag or (templates with '@') a popular user's
 * handle, then tags, drawn in this order whatever the template uses. In the hours of the
 * moment half the captions (drawn from the engagement stream) also carry the burst tag. */
static char *ch__caption(ch_seed_world_t *w, int64_t at)
{
    const char *tpl = ch_seed_post_templates.s[ch_seed_pick(&w->rng, ch_seed_post_templates.n)];
    const char *noun = ch_seed_nouns.s[ch_seed_pick(&w->rng, ch_seed_nouns.n)];
    const char *second = strchr(tpl, '@') ? w->handles[ch_seed_popular(&w->rng, w->n)]
                                          : ch_seed_tags.s[ch_seed_pick(&w->rng, ch_seed_tags.n)];
    const char *third = ch_seed_tags.s[ch_seed_pick(&w->rng, ch_seed_tags.n)];
    const char *fourth = ch_seed_tags.s[ch_seed_pick(&w->rng, ch_seed_tags.n)];
    char *text = ch_malloc(CH__TEXT_MAX);
    int n = snprintf(text, CH__TEXT_MAX, tpl, noun, second, third, fourth);
    if (at > w->now - CH_SEED_BURST_MS && ch_seed_unit(&w->erng) < 0.5 && n > 0 && n < CH__TEXT_MAX)
        snprintf(text + n, CH__TEXT_MAX - (size_t)n, " #%s", w->burst_tag);
    return text;
}

/* One post or reel (i-th of total, by time). */
static ch_err_t ch__post_or_reel(ch_seed_world_t *w, ch_batch_t *b, size_t i, size_t total, size_t reels,
                                 int64_t start, int64_t span)
{
    int is_reel = ch_seed_pick(&w->rng, total) < reels;
    size_t author = ch_seed_popular(&w->rng, w->n) / 2;
    author += ch_seed_pick(&w->rng, w->n / 2 + 1);
    author = author < w->n ? author : w->n - 1;
    int64_t at = start + (int64_t)i * (span / (int64_t)total) + 2;
    uint64_t id = ch_id_at(at, 2);
    char *text = ch_batch_own(b, ch__caption(w, at));
    if (!text)
        return CH_EINTERNAL;
    ch_seed_item_t *it = &w->items[w->nitems++];
    *it = (ch_seed_item_t){id, at, (uint32_t)author, is_reel ? CH_TARGET_REEL : CH_TARGET_POST, 0, w->now};
    ch_db_param_t row[15];
    if (is_reel) {
        char *video = ch_batch_own(b, ch_malloc(CH__URL_MAX)), *cover = ch_batch_own(b, ch_malloc(CH__URL_MAX));
        snprintf(video, CH__URL_MAX, "https://media.chorus.example/reels/%llu.mp4", (unsigned long long)id);
        snprintf(cover, CH__URL_MAX, "https://media.chorus.example/reels/%llu.jpg", (unsigned long long)id);
        ch_db_param_t r[] = {CH_DB_P_INT(id),     CH_DB_P_TEXT("reel"),  CH_DB_P_INT(w->ids[author]),
                             CH_DB_P_TEXT(text),  CH_DB_P_NULL,          CH_DB_P_TEXT("public"),
                             CH_DB_P_TEXT(video), CH_DB_P_TEXT(cover),   CH_DB_P_NULL,
                             CH_DB_P_NULL,        CH_DB_P_INT(5000 + ch_seed_pick(&w->rng, 55000)),
                             CH_DB_P_INT(at),     CH_DB_P_NULL,          CH_DB_P_NULL,
                             CH_DB_P_NULL};
        _Static_assert(sizeof(r) == sizeof(row), "one parameter per column");
        memcpy(row, r, sizeof(row));
        w->stats->reels++;
    } else {
        char *media = NULL;
        if (ch_seed_pick(&w->rng, 3) == 0) {
            media = ch_batch_own(b, ch_malloc(160));
            snprintf(media, 160,
                     "[{\"url\":\"https://media.chorus.example/p/%llu.jpg\",\"kind\":\"image\",\"width\":1080,"
                     "\"height\":1350}]",
                     (unsigned long long)id);
        }
        int followers_only = ch_seed_pick(&w->rng, 10) == 0;
        it->restricted = (uint8_t)followers_only;
        ch_db_param_t r[] = {CH_DB_P_INT(id),    CH_DB_P_TEXT("post"),
                             CH_DB_P_INT(w->ids[author]), CH_DB_P_TEXT(text),
                             CH_DB_P_TEXT(media), CH_DB_P_TEXT(followers_only ? "followers" : "public"),
                             CH_DB_P_NULL,       CH_DB_P_NULL,
                             CH_DB_P_NULL,       CH_DB_P_NULL,
                             CH_DB_P_NULL,       CH_DB_P_INT(at),
                             CH_DB_P_NULL,       CH_DB_P_NULL,
                             CH_DB_P_NULL};
        _Static_assert(sizeof(r) == sizeof(row), "one parameter per column");
        memcpy(row, r, sizeof(row));
        w->stats->posts++;
    }
    it->restricted |= w->is_private[author];
    /* The caption's mentions and hashtags, as the write path stores them (svc/content/refs.c). */
    char *mentions = NULL, *hashtags = NULL;
    ch_err_t err = ch_seed_text(w, it->type, id, it->author, it, at, -1, text, &mentions, &hashtags);
    row[13] = CH_DB_P_TEXT(ch_batch_own(b, mentions));
    row[14] = CH_DB_P_TEXT(ch_batch_own(b, hashtags));
    ch_batch_add(b, row);
    return err;
}

/* One story (i-th of n, by time) in the last hours, so that the tray is full right after
 * seeding. */
static void ch__story(ch_seed_world_t *w, ch_batch_t *b, size_t i, size_t n)
{
    int64_t ttl_ms = w->svc->cfg->story_ttl_s * 1000, window = ttl_ms * 5 / 6;
    size_t author = ch_seed_pick(&w->rng, w->n);
    int64_t at = w->now - window + (int64_t)i * (window / (int64_t)(n + 1)) + 3;
    uint64_t id = ch_id_at(at, 3);
    int video = ch_seed_pick(&w->rng, 3) == 0;
    char *url = ch_batch_own(b, ch_malloc(CH__URL_MAX));
    snprintf(url, CH__URL_MAX, "https://media.chorus.example/stories/%llu.%s", (unsigned long long)id,
             video ? "mp4" : "jpg");
    ch_db_param_t row[] = {CH_DB_P_INT(id),       CH_DB_P_TEXT("story"),
                           CH_DB_P_INT(w->ids[author]), CH_DB_P_NULL,
                           CH_DB_P_NULL,          CH_DB_P_TEXT("public"),
                           CH_DB_P_NULL,          CH_DB_P_NULL,
                           CH_DB_P_TEXT(url),     CH_DB_P_TEXT(video ? "video" : "image"),
                           video ? CH_DB_P_INT(15000) : CH_DB_P_NULL, CH_DB_P_INT(at),
                           CH_DB_P_INT(at + ttl_ms), CH_DB_P_NULL,
                           CH_DB_P_NULL};
    ch_batch_add(b, row);
    int64_t until = at + ttl_ms < w->now ? at + ttl_ms : w->now;
    w->items[w->nitems++] = (ch_seed_item_t){id, at, (uint32_t)author, CH_TARGET_STORY, w->is_private[author], until};
    w->stats->stories++;
}

ch_err_t ch_seed_items(ch_seed_world_t *w)
{
    size_t posts = w->n * 10, reels = w->n / 2, total = posts + reels, stories = w->n * 3 / 10 * 2;
    w->items = ch_calloc(total + stories, sizeof(*w->items));
    ch_batch_t b;
    ch_batch_init(&b, w->svc, w->conn,
                  "items(id, type, author_id, text, media, visibility, video_url, cover_url, media_url, kind, "
                  "duration_ms, created_at, expires_at, mentions, hashtags)",
                  15, "");
    /* The last 30 days, up to a few minutes ago. */
    int64_t start = w->now - 30 * CH_SEED_DAY_MS, span = 30 * CH_SEED_DAY_MS - 10 * 60 * 1000;
    ch_err_t err = CH_OK;
    for (size_t i = 0; i < total && err == CH_OK; i++)
        err = ch__post_or_reel(w, &b, i, total, reels, start, span);
    for (size_t i = 0; i < stories && err == CH_OK; i++)
        ch__story(w, &b, i, stories);
    ch_err_t berr = ch_batch_finish(&b);
    return err ? err : berr;
}
