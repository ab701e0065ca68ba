"""A viewer who follows more accounts than the cached followee list holds
(CH_GRAPH_FOLLOWEES_CACHED_MAX = 4096, svc/graph/followees.h, most recently followed first):
the in-network filter (ch_feed_keep_followed, svc/feed/visible.c) keeps the entries of
authors on the list, and asks the relation facts about the others (docs/design.md,
"In-network page"). A followee followed long ago, beyond the cut, still shows in the
following feed and in the home feed's in-network part; an author the viewer no longer follows
(unfollowed, only a pending request, blocks the viewer) does not, nor a muted followee.

How the viewer gets 4,300 followees: seeded in the database (followee_seed.py: registering
that many accounts through the API would take minutes of password hashing), with edge ids
just above the viewer's follow of the long-ago followee (so it is the oldest edge) and below
every later follow through the API. No cache of the server can hold a state from before the
seed: the viewer reads nothing before it (no followee list `f:`, no pull set, no timeline
yet), and the follows through the API after it forget the followee list and bump the
viewer's generation anyway.

Where the filter runs differs by backend set, and the test follows it:
- cluster: the server runs without the worker role, as test_feed_fanout's "fanout lags" test
  does. The viewer's timeline (Redis) is rebuilt from the database at the first read, with
  every post made before it, and no follow.deleted, block.created or mute.created ever
  removes entries from it afterwards. So the entries of authors the viewer stopped following
  stay in the timeline and only the filter at read leaves them out: a filter that kept every
  author fails here, and so does one that skipped the relation facts (the long-ago
  followee's post would go).
- embedded: the in-process timelines are read only by a process that feeds them (worker role,
  ch_feed_store_fed); without it every page comes from the database, whose statement checks
  the follow itself. So the server runs with every role: a filter that skipped the relation
  facts fails here too (the long-ago followee's post), but the fan-out also removes a former
  followee's entries, a moment after the change, so their absence is guarded by the filter
  and the fan-out together. Changes that add entries back (an unmute, an approved request)
  reach the timeline through the fan-out: waited for, bounded.
"""
from client import expect_status
from conftest import MODE
from followee_seed import followees_newest_first, seed_followees
from notify_helpers import wait_until
from social import block, follow, make_private, mute, post

FEED = "/v1/feed/following"
HOME = "/v1/feed/home"
CACHED_MAX = 4096  # CH_GRAPH_FOLLOWEES_CACHED_MAX
SEEDED = 4300


def following_ids(acc):
    """Every item id of acc's following feed, page after page (20 a page)."""
    out, cursor = [], None
    for _ in range(20):
        q = "?limit=20" + (f"&cursor={cursor}" if cursor else "")
        page = expect_status(acc.get(FEED + q), 200).json
        assert all(e["reason"] == "following" for e in page["items"]), page
        out += [e["item"]["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return out
    raise AssertionError("the following feed did not end in 20 pages")


def home_following_ids(acc):
    """The item ids of acc's home feed that it gives as in-network (reason "following")."""
    out, cursor = [], None
    for _ in range(20):
        q = "?limit=50" + (f"&cursor={cursor}" if cursor else "")
        page = expect_status(acc.get(HOME + q), 200).json
        out += [e["item"]["id"] for e in page["items"] if e["reason"] == "following"]
        cursor = page["next_cursor"]
        if not cursor:
            return out
    raise AssertionError("the home feed did not end in 20 pages")


def test_a_followee_beyond_the_cached_list_shows_and_former_followees_do_not(start_server, backends):
    srv = start_server(env={"CHORUS_ROLES": "api,gateway"} if MODE == "cluster" else None, name="many-followees")
    c = srv.client()
    viewer, old, recent, gone, asked, blocker, stranger = (c.register() for _ in range(7))
    follow(viewer, old)  # the oldest edge: beyond the cut once 4,300 newer ones exist
    seed_followees(srv, backends, viewer, old, SEEDED, f"m24f{viewer.id}_")
    for a in (recent, gone, asked, blocker):
        follow(viewer, a)  # newer than the seeded edges: on the cached list while followed
    newest = followees_newest_first(srv, backends, viewer)
    assert len(newest) == SEEDED + 5
    assert old.id not in newest[:CACHED_MAX] and newest[-1] == old.id  # the case under test

    p_old = post(old, "from a followee followed long ago")["id"]
    p_recent = post(recent, "from a recent followee")["id"]
    p_gone = post(gone, "from an author the viewer will unfollow")["id"]
    p_asked = post(asked, "from an author who will go private")["id"]
    p_blocker = post(blocker, "from an author who will block the viewer")["id"]
    p_stranger = post(stranger, "from an author the viewer never followed")["id"]

    # The first read rebuilds the timeline from the database: every followee's post.
    first = following_ids(viewer)
    assert set(first) == {p_old, p_recent, p_gone, p_asked, p_blocker}, first

    expect_status(viewer.delete(f"/v1/users/{gone.id}/follow"), 204)
    expect_status(viewer.delete(f"/v1/users/{asked.id}/follow"), 204)
    make_private(asked)
    assert follow(viewer, asked) == "requested"  # a pending request is not a follow
    block(blocker, viewer)  # removes the viewer's follow of them
    # Cluster: none of these reached the timeline (no worker), their entries are still in it.

    shown = following_ids(viewer)
    assert shown == [p_recent, p_old], shown  # newest first; none of the others
    assert following_ids(viewer) == shown  # again, with every cache warm
    home = home_following_ids(viewer)
    assert p_old in home and p_recent in home, home
    assert not {p_gone, p_asked, p_blocker, p_stranger} & set(home), home

    # A mute of the long-ago followee hides them (at once: the hydration's mute fact); the
    # unmute brings them back (embedded: through the fan-out's merge, waited for).
    mute(viewer, old)
    assert following_ids(viewer) == [p_recent]
    assert p_old not in home_following_ids(viewer)
    expect_status(viewer.delete(f"/v1/users/{old.id}/mute"), 204)
    wait_until(lambda: following_ids(viewer) == [p_recent, p_old], "the long-ago followee's post back after the unmute")

    # An approved request is a follow again: the author's post comes back (cluster: its entry
    # never left the timeline; embedded: the fan-out merges it back, waited for).
    expect_status(asked.post(f"/v1/me/follow-requests/{viewer.id}/approve"), 204)
    wait_until(lambda: following_ids(viewer) == [p_asked, p_recent, p_old], "the approved author's post back")
