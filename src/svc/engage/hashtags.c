/* Hashtag pages and trending.
 *
 * Trending compares each tag with itself, not with other tags: with H the current hour
 * (unix ms / 3,600,000),
 *     uses_last_hour    = live uses (hashtags rows) created in the last 60 minutes
 *     baseline_per_hour = uses in hours H-169 .. H-2 (hashtag_hours) / 168
 *     score             = (uses_last_hour + 1) / (baseline_per_hour + 1)
 * The +1 on both sides smooths: a tag with no history scores its use + 1 rather than
 * infinity, a steady tag scores about 1 however big it is, and a tag used ten times as
 * often as usual scores about 10. Tags used fewer than CH_TRENDING_MIN_USES times in the
 * last hour are not candidates (one stray use is no trend). Ties: more uses, then by name.
 * The hours H-1 and H are left out of the baseline because the last hour overlaps them. */
#include "svc/engage/hashtags.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define CH__HOUR_MS 3600000LL

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
    ch_db_param_t p[] = {CH_DB_P_TEXT(tag)};
    /* Rows of deleted items are removed with them (refs.h), so this counts live items. */
    err = ch_sql_run(svc, "SELECT COUNT(*) FROM hashtags WHERE tag = $1 AND target_type IN ('post', 'reel')", p, 1,
                     &rows, NULL);
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

ch_err_t ch_hashtags_trending(ch_svc_t *svc, json_t **out, ch_fault_t *f)
{
    (void)f;
    int64_t now = ch_now_ms(), hour = now / CH__HOUR_MS;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(now - CH__HOUR_MS), CH_DB_P_INT(CH_TRENDING_MIN_USES),
                         CH_DB_P_INT(hour - 1 - CH_TRENDING_BASELINE_HOURS), CH_DB_P_INT(hour - 2)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT r.tag, r.n, COALESCE(SUM(hh.uses), 0) FROM"
                              " (SELECT tag, COUNT(*) AS n FROM hashtags WHERE created_at > $1 GROUP BY tag"
                              " HAVING COUNT(*) >= $2) r"
                              " LEFT JOIN hashtag_hours hh ON hh.tag = r.tag AND hh.hour >= $3 AND hh.hour <= $4"
                              " GROUP BY r.tag, r.n",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    ch__trend_t *t = malloc(sizeof(*t) * (n + 1));
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
