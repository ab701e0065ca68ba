"""Mentions and hashtags (BRD engagement.md, "Mentions and hashtags"): parsed from every
text (post text, reel caption, comment text) when written, mentions resolved to users
(not unknown handles, not users blocked either way) and notified once unless the mentioned
user cannot see the item, edits re-parse, hashtags Unicode-aware and case-insensitive,
hashtag pages with counts and per-viewer visibility, trending against each tag's own
baseline.

Every response is checked against api/openapi.yaml."""
import time
import urllib.parse

import pytest

from client import expect_problem, expect_status
from comments_helpers import (block, comment, events, follow, get_item, hidden, ids, make_private, outbox, page,
                              post, reel, sql, walk)


@pytest.fixture
def third(api):
    return api.register()


def mention(acc):
    return {"id": acc.id, "handle": acc.handle}


def tag_path(tag):
    return "/v1/hashtags/" + urllib.parse.quote(tag, safe="")


def tag_items(acc, tag, limit=100):
    return ids(walk(acc, tag_path(tag) + "/items", limit=limit))


def items_count(acc, tag):
    return expect_status(acc.get(tag_path(tag)), 200).json["items_count"]


def unique_tag(prefix="t"):
    return f"{prefix}{time.monotonic_ns()}"


# ---- mentions ----------------------------------------------------------------------------

def test_post_mentions_are_resolved(api, server, backends, user, other, third):
    p = post(user, f"hi @{other.handle.upper()} and @{third.handle}, @{other.handle} again, "
                   f"@nosuchuser_{time.monotonic_ns() % 10**8} and mail@{other.handle}.com")
    assert p["mentions"] == [mention(other), mention(third)]
    assert get_item(other, "posts", p["id"])["mentions"] == [mention(other), mention(third)]
    got = events(server, backends, ["mention"], [user.id])
    assert [e for e in got if e[3] == p["id"]] == [("mention", user.id, "post", p["id"], other.id),
                                                  ("mention", user.id, "post", p["id"], third.id)]
    assert outbox(server, backends, "mention.", [p["id"]]) == [
        ("mention.created", {"target_type": "post", "target_id": p["id"], "mentioned_id": u.id, "author_id": user.id,
                             "item_type": "post", "item_id": p["id"]}) for u in (other, third)]


def test_self_mention_is_shown_not_notified(api, server, backends, user):
    p = post(user, f"note to self @{user.handle}")
    assert p["mentions"] == [mention(user)]
    assert [e for e in events(server, backends, ["mention"], [user.id]) if e[3] == p["id"]] == []


def test_blocked_users_are_not_resolved(api, server, backends, user, other, third):
    block(user, other)   # the writer blocks
    block(third, user)   # the mentioned user blocks the writer
    p = post(user, f"@{other.handle} @{third.handle}")
    assert p["mentions"] == []
    c = comment(user, p["id"], f"@{other.handle} @{third.handle}")
    assert c["mentions"] == []
    assert [e for e in events(server, backends, ["mention"], [user.id]) if e[3] in (p["id"], c["id"])] == []
    assert outbox(server, backends, "mention.", [p["id"], c["id"]]) == []


def test_mentioned_user_who_cannot_see_the_item_is_not_notified(api, server, backends, user, other, third):
    follow(third, user)
    p = post(user, f"close friends: @{other.handle} @{third.handle}", visibility="followers")
    # Both are mentioned (the author wrote it), only the follower is told.
    assert p["mentions"] == [mention(other), mention(third)]
    assert [e[4] for e in events(server, backends, ["mention"], [user.id]) if e[3] == p["id"]] == [third.id]
    # A private account's public post: the same for non-followers.
    make_private(user)
    p2 = post(user, f"@{other.handle} @{third.handle}")
    assert [e[4] for e in events(server, backends, ["mention"], [user.id]) if e[3] == p2["id"]] == [third.id]
    # In a comment: who may see the commented item decides.
    c = comment(third, p["id"], f"@{other.handle} @{user.handle}")
    assert c["mentions"] == [mention(other), mention(user)]
    assert [e[4] for e in events(server, backends, ["mention"], [third.id]) if e[3] == c["id"]] == [user.id]


def test_editing_reparses_and_notifies_new_mentions_once(api, server, backends, user, other, third):
    t1, t2 = unique_tag("old"), unique_tag("new")
    p = post(user, f"@{other.handle} #{t1}")
    r = expect_status(user.patch(f"/v1/posts/{p['id']}", json={"text": f"@{third.handle} #{t2}"}), 200).json
    assert r["mentions"] == [mention(third)] and r["hashtags"] == [t2]
    assert tag_items(other, t1) == [] and tag_items(other, t2) == [p["id"]]
    assert items_count(other, t1) == 0 and items_count(other, t2) == 1
    # other comes back, third stays: nobody is told twice.
    r = expect_status(user.patch(f"/v1/posts/{p['id']}", json={"text": f"@{other.handle} @{third.handle}"}), 200).json
    assert r["mentions"] == [mention(other), mention(third)] and r["hashtags"] == []
    assert [e[4] for e in events(server, backends, ["mention"], [user.id]) if e[3] == p["id"]] == [other.id, third.id]
    assert get_item(third, "posts", p["id"])["mentions"] == [mention(other), mention(third)]
    assert tag_items(other, t2) == []


def test_reel_captions_carry_refs(api, user, other):
    tag = unique_tag("reel")
    r = reel(user, caption=f"#{tag} with @{other.handle}")
    assert r["hashtags"] == [tag] and r["mentions"] == [mention(other)]
    assert tag_items(other, tag) == [r["id"]]
    e = expect_status(user.patch(f"/v1/reels/{r['id']}", json={"caption": None}), 200).json
    assert e["hashtags"] == [] and e["mentions"] == []
    assert tag_items(other, tag) == [] and items_count(other, tag) == 0


def test_items_without_text_have_empty_refs(api, user):
    p = expect_status(user.post("/v1/posts", json={"media": [{"url": "https://cdn.example.com/x.jpg",
                                                               "kind": "image"}]}), 201).json
    assert p["mentions"] == [] and p["hashtags"] == []
    s = expect_status(user.post("/v1/stories", json={"media_url": "https://cdn.example.com/s.jpg",
                                                     "kind": "image"}), 201).json
    assert s["mentions"] == [] and s["hashtags"] == []


@pytest.mark.parametrize("kind,field,body", [
    ("posts", "text", lambda t: {"text": t}),
    ("reels", "caption", lambda t: {"video_url": "https://cdn.example.com/r.mp4", "duration_ms": 5000,
                                    "caption": t}),
])
def test_too_many_refs_are_refused(api, user, other, kind, field, body):
    for text in (" ".join(f"#tag{i}" for i in range(31)), " ".join(f"@user{i:03d}" for i in range(31))):
        expect_problem(user.post(f"/v1/{kind}", json=body(text)), 422, "invalid_field", field)
    assert page(other, f"/v1/users/{user.id}/{kind}")["items"] == []
    # 30 of each, and repeats, are fine.
    text = " ".join(f"#tag{i} #TAG{i} @user{i:03d}" for i in range(30))
    item = expect_status(user.post(f"/v1/{kind}", json=body(text)), 201).json
    assert len(item["hashtags"]) == 30
    # An edit to too many is refused and changes nothing.
    edit = {"posts": "text", "reels": "caption"}[kind]
    expect_problem(user.patch(f"/v1/{kind}/{item['id']}", json={edit: text + " #tag99"}), 422, "invalid_field", edit)
    assert get_item(other, kind, item["id"]) == item


# ---- hashtags ----------------------------------------------------------------------------

def test_hashtags_are_unicode_and_case_insensitive(api, user, other):
    n = time.monotonic_ns()
    text = (f"#Café{n} #CAFÉ{n} #Москва{n} #日本語{n}。 #Ελλάδα{n} #İz{n} #straße{n}! "
            f"mail#no{n} https://example.com/#frag{n} #{n}_ok")
    p = post(user, text)
    # Folded by utf8proc: İ is i + U+0307 (default, not Turkish, folding), ß is ss.
    assert p["hashtags"] == [f"café{n}", f"москва{n}", f"日本語{n}", f"ελλάδα{n}", f"i\u0307z{n}", f"strasse{n}",
                             f"{n}_ok"]
    for spelling in (f"Café{n}", f"CAFÉ{n}", f"#café{n}", f"cAfÉ{n}"):
        r = expect_status(other.get(tag_path(spelling)), 200).json
        assert r == {"tag": f"café{n}", "items_count": 1}
        assert tag_items(other, spelling) == [p["id"]]
    assert items_count(other, f"МОСКВА{n}") == 1
    assert items_count(other, f"no{n}") == 0 and items_count(other, f"frag{n}") == 0


@pytest.mark.parametrize("bad", ["a-b", "two%20words", "x" * 65, "%23", "%23%23a", "caf%C3%A9%F0%9F%8E%89", "%20"])
def test_impossible_tags_are_not_found(api, user, bad):
    expect_problem(user.get(f"/v1/hashtags/{bad}"), 404, "not_found")
    expect_problem(user.get(f"/v1/hashtags/{bad}/items"), 404, "not_found")


def test_unused_tag_has_no_items(api, user):
    tag = unique_tag("unused")
    assert expect_status(user.get(tag_path(tag)), 200).json == {"tag": tag, "items_count": 0}
    assert page(user, tag_path(tag) + "/items") == {"items": [], "next_cursor": None}


def test_hashtag_page_counts_posts_and_reels_not_comments(api, user, other):
    tag = unique_tag("mix")
    p = post(user, f"#{tag}")
    r = reel(other, caption=f"#{tag.upper()}")
    c = comment(other, p["id"], f"#{tag}")
    assert c["hashtags"] == [tag]
    assert items_count(user, tag) == 2
    got = walk(user, tag_path(tag) + "/items")
    assert ids(got) == [r["id"], p["id"]]
    assert got[1] == get_item(user, "posts", p["id"])
    assert got[0] == get_item(user, "reels", r["id"])
    expect_status(user.delete(f"/v1/posts/{p['id']}"), 204)
    assert items_count(user, tag) == 1 and tag_items(user, tag) == [r["id"]]


def test_hashtag_page_respects_visibility(api, user, other, third):
    tag = unique_tag("vis")
    public = post(user, f"#{tag} public")
    fo = post(user, f"#{tag} followers", visibility="followers")
    by_blocker = post(other, f"#{tag} by other")
    private_acc = api.register()
    make_private(private_acc)
    private_post = post(private_acc, f"#{tag} private account")
    block(other, third)
    # third: not a follower of user or private_acc, blocked by other.
    assert tag_items(third, tag) == [public["id"]]
    # Followers see followers-only posts; an approved follower sees the private account.
    follow(third, user)
    follow(third, private_acc)
    expect_status(private_acc.post(f"/v1/me/follow-requests/{third.id}/approve"), 204)
    assert tag_items(third, tag) == [private_post["id"], fo["id"], public["id"]]
    # Authors see their own; the count is of public items of public accounts, for everyone.
    assert tag_items(user, tag) == [by_blocker["id"], fo["id"], public["id"]]
    assert items_count(third, tag) == items_count(user, tag) == items_count(private_acc, tag) == 2
    hidden(third, f"/v1/posts/{by_blocker['id']}")


def test_hashtag_pages_never_repeat_or_skip(api, user, other):
    tag = unique_tag("page")
    made = [post(user, f"#{tag} {i}")["id"] for i in range(9)]
    seen, cursor = [], None
    while True:
        q = {"limit": 4}
        if cursor:
            q["cursor"] = cursor
        pg = page(other, tag_path(tag) + "/items", **q)
        seen.extend(ids(pg["items"]))
        post(user, f"#{tag} arrives meanwhile")
        cursor = pg["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))
    expect_problem(other.get(tag_path(tag) + "/items?cursor=abc"), 422, "invalid_field", "cursor")
    expect_problem(other.get(tag_path(tag) + "/items?limit=0"), 422, "invalid_field", "limit")


# ---- trending ----------------------------------------------------------------------------

NO_CACHE = {"CHORUS_TRENDING_REFRESH_MS": "0"}  # computed on every call


def test_trending_favours_a_tag_rising_against_its_baseline(start_server, backends):
    srv = start_server(NO_CACHE)
    api = srv.client()
    a, b = api.register(), api.register()
    hour = int(time.time() * 1000) // 3_600_000
    # "steady": 6 uses every hour for the past week (inside the baseline window).
    values = ",".join(f"('steady', {hour - h}, 6)" for h in range(2, 170))
    sql(srv, backends, f"INSERT INTO hashtag_hours(tag, hour, uses) VALUES {values}")
    # Uses before the window (8 days ago) do not count.
    sql(srv, backends, f"INSERT INTO hashtag_hours(tag, hour, uses) VALUES ('rising', {hour - 200}, 5000)")
    for i in range(6):
        post((a, b)[i % 2], f"#steady {i}")
    for i in range(3):
        post(a, f"#Rising {i}")
    post(b, "#once")
    r = expect_status(a.get("/v1/trending/hashtags"), 200).json
    got = {t["tag"]: t for t in r["items"]}
    assert [t["tag"] for t in r["items"]] == ["rising", "steady"]  # "once" has one use: no trend
    # (approximate: the clock hour may turn during the test, moving the window by one hour)
    assert got["steady"]["uses_last_hour"] == 6
    assert got["steady"]["baseline_per_hour"] == pytest.approx(6.0, abs=0.05)
    assert got["steady"]["score"] == pytest.approx(1.0, abs=0.01)
    assert got["rising"]["uses_last_hour"] == 3 and got["rising"]["baseline_per_hour"] == 0
    assert got["rising"]["score"] == pytest.approx(4.0)
    # Comments count as uses too; a deleted post no longer does, nor do the comments on it
    # (nobody can see them): one use of "once" is left, no trend.
    p = post(b, "#once")
    comment(a, p["id"], "#once more")
    got = {t["tag"]: t for t in expect_status(a.get("/v1/trending/hashtags"), 200).json["items"]}
    assert got["once"]["uses_last_hour"] == 3
    expect_status(b.delete(f"/v1/posts/{p['id']}"), 204)
    got = {t["tag"]: t for t in expect_status(a.get("/v1/trending/hashtags"), 200).json["items"]}
    assert "once" not in got


def test_trending_shows_at_most_20(start_server):
    srv = start_server(NO_CACHE)
    api = srv.client()
    a = api.register()
    tags = [f"tag{i:02d}" for i in range(25)]
    for _ in range(2):
        post(a, " ".join("#" + t for t in tags[:24]))
        post(a, "#tag24")
    items = expect_status(a.get("/v1/trending/hashtags"), 200).json["items"]
    assert len(items) == 20
    assert all(t["uses_last_hour"] == 2 and t["score"] == pytest.approx(3.0) for t in items)
    assert [t["tag"] for t in items] == sorted(tags)[:20]  # ties by name


# ---- aggregates count public content only; bounded reads ---------------------------------

def trending_tags(acc):
    return [t["tag"] for t in expect_status(acc.get("/v1/trending/hashtags"), 200).json["items"]]


def test_aggregates_count_public_content_only(start_server):
    """items_count and trending count public items of accounts that are not private (a
    comment: the item it is on), the same for every viewer: a private account's tag or a
    followers-only post is never counted, for a stranger or anyone."""
    srv = start_server(NO_CACHE)
    api = srv.client()
    author, secretive, stranger, fan = api.register(), api.register(), api.register(), api.register()
    make_private(secretive)
    follow(fan, author)
    for i in range(3):
        post(secretive, f"#secretplans {i}")
        post(author, f"#closefriends {i}", visibility="followers")
        post(author, f"#openair {i}")
    fo = post(author, "comments below", visibility="followers")
    for i in range(3):
        comment(fan, fo["id"], f"#hushhush {i}")
    for acc in (stranger, fan, author, secretive):
        assert trending_tags(acc) == ["openair"]
    assert items_count(stranger, "secretplans") == items_count(secretive, "secretplans") == 0
    assert items_count(stranger, "closefriends") == items_count(fan, "closefriends") == 0
    assert items_count(stranger, "openair") == items_count(fan, "openair") == 3
    # The items themselves still show to whoever may see them.
    assert len(tag_items(fan, "closefriends")) == 3 and tag_items(stranger, "closefriends") == []
    # Comments on a public item count, whoever wrote them (they are public too).
    pub = post(author, "say something")
    for acc in (secretive, fan):
        comment(acc, pub["id"], "#chatter")
    assert "chatter" in trending_tags(stranger)


def test_turning_private_drops_out_of_counts(start_server):
    """Visibility is read when counting: an account that turns private leaves items_count
    and trending at once, and comes back when it turns public again."""
    srv = start_server(NO_CACHE)
    api = srv.client()
    author, stranger = api.register(), api.register()
    for i in range(2):
        post(author, f"#changeofheart {i}")
    assert items_count(stranger, "changeofheart") == 2
    assert trending_tags(stranger) == ["changeofheart"]
    make_private(author)
    assert items_count(stranger, "changeofheart") == 0
    assert trending_tags(stranger) == []
    expect_status(author.patch("/v1/me", json={"is_private": False}), 200)
    assert items_count(stranger, "changeofheart") == 2
    assert trending_tags(stranger) == ["changeofheart"]


def test_trending_is_shared_between_refreshes(start_server):
    """With a refresh interval, trending is computed once and every caller gets that
    result until the interval is over: its cost does not grow with the callers."""
    srv = start_server({"CHORUS_TRENDING_REFRESH_MS": "3600000"})
    api = srv.client()
    a, b = api.register(), api.register()
    for i in range(2):
        post(a, f"#early {i}")
    assert trending_tags(a) == ["early"]
    for i in range(3):
        post(b, f"#late {i}")
    for acc in (a, b):
        assert trending_tags(acc) == ["early"]  # the shared result, not recomputed


def test_hashtag_page_scans_a_bounded_number_of_rows(start_server):
    """A tag flooded with items the viewer may not see: each page examines at most
    CHORUS_HASHTAG_SCAN_MAX rows, comes back short (even empty) with a cursor, and the
    walk still reaches the visible items beyond, each once."""
    srv = start_server({"CHORUS_HASHTAG_SCAN_MAX": "10"})
    api = srv.client()
    author, hider, stranger = api.register(), api.register(), api.register()
    make_private(hider)
    tag = unique_tag("flood")
    visible = [post(author, f"#{tag} visible {i}")["id"] for i in range(3)]
    hidden_ids = [post(hider, f"#{tag} hidden {i}")["id"] for i in range(25)]
    more = post(author, f"#{tag} newest")["id"]
    first = page(stranger, tag_path(tag) + "/items", limit=5)
    # The newest one, then the scan stops in the hidden flood: a short page with a cursor.
    assert ids(first["items"]) == [more] and first["next_cursor"]
    pages, seen, cursor = 1, ids(first["items"]), first["next_cursor"]
    while cursor:
        pg = page(stranger, tag_path(tag) + "/items", limit=5, cursor=cursor)
        assert len(pg["items"]) <= 5
        seen.extend(ids(pg["items"]))
        cursor = pg["next_cursor"]
        pages += 1
        assert pages < 20
    assert seen == [more] + list(reversed(visible))
    assert pages >= 3  # 29 rows, 10 per page
    # Someone who sees everything gets full pages, the same items in the same order.
    everything = ids(walk(hider, tag_path(tag) + "/items", limit=5))
    assert everything == [more] + list(reversed(hidden_ids)) + list(reversed(visible))


def test_hashtag_pages_merge_posts_and_reels_past_comments(api, user, other):
    # A page merges one range of the tag's posts and one of its reels, newest first; the
    # tag's comments are not listed and do not shorten a page.
    tag = unique_tag("merge")
    made = []
    p0 = post(user, f"#{tag} first")
    made.append(p0["id"])
    for i in range(4):
        made.append(reel(other, caption=f"#{tag} reel {i}")["id"])
        comment(other, p0["id"], f"#{tag} comment {i}")
        made.append(post(user, f"#{tag} post {i}")["id"])
        comment(user, p0["id"], f"#{tag} again {i}")
    want = list(reversed(made))
    for limit in (1, 2, 3, 4, 100):
        assert tag_items(other, tag, limit=limit) == want, limit
        assert len(page(other, tag_path(tag) + "/items", limit=limit)["items"]) == min(limit, len(want))
