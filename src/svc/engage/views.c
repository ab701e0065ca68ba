#include "svc/engage/views.h"

#include "core/clock.h"
#include "core/id.h"
#include "svc/common/fields.h"
#include "svc/common/hydrate.h"
#include "svc/common/outbox.h"
#include "svc/engage/counters.h"
#include "svc/engage/events.h"

/* One statement decides whether this view counts: a new row counts; an existing one counts
 * again when its window (counted_at) is 24 h old, and then takes this view's id. Every SET
 * expression reads the row as it was, on both engines; PostgreSQL holds the row lock, so
 * of two concurrent views exactly one opens a window, and RETURNING count_id tells each
 * request whether it was that one (ids are unique, times may tie). */
static const char ch__sql_view[] =
    "INSERT INTO views(target_type, target_id, user_id, counted_at, count_id, counted, watch_ms_total,"
    " last_viewed_at) VALUES($1, $2, $3, $4, $5, 1, $6, $4)"
    " ON CONFLICT (target_type, target_id, user_id) DO UPDATE SET"
    " watch_ms_total = views.watch_ms_total + excluded.watch_ms_total,"
    " last_viewed_at = excluded.last_viewed_at,"
    " counted = views.counted + CASE WHEN views.counted_at <= excluded.counted_at - $7 THEN 1 ELSE 0 END,"
    " count_id = CASE WHEN views.counted_at <= excluded.counted_at - $7 THEN excluded.count_id"
    " ELSE views.count_id END,"
    " counted_at = CASE WHEN views.counted_at <= excluded.counted_at - $7 THEN excluded.counted_at"
    " ELSE views.counted_at END"
    " RETURNING count_id";

int ch_views_type_ok(ch_target_type_t type)
{
    return type == CH_TARGET_REEL || type == CH_TARGET_STORY || type == CH_TARGET_LIVESTREAM;
}

/* A story is seen once: the row behind `seen` and the viewers list, and story.viewed.
 * *seen_out: the row is new. */
static ch_err_t ch__story_seen(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t story, int64_t now,
                               int *seen_out)
{
    int64_t inserted = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(story), CH_DB_P_INT(viewer), CH_DB_P_INT(now)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "INSERT INTO story_views(story_id, viewer_id, viewed_at) VALUES($1, $2, $3)"
                             " ON CONFLICT (story_id, viewer_id) DO NOTHING",
                             p, CH_NPARAMS(p), NULL, &inserted);
    *seen_out = err == CH_OK && inserted;
    if (err == CH_OK && inserted)
        err = ch_outbox_add_pair(svc, conn, "story.viewed", "story_id", story, "viewer_id", viewer);
    return err;
}

/* What a recorded view changed of the hydration cache's facts. */
typedef struct {
    int counted; /* the item's views counter moved */
    int seen;    /* the viewer's story_views row is new */
} ch__view_change_t;

/* Records the view on conn (a write transaction); *ch says what changed. */
static ch_err_t ch__record(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, ch_target_type_t type, uint64_t id,
                           int64_t watch_ms, ch__view_change_t *ch, ch_fault_t *f)
{
    ch_target_t t;
    ch_err_t err = ch_target_resolve(svc, conn, viewer, type, id, &t, f);
    if (err || t.author_id == viewer)
        return err; /* the author's own view is not a view */
    int64_t now = ch_now_ms();
    uint64_t view_id = ch_id_next();
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(type)), CH_DB_P_INT(id), CH_DB_P_INT(viewer),
                         CH_DB_P_INT(now), CH_DB_P_INT(view_id), CH_DB_P_INT(watch_ms),
                         CH_DB_P_INT(CH_VIEW_WINDOW_MS)};
    err = ch_sql_on(svc, conn, ch__sql_view, p, CH_NPARAMS(p), &rows, NULL);
    int counted = err == CH_OK && ch_db_rows_count(rows) == 1 && (uint64_t)ch_db_rows_int(rows, 0, 0) == view_id;
    ch_db_rows_free(rows);
    ch->counted = counted;
    if (err == CH_OK && type == CH_TARGET_STORY)
        err = ch__story_seen(svc, conn, viewer, id, now, &ch->seen);
    if (err == CH_OK && (counted || watch_ms > 0)) {
        ch_event_t ev = {now, viewer, "view", type, id, t.author_id, (double)watch_ms / 1000.0};
        err = ch_events_emit(svc, conn, &ev);
    }
    /* Counters last: the counter row is held only until the commit. */
    ch_counters_t delta = {.views = counted, .watch_ms = watch_ms};
    if (err == CH_OK)
        err = ch_counters_add(svc, conn, type, id, &delta, NULL);
    return err;
}

ch_err_t ch_views_record(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, json_t *body,
                         ch_fault_t *f)
{
    long long watch_ms = 0;
    if (body) {
        ch_err_t err = ch_field_int(body, "watch_ms", 0, 0, CH_VIEW_WATCH_MS_MAX, &watch_ms, NULL, f);
        if (err)
            return err;
    }
    if (!ch_views_type_ok(type) || id == 0 || id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name(type));
    ch_db_conn_t *conn;
    ch__view_change_t ch = {0};
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    if ((err = ch_sql_end(svc, conn, ch__record(svc, conn, viewer, type, id, (int64_t)watch_ms, &ch, f))) != CH_OK)
        return err;
    /* Once per counted view (a viewer's repeats within the window move nothing), after the
     * commit: the item's views count, the story's `seen` for this viewer. */
    ch_hydrate_forget_hold();
    if (ch.counted)
        ch_hydrate_forget_item(svc, type, id);
    if (ch.seen)
        ch_hydrate_forget_viewer_item(svc, viewer, type, id);
    ch_hydrate_forget_flush(svc);
    return CH_OK;
}
