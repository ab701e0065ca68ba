/* Popular candidates (candidates.h, ch_feed_popular): the public posts and reels engaging
 * most right now.
 *
 * Shared part: the newest CH_FEED_POPULAR_SCAN_MAX rows of the velocity table updated in
 * the last CH_FEED_POPULAR_WINDOW_MS (index velocity_recent) whose item is a live public
 * post or reel of a public account, their velocity decayed to now (signals.h), the best
 * CH_FEED_POPULAR_TOPK per type kept with the author's region and the item's tags. The
 * same for every viewer, so computed at most once per CHORUS_FEED_POPULAR_REFRESH_MS per
 * process, by one caller at a time (single flight, as trending in engage/hashtags.c): the
 * others use the last snapshot meanwhile, or wait for the first one.
 *
 * Per viewer: the viewer's own items and authors blocked either way or muted go (one
 * statement over the snapshot's authors); then items carrying one of the viewer's profile
 * interests come first, then items by authors of the viewer's region, then the rest, each
 * by velocity. A user without follows gets a page from this alone (cold start). */
#include "svc/feed/sources_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/sql.h"
#include "svc/engage/signals.h"
#include "svc/engage/target.h"

typedef struct {
    ch_item_key_t key;
    uint64_t author;
    double score;
    char region[3];
    char *tags; /* " tag1 tag2 " (folded tags have no spaces); owned */
} ch__pop_t;

/* One computation, immutable once published; freed by its last user. */
typedef struct {
    int refs; /* under ch__popular.mu */
    ch__pop_t *e[2]; /* [0] posts, [1] reels, best first */
    size_t n[2];
} ch__snap_t;

static void ch__snap_free(ch__snap_t *s)
{
    if (!s)
        return;
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < s->n[t]; i++)
            free(s->e[t][i].tags);
        free(s->e[t]);
    }
    free(s);
}

static int ch__cmp_pop(const void *a, const void *b)
{
    const ch__pop_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->key.id > y->key.id ? -1 : x->key.id < y->key.id;
}

/* " a b c " from a JSON array text of tags (NULL or not an array: " "). Caller frees. */
static char *ch__tags_line(const char *json_text)
{
    json_t *arr = json_text ? json_loads(json_text, 0, NULL) : NULL;
    size_t i, len = 2;
    json_t *v;
    json_array_foreach(arr, i, v) len += json_is_string(v) ? strlen(json_string_value(v)) + 1 : 0;
    char *line = ch_malloc(len);
    if (line) {
        size_t at = (size_t)snprintf(line, len, " ");
        json_array_foreach(arr, i, v) if (json_is_string(v)) at += (size_t)snprintf(line + at, len - at, "%s ",
                                                                                       json_string_value(v));
    }
    json_decref(arr);
    return line;
}

/* Computes a snapshot (refs 1) from the database. */
static ch_err_t ch__compute(ch_svc_t *svc, ch__snap_t **out)
{
    int64_t now = ch_now_ms();
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(now - CH_FEED_POPULAR_WINDOW_MS), CH_DB_P_INT(CH_FEED_POPULAR_SCAN_MAX),
                         CH_DB_P_INT(now)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT i.type, i.id, i.author_id, v.score, v.updated_at, au.region, i.hashtags FROM"
                              " (SELECT target_type, target_id, score, updated_at FROM velocity WHERE updated_at > $1"
                              "  ORDER BY updated_at DESC LIMIT $2) v"
                              " JOIN items i ON i.id = v.target_id AND i.type = v.target_type"
                              " JOIN users au ON au.id = i.author_id"
                              " WHERE i.type IN ('post', 'reel') AND i.visibility = 'public' AND au.is_private = 0 AND"
                              " i.deleted_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > $3)",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t nrows = ch_db_rows_count(rows);
    ch__snap_t *s = ch_calloc(1, sizeof(*s));
    if (s) {
        s->refs = 1;
        s->e[0] = ch_calloc(nrows + 1, sizeof(ch__pop_t));
        s->e[1] = ch_calloc(nrows + 1, sizeof(ch__pop_t));
    }
    if (!s || !s->e[0] || !s->e[1]) {
        ch__snap_free(s);
        ch_db_rows_free(rows);
        return CH_EINTERNAL;
    }
    for (size_t r = 0; r < nrows; r++) {
        int reel = strcmp(ch_db_rows_text(rows, r, 0), "reel") == 0;
        ch__pop_t *e = &s->e[reel][s->n[reel]];
        e->key.type = reel ? CH_TARGET_REEL : CH_TARGET_POST;
        e->key.id = (uint64_t)ch_db_rows_int(rows, r, 1);
        e->author = (uint64_t)ch_db_rows_int(rows, r, 2);
        e->score = ch_signals_decay(strtod(ch_db_rows_text(rows, r, 3), NULL), ch_db_rows_int(rows, r, 4), now,
                                    CH_SIGNALS_VELOCITY_HALF_LIFE_MS);
        const char *region = ch_db_rows_isnull(rows, r, 5) ? "" : ch_db_rows_text(rows, r, 5);
        if (strlen(region) == 2)
            memcpy(e->region, region, 3);
        e->tags = ch__tags_line(ch_db_rows_isnull(rows, r, 6) ? NULL : ch_db_rows_text(rows, r, 6));
        if (!e->tags)
            continue; /* out of memory: leave the item out */
        s->n[reel]++;
    }
    ch_db_rows_free(rows);
    for (int t = 0; t < 2; t++) {
        qsort(s->e[t], s->n[t], sizeof(ch__pop_t), ch__cmp_pop);
        for (size_t i = CH_FEED_POPULAR_TOPK; i < s->n[t]; i++) {
            free(s->e[t][i].tags);
            s->e[t][i].tags = NULL;
        }
        if (s->n[t] > CH_FEED_POPULAR_TOPK)
            s->n[t] = CH_FEED_POPULAR_TOPK;
    }
    *out = s;
    return CH_OK;
}

/* The last snapshot, shared by every caller of the process (reachable until exit). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t done;
    ch__snap_t *snap; /* NULL until the first computation succeeds */
    int64_t at;       /* ch_now_ms() of that computation (a clock stepping back recomputes) */
    int computing;    /* one caller is computing (single flight) */
} ch__popular = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0};

static void ch__release(ch__snap_t *s)
{
    pthread_mutex_lock(&ch__popular.mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&ch__popular.mu);
    if (last)
        ch__snap_free(s);
}

/* A reference to a snapshot no older than the refresh period (caller releases). */
static ch_err_t ch__acquire(ch_svc_t *svc, ch__snap_t **out)
{
    int64_t refresh = svc->cfg ? svc->cfg->feed_popular_refresh_ms : 0;
    if (refresh <= 0)
        return ch__compute(svc, out); /* private to this call: refs 1 */
    pthread_mutex_lock(&ch__popular.mu);
    for (;;) {
        int64_t now = ch_now_ms();
        int fresh = ch__popular.snap && now - ch__popular.at < refresh && now >= ch__popular.at;
        if (fresh || (ch__popular.snap && ch__popular.computing)) {
            *out = ch__popular.snap;
            (*out)->refs++;
            pthread_mutex_unlock(&ch__popular.mu);
            return CH_OK;
        }
        if (!ch__popular.computing)
            break;
        pthread_cond_wait(&ch__popular.done, &ch__popular.mu); /* the first computation */
    }
    ch__popular.computing = 1;
    pthread_mutex_unlock(&ch__popular.mu);

    ch__snap_t *fresh = NULL, *old = NULL;
    ch_err_t err = ch__compute(svc, &fresh);

    pthread_mutex_lock(&ch__popular.mu);
    ch__popular.computing = 0;
    if (err == CH_OK) {
        old = ch__popular.snap;
        ch__popular.snap = fresh; /* the cache's reference */
        ch__popular.at = ch_now_ms();
        fresh->refs++;            /* the caller's */
        *out = fresh;
        if (old && --old->refs > 0)
            old = NULL; /* others still read it; the last one frees it */
    }
    pthread_cond_broadcast(&ch__popular.done);
    pthread_mutex_unlock(&ch__popular.mu);
    ch__snap_free(old);
    return err;
}

void ch_feed__popular_reset(void)
{
    pthread_mutex_lock(&ch__popular.mu);
    ch__snap_t *old = ch__popular.snap;
    ch__popular.snap = NULL;
    if (old && --old->refs > 0)
        old = NULL;
    pthread_mutex_unlock(&ch__popular.mu);
    ch__snap_free(old);
}

/* ---- per viewer ---------------------------------------------------------------------------- */

/* The exclusion statement takes the viewer and a list of authors padded to one of these
 * sizes, so that the backends' prepared-statement caches see at most four texts. */
static const size_t ch__buckets[] = {16, 64, 256, CH_FEED_POPULAR_TOPK};

static char *ch__excl_sql(size_t n)
{
    size_t cap = 512 + 3 * n * 8;
    char *list = ch_malloc(n * 8 + 1), *sql = ch_malloc(cap);
    if (!list || !sql) {
        free(list);
        free(sql);
        return NULL;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(list + at, n * 8 + 1 - at, "%s$%zu", i ? "," : "", i + 2);
    snprintf(sql, cap,
             "SELECT blocked_id FROM blocks WHERE blocker_id = $1 AND blocked_id IN (%s)"
             " UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1 AND blocker_id IN (%s)"
             " UNION SELECT muted_id FROM mutes WHERE muter_id = $1 AND muted_id IN (%s)",
             list, list, list);
    free(list);
    return sql;
}

static int ch__cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Fills excl (sorted, caller frees) with the authors of entries the viewer blocks, is
 * blocked by or mutes. */
static ch_err_t ch__exclusions(ch_svc_t *svc, uint64_t viewer, const ch__pop_t *e, size_t n, uint64_t **excl,
                               size_t *n_excl)
{
    *excl = NULL;
    *n_excl = 0;
    uint64_t *authors = ch_calloc(n + 1, sizeof(*authors));
    if (!authors)
        return CH_EINTERNAL;
    size_t na = 0;
    for (size_t i = 0; i < n; i++)
        authors[na++] = e[i].author;
    qsort(authors, na, sizeof(*authors), ch__cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < na; i++)
        if (i == 0 || authors[i] != authors[u - 1])
            authors[u++] = authors[i];
    ch_err_t err = CH_OK;
    for (size_t from = 0; from < u && err == CH_OK;) {
        size_t bucket = ch__buckets[0];
        for (size_t b = 0; b < CH_NPARAMS(ch__buckets) && bucket < u - from; b++)
            bucket = ch__buckets[b];
        size_t take = u - from < bucket ? u - from : bucket;
        char *sql = ch__excl_sql(bucket);
        ch_db_param_t *p = ch_calloc(bucket + 1, sizeof(*p));
        ch_db_rows_t *rows = NULL;
        if (!sql || !p) {
            err = CH_EINTERNAL;
        } else {
            p[0] = CH_DB_P_INT(viewer);
            for (size_t i = 0; i < bucket; i++)
                p[1 + i] = CH_DB_P_INT(i < take ? authors[from + i] : 0);
            err = ch_sql_run(svc, sql, p, bucket + 1, &rows, NULL);
        }
        size_t nr = err == CH_OK ? ch_db_rows_count(rows) : 0;
        uint64_t *grown = nr ? ch_realloc(*excl, (*n_excl + nr) * sizeof(**excl)) : *excl;
        if (nr && !grown)
            err = CH_EINTERNAL;
        for (size_t r = 0; grown && r < nr && err == CH_OK; r++)
            grown[(*n_excl)++] = (uint64_t)ch_db_rows_int(rows, r, 0);
        if (grown)
            *excl = grown;
        ch_db_rows_free(rows);
        free(sql);
        free(p);
        from += take;
    }
    free(authors);
    if (*excl)
        qsort(*excl, *n_excl, sizeof(**excl), ch__cmp_u64);
    return err;
}

/* Whether e carries one of the interests (an array of folded tags). */
static int ch__has_interest(const ch__pop_t *e, json_t *interests)
{
    size_t i;
    json_t *v;
    char needle[CH_FEED_TAG_MAX + 2];
    json_array_foreach(interests, i, v)
    {
        const char *tag = json_string_value(v);
        if (!tag || strlen(tag) >= CH_FEED_TAG_MAX)
            continue;
        snprintf(needle, sizeof(needle), " %s ", tag);
        if (strstr(e->tags, needle))
            return 1;
    }
    return 0;
}

ch_err_t ch_feed_popular(ch_svc_t *svc, uint64_t viewer, uint8_t type, size_t max, ch_feed_cand_t *out,
                         size_t *n_out, ch_fault_t *f)
{
    (void)f;
    *n_out = 0;
    if (max == 0 || (type != CH_TARGET_POST && type != CH_TARGET_REEL))
        return CH_OK;
    json_t *interests = NULL;
    char region[3];
    ch_err_t err = ch_feed__viewer_profile(svc, viewer, &interests, region);
    if (err)
        return err;
    ch__snap_t *s = NULL;
    if ((err = ch__acquire(svc, &s))) {
        json_decref(interests);
        return err;
    }
    int t = type == CH_TARGET_REEL;
    const ch__pop_t *e = s->e[t];
    size_t n = s->n[t], n_excl = 0;
    uint64_t *excl = NULL;
    err = ch__exclusions(svc, viewer, e, n, &excl, &n_excl);
    /* Tier 0: the viewer's interests; 1: the viewer's region; 2: the rest. */
    for (int tier = 0; tier < 3 && err == CH_OK; tier++) {
        for (size_t i = 0; i < n && *n_out < max; i++) {
            int interest = ch__has_interest(&e[i], interests);
            int local = region[0] && strcmp(e[i].region, region) == 0;
            int my_tier = interest ? 0 : local ? 1 : 2;
            if (my_tier != tier || e[i].author == viewer ||
                (n_excl && bsearch(&e[i].author, excl, n_excl, sizeof(*excl), ch__cmp_u64)))
                continue;
            ch_feed_cand_t *c = &out[(*n_out)++];
            memset(c, 0, sizeof(*c));
            c->key = e[i].key;
            c->author_id = e[i].author;
            c->reason = CH_FEED_REASON_POPULAR;
        }
    }
    free(excl);
    json_decref(interests);
    ch__release(s);
    return err;
}
