"""Seeding a viewer who follows thousands, for the tests of the followee bounds
(test_feed_many_followees.py, test_tray_many_followees.py). Registering that many accounts
through the API would take minutes (password hashing), so the users and the viewer's follows
are written the way `chorusd seed` writes them: straight into the database behind the server
(social.db_rows: the SQLite file in embedded mode, psql in cluster mode). The caller writes
them before the viewer's first read, so that no cache of the server holds a state from before."""
import time

from social import db_rows

EPOCH_MS = 1704067200000  # core/id.h, CH_ID_EPOCH_MS


def edge_id(srv, backends, follower, followee):
    """The id of follower's follow of followee (time-sortable: the order of following)."""
    rows = db_rows(srv, backends,
                   f"SELECT id FROM follows WHERE follower_id = {follower.id} AND followee_id = {followee.id}")
    assert len(rows) == 1, rows
    return int(rows[0][0])


def seed_followees(srv, backends, viewer, after, n, tag):
    """Writes n users and viewer's follows of them, the follows' edge ids just above viewer's
    follow of after (newer than it, older than any follow made later through the API); adds n
    to viewer's following_count. User ids are time ids of nodes 1022-1023, which no server
    here uses; handles are tag + a number."""
    first = edge_id(srv, backends, viewer, after) + 1
    now = int(time.time() * 1000)
    ubase = ((now - EPOCH_MS) << 22) | (1022 << 12)
    rows = f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1}) "
    db_rows(srv, backends,
            rows + "INSERT INTO users(id, handle, password_hash, display_name, followers_count, created_at,"
            f" updated_at) SELECT {ubase} + i, '{tag}' || i, '!', 'seeded followee', 1, {now}, {now} FROM s")
    db_rows(srv, backends,
            rows + "INSERT INTO follows(follower_id, followee_id, id, created_at)"
            f" SELECT {viewer.id}, {ubase} + i, {first} + i, {now} FROM s")
    db_rows(srv, backends, f"UPDATE users SET following_count = following_count + {n} WHERE id = {viewer.id}")


def followees_newest_first(srv, backends, viewer):
    """viewer's followee ids (strings, as the API gives ids), most recently followed first."""
    rows = db_rows(srv, backends, f"SELECT followee_id FROM follows WHERE follower_id = {viewer.id} ORDER BY id DESC")
    return [r[0] for r in rows]
