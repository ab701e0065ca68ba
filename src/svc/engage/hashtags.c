/* Hashtag pages and trending.
 *
 * Aggregates count public content only: a use counts when its item is public, live, and
 * by an account that is not private (a comment's use: the item it is on). Counts are the
 * same for every viewer, so they can be shared and cached, and they never reveal what a
 * viewer may not see (a private account's tag, a followers-only post). Visibility is read
 * when counting, not when the use was written: an account that turns private drops out of
 * every count at once, and comes back if it turns public again.
 *
 * Trending compares each tag with itself, not with other tags: with H the current hour
 * (unix ms / 3,600,000),
 *     uses_last_hour    = public uses (above) created in the last 60 minutes
 *     baseline_per_hour = uses in hours H-169 .. H-2 (hashtag_hours) / 168
 *     score             = (uses_last_hour + 1) / (baseline_per_hour + 1)
 * The +1 on both sides smooths: a tag with no history scores its use + 1 rather than
 * infinity, a steady tag scores about 1 however big it is, and a tag used ten times as
 * often as usual scores about 10. Tags used fewer than CH_TRENDING_MIN_USES times in the
 * last hour are not candidates (one stray use is no trend). Ties: more uses, then by name.
 * The hours H-1 and H are left out of the baseline because the last hour overlaps them.
 * The baseline (hashtag_hours) counts every use: it only scales a score whose candidates
 * are public.
 *
 * Trending reads every use of the last hour, so it is computed at most once per
 * CHORUS_TRENDING_REFRESH_MS per process, by one caller at a time (single flight): the
 * others answer the last result meanwhile, or wait for the first one. */
#include "svc/engage/hashtags.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"

#define CH__HOUR_MS 3600000LL

/* A public item of an account that is not private, live at $NOW: the condition over items i
 * and its author au. */
#define CH__PUBLIC_ITEM(now) \
    " i.visibility = 'public' AND au.is_private = 0 AND i.deleted_at IS NULL AND" \
    " (i.expires_at IS NULL OR i.expires_at > " now ")"

ch_err_t ch_hashtag_parse_path(const char *raw, char out[CH_HASHTAG_MAX_BYTES + 1], ch_fault_t *f)
{
    if (!raw || ch_hashtag_normalize(raw, out) != 0)
        return ch_fault(f, CH_ENOTFOUND, NULL, "no such hashtag: a tag is 1-64 letters, digits or _");
    return CH_OK;
}

ch_err_t ch_hashtag_get(ch_svc_t *svc, const char *raw, json_t **out, ch_fault_t *f)
{
    char tag[CH_HASHTAG_MAX_BYTES + 1];
    ch_err_t err = ch_hashtag_parse_path(raw, tag, f);
    if (err)
        return err;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(tag), CH_DB_P_INT(CH_HASHTAG_COUNT_SCAN_MAX), CH_DB_P_INT(ch_now_ms())};
    /* Public items only (see the top of this file), among the tag's newest rows: bounded. */
    err = ch_sql_run(svc,
                     "SELECT COUNT(*) FROM"
                     " (SELECT target_type, target_id FROM hashtags WHERE tag = $1 ORDER BY target_id DESC LIMIT $2) x"
                     " JOIN items i ON i.id = x.target_id AND i.type = x.target_type"
                     " JOIN users au ON au.id = i.author_id"
                     " WHERE x.target_type IN ('post', 'reel') AND" CH__PUBLIC_ITEM("$3"),
                     p, CH_NPARAMS(p), &rows, NULL);
    if (err == CH_OK)
        *out = json_pack("{s:s, s:I}", "tag", tag, "items_count", (json_int_t)ch_db_rows_int(rows, 0, 0));
    ch_db_rows_free(rows);
    return err;
}

typedef struct {
    const char *tag; /* borrowed from the result rows */
    int64_t uses;
    double baseline, score;
} ch__trend_t;

static int ch__cmp_trend(const void *a, const void *b)
{
    const ch__trend_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->uses != y->uses)
        return x->uses > y->uses ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

/* Computes the trending list ({items: [...]}, caller owns it) from the database. Both
 * branches must walk the last hour's rows by hashtags_created and join outwards: given a
 * constant on target_type SQLite prefers hashtags_target (every post use ever) and would
 * even carry `i.type IN (...)` over to it, so the type test is written `target_type || ''`
 * (no index can serve it) and CROSS JOIN keeps hashtags the outer loop (SQLite; PostgreSQL
 * plans CROSS JOIN with WHERE as an inner join, by cost). */
static ch_err_t ch__trending_compute(ch_svc_t *svc, json_t **out)
{
    int64_t now = ch_now_ms(), hour = now / CH__HOUR_MS;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(now - CH__HOUR_MS), CH_DB_P_INT(CH_TRENDING_MIN_USES),
                         CH_DB_P_INT(hour - 1 - CH_TRENDING_BASELINE_HOURS), CH_DB_P_INT(hour - 2), CH_DB_P_INT(now)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT r.tag, r.n, COALESCE(SUM(hh.uses), 0) FROM"
                              " (SELECT x.tag, COUNT(*) AS n FROM"
                              "  (SELECT h.tag FROM hashtags h CROSS JOIN items i CROSS JOIN users au"
                              "   WHERE h.created_at > $1 AND h.target_type || '' IN ('post', 'reel') AND"
                              "   i.id = h.target_id AND i.type = h.target_type AND au.id = i.author_id AND"
                              CH__PUBLIC_ITEM("$5")
                              "   UNION ALL"
                              "   SELECT h.tag FROM hashtags h CROSS JOIN comments c CROSS JOIN items i CROSS JOIN users au"
                              "   WHERE h.created_at > $1 AND h.target_type || '' = 'comment' AND c.id = h.target_id AND"
                              "   c.deleted_at IS NULL AND i.id = c.target_id AND i.type = c.target_type AND"
                              "   au.id = i.author_id AND" CH__PUBLIC_ITEM("$5") ") x"
                              "  GROUP BY x.tag HAVING COUNT(*) >= $2) r"
                              " LEFT JOIN hashtag_hours hh ON hh.tag = r.tag AND hh.hour >= $3 AND hh.hour <= $4"
                              " GROUP BY r.tag, r.n",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    ch__trend_t *t = ch_malloc(sizeof(*t) * (n + 1));
    if (!t) {
        ch_db_rows_free(rows);
        return CH_EINTERNAL;
    }
    for (size_t r = 0; r < n; r++) {
        t[r].tag = ch_db_rows_text(rows, r, 0);
        t[r].uses = ch_db_rows_int(rows, r, 1);
        t[r].baseline = (double)ch_db_rows_int(rows, r, 2) / CH_TRENDING_BASELINE_HOURS;
        t[r].score = ((double)t[r].uses + 1.0) / (t[r].baseline + 1.0);
    }
    qsort(t, n, sizeof(*t), ch__cmp_trend);
    json_t *items = json_array();
    for (size_t r = 0; r < n && r < CH_TRENDING_MAX; r++)
        json_array_append_new(items, json_pack("{s:s, s:I, s:f, s:f}", "tag", t[r].tag, "uses_last_hour",
                                               (json_int_t)t[r].uses, "baseline_per_hour", t[r].baseline, "score",
                                               t[r].score));
    free(t);
    ch_db_rows_free(rows);
    *out = json_pack("{s:o}", "items", items);
    return CH_OK;
}

/* The last result, shared by every caller of the process (reachable until exit). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t done;
    json_t *result;  /* NULL until the first computation succeeds */
    int64_t at;      /* ch_now_ms() of that computation (a clock stepping back recomputes) */
    int computing;   /* one caller is computing (single flight) */
} ch__trending = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0};

ch_err_t ch_hashtags_trending(ch_svc_t *svc, json_t **out, ch_fault_t *f)
{
    (void)f;
    int64_t refresh = svc->cfg->trending_refresh_ms;
    if (refresh <= 0)
        return ch__trending_compute(svc, out);
    pthread_mutex_lock(&ch__trending.mu);
    for (;;) {
        int64_t now = ch_now_ms();
        int fresh = ch__trending.result && now - ch__trending.at < refresh && now >= ch__trending.at;
        if (fresh || (ch__trending.result && ch__trending.computing)) {
            *out = json_deep_copy(ch__trending.result);
            pthread_mutex_unlock(&ch__trending.mu);
            return *out ? CH_OK : CH_EINTERNAL;
        }
        if (!ch__trending.computing)
            break;
        pthread_cond_wait(&ch__trending.done, &ch__trending.mu); /* the first computation */
    }
    ch__trending.computing = 1;
    pthread_mutex_unlock(&ch__trending.mu);

    json_t *fresh = NULL;
    ch_err_t err = ch__trending_compute(svc, &fresh);

    pthread_mutex_lock(&ch__trending.mu);
    ch__trending.computing = 0;
    if (err == CH_OK) {
        json_decref(ch__trending.result);
        ch__trending.result = fresh;
        ch__trending.at = ch_now_ms();
        *out = json_deep_copy(fresh);
        if (!*out)
            err = CH_EINTERNAL;
    }
    pthread_cond_broadcast(&ch__trending.done);
    pthread_mutex_unlock(&ch__trending.mu);
    return err;
}
