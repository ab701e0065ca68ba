"""The feed's write path and in-network source through GET /v1/feed/following: fan-out of
posts and reels by the worker (asynchronous: tests poll, bounded), what unfollow, block,
mute and delete take out, followers-only and private content, celebrities pulled at read
instead of pushed, pagination while new posts arrive, a worker killed with posts pending,
the delivery metrics, and timelines rebuilt for users without one."""
import re
import signal
import time

from client import Client, expect_status
from notify_helpers import wait_until
from conftest import MODE
from social import approve, block, create, follow, make_private, mute, post, reel

FEED = "/v1/feed/following"


def feed_ids(acc, **params):
    """Item ids of one page of acc's following feed, and the page."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    page = expect_status(acc.get(FEED + (f"?{query}" if query else "")), 200).json
    for e in page["items"]:
        assert e["reason"] == "following"
    return [e["item"]["id"] for e in page["items"]], page


def all_ids(acc, limit=50):
    ids, _ = feed_ids(acc, limit=limit)
    return ids


def wait_in(acc, item_id, what="the item in the following feed"):
    wait_until(lambda: item_id in all_ids(acc), what, timeout=20)


def wait_out(acc, item_id, what="the item out of the following feed"):
    wait_until(lambda: item_id not in all_ids(acc), what, timeout=20)


def metrics(srv):
    return Client(srv.base_url).request("GET", "/metrics", check=False).text


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_a_follower_gets_new_posts_and_reels_and_loses_them_on_unfollow(api, server):
    author, fan = api.register(), api.register()
    assert follow(fan, author) == "following"
    assert all_ids(fan) == []  # the first read makes the timeline that pushes go to
    before = metric(metrics(server), "chorus_feed_fanout_writes_total") or 0
    p, r = post(author, "first"), reel(author)
    wait_in(fan, p["id"])
    wait_in(fan, r["id"])
    ids, page = feed_ids(fan)
    assert ids[:2] == [r["id"], p["id"]]  # newest first
    assert page["items"][0]["item"]["type"] == "reel"
    # The worker pushed them (the timeline existed): counted in its metrics, which the worker
    # may update just after the timeline shows the items (polled).
    text = wait_until(lambda: (lambda t: t if (metric(t, "chorus_feed_fanout_writes_total") or 0) >= before + 2
                               and (metric(t, "chorus_feed_delivery_seconds_count") or 0) >= 1 else None)(
        metrics(server)), "the two pushes counted")
    assert 'chorus_feed_fanout_skipped_total{reason="celebrity"}' in text
    # Stories never enter the feed.
    s = create(author, "stories", {"media_url": "https://cdn.example.com/s.jpg", "kind": "image"})
    expect_status(fan.delete(f"/v1/users/{author.id}/follow"), 204)
    wait_out(fan, p["id"])
    assert s["id"] not in all_ids(fan) and r["id"] not in all_ids(fan)


def test_block_either_way_mute_and_delete_take_items_out_at_once(api):
    author = api.register()
    muter, blocked, blocker, reader = (api.register() for _ in range(4))
    for f in (muter, blocked, blocker, reader):
        follow(f, author)
        all_ids(f)
    p = post(author, "seen by four")
    for f in (muter, blocked, blocker, reader):
        wait_in(f, p["id"])
    # Filtered at read as well as removed by the worker: gone at the next request.
    mute(muter, author)
    block(author, blocked)
    block(blocker, author)
    for f in (muter, blocked, blocker):
        assert p["id"] not in all_ids(f)
    # A new post reaches none of them (the muter still follows), but the reader.
    p2 = post(author, "after")
    wait_in(reader, p2["id"])
    for f in (muter, blocked, blocker):
        assert p2["id"] not in all_ids(f)
    # Unmute: the author's items come back (merged again by the worker or pulled).
    expect_status(muter.delete(f"/v1/users/{author.id}/mute"), 204)
    wait_in(muter, p2["id"])
    # A deleted item is gone at once.
    expect_status(author.delete(f"/v1/posts/{p2['id']}"), 204)
    assert p2["id"] not in all_ids(reader) and p2["id"] not in all_ids(muter)
    assert p["id"] in all_ids(reader)


def test_followers_only_and_private_accounts(api):
    author, fan, stranger = api.register(), api.register(), api.register()
    follow(fan, author)
    all_ids(fan)
    fo = post(author, "for followers", visibility="followers")
    wait_in(fan, fo["id"])
    assert all_ids(stranger) == []
    # A private account: only after the approval (follow.created merges recent items).
    private, asker = api.register(), api.register()
    make_private(private)
    old = post(private, "before approval")
    all_ids(asker)
    assert follow(asker, private) == "requested"
    # A request alone delivers nothing: once a later post of a public account the asker
    # follows has arrived, the worker is past the request.
    public = api.register()
    follow(asker, public)
    marker = post(public, "after the request")
    wait_in(asker, marker["id"])
    assert old["id"] not in all_ids(asker)
    approve(private, asker)
    wait_in(asker, old["id"], "the private account's post merged at the approval")
    new = post(private, "after approval", visibility="followers")
    wait_in(asker, new["id"])


def test_pages_never_repeat_or_skip_while_posts_arrive(api):
    author, other_author, fan = api.register(), api.register(), api.register()
    follow(fan, author)
    follow(fan, other_author)
    all_ids(fan)
    made = []
    for i in range(7):
        made.append(post(author if i % 2 else other_author, f"p{i}")["id"])
    wait_until(lambda: all(i in all_ids(fan) for i in made), "all seven posts in the feed", timeout=20)
    seen, cursor = [], None
    first = True
    while True:
        params = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        ids, page = feed_ids(fan, **params)
        seen += ids
        if first:
            newer = [post(author, "arrives between pages")["id"], reel(other_author)["id"]]
            first = False
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(made, key=int, reverse=True)  # every item once, newest first
    # A fresh request shows the new ones on top.
    wait_until(lambda: all_ids(fan)[:2] == list(reversed(newer)), "the new items on top of a fresh page",
               timeout=20)


def test_bad_limit_and_cursor_are_422_on_the_field(api, user):
    for bad in ("0", "51", "x", "-1"):
        r = expect_status(user.get(f"{FEED}?limit={bad}"), 422)
        assert r.json["field"] == "limit"
    r = expect_status(user.get(f"{FEED}?cursor=nope"), 422)
    assert r.json["field"] == "cursor"
    assert expect_status(user.get(f"{FEED}?limit=50"), 200).json == {"items": [], "next_cursor": None}
    expect_status(Client(api.base_url).get(FEED), 401)


def test_a_celebrity_is_pulled_not_pushed(start_server):
    srv = start_server(env={"CHORUS_FEED_CELEBRITY_FOLLOWERS": "3"}, name="celebrity")
    c = srv.client()
    star, ordinary = c.register(), c.register()
    fans = [c.register() for _ in range(3)]
    for f in fans:
        follow(f, star)
        all_ids(f)
    follow(fans[0], ordinary)
    p = post(star, "to my many fans")
    for f in fans:
        wait_in(f, p["id"], "the celebrity's post, pulled at read")
    wait_until(lambda: (metric(metrics(srv), 'chorus_feed_fanout_skipped_total{reason="celebrity"}') or 0) >= 3,
               "the celebrity's post skipped by the fan-out")
    # An ordinary author's post is pushed; the celebrity's never was.
    q = post(ordinary, "to my one fan")
    wait_in(fans[0], q["id"])
    wait_until(lambda: metric(metrics(srv), "chorus_feed_fanout_writes_total") == 1,
               "exactly one timeline insert (the ordinary post)")
    ids = all_ids(fans[0])
    assert ids.index(q["id"]) < ids.index(p["id"])  # merged newest first
    # Pages over pushed and pulled items together: each once, newest first.
    made = [p["id"], q["id"]] + [post(star if i % 2 else ordinary, f"mixed {i}")["id"] for i in range(6)]
    wait_until(lambda: all(i in all_ids(fans[0]) for i in made), "the mixed posts in the feed", timeout=20)
    for limit in (1, 2, 3):
        seen, cursor = [], None
        while True:
            ids, page = feed_ids(fans[0], limit=limit, **({"cursor": cursor} if cursor else {}))
            seen += ids
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == sorted(made, key=int, reverse=True), limit


def test_pull_mode_pushes_nothing_and_readers_still_see_everything(start_server):
    srv = start_server(env={"CHORUS_FEED_FANOUT": "pull"}, name="pull-mode")
    c = srv.client()
    author, fan = c.register(), c.register()
    follow(fan, author)
    all_ids(fan)
    p = post(author)
    wait_in(fan, p["id"])
    wait_until(lambda: (metric(metrics(srv), 'chorus_feed_fanout_skipped_total{reason="pull"}') or 0) >= 1,
               "the post skipped as pulled")
    assert metric(metrics(srv), "chorus_feed_fanout_writes_total") == 0


def test_timeline_rebuilt_for_a_new_user_and_after_a_restart(start_server):
    srv = start_server(name="rebuild")
    c = srv.client()
    author = c.register()
    older = [post(author, f"old {i}")["id"] for i in range(3)]
    late = c.register()  # no timeline yet: built from the database at the first read
    follow(late, author)
    assert all_ids(late)[:3] == list(reversed(older))
    storage = srv.storage_env
    srv.stop()
    srv2 = start_server(storage=storage, name="rebuild-again")
    again = Client(srv2.base_url).login(late.handle)
    assert all_ids(again)[:3] == list(reversed(older))  # in-process store: rebuilt after the restart


def test_posts_pending_when_the_worker_dies_are_delivered_by_the_next(start_server):
    if MODE == "cluster":  # a worker-only process next to the api, sharing Redis timelines
        api_srv = start_server(env={"CHORUS_ROLES": "api,gateway"}, name="fan-api")
        worker = start_server(env={"CHORUS_ROLES": "worker"}, storage=api_srv.storage_env, name="fan-worker")
    else:  # one process owns the SQLite file and its in-process timelines
        api_srv = worker = start_server(name="fan-all")
    c = Client(api_srv.base_url)
    author, fan = c.register(), c.register()
    follow(fan, author)
    all_ids(fan)
    worker.kill()  # kill -9
    if MODE == "cluster":
        pending = [post(author, f"pending {i}")["id"] for i in range(3)]
        time.sleep(0.5)
        worker = start_server(env={"CHORUS_ROLES": "worker"}, storage=api_srv.storage_env, name="fan-worker2")
    else:
        api_srv = worker = start_server(storage=api_srv.storage_env, name="fan-all2")
        fan = Client(api_srv.base_url).login(fan.handle)
        author = Client(api_srv.base_url).login(author.handle)
        all_ids(fan)
        pending = [post(author, f"after restart {i}")["id"] for i in range(3)]
    for i in pending:
        wait_in(fan, i, "a post made while no worker ran")
    wait_until(lambda: (metric(metrics(worker), "chorus_feed_fanout_writes_total") or 0) >= 1,
               "the new worker pushed the pending posts")
    lag = [ln for ln in metrics(worker).splitlines()
           if ln.startswith('chorus_consumer_lag_seconds{consumer="feed.fanout"}')]
    assert lag, "the fan-out's lag is exported"


def test_redis_down_the_feed_reads_the_database_and_the_fanout_catches_up(start_server, redis_ctl):
    srv = start_server(name="feed-redis")
    c = srv.client()
    author, fan = c.register(), c.register()
    follow(fan, author)
    all_ids(fan)
    redis_ctl.stop()
    try:
        p = post(author, "while Redis is down")
        assert p["id"] in all_ids(fan)  # the page comes from the database meanwhile
    finally:
        redis_ctl.start()
    # The fan-out retried with backoff until Redis answered again (this one keeps no data:
    # the timeline went with it, so the post finds the follower inactive).
    def handled():
        text = metrics(srv)
        return ((metric(text, "chorus_feed_fanout_writes_total") or 0)
                + (metric(text, 'chorus_feed_fanout_skipped_total{reason="inactive"}') or 0)) >= 1
    wait_until(handled, "the post fanned out once Redis is back", timeout=40)
    q = post(author, "after")
    wait_in(fan, q["id"])
    assert all_ids(fan)[:2] == [q["id"], p["id"]]  # the timeline rebuilt from the database


def test_an_api_only_and_a_worker_only_process_deliver_together(start_server):
    """Cluster: the worker pushes into the shared Redis timelines. Embedded: the worker's
    in-process timelines are not the api process's, so the api process reads the database."""
    api_srv = start_server(env={"CHORUS_ROLES": "api,gateway"}, name="split-api")
    start_server(env={"CHORUS_ROLES": "worker"}, storage=api_srv.storage_env, name="split-worker")
    c = api_srv.client()
    author, fan = c.register(), c.register()
    follow(fan, author)
    all_ids(fan)
    p = post(author, "through the api process")
    wait_in(fan, p["id"], "the post, delivered across the two processes")
    expect_status(fan.delete(f"/v1/users/{author.id}/follow"), 204)
    wait_out(fan, p["id"])


def test_a_muted_fast_poster_does_not_end_the_feed_early(start_server):
    """Every followee pulled at read: the muted author's many newer items are left out in SQL,
    so the other followees' older items stay reachable, page by page."""
    srv = start_server(env={"CHORUS_FEED_FANOUT": "pull"}, name="mute-pulled")
    c = srv.client()
    quiet, fast, viewer = c.register(), c.register(), c.register()
    follow(viewer, quiet)
    follow(viewer, fast)
    old = post(quiet, "older, from a quiet followee")["id"]
    noisy = [post(fast, f"noise {i}")["id"] for i in range(12)]
    wait_in(viewer, noisy[-1])
    mute(viewer, fast)
    for limit in (1, 2, 20):
        ids, page = feed_ids(viewer, limit=limit)
        assert ids == [old], limit
    # The cursor is not null while the source goes on, and null once it has ended.
    ids, page = feed_ids(viewer, limit=1)
    assert page["next_cursor"] is not None
    ids, page = feed_ids(viewer, limit=1, cursor=page["next_cursor"])
    assert ids == [] and page["next_cursor"] is None


def test_a_muted_celebrity_does_not_end_the_feed_early(start_server):
    """A celebrity's items are pulled at read from its recent items, which are anyone's: the
    source leaves out those of a celebrity the viewer mutes, so they never fill the pages'
    rounds and the other followees' older items stay on the first page."""
    srv = start_server(env={"CHORUS_FEED_CELEBRITY_FOLLOWERS": "2"}, name="mute-celebrity")
    c = srv.client()
    star, quiet, viewer, fan = c.register(), c.register(), c.register(), c.register()
    for f in (viewer, fan):
        follow(f, star)
    follow(viewer, quiet)
    old = post(quiet, "older, from a quiet followee")["id"]
    wait_in(viewer, old)
    noisy = [post(star, f"noise {i}")["id"] for i in range(12)]
    wait_in(viewer, noisy[-1], "the celebrity's newest post, pulled at read")
    mute(viewer, star)
    for limit in (1, 2, 20):
        ids, _ = feed_ids(viewer, limit=limit)
        assert ids == [old], limit
    assert all_ids(fan)[:12] == noisy[::-1]  # the fan who does not mute still gets them


def test_an_unfollowed_author_stays_out_while_the_fanout_lags(start_server):
    """No worker runs, so follow.deleted never reaches the timeline: its entries are checked
    against the current follows at read (cluster: the Redis timeline the api process reads)."""
    srv = start_server(env={"CHORUS_ROLES": "api,gateway"}, name="unfollow-lag")
    c = srv.client()
    author, other, fan = c.register(), c.register(), c.register()
    follow(fan, author)
    follow(fan, other)
    gone = [post(author, f"before unfollow {i}")["id"] for i in range(3)]
    kept = post(other, "still followed")["id"]
    ids = all_ids(fan)  # makes the timeline (rebuilt from the database) with the author's posts
    assert set(gone) <= set(ids) and kept in ids
    expect_status(fan.delete(f"/v1/users/{author.id}/follow"), 204)
    ids = all_ids(fan)
    assert kept in ids and not set(gone) & set(ids)
    for limit in (1, 2):
        seen, cursor = [], None
        for _ in range(10):
            page_ids, page = feed_ids(fan, limit=limit, **({"cursor": cursor} if cursor else {}))
            seen += page_ids
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == [kept], limit


def test_a_worker_only_process_leaves_the_fanout_to_the_api_process(start_server):
    """Embedded: a worker-only process next to an all-roles one does not take fan-out batches
    (its in-process timelines have no reader), so every push lands where the reads are.
    Cluster: both push into the shared Redis timelines."""
    main = start_server(name="fan-main")
    start_server(env={"CHORUS_ROLES": "worker"}, storage=main.storage_env, name="fan-extra-worker")
    c = main.client()
    author, fan = c.register(), c.register()
    follow(fan, author)
    all_ids(fan)  # the timeline exists in the main process
    made = []
    for i in range(6):
        made.append(post(author, f"pushed {i}")["id"])
        time.sleep(0.3)  # separate outbox batches, for either process to take
    wait_until(lambda: all(i in all_ids(fan) for i in made), "every post in the main process's timeline",
               timeout=20)


def test_a_large_following_keeps_recent_posters_and_every_celebrity(start_server):
    """The pull set's bound (CHORUS_FEED_PULL_AUTHORS, 2 here) cuts the followees who posted
    least recently, not the ones followed first; celebrities are pulled by a join, unbounded."""
    srv = start_server(env={"CHORUS_FEED_PULL_AUTHORS": "2", "CHORUS_FEED_PUSH_COST": "1000",
                            "CHORUS_FEED_CELEBRITY_FOLLOWERS": "2"}, name="large-following")
    c = srv.client()
    # Ordinary followees, all pulled (push cost 1000): followed first, posted last.
    first, second, third, viewer = c.register(), c.register(), c.register(), c.register()
    all_ids(viewer)  # the timeline exists (empty) before: nothing below comes from a rebuild
    for a in (first, second, third):
        follow(viewer, a)
    older = [post(second, "second")["id"], post(third, "third")["id"]]
    latest = post(first, "first followed, latest post")["id"]
    # The worker records each post's time (feed_authors) as it skips it: the set, computed
    # (and cached) at the next read, ranks by it.
    wait_until(lambda: (metric(metrics(srv), 'chorus_feed_fanout_skipped_total{reason="pull"}') or 0) >= 3,
               "the three posts handled by the fan-out")
    wait_in(viewer, latest, "the latest poster's item, pulled")
    ids = all_ids(viewer)
    assert ids[0] == latest and older[1] in ids
    # Celebrities (two followers each): every one of them, beyond the bound.
    fan, helper = c.register(), c.register()
    stars = [c.register() for _ in range(3)]
    for s in stars:
        follow(helper, s)
        follow(fan, s)
    made = [post(s, "from a star")["id"] for s in stars]
    assert all_ids(fan) == list(reversed(made))


def test_a_rebuild_keeps_authors_the_reader_pulls_but_the_writer_pushes(start_server):
    """Equal costs: a new author and a new reader sit in the reader's margin (pulled at read)
    while the writer pushes. The rebuild keeps such an author's items, so they stay once the
    reader stops pulling that author (here: the bounded pull set moves to a newer poster)."""
    srv = start_server(env={"CHORUS_FEED_PULL_AUTHORS": "1", "CHORUS_FEED_PUSH_COST": "1",
                            "CHORUS_FEED_PULL_COST": "1"}, name="rebuild-margin")
    c = srv.client()
    x, y, z, reader = c.register(), c.register(), c.register(), c.register()
    follow(reader, x)
    follow(reader, y)
    p1 = post(x, "before the reader's timeline")["id"]
    wait_until(lambda: (metric(metrics(srv), 'chorus_feed_fanout_skipped_total{reason="inactive"}') or 0) >= 1,
               "x's post handled (no timeline yet)")
    assert all_ids(reader) == [p1]  # rebuilt now; x is in the pull set (the only poster)
    q1 = post(y, "pushed")["id"]
    wait_in(reader, q1)
    follow(reader, z)  # drops the cached pull set once the worker applies it
    z1 = post(z, "newest poster")["id"]
    wait_in(reader, z1, "z's post (the follow applied first)")
    assert all_ids(reader) == [z1, q1, p1]
