#include "svc/feed/pullset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "svc/common/sql.h"
#include "svc/feed/facts.h"
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

/* Parses ids separated by ',' up to '|' or the end into *ids (calloc'd), *n of them; returns
 * where it stopped. */
static const char *ch__parse_ids(const char *s, uint64_t **ids, size_t *n)
{
    size_t cap = 1;
    for (const char *c = s; *c && *c != '|'; c++)
        cap += *c == ',';
    *ids = ch_calloc(cap, sizeof(uint64_t));
    *n = 0;
    while (*s && *s != '|' && *n < cap) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s)
            break;
        (*ids)[(*n)++] = v;
        s = *end == ',' ? end + 1 : end;
    }
    while (*s && *s != '|')
        s++;
    return s;
}

/* Parses the cached text "<ids>|<joined ids, or * when not listed>|<vgen>|<cgen>"; "" is
 * the empty set with nothing else known. */
static void ch__parse(const char *s, ch_feed_pullset_t *out)
{
    s = ch__parse_ids(s, &out->ids, &out->n);
    if (*s != '|')
        return;
    s++;
    if (*s == '*') {
        while (*s && *s != '|')
            s++;
    } else {
        s = ch__parse_ids(s, &out->joined, &out->n_joined);
        out->joined_known = 1;
    }
    if (*s != '|')
        return;
    char *end;
    out->vgen = strtoull(s + 1, &end, 10);
    if (*end == '|')
        out->cgen = strtoull(end + 1, NULL, 10);
}

/* The followees every follower pulls (followers_count >= join), at most
 * CH_FEED_PULL_AUTHORS_MAX; more: joined_known stays 0. */
static ch_err_t ch__compute_joined(ch_svc_t *svc, uint64_t viewer, int64_t join, ch_feed_pullset_t *out)
{
    if (join == INT64_MAX) { /* no such rule: none */
        out->joined = ch_calloc(1, sizeof(uint64_t));
        out->joined_known = 1;
        return CH_OK;
    }
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(join), CH_DB_P_INT(CH_FEED_PULL_AUTHORS_MAX + 1)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT f.followee_id FROM follows f JOIN users u ON u.id = f.followee_id"
                              " WHERE f.follower_id = $1 AND u.followers_count >= $2"
                              CH_FEED_SQL_NOT_HIDDEN("f.followee_id") " LIMIT $3",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    if (n <= CH_FEED_PULL_AUTHORS_MAX) {
        out->joined = ch_calloc(n ? n : 1, sizeof(uint64_t));
        for (size_t i = 0; i < n; i++)
            out->joined[out->n_joined++] = (uint64_t)ch_db_rows_int(rows, i, 0);
        qsort(out->joined, out->n_joined, sizeof(uint64_t), ch__cmp);
        out->joined_known = 1;
    }
    ch_db_rows_free(rows);
    return CH_OK;
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
    return ch__compute_joined(svc, viewer, ch_feed_pull_join_followers(&policy), out);
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
    /* Read first: a follow change racing with the computation makes the next read compute
     * again (the warm read compares it, svc/feed/inbox.c). */
    /* As the reader reads them (svc/feed/facts.h: cached in cluster mode), so that a generation
     * the kv no longer holds (expired) and its cached copy never disagree for ever. */
    uint64_t vgen = 0, cgen = 0;
    if (ch_feed_gens_get(svc, viewer, &vgen, &cgen) != CH_OK)
        vgen = cgen = 0;
    ch_err_t err = ch__compute(svc, viewer, read_rate, out);
    if (err) {
        ch_feed_pullset_clear(out);
        return err;
    }
    out->vgen = vgen;
    out->cgen = cgen;
    if (!kv)
        return CH_OK;
    ch_buf_t b = CH_BUF_INIT;
    ch_buf_append(&b, "", 0);
    for (size_t i = 0; i < out->n; i++)
        ch_buf_printf(&b, i ? ",%llu" : "%llu", (unsigned long long)out->ids[i]);
    ch_buf_append(&b, "|", 1);
    if (!out->joined_known)
        ch_buf_append(&b, "*", 1);
    for (size_t i = 0; out->joined_known && i < out->n_joined; i++)
        ch_buf_printf(&b, i ? ",%llu" : "%llu", (unsigned long long)out->joined[i]);
    ch_buf_printf(&b, "|%llu|%llu", (unsigned long long)vgen, (unsigned long long)cgen);
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
    free(ps->joined);
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
