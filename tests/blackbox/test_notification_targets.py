"""Notification targets are hydrated: each group's target {type, id} carries the item as any
list renders it for the reader ("available": true, "item"), or "available": false when the
reader may no longer see it. What the reader sees changes on the next read: a reaction of
the reader, an unfollow that hides a followers-only post, an account gone private."""

import time

from client import expect_status
from notify_helpers import group, need_route, new_id, react, sql, wait_group, wait_until
from social import follow, make_private, post


def target(type_, id_):
    return {"type": type_, "id": str(id_)}


def test_a_target_is_rendered_as_the_reader_sees_it(api, user, other):
    need_route("PUT", "/v1/posts/{id}/reaction")
    p = post(user, "about the target")
    react(other, p["id"], "like")
    g = wait_group(user, "reaction", target("post", p["id"]), count=1)
    t = g["target"]
    assert t["available"] is True, t
    it = t["item"]
    assert it["id"] == p["id"] and it["text"] == "about the target"
    assert it["author"]["id"] == user.id
    assert it["my_reaction"] is None
    # The reader's own reaction shows on the next read (the viewer's fact was forgotten).
    react(user, p["id"], "love")
    g = group(user, "reaction", target("post", p["id"]))
    assert g["target"]["item"]["my_reaction"] == "love", g


def test_a_followers_only_target_is_unavailable_after_an_unfollow(api):
    author, fan = api.register(), api.register()
    follow(fan, author)
    p = expect_status(author.post("/v1/posts", json={"text": f"hi @{fan.handle}", "visibility": "followers"}),
                      201).json
    g = wait_group(fan, "mention", target("post", p["id"]), count=1)
    assert g["target"]["available"] is True and g["target"]["item"]["id"] == p["id"]
    expect_status(fan.delete(f"/v1/users/{author.id}/follow"), 204)
    g = group(fan, "mention", target("post", p["id"]))
    assert g is not None, "the mention group went away with the unfollow"
    assert g["target"] == {**target("post", p["id"]), "available": False}, g
    # Following again shows it again at once.
    follow(fan, author)
    g = group(fan, "mention", target("post", p["id"]))
    assert g["target"]["available"] is True and g["target"]["item"]["id"] == p["id"]


def test_a_target_whose_author_went_private_is_unavailable_to_a_stranger(api):
    author, stranger = api.register(), api.register()
    p = expect_status(author.post("/v1/posts", json={"text": f"hey @{stranger.handle}"}), 201).json
    g = wait_group(stranger, "mention", target("post", p["id"]), count=1)
    assert g["target"]["available"] is True
    make_private(author)
    g = wait_until(lambda: group(stranger, "mention", target("post", p["id"])), "the mention group")
    assert g["target"] == {**target("post", p["id"]), "available": False}, g


def test_a_target_type_without_a_renderer_has_no_available(api, user, other, server, backends):
    """A livestream target (no renderer in the item registry) is neither shown nor known
    hidden: the target stays {type, id}, without "available" (it said false, as if hidden)."""
    nid, ms = new_id(), int(time.time() * 1000)
    sid = 7262919837184999999 - nid % 1000
    sql(server, backends,
        "INSERT INTO notifications(gid, user_id, kind, target_type, target_id, id, actor1_id, actors_count, "
        f"is_read, created_at, updated_at) VALUES({nid}, {int(user.id)}, 'reaction', 'livestream', {sid}, {nid}, "
        f"{int(other.id)}, 1, 0, {ms}, {ms})")
    g = group(user, "reaction", target("livestream", sid))
    assert g is not None
    assert g["target"] == target("livestream", sid), g


def test_an_actor_and_a_target_shared_by_groups_render_in_each(api, user, other):
    """A page hydrates each distinct actor and target once and shows it in every group that
    names it: the reaction and comment groups of one post share the target and the actor,
    a second post's group shares the actor only, a third actor is in one group."""
    need_route("POST", "/v1/posts/{id}/comments")
    p, q = post(user, "shared target"), post(user, "second target")
    third = api.register()
    react(other, p["id"], "like")
    expect_status(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "and a comment"}), 201)
    react(other, q["id"], "wow")
    react(third, q["id"], "like")
    wait_group(user, "reaction", target("post", q["id"]), count=2)
    wait_group(user, "comment", target("post", p["id"]), count=1)
    page = expect_status(user.get("/v1/notifications?limit=20"), 200).json
    groups = {(n["kind"], n["target"]["id"]): n for n in page["items"] if n.get("target")}
    on_p = [groups[("reaction", p["id"])], groups[("comment", p["id"])]]
    on_q = groups[("reaction", q["id"])]
    for g in on_p:
        assert [a["id"] for a in g["actors"]] == [other.id], g
        assert g["actors"][0]["handle"] == other.handle and g["actors"][0]["is_private"] is False
        assert g["target"]["available"] is True and g["target"]["item"]["text"] == "shared target", g
    assert on_p[0]["target"]["item"] == on_p[1]["target"]["item"]
    assert [a["id"] for a in on_q["actors"]] == [third.id, other.id], on_q
    assert on_q["actors"][1] == on_p[0]["actors"][0]
    assert on_q["target"]["item"]["id"] == q["id"] and on_q["target"]["item"]["text"] == "second target"
