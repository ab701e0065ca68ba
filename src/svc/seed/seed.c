/* The seeding run: one transaction, the steps in order, then what is derived from the rows
 * in SQL (user counters, hourly hashtag uses) and where the notification worker starts. */
#include "svc/seed/seed.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/engage/notify.h"
#include "svc/seed/vocab.h"
#include "svc/seed/world.h"

/* Follower, following and post counters of the seeded users, from the rows. */
static ch_err_t ch__user_counts(ch_seed_world_t *w)
{
    ch_db_param_t p[] = {CH_DB_P_INT(w->ids[0]), CH_DB_P_INT(w->ids[w->n - 1])};
    return ch_sql_on(w->svc, w->conn,
                     "UPDATE users SET "
                     "followers_count = (SELECT COUNT(*) FROM follows WHERE followee_id = users.id), "
                     "following_count = (SELECT COUNT(*) FROM follows WHERE follower_id = users.id), "
                     "posts_count = (SELECT COUNT(*) FROM items WHERE author_id = users.id AND type = 'post' "
                     "AND deleted_at IS NULL) "
                     "WHERE id BETWEEN $1 AND $2",
                     p, CH_NPARAMS(p), NULL, NULL);
}

/* The engagement rows, then what the sink wrote them through is flushed. */
static ch_err_t ch__engagement(ch_seed_world_t *w)
{
    ch_err_t err = ch_seed_engagement(w);
    ch_err_t closed = ch_seed_sink_close(w, err);
    return err ? err : closed;
}

/* hashtag_hours from the seeded hashtags rows: uses per tag and clock hour of created_at,
 * what the write path adds one by one (the baseline of trending). */
static ch_err_t ch__hashtag_hours(ch_seed_world_t *w)
{
    ch_db_param_t p[] = {CH_DB_P_INT(w->ids[0]), CH_DB_P_INT(w->ids[w->n - 1])};
    return ch_sql_on(w->svc, w->conn,
                     "INSERT INTO hashtag_hours(tag, hour, uses)"
                     " SELECT tag, created_at / 3600000, COUNT(*) FROM hashtags WHERE author_id BETWEEN $1 AND $2"
                     " GROUP BY tag, created_at / 3600000"
                     " ON CONFLICT (tag, hour) DO UPDATE SET uses = hashtag_hours.uses + excluded.uses",
                     p, CH_NPARAMS(p), NULL, NULL);
}

/* The notification worker starts at the events of the last CH_SEED_NOTIFY_HOURS (its
 * watermark: every event with a smaller id is done); the signals consumer, with no cursor
 * yet, folds them all. A database whose worker already has a cursor keeps it. */
static ch_err_t ch__notify_cursor(ch_seed_world_t *w)
{
    int64_t from = w->now - CH_SEED_NOTIFY_HOURS * CH_SEED_HOUR_MS;
    uint64_t below = ch_id_floor(from);
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_notify_events_consumer.name), CH_DB_P_INT(below - 1), CH_DB_P_INT(w->now)};
    return ch_sql_on(w->svc, w->conn,
                     "INSERT INTO consumer_offsets(name, last_id, updated_at) VALUES($1, $2, $3)"
                     " ON CONFLICT DO NOTHING",
                     p, CH_NPARAMS(p), NULL, NULL);
}

/* The text and hashtag rows of the lab's items went through the sink: flushed here. */
static ch_err_t ch__close_sink(ch_seed_world_t *w)
{
    return ch_seed_sink_close(w, CH_OK);
}

static void ch__world_free(ch_seed_world_t *w)
{
    ch_seed_lab_free(w);
    free(w->ids);
    free(w->handles);
    free(w->is_private);
    free(w->edges);
    free(w->fan_start);
    free(w->fans);
    free(w->items);
    free(w->refs);
    free(w->mark);
    free(w->pool);
    ch_seed_ids_free(&w->eids);
}

ch_err_t ch_seed_run(ch_svc_t *svc, const ch_seed_opts_t *opts, ch_seed_stats_t *stats)
{
    uint64_t t0 = ch_mono_ns();
    memset(stats, 0, sizeof(*stats));
    int lab = opts->profile == CH_SEED_PROFILE_FEEDLAB;
    if (opts->users < 2 || opts->users > (lab ? CH_SEED_LAB_MAX_USERS : CH_SEED_MAX_USERS))
        return CH_EINVAL;
    if (lab && (opts->celebrities >= opts->users || opts->celebrity_followers >= opts->users))
        return CH_EINVAL;
    ch_seed_world_t w = {.svc = svc,
                         .opts = opts,
                         .rng = {opts->seed},
                         .erng = {opts->seed ^ 0x656e676167656d74ULL},
                         .n = opts->users,
                         .now = ch_now_ms(),
                         .stats = stats};
    w.burst_tag = ch_seed_tags.s[ch_seed_pick(&w.erng, ch_seed_tags.n)];
    w.ids = ch_calloc(w.n, sizeof(*w.ids));
    w.handles = ch_calloc(w.n, sizeof(*w.handles));
    w.is_private = ch_calloc(w.n, sizeof(*w.is_private));
    w.refs = ch_malloc(sizeof(*w.refs));
    ch_seed_ids_init(&w.eids);
    ch_err_t err = w.ids && w.handles && w.is_private && w.refs ? ch_sql_begin(svc, 1, &w.conn) : CH_EINTERNAL;
    if (err) {
        ch__world_free(&w);
        return err;
    }
    /* One large transaction: the driver tunes for it (a big page cache, no deadline). */
    err = ch_backend_err(CH_BACKEND_DB, ch_db_tune(svc->db, w.conn, CH_DB_TUNE_BULK));
    ch_seed_sink_open(&w);
    ch_err_t (*const steps[])(ch_seed_world_t *) = {ch_seed_users,    ch_seed_follows,   ch_seed_items,
                                                     ch__engagement,   ch__user_counts,   ch__hashtag_hours,
                                                     ch__notify_cursor};
    const char *const names[] = {"users", "follows", "items", "engagement", "user counts", "hashtag hours",
                                 "notification cursor"};
    /* The feed lab: its own users, graph and items, no engagement (bench/feedlab). */
    ch_err_t (*const lab_steps[])(ch_seed_world_t *) = {ch_seed_lab_users, ch_seed_lab_follows, ch_seed_lab_items,
                                                         ch__close_sink,    ch__user_counts,     ch__hashtag_hours,
                                                         ch__notify_cursor};
    const char *const lab_names[] = {"lab users", "lab follows", "lab items and feed_authors", "texts",
                                     "user counts", "hashtag hours", "notification cursor"};
    _Static_assert(sizeof(steps) == sizeof(lab_steps), "as many steps in both profiles");
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) && err == CH_OK; i++) {
        uint64_t t = ch_mono_ns();
        err = (lab ? lab_steps : steps)[i](&w);
        ch_log_info("seed: %s in %.2f s", (lab ? lab_names : names)[i], (double)(ch_mono_ns() - t) / 1e9);
    }
    (void)ch_seed_sink_close(&w, err ? err : CH_EINTERNAL); /* open only when a step failed */
    uint64_t t = ch_mono_ns();
    err = ch_sql_end(svc, w.conn, err);
    ch_log_info("seed: commit in %.2f s", (double)(ch_mono_ns() - t) / 1e9);
    if (err == CH_OK && lab)
        err = ch_seed_lab_write_rates(&w);
    if (err == CH_OK)
        ch_log_info("seed: %llu follows, %llu reactions, %llu comments, %llu replies, %llu mentions, %llu hashtags, "
                    "%llu engagement events",
                    (unsigned long long)stats->follows, (unsigned long long)stats->reactions,
                    (unsigned long long)stats->comments, (unsigned long long)stats->replies,
                    (unsigned long long)stats->mentions, (unsigned long long)stats->hashtags,
                    (unsigned long long)stats->events);
    ch__world_free(&w);
    stats->seconds = (double)(ch_mono_ns() - t0) / 1e9;
    return err;
}
