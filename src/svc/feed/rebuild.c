#include "svc/feed/rebuild.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "svc/common/sql.h"
#include "svc/engage/target.h"
#include "svc/feed/facts.h"
#include "svc/feed/fanout.h"
#include "svc/feed/pullset.h"
#include "svc/feed/visible.h"
#include "svc/worker/consumer.h"

/* Reads followees' items with floor_id < id < before_id, newest first. */
static ch_err_t ch__read(ch_svc_t *svc, uint64_t viewer, uint64_t floor_id, uint64_t before_id, size_t max,
                         ch_timeline_entry_t *out, size_t *n_out)
{
    ch_feed_policy_t policy = ch_feed_policy_config(svc->cfg);
    *n_out = 0;
    if (policy.mode == CH_FEED_MODE_PULL_ALL || max == 0)
        return CH_OK; /* nothing is pushed: every followee is pulled at read */
    int64_t celebrity = policy.mode == CH_FEED_MODE_HYBRID && policy.celebrity_followers > 0
                            ? policy.celebrity_followers
                            : INT64_MAX;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(celebrity), CH_DB_P_INT(floor_id),
                         CH_DB_P_INT(before_id && before_id <= INT64_MAX ? before_id : (uint64_t)INT64_MAX),
                         CH_DB_P_INT(max), CH_DB_P_INT(CH_FEED_FOLLOWEES_MAX)};
    /* The CH_FEED_FOLLOWEES_MAX non-celebrity followees who posted most recently, as the pull
     * set reads them. */
    ch_err_t err = ch_sql_run(svc,
                              "SELECT i.id, i.author_id, i.type FROM"
                              " (SELECT fo.followee_id FROM follows fo JOIN users u ON u.id = fo.followee_id"
                              " LEFT JOIN feed_authors fa ON fa.author_id = fo.followee_id"
                              " WHERE fo.follower_id = $1 AND u.followers_count < $2"
                              " ORDER BY COALESCE(fa.rate_at, 0) DESC, fo.id DESC LIMIT $6) f"
                              " JOIN items i ON i.author_id = f.followee_id"
                              " WHERE 1 = 1"
                              " AND i.type IN ('post', 'reel') AND i.deleted_at IS NULL AND i.id > $3 AND i.id < $4"
                              CH_FEED_SQL_NOT_HIDDEN("f.followee_id") " ORDER BY i.id DESC LIMIT $5",
                              p, CH_NPARAMS(p), &rows, NULL);
    size_t n = err == CH_OK ? ch_db_rows_count(rows) : 0, k = 0;
    for (size_t i = 0; i < n && k < max; i++)
        out[k++] = (ch_timeline_entry_t){(uint64_t)ch_db_rows_int(rows, i, 0), (uint64_t)ch_db_rows_int(rows, i, 1),
                                         (uint8_t)ch_target_from_name(ch_db_rows_text(rows, i, 2))};
    ch_db_rows_free(rows);
    *n_out = k;
    return err;
}

ch_err_t ch_feed_rebuild_entries(ch_svc_t *svc, uint64_t viewer, uint64_t before_id, size_t max,
                                 ch_timeline_entry_t *out, size_t *n_out)
{
    int64_t now = ch_now_ms();
    return ch__read(svc, viewer, ch_id_floor(now - CH_FEED_REBUILD_WINDOW_MS), before_id, max, out, n_out);
}

ch_err_t ch_feed_rebuild(ch_svc_t *svc, uint64_t viewer, const ch_timeline_meta_t *meta)
{
    int64_t started = ch_now_ms();
    ch_timeline_entry_t *entries = ch_calloc(CH_TIMELINE_MAX_ENTRIES, sizeof(*entries));
    size_t n = 0;
    ch_err_t err = ch_feed_rebuild_entries(svc, viewer, 0, CH_TIMELINE_MAX_ENTRIES, entries, &n);
    if (err == CH_OK)
        err = ch_timeline_replace(svc->timelines, viewer, entries, n, meta);
    /* An item the fan-out saw while the statement above ran found no timeline to push to:
     * push the recent ones again now that it exists. */
    if (err == CH_OK)
        err = ch__read(svc, viewer, ch_id_floor(started - ch_consumer_window_ms(svc)), 0, CH_TIMELINE_MAX_ENTRIES, entries,
                       &n);
    for (size_t i = 0; i < n && err == CH_OK; i++)
        err = ch_timeline_push_many(svc->timelines, &viewer, 1, &entries[i], NULL);
    ch_feed_tl_forget(svc, &viewer, 1); /* a head cached before the replace (svc/feed/facts.h) */
    free(entries);
    return err;
}
