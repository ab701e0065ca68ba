#include "svc/seed/seed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/seed/batch.h"

/* ---- deterministic randomness -------------------------------------------------------- */

typedef struct {
    uint64_t state;
} ch__rng_t;

static uint64_t ch__next(ch__rng_t *r) /* splitmix64 */
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double ch__unit(ch__rng_t *r)
{
    return (double)(ch__next(r) >> 11) / 9007199254740992.0;
}

static size_t ch__pick(ch__rng_t *r, size_t n)
{
    return (size_t)(ch__next(r) % n);
}

/* A user index where low indexes are far more likely: follower counts follow a power law
 * (a few accounts with many followers, a long tail with few). */
static size_t ch__popular(ch__rng_t *r, size_t n)
{
    size_t i = (size_t)((double)n * pow(ch__unit(r), 3.0));
    return i < n ? i : n - 1;
}

/* ---- vocabulary ------------------------------------------------------------------------ */

#define CH__N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const ch__names[] = {
    "maya", "liam", "noor", "kenji", "sofia", "omar", "lena", "ravi", "chloe", "mateo", "aiko", "felix",
    "zara", "hugo", "ines", "tariq", "elin", "jonas", "priya", "marco", "yara", "theo", "amara", "luca",
    "hana", "diego", "freya", "kofi", "mila", "arjun", "nina", "oscar", "leila", "ezra", "sana", "jasper"};
static const char *const ch__tags[] = {
    "travel", "food", "music", "photography", "coffee", "running", "books", "design", "cats", "dogs",
    "sunset", "coding", "art", "football", "hiking", "cooking", "film", "gardening", "yoga", "science"};
static const char *const ch__regions[] = {"DE", "FR", "US", "JP", "BR", "IN", "NG", "SE", "ES", "KR", "GB", "MX"};
static const char *const ch__bios[] = {
    "Coffee first, then everything else.", "Chasing light with a camera.", "Runner, reader, occasional cook.",
    "Building things on the internet.", "Plants, cats and long walks.", "Here for the music.", ""};
static const char *const ch__post_templates[] = {
    "Great morning for some %s. #%s", "Can't stop thinking about this %s. #%s #%s",
    "Weekend plans: %s and nothing else. #%s", "Who else is into %s lately? @%s #%s",
    "Tried a new %s spot today, thanks @%s for the tip! #%s", "A small %s moment. #%s"};
static const char *const ch__nouns[] = {"coffee", "trail", "album", "recipe", "sunrise", "novel", "sketch",
                                        "match", "garden", "city", "beach", "project"};

/* ---- generation ------------------------------------------------------------------------ */

typedef struct {
    ch_svc_t *svc;
    ch_db_conn_t *conn;
    ch__rng_t rng;
    size_t n;
    uint64_t *ids;
    char (*handles)[32];
    int64_t now;
    ch_seed_stats_t *stats;
} ch__seed_t;

#define CH__DAY_MS (24LL * 3600 * 1000)

static ch_err_t ch__users(ch__seed_t *s)
{
    char hash[CH_PWHASH_LEN];
    if (ch_password_hash(CH_SEED_PASSWORD, strlen(CH_SEED_PASSWORD), s->svc->cfg->pwhash_opslimit,
                         s->svc->cfg->pwhash_memlimit, hash) != 0)
        return CH_EINTERNAL;
    ch_batch_t b;
    ch_batch_init(&b, s->svc, s->conn,
                  "users(id, handle, password_hash, display_name, bio, is_private, interests, region, created_at, "
                  "updated_at)",
                  10, "");
    int64_t start = s->now - 365 * CH__DAY_MS;
    for (size_t i = 0; i < s->n; i++) {
        const char *name = ch__names[i % CH__N(ch__names)];
        int64_t created = start + (int64_t)i * (300 * CH__DAY_MS / (int64_t)s->n) + 1;
        s->ids[i] = ch_id_at(created, 0);
        snprintf(s->handles[i], sizeof(s->handles[i]), "%s_%zu", name, i + 1);
        char *display = malloc(48), *interests = malloc(96);
        snprintf(display, 48, "%c%s %c.", name[0] - 'a' + 'A', name + 1, (int)('A' + ch__pick(&s->rng, 26)));
        snprintf(interests, 96, "[\"%s\",\"%s\",\"%s\"]", ch__tags[ch__pick(&s->rng, CH__N(ch__tags))],
                 ch__tags[ch__pick(&s->rng, CH__N(ch__tags))], ch__tags[ch__pick(&s->rng, CH__N(ch__tags))]);
        ch_db_param_t row[] = {CH_DB_P_INT(s->ids[i]),
                               CH_DB_P_TEXT(s->handles[i]),
                               CH_DB_P_TEXT(hash),
                               CH_DB_P_TEXT(ch_batch_own(&b, display)),
                               CH_DB_P_TEXT(ch__bios[ch__pick(&s->rng, CH__N(ch__bios))]),
                               CH_DB_P_INT(ch__pick(&s->rng, 20) == 0),
                               CH_DB_P_TEXT(ch_batch_own(&b, interests)),
                               CH_DB_P_TEXT(ch__regions[ch__pick(&s->rng, CH__N(ch__regions))]),
                               CH_DB_P_INT(created),
                               CH_DB_P_INT(created)};
        ch_batch_add(&b, row);
    }
    s->stats->users = s->n;
    return ch_batch_finish(&b);
}

static ch_err_t ch__follows(ch__seed_t *s)
{
    ch_batch_t b;
    ch_batch_init(&b, s->svc, s->conn, "follows(follower_id, followee_id, id, created_at)", 4,
                  " ON CONFLICT DO NOTHING");
    size_t avg = s->n / 4 < 100 ? s->n / 4 : 100;
    size_t total = avg * s->n, k = 0;
    int64_t start = s->now - 60 * CH__DAY_MS, step = 60 * CH__DAY_MS / (int64_t)(total ? total : 1);
    for (size_t i = 0; i < s->n && avg; i++) {
        size_t degree = avg / 4 + ch__pick(&s->rng, avg * 3 / 2 + 1); /* mean ~ avg */
        for (size_t d = 0; d < degree; d++, k++) {
            size_t j = ch__popular(&s->rng, s->n);
            if (j == i)
                continue;
            int64_t at = start + (int64_t)k * (step ? step : 1);
            ch_db_param_t row[] = {CH_DB_P_INT(s->ids[i]), CH_DB_P_INT(s->ids[j]), CH_DB_P_INT(ch_id_at(at, 1)),
                                   CH_DB_P_INT(at)};
            ch_batch_add(&b, row);
        }
    }
    s->stats->follows = k;
    return ch_batch_finish(&b);
}

/* Posts, reels and stories, in time order so that their ids are time-sortable. */
static ch_err_t ch__items(ch__seed_t *s)
{
    ch_batch_t b;
    ch_batch_init(&b, s->svc, s->conn,
                  "items(id, type, author_id, text, media, visibility, video_url, cover_url, media_url, kind, "
                  "duration_ms, created_at, expires_at)",
                  13, "");
    size_t posts = s->n * 10, reels = s->n / 2;
    int64_t start = s->now - 30 * CH__DAY_MS, span = 30 * CH__DAY_MS - CH__DAY_MS;
    for (size_t i = 0; i < posts + reels; i++) {
        int is_reel = ch__pick(&s->rng, posts + reels) < reels;
        size_t author = ch__popular(&s->rng, s->n) / 2 + ch__pick(&s->rng, s->n / 2 + 1);
        author = author < s->n ? author : s->n - 1;
        int64_t at = start + (int64_t)i * (span / (int64_t)(posts + reels)) + 2;
        uint64_t id = ch_id_at(at, 2);
        const char *tpl = ch__post_templates[ch__pick(&s->rng, CH__N(ch__post_templates))];
        char *text = malloc(400);
        snprintf(text, 400, tpl, ch__nouns[ch__pick(&s->rng, CH__N(ch__nouns))],
                 strstr(tpl, "@") ? s->handles[ch__popular(&s->rng, s->n)] : ch__tags[ch__pick(&s->rng, CH__N(ch__tags))],
                 ch__tags[ch__pick(&s->rng, CH__N(ch__tags))], ch__tags[ch__pick(&s->rng, CH__N(ch__tags))]);
        ch_batch_own(&b, text);
        if (is_reel) {
            char *video = ch_batch_own(&b, malloc(96)), *cover = ch_batch_own(&b, malloc(96));
            snprintf(video, 96, "https://media.chorus.example/reels/%llu.mp4", (unsigned long long)id);
            snprintf(cover, 96, "https://media.chorus.example/reels/%llu.jpg", (unsigned long long)id);
            ch_db_param_t row[] = {CH_DB_P_INT(id), CH_DB_P_TEXT("reel"), CH_DB_P_INT(s->ids[author]),
                                   CH_DB_P_TEXT(text), CH_DB_P_NULL, CH_DB_P_TEXT("public"), CH_DB_P_TEXT(video),
                                   CH_DB_P_TEXT(cover), CH_DB_P_NULL, CH_DB_P_NULL,
                                   CH_DB_P_INT(5000 + ch__pick(&s->rng, 55000)), CH_DB_P_INT(at), CH_DB_P_NULL};
            ch_batch_add(&b, row);
            s->stats->reels++;
        } else {
            char *media = NULL;
            if (ch__pick(&s->rng, 3) == 0) {
                media = ch_batch_own(&b, malloc(160));
                snprintf(media, 160,
                         "[{\"url\":\"https://media.chorus.example/p/%llu.jpg\",\"kind\":\"image\",\"width\":1080,"
                         "\"height\":1350}]",
                         (unsigned long long)id);
            }
            ch_db_param_t row[] = {CH_DB_P_INT(id), CH_DB_P_TEXT("post"), CH_DB_P_INT(s->ids[author]),
                                   CH_DB_P_TEXT(text), CH_DB_P_TEXT(media),
                                   CH_DB_P_TEXT(ch__pick(&s->rng, 10) == 0 ? "followers" : "public"),
                                   CH_DB_P_NULL, CH_DB_P_NULL, CH_DB_P_NULL, CH_DB_P_NULL, CH_DB_P_NULL,
                                   CH_DB_P_INT(at), CH_DB_P_NULL};
            ch_batch_add(&b, row);
            s->stats->posts++;
        }
    }
    /* Stories: the last hours, so that the tray is full right after seeding. */
    int64_t ttl_ms = s->svc->cfg->story_ttl_s * 1000, window = ttl_ms * 5 / 6;
    size_t tellers = s->n * 3 / 10;
    for (size_t i = 0; i < tellers * 2; i++) {
        size_t author = ch__pick(&s->rng, s->n);
        int64_t at = s->now - window + (int64_t)i * (window / (int64_t)(tellers * 2 + 1)) + 3;
        uint64_t id = ch_id_at(at, 3);
        int video = ch__pick(&s->rng, 3) == 0;
        char *url = ch_batch_own(&b, malloc(96));
        snprintf(url, 96, "https://media.chorus.example/stories/%llu.%s", (unsigned long long)id, video ? "mp4" : "jpg");
        ch_db_param_t row[] = {CH_DB_P_INT(id), CH_DB_P_TEXT("story"), CH_DB_P_INT(s->ids[author]), CH_DB_P_NULL,
                               CH_DB_P_NULL, CH_DB_P_TEXT("public"), CH_DB_P_NULL, CH_DB_P_NULL, CH_DB_P_TEXT(url),
                               CH_DB_P_TEXT(video ? "video" : "image"),
                               video ? CH_DB_P_INT(15000) : CH_DB_P_NULL, CH_DB_P_INT(at), CH_DB_P_INT(at + ttl_ms)};
        ch_batch_add(&b, row);
        s->stats->stories++;
    }
    return ch_batch_finish(&b);
}

/* Counters from the rows just written, for the seeded users only. */
static ch_err_t ch__counts(ch__seed_t *s)
{
    ch_db_param_t p[] = {CH_DB_P_INT(s->ids[0]), CH_DB_P_INT(s->ids[s->n - 1])};
    return ch_sql_on(s->svc, s->conn,
                     "UPDATE users SET "
                     "followers_count = (SELECT COUNT(*) FROM follows WHERE followee_id = users.id), "
                     "following_count = (SELECT COUNT(*) FROM follows WHERE follower_id = users.id), "
                     "posts_count = (SELECT COUNT(*) FROM items WHERE author_id = users.id AND type = 'post' "
                     "AND deleted_at IS NULL) "
                     "WHERE id BETWEEN $1 AND $2",
                     p, 2, NULL, NULL);
}

ch_err_t ch_seed_run(ch_svc_t *svc, const ch_seed_opts_t *opts, ch_seed_stats_t *stats)
{
    uint64_t t0 = ch_mono_ns();
    memset(stats, 0, sizeof(*stats));
    ch__seed_t s = {.svc = svc, .rng = {opts->seed}, .n = opts->users, .now = ch_now_ms(), .stats = stats};
    if (s.n < 2)
        return CH_EINVAL;
    s.ids = calloc(s.n, sizeof(*s.ids));
    s.handles = calloc(s.n, sizeof(*s.handles));
    ch_err_t err = ch_sql_begin(svc, 1, &s.conn);
    /* One large transaction: give SQLite a page cache that holds the indexes being built
     * (256 MiB) instead of spilling pages to the WAL again and again. */
    if (err == CH_OK && strcmp(ch_db_kind(svc->db), "sqlite") == 0)
        err = ch_sql_on(svc, s.conn, "PRAGMA cache_size = -262144", NULL, 0, NULL, NULL);
    if (err == CH_OK) {
        ch_err_t (*const steps[])(ch__seed_t *) = {ch__users, ch__follows, ch__items, ch__counts};
        const char *const names[] = {"users", "follows", "items", "counts"};
        for (size_t i = 0; i < 4 && err == CH_OK; i++) {
            uint64_t t = ch_mono_ns();
            err = steps[i](&s);
            ch_log_info("seed: %s in %.2f s", names[i], (double)(ch_mono_ns() - t) / 1e9);
        }
        err = ch_sql_end(svc, s.conn, err);
    }
    free(s.ids);
    free(s.handles);
    stats->seconds = (double)(ch_mono_ns() - t0) / 1e9;
    return err;
}
