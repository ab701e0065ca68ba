"""The social graph: follow (public and private accounts), follow requests, followers and
following lists, block, mute, the relationship on profiles, and exact counts.

Every response is checked against api/openapi.yaml, so the graph's documented contract is
enforced by every request here."""
import concurrent.futures
import sqlite3
import urllib.parse
from pathlib import Path

import pytest

from apispec import SPEC
from client import Client, expect_problem, expect_status
from conftest import MODE
from social import follow, make_private

UNKNOWN_ID = "7262919837180000001"  # a well-formed id no user has
BAD_IDS = ["abc", "0", "-5", "12a", "99999999999999999999", "9223372036854775808", UNKNOWN_ID]
NO_REL = {"following": False, "followed_by": False, "requested": False, "blocking": False,
          "muting": False}


GRAPH_SPEC = SPEC


@pytest.fixture
def api(server):
    """Overrides conftest's api: the same server, checked against the merged spec."""
    return Client(server.base_url, spec=GRAPH_SPEC)


# ---- helpers ---------------------------------------------------------------------------

def unfollow(a, b):
    expect_status(a.delete(f"/v1/users/{b.id}/follow"), 204)


def profile(viewer, target):
    return expect_status(viewer.get(f"/v1/users/{target.id}"), 200).json


def rel(viewer, target):
    return profile(viewer, target)["relationship"]


def counts(acc):
    me = acc.me()
    return me["followers_count"], me["following_count"]


def page(acc, path, **query):
    q = ("?" + urllib.parse.urlencode(query)) if query else ""
    return expect_status(acc.get(path + q), 200).json


def walk(acc, path, limit=100):
    """Every item of a list, following next_cursor; asserts page sizes."""
    items, cursor = [], None
    while True:
        q = {"limit": limit}
        if cursor:
            q["cursor"] = cursor
        p = page(acc, path, **q)
        assert len(p["items"]) <= limit
        items.extend(p["items"])
        cursor = p["next_cursor"]
        if cursor is None:
            return items
        assert len(p["items"]) == limit, p
        assert len(items) < 10000, "cursor never ends"


def ids(items):
    return [u["id"] for u in items]


def followers(viewer, target, **kw):
    return ids(walk(viewer, f"/v1/users/{target.id}/followers", **kw))


def following(viewer, target, **kw):
    return ids(walk(viewer, f"/v1/users/{target.id}/following", **kw))


def requests_of(acc):
    return ids(walk(acc, "/v1/me/follow-requests"))


# ---- follow -----------------------------------------------------------------------------

def test_follow_public_account(api, user, other):
    # Read the profiles first: the cached profile (p:) must not serve the old counts.
    assert profile(user, other)["followers_count"] == 0
    assert profile(other, user)["following_count"] == 0
    assert follow(user, other) == "following"
    assert counts(user) == (0, 1)
    assert counts(other) == (1, 0)
    p = profile(user, other)
    assert p["followers_count"] == 1 and p["following_count"] == 0
    assert p["relationship"] == {**NO_REL, "following": True}
    back = profile(other, user)
    assert back["following_count"] == 1
    assert back["relationship"] == {**NO_REL, "followed_by": True}
    summary = walk(user, f"/v1/users/{other.id}/followers")
    assert summary == [{"id": user.id, "handle": user.handle, "display_name": user.user["display_name"],
                        "avatar_url": None, "is_private": False}]
    assert following(other, user) == [other.id]


def test_follow_twice_is_idempotent(api, user, other):
    assert follow(user, other) == "following"
    assert follow(user, other) == "following"
    assert counts(user) == (0, 1) and counts(other) == (1, 0)
    assert followers(user, other) == [user.id]


def test_mutual_follow(api, user, other):
    follow(user, other)
    follow(other, user)
    assert counts(user) == (1, 1) and counts(other) == (1, 1)
    assert rel(user, other) == {**NO_REL, "following": True, "followed_by": True}
    assert rel(other, user) == {**NO_REL, "following": True, "followed_by": True}


def test_follow_yourself_is_422(api, user):
    expect_problem(user.post(f"/v1/users/{user.id}/follow"), 422, "invalid_field", "id")
    expect_problem(user.delete(f"/v1/users/{user.id}/follow"), 422, "invalid_field", "id")
    assert counts(user) == (0, 0)
    assert followers(user, user) == [] and following(user, user) == []


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_or_unknown_user_ids_are_404(api, user, bad):
    q = urllib.parse.quote(bad)
    for method, path in [("POST", "follow"), ("DELETE", "follow"), ("GET", "followers"),
                         ("GET", "following"), ("POST", "block"), ("DELETE", "block"),
                         ("POST", "mute"), ("DELETE", "mute")]:
        expect_problem(user.client.request(method, f"/v1/users/{q}/{path}", token=user.access_token),
                       404, "not_found")
    for action in ("approve", "reject"):
        expect_problem(user.post(f"/v1/me/follow-requests/{q}/{action}"), 404, "not_found")
    assert counts(user) == (0, 0)


def test_every_graph_route_needs_a_token(api, other):
    for method, path in [("POST", f"/v1/users/{other.id}/follow"), ("DELETE", f"/v1/users/{other.id}/follow"),
                         ("GET", f"/v1/users/{other.id}/followers"), ("GET", f"/v1/users/{other.id}/following"),
                         ("GET", "/v1/me/follow-requests"),
                         ("POST", f"/v1/me/follow-requests/{other.id}/approve"),
                         ("POST", f"/v1/me/follow-requests/{other.id}/reject"),
                         ("POST", f"/v1/users/{other.id}/block"), ("DELETE", f"/v1/users/{other.id}/block"),
                         ("POST", f"/v1/users/{other.id}/mute"), ("DELETE", f"/v1/users/{other.id}/mute")]:
        expect_problem(api.request(method, path), 401, "unauthorized")
        expect_problem(api.request(method, path, token="not.a.token"), 401, "invalid_token")
    assert counts(other) == (0, 0)


def test_unfollow(api, user, other):
    follow(user, other)
    unfollow(user, other)
    assert counts(user) == (0, 0) and counts(other) == (0, 0)
    assert rel(user, other) == NO_REL
    assert followers(user, other) == []
    unfollow(user, other)  # idempotent
    assert counts(user) == (0, 0) and counts(other) == (0, 0)
    assert follow(user, other) == "following"  # and following again works
    assert counts(other) == (1, 0)


def test_follow_idempotency_key(api, user, other):
    third = api.register()
    key = {"Idempotency-Key": "graph-follow-1"}
    r1 = expect_status(user.post(f"/v1/users/{other.id}/follow", headers=key), 200)
    r2 = expect_status(user.post(f"/v1/users/{other.id}/follow", headers=key), 200)
    assert r1.json == r2.json == {"state": "following"}
    assert r2.header("Idempotent-Replayed") == "true"
    # The same key on another user is another request, not a replay of the first.
    expect_problem(user.post(f"/v1/users/{third.id}/follow", headers=key), 422, "idempotency_mismatch")
    assert following(user, user) == [other.id]
    assert counts(user) == (0, 1) and counts(third) == (0, 0)


# ---- private accounts and requests ------------------------------------------------------

def test_private_account_request_then_approve(api, user, other):
    make_private(other)
    assert follow(user, other) == "requested"
    assert follow(user, other) == "requested"  # idempotent
    assert counts(user) == (0, 0) and counts(other) == (0, 0)
    assert rel(user, other) == {**NO_REL, "requested": True}
    assert rel(other, user) == NO_REL  # the owner's view: not followed yet
    reqs = walk(other, "/v1/me/follow-requests")
    assert reqs == [{"id": user.id, "handle": user.handle, "display_name": user.user["display_name"],
                     "avatar_url": None, "is_private": False}]
    assert requests_of(user) == []

    expect_status(other.post(f"/v1/me/follow-requests/{user.id}/approve"), 204)
    assert requests_of(other) == []
    assert counts(user) == (0, 1) and counts(other) == (1, 0)
    assert rel(user, other) == {**NO_REL, "following": True}
    assert rel(other, user) == {**NO_REL, "followed_by": True}
    assert followers(user, other) == [user.id]
    assert follow(user, other) == "following"
    # Approving again finds the follow already made: same answer, nothing changes.
    expect_status(other.post(f"/v1/me/follow-requests/{user.id}/approve"), 204)
    assert counts(other) == (1, 0)
    # Nothing left to reject.
    expect_problem(other.post(f"/v1/me/follow-requests/{user.id}/reject"), 404, "not_found")


def test_reject_request(api, user, other):
    make_private(other)
    assert follow(user, other) == "requested"
    expect_status(other.post(f"/v1/me/follow-requests/{user.id}/reject"), 204)
    assert requests_of(other) == []
    assert rel(user, other) == NO_REL
    assert counts(user) == (0, 0) and counts(other) == (0, 0)
    expect_problem(other.post(f"/v1/me/follow-requests/{user.id}/reject"), 404, "not_found")
    expect_problem(other.post(f"/v1/me/follow-requests/{user.id}/approve"), 404, "not_found")
    assert follow(user, other) == "requested"  # may ask again
    assert requests_of(other) == [user.id]


def test_approve_or_reject_without_request_is_404(api, user, other):
    third = api.register()
    make_private(other)
    follow(third, other)  # someone else's request exists
    expect_problem(other.post(f"/v1/me/follow-requests/{user.id}/approve"), 404, "not_found")
    expect_problem(other.post(f"/v1/me/follow-requests/{user.id}/reject"), 404, "not_found")
    expect_problem(other.post(f"/v1/me/follow-requests/{other.id}/approve"), 404, "not_found")
    # A request to someone else cannot be answered by the requester.
    expect_problem(third.post(f"/v1/me/follow-requests/{other.id}/approve"), 404, "not_found")
    assert requests_of(other) == [third.id]
    assert counts(other) == (0, 0) and counts(third) == (0, 0)
    assert rel(third, other)["requested"] is True


def test_unfollow_cancels_request(api, user, other):
    make_private(other)
    assert follow(user, other) == "requested"
    unfollow(user, other)
    assert requests_of(other) == []
    assert rel(user, other) == NO_REL
    expect_problem(other.post(f"/v1/me/follow-requests/{user.id}/approve"), 404, "not_found")
    assert counts(other) == (0, 0)


def test_request_becomes_follow_once_account_is_public(api, user, other):
    make_private(other)
    assert follow(user, other) == "requested"
    expect_status(other.patch("/v1/me", json={"is_private": False}), 200)
    assert follow(user, other) == "following"
    assert requests_of(other) == []
    assert counts(other) == (1, 0) and counts(user) == (0, 1)


def test_follow_requests_pagination(api, user):
    make_private(user)
    askers = [api.register() for _ in range(5)]
    for a in askers:
        assert follow(a, user) == "requested"
    p1 = page(user, "/v1/me/follow-requests", limit=2)
    assert ids(p1["items"]) == [askers[4].id, askers[3].id] and p1["next_cursor"]
    assert requests_of(user) == [a.id for a in reversed(askers)]
    expect_problem(user.get("/v1/me/follow-requests?limit=0"), 422, "invalid_field", "limit")
    expect_problem(user.get("/v1/me/follow-requests?cursor=xyz"), 422, "invalid_field", "cursor")


def test_private_lists_only_for_owner_and_approved_followers(api, user, other):
    owner, fan, stranger, asker = api.register(), user, other, api.register()
    followee = api.register()
    follow(owner, followee)
    make_private(owner)
    assert follow(fan, owner) == "requested"
    expect_status(owner.post(f"/v1/me/follow-requests/{fan.id}/approve"), 204)
    assert follow(asker, owner) == "requested"
    for who in (stranger, asker):
        for lst in ("followers", "following"):
            expect_problem(who.get(f"/v1/users/{owner.id}/{lst}"), 404, "not_found")
        # The profile itself stays visible (with its counts).
        assert profile(who, owner)["followers_count"] == 1
    for who in (owner, fan):
        assert followers(who, owner) == [fan.id]
        assert following(who, owner) == [followee.id]
    # A public account's lists are visible to anyone.
    assert followers(stranger, followee) == [owner.id]


# ---- lists: pagination -------------------------------------------------------------------

@pytest.fixture
def crowd(api):
    """A target and 25 followers, followed in order (oldest first)."""
    target = api.register()
    fans = [api.register() for _ in range(25)]
    for f in fans:
        assert follow(f, target) == "following"
    return target, fans


def test_followers_pages_newest_first(api, crowd):
    target, fans = crowd
    expected = [f.id for f in reversed(fans)]
    assert followers(target, target, limit=7) == expected
    assert followers(fans[0], target, limit=100) == expected
    first = page(fans[0], f"/v1/users/{target.id}/followers")  # default limit 20
    assert ids(first["items"]) == expected[:20] and first["next_cursor"]
    assert profile(fans[0], target)["followers_count"] == 25
    one = page(fans[0], f"/v1/users/{target.id}/followers", limit=1)
    assert ids(one["items"]) == expected[:1]
    full = page(fans[0], f"/v1/users/{target.id}/followers", limit=25)
    assert ids(full["items"]) == expected and full["next_cursor"] is None


def test_followers_walk_while_follows_arrive(api, crowd):
    target, fans = crowd
    expected = [f.id for f in reversed(fans)]
    p1 = page(target, f"/v1/users/{target.id}/followers", limit=10)
    assert ids(p1["items"]) == expected[:10]
    # Mid-walk: a new follower, and a follower already seen unfollows and follows again
    # (its edge is now the newest). Neither may show up again in the rest of the walk.
    newcomer = api.register()
    follow(newcomer, target)
    unfollow(fans[24], target)
    follow(fans[24], target)
    rest, cursor = [], p1["next_cursor"]
    while cursor:
        p = page(target, f"/v1/users/{target.id}/followers", limit=10, cursor=cursor)
        rest.extend(ids(p["items"]))
        cursor = p["next_cursor"]
    assert rest == expected[10:]
    # A new walk sees the newest edges first.
    assert followers(target, target, limit=10) == [fans[24].id, newcomer.id] + expected[1:]
    assert counts(target) == (26, 0)


def test_following_pages(api, user):
    stars = [api.register() for _ in range(12)]
    for s in stars:
        follow(user, s)
    assert following(user, user, limit=5) == [s.id for s in reversed(stars)]
    assert counts(user) == (0, 12)


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=", "limit=1.5",
                                   "cursor=abc", "cursor=0", "cursor=-3", "cursor=99999999999999999999",
                                   "cursor=9223372036854775808", "cursor="])
def test_bad_page_parameters_are_422(api, user, query):
    field = query.split("=")[0]
    for path in (f"/v1/users/{user.id}/followers", f"/v1/users/{user.id}/following", "/v1/me/follow-requests"):
        expect_problem(user.get(f"{path}?{query}"), 422, "invalid_field", field)


# ---- block ------------------------------------------------------------------------------

def test_block_removes_follows_both_ways(api, user, other):
    a, b = user, other
    c = api.register()  # an unrelated follower of both: its counts must not move
    follow(a, b)
    follow(b, a)
    follow(c, a)
    follow(c, b)
    assert counts(a) == (2, 1) and counts(b) == (2, 1)
    expect_status(a.post(f"/v1/users/{b.id}/block"), 204)
    assert counts(a) == (1, 0) and counts(b) == (1, 0)
    assert counts(c) == (0, 2)
    # Neither side sees the other's profile or lists, by id or by handle.
    for x, y in ((a, b), (b, a)):
        expect_problem(x.get(f"/v1/users/{y.id}"), 404, "not_found")
        expect_problem(x.get(f"/v1/users/by-handle/{y.handle}"), 404, "not_found")
        expect_problem(x.get(f"/v1/users/{y.id}/followers"), 404, "not_found")
        expect_problem(x.get(f"/v1/users/{y.id}/following"), 404, "not_found")
    # Others still see both, with the new counts.
    assert profile(c, a)["followers_count"] == 1 and profile(c, b)["following_count"] == 0
    assert followers(c, a) == [c.id] and followers(c, b) == [c.id]
    # The blocked user cannot follow (404, as if there were nobody); the blocker must unblock first.
    expect_problem(b.post(f"/v1/users/{a.id}/follow"), 404, "not_found")
    body = expect_problem(a.post(f"/v1/users/{b.id}/follow"), 409, "conflict")
    assert "unblock" in body["detail"]
    assert counts(a) == (1, 0) and counts(b) == (1, 0)
    # Unblocking does not restore the follows.
    expect_status(a.delete(f"/v1/users/{b.id}/block"), 204)
    assert rel(a, b) == NO_REL and rel(b, a) == NO_REL
    assert counts(a) == (1, 0) and counts(b) == (1, 0)
    assert follow(a, b) == "following" and follow(b, a) == "following"
    assert counts(a) == (2, 1) and counts(b) == (2, 1)


def test_block_removes_pending_requests_both_ways(api, user, other):
    make_private(user)
    make_private(other)
    assert follow(user, other) == "requested"
    assert follow(other, user) == "requested"
    expect_status(user.post(f"/v1/users/{other.id}/block"), 204)
    assert requests_of(user) == [] and requests_of(other) == []
    expect_problem(other.post(f"/v1/me/follow-requests/{user.id}/approve"), 404, "not_found")
    expect_problem(user.post(f"/v1/me/follow-requests/{other.id}/approve"), 404, "not_found")
    expect_status(user.delete(f"/v1/users/{other.id}/block"), 204)
    assert rel(user, other) == NO_REL and rel(other, user) == NO_REL
    assert counts(user) == (0, 0) and counts(other) == (0, 0)


def test_block_is_idempotent_and_not_for_yourself(api, user, other):
    follow(other, user)
    for _ in range(2):
        expect_status(user.post(f"/v1/users/{other.id}/block"), 204)
    assert counts(user) == (0, 0) and counts(other) == (0, 0)
    for _ in range(2):
        expect_status(user.delete(f"/v1/users/{other.id}/block"), 204)
    assert rel(user, other) == NO_REL
    expect_problem(user.post(f"/v1/users/{user.id}/block"), 422, "invalid_field", "id")
    expect_problem(user.delete(f"/v1/users/{user.id}/block"), 422, "invalid_field", "id")
    assert "relationship" not in profile(user, user)


def test_block_and_mute_idempotency_keys(api, user, other):
    for action in ("block", "mute"):
        key = {"Idempotency-Key": f"graph-{action}-1"}
        first = expect_status(user.post(f"/v1/users/{other.id}/{action}", headers=key), 204)
        again = expect_status(user.post(f"/v1/users/{other.id}/{action}", headers=key), 204)
        assert first.header("Idempotent-Replayed") is None
        assert again.header("Idempotent-Replayed") == "true" and again.body == b""
        expect_problem(user.post(f"/v1/users/{user.id}/{action}", headers=key), 422, "idempotency_mismatch")
    expect_problem(other.get(f"/v1/users/{user.id}"), 404, "not_found")


def test_blocked_by_both_sides(api, user, other):
    expect_status(user.post(f"/v1/users/{other.id}/block"), 204)
    expect_status(other.post(f"/v1/users/{user.id}/block"), 204)  # allowed; reveals nothing
    expect_status(user.delete(f"/v1/users/{other.id}/block"), 204)
    # other still blocks user: still invisible both ways.
    expect_problem(user.get(f"/v1/users/{other.id}"), 404, "not_found")
    expect_problem(other.get(f"/v1/users/{user.id}"), 404, "not_found")
    expect_problem(user.post(f"/v1/users/{other.id}/follow"), 404, "not_found")
    expect_problem(other.post(f"/v1/users/{user.id}/follow"), 409, "conflict")
    expect_status(other.delete(f"/v1/users/{user.id}/block"), 204)
    assert rel(user, other) == NO_REL


def test_lists_leave_out_users_blocked_either_way(api, user, other):
    star, blocker, blocked = api.register(), api.register(), api.register()
    for f in (user, blocker, blocked):
        follow(f, star)
    follow(star, blocker)
    expect_status(blocker.post(f"/v1/users/{other.id}/block"), 204)   # blocker blocks other
    expect_status(other.post(f"/v1/users/{blocked.id}/block"), 204)   # other blocks blocked
    assert followers(other, star) == [user.id]
    assert following(other, star) == []
    assert followers(user, star) == [blocked.id, blocker.id, user.id]
    assert following(user, star) == [blocker.id]
    assert profile(other, star)["followers_count"] == 3  # counts are the account's own


def test_unfollow_someone_who_blocks_you(api, user, other):
    follow(user, other)
    expect_status(other.post(f"/v1/users/{user.id}/block"), 204)
    unfollow(user, other)  # nothing to undo, and nothing revealed
    assert counts(user) == (0, 0) and counts(other) == (0, 0)


# ---- mute --------------------------------------------------------------------------------

def test_mute_is_silent(api, user, other):
    follow(user, other)
    follow(other, user)
    seen_by_muted = profile(other, user)
    lists_before = (followers(other, user), following(other, user))
    expect_status(user.post(f"/v1/users/{other.id}/mute"), 204)
    expect_status(user.post(f"/v1/users/{other.id}/mute"), 204)  # idempotent
    assert rel(user, other) == {**NO_REL, "following": True, "followed_by": True, "muting": True}
    # The muted user sees nothing changed.
    assert profile(other, user) == seen_by_muted
    assert (followers(other, user), following(other, user)) == lists_before
    assert counts(user) == (1, 1) and counts(other) == (1, 1)
    # ... and may still unfollow and follow again.
    unfollow(other, user)
    assert follow(other, user) == "following"
    assert counts(user) == (1, 1)
    expect_status(user.delete(f"/v1/users/{other.id}/mute"), 204)
    expect_status(user.delete(f"/v1/users/{other.id}/mute"), 204)
    assert rel(user, other) == {**NO_REL, "following": True, "followed_by": True}


def test_mute_without_follow_and_not_yourself(api, user, other):
    expect_status(user.post(f"/v1/users/{other.id}/mute"), 204)
    assert rel(user, other) == {**NO_REL, "muting": True}
    assert rel(other, user) == NO_REL
    expect_problem(user.post(f"/v1/users/{user.id}/mute"), 422, "invalid_field", "id")
    expect_problem(user.delete(f"/v1/users/{user.id}/mute"), 422, "invalid_field", "id")


# ---- counts under concurrency -----------------------------------------------------------

def test_counts_exact_under_concurrency(api):
    target = api.register()
    fans = [api.register() for _ in range(30)]

    def churn(i):
        f = fans[i]
        # Every fan follows, unfollows and follows again; odd ones end not following.
        out = [follow(f, target), unfollow(f, target), follow(f, target), follow(f, target)]
        if i % 2:
            unfollow(f, target)
        return out

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(churn, range(30)))
    assert all(r[0] == "following" for r in results)
    listed = followers(target, target)
    assert sorted(listed) == sorted(f.id for i, f in enumerate(fans) if i % 2 == 0)
    assert counts(target) == (len(listed), 0) == (15, 0)
    assert profile(fans[0], target)["followers_count"] == 15
    for i, f in enumerate(fans):
        assert counts(f) == (0, 0 if i % 2 else 1)

    # Many users at once against one account's edges in both directions.
    def both_ways(i):
        f = fans[i]
        follow(target, f)
        if i % 3 == 0:
            expect_status(f.post(f"/v1/users/{target.id}/block"), 204)
        return i

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(both_ways, range(30)))
    blockers = {f.id for i, f in enumerate(fans) if i % 3 == 0}
    fl = followers(target, target)
    fw = following(target, target)
    assert set(fl) == {f.id for i, f in enumerate(fans) if i % 2 == 0 and f.id not in blockers}
    assert set(fw) == {f.id for f in fans} - blockers
    assert counts(target) == (len(fl), len(fw))


def test_concurrent_follow_and_block_leave_no_edge(api):
    """A follow racing a block of the same pair never survives the block."""
    pairs = [(api.register(), api.register()) for _ in range(12)]

    def race(pair):
        a, b = pair
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            f = pool.submit(a.post, f"/v1/users/{b.id}/follow")
            k = pool.submit(b.post, f"/v1/users/{a.id}/block")
            return f.result().status, k.result().status

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(race, pairs))
    for (a, b), (fs, ks) in zip(pairs, outcomes):
        assert fs in (200, 404) and ks == 204
        assert counts(a) == (0, 0) and counts(b) == (0, 0)
        assert following(a, a) == [] and followers(b, b) == []


# ---- outbox ------------------------------------------------------------------------------

def _outbox(server, backends, user_ids):
    sql = ("SELECT topic, payload FROM outbox WHERE aggregate_id IN (" + ",".join(str(int(i)) for i in user_ids)
           + ") AND topic NOT LIKE 'user.%' ORDER BY id")
    if MODE == "cluster":
        dbname = server.storage_env["CHORUS_DB"].rsplit("/", 1)[1]
        out = backends.pg.psql(sql, dbname)
        return [tuple(ln.split("|", 1)) for ln in out.splitlines() if ln]
    db = Path(server.storage_env["CHORUS_DATA_DIR"]) / "chorus.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [tuple(r) for r in conn.execute(sql)]


def test_every_change_is_in_the_outbox(api, server, backends, user, other):
    import json
    a, b = user, other
    follow(a, b)                                     # follow.created
    unfollow(a, b)                                   # follow.deleted
    make_private(b)
    follow(a, b)                                     # follow.requested
    expect_status(b.post(f"/v1/me/follow-requests/{a.id}/reject"), 204)   # follow.rejected
    follow(a, b)                                     # follow.requested
    unfollow(a, b)                                   # follow.cancelled
    follow(a, b)                                     # follow.requested
    expect_status(b.post(f"/v1/me/follow-requests/{a.id}/approve"), 204)  # approved + created
    follow(a, b)                                     # nothing (already following)
    expect_status(a.post(f"/v1/users/{b.id}/mute"), 204)     # mute.created
    expect_status(a.post(f"/v1/users/{b.id}/mute"), 204)     # nothing
    expect_status(a.delete(f"/v1/users/{b.id}/mute"), 204)   # mute.deleted
    expect_status(b.post(f"/v1/users/{a.id}/block"), 204)    # block.created + follow.deleted
    expect_status(b.delete(f"/v1/users/{a.id}/block"), 204)  # block.deleted
    expect_status(b.delete(f"/v1/users/{a.id}/block"), 204)  # nothing
    fol = {"follower_id": a.id, "followee_id": b.id}
    want = [("follow.created", fol), ("follow.deleted", fol), ("follow.requested", fol),
            ("follow.rejected", fol), ("follow.requested", fol), ("follow.cancelled", fol),
            ("follow.requested", fol), ("follow.approved", fol), ("follow.created", fol),
            ("mute.created", {"muter_id": a.id, "muted_id": b.id}),
            ("mute.deleted", {"muter_id": a.id, "muted_id": b.id}),
            ("block.created", {"blocker_id": b.id, "blocked_id": a.id}),
            ("follow.deleted", fol),
            ("block.deleted", {"blocker_id": b.id, "blocked_id": a.id})]
    got = [(t, json.loads(p)) for t, p in _outbox(server, backends, [a.id, b.id])]
    assert got == want
