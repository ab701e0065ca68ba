/* Batched reads for ranking (rank_signals.h). */
#include "svc/feed/rank_signals.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "svc/common/kv_local.h"
#include "svc/common/sql.h"
#include "svc/content/render.h"
#include "svc/graph/visibility.h"
#include "svc/engage/signals.h"
#include "svc/engage/target.h"

/* Runs `head` + "($k,...)" + `tail` for ids[0..n) in chunks, the IN list's parameters after
 * the fixed ones (fixed[0..nfixed)); calls row(ctx, rows, r) for every row. */
static ch_err_t ch__in_list(ch_svc_t *svc, const char *head, const char *tail, const ch_db_param_t *fixed,
                            size_t nfixed, const uint64_t *ids, size_t n,
                            void (*row)(void *ctx, const ch_db_rows_t *rows, size_t r), void *ctx)
{
    ch_err_t err = CH_OK;
    size_t sqlcap = strlen(head) + strlen(tail) + 16 + CH_FEED_IN_LIST_MAX * 8;
    char *sql = ch_malloc(sqlcap);
    ch_db_param_t *p = ch_malloc(sizeof(*p) * (nfixed + CH_FEED_IN_LIST_MAX));
    for (size_t done = 0; err == CH_OK && done < n;) {
        size_t k = n - done > CH_FEED_IN_LIST_MAX ? CH_FEED_IN_LIST_MAX : n - done;
        size_t len = (size_t)snprintf(sql, sqlcap, "%s(", head);
        memcpy(p, fixed, sizeof(*p) * nfixed);
        for (size_t i = 0; i < k; i++) {
            len += (size_t)snprintf(sql + len, sqlcap - len, "%s$%zu", i ? "," : "", nfixed + i + 1);
            p[nfixed + i] = CH_DB_P_INT(ids[done + i]);
        }
        snprintf(sql + len, sqlcap - len, ")%s", tail);
        ch_db_rows_t *rows = NULL;
        err = ch_sql_run(svc, sql, p, nfixed + k, &rows, NULL);
        for (size_t r = 0; err == CH_OK && r < ch_db_rows_count(rows); r++)
            row(ctx, rows, r);
        ch_db_rows_free(rows);
        done += k;
    }
    free(sql);
    free(p);
    return err;
}

/* Rows (key, score, updated_at) matched back to keys[i] into out[i], decayed. */
typedef struct {
    const uint64_t *keys;
    size_t n;
    double *out;
    int64_t at_ms, half_life_ms;
} ch__decayed_t;

static void ch__decayed_row(void *ctx, const ch_db_rows_t *rows, size_t r)
{
    ch__decayed_t *d = ctx;
    uint64_t key = (uint64_t)ch_db_rows_int(rows, r, 0);
    double v = ch_signals_decay(strtod(ch_db_rows_text(rows, r, 1), NULL), ch_db_rows_int(rows, r, 2), d->at_ms,
                                d->half_life_ms);
    for (size_t i = 0; i < d->n; i++) /* keys may repeat (several items of one author) */
        if (d->keys[i] == key)
            d->out[i] = v;
}

ch_err_t ch_feed_affinity_many(ch_svc_t *svc, uint64_t viewer, const uint64_t *authors, size_t n, int64_t at_ms,
                               double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = 0;
    ch__decayed_t d = {authors, n, out, at_ms, CH_SIGNALS_AFFINITY_HALF_LIFE_MS};
    ch_db_param_t fixed[] = {CH_DB_P_INT(viewer)};
    return ch__in_list(svc, "SELECT author_id, score, updated_at FROM affinity WHERE viewer_id = $1 AND author_id IN ",
                       "", fixed, 1, authors, n, ch__decayed_row, &d);
}

ch_err_t ch_feed_velocity_many(ch_svc_t *svc, uint8_t type, const uint64_t *ids, size_t n, int64_t at_ms,
                               double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = 0;
    ch__decayed_t d = {ids, n, out, at_ms, CH_SIGNALS_VELOCITY_HALF_LIFE_MS};
    ch_db_param_t fixed[] = {CH_DB_P_TEXT(ch_target_type_name((ch_target_type_t)type))};
    ch_err_t err = ch__in_list(svc,
                               "SELECT target_id, score, updated_at FROM velocity WHERE target_type = $1 AND target_id IN ",
                               "", fixed, 1, ids, n, ch__decayed_row, &d);
    for (size_t i = 0; i < n; i++) /* the stored sum as a rate per hour (signals.h) */
        out[i] *= M_LN2 * 3600000.0 / (double)CH_SIGNALS_VELOCITY_HALF_LIFE_MS;
    return err;
}

static void ch__muted_row(void *ctx, const ch_db_rows_t *rows, size_t r)
{
    ch__decayed_t *d = ctx; /* keys, n; out unused: muted flags in d->out as 1.0 */
    uint64_t key = (uint64_t)ch_db_rows_int(rows, r, 0);
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i] == key)
            d->out[i] = 1;
}

ch_err_t ch_feed_muted_many(ch_svc_t *svc, uint64_t viewer, const uint64_t *users, size_t n, int *muted)
{
    double *flags = calloc(n ? n : 1, sizeof(double));
    if (!flags)
        return CH_EINTERNAL;
    ch__decayed_t d = {users, n, flags, 0, 0};
    ch_db_param_t fixed[] = {CH_DB_P_INT(viewer)};
    ch_err_t err = ch__in_list(svc, "SELECT muted_id FROM mutes WHERE muter_id = $1 AND muted_id IN ", "", fixed, 1,
                               users, n, ch__muted_row, &d);
    for (size_t i = 0; i < n; i++)
        muted[i] = flags[i] != 0;
    free(flags);
    return err;
}

ch_err_t ch_feed_type_pref(ch_svc_t *svc, uint64_t viewer, double *post_share, double *reel_share)
{
    char key[64], *val = NULL;
    *post_share = *reel_share = 0.5;
    snprintf(key, sizeof(key), "feed:typepref:%" PRIu64, viewer);
    if (ch_kvl_get(svc, key, &val, NULL) == CH_OK && val) {
        double p, r;
        int ok = sscanf(val, "%lf:%lf", &p, &r) == 2 && p >= 0 && p <= 1 && r >= 0 && r <= 1;
        free(val);
        if (ok) {
            *post_share = p;
            *reel_share = r;
            return CH_OK;
        }
    }
    /* the viewer's newest reactions and comments, by the indexes of migration feed_sources */
    static const char sql[] =
        "SELECT t, COUNT(*) FROM ("
        "SELECT target_type AS t FROM (SELECT target_type FROM reactions WHERE user_id = $1 ORDER BY id DESC LIMIT $2) r"
        " UNION ALL "
        "SELECT target_type AS t FROM (SELECT target_type FROM comments WHERE author_id = $1 ORDER BY id DESC LIMIT $2) c"
        ") u GROUP BY t";
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(CH_FEED_TYPE_PREF_EVENTS)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, sql, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    int64_t posts = 0, reels = 0;
    for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
        const char *t = ch_db_rows_text(rows, r, 0);
        if (strcmp(t, "post") == 0)
            posts = ch_db_rows_int(rows, r, 1);
        else if (strcmp(t, "reel") == 0)
            reels = ch_db_rows_int(rows, r, 1);
    }
    ch_db_rows_free(rows);
    if (posts + reels > 0) {
        *post_share = (double)posts / (double)(posts + reels);
        *reel_share = (double)reels / (double)(posts + reels);
    }
    char buf[64];
    int len = snprintf(buf, sizeof(buf), "%.4f:%.4f", *post_share, *reel_share);
    ch_kvl_set(svc, key, buf, (size_t)len, CH_FEED_TYPE_PREF_TTL_MS); /* best effort: a cache */
    return CH_OK;
}

static void ch__summary_row(void *ctx, const ch_db_rows_t *rows, size_t r)
{
    json_object_set_new((json_t *)ctx, ch_db_rows_text(rows, r, 0), ch_user_summary_render(rows, r, 0, 1));
}

ch_err_t ch_feed_user_summaries(ch_svc_t *svc, uint64_t viewer, const uint64_t *ids, size_t n, json_t **out)
{
    json_t *obj = json_object();
    ch_db_param_t fixed[] = {CH_DB_P_INT(viewer)};
    ch_err_t err = ch__in_list(svc, "SELECT u.id, u.handle, u.display_name, u.avatar_url FROM users u WHERE"
                               CH_GRAPH_SQL_NO_BLOCK("$1", "u.id") " AND u.id IN ",
                               "", fixed, 1, ids, n, ch__summary_row, obj);
    if (err) {
        json_decref(obj);
        return err;
    }
    *out = obj;
    return CH_OK;
}
