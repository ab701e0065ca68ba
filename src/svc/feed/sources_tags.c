/* Hashtag candidates (candidates.h, ch_feed_hashtag_items): items carrying trending tags
 * (reason trending_hashtag) and the viewer's interest tags (reason interest).
 *
 * Tags, in order: up to CH_FEED_TRENDING_TAGS_MAX trending tags (svc/engage/hashtags.h,
 * shared per process), then up to CH_FEED_INTEREST_TAGS_MAX interest tags: the profile's
 * interests first, then up to CH_FEED_ENGAGED_TAGS_MAX tags most frequent on the items the
 * viewer engaged with recently (its newest CH_FEED_ENGAGED_TAGS_SCAN_MAX reactions and
 * comments). A tag appears once, under its first reason.
 *
 * One statement reads, for every tag, its newest CH_FEED_TAG_SCAN_MAX rows of the hashtags
 * index (tag, target_id) and keeps the live public posts and reels the viewer may be shown
 * (CH_FEED__SQL_OUT_ITEM). Items are then taken round-robin over the tags, newest first
 * within a tag, so every tag contributes until max is reached; an item under several tags
 * counts once, under its first tag. */
#include "svc/feed/sources_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "svc/common/sql.h"
#include "svc/engage/hashtags.h"

#define CH__TAGS_MAX (CH_FEED_TRENDING_TAGS_MAX + CH_FEED_INTEREST_TAGS_MAX)

typedef struct {
    char tag[CH_FEED_TAG_MAX];
    ch_feed_reason_t reason;
    size_t next; /* round-robin: the next row of this tag to look at */
} ch__tag_t;

typedef struct {
    ch__tag_t t[CH__TAGS_MAX];
    size_t n;
} ch__tags_t;

/* Adds tag under reason unless it is there already, empty, too long or the list is full
 * (limit: the most tags this reason may bring in all). */
static void ch__tag_add(ch__tags_t *tags, const char *tag, ch_feed_reason_t reason, size_t limit)
{
    if (!tag || !*tag || strlen(tag) >= CH_FEED_TAG_MAX || tags->n >= CH__TAGS_MAX)
        return;
    size_t same_reason = 0;
    for (size_t i = 0; i < tags->n; i++) {
        if (strcmp(tags->t[i].tag, tag) == 0)
            return;
        same_reason += tags->t[i].reason == reason;
    }
    if (same_reason >= limit)
        return;
    snprintf(tags->t[tags->n].tag, CH_FEED_TAG_MAX, "%s", tag);
    tags->t[tags->n].reason = reason;
    tags->t[tags->n].next = 0;
    tags->n++;
}

typedef struct {
    const char *tag; /* borrowed from the JSON arrays */
    size_t uses;
} ch__tag_count_t;

static int ch__cmp_count(const void *a, const void *b)
{
    const ch__tag_count_t *x = a, *y = b;
    if (x->uses != y->uses)
        return x->uses > y->uses ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

/* The tags most frequent on the items the viewer engaged with in the last
 * CH_FEED_ENGAGED_WINDOW_MS, added as interest tags. */
static ch_err_t ch__engaged_tags(ch_svc_t *svc, uint64_t viewer, ch__tags_t *tags)
{
    int64_t now = ch_now_ms();
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(ch_id_floor(now - CH_FEED_ENGAGED_WINDOW_MS)),
                         CH_DB_P_INT(CH_FEED_ENGAGED_TAGS_SCAN_MAX)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT i.hashtags FROM"
                              " (SELECT target_type, target_id, id FROM"
                              "  (SELECT target_type, target_id, id FROM reactions WHERE user_id = $1 AND id >= $2"
                              "   UNION ALL"
                              "   SELECT target_type, target_id, id FROM comments WHERE author_id = $1 AND id >= $2"
                              "   AND deleted_at IS NULL) u"
                              "  ORDER BY id DESC LIMIT $3) e"
                              " JOIN items i ON i.id = e.target_id AND i.type = e.target_type"
                              " WHERE i.type IN ('post', 'reel') AND i.hashtags IS NOT NULL",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t nrows = ch_db_rows_count(rows), n = 0, cap = 0;
    json_t **arrays = ch_calloc(nrows + 1, sizeof(*arrays));
    ch__tag_count_t *counts = NULL;
    for (size_t r = 0; arrays && r < nrows; r++) {
        arrays[r] = json_loads(ch_db_rows_text(rows, r, 0), 0, NULL);
        size_t i;
        json_t *v;
        json_array_foreach(arrays[r], i, v)
        {
            const char *tag = json_string_value(v);
            if (!tag)
                continue;
            size_t k = 0;
            while (k < n && strcmp(counts[k].tag, tag) != 0)
                k++;
            if (k == n) {
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    ch__tag_count_t *grown = ch_realloc(counts, ncap * sizeof(*counts));
                    if (!grown)
                        continue;
                    counts = grown;
                    cap = ncap;
                }
                counts[n++] = (ch__tag_count_t){tag, 0};
            }
            counts[k].uses++;
        }
    }
    if (n)
        qsort(counts, n, sizeof(*counts), ch__cmp_count);
    for (size_t k = 0; k < n && k < CH_FEED_ENGAGED_TAGS_MAX; k++)
        ch__tag_add(tags, counts[k].tag, CH_FEED_REASON_INTEREST, CH_FEED_INTEREST_TAGS_MAX);
    for (size_t r = 0; arrays && r < nrows; r++)
        json_decref(arrays[r]);
    free(arrays);
    free(counts);
    ch_db_rows_free(rows);
    return arrays ? CH_OK : CH_EINTERNAL;
}

/* The tags of this ranking, in order (see the top of the file). */
static ch_err_t ch__collect_tags(ch_svc_t *svc, uint64_t viewer, ch__tags_t *tags, ch_fault_t *f)
{
    json_t *trending = NULL, *interests = NULL, *v;
    size_t i;
    ch_err_t err = ch_hashtags_trending(svc, &trending, f);
    if (err)
        return err;
    json_array_foreach(json_object_get(trending, "items"), i, v)
        ch__tag_add(tags, json_string_value(json_object_get(v, "tag")), CH_FEED_REASON_TRENDING_HASHTAG,
                    CH_FEED_TRENDING_TAGS_MAX);
    json_decref(trending);
    char region[3];
    if ((err = ch_feed__viewer_profile(svc, viewer, &interests, region)))
        return err;
    json_array_foreach(interests, i, v)
        ch__tag_add(tags, json_string_value(v), CH_FEED_REASON_INTEREST, CH_FEED_INTEREST_TAGS_MAX);
    json_decref(interests);
    return ch__engaged_tags(svc, viewer, tags);
}

/* Statement text: per tag k (parameter $(4+k)), its newest rows, then the visibility rule.
 * $1 viewer, $2 now, $3 rows per tag. Columns: tag index, type, id, author. Always built for
 * CH__TAGS_MAX tags (unused ones are NULL and match nothing), so that the backends'
 * prepared-statement caches see one text. */
static char *ch__tag_sql(size_t ntags)
{
    static const char head[] = "SELECT x.k, i.type, i.id, i.author_id FROM (";
    static const char tail[] = ") x JOIN items i ON i.id = x.target_id AND i.type = x.target_type"
                               " JOIN users au ON au.id = i.author_id"
                               " WHERE" CH_FEED__SQL_OUT_ITEM("$1", "$2") " ORDER BY x.k, i.id DESC";
    size_t cap = sizeof(head) + sizeof(tail) + ntags * 200;
    char *sql = ch_malloc(cap);
    if (!sql)
        return NULL;
    size_t len = (size_t)snprintf(sql, cap, "%s", head);
    for (size_t k = 0; k < ntags; k++)
        len += (size_t)snprintf(sql + len, cap - len,
                                "%sSELECT %zu AS k, target_type, target_id FROM (SELECT target_type, target_id"
                                " FROM hashtags WHERE tag = $%zu ORDER BY target_id DESC LIMIT $3) t%zu",
                                k ? " UNION ALL " : "", k, k + 4, k);
    snprintf(sql + len, cap - len, "%s", tail);
    return sql;
}

ch_err_t ch_feed_hashtag_items(ch_svc_t *svc, uint64_t viewer, size_t max, ch_feed_cand_t *out, size_t *n_out,
                               ch_fault_t *f)
{
    *n_out = 0;
    if (max == 0)
        return CH_OK;
    ch__tags_t tags = {0};
    ch_err_t err = ch__collect_tags(svc, viewer, &tags, f);
    if (err || tags.n == 0)
        return err;
    char *sql = ch__tag_sql(CH__TAGS_MAX);
    if (!sql)
        return CH_EINTERNAL;
    ch_db_param_t p[3 + CH__TAGS_MAX];
    p[0] = CH_DB_P_INT(viewer);
    p[1] = CH_DB_P_INT(ch_now_ms());
    p[2] = CH_DB_P_INT(CH_FEED_TAG_SCAN_MAX);
    for (size_t k = 0; k < CH__TAGS_MAX; k++)
        p[3 + k] = k < tags.n ? CH_DB_P_TEXT(tags.t[k].tag) : CH_DB_P_NULL;
    ch_db_rows_t *rows = NULL;
    err = ch_sql_run(svc, sql, p, CH_NPARAMS(p), &rows, NULL);
    free(sql);
    if (err)
        return err;
    /* Rows are grouped by tag index, newest first: where each tag's rows start. */
    size_t nrows = ch_db_rows_count(rows), start[CH__TAGS_MAX + 1] = {0};
    for (size_t r = 0; r < nrows; r++) {
        int64_t k = ch_db_rows_int(rows, r, 0);
        if (k >= 0 && k < (int64_t)tags.n)
            start[k + 1]++;
    }
    for (size_t k = 0; k < tags.n; k++)
        start[k + 1] += start[k];
    for (int progress = 1; progress && *n_out < max;) {
        progress = 0;
        for (size_t k = 0; k < tags.n && *n_out < max; k++) {
            ch__tag_t *t = &tags.t[k];
            while (start[k] + t->next < start[k + 1]) {
                size_t r = start[k] + t->next++;
                ch_feed_cand_t c;
                ch_feed__cand(&c, ch_db_rows_text(rows, r, 1), (uint64_t)ch_db_rows_int(rows, r, 2),
                              (uint64_t)ch_db_rows_int(rows, r, 3), t->reason);
                if (ch_feed__has(out, *n_out, c.key))
                    continue;
                snprintf(c.tag, sizeof(c.tag), "%s", t->tag);
                out[(*n_out)++] = c;
                progress = 1;
                break;
            }
        }
    }
    ch_db_rows_free(rows);
    return CH_OK;
}
