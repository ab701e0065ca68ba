"""Notifications and the story tray served on the event loop in cluster mode (docs/design.md,
"### l1 on the loop", package reads17b): with two chorusd nodes on one PostgreSQL + Redis,
node B answers a warm first page of a viewer's notifications, their unread count and their
story tray on its event loop (chorus_loop_reads_total grows, chorus_loop_reads_moved_total
does not): the viewer's newest notification groups and unread count are the viewer's own
facts (N:<user>, U:<user>), the tray is the viewer's followees (f:<user>), each author's
active stories (s:<author>) and the viewer's seen state (v:...). Every change made on node A
shows on B's next read: a new notification, a fold into a group, mark read, read all, a
block, a deleted target; a new story, a deleted story, an expired story, a story seen, an
unfollow.

Notifications are written by A's worker (asynchronous): each step waits until A's database has
the change (a 100-row page, past the cached 50, is a statement), then allows B 10 s for the
forget to reach its subscriber thread. The nodes run with a 10 min L1 TTL, so only the
invalidations can pass."""
import pytest

from client import expect_status
from conftest import MODE
from notify_helpers import wait_until
from social import block, follow, post, story
from test_cluster_loop_lists import moved, on_loop, served_on_loop
from test_hydrate_cache import _as, react
from test_hydrate_l1 import soon, wait_live

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")

STORY_TTL_S = 12  # the warm reads on B (up to three tries) must fit in it on a loaded machine


def pair(start_server, fresh_storage, name, **extra):
    storage = fresh_storage()
    env = {"CHORUS_HYDRATE_L1_TTL_MS": "600000", **extra}  # only invalidations can help
    a = start_server(env=env, storage=storage, name=f"{name}-a")
    b = start_server(env={**env, "CHORUS_ROLES": "api"}, storage=storage, name=f"{name}-b")
    wait_live(a, b)
    return a, b


def inbox(acc):
    """The first page (20, a cached page on a warm node)."""
    return expect_status(acc.get("/v1/notifications?limit=20"), 200).json


def unread(acc):
    return expect_status(acc.get("/v1/notifications/unread_count"), 200).json["count"]


def in_db(acc):
    """What the database holds (100 rows: past the cached 50, always the statement)."""
    return expect_status(acc.get("/v1/notifications?limit=100"), 200).json["items"]


def brief(items):
    """What a page says of each group: kind, actors shown, count, read."""
    return [(n["kind"], [a["id"] for a in n["actors"]], n["actors_count"], n["read"]) for n in items]


def settled(a_acc, b_acc, check, what):
    """Waits (the worker) until A's database satisfies check, then gives B 10 s (a loaded
    machine's) to show it."""
    wait_until(lambda: check(in_db(a_acc)), f"{what} in the database", timeout=30)
    soon(lambda: check(inbox(b_acc)["items"]), f"{what} on B")


def test_notifications_on_bs_loop_follow_every_change_on_a(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "inbox")
    api = a.client()
    me, x, y, z = (api.register() for _ in range(4))
    me_b = _as(b, me)
    p = post(me, "react to me")
    follow(x, me)
    settled(me, me_b, lambda items: [n["kind"] for n in items] == ["follow"], "the follow")
    page = served_on_loop(b, lambda: inbox(me_b))
    assert brief(page["items"]) == [("follow", [x.id], 1, False)] and page["next_cursor"] is None
    assert served_on_loop(b, lambda: unread(me_b)) == 1

    # A new notification: y reacts on A.
    react(y, "posts", p["id"], "like")
    settled(me, me_b, lambda items: [n["kind"] for n in items] == ["reaction", "follow"], "the reaction")
    assert soon(lambda: unread(me_b) == 2, "the new unread count on B")
    served_on_loop(b, lambda: inbox(me_b), 1)
    # A fold: z reacts too; the group gains an actor, a new id and moves to the top.
    react(z, "posts", p["id"], "love")
    settled(me, me_b, lambda items: items and items[0]["actors_count"] == 2, "the fold")
    assert brief(inbox(me_b)["items"])[0] == ("reaction", [z.id, y.id], 2, False)
    # Mark read up to the follow (the older one) on A, then read all.
    served_on_loop(b, lambda: unread(me_b), 1)
    follow_id = inbox(me_b)["items"][1]["id"]
    expect_status(me.post("/v1/notifications/read", json={"up_to_id": follow_id}), 204)
    soon(lambda: [n["read"] for n in inbox(me_b)["items"]] == [False, True], "mark read on B")
    soon(lambda: unread(me_b) == 1, "the unread count after mark read on B")
    served_on_loop(b, lambda: inbox(me_b), 1)
    expect_status(me.post("/v1/notifications/read", json={}), 204)
    soon(lambda: all(n["read"] for n in inbox(me_b)["items"]), "read all on B")
    soon(lambda: unread(me_b) == 0, "the unread count after read all on B")
    # A block on A: the blocked actor leaves the page at once (relation facts), and the
    # worker takes them out of the group (count and actors from the database).
    served_on_loop(b, lambda: inbox(me_b), 1)
    block(me, z)
    soon(lambda: z.id not in [a_["id"] for n in inbox(me_b)["items"] for a_ in n["actors"]], "the block on B")
    settled(me, me_b, lambda items: items and items[0]["actors_count"] == 1, "the blocked actor out of the group")
    # A deleted target: the reaction group goes with the post.
    served_on_loop(b, lambda: inbox(me_b), 1)
    expect_status(me.delete(f"/v1/posts/{p['id']}"), 204)
    settled(me, me_b, lambda items: [n["kind"] for n in items] == ["follow"], "the deleted target's group gone")
    assert served_on_loop(b, lambda: unread(me_b), 1) == 0


def test_a_cold_inbox_moves_and_cursor_pages_are_statements(start_server, fresh_storage):
    """B's first read of a viewer's inbox is not in its L1: moved to a worker and right;
    the cursor page is a statement (moved every time), and right."""
    a, b = pair(start_server, fresh_storage, "inbox-cold")
    api = a.client()
    me = api.register()
    fans = [api.register() for _ in range(3)]
    posts = [post(me, f"p{i}") for i in range(3)]
    for f, p in zip(fans, posts):
        react(f, "posts", p["id"], "like")
    wait_until(lambda: len(in_db(me)) == 3, "three groups in the database", timeout=30)
    me_b = _as(b, me)
    moved0 = moved(b)
    first = expect_status(me_b.get("/v1/notifications?limit=2"), 200).json
    assert moved(b) > moved0, "a cold read was answered on the loop"
    assert [n["target"]["id"] for n in first["items"]] == [posts[2]["id"], posts[1]["id"]]
    warm = served_on_loop(b, lambda: expect_status(me_b.get("/v1/notifications?limit=2"), 200).json)
    assert warm == first
    moved1 = moved(b)
    rest = expect_status(me_b.get(f"/v1/notifications?limit=2&cursor={first['next_cursor']}"), 200).json
    assert moved(b) > moved1
    assert [n["target"]["id"] for n in rest["items"]] == [posts[0]["id"]] and rest["next_cursor"] is None
    # Another viewer's inbox on B is theirs, not this one's (the fact's key is the viewer's).
    assert inbox(_as(b, fans[0]))["items"] == []


def tray(acc):
    return [(e["user"]["id"], [s["id"] for s in e["stories"]], e["has_unseen"])
            for e in expect_status(acc.get("/v1/stories/tray"), 200).json["items"]]


def test_the_tray_on_bs_loop_follows_every_change_on_a(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "tray")
    api = a.client()
    viewer, s1, s2 = (api.register() for _ in range(3))
    follow(viewer, s1)
    follow(viewer, s2)
    first = story(s1)
    viewer_b = _as(b, viewer)
    assert served_on_loop(b, lambda: tray(viewer_b)) == [(s1.id, [first["id"]], True)]
    # A new story on A, by another followee: first (unseen, newest).
    second = story(s2)
    soon(lambda: tray(viewer_b) == [(s2.id, [second["id"]], True), (s1.id, [first["id"]], True)], "the new story")
    served_on_loop(b, lambda: tray(viewer_b), 1)
    # The viewer sees s2's story on A: seen entries go after the unseen ones.
    expect_status(viewer.post(f"/v1/stories/{second['id']}/view", json={}), 204)
    soon(lambda: tray(viewer_b) == [(s1.id, [first["id"]], True), (s2.id, [second["id"]], False)], "the story seen")
    served_on_loop(b, lambda: tray(viewer_b), 1)
    # s1 adds and then deletes a story on A.
    extra = story(s1)
    soon(lambda: tray(viewer_b)[0] == (s1.id, [first["id"], extra["id"]], True), "s1's second story")
    served_on_loop(b, lambda: tray(viewer_b), 1)
    expect_status(s1.delete(f"/v1/stories/{extra['id']}"), 204)
    soon(lambda: tray(viewer_b)[0] == (s1.id, [first["id"]], True), "the deleted story")
    # An unfollow on A: s2 leaves B's tray.
    served_on_loop(b, lambda: tray(viewer_b), 1)
    expect_status(viewer.delete(f"/v1/users/{s2.id}/follow"), 204)
    soon(lambda: tray(viewer_b) == [(s1.id, [first["id"]], True)], "the unfollow")
    served_on_loop(b, lambda: tray(viewer_b), 1)


def test_a_story_that_expires_leaves_bs_warm_tray_without_a_write(start_server, fresh_storage):
    """Expiry is checked when the tray is read: the cached index and item facts still hold
    the story, and no write forgets them."""
    a, b = pair(start_server, fresh_storage, "tray-exp", CHORUS_STORY_TTL=str(STORY_TTL_S))
    api = a.client()
    viewer, author = api.register(), api.register()
    follow(viewer, author)
    s = story(author)
    viewer_b = _as(b, viewer)
    assert served_on_loop(b, lambda: tray(viewer_b), 3) == [(author.id, [s["id"]], True)]
    loop0 = on_loop(b)
    wait_until(lambda: tray(viewer_b) == [], "the expired story gone from B's tray", timeout=STORY_TTL_S + 10)
    assert on_loop(b) > loop0, "the tray after expiry was not answered on the loop"
