/* Candidate sources beyond the in-network timeline (candidates.h): the reason names, the
 * helpers the sources share, and "engaged by people you follow".
 *
 * Engaged by following reads, for the viewer's CH_FEED_ENGAGED_FOLLOWEES_MAX newest
 * followees, their newest CH_FEED_ENGAGED_SCAN_MAX reactions and comments of the last
 * CH_FEED_ENGAGED_WINDOW_MS (index ranges reactions_user and comments_author, keyset on the
 * time-sortable id), keeps the live public posts and reels among them that are neither the
 * viewer's nor by an account the viewer follows (nor blocked either way or muted), and
 * ranks them by how many distinct followees engaged, then by the newest engagement. via
 * names the followees who engaged most recently. */
#include "svc/feed/sources_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "svc/common/sql.h"
#include "svc/engage/target.h"

const char *ch_feed_reason_name(ch_feed_reason_t r)
{
    switch (r) {
    case CH_FEED_REASON_FOLLOWING:
        return "following";
    case CH_FEED_REASON_LIKED_BY_FOLLOWING:
        return "liked_by_following";
    case CH_FEED_REASON_TRENDING_HASHTAG:
        return "trending_hashtag";
    case CH_FEED_REASON_INTEREST:
        return "interest";
    case CH_FEED_REASON_POPULAR:
        return "popular";
    case CH_FEED_REASON_SUGGESTED:
        return "suggested";
    }
    return "suggested";
}

void ch_feed__cand(ch_feed_cand_t *c, const char *type_name, uint64_t id, uint64_t author, ch_feed_reason_t r)
{
    memset(c, 0, sizeof(*c));
    int t = ch_target_from_name(type_name);
    c->key.type = (uint8_t)(t < 0 ? CH_TARGET_POST : t);
    c->key.id = id;
    c->author_id = author;
    c->reason = r;
}

int ch_feed__has(const ch_feed_cand_t *out, size_t n, ch_item_key_t key)
{
    for (size_t i = 0; i < n; i++)
        if (out[i].key.id == key.id && out[i].key.type == key.type)
            return 1;
    return 0;
}

ch_err_t ch_feed__viewer_profile(ch_svc_t *svc, uint64_t viewer, json_t **interests, char region[3])
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer)};
    *interests = NULL;
    region[0] = '\0';
    ch_err_t err = ch_sql_run(svc, "SELECT interests, region FROM users WHERE id = $1", p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    if (ch_db_rows_count(rows) == 1) {
        *interests = json_loads(ch_db_rows_text(rows, 0, 0), 0, NULL);
        const char *r = ch_db_rows_isnull(rows, 0, 1) ? "" : ch_db_rows_text(rows, 0, 1);
        if (strlen(r) == 2)
            memcpy(region, r, 3);
    }
    ch_db_rows_free(rows);
    if (!json_is_array(*interests)) {
        json_decref(*interests);
        *interests = json_array();
    }
    return *interests ? CH_OK : CH_EINTERNAL;
}

/* ---- engaged by following ---------------------------------------------------------------- */

/* One row per (item, followee) among the followees' newest engagements: type, id, author,
 * followee, the followee's newest engagement id with it. $1 viewer, $2 followees looked at,
 * $3 the oldest engagement id, $4 engagements read, $5 now. The engagement scan is bounded
 * before anything is joined; the type test is on items (a constant on reactions.target_type
 * would lead SQLite to the primary key, every reaction of that type). */
static const char ch__sql_engaged[] =
    "SELECT i.type, i.id, i.author_id, e.user_id, MAX(e.id) AS last FROM"
    " (SELECT target_type, target_id, user_id, id FROM"
    "  (SELECT r.target_type, r.target_id, r.user_id, r.id FROM reactions r"
    "   WHERE r.user_id IN (SELECT followee_id FROM follows WHERE follower_id = $1 ORDER BY id DESC LIMIT $2)"
    "   AND r.id >= $3"
    "   UNION ALL"
    "   SELECT c.target_type, c.target_id, c.author_id, c.id FROM comments c"
    "   WHERE c.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1 ORDER BY id DESC LIMIT $2)"
    "   AND c.id >= $3 AND c.deleted_at IS NULL) u"
    "  ORDER BY id DESC LIMIT $4) e"
    " JOIN items i ON i.id = e.target_id AND i.type = e.target_type"
    " JOIN users au ON au.id = i.author_id"
    " WHERE" CH_FEED__SQL_OUT_ITEM("$1", "$5") " AND"
    " NOT EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $1 AND fo.followee_id = i.author_id)"
    " GROUP BY i.type, i.id, i.author_id, e.user_id"
    " ORDER BY last DESC";

typedef struct {
    ch_feed_cand_t c;
    size_t engaged; /* distinct followees */
    uint64_t last;  /* newest engagement id */
} ch__engaged_t;

static int ch__cmp_engaged(const void *a, const void *b)
{
    const ch__engaged_t *x = a, *y = b;
    if (x->engaged != y->engaged)
        return x->engaged > y->engaged ? -1 : 1;
    if (x->last != y->last)
        return x->last > y->last ? -1 : 1;
    return 0;
}

ch_err_t ch_feed_engaged_by_following(ch_svc_t *svc, uint64_t viewer, size_t max, ch_feed_cand_t *out,
                                      size_t *n_out, ch_fault_t *f)
{
    (void)f;
    *n_out = 0;
    if (max == 0)
        return CH_OK;
    int64_t now = ch_now_ms();
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(CH_FEED_ENGAGED_FOLLOWEES_MAX),
                         CH_DB_P_INT(ch_id_floor(now - CH_FEED_ENGAGED_WINDOW_MS)),
                         CH_DB_P_INT(CH_FEED_ENGAGED_SCAN_MAX), CH_DB_P_INT(now)};
    ch_err_t err = ch_sql_run(svc, ch__sql_engaged, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    size_t nrows = ch_db_rows_count(rows), n = 0;
    ch__engaged_t *agg = ch_calloc(nrows + 1, sizeof(*agg));
    if (!agg) {
        ch_db_rows_free(rows);
        return CH_EINTERNAL;
    }
    /* Rows come newest engagement first, one per (item, followee): the first row of an item
     * sets its newest engagement, the first three followees are its via. */
    for (size_t r = 0; r < nrows; r++) {
        ch_feed_cand_t c;
        ch_feed__cand(&c, ch_db_rows_text(rows, r, 0), (uint64_t)ch_db_rows_int(rows, r, 1),
                      (uint64_t)ch_db_rows_int(rows, r, 2), CH_FEED_REASON_LIKED_BY_FOLLOWING);
        size_t k = 0;
        while (k < n && !(agg[k].c.key.id == c.key.id && agg[k].c.key.type == c.key.type))
            k++;
        if (k == n) {
            agg[n].c = c;
            agg[n].last = (uint64_t)ch_db_rows_int(rows, r, 4);
            n++;
        }
        if (agg[k].engaged < CH_FEED_VIA_MAX)
            agg[k].c.via[agg[k].engaged] = (uint64_t)ch_db_rows_int(rows, r, 3);
        agg[k].engaged++;
    }
    ch_db_rows_free(rows);
    qsort(agg, n, sizeof(*agg), ch__cmp_engaged);
    for (size_t k = 0; k < n && k < max; k++)
        out[(*n_out)++] = agg[k].c;
    free(agg);
    return CH_OK;
}
