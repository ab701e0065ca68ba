"""Cluster profiles served on the event loop from the L1 (docs/design.md, "### l1 on the loop",
package prof18): with two chorusd nodes on one PostgreSQL + Redis, node B answers a warm
`GET /v1/users/{id}`, `GET /v1/users/by-handle/{handle}` and `GET /v1/me` on its event loop
(chorus_loop_reads_total grows by the reads, chorus_loop_reads_moved_total does not): the text
is the fact p:<user>, the handle's id h:<handle>, and the viewer's relationship and the block
check come from the layer's relation facts, per viewer. Every change made on node A shows on
B's next read: each profile field, a new and a deleted post (posts_count), follow and unfollow
either way (counts and the relationship), a private account's request and its approval, a
block either way (404 on B).

"Next read" allows 10 s (1 s would do on an idle machine) for the forget to reach B's
subscriber thread (see test_hydrate_l1.py); the nodes run with a 10 min L1 TTL, so only the
invalidations can pass."""
import pytest

from client import expect_status
from conftest import MODE
from social import approve, block, follow, post
from test_cluster_loop_lists import moved, served_on_loop
from test_hydrate_cache import _as, _get
from test_hydrate_l1 import pair, soon

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")

IMG = "https://cdn.example.com/a.png"


def rel(profile):
    return None if profile is None else profile["relationship"]


def test_warm_profile_on_bs_loop_and_every_edit_on_a_shows_on_b(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "prof")
    api = a.client()
    owner, viewer = api.register(display_name="Owner"), api.register()
    viewer_b, owner_b = _as(b, viewer), _as(b, owner)
    profile = lambda: _get(viewer_b, f"/v1/users/{owner.id}")  # noqa: E731
    by_handle = lambda: _get(viewer_b, f"/v1/users/by-handle/{owner.handle.upper()}")  # noqa: E731
    me = lambda: _get(owner_b, "/v1/me")  # noqa: E731

    got = served_on_loop(b, profile)
    assert (got["id"], got["handle"], got["display_name"]) == (owner.id, owner.handle, "Owner")
    assert "interests" not in got and "region" not in got  # the owner's members stay the owner's
    assert rel(got) == {"following": False, "followed_by": False, "requested": False, "blocking": False,
                        "muting": False}
    assert served_on_loop(b, by_handle) == got
    mine = served_on_loop(b, me)
    assert mine["id"] == owner.id and mine["interests"] == [] and "relationship" not in mine
    own = served_on_loop(b, lambda: _get(owner_b, f"/v1/users/{owner.id}"))
    assert "relationship" not in own and "interests" not in own

    edits = [("display_name", "Renamed"), ("bio", "a new bio"), ("avatar_url", IMG), ("avatar_url", None),
             ("is_private", True), ("is_private", False)]
    for field, value in edits:
        served_on_loop(b, profile, 1)  # B's L1 holds the old text
        expect_status(owner.patch("/v1/me", json={field: value}), 200)
        soon(lambda: profile()[field] == value, f"{field} = {value!r} on B")
        soon(lambda: by_handle()[field] == value, f"{field} = {value!r} on B, by handle")
    for field, value, shown in [("interests", ["#Cats"], ["cats"]), ("region", "de", "DE")]:
        served_on_loop(b, me, 1)
        expect_status(owner.patch("/v1/me", json={field: value}), 200)
        soon(lambda: me()[field] == shown, f"{field} on B's /v1/me")
        assert field not in profile()
    assert me()["display_name"] == "Renamed"


def test_counts_and_relationships_changed_on_a_show_on_b(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "prof-graph")
    api = a.client()
    owner, viewer = api.register(), api.register()
    viewer_b, owner_b = _as(b, viewer), _as(b, owner)
    profile = lambda: _get(viewer_b, f"/v1/users/{owner.id}")  # noqa: E731
    viewer_seen_by_owner = lambda: _get(owner_b, f"/v1/users/{viewer.id}")  # noqa: E731
    counts = lambda p: (p["posts_count"], p["followers_count"], p["following_count"])  # noqa: E731

    assert counts(served_on_loop(b, profile)) == (0, 0, 0)
    # A new post, then its delete: posts_count.
    p = post(owner, "on A")
    soon(lambda: profile()["posts_count"] == 1, "the new post's count on B")
    served_on_loop(b, profile, 1)
    expect_status(owner.delete(f"/v1/posts/{p['id']}"), 204)
    soon(lambda: profile()["posts_count"] == 0, "the deleted post's count on B")
    # The viewer follows the owner: the owner's followers, the viewer's following, both views.
    served_on_loop(b, profile, 1)
    served_on_loop(b, viewer_seen_by_owner, 1)
    follow(viewer, owner)
    soon(lambda: counts(profile()) == (0, 1, 0) and rel(profile())["following"], "the follow on B")
    soon(lambda: viewer_seen_by_owner()["following_count"] == 1 and rel(viewer_seen_by_owner())["followed_by"],
         "the follow on B, the other way")
    # The owner follows back, then the viewer unfollows.
    served_on_loop(b, profile, 1)
    follow(owner, viewer)
    soon(lambda: counts(profile()) == (0, 1, 1) and rel(profile())["followed_by"], "the follow back on B")
    served_on_loop(b, profile, 1)
    expect_status(viewer.delete(f"/v1/users/{owner.id}/follow"), 204)
    soon(lambda: counts(profile()) == (0, 0, 1) and not rel(profile())["following"], "the unfollow on B")
    # A private owner: the viewer's request, then its approval.
    expect_status(owner.patch("/v1/me", json={"is_private": True}), 200)
    soon(lambda: profile()["is_private"], "the privacy on B")
    served_on_loop(b, profile, 1)
    assert follow(viewer, owner) == "requested"
    soon(lambda: rel(profile())["requested"] and profile()["followers_count"] == 0, "the request on B")
    served_on_loop(b, profile, 1)
    approve(owner, viewer)
    soon(lambda: (lambda r: r["following"] and not r["requested"])(rel(profile())) and
         profile()["followers_count"] == 1, "the approval on B")
    # Muting shows in the viewer's relationship only.
    served_on_loop(b, profile, 1)
    expect_status(viewer.post(f"/v1/users/{owner.id}/mute"), 204)
    soon(lambda: rel(profile())["muting"], "the mute on B")


def test_a_block_either_way_on_a_is_a_404_on_b(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "prof-block")
    api = a.client()
    owner, viewer, bystander = api.register(), api.register(), api.register()
    follow(viewer, owner)
    viewer_b, owner_b, bystander_b = _as(b, viewer), _as(b, owner), _as(b, bystander)
    profile = lambda: _get(viewer_b, f"/v1/users/{owner.id}")  # noqa: E731
    by_handle = lambda: _get(viewer_b, f"/v1/users/by-handle/{owner.handle}")  # noqa: E731
    back = lambda: _get(owner_b, f"/v1/users/{viewer.id}")  # noqa: E731

    served_on_loop(b, profile)
    served_on_loop(b, by_handle)
    served_on_loop(b, back)
    block(owner, viewer)  # the owner blocks the viewer: neither sees the other
    soon(lambda: profile() is None, "the block on B")
    soon(lambda: by_handle() is None, "the block on B, by handle")
    soon(lambda: back() is None, "the block on B, the blocker's side")
    # Others are not affected, and the shared text lost the follow the block removed.
    assert served_on_loop(b, lambda: _get(bystander_b, f"/v1/users/{owner.id}"))["followers_count"] == 0
    expect_status(owner.delete(f"/v1/users/{viewer.id}/block"), 204)
    soon(lambda: profile() is not None and not rel(profile())["following"], "the unblock on B")
    # The other way: the viewer blocks the owner.
    served_on_loop(b, profile, 1)
    served_on_loop(b, back, 1)
    block(viewer, owner)
    soon(lambda: profile() is None, "the viewer's block on B")
    soon(lambda: back() is None, "the viewer's block on B, the owner's side")


def test_a_cold_profile_moves_to_a_worker_and_is_right(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "prof-cold")
    api = a.client()
    owner, viewer = api.register(display_name="Cold"), api.register()
    follow(viewer, owner)
    post(owner, "one")
    viewer_b = _as(b, viewer)
    _get(viewer_b, f"/v1/users/{viewer.id}")  # the session's facts warm, not the owner's
    moved0 = moved(b)
    got = _get(viewer_b, f"/v1/users/{owner.id}")
    assert moved(b) > moved0, "a cold profile was answered on the loop"
    assert (got["display_name"], got["posts_count"], got["followers_count"]) == ("Cold", 1, 1)
    assert rel(got)["following"]
    assert served_on_loop(b, lambda: _get(viewer_b, f"/v1/users/{owner.id}")) == got
    # Unknown users and handles: 404 (moved, never cached as found).
    assert _get(viewer_b, "/v1/users/123456789") is None
    assert _get(viewer_b, "/v1/users/by-handle/nobody_here_at_all") is None
    assert _get(viewer_b, "/v1/users/by-handle/bad-handle!") is None
