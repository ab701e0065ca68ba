/* The fan-out consumer (svc/feed/fanout.h says what each outbox topic does). */
#include "svc/feed/fanout.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "store/timeline.h"
#include "svc/common/sql.h"
#include "svc/engage/target.h"
#include "svc/feed/facts.h"
#include "svc/feed/nettop.h"
#include "svc/feed/pullset.h"

ch_feed_policy_t ch_feed_policy_config(const ch_config_t *cfg)
{
    ch_feed_policy_t p = ch_feed_policy_default();
    p.celebrity_followers = cfg->feed_celebrity_followers;
    p.push_cost = cfg->feed_push_cost;
    p.pull_cost = cfg->feed_pull_cost;
    p.mode = cfg->feed_mode == CH_CONFIG_FEED_MODE_PUSH   ? CH_FEED_MODE_PUSH_ALL
             : cfg->feed_mode == CH_CONFIG_FEED_MODE_PULL ? CH_FEED_MODE_PULL_ALL
                                                          : CH_FEED_MODE_HYBRID;
    return p;
}

/* ---- authors ------------------------------------------------------------------------------ */

/* What the policy needs to know about an author. */
typedef struct {
    int64_t followers;
    double post_rate; /* items per hour as of rate_at */
    int64_t rate_at;  /* 0: no posting history */
} ch__author_t;

static ch_err_t ch__author_load(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t author, ch__author_t *out)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(author)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT u.followers_count, fa.post_rate, fa.rate_at FROM users u"
                             " LEFT JOIN feed_authors fa ON fa.author_id = u.id WHERE u.id = $1",
                             p, 1, &rows, NULL);
    *out = (ch__author_t){0};
    if (err == CH_OK && ch_db_rows_count(rows)) {
        out->followers = ch_db_rows_int(rows, 0, 0);
        if (!ch_db_rows_isnull(rows, 0, 1)) {
            out->post_rate = strtod(ch_db_rows_text(rows, 0, 1), NULL);
            out->rate_at = ch_db_rows_int(rows, 0, 2);
        }
    }
    ch_db_rows_free(rows);
    return err;
}

/* Counts the item created at item_ms in the author's posting rate, once: the rate is kept
 * as of the latest item's time, so an item applied again (idempotent consumer) or older
 * than the latest counted changes nothing. a is updated to the rate the policy uses. */
static ch_err_t ch__author_bump(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t author, int64_t item_ms,
                                ch__author_t *a)
{
    if (a->rate_at >= item_ms)
        return CH_OK;
    double rate = ch_feed_rate_bump(a->post_rate, a->rate_at, item_ms, CH_FEED_POST_RATE_HALF_LIFE_MS);
    char text[40];
    snprintf(text, sizeof(text), "%.17g", rate);
    ch_db_param_t p[] = {CH_DB_P_INT(author), CH_DB_P_TEXT(text), CH_DB_P_INT(item_ms)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "INSERT INTO feed_authors(author_id, post_rate, rate_at)"
                             " VALUES($1, CAST($2 AS DOUBLE PRECISION), $3) ON CONFLICT (author_id) DO UPDATE"
                             " SET post_rate = excluded.post_rate, rate_at = excluded.rate_at"
                             " WHERE feed_authors.rate_at < excluded.rate_at",
                             p, CH_NPARAMS(p), NULL, NULL);
    if (err == CH_OK) {
        a->post_rate = rate;
        a->rate_at = item_ms;
    }
    return err;
}

/* ---- followers ---------------------------------------------------------------------------- */

/* Called with each batch of the author's followers (at most CH_TIMELINE_BATCH_MAX). */
typedef ch_err_t (*ch__batch_fn)(ch_svc_t *svc, const uint64_t *users, size_t n, void *arg);

/* Walks author's followers in keyset batches (follows_followee), without those who mute the
 * author, and calls fn for each batch. */
static ch_err_t ch__walk_followers(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t author, ch__batch_fn fn, void *arg)
{
    uint64_t users[CH_TIMELINE_BATCH_MAX];
    int64_t after = 0;
    for (;;) {
        ch_db_rows_t *rows = NULL;
        ch_db_param_t p[] = {CH_DB_P_INT(author), CH_DB_P_INT(after), CH_DB_P_INT(CH_TIMELINE_BATCH_MAX)};
        ch_err_t err = ch_sql_on(svc, conn,
                                 "SELECT f.id, f.follower_id FROM follows f WHERE f.followee_id = $1 AND f.id > $2"
                                 " AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.muter_id = f.follower_id"
                                 " AND m.muted_id = $1) ORDER BY f.id LIMIT $3",
                                 p, CH_NPARAMS(p), &rows, NULL);
        size_t n = err == CH_OK ? ch_db_rows_count(rows) : 0;
        for (size_t i = 0; i < n; i++)
            users[i] = (uint64_t)ch_db_rows_int(rows, i, 1);
        if (n)
            after = ch_db_rows_int(rows, n - 1, 0);
        ch_db_rows_free(rows);
        if (err == CH_OK && n)
            err = fn(svc, users, n, arg);
        if (err || n < CH_TIMELINE_BATCH_MAX)
            return err;
    }
}

/* ---- items -------------------------------------------------------------------------------- */

typedef struct {
    ch_feed_policy_t policy;
    ch__author_t author;
    ch_timeline_entry_t entry;
} ch__push_t;

/* One batch of followers: push to those whose timeline exists and the policy says push. */
static ch_err_t ch__push_batch(ch_svc_t *svc, const uint64_t *users, size_t n, void *arg)
{
    ch__push_t *job = arg;
    ch_timeline_meta_t metas[CH_TIMELINE_BATCH_MAX];
    uint64_t to[CH_TIMELINE_BATCH_MAX], gone[CH_TIMELINE_BATCH_MAX];
    size_t k = 0, inactive = 0, pulled = 0, pushed = 0;
    int64_t now = ch_now_ms();
    ch_err_t err = ch_timeline_meta_many(svc->timelines, users, n, metas);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        double read_rate =
            ch_feed_rate_at(metas[i].read_rate, metas[i].last_read_ms, now, CH_FEED_READ_RATE_HALF_LIFE_MS);
        if (!metas[i].exists)
            gone[inactive++] = users[i];
        else if (!ch_feed_policy_push(&job->policy, job->author.followers, job->author.post_rate, read_rate))
            pulled++;
        else
            to[k++] = users[i];
    }
    if (k)
        err = ch_timeline_push_many(svc->timelines, to, k, &job->entry, &pushed);
    /* The cached heads (svc/feed/facts.h) of the timelines written, and of those that no longer
     * exist (evicted or expired: a head cached before must not outlive them). */
    ch_feed_tl_forget(svc, to, k);
    ch_feed_tl_forget(svc, gone, inactive);
    if (err)
        return err;
    ch_feed_metrics_skipped(CH_FEED_SKIP_INACTIVE, inactive);
    ch_feed_metrics_skipped(CH_FEED_SKIP_PULL, pulled);
    if (k) {
        ch_feed_metrics_writes(pushed);
        ch_feed_metrics_delivered(ch_id_time_ms(job->entry.item_id));
    }
    return CH_OK;
}

/* A post or reel by its id: author, target type; *live 0 when it is gone or not a feed
 * item (a story). */
static ch_err_t ch__item_load(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t id, uint64_t *author, uint8_t *type,
                              int *live)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "SELECT author_id, type, CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END FROM items"
                             " WHERE id = $1 AND type IN ('post', 'reel')",
                             p, 1, &rows, NULL);
    *live = 0;
    *author = 0;
    if (err == CH_OK && ch_db_rows_count(rows)) {
        *author = (uint64_t)ch_db_rows_int(rows, 0, 0);
        *type = (uint8_t)ch_target_from_name(ch_db_rows_text(rows, 0, 1));
        *live = ch_db_rows_int(rows, 0, 2) != 0;
    }
    ch_db_rows_free(rows);
    return err;
}

static ch_err_t ch__item_created(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t id)
{
    ch__push_t job = {.policy = ch_feed_policy_config(svc->cfg)};
    int live = 0;
    ch_err_t err = ch__item_load(svc, conn, id, &job.entry.author_id, &job.entry.type, &live);
    if (err || !live)
        return err;
    job.entry.item_id = id;
    if ((err = ch__author_load(svc, conn, job.entry.author_id, &job.author)) != CH_OK ||
        (err = ch__author_bump(svc, conn, job.entry.author_id, ch_id_time_ms(id), &job.author)) != CH_OK)
        return err;
    /* for reused rankings (nettop.h): the newest item of an author some follower may pull */
    ch_feed_anew_note(svc, job.entry.author_id, id, job.author.followers >= ch_feed_pull_join_followers(&job.policy));
    /* Nobody would get a push, whatever their read rate: O(1) for a celebrity's item. */
    if (!ch_feed_policy_push(&job.policy, job.author.followers, job.author.post_rate, HUGE_VAL)) {
        int celebrity = job.policy.mode == CH_FEED_MODE_HYBRID && job.policy.celebrity_followers > 0 &&
                        job.author.followers >= job.policy.celebrity_followers;
        ch_feed_metrics_skipped(celebrity ? CH_FEED_SKIP_CELEBRITY : CH_FEED_SKIP_PULL,
                                (uint64_t)(job.author.followers > 0 ? job.author.followers : 0));
        return CH_OK;
    }
    return ch__walk_followers(svc, conn, job.entry.author_id, ch__push_batch, &job);
}

static ch_err_t ch__remove_batch(ch_svc_t *svc, const uint64_t *users, size_t n, void *arg)
{
    ch_err_t err = ch_timeline_remove_item(svc->timelines, users, n, *(const uint64_t *)arg);
    ch_feed_tl_forget(svc, users, n);
    return err;
}

/* ch_timeline_remove_author, then the cached head of user's timeline forgotten. */
static ch_err_t ch__remove_author(ch_svc_t *svc, uint64_t user, uint64_t author)
{
    ch_err_t err = ch_timeline_remove_author(svc->timelines, user, author);
    ch_feed_tl_forget(svc, &user, 1);
    return err;
}

/* Takes a deleted item out of the followers' timelines. A celebrity's items were pulled,
 * not pushed (readers drop deleted items at hydration anyway): nothing to walk. */
static ch_err_t ch__item_deleted(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t id)
{
    uint64_t author = 0;
    uint8_t type = 0;
    int live = 0;
    ch__author_t a;
    ch_feed_policy_t policy = ch_feed_policy_config(svc->cfg);
    ch_err_t err = ch__item_load(svc, conn, id, &author, &type, &live);
    if (err || !author || (err = ch__author_load(svc, conn, author, &a)) != CH_OK)
        return err;
    if (policy.mode == CH_FEED_MODE_PULL_ALL ||
        (policy.mode == CH_FEED_MODE_HYBRID && policy.celebrity_followers > 0 &&
         a.followers >= policy.celebrity_followers))
        return CH_OK;
    return ch__walk_followers(svc, conn, author, ch__remove_batch, &id);
}

/* ---- edges -------------------------------------------------------------------------------- */

/* Merges followee's newest posts and reels into follower's timeline when it exists, the
 * follow exists without a mute, and the policy pushes followee's items to follower. */
static ch_err_t ch__merge_author(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t follower, uint64_t followee)
{
    ch_timeline_meta_t meta;
    ch_err_t err = ch_timeline_meta_many(svc->timelines, &follower, 1, &meta);
    if (err)
        return err;
    if (!meta.exists) { /* evicted: a head still cached must not hide the new followee */
        ch_feed_tl_forget(svc, &follower, 1);
        return CH_OK;
    }
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(follower), CH_DB_P_INT(followee)};
    err = ch_sql_on(svc, conn,
                    "SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = $2 AND NOT EXISTS"
                    " (SELECT 1 FROM mutes m WHERE m.muter_id = $1 AND m.muted_id = $2)",
                    p, CH_NPARAMS(p), &rows, NULL);
    int following = err == CH_OK && ch_db_rows_count(rows) > 0;
    ch_db_rows_free(rows);
    rows = NULL;
    if (err || !following)
        return err;
    ch__author_t a;
    ch_feed_policy_t policy = ch_feed_policy_config(svc->cfg);
    if ((err = ch__author_load(svc, conn, followee, &a)) != CH_OK)
        return err;
    double read_rate = ch_feed_rate_at(meta.read_rate, meta.last_read_ms, ch_now_ms(), CH_FEED_READ_RATE_HALF_LIFE_MS);
    if (!ch_feed_policy_push(&policy, a.followers, a.post_rate, read_rate))
        return CH_OK;
    ch_db_param_t q[] = {CH_DB_P_INT(followee), CH_DB_P_INT(CH_FEED_FOLLOW_MERGE_MAX)};
    err = ch_sql_on(svc, conn,
                    "SELECT id, type FROM items WHERE author_id = $1 AND type IN ('post', 'reel')"
                    " AND deleted_at IS NULL ORDER BY id DESC LIMIT $2",
                    q, CH_NPARAMS(q), &rows, NULL);
    size_t n = err == CH_OK ? ch_db_rows_count(rows) : 0, pushed = 0, total = 0;
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        ch_timeline_entry_t e = {(uint64_t)ch_db_rows_int(rows, i, 0), followee,
                                 (uint8_t)ch_target_from_name(ch_db_rows_text(rows, i, 1))};
        err = ch_timeline_push_many(svc->timelines, &follower, 1, &e, &pushed);
        total += pushed;
    }
    ch_db_rows_free(rows);
    if (n)
        ch_feed_tl_forget(svc, &follower, 1);
    ch_feed_metrics_writes(total);
    return err;
}

/* ---- the consumer ------------------------------------------------------------------------- */

static uint64_t ch__payload_id(json_t *payload, const char *field)
{
    json_t *v = json_object_get(payload, field);
    uint64_t id = json_is_string(v) ? ch_id_parse(json_string_value(v)) : 0;
    return id <= INT64_MAX ? id : 0;
}

/* Columns: 0 id, 1 topic, 2 payload. */
static ch_err_t ch__apply(ch_svc_t *svc, ch_db_conn_t *conn, const ch_db_rows_t *rows, size_t row)
{
    const char *topic = ch_db_rows_text(rows, row, 1);
    json_t *payload = json_loads(ch_db_rows_text(rows, row, 2), 0, NULL);
    ch_err_t err = CH_OK;
    uint64_t a = 0, b = 0;
    if (!svc->timelines) {
        /* no store wired (a tool without timelines): nothing to keep in step */
    } else if (strcmp(topic, "post.created") == 0 || strcmp(topic, "reel.created") == 0) {
        if ((a = ch__payload_id(payload, topic[0] == 'p' ? "post_id" : "reel_id")) != 0)
            err = ch__item_created(svc, conn, a);
    } else if (strcmp(topic, "post.deleted") == 0 || strcmp(topic, "reel.deleted") == 0) {
        if ((a = ch__payload_id(payload, topic[0] == 'p' ? "post_id" : "reel_id")) != 0)
            err = ch__item_deleted(svc, conn, a);
    } else if (strncmp(topic, "follow.", 7) == 0) {
        a = ch__payload_id(payload, "follower_id");
        b = ch__payload_id(payload, "followee_id");
        if (a && b) {
            ch_feed_pullset_forget(svc, a);
            err = strcmp(topic, "follow.created") == 0 ? ch__merge_author(svc, conn, a, b)
                                                       : ch__remove_author(svc, a, b);
        }
    } else if (strncmp(topic, "mute.", 5) == 0) {
        a = ch__payload_id(payload, "muter_id");
        b = ch__payload_id(payload, "muted_id");
        if (a && b)
            err = strcmp(topic, "mute.created") == 0 ? ch__remove_author(svc, a, b)
                                                     : ch__merge_author(svc, conn, a, b);
    } else if (strncmp(topic, "block.", 6) == 0) {
        a = ch__payload_id(payload, "blocker_id");
        b = ch__payload_id(payload, "blocked_id");
        if (a && b && strcmp(topic, "block.created") == 0) {
            ch_feed_pullset_forget(svc, a);
            ch_feed_pullset_forget(svc, b);
            err = ch__remove_author(svc, a, b);
            if (err == CH_OK)
                err = ch__remove_author(svc, b, a);
        } else if (a && b) { /* follows were cut by the block; a follow made since merged already */
            err = ch__merge_author(svc, conn, a, b);
            if (err == CH_OK)
                err = ch__merge_author(svc, conn, b, a);
        }
    }
    if (!a && svc->timelines)
        ch_log_warn("feed: outbox %s %s without its ids: skipped", ch_db_rows_text(rows, row, 0), topic);
    json_decref(payload);
    return err;
}

const ch_consumer_t ch_feed_fanout_consumer = {
    "feed.fanout",
    "SELECT o.id, o.topic, o.payload FROM outbox o WHERE o.id > $1"
    " AND o.topic IN ('post.created', 'reel.created', 'post.deleted', 'reel.deleted', 'follow.created',"
    " 'follow.deleted', 'block.created', 'block.deleted', 'mute.created', 'mute.deleted')"
    " AND NOT EXISTS (SELECT 1 FROM consumer_seen s WHERE s.name = $2 AND s.event_id = o.id)"
    " ORDER BY o.id LIMIT $3",
    ch__apply,
};
