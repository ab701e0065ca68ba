"""Notifications: grouping per (kind, target) with the three newest actors and an exact
count, follows and follow requests, the rules (none for your own action, none from users
blocked either way or muted), unread count, marking read (all / up to an id), paging.

Notifications are written by the asynchronous worker: tests poll (bounded). To prove that
something did NOT produce a notification, a test lets a later, allowed action through and
waits for it: the worker applies each stream in order, so the earlier one was seen too."""

from client import expect_problem, expect_status
from notify_helpers import (actor_ids, all_notifications, emit_event, follow, group, need_route, new_id,
                            notifications, post, react, unread, wait_group, wait_until)
from social import block, mute


def target(type_, id_):
    return {"type": type_, "id": str(id_)}


# ---- follows and follow requests ---------------------------------------------------------------

def test_followers_are_one_group_with_the_three_newest_and_an_exact_count(api, user):
    fans = [api.register() for _ in range(5)]
    for f in fans:
        assert follow(f, user) == "following"
    g = wait_group(user, "follow", None, count=5)
    assert "target" not in g
    assert actor_ids(g) == [fans[4].id, fans[3].id, fans[2].id]
    assert g["read"] is False
    a = g["actors"][0]
    assert a["handle"] == fans[4].handle and set(a) == {"id", "handle", "display_name", "avatar_url", "is_private"}
    assert [n["kind"] for n in all_notifications(user)] == ["follow"]
    assert unread(user) == 1
    # Following again, unfollowing and following again: still one actor each.
    expect_status(fans[0].delete(f"/v1/users/{user.id}/follow"), 204)
    follow(fans[0], user)
    late = api.register()
    follow(late, user)
    g = wait_group(user, "follow", None, count=6)
    assert actor_ids(g) == [late.id, fans[4].id, fans[3].id]


def test_follow_request_notifies_and_leaves_when_handled(api, user):
    expect_status(user.patch("/v1/me", json={"is_private": True}), 200)
    x, y, z = api.register(), api.register(), api.register()
    assert follow(x, user) == "requested"
    assert follow(y, user) == "requested"
    g = wait_group(user, "follow_request", None, count=2)
    assert actor_ids(g) == [y.id, x.id]
    assert group(user, "follow") is None
    # Approving x: x leaves the request group and shows up as a follower.
    expect_status(user.post(f"/v1/me/follow-requests/{x.id}/approve"), 204)
    g = wait_group(user, "follow", None, count=1)
    assert actor_ids(g) == [x.id]
    g = wait_group(user, "follow_request", None, count=1)
    assert actor_ids(g) == [y.id]
    # y cancels, z asks and is rejected: the group goes once nobody is waiting.
    expect_status(y.delete(f"/v1/users/{user.id}/follow"), 204)
    assert follow(z, user) == "requested"
    wait_group(user, "follow_request", None, count=1)
    expect_status(user.post(f"/v1/me/follow-requests/{z.id}/reject"), 204)
    wait_until(lambda: group(user, "follow_request") is None, "the request group to go")


def test_muted_users_do_not_notify(api, user):
    muted, sentinel = api.register(), api.register()
    mute(user, muted)
    follow(muted, user)
    follow(sentinel, user)
    # The worker may see quick's follow before the block (quick joins, then leaves the group)
    # or after it (quick never joins): wait for the later sentinel, then only it may remain.
    g = wait_until(lambda: (lambda g: g if g and sentinel.id in actor_ids(g) else None)(group(user, "follow", None)),
                   "the sentinel's follow in the group", 30.0)
    assert actor_ids(g) == [sentinel.id]
    assert g["actors_count"] == 1


def test_muting_and_blocking_later_take_the_user_out(api, user):
    a, b, c = api.register(), api.register(), api.register()
    for u in (a, b, c):
        follow(u, user)
    wait_group(user, "follow", None, count=3)
    mute(user, a)
    g = wait_group(user, "follow", None, count=2)
    assert actor_ids(g) == [c.id, b.id]
    block(user, b)
    g = wait_group(user, "follow", None, count=1)
    assert actor_ids(g) == [c.id]
    block(user, c)
    wait_until(lambda: group(user, "follow") is None, "the empty group to go")
    assert unread(user) == 0


def test_a_follow_blocked_before_the_worker_saw_it_never_notifies(api, user):
    quick, sentinel = api.register(), api.register()
    follow(quick, user)
    block(user, quick)  # removes the follow; the worker sees follow.created after the block
    follow(sentinel, user)
    # The worker may see quick's follow before the block (quick joins, then leaves the group)
    # or after it (quick never joins): wait for the later sentinel, then only it may remain.
    g = wait_until(lambda: (lambda g: g if g and sentinel.id in actor_ids(g) else None)(group(user, "follow", None)),
                   "the sentinel's follow in the group", 30.0)
    assert actor_ids(g) == [sentinel.id]
    assert g["actors_count"] == 1


# ---- engagement (from the event log) -------------------------------------------------------------

def test_reactions_group_per_target_and_self_actions_do_not_notify(api, server, backends, user):
    others = [api.register() for _ in range(4)]
    t1, t2 = new_id(), new_id()
    emit_event(server, backends, user.id, "reaction", "post", t1, user.id)  # own post: nothing
    for o in others:
        emit_event(server, backends, o.id, "reaction", "post", t1, user.id)
    emit_event(server, backends, others[0].id, "reaction", "post", t1, user.id)  # again: same actor
    emit_event(server, backends, others[1].id, "reaction", "post", t2, user.id)
    g1 = wait_group(user, "reaction", target("post", t1), count=4)
    assert actor_ids(g1) == [others[3].id, others[2].id, others[1].id]
    g2 = wait_group(user, "reaction", target("post", t2), count=1)
    assert all_notifications(user)[0]["id"] == g2["id"]  # the newest group first
    assert user.id not in actor_ids(g1) + actor_ids(g2)
    assert unread(user) == 2


def test_each_kind_is_its_own_group(api, server, backends, user, other):
    t = new_id()
    for kind in ("comment", "reply", "mention"):
        emit_event(server, backends, other.id, kind, "post", t, user.id)
    for kind in ("comment", "reply", "mention"):
        g = wait_group(user, kind, target("post", t), count=1)
        assert actor_ids(g) == [other.id]
    emit_event(server, backends, other.id, "view", "post", t, user.id, value=12)  # views never notify
    emit_event(server, backends, other.id, "reaction", "post", t, user.id)
    wait_group(user, "reaction", target("post", t), count=1)
    assert sorted(n["kind"] for n in all_notifications(user)) == ["comment", "mention", "reaction", "reply"]


def test_a_reaction_taken_back_leaves_the_group(api, server, backends, user):
    a, b = api.register(), api.register()
    t = new_id()
    emit_event(server, backends, a.id, "reaction", "reel", t, user.id)
    emit_event(server, backends, b.id, "reaction", "reel", t, user.id)
    wait_group(user, "reaction", target("reel", t), count=2)
    emit_event(server, backends, a.id, "unreaction", "reel", t, user.id)
    g = wait_group(user, "reaction", target("reel", t), count=1)
    assert actor_ids(g) == [b.id]
    emit_event(server, backends, b.id, "unreaction", "reel", t, user.id)
    wait_until(lambda: group(user, "reaction", target("reel", t)) is None, "the empty group to go")


def test_no_notification_from_users_blocked_either_way(api, server, backends, user):
    blocked, blocker, sentinel = api.register(), api.register(), api.register()
    block(user, blocked)
    block(blocker, user)
    t = new_id()
    emit_event(server, backends, blocked.id, "comment", "post", t, user.id)
    emit_event(server, backends, blocker.id, "comment", "post", t, user.id)
    emit_event(server, backends, sentinel.id, "comment", "post", t, user.id)
    g = wait_group(user, "comment", target("post", t), count=1)
    assert actor_ids(g) == [sentinel.id]


# ---- read state and paging --------------------------------------------------------------------------

def test_unread_count_and_mark_read_up_to_an_id_or_all(api, server, backends, user, other):
    ts = [new_id() for _ in range(3)]
    groups = []
    for i, t in enumerate(ts):
        emit_event(server, backends, other.id, "reaction", "post", t, user.id)
        groups.append(wait_group(user, "reaction", target("post", t), count=1))
    assert [g["id"] for g in all_notifications(user)] == [g["id"] for g in reversed(groups)]
    assert unread(user) == 3
    expect_status(user.post("/v1/notifications/read", json={"up_to_id": groups[1]["id"]}), 204)
    assert unread(user) == 1
    assert {n["id"]: n["read"] for n in all_notifications(user)} == {
        groups[0]["id"]: True, groups[1]["id"]: True, groups[2]["id"]: False}
    # Someone joins the first group: it is new again (new id, on top, unread).
    third = api.register()
    emit_event(server, backends, third.id, "reaction", "post", ts[0], user.id)
    g = wait_group(user, "reaction", target("post", ts[0]), count=2)
    assert g["read"] is False and int(g["id"]) > int(groups[2]["id"])
    assert all_notifications(user)[0]["id"] == g["id"]
    assert unread(user) == 2
    expect_status(user.post("/v1/notifications/read", json={}), 204)
    assert unread(user) == 0
    assert all(n["read"] for n in all_notifications(user))
    expect_status(user.post("/v1/notifications/read", json={"up_to_id": None}), 204)  # repeating is fine
    assert unread(other) == 0  # somebody else's notifications are untouched and unseen


def test_pages_are_newest_first_and_never_repeat(api, server, backends, user, other):
    ts = [new_id() for _ in range(5)]
    for t in ts:
        emit_event(server, backends, other.id, "mention", "comment", t, user.id)
    wait_until(lambda: len(all_notifications(user)) == 5, "five groups")
    everything = all_notifications(user)
    assert [int(n["id"]) for n in everything] == sorted((int(n["id"]) for n in everything), reverse=True)
    seen, cursor = [], None
    while True:
        q = {"limit": 2}
        if cursor:
            q["cursor"] = cursor
        page = notifications(user, **q)
        seen.extend(n["id"] for n in page["items"])
        if len(seen) == 2:  # a new group while paging lands on top, not in the next pages
            emit_event(server, backends, other.id, "mention", "comment", new_id(), user.id)
            wait_until(lambda: len(all_notifications(user)) == 6, "the sixth group")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [n["id"] for n in everything]
    assert [n["target"]["id"] for n in everything] == [str(t) for t in reversed(ts)]


def test_bad_input_is_refused(api, user):
    expect_problem(user.post("/v1/notifications/read", json={"up_to_id": "abc"}), 422, "invalid_field", "up_to_id")
    expect_problem(user.post("/v1/notifications/read", json={"up_to_id": 12}), 422, "invalid_field", "up_to_id")
    expect_problem(user.post("/v1/notifications/read", json={"up_to_id": "0"}), 422, "invalid_field", "up_to_id")
    expect_problem(user.post("/v1/notifications/read", body=b"[]"), 400, "bad_request")
    expect_problem(user.post("/v1/notifications/read", body=b"{}", content_type="text/plain"), 415,
                   "unsupported_media_type")
    expect_problem(user.get("/v1/notifications?limit=0"), 422, "invalid_field", "limit")
    expect_problem(user.get("/v1/notifications?cursor=x"), 422, "invalid_field", "cursor")
    for method, path in [("GET", "/v1/notifications"), ("GET", "/v1/notifications/unread_count"),
                         ("POST", "/v1/notifications/read")]:
        expect_problem(api.request(method, path, json={}), 401, "unauthorized")


# ---- through the engagement API (once those routes exist) --------------------------------------

def test_reactions_through_the_api_notify_the_author(api, user):
    need_route("PUT", "/v1/posts/{id}/reaction")
    p = post(user)
    fans = [api.register() for _ in range(4)]
    react(user, p["id"], "like")  # own post: no notification
    for i, f in enumerate(fans):
        react(f, p["id"], "love" if i % 2 else "like")
    g = wait_group(user, "reaction", target("post", p["id"]), count=4)
    assert actor_ids(g) == [fans[3].id, fans[2].id, fans[1].id]
    # Taking a reaction back takes the actor out.
    expect_status(fans[3].delete(f"/v1/posts/{p['id']}/reaction"), 204)
    g = wait_group(user, "reaction", target("post", p["id"]), count=3)
    assert actor_ids(g) == [fans[2].id, fans[1].id, fans[0].id]


def test_comments_and_replies_through_the_api_notify(api, user, other):
    need_route("POST", "/v1/posts/{id}/comments")
    p = post(user)
    c = expect_status(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "nice"}), 201).json
    wait_group(user, "comment", target("post", p["id"]), count=1)
    third = api.register()
    expect_status(third.post(f"/v1/posts/{p['id']}/comments", json={"text": "agreed", "parent_id": c["id"]}), 201)
    wait_until(lambda: any(n["kind"] == "reply" and actor_ids(n) == [third.id]
                           for n in all_notifications(other)), "a reply notification for the comment's author")
    # The author commenting on their own post notifies nobody.
    expect_status(user.post(f"/v1/posts/{p['id']}/comments", json={"text": "thanks"}), 201)
    # A later comment by someone else: once it is folded, the worker is past the author's.
    marker = api.register()
    expect_status(marker.post(f"/v1/posts/{p['id']}/comments", json={"text": "later"}), 201)
    g = wait_group(user, "comment", target("post", p["id"]), count=2)
    assert actor_ids(g) == [marker.id, other.id]


def test_a_mention_in_a_post_notifies_the_mentioned_user(api, user, other):
    p = expect_status(user.post("/v1/posts", json={"text": f"hello @{other.handle}"}), 201).json
    assert p.get("mentions"), f"the post's mention of @{other.handle} was not resolved: {p}"
    g = wait_group(other, "mention", target("post", p["id"]), count=1)
    assert actor_ids(g) == [user.id]


def test_deleting_an_item_or_comment_drops_its_notifications(api, server, backends, user, other):
    """Groups about a deleted post or comment go away (and leave the unread count); an
    engagement folded after the delete does not bring one back; others stay."""
    need_route("PUT", "/v1/posts/{id}/reaction")
    gone, kept = post(user, "to delete"), post(user, "to keep")
    react(other, gone["id"], "like")
    react(other, kept["id"], "love")
    c = expect_status(user.post(f"/v1/posts/{kept['id']}/comments", json={"text": "mine"}), 201).json
    expect_status(other.client.request("PUT", f"/v1/comments/{c['id']}/reaction", json={"kind": "wow"},
                                       token=other.access_token), 200)
    wait_group(user, "reaction", target("post", gone["id"]), count=1)
    wait_group(user, "reaction", target("comment", c["id"]), count=1)
    wait_group(user, "reaction", target("post", kept["id"]), count=1)
    assert unread(user) == 3
    expect_status(user.delete(f"/v1/posts/{gone['id']}"), 204)
    expect_status(user.delete(f"/v1/comments/{c['id']}"), 204)
    wait_until(lambda: unread(user) == 1, "the deleted targets' groups to go")
    assert [{k: n["target"][k] for k in ("type", "id")} for n in all_notifications(user)] == \
        [target("post", kept["id"])]
    # A reaction made before the delete but folded after it: no group comes back.
    emit_event(server, backends, other.id, "reaction", "post", gone["id"], user.id)
    sentinel = api.register()
    react(sentinel, kept["id"], "like")
    wait_group(user, "reaction", target("post", kept["id"]), count=2)  # the worker got past it
    assert group(user, "reaction", target("post", gone["id"])) is None
