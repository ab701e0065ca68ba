"""Comments (BRD engagement.md, "Comments"): create on every target type, one level of
replies (a reply to a reply attaches to the top-level comment and mentions its author),
lists sorted top and new with pages that never repeat or skip, replies, soft delete by the
author or the item's owner, counts, visibility (blocks, followers-only, private, deleted
and expired items), bad input answered 422 with nothing stored, the engagement events and
outbox rows of every write, idempotency and the per-user rate limit.

Every response is checked against api/openapi.yaml."""
import time

import pytest

from client import expect_problem, expect_status
from comments_helpers import (UNKNOWN_ID, approve, block, comment, comments_of, events, follow, get_item, hidden,
                              ids, make_private, outbox, page, post, reel, sql, story, walk)
from conftest import run_chorusd


@pytest.fixture
def third(api):
    return api.register()


def comments_count(acc, kind, item_id):
    return get_item(acc, kind, item_id)["counts"]["comments"]


def get_comment(acc, cid, status=200):
    r = expect_status(acc.get(f"/v1/comments/{cid}"), status)
    return r.json if status == 200 else r


# ---- create and read ---------------------------------------------------------------------

def test_comment_shape_and_read_back(api, user, other):
    p = post(user)
    c = comment(other, p["id"], "Lovely light!\nSecond line ✓")
    assert set(c) == {"id", "target", "parent_id", "author", "text", "created_at", "deleted", "replies_count",
                      "counts", "my_reaction", "mentions", "hashtags"}
    assert c["target"] == {"type": "post", "id": p["id"]}
    assert c["parent_id"] is None and c["deleted"] is False and c["replies_count"] == 0
    assert c["author"] == {"id": other.id, "handle": other.handle, "display_name": other.user["display_name"],
                           "avatar_url": other.user["avatar_url"]}
    assert c["text"] == "Lovely light!\nSecond line ✓"
    assert c["counts"] == {"reactions": {}, "reactions_total": 0} and c["my_reaction"] is None
    assert c["mentions"] == [] and c["hashtags"] == []
    assert get_comment(user, c["id"]) == c
    listed = comments_of(user, p["id"])
    assert len(listed) == 1 and {k: v for k, v in listed[0].items() if k != "replies"} == c
    assert listed[0]["replies"] == []
    assert comments_count(user, "posts", p["id"]) == 1


@pytest.mark.parametrize("kind", ["posts", "reels", "stories"])
def test_comment_on_every_item_type(api, user, other, kind):
    item = {"posts": post, "reels": reel, "stories": story}[kind](user)
    c = comment(other, item["id"], kind=kind)
    assert c["target"] == {"type": item["type"], "id": item["id"]}
    assert ids(comments_of(user, item["id"], kind)) == [c["id"]]
    assert comments_count(other, kind, item["id"]) == 1


@pytest.mark.parametrize("kind", ["livestreams", "listings"])
def test_types_without_a_domain_are_not_found(api, user, kind):
    expect_problem(user.post(f"/v1/{kind}/{UNKNOWN_ID}/comments", json={"text": "hi"}), 404, "not_found")
    expect_problem(user.get(f"/v1/{kind}/{UNKNOWN_ID}/comments"), 404, "not_found")


@pytest.mark.parametrize("bad", ["abc", "0", "-5", "99999999999999999999", "9223372036854775808", UNKNOWN_ID])
def test_unknown_targets_are_not_found(api, user, bad):
    for kind in ("posts", "reels", "stories", "comments"):
        expect_problem(user.post(f"/v1/{kind}/{bad}/comments", json={"text": "hi"}), 404, "not_found")
        expect_problem(user.get(f"/v1/{kind}/{bad}/comments"), 404, "not_found")
    expect_problem(user.get(f"/v1/comments/{bad}"), 404, "not_found")
    expect_problem(user.get(f"/v1/comments/{bad}/replies"), 404, "not_found")
    expect_problem(user.delete(f"/v1/comments/{bad}"), 404, "not_found")


def test_text_limits_accepted(api, user, other):
    p = post(user)
    for text in ["x", "x" * 2200, "é" * 2200, "🎵" * 2200, "line\n\ttab"]:
        assert comment(other, p["id"], text)["text"] == text
    assert comments_count(user, "posts", p["id"]) == 5


def test_needs_a_token(api, user):
    p = post(user)
    expect_problem(api.post(f"/v1/posts/{p['id']}/comments", json={"text": "hi"}), 401, "unauthorized")
    expect_problem(api.get(f"/v1/posts/{p['id']}/comments"), 401, "unauthorized")


# ---- bad input ---------------------------------------------------------------------------

BAD_BODIES = [
    ({}, "text"), ({"text": None}, "text"), ({"text": ""}, "text"), ({"text": "   \n\t "}, "text"),
    ({"text": "\u00a0\u3000"}, "text"), ({"text": "x" * 2201}, "text"), ({"text": "é" * 2201}, "text"),
    ({"text": 5}, "text"), ({"text": ["a"]}, "text"), ({"text": "bell\u0007"}, "text"),
    ({"text": "ok", "parent_id": "abc"}, "parent_id"), ({"text": "ok", "parent_id": 123}, "parent_id"),
    ({"text": "ok", "parent_id": "0"}, "parent_id"), ({"text": "ok", "parent_id": UNKNOWN_ID}, "parent_id"),
    ({"text": "ok", "parent_id": "99999999999999999999"}, "parent_id"),
    ({"text": " ".join(f"#t{i}" for i in range(31))}, "text"),
    ({"text": " ".join(f"@user{i:02d}" for i in range(31))}, "text"),
]


@pytest.mark.parametrize("body,field", BAD_BODIES)
def test_bad_input_is_refused_and_nothing_stored(api, user, other, body, field):
    p = post(user)
    expect_problem(other.post(f"/v1/posts/{p['id']}/comments", json=body), 422, "invalid_field", field)
    assert comments_of(user, p["id"]) == []
    assert comments_count(user, "posts", p["id"]) == 0


def test_bad_parents_are_refused(api, user, other, third):
    p1, p2 = post(user), post(user)
    on_other_post = comment(other, p2["id"])
    deleted = comment(other, p1["id"])
    expect_status(other.delete(f"/v1/comments/{deleted['id']}"), 204)
    for parent in (on_other_post["id"], deleted["id"]):
        expect_problem(third.post(f"/v1/posts/{p1['id']}/comments", json={"text": "x", "parent_id": parent}),
                       422, "invalid_field", "parent_id")
    # The comment in the path is the parent: another parent_id is refused.
    top = comment(other, p1["id"])
    expect_problem(third.post(f"/v1/comments/{top['id']}/comments", json={"text": "x", "parent_id": deleted["id"]}),
                   422, "invalid_field", "parent_id")
    assert ids(comments_of(user, p1["id"])) == [top["id"]]
    assert comments_count(user, "posts", p1["id"]) == 1
    # A parent by a user blocked either way is no parent for the blocked side.
    block(other, third)
    expect_problem(third.post(f"/v1/posts/{p1['id']}/comments", json={"text": "x", "parent_id": top["id"]}),
                   422, "invalid_field", "parent_id")
    assert get_comment(user, top["id"])["replies_count"] == 0


def test_bad_list_parameters(api, user):
    p = post(user)
    for q, field in [("sort=best", "sort"), ("sort=", "sort"), ("limit=0", "limit"), ("limit=101", "limit"),
                     ("cursor=", "cursor"), ("sort=new&cursor=abc", "cursor"), ("sort=top&cursor=abc", "cursor"),
                     ("sort=top&cursor=1.1", "cursor"), ("sort=top&cursor=123.r5", "cursor")]:
        expect_problem(user.get(f"/v1/posts/{p['id']}/comments?{q}"), 422, "invalid_field", field)
    expect_problem(user.get(f"/v1/comments/{UNKNOWN_ID}/replies?cursor=x"), 422, "invalid_field", "cursor")


# ---- replies -----------------------------------------------------------------------------

def test_replies_nest_one_level(api, user, other, third):
    p = post(user)
    top = comment(other, p["id"], "first!")
    r1 = comment(user, p["id"], "thanks", parent_id=top["id"])
    assert r1["parent_id"] == top["id"] and r1["mentions"] == []
    # A reply to a reply attaches to the top-level comment and mentions the author replied to.
    r2 = comment(third, p["id"], "agreed", parent_id=r1["id"])
    assert r2["parent_id"] == top["id"]
    assert r2["mentions"] == [{"id": user.id, "handle": user.handle}]
    # Writing the handle too mentions them once; replying to oneself mentions nobody.
    r3 = comment(third, p["id"], f"@{user.handle.upper()} yes", parent_id=r1["id"])
    assert r3["mentions"] == [{"id": user.id, "handle": user.handle}]
    r4 = comment(third, p["id"], "me again", parent_id=r3["id"])
    assert r4["parent_id"] == top["id"] and r4["mentions"] == []
    assert get_comment(user, top["id"])["replies_count"] == 4
    assert get_comment(user, r1["id"])["replies_count"] == 0
    # Lists show top-level comments, each with its first two replies.
    listed = comments_of(other, p["id"])
    assert ids(listed) == [top["id"]]
    assert listed[0]["replies_count"] == 4 and ids(listed[0]["replies"]) == [r1["id"], r2["id"]]
    # Replies, oldest first, paginated; a reply has none.
    assert ids(walk(other, f"/v1/comments/{top['id']}/replies", limit=1)) == ids([r1, r2, r3, r4])
    assert ids(walk(other, f"/v1/comments/{top['id']}/replies", limit=3)) == ids([r1, r2, r3, r4])
    assert page(other, f"/v1/comments/{r1['id']}/replies") == {"items": [], "next_cursor": None}
    assert comments_count(user, "posts", p["id"]) == 5


def test_comments_of_a_comment_are_its_replies(api, user, other):
    p = post(user)
    top = comment(other, p["id"])
    r1 = comment(user, top["id"], "via the comment", kind="comments")
    assert r1["parent_id"] == top["id"] and r1["target"] == {"type": "post", "id": p["id"]}
    r2 = comment(other, r1["id"], "reply to the reply", kind="comments")
    assert r2["parent_id"] == top["id"] and r2["mentions"] == [{"id": user.id, "handle": user.handle}]
    assert ids(walk(user, f"/v1/comments/{top['id']}/comments", limit=1)) == [r1["id"], r2["id"]]
    assert ids(comments_of(user, p["id"])) == [top["id"]]
    assert comments_count(user, "posts", p["id"]) == 3


# ---- delete ------------------------------------------------------------------------------

def test_delete_by_author_owner_and_others(api, user, other, third):
    p = post(user)
    c1, c2, c3 = comment(other, p["id"]), comment(other, p["id"]), comment(third, p["id"])
    assert comments_count(user, "posts", p["id"]) == 3
    # Someone else who sees it: 403, nothing changes.
    expect_problem(third.delete(f"/v1/comments/{c1['id']}"), 403, "forbidden")
    expect_problem(other.delete(f"/v1/comments/{c3['id']}"), 403, "forbidden")
    assert comments_count(user, "posts", p["id"]) == 3
    # Its author, and the owner of the post.
    expect_status(other.delete(f"/v1/comments/{c1['id']}"), 204)
    expect_status(user.delete(f"/v1/comments/{c2['id']}"), 204)
    assert comments_count(third, "posts", p["id"]) == 1
    assert ids(comments_of(third, p["id"])) == [c3["id"]]
    for cid in (c1["id"], c2["id"]):
        get_comment(third, cid, 404)
        expect_problem(other.delete(f"/v1/comments/{cid}"), 404, "not_found")
        expect_problem(user.delete(f"/v1/comments/{cid}"), 404, "not_found")
    assert comments_count(third, "posts", p["id"]) == 1


def test_delete_when_blocked(api, user, other, third):
    p = post(user)
    c = comment(other, p["id"])
    # Who may not see the comment gets 404, not 403.
    block(other, third)
    expect_problem(third.delete(f"/v1/comments/{c['id']}"), 404, "not_found")
    # The post's owner may delete a comment by someone they blocked.
    block(user, other)
    expect_status(user.delete(f"/v1/comments/{c['id']}"), 204)
    assert comments_count(user, "posts", p["id"]) == 0


def test_deleted_comment_with_replies_stays_as_placeholder(api, user, other, third):
    p = post(user)
    top = comment(other, p["id"], "will go #gone @" + third.handle)
    r1 = comment(third, p["id"], "reply one", parent_id=top["id"])
    r2 = comment(user, p["id"], "reply two", parent_id=top["id"])
    lonely = comment(other, p["id"], "no replies")
    expect_status(other.delete(f"/v1/comments/{top['id']}"), 204)
    expect_status(other.delete(f"/v1/comments/{lonely['id']}"), 204)
    listed = comments_of(third, p["id"])
    assert ids(listed) == [top["id"]]  # the one without replies is gone
    ph = listed[0]
    assert ph["deleted"] is True and ph["text"] is None and ph["author"] is None
    assert ph["mentions"] == [] and ph["hashtags"] == []
    assert ph["replies_count"] == 2 and ids(ph["replies"]) == [r1["id"], r2["id"]]
    assert ids(walk(third, f"/v1/comments/{top['id']}/replies")) == [r1["id"], r2["id"]]
    get_comment(third, top["id"], 404)
    # No replying or reacting to the deleted comment itself...
    expect_problem(third.post(f"/v1/posts/{p['id']}/comments", json={"text": "x", "parent_id": top["id"]}),
                   422, "invalid_field", "parent_id")
    expect_problem(third.post(f"/v1/comments/{top['id']}/comments", json={"text": "x"}), 404, "not_found")
    expect_problem(third.client.request("PUT", f"/v1/comments/{top['id']}/reaction", json={"kind": "like"},
                                        token=third.access_token), 404, "not_found")
    # ...but its thread goes on: a reply to a reply still attaches to it.
    r3 = comment(other, p["id"], "still here", parent_id=r1["id"])
    assert r3["parent_id"] == top["id"]
    assert comments_count(user, "posts", p["id"]) == 3
    # Deleting the replies: the placeholder goes too.
    for r in (r1, r2, r3):
        expect_status(user.delete(f"/v1/comments/{r['id']}"), 204)
    assert comments_of(third, p["id"]) == []
    assert comments_count(user, "posts", p["id"]) == 0
    # Its hashtag left the index.
    assert page(third, "/v1/hashtags/gone/items")["items"] == []


def test_deleting_a_reply_moves_counts(api, user, other):
    p = post(user)
    top = comment(other, p["id"])
    r = comment(user, p["id"], parent_id=top["id"])
    assert get_comment(other, top["id"])["replies_count"] == 1
    expect_status(user.delete(f"/v1/comments/{r['id']}"), 204)
    assert get_comment(other, top["id"])["replies_count"] == 0
    assert comments_count(user, "posts", p["id"]) == 1
    assert comments_of(user, p["id"])[0]["replies"] == []


# ---- order and pagination ----------------------------------------------------------------

def react(acc, cid, kind="like"):
    expect_status(acc.client.request("PUT", f"/v1/comments/{cid}/reaction", json={"kind": kind},
                                     token=acc.access_token), 200)


def test_top_and_new_order(api, user, other, third):
    p = post(user)
    a = comment(other, p["id"], "a")
    b = comment(other, p["id"], "b")
    c = comment(other, p["id"], "c")
    d = comment(other, p["id"], "d")
    # a: 2 replies (score 1 + 6), c: 3 reactions (1 + 3), b and d nothing.
    comment(user, p["id"], parent_id=a["id"])
    comment(third, p["id"], parent_id=a["id"])
    for acc in (user, third, other):
        react(acc, c["id"])
    assert ids(comments_of(user, p["id"], sort="new")) == [d["id"], c["id"], b["id"], a["id"]]
    assert ids(comments_of(user, p["id"], sort="top")) == [a["id"], c["id"], d["id"], b["id"]]
    # top is the default.
    assert ids(page(user, f"/v1/posts/{p['id']}/comments")["items"]) == [a["id"], c["id"], d["id"], b["id"]]
    listed = {x["id"]: x for x in comments_of(third, p["id"])}
    assert listed[c["id"]]["counts"] == {"reactions": {"like": 3}, "reactions_total": 3}
    assert listed[c["id"]]["my_reaction"] == "like" and listed[a["id"]]["my_reaction"] is None


def test_new_pages_never_repeat_or_skip(api, user, other):
    p = post(user)
    made = [comment(other, p["id"], f"c{i}")["id"] for i in range(13)]
    seen, cursor = [], None
    while True:
        q = {"sort": "new", "limit": 4}
        if cursor:
            q["cursor"] = cursor
        pg = page(user, f"/v1/posts/{p['id']}/comments", **q)
        seen.extend(ids(pg["items"]))
        comment(other, p["id"], "arrives meanwhile")
        cursor = pg["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))


def test_top_pages_keep_their_order(api, user, other, third):
    p = post(user)
    made = [comment(other, p["id"], f"c{i}")["id"] for i in range(11)]
    first = page(user, f"/v1/posts/{p['id']}/comments", sort="top", limit=4)
    seen = ids(first["items"])
    # Scores move during the walk: the oldest comment gains replies, another is deleted,
    # new comments arrive. The walk still shows each comment of its start exactly once.
    for _ in range(3):
        comment(third, p["id"], parent_id=made[0])
    expect_status(other.delete(f"/v1/comments/{made[1]}"), 204)
    late = comment(other, p["id"], "late")["id"]
    cursor = first["next_cursor"]
    assert cursor
    while cursor:
        pg = page(user, f"/v1/posts/{p['id']}/comments", sort="top", limit=4, cursor=cursor)
        seen.extend(ids(pg["items"]))
        cursor = pg["next_cursor"]
    assert len(seen) == len(set(seen))
    assert set(seen) == set(made) - {made[1]} and late not in seen
    # All scored alike at the start: newest first; a new walk ranks the oldest first now.
    assert seen == [m for m in reversed(made) if m != made[1]]
    assert ids(comments_of(user, p["id"], sort="top"))[0] == made[0]
    # A cursor belongs to the item's shared ordering: another viewer continues the same walk
    # (seeing what they may see), another post cannot use it.
    assert ids(page(third, f"/v1/posts/{p['id']}/comments", sort="top", limit=4,
                    cursor=first["next_cursor"])["items"]) == seen[4:8]
    p2 = post(user)
    expect_problem(user.get(f"/v1/posts/{p2['id']}/comments?sort=top&cursor={first['next_cursor']}"),
                   422, "invalid_field", "cursor")


def test_top_walk_past_the_ranked_comments(api, server, backends, user, other):
    """More top-level comments than are ranked (1,000): the rest follow newest first, and
    the whole walk still shows every comment exactly once."""
    p = post(user)
    made = [comment(other, p["id"], f"api {i}")["id"] for i in range(3)]
    comment(user, p["id"], "reply", parent_id=made[0])
    # Ids far below the server's (which encode the current time), one range per post.
    base = 10**15 + (int(p["id"]) % 10**6) * 2000
    now_ms = int(time.time() * 1000)
    for chunk in range(0, 1010, 202):
        rows = ",".join(f"({base + i}, 'post', {p['id']}, NULL, {other.id}, 'bulk {i}', "
                        f"{now_ms - 86_400_000 - i * 1000})" for i in range(chunk, chunk + 202))
        sql(server, backends, "INSERT INTO comments(id, target_type, target_id, parent_id, author_id, text, "
                              f"created_at) VALUES {rows}")
    expected = set(made) | {str(base + i) for i in range(1010)}
    for limit in (100, 37):
        seen = ids(walk(user, f"/v1/posts/{p['id']}/comments", limit=limit, sort="top"))
        assert len(seen) == len(set(seen)) == len(expected)
        assert set(seen) == expected
        assert seen[0] == made[0]  # the one with a reply ranks first
    new = ids(walk(user, f"/v1/posts/{p['id']}/comments", sort="new"))
    assert new == sorted(expected, key=int, reverse=True)


# ---- visibility --------------------------------------------------------------------------

def test_blocked_either_way_is_not_found(api, user, other):
    p = post(user)
    c = comment(other, p["id"])
    for blocker, blocked in ((user, other), (other, user)):
        block(blocker, blocked)
        # other cannot comment on or read comments of user's post; user cannot reach other's comment.
        expect_problem(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "x"}), 404, "not_found")
        hidden(other, f"/v1/posts/{p['id']}/comments")
        hidden(user, f"/v1/comments/{c['id']}")
        hidden(user, f"/v1/comments/{c['id']}/replies")
        assert comments_of(user, p["id"]) == []
        expect_status(blocker.delete(f"/v1/users/{blocked.id}/block"), 204)
    assert ids(comments_of(user, p["id"])) == [c["id"]]


def test_comments_by_blocked_users_are_left_out(api, user, other, third):
    p = post(user)
    mine = comment(third, p["id"], "third's")
    theirs = comment(other, p["id"], "other's")
    reply_in_mine = comment(other, p["id"], "other replies", parent_id=mine["id"])
    kept = comment(user, p["id"], "owner replies", parent_id=mine["id"])
    block(third, other)
    listed = comments_of(third, p["id"])
    assert ids(listed) == [mine["id"]]
    assert ids(listed[0]["replies"]) == [kept["id"]]
    assert ids(walk(third, f"/v1/comments/{mine['id']}/replies")) == [kept["id"]]
    hidden(third, f"/v1/comments/{theirs['id']}")
    hidden(third, f"/v1/comments/{reply_in_mine['id']}")
    # Others still see everything.
    assert ids(comments_of(user, p["id"])) == [theirs["id"], mine["id"]]


def test_followers_only_and_private_items(api, user, other, third):
    fo = post(user, "followers", visibility="followers")
    expect_problem(other.post(f"/v1/posts/{fo['id']}/comments", json={"text": "x"}), 404, "not_found")
    hidden(other, f"/v1/posts/{fo['id']}/comments")
    follow(other, user)
    c = comment(other, fo["id"])
    hidden(third, f"/v1/comments/{c['id']}")
    hidden(third, f"/v1/comments/{c['id']}/replies")
    expect_problem(third.delete(f"/v1/comments/{c['id']}"), 404, "not_found")
    make_private(user)
    pub = post(user, "public but private account")
    expect_problem(third.post(f"/v1/posts/{pub['id']}/comments", json={"text": "x"}), 404, "not_found")
    assert follow(third, user) == "requested"
    expect_problem(third.post(f"/v1/posts/{pub['id']}/comments", json={"text": "x"}), 404, "not_found")
    approve(user, third)
    comment(third, pub["id"])


def test_deleted_item_refuses_comments(api, user, other):
    p = post(user)
    c = comment(other, p["id"])
    expect_status(user.delete(f"/v1/posts/{p['id']}"), 204)
    expect_problem(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "x"}), 404, "not_found")
    hidden(other, f"/v1/posts/{p['id']}/comments")
    hidden(other, f"/v1/comments/{c['id']}")
    expect_problem(other.delete(f"/v1/comments/{c['id']}"), 404, "not_found")


def test_expired_story_refuses_comments(start_server):
    srv = start_server(env={"CHORUS_STORY_TTL": "2"})
    api = srv.client()
    owner, fan = api.register(), api.register()
    s = story(owner)
    c = comment(fan, s["id"], kind="stories")
    time.sleep(2.6)
    expect_problem(fan.post(f"/v1/stories/{s['id']}/comments", json={"text": "late"}), 404, "not_found")
    hidden(fan, f"/v1/stories/{s['id']}/comments")
    hidden(owner, f"/v1/comments/{c['id']}")


# ---- reactions on comments ---------------------------------------------------------------

def test_comments_are_targets_for_reactions(api, user, other):
    p = post(user)
    c = comment(other, p["id"])
    react(user, c["id"], "love")
    got = get_comment(user, c["id"])
    assert got["counts"] == {"reactions": {"love": 1}, "reactions_total": 1} and got["my_reaction"] == "love"
    assert get_comment(other, c["id"])["my_reaction"] is None
    # The post's comment count is about comments, not reactions on them.
    assert comments_count(user, "posts", p["id"]) == 1


# ---- events, outbox, idempotency, rate limit ---------------------------------------------

def test_events_and_outbox(api, server, backends, user, other, third):
    p = post(user)
    top = comment(other, p["id"], "top")
    r1 = comment(user, p["id"], "reply", parent_id=top["id"])
    r2 = comment(third, p["id"], "reply to reply", parent_id=r1["id"])
    r3 = comment(third, p["id"], f"@{other.handle} again", parent_id=top["id"])
    expect_status(user.delete(f"/v1/comments/{r2['id']}"), 204)
    got = events(server, backends, ["comment", "reply", "mention"], [user.id, other.id, third.id])
    assert got == [
        ("comment", other.id, "post", p["id"], user.id),
        ("reply", user.id, "post", p["id"], other.id),
        ("mention", third.id, "comment", r2["id"], user.id),  # the author replied to
        ("reply", third.id, "post", p["id"], other.id),
        ("reply", third.id, "post", p["id"], other.id),  # r3: other is told of the reply, not the mention
    ]
    base = {"target_type": "post", "target_id": p["id"], "target_owner_id": user.id}
    assert outbox(server, backends, "comment.", [top["id"], r1["id"], r2["id"], r3["id"]]) == [
        ("comment.created", {**base, "comment_id": top["id"], "author_id": other.id, "parent_id": None,
                             "parent_author_id": None}),
        ("comment.created", {**base, "comment_id": r1["id"], "author_id": user.id, "parent_id": top["id"],
                             "parent_author_id": other.id}),
        ("comment.created", {**base, "comment_id": r2["id"], "author_id": third.id, "parent_id": top["id"],
                             "parent_author_id": other.id}),
        ("comment.created", {**base, "comment_id": r3["id"], "author_id": third.id, "parent_id": top["id"],
                             "parent_author_id": other.id}),
        ("comment.deleted", {**base, "comment_id": r2["id"], "author_id": third.id, "parent_id": top["id"],
                             "parent_author_id": other.id, "deleted_by": user.id}),
    ]
    assert outbox(server, backends, "mention.", [r2["id"], r3["id"]]) == [
        ("mention.created", {"target_type": "comment", "target_id": r2["id"], "mentioned_id": user.id,
                             "author_id": third.id, "item_type": "post", "item_id": p["id"]}),
    ]


def test_refused_writes_leave_no_trace(api, server, backends, user, other):
    p = post(user)
    expect_problem(other.post(f"/v1/posts/{p['id']}/comments", json={"text": ""}), 422, "invalid_field", "text")
    block(user, other)
    expect_problem(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "x"}), 404, "not_found")
    assert events(server, backends, ["comment", "reply", "mention"], [other.id]) == []
    assert sql(server, backends, f"SELECT COUNT(*) FROM comments WHERE target_id = {p['id']}") == [("0",)]


def test_idempotency_key_replays_the_comment(api, user, other):
    p = post(user)
    h = {"Idempotency-Key": "comment-once-1"}
    r1 = expect_status(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "once"}, headers=h), 201)
    r2 = expect_status(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "once"}, headers=h), 201)
    assert r2.header("Idempotent-Replayed") == "true" and r2.json == r1.json
    expect_problem(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "twice"}, headers=h), 422,
                   "idempotency_mismatch")
    assert ids(comments_of(user, p["id"])) == [r1.json["id"]]
    assert comments_count(user, "posts", p["id"]) == 1


def test_comments_are_rate_limited(start_server):
    srv = start_server(env={"CHORUS_RATE_LIMIT_COMMENTS": "3"})
    api = srv.client()
    owner, fan = api.register(), api.register()
    p = post(owner)
    for i in range(3):
        comment(fan, p["id"], f"c{i}")
    r = fan.post(f"/v1/posts/{p['id']}/comments", json={"text": "one too many"})
    expect_problem(r, 429, "rate_limited")
    assert int(r.header("Retry-After")) >= 1
    assert len(comments_of(owner, p["id"])) == 3 and comments_count(owner, "posts", p["id"]) == 3
    # The limit is per user.
    comment(owner, p["id"], "the owner may still comment")


@pytest.mark.parametrize("bad", ["0", "-1", "x"])
def test_bad_comment_rate_limit_stops_start(chorusd_env, bad):
    p = run_chorusd(["migrate"], chorusd_env({"CHORUS_RATE_LIMIT_COMMENTS": bad}))
    assert p.returncode != 0 and "CHORUS_RATE_LIMIT_COMMENTS" in p.stderr, p.stderr


def test_concurrent_comments_and_deletes_keep_counts_exact(api, user, other, third):
    import concurrent.futures
    p = post(user)
    top = comment(other, p["id"])

    def write(i):
        acc = (user, other, third)[i % 3]
        c = comment(acc, p["id"], f"r{i}", parent_id=top["id"] if i % 2 else None)
        if i % 4 == 0:
            expect_status(acc.delete(f"/v1/comments/{c['id']}"), 204)
        return c

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = list(pool.map(write, range(24)))
    live = [c for i, c in enumerate(made) if i % 4 != 0]
    replies = [c for i, c in enumerate(made) if i % 4 != 0 and i % 2]
    assert comments_count(user, "posts", p["id"]) == 1 + len(live)
    assert get_comment(user, top["id"])["replies_count"] == len(replies)


def test_hidden_first_replies_and_comments_do_not_shorten_pages(api, user, other, third):
    # The first replies of a thread and a page of comments are hydrated in chunks of what
    # they still lack: hidden ones ahead of them must not leave the thread or page short.
    p = post(user)
    top = comment(user, p["id"], "thread")
    comment(other, p["id"], "hidden 1", parent_id=top["id"])
    comment(other, p["id"], "hidden 2", parent_id=top["id"])
    shown = [comment(user, p["id"], f"shown {i}", parent_id=top["id"])["id"] for i in range(3)]
    hidden_top = [comment(other, p["id"], f"hidden top {i}")["id"] for i in range(3)]
    kept_top = [comment(user, p["id"], f"kept top {i}")["id"] for i in range(3)]
    block(third, other)
    for sort in ("new", "top"):
        listed = page(third, f"/v1/posts/{p['id']}/comments", sort=sort, limit=20)["items"]
        thread = [c for c in listed if c["id"] == top["id"]][0]
        assert ids(thread["replies"]) == shown[:2]
        assert not set(hidden_top) & set(ids(listed))
        # small pages walk past the hidden ones without losing or repeating one
        walked = walk(third, f"/v1/posts/{p['id']}/comments", limit=2, sort=sort)
        assert sorted(ids(walked)) == sorted(kept_top + [top["id"]])
    assert ids(walk(third, f"/v1/comments/{top['id']}/replies", limit=2)) == shown


def test_threads_of_many_parents_carry_their_own_first_replies(api, user, other):
    # The first replies of a page's threads are read by one bounded range per parent: with
    # replies written across threads in turn, a deleted first one, a thread of many and a
    # thread of none, each thread gets its own first live ones, oldest first.
    p = post(user)
    tops = [comment(user, p["id"], f"thread {i}") for i in range(9)]
    replies = {t["id"]: [] for t in tops}
    for rnd in range(3):
        for i, t in enumerate(tops):
            if i == 8 or (i == 7 and rnd > 0):
                continue  # thread 8 has no replies, thread 7 one
            replies[t["id"]].append(comment(other, p["id"], f"r{rnd} of {i}", parent_id=t["id"])["id"])
    many = [comment(other, p["id"], f"more {k}", parent_id=tops[0]["id"])["id"] for k in range(6)]
    replies[tops[0]["id"]] += many
    expect_status(other.delete(f"/v1/comments/{replies[tops[3]['id']][0]}"), 204)
    replies[tops[3]["id"]].pop(0)
    for sort in ("new", "top"):
        listed = page(other, f"/v1/posts/{p['id']}/comments", sort=sort, limit=20)["items"]
        assert sorted(ids(listed)) == sorted(t["id"] for t in tops)
        for c in listed:
            assert ids(c["replies"]) == replies[c["id"]][:2], (sort, c["text"])
