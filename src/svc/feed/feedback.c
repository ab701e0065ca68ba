/* Feedback on feed items (candidates.h): one row per (viewer, item, signal) in
 * feed_feedback (migration 12). A repeat hits the same primary key and changes nothing.
 * Each user keeps the newest CH_FEED_FEEDBACK_MAX rows: an insert trims the older ones in
 * its transaction, one index range on (user_id, id).
 *
 * Loading reads those rows newest first: not_interested hides the item; see_less_author
 * and see_more act on the item's author, and when both were said about one author, the
 * newest wins. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "svc/common/sql.h"
#include "svc/common/viewer_gen.h"
#include "svc/engage/target.h"
#include "svc/feed/candidates.h"

static const char *const ch__signal_names[] = {
    [CH_FEED_SIGNAL_NOT_INTERESTED] = "not_interested",
    [CH_FEED_SIGNAL_SEE_LESS_AUTHOR] = "see_less_author",
    [CH_FEED_SIGNAL_SEE_MORE] = "see_more",
};

ch_err_t ch_feed_feedback_add(ch_svc_t *svc, uint64_t viewer, ch_item_key_t key, ch_feed_signal_t signal,
                              ch_fault_t *f)
{
    if ((unsigned)signal >= sizeof(ch__signal_names) / sizeof(ch__signal_names[0]))
        return ch_fault(f, CH_EINVAL, "signal", "unknown signal");
    if (key.type != CH_TARGET_POST && key.type != CH_TARGET_REEL)
        return ch_fault(f, CH_EINVAL, "type", "feedback is about a post or a reel");
    ch_target_t t;
    if (key.id == 0 || key.id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name((ch_target_type_t)key.type));
    ch_err_t err = ch_target_resolve(svc, NULL, viewer, (ch_target_type_t)key.type, key.id, &t, f);
    if (err)
        return err;
    ch_db_conn_t *conn = NULL;
    if ((err = ch_sql_begin(svc, 1, &conn)))
        return err;
    int64_t changes = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_TEXT(ch_target_type_name(t.type)), CH_DB_P_INT(t.id),
                         CH_DB_P_TEXT(ch__signal_names[signal]), CH_DB_P_INT(t.author_id), CH_DB_P_INT(ch_id_next()),
                         CH_DB_P_INT(ch_now_ms())};
    err = ch_sql_on(svc, conn,
                    "INSERT INTO feed_feedback(user_id, target_type, target_id, signal, author_id, id, created_at)"
                    " VALUES($1, $2, $3, $4, $5, $6, $7)"
                    " ON CONFLICT (user_id, target_type, target_id, signal) DO UPDATE SET id = excluded.id,"
                    " created_at = excluded.created_at, author_id = excluded.author_id",
                    p, CH_NPARAMS(p), NULL, &changes);
    if (err == CH_OK && changes > 0) {
        /* Keep the newest CH_FEED_FEEDBACK_MAX: everything at or below the first one past them. */
        ch_db_param_t q[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(CH_FEED_FEEDBACK_MAX)};
        err = ch_sql_on(svc, conn,
                        "DELETE FROM feed_feedback WHERE user_id = $1 AND id <= (SELECT id FROM feed_feedback"
                        " WHERE user_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
                        q, CH_NPARAMS(q), NULL, NULL);
    }
    err = ch_sql_end(svc, conn, err);
    if (err == CH_OK && changes > 0)
        ch_viewer_gen_bump_after_commit(svc, viewer); /* the next request ranks anew */
    return err;
}

/* Appends v to a growing array unless present; -1 when out of memory. */
static int ch__push_u64(uint64_t **arr, size_t *n, uint64_t v)
{
    for (size_t i = 0; i < *n; i++)
        if ((*arr)[i] == v)
            return 0;
    uint64_t *grown = ch_realloc(*arr, (*n + 1) * sizeof(**arr));
    if (!grown)
        return -1;
    grown[(*n)++] = v;
    *arr = grown;
    return 0;
}

static int ch__in(const uint64_t *arr, size_t n, uint64_t v)
{
    for (size_t i = 0; i < n; i++)
        if (arr[i] == v)
            return 1;
    return 0;
}

ch_err_t ch_feed_feedback_load(ch_svc_t *svc, uint64_t viewer, ch_feed_feedback_t *out, ch_fault_t *f)
{
    (void)f;
    memset(out, 0, sizeof(*out));
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(CH_FEED_FEEDBACK_MAX)};
    ch_err_t err = ch_sql_run(svc,
                              "SELECT target_type, target_id, signal, author_id FROM feed_feedback"
                              " WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
                              p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t n = ch_db_rows_count(rows);
    out->hidden = ch_calloc(n + 1, sizeof(*out->hidden));
    int oom = out->hidden == NULL;
    for (size_t r = 0; r < n && !oom; r++) {
        const char *sig = ch_db_rows_text(rows, r, 2);
        uint64_t author = (uint64_t)ch_db_rows_int(rows, r, 3);
        if (strcmp(sig, "not_interested") == 0) {
            int t = ch_target_from_name(ch_db_rows_text(rows, r, 0));
            if (t >= 0)
                out->hidden[out->n_hidden++] = (ch_item_key_t){(uint8_t)t, (uint64_t)ch_db_rows_int(rows, r, 1)};
        } else if (ch__in(out->less_authors, out->n_less_authors, author) ||
                   ch__in(out->more_authors, out->n_more_authors, author)) {
            continue; /* a newer signal about this author decided */
        } else if (strcmp(sig, "see_less_author") == 0) {
            oom = ch__push_u64(&out->less_authors, &out->n_less_authors, author) != 0;
        } else if (strcmp(sig, "see_more") == 0) {
            oom = ch__push_u64(&out->more_authors, &out->n_more_authors, author) != 0;
        }
    }
    ch_db_rows_free(rows);
    if (oom) {
        ch_feed_feedback_clear(out);
        return CH_EINTERNAL;
    }
    return CH_OK;
}

void ch_feed_feedback_clear(ch_feed_feedback_t *fb)
{
    if (!fb)
        return;
    free(fb->hidden);
    free(fb->less_authors);
    free(fb->more_authors);
    memset(fb, 0, sizeof(*fb));
}
