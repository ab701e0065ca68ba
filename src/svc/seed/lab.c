/* The feed lab's community (`chorusd seed --profile feedlab`, bench/feedlab): users with
 * latent interests (a small topic vector: CH_SEED_LAB_TOPICS hashtags of the vocabulary
 * with weights, also stored as users.interests), a posting and a reading rate each, posts
 * and reels of the last hours at those rates whose hashtags come from the author's topics,
 * the posting rates in feed_authors (what the fan-out policy reads, svc/feed/policy.h),
 * and a CSV of all of it for the driver. No reactions or comments: the driver's simulated
 * users make the engagement. The graph is lab_graph.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/seed/vocab.h"
#include "svc/seed/world.h"

/* Items are made for the hours before seeding at each author's rate. */
#define CH_SEED_LAB_HISTORY_HOURS 24
/* Rates are log-normal: median per hour and sigma of ln(rate). Celebrities post hourly. */
#define CH_SEED_LAB_POST_MEDIAN 0.05
#define CH_SEED_LAB_READ_MEDIAN 0.5
#define CH_SEED_LAB_RATE_SIGMA 1.0
#define CH_SEED_LAB_CELEB_POST_RATE 1.0
/* Share of captions with one tag outside the author's interests, and of reels. */
#define CH_SEED_LAB_NOISE 0.15
#define CH_SEED_LAB_REEL_SHARE 0.1
/* Followers listed per user in the CSV (a sample for the driver's delivery checks). */
#define CH_SEED_LAB_SAMPLE_FOLLOWERS 8
#define CH__URL_MAX 96

static double ch__lognormal(ch_seed_rng_t *r, double median)
{
    double u1 = 1.0 - ch_seed_unit(r), u2 = ch_seed_unit(r);
    return median * exp(CH_SEED_LAB_RATE_SIGMA * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

/* A topic vector: distinct tags, popular ones more likely, weights of exponential draws
 * normalised and sorted strongest first. */
static void ch__topics(ch_seed_world_t *w, size_t u)
{
    size_t nt = ch_seed_tags.n;
    double wt[CH_SEED_LAB_TOPICS], sum = 0;
    for (int t = 0; t < CH_SEED_LAB_TOPICS; t++) {
        uint8_t tag;
        int dup;
        do {
            tag = (uint8_t)ch_seed_popular(&w->rng, nt);
            dup = 0;
            for (int s = 0; s < t; s++)
                dup |= w->lab.topic[u][s] == tag;
        } while (dup);
        w->lab.topic[u][t] = tag;
        wt[t] = ch_seed_exp(&w->rng, 1.0) + 1e-3;
        sum += wt[t];
    }
    for (int a = 0; a < CH_SEED_LAB_TOPICS; a++) /* tiny insertion sort, descending */
        for (int b = a + 1; b < CH_SEED_LAB_TOPICS; b++)
            if (wt[b] > wt[a]) {
                double x = wt[a];
                wt[a] = wt[b];
                wt[b] = x;
                uint8_t y = w->lab.topic[u][a];
                w->lab.topic[u][a] = w->lab.topic[u][b];
                w->lab.topic[u][b] = y;
            }
    for (int t = 0; t < CH_SEED_LAB_TOPICS; t++)
        w->lab.weight[u][t] = (float)(wt[t] / sum);
}

ch_err_t ch_seed_lab_users(ch_seed_world_t *w)
{
    ch_seed_lab_t *L = &w->lab;
    L->post_rate = ch_calloc(w->n, sizeof(*L->post_rate));
    L->read_rate = ch_calloc(w->n, sizeof(*L->read_rate));
    L->topic = ch_calloc(w->n, sizeof(*L->topic));
    L->weight = ch_calloc(w->n, sizeof(*L->weight));
    char hash[CH_PWHASH_LEN];
    if (!L->post_rate || !L->read_rate || !L->topic || !L->weight ||
        ch_password_hash(CH_SEED_PASSWORD, strlen(CH_SEED_PASSWORD), w->svc->cfg->pwhash_opslimit,
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
        ch__topics(w, i);
        L->post_rate[i] =
            i < w->opts->celebrities ? CH_SEED_LAB_CELEB_POST_RATE : ch__lognormal(&w->rng, CH_SEED_LAB_POST_MEDIAN);
        L->read_rate[i] = ch__lognormal(&w->rng, CH_SEED_LAB_READ_MEDIAN);
        char *display = ch_batch_own(&b, ch_malloc(48)), *interests = ch_batch_own(&b, ch_malloc(96));
        snprintf(display, 48, "%c%s %c.", name[0] - 'a' + 'A', name + 1, (int)('A' + ch_seed_pick(&w->rng, 26)));
        snprintf(interests, 96, "[\"%s\",\"%s\",\"%s\"]", ch_seed_tags.s[L->topic[i][0]],
                 ch_seed_tags.s[L->topic[i][1]], ch_seed_tags.s[L->topic[i][2]]);
        const char *region = ch_seed_regions.s[ch_seed_pick(&w->rng, ch_seed_regions.n)];
        ch_db_param_t row[] = {CH_DB_P_INT(w->ids[i]), CH_DB_P_TEXT(w->handles[i]), CH_DB_P_TEXT(hash),
                               CH_DB_P_TEXT(display),   CH_DB_P_TEXT(""),           CH_DB_P_INT(0),
                               CH_DB_P_TEXT(interests), CH_DB_P_TEXT(region),       CH_DB_P_INT(created),
                               CH_DB_P_INT(created)};
        ch_batch_add(&b, row);
    }
    w->stats->users = w->n;
    return ch_batch_finish(&b);
}

/* A tag of user u's interests drawn by weight. */
static const char *ch__tag_of(ch_seed_world_t *w, size_t u)
{
    double x = ch_seed_unit(&w->rng);
    for (int t = 0; t < CH_SEED_LAB_TOPICS - 1; t++) {
        if (x < w->lab.weight[u][t])
            return ch_seed_tags.s[w->lab.topic[u][t]];
        x -= w->lab.weight[u][t];
    }
    return ch_seed_tags.s[w->lab.topic[u][CH_SEED_LAB_TOPICS - 1]];
}

/* One public post or reel of author at `at`, its caption tagged from the author's topics. */
static ch_err_t ch__item(ch_seed_world_t *w, ch_batch_t *b, size_t author, int64_t at)
{
    uint64_t id = ch_id_at(at, 2);
    int is_reel = ch_seed_unit(&w->rng) < CH_SEED_LAB_REEL_SHARE;
    const char *noun = ch_seed_nouns.s[ch_seed_pick(&w->rng, ch_seed_nouns.n)];
    const char *t1 = ch__tag_of(w, author), *t2 = ch__tag_of(w, author);
    char *text = ch_batch_own(b, ch_malloc(160));
    int len = snprintf(text, 160, "Today's %s. #%s #%s", noun, t1, t2);
    if (ch_seed_unit(&w->rng) < CH_SEED_LAB_NOISE)
        snprintf(text + len, 160 - (size_t)len, " #%s", ch_seed_tags.s[ch_seed_pick(&w->rng, ch_seed_tags.n)]);
    ch_seed_item_t it = {id, at, (uint32_t)author, is_reel ? CH_TARGET_REEL : CH_TARGET_POST, 0, w->now};
    char *mentions = NULL, *hashtags = NULL;
    ch_err_t err = ch_seed_text(w, it.type, id, it.author, &it, at, -1, text, &mentions, &hashtags);
    char *video = NULL, *cover = NULL;
    if (is_reel) {
        video = ch_batch_own(b, ch_malloc(CH__URL_MAX));
        cover = ch_batch_own(b, ch_malloc(CH__URL_MAX));
        snprintf(video, CH__URL_MAX, "https://media.chorus.example/reels/%llu.mp4", (unsigned long long)id);
        snprintf(cover, CH__URL_MAX, "https://media.chorus.example/reels/%llu.jpg", (unsigned long long)id);
        w->stats->reels++;
    } else {
        w->stats->posts++;
    }
    ch_db_param_t row[] = {CH_DB_P_INT(id),
                           CH_DB_P_TEXT(is_reel ? "reel" : "post"),
                           CH_DB_P_INT(w->ids[author]),
                           CH_DB_P_TEXT(text),
                           CH_DB_P_NULL,
                           CH_DB_P_TEXT("public"),
                           CH_DB_P_TEXT(video),
                           CH_DB_P_TEXT(cover),
                           CH_DB_P_NULL,
                           CH_DB_P_NULL,
                           is_reel ? CH_DB_P_INT(5000 + ch_seed_pick(&w->rng, 55000)) : CH_DB_P_NULL,
                           CH_DB_P_INT(at),
                           CH_DB_P_NULL,
                           CH_DB_P_TEXT(ch_batch_own(b, mentions)),
                           CH_DB_P_TEXT(ch_batch_own(b, hashtags))};
    ch_batch_add(b, row);
    return err;
}

/* feed_authors: every author's posting rate as of now (the fan-out worker bumps it). */
static ch_err_t ch__feed_authors(ch_seed_world_t *w)
{
    ch_batch_t b;
    ch_batch_init(&b, w->svc, w->conn, "feed_authors(author_id, post_rate, rate_at)", 3, "");
    for (size_t i = 0; i < w->n; i++) {
        char *rate = ch_batch_own(&b, ch_malloc(32)); /* bound as text, as ch_events_emit binds values */
        snprintf(rate, 32, "%.6f", w->lab.post_rate[i]);
        ch_db_param_t row[] = {CH_DB_P_INT(w->ids[i]), CH_DB_P_TEXT(rate), CH_DB_P_INT(w->now)};
        ch_batch_add(&b, row);
    }
    return ch_batch_finish(&b);
}

ch_err_t ch_seed_lab_items(ch_seed_world_t *w)
{
    /* Each author's count for the history at their rate, then the items spread evenly over
     * the history in a shuffled order of authors: every item its own millisecond. */
    size_t total = 0;
    size_t *count = ch_calloc(w->n, sizeof(*count));
    if (!count)
        return CH_EINTERNAL;
    for (size_t i = 0; i < w->n; i++)
        total += count[i] = ch_seed_round(&w->rng, w->lab.post_rate[i] * CH_SEED_LAB_HISTORY_HOURS);
    uint32_t *order = ch_malloc((total ? total : 1) * sizeof(*order));
    if (!order) {
        free(count);
        return CH_EINTERNAL;
    }
    for (size_t i = 0, k = 0; i < w->n; i++)
        for (size_t c = 0; c < count[i]; c++)
            order[k++] = (uint32_t)i;
    free(count);
    for (size_t k = total; k > 1; k--) {
        size_t j = ch_seed_pick(&w->rng, k);
        uint32_t x = order[k - 1];
        order[k - 1] = order[j];
        order[j] = x;
    }
    ch_batch_t b;
    ch_batch_init(&b, w->svc, w->conn,
                  "items(id, type, author_id, text, media, visibility, video_url, cover_url, media_url, kind, "
                  "duration_ms, created_at, expires_at, mentions, hashtags)",
                  15, "");
    int64_t span = CH_SEED_LAB_HISTORY_HOURS * CH_SEED_HOUR_MS - 60 * 1000, start = w->now - span - 60 * 1000;
    int64_t step = span / (int64_t)(total + 1);
    step = step ? step : 1;
    ch_err_t err = CH_OK;
    for (size_t k = 0; k < total && err == CH_OK; k++)
        err = ch__item(w, &b, order[k], start + (int64_t)k * step);
    free(order);
    ch_err_t berr = ch_batch_finish(&b);
    err = err ? err : berr;
    return err ? err : ch__feed_authors(w);
}

ch_err_t ch_seed_lab_write_rates(ch_seed_world_t *w)
{
    const char *path = w->opts->rates_path;
    if (!path || !*path)
        return CH_OK;
    FILE *f = fopen(path, "w");
    if (!f) {
        ch_log_error("seed: cannot write %s: %s", path, strerror(errno));
        return CH_EINTERNAL;
    }
    fprintf(f, "index,id,handle,post_rate,read_rate,followers,topics,sample_followers\n");
    for (size_t i = 0; i < w->n; i++) {
        fprintf(f, "%zu,%llu,%s,%.6f,%.6f,%u,", i, (unsigned long long)w->ids[i], w->handles[i],
                w->lab.post_rate[i], w->lab.read_rate[i], w->fan_start[i + 1] - w->fan_start[i]);
        for (int t = 0; t < CH_SEED_LAB_TOPICS; t++)
            fprintf(f, "%s%s:%.3f", t ? " " : "", ch_seed_tags.s[w->lab.topic[i][t]], (double)w->lab.weight[i][t]);
        fputc(',', f);
        /* An evenly spaced sample of the followers (indexes). */
        size_t lo = w->fan_start[i], nf = w->fan_start[i + 1] - lo;
        size_t m = nf < CH_SEED_LAB_SAMPLE_FOLLOWERS ? nf : CH_SEED_LAB_SAMPLE_FOLLOWERS;
        for (size_t s = 0; s < m; s++)
            fprintf(f, "%s%u", s ? " " : "", w->fans[lo + s * nf / m]);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        ch_log_error("seed: cannot write %s: %s", path, strerror(errno));
        return CH_EINTERNAL;
    }
    return CH_OK;
}

void ch_seed_lab_free(ch_seed_world_t *w)
{
    free(w->lab.post_rate);
    free(w->lab.read_rate);
    free(w->lab.topic);
    free(w->lab.weight);
}
