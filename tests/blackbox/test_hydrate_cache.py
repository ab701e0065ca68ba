"""The hydration cache never shows what a viewer may not see, nor a stale fact
(docs/design.md, "### invalidate"): for every write that changes a cached fact, each test
first reads the lists and items it affects (so the cache is warm), writes, and reads again
at once: the change shows on the very next read, on every list —
/v1/users/{id}/posts, /v1/posts/{id}, /v1/posts/{id}/comments, /v1/comments/{id}/replies,
/v1/notifications, /v1/hashtags/{tag}/items, /v1/stories/tray, /v1/feed/home and
/v1/feed/following.

Only the fan-out into feeds and the notification groups are the worker's (asynchronous): the
tests wait (bounded) for an item to arrive there before the write, never after it, except
where the worker itself is what removes something (a blocked actor's notification group).

Cluster mode also: two chorusd on one PostgreSQL + Redis (the cache is shared: a write on one
is seen at once on the other), and Redis stopped or frozen during a write."""
import secrets
import signal
import socket
import threading

import pytest

from client import Account, Client, expect_status
from conftest import MODE
from notify_helpers import wait_until
from social import approve, block, follow, mute, post, story

# ---- reads -------------------------------------------------------------------------------------


def _get(acc, path):
    """The JSON of a 200, or None for a 404 (nothing else is expected)."""
    r = acc.get(path)
    assert r.status in (200, 404), r.describe()
    return r.json if r.status == 200 else None


def user_posts(acc, author):
    p = _get(acc, f"/v1/users/{author.id}/posts?limit=50")
    return None if p is None else p["items"]


def item(acc, item_id, seg="posts"):
    return _get(acc, f"/v1/{seg}/{item_id}")


def comments(acc, item_id, seg="posts"):
    p = _get(acc, f"/v1/{seg}/{item_id}/comments?sort=new&limit=50")
    return None if p is None else p["items"]


def replies(acc, comment_id):
    p = _get(acc, f"/v1/comments/{comment_id}/replies?limit=50")
    return None if p is None else p["items"]


def notifications(acc):
    return expect_status(acc.get("/v1/notifications?limit=50"), 200).json["items"]


def hashtag(acc, tag):
    return expect_status(acc.get(f"/v1/hashtags/{tag}/items?limit=50"), 200).json["items"]


def tray(acc):
    return expect_status(acc.get("/v1/stories/tray"), 200).json["items"]


def following(acc):
    return [e["item"] for e in expect_status(acc.get("/v1/feed/following?limit=50"), 200).json["items"]]


def home(acc, max_pages=20):
    """Every item of acc's ranked home feed (all pages: items shown rank lower next time)."""
    out, cursor = [], None
    for _ in range(max_pages):
        q = "?limit=50" + (f"&cursor={cursor}" if cursor else "")
        page = expect_status(acc.get("/v1/feed/home" + q), 200).json
        out += [e["item"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    return out


def find(items, item_id):
    """The entry of items (None: a 404) with this id, or None."""
    return next((i for i in items or [] if i["id"] == item_id), None)


def find_comment(items, comment_id):
    """A comment among top-level comments and the replies they carry."""
    for c in items or []:
        if c["id"] == comment_id:
            return c
        for r in c.get("replies", []):
            if r["id"] == comment_id:
                return r
    return None


def tray_entry(acc, author):
    return next((e for e in tray(acc) if e["user"]["id"] == author.id), None)


def wait_feeds(acc, item_id, feeds=(following, home)):
    """Waits (bounded) until the worker's fan-out brought item_id into acc's feeds."""
    for f in feeds:
        wait_until(lambda: find(f(acc), item_id), f"item {item_id} in {acc.handle}'s {f.__name__} feed", 30)


def new_tag():
    return "inv" + secrets.token_hex(5)


def unfollow(a, b):
    expect_status(a.delete(f"/v1/users/{b.id}/follow"), 204)


def react(acc, seg, item_id, kind):
    r = acc.client.request("PUT", f"/v1/{seg}/{item_id}/reaction", json={"kind": kind}, token=acc.access_token)
    return expect_status(r, 200).json


def unreact(acc, seg, item_id):
    expect_status(acc.delete(f"/v1/{seg}/{item_id}/reaction"), 204)


def comment(acc, item_id, text="nice", parent_id=None, seg="posts"):
    body = {"text": text} if parent_id is None else {"text": text, "parent_id": parent_id}
    return expect_status(acc.post(f"/v1/{seg}/{item_id}/comments", json=body), 201).json


def everywhere(viewer, author, p, tag, s=None):
    """Where viewer sees author's post p (and story s): {list name: entry or None}."""
    seen = {
        "user_posts": find(user_posts(viewer, author), p["id"]),
        "item": item(viewer, p["id"]),
        "hashtag": find(hashtag(viewer, tag), p["id"]),
        "following": find(following(viewer), p["id"]),
        "home": find(home(viewer), p["id"]),
    }
    if s is not None:
        e = tray_entry(viewer, author)
        seen["tray"] = e and find(e["stories"], s["id"])
        seen["story"] = item(viewer, s["id"], "stories")
    return seen


def assert_nowhere(viewer, author, p, tag, s=None):
    seen = everywhere(viewer, author, p, tag, s)
    assert not any(seen.values()), {k: v for k, v in seen.items() if v}


def assert_same(seen, want):
    """Every list shows want: else the lists that do not, with what they show."""
    bad = {k: v for k, v in seen.items() if v != want}
    assert not bad, bad


def assert_everywhere(viewer, author, p, tag, s=None):
    seen = everywhere(viewer, author, p, tag, s)
    assert all(seen.values()), [k for k, v in seen.items() if not v]
    return seen


# ---- graph --------------------------------------------------------------------------------------


def test_block_hides_both_sides_everywhere_at_once(api):
    a, b, c = api.register(), api.register(), api.register()
    follow(a, b)
    follow(b, a)
    tag = new_tag()
    pa, pb = post(a, f"by a #{tag}"), post(b, f"by b #{tag}")
    sa, sb = story(a), story(b)
    # Threads on a third user's post: b's comment with a's reply, a's own comment.
    pc = post(c, "a third post")
    cb = comment(b, pc["id"], "b's comment")
    ra = comment(a, pc["id"], "a's reply", parent_id=cb["id"])
    ca = comment(a, pc["id"], "a's comment")
    # b's comment on a's post, a's comment on b's post.
    cb_on_a = comment(b, pa["id"], "b on a")
    ca_on_b = comment(a, pb["id"], "a on b")
    wait_feeds(a, pb["id"])
    wait_feeds(b, pa["id"])
    # Warm: everything visible to both.
    assert_everywhere(b, a, pa, tag, sa)
    assert_everywhere(a, b, pb, tag, sb)
    assert find_comment(comments(a, pc["id"]), cb["id"]) and find_comment(comments(b, pc["id"]), ca["id"])
    assert find(replies(b, cb["id"]), ra["id"])
    assert find_comment(comments(a, pa["id"]), cb_on_a["id"]) and find_comment(comments(b, pb["id"]), ca_on_b["id"])
    wait_until(lambda: any(act["id"] == b.id for n in notifications(a) for act in n["actors"]),
               "b's follow in a's notifications", 30)

    block(a, b)
    # At once, both ways: items, lists, feeds, tray, threads.
    assert_nowhere(b, a, pa, tag, sa)
    assert_nowhere(a, b, pb, tag, sb)
    assert user_posts(b, a) is None and user_posts(a, b) is None
    assert not find_comment(comments(a, pc["id"]), cb["id"])
    assert not find_comment(comments(a, pc["id"]), ra["id"])  # b's thread goes with it
    assert not find_comment(comments(b, pc["id"]), ca["id"])
    assert not find_comment(comments(b, pc["id"]), ra["id"])
    assert replies(a, cb["id"]) is None
    assert not find(replies(b, cb["id"]), ra["id"])
    assert not find_comment(comments(a, pa["id"]), cb_on_a["id"])
    assert comments(b, pa["id"]) is None
    # c still sees all of it.
    assert find_comment(comments(c, pc["id"]), cb["id"]) and find_comment(comments(c, pc["id"]), ra["id"])
    # Notifications: the worker takes the blocked user out of every group.
    wait_until(lambda: not any(act["id"] == b.id for n in notifications(a) for act in n["actors"]),
               "b out of a's notifications", 30)
    wait_until(lambda: not any(act["id"] == a.id for n in notifications(b) for act in n["actors"]),
               "a out of b's notifications", 30)

    # Unblock (the follows are gone): public items come back at once.
    expect_status(a.delete(f"/v1/users/{b.id}/block"), 204)
    assert item(b, pa["id"]) and find(user_posts(b, a), pa["id"]) and find(hashtag(b, tag), pa["id"])
    assert find_comment(comments(a, pc["id"]), cb["id"])


def test_unfollow_of_a_private_account_hides_it_at_once(api):
    owner, fan = api.register(), api.register()
    expect_status(owner.patch("/v1/me", json={"is_private": True}), 200)
    assert follow(fan, owner) == "requested"
    tag = new_tag()
    p, s = post(owner, f"private #{tag}"), story(owner)
    cm = comment(owner, p["id"], "owner's own comment")
    # Before the approval: nothing; the approval shows it at once.
    assert item(fan, p["id"]) is None and user_posts(fan, owner) is None and tray_entry(fan, owner) is None
    approve(owner, fan)
    assert item(fan, p["id"]) and find(user_posts(fan, owner), p["id"])
    assert tray_entry(fan, owner)
    wait_feeds(fan, p["id"])
    assert_everywhere(fan, owner, p, tag, s)
    assert find_comment(comments(fan, p["id"]), cm["id"])

    unfollow(fan, owner)
    assert_nowhere(fan, owner, p, tag, s)
    assert user_posts(fan, owner) is None and comments(fan, p["id"]) is None


def test_unfollow_hides_followers_only_items_at_once(api):
    author, fan = api.register(), api.register()
    follow(fan, author)
    tag = new_tag()
    fo = post(author, f"followers only #{tag}", visibility="followers")
    pub = post(author, f"public #{tag}")
    cm = comment(fan, fo["id"], "fan's comment")
    wait_feeds(fan, fo["id"])
    assert_everywhere(fan, author, fo, tag)
    assert find_comment(comments(fan, fo["id"]), cm["id"])

    unfollow(fan, author)
    assert_nowhere(fan, author, fo, tag)
    assert comments(fan, fo["id"]) is None
    # The public post stays where a stranger sees it.
    assert item(fan, pub["id"]) and find(user_posts(fan, author), pub["id"]) and find(hashtag(fan, tag), pub["id"])
    # Following again shows it again at once.
    follow(fan, author)
    assert item(fan, fo["id"]) and find(user_posts(fan, author), fo["id"])


def test_an_account_switched_to_private_hides_it_from_strangers_at_once(api):
    author, fan, stranger, watcher = (api.register() for _ in range(4))
    follow(fan, author)
    follow(stranger, author)  # to warm the feeds, then unfollowed: a stranger with a warm cache
    follow(author, watcher)   # watcher's notifications show author as an actor
    tag = new_tag()
    p, s = post(author, f"soon private #{tag}"), story(author)
    cm = comment(author, p["id"], "author's comment")
    wait_feeds(fan, p["id"])
    wait_feeds(stranger, p["id"], (home,))
    unfollow(stranger, author)
    for v in (fan, stranger):
        seen = everywhere(v, author, p, tag)
        assert seen["item"] and seen["user_posts"] and seen["hashtag"]
        assert find_comment(comments(v, p["id"]), cm["id"])
    assert home(stranger) is not None
    g = wait_until(lambda: next((n for n in notifications(watcher) if n["kind"] == "follow"), None),
                   "author's follow in watcher's notifications", 30)
    assert [act["is_private"] for act in g["actors"] if act["id"] == author.id] == [False]

    expect_status(author.patch("/v1/me", json={"is_private": True}), 200)
    assert item(stranger, p["id"]) is None and user_posts(stranger, author) is None
    assert find(hashtag(stranger, tag), p["id"]) is None and find(home(stranger), p["id"]) is None
    assert comments(stranger, p["id"]) is None and item(stranger, s["id"], "stories") is None
    # The approved follower still sees it all.
    assert_everywhere(fan, author, p, tag, s)
    # The summary in notifications says private now.
    g = next(n for n in notifications(watcher) if n["kind"] == "follow")
    assert [act["is_private"] for act in g["actors"] if act["id"] == author.id] == [True]
    # And public again.
    expect_status(author.patch("/v1/me", json={"is_private": False}), 200)
    assert item(stranger, p["id"]) and find(hashtag(stranger, tag), p["id"])


def test_mute_takes_the_author_out_of_the_feeds_and_tray_at_once(api):
    author, fan = api.register(), api.register()
    follow(fan, author)
    p, s = post(author, "to be muted"), story(author)
    wait_feeds(fan, p["id"])
    assert tray_entry(fan, author)
    mute(fan, author)
    assert find(home(fan), p["id"]) is None
    assert find(following(fan), p["id"]) is None
    assert tray_entry(fan, author) is None
    assert item(fan, p["id"])  # muting hides from feeds, not from the item itself
    expect_status(fan.delete(f"/v1/users/{author.id}/mute"), 204)
    assert tray_entry(fan, author)
    wait_feeds(fan, p["id"])


# ---- items ----------------------------------------------------------------------------------------


def test_a_deleted_item_leaves_every_list_at_once(api):
    author, fan = api.register(), api.register()
    follow(fan, author)
    tag = new_tag()
    p, s = post(author, f"to delete #{tag}"), story(author)
    cm = comment(fan, p["id"], "on a doomed post")
    wait_feeds(fan, p["id"])
    assert_everywhere(fan, author, p, tag, s)
    assert find_comment(comments(fan, p["id"]), cm["id"]) and item(author, p["id"])

    expect_status(author.delete(f"/v1/posts/{p['id']}"), 204)
    expect_status(author.delete(f"/v1/stories/{s['id']}"), 204)
    assert_nowhere(fan, author, p, tag, s)
    assert item(author, p["id"]) is None and find(user_posts(author, author), p["id"]) is None
    assert comments(fan, p["id"]) is None
    assert _get(fan, f"/v1/comments/{cm['id']}") is None


def test_an_edit_shows_on_every_list_at_once(api):
    author, fan = api.register(), api.register()
    follow(fan, author)
    old, new = new_tag(), new_tag()
    p = post(author, f"before #{old}")
    wait_feeds(fan, p["id"])
    seen = assert_everywhere(fan, author, p, old)
    assert all(v["text"] == f"before #{old}" for v in seen.values())

    expect_status(author.patch(f"/v1/posts/{p['id']}", json={"text": f"after #{new}"}), 200)
    seen = everywhere(fan, author, p, new)
    stale = {k: v and v["text"] for k, v in seen.items() if not (v and v["text"] == f"after #{new}" and v["edited_at"])}
    assert not stale, stale
    assert find(hashtag(fan, old), p["id"]) is None
    assert item(author, p["id"])["text"] == f"after #{new}"


def test_profile_edit_shows_wherever_the_user_appears(api):
    author, fan = api.register(), api.register()
    follow(fan, author)
    follow(author, fan)  # fan's notifications show author as an actor
    tag = new_tag()
    p, s = post(author, f"by me #{tag}"), story(author)
    pf = post(fan, "fan's post")
    top = comment(author, pf["id"], "author's comment")
    rp = comment(author, pf["id"], "author's reply", parent_id=top["id"])
    wait_feeds(fan, p["id"])
    wait_until(lambda: any(act["id"] == author.id for n in notifications(fan) for act in n["actors"]),
               "author in fan's notifications", 30)

    def names():
        seen = everywhere(fan, author, p, tag, s)
        out = {k: (v["author"]["display_name"], v["author"]["avatar_url"]) for k, v in seen.items()}
        out["tray_user"] = (lambda u: (u["display_name"], u["avatar_url"]))(tray_entry(fan, author)["user"])
        c = find_comment(comments(fan, pf["id"]), top["id"])
        out["comment"] = (c["author"]["display_name"], c["author"]["avatar_url"])
        r = find(replies(fan, top["id"]), rp["id"])
        out["reply"] = (r["author"]["display_name"], r["author"]["avatar_url"])
        acts = [act for n in notifications(fan) for act in n["actors"] if act["id"] == author.id]
        out["notification"] = (acts[0]["display_name"], acts[0]["avatar_url"])
        return out

    before = names()
    assert len(set(before.values())) == 1, before
    avatar = f"https://cdn.example.com/a/{secrets.token_hex(4)}.jpg"
    expect_status(author.patch("/v1/me", json={"display_name": "Renamed Now", "avatar_url": avatar}), 200)
    after = names()
    assert set(after.values()) == {("Renamed Now", avatar)}, after


# ---- comments ---------------------------------------------------------------------------------------


def test_comment_delete_shows_at_once_with_placeholder_and_counts(api):
    author, fan, other = api.register(), api.register(), api.register()
    follow(fan, author)
    p = post(author, "a thread")
    wait_feeds(fan, p["id"])
    top = comment(fan, p["id"], "top with replies")
    r1 = comment(other, p["id"], "reply one", parent_id=top["id"])
    r2 = comment(author, p["id"], "reply two", parent_id=top["id"])
    lonely = comment(other, p["id"], "no replies")
    # Warm: lists, the comments alone, the item's count.
    assert_same(comment_counts(fan, author, p), 4)
    assert find_comment(comments(fan, p["id"]), top["id"])["replies_count"] == 2
    assert find_comment(comments(fan, p["id"]), lonely["id"])
    assert [c["id"] for c in replies(fan, top["id"])] == [r1["id"], r2["id"]]
    assert _get(fan, f"/v1/comments/{top['id']}")["replies_count"] == 2
    assert _get(fan, f"/v1/comments/{lonely['id']}")

    expect_status(other.delete(f"/v1/comments/{lonely['id']}"), 204)
    expect_status(fan.delete(f"/v1/comments/{top['id']}"), 204)
    listed = comments(author, p["id"])
    assert [c["id"] for c in listed] == [top["id"]]
    ph = listed[0]
    assert ph["deleted"] is True and ph["author"] is None and ph["text"] is None and ph["replies_count"] == 2
    assert [c["id"] for c in ph["replies"]] == [r1["id"], r2["id"]]
    assert _get(fan, f"/v1/comments/{lonely['id']}") is None
    assert _get(fan, f"/v1/comments/{top['id']}") is None
    assert_same(comment_counts(fan, author, p), 2)

    # A reply deleted: the parent's count and the item's, at once.
    expect_status(other.delete(f"/v1/comments/{r1['id']}"), 204)
    assert [c["id"] for c in replies(fan, top["id"])] == [r2["id"]]
    assert comments(fan, p["id"])[0]["replies_count"] == 1
    assert_same(comment_counts(fan, author, p), 1)
    # The last reply gone: the placeholder goes too.
    expect_status(author.delete(f"/v1/comments/{r2['id']}"), 204)
    assert comments(fan, p["id"]) == []
    assert_same(comment_counts(fan, author, p), 0)


def comment_counts(acc, author, p):
    """counts.comments of p in the item, the author's posts and acc's feeds."""
    return {"item": item(acc, p["id"])["counts"]["comments"],
            "user_posts": find(user_posts(acc, author), p["id"])["counts"]["comments"],
            "following": find(following(acc), p["id"])["counts"]["comments"],
            "home": find(home(acc), p["id"])["counts"]["comments"]}


def test_a_new_comment_moves_counts_at_once(api):
    author, fan = api.register(), api.register()
    follow(fan, author)
    p = post(author, "count me")
    wait_feeds(fan, p["id"])
    top = comment(fan, p["id"], "first")
    assert set(comment_counts(fan, author, p).values()) == {1}
    assert _get(fan, f"/v1/comments/{top['id']}")["replies_count"] == 0
    assert comments(fan, p["id"])[0]["replies_count"] == 0
    r = comment(author, p["id"], "a reply", parent_id=top["id"])
    assert_same(comment_counts(fan, author, p), 2)
    assert _get(fan, f"/v1/comments/{top['id']}")["replies_count"] == 1
    c = comments(fan, p["id"])[0]
    assert c["replies_count"] == 1 and [x["id"] for x in c["replies"]] == [r["id"]]


# ---- reactions and views ------------------------------------------------------------------------------


def _reaction_view(acc, author, p, tag):
    """(counts.reactions, my_reaction) of p on every list acc sees it in."""
    seen = everywhere(acc, author, p, tag)
    assert all(seen.values()), [k for k, v in seen.items() if not v]
    return {k: (v["counts"]["reactions"], v["counts"]["reactions_total"], v["my_reaction"]) for k, v in seen.items()}


def test_reaction_add_change_remove_show_at_once(api):
    author, fan, other = api.register(), api.register(), api.register()
    follow(fan, author)
    follow(other, author)
    tag = new_tag()
    p = post(author, f"react #{tag}")
    wait_feeds(fan, p["id"])
    wait_feeds(other, p["id"])
    assert_same(_reaction_view(fan, author, p, tag), ({}, 0, None))
    assert_same(_reaction_view(other, author, p, tag), ({}, 0, None))

    react(fan, "posts", p["id"], "like")
    assert_same(_reaction_view(fan, author, p, tag), ({"like": 1}, 1, "like"))
    assert_same(_reaction_view(other, author, p, tag), ({"like": 1}, 1, None))

    react(fan, "posts", p["id"], "love")
    assert_same(_reaction_view(fan, author, p, tag), ({"love": 1}, 1, "love"))
    assert_same(_reaction_view(other, author, p, tag), ({"love": 1}, 1, None))

    react(other, "posts", p["id"], "haha")
    assert_same(_reaction_view(other, author, p, tag), ({"love": 1, "haha": 1}, 2, "haha"))

    unreact(fan, "posts", p["id"])
    assert_same(_reaction_view(fan, author, p, tag), ({"haha": 1}, 1, None))
    assert_same(_reaction_view(other, author, p, tag), ({"haha": 1}, 1, "haha"))


def test_reactions_on_comments_show_in_threads_at_once(api):
    author, fan = api.register(), api.register()
    p = post(author, "thread")
    top = comment(author, p["id"], "top")
    rp = comment(author, p["id"], "reply", parent_id=top["id"])

    def state(cid):
        c = find_comment(comments(fan, p["id"]), cid)
        alone = _get(fan, f"/v1/comments/{cid}")
        out = [(c["counts"]["reactions_total"], c["my_reaction"]),
               (alone["counts"]["reactions_total"], alone["my_reaction"])]
        if cid == rp["id"]:
            r = find(replies(fan, top["id"]), cid)
            out.append((r["counts"]["reactions_total"], r["my_reaction"]))
        return set(out)

    assert state(top["id"]) == {(0, None)} and state(rp["id"]) == {(0, None)}
    react(fan, "comments", top["id"], "wow")
    react(fan, "comments", rp["id"], "sad")
    assert state(top["id"]) == {(1, "wow")} and state(rp["id"]) == {(1, "sad")}
    react(fan, "comments", rp["id"], "angry")
    assert state(rp["id"]) == {(1, "angry")}
    unreact(fan, "comments", top["id"])
    unreact(fan, "comments", rp["id"])
    assert state(top["id"]) == {(0, None)} and state(rp["id"]) == {(0, None)}


def test_story_seen_and_views_show_at_once(api):
    author, fan = api.register(), api.register()
    follow(fan, author)
    s1, s2 = story(author), story(author)
    e = tray_entry(fan, author)
    assert e["has_unseen"] and [x["seen"] for x in e["stories"]] == [False, False]
    assert item(fan, s1["id"], "stories")["seen"] is False
    assert item(author, s1["id"], "stories")["counts"]["views"] == 0

    expect_status(fan.post(f"/v1/stories/{s1['id']}/view"), 204)
    e = tray_entry(fan, author)
    assert e["has_unseen"] and [x["seen"] for x in e["stories"]] == [True, False]
    assert item(fan, s1["id"], "stories")["seen"] is True
    assert item(author, s1["id"], "stories")["counts"]["views"] == 1
    expect_status(fan.post(f"/v1/stories/{s2['id']}/view"), 204)
    e = tray_entry(fan, author)
    assert not e["has_unseen"] and [x["seen"] for x in e["stories"]] == [True, True]


def test_reel_views_show_at_once(api):
    author, fan = api.register(), api.register()
    follow(fan, author)
    r = expect_status(author.post("/v1/reels", json={"video_url": "https://cdn.example.com/r/1.mp4",
                                                      "duration_ms": 15000}), 201).json
    wait_feeds(fan, r["id"])

    def views():
        return {"item": item(fan, r["id"], "reels")["counts"]["views"],
                "author": item(author, r["id"], "reels")["counts"]["views"],
                "following": find(following(fan), r["id"])["counts"]["views"],
                "home": find(home(fan), r["id"])["counts"]["views"]}

    assert_same(views(), 0)
    expect_status(fan.post(f"/v1/reels/{r['id']}/view", json={"watch_ms": 1000}), 204)
    assert_same(views(), 1)


# ---- cluster: replicas share the cache ------------------------------------------------------------------


def _pair(start_server, fresh_storage):
    """Two replicas on one database and Redis, without their in-process L1s: a write's forget
    is in Redis before it answers, so the other replica's next read shows it at once. (With
    the L1 it reaches the other node by pub/sub a few ms later: test_hydrate_l1.py, which
    allows that window; here a loaded machine made the window visible.)"""
    storage = fresh_storage()
    no_l1 = {"CHORUS_HYDRATE_L1_MEMORY": "0"}
    one = start_server(env=no_l1, storage=storage, name="hc-one")
    two = start_server(env={**no_l1, "CHORUS_ROLES": "api"}, storage=storage, name="hc-two")
    return one, two


def _as(srv, acc):
    """acc's session used against another replica."""
    return Account(srv.client(), acc.handle, acc.password,
                   {"user": acc.user, "access_token": acc.access_token, "refresh_token": acc.refresh_token})


@pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")
def test_a_write_on_one_replica_shows_at_once_on_the_other(start_server, fresh_storage):
    one, two = _pair(start_server, fresh_storage)
    api1 = one.client()
    author, fan = api1.register(), api1.register()
    follow(fan, author)
    p = post(author, "on replica one")
    top = comment(author, p["id"], "a comment")
    author2, fan2 = _as(two, author), _as(two, fan)
    wait_feeds(fan, p["id"], (following,))
    # Warm the shared cache through replica two.

    def on_two():
        return {"item": item(fan2, p["id"]), "user_posts": find(user_posts(fan2, author), p["id"]),
                "following": find(following(fan2), p["id"])}

    assert all(on_two().values())
    assert find_comment(comments(fan2, p["id"]), top["id"])

    expect_status(author.patch(f"/v1/posts/{p['id']}", json={"text": "edited on one"}), 200)
    assert_same({k: v["text"] for k, v in on_two().items()}, "edited on one")
    react(fan, "posts", p["id"], "like")
    assert_same({k: (v["counts"]["reactions_total"], v["my_reaction"]) for k, v in on_two().items()}, (1, "like"))
    expect_status(author.patch("/v1/me", json={"display_name": "Seen On Two"}), 200)
    assert_same({k: v["author"]["display_name"] for k, v in on_two().items()}, "Seen On Two")
    expect_status(author.delete(f"/v1/comments/{top['id']}"), 204)
    assert comments(fan2, p["id"]) == []
    assert_same({k: v["counts"]["comments"] for k, v in on_two().items()}, 0)
    block(author, fan)
    assert not any(on_two().values()) and user_posts(fan2, author) is None
    # And the other way round: written on two, read on one.
    expect_status(author2.delete(f"/v1/users/{fan.id}/block"), 204)
    assert item(fan, p["id"])
    expect_status(author2.patch(f"/v1/posts/{p['id']}", json={"text": "edited on two"}), 200)
    assert item(fan, p["id"])["text"] == "edited on two"
    expect_status(author2.delete(f"/v1/posts/{p['id']}"), 204)
    assert item(fan, p["id"]) is None and find(user_posts(fan, author), p["id"]) is None


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_a_write_during_a_redis_outage_shows_after_it(outage, api, server, redis_ctl):
    """The write commits while its forget cannot reach Redis (stopped: connection refused;
    frozen: SIGSTOP, the forget times out); once Redis answers again, the next read shows
    the write, never the entry cached before it (the cache's epoch, store/hcache.h)."""
    author, fan = api.register(), api.register()
    follow(fan, author)
    p = post(author, "before the outage")
    wait_feeds(fan, p["id"], (following,))

    def texts():
        return {"item": item(fan, p["id"])["text"], "user_posts": find(user_posts(fan, author), p["id"])["text"],
                "following": find(following(fan), p["id"])["text"]}

    assert_same(texts(), "before the outage")
    assert_same(texts(), "before the outage")  # from the cache now
    if outage == "stopped":
        redis_ctl.stop()
    else:
        redis_ctl.proc.send_signal(signal.SIGSTOP)
    try:
        r = author.patch(f"/v1/posts/{p['id']}", json={"text": "during the outage"})
        assert r.status in (200, 503), r.describe()
        wrote = r.status == 200
    finally:
        if outage == "stopped":
            redis_ctl.start()
        else:
            redis_ctl.proc.send_signal(signal.SIGCONT)
    server.wait_ready(30, full=True)
    if not wrote:  # refused while Redis was away: write again now
        expect_status(author.patch(f"/v1/posts/{p['id']}", json={"text": "during the outage"}), 200)
    assert_same(texts(), "during the outage")


def _hcache_answered(srv):
    """Cache gets answered by the hydration cache (hits and misses, not 'down')."""
    import re
    t = Client(srv.base_url).request("GET", "/metrics", check=False).text
    return sum(float(v) for v in re.findall(r'^chorus_hcache_gets_total\{result="(?:hit|miss)"\} (\S+)$', t, re.M))


class CutProxy:
    """A TCP proxy on loopback that can cut every connection and refuse new ones (cut), then
    forward again (restore): Redis unreachable for chorusd while it keeps its data, so a
    forget sent meanwhile is lost for good (a stopped harness Redis loses its data; a
    frozen one runs the queued commands when it resumes)."""

    def __init__(self, port):
        self.port_to = port
        self.cutting = False
        self._socks = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.cutting:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.port_to), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.cutting = True
        with self._lock:
            socks, self._socks = self._socks, []
        for x in socks:
            try:
                x.shutdown(socket.SHUT_RDWR)
                x.close()
            except OSError:
                pass

    def restore(self):
        self.cutting = False

    def close(self):
        self._closed = True
        self.cut()
        self._listener.close()


@pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")
def test_a_forget_lost_while_redis_is_unreachable_never_serves_the_old_entry(start_server, fresh_storage, backends):
    """Redis keeps the entry cached before the write, the write's forget never arrives: once
    Redis is reachable again the replica moves to a new key epoch before it serves anything
    from the cache (store/hcache.h), and the next read shows the write."""
    proxy = CutProxy(backends.redis.port)
    try:
        storage = fresh_storage()
        storage["CHORUS_REDIS"] = storage["CHORUS_REDIS"].replace(f":{backends.redis.port}", f":{proxy.port}")
        srv = start_server(storage=storage, name="hc-cut")
        api = srv.client()
        author, fan = api.register(), api.register()
        other, reader = api.register(), api.register()
        follow(fan, author)
        follow(reader, other)
        p, q = post(author, "before the cut"), post(other, "probe")
        wait_feeds(fan, p["id"], (following,))
        wait_feeds(reader, q["id"], (following,))

        def text():
            return find(following(fan), p["id"])["text"]

        assert text() == "before the cut"
        assert text() == "before the cut"  # from Redis now
        proxy.cut()
        try:
            r = author.patch(f"/v1/posts/{p['id']}", json={"text": "while cut"})
            assert r.status == 200, r.describe()  # the database has it; the forget is lost
        finally:
            proxy.restore()
        srv.wait_ready(30, full=True)

        def cache_answers():
            """A read of another page got answers from Redis (not 'down')."""
            before = _hcache_answered(srv)
            return find(following(reader), q["id"]) and _hcache_answered(srv) > before
        wait_until(cache_answers, "the cache answering again", 30)
        assert text() == "while cut"
        assert item(fan, p["id"])["text"] == "while cut"
    finally:
        proxy.close()
