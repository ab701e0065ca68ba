"""`chorusd seed`: a deterministic demo community that the API then serves, engagement
included: reactions with counters equal to their rows, comments with replies, mentions
and hashtags indexed as the write path indexes them, and the engagement events the worker
derives notifications and ranking signals from."""
import collections
import json
import re
import sqlite3
import time
import types
import urllib.parse
from pathlib import Path

import pytest

import conftest
from client import expect_status
from comments_helpers import walk
from engage_helpers import KINDS, all_reactions
from notify_helpers import all_notifications, unread, wait_until
from social import db_rows

ID_EPOCH_MS = 1704067200000
NOTIFY_HOURS = 24  # CH_SEED_NOTIFY_HOURS
SEGMENT = {"post": "posts", "reel": "reels", "story": "stories"}


def _seed(chorusd_env, env, *args):
    return conftest.run_chorusd(["seed", *args], env, timeout=300)


def _storage(env):
    return {k: v for k, v in env.items() if k.startswith("CHORUS_D") or k == "CHORUS_REDIS"}


def _sql(backends, env, query):
    return db_rows(types.SimpleNamespace(storage_env=env), backends, query)


def _count(backends, env, query):
    return int(_sql(backends, env, query)[0][0])


def _tags(text):
    """The hashtags of a seeded text (ASCII vocabulary), lower-case, in order, once each."""
    return list(dict.fromkeys(t.lower() for t in re.findall(r"(?<![A-Za-z0-9_])#([A-Za-z0-9_]+)", text or "")))


def _seeded(chorusd_env, users, seed):
    env = chorusd_env()
    p = _seed(chorusd_env, env, "--users", str(users), "--seed", str(seed))
    assert p.returncode == 0, p.stderr
    assert f"seeded {users} users" in p.stdout, p.stdout
    return env, p


@pytest.fixture
def seeded(chorusd_env, start_server):
    return _seeded(chorusd_env, 60, 5)


def test_seed_creates_a_community_the_api_serves(seeded, start_server):
    env, _ = seeded
    server = start_server(storage=_storage(env))
    account = server.client().login("maya_1", password="chorus-demo")
    me = account.user
    assert me["handle"] == "maya_1"
    # follower counts are exact: they equal the length of the followers list
    followers = []
    cursor = None
    while True:
        path = f"/v1/users/{me['id']}/followers?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = account.get(path)
        assert page.status == 200, page.describe()
        followers += page.json["items"]
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    profile = account.get(f"/v1/users/{me['id']}").json
    assert profile["followers_count"] == len(followers) > 0
    assert profile["posts_count"] > 0
    timeline = account.get(f"/v1/users/{me['id']}/posts?limit=100")
    assert timeline.status == 200, timeline.describe()
    assert len(timeline.json["items"]) == min(profile["posts_count"], 100)


def test_seed_refuses_to_run_twice_and_changes_nothing(seeded, chorusd_env, backends):
    env, _ = seeded
    tables = ["users", "follows", "items", "reactions", "comments", "mentions", "hashtags", "hashtag_hours",
              "target_counters", "engagement_events"]
    before = {t: _count(backends, env, f"SELECT COUNT(*) FROM {t}") for t in tables}
    again = _seed(chorusd_env, env, "--users", "60", "--seed", "5")
    assert again.returncode != 0
    assert "already" in again.stderr
    assert {t: _count(backends, env, f"SELECT COUNT(*) FROM {t}") for t in tables} == before


# ---- counters ----------------------------------------------------------------------------

def test_seeded_counters_equal_the_rows_and_repair_changes_nothing(seeded, chorusd_env, backends):
    env, _ = seeded
    stored = {(t, int(i)): tuple(int(v) for v in rest) for t, i, *rest in _sql(
        backends, env, "SELECT target_type, target_id, r_like, r_love, r_haha, r_wow, r_sad, r_angry, comments, views,"
                       " watch_ms FROM target_counters")}
    # Recounted here from the rows, independently of chorusd.
    want = collections.defaultdict(lambda: [0] * 9)
    for t, i, kind, n in _sql(backends, env, "SELECT target_type, target_id, kind, COUNT(*) FROM reactions"
                                             " GROUP BY target_type, target_id, kind"):
        want[(t, int(i))][KINDS.index(kind)] = int(n)
    for t, i, n in _sql(backends, env, "SELECT target_type, target_id, COUNT(*) FROM comments"
                                       " WHERE deleted_at IS NULL GROUP BY target_type, target_id"):
        want[(t, int(i))][6] = int(n)
    assert {k: tuple(v) for k, v in want.items()} == stored
    assert {t for t, _ in stored} == {"post", "reel", "story", "comment"}
    # ... and chorusd's own repair agrees: it checks every target and changes none.
    p = conftest.run_chorusd(["repair-counters"], env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"checked {len(stored)} targets, repaired 0", p.stdout


def test_seeded_reactions_follow_popularity(seeded, backends):
    env, _ = seeded
    rows = _sql(backends, env, "SELECT u.followers_count, COUNT(r.user_id) FROM items i"
                               " JOIN users u ON u.id = i.author_id"
                               " LEFT JOIN reactions r ON r.target_type = i.type AND r.target_id = i.id"
                               " WHERE i.type = 'post' GROUP BY i.id, u.followers_count")
    by_fans = sorted((int(f), int(n)) for f, n in rows)
    tenth = len(by_fans) // 10
    least = sum(n for _, n in by_fans[:tenth]) / tenth
    most = sum(n for _, n in by_fans[-tenth:]) / tenth
    assert most > 4 * least, (least, most)
    # one reaction per user and target
    assert _count(backends, env, "SELECT COUNT(*) FROM (SELECT 1 FROM reactions"
                                 " GROUP BY target_type, target_id, user_id HAVING COUNT(*) > 1) d") == 0
    assert {k for (k,) in _sql(backends, env, "SELECT DISTINCT kind FROM reactions")} == set(KINDS)


# ---- through the API ---------------------------------------------------------------------

def test_seeded_items_counts_lists_and_threads_agree(seeded, start_server, backends):
    env, _ = seeded
    server = start_server(storage=_storage(env))
    # The busiest items: most reactions, most comments, and threads with most replies; each
    # read by its author, who sees every reaction and comment.
    picked = _sql(backends, env, """
        SELECT DISTINCT i.id, i.type, u.handle FROM items i JOIN users u ON u.id = i.author_id WHERE i.id IN (
          SELECT target_id FROM (SELECT target_id FROM target_counters WHERE target_type IN ('post', 'reel')
                                 ORDER BY r_like + r_love + r_haha + r_wow + r_sad + r_angry DESC, target_id
                                 LIMIT 2) a
          UNION SELECT target_id FROM (SELECT target_id FROM target_counters WHERE target_type IN ('post', 'reel')
                                       ORDER BY comments DESC, target_id LIMIT 2) b
          UNION SELECT target_id FROM (SELECT target_id FROM comments ORDER BY replies_count DESC, id LIMIT 2) c)""")
    assert len(picked) >= 3
    threads, comments, accounts = 0, [], {}
    for item_id, item_type, handle in picked:
        if handle not in accounts:
            accounts[handle] = server.client().login(handle, password="chorus-demo")
        account, seg = accounts[handle], SEGMENT[item_type]
        it = expect_status(account.get(f"/v1/{seg}/{item_id}"), 200).json
        c = it["counts"]
        rows = all_reactions(account, seg, item_id)
        assert len(rows) == c["reactions_total"]
        assert len({r["user"]["id"] for r in rows}) == len(rows), "a user reacted twice"
        assert dict(collections.Counter(r["kind"] for r in rows)) == c["reactions"]
        # the item carries the hashtags of its caption
        assert it["hashtags"] == _tags(it["text"]) != []
        top = walk(account, f"/v1/{seg}/{item_id}/comments", sort="new")
        total = len(top)
        for t in top:
            comments.append((account, t))
            if t["replies_count"]:
                threads += 1
                replies = walk(account, f"/v1/comments/{t['id']}/replies")
                assert len(replies) == t["replies_count"]
                assert [r["id"] for r in t["replies"]] == [r["id"] for r in replies[:2]]
                assert all(r["parent_id"] == t["id"] for r in replies)
                comments.extend((account, r) for r in replies)
                total += len(replies)
        assert total == c["comments"], it
        # comments are reaction targets too, with their own counts
        for cm in top[:3]:
            got = all_reactions(account, "comments", cm["id"])
            assert len(got) == cm["counts"]["reactions_total"]
            assert dict(collections.Counter(r["kind"] for r in got)) == cm["counts"]["reactions"]
    assert threads > 0, "no comment with replies"
    assert all(cm["hashtags"] == _tags(cm["text"]) for _, cm in comments)
    mentioning = [(a, cm) for a, cm in comments if "@" in cm["text"]]
    assert mentioning, "no comment mentions anyone"
    for account, cm in mentioning:
        handle = re.search(r"@([a-z0-9_]+)", cm["text"]).group(1)
        user = expect_status(account.get(f"/v1/users/by-handle/{handle}"), 200).json
        assert cm["mentions"] == [{"id": user["id"], "handle": handle}]


def test_seeded_hashtag_pages_list_every_item_the_viewer_may_see(seeded, start_server, backends):
    env, _ = seeded
    server = start_server(storage=_storage(env))
    account = server.client().login("maya_1", password="chorus-demo")
    rows = _sql(backends, env, "SELECT i.id, i.text, i.visibility, u.is_private, i.author_id FROM items i"
                               " JOIN users u ON u.id = i.author_id WHERE i.type IN ('post', 'reel')")
    follows = {f for (f,) in _sql(backends, env, f"SELECT followee_id FROM follows WHERE follower_id = {account.id}")}
    by_tag = collections.Counter(t for _, text, *_ in rows for t in _tags(text))
    tag = by_tag.most_common(1)[0][0]
    tagged = [r for r in rows if tag in _tags(r[1])]
    head = expect_status(account.get(f"/v1/hashtags/{urllib.parse.quote(tag.upper())}"), 200).json
    # items_count: the public items of accounts that are not private (the same for everyone)
    public = [r for r in tagged if r[2] == "public" and r[3] in ("0", 0)]
    assert head == {"tag": tag, "items_count": len(public)}
    visible = sorted((int(i) for i, _, vis, private, author in tagged
                      if author == account.id or author in follows or (vis == "public" and private == "0")),
                     reverse=True)
    page = walk(account, f"/v1/hashtags/{tag}/items")
    assert [int(i["id"]) for i in page] == visible
    assert all(tag in i["hashtags"] for i in page)
    assert len(visible) < len(tagged), "the seed makes some followers-only items and private accounts"


def test_seeded_trending_shows_the_tags_of_the_last_hour(chorusd_env, start_server, backends):
    env, _ = _seeded(chorusd_env, 400, 5)
    server = start_server(storage=_storage(env))
    account = server.client().login("maya_1", password="chorus-demo")

    def used_last_hour():
        since = int(time.time() * 1000) - 3600 * 1000
        return {t: int(n) for t, n in _sql(backends, env, f"SELECT tag, COUNT(*) FROM hashtags WHERE created_at > {since}"
                                                         " GROUP BY tag HAVING COUNT(*) >= 2")}
    before = used_last_hour()
    got = expect_status(account.get("/v1/trending/hashtags"), 200).json["items"]
    after = used_last_hour()
    assert got, "nothing trends in the seeded community"
    assert {t["tag"]: t["uses_last_hour"] for t in got} in (before, after)
    # the tag of the moment rises far above its own baseline (the seeded history)
    assert got[0]["score"] > 2 and got[0]["baseline_per_hour"] > 0, got


# ---- events, notifications, signals ------------------------------------------------------

def test_seeded_events_are_those_of_the_write_path(seeded, backends):
    env, _ = seeded
    kinds = dict(_sql(backends, env, "SELECT kind, COUNT(*) FROM engagement_events GROUP BY kind"))
    assert int(kinds["reaction"]) == _count(backends, env, "SELECT COUNT(*) FROM reactions")
    assert int(kinds["comment"]) == _count(backends, env, "SELECT COUNT(*) FROM comments WHERE parent_id IS NULL")
    assert int(kinds["reply"]) == _count(backends, env, "SELECT COUNT(*) FROM comments WHERE parent_id IS NOT NULL")
    assert set(kinds) == {"reaction", "comment", "reply", "mention"}
    # every reaction has its event: same id and moment, to the target's owner, its kind's weight
    assert _count(backends, env, """
        SELECT COUNT(*) FROM reactions r JOIN engagement_events e ON e.id = r.id AND e.kind = 'reaction'
         AND e.user_id = r.user_id AND e.target_type = r.target_type AND e.target_id = r.target_id
         AND e.ts = r.created_at
         AND e.value = CASE WHEN r.kind = 'like' THEN 1.0 ELSE 1.5 END
         AND e.author_id = COALESCE((SELECT author_id FROM items WHERE id = r.target_id AND type = r.target_type),
                                    (SELECT author_id FROM comments WHERE id = r.target_id
                                     AND r.target_type = 'comment'))""") == int(kinds["reaction"])
    # comments and replies: on the item, to its author resp. the parent comment's author
    assert _count(backends, env, """
        SELECT COUNT(*) FROM comments c JOIN engagement_events e ON e.id = c.id
         AND e.target_type = c.target_type AND e.target_id = c.target_id AND e.user_id = c.author_id
         AND e.ts = c.created_at
         AND ((c.parent_id IS NULL AND e.kind = 'comment'
               AND e.author_id = (SELECT author_id FROM items WHERE id = c.target_id))
           OR (c.parent_id IS NOT NULL AND e.kind = 'reply'
               AND e.author_id = (SELECT author_id FROM comments p WHERE p.id = c.parent_id)))""") == \
        int(kinds["comment"]) + int(kinds["reply"])
    # mentions notify someone mentioned in that text, never the writer
    assert _count(backends, env, """
        SELECT COUNT(*) FROM engagement_events e JOIN mentions m ON m.target_type = e.target_type
         AND m.target_id = e.target_id AND m.user_id = e.author_id
         WHERE e.kind = 'mention' AND e.user_id <> e.author_id""") == int(kinds["mention"])
    # ids are of the event's moment (time-sortable, as ch_id_next's are)
    assert _count(backends, env, f"SELECT COUNT(*) FROM engagement_events"
                                 f" WHERE id / 4194304 + {ID_EPOCH_MS} <> ts") == 0


def test_worker_derives_recent_notifications_and_all_signals(seeded, start_server, backends):
    env, _ = seeded
    (cursor,) = _sql(backends, env, "SELECT last_id FROM consumer_offsets WHERE name = 'notify.events'")[0]
    window_start = int(cursor) // 4194304 + ID_EPOCH_MS
    assert abs(time.time() * 1000 - NOTIFY_HOURS * 3600 * 1000 - window_start) < 300 * 1000
    older = _count(backends, env, f"SELECT COUNT(*) FROM engagement_events WHERE id <= {cursor}")
    recent = _count(backends, env, f"SELECT COUNT(*) FROM engagement_events WHERE id > {cursor}")
    assert older > recent > 0
    want_groups = set(_sql(backends, env, f"""
        SELECT DISTINCT author_id, kind, target_type, target_id FROM engagement_events
         WHERE id > {cursor} AND user_id <> author_id AND kind IN ('reaction', 'comment', 'reply', 'mention')"""))
    want_affinity = _count(backends, env, "SELECT COUNT(*) FROM (SELECT DISTINCT user_id, author_id"
                                          " FROM engagement_events WHERE user_id <> author_id) d")
    want_velocity = _count(backends, env, "SELECT COUNT(*) FROM (SELECT DISTINCT target_type, target_id"
                                          " FROM engagement_events) d")
    server = start_server(storage=_storage(env))

    def done():
        return (_count(backends, env, "SELECT COUNT(*) FROM affinity") == want_affinity
                and _count(backends, env, "SELECT COUNT(*) FROM velocity") == want_velocity
                and set(_sql(backends, env, "SELECT user_id, kind, target_type, target_id FROM notifications"))
                == want_groups)
    wait_until(done, "the worker to fold the seeded events", timeout=120, interval=0.5)
    # only the last day's engagement notifies: the groups are those of the recent events, all of them
    (uid, n), = _sql(backends, env, "SELECT user_id, COUNT(*) FROM notifications GROUP BY user_id"
                                    " ORDER BY COUNT(*) DESC, user_id LIMIT 1")
    (handle,), = _sql(backends, env, f"SELECT handle FROM users WHERE id = {uid}")
    account = server.client().login(handle, password="chorus-demo")
    got = all_notifications(account)
    assert len(got) == int(n) == unread(account)
    assert {g["kind"] for g in got} <= {"reaction", "comment", "reply", "mention"}


# ---- determinism -------------------------------------------------------------------------

@pytest.mark.skipif(conftest.MODE != "embedded", reason="reads the SQLite file directly")
def test_seed_is_deterministic(chorusd_env):
    def community(seed):
        env = chorusd_env()
        assert _seed(chorusd_env, env, "--users", "40", "--seed", seed).returncode == 0
        db = sqlite3.connect(Path(env["CHORUS_DATA_DIR"]) / "chorus.db")
        users = db.execute("SELECT handle, display_name, bio, is_private FROM users ORDER BY handle").fetchall()
        edges = db.execute("SELECT a.handle, b.handle FROM follows f JOIN users a ON a.id = f.follower_id "
                           "JOIN users b ON b.id = f.followee_id ORDER BY 1, 2").fetchall()
        # Ids and times are relative to the moment of seeding: compare handles and positions.
        texts = [(t, text, [m["handle"] for m in json.loads(m or "[]")], h) for t, text, m, h in db.execute(
            "SELECT type, text, mentions, hashtags FROM items ORDER BY id")]
        rank = {i: n for n, (i,) in enumerate(db.execute(
            "SELECT id FROM items UNION ALL SELECT id FROM comments ORDER BY 1"))}
        reactions = sorted((rank[t], h, k) for t, h, k in db.execute(
            "SELECT r.target_id, u.handle, r.kind FROM reactions r JOIN users u ON u.id = r.user_id"))
        comments = [(rank[t], rank.get(p), h, text) for t, p, h, text in db.execute(
            "SELECT c.target_id, c.parent_id, u.handle, c.text FROM comments c JOIN users u ON u.id = c.author_id"
            " ORDER BY c.id")]
        events = db.execute("SELECT kind, COUNT(*), SUM(value) FROM engagement_events GROUP BY kind").fetchall()
        counters = db.execute("SELECT target_type, r_like, r_love, r_haha, r_wow, r_sad, r_angry, comments"
                              " FROM target_counters ORDER BY target_type, target_id").fetchall()
        return users, edges, texts, reactions, comments, events, counters
    a, b, c = community("9"), community("9"), community("10")
    assert a == b
    assert a[1] != c[1]
    assert a[3] != c[3]
    assert all(a[i] for i in range(len(a)))


@pytest.mark.parametrize("args", [["--users", "1"], ["--users", "x"], ["--seed", "-3"], ["--nope"]])
def test_seed_bad_arguments(chorusd_env, args):
    p = _seed(chorusd_env, chorusd_env(), *args)
    assert p.returncode == 2, p.stderr
