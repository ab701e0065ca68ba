/* Changes to the social graph. Each runs as one "pair transaction" between the actor and
 * the other user:
 *
 *   1. BEGIN (SQLite: IMMEDIATE, so writers queue instead of failing on upgrade);
 *   2. lock the pair: a no-op UPDATE of the lower user id's row. On PostgreSQL every change
 *      between the same two users therefore runs one after the other, so a follow can never
 *      slip past a concurrent block, nor an approval past a cancel (READ COMMITTED would
 *      let both read "nothing there" and both write). Count updates later lock the higher
 *      id's row; every transaction takes its row locks in ascending id order, so graph
 *      writes cannot deadlock one another;
 *   3. read the relation (svc/graph/visibility.h) under that lock and decide;
 *   4. change edges; counts move only by the rows a statement really inserted or deleted
 *      (changes_out), so they stay exact however requests interleave; each change writes
 *      its outbox event;
 *   5. apply the count deltas (ascending id order), COMMIT, then forget both users'
 *      profiles when a count moved (svc/users/profile_fact.h), and the pair's relation from
 *      the hydration cache when an edge changed. */
#include "svc/graph/graph.h"

#include "core/clock.h"
#include "core/id.h"
#include "svc/common/hydrate.h"
#include "svc/common/outbox.h"
#include "svc/common/sql.h"
#include "svc/common/viewer_gen.h"
#include "svc/feed/celeb_gen.h"
#include "svc/graph/visibility.h"
#include "svc/users/profile_fact.h"

const char *ch_follow_state_name(ch_follow_state_t state)
{
    return state == CH_FOLLOW_REQUESTED ? "requested" : "following";
}

/* ---- pair transactions --------------------------------------------------------------- */

typedef struct {
    ch_svc_t *svc;
    ch_db_conn_t *conn;
    uint64_t ids[2];     /* [0] the actor, [1] the other user */
    ch_graph_rel_t rel;  /* actor's relation to the other user, read under the pair lock */
    int64_t followers[2]; /* count deltas, indexed like ids */
    int64_t following[2];
    int changed;          /* an edge (follow, request, block, mute) was inserted or deleted */
} ch__pair_t;

/* Begins the transaction, locks the pair and reads the relation. On error nothing is
 * left open. */
static ch_err_t ch__pair_begin(ch_svc_t *svc, uint64_t actor, uint64_t other, ch__pair_t *t)
{
    *t = (ch__pair_t){.svc = svc, .ids = {actor, other}};
    ch_err_t err = ch_sql_begin(svc, 1, &t->conn);
    if (err)
        return err;
    ch_db_param_t p[] = {CH_DB_P_INT(actor < other ? actor : other)};
    err = ch_sql_on(svc, t->conn, "UPDATE users SET followers_count = followers_count WHERE id = $1", p, 1, NULL, NULL);
    if (err == CH_OK)
        err = ch_graph_relation(svc, t->conn, actor, other, &t->rel);
    if (err) {
        ch_sql_end(svc, t->conn, err);
        t->conn = NULL;
    }
    return err;
}

/* Records count deltas for user (one of the pair). */
static void ch__pair_count(ch__pair_t *t, uint64_t user, int64_t d_followers, int64_t d_following)
{
    int i = user == t->ids[0] ? 0 : 1;
    t->followers[i] += d_followers;
    t->following[i] += d_following;
}

/* Applies the count deltas (ascending id order), commits or rolls back, and forgets the
 * cached profiles whose counts moved. Returns the transaction's outcome. */
static ch_err_t ch__pair_end(ch__pair_t *t, ch_err_t err)
{
    int first = t->ids[0] < t->ids[1] ? 0 : 1;
    int moved[2] = {t->followers[0] || t->following[0], t->followers[1] || t->following[1]};
    int celeb_moved = 0; /* a followers_count crossed the celebrity bound (svc/feed/celeb_gen.h) */
    for (int k = 0; k < 2 && err == CH_OK; k++) {
        int i = k == 0 ? first : 1 - first;
        if (!moved[i])
            continue;
        ch_db_param_t p[] = {CH_DB_P_INT(t->ids[i]), CH_DB_P_INT(t->followers[i]), CH_DB_P_INT(t->following[i])};
        ch_db_rows_t *rows = NULL;
        err = ch_sql_on(t->svc, t->conn,
                        "UPDATE users SET followers_count = followers_count + $2, "
                        "following_count = following_count + $3 WHERE id = $1 RETURNING followers_count",
                        p, CH_NPARAMS(p), &rows, NULL);
        if (err == CH_OK && t->followers[i] && ch_db_rows_count(rows) == 1) {
            int64_t after = ch_db_rows_int(rows, 0, 0);
            celeb_moved |= ch_celeb_gen_crosses(t->svc, after - t->followers[i], after);
        }
        ch_db_rows_free(rows);
    }
    err = ch_sql_end(t->svc, t->conn, err);
    t->conn = NULL;
    ch_hydrate_forget_hold(); /* the profiles and the relation in one round trip */
    for (int i = 0; i < 2 && err == CH_OK; i++)
        if (moved[i]) /* the counts a profile shows (after the real commit, store/db.h) */
            ch_users_profile_forget(t->svc, t->ids[i]);
    /* Both directions: a block also removed the follows and requests of either side. */
    if (err == CH_OK && t->changed)
        ch_hydrate_forget_relation(t->svc, t->ids[0], t->ids[1]);
    ch_hydrate_forget_flush(t->svc);
    /* follow, block, mute... change both users' ranked feeds: neither reuses a ranking */
    for (int i = 0; i < 2 && err == CH_OK; i++)
        ch_viewer_gen_bump_after_commit(t->svc, t->ids[i]);
    /* every follower of a new (or former) celebrity pulls them differently now */
    if (err == CH_OK && celeb_moved)
        ch_celeb_gen_bump_after_commit(t->svc);
    return err;
}

/* ---- edges ------------------------------------------------------------------------------ */

/* follower -> followee; counts and follow.created when it was new. */
static ch_err_t ch__follow_add(ch__pair_t *t, uint64_t follower, uint64_t followee)
{
    int64_t n = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(follower), CH_DB_P_INT(followee), CH_DB_P_INT(ch_id_next()),
                         CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(t->svc, t->conn,
                             "INSERT INTO follows(follower_id, followee_id, id, created_at) VALUES($1, $2, $3, $4) "
                             "ON CONFLICT DO NOTHING",
                             p, CH_NPARAMS(p), NULL, &n);
    if (err || n == 0)
        return err;
    t->changed = 1;
    ch__pair_count(t, follower, 0, 1);
    ch__pair_count(t, followee, 1, 0);
    return ch_outbox_add_pair(t->svc, t->conn, "follow.created", "follower_id", follower, "followee_id", followee);
}

/* Removes follower -> followee; counts and follow.deleted when it existed. */
static ch_err_t ch__follow_remove(ch__pair_t *t, uint64_t follower, uint64_t followee)
{
    int64_t n = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(follower), CH_DB_P_INT(followee)};
    ch_err_t err = ch_sql_on(t->svc, t->conn, "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2", p,
                             CH_NPARAMS(p), NULL, &n);
    if (err || n == 0)
        return err;
    t->changed = 1;
    ch__pair_count(t, follower, 0, -1);
    ch__pair_count(t, followee, -1, 0);
    return ch_outbox_add_pair(t->svc, t->conn, "follow.deleted", "follower_id", follower, "followee_id", followee);
}

/* Removes a pending request; *removed_out (may be NULL) tells whether there was one. The
 * event (topic, may be NULL for none) is written only then. */
static ch_err_t ch__request_remove(ch__pair_t *t, uint64_t requester, uint64_t target, const char *topic,
                                   int *removed_out)
{
    int64_t n = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(requester), CH_DB_P_INT(target)};
    ch_err_t err = ch_sql_on(t->svc, t->conn, "DELETE FROM follow_requests WHERE requester_id = $1 AND target_id = $2",
                             p, CH_NPARAMS(p), NULL, &n);
    if (removed_out)
        *removed_out = err == CH_OK && n > 0;
    if (err == CH_OK && n > 0)
        t->changed = 1;
    if (err || n == 0 || !topic)
        return err;
    return ch_outbox_add_pair(t->svc, t->conn, topic, "follower_id", requester, "followee_id", target);
}

/* Inserts or deletes a row of blocks or mutes (sql takes $1 actor, $2 target[, $3 time]);
 * the event is written when a row really changed. */
static ch_err_t ch__flag_change(ch__pair_t *t, const char *sql, int with_time, const char *topic,
                                const char *actor_field, const char *target_field)
{
    int64_t n = 0;
    ch_db_param_t p[] = {CH_DB_P_INT(t->ids[0]), CH_DB_P_INT(t->ids[1]), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(t->svc, t->conn, sql, p, with_time ? 3 : 2, NULL, &n);
    if (err || n == 0)
        return err;
    t->changed = 1;
    return ch_outbox_add_pair(t->svc, t->conn, topic, actor_field, t->ids[0], target_field, t->ids[1]);
}

/* ---- checks shared by the operations ------------------------------------------------- */

static ch_err_t ch__not_self(uint64_t actor, uint64_t target, const char *what, ch_fault_t *f)
{
    if (actor == target)
        return ch_fault(f, CH_EINVAL, "id", "you cannot %s yourself", what);
    return CH_OK;
}

static ch_err_t ch__user_not_found(ch_fault_t *f)
{
    return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
}

/* ---- follow ------------------------------------------------------------------------------ */

ch_err_t ch_graph_follow(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_follow_state_t *state_out,
                         ch_fault_t *f)
{
    ch__pair_t t;
    ch_err_t err = ch__not_self(actor, target, "follow", f);
    if (err || (err = ch__pair_begin(svc, actor, target, &t)) != CH_OK)
        return err;
    const ch_graph_rel_t *rel = &t.rel;
    *state_out = CH_FOLLOW_FOLLOWING;
    if (!rel->exists)
        err = ch__user_not_found(f);
    else if (rel->blocking)
        err = ch_fault(f, CH_ECONFLICT, NULL, "you block this user: unblock them before following");
    else if (rel->blocked_by)
        err = ch__user_not_found(f);
    else if (rel->following) {
        /* already following: same answer, nothing to write */
    } else if (rel->other_private) {
        *state_out = CH_FOLLOW_REQUESTED;
        if (!rel->requested) {
            int64_t n = 0;
            ch_db_param_t p[] = {CH_DB_P_INT(actor), CH_DB_P_INT(target), CH_DB_P_INT(ch_id_next()),
                                 CH_DB_P_INT(ch_now_ms())};
            err = ch_sql_on(svc, t.conn,
                            "INSERT INTO follow_requests(requester_id, target_id, id, created_at) "
                            "VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                            p, CH_NPARAMS(p), NULL, &n);
            t.changed = err == CH_OK && n > 0;
            if (t.changed)
                err = ch_outbox_add_pair(svc, t.conn, "follow.requested", "follower_id", actor, "followee_id", target);
        }
    } else {
        /* A public account (perhaps private when the request was made): follow now. */
        err = ch__follow_add(&t, actor, target);
        if (err == CH_OK && rel->requested)
            err = ch__request_remove(&t, actor, target, NULL, NULL);
    }
    return ch__pair_end(&t, err);
}

ch_err_t ch_graph_unfollow(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f)
{
    ch__pair_t t;
    ch_err_t err = ch__not_self(actor, target, "unfollow", f);
    if (err || (err = ch__pair_begin(svc, actor, target, &t)) != CH_OK)
        return err;
    if (!t.rel.exists)
        err = ch__user_not_found(f);
    if (err == CH_OK)
        err = ch__follow_remove(&t, actor, target);
    if (err == CH_OK)
        err = ch__request_remove(&t, actor, target, "follow.cancelled", NULL);
    return ch__pair_end(&t, err);
}

/* ---- follow requests --------------------------------------------------------------------- */

ch_err_t ch_graph_approve(ch_svc_t *svc, uint64_t actor, uint64_t requester, ch_fault_t *f)
{
    ch__pair_t t;
    int removed = 0;
    ch_err_t err = ch__pair_begin(svc, actor, requester, &t);
    if (err)
        return err;
    if (t.rel.exists && !t.rel.self)
        err = ch__request_remove(&t, requester, actor, "follow.approved", &removed);
    if (err == CH_OK && removed)
        err = ch__follow_add(&t, requester, actor);
    else if (err == CH_OK && !t.rel.followed_by) /* approving twice finds the follow already made */
        err = ch_fault(f, CH_ENOTFOUND, NULL, "no follow request from this user");
    return ch__pair_end(&t, err);
}

ch_err_t ch_graph_reject(ch_svc_t *svc, uint64_t actor, uint64_t requester, ch_fault_t *f)
{
    ch__pair_t t;
    int removed = 0;
    ch_err_t err = ch__pair_begin(svc, actor, requester, &t);
    if (err)
        return err;
    if (t.rel.exists && !t.rel.self)
        err = ch__request_remove(&t, requester, actor, "follow.rejected", &removed);
    if (err == CH_OK && !removed)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "no follow request from this user");
    return ch__pair_end(&t, err);
}

/* ---- block -------------------------------------------------------------------------------- */

ch_err_t ch_graph_block(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f)
{
    ch__pair_t t;
    ch_err_t err = ch__not_self(actor, target, "block", f);
    if (err || (err = ch__pair_begin(svc, actor, target, &t)) != CH_OK)
        return err;
    if (!t.rel.exists)
        err = ch__user_not_found(f);
    if (err == CH_OK)
        err = ch__flag_change(&t,
                              "INSERT INTO blocks(blocker_id, blocked_id, created_at) VALUES($1, $2, $3) "
                              "ON CONFLICT DO NOTHING",
                              1, "block.created", "blocker_id", "blocked_id");
    if (err == CH_OK)
        err = ch__follow_remove(&t, actor, target);
    if (err == CH_OK)
        err = ch__follow_remove(&t, target, actor);
    if (err == CH_OK)
        err = ch__request_remove(&t, actor, target, "follow.cancelled", NULL);
    if (err == CH_OK)
        err = ch__request_remove(&t, target, actor, "follow.cancelled", NULL);
    return ch__pair_end(&t, err);
}

ch_err_t ch_graph_unblock(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f)
{
    ch__pair_t t;
    ch_err_t err = ch__not_self(actor, target, "unblock", f);
    if (err || (err = ch__pair_begin(svc, actor, target, &t)) != CH_OK)
        return err;
    if (!t.rel.exists)
        err = ch__user_not_found(f);
    if (err == CH_OK)
        err = ch__flag_change(&t, "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2", 0, "block.deleted",
                              "blocker_id", "blocked_id");
    return ch__pair_end(&t, err);
}

/* ---- mute ---------------------------------------------------------------------------------- */

ch_err_t ch_graph_mute(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f)
{
    ch__pair_t t;
    ch_err_t err = ch__not_self(actor, target, "mute", f);
    if (err || (err = ch__pair_begin(svc, actor, target, &t)) != CH_OK)
        return err;
    if (!t.rel.exists)
        err = ch__user_not_found(f);
    if (err == CH_OK)
        err = ch__flag_change(&t,
                              "INSERT INTO mutes(muter_id, muted_id, created_at) VALUES($1, $2, $3) "
                              "ON CONFLICT DO NOTHING",
                              1, "mute.created", "muter_id", "muted_id");
    return ch__pair_end(&t, err);
}

ch_err_t ch_graph_unmute(ch_svc_t *svc, uint64_t actor, uint64_t target, ch_fault_t *f)
{
    ch__pair_t t;
    ch_err_t err = ch__not_self(actor, target, "unmute", f);
    if (err || (err = ch__pair_begin(svc, actor, target, &t)) != CH_OK)
        return err;
    if (!t.rel.exists)
        err = ch__user_not_found(f);
    if (err == CH_OK)
        err = ch__flag_change(&t, "DELETE FROM mutes WHERE muter_id = $1 AND muted_id = $2", 0, "mute.deleted",
                              "muter_id", "muted_id");
    return ch__pair_end(&t, err);
}
