/* The in-network source (candidates.h, ch_feed_in_network): the materialized home timeline
 * merged with the recent items of the followees the viewer pulls (svc/feed/pullset.h). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "store/timeline.h"
#include "svc/common/sql.h"
#include "svc/engage/target.h"
#include "svc/feed/candidates.h"
#include "svc/feed/facts.h"
#include "svc/feed/fanout.h"
#include "svc/feed/nettop.h"
#include "svc/feed/pullset.h"
#include "svc/content/recent.h"
#include "svc/feed/recent.h"
#include "svc/feed/rebuild.h"
#include "svc/feed/touch_queue.h"
#include "svc/feed/visible.h"

/* How far before the cursor (or now) pulled authors' items are looked for: bounds the
 * statement's work; older pulled items are not shown. */
#define CH_FEED_PULL_WINDOW_MS (14LL * 24 * 3600 * 1000)
/* Slots of the pulled-authors statement: the IN list has one of these sizes, padded with 0
 * (no user), so that there are only a few statement texts. */
static const size_t ch__slots[] = {8, 64, CH_FEED_PULL_AUTHORS_MAX};

/* The pulled authors' posts and reels with floor < id < before, newest first: those of the
 * set and of every followee with at least ch_feed_pull_join_followers followers (a join,
 * not a list), still followed (the set may be a little stale), neither muted nor blocked
 * either way. */
static ch_err_t ch__pulled_items(ch_svc_t *svc, uint64_t viewer, const ch_feed_pullset_t *ps, uint64_t before,
                                 size_t max, ch_timeline_entry_t *out, size_t *n_out)
{
    *n_out = 0;
    ch_feed_policy_t policy = ch_feed_policy_config(svc->cfg);
    int64_t join_followers = ch_feed_pull_join_followers(&policy);
    if ((!ps->n && join_followers == INT64_MAX) || !max)
        return CH_OK;
    size_t slots = ch__slots[0];
    for (size_t i = 0; i < sizeof(ch__slots) / sizeof(ch__slots[0]) && slots < ps->n; i++)
        slots = ch__slots[i];
    int64_t top_ms = before ? ch_id_time_ms(before) : ch_now_ms();
    ch_db_param_t *p = ch_calloc(5 + slots, sizeof(*p));
    p[0] = CH_DB_P_INT(viewer);
    p[1] = CH_DB_P_INT(before && before <= INT64_MAX ? before : (uint64_t)INT64_MAX);
    p[2] = CH_DB_P_INT(ch_id_floor(top_ms - CH_FEED_PULL_WINDOW_MS));
    p[3] = CH_DB_P_INT(max);
    p[4] = CH_DB_P_INT(join_followers);
    ch_buf_t sql = CH_BUF_INIT;
    /* Two indexed reads (the listed authors; the celebrities, joined), each newest first and
     * limited, then merged: an OR of the two would not use items_author_type. */
#define CH__PULLED_WHERE                                                                                           \
    " AND i.type IN ('post', 'reel') AND i.deleted_at IS NULL AND i.id < $2 AND i.id > $3"                        \
    " AND EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = i.author_id)"              \
    CH_FEED_SQL_NOT_HIDDEN("i.author_id") " ORDER BY i.id DESC LIMIT $4"
    ch_buf_printf(&sql, "SELECT id, author_id, type FROM (SELECT i.id, i.author_id, i.type FROM items i"
                        " WHERE i.author_id IN (");
    for (size_t i = 0; i < slots; i++) {
        p[5 + i] = CH_DB_P_INT(i < ps->n ? ps->ids[i] : 0);
        ch_buf_printf(&sql, i ? ", $%zu" : "$%zu", i + 6);
    }
    ch_buf_printf(&sql, ")" CH__PULLED_WHERE ") pl UNION ALL SELECT id, author_id, type FROM"
                        " (SELECT i.id, i.author_id, i.type FROM follows fc JOIN users uc ON uc.id = fc.followee_id"
                        " JOIN items i ON i.author_id = fc.followee_id WHERE fc.follower_id = $1"
                        " AND uc.followers_count >= $5" CH__PULLED_WHERE ") pj ORDER BY id DESC LIMIT $4");
#undef CH__PULLED_WHERE
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, sql.data, p, 5 + slots, &rows, NULL);
    size_t n = err == CH_OK ? ch_db_rows_count(rows) : 0;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = (ch_timeline_entry_t){(uint64_t)ch_db_rows_int(rows, i, 0), (uint64_t)ch_db_rows_int(rows, i, 1),
                                       (uint8_t)ch_target_from_name(ch_db_rows_text(rows, i, 2))};
    *n_out = n < max ? n : max;
    ch_db_rows_free(rows);
    ch_buf_clear(&sql);
    free(p);
    return err;
}

/* Reads the timeline page, rebuilding a missing timeline; while the store is unavailable
 * the page comes from the database instead (the same statement as a rebuild; *from_db = 1:
 * already filtered against follows, mutes and blocks). With the timelines in Redis the cached
 * head answers first (svc/feed/facts.h), its touch queued (svc/feed/touch_queue.h); on the loop
 * a page it cannot answer sets *needs_worker (nothing read). */
static ch_err_t ch__timeline_page(ch_svc_t *svc, uint64_t viewer, uint64_t before, size_t max, int on_loop,
                                  double *read_rate, ch_timeline_entry_t *out, size_t *n_out, int *from_db,
                                  int *needs_worker)
{
    *from_db = 0;
    ch_timeline_meta_t meta = {0};
    int64_t now = ch_now_ms();
    if (ch_feed_facts_on(svc)) {
        int answered = 0;
        ch_feed_tl_head_read(svc, viewer, before, max, out, n_out, &answered);
        if (answered) {
            if (before == 0) /* a fresh read: its touch made by the touch thread */
                (void)ch_feed_touch_later(svc, viewer, now);
            return CH_OK;
        }
        if (on_loop) { /* the store: a network call */
            *needs_worker = 1;
            return CH_OK;
        }
    }
    ch_err_t err = ch_timeline_read(svc->timelines, viewer, before, max, out, n_out, &meta);
    if (err == CH_OK && !meta.exists) {
        ch_timeline_meta_t fresh = {.exists = 1, .last_read_ms = 0, .read_rate = 0};
        err = ch_feed_rebuild(svc, viewer, &fresh);
        if (err == CH_OK)
            err = ch_timeline_read(svc->timelines, viewer, before, max, out, n_out, &meta);
    }
    if (err != CH_OK) {
        ch_log_debug("feed: timeline of %llu unavailable (%s): read from the database",
                     (unsigned long long)viewer, ch_err_code(err));
        *read_rate = CH_FEED_NEW_RATE_PER_HOUR;
        *from_db = 1;
        return ch_feed_rebuild_entries(svc, viewer, before, max, out, n_out);
    }
    *read_rate = ch_feed_rate_at(meta.read_rate, meta.last_read_ms, now, CH_FEED_READ_RATE_HALF_LIFE_MS);
    if (before == 0 && ch_feed_timelines_in_process(svc)) {
        (void)ch_feed_touch_later(svc, viewer, now); /* the same, by the touch thread: off the request */
    } else if (before == 0) { /* a fresh read: counts in the read rate, keeps the timeline alive */
        double bumped = ch_feed_rate_bump(meta.read_rate, meta.last_read_ms, now, CH_FEED_READ_RATE_HALF_LIFE_MS);
        if (ch_timeline_touch(svc->timelines, viewer, now, bumped) == CH_OK)
            *read_rate = bumped;
    }
    return CH_OK;
}

/* Whether this process's timeline store receives the fan-out's pushes: Redis is shared by
 * every replica; an in-process store only when this process runs the worker role (then it
 * runs the fan-out too: a worker-only process with an in-process store does not, see
 * svc/worker/worker.c; an api-only process reads the database instead, as while the store
 * is down). Several api processes with in-process stores need CHORUS_REDIS. */
int ch_feed_timelines_in_process(const ch_svc_t *svc)
{
    return svc->timelines && strcmp(ch_timeline_kind(svc->timelines), "memory") == 0;
}

int ch_feed_store_fed(const ch_svc_t *svc)
{
    return svc->timelines &&
           ((svc->cfg->roles & CH_ROLE_WORKER) || strcmp(ch_timeline_kind(svc->timelines), "memory") != 0);
}

/* Rounds of one call when stale timeline entries (filtered at read) or duplicates thin a
 * page out; past them the call returns the position reached (*next_before). */
#define CH_FEED_IN_NETWORK_ROUNDS 4

/* Merges the pull set's authors and the listed joined ones (disjoint by followers_count,
 * both ascending; a duplicate is kept once) into *out (owned), *n of them. */
static void ch__pulled_authors(const ch_feed_pullset_t *ps, uint64_t **out, size_t *n)
{
    *out = ch_malloc((ps->n + ps->n_joined + 1) * sizeof(uint64_t));
    size_t i = 0, j = 0, k = 0;
    while (i < ps->n || j < ps->n_joined) {
        uint64_t v = j >= ps->n_joined || (i < ps->n && ps->ids[i] <= ps->joined[j]) ? ps->ids[i++] : ps->joined[j++];
        if (k == 0 || (*out)[k - 1] != v)
            (*out)[k++] = v;
    }
    *n = k;
}

/* Whether the cached pull set is as new as the viewer's last follow, block or mute change
 * (its generation, read before it was computed) and as the last crossing of the celebrity
 * bound by anyone (svc/feed/celeb_gen.h): then it is used as it is. When it also lists every
 * joined author (joined_known) the pulled side is read from the authors' recent items
 * (svc/content/recent.h), no statement; otherwise by the pulled items' statement. */
static int ch__pullset_current(ch_svc_t *svc, uint64_t viewer, const ch_feed_pullset_t *ps)
{
    uint64_t vgen = 0, cgen = 0;
    return ch_feed_gens_get(svc, viewer, &vgen, &cgen) == CH_OK && vgen == ps->vgen && cgen == ps->cgen;
}

ch_err_t ch_feed_in_network_page(ch_svc_t *svc, uint64_t viewer, uint64_t before_id, size_t max, ch_feed_cand_t *out,
                                 size_t *n_out, uint64_t *next_before, ch_fault_t *f)
{
    return ch_feed_in_network_page_on(svc, viewer, before_id, max, 0, out, n_out, next_before, NULL, f);
}

ch_err_t ch_feed_in_network_page_on(ch_svc_t *svc, uint64_t viewer, uint64_t before_id, size_t max, int on_loop,
                                    ch_feed_cand_t *out, size_t *n_out, uint64_t *next_before, int *needs_worker,
                                    ch_fault_t *f)
{
    (void)f;
    *n_out = 0;
    *next_before = 0;
    if (needs_worker)
        *needs_worker = 0;
    if (max == 0)
        return CH_OK;
    if (max > CH_TIMELINE_MAX_ENTRIES)
        max = CH_TIMELINE_MAX_ENTRIES;
    ch_timeline_entry_t *pushed = ch_calloc(max, sizeof(*pushed)), *pulled = ch_calloc(max, sizeof(*pulled));
    size_t k = 0;
    uint64_t before = before_id;
    int ended = 0;
    double read_rate = 0;
    ch_feed_pullset_t ps = {0};
    /* The pull set is read first; computed, it takes the read rate as of the last read (the
     * set is cached for a while anyway). */
    ch_timeline_meta_t meta = {0};
    int fed = ch_feed_store_fed(svc);
    ch_err_t err = CH_OK;
    int current = ch_feed_pullset_cached(svc, viewer, &ps) && ch__pullset_current(svc, viewer, &ps);
    /* With the cached timeline head (facts on) its read tells whether the timeline exists. */
    int facts = ch_feed_facts_on(svc);
    if (on_loop && (!fed || !current || !ps.joined_known ||
                    (!facts && (ch_timeline_meta_many(svc->timelines, &viewer, 1, &meta) != CH_OK || !meta.exists)))) {
        /* statements to run (the pull set, a rebuild, the database's page, the pulled items' statement when
         * the joined authors are not listed): not on the loop */
        ch_feed_pullset_clear(&ps);
        free(pushed);
        free(pulled);
        *needs_worker = 1;
        return CH_OK;
    }
    if (!current) { /* none, or older than a change of the viewer's follows, blocks or mutes */
        ch_feed_pullset_clear(&ps);
        if (fed && ch_timeline_meta_many(svc->timelines, &viewer, 1, &meta) == CH_OK && meta.exists)
            read_rate =
                ch_feed_rate_at(meta.read_rate, meta.last_read_ms, ch_now_ms(), CH_FEED_READ_RATE_HALF_LIFE_MS);
        err = ch_feed_pullset_compute(svc, viewer, read_rate, &ps);
    }
    /* The pulled side from memory when the set is current (a set just computed is). */
    uint64_t *pauthors = NULL;
    size_t npa = 0;
    ch_author_index_t rec = {0};
    int warm = 0;
    if (err == CH_OK && ps.joined_known) {
        ch__pulled_authors(&ps, &pauthors, &npa);
        err = ch_recent_items_read(svc, pauthors, npa, &rec);
        warm = err == CH_OK && !rec.cold; /* cold: the pulled items' one statement instead */
    }
    if (on_loop && err == CH_OK && !warm) { /* that statement: not on the loop */
        ch_feed_pullset_clear(&ps);
        ch_author_index_clear(&rec);
        free(pauthors);
        free(pushed);
        free(pulled);
        *needs_worker = 1;
        return CH_OK;
    }
    int moved = 0;
    for (int round = 0; err == CH_OK && round < CH_FEED_IN_NETWORK_ROUNDS && k < max && !ended; round++) {
        size_t np = 0, nl = 0;
        int from_db = !fed;
        if (fed)
            err = ch__timeline_page(svc, viewer, before, max, on_loop, &read_rate, pushed, &np, &from_db, &moved);
        else
            err = ch_feed_rebuild_entries(svc, viewer, before, max, pushed, &np);
        if (moved) /* the timeline store to read: not on the loop */
            break;
        /* From the authors' recent items (nothing of a full author list below before known:
         * the statement); those stop at deep, where a full author list ends. */
        uint64_t deep = 0;
        int from_recent = 0;
        if (err == CH_OK && warm) {
            int64_t top_ms = before ? ch_id_time_ms(before) : ch_now_ms();
            from_recent = ch_feed_recent_merge(&rec, npa, before, ch_id_floor(top_ms - CH_FEED_PULL_WINDOW_MS),
                                               pulled, max, &nl, &deep);
        }
        if (err == CH_OK && !from_recent)
            err = ch__pulled_items(svc, viewer, &ps, before, max, pulled, &nl);
        if (err)
            break;
        /* A full list may go on below its last entry: the other list is merged only down to
         * it, and the next round starts there. */
        uint64_t floor = deep;
        if (np == max && pushed[np - 1].item_id > floor)
            floor = pushed[np - 1].item_id;
        if (nl == max && pulled[nl - 1].item_id > floor)
            floor = pulled[nl - 1].item_id;
        /* Timeline entries may be stale (an unfollow, mute or block the fan-out has not
         * applied yet, or a rebuild or push that raced it), and the recent items are anyone's:
         * both kept to followees now (the viewer's cached followee list, one read for both);
         * mutes and blocks are the hydration's of the caller (visible.h). */
        if ((!from_db || from_recent) &&
            (err = ch_feed_keep_followed(svc, viewer, from_db ? NULL : pushed, from_db ? NULL : &np,
                                         from_recent ? pulled : NULL, from_recent ? &nl : NULL)) != CH_OK)
            break;
        size_t i = 0, j = 0;
        uint64_t last = 0;
        while (k < max && (i < np || j < nl)) {
            const ch_timeline_entry_t *e;
            if (j >= nl || (i < np && pushed[i].item_id >= pulled[j].item_id))
                e = &pushed[i++];
            else
                e = &pulled[j++];
            if (e->item_id < floor)
                break;
            if (e->item_id == last || (e->type != CH_TARGET_POST && e->type != CH_TARGET_REEL))
                continue;
            last = e->item_id;
            memset(&out[k], 0, sizeof(out[k]));
            out[k].key = (ch_item_key_t){e->type, e->item_id};
            out[k].author_id = e->author_id;
            out[k].reason = CH_FEED_REASON_FOLLOWING;
            k++;
        }
        if (k == max)
            before = out[k - 1].key.id; /* everything above it was examined */
        else if (floor == 0)
            ended = 1; /* both sources ended */
        else
            before = floor;
    }
    if (moved && needs_worker)
        *needs_worker = 1;
    *n_out = err == CH_OK && !moved ? k : 0;
    *next_before = err == CH_OK && !ended && !moved ? before : 0;
    ch_feed_pullset_clear(&ps);
    ch_author_index_clear(&rec);
    free(pauthors);
    free(pushed);
    free(pulled);
    return err;
}

ch_err_t ch_feed_in_network(ch_svc_t *svc, uint64_t viewer, uint64_t before_id, size_t max, ch_feed_cand_t *out,
                            size_t *n_out, ch_fault_t *f)
{
    uint64_t next = 0;
    return ch_feed_in_network_page(svc, viewer, before_id, max, out, n_out, &next, f);
}
