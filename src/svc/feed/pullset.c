#include "svc/feed/pullset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "svc/common/sql.h"
#include "svc/feed/fanout.h"
#include "svc/feed/visible.h"

/* The in-process kv of this replica. */
static ch_kv_t *ch__kv(ch_svc_t *svc)
{
    ch_kv_t *local = svc->kv ? ch_kv_local(svc->kv) : NULL;
    return local ? local : svc->kv;
}

static void ch__key(char *key, size_t len, uint64_t viewer)
{
    snprintf(key, len, "feed:pull:%llu", (unsigned long long)viewer);
}

static int ch__cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Parses the cached text: ids separated by ','; "" is the empty set. */
static void ch__parse(const char *s, ch_feed_pullset_t *out)
{
    size_t cap = 1;
    for (const char *c = s; *c; c++)
        cap += *c == ',';
    out->ids = ch_calloc(cap, sizeof(uint64_t));
    out->n = 0;
    while (*s && out->n < cap) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s)
            break;
        out->ids[out->n++] = v;
        s = *end == ',' ? end + 1 : end;
    }
}

/* Reads viewer's non-celebrity follows (not muted, no block either way), the most recently
 * posting first, and keeps the authors the policy makes viewer pull, at most
 * CHORUS_FEED_PULL_AUTHORS. */
static ch_err_t ch__compute(ch_svc_t *svc, uint64_t viewer, double read_rate, ch_feed_pullset_t *out)
{
    ch_feed_policy_t policy = ch_feed_policy_config(svc->cfg);
    size_t cap = svc->cfg->feed_pull_authors > 0 && svc->cfg->feed_pull_authors < CH_FEED_PULL_AUTHORS_MAX
                     ? (size_t)svc->cfg->feed_pull_authors
                     : CH_FEED_PULL_AUTHORS_MAX;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(CH_FEED_FOLLOWEES_MAX),
                         CH_DB_P_INT(ch_feed_pull_join_followers(&policy))};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT f.followee_id, u.followers_count, fa.post_rate FROM follows f"
                              " JOIN users u ON u.id = f.followee_id"
                              " LEFT JOIN feed_authors fa ON fa.author_id = f.followee_id"
                              " WHERE f.follower_id = $1 AND u.followers_count < $3"
                              CH_FEED_SQL_NOT_HIDDEN("f.followee_id")
                              " ORDER BY COALESCE(fa.rate_at, 0) DESC, f.id DESC LIMIT $2",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    out->ids = ch_calloc(n ? n : 1, sizeof(uint64_t));
    out->n = 0;
    for (size_t i = 0; i < n && out->n < cap; i++) {
        /* The author's rate as of their latest item, as the writer used it (policy.h). */
        double post_rate = ch_db_rows_isnull(rows, i, 2) ? 0 : strtod(ch_db_rows_text(rows, i, 2), NULL);
        if (ch_feed_policy_pull(&policy, ch_db_rows_int(rows, i, 1), post_rate, read_rate))
            out->ids[out->n++] = (uint64_t)ch_db_rows_int(rows, i, 0);
    }
    ch_db_rows_free(rows);
    qsort(out->ids, out->n, sizeof(uint64_t), ch__cmp);
    return CH_OK;
}

int64_t ch_feed_pull_join_followers(const ch_feed_policy_t *p)
{
    if (p->mode == CH_FEED_MODE_PULL_ALL)
        return 0;
    if (p->mode == CH_FEED_MODE_PUSH_ALL || p->celebrity_followers <= 0)
        return INT64_MAX;
    return p->celebrity_followers;
}

int ch_feed_pullset_cached(ch_svc_t *svc, uint64_t viewer, ch_feed_pullset_t *out)
{
    char key[48], *val = NULL;
    ch_kv_t *kv = ch__kv(svc);
    *out = (ch_feed_pullset_t){0};
    ch__key(key, sizeof(key), viewer);
    if (!kv || ch_kv_get(kv, key, &val, NULL) != CH_OK || !val)
        return 0;
    ch__parse(val, out);
    free(val);
    return 1;
}

ch_err_t ch_feed_pullset_compute(ch_svc_t *svc, uint64_t viewer, double read_rate, ch_feed_pullset_t *out)
{
    char key[48];
    ch_kv_t *kv = ch__kv(svc);
    *out = (ch_feed_pullset_t){0};
    ch_err_t err = ch__compute(svc, viewer, read_rate, out);
    if (err || !kv)
        return err;
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "", 0);
    for (size_t i = 0; i < out->n; i++)
        ch_buf_printf(&b, i ? ",%llu" : "%llu", (unsigned long long)out->ids[i]);
    ch__key(key, sizeof(key), viewer);
    ch_kv_set(kv, key, b.data ? b.data : "", b.len, CH_FEED_PULL_CACHE_TTL_MS); /* a cache: failure is fine */
    ch_buf_clear(&b);
    return CH_OK;
}

int ch_feed_pullset_has(const ch_feed_pullset_t *ps, uint64_t author)
{
    return ps->n && bsearch(&author, ps->ids, ps->n, sizeof(uint64_t), ch__cmp) != NULL;
}

void ch_feed_pullset_clear(ch_feed_pullset_t *ps)
{
    free(ps->ids);
    *ps = (ch_feed_pullset_t){0};
}

void ch_feed_pullset_forget(ch_svc_t *svc, uint64_t viewer)
{
    char key[48];
    ch_kv_t *kv = ch__kv(svc);
    ch__key(key, sizeof(key), viewer);
    if (kv)
        ch_kv_del(kv, key);
}
