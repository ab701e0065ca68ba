"""Feed feedback and user suggestions (brd/feed.md): POST /v1/feed/feedback validation
(type, id, signal: 422 naming the field), visibility (404), repeats and Idempotency-Key;
GET /v1/suggestions/users: friends of friends first with their mutual count, never the
caller, followed, requested, blocked either way or muted accounts, interests and region,
cold start. The candidate sources themselves are unit-tested (tests/unit/test_feed_sources.c,
also against PostgreSQL in test_unit_backends.py).

Every response is checked against api/openapi.yaml."""
import time

import pytest

from client import expect_problem, expect_status
from social import block, db_rows, follow, make_private, mute, post, reel


def feedback(acc, body, **kw):
    return acc.post("/v1/feed/feedback", json=body, **kw)


def stored(server, backends, acc):
    return db_rows(server, backends,
                   f"SELECT target_type, target_id, signal FROM feed_feedback WHERE user_id = {acc.id}"
                   " ORDER BY id")


# ---- feedback --------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"id": "1", "signal": "see_more"}, "type"),
    ({"type": "story", "id": "1", "signal": "see_more"}, "type"),
    ({"type": "comment", "id": "1", "signal": "see_more"}, "type"),
    ({"type": 1, "id": "1", "signal": "see_more"}, "type"),
    ({"type": "post", "signal": "see_more"}, "id"),
    ({"type": "post", "id": 7262919837184000001, "signal": "see_more"}, "id"),
    ({"type": "post", "id": "abc", "signal": "see_more"}, "id"),
    ({"type": "post", "id": "0", "signal": "see_more"}, "id"),
    ({"type": "post", "id": "99999999999999999999", "signal": "see_more"}, "id"),
    ({"type": "post", "id": "1", "signal": "hide"}, "signal"),
    ({"type": "post", "id": "1"}, "signal"),
    ({"type": "post", "id": "1", "signal": None}, "signal"),
], ids=["no-type", "story", "comment", "type-number", "no-id", "id-number", "id-text", "id-zero", "id-too-big",
        "bad-signal", "no-signal", "null-signal"])
def test_feedback_validation(server, backends, user, other, body, field):
    post(other, "something")
    expect_problem(feedback(user, body), 422, "invalid_field", field)
    assert stored(server, backends, user) == []


def test_feedback_stores_once_and_repeats_are_204(server, backends, user, other):
    p, r = post(other, "a post"), reel(other)
    for _ in range(2):
        expect_status(feedback(user, {"type": "post", "id": p["id"], "signal": "not_interested"}), 204)
    expect_status(feedback(user, {"type": "reel", "id": r["id"], "signal": "see_less_author"}), 204)
    # Another signal on the same item is another row; unknown members are ignored.
    expect_status(feedback(user, {"type": "post", "id": p["id"], "signal": "see_more", "note": "x"}), 204)
    assert stored(server, backends, user) == [("post", p["id"], "not_interested"), ("reel", r["id"], "see_less_author"),
                                              ("post", p["id"], "see_more")]


def test_repeated_feedback_becomes_the_newest_again(server, backends, user, other):
    p = post(other, "changing my mind")
    for signal in ("see_less_author", "see_more", "see_less_author"):
        expect_status(feedback(user, {"type": "post", "id": p["id"], "signal": signal}), 204)
    # The repeat refreshed its row: it is the newest, so it decides about the author.
    assert stored(server, backends, user) == [("post", p["id"], "see_more"), ("post", p["id"], "see_less_author")]


def test_feedback_on_own_and_followed_items(server, backends, user, other):
    follow(user, other)
    own, theirs = post(user, "mine"), post(other, "theirs", visibility="followers")
    expect_status(feedback(user, {"type": "post", "id": own["id"], "signal": "see_more"}), 204)
    expect_status(feedback(user, {"type": "post", "id": theirs["id"], "signal": "see_more"}), 204)
    assert len(stored(server, backends, user)) == 2


def test_feedback_on_items_the_caller_may_not_see_is_404(api, server, backends, user, other):
    third, private, blocker = api.register(), api.register(), api.register()
    make_private(private)
    hidden = post(private, "private")
    followers_only = post(other, "friends only", visibility="followers")
    blocked_by = post(blocker, "you cannot see me")
    block(blocker, user)
    blocked = post(third, "blocked")
    block(user, third)
    gone = post(other, "deleted")
    expect_status(other.delete(f"/v1/posts/{gone['id']}"), 204)
    a_reel = reel(other)
    for kind, item_id in [("post", hidden["id"]), ("post", followers_only["id"]), ("post", blocked_by["id"]),
                          ("post", blocked["id"]), ("post", gone["id"]), ("post", "7262919837184000001"),
                          ("post", a_reel["id"]), ("reel", followers_only["id"])]:
        expect_problem(feedback(user, {"type": kind, "id": item_id, "signal": "not_interested"}), 404, "not_found")
    assert stored(server, backends, user) == []


def test_feedback_idempotency_key(server, backends, user, other):
    p = post(other, "once")
    key = {"Idempotency-Key": "feed-feedback-1"}
    body = {"type": "post", "id": p["id"], "signal": "see_less_author"}
    r1 = expect_status(feedback(user, body, headers=key), 204)
    r2 = expect_status(feedback(user, body, headers=key), 204)
    assert r1.header("Idempotent-Replayed") is None
    assert r2.header("Idempotent-Replayed") == "true"
    expect_problem(feedback(user, {**body, "signal": "see_more"}, headers=key), 422, "idempotency_mismatch")
    assert stored(server, backends, user) == [("post", p["id"], "see_less_author")]


def test_feedback_needs_a_token(api):
    expect_problem(api.post("/v1/feed/feedback", json={"type": "post", "id": "1", "signal": "see_more"}), 401,
                   "unauthorized")


# ---- suggestions --------------------------------------------------------------------------------

def suggestions(acc, limit=50):
    return expect_status(acc.get(f"/v1/suggestions/users?limit={limit}"), 200).json["items"]


def test_friends_of_friends_first_and_exclusions(api, user):
    f1, f2 = api.register(), api.register()
    fof2, fof1, followed, requested, blocked, blocker, muted = (api.register() for _ in range(7))
    make_private(requested)
    follow(user, f1)
    follow(user, f2)
    follow(user, followed)
    follow(user, requested)  # a pending request
    block(user, blocked)
    mute(user, muted)
    for friend in (f1, f2):
        for target in (fof2, followed, requested, muted, user):
            follow(friend, target)  # "requested" is private: a pending request, not an edge
    follow(f1, fof1)
    # Before blocking: the blocker is a friend of friends too.
    follow(f1, blocker)
    follow(f2, blocker)
    block(blocker, user)
    # blocked was followed by friends before the block (block removes only the caller's edges).
    follow(f1, blocked)
    follow(f2, blocked)

    items = suggestions(user)
    got = [(i["user"]["id"], i["reason"], i.get("mutual_count")) for i in items]
    assert got[:2] == [(fof2.id, "friends_of_friends", 2), (fof1.id, "friends_of_friends", 1)]
    ids = [i["user"]["id"] for i in items]
    for excluded in (user, followed, requested, blocked, blocker, muted, f1, f2):
        assert excluded.id not in ids
    assert len(ids) == len(set(ids))
    assert items[0]["user"] == {"id": fof2.id, "handle": fof2.handle, "display_name": fof2.user["display_name"],
                                "avatar_url": None, "is_private": False}
    # Following a suggestion takes it out.
    follow(user, fof2)
    assert fof2.id not in [i["user"]["id"] for i in suggestions(user)]


def test_cold_start_gets_suggestions(api):
    # Someone popular exists (at least in this run).
    star = api.register()
    for _ in range(3):
        follow(api.register(), star)
    newcomer = api.register()
    items = suggestions(newcomer, limit=20)
    assert 0 < len(items) <= 20
    assert all(i["reason"] in ("popular", "popular_in_region", "popular_in_interests") for i in items)
    assert all("mutual_count" not in i for i in items)
    assert newcomer.id not in [i["user"]["id"] for i in items]
    assert len(suggestions(newcomer, limit=1)) == 1


def test_interests_and_region(api):
    tag = f"sug{time.monotonic_ns()}"
    author = api.register()
    post(author, f"all about #{tag}")
    local = api.register()
    expect_status(local.patch("/v1/me", json={"region": "IS"}), 200)
    for _ in range(2):  # more followers than any other Icelandic account of this run
        follow(api.register(), local)
    viewer = api.register()
    expect_status(viewer.patch("/v1/me", json={"interests": [tag], "region": "IS"}), 200)
    items = suggestions(viewer)
    assert (items[0]["user"]["id"], items[0]["reason"]) == (author.id, "popular_in_interests")
    region = [i["user"]["id"] for i in items if i["reason"] == "popular_in_region"]
    assert local.id in region
    # The author blocked by the viewer is not suggested for the interest either.
    block(viewer, author)
    assert author.id not in [i["user"]["id"] for i in suggestions(viewer)]


@pytest.mark.parametrize("limit", ["0", "51", "abc", "-1", "1.5", ""])
def test_suggestions_limit_is_checked(user, limit):
    expect_problem(user.get(f"/v1/suggestions/users?limit={limit}"), 422, "invalid_field", "limit")
